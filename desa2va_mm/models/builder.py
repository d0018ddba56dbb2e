"""Build a composite module's sub-modules in ``desa2va_mm``'s registry scope.

MMEngine resolves a bare ``type`` name in the registry of the *current default scope*, not
in the registry of the class being built. A config of another scope that names one of our
models with its prefix (``default_scope='mmdet'``, ``model=dict(type='desa2va_mm.DeSa2VA',
...)``) finds ``DeSa2VA`` itself, but DeSa2VA's constructor then builds ``SAM2Grounding``,
``DecoupledSegHead``, the default ``SAM2VideoTracker`` ... by bare name while the default
scope is still ``mmdet``, and mmdet's registry does not have them (``KeyError: 'SAM2Grounding
is not in the mmdet::model registry'``).

:func:`build_in_scope` builds a sub-config with ``_scope_='desa2va_mm'`` unless the
sub-config names a scope itself. MMEngine then switches the default scope to ours for the
duration of that build, so everything the sub-module builds in turn (losses, necks, the
tokenizer) resolves in our registry too. Our registries are children of mmdet's, so mmdet's
modules (``DiceLoss``, ``CrossEntropyLoss`` ...) keep resolving by bare name, and a
sub-config inherited through ``mmdet::`` keeps its ``_scope_='mmdet'``.
"""
from typing import Any, Mapping

from mmengine.registry import Registry

from desa2va_mm.registry import MODELS, SCOPE

__all__ = ['build_in_scope']


def build_in_scope(cfg: Mapping, registry: Registry = MODELS) -> Any:
    """Build ``cfg`` from ``registry`` with ``desa2va_mm`` as the default scope.

    Args:
        cfg: A module config (``dict`` or ``ConfigDict``) with a ``type``; not modified.
            A ``_scope_`` key in it wins over ours.
        registry: Registry to build from (default: our ``MODELS``).

    Returns:
        The built object.

    Raises:
        TypeError: ``cfg`` is not a mapping (the message names what was passed).
    """
    if not isinstance(cfg, Mapping):
        raise TypeError(f'build_in_scope expects a config dict with a `type` key, got '
                        f'{type(cfg).__name__}: {cfg!r}')
    cfg = dict(cfg)
    cfg.setdefault('_scope_', SCOPE)
    return registry.build(cfg)
