"""High-level inference APIs."""
from .desa2va_inferencer import DeSa2VAInferencer

__all__ = ['DeSa2VAInferencer']
