"""Box-prompted SAM-2 instance masks on an mmdet single-stage detector.

Importing this package registers :class:`BoxPromptedSAM2` in the ``desa2va_mm`` model
registry (``custom_imports=dict(imports=['desa2va_mm',
'projects.box_prompted_sam2.box_prompted_sam2'])``).
"""
from .box_prompted_sam2 import BoxPromptedSAM2

__all__ = ['BoxPromptedSAM2']
