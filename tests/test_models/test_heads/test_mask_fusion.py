"""MaskFusion: a = sigmoid(g([M_t, M_v])) in [0, 1], M_f = a M_t + (1 - a) M_v (method §5)."""
import math

import pytest
import torch

from desa2va_mm.models.heads import MaskFusion


def _maps(seed=0, shape=(3, 1, 8, 8), scale=5.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale, torch.randn(*shape, generator=g) * scale


def test_gate_starts_at_one_half_the_plain_average():
    fusion = MaskFusion(hidden_channels=4)
    text, visual = _maps()
    fused, gate = fusion(text, visual)
    assert gate.shape == fused.shape == (3, 1, 8, 8)
    assert torch.equal(gate, torch.full_like(gate, 0.5))
    torch.testing.assert_close(fused, (text + visual) / 2)


def test_fused_is_the_gated_mix_on_hand_computed_values():
    fusion = MaskFusion(hidden_channels=2, kernel_size=1)
    with torch.no_grad():
        # g ignores its input and outputs log(3): a = sigmoid(log 3) = 3 / 4 everywhere.
        fusion.gate[-1].bias.fill_(math.log(3.0))
    text = torch.tensor([2.0, -4.0, 0.0, 8.0]).view(1, 1, 2, 2)
    visual = torch.tensor([-2.0, 4.0, 1.0, 0.0]).view(1, 1, 2, 2)
    fused, gate = fusion(text, visual)
    torch.testing.assert_close(gate, torch.full((1, 1, 2, 2), 0.75))
    # 0.75 * 2 + 0.25 * -2 = 1; 0.75 * -4 + 0.25 * 4 = -2; 0.25 * 1; 0.75 * 8 = 6.
    torch.testing.assert_close(fused, torch.tensor([1.0, -2.0, 0.25, 6.0]).view(1, 1, 2, 2))


def test_gate_stays_in_unit_interval_and_reads_clamped_logits():
    torch.manual_seed(0)
    fusion = MaskFusion(hidden_channels=8)
    with torch.no_grad():
        fusion.gate[-1].weight.normal_(0, 3.0)  # a trained, far-from-0.5 gate
    text, visual = _maps(1, scale=1e3)
    fused, gate = fusion(text, visual)
    assert gate.min() >= 0 and gate.max() <= 1 and gate.std() > 0
    torch.testing.assert_close(fused, gate * text + (1 - gate) * visual)
    # SAM-2's "no object" fill (-1024) reaches the gate as -32, the mix with the raw value.
    absent = torch.full((1, 1, 8, 8), -1024.0)
    other = torch.zeros(1, 1, 8, 8)
    fused_a, gate_a = fusion(absent, other)
    _, gate_c = fusion(torch.full_like(absent, -32.0), other)
    assert torch.equal(gate_a, gate_c)
    torch.testing.assert_close(fused_a, gate_a * absent)


def test_gradients_reach_both_branches_and_the_gate():
    fusion = MaskFusion(hidden_channels=4)
    text, visual = (t.requires_grad_() for t in _maps(2))
    fused, _ = fusion(text, visual)
    fused.sum().backward()
    # At the start (a = 1/2) each branch receives half of the upstream gradient.
    torch.testing.assert_close(text.grad, torch.full_like(text, 0.5))
    torch.testing.assert_close(visual.grad, torch.full_like(visual, 0.5))
    assert fusion.gate[-1].weight.grad.abs().sum() > 0


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match='kernel_size must be odd, got 4'):
        MaskFusion(kernel_size=4)
