"""SegTokenDecoupler: h_t, h_v and the text anchor e, docs/method.md §2-3."""
import pytest
import torch

from desa2va_mm.models.necks.seg_token_decoupler import SegTokenDecoupler
from desa2va_mm.registry import MODELS


def _neck(**kwargs):
    torch.manual_seed(0)
    return SegTokenDecoupler(in_channels=6, out_channels=4, **kwargs).double()


def test_decoupled_prompts_are_two_linear_maps_of_the_seg_state():
    neck = _neck()
    h = torch.randn(3, 6, dtype=torch.float64)
    h_t, h_v = neck(h)
    assert h_t.shape == h_v.shape == (3, 4)
    torch.testing.assert_close(h_t, h @ neck.text_proj.weight.T + neck.text_proj.bias)
    torch.testing.assert_close(h_v, h @ neck.visual_proj.weight.T + neck.visual_proj.bias)
    assert MODELS.build(dict(type='SegTokenDecoupler', in_channels=6)).out_channels == 256


def _masked_mean(embeds, mask):
    return torch.stack([embeds[i, mask[i].bool()].mean(0) for i in range(len(embeds))])


def test_text_anchor_is_w_e_of_the_standardised_masked_mean():
    neck = _neck()
    g = torch.Generator().manual_seed(1)
    embeds = 0.02 * torch.randn(2, 5, 6, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    mean = _masked_mean(embeds, mask)
    standardized = (mean - mean.mean(-1, keepdim=True)) / torch.sqrt(
        mean.var(-1, unbiased=False, keepdim=True) + 1e-10)
    expected = standardized @ neck.anchor_proj.weight.T + neck.anchor_proj.bias
    torch.testing.assert_close(neck.text_anchor(embeds, mask), expected)
    # Padding does not count: changing a padded token changes nothing.
    embeds2 = embeds.clone()
    embeds2[0, 4] += 100
    torch.testing.assert_close(neck.text_anchor(embeds2, mask), expected)
    # The anchor no longer depends on the embedding table's scale (small LLM embeddings
    # would otherwise leave W_e's bias dominating every expression's anchor).
    torch.testing.assert_close(neck.text_anchor(50 * embeds, mask), expected, rtol=1e-4,
                               atol=1e-6)


def test_plain_anchor_without_normalisation():
    neck = _neck(normalize_anchor=False)
    embeds = torch.randn(2, 3, 6, dtype=torch.float64)
    expected = embeds.mean(1) @ neck.anchor_proj.weight.T + neck.anchor_proj.bias
    torch.testing.assert_close(neck.text_anchor(embeds), expected)
    with pytest.raises(TypeError):
        SegTokenDecoupler(6)  # keyword-only


def test_mlp_decoupler_shapes_values_and_gradients():
    neck = _neck(hidden_channels=5)
    assert [type(m).__name__ for m in neck.text_proj] == ['Linear', 'GELU', 'Linear']
    assert neck.text_proj[0].out_features == 5 and neck.visual_proj[2].out_features == 4
    assert isinstance(neck.anchor_proj, torch.nn.Linear)  # W_e stays linear
    h = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    h_t, h_v = neck(h)
    assert h_t.shape == h_v.shape == (3, 4)

    def mlp(seq):
        hidden = torch.nn.functional.gelu(h @ seq[0].weight.T + seq[0].bias)
        return hidden @ seq[2].weight.T + seq[2].bias
    torch.testing.assert_close(h_t, mlp(neck.text_proj))
    torch.testing.assert_close(h_v, mlp(neck.visual_proj))
    # Non-linear: h_t(2h) != 2 h_t(h) - h_t(0).
    zero = torch.zeros(1, 6, dtype=torch.float64)
    assert not torch.allclose(neck(2 * h)[0], 2 * h_t - neck(zero)[0])
    (h_t.sum() + 2 * h_v.sum()).backward()
    for layer in (neck.text_proj[0], neck.text_proj[2], neck.visual_proj[0],
                  neck.visual_proj[2]):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert h.grad.abs().sum() > 0
    assert neck.anchor_proj.weight.grad is None  # not used by the prompts
    built = MODELS.build(dict(type='SegTokenDecoupler', in_channels=6, hidden_channels=8))
    assert built.text_proj[0].out_features == 8


@pytest.mark.parametrize('hidden', [0, 2.5, True])
def test_bad_hidden_channels_raise(hidden):
    with pytest.raises(ValueError, match='neck.hidden_channels must be None'):
        _neck(hidden_channels=hidden)
