"""What the grounded conversation generation (GCG) datasets share (docs/gcg.md).

Every GCG reader turns its own annotation layout into the same data item::

    dict(img_path, img_id, caption,
         instances=[dict(phrase, tokens_positive=(start, end), mask), ...])

with the grounded phrases sorted by where they start in the caption and no two spans
overlapping; :class:`~desa2va_mm.datasets.transforms.BuildGCGConversation` wraps each as
``<p> phrase </p> [SEG]`` and :class:`~desa2va_mm.datasets.transforms.LoadReferringMasks`
decodes ``mask`` (COCO polygons, RLE, or a list of them: their union) in the same order.
"""
import os.path as osp
from typing import Any, List, Sequence, Tuple

import mmengine
from mmengine.dataset import BaseDataset

__all__ = ['BaseGCGDataset', 'sort_and_trim_groundings']


def sort_and_trim_groundings(caption: str, groundings: Sequence[Tuple[str, Sequence[int], Any]],
                             where: str) -> List[dict]:
    """Order grounded phrases by their start in ``caption`` and cut overlaps.

    Sa2VA's readers sort by start and, when a phrase's span runs into the next one, end it
    where the next one starts (its ``RefCOCOg`` reader); here the shortened span also loses
    trailing spaces, and a phrase left empty is dropped with its mask.

    Args:
        caption: The caption the spans index.
        groundings: ``(phrase, (start, end), mask)`` triples; ``end`` is exclusive.
        where: Sample description for error messages.

    Returns:
        ``[dict(phrase, tokens_positive=(start, end), mask), ...]`` in caption order.

    Raises:
        ValueError: A span outside the caption or with ``start >= end``.
    """
    items = []
    for phrase, span, mask in groundings:
        if len(span) != 2:
            raise ValueError(f'{where}: phrase {phrase!r} has span {list(span)}; expected '
                             '[start, end] character offsets into the caption')
        start, end = int(span[0]), int(span[1])
        if not 0 <= start < end <= len(caption):
            raise ValueError(f'{where}: phrase {phrase!r} has span [{start}, {end}] outside the '
                             f'caption of {len(caption)} characters ({caption[:60]!r}...)')
        items.append([start, end, mask])
    items.sort(key=lambda item: item[0])
    out = []
    for k, (start, end, mask) in enumerate(items):
        if k + 1 < len(items) and end > items[k + 1][0]:
            end = items[k + 1][0]
            while end > start and caption[end - 1].isspace():
                end -= 1
        if end <= start:
            continue
        out.append(dict(phrase=caption[start:end], tokens_positive=(start, end), mask=mask))
    return out


class BaseGCGDataset(BaseDataset):
    """A GCG annotation file read into GCG data items (subclasses parse one layout).

    Args:
        ann_file: The annotation file (relative to ``data_root``).
        data_root: Dataset root.
        data_prefix: ``dict(img_path=...)``: the image folder.
        min_phrases: Samples with fewer grounded phrases are left out in training (an
            answer without ``[SEG]`` teaches nothing about grounding); kept at test.
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    def __init__(self, *args, min_phrases: int = 1, **kwargs) -> None:
        self.min_phrases = min_phrases
        kwargs.setdefault('data_prefix', dict(img_path=''))
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{type(self).__name__}: annotation file {self.ann_file} does not exist '
                f'(data_root={self.data_root!r}); see docs/gcg.md for the layout')
        raw = mmengine.load(self.ann_file, file_format='json')
        data_list = self.parse_annotations(raw)
        if not self.test_mode:
            data_list = [d for d in data_list if len(d['instances']) >= self.min_phrases]
        if not data_list:
            raise ValueError(f'{type(self).__name__}: no sample with a grounded phrase in '
                             f'{self.ann_file}')
        return data_list

    def parse_annotations(self, raw: Any) -> List[dict]:
        """The file's content -> GCG data items (see the module docstring)."""
        raise NotImplementedError

    def _item(self, file_name: str, img_id: Any, caption: str,
              groundings: Sequence[Tuple[str, Sequence[int], Any]], where: str) -> dict:
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f'{where}: empty or missing caption ({caption!r})')
        return dict(img_path=osp.join(self.data_prefix['img_path'], file_name), img_id=img_id,
                    caption=caption,
                    instances=sort_and_trim_groundings(caption, groundings, where))
