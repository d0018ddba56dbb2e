"""Osprey-724K conversations, part-level and LVIS positive / negative sets."""
from typing import List, Tuple

from desa2va_mm.registry import DATASETS
from .osprey_base_dataset import BaseOspreyDataset


@DATASETS.register_module()
class OspreyDataset(BaseOspreyDataset):
    """Osprey region conversations (``osprey_conversation.json``,
    ``osprey_part_level.json``, ``osprey_lvis_positive_negative.json``).

    Each record's ``conversations`` are its turns (``<region1>`` read as ``region1``); the
    region list goes before the first question (docs/visual_prompts.md). Sa2VA trains on
    the three files with this reader, once each.

    Args:
        question_suffix: Appended to every question (``OspreyShortDescriptionDataset``
            sets the short-answer instruction).
        **kwargs: :class:`BaseOspreyDataset` arguments.
    """

    def __init__(self, *args, question_suffix: str = '', **kwargs) -> None:
        self.question_suffix = question_suffix
        super().__init__(*args, **kwargs)

    def turns(self, record: dict, num_regions: int, where: str) -> List[Tuple[str, str]]:
        return self.conversation_turns(record, where, self.question_suffix)
