"""A video's frames, prepared for SAM-2 one at a time as they are read."""
import itertools
import os
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch


class PreparedFrame:
    """One frame of a :class:`FrameStream`.

    ``image`` is computed on first access (a frame nobody reads, e.g. of a video without
    expressions, is never resized), then kept with the frame.

    Attributes:
        index: Position in the video.
        name: The frame's name (file stem or ``'%05d'`` index).
        ori_shape: ``(H, W)`` of the original frame.
        image: (1, 3, S, S) normalised SAM-2 input on the preprocessor's device.
    """

    __slots__ = ('index', 'name', 'ori_shape', '_frame', '_prepare', '_image')

    def __init__(self, index: int, name: str, frame: np.ndarray,
                 prepare: Callable[[np.ndarray], torch.Tensor]) -> None:
        self.index = index
        self.name = name
        self.ori_shape: Tuple[int, int] = tuple(frame.shape[:2])
        self._frame, self._prepare, self._image = frame, prepare, None

    @property
    def image(self) -> torch.Tensor:
        if self._image is None:
            self._image = self._prepare(self._frame)
            self._frame = None  # the prepared tensor replaces the decoded frame
        return self._image


class FrameStream:
    """Iterate a video's frames as :class:`PreparedFrame` s, reading a few at a time.

    Nothing is read until iteration; frames are read, checked and handed on in chunks of
    ``read_ahead``, and only the chunk in hand is alive, so memory does not grow with the
    video. With ``read_ahead > 1`` a chunk's frames are also prepared together when it is
    read: decoding and resizing frames back to back instead of between model steps keeps
    the decoder's working set in cache (on the tiny tracker benchmark the per-frame load
    falls from 1.37 to 0.77 ms at ``read_ahead=8``, docs/benchmarks.md §11). The frames come
    from any iterable of ``(H, W, 3)`` uint8 BGR arrays: a frame source of
    ``desa2va_mm.datasets.video_io`` (a folder, an mp4, arrays), which the video test
    pipeline packs, or a plain list / generator.

    Args:
        frames: The frames (iterable of ``(H, W, 3)`` uint8 BGR arrays).
        prepare: ``(H, W, 3)`` array -> ``(1, 3, S, S)`` tensor (the data preprocessor's
            ``prepare_frame``).
        video_id: Name for error messages (default: the source's ``video_id``).
        frame_names: Frame names (default: the source's ``frame_names``, else indices).
        num_frames: Video length (default: ``len(frames)`` when it has one).
        read_ahead: Frames read (and prepared) per chunk, >= 1; 1 reads and prepares each
            frame only when the consumer asks for it.

    Raises (while iterating):
        TypeError: A frame is a path: the model never opens files (open the video with
            ``desa2va_mm.datasets.video_io.open_frame_source`` and pass the source).
        ValueError: A frame that is not an ``(H, W, 3)`` array (video and frame named).
        RuntimeError: The source failed mid-stream (video and frame named).
    """

    def __init__(self, frames: Iterable, prepare: Callable[[np.ndarray], torch.Tensor], *,
                 video_id: Optional[str] = None, frame_names: Optional[Sequence[str]] = None,
                 num_frames: Optional[int] = None, read_ahead: int = 1) -> None:
        if isinstance(read_ahead, bool) or not isinstance(read_ahead, int) or read_ahead < 1:
            raise ValueError(f'read_ahead must be an int >= 1, got {read_ahead!r}')
        self.frames = frames
        self.prepare = prepare
        self.read_ahead = read_ahead
        self.video_id = str(video_id if video_id is not None else
                            getattr(frames, 'video_id', 'video'))
        names = frame_names if frame_names is not None else getattr(frames, 'frame_names',
                                                                    None)
        self.frame_names: Optional[List[str]] = list(names) if names is not None else None
        if num_frames is None and hasattr(frames, '__len__'):
            num_frames = len(frames)
        self.num_frames = num_frames

    def __len__(self) -> int:
        if self.num_frames is None:
            raise TypeError(f'video {self.video_id!r}: a stream of unknown length')
        return self.num_frames

    def _name(self, index: int) -> str:
        if self.frame_names is not None and index < len(self.frame_names):
            return self.frame_names[index]
        return str(index)

    def __iter__(self) -> Iterator[PreparedFrame]:
        if self.read_ahead == 1:
            yield from self._frames()
            return
        frames = self._frames()
        while True:
            chunk = list(itertools.islice(frames, self.read_ahead))
            if not chunk:
                return
            for frame in chunk:
                frame.image  # prepared with the rest of its chunk, before any is handed on
            yield from chunk

    def _frames(self) -> Iterator[PreparedFrame]:
        it = iter(self.frames)
        index = 0
        while True:
            try:
                frame = next(it)
            except StopIteration:
                return
            except (FileNotFoundError, ValueError, IndexError):
                raise  # frame sources already name the video and the frame
            except Exception as err:  # a decoder failing mid-stream
                raise RuntimeError(f'video {self.video_id!r}: cannot read frame {index} '
                                   f'({self._name(index)!r}): {err}') from err
            if isinstance(frame, (str, os.PathLike)):
                raise TypeError(
                    f'video {self.video_id!r}: frame {index} is a path ({frame!r}); the model '
                    'reads frames, not files: open the video with desa2va_mm.datasets.'
                    'video_io.open_frame_source and pass the source')
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
                raise ValueError(f'video {self.video_id!r}: frame {index} '
                                 f'({self._name(index)!r}) has shape {frame.shape}, expected '
                                 '(H, W, 3)')
            yield PreparedFrame(index, self._name(index), frame, self.prepare)
            del frame
            index += 1

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(video_id={self.video_id!r}, '
                f'num_frames={self.num_frames}, read_ahead={self.read_ahead})')
