"""ReVOS (reasoning video object segmentation, VISA)."""
from typing import List, Optional

from desa2va_mm.registry import DATASETS
from .video_referring_dataset import VideoReferringDataset, load_json

#: ReVOS ``type_id`` values. VISA's evaluator scores type 2 expressions but leaves them
#: out of every average (its ``is_nan`` group); :class:`ReVOSMetric` does the same.
REVOS_TYPES = {0: 'referring', 1: 'reasoning', 2: 'not averaged'}


@DATASETS.register_module()
class ReVOSDataset(VideoReferringDataset):
    """ReVOS as released by VISA: one folder for both splits::

        ReVOS/JPEGImages/<video>/<frame>.jpg     # <video> may contain '/': 'UVO/all/-fbsc...'
        ReVOS/meta_expressions_train_.json
        ReVOS/meta_expressions_valid_.json
        ReVOS/mask_dict.json                     # train + valid
        ReVOS/mask_dict_foreground.json          # {video: {"masks_rle": [RLE per frame]}}

    Every expression carries ``type_id`` (0 referring, 1 reasoning, 2 scored but left out
    of the averages by VISA's evaluator); the metric reports the first two and their mean.
    The foreground masks (all annotated objects of a frame) feed the robustness score R;
    they are read when ``foreground_file`` is set and exist.

    With masks and ``test_mode``, each item also holds ``gt_object_rles``:
    ``{exp_id: [T RLEs or None] per object}`` for the expressions naming two or more
    objects (the per-object lists of ``mask_rles``), so :class:`ReVOSMetric` can add
    overlapping objects up as VISA's evaluator does.

    Args:
        ann_file: Default ``'meta_expressions_valid_.json'``.
        mask_file: Default ``'mask_dict.json'``.
        foreground_file: ``'mask_dict_foreground.json'`` or None.
        **kwargs: :class:`VideoReferringDataset` arguments.
    """

    def __init__(self,
                 ann_file: str = 'meta_expressions_valid_.json',
                 mask_file: Optional[str] = 'mask_dict.json',
                 foreground_file: Optional[str] = 'mask_dict_foreground.json',
                 **kwargs) -> None:
        self.foreground_file = foreground_file
        super().__init__(ann_file=ann_file, mask_file=mask_file, **kwargs)

    def load_data_list(self) -> List[dict]:
        path = self._resolve(self.foreground_file)
        self._foreground = load_json(path, 'foreground mask file', self._owner) \
            if path is not None else None
        try:
            return super().load_data_list()
        finally:
            self._foreground = None  # only the per-video lists are kept

    def parse_expression(self, video_id, exp_id, exp, mask_dict):
        info = super().parse_expression(video_id, exp_id, exp, mask_dict)
        type_id = exp.get('type_id')
        if type_id not in REVOS_TYPES:
            raise ValueError(
                f'{self._owner}: video {video_id!r}, expression {exp_id!r} in {self.ann_file}: '
                f'"type_id" must be 0 (referring), 1 (reasoning) or 2, got {type_id!r}')
        info['type_id'] = int(type_id)
        return info

    def video_annotations(self, video_id, video, frames, expressions, mask_dict):
        ann = super().video_annotations(video_id, video, frames, expressions, mask_dict)
        if self.test_mode and ann.get('mask_rles') is not None:
            ann['gt_object_rles'] = {
                e['exp_id']: [ann['mask_rles'][a] for a in e['mask_source']['anno_ids']]
                for e in expressions
                if e['mask_source'] is not None and len(e['mask_source']['anno_ids']) > 1}
        if self._foreground is not None:
            entry = self._foreground.get(video_id)
            rles = entry.get('masks_rle') if isinstance(entry, dict) else None
            if not isinstance(rles, list) or len(rles) != len(frames):
                raise ValueError(
                    f'{self._owner}: video {video_id!r}: foreground file '
                    f'{self._resolve(self.foreground_file)} needs "masks_rle" with one RLE per '
                    f'frame ({len(frames)})')
            ann['foreground_rles'] = rles
        return ann
