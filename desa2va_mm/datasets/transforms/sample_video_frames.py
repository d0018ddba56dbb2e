"""Choose the frames of a video sample: random training clips and test key frames."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS
from desa2va_mm.structures.key_frames import KEY_FRAME_STRATEGIES, select_key_frames

__all__ = ['KEY_FRAME_STRATEGIES', 'select_key_frames', 'sample_train_frames',
           'SampleVideoFrames']


def sample_train_frames(num_video_frames: int, num_frames: int = 5,
                        contiguous_prob: float = 0.5,
                        rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Indices of a training clip: ``T`` frames, sorted (Sa2VA's sampler).

    With probability ``contiguous_prob`` a contiguous run of ``T`` frames at a random
    start, otherwise ``T`` distinct random frames. A video shorter than ``T`` gives each of
    its frames once plus random repeats up to ``T`` (so clips always have ``T`` frames).

    Args:
        num_video_frames: ``N`` (>= 1).
        num_frames: ``T`` (>= 1).
        contiguous_prob: Probability of a contiguous clip.
        rng: Random generator (default: NumPy's global state, which MMEngine seeds per
            worker).

    Returns:
        np.ndarray: ``(T,)`` int64, non-decreasing.
    """
    if num_video_frames < 1:
        raise ValueError(f'a video needs >= 1 frame, got {num_video_frames}')
    n, t = int(num_video_frames), int(num_frames)

    def randint(low: int, high: int, size=None):
        return rng.integers(low, high, size) if rng is not None else np.random.randint(
            low, high, size)

    if n < t:
        return np.sort(np.concatenate([np.arange(n), randint(0, n, t - n)])).astype(np.int64)
    if (rng.random() if rng is not None else np.random.random()) < contiguous_prob:
        start = int(randint(0, n - t + 1))
        return np.arange(start, start + t, dtype=np.int64)
    choice = rng.choice if rng is not None else np.random.choice
    return np.sort(choice(n, t, replace=False)).astype(np.int64)


@TRANSFORMS.register_module()
class SampleVideoFrames(BaseTransform):
    """Pick the frames of a video sample.

    Training (``mode='train'``): ``frame_ids`` = :func:`sample_train_frames`
    (``num_frames`` sorted frames, contiguous with probability ``contiguous_prob``).

    The video's length is that of ``video_source`` when it is an opened source (a frame
    source, a list or an array of frames), else of ``frame_paths``.

    Test (``mode='test'``): ``key_frame_ids`` = :func:`select_key_frames` (the frames the
    MLLM sees; every frame of the video is still segmented: they are streamed);
    ``frame_ids`` is set to the same indices so :class:`LoadVideoFrames` loads the key
    frames only.

    Args:
        mode: ``'train'`` or ``'test'``.
        num_frames: Training clip length ``T`` (Sa2VA: 5).
        contiguous_prob: Probability of a contiguous training clip (Sa2VA: 0.5).
        key_frame_strategy: ``'first'`` (default, Sa2VA) or ``'uniform'``.
        num_key_frames: Key frames at test (Sa2VA: 5).
    """

    def __init__(self, mode: str = 'train', num_frames: int = 5, contiguous_prob: float = 0.5,
                 key_frame_strategy: str = 'first', num_key_frames: int = 5) -> None:
        if mode not in ('train', 'test'):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        if num_frames < 1 or num_key_frames < 1:
            raise ValueError('num_frames and num_key_frames must be >= 1')
        if not 0.0 <= contiguous_prob <= 1.0:
            raise ValueError(f'contiguous_prob must be in [0, 1], got {contiguous_prob}')
        if key_frame_strategy not in KEY_FRAME_STRATEGIES:
            raise ValueError(f'key_frame_strategy must be one of {KEY_FRAME_STRATEGIES}, '
                             f'got {key_frame_strategy!r}')
        self.mode = mode
        self.num_frames = num_frames
        self.contiguous_prob = contiguous_prob
        self.key_frame_strategy = key_frame_strategy
        self.num_key_frames = num_key_frames

    def transform(self, results: dict) -> dict:
        source = results.get('video_source')
        # An opened source (frame source, frame list or array) knows its length; dataset
        # items list their frame files.
        opened = hasattr(source, '__len__') and not isinstance(source, (str, bytes))
        num = len(source) if opened else len(results.get('frame_paths') or ())
        if num == 0:
            raise ValueError(f"video {results.get('video_id', '<unknown video>')!r} has zero "
                             'frames')
        if self.mode == 'train':
            results['frame_ids'] = sample_train_frames(num, self.num_frames,
                                                       self.contiguous_prob)
        else:
            keys = select_key_frames(num, self.num_key_frames, self.key_frame_strategy)
            results['key_frame_ids'] = keys
            results['frame_ids'] = keys.copy()
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mode={self.mode!r}, num_frames={self.num_frames}, '
                f'contiguous_prob={self.contiguous_prob}, '
                f'key_frame_strategy={self.key_frame_strategy!r}, '
                f'num_key_frames={self.num_key_frames})')
