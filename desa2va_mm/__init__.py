"""desa2va_mm: DeSa2VA as an OpenMMLab 2.x plugin (registry scope ``desa2va_mm``).

Importing the package registers every module and allow-lists the MMEngine / NumPy
globals that MMEngine checkpoints hold, so ``torch.load`` keeps ``weights_only=True``.
"""
from .version import __version__
from .utils.checkpoint_safety import register_checkpoint_safe_globals

register_checkpoint_safe_globals()

# Our registries are children of mmdet's; lookups climb to mmdet only through modules that
# are already registered, so register mmdet's (losses, datasets, transforms, metrics ...).
from mmdet.utils import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=False)

from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401

__all__ = ['__version__', 'register_checkpoint_safe_globals']
