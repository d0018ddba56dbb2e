"""CLUB mutual-information upper bound between the decoupled prompts, docs/method.md §9."""
import io
from typing import Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch.func import functional_call

from desa2va_mm.registry import MODELS, OPTIMIZERS

_ESTIMATORS = ('full', 'sampled', 'auto')
_STANDARDIZE = (None, 'row', 'running')
_REMOVED = {
    'estimator_weight': "q no longer trains through the model's loss; set its own optimizer "
                        "with estimator_optimizer=dict(type='Adam', lr=1e-3) and the number "
                        'of its updates per model step with estimator_steps',
}


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


def _parameters_to_buffers(module: nn.Module) -> None:
    """Re-register every parameter of ``module`` (recursively) as a buffer of the same name.

    The state-dict keys stay the same (``p_mu.0.weight``...), but the model's optimizer,
    DDP's gradient buckets, FSDP's flat parameters and ZeRO's partitions only handle
    parameters, so none of them holds (or moves) these weights.
    """
    for sub in module.modules():
        for name, param in list(sub.named_parameters(recurse=False)):
            delattr(sub, name)
            sub.register_buffer(name, param.detach().clone())


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@MODELS.register_module()
class CLUBLoss(BaseModule):
    """CLUB (Cheng et al., ICML 2020) between ``x = h_t`` and ``y = h_v``, docs/method.md §9.

    A variational net ``q(y | x) = N(mu(x), diag exp(logvar(x)))`` (``mu``: Linear-ReLU-
    Linear; ``logvar``: the same followed by Tanh, so variances stay in [1/e, e]) gives
    the upper bound::

        I = mean_i [ log q(y_i | x_i) - mean_j log q(y_j | x_i) ]

    Two objectives, each moving only its own side, as in the official usage
    (github.com/Linear95/CLUB: the estimator has its own optimizer and is updated before
    the model on detached samples):

    - The estimator: in training mode every forward first runs ``estimator_steps``
      updates of q with its own optimizer (``estimator_optimizer``) on the batch's
      detached pairs, minimising ``L_q = -mean_i log q(y_i | x_i)``. This happens inside
      the forward; nothing of it enters the returned losses.
    - The decoupler: ``loss_mi = loss_weight * I`` with the updated q held fixed, so
      gradients reach ``x`` and ``y`` only; the decoupler cannot lower the bound by
      spoiling the estimator.

    q's weights are buffers, not parameters (their state-dict keys are the official
    names, ``p_mu.0.weight``...): the model's optimizer never sees them (no weight decay,
    no second update, no share of the global gradient clip), DDP / FSDP / ZeRO never
    bucket, flatten or partition them, and ``frozen_modules`` cannot freeze them (set
    ``estimator_steps=0`` for a fixed q). The estimator's optimizer state is this
    module's extra state (``club_loss._extra_state`` in the state dict, serialised into
    a uint8 tensor), so checkpoints restore it and resumed runs continue exactly.

    Distributed training: q is one estimator shared by every rank. Each update
    all-reduces ``(sum of gradients x rows, rows)`` over the default process group, so
    every rank applies the gradient of the global batch mean and the replicas never
    drift (they start equal: DDP broadcasts buffers from rank 0, and every rank draws the
    same initial weights from the same seed). Ranks without ``[SEG]`` rows contribute
    zero rows; a step where no rank has any is skipped everywhere. The running
    statistics of ``standardize='running'`` are all-reduced the same way.

    Under autocast (AMP) the estimator's updates run in q's own dtype with autocast off:
    a loss scaler never sees q's gradients, so they must not underflow in fp16.

    Differences from the official code, on purpose: ``L_q`` carries the 1/2 of the
    Gaussian log-likelihood (official ``loglikeli`` omits it: the same minimiser, half
    the gradient); the hidden width is ``hidden_dim`` (official ``CLUB`` uses
    ``hidden_size // 2``); the updates reuse the current batch rather than drawing new
    samples (only the current batch's prompts exist). The sampled bound writes the 1/2
    per term as the full bound does; the official ``CLUBSample`` drops it per term and
    divides the whole bound by 2 instead, the same quantity.

    Args:
        x_dim: Dimension of ``x`` (``h_t``, C).
        y_dim: Dimension of ``y`` (``h_v``, C).
        hidden_dim: Hidden width of the ``mu`` and ``logvar`` MLPs.
        estimator: ``'full'`` (all N^2 pairs), ``'sampled'`` (one random negative per
            sample, O(N)), or ``'auto'`` (sampled when N > ``auto_threshold``).
        auto_threshold: Batch size above which ``'auto'`` samples.
        loss_weight: Multiplies the bound in ``loss_mi`` (``lambda_mi``, docs/method.md §10).
        estimator_optimizer: Config of q's own optimizer without ``params`` (any type of
            the optimizer registry), default ``dict(type='Adam', lr=1e-3)``.
        estimator_steps: q's updates per training forward (int >= 0; 0 keeps q fixed).
        standardize: What q sees. ``None``: the raw prompts. ``'row'``: each row
            standardised over its features (zero mean, unit variance): scale-invariant,
            but a row's own mean and scale are removed, so dependence carried by them is
            invisible to the bound. ``'running'``: each feature standardised with running
            estimates of its mean and variance over training batches (updated before q's
            updates, used as constants): scale-invariant once the estimates follow, and
            per-row mean / scale stay visible.
        momentum: Update rate of the running statistics (``'running'`` only; the first
            batch initialises them).
        nonnegative: Minimise ``max(I, 0)`` instead of ``I``: a negative estimate says q
            lags behind, not that information is left. ``mi_estimate`` still logs ``I``.
        init_cfg: MMEngine initialisation config.

    Raises:
        TypeError: A removed argument (``estimator_weight``) is given; the message names
            what replaced it.
        ValueError: ``estimator``, ``standardize``, ``estimator_steps`` or
            ``estimator_optimizer`` is invalid.
    """

    def __init__(self, *, x_dim: int = 256, y_dim: int = 256, hidden_dim: int = 256,
                 estimator: str = 'full', auto_threshold: int = 64,
                 loss_weight: float = 1.0, estimator_optimizer: Optional[dict] = None,
                 estimator_steps: int = 1, standardize: Optional[str] = None,
                 momentum: float = 0.1, nonnegative: bool = False,
                 init_cfg: Optional[dict] = None, **removed) -> None:
        for key in removed:
            if key in _REMOVED:
                raise TypeError(f'CLUBLoss: {key!r} was removed: {_REMOVED[key]}')
            raise TypeError(f'CLUBLoss got an unexpected argument {key!r}')
        super().__init__(init_cfg=init_cfg)
        if estimator not in _ESTIMATORS:
            raise ValueError(f'estimator must be one of {_ESTIMATORS}, got {estimator!r}')
        if standardize not in _STANDARDIZE or isinstance(standardize, bool):
            raise ValueError(f'club_loss.standardize must be one of {_STANDARDIZE}, got '
                             f"{standardize!r} (the former True is 'row')")
        if isinstance(estimator_steps, bool) or not isinstance(estimator_steps, int) \
                or estimator_steps < 0:
            raise ValueError('club_loss.estimator_steps must be an int >= 0 (0: q stays '
                             f'fixed), got {estimator_steps!r}')
        estimator_optimizer = dict(estimator_optimizer or dict(type='Adam', lr=1e-3))
        if 'type' not in estimator_optimizer or 'params' in estimator_optimizer:
            raise ValueError("club_loss.estimator_optimizer needs a 'type' and no 'params' "
                             f"(q's weights are added), got {estimator_optimizer!r}")
        self.estimator = estimator
        self.auto_threshold = int(auto_threshold)
        self.loss_weight = float(loss_weight)
        self.estimator_optimizer_cfg = estimator_optimizer
        self.estimator_steps = estimator_steps
        self.standardize = standardize
        self.momentum = float(momentum)
        self.nonnegative = bool(nonnegative)
        # Names follow the official CLUB code so its checkpoints load key for key.
        self.p_mu = nn.Sequential(
            nn.Linear(x_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, y_dim))
        self.p_logvar = nn.Sequential(
            nn.Linear(x_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, y_dim),
            nn.Tanh())
        _parameters_to_buffers(self.p_mu)
        _parameters_to_buffers(self.p_logvar)
        if standardize == 'running':
            self.register_buffer('x_mean', torch.zeros(x_dim))
            self.register_buffer('x_var', torch.ones(x_dim))
            self.register_buffer('y_mean', torch.zeros(y_dim))
            self.register_buffer('y_var', torch.ones(y_dim))
            self.register_buffer('num_stat_updates', torch.zeros((), dtype=torch.long))
        self._optimizer: Optional[torch.optim.Optimizer] = None
        self._pending_optimizer_state: Optional[dict] = None

    # ------------------------------------------------------------------ q
    def estimator_weights(self) -> Dict[str, torch.Tensor]:
        """q's weights by state-dict name (``p_mu.0.weight``...), in a fixed order."""
        return {f'{net_name}.{name}': buf for net_name in ('p_mu', 'p_logvar')
                for name, buf in getattr(self, net_name).named_buffers()}

    def use_sampled(self, num_samples: int) -> bool:
        """Whether a batch of ``num_samples`` pairs uses the sampled bound."""
        if self.estimator == 'auto':
            return num_samples > self.auto_threshold
        return self.estimator == 'sampled'

    def mu_logvar(self, x: torch.Tensor, weights: Optional[Dict[str, torch.Tensor]] = None
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, x_dim) -> mu, logvar, each (N, y_dim).

        Args:
            x: Conditioning samples (already standardised, if at all).
            weights: ``None`` uses q's stored weights, which carry no gradient (the
                outputs carry gradient to ``x`` only: q is held fixed); otherwise a dict
                of :meth:`estimator_weights`' names to tensors used in their place
                (``torch.func.functional_call``), e.g. copies that require gradient.
        """
        if weights is None:
            return self.p_mu(x), self.p_logvar(x)
        outputs = []
        for net_name in ('p_mu', 'p_logvar'):
            prefix = net_name + '.'
            net_weights = {k[len(prefix):]: v for k, v in weights.items()
                           if k.startswith(prefix)}
            outputs.append(functional_call(getattr(self, net_name), net_weights, (x,)))
        return outputs[0], outputs[1]

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor,
                       weights: Optional[Dict[str, torch.Tensor]] = None) -> torch.Tensor:
        """``mean_i log q(y_i | x_i)`` up to the constant ``-D log(2 pi) / 2``; scalar.

        Args:
            x: (N, x_dim), standardised as :meth:`standardized` returns it.
            y: (N, y_dim), likewise.
            weights: As in :meth:`mu_logvar`.
        """
        mu, logvar = self.mu_logvar(x, weights)
        return (-(mu - y) ** 2 * torch.exp(-logvar) - logvar).sum(dim=-1).mean() / 2

    def standardized(self, x: torch.Tensor,
                     y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, x_dim), (N, y_dim) -> the same, as q sees them (``standardize``)."""
        if self.standardize == 'row':
            return F.layer_norm(x, x.shape[-1:]), F.layer_norm(y, y.shape[-1:])
        if self.standardize == 'running':
            eps = 1e-5
            return ((x - self.x_mean) * torch.rsqrt(self.x_var + eps),
                    (y - self.y_mean) * torch.rsqrt(self.y_var + eps))
        return x, y

    # ------------------------------------------------------------------ training q
    @torch.no_grad()
    def update_running_stats(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Move the ``'running'`` statistics toward this batch's (all ranks together).

        Args:
            x: (N, x_dim) raw ``h_t``, detached.
            y: (N, y_dim) raw ``h_v``, detached.
        """
        x, y = x.double(), y.double()
        stats = torch.cat([x.new_tensor([x.shape[0]]), x.sum(0), (x * x).sum(0),
                           y.sum(0), (y * y).sum(0)])
        if _world_size() > 1:
            dist.all_reduce(stats)
        count = stats[0].item()
        if count < 2:
            return  # a variance needs two rows
        x_dim, y_dim = x.shape[-1], y.shape[-1]
        x_sum, x_sq, y_sum, y_sq = stats[1:].split([x_dim, x_dim, y_dim, y_dim])
        updates = []
        for total, squares in ((x_sum, x_sq), (y_sum, y_sq)):
            mean = total / count
            # Unbiased, as BatchNorm's running variance.
            var = ((squares - count * mean * mean) / (count - 1)).clamp(min=0)
            updates += [mean, var]
        momentum = 1.0 if self.num_stat_updates.item() == 0 else self.momentum
        for buf, value in zip((self.x_mean, self.x_var, self.y_mean, self.y_var), updates):
            buf.lerp_(value.to(buf.dtype), momentum)
        self.num_stat_updates += 1

    def estimator_optimizer(self) -> torch.optim.Optimizer:
        """q's own optimizer, built on first use and re-bound when q's weights were
        replaced (``.to()`` / ``.half()`` give buffers new tensor objects); a state loaded
        with the checkpoint (:meth:`set_extra_state`) is restored into it."""
        weights = list(self.estimator_weights().values())
        bound = self._optimizer is not None and len(
            self._optimizer.param_groups[0]['params']) == len(weights) and all(
                a is b for a, b in zip(self._optimizer.param_groups[0]['params'], weights))
        if not bound:
            state = (self._optimizer.state_dict() if self._optimizer is not None
                     else self._pending_optimizer_state)
            self._optimizer = OPTIMIZERS.build(dict(self.estimator_optimizer_cfg,
                                                    params=weights))
            if state is not None:
                # load_state_dict casts the moments to each weight's device and dtype.
                self._optimizer.load_state_dict(state)
            self._pending_optimizer_state = None
        return self._optimizer

    def fit_estimator(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``estimator_steps`` updates of q on detached pairs; returns the last ``L_q``.

        Args:
            x: (N, x_dim) standardised ``h_t`` (detached here).
            y: (N, y_dim) standardised ``h_v`` (detached here).

        Returns:
            Scalar ``L_q`` (detached) of this rank's rows before the last update (0 when
            N = 0; the current one when ``estimator_steps`` is 0).
        """
        weights = self.estimator_weights()
        dtype = next(iter(weights.values())).dtype
        x, y = x.detach().to(dtype), y.detach().to(dtype)
        num_rows = x.shape[0]
        if self.estimator_steps == 0:
            with torch.no_grad():
                return (-self.log_likelihood(x, y) if num_rows
                        else x.new_zeros(()))
        optimizer = self.estimator_optimizer()
        distributed = _world_size() > 1
        nll = x.new_zeros(())
        with torch.autocast(device_type=x.device.type, enabled=False), torch.enable_grad():
            for _ in range(self.estimator_steps):
                trainable = {k: w.detach().requires_grad_() for k, w in weights.items()}
                if num_rows:
                    nll = -self.log_likelihood(x, y, trainable)
                    grads = torch.autograd.grad(nll, list(trainable.values()))
                else:
                    grads = [torch.zeros_like(w) for w in weights.values()]
                if distributed:
                    # One all-reduce of (row-weighted gradients, rows): the gradient of
                    # the global mean, identical on every rank.
                    # float32 at least: a bf16 row count would round above 256.
                    flat = torch.cat([g.flatten().float() * num_rows for g in grads]
                                     + [x.new_tensor([num_rows], dtype=torch.float32)])
                    dist.all_reduce(flat)
                    total = flat[-1].item()
                    if total == 0:
                        continue
                    grads = [g.view_as(w).to(w.dtype) for g, w in zip(
                        (flat[:-1] / total).split([w.numel() for w in weights.values()]),
                        weights.values())]
                elif num_rows == 0:
                    continue
                for weight, grad in zip(weights.values(), grads):
                    weight.grad = grad
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        return nll.detach()

    # ------------------------------------------------------------------ checkpoints
    def get_extra_state(self) -> torch.Tensor:
        """q's optimizer state, serialised into a uint8 tensor (saved as
        ``<prefix>_extra_state``); empty before any update.

        A tensor rather than the optimizer's nested dict: MMEngine's strategies broadcast
        every state-dict value at start-up and accept only tensors (a ``None`` or a
        Python number inside fails), and ``weights_to_cpu`` moves it like any weight.
        """
        state = (self._optimizer.state_dict() if self._optimizer is not None
                 else self._pending_optimizer_state)
        if state is None:
            return torch.zeros(0, dtype=torch.uint8)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)

    def set_extra_state(self, state: torch.Tensor) -> None:
        """Restore q's optimizer state from :meth:`get_extra_state`'s tensor (applied
        when the optimizer is next built)."""
        self._optimizer = None
        self._pending_optimizer_state = None
        if state.numel():
            # Only tensors and plain Python values inside: the safe loader suffices.
            self._pending_optimizer_state = torch.load(
                io.BytesIO(state.cpu().numpy().tobytes()), map_location='cpu',
                weights_only=True)

    def estimator_optimizer_state(self) -> Optional[dict]:
        """q's optimizer ``state_dict()`` (None before any update or restore)."""
        return (self._optimizer.state_dict() if self._optimizer is not None
                else self._pending_optimizer_state)

    # ------------------------------------------------------------------ forward
    def forward(self, text_prompt: torch.Tensor,
                visual_prompt: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Update q (training mode), then the bound with q fixed, for one batch of ``[SEG]``.

        Args:
            text_prompt: ``x = h_t``, (N, x_dim).
            visual_prompt: ``y = h_v``, (N, y_dim), paired with ``text_prompt`` by row.

        Returns:
            dict with
            - ``loss_mi``: scalar, ``loss_weight * I`` (or ``max(I, 0)``); gradient to
              both inputs only. 0 (connected to the inputs) when N < 2: a bound needs
              pairs.
            - ``mi_estimate``: scalar, detached ``I`` (unweighted) for logging.
            - ``club_nll``: scalar, detached ``L_q`` of the last estimator update (the
              current ``L_q`` in eval mode) for logging; no ``loss`` in the name, so
              MMEngine does not add it to the total loss.
        """
        dtype = next(iter(self.estimator_weights().values())).dtype
        x = text_prompt.to(dtype)
        y = visual_prompt.to(dtype)
        if self.training:
            if self.standardize == 'running':
                self.update_running_stats(x.detach(), y.detach())
            x_std, y_std = self.standardized(x, y)
            club_nll = self.fit_estimator(x_std, y_std)
        else:
            x_std, y_std = self.standardized(x, y)
            with torch.no_grad():
                club_nll = (-self.log_likelihood(x_std, y_std) if x.shape[0]
                            else x.new_zeros(()))
        num_samples = x.shape[0]
        if num_samples < 2:
            bound = 0.0 * (x_std.sum() + y_std.sum())
        else:
            mu, logvar = self.mu_logvar(x_std)
            perm = (torch.randperm(num_samples, device=x.device)
                    if self.use_sampled(num_samples) else None)
            bound = club_upper_bound(mu, logvar, y_std, perm)
        minimised = bound.clamp(min=0) if self.nonnegative else bound
        return dict(
            loss_mi=self.loss_weight * minimised,
            mi_estimate=bound.detach(),
            club_nll=club_nll.detach())
