"""Utilities: registration, checkpoint safe globals and CPU (gloo) distributed set-up.

Kept free of model / dataset imports at import time, so that the registries can register
mmdet's modules and the checkpoint safe globals before importing our subpackages.
"""
from .checkpoint_safety import (checkpoint_safe_globals,
                                register_checkpoint_safe_globals)
from .dist import (finalize_distributed, resolve_model_wrapper_type,
                   setup_cpu_distributed, use_device_agnostic_ddp)
from .setup_env import register_all_modules, register_dependencies

__all__ = [
    'checkpoint_safe_globals', 'register_checkpoint_safe_globals',
    'setup_cpu_distributed', 'finalize_distributed', 'use_device_agnostic_ddp',
    'resolve_model_wrapper_type', 'register_all_modules', 'register_dependencies'
]
