"""OpenPSG GCG training set (GLaMM), as Sa2VA reads it."""
from desa2va_mm.registry import DATASETS
from .grandf_gcg_dataset import GranDfGCGDataset


@DATASETS.register_module()
class OpenPsgGCGDataset(GranDfGCGDataset):
    """GLaMM's OpenPSG GCG annotations (``OpenPsgGCG_train.json``) over COCO 2017 images.

    The layout is GranD-f's (:class:`GranDfGCGDataset`): a list of images with
    ``file_name``, ``caption`` and ``groundings`` ``{phrase: {token_positives, rle_masks}}``.

    Args:
        ann_file: ``annotations/OpenPsgGCG_train.json``.
        data_prefix: ``dict(img_path='images/coco2017/')``.
        **kwargs: :class:`BaseGCGDataset` arguments.
    """
