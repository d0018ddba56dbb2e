"""Frame sources: read a video one frame at a time, whatever it is stored as.

Three stores are supported, behind one interface (:class:`FrameSource`):

* :class:`FolderFrameSource`: a folder of images (``JPEGImages/<video>/<frame>.jpg``, the
  layout of MeViS / ReVOS / Ref-YouTube-VOS / DAVIS) or an explicit list of image paths;
* :class:`VideoFileFrameSource`: a video file (``.mp4`` ...) decoded with PyAV;
* :class:`ArrayFrameSource`: frames already in memory (a list of arrays or a
  ``(T, H, W, 3)`` array).

Every source has ``len()``, ``frame_names``, random access ``source[i]`` (the key frames of
a video) and iteration (streaming: one decoded frame alive at a time, so memory does not
grow with the video). Frames come back as ``(H, W, 3)`` uint8 arrays in **BGR** order (the
convention of mmcv / OpenCV and of mmdet's ``LoadImageFromFile``).

Bad input raises an error naming the video and the frame: a missing file
(``FileNotFoundError``), an undecodable or truncated image (:class:`CorruptFrameError`, a
``ValueError``), a video without frames (``ValueError``), an index out of range
(``IndexError``).

The module needs only NumPy, OpenCV, Pillow and (for video files) PyAV, so light tools can
import it without torch.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Union

import cv2
import numpy as np

__all__ = [
    'CorruptFrameError', 'FrameSource', 'FolderFrameSource', 'VideoFileFrameSource',
    'ArrayFrameSource', 'open_frame_source', 'read_frame', 'read_image_size',
    'IMAGE_EXTENSIONS', 'VIDEO_EXTENSIONS'
]

#: File endings read as frames of a folder (lower case).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
#: File endings opened with PyAV (lower case).
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')

_JPEG_SOI = b'\xff\xd8'
_JPEG_EOI = b'\xff\xd9'


class CorruptFrameError(ValueError):
    """A frame file exists but does not decode to a complete image."""


def _frame_label(video_id: Optional[str], index: Optional[int], name: Optional[str]) -> str:
    parts = [f'video {video_id!r}' if video_id is not None else 'video']
    if index is not None:
        parts.append(f'frame {index}' + (f' ({name!r})' if name is not None else ''))
    elif name is not None:
        parts.append(f'frame {name!r}')
    return ', '.join(parts)


def _jpeg_is_complete(data: bytes) -> bool:
    """Whether a JPEG byte string is complete (PIL decodes it fully).

    ``cv2.imread`` decodes a truncated JPEG without an error (it only prints a libjpeg
    warning and fills the rest with grey), so truncation is checked here. The fast path is the
    end-of-image marker; files with trailing bytes after it are confirmed with Pillow,
    which raises on truncated data.
    """
    if data.rstrip(b'\x00\r\n ').endswith(_JPEG_EOI):
        return True
    import io

    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception:  # noqa: BLE001  (any decoder error means the file is unusable)
        return False
    return True


def read_frame(path: str, video_id: Optional[str] = None, index: Optional[int] = None,
               name: Optional[str] = None) -> np.ndarray:
    """Read one image file as a ``(H, W, 3)`` uint8 BGR array.

    Args:
        path: The image file.
        video_id, index, name: What the error messages call the frame.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8, BGR.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorruptFrameError: The file is empty, not an image, or a truncated JPEG.
    """
    label = _frame_label(video_id, index, name)
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f'{label}: frame file {path} does not exist') from None
    except IsADirectoryError:
        raise FileNotFoundError(f'{label}: {path} is a directory, not a frame file') from None
    if not data:
        raise CorruptFrameError(f'{label}: frame file {path} is empty')
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    # Some OpenCV builds decode a truncated JPEG (grey fill + a libjpeg warning), others
    # refuse it: check the JPEG end either way, to say what is wrong.
    if data.startswith(_JPEG_SOI) and not _jpeg_is_complete(data):
        raise CorruptFrameError(f'{label}: frame file {path} is a truncated JPEG')
    if image is None:
        raise CorruptFrameError(f'{label}: frame file {path} is not a decodable image')
    return image


def read_image_size(path: str, video_id: Optional[str] = None,
                    name: Optional[str] = None) -> tuple:
    """``(height, width)`` of an image file from its header (no decoding).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorruptFrameError: The header is not an image header.
    """
    from PIL import Image, UnidentifiedImageError
    label = _frame_label(video_id, None, name)
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise FileNotFoundError(f'{label}: frame file {path} does not exist') from None
    except (UnidentifiedImageError, OSError) as e:
        raise CorruptFrameError(f'{label}: frame file {path} is not an image ({e})') from e
    return int(height), int(width)


class FrameSource:
    """A video as a sequence of frames: ``len()``, ``source[i]``, iteration.

    Subclasses implement :meth:`_read` (random access) and may override :meth:`__iter__`
    with a faster sequential reader. Frames are ``(H, W, 3)`` uint8 BGR arrays.

    Attributes:
        video_id: The name used in error messages.
        frame_names: One name per frame, in temporal order (file stems for a folder,
            ``'%05d'`` indices otherwise).
    """

    video_id: str
    frame_names: List[str]

    def __len__(self) -> int:
        return len(self.frame_names)

    def _check_index(self, index: int) -> int:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f'video {self.video_id!r}: frame index must be an int, got '
                            f'{index!r}')
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f'video {self.video_id!r}: frame {int(index)} is out of range '
                             f'(the video has {n} frames)')
        return int(index) % n

    def __getitem__(self, index: int) -> np.ndarray:
        return self._read(self._check_index(index))

    def _read(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self._read(i)

    def get_frames(self, indices: Sequence[int]) -> List[np.ndarray]:
        """The frames at ``indices`` (any order, repeats allowed), read once each."""
        wanted = [self._check_index(i) for i in indices]
        cache = {i: self._read(i) for i in sorted(set(wanted))}
        return [cache[i] for i in wanted]

    def close(self) -> None:
        """Release file handles (a no-op for sources that hold none)."""

    def __enter__(self) -> 'FrameSource':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f'{type(self).__name__}(video_id={self.video_id!r}, num_frames={len(self)})'


class FolderFrameSource(FrameSource):
    """Frames stored as image files.

    Args:
        frames: A folder (its image files, sorted by name, are the frames) or an explicit
            list of image paths in temporal order (files are only opened when read, so a
            missing one is reported when it is needed).
        video_id: Name for error messages (default: the folder name).
        frame_names: Names of the frames (default: the file stems).

    Raises:
        FileNotFoundError: The folder does not exist.
        ValueError: The folder holds no image file, or ``frames`` is empty.
    """

    def __init__(self, frames: Union[str, Sequence[str]], video_id: Optional[str] = None,
                 frame_names: Optional[Sequence[str]] = None) -> None:
        if isinstance(frames, (str, os.PathLike)):
            folder = os.fspath(frames)
            self.video_id = video_id if video_id is not None else osp.basename(
                osp.normpath(folder))
            if not osp.isdir(folder):
                raise FileNotFoundError(
                    f'video {self.video_id!r}: frame folder {folder} does not exist')
            files = sorted(f for f in os.listdir(folder)
                           if osp.splitext(f)[1].lower() in IMAGE_EXTENSIONS)
            self.frame_paths = [osp.join(folder, f) for f in files]
            if not self.frame_paths:
                raise ValueError(f'video {self.video_id!r}: frame folder {folder} holds no '
                                 f'image file ({", ".join(IMAGE_EXTENSIONS)})')
        else:
            self.frame_paths = [os.fspath(p) for p in frames]
            self.video_id = video_id if video_id is not None else (
                osp.basename(osp.dirname(self.frame_paths[0])) if self.frame_paths else '?')
            if not self.frame_paths:
                raise ValueError(f'video {self.video_id!r} has zero frames')
        if frame_names is None:
            frame_names = [osp.splitext(osp.basename(p))[0] for p in self.frame_paths]
        elif len(frame_names) != len(self.frame_paths):
            raise ValueError(f'video {self.video_id!r}: {len(frame_names)} frame names for '
                             f'{len(self.frame_paths)} frames')
        self.frame_names = list(frame_names)

    def _read(self, index: int) -> np.ndarray:
        return read_frame(self.frame_paths[index], self.video_id, index,
                          self.frame_names[index])


class VideoFileFrameSource(FrameSource):
    """Frames of a video file, decoded with PyAV (``av``), one at a time.

    The frame count is read from the container when it knows it, else by demuxing the
    packets (no decoding). Iteration decodes sequentially with one frame alive at a time;
    :meth:`get_frames` reads any set of indices in one sequential pass; ``source[i]``
    decodes from the start up to frame ``i`` (exact whatever the keyframe layout; use
    :meth:`get_frames` to read several frames).

    Args:
        path: The video file.
        video_id: Name for error messages (default: the file stem).

    Raises:
        FileNotFoundError: The file does not exist.
        CorruptFrameError: PyAV cannot open the file or it has no video stream.
        ValueError: The video has zero frames.
    """

    def __init__(self, path: str, video_id: Optional[str] = None) -> None:
        self.path = os.fspath(path)
        self.video_id = video_id if video_id is not None else osp.splitext(
            osp.basename(self.path))[0]
        if not osp.isfile(self.path):
            raise FileNotFoundError(f'video {self.video_id!r}: file {self.path} does not exist')
        num = self._count_frames()
        if num == 0:
            raise ValueError(f'video {self.video_id!r}: {self.path} has zero frames')
        self.frame_names = ['%05d' % i for i in range(num)]

    def _open(self):
        import av
        try:
            container = av.open(self.path)
        except Exception as e:  # noqa: BLE001  (PyAV raises several error types)
            raise CorruptFrameError(
                f'video {self.video_id!r}: cannot open {self.path} ({e})') from e
        if not container.streams.video:
            container.close()
            raise CorruptFrameError(f'video {self.video_id!r}: {self.path} has no video stream')
        return container

    def _count_frames(self) -> int:
        container = self._open()
        try:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            return sum(1 for packet in container.demux(stream) if packet.size)
        except Exception as e:  # noqa: BLE001
            raise CorruptFrameError(
                f'video {self.video_id!r}: cannot read {self.path} ({e})') from e
        finally:
            container.close()

    def _decode(self, stop: Optional[int] = None) -> Iterator[np.ndarray]:
        """Decode frames ``0 .. stop-1`` (all when ``stop`` is None)."""
        container = self._open()
        index = -1
        try:
            stream = container.streams.video[0]
            stream.thread_type = 'AUTO'
            try:
                for index, frame in enumerate(container.decode(stream)):
                    if stop is not None and index >= stop:
                        return
                    yield frame.to_ndarray(format='bgr24')
            except Exception as e:  # noqa: BLE001
                raise CorruptFrameError(
                    f'{_frame_label(self.video_id, index + 1, None)}: cannot decode '
                    f'{self.path} ({e})') from e
        finally:
            container.close()
        if stop is not None and index + 1 < stop:
            raise CorruptFrameError(
                f'{_frame_label(self.video_id, index + 1, None)}: {self.path} ends after '
                f'{index + 1} decodable frames (expected {len(self)})')

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._decode()

    def _read(self, index: int) -> np.ndarray:
        return self.get_frames([index])[0]

    def get_frames(self, indices: Sequence[int]) -> List[np.ndarray]:
        wanted = [self._check_index(i) for i in indices]
        if not wanted:
            return []
        needed = set(wanted)
        cache = {}
        for i, frame in enumerate(self._decode(stop=max(needed) + 1)):
            if i in needed:
                cache[i] = frame
        return [cache[i] for i in wanted]


class ArrayFrameSource(FrameSource):
    """Frames already in memory.

    Args:
        frames: A list of ``(H, W, 3)`` uint8 arrays or one ``(T, H, W, 3)`` uint8 array.
        video_id: Name for error messages.
        frame_names: Names of the frames (default ``'%05d'`` indices).
        channel_order: ``'bgr'`` (default, OpenCV) or ``'rgb'`` (PIL / most decoders);
            RGB frames are flipped to BGR when read.

    Raises:
        ValueError: No frame, or a frame that is not ``(H, W, 3)`` uint8 (named).
    """

    def __init__(self, frames: Union[Sequence[np.ndarray], np.ndarray],
                 video_id: str = 'array', frame_names: Optional[Sequence[str]] = None,
                 channel_order: str = 'bgr') -> None:
        self.video_id = video_id
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        self.channel_order = channel_order
        self.frames = frames
        if len(frames) == 0:
            raise ValueError(f'video {video_id!r} has zero frames')
        for i, frame in enumerate(frames):
            if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 \
                    or frame.ndim != 3 or frame.shape[2] != 3:
                what = (f'{frame.dtype} array of shape {frame.shape}'
                        if isinstance(frame, np.ndarray) else type(frame).__name__)
                raise ValueError(f'{_frame_label(video_id, i, None)}: expected an (H, W, 3) '
                                 f'uint8 array, got {what}')
        if frame_names is None:
            frame_names = ['%05d' % i for i in range(len(frames))]
        elif len(frame_names) != len(frames):
            raise ValueError(f'video {video_id!r}: {len(frame_names)} frame names for '
                             f'{len(frames)} frames')
        self.frame_names = list(frame_names)

    def _read(self, index: int) -> np.ndarray:
        frame = self.frames[index]
        if self.channel_order == 'rgb':
            return np.ascontiguousarray(frame[:, :, ::-1])
        return frame


def open_frame_source(source, video_id: Optional[str] = None, **kwargs) -> FrameSource:
    """Open any supported frame store.

    Args:
        source: A :class:`FrameSource` (returned as is), a folder of frames, a video file
            (:data:`VIDEO_EXTENSIONS`), a list of image paths, a list of arrays or a
            ``(T, H, W, 3)`` array.
        video_id: Name for error messages.
        **kwargs: Passed to the source class (``frame_names``, ``channel_order``).

    Returns:
        FrameSource: The opened source.

    Raises:
        FileNotFoundError: A path that does not exist.
        ValueError: A path that is neither a folder nor a known video file, or an empty
            or mixed list.
    """
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if osp.isdir(path):
            return FolderFrameSource(path, video_id=video_id, **kwargs)
        if osp.splitext(path)[1].lower() in VIDEO_EXTENSIONS:
            return VideoFileFrameSource(path, video_id=video_id)
        if not osp.exists(path):
            raise FileNotFoundError(f'video {video_id or path!r}: {path} does not exist')
        raise ValueError(f'video {video_id or path!r}: {path} is neither a folder of frames '
                         f'nor a video file ({", ".join(VIDEO_EXTENSIONS)})')
    if isinstance(source, np.ndarray):
        return ArrayFrameSource(source, video_id=video_id or 'array', **kwargs)
    if isinstance(source, (list, tuple)):
        if len(source) == 0:
            raise ValueError(f'video {video_id or "?"!r} has zero frames')
        if all(isinstance(s, (str, os.PathLike)) for s in source):
            return FolderFrameSource(source, video_id=video_id, **kwargs)
        if all(isinstance(s, np.ndarray) for s in source):
            return ArrayFrameSource(source, video_id=video_id or 'array', **kwargs)
        raise ValueError(f'video {video_id or "?"!r}: a frame list must hold only paths or '
                         'only arrays')
    raise TypeError(f'cannot read frames from a {type(source).__name__}')
