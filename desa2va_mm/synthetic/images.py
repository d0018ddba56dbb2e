"""Images of the synthetic RefCOCO set: scene sampling, rendering and their refs.

Every image shows 3-6 flat-coloured shapes on a mildly textured background; a few objects
get referring expressions (:mod:`~desa2va_mm.synthetic.expressions`) checked, at
generation time, to pick out exactly one object.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from .expressions import Program, sample_referring_expressions
from .scenes import Scene, SceneObject
from .shapes import (CIRCUMRADIUS, COLOR_JITTER, NOISE_STD, draw_background,
                     rasterize_polygon, shape_polygon, visible_masks)
from .vocabulary import COLORS, SHAPES, SIZES

__all__ = ['SyntheticImage', 'generate_image']

# Scene sampling.
_NUM_OBJECTS = (3, 6)
_P_LARGE = 0.4
_P_REUSE = 0.35  # chance to copy an earlier shape / colour: creates distractors
_MIN_CENTRE_DIST = 0.6  # x (r_i + r_j): overlap allowed but bounded
_MIN_VISIBLE_FRACTION = 0.4
_MIN_VISIBLE_AREA = 0.003  # x image area (49 px at 128 px)

# Independent random streams (SeedSequence entropy = [seed, stream, ...]).
_STREAM_IMAGE = 1


@dataclass
class SyntheticImage:
    """A rendered scene with its ground truth.

    Attributes:
        image: ``(S, S, 3)`` uint8 image in BGR order (for ``cv2.imwrite``).
        scene: The scene description.
        polygons: One flat ``[x0, y0, x1, y1, ...]`` outline per object (the
            shape the pixels were rasterised from, before occlusion).
        visible_masks: ``(N, S, S)`` uint8 masks of the visible pixels.
        expressions: The refs of the image: ``(object index, [(sentence,
            program), ...])`` each (see :func:`sample_referring_expressions`).
    """
    image: np.ndarray
    scene: Scene
    polygons: List[List[float]]
    visible_masks: np.ndarray
    expressions: List[Tuple[int, List[Tuple[str, Program]]]]


def _pick(rng: np.random.Generator, options: Sequence[str],
          used: Sequence[str]) -> str:
    """Pick a name, sometimes copying an earlier one to create distractors."""
    if used and rng.random() < _P_REUSE:
        return used[int(rng.integers(len(used)))]
    return options[int(rng.integers(len(options)))]


def _sample_layout(rng: np.random.Generator, size: int) -> List[dict]:
    """Sample shapes and positions; returns raw specs in drawing order."""
    specs: List[dict] = []
    for _ in range(int(rng.integers(_NUM_OBJECTS[0], _NUM_OBJECTS[1] + 1))):
        shape = _pick(rng, SHAPES, [s['shape'] for s in specs])
        color = _pick(rng, tuple(COLORS), [s['color'] for s in specs])
        size_name = 'large' if rng.random() < _P_LARGE else 'small'
        radius = rng.uniform(*SIZES[size_name]) * size
        extent = radius * CIRCUMRADIUS[shape] + 1.0
        angle = (rng.uniform(0, math.pi / 3) if shape == 'hexagon' else
                 rng.uniform(-0.14, 0.14))  # mild tilt keeps shapes recognisable
        for _ in range(20):
            cx, cy = rng.uniform(extent, size - extent, size=2)
            if all(math.hypot(cx - s['cx'], cy - s['cy'])
                   >= _MIN_CENTRE_DIST * (radius + s['radius']) for s in specs):
                specs.append(
                    dict(shape=shape, color=color, size=size_name,
                         radius=float(radius), cx=float(cx), cy=float(cy),
                         angle=float(angle)))
                break
    return specs


def generate_image(seed: int, image_index: int,
                   image_size: int = 128) -> SyntheticImage:
    """Render one image of the dataset with its ground truth and refs.

    The random stream depends only on ``(seed, image_index)``, so an image is
    the same whatever the total number of images; this is exactly what
    :func:`make_synthetic_refcoco` writes for image id ``image_index + 1``.

    Args:
        seed: Dataset seed (>= 0).
        image_index: 0-based index of the image.
        image_size: Side of the square image in pixels.

    Returns:
        The rendered image with its scene, polygons, visible masks and refs.
    """
    rng = np.random.default_rng([int(seed), _STREAM_IMAGE, int(image_index)])
    while True:
        sample = _render_scene(rng, image_size)
        # Rare: no object has two distinct unambiguous descriptions.
        sample.expressions = sample_referring_expressions(sample.scene, rng)
        if sample.expressions:
            return sample


def _render_scene(rng: np.random.Generator, size: int) -> SyntheticImage:
    min_area = _MIN_VISIBLE_AREA * size * size
    while True:
        specs = _sample_layout(rng, size)
        polygons = [
            shape_polygon(s['shape'], s['cx'], s['cy'], s['radius'],
                          s['angle']) for s in specs
        ]
        full = [rasterize_polygon(p, size) for p in polygons]
        # Drop the worst-hidden object one at a time: removing one only
        # uncovers others, so this keeps as many objects as possible.
        keep = list(range(len(specs)))
        while keep:
            visible = visible_masks([full[i] for i in keep])
            ratios = [
                float(v.sum()) / max(float(full[i].sum()), 1.0)
                if v.sum() >= min_area else -1.0
                for i, v in zip(keep, visible)
            ]
            worst = int(np.argmin(ratios))
            if ratios[worst] >= _MIN_VISIBLE_FRACTION:
                break
            keep.pop(worst)
        if len(keep) >= _NUM_OBJECTS[0]:
            break

    image = draw_background(rng, size)
    objects = []
    for i, vis in zip(keep, visible):
        spec = specs[i]
        color = np.asarray(COLORS[spec['color']], dtype=np.float32)
        color = color + rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3)
        image[full[i].astype(bool)] = color  # later shapes overwrite: occlusion
        objects.append(
            SceneObject(
                shape=spec['shape'], color=spec['color'], size=spec['size'],
                cx=round(spec['cx'], 3), cy=round(spec['cy'], 3),
                radius=round(spec['radius'], 3),
                full_area=int(full[i].sum()), visible_area=int(vis.sum())))
    image += rng.normal(0.0, NOISE_STD, size=image.shape).astype(np.float32)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)[:, :, ::-1]
    return SyntheticImage(
        image=np.ascontiguousarray(image),
        scene=Scene(image_size=size, objects=tuple(objects)),
        polygons=[polygons[i] for i in keep],
        visible_masks=np.stack(visible).astype(np.uint8),
        expressions=[])
