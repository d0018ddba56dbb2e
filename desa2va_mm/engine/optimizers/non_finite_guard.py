"""The step-skipping logic shared by the non-finite-guard optimizer wrappers.

Not registered: :class:`NonFiniteGuardOptimWrapper` (fp32 / bf16) and
:class:`NonFiniteGuardAmpOptimWrapper` (fp16 with a loss scaler) mix it into MMEngine's
``OptimWrapper`` / ``AmpOptimWrapper``.
"""
import weakref
from contextlib import contextmanager
from typing import Dict, List, Optional

import torch
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.logging import MessageHub, print_log
from mmengine.model import is_model_wrapper
from torch import nn

#: How many parameter names a skip message lists before "...".
_MAX_NAMES = 8


class NonFiniteStepsError(RuntimeError):
    """Raised after ``max_consecutive_bad_steps`` optimizer steps in a row were skipped."""


def _describe(value: torch.Tensor) -> str:
    value = value.detach().float()
    if value.numel() == 1:
        return f'{value.item()}'
    return f'{int((~torch.isfinite(value)).sum())} of {value.numel()} values non-finite'


class NonFiniteGuardMixin:
    """Skip optimizer steps whose loss or gradients hold NaN / Inf.

    ``update_params`` always runs ``backward`` (under DDP every rank must join the
    gradient all-reduce), then, when the accumulation window is complete, decides:

    * bad when the summed loss of any micro-batch in the window was non-finite, or (with
      ``check_grads``) any parameter gradient is non-finite;
    * the flag is all-reduced with ``max`` so every rank skips the same step (a NaN on
      one rank would otherwise desynchronise the replicas);
    * a bad step zeroes the gradients without calling ``optimizer.step``: parameters and
      optimizer state (Adam moments, step counts) stay exactly as they were. The learning
      rate schedule still advances (the iteration happened).

    Each skip is logged (WARNING) with the iteration, the loss terms that were
    non-finite (read from the model's ``parse_losses`` output) and up to 8 parameters
    with non-finite gradients. After ``max_consecutive_bad_steps`` skips in a row
    training stops with :class:`NonFiniteStepsError`: a diverged run should fail
    loudly, not idle.

    Args:
        max_consecutive_bad_steps: Skipped steps in a row that end training (>= 1).
        check_grads: Also inspect the gradients (one ``isfinite`` per parameter; the
            fp16 wrapper leaves that to its loss scaler, which skips overflowing steps
            and lowers the scale itself).
    """

    def _init_guard(self, max_consecutive_bad_steps: int, check_grads: bool) -> None:
        if not isinstance(max_consecutive_bad_steps, int) or max_consecutive_bad_steps < 1:
            raise ValueError('max_consecutive_bad_steps must be an int >= 1, got '
                             f'{max_consecutive_bad_steps!r}')
        self.max_consecutive_bad_steps = max_consecutive_bad_steps
        self.check_grads = check_grads
        #: Steps skipped in a row / in total (this process, since it started).
        self.consecutive_bad_steps = 0
        self.skipped_steps = 0
        self._window_bad_terms: List[str] = []
        self._window_bad_loss = False
        self._last_loss_terms: Optional[Dict[str, torch.Tensor]] = None
        self._param_names: Dict[int, str] = {}

    # -- seeing the loss terms ------------------------------------------------------
    @contextmanager
    def optim_context(self, model: nn.Module):
        self._watch(model)
        with super().optim_context(model):
            yield

    def _watch(self, model: nn.Module) -> None:
        """Record the model's per-term losses and parameter names (once per model).

        ``update_params`` only receives the summed loss; ``train_step`` computes the
        terms with ``parse_losses`` right before calling it, so the guard wraps that
        method on the model instance to keep the latest ``log_vars``.
        """
        module = model.module if is_model_wrapper(model) else model
        if getattr(module, '_non_finite_guard', None) is self:
            return
        self._param_names = {id(p): name for name, p in module.named_parameters()}
        parse_losses = getattr(module, 'parse_losses', None)
        if parse_losses is None:
            return
        original = getattr(parse_losses, '__wrapped_by_guard__', parse_losses)
        guard_ref = weakref.ref(self)

        def guarded_parse_losses(losses):
            parsed, log_vars = original(losses)
            guard = guard_ref()
            if guard is not None:
                guard._last_loss_terms = dict(log_vars)
            return parsed, log_vars

        guarded_parse_losses.__wrapped_by_guard__ = original
        # Instance attributes; nn.Module keeps plain callables as ordinary attributes.
        module.parse_losses = guarded_parse_losses
        module._non_finite_guard = self

    # -- the step ---------------------------------------------------------------------
    def update_params(self,
                      loss: torch.Tensor,
                      step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        step_kwargs = step_kwargs or {}
        zero_kwargs = zero_kwargs or {}
        if not bool(torch.isfinite(loss.detach()).all()):
            self._window_bad_loss = True
            terms = self._last_loss_terms or {}
            bad = [f'{k}={_describe(v)}' for k, v in terms.items()
                   if isinstance(v, torch.Tensor) and not bool(torch.isfinite(v).all())]
            self._window_bad_terms += bad or [f'loss={_describe(loss)}']
        self._last_loss_terms = None
        loss = self.scale_loss(loss)
        self.backward(loss)
        if not self.should_update():
            return
        bad_grads = [] if self._window_bad_loss or not self.check_grads \
            else self._non_finite_grads()
        local_bad = self._window_bad_loss or bool(bad_grads)
        flag = torch.tensor([1.0 if local_bad else 0.0])
        if get_world_size() > 1:
            all_reduce(flag, op='max')  # every rank skips the same step
        if flag.item() > 0:
            self.zero_grad(**zero_kwargs)
            self._skipped(local_bad, bad_grads)
        else:
            self.step(**step_kwargs)
            self.zero_grad(**zero_kwargs)
            self.consecutive_bad_steps = 0
        self._window_bad_loss = False
        self._window_bad_terms = []

    def _non_finite_grads(self) -> List[str]:
        params = [p for group in self.optimizer.param_groups for p in group['params']
                  if p.grad is not None]
        if not params:
            return []
        # One host synchronisation for the whole model (a per-parameter bool() waits on
        # the device once per parameter); names only when something is wrong.
        finite = torch.stack([torch.isfinite(p.grad).all().to(params[0].grad.device)
                              for p in params])
        if bool(finite.all()):
            return []
        return [self._param_names.get(id(p), f'<param {tuple(p.shape)}>')
                for p, ok in zip(params, finite.tolist()) if not ok]

    def _skipped(self, local_bad: bool, bad_grads: List[str]) -> None:
        self.consecutive_bad_steps += 1
        self.skipped_steps += 1
        hub = MessageHub.get_current_instance()
        iteration = hub.get_info('iter')
        where = f'iteration {iteration + 1}' if iteration is not None else 'this step'
        if self._window_bad_terms:
            reason = 'non-finite loss terms: ' + ', '.join(self._window_bad_terms)
        elif bad_grads:
            shown = ', '.join(bad_grads[:_MAX_NAMES])
            more = f' (+{len(bad_grads) - _MAX_NAMES} more)' \
                if len(bad_grads) > _MAX_NAMES else ''
            reason = (f'non-finite gradients in {len(bad_grads)} parameters: '
                      f'{shown}{more}')
        else:
            reason = 'another rank had a non-finite loss or gradient'
        rank = f' [rank {get_rank()}]' if get_world_size() > 1 else ''
        message = (f'NonFiniteGuard{rank}: skipped the optimizer step at {where} '
                   f'({reason}); {self.consecutive_bad_steps}/'
                   f'{self.max_consecutive_bad_steps} consecutive bad steps, '
                   f'{self.skipped_steps} skipped in total')
        hub.update_info('skipped_steps', self.skipped_steps)
        if self.consecutive_bad_steps >= self.max_consecutive_bad_steps:
            raise NonFiniteStepsError(
                message + '. Stopping: the loss diverged. Lower the learning rate, '
                'check the data, or raise optim_wrapper.max_consecutive_bad_steps.')
        print_log(message, logger='current', level=30)
