"""Write a synthetic referring *video* dataset laid out exactly like MeViS.

Objects often share a colour and a shape, so many expressions only single out their
target by its *motion* ("the circle moving left", "the red square that stops"); a few are
static attribute expressions ("the large blue star") and some name several objects ("the
circles moving up": the mask is the union, like MeViS's multi-object expressions).

Written in the MeViS release layout (loads with ``desa2va_mm.datasets.MeViSDataset``)::

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

from .coco_io import encode_rle, write_json
from .motion_pairs import generate_motion_pair_video
from .video_expressions import needs_motion
from .videos import generate_video
from .vocabulary import MOTIONS

__all__ = ['DEFAULT_VIDEO_SPLITS', 'SIDECAR_FILE', 'VIDEO_LAYOUTS', 'make_synthetic_mevis']

#: Video generators by layout name: ``default`` (3-5 objects, every motion kind, mixed
#: expressions) and ``motion_pairs`` (:mod:`~desa2va_mm.synthetic.motion_pairs`: twins
#: told apart by motion only, one object described by appearance and by motion).
VIDEO_LAYOUTS = {
    'default': lambda seed, index, frames, size: generate_video(seed, index, frames, size),
    'motion_pairs': generate_motion_pair_video,
}

DEFAULT_VIDEO_SPLITS: Tuple[Tuple[str, float], ...] = (('train', 0.8), ('valid_u', 0.2))
SIDECAR_FILE = 'synthetic_videos.json'
_DESCRIPTION = 'desa2va synthetic MeViS'

_STREAM_SPLIT = 12


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
                         progress: Optional[Callable[[int, int], None]] = None,
                         layout: str = 'default') -> Dict[str, Any]:
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
        layout: A key of :data:`VIDEO_LAYOUTS`: which scenes and expressions.

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
    if layout not in VIDEO_LAYOUTS:
        raise ValueError(f'layout must be one of {sorted(VIDEO_LAYOUTS)}, got {layout!r}')

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
        video = VIDEO_LAYOUTS[layout](seed, index, num_frames, image_size)
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
            rles = [encode_rle(m) if m.any() else None for m in obj_masks]
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
            stats['needs_motion'] += needs_motion(program, video['objects'])
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
        write_json(osp.join(out_dir, name, 'mask_dict.json'), mask_dicts[name])
        # Written last: its presence marks a complete split.
        write_json(osp.join(out_dir, name, 'meta_expressions.json'), {'videos': metas[name]})
    write_json(osp.join(out_dir, SIDECAR_FILE), {
        'description': _DESCRIPTION, 'seed': int(seed), 'image_size': int(image_size),
        'num_frames': int(num_frames), 'num_videos': int(num_videos), 'splits': splits,
        'layout': layout, 'videos': sidecar})
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
