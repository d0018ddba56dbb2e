"""ModalityAdversarialLoss: discriminators learn, prompts get reversed gradients, docs/method.md §8."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from desa2va_mm.models.losses.modality_adversarial_loss import ModalityAdversarialLoss
from desa2va_mm.registry import MODELS

C = 8


def _inputs(seed=0, n=4, m=3, k=5):
    g = torch.Generator().manual_seed(seed)
    text_prompt = torch.randn(n, C, generator=g, dtype=torch.float64, requires_grad=True)
    visual_prompt = torch.randn(n, C, generator=g, dtype=torch.float64, requires_grad=True)
    text_anchor = (torch.randn(m, C, generator=g, dtype=torch.float64) + 1.0)
    point_embeds = (torch.randn(k, C, generator=g, dtype=torch.float64) - 1.0)
    return text_prompt, visual_prompt, text_anchor.requires_grad_(), point_embeds


def _module(**kwargs):
    torch.manual_seed(0)
    cfg = dict(in_channels=C, hidden_channels=16)
    cfg.update(kwargs)
    return ModalityAdversarialLoss(**cfg).double()


def _disc_loss(module, text_prompt, visual_prompt, text_anchor, point_embeds):
    """The discriminators' objective written out without any reversal."""
    def bce(disc, x, label):
        logits = disc(x).squeeze(-1)
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))
    return (bce(module.d_text, text_anchor, 1.) + bce(module.d_text, text_prompt, 0.)
            + bce(module.d_visual, point_embeds, 1.) + bce(module.d_visual, visual_prompt, 0.))


def test_build_from_registry_and_keys():
    module = MODELS.build(dict(type='ModalityAdversarialLoss', in_channels=C,
                               hidden_channels=4, num_layers=3))
    assert isinstance(module, ModalityAdversarialLoss)
    assert [type(m).__name__ for m in module.d_text] == [
        'Linear', 'LeakyReLU', 'Linear', 'LeakyReLU', 'Linear']
    out = module(*(t.float().detach() for t in _inputs()))
    assert set(out) == {'loss_adv', 'acc_text_disc', 'acc_visual_disc', 'grl_lambda'}
    for key in ('acc_text_disc', 'acc_visual_disc', 'grl_lambda'):
        assert out[key].ndim == 0 and not out[key].requires_grad
        assert out[key].dtype == torch.float32
    assert 0.0 <= out['acc_text_disc'].item() <= 1.0
    assert 0.0 <= out['acc_visual_disc'].item() <= 1.0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='dann'):
        ModalityAdversarialLoss(lambda_schedule='linear')
    with pytest.raises(ValueError, match='num_layers'):
        ModalityAdversarialLoss(num_layers=0)
    with pytest.raises(TypeError):
        ModalityAdversarialLoss(256)  # keyword-only


def test_loss_value_is_weighted_sum_of_four_bce_terms():
    module = _module(loss_weight=0.3)
    inputs = _inputs()
    out = module(*inputs)
    expected = 0.3 * _disc_loss(module, *(t.detach() for t in inputs))
    torch.testing.assert_close(out['loss_adv'], expected)


def test_one_sgd_step_lowers_discriminator_loss():
    module = _module(grl_lambda=1.0)
    inputs = [t.detach() for t in _inputs()]
    before = _disc_loss(module, *inputs).item()
    module(*inputs)['loss_adv'].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    with torch.no_grad():
        for p in module.parameters():
            p -= 0.05 * p.grad
    after = _disc_loss(module, *inputs).item()
    assert after < before - 1e-4


@pytest.mark.parametrize('lambd,loss_weight', [(1.0, 1.0), (0.4, 2.5), (0.0, 1.0)])
def test_prompts_get_minus_lambda_times_plain_gradient(lambd, loss_weight):
    module = _module(grl_lambda=lambd, loss_weight=loss_weight)
    reference = copy.deepcopy(module)
    text_prompt, visual_prompt, text_anchor, point_embeds = _inputs()
    module(text_prompt, visual_prompt, text_anchor, point_embeds)['loss_adv'].backward()

    # Without reversal the prompts would receive the gradient of their "fake" BCE terms.
    plain_text = text_prompt.detach().clone().requires_grad_()
    plain_visual = visual_prompt.detach().clone().requires_grad_()
    plain_loss = loss_weight * _disc_loss(reference, plain_text, plain_visual,
                                          text_anchor.detach(), point_embeds)
    plain_loss.backward()
    assert plain_text.grad.abs().sum() > 0
    torch.testing.assert_close(text_prompt.grad, -lambd * plain_text.grad,
                               rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(visual_prompt.grad, -lambd * plain_visual.grad,
                               rtol=1e-12, atol=1e-15)
    # Discriminators get the ordinary (unreversed) gradient.
    for p, q in zip(module.parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad)
    # Real samples are targets: the loss never moves them.
    assert text_anchor.grad is None


def test_decoupler_step_raises_discriminator_loss():
    # What the decoupler does with its reversed gradient: fool the discriminators.
    module = _module()
    text_prompt, visual_prompt, text_anchor, point_embeds = _inputs()
    module(text_prompt, visual_prompt, text_anchor, point_embeds)['loss_adv'].backward()
    with torch.no_grad():
        before = _disc_loss(module, text_prompt, visual_prompt, text_anchor, point_embeds)
        after = _disc_loss(module, text_prompt - 0.1 * text_prompt.grad,
                           visual_prompt - 0.1 * visual_prompt.grad, text_anchor,
                           point_embeds)
    assert after > before + 1e-4


def _linear_discriminators():
    # Linear discriminators reading one coordinate each: logits are known by construction.
    module = ModalityAdversarialLoss(in_channels=2, num_layers=1)
    with torch.no_grad():
        module.d_text[0].weight.copy_(torch.tensor([[1.0, 0.0]]))
        module.d_visual[0].weight.copy_(torch.tensor([[0.0, 1.0]]))
        module.d_text[0].bias.zero_()
        module.d_visual[0].bias.zero_()
    return module


def test_accuracies_and_loss_for_crafted_logits():
    module = _linear_discriminators()
    text_anchor = torch.tensor([[1.0, 9.0], [-1.0, 9.0], [2.0, 9.0]])  # real: 2 / 3 right
    text_prompt = torch.tensor([[-1.0, 9.0], [3.0, -9.0]])  # fake: 1 / 2 right
    point_embeds = torch.tensor([[9.0, 1.0], [9.0, 1.0]])  # real: 2 / 2 right
    visual_prompt = torch.tensor([[9.0, -2.0], [9.0, 4.0]])  # fake: 1 / 2 right
    out = module(text_prompt, visual_prompt, text_anchor, point_embeds)
    assert out['acc_text_disc'].item() == pytest.approx(3 / 5)
    assert out['acc_visual_disc'].item() == pytest.approx(3 / 4)

    def softplus(z):
        return math.log1p(math.exp(z))
    # BCE(z, 1) = softplus(-z), BCE(z, 0) = softplus(z); each term a mean over its rows.
    expected = ((softplus(-1) + softplus(1) + softplus(-2)) / 3
                + (softplus(-1) + softplus(3)) / 2
                + softplus(-1)
                + (softplus(-2) + softplus(4)) / 2)
    assert out['loss_adv'].item() == pytest.approx(expected, rel=1e-6)


def test_lambda_schedules():
    dann = _module(grl_lambda=0.5, lambda_schedule='dann')
    assert dann.current_lambda == 0.0
    text_prompt, visual_prompt, text_anchor, point_embeds = _inputs()
    out = dann(text_prompt, visual_prompt, text_anchor, point_embeds)
    out['loss_adv'].backward()
    assert out['grl_lambda'].item() == 0.0
    assert torch.count_nonzero(text_prompt.grad) == 0  # lambda 0 blocks the decoupler
    dann.set_progress(0.5)
    expected = 0.5 * (2 / (1 + math.exp(-5)) - 1)
    assert dann.current_lambda == pytest.approx(expected)
    assert dann(*_inputs())['grl_lambda'].item() == pytest.approx(expected)
    dann.set_progress(1.0)
    assert dann.current_lambda == pytest.approx(0.5, rel=1e-4)
    dann.set_lambda(0.05)
    assert dann.current_lambda == 0.05

    for schedule in (None, 'constant'):
        constant = _module(grl_lambda=0.7, lambda_schedule=schedule)
        constant.set_progress(0.1)
        assert constant.current_lambda == 0.7
        constant.set_lambda(0.2)
        assert constant(*_inputs())['grl_lambda'].item() == pytest.approx(0.2)


@pytest.mark.parametrize('m,k', [(0, 5), (3, 0), (0, 0)])
def test_empty_real_samples(m, k):
    module = _module()
    text_prompt, visual_prompt, text_anchor, point_embeds = _inputs(m=m, k=k)
    out = module(text_prompt, visual_prompt, text_anchor if m else None, point_embeds)
    loss = out['loss_adv']
    assert torch.isfinite(loss)
    loss.backward()
    # Every parameter and both prompts stay in the graph (DDP needs it).
    assert all(p.grad is not None for p in module.parameters())
    assert text_prompt.grad is not None and visual_prompt.grad is not None
    # Only the fake terms remain where real ones are missing.
    with torch.no_grad():
        expected = F.softplus(module.d_text(text_prompt)).mean() + F.softplus(
            module.d_visual(visual_prompt)).mean()
        if m:
            expected += F.softplus(-module.d_text(text_anchor)).mean()
        if k:
            expected += F.softplus(-module.d_visual(point_embeds)).mean()
        acc_text = ((module.d_text(text_anchor) > 0).sum() if m else 0) + (
            module.d_text(text_prompt) <= 0).sum()
    torch.testing.assert_close(loss.detach(), expected)
    assert out['acc_text_disc'].item() == pytest.approx(acc_text.item() / (m + 4))


def test_no_samples_at_all():
    module = _module()
    empty = torch.zeros(0, C, dtype=torch.float64, requires_grad=True)
    out = module(empty, empty, None, None)
    assert out['loss_adv'].item() == 0.0 and out['loss_adv'].requires_grad
    out['loss_adv'].backward()
    assert all(p.grad is not None for p in module.parameters())
    assert out['acc_text_disc'].item() == 0.5


def test_target_switch_is_checked():
    assert _module().target == 'own'  # the default reading
    with pytest.raises(ValueError, match=r"target must be one of \('own', 'opposite'\)"):
        _module(target='swap')


@pytest.mark.parametrize('target', ['own', 'opposite'])
def test_each_reading_gives_each_discriminator_its_real_samples(target):
    """'own': d_t sees text anchors as real, d_v point embeddings; 'opposite' swaps the
    real samples. The decoupled prompt is the fake (label 0) of its own branch's
    discriminator in both readings, and gets -lambda times that term's gradient."""
    lambd, weight = 0.6, 0.5
    module = _module(target=target, grl_lambda=lambd, loss_weight=weight)
    text_prompt, visual_prompt, text_anchor, point_embeds = _inputs(m=3, k=5)
    out = module(text_prompt, visual_prompt, text_anchor, point_embeds)
    real_t, real_v = ((text_anchor, point_embeds) if target == 'own'
                      else (point_embeds, text_anchor))

    def bce(disc, x, label):
        logits = disc(x).squeeze(-1)
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))

    with torch.no_grad():
        expected = weight * (bce(module.d_text, real_t.detach(), 1.)
                             + bce(module.d_text, text_prompt, 0.)
                             + bce(module.d_visual, real_v.detach(), 1.)
                             + bce(module.d_visual, visual_prompt, 0.))
        acc_text = ((module.d_text(real_t) > 0).sum() + (module.d_text(text_prompt) <= 0)
                    .sum()).item() / (len(real_t) + len(text_prompt))
    torch.testing.assert_close(out['loss_adv'].detach(), expected)
    assert out['acc_text_disc'].item() == pytest.approx(acc_text)
    # The two readings differ (the check is not satisfied by both trivially).
    other = _module(target='opposite' if target == 'own' else 'own', loss_weight=weight)
    assert abs(other(text_prompt, visual_prompt, text_anchor, point_embeds)['loss_adv']
               .item() - expected.item()) > 1e-3

    out['loss_adv'].backward()
    plain_t = text_prompt.detach().clone().requires_grad_()
    plain_v = visual_prompt.detach().clone().requires_grad_()
    (weight * (bce(module.d_text, plain_t, 0.) + bce(module.d_visual, plain_v, 0.))).backward()
    torch.testing.assert_close(text_prompt.grad, -lambd * plain_t.grad, rtol=1e-12,
                               atol=1e-15)
    torch.testing.assert_close(visual_prompt.grad, -lambd * plain_v.grad, rtol=1e-12,
                               atol=1e-15)
    assert text_anchor.grad is None  # real samples are targets in both readings


def test_opposite_reading_pulls_each_prompt_toward_the_other_modality():
    """One reversed-gradient step on the prompts: under 'own' h_t moves toward the text
    anchors' region, under 'opposite' toward the point embeddings' region (linear
    discriminators reading one coordinate; anchors at +1, points at -1)."""
    moves = {}
    for target in ('own', 'opposite'):
        module = ModalityAdversarialLoss(in_channels=2, num_layers=1, target=target)
        with torch.no_grad():
            for disc in (module.d_text, module.d_visual):
                disc[0].bias.zero_()
            # Each discriminator is "real" where its real samples lie.
            sign_t, sign_v = (1.0, -1.0) if target == 'own' else (-1.0, 1.0)
            module.d_text[0].weight.copy_(torch.tensor([[sign_t, 0.0]]))
            module.d_visual[0].weight.copy_(torch.tensor([[sign_v, 0.0]]))
        text_prompt = torch.zeros(1, 2, requires_grad=True)
        visual_prompt = torch.zeros(1, 2, requires_grad=True)
        anchors, points = torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]])
        module(text_prompt, visual_prompt, anchors, points)['loss_adv'].backward()
        # Gradient descent on the decoupler's side.
        moves[target] = (-text_prompt.grad[0, 0].item(), -visual_prompt.grad[0, 0].item())
    assert moves['own'][0] > 0 and moves['own'][1] < 0  # h_t -> anchors, h_v -> points
    assert moves['opposite'][0] < 0 and moves['opposite'][1] > 0  # swapped
