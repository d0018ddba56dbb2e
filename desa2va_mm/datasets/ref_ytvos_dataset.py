"""Ref-YouTube-VOS (URVOS): ``meta_expressions.json`` + palette PNG annotations."""
from typing import List, Optional

from desa2va_mm.registry import DATASETS
from .video_referring_dataset import VideoReferringDataset


@DATASETS.register_module()
class RefYTVOSDataset(VideoReferringDataset):
    """Ref-YouTube-VOS in its release layout (the one ReferFormer and Sa2VA read)::

        ref_ytvos/meta_expressions/{train,valid}/meta_expressions.json
        ref_ytvos/train/JPEGImages/<video>/<frame>.jpg
        ref_ytvos/train/Annotations/<video>/<frame>.png   # palette PNG: pixel = obj_id
        ref_ytvos/valid/JPEGImages/<video>/<frame>.jpg    # valid: no annotations (online)

    ``meta_expressions.json`` lists per video its ``frames`` and ``expressions``
    (``{"exp": TEXT, "obj_id": "1"}``; ``valid`` has no ``obj_id``). An expression's mask on
    a frame is ``png == obj_id``. Frames are sorted by name, as ReferFormer / Sa2VA do.

    Masks come from the PNGs when ``data_prefix`` has ``ann_path``; without it (the
    ``valid`` split) the items carry no ground truth. A converted ``mask_file`` in the
    MeViS format (expressions with ``anno_id``) is read instead when given.

    Args:
        ann_file: Default ``'meta_expressions/train/meta_expressions.json'``.
        mask_file: Optional MeViS-style ``mask_dict.json``; default None (PNGs).
        data_prefix: Default ``dict(img_path='train/JPEGImages/',
            ann_path='train/Annotations/')``.
        **kwargs: :class:`VideoReferringDataset` arguments.
    """

    def __init__(self,
                 ann_file: str = 'meta_expressions/train/meta_expressions.json',
                 mask_file: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='train/JPEGImages/', ann_path='train/Annotations/')
        super().__init__(ann_file=ann_file, mask_file=mask_file, data_prefix=data_prefix,
                         **kwargs)

    @property
    def _png_masks(self) -> bool:
        return self.mask_file is None and 'ann_path' in self.data_prefix

    def video_frames(self, video_id: str, video: dict) -> List[str]:
        return sorted(super().video_frames(video_id, video))

    def parse_expression(self, video_id, exp_id, exp, mask_dict):
        info = super().parse_expression(video_id, exp_id, exp, mask_dict)
        if not self._png_masks:
            return info
        where = f'video {video_id!r}, expression {exp_id!r}'
        if 'obj_id' not in exp:
            raise ValueError(f'{self._owner}: {where} in {self.ann_file} has no "obj_id" field '
                             '(needed to read its masks from the annotation PNGs)')
        obj_ids = exp['obj_id'] if isinstance(exp['obj_id'], list) else [exp['obj_id']]
        try:
            obj_ids = [int(o) for o in obj_ids]
        except (TypeError, ValueError):
            raise ValueError(f'{self._owner}: {where} in {self.ann_file}: "obj_id" must be an '
                             f'integer (a palette index), got {exp["obj_id"]!r}') from None
        if not obj_ids or any(not 0 < o < 256 for o in obj_ids):
            raise ValueError(f'{self._owner}: {where} in {self.ann_file}: "obj_id" must name '
                             f'palette indices 1..255, got {exp["obj_id"]!r}')
        info['mask_source'] = dict(obj_ids=obj_ids)
        return info

    def video_annotations(self, video_id, video, frames, expressions, mask_dict):
        if not self._png_masks:
            return super().video_annotations(video_id, video, frames, expressions, mask_dict)
        root = self.data_prefix['ann_path']
        return dict(mask_rles=None,
                    mask_paths=[f'{root.rstrip("/")}/{video_id}/{f}.png' for f in frames])
