"""Ref-DAVIS17 in the Ref-YouTube-VOS layout."""
from typing import Optional

from desa2va_mm.registry import DATASETS
from .ref_ytvos_dataset import RefYTVOSDataset


@DATASETS.register_module()
class RefDAVISDataset(RefYTVOSDataset):
    """Ref-DAVIS17 converted to the Ref-YouTube-VOS layout (ReferFormer's
    ``tools/data/convert_davis_to_ytvos.py``, which Sa2VA's data release follows)::

        davis17/meta_expressions/{train,valid}/meta_expressions.json
        davis17/{train,valid}/JPEGImages/<video>/<frame>.jpg
        davis17/{train,valid}/Annotations/<video>/<frame>.png   # DAVIS palette PNGs

    Each object has 4 expressions (two annotators x first-frame / full-video), ids
    ``"0".."N"`` with ``obj_id`` the DAVIS object index. ``valid`` (30 videos) has masks, so
    J&F is computed offline. Sa2VA's release also ships ``valid/mask_dict.pkl``; convert it to
    JSON (``mask_file``) to use it: pickles are not loaded (they can run code).

    Args:
        ann_file: Default ``'meta_expressions/valid/meta_expressions.json'``.
        data_prefix: Default ``dict(img_path='valid/JPEGImages/',
            ann_path='valid/Annotations/')``.
        **kwargs: :class:`RefYTVOSDataset` arguments.
    """

    def __init__(self,
                 ann_file: str = 'meta_expressions/valid/meta_expressions.json',
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='valid/JPEGImages/', ann_path='valid/Annotations/')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)
