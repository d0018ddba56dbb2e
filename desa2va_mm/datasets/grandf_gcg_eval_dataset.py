"""GranD-f GCG evaluation split (val / test) in GLaMM's COCO-style ground truth."""
import os.path as osp
from collections import defaultdict
from typing import List

import mmengine
from mmengine.dataset import BaseDataset

from desa2va_mm.registry import DATASETS


@DATASETS.register_module()
class GranDfGCGEvalDataset(BaseDataset):
    """GLaMM's GCG evaluation ground truth: ``{split}_gcg_coco_caption_gt.json`` +
    ``{split}_gcg_coco_mask_gt.json``.

    Caption file: ``images`` (``id``: the image name without extension, ``file_name``) and
    ``annotations`` (``image_id``, ``caption``, ``labels``: the grounded phrases). Mask file:
    ``annotations`` (``image_id``, ``segmentation``: RLE, ``category_id`` 1), one per
    phrase. Each image is one test sample asking the GCG question; its ground truth
    (caption, phrases, masks in annotation-id order) goes to
    :class:`~desa2va_mm.evaluation.GCGMetric`.

    Args:
        ann_file: The caption file (``annotations/gcg_val_test/val_gcg_coco_caption_gt.json``).
        mask_file: The mask file, relative to ``data_root``.
        data_prefix: ``dict(img_path='images/grandf/val_test/')``.
        **kwargs: ``BaseDataset`` arguments.
    """

    def __init__(self, *args, mask_file: str = '', **kwargs) -> None:
        self.mask_file = mask_file
        kwargs.setdefault('data_prefix', dict(img_path=''))
        super().__init__(*args, **kwargs)

    def _join_prefix(self) -> None:
        super()._join_prefix()
        if self.mask_file and not osp.isabs(self.mask_file) and self.data_root:
            self.mask_file = osp.join(self.data_root, self.mask_file)

    def load_data_list(self) -> List[dict]:
        for path, what in ((self.ann_file, 'caption file'), (self.mask_file, 'mask file')):
            if not path or not osp.isfile(path):
                raise FileNotFoundError(
                    f'{type(self).__name__}: {what} {path!r} does not exist (data_root='
                    f'{self.data_root!r}); see docs/gcg.md')
        captions = mmengine.load(self.ann_file, file_format='json')
        masks = mmengine.load(self.mask_file, file_format='json')
        caption_of = {}
        for ann in captions.get('annotations', []):
            caption_of[ann['image_id']] = ann
        masks_of = defaultdict(list)
        for ann in sorted(masks.get('annotations', []), key=lambda a: a['id']):
            masks_of[ann['image_id']].append(ann['segmentation'])
        data_list = []
        for image in captions.get('images', []):
            where = f'{self.ann_file}: image {image["id"]!r}'
            if image['id'] not in caption_of:
                raise ValueError(f'{where} has no caption annotation')
            cap = caption_of[image['id']]
            labels = list(cap.get('labels', []))
            gt_masks = masks_of[image['id']]
            if len(labels) != len(gt_masks):
                raise ValueError(f'{where}: {len(labels)} phrases in the caption file but '
                                 f'{len(gt_masks)} masks in {self.mask_file}; recall pairs '
                                 'them one to one')
            file_name = image.get('file_name', f'{image["id"]}.jpg')
            data_list.append(dict(
                img_path=osp.join(self.data_prefix['img_path'], file_name),
                img_id=image['id'], caption=cap['caption'], gt_phrases=labels,
                instances=[dict(mask=m, phrase=p) for m, p in zip(gt_masks, labels)]))
        if not data_list:
            raise ValueError(f'{type(self).__name__}: no image in {self.ann_file}')
        return data_list
