"""Registration entry points: what our registries need before a lookup, and everything at once.

``import desa2va_mm`` registers nothing (it is cheap). Registration happens:

* on the first lookup in any of our registries (:mod:`desa2va_mm.registry`): MMEngine
  imports the registry's ``locations`` (our subpackage) and our registry class first calls
  :func:`register_dependencies`. That is how configs (``default_scope='desa2va_mm'``) and
  mmdet configs (``type='desa2va_mm.X'`` after ``custom_imports=dict(imports=
  ['desa2va_mm'])``) reach our modules;
* all at once with :func:`register_all_modules` (scripts that list registries, or that
  load a checkpoint before building anything from a config).
"""
from mmengine.registry import init_default_scope as _init_default_scope

__all__ = ['register_dependencies', 'register_all_modules']

_DEPENDENCIES_REGISTERED = False


def register_dependencies() -> None:
    """Make a lookup in our registries safe to climb and the checkpoints it leads to loadable.

    * mmdet's modules: a lookup that misses in our registry reads mmdet's table directly
      (MMEngine's ``Registry.get`` does not import the parent's modules), so
      ``DiceLoss`` / ``RefCocoDataset`` / ``PackDetInputs`` must already be registered.
    * the checkpoint allow-list
      (:func:`~desa2va_mm.utils.checkpoint_safety.register_checkpoint_safe_globals`): a
      model built from our registries is what ``Runner.load_checkpoint`` / ``resume``,
      ``mmengine.runner.load_checkpoint`` and the inferencer then load MMEngine
      checkpoints into, with ``torch.load(weights_only=True)``.

    Runs once per process; later calls return at once (it runs on every registry lookup).
    """
    global _DEPENDENCIES_REGISTERED
    if _DEPENDENCIES_REGISTERED:
        return
    # Set first: mmdet's imports below must not come back here through a lookup.
    _DEPENDENCIES_REGISTERED = True
    from mmdet.utils import register_all_modules as register_mmdet_modules

    from .checkpoint_safety import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    register_mmdet_modules(init_default_scope=False)


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register every module of desa2va_mm (and mmdet's) and the checkpoint allow-list now.

    Args:
        init_default_scope: Also make ``desa2va_mm`` the default registry scope (a new
            ``DefaultScope`` instance when another scope is current).
    """
    register_dependencies()
    import desa2va_mm.datasets  # noqa: F401
    import desa2va_mm.engine  # noqa: F401
    import desa2va_mm.evaluation  # noqa: F401
    import desa2va_mm.models  # noqa: F401
    import desa2va_mm.tokenization  # noqa: F401
    import desa2va_mm.visualization  # noqa: F401
    if init_default_scope:
        from desa2va_mm.registry import SCOPE
        _init_default_scope(SCOPE)
