"""RepromptHook: the seg head's re-prompting iterations per loop (train / val / test)."""
from types import SimpleNamespace

import pytest

from desa2va_mm.engine.hooks import RepromptHook


def _runner():
    head = SimpleNamespace(reprompt_iters_train=5, reprompt_iters_test=5,
                           reprompt_iou_threshold=None)
    return SimpleNamespace(model=SimpleNamespace(seg_head=head)), head


def test_each_loop_gets_its_iterations_and_validation_restores_the_test_value():
    runner, head = _runner()
    hook = RepromptHook(train_iters=1, val_iters=2, test_iters=3, iou_threshold=0.4)
    hook.before_train(runner)
    assert (head.reprompt_iters_train, head.reprompt_iters_test) == (1, 3)
    assert head.reprompt_iou_threshold == 0.4
    hook.before_val(runner)
    assert head.reprompt_iters_test == 2
    hook.after_val(runner)
    assert head.reprompt_iters_test == 3
    hook.before_test(runner)
    assert head.reprompt_iters_test == 3


def test_a_head_without_re_prompting_is_a_clear_error():
    runner = SimpleNamespace(model=SimpleNamespace(seg_head=SimpleNamespace()))
    with pytest.raises(TypeError, match="DecoupledSegHead.*remove the hook"):
        RepromptHook().before_train(runner)
    with pytest.raises(ValueError, match='train_iters must be a non-negative int'):
        RepromptHook(train_iters=-1)
