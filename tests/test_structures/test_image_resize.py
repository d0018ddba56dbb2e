"""resize_image: the SAM-2 input resize every image and frame path shares."""
import cv2
import numpy as np
import pytest
from PIL import Image

from desa2va_mm.structures import RESIZE_BACKENDS, check_resize_backend, resize_image


def fixture_frame(h=150, w=220):
    """A BGR frame with edges, gradients and noise (what bilinear vs bicubic tells apart)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx // 13 + yy // 9) % 2) * 200],
                   axis=-1)
    img = img + rng.integers(0, 40, size=img.shape)
    return img.clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize('size', [(256, 256), (64, 32)])
def test_pillow_is_pil_bicubic_and_cv2_is_opencv_bilinear(size):
    frame = fixture_frame()
    pillow = resize_image(frame, size, 'pillow')
    # Sa2VA: an RGB PIL image resized with PIL's default (bicubic) filter; channels are
    # filtered independently, so BGR in gives the same pixels, channel order kept.
    rgb = Image.fromarray(frame[..., ::-1].copy(), mode='RGB')
    expected = np.asarray(rgb.resize(size))[..., ::-1]
    assert pillow.dtype == np.uint8 and pillow.shape == (size[1], size[0], 3)
    assert np.array_equal(pillow, expected)
    opencv = resize_image(frame, size, 'cv2')
    assert np.array_equal(opencv, cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
    # The two differ on this frame (the parity check's 0.0175 gap on streamed frames).
    assert np.abs(pillow.astype(int) - opencv.astype(int)).max() > 5


def test_bad_backend_and_image_are_named():
    assert RESIZE_BACKENDS == ('cv2', 'pillow')
    assert check_resize_backend('pillow', 'X: backend') == 'pillow'
    with pytest.raises(ValueError, match=r"X: backend must be one of \('cv2', 'pillow'\).*"
                                         r"got 'bicubic'"):
        check_resize_backend('bicubic', 'X: backend')
    with pytest.raises(ValueError, match=r'must be an \(H, W, 3\) uint8 array, got float32'):
        resize_image(np.zeros((4, 4, 3), np.float32), (2, 2))
