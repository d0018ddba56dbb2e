"""Formats shared by every layer: NumPy, pycocotools, PIL and OpenCV only (no torch, no
other layer).

* :mod:`.rle`: COCO run-length encoding of masks (the only module that calls
  pycocotools' mask API), used by datasets, the model, metrics, the Inferencer and tools;
* :mod:`.key_frames`: which frames of a video the MLLM reads;
* :mod:`.image_resize`: the resize to SAM-2's input size (PIL bicubic or OpenCV bilinear)
  of the image pipelines, the training video frames and the streamed test frames;
* :mod:`.region_prompts`: region (visual) prompts on the InternVL patch grid.
"""
from .image_resize import RESIZE_BACKENDS, check_resize_backend, resize_image
from .key_frames import KEY_FRAME_STRATEGIES, select_key_frames
from .region_prompts import (REGION_PLACEHOLDER, box_to_mask, grid_side, region_grid_masks,
                             region_token_counts)
from .rle import (decode_rle, encode_mask, encode_masks, merge_rles, rle_area, rle_bbox,
                  rle_from_polygons, to_coco_rle, to_json_rle)

__all__ = [
    'RESIZE_BACKENDS', 'check_resize_backend', 'resize_image', 'KEY_FRAME_STRATEGIES',
    'select_key_frames', 'decode_rle', 'encode_mask', 'encode_masks',
    'merge_rles', 'rle_area', 'rle_bbox', 'rle_from_polygons', 'to_coco_rle', 'to_json_rle',
    'REGION_PLACEHOLDER', 'box_to_mask', 'grid_side', 'region_grid_masks', 'region_token_counts'
]
