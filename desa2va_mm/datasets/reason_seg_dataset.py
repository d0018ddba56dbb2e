"""ReasonSeg (LISA, Lai et al. 2024): reasoning segmentation with LabelMe polygons."""
import glob
import os.path as osp
from typing import List, Optional

import mmengine
from mmdet.datasets import BaseDetDataset

from desa2va_mm.registry import DATASETS

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


@DATASETS.register_module()
class ReasonSegDataset(BaseDetDataset):
    """ReasonSeg as LISA ships it: ``ReasonSeg/{train,val,test}/<name>.jpg`` with a
    LabelMe-style ``<name>.json`` beside each image.

    The JSON holds ``text`` (list of queries), ``is_sentence`` and ``shapes``
    (``label``, ``points``): labels containing ``ignore`` mark pixels excluded from scoring
    (255 in LISA's label map), ``flag`` shapes are skipped, the rest are the target.

    One data item per image: ``img_path``, ``img_id``, ``is_sentence`` and one instance
    ``dict(mask=dict(labelme_shapes=shapes), sentences=texts)``;
    :class:`~desa2va_mm.datasets.transforms.LoadReferringMasks` rasterises it exactly as
    LISA's ``get_mask_from_json`` (and writes the ignore region for the metric with
    ``with_ignore=True``). In training every query is a candidate, drawn anew each
    iteration by ``SampleReferringTargets``; at test only the first query of each image is
    kept (``eval_first_text_only``), as LISA's ``ValDataset`` does.

    Args:
        data_root: Dataset root (``data/reason_seg/``).
        data_prefix: ``dict(img_path='ReasonSeg/val/')``: the split folder.
        eval_first_text_only: At test, score only each image's first query (LISA).
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self, *args, eval_first_text_only: bool = True, **kwargs) -> None:
        self.eval_first_text_only = eval_first_text_only
        kwargs.setdefault('ann_file', '')
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        folder = self.data_prefix.get('img_path', '')
        if not osp.isdir(folder):
            raise FileNotFoundError(f'{type(self).__name__}: image folder {folder} does not '
                                    f'exist (data_root={self.data_root!r}); see '
                                    f'docs/dataset_prepare.md')
        images = sorted(p for p in glob.glob(osp.join(folder, '*'))
                        if p.lower().endswith(IMAGE_EXTENSIONS))
        data_list = []
        for idx, img_path in enumerate(images):
            json_path = osp.splitext(img_path)[0] + '.json'
            if not osp.isfile(json_path):
                raise FileNotFoundError(f'{img_path}: its annotation {json_path} is missing')
            try:
                anno = mmengine.load(json_path, file_format='json')
            except Exception as e:  # noqa: BLE001  (name the file in whatever went wrong)
                raise ValueError(f'{json_path}: cannot parse ({e})') from e
            texts = [str(t).strip() for t in (anno.get('text') or []) if str(t).strip()]
            if not texts:
                raise ValueError(f'{json_path}: no query in "text"')
            shapes = anno.get('shapes') or []
            targets = [s for s in shapes if str(s.get('label', '')).lower() != 'flag'
                       and 'ignore' not in str(s.get('label', '')).lower()]
            if not targets:
                raise ValueError(f'{json_path}: the query names no object (no target '
                                 f'polygon among {len(shapes)} shapes)')
            if self.test_mode and self.eval_first_text_only:
                texts = texts[:1]
            item = dict(
                img_path=img_path, img_id=idx, is_sentence=bool(anno.get('is_sentence')),
                instances=[dict(mask=dict(labelme_shapes=shapes), sentences=texts)])
            height: Optional[int] = anno.get('imageHeight')
            width: Optional[int] = anno.get('imageWidth')
            if height and width:
                item.update(height=int(height), width=int(width))
            data_list.append(item)
        if not data_list:
            raise ValueError(f'{type(self).__name__}: no image in {folder}')
        return data_list
