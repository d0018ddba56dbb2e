"""gRefCOCO (GRES, Liu et al. 2023): multi-object and no-target referring expressions."""
import os.path as osp
from collections import defaultdict
from typing import List

import mmengine

from desa2va_mm.registry import DATASETS
from .refcoco_referring_dataset import RefCocoReferringDataset, load_refs, sentence_text


@DATASETS.register_module()
class GRefCocoDataset(RefCocoReferringDataset):
    """gRefCOCO laid out as ReLA ships it: ``grefcoco/grefs(unc).json`` + ``instances.json``.

    Each ref has a *list* ``ann_id``: several annotations (the target is their union) or
    ``[-1]`` with ``no_target: true`` (the right answer is an empty mask). Crowd
    annotations are left out of the union, as ReLA's ``G_REFER.getMaskByRef`` does;
    sentences with an empty text are skipped, as its ``GReferDataset`` does. As for
    RefCOCO, evaluation reads each sentence's tokenised ``sent`` (Sa2VA's gRefCOCO
    evaluation) and training ``raw.lower()`` (``text_field``).

    One data item per image, like :class:`RefCocoReferringDataset`: ``instances`` is a
    list of ``dict(mask, ann_id, ref_id, sentences, no_target)`` where ``mask`` is the list
    of the member annotations' segmentations (``[]`` for no target);
    :class:`~desa2va_mm.datasets.transforms.LoadReferringMasks` decodes their union.

    Args:
        data_root: Dataset root (``data/``).
        ann_file: COCO ``instances.json`` of gRefCOCO (``grefcoco/instances.json``).
        split_file: ``grefcoco/grefs(unc).json`` (or ReLA's pickled ``grefs(unc).p``).
        data_prefix: ``dict(img_path='coco/train2014/')``.
        split: ``'train'``, ``'val'``, ``'testA'`` or ``'testB'``.
        text_field: ``'sent'``, ``'raw'`` or None (``'sent'`` when ``test_mode``).
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    def load_data_list(self) -> List[dict]:
        for path, what in ((self.split_file, 'split file'), (self.ann_file, 'annotation file')):
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{type(self).__name__}: {what} {path} does not exist (data_root='
                    f'{self.data_root!r}); see docs/dataset_prepare.md')
        if self.split_file.endswith('.p'):
            refs = load_refs(self.split_file)
        else:
            refs = mmengine.load(self.split_file, file_format='json')
        instances = mmengine.load(self.ann_file, file_format='json')
        anns = {a['id']: a for a in instances['annotations']}
        images = {im['id']: im for im in instances['images']}
        img_prefix = self.data_prefix['img_path']

        per_image = defaultdict(list)
        for ref in refs:
            if ref['split'] != self.split:
                continue
            where = f"{self.split_file}: ref {ref.get('ref_id')}"
            if ref.get('image_id') not in images:
                raise ValueError(f"{where} points at image {ref.get('image_id')}, which is "
                                 f'not in {self.ann_file}')
            ann_ids = ref['ann_id'] if isinstance(ref['ann_id'], list) else [ref['ann_id']]
            no_target = bool(ref.get('no_target', False)) or ann_ids == [-1]
            segms = []
            if not no_target:
                missing = [a for a in ann_ids if a not in anns]
                if missing:
                    raise ValueError(f'{where} points at annotation(s) {missing}, which are '
                                     f'not in {self.ann_file}')
                segms = [anns[a]['segmentation'] for a in ann_ids
                         if not anns[a].get('iscrowd', 0)]
                if not segms:
                    # Only crowd members: not a no-target expression, so it cannot be scored.
                    raise ValueError(f'{where} names only crowd annotations {ann_ids} and '
                                     f'is not marked no_target')
            sentences = [sentence_text(s, self.text_field, where) for s in ref['sentences']]
            sentences = [s for s in sentences if s.strip()]
            if not sentences:
                continue
            per_image[ref['image_id']].append(dict(
                mask=segms, ann_id=ann_ids, ref_id=ref['ref_id'], sentences=sentences,
                no_target=no_target))

        return self._image_samples(per_image, images, img_prefix)
