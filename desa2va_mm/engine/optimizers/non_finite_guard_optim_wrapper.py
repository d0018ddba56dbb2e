"""``OptimWrapper`` that skips steps with a NaN / Inf loss or gradient."""
from mmengine.optim import OptimWrapper

from desa2va_mm.registry import OPTIM_WRAPPERS
from .non_finite_guard import NonFiniteGuardMixin


@OPTIM_WRAPPERS.register_module()
class NonFiniteGuardOptimWrapper(NonFiniteGuardMixin, OptimWrapper):
    """MMEngine's ``OptimWrapper`` plus the non-finite guard (see
    :class:`~desa2va_mm.engine.optimizers.non_finite_guard.NonFiniteGuardMixin`).

    A step whose summed loss or any gradient is NaN / Inf is skipped (on every rank) and
    logged with the non-finite loss terms; ``max_consecutive_bad_steps`` skips in a row
    stop training with ``NonFiniteStepsError``.

    Args:
        optimizer: As ``OptimWrapper``.
        max_consecutive_bad_steps: Skips in a row that end training. Defaults to 5.
        check_grads: Inspect gradients too (not only the loss). Defaults to True.
        **kwargs: ``OptimWrapper`` arguments (``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, optimizer, max_consecutive_bad_steps: int = 5,
                 check_grads: bool = True, **kwargs) -> None:
        super().__init__(optimizer=optimizer, **kwargs)
        self._init_guard(max_consecutive_bad_steps, check_grads)
