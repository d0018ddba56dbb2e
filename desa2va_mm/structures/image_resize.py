"""Resize an image to SAM-2's input size: the one resize every SAM-2 input path uses.

Sa2VA resizes its SAM-2 input with PIL's bicubic filter (``Image.resize`` with PIL's
default filter); the tiny configs' published figures were made with OpenCV bilinear. Both
are kept, picked by name (docs/design.md §9):

* ``'pillow'``: PIL bicubic, Sa2VA's resize (antialiased when shrinking: the filter's
  support widens with the scale);
* ``'cv2'``: OpenCV bilinear (``cv2.INTER_LINEAR``, what ``mmcv.imresize`` gives by
  default).

The image pipelines (``DirectResize``), the training video frames (``ResizeVideoFrames``)
and the streamed test frames (the data preprocessor's ``prepare_frame``) all call
:func:`resize_image`, so one setting gives one result on every path.
"""
from typing import Tuple

import cv2
import numpy as np
from PIL import Image

RESIZE_BACKENDS = ('cv2', 'pillow')


def check_resize_backend(backend: str, owner: str) -> str:
    """Return ``backend`` if it is one of :data:`RESIZE_BACKENDS`, else raise.

    Args:
        backend: The name to check.
        owner: What holds the setting (a class and argument name), for the message.
    """
    if backend not in RESIZE_BACKENDS:
        raise ValueError(f"{owner} must be one of {RESIZE_BACKENDS} ('pillow': PIL bicubic, "
                         f"as Sa2VA; 'cv2': OpenCV bilinear), got {backend!r}")
    return backend


def resize_image(img: np.ndarray, size: Tuple[int, int], backend: str = 'pillow') -> np.ndarray:
    """Resize ``img`` to ``size`` without keeping the aspect ratio.

    Channels are filtered independently, so the channel order (BGR or RGB) is kept and
    needs no conversion.

    Args:
        img: (H, W, 3) uint8 image.
        size: (width, height) of the output.
        backend: ``'pillow'`` (PIL bicubic, Sa2VA's) or ``'cv2'`` (OpenCV bilinear).

    Returns:
        (height, width, 3) uint8 image (writable).
    """
    check_resize_backend(backend, 'resize_image: backend')
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'resize_image: the image must be an (H, W, 3) uint8 array, got '
                         f'{img.dtype} {tuple(img.shape)}')
    w, h = (int(s) for s in size)
    if backend == 'pillow':
        # np.array, not np.asarray: a writable array, as OpenCV's (torch.from_numpy warns
        # on read-only ones).
        return np.array(Image.fromarray(np.ascontiguousarray(img)).resize((w, h),
                                                                         Image.BICUBIC))
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
