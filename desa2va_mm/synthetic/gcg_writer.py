"""Write a synthetic grounded-caption (GCG) dataset in GLaMM's GranD-f layout.

Each image of the synthetic RefCOCO generator (:func:`generate_image`, same seed, same
pictures) gets a caption naming 2-3 of its objects from left to right, every object phrase
grounded to that object's visible mask::

    "the red circle is left of the small blue square and the green star ."

Files (the layout :class:`GranDfGCGDataset` and :class:`GranDfGCGEvalDataset` read)::

    DIR/images/gcg_000001.jpg
    DIR/annotations/GranDf_HA_GCG_train.json          # training images
    DIR/annotations/gcg_val_test/val_gcg_coco_caption_gt.json
    DIR/annotations/gcg_val_test/val_gcg_coco_mask_gt.json

A phrase names its object alone in the scene (:func:`unique_phrases`); pictures with
fewer than two such objects are skipped. Every word is in the tiny tokenizer's
vocabulary (:data:`REFCOCO_VOCABULARY` plus ``is``, ``and``, ``of``).
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .coco_io import encode_rle, write_json
from .images import generate_image

__all__ = ['GCG_TRAIN_FILE', 'GCG_VAL_CAPTION_FILE', 'GCG_VAL_MASK_FILE', 'GCG_IMG_DIR',
           'gcg_caption', 'unique_phrases', 'make_synthetic_gcg']

GCG_IMG_DIR = 'images'
GCG_TRAIN_FILE = 'annotations/GranDf_HA_GCG_train.json'
GCG_VAL_CAPTION_FILE = 'annotations/gcg_val_test/val_gcg_coco_caption_gt.json'
GCG_VAL_MASK_FILE = 'annotations/gcg_val_test/val_gcg_coco_mask_gt.json'
_STREAM_GCG = 7


def gcg_caption(phrases: List[str]) -> Tuple[str, List[Tuple[int, int]]]:
    """Join 2-3 phrases, left to right, into a caption; returns it and each phrase's span.

    ``["the red circle", "the star"]`` -> ``"the red circle is left of the star ."``;
    a third phrase follows ``" and "``.
    """
    if not 2 <= len(phrases) <= 3:
        raise ValueError(f'gcg_caption takes 2 or 3 phrases, got {len(phrases)}')
    caption, spans = '', []
    for k, phrase in enumerate(phrases):
        if k == 1:
            caption += ' is left of '
        elif k == 2:
            caption += ' and '
        spans.append((len(caption), len(caption) + len(phrase)))
        caption += phrase
    return caption + ' .', spans


def unique_phrases(objects) -> Dict[int, str]:
    """Object index -> the shortest of ``"the <colour> <shape>"`` and ``"the <size> <colour>
    <shape>"`` that no other object of the scene also fits (objects with neither are left
    out, so every phrase names one object)."""
    out = {}
    for i, o in enumerate(objects):
        for attrs in (('color', 'shape'), ('size', 'color', 'shape')):
            key = tuple(getattr(o, a) for a in attrs)
            if sum(tuple(getattr(p, a) for a in attrs) == key for p in objects) == 1:
                out[i] = 'the ' + ' '.join(key)
                break
    return out


def make_synthetic_gcg(out_dir: str, num_images: int = 40, seed: int = 0,
                       image_size: int = 128, val_fraction: float = 0.25) -> Dict[str, int]:
    """Write the dataset; returns ``{'train': n, 'val': m}`` image counts.

    Args:
        out_dir: Output root (created).
        num_images: Images in all (>= 2).
        seed: Seed of the pictures (as the synthetic RefCOCO's) and of the captions.
        image_size: Side of the square images.
        val_fraction: Share of the images in the val split (at least one image each).
    """
    if num_images < 2:
        raise ValueError(f'num_images must be >= 2 (a train and a val image), got {num_images}')
    if not 0 < val_fraction < 1:
        raise ValueError(f'val_fraction must be in (0, 1), got {val_fraction}')
    os.makedirs(osp.join(out_dir, GCG_IMG_DIR), exist_ok=True)
    os.makedirs(osp.dirname(osp.join(out_dir, GCG_VAL_MASK_FILE)), exist_ok=True)
    num_val = min(num_images - 1, max(1, int(round(num_images * val_fraction))))
    rng = np.random.default_rng([int(seed), _STREAM_GCG])
    train, val_images, val_captions, val_masks = [], [], [], []
    picture = -1
    for i in range(num_images):
        while True:  # the next picture with two objects a phrase can name alone
            picture += 1
            sample = generate_image(seed, picture, image_size)
            nameable = unique_phrases(sample.scene.objects)
            if len(nameable) >= 2:
                break
        file_name = f'gcg_{i + 1:06d}.jpg'
        cv2.imwrite(osp.join(out_dir, GCG_IMG_DIR, file_name), sample.image)
        num = min(len(nameable), int(rng.integers(2, 4)))
        chosen = sorted(rng.choice(sorted(nameable), size=num, replace=False).tolist(),
                        key=lambda j: sample.scene.objects[j].cx)
        phrases = [nameable[j] for j in chosen]
        caption, spans = gcg_caption(phrases)
        rles = [encode_rle(sample.visible_masks[j]) for j in chosen]
        image_id = file_name[:-4]
        if i < num_images - num_val:
            train.append(dict(
                file_name=file_name, height=image_size, width=image_size, image_id=image_id,
                caption=caption,
                groundings={p: dict(token_positives=list(s), rle_masks=[r])
                            for p, s, r in zip(phrases, spans, rles)}))
        else:
            val_images.append(dict(id=image_id, file_name=file_name, height=image_size,
                                   width=image_size))
            val_captions.append(dict(id=len(val_captions) + 1, image_id=image_id,
                                     caption=caption, labels=phrases))
            for r in rles:
                val_masks.append(dict(id=len(val_masks) + 1, image_id=image_id, category_id=1,
                                      segmentation=r, iscrowd=0))
    write_json(osp.join(out_dir, GCG_TRAIN_FILE), train)
    write_json(osp.join(out_dir, GCG_VAL_CAPTION_FILE),
               dict(images=val_images, annotations=val_captions))
    write_json(osp.join(out_dir, GCG_VAL_MASK_FILE),
               dict(images=val_images, annotations=val_masks,
                    categories=[dict(id=1, name='object')]))
    return dict(train=len(train), val=len(val_images))
