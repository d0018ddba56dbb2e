"""MeViS (motion expressions video segmentation)."""
from desa2va_mm.registry import DATASETS
from .video_referring_dataset import VideoReferringDataset


@DATASETS.register_module()
class MeViSDataset(VideoReferringDataset):
    """MeViS as released (``<split>/JPEGImages/<video>/<frame>.jpg``,
    ``<split>/meta_expressions.json``, ``<split>/mask_dict.json``).

    An expression may name several objects (``anno_id`` list): its mask on a frame is the
    union of theirs, as in the official evaluator (``eval_mevis.py``). Splits: ``train``
    and ``valid_u`` have masks; ``valid`` is scored online (``mask_file=None``).

    Args:
        ann_file: Default ``'meta_expressions.json'`` (relative to ``data_root``, which
            points at the split folder, e.g. ``data/mevis/valid_u/``).
        mask_file: Default ``'mask_dict.json'``; None for ``valid``.
        **kwargs: :class:`VideoReferringDataset` arguments.
    """
