"""Base class of the referring video datasets: one data item per video.

The MeViS / ReVOS family of releases stores a video benchmark in two JSON files::

    meta_expressions.json  {"videos": {VIDEO: {"frames": [NAME, ...],
                                               "expressions": {EXP_ID: {"exp": TEXT,
                                                                        "anno_id": [A, ...],
                                                                        "obj_id": [O, ...]}}}}}
    mask_dict.json         {A: [RLE or null, ...]}   # one entry per frame of the video

An expression's mask on a frame is the union of its ``anno_id`` masks there; ``null`` is an
empty frame. Frames are ``<frames folder>/<VIDEO>/<NAME>.jpg``. This class reads that layout;
subclasses adapt it (ReVOS's ``type_id``, Ref-YouTube-VOS's palette PNGs).
"""
from __future__ import annotations

import json
import os.path as osp
from typing import Any, List, Optional

from mmengine.dataset import BaseDataset

from desa2va_mm.registry import DATASETS
from .video_io import read_image_size


def load_json(path: str, what: str, owner: str) -> Any:
    """Load a JSON file, naming it (and what it is for) in any error."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{owner}: {what} {path} does not exist; see '
                                'docs/dataset_prepare_video.md')
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except ValueError as e:
        raise ValueError(f'{owner}: {what} {path} is not valid JSON ({e})') from e


def _exp_sort_key(exp_id: str):
    # MeViS / Ref-YouTube-VOS expression ids are decimal strings: "10" after "9".
    return (0, int(exp_id), '') if str(exp_id).isdigit() else (1, 0, str(exp_id))


@DATASETS.register_module()
class VideoReferringDataset(BaseDataset):
    """Referring video segmentation in the MeViS layout (``meta_expressions.json`` +
    ``mask_dict.json``), one data item per video.

    Data item (see ``docs/dataset_prepare_video.md``)::

        dict(video_id=str, frame_paths=[str] (temporal order), frame_names=[str],
             height=int, width=int,
             expressions=[dict(exp_id=str, expression=str, type_id=int or None,
                               mask_source=dict(anno_ids=[str]) or None)],
             mask_rles={anno_id: [RLE dict or None] * T} or None)

    Which expressions and frames become a sample is decided per load by the pipeline
    (:class:`SampleVideoExpressions`, :class:`SampleVideoFrames`); masks are decoded only
    for the sampled frames (:class:`LoadVideoAnnotations`).

    Args:
        ann_file: ``meta_expressions.json``, relative to ``data_root``.
        mask_file: ``mask_dict.json`` relative to ``data_root``, or None for splits scored
            online (no ground truth: MeViS ``valid``).
        data_prefix: ``dict(img_path=...)``: the folder holding ``<video>/<frame>.jpg``.
        frame_ext: File ending of the frames.
        require_masks: Raise if an expression has no mask (default: when ``mask_file``
            is set).
        **kwargs: ``BaseDataset`` arguments (``data_root``, ``pipeline``, ``test_mode``,
            ``indices``, ``serialize_data`` ...).
    """

    METAINFO = dict(dataset_type='referring_video')

    def __init__(self,
                 ann_file: str = 'meta_expressions.json',
                 mask_file: Optional[str] = 'mask_dict.json',
                 data_prefix: Optional[dict] = None,
                 frame_ext: str = '.jpg',
                 require_masks: Optional[bool] = None,
                 **kwargs) -> None:
        self.mask_file = mask_file
        self.frame_ext = frame_ext
        self.require_masks = require_masks
        if data_prefix is None:
            data_prefix = dict(img_path='JPEGImages/')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    # ------------------------------------------------------------------ loading
    @property
    def _owner(self) -> str:
        return type(self).__name__

    def _resolve(self, path: Optional[str]) -> Optional[str]:
        if path is None or osp.isabs(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

    def load_data_list(self) -> List[dict]:
        meta = load_json(self.ann_file, 'expression file', self._owner)
        videos = meta.get('videos') if isinstance(meta, dict) else None
        if not isinstance(videos, dict):
            raise ValueError(f'{self._owner}: expression file {self.ann_file} has no "videos" '
                             'mapping at the top level')
        mask_dict = self._load_mask_dict()
        data_list = []
        for video_id, video in videos.items():
            data_list.append(self.parse_video(str(video_id), video, mask_dict))
        if not data_list:
            raise ValueError(f'{self._owner}: no video in {self.ann_file}')
        return data_list

    def _load_mask_dict(self) -> Optional[dict]:
        path = self._resolve(self.mask_file)
        if path is None:
            return None
        masks = load_json(path, 'mask file', self._owner)
        if not isinstance(masks, dict):
            raise ValueError(f'{self._owner}: mask file {path} must map anno_id -> list of '
                             'per-frame RLEs')
        return masks

    def _field(self, mapping: dict, key: str, where: str, types) -> Any:
        if not isinstance(mapping, dict) or key not in mapping:
            raise ValueError(f'{self._owner}: {where} in {self.ann_file} has no "{key}" field')
        value = mapping[key]
        if not isinstance(value, types):
            raise ValueError(f'{self._owner}: {where} in {self.ann_file}: "{key}" must be '
                             f'{getattr(types, "__name__", types)}, got '
                             f'{type(value).__name__}')
        return value

    def video_frames(self, video_id: str, video: dict) -> List[str]:
        """Frame names of a video in temporal order (as listed: the masks index them)."""
        frames = self._field(video, 'frames', f'video {video_id!r}', list)
        if not frames:
            raise ValueError(f'{self._owner}: video {video_id!r} in {self.ann_file} has zero '
                             'frames')
        return [str(f) for f in frames]

    def parse_video(self, video_id: str, video: dict, mask_dict: Optional[dict]) -> dict:
        """Turn one ``videos`` entry into a data item."""
        frames = self.video_frames(video_id, video)
        raw_exps = self._field(video, 'expressions', f'video {video_id!r}', dict)
        if not raw_exps:
            raise ValueError(f'{self._owner}: video {video_id!r} in {self.ann_file} has no '
                             'expression')
        expressions = [
            self.parse_expression(video_id, str(exp_id), raw_exps[exp_id], mask_dict)
            for exp_id in sorted(raw_exps, key=_exp_sort_key)
        ]
        frame_root = osp.join(self.data_prefix.get('img_path', ''), video_id)
        item = dict(
            video_id=video_id,
            frame_paths=[osp.join(frame_root, f + self.frame_ext) for f in frames],
            frame_names=frames,
            expressions=expressions)
        item.update(self.video_annotations(video_id, video, frames, expressions, mask_dict))
        item['height'], item['width'] = self.video_size(item)
        return item

    def parse_expression(self, video_id: str, exp_id: str, exp: dict,
                         mask_dict: Optional[dict]) -> dict:
        """One expression: text, optional ``type_id`` and where its masks are."""
        where = f'video {video_id!r}, expression {exp_id!r}'
        text = self._field(exp, 'exp', where, str)
        text = ' '.join(text.split())
        if not text:
            raise ValueError(f'{self._owner}: {where} in {self.ann_file} has an empty "exp"')
        require = (mask_dict is not None) if self.require_masks is None else self.require_masks
        mask_source = None
        if mask_dict is not None or require:
            if 'anno_id' not in exp:
                if require:
                    raise ValueError(f'{self._owner}: {where} in {self.ann_file} has no '
                                     '"anno_id" field (needed to find its masks)')
            else:
                anno_ids = exp['anno_id']
                anno_ids = anno_ids if isinstance(anno_ids, list) else [anno_ids]
                if not anno_ids:
                    raise ValueError(f'{self._owner}: {where} in {self.ann_file} names no '
                                     'object ("anno_id" is empty)')
                mask_source = dict(anno_ids=[str(a) for a in anno_ids])
        return dict(exp_id=exp_id, expression=text, type_id=exp.get('type_id'),
                    mask_source=mask_source)

    def video_annotations(self, video_id: str, video: dict, frames: List[str],
                          expressions: List[dict], mask_dict: Optional[dict]) -> dict:
        """Per-video mask data: ``mask_rles`` = the RLE lists of the anno_ids it uses."""
        if mask_dict is None:
            return dict(mask_rles=None)
        rles = {}
        for exp in expressions:
            if exp['mask_source'] is None:
                continue
            for anno_id in exp['mask_source']['anno_ids']:
                if anno_id in rles:
                    continue
                if anno_id not in mask_dict:
                    raise ValueError(
                        f'{self._owner}: video {video_id!r}, expression {exp["exp_id"]!r}: '
                        f'anno_id {anno_id} is not in mask file {self._resolve(self.mask_file)}')
                per_frame = mask_dict[anno_id]
                if not isinstance(per_frame, list) or len(per_frame) != len(frames):
                    got = len(per_frame) if isinstance(per_frame, list) else type(
                        per_frame).__name__
                    raise ValueError(
                        f'{self._owner}: video {video_id!r}, expression {exp["exp_id"]!r}: '
                        f'anno_id {anno_id} has {got} per-frame masks for {len(frames)} '
                        'frames')
                rles[anno_id] = per_frame
        return dict(mask_rles=rles)

    def video_size(self, item: dict) -> tuple:
        """``(height, width)``: from the first non-empty RLE, else the first frame's header."""
        for per_frame in (item.get('mask_rles') or {}).values():
            for rle in per_frame:
                if isinstance(rle, dict) and isinstance(rle.get('size'), (list, tuple)) \
                        and len(rle['size']) == 2:
                    return int(rle['size'][0]), int(rle['size'][1])
        return read_image_size(item['frame_paths'][0], item['video_id'],
                               item['frame_names'][0])

    # ------------------------------------------------------------------ queries
    def num_expressions(self) -> int:
        """Evaluation samples of the split (every expression counts once)."""
        return sum(len(self.get_data_info(i)['expressions']) for i in range(len(self)))
