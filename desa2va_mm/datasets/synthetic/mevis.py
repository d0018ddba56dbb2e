"""A synthetic referring *video* dataset laid out exactly like MeViS.

Every video shows 3-5 flat-coloured shapes (drawn with the synthetic RefCOCO code) that
move over a mildly textured background: some move left / right / up / down for the whole
video, some move and then stop, some enter the frame from outside or leave it, some stay
still. Objects often share a colour and a shape, so many expressions only single out their
target by its *motion* ("the circle moving left", "the red square that stops"); a few are
static attribute expressions ("the large blue star") and some name several objects ("the
circles moving up": the mask is the union, like MeViS's multi-object expressions).

Written in the MeViS release layout (loads with :class:`~desa2va_mm.datasets.MeViSDataset`)::

    DIR/<split>/JPEGImages/<video>/<frame>.jpg
    DIR/<split>/meta_expressions.json   # {"videos": {video: {"frames", "expressions"}}}
    DIR/<split>/mask_dict.json          # {anno_id: [COCO RLE or null per frame]}
    DIR/synthetic_videos.json           # sidecar: objects, trajectories, expression programs

Deterministic per seed (each video depends only on ``(seed, index)``) and fast: a 20-video
set of 12 frames at 128 px takes well under a second per split.
"""
from __future__ import annotations

import math
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

# The drawing code is shared with the image generator on purpose: same shapes, colours,
# sizes, background and rasteriser, so a model trained on one recognises the other.
from .refcoco import (_CIRCUMRADIUS, _COLOR_JITTER, _NOISE_STD, COLORS, SHAPES, SIZES,
                      _background, _encode_rle, _shape_polygon, _visible_masks,
                      _write_json)
from .refcoco import VOCABULARY as _REFCOCO_VOCABULARY

__all__ = [
    'MOTIONS', 'DIRECTIONS', 'MEVIS_VOCABULARY', 'DEFAULT_VIDEO_SPLITS', 'SIDECAR_FILE',
    'VideoObject', 'SyntheticVideo', 'generate_video', 'resolve_video_expression',
    'render_video_expression', 'make_synthetic_mevis'
]

Program = Dict[str, Any]

#: Motion kinds of an object over the video.
MOTIONS: Tuple[str, ...] = ('static', 'moving', 'stops', 'enters', 'leaves')
#: Directions of motion (image y grows downwards: 'up' is -y).
DIRECTIONS: Dict[str, Tuple[int, int]] = {
    'left': (-1, 0), 'right': (1, 0), 'up': (0, -1), 'down': (0, 1)}
DEFAULT_VIDEO_SPLITS: Tuple[Tuple[str, float], ...] = (('train', 0.8), ('valid_u', 0.2))
SIDECAR_FILE = 'synthetic_videos.json'
_DESCRIPTION = 'desa2va synthetic MeViS'

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
_STREAM_SPLIT = 12

_PLURALS = {s: s + 'es' if s.endswith('x') else s + 's' for s in SHAPES + ('shape', )}
_MOTION_PHRASES = {
    'stops': 'that stops',
    'enters': 'that enters the frame',
    'leaves': 'that leaves the frame',
    'static': 'that does not move',
}
_PLURAL_MOTION_PHRASES = {
    'stops': 'that stop',
    'enters': 'that enter the frame',
    'leaves': 'that leave the frame',
    'static': 'that do not move',
}


def _build_vocabulary() -> Tuple[str, ...]:
    words = set(_REFCOCO_VOCABULARY) | set(DIRECTIONS) | {'moving'} | set(_PLURALS.values())
    for phrase in (*_MOTION_PHRASES.values(), *_PLURAL_MOTION_PHRASES.values()):
        words.update(phrase.split())
    return tuple(sorted(words))


#: Every word this generator or the RefCOCO one can write (a superset of the RefCOCO
#: vocabulary, for the tiny word tokenizer's ``'synthetic_mevis'`` list).
MEVIS_VOCABULARY: Tuple[str, ...] = _build_vocabulary()


class VideoObject(dict):
    """One shape of a video (a plain dict, JSON-able): ``shape``, ``color``, ``size``,
    ``radius``, ``angle``, ``motion`` (:data:`MOTIONS`), ``direction`` (None when static),
    ``centres`` ``[[cx, cy]] * T`` and ``stop_frame`` (first frame at rest, 'stops' only)."""


class SyntheticVideo(dict):
    """A rendered video: ``frames`` (T x (S, S, 3) uint8 BGR), ``objects``
    (:class:`VideoObject`), ``masks`` ((N, T, S, S) uint8 visible masks) and
    ``expressions`` (list of ``(text, program, object indices)``)."""


# ---------------------------------------------------------------------------
# Trajectories
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
        extent = radius * _CIRCUMRADIUS[shape] + 1.0
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


def _rasterize_clipped(polygon: List[float], size: int) -> np.ndarray:
    """Pixels of a polygon that may extend beyond the frame (scan-converted by OpenCV
    at 1/16 px precision; only the in-frame part is kept)."""
    mask = np.zeros((size, size), dtype=np.uint8)
    points = np.round(np.asarray(polygon, dtype=np.float64).reshape(-1, 2) * 16).astype(np.int32)
    cv2.fillPoly(mask, [points], 1, lineType=cv2.LINE_8, shift=4)
    return mask


def _render(rng: np.random.Generator, objects: List[VideoObject], size: int,
            num_frames: int) -> Tuple[List[np.ndarray], np.ndarray]:
    background = _background(rng, size)
    colours = [np.asarray(COLORS[o['color']], dtype=np.float32)
               + rng.integers(-_COLOR_JITTER, _COLOR_JITTER + 1, size=3) for o in objects]
    frames, masks = [], np.zeros((len(objects), num_frames, size, size), dtype=np.uint8)
    for t in range(num_frames):
        full = [
            _rasterize_clipped(
                _shape_polygon(o['shape'], o['centres'][t][0], o['centres'][t][1],
                               o['radius'], o['angle']), size) for o in objects
        ]
        image = background.copy()
        for mask, colour in zip(full, colours):
            image[mask.astype(bool)] = colour  # later objects on top: occlusion
        image += rng.normal(0.0, _NOISE_STD, size=image.shape).astype(np.float32)
        frames.append(np.ascontiguousarray(
            np.clip(np.rint(image), 0, 255).astype(np.uint8)[:, :, ::-1]))
        masks[:, t] = np.stack(_visible_masks(full))
    return frames, masks


# ---------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------
# A program: {'head': {'color'?, 'shape'?, 'size'?}, 'motion': M or None,
#             'direction': D or None, 'plural': bool}
# motion None = a static attribute expression; 'moving' needs a direction.
def render_video_expression(program: Program) -> str:
    """The sentence of a program, e.g. ``'the red circle moving left'``."""
    head = program['head']
    noun = head.get('shape', 'shape')
    if program.get('plural'):
        noun = _PLURALS[noun]
    words = ['the', head.get('size', ''), head.get('color', ''), noun]
    text = ' '.join(w for w in words if w)
    motion = program.get('motion')
    if motion == 'moving':
        return f"{text} moving {program['direction']}"
    if motion is not None:
        phrases = _PLURAL_MOTION_PHRASES if program.get('plural') else _MOTION_PHRASES
        return f'{text} {phrases[motion]}'
    return text


def _head_matches(head: Dict[str, str], obj: dict) -> bool:
    return all(obj[k] == v for k, v in head.items())


def resolve_video_expression(program: Program, objects: Sequence[dict],
                             lenient: bool = True) -> List[int]:
    """Indices of the objects a program names.

    ``'moving'`` + direction reads leniently by default: any object that moves in that
    direction at some point (moving, stopping, entering, leaving) matches, so an
    expression is only generated when no such distractor exists. ``lenient=False`` gives
    the generator's intended target (objects moving that way for the whole video).
    """
    out = []
    for i, obj in enumerate(objects):
        if not _head_matches(program['head'], obj):
            continue
        motion = program.get('motion')
        if motion is None:
            out.append(i)
        elif motion == 'moving':
            if obj['direction'] == program['direction'] and (
                    obj['motion'] != 'static' if lenient else obj['motion'] == 'moving'):
                out.append(i)
        elif obj['motion'] == motion:
            out.append(i)
    return out


def _heads(obj: dict) -> List[Dict[str, str]]:
    """Noun phrases naming an object, shortest first."""
    return [{}, {'shape': obj['shape']}, {'color': obj['color'], 'shape': obj['shape']},
            {'size': obj['size'], 'shape': obj['shape']},
            {'size': obj['size'], 'color': obj['color'], 'shape': obj['shape']}]


def _valid(program: Program, objects: Sequence[dict], target: List[int]) -> bool:
    return (resolve_video_expression(program, objects, lenient=True) == target
            == resolve_video_expression(program, objects, lenient=False))


def _candidate_programs(objects: Sequence[dict], rng: np.random.Generator
                        ) -> Dict[str, List[Tuple[Program, List[int]]]]:
    """Valid programs by family: 'motion', 'attribute', 'plural'.

    A motion expression's noun phrase is drawn among the valid ones whose attributes alone
    would be ambiguous ("the red circle moving left" when there are two red circles), so
    the motion is what singles the object out; attribute expressions use the shortest
    unambiguous noun phrase.
    """
    found: Dict[str, List[Tuple[Program, List[int]]]] = {
        'motion': [], 'attribute': [], 'plural': []}
    for i, obj in enumerate(objects):
        heads = _heads(obj)
        motion = [dict(head=h, motion=obj['motion'], plural=False,
                       direction=obj['direction'] if obj['motion'] == 'moving' else None)
                  for h in heads]
        motion = [p for p in motion if _valid(p, objects, [i])]
        needing = [p for p in motion
                   if resolve_video_expression(dict(p, motion=None), objects) != [i]]
        options = needing or motion
        if options:
            found['motion'].append((options[int(rng.integers(len(options)))], [i]))
        for head in heads[1:]:
            program = dict(head=head, motion=None, direction=None, plural=False)
            if _valid(program, objects, [i]):
                found['attribute'].append((program, [i]))
                break
    kinds = sorted({(o['motion'], o['direction'] if o['motion'] == 'moving' else None)
                    for o in objects}, key=str)
    for motion, direction in kinds:
        seen = set()
        for obj in objects:
            for head in _heads(obj)[:3]:
                key = tuple(sorted(head.items()))
                if key in seen:
                    continue
                seen.add(key)
                program = dict(head=head, motion=motion, direction=direction, plural=True)
                target = resolve_video_expression(program, objects, lenient=False)
                if len(target) >= 2 and _valid(program, objects, target):
                    found['plural'].append((program, target))
    return found


def _pick_expressions(rng: np.random.Generator, objects: Sequence[dict],
                      max_expressions: int) -> List[Tuple[str, Program, List[int]]]:
    found = _candidate_programs(objects, rng)
    chosen: List[Tuple[Program, List[int]]] = []
    # Motion first (the point of MeViS), then a plural and an attribute expression.
    for family, quota in (('motion', max_expressions - 2), ('plural', 1), ('attribute', 1)):
        options = found[family]
        order = rng.permutation(len(options))[:quota]
        chosen += [options[int(k)] for k in order]
    chosen = chosen[:max_expressions]
    return [(render_video_expression(p), p, t) for p, t in chosen]


def _needs_motion(program: Program, objects: Sequence[dict]) -> bool:
    """Whether the expression's noun phrase alone would name other objects too."""
    if program.get('motion') is None:
        return False
    return len(resolve_video_expression(dict(program, motion=None), objects)) > len(
        resolve_video_expression(program, objects))


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
        expressions = _pick_expressions(rng, objects, max_expressions)
        if not expressions:
            continue
        frames, masks = _render(rng, objects, image_size, num_frames)
        # Every named object must be visible somewhere (an entering object may be hidden
        # behind another one for the whole video in rare layouts).
        visible = masks.reshape(len(objects), -1).any(axis=1)
        if all(visible[i] for _, _, target in expressions for i in target):
            return SyntheticVideo(frames=frames, objects=objects, masks=masks,
                                  expressions=expressions)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------
def _split_of(num_videos: int, seed: int,
              fractions: Sequence[Tuple[str, float]]) -> List[str]:
    total = sum(f for _, f in fractions)
    raw = [f / total * num_videos for _, f in fractions]
    counts = [int(math.floor(r)) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])[:num_videos - sum(counts)]:
        counts[i] += 1
    for i in range(len(counts)):  # every split gets a video when there are enough
        if counts[i] == 0 and max(counts) > 1:
            counts[int(np.argmax(counts))] -= 1
            counts[i] = 1
    perm = np.random.default_rng([int(seed), _STREAM_SPLIT]).permutation(num_videos)
    split = [''] * num_videos
    start = 0
    for (name, _), count in zip(fractions, counts):
        for k in perm[start:start + count]:
            split[int(k)] = name
        start += count
    return split


def make_synthetic_mevis(out_dir: str, num_videos: int, num_frames: int = 12,
                         seed: int = 0, image_size: int = 128,
                         splits: Sequence[Tuple[str, float]] = DEFAULT_VIDEO_SPLITS,
                         jpeg_quality: int = 95,
                         progress: Optional[Callable[[int, int], None]] = None
                         ) -> Dict[str, Any]:
    """Write a synthetic MeViS-format dataset (layout in the module docstring).

    Same arguments give byte-identical files.

    Args:
        out_dir: Output directory (created if missing).
        num_videos: Videos in all splits together (> 0).
        num_frames: Frames per video (>= 2).
        seed: Dataset seed (>= 0).
        image_size: Side of the square frames (>= 64).
        splits: ``(name, fraction)`` pairs; each video goes to one split.
        jpeg_quality: JPEG quality of the frames.
        progress: Optional ``progress(done, total)`` callback per video.

    Returns:
        Summary: ``num_videos``, ``num_frames``, ``num_expressions``,
        ``num_multi_object`` (expressions naming >= 2 objects), ``motion_fraction``
        (expressions with a motion phrase), ``needs_motion_fraction`` (expressions whose
        noun phrase alone would be ambiguous), ``empty_frame_fraction`` (null RLEs among
        the objects' per-frame masks), ``motions`` (objects per motion kind) and
        ``splits`` ``{name: {'videos', 'expressions'}}``.
    """
    for name, value, low in (('num_videos', num_videos, 1), ('num_frames', num_frames, 2),
                             ('image_size', image_size, 64), ('seed', seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f'{name} must be an int >= {low}, got {value!r}')
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality must be in [1, 100], got {jpeg_quality}')
    splits = [(str(n), float(f)) for n, f in splits]
    if not splits or len({n for n, _ in splits}) != len(splits) or any(
            not n or not f > 0 for n, f in splits):
        raise ValueError(f'splits must be unique names with fractions > 0, got {splits}')
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise NotADirectoryError(f'out_dir {out_dir!r} exists and is not a directory')

    split_of = _split_of(int(num_videos), seed, splits)
    metas = {name: {} for name, _ in splits}
    mask_dicts: Dict[str, Dict[str, list]] = {name: {} for name, _ in splits}
    sidecar = []
    stats = dict(expressions=0, multi=0, motion=0, needs_motion=0, empty=0, object_frames=0)
    motions = {m: 0 for m in MOTIONS}
    per_split = {name: dict(videos=0, expressions=0) for name, _ in splits}
    frame_names = ['%05d' % t for t in range(num_frames)]
    anno_id = 0
    for index in range(int(num_videos)):
        video = generate_video(seed, index, num_frames, image_size)
        split = split_of[index]
        video_id = 'video_%05d' % index
        folder = osp.join(out_dir, split, 'JPEGImages', video_id)
        os.makedirs(folder, exist_ok=True)
        for name, frame in zip(frame_names, video['frames']):
            if not cv2.imwrite(osp.join(folder, name + '.jpg'), frame,
                               [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]):
                raise OSError(f'could not write frame {name} of {video_id} under {folder}')
        anno_ids = []
        for obj_masks in video['masks']:
            rles = [_encode_rle(m) if m.any() else None for m in obj_masks]
            mask_dicts[split][str(anno_id)] = rles
            stats['empty'] += sum(r is None for r in rles)
            stats['object_frames'] += len(rles)
            anno_ids.append(anno_id)
            anno_id += 1
        expressions = {}
        for k, (text, program, target) in enumerate(video['expressions']):
            expressions[str(k)] = {'exp': text, 'obj_id': list(target),
                                   'anno_id': [anno_ids[i] for i in target]}
            stats['multi'] += len(target) > 1
            stats['motion'] += program['motion'] is not None
            stats['needs_motion'] += _needs_motion(program, video['objects'])
        stats['expressions'] += len(expressions)
        for obj in video['objects']:
            motions[obj['motion']] += 1
        metas[split][video_id] = {'vid_id': index, 'frames': frame_names,
                                  'expressions': expressions}
        per_split[split]['videos'] += 1
        per_split[split]['expressions'] += len(expressions)
        sidecar.append({'video_id': video_id, 'split': split, 'anno_ids': anno_ids,
                        'objects': [dict(o) for o in video['objects']],
                        'programs': [p for _, p, _ in video['expressions']]})
        if progress is not None:
            progress(index + 1, int(num_videos))

    for name, _ in splits:
        os.makedirs(osp.join(out_dir, name), exist_ok=True)
        _write_json(osp.join(out_dir, name, 'mask_dict.json'), mask_dicts[name])
        # Written last: its presence marks a complete split.
        _write_json(osp.join(out_dir, name, 'meta_expressions.json'), {'videos': metas[name]})
    _write_json(osp.join(out_dir, SIDECAR_FILE), {
        'description': _DESCRIPTION, 'seed': int(seed), 'image_size': int(image_size),
        'num_frames': int(num_frames), 'num_videos': int(num_videos), 'splits': splits,
        'videos': sidecar})
    num_exp = max(stats['expressions'], 1)
    return {
        'out_dir': out_dir, 'seed': int(seed), 'num_videos': int(num_videos),
        'num_frames': int(num_frames), 'image_size': int(image_size),
        'num_expressions': stats['expressions'], 'num_multi_object': stats['multi'],
        'motion_fraction': stats['motion'] / num_exp,
        'needs_motion_fraction': stats['needs_motion'] / num_exp,
        'empty_frame_fraction': stats['empty'] / max(stats['object_frames'], 1),
        'motions': motions, 'splits': per_split,
    }
