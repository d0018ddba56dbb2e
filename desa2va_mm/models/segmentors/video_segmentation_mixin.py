"""Deprecated import path of the key-frame rule; use :mod:`desa2va_mm.structures`.

``key_frame_indices(n, k, strategy)`` is ``select_key_frames(n, k, strategy).tolist()``
(``desa2va_mm.structures.key_frames``). Video segmentation itself is ``DeSa2VA``'s
``read_video_prompts`` / ``segment_video`` and ``SAM2VideoTracker``.
"""
from typing import List

from desa2va_mm.structures.key_frames import select_key_frames

__all__ = ['key_frame_indices']


def key_frame_indices(num_frames: int, num_key_frames: int = 5,
                      strategy: str = 'first') -> List[int]:
    """The key frames of a video as a list (see ``select_key_frames``)."""
    return select_key_frames(num_frames, num_key_frames, strategy).tolist()
