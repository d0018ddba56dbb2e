# DeepSpeed is optional (extra `deepspeed`): the strategy registers only where it imports.
try:
    import deepspeed  # noqa: F401
except ImportError:  # pragma: no cover - depends on the install
    __all__ = []
else:
    from .trainable_deepspeed_strategy import KEPT_FROZEN_KEY, TrainableDeepSpeedStrategy

    __all__ = ['TrainableDeepSpeedStrategy', 'KEPT_FROZEN_KEY']
