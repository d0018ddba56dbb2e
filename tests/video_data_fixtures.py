"""Tiny referring-video datasets written in each real release format (for the tests).

Every video is H x W = 24 x 32 with T frames; object ``k`` of a video is a rectangle whose
position depends on the frame, so each (object, frame) mask is known exactly
(:func:`object_mask`). Object 1 of ``vid_a`` is out of view on frames 1 and 2 (``null`` RLEs
/ no pixels in the PNG).
"""
import json
import os
import os.path as osp

import cv2
import numpy as np

from desa2va_mm.structures import encode_mask

H, W = 24, 32
VIDEOS = {'vid_a': 4, 'vid_b': 3}  # video -> number of frames
HIDDEN = {('vid_a', 1): (1, 2)}  # (video, object) -> frames where it is out of view


def object_mask(video: str, obj: int, frame: int) -> np.ndarray:
    """Ground truth of object ``obj`` (0 or 1) on a frame: (H, W) uint8."""
    mask = np.zeros((H, W), np.uint8)
    if frame in HIDDEN.get((video, obj), ()):
        return mask
    if obj == 0:
        mask[2:10, 2 + 2 * frame:12 + 2 * frame] = 1
    else:
        mask[12:22, 20 - frame:30 - frame] = 1
    return mask


def frame_image(video: str, frame: int) -> np.ndarray:
    """A BGR frame where the objects are drawn (so frames differ per video and time)."""
    image = np.full((H, W, 3), 90 + 10 * frame, np.uint8)
    image[object_mask(video, 0, frame).astype(bool)] = (40, 40, 220)
    image[object_mask(video, 1, frame).astype(bool)] = (220, 60, 40)
    return image


def frame_names(video: str):
    return ['%05d' % (5 * t) for t in range(VIDEOS[video])]  # YouTube-VOS style: every 5th


def _rle(mask: np.ndarray):
    return encode_mask(mask) if mask.any() else None


def _write_frames(image_root: str) -> None:
    for video, count in VIDEOS.items():
        os.makedirs(osp.join(image_root, video), exist_ok=True)
        for t, name in enumerate(frame_names(video)):
            cv2.imwrite(osp.join(image_root, video, name + '.jpg'), frame_image(video, t),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])


def _dump(path: str, obj) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f)


def mevis_expressions() -> dict:
    """``{video: {exp_id: (text, [object indices])}}`` of the RLE-format fixtures."""
    return {
        'vid_a': {'0': ('the box moving right', [0]), '1': ('the box going left', [1]),
                  '2': ('both boxes', [0, 1])},
        'vid_b': {'0': ('the top box', [0]), '1': ('the bottom box', [1])},
    }


def write_mevis(root: str, with_masks: bool = True, with_type_id: bool = False,
                foreground: bool = False, meta_name: str = 'meta_expressions.json') -> dict:
    """MeViS / ReVOS layout: JPEGImages/, meta_expressions.json, mask_dict.json.

    anno_id of object k of the i-th video = 10 * i + k (strings in mask_dict.json).
    Returns the expression table (:func:`mevis_expressions`).
    """
    _write_frames(osp.join(root, 'JPEGImages'))
    exps = mevis_expressions()
    videos, mask_dict, fg = {}, {}, {}
    for i, (video, count) in enumerate(VIDEOS.items()):
        entries = {}
        for exp_id, (text, objs) in exps[video].items():
            entry = {'exp': text, 'obj_id': objs, 'anno_id': [10 * i + k for k in objs]}
            if with_type_id:
                entry['type_id'] = int(exp_id) % 2
            entries[exp_id] = entry
        videos[video] = {'frames': frame_names(video), 'expressions': entries}
        for k in (0, 1):
            mask_dict[str(10 * i + k)] = [_rle(object_mask(video, k, t)) for t in range(count)]
        fg[video] = {'masks_rle': [_rle(object_mask(video, 0, t) | object_mask(video, 1, t))
                                   for t in range(count)]}
    _dump(osp.join(root, meta_name), {'videos': videos})
    if with_masks:
        _dump(osp.join(root, 'mask_dict.json'), mask_dict)
    if foreground:
        _dump(osp.join(root, 'mask_dict_foreground.json'), fg)
    return exps


def _palette_png(path: str, index: np.ndarray) -> None:
    from PIL import Image
    os.makedirs(osp.dirname(path), exist_ok=True)
    image = Image.fromarray(index, mode='P')
    palette = [0, 0, 0, 236, 95, 103, 249, 145, 87, 250, 200, 99] + [0] * (256 * 3 - 12)
    image.putpalette(palette)
    image.save(path)


def write_ytvos(root: str, split: str = 'train', with_annotations: bool = True) -> dict:
    """Ref-YouTube-VOS layout: meta_expressions/<split>/meta_expressions.json,
    <split>/JPEGImages, <split>/Annotations (palette PNG: object k has index k + 1).

    Returns ``{video: {exp_id: (text, [object indices])}}``.
    """
    _write_frames(osp.join(root, split, 'JPEGImages'))
    exps = {'vid_a': {'0': ('a box moving right', [0]), '1': ('a box going left', [1])},
            'vid_b': {'0': ('the upper box', [0]), '1': ('the lower box', [1]),
                      '2': ('the upper box again', [0])}}
    videos = {}
    for video, count in VIDEOS.items():
        entries = {}
        for exp_id, (text, objs) in exps[video].items():
            entries[exp_id] = {'exp': text}
            if with_annotations:
                entries[exp_id]['obj_id'] = str(objs[0] + 1)
        # Listed out of order on purpose: the loader sorts frame names.
        videos[video] = {'frames': frame_names(video)[::-1], 'expressions': entries}
        if with_annotations:
            for t, name in enumerate(frame_names(video)):
                index = object_mask(video, 0, t) * 1 + object_mask(video, 1, t) * 2
                _palette_png(osp.join(root, split, 'Annotations', video, name + '.png'),
                             index.astype(np.uint8))
    _dump(osp.join(root, 'meta_expressions', split, 'meta_expressions.json'),
          {'videos': videos})
    return exps


def union_masks(video: str, objs, frames) -> np.ndarray:
    """(T, H, W) union of the listed objects' masks on the listed frames."""
    return np.stack([np.max([object_mask(video, k, t) for k in objs], axis=0)
                     for t in frames])
