"""desa2va_mm: DeSa2VA as an OpenMMLab 2.x plugin (registry scope ``desa2va_mm``).

Importing the package is cheap: it imports neither torch, MMEngine nor mmdet. Modules
register when MMEngine first looks one up in our registries (see
:mod:`desa2va_mm.registry`), which is what configs with ``default_scope='desa2va_mm'`` and
mmdet configs with ``custom_imports=dict(imports=['desa2va_mm'])`` do; scripts that need
everything at once call :func:`desa2va_mm.utils.register_all_modules`.
"""
from .version import __version__

__all__ = ['__version__']
