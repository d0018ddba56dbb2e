"""Resize an image to SAM-2's input size with PIL bicubic, as Sa2VA does (docs/design.md §9)."""
from typing import Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from desa2va_mm.registry import TRANSFORMS
from desa2va_mm.structures import resize_image


@TRANSFORMS.register_module()
class DirectResize(BaseTransform):
    """Resize ``img`` to a fixed size with PIL's bicubic filter, aspect ratio not kept.

    Sa2VA prepares its SAM-2 input this way (a PIL ``Image.resize`` to 1024 x 1024 with
    PIL's default, bicubic, filter) in training and at inference; mmdet's ``Resize`` uses
    OpenCV, whose bicubic and bilinear kernels give different pixels (PIL's bicubic
    filter is antialiased when shrinking: its support widens with the scale). Ground-truth
    masks present (``gt_masks``, ``BitmapMasks``) are resized with nearest neighbour, as
    mmdet's ``Resize`` does.

    The result keys are mmdet ``Resize``'s, so the packing transforms read it the same
    way: ``img`` (h, w, 3) uint8, ``img_shape`` (h, w), ``scale`` (w, h),
    ``scale_factor`` (w / W, h / H), ``keep_ratio`` False.

    Args:
        scale: (width, height) of the output, or one int for a square (1024 for SAM-2).
    """

    def __init__(self, scale: Union[int, Tuple[int, int]] = (1024, 1024)) -> None:
        if isinstance(scale, int):
            scale = (scale, scale)
        scale = tuple(scale)
        if len(scale) != 2 or not all(isinstance(s, int) and s > 0 for s in scale):
            raise ValueError(f'DirectResize: scale must be an int or (width, height) of '
                             f'positive ints, got {scale!r}')
        self.scale = scale

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f"DirectResize: {results.get('img_path', 'the image')} must be an (H, W, 3) "
                f'uint8 array (what LoadImageFromFile gives), got {img.dtype} '
                f'{tuple(img.shape)}')
        h0, w0 = img.shape[:2]
        w, h = self.scale
        # The resize every SAM-2 input path shares (structures/image_resize.py); channels
        # are filtered independently, so BGR needs no conversion to RGB.
        results['img'] = resize_image(img, (w, h), backend='pillow')
        results['img_shape'] = (h, w)
        results['scale'] = (w, h)
        results['scale_factor'] = (w / w0, h / h0)
        results['keep_ratio'] = False
        if results.get('gt_masks') is not None:
            results['gt_masks'] = results['gt_masks'].resize((h, w))
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(scale={self.scale})'
