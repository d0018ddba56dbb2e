from .non_finite_guard import NonFiniteGuardMixin, NonFiniteStepsError
from .non_finite_guard_amp_optim_wrapper import NonFiniteGuardAmpOptimWrapper
from .non_finite_guard_optim_wrapper import NonFiniteGuardOptimWrapper

__all__ = [
    'NonFiniteGuardOptimWrapper', 'NonFiniteGuardAmpOptimWrapper', 'NonFiniteGuardMixin',
    'NonFiniteStepsError'
]
