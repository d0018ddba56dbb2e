"""Utilities: checkpoint safe globals and CPU (gloo) distributed set-up.

Kept free of model / dataset imports so that ``desa2va_mm/__init__.py`` can register
the checkpoint safe globals before importing the subpackages.
"""
from .checkpoint_safety import (checkpoint_safe_globals,
                                register_checkpoint_safe_globals)
from .dist import (finalize_distributed, resolve_model_wrapper_type,
                   setup_cpu_distributed, use_device_agnostic_ddp)

__all__ = [
    'checkpoint_safe_globals', 'register_checkpoint_safe_globals',
    'setup_cpu_distributed', 'finalize_distributed', 'use_device_agnostic_ddp',
    'resolve_model_wrapper_type'
]
