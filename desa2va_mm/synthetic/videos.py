"""Videos of the synthetic MeViS set: moving shapes, their masks and expressions.

Every video shows 3-5 flat-coloured shapes (drawn like the images,
:mod:`~desa2va_mm.synthetic.shapes`) that move over a mildly textured background: some
move left / right / up / down for the whole video, some move and then stop, some enter
the frame from outside or leave it, some stay still. Objects often share a colour and a
shape, so many expressions only single out their target by its *motion*.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

from .shapes import (CIRCUMRADIUS, COLOR_JITTER, NOISE_STD, draw_background,
                     rasterize_clipped, shape_polygon, visible_masks)
from .video_expressions import pick_video_expressions
from .vocabulary import COLORS, DIRECTIONS, SHAPES, SIZES

__all__ = ['VideoObject', 'SyntheticVideo', 'generate_video']

_NUM_OBJECTS = (3, 5)
_P_LARGE = 0.35
_P_TWIN = 0.7  # a second object with the same colour and shape but another motion
_P_REUSE = 0.35
_MOTION_WEIGHTS = {'static': 0.2, 'moving': 0.4, 'stops': 0.15, 'enters': 0.125,
                   'leaves': 0.125}
_TRAVEL = (0.3, 0.5)  # total displacement, fraction of the side
_MIN_GAP = 1.05  # x (r_i + r_j): centres never closer, at any frame
_MAX_EXPRESSIONS = 5

_STREAM_VIDEO = 11


class VideoObject(dict):
    """One shape of a video (a plain dict, JSON-able): ``shape``, ``color``, ``size``,
    ``radius``, ``angle``, ``motion`` (:data:`MOTIONS`), ``direction`` (None when static),
    ``centres`` ``[[cx, cy]] * T`` and ``stop_frame`` (first frame at rest, 'stops' only)."""


class SyntheticVideo(dict):
    """A rendered video: ``frames`` (T x (S, S, 3) uint8 BGR), ``objects``
    (:class:`VideoObject`), ``masks`` ((N, T, S, S) uint8 visible masks) and
    ``expressions`` (list of ``(text, program, object indices)``)."""


# ---------------------------------------------------------------------------
# Trajectories and rendering
# ---------------------------------------------------------------------------
def _trajectory(rng: np.random.Generator, motion: str, direction: Optional[str],
                extent: float, size: int, num_frames: int) -> Tuple[np.ndarray, int]:
    """Centres ``(T, 2)`` of one object and its stop frame (T when it never stops)."""
    lo, hi = extent, size - extent
    if motion == 'static':
        return np.repeat(rng.uniform(lo, hi, size=(1, 2)), num_frames, axis=0), num_frames
    dx, dy = DIRECTIONS[direction]
    axis = 0 if dx else 1
    sign = dx or dy
    travel = rng.uniform(*_TRAVEL) * size
    other = rng.uniform(lo, hi)
    stop = num_frames
    progress = np.arange(num_frames, dtype=np.float64) / max(num_frames - 1, 1)
    if motion == 'stops':
        stop = int(rng.integers(max(2, num_frames // 3), max(3, 2 * num_frames // 3 + 1)))
        stop = min(stop, num_frames - 1)
        progress = np.minimum(np.arange(num_frames, dtype=np.float64) / stop, 1.0)
    if motion == 'enters':
        # Start fully outside, end inside: the first frames have no mask at all.
        start = -extent - 1.0 if sign > 0 else size + extent + 1.0
        end_lo, end_hi = (lo + 0.1 * size, hi) if sign > 0 else (lo, hi - 0.1 * size)
        end = rng.uniform(end_lo, end_hi)
        along = start + (end - start) * progress
    elif motion == 'leaves':
        end = size + extent + 1.0 if sign > 0 else -extent - 1.0
        start = rng.uniform(lo, hi - 0.1 * size) if sign > 0 else rng.uniform(
            lo + 0.1 * size, hi)
        along = start + (end - start) * progress
    else:  # 'moving', 'stops': the whole path stays inside the frame
        travel = min(travel, hi - lo)
        start = rng.uniform(lo, hi - travel) if sign > 0 else rng.uniform(lo + travel, hi)
        along = start + sign * travel * progress
    centres = np.empty((num_frames, 2), dtype=np.float64)
    centres[:, axis] = along
    centres[:, 1 - axis] = other
    return centres, stop


def _sample_objects(rng: np.random.Generator, size: int, num_frames: int) -> List[VideoObject]:
    count = int(rng.integers(_NUM_OBJECTS[0], _NUM_OBJECTS[1] + 1))
    motions, weights = list(_MOTION_WEIGHTS), np.array(list(_MOTION_WEIGHTS.values()))
    objects: List[VideoObject] = []
    for k in range(count):
        twin = objects and k == 1 and rng.random() < _P_TWIN
        if twin:
            shape, color = objects[0]['shape'], objects[0]['color']
        else:
            used_shapes = [o['shape'] for o in objects]
            used_colors = [o['color'] for o in objects]
            shape = (used_shapes[int(rng.integers(len(used_shapes)))]
                     if used_shapes and rng.random() < _P_REUSE else
                     SHAPES[int(rng.integers(len(SHAPES)))])
            color = (used_colors[int(rng.integers(len(used_colors)))]
                     if used_colors and rng.random() < _P_REUSE else
                     list(COLORS)[int(rng.integers(len(COLORS)))])
        size_name = 'large' if rng.random() < _P_LARGE else 'small'
        radius = float(rng.uniform(*SIZES[size_name]) * size)
        extent = radius * CIRCUMRADIUS[shape] + 1.0
        angle = float(rng.uniform(0, math.pi / 3) if shape == 'hexagon' else
                      rng.uniform(-0.14, 0.14))
        for _ in range(30):
            motion = motions[int(rng.choice(len(motions), p=weights / weights.sum()))]
            if twin and motion == objects[0]['motion']:
                continue
            direction = None if motion == 'static' else list(DIRECTIONS)[int(rng.integers(4))]
            centres, stop = _trajectory(rng, motion, direction, extent, size, num_frames)
            if all(np.min(np.hypot(*(centres - np.asarray(o['centres'])).T))
                   >= _MIN_GAP * (radius + o['radius']) for o in objects):
                objects.append(VideoObject(
                    shape=shape, color=color, size=size_name, radius=round(radius, 3),
                    angle=round(angle, 4), motion=motion, direction=direction,
                    centres=[[round(float(x), 3), round(float(y), 3)] for x, y in centres],
                    stop_frame=int(stop) if motion == 'stops' else None))
                break
    return objects


def _render(rng: np.random.Generator, objects: List[VideoObject], size: int,
            num_frames: int) -> Tuple[List[np.ndarray], np.ndarray]:
    background = draw_background(rng, size)
    colours = [np.asarray(COLORS[o['color']], dtype=np.float32)
               + rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3) for o in objects]
    frames, masks = [], np.zeros((len(objects), num_frames, size, size), dtype=np.uint8)
    for t in range(num_frames):
        full = [
            rasterize_clipped(
                shape_polygon(o['shape'], o['centres'][t][0], o['centres'][t][1],
                              o['radius'], o['angle']), size) for o in objects
        ]
        image = background.copy()
        for mask, colour in zip(full, colours):
            image[mask.astype(bool)] = colour  # later objects on top: occlusion
        image += rng.normal(0.0, NOISE_STD, size=image.shape).astype(np.float32)
        frames.append(np.ascontiguousarray(
            np.clip(np.rint(image), 0, 255).astype(np.uint8)[:, :, ::-1]))
        masks[:, t] = np.stack(visible_masks(full))
    return frames, masks


def generate_video(seed: int, video_index: int, num_frames: int = 12,
                   image_size: int = 128, max_expressions: int = _MAX_EXPRESSIONS
                   ) -> SyntheticVideo:
    """Render one video with its ground truth and expressions.

    The random stream depends only on ``(seed, video_index)``: this is exactly what
    :func:`make_synthetic_mevis` writes for that video whatever the dataset size.

    Args:
        seed: Dataset seed (>= 0).
        video_index: 0-based index of the video.
        num_frames: Frames ``T`` (>= 2).
        image_size: Side ``S`` of the square frames in pixels.
        max_expressions: Most expressions per video.

    Returns:
        SyntheticVideo: ``frames``, ``objects``, ``masks`` (N, T, S, S) and
        ``expressions`` (>= 1).
    """
    rng = np.random.default_rng([int(seed), _STREAM_VIDEO, int(video_index)])
    while True:
        objects = _sample_objects(rng, image_size, num_frames)
        if len(objects) < 2:
            continue
        expressions = pick_video_expressions(rng, objects, max_expressions)
        if not expressions:
            continue
        frames, masks = _render(rng, objects, image_size, num_frames)
        # Every named object must be visible somewhere (an entering object may be hidden
        # behind another one for the whole video in rare layouts).
        visible = masks.reshape(len(objects), -1).any(axis=1)
        if all(visible[i] for _, _, target in expressions for i in target):
            return SyntheticVideo(frames=frames, objects=objects, masks=masks,
                                  expressions=expressions)
