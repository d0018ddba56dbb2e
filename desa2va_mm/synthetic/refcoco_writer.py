"""Write a synthetic referring-segmentation dataset laid out exactly like RefCOCO.

The files are written in the real RefCOCO layout so that mmdet 3.3's ``RefCocoDataset``
loads them unchanged::

    DIR/train2014/COCO_train2014_000000000001.jpg
    DIR/refcoco/instances.json        # COCO: images / annotations / categories
    DIR/refcoco/refs(unc).p           # pickled list of refs, split by image
    DIR/refcoco/synthetic_scenes.json # sidecar: object attributes for re-checking

Each sentence carries REFER's three forms: ``tokens`` (lower-case words), ``sent``
(``' '.join(tokens)``, what evaluation reads) and ``raw``, the annotator's text, here
capitalised with a final period (``"The red circle."``), so readers that pick the wrong
field see a different string.

The data is small, fast to make (no downloads) and fully deterministic per seed,
which makes it suitable for smoke-training tiny models and for tests.
"""
from __future__ import annotations

import math
import os
import os.path as osp
import pickle
from dataclasses import asdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .coco_io import decode_segmentation, encode_rle, write_json
from .expressions import is_unambiguous, parse_expression
from .images import generate_image
from .vocabulary import SHAPES

__all__ = [
    'DEFAULT_SPLIT_FRACTIONS', 'IMG_DIR', 'ANN_FILE', 'SPLIT_FILE', 'SCENES_FILE',
    'make_synthetic_refcoco', 'raw_sentence'
]

DEFAULT_SPLIT_FRACTIONS: Tuple[Tuple[str, float], ...] = (
    ('train', 0.8), ('val', 0.1), ('testA', 0.05), ('testB', 0.05))

IMG_DIR = 'train2014'
ANN_FILE = 'refcoco/instances.json'
SPLIT_FILE = 'refcoco/refs(unc).p'
SCENES_FILE = 'refcoco/synthetic_scenes.json'
_FILE_NAME = 'COCO_train2014_%012d.jpg'
_DESCRIPTION = 'desa2va synthetic RefCOCO'

_STREAM_SPLIT = 2


def raw_sentence(sent: str) -> str:
    """REFER's ``raw`` form of a generated sentence: first letter capitalised and a final
    period (``"the red circle" -> "The red circle."``). ``raw.lower()`` without its final
    period is ``sent`` again, and the tiny word tokenizer splits the period off as a
    token it knows, so training text and vocabulary are unchanged."""
    return sent[:1].upper() + sent[1:] + '.'


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


def make_synthetic_refcoco(
    out_dir: str,
    num_images: int,
    seed: int,
    image_size: int = 128,
    split_fractions: Sequence[Tuple[str, float]] = DEFAULT_SPLIT_FRACTIONS,
    jpeg_quality: int = 95,
    progress: Optional[Callable[[int, int], None]] = None,
    keep_sentence: Optional[Callable[[str, str], bool]] = None,
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
        keep_sentence: Optional ``keep_sentence(split, sent) -> bool``: sentences it
            refuses are not written, and a ref left without sentences is dropped (the
            held-out split of :mod:`~desa2va_mm.synthetic.heldout` uses it). Images and
            annotations are written either way.

    Returns:
        Summary: ``num_images``, ``num_annotations``, ``num_refs``,
        ``num_sentences``, ``num_rle_annotations``,
        ``shared_attribute_fraction`` (images with two objects sharing a
        colour or shape), ``num_dropped_sentences`` (refused by ``keep_sentence``) and
        ``splits``: ``{name: {'images', 'refs', 'sentences'}}``.

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
    shared, num_rle, num_dropped = 0, 0, 0
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
            segmentation = encode_rle(mask) if obj.occluded else [poly]
            num_rle += int(obj.occluded)
            if not np.array_equal(decode_segmentation(segmentation, image_size), mask):
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
                if keep_sentence is not None and not keep_sentence(split, text):
                    num_dropped += 1
                    continue
                # Generation-time guarantee: the sentence, parsed back from
                # its text, names exactly its object.
                if (parse_expression(text) != program
                        or not is_unambiguous(program, scene, obj_index)):
                    raise RuntimeError(
                        f'expression {text!r} does not single out its object')
                sent_dicts.append({
                    'tokens': text.split(),
                    'raw': raw_sentence(text),
                    'sent': text,
                    'sent_id': ref_id * 10 + s
                })
            if not sent_dicts:
                continue
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
    write_json(osp.join(out_dir, ANN_FILE), instances)
    write_json(
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
        'num_dropped_sentences': num_dropped,
        'splits': summary_splits,
    }
