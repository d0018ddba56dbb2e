"""GranD-f GCG training set (GLaMM), as Sa2VA reads it."""
from typing import Any, List

from desa2va_mm.registry import DATASETS
from .gcg_base_dataset import BaseGCGDataset


@DATASETS.register_module()
class GranDfGCGDataset(BaseGCGDataset):
    """GLaMM's GranD-f GCG annotations (``GranDf_HA_GCG_train.json``).

    The file is a list of images::

        {"file_name": "sa_10012.jpg", "height": H, "width": W, "image_id": ...,
         "caption": "A man ... a dog ...",
         "groundings": {"A man": {"token_positives": [0, 5],
                                  "rle_masks": [{"size": [H, W], "counts": "..."}, ...]},
                        ...}}

    Each grounding becomes one ``[SEG]``; its mask is the union of its ``rle_masks``. A
    grounding that is ``null`` is skipped (as Sa2VA's reader does). Spans index the caption
    as stored (no quote stripping, so they stay valid).

    Args:
        ann_file: ``annotations/GranDf_HA_GCG_train.json``.
        data_prefix: ``dict(img_path='images/grandf/train/')``.
        **kwargs: :class:`BaseGCGDataset` arguments.
    """

    def parse_annotations(self, raw: Any) -> List[dict]:
        if isinstance(raw, dict):
            raw = list(raw.values())
        if not isinstance(raw, list):
            raise ValueError(f'{self.ann_file}: expected a list of images, got '
                             f'{type(raw).__name__}')
        data_list = []
        for i, image in enumerate(raw):
            where = f'{self.ann_file}: image {i} ({image.get("file_name", "?")})'
            for key in ('file_name', 'caption', 'groundings'):
                if key not in image:
                    raise ValueError(f'{where} has no {key!r} field (has {sorted(image)}); '
                                     'expected GLaMM\'s GranD-f GCG layout (docs/gcg.md)')
            groundings = []
            for phrase, grounding in (image['groundings'] or {}).items():
                if grounding is None:
                    continue
                if 'token_positives' not in grounding or 'rle_masks' not in grounding:
                    raise ValueError(f'{where}: grounding {phrase!r} needs "token_positives" '
                                     f'and "rle_masks", has {sorted(grounding)}')
                groundings.append((phrase, grounding['token_positives'],
                                   list(grounding['rle_masks'])))
            data_list.append(self._item(image['file_name'],
                                        image.get('image_id', image['file_name']),
                                        image['caption'], groundings, where))
        return data_list
