"""Videos where static semantics and dynamics come apart (the ``motion_pairs`` layout).

Every video shows three objects:

* two *twins*, alike in colour, shape and size class, that move differently (one moves
  left and the other right, one moves and the other stays, ...). Appearance cannot tell
  them apart; each is described by its motion (``"the red square moving left"``);
* one *distinct* object, unlike the twins in colour and shape and in motion, described
  twice: by appearance only (``"the blue circle"``) and by motion only (``"the shape
  moving up"``), two expressions with one target.

A model that reads a single mixed [SEG] prompt has to carry "which of the two" in the
motion words alone; the pair of expressions for the distinct object checks that both
routes reach the same mask. Programs are those of
:mod:`~desa2va_mm.synthetic.video_expressions` with a ``role`` key added (``'twin'``,
``'appearance'``, ``'motion_only'``), which their renderer and resolver ignore.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

from .shapes import CIRCUMRADIUS
from .video_expressions import render_video_expression, resolve_video_expression
from .videos import _MIN_GAP, SyntheticVideo, VideoObject, _render, _trajectory
from .vocabulary import COLORS, DIRECTIONS, SHAPES, SIZES

__all__ = ['MOTION_PAIR_ROLES', 'generate_motion_pair_video']

#: The ``role`` of each expression program of a motion-pair video.
MOTION_PAIR_ROLES = ('twin', 'appearance', 'motion_only')

# Motions that keep the object in view on every frame (entering / leaving objects could
# be out of view on the frames a tracker is scored on).
_MOTIONS: Tuple[Tuple[str, Optional[str]], ...] = (
    ('static', None), *(('moving', d) for d in DIRECTIONS), *(('stops', d) for d in DIRECTIONS))
_P_LARGE = 0.35

_STREAM_MOTION_PAIRS = 13


def _valid(program: dict, objects: List[VideoObject], target: List[int]) -> bool:
    """The program names exactly ``target`` in the lenient and the strict reading."""
    return (resolve_video_expression(program, objects, lenient=True) == target
            == resolve_video_expression(program, objects, lenient=False))


def _place(rng: np.random.Generator, objects: List[VideoObject], shape: str, color: str,
           size_name: str, motion: Tuple[str, Optional[str]], image_size: int,
           num_frames: int) -> Optional[VideoObject]:
    """One object with this look and motion, apart from ``objects`` on every frame."""
    radius = float(rng.uniform(*SIZES[size_name]) * image_size)
    extent = radius * CIRCUMRADIUS[shape] + 1.0
    angle = float(rng.uniform(0, math.pi / 3) if shape == 'hexagon' else
                  rng.uniform(-0.14, 0.14))
    for _ in range(30):
        centres, stop = _trajectory(rng, motion[0], motion[1], extent, image_size, num_frames)
        if all(np.min(np.hypot(*(centres - np.asarray(o['centres'])).T))
               >= _MIN_GAP * (radius + o['radius']) for o in objects):
            return VideoObject(
                shape=shape, color=color, size=size_name, radius=round(radius, 3),
                angle=round(angle, 4), motion=motion[0], direction=motion[1],
                centres=[[round(float(x), 3), round(float(y), 3)] for x, y in centres],
                stop_frame=int(stop) if motion[0] == 'stops' else None)
    return None


def _sample(rng: np.random.Generator, image_size: int,
            num_frames: int) -> Optional[Tuple[List[VideoObject], list]]:
    """Twins + distinct object and their four expressions, or None to draw again."""
    colors = list(COLORS)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    color = colors[int(rng.integers(len(colors)))]
    size_name = 'large' if rng.random() < _P_LARGE else 'small'
    picks = rng.permutation(len(_MOTIONS))[:3]
    motions = [_MOTIONS[int(k)] for k in picks]
    other_shape = [s for s in SHAPES if s != shape][int(rng.integers(len(SHAPES) - 1))]
    other_color = [c for c in colors if c != color][int(rng.integers(len(colors) - 1))]
    other_size = 'large' if rng.random() < _P_LARGE else 'small'
    objects: List[VideoObject] = []
    for look, motion in zip(((shape, color, size_name), (shape, color, size_name),
                             (other_shape, other_color, other_size)), motions):
        obj = _place(rng, objects, *look, motion, image_size, num_frames)
        if obj is None:
            return None
        objects.append(obj)
    programs = []
    for i in (0, 1):
        # The twins' full look: colour and shape name both, the motion singles one out.
        head = {'color': color, 'shape': shape}
        programs.append((dict(head=head, motion=objects[i]['motion'], plural=False,
                              direction=objects[i]['direction'], role='twin'), [i]))
    distinct = objects[2]
    programs.append((dict(head={'color': other_color, 'shape': other_shape}, motion=None,
                          direction=None, plural=False, role='appearance'), [2]))
    programs.append((dict(head={}, motion=distinct['motion'], direction=distinct['direction'],
                          plural=False, role='motion_only'), [2]))
    if not all(_valid(p, objects, t) for p, t in programs):
        return None  # e.g. a twin that 'stops' and the distinct object moving that way
    return objects, programs


def generate_motion_pair_video(seed: int, video_index: int, num_frames: int = 12,
                               image_size: int = 128) -> SyntheticVideo:
    """Render one motion-pair video (module docstring) with its ground truth.

    The random stream depends only on ``(seed, video_index)`` (a stream of its own, so
    the default layout's videos of the same seed are unrelated).

    Args:
        seed: Dataset seed (>= 0).
        video_index: 0-based index of the video.
        num_frames: Frames ``T`` (>= 2).
        image_size: Side ``S`` of the square frames in pixels.

    Returns:
        SyntheticVideo: ``frames``, ``objects`` (twins first, then the distinct object),
        ``masks`` (3, T, S, S) and four ``expressions`` ``(text, program, [index])``:
        twin 0, twin 1, the distinct object by appearance, then by motion.
    """
    rng = np.random.default_rng([int(seed), _STREAM_MOTION_PAIRS, int(video_index)])
    while True:
        sampled = _sample(rng, image_size, num_frames)
        if sampled is None:
            continue
        objects, programs = sampled
        frames, masks = _render(rng, objects, image_size, num_frames)
        # Occlusion can hide a small object for the whole video in rare layouts.
        if masks.reshape(len(objects), -1).any(axis=1).all():
            return SyntheticVideo(
                frames=frames, objects=objects, masks=masks,
                expressions=[(render_video_expression(p), p, t) for p, t in programs])
