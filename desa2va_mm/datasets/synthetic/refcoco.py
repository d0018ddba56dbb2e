"""A synthetic referring-segmentation dataset laid out exactly like RefCOCO.

Every image shows 3-6 flat-coloured shapes on a mildly textured background. A few
objects per image get referring expressions drawn from a tiny grammar (attributes,
superlatives, absolute positions and spatial relations) that is checked, at
generation time, to pick out exactly one object. The files are written in the real
RefCOCO layout so that mmdet 3.3's ``RefCocoDataset`` loads them unchanged::

    DIR/train2014/COCO_train2014_000000000001.jpg
    DIR/refcoco/instances.json        # COCO: images / annotations / categories
    DIR/refcoco/refs(unc).p           # pickled list of refs, split by image
    DIR/refcoco/synthetic_scenes.json # sidecar: object attributes for re-checking

The data is small, fast to make (no downloads) and fully deterministic per seed,
which makes it suitable for smoke-training tiny models and for tests.

Expressions are plain strings; :func:`parse_expression` turns one back into its
program (a small dict) and :func:`resolve_expression` evaluates a program on a
:class:`Scene`, so any consumer can re-check that a sentence names its object.
"""
from __future__ import annotations

import collections
import itertools
import json
import math
import os
import os.path as osp
import pickle
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

__all__ = [
    'COLORS', 'SHAPES', 'SIZES', 'VOCABULARY', 'DEFAULT_SPLIT_FRACTIONS',
    'ANN_FILE', 'SPLIT_FILE', 'SCENES_FILE', 'IMG_DIR', 'SceneObject', 'Scene',
    'SyntheticImage', 'generate_image', 'enumerate_expressions',
    'sample_referring_expressions', 'render_expression', 'surface_forms',
    'parse_expression', 'resolve_expression', 'expression_kind',
    'make_synthetic_refcoco', 'load_scenes', 'compute_split_stats'
]

Program = Dict[str, Any]

# ---------------------------------------------------------------------------
# Visual vocabulary
# ---------------------------------------------------------------------------
#: Shape names; one COCO category each (category id = position + 1).
SHAPES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'star', 'hexagon')

#: Named colours (RGB). Hues are far apart and saturated, while the background
#: is a low-saturation grey, so every name is unambiguous even after JPEG.
COLORS: Dict[str, Tuple[int, int, int]] = {
    'red': (215, 40, 40),
    'green': (40, 165, 60),
    'blue': (40, 90, 215),
    'yellow': (235, 210, 45),
    'purple': (135, 60, 175),
    'orange': (240, 135, 30),
}

#: Size classes -> range of the equal-area radius as a fraction of the image
#: side. The ranges are > 1.75x apart so "small" vs "large" is obvious.
SIZES: Dict[str, Tuple[float, float]] = {
    'small': (0.065, 0.085),
    'large': (0.15, 0.185),
}

DEFAULT_SPLIT_FRACTIONS: Tuple[Tuple[str, float], ...] = (
    ('train', 0.8), ('val', 0.1), ('testA', 0.05), ('testB', 0.05))

IMG_DIR = 'train2014'
ANN_FILE = 'refcoco/instances.json'
SPLIT_FILE = 'refcoco/refs(unc).p'
SCENES_FILE = 'refcoco/synthetic_scenes.json'
_FILE_NAME = 'COCO_train2014_%012d.jpg'
_DESCRIPTION = 'desa2va synthetic RefCOCO'

# Per-shape geometry. ``_CIRCUMRADIUS`` scales the equal-area radius to the
# vertex radius so that shapes of one size class have roughly the same area
# (a star needs a larger outline than a circle to cover as many pixels).
_CIRCUMRADIUS = {
    'circle': 1.0, 'square': 1.253, 'triangle': 1.35, 'star': 1.3,
    'hexagon': 1.1
}
_STAR_INNER_RATIO = 0.5
_CIRCLE_VERTICES = 40

# Scene sampling.
_NUM_OBJECTS = (3, 6)
_P_LARGE = 0.4
_P_REUSE = 0.35  # chance to copy an earlier shape / colour: creates distractors
_MIN_CENTRE_DIST = 0.6  # x (r_i + r_j): overlap allowed but bounded
_MIN_VISIBLE_FRACTION = 0.4
_MIN_VISIBLE_AREA = 0.003  # x image area (49 px at 128 px)
_COLOR_JITTER = 12
_NOISE_STD = 3.0

# Resolver thresholds, as fractions of the image side. A program is valid for
# a target only if the *lenient* reading (anything a reader might accept)
# and the *strict* reading (only clear cases) both give exactly that target,
# so borderline configurations never produce an expression.
_REL_MARGIN_LENIENT = 0.03
_REL_MARGIN_STRICT = 0.10
_SUPERLATIVE_POS_MARGIN = 0.10
_SUPERLATIVE_SIZE_RATIO = 1.5
_ABSOLUTE_LENIENT = 0.55
_ABSOLUTE_STRICT = 0.40

# Independent random streams (SeedSequence entropy = [seed, stream, ...]).
_STREAM_IMAGE = 1
_STREAM_SPLIT = 2

# ---------------------------------------------------------------------------
# Language
# ---------------------------------------------------------------------------
_GENERIC_NOUN = 'shape'
_SIZE_WORDS = {'small': ('small', ), 'large': ('large', 'big')}
_SUPERLATIVE_WORDS = {
    'leftmost': ('leftmost', ),
    'rightmost': ('rightmost', ),
    'topmost': ('topmost', ),
    'bottommost': ('bottommost', ),
    'largest': ('largest', 'biggest'),
    'smallest': ('smallest', ),
}
_ABSOLUTE_PHRASES = {
    'left': ('on the left', ),
    'right': ('on the right', ),
    'top': ('at the top', ),
    'bottom': ('at the bottom', ),
}
_RELATION_PHRASES = {
    'left': ('left of', 'to the left of'),
    'right': ('right of', 'to the right of'),
    'above': ('above', ),
    'below': ('below', ),
}


def _build_vocabulary() -> Tuple[str, ...]:
    words = {'the', _GENERIC_NOUN, *SHAPES, *COLORS}
    for table in (_SIZE_WORDS, _SUPERLATIVE_WORDS, _ABSOLUTE_PHRASES,
                  _RELATION_PHRASES):
        for phrases in table.values():
            for phrase in phrases:
                words.update(phrase.split())
    return tuple(sorted(words))


#: Every word the generator can emit, sorted (for word-level tokenizers).
VOCABULARY: Tuple[str, ...] = _build_vocabulary()


# ---------------------------------------------------------------------------
# Scenes
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SceneObject:
    """One shape of a scene, as the resolver sees it.

    Attributes:
        shape: Shape name, one of :data:`SHAPES`.
        color: Colour name, a key of :data:`COLORS`.
        size: Size class, a key of :data:`SIZES`.
        cx: Centre x in pixels (of the full, unoccluded shape).
        cy: Centre y in pixels (image y grows downwards).
        radius: Equal-area radius of the full shape in pixels.
        full_area: Pixels of the full shape.
        visible_area: Pixels left visible after later shapes are drawn.
    """
    shape: str
    color: str
    size: str
    cx: float
    cy: float
    radius: float
    full_area: int
    visible_area: int

    @property
    def occluded(self) -> bool:
        """Whether a later shape covers part of this one."""
        return self.visible_area < self.full_area


@dataclass(frozen=True)
class Scene:
    """The objects of one image, in drawing order (later ones on top).

    Attributes:
        image_size: Side of the square image in pixels.
        objects: The objects; indices into this tuple are what
            :func:`resolve_expression` returns.
    """
    image_size: int
    objects: Tuple[SceneObject, ...]


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


def _shape_polygon(shape: str, cx: float, cy: float, radius: float,
                   angle: float) -> List[float]:
    """Return the outline of a shape as a flat, 2-decimal xy list."""
    outer = radius * _CIRCUMRADIUS[shape]
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


def _rasterize(polygon: List[float], size: int) -> np.ndarray:
    """Rasterise a polygon with pycocotools, the same code COCO loaders use.

    Drawing the image from pycocotools' own rasterisation makes the stored
    polygon decode to exactly the pixels of the shape.
    """
    rles = mask_utils.frPyObjects([polygon], size, size)
    return mask_utils.decode(mask_utils.merge(rles))


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
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
        extent = radius * _CIRCUMRADIUS[shape] + 1.0
        angle = (rng.uniform(0, math.pi / 3) if shape == 'hexagon' else
                 rng.uniform(-0.14, 0.14))  # mild tilt keeps shapes recognisable
        for _ in range(20):
            cx, cy = rng.uniform(extent, size - extent, size=2)
            if all(
                    math.hypot(cx - s['cx'], cy - s['cy']) >= _MIN_CENTRE_DIST *
                (radius + s['radius']) for s in specs):
                specs.append(
                    dict(shape=shape, color=color, size=size_name,
                         radius=float(radius), cx=float(cx), cy=float(cy),
                         angle=float(angle)))
                break
    return specs


def _visible_masks(full: List[np.ndarray]) -> List[np.ndarray]:
    """Visible part of each mask when later masks are drawn on top."""
    covered = np.zeros_like(full[0]) if full else None
    visible: List[np.ndarray] = []
    for mask in reversed(full):
        visible.append(mask & (1 - covered))
        covered = covered | mask
    return visible[::-1]


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
            _shape_polygon(s['shape'], s['cx'], s['cy'], s['radius'],
                           s['angle']) for s in specs
        ]
        full = [_rasterize(p, size) for p in polygons]
        # Drop the worst-hidden object one at a time: removing one only
        # uncovers others, so this keeps as many objects as possible.
        keep = list(range(len(specs)))
        while keep:
            visible = _visible_masks([full[i] for i in keep])
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

    image = _background(rng, size)
    objects = []
    for i, vis in zip(keep, visible):
        spec = specs[i]
        color = np.asarray(COLORS[spec['color']], dtype=np.float32)
        color = color + rng.integers(-_COLOR_JITTER, _COLOR_JITTER + 1, size=3)
        image[full[i].astype(bool)] = color  # later shapes overwrite: occlusion
        objects.append(
            SceneObject(
                shape=spec['shape'], color=spec['color'], size=spec['size'],
                cx=round(spec['cx'], 3), cy=round(spec['cy'], 3),
                radius=round(spec['radius'], 3),
                full_area=int(full[i].sum()), visible_area=int(vis.sum())))
    image += rng.normal(0.0, _NOISE_STD, size=image.shape).astype(np.float32)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)[:, :, ::-1]
    return SyntheticImage(
        image=np.ascontiguousarray(image),
        scene=Scene(image_size=size, objects=tuple(objects)),
        polygons=[polygons[i] for i in keep],
        visible_masks=np.stack(visible).astype(np.uint8),
        expressions=[])


# ---------------------------------------------------------------------------
# Expressions: programs, rendering, parsing, resolving
# ---------------------------------------------------------------------------
# A program is a small JSON-able dict:
#   {'type': 'attr', 'head': H}
#   {'type': 'superlative', 'which': 'leftmost'|..., 'head': H}
#   {'type': 'absolute', 'position': 'left'|'right'|'top'|'bottom', 'head': H}
#   {'type': 'relation', 'relation': 'left'|'right'|'above'|'below',
#    'head': H, 'anchor': H}
# where a head H has any of the keys 'size', 'color', 'shape' (a missing
# 'shape' is rendered with the generic noun "shape").


def _head_forms(head: Dict[str, str]) -> List[str]:
    size_words = _SIZE_WORDS[head['size']] if 'size' in head else ('', )
    color = head.get('color', '')
    noun = head.get('shape', _GENERIC_NOUN)
    return [' '.join(w for w in (s, color, noun) if w) for s in size_words]


def surface_forms(program: Program) -> List[str]:
    """All sentences that express a program (synonyms, phrasings).

    Args:
        program: An expression program.

    Returns:
        Distinct sentences; the first one is the canonical rendering.
    """
    kind = program['type']
    heads = _head_forms(program['head'])
    if kind == 'attr':
        return [f'the {h}' for h in heads]
    if kind == 'superlative':
        return [
            f'the {w} {h}'
            for w, h in itertools.product(_SUPERLATIVE_WORDS[program['which']],
                                          heads)
        ]
    if kind == 'absolute':
        return [
            f'the {h} {p}' for h, p in itertools.product(
                heads, _ABSOLUTE_PHRASES[program['position']])
        ]
    if kind == 'relation':
        return [
            f'the {h} {p} the {a}' for h, p, a in itertools.product(
                heads, _RELATION_PHRASES[program['relation']],
                _head_forms(program['anchor']))
        ]
    raise ValueError(f'unknown program type {kind!r}')


def render_expression(program: Program) -> str:
    """Canonical sentence of a program."""
    return surface_forms(program)[0]


def _lookup(table: Dict[str, Tuple[str, ...]]) -> Dict[Tuple[str, ...], str]:
    return {
        tuple(phrase.split()): key
        for key, phrases in table.items() for phrase in phrases
    }


_SIZE_LOOKUP = {w: k for k, ws in _SIZE_WORDS.items() for w in ws}
_SUPERLATIVE_LOOKUP = {w: k for k, ws in _SUPERLATIVE_WORDS.items() for w in ws}
_ABSOLUTE_LOOKUP = _lookup(_ABSOLUTE_PHRASES)
_RELATION_LOOKUP = _lookup(_RELATION_PHRASES)


def _parse_head(tokens: List[str], pos: int,
                text: str) -> Tuple[Dict[str, str], int]:
    head: Dict[str, str] = {}
    if pos < len(tokens) and tokens[pos] in _SIZE_LOOKUP:
        head['size'] = _SIZE_LOOKUP[tokens[pos]]
        pos += 1
    if pos < len(tokens) and tokens[pos] in COLORS:
        head['color'] = tokens[pos]
        pos += 1
    if pos >= len(tokens) or tokens[pos] not in SHAPES + (_GENERIC_NOUN, ):
        raise ValueError(f'expected a shape noun at word {pos} of {text!r}')
    if tokens[pos] != _GENERIC_NOUN:
        head['shape'] = tokens[pos]
    return head, pos + 1


def parse_expression(text: str) -> Program:
    """Parse a generated sentence back into its program.

    Args:
        text: A sentence produced by the generator (case-insensitive).

    Returns:
        The program; ``render``-ing it gives back an equivalent sentence.

    Raises:
        ValueError: If the sentence is not in the generator's grammar.
    """
    tokens = text.lower().split()
    if not tokens or tokens[0] != 'the':
        raise ValueError(f'expression must start with "the": {text!r}')
    pos, which = 1, None
    if pos < len(tokens) and tokens[pos] in _SUPERLATIVE_LOOKUP:
        which = _SUPERLATIVE_LOOKUP[tokens[pos]]
        pos += 1
    head, pos = _parse_head(tokens, pos, text)
    rest = tuple(tokens[pos:])
    if which is not None:
        if rest:
            raise ValueError(f'unexpected words after superlative: {text!r}')
        return {'type': 'superlative', 'which': which, 'head': head}
    if not rest:
        return {'type': 'attr', 'head': head}
    if rest in _ABSOLUTE_LOOKUP:
        return {
            'type': 'absolute',
            'position': _ABSOLUTE_LOOKUP[rest],
            'head': head
        }
    for phrase, relation in _RELATION_LOOKUP.items():
        n = len(phrase)
        if rest[:n] == phrase and rest[n:n + 1] == ('the', ):
            anchor, end = _parse_head(tokens, pos + n + 1, text)
            if end != len(tokens):
                raise ValueError(f'unexpected words after anchor: {text!r}')
            return {
                'type': 'relation',
                'relation': relation,
                'head': head,
                'anchor': anchor
            }
    raise ValueError(f'cannot parse expression {text!r}')


def expression_kind(program: Program) -> str:
    """A coarse label of a program, for statistics and tests.

    Returns:
        ``'superlative'``, ``'absolute'``, ``'relation'``, or for attribute
        programs the attributes used joined by ``_`` (e.g. ``'shape'``,
        ``'color_shape'``, ``'size_color_shape'``, ``'color'``).
    """
    if program['type'] != 'attr':
        return program['type']
    return '_'.join(k for k in ('size', 'color', 'shape')
                    if k in program['head'])


def _matches(head: Dict[str, str], obj: SceneObject) -> bool:
    # A plain loop: this is the generator's innermost call.
    for key, value in head.items():
        if getattr(obj, key) != value:
            return False
    return True


def _related(relation: str, obj: SceneObject, anchor: SceneObject,
             size: int, strict: bool) -> bool:
    """Whether ``obj`` is ``relation`` (left/right/above/below) of ``anchor``."""
    dx, dy = obj.cx - anchor.cx, obj.cy - anchor.cy
    along, across = {
        'left': (-dx, dy),
        'right': (dx, dy),
        'above': (-dy, dx),
        'below': (dy, dx)
    }[relation]
    if not strict:
        return along > _REL_MARGIN_LENIENT * size
    # Clear cases only: well separated along the axis, and within 45 degrees
    # of it (a shape far below-left is not "left of" in a clear sense).
    return along > _REL_MARGIN_STRICT * size and along > abs(across)


def resolve_expression(program: Program,
                       scene: Scene,
                       strict: bool = False) -> List[int]:
    """Objects of a scene that an expression program refers to.

    The lenient reading (default) returns every object a reader could take the
    expression to mean, including borderline ones (near ties of a superlative,
    objects only slightly left of an anchor...). The strict reading returns only
    clear cases. An expression is unambiguous for object ``i`` when both
    readings return ``[i]``.

    Args:
        program: An expression program (see :func:`parse_expression`).
        scene: The scene to evaluate it on.
        strict: Use the strict reading.

    Returns:
        Sorted indices into ``scene.objects``.
    """
    objs, size = scene.objects, scene.image_size
    cands = [i for i, o in enumerate(objs) if _matches(program['head'], o)]
    kind = program['type']
    if kind == 'attr':
        return cands
    if kind == 'superlative':
        if not cands:
            return []
        which = program['which']
        if which in ('largest', 'smallest'):
            sign = -1.0 if which == 'largest' else 1.0
            keys = [sign * math.log(objs[i].full_area) for i in cands]
            margin = math.log(_SUPERLATIVE_SIZE_RATIO)
        else:
            attr, sign = {
                'leftmost': ('cx', 1.0),
                'rightmost': ('cx', -1.0),
                'topmost': ('cy', 1.0),
                'bottommost': ('cy', -1.0)
            }[which]
            keys = [sign * getattr(objs[i], attr) for i in cands]
            margin = _SUPERLATIVE_POS_MARGIN * size
        best = min(keys)
        close = [i for i, k in zip(cands, keys) if k < best + margin]
        return close if (not strict or len(close) == 1) else []
    if kind == 'absolute':
        bound = (_ABSOLUTE_STRICT if strict else _ABSOLUTE_LENIENT) * size
        attr, sign = {
            'left': ('cx', 1.0),
            'right': ('cx', -1.0),
            'top': ('cy', 1.0),
            'bottom': ('cy', -1.0)
        }[program['position']]
        # For right/bottom mirror the coordinate: x < b  <=>  size - x < b.
        return [
            i for i in cands
            if (getattr(objs[i], attr) if sign > 0 else size -
                getattr(objs[i], attr)) < bound
        ]
    if kind == 'relation':
        anchors = resolve_expression({
            'type': 'attr',
            'head': program['anchor']
        }, scene)
        if strict and len(anchors) != 1:
            return []
        return sorted({
            i
            for a in anchors for i in cands if i != a and _related(
                program['relation'], objs[i], objs[a], size, strict)
        })
    raise ValueError(f'unknown program type {kind!r}')


def _is_unique(program: Program, scene: Scene, index: int) -> bool:
    return (resolve_expression(program, scene) == [index]
            and resolve_expression(program, scene, strict=True) == [index])


def _simpler_heads(head: Dict[str, str]) -> Iterable[Dict[str, str]]:
    """Heads with fewer adjectives and the same noun ("the circle" for "the
    red circle"); the noun itself is never counted as redundant because
    "the red circle" reads more naturally than "the red shape"."""
    adjectives = [k for k in head if k != 'shape']
    for n in range(len(adjectives)):
        for combo in itertools.combinations(adjectives, n):
            sub = {k: head[k] for k in combo}
            if 'shape' in head:
                sub['shape'] = head['shape']
            if sub:
                yield sub


def enumerate_expressions(scene: Scene,
                          index: int) -> List[Tuple[Program, float]]:
    """Every unambiguous program for one object, with a preference weight.

    Weights favour programs whose extra parts are needed (the attributes are
    minimal, or the relation / superlative disambiguates a head that alone is
    ambiguous) over trivially short or redundant ones.

    Args:
        scene: The scene.
        index: Index of the target object.

    Returns:
        ``(program, weight)`` pairs, deterministic order.
    """
    obj = scene.objects[index]
    out: List[Tuple[Program, float]] = []

    def attr(head: Dict[str, str]) -> Program:
        return {'type': 'attr', 'head': head}

    # Attribute descriptions; "the small circle" etc. are minimal when no
    # subset of their adjectives already singles the object out.
    attr_heads = [{'shape': obj.shape}, {'color': obj.color},
                  {'size': obj.size},
                  {'color': obj.color, 'shape': obj.shape},
                  {'size': obj.size, 'shape': obj.shape},
                  {'size': obj.size, 'color': obj.color},
                  {'size': obj.size, 'color': obj.color, 'shape': obj.shape}]
    unique = [h for h in attr_heads if _is_unique(attr(h), scene, index)]
    for head in unique:
        minimal = not any(
            _is_unique(attr(sub), scene, index)
            for sub in _simpler_heads(head))
        if list(head) == ['shape']:
            weight = 1.0  # valid but trivial: keep it rare
        else:
            weight = 3.0 if minimal else 0.2
        out.append((attr(head), weight))

    def needed(head: Dict[str, str]) -> bool:
        return not _is_unique(attr(head), scene, index)

    context_heads = [{'shape': obj.shape}, {'color': obj.color},
                     {'color': obj.color, 'shape': obj.shape}]
    # Superlatives only over two or more objects: "the largest triangle"
    # with one triangle in sight is odd, however true.
    group_heads = [
        h for h in [{}] + context_heads
        if len(resolve_expression(attr(h), scene)) >= 2
    ]
    for which in _SUPERLATIVE_WORDS:
        for head in group_heads:
            prog = {'type': 'superlative', 'which': which, 'head': head}
            if _is_unique(prog, scene, index):
                out.append((prog, 3.0 if needed(head) else 0.3))
    for position in _ABSOLUTE_PHRASES:
        for head in context_heads:
            prog = {'type': 'absolute', 'position': position, 'head': head}
            if _is_unique(prog, scene, index):
                # Fewer of these: "on the left" is coarse.
                out.append((prog, 1.5 if needed(head) else 0.2))
    for a, anchor in enumerate(scene.objects):
        if a == index:
            continue
        relations = [
            r for r in _RELATION_PHRASES
            if _related(r, obj, anchor, scene.image_size, strict=True)
        ]
        if not relations:
            continue  # cheap pre-filter before the full resolve
        anchor_heads = [
            h for h in ({'shape': anchor.shape}, {'color': anchor.color},
                        {'color': anchor.color, 'shape': anchor.shape})
            if _is_unique(attr(h), scene, a)
        ][:2]  # the two simplest unique names of the anchor are plenty
        for relation in relations:
            for anchor_head in anchor_heads:
                for head in context_heads:
                    prog = {
                        'type': 'relation',
                        'relation': relation,
                        'head': head,
                        'anchor': anchor_head
                    }
                    if _is_unique(prog, scene, index):
                        out.append((prog, 3.5 if needed(head) else 0.3))
    return out


def _family(program: Program) -> str:
    """Coarse kind used to diversify the sentences of one ref."""
    kind = expression_kind(program)
    if kind in ('superlative', 'absolute', 'relation', 'shape'):
        return kind
    return 'attribute'


def _weighted_pick(rng: np.random.Generator, weights: Sequence[float]) -> int:
    w = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(len(w), p=w / w.sum()))


def sample_referring_expressions(
        scene: Scene, rng: np.random.Generator,
        max_refs: int = 3) -> List[Tuple[int, List[Tuple[str, Program]]]]:
    """Choose objects to refer to and 2-3 distinct sentences for each.

    Objects whose shape is shared get picked first more often (they need
    attributes or relations to be named). Sentences of one ref prefer
    different kinds of description, then different phrasings.

    Args:
        scene: The scene.
        rng: Random generator (consumed deterministically).
        max_refs: Upper bound of refs; the count is drawn from 1..max_refs.

    Returns:
        ``(object index, [(sentence, program), ...])`` per ref; may be empty
        when no object has two distinct unambiguous descriptions.
    """
    objs = scene.objects
    num_refs = int(rng.integers(1, max_refs + 1))
    shape_counts = collections.Counter(o.shape for o in objs)
    weights = np.array([2.0 if shape_counts[o.shape] > 1 else 1.0 for o in objs])
    order = rng.choice(len(objs), size=len(objs), replace=False,
                       p=weights / weights.sum())
    refs = []
    for index in order.tolist():
        pool = enumerate_expressions(scene, index)
        if sum(len(surface_forms(p)) for p, _ in pool) < 2:
            continue
        want = int(rng.integers(2, 4))
        chosen: List[Tuple[str, Program]] = []
        # Pick a family first, then a program in it: relations alone can
        # number dozens per object and would otherwise crowd out the rest.
        families: Dict[str, List[Tuple[Program, float]]] = {}
        for program, weight in pool:
            families.setdefault(_family(program), []).append((program, weight))
        used: collections.Counter = collections.Counter()
        while families and len(chosen) < want:
            names = list(families)
            name = names[_weighted_pick(rng, [
                max(w for _, w in families[n]) * 0.15**used[n] for n in names
            ])]
            members = families[name]
            program, _ = members.pop(
                _weighted_pick(rng, [w for _, w in members]))
            if not members:
                del families[name]
            used[name] += 1
            forms = surface_forms(program)
            chosen.append((forms[int(rng.integers(len(forms)))], program))
        # Too few distinct programs: add other phrasings of the chosen ones.
        spare = [(f, p) for _, p in chosen for f in surface_forms(p)
                 if f not in {s for s, _ in chosen}]
        while spare and len(chosen) < want:
            chosen.append(spare.pop(int(rng.integers(len(spare)))))
        refs.append((index, chosen))
        if len(refs) == num_refs:
            break
    return refs


# ---------------------------------------------------------------------------
# Dataset writer
# ---------------------------------------------------------------------------
def _validate_args(out_dir: str, num_images: int, seed: int, image_size: int,
                   split_fractions: Sequence[Tuple[str, float]],
                   jpeg_quality: int) -> List[Tuple[str, float]]:
    """Check arguments; returns normalised split fractions."""
    if isinstance(num_images, bool) or not isinstance(num_images,
                                                      (int, np.integer)):
        raise TypeError(f'num_images must be an int, got {num_images!r}')
    if num_images <= 0:
        raise ValueError(f'num_images must be > 0, got {num_images}')
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or seed < 0:
        raise ValueError(f'seed must be a non-negative int, got {seed!r}')
    if isinstance(image_size, bool) or not isinstance(
            image_size, (int, np.integer)) or image_size < 64:
        raise ValueError(f'image_size must be an int >= 64, got {image_size!r}')
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality must be in [1, 100], got {jpeg_quality}')
    fractions = [(str(name), float(frac)) for name, frac in split_fractions]
    names = [name for name, _ in fractions]
    if not fractions or len(set(names)) != len(names) or not all(names):
        raise ValueError(
            f'split names must be non-empty and unique, got {names}')
    if any(not math.isfinite(f) or f <= 0 for _, f in fractions):
        raise ValueError(
            f'split fractions must be positive numbers, got {fractions}')
    total = sum(f for _, f in fractions)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise NotADirectoryError(
            f'out_dir {out_dir!r} exists and is not a directory')
    ann_path = osp.join(out_dir, ANN_FILE)
    if osp.exists(ann_path) and not osp.exists(osp.join(out_dir, SCENES_FILE)):
        # Never overwrite a real RefCOCO/COCO annotation file by mistake.
        raise FileExistsError(
            f'{ann_path} exists but was not written by this generator; '
            'choose an empty out_dir')
    return [(name, f / total) for name, f in fractions]


def _split_counts(num_images: int,
                  fractions: List[Tuple[str, float]]) -> List[int]:
    """Images per split: largest remainder, and >= 1 each when possible."""
    raw = [f * num_images for _, f in fractions]
    counts = [int(math.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[:num_images - sum(counts)]:
        counts[i] += 1
    # Give empty splits one image from the largest, so each split loads.
    for i in range(len(counts)):
        if counts[i] == 0:
            donor = int(np.argmax(counts))
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[i] = 1
    return counts


def _encode_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {'size': [int(v) for v in rle['size']],
            'counts': rle['counts'].decode('ascii')}


def _decode(segmentation: Any, size: int) -> np.ndarray:
    """Decode a COCO segmentation the way COCO loaders do."""
    if isinstance(segmentation, list):
        return mask_utils.decode(
            mask_utils.merge(mask_utils.frPyObjects(segmentation, size, size)))
    return mask_utils.decode(segmentation)


def make_synthetic_refcoco(
    out_dir: str,
    num_images: int,
    seed: int,
    image_size: int = 128,
    split_fractions: Sequence[Tuple[str, float]] = DEFAULT_SPLIT_FRACTIONS,
    jpeg_quality: int = 95,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Dict[str, Any]:
    """Write a synthetic RefCOCO-format dataset.

    Output (under ``out_dir``): ``train2014/COCO_train2014_%012d.jpg``,
    ``refcoco/instances.json``, ``refcoco/refs(unc).p`` and the sidecar
    ``refcoco/synthetic_scenes.json`` (scene attributes, for re-checking
    expressions with :func:`resolve_expression`). Same arguments give
    byte-identical files. Files of an earlier run in ``out_dir`` are
    overwritten; images beyond this run's count are left in place (nothing
    references them).

    Args:
        out_dir: Output directory (created if missing).
        num_images: Number of images (> 0).
        seed: Dataset seed (>= 0).
        image_size: Side of the square images in pixels (>= 64).
        split_fractions: ``(name, fraction)`` pairs; fractions are normalised
            to sum to 1 and images are split at random, all refs of an image
            in one split. Every split gets >= 1 image when there are enough.
        jpeg_quality: JPEG quality of the images.
        progress: Optional callback ``progress(done, total)`` per image.

    Returns:
        Summary: ``num_images``, ``num_annotations``, ``num_refs``,
        ``num_sentences``, ``num_rle_annotations``,
        ``shared_attribute_fraction`` (images with two objects sharing a
        colour or shape) and ``splits``: ``{name: {'images', 'refs',
        'sentences'}}``.

    Raises:
        ValueError, TypeError: Bad arguments.
        NotADirectoryError: ``out_dir`` exists and is a file.
        FileExistsError: ``out_dir`` holds an annotation file that this
            generator did not write.
    """
    fractions = _validate_args(out_dir, num_images, seed, image_size,
                               split_fractions, jpeg_quality)
    num_images = int(num_images)
    counts = _split_counts(num_images, fractions)
    perm = np.random.default_rng([int(seed), _STREAM_SPLIT]).permutation(
        num_images)
    split_of = np.empty(num_images, dtype=object)
    start = 0
    for (name, _), count in zip(fractions, counts):
        split_of[perm[start:start + count]] = name
        start += count

    os.makedirs(osp.join(out_dir, IMG_DIR), exist_ok=True)
    os.makedirs(osp.dirname(osp.join(out_dir, ANN_FILE)), exist_ok=True)
    categories = [{
        'id': i + 1,
        'name': s,
        'supercategory': 'shape'
    } for i, s in enumerate(SHAPES)]
    images, annotations, refs, scenes = [], [], [], []
    summary_splits = {
        name: dict(images=0, refs=0, sentences=0)
        for name, _ in fractions
    }
    shared, num_rle = 0, 0
    for index in range(num_images):
        image_id = index + 1
        sample = generate_image(seed, index, image_size)
        scene, described = sample.scene, sample.expressions
        objs = scene.objects
        if (len({o.shape for o in objs}) < len(objs)
                or len({o.color for o in objs}) < len(objs)):
            shared += 1

        file_name = _FILE_NAME % image_id
        ok = cv2.imwrite(
            osp.join(out_dir, IMG_DIR, file_name), sample.image,
            [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if not ok:
            raise OSError(f'could not write {file_name} under {out_dir}')
        images.append({
            'id': image_id,
            'file_name': file_name,
            'height': image_size,
            'width': image_size
        })
        ann_ids = []
        for k, (obj, poly, mask) in enumerate(
                zip(objs, sample.polygons, sample.visible_masks)):
            ann_id = image_id * 10 + k  # <= 6 objects per image
            # Polygons for fully visible shapes, compressed RLE for occluded
            # ones, so loaders exercise both COCO mask paths.
            segmentation = _encode_rle(mask) if obj.occluded else [poly]
            num_rle += int(obj.occluded)
            if not np.array_equal(_decode(segmentation, image_size), mask):
                raise RuntimeError(
                    f'mask of annotation {ann_id} does not decode to its '
                    'visible pixels')
            rle = mask_utils.encode(np.asfortranarray(mask))
            annotations.append({
                'id': ann_id,
                'image_id': image_id,
                'category_id': SHAPES.index(obj.shape) + 1,
                'segmentation': segmentation,
                'area': int(obj.visible_area),
                'bbox': [float(v) for v in mask_utils.toBbox(rle)],
                'iscrowd': 0
            })
            ann_ids.append(ann_id)
        split = str(split_of[index])
        for j, (obj_index, sentences) in enumerate(described):
            ref_id = image_id * 10 + j
            sent_dicts = []
            for s, (text, program) in enumerate(sentences):
                # Generation-time guarantee: the sentence, parsed back from
                # its text, names exactly its object.
                if (parse_expression(text) != program
                        or not _is_unique(program, scene, obj_index)):
                    raise RuntimeError(
                        f'expression {text!r} does not single out its object')
                sent_dicts.append({
                    'tokens': text.split(),
                    'raw': text,
                    'sent': text,
                    'sent_id': ref_id * 10 + s
                })
            refs.append({
                'sent_ids': [d['sent_id'] for d in sent_dicts],
                'file_name': file_name,
                'ann_id': ann_ids[obj_index],
                'ref_id': ref_id,
                'image_id': image_id,
                'split': split,
                'sentences': sent_dicts,
                'category_id': SHAPES.index(objs[obj_index].shape) + 1
            })
            summary_splits[split]['refs'] += 1
            summary_splits[split]['sentences'] += len(sent_dicts)
        summary_splits[split]['images'] += 1
        scenes.append({
            'image_id': image_id,
            'split': split,
            'objects': [
                dict(asdict(o), ann_id=a) for o, a in zip(objs, ann_ids)
            ]
        })
        if progress is not None:
            progress(index + 1, num_images)

    instances = {
        'info': {
            'description': _DESCRIPTION,
            'seed': int(seed),
            'image_size': int(image_size)
        },
        'licenses': [],
        'images': images,
        'annotations': annotations,
        'categories': categories
    }
    _write_json(osp.join(out_dir, ANN_FILE), instances)
    _write_json(
        osp.join(out_dir, SCENES_FILE), {
            'description': _DESCRIPTION,
            'seed': int(seed),
            'image_size': int(image_size),
            'split_fractions': fractions,
            'images': scenes
        })
    with open(osp.join(out_dir, SPLIT_FILE), 'wb') as f:
        pickle.dump(refs, f, protocol=2)

    return {
        'out_dir': out_dir,
        'seed': int(seed),
        'image_size': int(image_size),
        'num_images': num_images,
        'num_annotations': len(annotations),
        'num_rle_annotations': num_rle,
        'num_refs': len(refs),
        'num_sentences': sum(len(r['sentences']) for r in refs),
        'shared_attribute_fraction': shared / num_images,
        'splits': summary_splits,
    }


def _write_json(path: str, obj: Any) -> None:
    text = json.dumps(obj, separators=(',', ':'))  # one write: much faster
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


# ---------------------------------------------------------------------------
# Reading back
# ---------------------------------------------------------------------------
def load_scenes(data_root: str) -> Dict[int, Tuple[Scene, List[int]]]:
    """Read the scene sidecar written by :func:`make_synthetic_refcoco`.

    Args:
        data_root: The dataset directory.

    Returns:
        ``{image_id: (scene, ann_ids)}`` where ``ann_ids[i]`` is the
        annotation id of ``scene.objects[i]``.
    """
    with open(osp.join(data_root, SCENES_FILE), encoding='utf-8') as f:
        meta = json.load(f)
    fields = SceneObject.__dataclass_fields__
    out = {}
    for item in meta['images']:
        objs = tuple(
            SceneObject(**{k: v for k, v in o.items() if k in fields})
            for o in item['objects'])
        out[item['image_id']] = (Scene(meta['image_size'], objs),
                                 [o['ann_id'] for o in item['objects']])
    return out


def compute_split_stats(data_root: str,
                        ann_file: str = ANN_FILE,
                        split_file: str = SPLIT_FILE) -> Dict[str, Dict[str,
                                                                     Any]]:
    """Simple per-split statistics of a RefCOCO-format dataset.

    Works on any RefCOCO-layout directory; expression kinds are only known
    for sentences in this generator's grammar (others count as ``'other'``).

    Args:
        data_root: Dataset directory.
        ann_file: COCO annotation file, relative to ``data_root``.
        split_file: Refs pickle, relative to ``data_root``.

    Returns:
        ``{split: {'images', 'refs', 'sentences', 'objects' (annotations in
        the split's images), 'rle_refs' (refs with an RLE mask),
        'refs_per_image', 'sentences_per_ref', 'mean_words',
        'mean_mask_fraction' (mask area / image area), 'kinds' ({kind: n})}}``.
    """
    with open(osp.join(data_root, ann_file), encoding='utf-8') as f:
        instances = json.load(f)
    with open(osp.join(data_root, split_file), 'rb') as f:
        refs = pickle.load(f)
    anns = {a['id']: a for a in instances['annotations']}
    image_sizes = {
        i['id']: i['height'] * i['width']
        for i in instances['images']
    }
    objects_per_image = collections.Counter(
        a['image_id'] for a in instances['annotations'])
    by_split: Dict[str, List[dict]] = collections.defaultdict(list)
    for ref in refs:
        by_split[ref['split']].append(ref)
    stats = {}
    for split, split_refs in by_split.items():
        image_ids = {r['image_id'] for r in split_refs}
        sentences = [s['raw'] for r in split_refs for s in r['sentences']]
        kinds: collections.Counter = collections.Counter()
        for text in sentences:
            try:
                kinds[expression_kind(parse_expression(text))] += 1
            except ValueError:
                kinds['other'] += 1
        fractions = [
            anns[r['ann_id']]['area'] / image_sizes[r['image_id']]
            for r in split_refs
        ]
        stats[split] = {
            'images': len(image_ids),
            'refs': len(split_refs),
            'sentences': len(sentences),
            'objects': sum(objects_per_image[i] for i in image_ids),
            'rle_refs': sum(
                isinstance(anns[r['ann_id']]['segmentation'], dict)
                for r in split_refs),
            'refs_per_image': len(split_refs) / len(image_ids),
            'sentences_per_ref': len(sentences) / len(split_refs),
            'mean_words': float(np.mean([len(s.split()) for s in sentences])),
            'mean_mask_fraction': float(np.mean(fractions)),
            'kinds': dict(sorted(kinds.items())),
        }
    return stats
