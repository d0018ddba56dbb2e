"""``LoadImageFromFile`` for the ``desa2va_mm`` scope: broken image files fail by name."""
from typing import Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile

from desa2va_mm.registry import TRANSFORMS

_JPEG_SOI = b'\xff\xd8'


class BadImageError(ValueError):
    """An image file is missing, empty, undecodable, truncated or too large."""


def jpeg_is_complete(data: bytes) -> bool:
    """Whether a JPEG byte string holds the whole image.

    OpenCV decodes a truncated JPEG without an error (libjpeg prints a warning and the
    missing rows come out grey), so a model would train on it silently. The fast path is
    the end-of-image marker; a file with bytes after it is confirmed with Pillow, which
    raises on truncated data.
    """
    if data.rstrip(b'\x00\r\n ').endswith(b'\xff\xd9'):
        return True
    import io

    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception:  # noqa: BLE001 - any decoder error means the file is unusable
        return False
    return True


@TRANSFORMS.register_module()
class LoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` with checks; configs in the ``desa2va_mm`` scope get it
    under the same name (a child registry resolves its own classes first).

    Same outputs for good files (``img`` as ``color_type`` says, ``img_shape``,
    ``ori_shape``): PNG alpha is dropped, 16-bit PNGs become 8-bit and grayscale files
    3-channel, as with OpenCV's ``IMREAD_COLOR``. In addition, a file that is missing,
    zero bytes, not decodable, a truncated JPEG, or larger than ``max_pixels`` raises
    :class:`BadImageError` naming the file (mmcv would return a half-grey image for the
    truncated JPEG and raise an OpenCV assertion naming nothing for the empty file).

    Args:
        max_pixels: Largest ``height x width`` accepted (default 2**28, ~16k x 16k; a
            decoded 3-channel image of that size takes 0.8 GB). Checked from the header
            before decoding, so a decompression bomb is refused cheaply. None: no limit
            (OpenCV's own ``CV_IO_MAX_IMAGE_PIXELS``, 2**30, still applies).
        check_truncated_jpeg: Verify JPEG files are complete.
        **kwargs: mmcv ``LoadImageFromFile`` arguments (``to_float32``, ``color_type``,
            ``imdecode_backend``, ``backend_args``, ``ignore_empty``).
    """

    def __init__(self, max_pixels: Optional[int] = 2**28, check_truncated_jpeg: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_pixels = max_pixels
        self.check_truncated_jpeg = check_truncated_jpeg

    def _header_size(self, data: bytes, filename: str):
        import io
        import warnings

        from PIL import Image
        try:
            # Pillow warns (or raises) on > 89 M pixels itself; max_pixels decides here.
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                with Image.open(io.BytesIO(data)) as image:
                    return image.size[1], image.size[0]
        except Exception:  # noqa: BLE001 - let the decoder below report it
            return None

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            if getattr(self, 'file_client_args', None) is not None:
                file_client = fileio.FileClient.infer_client(self.file_client_args, filename)
                data = file_client.get(filename)
            else:
                data = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError:
            if self.ignore_empty:
                return None
            raise BadImageError(f'image file {filename} does not exist') from None
        try:
            if not data:
                raise BadImageError(f'image file {filename} is empty (0 bytes)')
            if self.max_pixels is not None:
                size = self._header_size(data, filename)
                if size is not None and size[0] * size[1] > self.max_pixels:
                    raise BadImageError(
                        f'image file {filename} is {size[1]} x {size[0]} pixels, more than '
                        f'max_pixels={self.max_pixels}')
            if self.check_truncated_jpeg and data.startswith(_JPEG_SOI) \
                    and not jpeg_is_complete(data):
                raise BadImageError(f'image file {filename} is a truncated JPEG')
            try:
                img = mmcv.imfrombytes(data, flag=self.color_type,
                                       backend=self.imdecode_backend)
            except Exception as e:  # noqa: BLE001 - name the file whatever the decoder says
                raise BadImageError(f'image file {filename} cannot be decoded ({e})') from e
            if img is None:
                raise BadImageError(f'image file {filename} cannot be decoded')
        except BadImageError:
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] + f', max_pixels={self.max_pixels}, '
                f'check_truncated_jpeg={self.check_truncated_jpeg})')
