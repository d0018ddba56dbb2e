"""Which frames of a video the MLLM reads at test time (the key frames)."""
import numpy as np

__all__ = ['KEY_FRAME_STRATEGIES', 'select_key_frames']

KEY_FRAME_STRATEGIES = ('first', 'uniform')


def select_key_frames(num_video_frames: int, num_key_frames: int = 5,
                      strategy: str = 'first') -> np.ndarray:
    """Indices of the key frames the MLLM sees at test time.

    * ``'first'``: frames ``0 .. K-1`` (Sa2VA's default).
    * ``'uniform'``: ``K`` frames evenly spaced over the whole video, first and last
      included: ``np.round(np.linspace(0, N - 1, K))`` (NumPy rounds halves to even;
      ``K = 1`` gives frame 0).

    A video with ``N <= K`` frames uses all of its frames, once each (a 1-frame video:
    ``[0]``), whatever the strategy.

    Args:
        num_video_frames: ``N`` (>= 1).
        num_key_frames: ``K`` (>= 1).
        strategy: ``'first'`` or ``'uniform'``.

    Returns:
        np.ndarray: ``(min(N, K),)`` int64 indices, strictly increasing.
    """
    if strategy not in KEY_FRAME_STRATEGIES:
        raise ValueError(f'key-frame strategy must be one of {KEY_FRAME_STRATEGIES}, got '
                         f'{strategy!r}')
    if num_video_frames < 1:
        raise ValueError(f'a video needs >= 1 frame, got {num_video_frames}')
    if num_key_frames < 1:
        raise ValueError(f'num_key_frames must be >= 1, got {num_key_frames}')
    n, k = int(num_video_frames), int(num_key_frames)
    if n <= k:
        return np.arange(n, dtype=np.int64)
    if strategy == 'first':
        return np.arange(k, dtype=np.int64)
    if k == 1:
        return np.zeros(1, dtype=np.int64)
    # Spacing (n-1)/(k-1) > 1 here, so rounding keeps the indices distinct.
    return np.round(np.linspace(0, n - 1, k)).astype(np.int64)
