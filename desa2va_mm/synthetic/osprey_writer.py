"""Write synthetic region-prompt (visual prompt) sets in Osprey-724K's layout.

Each picture of the synthetic RefCOCO generator (:func:`generate_image`, same seed, same
pictures) gets 1-3 of its objects as regions (their visible masks, COCO RLE), and
questions about them in the files Sa2VA trains on::

    DIR/images/osprey_000001.jpg
    DIR/Osprey-724K/osprey_conversation.json        "What is <region2>?" -> "a red square"
    DIR/Osprey-724K/osprey_short_form.json          "What colour is <region1>?" -> "red"
    DIR/Osprey-724K/osprey_detail_description.json  one description per region:
                                                    "a small red square"
    DIR/Osprey-724K/osprey_segment_like.json        "Please segment the object like
                                                    <region1>." -> "Sure, [SEG]." with the
                                                    target mask: every object of the
                                                    region's colour and shape
    DIR/Osprey-724K/osprey_conversation_val.json    held-out pictures, one "What is
                                                    <regionK>?" each (the learning figure)

The first four load with ``OspreyDataset`` / ``OspreyShortDescriptionDataset`` /
``OspreyDescriptionDataset`` (docs/visual_prompts.md); the segment-like file uses the
``targets`` extension of the layout (one segmentation per ``[SEG]``). Words outside the
tiny tokenizer's RefCOCO vocabulary are listed in :data:`OSPREY_WORDS`.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, List

import cv2
import numpy as np

from .coco_io import encode_rle, write_json
from .images import generate_image

__all__ = ['OSPREY_IMG_DIR', 'OSPREY_FILES', 'OSPREY_VAL_FILE', 'OSPREY_WORDS',
           'region_answer', 'make_synthetic_osprey']

OSPREY_IMG_DIR = 'images'
#: Training files by kind.
OSPREY_FILES = dict(conversation='Osprey-724K/osprey_conversation.json',
                    short_form='Osprey-724K/osprey_short_form.json',
                    description='Osprey-724K/osprey_detail_description.json',
                    segment_like='Osprey-724K/osprey_segment_like.json')
OSPREY_VAL_FILE = 'Osprey-724K/osprey_conversation_val.json'
#: Words the region prompts and questions add to the tiny vocabulary (the region list
#: line "There are 3 part regions in the picture: region1 ...", the short-answer
#: instruction, the questions).
OSPREY_WORDS = ('part', 'regions', 'picture', 'like', 'colour', 'answer', 'question',
                'using', 'single', 'word', 'or', 'phrase', '1', '2', '3', '4', '5', '6',
                'region1', 'region2', 'region3', 'region4', 'region5', 'region6')
_MAX_REGIONS = 3
_STREAM_OSPREY = 8


def region_answer(obj) -> str:
    """What a region is, as the conversation answers it: ``'a red square'``."""
    return f'a {obj.color} {obj.shape}'


def _record(file_name: str, size: int, rles: List[dict]) -> dict:
    return dict(file_name=file_name, height=size, width=size,
                annotation=[dict(segmentation=r, area=0, bbox=[0, 0, 0, 0]) for r in rles])


def _ask(question: str, answer: str) -> List[dict]:
    return [dict(value=question, **{'from': 'human'}), dict(value=answer, **{'from': 'gpt'})]


def make_synthetic_osprey(out_dir: str, num_images: int = 400, seed: int = 0,
                          image_size: int = 128, val_fraction: float = 0.2) -> Dict[str, int]:
    """Write the sets; returns record counts per file kind (``'val'`` included).

    Args:
        out_dir: Output root (created).
        num_images: Pictures in all (>= 2).
        seed: Seed of the pictures (as the synthetic RefCOCO's) and of the regions.
        image_size: Side of the square images.
        val_fraction: Share of the pictures held out for ``osprey_conversation_val.json``.
    """
    if num_images < 2:
        raise ValueError(f'num_images must be >= 2 (a train and a val picture), got '
                         f'{num_images}')
    if not 0 < val_fraction < 1:
        raise ValueError(f'val_fraction must be in (0, 1), got {val_fraction}')
    os.makedirs(osp.join(out_dir, OSPREY_IMG_DIR), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'Osprey-724K'), exist_ok=True)
    num_val = min(num_images - 1, max(1, int(round(num_images * val_fraction))))
    rng = np.random.default_rng([int(seed), _STREAM_OSPREY])
    files: Dict[str, list] = {kind: [] for kind in OSPREY_FILES}
    val = []
    for i in range(num_images):
        sample = generate_image(seed, i, image_size)
        objects = sample.scene.objects
        file_name = f'osprey_{i + 1:06d}.jpg'
        cv2.imwrite(osp.join(out_dir, OSPREY_IMG_DIR, file_name), sample.image)
        num = int(rng.integers(1, min(_MAX_REGIONS, len(objects)) + 1))
        chosen = rng.choice(len(objects), size=num, replace=False).tolist()
        rles = [encode_rle(sample.visible_masks[j]) for j in chosen]
        if i >= num_images - num_val:
            k = int(rng.integers(num))
            record = _record(file_name, image_size, rles)
            record['conversations'] = _ask(f'What is <region{k + 1}>?',
                                           region_answer(objects[chosen[k]]))
            val.append(record)
            continue
        order = rng.permutation(num).tolist()
        conversation = _record(file_name, image_size, rles)
        conversation['conversations'] = [
            m for k in order for m in _ask(f'What is <region{k + 1}>?',
                                           region_answer(objects[chosen[k]]))]
        files['conversation'].append(conversation)
        short = _record(file_name, image_size, rles)
        short['conversations'] = [
            m for k in order for m in _ask(f'What colour is <region{k + 1}>?',
                                           objects[chosen[k]].color)]
        files['short_form'].append(short)
        description = _record(file_name, image_size, rles)
        description['description'] = [
            f'a {objects[j].size} {objects[j].color} {objects[j].shape}' for j in chosen]
        files['description'].append(description)
        # Segment like region k: every object of its colour and shape (itself included).
        k = int(rng.integers(num))
        ref = objects[chosen[k]]
        alike = [j for j, o in enumerate(objects)
                 if o.color == ref.color and o.shape == ref.shape]
        target = np.any(sample.visible_masks[alike] > 0, axis=0).astype(np.uint8)
        segment = _record(file_name, image_size, rles)
        segment['conversations'] = _ask(f'Please segment the object like <region{k + 1}>.',
                                        'Sure, [SEG].')
        segment['targets'] = [dict(segmentation=encode_rle(target),
                                   expression=f'the {ref.color} {ref.shape}')]
        files['segment_like'].append(segment)
    for kind, records in files.items():
        write_json(osp.join(out_dir, OSPREY_FILES[kind]), records)
    write_json(osp.join(out_dir, OSPREY_VAL_FILE), val)
    counts = {kind: len(records) for kind, records in files.items()}
    counts['val'] = len(val)
    return counts
