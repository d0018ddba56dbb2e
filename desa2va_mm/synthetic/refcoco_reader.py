"""Read a synthetic RefCOCO set back: scene sidecar and per-split statistics."""
from __future__ import annotations

import collections
import json
import os.path as osp
import pickle
from typing import Any, Dict, List, Tuple

import numpy as np

from .expressions import expression_kind, parse_expression
from .refcoco_writer import ANN_FILE, SCENES_FILE, SPLIT_FILE
from .scenes import Scene, SceneObject

__all__ = ['load_scenes', 'compute_split_stats']


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
                        split_file: str = SPLIT_FILE) -> Dict[str, Dict[str, Any]]:
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
        # REFER's tokenised form (what evaluation reads); 'raw' adds case and punctuation.
        sentences = [s['sent'] if 'sent' in s else s['raw'].lower()
                     for r in split_refs for s in r['sentences']]
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
