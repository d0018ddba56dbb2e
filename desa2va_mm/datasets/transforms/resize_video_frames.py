"""Resize training frames and their masks to SAM-2's input size."""
from typing import Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS
from desa2va_mm.structures import check_resize_backend, resize_image


@TRANSFORMS.register_module()
class ResizeVideoFrames(BaseTransform):
    """Resize ``frames`` (T x (H, W, 3) uint8) to ``scale`` (no aspect ratio kept, as Sa2VA
    resizes SAM-2 inputs) and ``gt_masks`` (E, T, H, W) with nearest neighbour.

    Frames are resized by :func:`desa2va_mm.structures.resize_image`, the function the
    image pipelines' ``DirectResize`` and the data preprocessor's streamed test frames
    use: ``backend='pillow'`` is PIL bicubic, Sa2VA's resize (the real-size video
    pipelines); ``'cv2'`` is OpenCV bilinear (the tiny video configs' published figures).

    Training only: at test the video is packed as a lazy frame source, the data
    preprocessor resizes each frame as the model streams it (its ``frame_resize``), and
    the metric reads masks at the original resolution.

    Args:
        scale: (width, height) of the output, e.g. (1024, 1024), or one int for a square.
        backend: ``'cv2'`` (OpenCV bilinear) or ``'pillow'`` (PIL bicubic, as Sa2VA).
    """

    def __init__(self, scale: Union[int, Tuple[int, int]] = (1024, 1024),
                 backend: str = 'cv2') -> None:
        if isinstance(scale, int):
            scale = (scale, scale)
        self.scale = tuple(int(s) for s in scale)
        self.backend = check_resize_backend(backend, 'ResizeVideoFrames: backend')

    def transform(self, results: dict) -> dict:
        w, h = self.scale
        results['frames'] = [resize_image(f, (w, h), self.backend)
                             for f in results['frames']]
        if 'gt_masks' in results:
            masks = np.asarray(results['gt_masks'])
            e, t = masks.shape[:2]
            flat = masks.reshape(e * t, *masks.shape[2:])
            # Each mask resized straight into its row of the output (no stacked copy).
            out = np.zeros((e * t, h, w), flat.dtype if len(flat) else np.uint8)
            for i, mask in enumerate(flat):
                mmcv.imresize(mask, (w, h), interpolation='nearest', out=out[i])
            results['gt_masks'] = out.reshape(e, t, h, w)
        results['img_shape'] = (h, w)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(scale={self.scale}, backend={self.backend!r})'
