"""Drawing primitives shared by the image and the video generator.

Same shapes, colours, sizes, background and rasteriser in both, so a model trained on
one recognises the other. Polygons are flat ``[x0, y0, x1, y1, ...]`` lists in pixels;
masks are ``(S, S)`` uint8 arrays.
"""
import math
from typing import List

import cv2
import numpy as np
from pycocotools import mask as mask_utils

__all__ = [
    'CIRCUMRADIUS', 'COLOR_JITTER', 'NOISE_STD', 'shape_polygon', 'rasterize_polygon',
    'rasterize_clipped', 'draw_background', 'visible_masks'
]

#: Per-shape geometry: scales the equal-area radius to the vertex radius so that shapes
#: of one size class have roughly the same area (a star needs a larger outline than a
#: circle to cover as many pixels).
CIRCUMRADIUS = {
    'circle': 1.0, 'square': 1.253, 'triangle': 1.35, 'star': 1.3,
    'hexagon': 1.1
}
_STAR_INNER_RATIO = 0.5
_CIRCLE_VERTICES = 40

#: Per-channel colour jitter of a drawn shape (uniform integers in [-J, J]).
COLOR_JITTER = 12
#: Standard deviation of the Gaussian pixel noise added to every image.
NOISE_STD = 3.0


def shape_polygon(shape: str, cx: float, cy: float, radius: float,
                  angle: float) -> List[float]:
    """Return the outline of a shape as a flat, 2-decimal xy list."""
    outer = radius * CIRCUMRADIUS[shape]
    if shape == 'circle':
        count, radii, start = _CIRCLE_VERTICES, [outer], 0.0
    elif shape == 'square':
        count, radii, start = 4, [outer], math.pi / 4
    elif shape == 'triangle':
        count, radii, start = 3, [outer], -math.pi / 2
    elif shape == 'hexagon':
        count, radii, start = 6, [outer], 0.0
    elif shape == 'star':
        count, radii, start = 10, [outer, outer * _STAR_INNER_RATIO], -math.pi / 2
    else:
        raise ValueError(f'unknown shape {shape!r}')
    theta = start + angle + 2 * math.pi * np.arange(count) / count
    rad = np.resize(np.asarray(radii, dtype=np.float64), count)
    xy = np.stack([cx + rad * np.cos(theta), cy + rad * np.sin(theta)], axis=1)
    # Round before rasterising: the stored polygon must be exactly what the
    # pixels were drawn from.
    return [round(float(v), 2) for v in xy.reshape(-1)]


def rasterize_polygon(polygon: List[float], size: int) -> np.ndarray:
    """Rasterise a polygon with pycocotools, the same code COCO loaders use.

    Drawing the image from pycocotools' own rasterisation makes the stored
    polygon decode to exactly the pixels of the shape.
    """
    rles = mask_utils.frPyObjects([polygon], size, size)
    return mask_utils.decode(mask_utils.merge(rles))


def draw_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Low-saturation grey with a soft two-wave texture (float32, RGB)."""
    base = rng.uniform(95.0, 165.0) + rng.uniform(-8.0, 8.0, size=3)
    grid = np.arange(size, dtype=np.float32) / size
    texture = np.zeros((size, size), dtype=np.float32)
    for _ in range(2):
        fx, fy = rng.uniform(0.5, 3.0, size=2) * rng.choice([-1, 1], size=2)
        phase = rng.uniform(0, 2 * math.pi)
        amp = rng.uniform(3.0, 8.0)
        texture += amp * np.sin(2 * math.pi * (fx * grid[None, :] +
                                               fy * grid[:, None]) + phase)
    return base.astype(np.float32)[None, None, :] + texture[:, :, None]


def visible_masks(full: List[np.ndarray]) -> List[np.ndarray]:
    """Visible part of each mask when later masks are drawn on top."""
    covered = np.zeros_like(full[0]) if full else None
    visible: List[np.ndarray] = []
    for mask in reversed(full):
        visible.append(mask & (1 - covered))
        covered = covered | mask
    return visible[::-1]


def rasterize_clipped(polygon: List[float], size: int) -> np.ndarray:
    """Pixels of a polygon that may extend beyond the frame (scan-converted by OpenCV
    at 1/16 px precision; only the in-frame part is kept)."""
    mask = np.zeros((size, size), dtype=np.uint8)
    points = np.round(np.asarray(polygon, dtype=np.float64).reshape(-1, 2) * 16).astype(np.int32)
    cv2.fillPoly(mask, [points], 1, lineType=cv2.LINE_8, shift=4)
    return mask
