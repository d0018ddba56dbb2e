"""Flickr30k GCG training set (GLaMM's merged ground truth), as Sa2VA reads it."""
from collections import defaultdict
from typing import Any, List

from desa2va_mm.registry import DATASETS
from .gcg_base_dataset import BaseGCGDataset


@DATASETS.register_module()
class FlickrGCGDataset(BaseGCGDataset):
    """GLaMM's Flickr30k GCG annotations (``flickr_mergedGT_GCG_train.json``), COCO layout.

    ``images``: ``{"id", "file_name", "height", "width", "caption"}``; ``annotations``:
    ``{"image_id", "bbox": [x, y, w, h], "area", "tokens_positive": [[start, end], ...],
    "sam_mask": RLE, "ignore"?}``. As Sa2VA's reader: images whose caption has fewer than
    3 words or whose short side is under ``min_size`` px are left out; an annotation is
    skipped when flagged ``ignore``, when its box has no area inside the image or is under
    1 px wide or high, or when its ``area`` is not positive; its first span names the
    phrase and ``sam_mask`` is its mask.

    Args:
        ann_file: ``annotations/flickr_mergedGT_GCG_train.json``.
        data_prefix: ``dict(img_path='images/flickr30k/Flickr30K/')``.
        min_size: Shortest image side kept (Sa2VA: 32).
        **kwargs: :class:`BaseGCGDataset` arguments.
    """

    def __init__(self, *args, min_size: int = 32, **kwargs) -> None:
        self.min_size = min_size
        super().__init__(*args, **kwargs)

    def parse_annotations(self, raw: Any) -> List[dict]:
        if not isinstance(raw, dict) or 'images' not in raw or 'annotations' not in raw:
            raise ValueError(f'{self.ann_file}: expected a COCO-style dict with "images" and '
                             '"annotations" (GLaMM\'s Flickr30k GCG layout, docs/gcg.md)')
        anns_of = defaultdict(list)
        for ann in raw['annotations']:
            anns_of[ann['image_id']].append(ann)
        data_list = []
        for image in raw['images']:
            where = f'{self.ann_file}: image {image.get("id")} ({image.get("file_name")})'
            caption = image.get('caption')
            if not isinstance(caption, str):
                raise ValueError(f'{where} has no caption')
            height, width = int(image['height']), int(image['width'])
            if len(caption.split(' ')) < 3 or min(height, width) < self.min_size:
                continue
            groundings = []
            for ann in anns_of[image['id']]:
                if ann.get('ignore', False):
                    continue
                x, y, w, h = ann['bbox']
                inter_w = max(0, min(x + w, width) - max(x, 0))
                inter_h = max(0, min(y + h, height) - max(y, 0))
                if inter_w * inter_h == 0 or ann.get('area', 0) <= 0 or w < 1 or h < 1:
                    continue
                spans = ann.get('tokens_positive') or []
                if not spans or 'sam_mask' not in ann:
                    raise ValueError(f'{where}: annotation {ann.get("id")} needs '
                                     '"tokens_positive" and "sam_mask"')
                start, end = spans[0]
                groundings.append((caption[start:end], spans[0], ann['sam_mask']))
            data_list.append(self._item(image['file_name'], image['id'], caption, groundings,
                                        where))
        return data_list
