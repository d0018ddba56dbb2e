"""Switch DeSa2VA's mask re-prompting per stage (train / val / test)."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from desa2va_mm.registry import HOOKS


@HOOKS.register_module()
class RepromptHook(Hook):
    """Set how many times the fused mask re-prompts the visual head (docs/method.md §6).

    Before training / validation / testing it sets the seg head's ``reprompt_iters_train``
    and ``reprompt_iters_test`` (validation and testing may differ: the test value is
    restored after each validation), and ``reprompt_iou_threshold`` (a
    ``DecoupledSegHead``'s settings).

    Args:
        train_iters: Re-prompting iterations in training (0 off; phase 3 uses >= 1).
        val_iters: Iterations during validation.
        test_iters: Iterations during testing (1 by default, the paper's setting).
        iou_threshold: Skip re-prompting a mask whose first predicted IoU is below this
            (None: always re-prompt).
    """

    priority = 'NORMAL'

    def __init__(self, train_iters: int = 0, val_iters: int = 1, test_iters: int = 1,
                 iou_threshold: Optional[float] = None) -> None:
        for name, value in (('train_iters', train_iters), ('val_iters', val_iters),
                            ('test_iters', test_iters)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f'{name} must be a non-negative int, got {value!r}')
        self.train_iters = train_iters
        self.val_iters = val_iters
        self.test_iters = test_iters
        self.iou_threshold = iou_threshold

    @staticmethod
    def _seg_head(runner):
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        head = getattr(model, 'seg_head', None)
        for attr in ('reprompt_iters_train', 'reprompt_iters_test'):
            if not hasattr(head, attr):
                raise TypeError(
                    f'RepromptHook needs a model whose seg_head re-prompts ({attr}: a DeSa2VA '
                    f"with seg_head=dict(type='DecoupledSegHead')), got "
                    f'{type(model).__name__} with {type(head).__name__}; remove the hook '
                    'from custom_hooks')
        return head

    def _apply(self, runner, test_iters: int) -> None:
        head = self._seg_head(runner)
        head.reprompt_iters_train = self.train_iters
        head.reprompt_iters_test = test_iters
        head.reprompt_iou_threshold = self.iou_threshold

    def before_train(self, runner) -> None:
        self._apply(runner, self.test_iters)

    def before_val(self, runner) -> None:
        self._apply(runner, self.val_iters)

    def after_val(self, runner) -> None:
        self._apply(runner, self.test_iters)

    def before_test(self, runner) -> None:
        self._apply(runner, self.test_iters)
