"""Writing annotations: COCO run-length encoded masks and compact JSON files."""
import json
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

__all__ = ['encode_rle', 'decode_segmentation', 'write_json']


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of an ``(H, W)`` mask, JSON-able (``counts`` as a string)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {'size': [int(v) for v in rle['size']],
            'counts': rle['counts'].decode('ascii')}


def decode_segmentation(segmentation: Any, size: int) -> np.ndarray:
    """Decode a COCO segmentation the way COCO loaders do."""
    if isinstance(segmentation, list):
        return mask_utils.decode(
            mask_utils.merge(mask_utils.frPyObjects(segmentation, size, size)))
    return mask_utils.decode(segmentation)


def write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as compact JSON (no spaces), in one write."""
    text = json.dumps(obj, separators=(',', ':'))  # one write: much faster
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
