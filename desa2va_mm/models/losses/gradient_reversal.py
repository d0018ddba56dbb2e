"""Gradient reversal ``R`` (Ganin & Lempitsky, 2015) of the adversarial loss, docs/method.md §8.

``R(x) = x`` in the forward pass; in the backward pass ``dL/dx = -lambda * dL/dR(x)``. Put
between a feature and a discriminator, the discriminator minimises its loss while the
feature's producer receives the reversed gradient, i.e. maximises that same loss.
"""
import math
from typing import Any, Tuple

import torch
import torch.nn as nn


class GradientReversalFunction(torch.autograd.Function):
    """Identity forward; backward returns exactly ``-lambd * grad_output``.

    ``lambd`` is a Python number stored on the context (not a tensor input), so it
    receives no gradient and scheduling it never builds graph.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = float(lambd)
        # view_as, not `return x`: an autograd.Function must return a new tensor object
        # for its backward to be attached; a view shares storage, so no copy is made.
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> Tuple[torch.Tensor, None]:
        return -ctx.lambd * grad_output, None


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Apply gradient reversal to ``x`` (any shape) with coefficient ``lambd``.

    Args:
        x: Input tensor of any shape.
        lambd: Reversal coefficient; the backward pass multiplies the incoming
            gradient by ``-lambd``. ``0`` blocks the gradient (forward is unchanged).

    Returns:
        A tensor equal to ``x``, same shape.
    """
    return GradientReversalFunction.apply(x, lambd)


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse` with a settable coefficient.

    Args:
        lambd: Initial reversal coefficient (attribute ``lambd``, change it freely,
            e.g. from a schedule; it is a plain float, not a parameter or buffer).
    """

    def __init__(self, lambd: float = 1.0) -> None:
        super().__init__()
        self.lambd = float(lambd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(*) -> (*), identity; gradient multiplied by ``-lambd``."""
        return grad_reverse(x, self.lambd)

    def extra_repr(self) -> str:
        return f'lambd={self.lambd}'


def dann_lambda(progress: float, gamma: float = 10.0, max_lambda: float = 1.0,
                ) -> float:
    """DANN's reversal ramp ``max_lambda * (2 / (1 + exp(-gamma * p)) - 1)``.

    Starts at 0 so the randomly initialised discriminators do not push noisy reversed
    gradients into the decoupler at the start of training, and approaches
    ``max_lambda`` as training ends (Ganin et al., JMLR 2016, §5.2.2).

    Args:
        progress: Training progress ``p``, clamped to [0, 1] (e.g. iter / max_iters).
        gamma: Steepness of the ramp (DANN: 10).
        max_lambda: Value approached at ``p = 1``.

    Returns:
        The coefficient as a Python float.
    """
    p = min(max(float(progress), 0.0), 1.0)
    return max_lambda * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


__all__ = ['GradientReversalFunction', 'grad_reverse', 'GradientReversal', 'dann_lambda']
