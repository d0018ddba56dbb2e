"""``AmpOptimWrapper`` that skips steps with a NaN / Inf loss (``--amp`` on a GPU)."""
from mmengine.optim import AmpOptimWrapper

from desa2va_mm.registry import OPTIM_WRAPPERS
from .non_finite_guard import NonFiniteGuardMixin


@OPTIM_WRAPPERS.register_module()
class NonFiniteGuardAmpOptimWrapper(NonFiniteGuardMixin, AmpOptimWrapper):
    """MMEngine's ``AmpOptimWrapper`` plus the non-finite guard.

    ``tools/train.py --amp`` switches ``NonFiniteGuardOptimWrapper`` to this class. The
    gradients are not inspected by default: with fp16 the loss scaler already skips
    steps whose scaled gradients overflow and lowers the scale, which is routine, not
    divergence. A non-finite *loss* is still skipped, logged and counted.

    Args:
        max_consecutive_bad_steps: Skips in a row that end training. Defaults to 5.
        check_grads: Inspect the (scaled) gradients too. Defaults to False.
        **kwargs: ``AmpOptimWrapper`` arguments (``optimizer``, ``loss_scale``,
            ``dtype``, ``clip_grad``, ...).
    """

    def __init__(self, max_consecutive_bad_steps: int = 5, check_grads: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self._init_guard(max_consecutive_bad_steps, check_grads)
