"""GradReversalScheduleHook: the DANN ramp of the seg head's reversal strength, per iteration."""
from types import SimpleNamespace

import pytest
import torch

from desa2va_mm.engine.hooks import GradReversalScheduleHook
from desa2va_mm.models.losses import ModalityAdversarialLoss


def _runner(seg_head, max_iters=1000):
    return SimpleNamespace(model=SimpleNamespace(seg_head=seg_head), iter=0,
                           max_iters=max_iters)


@pytest.mark.parametrize('iteration,expected', [
    # lambda = 2 / (1 + exp(-10 p)) - 1 with p = iter / max_iters (max_lambda 1):
    (0, 0.0),                   # p = 0
    (50, 0.24491866240370913),  # p = 0.05: 2 / (1 + e^-0.5) - 1
    (100, 0.46211715726000974),  # p = 0.1: 2 / (1 + e^-1) - 1
    (500, 0.9866142981514305),  # p = 0.5: 2 / (1 + e^-5) - 1
    (1000, 0.9999092042625951),  # p = 1: 2 / (1 + e^-10) - 1
])
def test_dann_schedule_at_iterations(iteration, expected):
    loss = ModalityAdversarialLoss(in_channels=4, hidden_channels=4, lambda_schedule='dann')
    assert loss.current_lambda == 0.0  # before any iteration
    runner = _runner(SimpleNamespace(adversarial_loss=loss))
    runner.iter = iteration
    GradReversalScheduleHook().before_train_iter(runner, batch_idx=iteration)
    assert loss.current_lambda == pytest.approx(expected, abs=1e-12)
    # The scheduled strength is what the reversal applies to the prompts' gradient.
    text = torch.ones(2, 4, requires_grad=True)
    out = loss(text, torch.ones(2, 4), torch.zeros(2, 4), torch.zeros(2, 4))
    assert out['grl_lambda'].item() == pytest.approx(expected, abs=1e-6)


def test_scaled_ramp_and_models_without_the_loss():
    loss = ModalityAdversarialLoss(in_channels=4, lambda_schedule='dann', grl_lambda=0.1)
    runner = _runner(SimpleNamespace(adversarial_loss=loss), max_iters=200)
    runner.iter = 20  # p = 0.1
    GradReversalScheduleHook().before_train_iter(runner, 0)
    assert loss.current_lambda == pytest.approx(0.046211715726000974, abs=1e-12)
    # Switched off (seg_head.adversarial_loss=None) or a Sa2VA head: nothing to schedule.
    for head in (SimpleNamespace(adversarial_loss=None), SimpleNamespace()):
        GradReversalScheduleHook().before_train_iter(_runner(head), 0)
