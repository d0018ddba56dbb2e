"""SAM-2 refinement of an mmseg semantic segmentor's coarse masks.

Importing this package registers :class:`SAM2RefineEncoderDecoder` in mmseg's model
registry (``custom_imports=dict(imports=['desa2va_mm', 'mmseg.models',
'projects.sam2_refine_mmseg.sam2_refine_mmseg'])`` with ``default_scope = 'mmseg'``).
:func:`make_synthetic_seg` writes the synthetic shapes as an mmseg dataset.
"""
from .sam2_refine_encoder_decoder import SAM2RefineEncoderDecoder
from .synthetic_seg import CLASSES, METAINFO, PALETTE, make_synthetic_seg, semantic_map

__all__ = ['SAM2RefineEncoderDecoder', 'make_synthetic_seg', 'semantic_map', 'CLASSES',
           'PALETTE', 'METAINFO']
