"""Osprey-724K short-form answers (``osprey_short_form.json``)."""
from desa2va_mm.registry import DATASETS
from .osprey_dataset import OspreyDataset

#: Sa2VA's instruction after each short-form question.
SHORT_ANSWER_SUFFIX = ' Answer the question using a single word or phrase.'


@DATASETS.register_module()
class OspreyShortDescriptionDataset(OspreyDataset):
    """Osprey's short-form region questions: :class:`OspreyDataset` with Sa2VA's
    short-answer instruction after every question.

    Args:
        **kwargs: :class:`OspreyDataset` arguments (``question_suffix`` defaults to
            :data:`SHORT_ANSWER_SUFFIX`).
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault('question_suffix', SHORT_ANSWER_SUFFIX)
        super().__init__(*args, **kwargs)
