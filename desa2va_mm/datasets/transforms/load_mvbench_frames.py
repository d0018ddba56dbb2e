"""Frames of an MVBench question, sampled as MVBench's official evaluation samples them."""
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from desa2va_mm.registry import TRANSFORMS
from ..video_io import read_frame
from .internvl_tiling import IMAGENET_MEAN, IMAGENET_STD, dynamic_tiles, normalize_tiles

#: Frame rate of MVBench's frame-folder videos (``tvqa/frames_fps3_hq``).
FRAME_FOLDER_FPS = 3.0


def mvbench_frame_indices(num_segments: int, max_frame: int, fps: float,
                          bound: Optional[Tuple[float, float]] = None,
                          first_idx: int = 0) -> List[int]:
    """MVBench's ``get_index``: the centres of ``num_segments`` equal segments of the clip.

    The clip is ``[round(start * fps), round(end * fps)]`` clamped to
    ``[first_idx, max_frame]`` (the whole video without ``bound``); segment ``i``'s frame
    is ``int(start_idx + seg / 2 + round(seg * i))`` with ``seg = (end_idx - start_idx) /
    num_segments`` (NumPy's round: halves to even).

    Args:
        num_segments: Frames to sample.
        max_frame: Last valid index (video files: frame count - 1; frame folders: the number
            of files, their names counting from 1).
        fps: Frames per second of the video.
        bound: ``(start, end)`` in seconds, or None.
        first_idx: First valid index (0 for video files, 1 for frame folders).
    """
    start, end = bound if bound is not None else (-100000, 100000)
    start_idx = max(first_idx, int(np.round(start * fps)))
    end_idx = min(int(np.round(end * fps)), max_frame)
    seg = float(end_idx - start_idx) / num_segments
    return [int(start_idx + seg / 2 + np.round(seg * i)) for i in range(num_segments)]


def _video_info(path: str) -> Tuple[int, float]:
    import av
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            count = int(stream.frames) or sum(
                1 for packet in container.demux(stream) if packet.size)
    except Exception as e:  # noqa: BLE001  (PyAV raises several error types)
        raise ValueError(f'{path}: cannot read the video ({e})') from e
    if count == 0 or fps <= 0:
        raise ValueError(f'{path}: no frame or no frame rate in the container')
    return count, fps


@TRANSFORMS.register_module()
class LoadMVBenchFrames(BaseTransform):
    """Read the frames of an MVBench question, one InternVL tile each.

    Video files: frame count and average frame rate from the container (PyAV), indices by
    :func:`mvbench_frame_indices` with ``max_frame = count - 1``. Frame folders
    (``mvbench_data_type == 'frame'``): 3 fps, ``max_frame`` = number of files, frames
    ``%05d.jpg`` numbered from 1, as the official loader reads them. A question's
    ``mvbench_bound`` (``start``, ``end`` in seconds) restricts the clip.

    Adds what :class:`LoadQAVideoFrames` adds: ``frames`` (T x (H, W, 3) uint8 BGR),
    ``img`` (the first frame), ``img_shape`` / ``ori_shape``, ``pixel_values``
    (T, 3, s, s) and ``num_tiles`` = T; plus ``frame_ids``.

    Args:
        num_frames: ``num_segments`` (the official evaluation: 16).
        tile_size: InternVL tile side (448).
        mean: RGB mean in [0, 1].
        std: RGB std in [0, 1].
    """

    def __init__(self, num_frames: int = 16, tile_size: int = 448, mean=IMAGENET_MEAN,
                 std=IMAGENET_STD) -> None:
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        self.num_frames = num_frames
        self.tile_size = tile_size
        self.mean = tuple(mean)
        self.std = tuple(std)

    def _read(self, results: dict) -> Tuple[List[np.ndarray], List[int]]:
        path = results['video_path']
        bound = results.get('mvbench_bound')
        where = results.get('question_id', path)
        if results.get('mvbench_data_type') == 'frame':
            if not osp.isdir(path):
                raise FileNotFoundError(f'{where}: frame folder {path} does not exist')
            indices = mvbench_frame_indices(self.num_frames, len(os.listdir(path)),
                                            FRAME_FOLDER_FPS, bound, first_idx=1)
            return [read_frame(osp.join(path, '%05d.jpg' % i), where, i) for i in indices], \
                indices
        if not osp.isfile(path):
            raise FileNotFoundError(f'{where}: video {path} does not exist')
        from ..video_io import VideoFileFrameSource
        count, fps = _video_info(path)
        indices = mvbench_frame_indices(self.num_frames, count - 1, fps, bound)
        with VideoFileFrameSource(path, video_id=str(where)) as source:
            return source.get_frames(indices), indices

    def transform(self, results: dict) -> dict:
        frames, indices = self._read(results)
        tiles = [
            dynamic_tiles(Image.fromarray(np.ascontiguousarray(frame[..., ::-1])), 1, 1,
                          self.tile_size, use_thumbnail=False)[0] for frame in frames
        ]
        results['frames'] = frames
        results['frame_ids'] = indices
        results['img'] = frames[0]
        results['img_shape'] = results['ori_shape'] = frames[0].shape[:2]
        results['pixel_values'] = normalize_tiles(tiles, self.mean, self.std)
        results['num_tiles'] = len(tiles)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_frames={self.num_frames}, '
                f'tile_size={self.tile_size})')
