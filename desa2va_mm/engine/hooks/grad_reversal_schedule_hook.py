"""Ramp the gradient-reversal strength of the adversarial loss over training."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from desa2va_mm.registry import HOOKS


@HOOKS.register_module()
class GradReversalScheduleHook(Hook):
    """Feed training progress ``iter / max_iters`` to the seg head's ``ModalityAdversarialLoss``.

    The loss maps progress to the reversal strength lambda with its ``lambda_schedule``
    (``'dann'``: ``2 / (1 + exp(-10 p)) - 1``, which keeps the reversed gradient small while
    the discriminators are still random). A model without an adversarial loss is left alone,
    so the hook can stay in configs whose ablation switches the loss off.
    """

    priority = 'NORMAL'

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        loss = getattr(getattr(model, 'seg_head', None), 'adversarial_loss', None)
        if loss is not None:
            loss.set_progress(runner.iter / max(runner.max_iters, 1))
