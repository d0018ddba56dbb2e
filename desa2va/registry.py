"""See :mod:`desa2va_mm.registry`; imported by MMEngine for the scope ``desa2va``."""
from desa2va_mm.registry import *  # noqa: F401,F403
