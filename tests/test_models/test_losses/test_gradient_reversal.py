"""Gradient reversal: identity forward, exactly ``-lambda * grad`` backward, DANN ramp."""
import math

import pytest
import torch

from desa2va_mm.models.losses.gradient_reversal import (GradientReversal,
                                                        GradientReversalFunction,
                                                        dann_lambda, grad_reverse)


def test_forward_is_identity():
    torch.manual_seed(0)
    x = torch.randn(4, 7, requires_grad=True)
    for lambd in (0.0, 0.3, 1.0):
        out = grad_reverse(x, lambd)
        assert out.shape == x.shape
        assert torch.equal(out, x)
    assert torch.equal(GradientReversal(2.0)(x), x)


@pytest.mark.parametrize('lambd', [0.0, 0.25, 1.0, 3.5])
def test_backward_is_minus_lambda_times_upstream(lambd):
    torch.manual_seed(1)
    x = torch.randn(5, 3, requires_grad=True)
    upstream = torch.randn(5, 3)
    grad_reverse(x, lambd).backward(upstream)
    assert torch.equal(x.grad, -lambd * upstream)


def test_backward_through_a_downstream_op():
    # The reversal multiplies whatever arrives: here d(sum(w * R(x)^2))/dx = -l * 2 w x.
    torch.manual_seed(2)
    x = torch.randn(6, requires_grad=True)
    w = torch.randn(6)
    (w * grad_reverse(x, 0.5) ** 2).sum().backward()
    torch.testing.assert_close(x.grad, -0.5 * 2 * w * x.detach())


def test_module_lambda_is_settable_and_not_a_parameter():
    grl = GradientReversal(1.0)
    assert list(grl.parameters()) == []
    x = torch.ones(3, requires_grad=True)
    grl.lambd = 0.2
    grl(x).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -0.2))
    assert 'lambd=0.2' in repr(grl)


def test_function_gives_no_grad_to_lambda():
    x = torch.randn(2, requires_grad=True)
    out = GradientReversalFunction.apply(x, 0.7)
    grads = torch.autograd.grad(out.sum(), x)
    assert torch.equal(grads[0], torch.full((2,), -0.7))


def test_dann_lambda_ramp():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert dann_lambda(1.0, max_lambda=0.1) == pytest.approx(0.1, rel=1e-4)
    assert dann_lambda(1.0, max_lambda=0.1) < 0.1
    values = [dann_lambda(p / 10) for p in range(11)]
    assert values == sorted(values)
    # Progress outside [0, 1] is clamped.
    assert dann_lambda(-1.0) == 0.0 and dann_lambda(2.0) == dann_lambda(1.0)
    assert dann_lambda(0.1, gamma=1.0) < dann_lambda(0.1, gamma=10.0)
