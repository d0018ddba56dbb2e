"""Load the chosen frames of a video sample."""
import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS
from ..video_io import open_frame_source


@TRANSFORMS.register_module()
class LoadVideoFrames(BaseTransform):
    """Read the frames at ``results['frame_ids']`` (set by :class:`SampleVideoFrames`).

    The frames come from ``results['video_source']`` when present (a folder, a video file
    or arrays; see :func:`~desa2va_mm.datasets.video_io.open_frame_source`), else from
    ``results['frame_paths']``. Each requested frame is decoded once.

    Output: ``frames`` (list of T ``(H, W, 3)`` uint8 BGR arrays, in ``frame_ids`` order),
    ``img_shape`` and ``ori_shape`` = ``(H, W)``.

    Args:
        check_size: Raise when a frame's size differs from the item's ``height`` /
            ``width`` (its masks would not line up).
    """

    def __init__(self, check_size: bool = True) -> None:
        self.check_size = check_size

    def transform(self, results: dict) -> dict:
        video_id = results.get('video_id')
        if 'frame_ids' not in results:
            raise KeyError(f'video {video_id!r}: no "frame_ids"; put SampleVideoFrames before '
                           'LoadVideoFrames')
        source = results.get('video_source')
        if source is None:
            source = results['frame_paths']
            names = results.get('frame_names')
            source = open_frame_source(source, video_id=video_id, frame_names=names)
        else:
            source = open_frame_source(source, video_id=video_id)
        frame_ids = np.asarray(results['frame_ids'], dtype=np.int64)
        with source:
            frames = source.get_frames([int(i) for i in frame_ids])
        expected = (results.get('height'), results.get('width'))
        for i, frame in zip(frame_ids, frames):
            if self.check_size and None not in expected and frame.shape[:2] != expected:
                raise ValueError(
                    f'video {video_id!r}, frame {int(i)} ({source.frame_names[int(i)]!r}): size '
                    f'{frame.shape[0]}x{frame.shape[1]} differs from the video size '
                    f'{expected[0]}x{expected[1]} (its annotations)')
        height, width = frames[0].shape[:2]
        results['frames'] = frames
        results['img_shape'] = (height, width)
        results['ori_shape'] = (height, width)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(check_size={self.check_size})'
