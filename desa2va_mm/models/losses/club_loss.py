"""CLUB mutual-information upper bound between the decoupled prompts, docs/method.md §9."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch.func import functional_call

from desa2va_mm.registry import MODELS

_ESTIMATORS = ('full', 'sampled', 'auto')


def club_upper_bound(mu: torch.Tensor, logvar: torch.Tensor, y: torch.Tensor,
                     perm: Optional[torch.Tensor] = None) -> torch.Tensor:
    """CLUB's bound ``mean_i [ log q(y_i|x_i) - mean_j log q(y_j|x_i) ]``.

    ``log q(y|x_i) = -sum_d (y_d - mu_i,d)^2 / (2 exp(logvar_i,d)) + c_i`` where ``c_i``
    (the Gaussian normaliser and ``-logvar_i / 2``) depends only on ``i`` and cancels in
    the difference, so only the quadratic terms are computed (as the official code).

    Args:
        mu: (N, D) means of ``q(y | x_i)``.
        logvar: (N, D) log-variances of ``q(y | x_i)``.
        y: (N, D) samples paired with ``x_i`` row by row.
        perm: ``None`` for the full bound (all N^2 pairs, O(N^2 D) memory); otherwise
            (N,) indices pairing each ``i`` with one negative ``y_perm[i]`` (the sampled
            bound). With ``perm`` a uniformly random permutation the sampled bound is an
            unbiased estimate of the full one, whose inner mean includes ``j = i``.

    Returns:
        Scalar bound (not multiplied by any loss weight).
    """
    inv_var = torch.exp(-logvar)
    positive = -0.5 * (mu - y) ** 2 * inv_var
    if perm is None:
        negative_sq = ((y.unsqueeze(0) - mu.unsqueeze(1)) ** 2).mean(dim=1)
    else:
        negative_sq = (y[perm] - mu) ** 2
    negative = -0.5 * negative_sq * inv_var
    return (positive.sum(dim=-1) - negative.sum(dim=-1)).mean()


@MODELS.register_module()
class CLUBLoss(BaseModule):
    """CLUB (Cheng et al., ICML 2020) between ``x = h_t`` and ``y = h_v``, docs/method.md §9.

    A variational net ``q(y | x) = N(mu(x), diag exp(logvar(x)))`` (``mu``: Linear-ReLU-
    Linear; ``logvar``: the same followed by Tanh, so variances stay in [1/e, e]) gives
    the upper bound::

        I = mean_i [ log q(y_i | x_i) - mean_j log q(y_j | x_i) ]

    Two losses, each moving only its own side:

    - ``loss_mi = loss_weight * I``: gradients reach ``x`` and ``y`` (the decoupler);
      q's parameters are held fixed (used detached through ``torch.func``), so the
      decoupler cannot lower the bound by spoiling the estimator.
    - ``loss_club_est = estimator_weight * L_q``, ``L_q = -mean_i log q(y_i | x_i)``
      (up to a constant, with the ``logvar`` term): computed on detached ``x``, ``y``,
      so only q learns from it.

    Differences from the official code (github.com/Linear95/CLUB), on purpose:
    ``L_q`` carries the 1/2 of the Gaussian log-likelihood (official ``loglikeli``
    omits it, doubling the estimator's effective learning rate); the hidden width is
    ``hidden_dim`` (official ``CLUB`` uses ``hidden_size // 2``). The sampled bound
    writes the 1/2 per term as the full bound does; the official ``CLUBSample`` drops
    it per term and divides the whole bound by 2 instead, the same quantity. Either
    way both variants here estimate the same ``I``.

    Args:
        x_dim: Dimension of ``x`` (``h_t``, C).
        y_dim: Dimension of ``y`` (``h_v``, C).
        hidden_dim: Hidden width of the ``mu`` and ``logvar`` MLPs.
        estimator: ``'full'`` (all N^2 pairs), ``'sampled'`` (one random negative per
            sample, O(N)), or ``'auto'`` (sampled when N > ``auto_threshold``).
        auto_threshold: Batch size above which ``'auto'`` samples.
        loss_weight: Multiplies the bound in ``loss_mi`` (``lambda_mi``, docs/method.md §10).
        estimator_weight: Multiplies ``L_q`` in ``loss_club_est``. It only sets how much
            q's gradients count in a global gradient-norm clip (Adam is invariant to it),
            so keep it small when ``L_q`` (a sum over ``y_dim``) would dominate the clip.
        standardize: Standardise each ``x`` and ``y`` row (zero mean, unit variance over
            its features, no learned affine) before q sees it. ``q``'s variance is bounded
            (``tanh`` log-variance), so on raw prompts the decoupler can lower the bound by
            growing ``h_v``'s scale instead of removing information, and ``L_q`` then grows
            without limit; the standardised bound is scale-invariant. Off by default (the
            plain docs/method.md §9 bound).
        nonnegative: Minimise ``max(I, 0)`` instead of ``I``. Mutual information is >= 0,
            so a negative estimate only says q lags behind the decoupler; minimising it
            further chases q's error, not information. ``mi_estimate`` still logs ``I``.
        init_cfg: MMEngine initialisation config.
    """

    def __init__(self, *, x_dim: int = 256, y_dim: int = 256, hidden_dim: int = 256,
                 estimator: str = 'full', auto_threshold: int = 64,
                 loss_weight: float = 1.0, estimator_weight: float = 1.0,
                 standardize: bool = False, nonnegative: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if estimator not in _ESTIMATORS:
            raise ValueError(f'estimator must be one of {_ESTIMATORS}, got {estimator!r}')
        self.estimator = estimator
        self.auto_threshold = int(auto_threshold)
        self.loss_weight = float(loss_weight)
        self.estimator_weight = float(estimator_weight)
        self.standardize = bool(standardize)
        self.nonnegative = bool(nonnegative)
        # Names follow the official CLUB code so its checkpoints load key for key.
        self.p_mu = nn.Sequential(
            nn.Linear(x_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, y_dim))
        self.p_logvar = nn.Sequential(
            nn.Linear(x_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, y_dim),
            nn.Tanh())

    def use_sampled(self, num_samples: int) -> bool:
        """Whether a batch of ``num_samples`` pairs uses the sampled bound."""
        if self.estimator == 'auto':
            return num_samples > self.auto_threshold
        return self.estimator == 'sampled'

    def mu_logvar(self, x: torch.Tensor,
                  hold_fixed: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, x_dim) -> mu, logvar, each (N, y_dim).

        Args:
            x: Conditioning samples.
            hold_fixed: Use detached parameters, so the outputs carry gradient to ``x``
                only and never to q.
        """
        if not hold_fixed:
            return self.p_mu(x), self.p_logvar(x)
        outputs = []
        for net in (self.p_mu, self.p_logvar):
            params = {name: p.detach() for name, p in net.named_parameters()}
            outputs.append(functional_call(net, params, (x,)))
        return outputs[0], outputs[1]

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``mean_i log q(y_i | x_i)`` up to the constant ``-D log(2 pi) / 2``; scalar.

        Args:
            x: (N, x_dim).
            y: (N, y_dim).
        """
        mu, logvar = self.mu_logvar(x)
        return (-(mu - y) ** 2 * torch.exp(-logvar) - logvar).sum(dim=-1).mean() / 2

    def forward(self, text_prompt: torch.Tensor,
                visual_prompt: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Bound and estimator loss for one batch of ``[SEG]`` tokens.

        Args:
            text_prompt: ``x = h_t``, (N, x_dim).
            visual_prompt: ``y = h_v``, (N, y_dim), paired with ``text_prompt`` by row.

        Returns:
            dict with
            - ``loss_mi``: scalar, ``loss_weight * I``; gradient to both inputs only.
              0 (connected to the inputs) when N < 2: a bound needs pairs.
            - ``loss_club_est``: scalar, ``estimator_weight * L_q``; gradient to q's
              parameters only. Computed for any N >= 1 (a likelihood needs no pairs);
              0 connected to q when N = 0.
            - ``mi_estimate``: scalar, detached ``I`` (unweighted) for logging.
        """
        dtype = self.p_mu[0].weight.dtype
        x = text_prompt.to(dtype)
        y = visual_prompt.to(dtype)
        if self.standardize:
            x = F.layer_norm(x, x.shape[-1:])
            y = F.layer_norm(y, y.shape[-1:])
        num_samples = x.shape[0]

        if num_samples == 0:
            # Keep q in the graph so DDP without find_unused_parameters does not wait
            # for gradients that never come.
            loss_club_est = 0.0 * sum(p.sum() for p in self.parameters())
        else:
            loss_club_est = -self.estimator_weight * self.log_likelihood(
                x.detach(), y.detach())

        if num_samples < 2:
            bound = 0.0 * (x.sum() + y.sum())
        else:
            mu, logvar = self.mu_logvar(x, hold_fixed=True)
            perm = (torch.randperm(num_samples, device=x.device)
                    if self.use_sampled(num_samples) else None)
            bound = club_upper_bound(mu, logvar, y, perm)
        minimised = bound.clamp(min=0) if self.nonnegative else bound
        return dict(
            loss_mi=self.loss_weight * minimised,
            loss_club_est=loss_club_est,
            mi_estimate=bound.detach())
