"""Frames of a video question-answering sample, one InternVL tile each."""
import glob
import os.path as osp
from typing import List

import cv2
import mmcv
import numpy as np
from PIL import Image
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS
from .internvl_tiling import IMAGENET_MEAN, IMAGENET_STD, dynamic_tiles, normalize_tiles

FRAME_EXTENSIONS = ('.jpg', '.jpeg', '.png')


def uniform_indices(num_available: int, num_frames: int) -> List[int]:
    """``num_frames`` indices spread evenly over ``num_available`` frames (segment
    centres, as video-chat loaders sample); all frames when there are fewer."""
    if num_available <= num_frames:
        return list(range(num_available))
    seg = num_available / num_frames
    return [min(int(seg * i + seg / 2), num_available - 1) for i in range(num_frames)]


@TRANSFORMS.register_module()
class LoadQAVideoFrames(BaseTransform):
    """Read ``num_frames`` frames of ``results['video_path']`` for LLaVA-style video QA.

    ``video_path`` is a folder of frame images (sorted by name) or a video file (decoded
    with OpenCV). Adds ``frames`` (T x (H, W, 3) uint8 BGR), ``img`` (the first frame: the
    SAM-2 input every sample carries), ``img_shape`` / ``ori_shape``, ``pixel_values``
    (T, 3, s, s): each frame resized to one ``tile_size`` tile (PIL bicubic,
    InternVL's single-tile path) and normalised, and ``num_tiles`` = T, so ``<image>`` expands to
    the frames' tokens.

    Args:
        num_frames: Frames sampled uniformly (Sa2VA's video chat uses 5).
        tile_size: InternVL tile side (448).
        mean: RGB mean in [0, 1].
        std: RGB std in [0, 1].
    """

    def __init__(self, num_frames: int = 5, tile_size: int = 448, mean=IMAGENET_MEAN,
                 std=IMAGENET_STD) -> None:
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        self.num_frames = num_frames
        self.tile_size = tile_size
        self.mean = tuple(mean)
        self.std = tuple(std)

    def _read(self, path: str) -> List[np.ndarray]:
        if osp.isdir(path):
            files = sorted(f for f in glob.glob(osp.join(path, '*'))
                           if f.lower().endswith(FRAME_EXTENSIONS))
            if not files:
                raise ValueError(f'{path}: frame folder holds no image')
            frames = []
            for f in (files[i] for i in uniform_indices(len(files), self.num_frames)):
                frame = mmcv.imread(f)
                if frame is None:
                    raise ValueError(f'{path}: cannot decode frame {f}')
                frames.append(frame)
            return frames
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: video (file or frame folder) does not exist')
        cap = cv2.VideoCapture(path)
        frames = []
        try:
            total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            for i in uniform_indices(max(total, 0), self.num_frames):
                cap.set(cv2.CAP_PROP_POS_FRAMES, i)
                ok, frame = cap.read()
                if ok:
                    frames.append(frame)
        finally:
            cap.release()
        if not frames:
            raise ValueError(f'{path}: cannot decode any frame')
        return frames

    def transform(self, results: dict) -> dict:
        frames = self._read(results['video_path'])
        tiles = [
            dynamic_tiles(Image.fromarray(np.ascontiguousarray(frame[..., ::-1])), 1, 1,
                          self.tile_size, use_thumbnail=False)[0] for frame in frames
        ]
        results['frames'] = frames
        results['img'] = frames[0]
        results['img_shape'] = results['ori_shape'] = frames[0].shape[:2]
        results['pixel_values'] = normalize_tiles(tiles, self.mean, self.std)
        results['num_tiles'] = len(tiles)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_frames={self.num_frames}, '
                f'tile_size={self.tile_size})')
