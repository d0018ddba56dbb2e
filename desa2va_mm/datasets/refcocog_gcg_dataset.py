"""RefCOCOg GCG training set (GLaMM), as Sa2VA reads it."""
from typing import Any, List

from desa2va_mm.registry import DATASETS
from .gcg_base_dataset import BaseGCGDataset


@DATASETS.register_module()
class RefCOCOgGCGDataset(BaseGCGDataset):
    """GLaMM's RefCOCOg GCG annotations (``RefCOCOg_GCG_train.json``) over COCO 2014.

    The file is a list of one-key dicts ``{"<id>": {"img_file_name", "caption", "refs":
    [{"sentence", "bbox", "segmentation"}, ...]}}``. As Sa2VA's reader: the caption is
    stripped of quotes and spaces and lower-cased; each ref whose sentence occurs in it is
    grounded at its first occurrence (case-insensitive here, so a capitalised sentence is
    found), with its ``segmentation`` (COCO polygons) as mask; other refs are skipped.

    Args:
        ann_file: ``annotations/RefCOCOg_GCG_train.json``.
        data_prefix: ``dict(img_path='images/coco2014/train2014/')``.
        **kwargs: :class:`BaseGCGDataset` arguments.
    """

    def parse_annotations(self, raw: Any) -> List[dict]:
        if not isinstance(raw, list):
            raise ValueError(f'{self.ann_file}: expected a list of {{id: sample}} dicts, got '
                             f'{type(raw).__name__} (GLaMM\'s RefCOCOg GCG layout, docs/gcg.md)')
        data_list = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, dict) or len(entry) != 1:
                raise ValueError(f'{self.ann_file}: entry {i} must be a one-key dict '
                                 '{id: sample}')
            (sample_id, sample), = entry.items()
            where = f'{self.ann_file}: entry {i} (id {sample_id})'
            for key in ('img_file_name', 'caption', 'refs'):
                if key not in sample:
                    raise ValueError(f'{where} has no {key!r} field (has {sorted(sample)})')
            caption = sample['caption'].strip('"').strip().lower()
            groundings = []
            for ref in sample['refs']:
                phrase = str(ref.get('sentence', '')).lower()
                start = caption.find(phrase) if phrase else -1
                if start == -1:
                    continue
                groundings.append((phrase, (start, start + len(phrase)), ref['segmentation']))
            data_list.append(self._item(sample['img_file_name'], sample_id, caption,
                                        groundings, where))
        return data_list
