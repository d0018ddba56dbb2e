"""PosEmbedCacheHiera: sam2's Hiera with the positional embedding reused between frames.

The truth is sam2's own ``Hiera`` built from the same config with the same weights."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from conftest import REPO_ROOT

TINY_SAM2 = Config.fromfile(
    osp.join(REPO_ROOT, 'configs/_base_/models/sa2va_tiny.py')).tiny_sam2_overrides.to_dict()


def grounding(**kwargs):
    from desa2va_mm.models.grounding import SAM2Grounding
    torch.manual_seed(0)
    return SAM2Grounding(config='configs/sam2/sam2_hiera_t.yaml', overrides=TINY_SAM2,
                         **kwargs)


@pytest.fixture(scope='module')
def pair():
    """(ours, sam2's stock) SAM2Grounding, same seed: the same weights."""
    return grounding(), grounding(cache_pos_embed=False)


def count_interpolations(monkeypatch):
    calls = []
    original = F.interpolate

    def counted(*args, **kwargs):
        calls.append(kwargs.get('mode'))
        return original(*args, **kwargs)
    monkeypatch.setattr(F, 'interpolate', counted)
    return calls


def test_grounding_builds_the_caching_trunk_with_sam2s_parameters(pair):
    from sam2.modeling.backbones.hieradet import Hiera

    from desa2va_mm.models.grounding.pos_embed_cache_hiera import PosEmbedCacheHiera
    ours, stock = pair
    assert type(ours.sam2.image_encoder.trunk) is PosEmbedCacheHiera
    assert type(stock.sam2.image_encoder.trunk) is Hiera
    ours_state, stock_state = ours.sam2.state_dict(), stock.sam2.state_dict()
    assert list(ours_state) == list(stock_state)  # sam2 checkpoints load as they are
    for key, value in stock_state.items():
        assert torch.equal(ours_state[key], value), key  # same random draws, same order


@pytest.mark.parametrize('mode', ['inference', 'no_grad'])
def test_features_are_bitwise_sam2s_and_the_embedding_is_computed_once(pair, monkeypatch,
                                                                       mode):
    ours, stock = pair
    trunk = ours.sam2.image_encoder.trunk
    images = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    context = torch.inference_mode if mode == 'inference' else torch.no_grad
    with context():
        expected = [f.clone() for f in stock.sam2.image_encoder.trunk(images)]
        calls = count_interpolations(monkeypatch)
        first = trunk(images)
        second = trunk(images)
    assert calls == ['bicubic']  # the second frame reused the embedding
    for a, b, c in zip(first, second, expected):
        assert torch.equal(a, c) and torch.equal(b, c)
    # Another input size: computed again, for that size.
    smaller = images[:, :, :64, :64]
    with context():
        want = stock.sam2.image_encoder.trunk(smaller)
        del calls[:]
        got = trunk(smaller)
    assert calls == ['bicubic']
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def test_a_changed_parameter_or_loaded_state_is_never_served_stale(monkeypatch):
    ours, stock = grounding(), grounding(cache_pos_embed=False)
    trunk, reference = ours.sam2.image_encoder.trunk, stock.sam2.image_encoder.trunk
    hw = (32, 32)
    calls = count_interpolations(monkeypatch)
    with torch.no_grad():
        trunk._get_pos_embed(hw)
        trunk.pos_embed.add_(1.0)          # an optimizer step writes in place
        reference.pos_embed.add_(1.0)
        assert torch.equal(trunk._get_pos_embed(hw), reference._get_pos_embed(hw))
        trunk.pos_embed_window.mul_(2.0)
        reference.pos_embed_window.mul_(2.0)
        assert torch.equal(trunk._get_pos_embed(hw), reference._get_pos_embed(hw))
    state = {k: torch.randn_like(v) for k, v in trunk.state_dict().items()}
    trunk.load_state_dict(state)
    reference.load_state_dict(state)
    with torch.no_grad():
        assert torch.equal(trunk._get_pos_embed(hw), reference._get_pos_embed(hw))
    trunk.double()  # a dtype move replaces the storage
    with torch.no_grad():
        assert trunk._get_pos_embed(hw).dtype == torch.float64
    # Ours computed 5 times (the first call and after each of the 4 changes), the
    # reference 3 times: every change recomputed.
    assert calls.count('bicubic') == 5 + 3


def test_a_trainable_trunk_gets_gradients_and_keeps_no_graph_in_the_cache():
    ours = grounding(freeze_image_encoder=False)
    trunk = ours.sam2.image_encoder.trunk
    images = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        trunk(images)  # a validation pass fills the cache
    assert trunk._pos_embed_cached is not None
    sum(f.sum() for f in trunk(images)).backward()
    assert trunk.pos_embed.grad is not None and trunk.pos_embed.grad.abs().sum() > 0
    assert trunk.pos_embed_window.grad.abs().sum() > 0
    assert trunk._pos_embed_cached is None  # no tensor of the training graph is kept


def test_parameters_made_in_inference_mode_are_served_without_a_cache():
    with torch.inference_mode():
        ours = grounding()
        stock = grounding(cache_pos_embed=False)
        trunk = ours.sam2.image_encoder.trunk
        assert trunk.pos_embed.is_inference()
        images = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(3))
        got, want = trunk(images), stock.sam2.image_encoder.trunk(images)
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    assert trunk._pos_embed_cached is None
