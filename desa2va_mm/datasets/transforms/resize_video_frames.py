"""Resize training frames and their masks to SAM-2's input size."""
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ResizeVideoFrames(BaseTransform):
    """Resize ``frames`` (T x (H, W, 3)) to ``scale`` (bilinear, no aspect ratio kept, as
    Sa2VA resizes SAM-2 inputs) and ``gt_masks`` (E, T, H, W) with nearest neighbour.

    Training only: at test the video is packed as a lazy frame source, the data
    preprocessor resizes each frame as the model streams it, and the metric reads masks at
    the original resolution.

    Args:
        scale: (width, height) of the output, e.g. (1024, 1024).
    """

    def __init__(self, scale=(1024, 1024)) -> None:
        if isinstance(scale, int):
            scale = (scale, scale)
        self.scale = tuple(int(s) for s in scale)

    def transform(self, results: dict) -> dict:
        w, h = self.scale
        results['frames'] = [mmcv.imresize(f, (w, h), interpolation='bilinear')
                             for f in results['frames']]
        if 'gt_masks' in results:
            masks = np.asarray(results['gt_masks'])
            e, t = masks.shape[:2]
            flat = masks.reshape(e * t, *masks.shape[2:])
            resized = [mmcv.imresize(m, (w, h), interpolation='nearest') for m in flat]
            results['gt_masks'] = np.stack(resized).reshape(e, t, h, w) if resized else \
                np.zeros((e, t, h, w), np.uint8)
        results['img_shape'] = (h, w)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(scale={self.scale})'
