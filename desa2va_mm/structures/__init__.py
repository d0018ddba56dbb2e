"""Data structures shared by every layer (no import from ``datasets`` or ``models``).

* :mod:`.rle`: COCO run-length encoding of masks (the only module that calls
  pycocotools' mask API);
* :mod:`.key_frames`: which frames of a video the MLLM reads;
* :class:`SegDecodeResult`: what a segmentation head returns.
"""
from .key_frames import KEY_FRAME_STRATEGIES, select_key_frames
from .rle import (decode_rle, encode_mask, encode_masks, merge_rles, rle_area, rle_bbox,
                  rle_from_polygons, to_coco_rle, to_json_rle)
from .seg_decode_result import BRANCHES, SegDecodeResult

__all__ = [
    'KEY_FRAME_STRATEGIES', 'select_key_frames', 'decode_rle', 'encode_mask', 'encode_masks',
    'merge_rles', 'rle_area', 'rle_bbox', 'rle_from_polygons', 'to_coco_rle', 'to_json_rle',
    'BRANCHES', 'SegDecodeResult'
]
