"""Adversarial modality alignment of the decoupled prompts, docs/method.md §8."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from desa2va_mm.registry import MODELS
from .gradient_reversal import dann_lambda, grad_reverse

_SCHEDULES = (None, 'constant', 'dann')
_TARGETS = ('own', 'opposite')


def _build_discriminator(in_channels: int, hidden_channels: int,
                         num_layers: int) -> nn.Sequential:
    """MLP ``C -> hidden -> ... -> 1`` with LeakyReLU between layers (logits out)."""
    layers: List[nn.Module] = []
    dim = in_channels
    for _ in range(num_layers - 1):
        # LeakyReLU, not ReLU: the decoupler learns only through the discriminator's
        # input gradient, which dead ReLU units would silently zero.
        layers += [nn.Linear(dim, hidden_channels), nn.LeakyReLU(0.2, inplace=True)]
        dim = hidden_channels
    layers.append(nn.Linear(dim, 1))
    return nn.Sequential(*layers)


@MODELS.register_module()
class ModalityAdversarialLoss(BaseModule):
    """Two discriminators behind gradient reversal, docs/method.md §8.

    With ``R`` the gradient-reversal layer (identity forward, ``-lambda * grad``
    backward)::

        L_adv = loss_weight * ( BCE(d_t(e), 1)     + BCE(d_t(R(h_t)), 0)
                              + BCE(d_v(p), 1)     + BCE(d_v(R(h_v)), 0) )

    each BCE (with logits) averaged over its own samples. ``e`` (real text prompts,
    the phase-1 text anchors ``W_e · mean E[x]``) and ``p`` (SAM-2 point-prompt
    embeddings of points sampled inside the ground-truth masks) are detached: they are
    targets, not things this loss may move. The discriminators receive the ordinary
    gradient of ``L_adv`` and learn to separate real from decoupled prompts; ``h_t`` and
    ``h_v`` receive ``-lambda`` times it, so the decoupler learns to make ``h_t`` look
    like a text prompt and ``h_v`` like a visual prompt.

    That is ``target='own'``: each prompt is pulled toward its own modality's
    distribution. ``target='opposite'`` swaps the real samples (``d_t`` separates ``p``
    from ``R(h_t)``, ``d_v`` separates ``e`` from ``R(h_v)``), the other reading of the
    method: each prompt is made indistinguishable from the *other* modality's
    prompts. Labels (real 1, decoupled 0), the reversal and which branch each
    discriminator sees are the same in both readings.

    Args:
        in_channels: C, the prompt dimension (SAM-2: 256).
        hidden_channels: Width of the discriminators' hidden layers.
        grl_lambda: Reversal coefficient; with ``lambda_schedule='dann'`` the value
            approached at the end of training.
        lambda_schedule: ``None`` or ``'constant'`` keeps ``grl_lambda``; ``'dann'``
            ramps it from 0 with :func:`dann_lambda` as :meth:`set_progress` is called
            (e.g. by a hook every iteration).
        loss_weight: Multiplies ``L_adv`` (``lambda_adv`` of docs/method.md §10).
        num_layers: Linear layers per discriminator (1 = a linear classifier).
        dann_gamma: Steepness of the ``'dann'`` ramp.
        target: Whose real prompts each discriminator compares its branch with:
            ``'own'`` (``h_t`` vs text anchors, ``h_v`` vs point embeddings) or
            ``'opposite'`` (``h_t`` vs point embeddings, ``h_v`` vs text anchors).
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self, *, in_channels: int = 256, hidden_channels: int = 256,
                 grl_lambda: float = 1.0, lambda_schedule: Optional[str] = None,
                 loss_weight: float = 1.0, num_layers: int = 2, dann_gamma: float = 10.0,
                 target: str = 'own', init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if lambda_schedule not in _SCHEDULES:
            raise ValueError(f'lambda_schedule must be one of {_SCHEDULES}, '
                             f'got {lambda_schedule!r}')
        if target not in _TARGETS:
            raise ValueError(f'adversarial_loss.target must be one of {_TARGETS}, got '
                             f'{target!r}')
        self.target = target
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.in_channels = in_channels
        self.grl_lambda = float(grl_lambda)
        self.lambda_schedule = lambda_schedule
        self.loss_weight = float(loss_weight)
        self.dann_gamma = float(dann_gamma)
        self.d_text = _build_discriminator(in_channels, hidden_channels, num_layers)
        self.d_visual = _build_discriminator(in_channels, hidden_channels, num_layers)
        self.progress = 0.0
        self.current_lambda = (0.0 if lambda_schedule == 'dann' else self.grl_lambda)

    def set_progress(self, progress: float) -> None:
        """Record training progress in [0, 1]; under ``'dann'`` this updates lambda."""
        self.progress = min(max(float(progress), 0.0), 1.0)
        if self.lambda_schedule == 'dann':
            self.current_lambda = dann_lambda(self.progress, gamma=self.dann_gamma,
                                              max_lambda=self.grl_lambda)

    def set_lambda(self, value: float) -> None:
        """Set the reversal coefficient directly (until the next ``set_progress``)."""
        self.current_lambda = float(value)

    def forward(self, text_prompt: torch.Tensor, visual_prompt: torch.Tensor,
                text_anchor: Optional[torch.Tensor] = None,
                point_embeds: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Discriminator loss and accuracies for one batch of ``[SEG]`` tokens.

        Args:
            text_prompt: ``h_t``, (N, C), decoupled textual prompts ("fake" for ``d_t``).
            visual_prompt: ``h_v``, (N, C), decoupled visual prompts ("fake" for ``d_v``).
            text_anchor: ``e``, (M, C), real text prompts (``d_t``'s real samples under
                ``target='own'``, ``d_v``'s under ``'opposite'``); ``None`` or M = 0
                skips that real term.
            point_embeds: (K, C), real visual prompts (SAM-2 point-prompt embeddings;
                ``d_v``'s real samples under ``'own'``, ``d_t``'s under ``'opposite'``);
                ``None`` or K = 0 skips that real term.

        Returns:
            dict with
            - ``loss_adv``: scalar, ``loss_weight`` times the sum of the BCE terms
              present (0 connected to the graph when none is).
            - ``acc_text_disc``, ``acc_visual_disc``: scalars (no grad), accuracy of each
              discriminator over all its real + fake samples (logit > 0 means "real");
              ~0.5 is the adversarial equilibrium. 0.5 when it saw no samples.
            - ``grl_lambda``: scalar, the reversal coefficient used.
        """
        weight = self.d_text[0].weight
        lambd = self.current_lambda
        fake_text = grad_reverse(text_prompt.to(weight.dtype), lambd)
        fake_visual = grad_reverse(visual_prompt.to(weight.dtype), lambd)
        # Real samples of the discriminator that sees h_t (d_t) and of the one that
        # sees h_v (d_v).
        real_for_text = self._real(text_anchor, weight)
        real_for_visual = self._real(point_embeds, weight)
        if self.target == 'opposite':
            real_for_text, real_for_visual = real_for_visual, real_for_text

        loss_text, acc_text, complete_text = self._discriminate(
            self.d_text, real_for_text, fake_text)
        loss_visual, acc_visual, complete_visual = self._discriminate(
            self.d_visual, real_for_visual, fake_visual)
        loss_adv = self.loss_weight * (loss_text + loss_visual)
        if not (complete_text and complete_visual):
            # A skipped term leaves parameters (or inputs) out of the graph; DDP without
            # find_unused_parameters then hangs on the missing gradients. A zero-weighted
            # sum keeps everything connected without changing any value or gradient.
            anchor = sum(p.sum() for p in self.parameters())
            anchor = anchor + fake_text.sum() + fake_visual.sum()
            loss_adv = loss_adv + 0.0 * anchor
        return dict(
            loss_adv=loss_adv,
            acc_text_disc=acc_text,
            acc_visual_disc=acc_visual,
            grl_lambda=weight.new_tensor(lambd))

    def _real(self, real: Optional[torch.Tensor],
              weight: torch.Tensor) -> Optional[torch.Tensor]:
        """Detached real samples (R, C) in the discriminators' dtype, or ``None``."""
        if real is None or real.shape[0] == 0:
            return None
        return real.detach().to(weight.dtype)

    @staticmethod
    def _discriminate(discriminator: nn.Module, real: Optional[torch.Tensor],
                      fake: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, bool]:
        """BCE sum (scalar), accuracy (scalar, no grad), and whether both terms ran.

        Args:
            discriminator: Maps (R, C) -> (R, 1) logits.
            real: (R, C) samples labelled 1, or ``None``.
            fake: (F, C) samples labelled 0 (already through gradient reversal).
        """
        loss = fake.new_zeros(())
        correct = fake.new_zeros(())
        total = 0
        complete = True
        for samples, label in ((real, 1.0), (fake, 0.0)):
            if samples is None or samples.shape[0] == 0:
                complete = False
                continue
            logits = discriminator(samples).squeeze(-1)
            loss = loss + F.binary_cross_entropy_with_logits(
                logits, torch.full_like(logits, label))
            with torch.no_grad():
                correct = correct + ((logits > 0) == bool(label)).sum()
            total += samples.shape[0]
        acc = correct / total if total > 0 else fake.new_tensor(0.5)
        return loss, acc.detach(), complete
