"""Datasets and transforms (importing registers them in ``desa2va``'s registries)."""
from .refcoco_referring_dataset import RefCocoReferringDataset, load_refs
from .transforms import *  # noqa: F401,F403

__all__ = ['RefCocoReferringDataset', 'load_refs']
