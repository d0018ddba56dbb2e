"""COCO run-length encoding (RLE) of binary masks: the one place that talks to pycocotools.

Two forms of an RLE dict travel through the code:

* the **JSON form** ``{'size': [H, W], 'counts': str}``: what datasets store, what video
  prediction writes into ``pred_rles`` and what result files hold;
* the **pycocotools form** ``{'size': [H, W], 'counts': bytes}`` (compressed) or with a
  ``list`` of run lengths (uncompressed, as some annotation files store it).

Every function here accepts either form (and uncompressed counts); encoders return the
JSON form. Masks are ``(H, W)`` arrays, any dtype, non-zero = foreground.
"""
from typing import List, Sequence

import numpy as np
from pycocotools import mask as mask_utils

__all__ = ['encode_mask', 'encode_masks', 'decode_rle', 'to_coco_rle', 'rle_from_polygons',
           'merge_rles', 'rle_area', 'rle_bbox', 'to_json_rle']


def to_json_rle(rle: dict) -> dict:
    """An RLE in the JSON form: ``counts`` as ``str``, ``size`` as two ``int``."""
    counts = rle['counts']
    if isinstance(counts, bytes):
        counts = counts.decode('ascii')
    return {'size': [int(s) for s in rle['size']], 'counts': counts}


def to_coco_rle(rle: dict) -> dict:
    """An RLE in pycocotools' compressed form (``bytes`` counts).

    Uncompressed RLEs (``counts`` a list of run lengths) are compressed; ``str`` counts are
    encoded to ``bytes``.
    """
    height, width = (int(s) for s in rle['size'])
    counts = rle['counts']
    if isinstance(counts, list):
        return mask_utils.frPyObjects(rle, height, width)
    if isinstance(counts, str):
        counts = counts.encode('ascii')
    return {'size': [height, width], 'counts': counts}


def encode_mask(mask: np.ndarray) -> dict:
    """``(H, W)`` mask -> JSON-form RLE (an empty mask is the RLE of zeros)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f'encode_mask expects an (H, W) mask, got shape {mask.shape}')
    return to_json_rle(mask_utils.encode(np.asfortranarray(mask.astype(np.uint8))))


def encode_masks(masks: np.ndarray) -> List[dict]:
    """``(E, H, W)`` masks -> E JSON-form RLEs, encoded in one pycocotools call."""
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f'encode_masks expects (E, H, W) masks, got shape {masks.shape}')
    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    return [to_json_rle(rle) for rle in rles]


def decode_rle(rle: dict) -> np.ndarray:
    """Any-form RLE -> ``(H, W)`` uint8 mask (0 / 1).

    The array is column-major (pycocotools' layout): its transpose is C-contiguous.
    """
    return mask_utils.decode(to_coco_rle(rle))


def rle_from_polygons(polygons: Sequence[Sequence[float]], height: int, width: int) -> dict:
    """COCO polygons ``[[x0, y0, x1, y1, ...], ...]`` -> one (merged) pycocotools-form RLE."""
    rles = mask_utils.frPyObjects([[float(v) for v in p] for p in polygons], height, width)
    return mask_utils.merge(rles)


def merge_rles(rles: Sequence[dict], intersect: bool = False) -> dict:
    """Union (or intersection) of RLEs of one size, in pycocotools' form."""
    return mask_utils.merge([to_coco_rle(r) for r in rles], intersect=intersect)


def rle_area(rle: dict) -> int:
    """Foreground pixels of an RLE, without decoding it."""
    return int(mask_utils.area(to_coco_rle(rle)))


def rle_bbox(rle: dict) -> List[float]:
    """``[x, y, w, h]`` box of an RLE's foreground (zeros for an empty mask)."""
    return [float(v) for v in mask_utils.toBbox(to_coco_rle(rle))]
