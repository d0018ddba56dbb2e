"""DecoupledSegHead re-prompting: the model's train_cfg / test_cfg, chosen by train() / eval()."""
import re

import pytest
import torch

from seg_head_fixtures import HIDDEN, image_feats, seg_head, tiny_grounding

HEAD = dict(
    type='DecoupledSegHead',
    text_head=dict(type='SAM2TextHead', multimask_output=False),
    visual_head=dict(type='SAM2VisualHead', multimask_output=False),
    fusion=dict(type='MaskFusion', hidden_channels=8))


@pytest.fixture(scope='module')
def grounding():
    return tiny_grounding()


@pytest.fixture(scope='module')
def feats(grounding):
    return image_feats(grounding)


def _head(grounding, **settings):
    return seg_head(grounding, **HEAD, **settings)


def _decode(head, grounding, feats, first_iou=None, later_iou=None):
    """Decode 3 ``[SEG]`` states; count the visual head's calls.

    ``first_iou`` / ``later_iou`` (3 floats each) replace the predicted IoU of the first
    visual decode / of every re-prompting decode (a hand-made score).
    """
    calls = []

    def hook(module, args, out):
        calls.append(1)
        iou = first_iou if len(calls) == 1 else later_iou
        if iou is None:
            return None
        out = dict(out)
        out['iou_pred'] = torch.tensor(iou).to(out['iou_pred'])
        return out

    handle = head.visual_head.register_forward_hook(hook)
    hidden = torch.randn(3, HIDDEN, generator=torch.Generator().manual_seed(2)) * 3
    try:
        with torch.no_grad():
            result = head.decode(grounding, feats, hidden, torch.tensor([0, 1, 1]))
    finally:
        handle.remove()
    return result, len(calls)


def test_defaults_and_the_mode_picks_the_settings(grounding):
    head = _head(grounding)
    assert head.train_cfg == {'reprompt_iters': 0}
    assert head.test_cfg == {'reprompt_iters': 1, 'reprompt_iou_threshold': None}
    assert head.train().settings is head.train_cfg
    assert head.eval().settings is head.test_cfg
    head = _head(grounding, train_cfg=dict(reprompt_iters=2),
                 test_cfg=dict(reprompt_iou_threshold=0.7))
    assert head.train_cfg == {'reprompt_iters': 2}
    assert head.test_cfg == {'reprompt_iters': 1, 'reprompt_iou_threshold': 0.7}


def test_no_reprompt_at_test_outputs_the_fused_mask(grounding, feats):
    head = _head(grounding, test_cfg=dict(reprompt_iters=0)).eval()
    result, visual_calls = _decode(head, grounding, feats)
    assert visual_calls == 1  # D_v once, no re-prompting decode
    assert result.reprompt_logits is None
    assert torch.equal(result.final_logits, result.fused_logits)
    assert list(result.branch_logits()) == ['text', 'visual', 'fused']


def test_one_reprompt_at_test_outputs_the_reprompted_mask(grounding, feats):
    head = _head(grounding, test_cfg=dict(reprompt_iters=1)).eval()
    result, visual_calls = _decode(head, grounding, feats)
    assert visual_calls == 2
    assert result.reprompt_logits is not None
    assert torch.equal(result.final_logits, result.reprompt_logits)
    assert (result.final_logits - result.fused_logits).abs().max() > 1e-3


def test_threshold_keeps_masks_whose_first_iou_is_below_it(grounding, feats):
    first, later = [0.2, 0.5, 0.9], [0.0, 0.0, 0.0]  # later scores would skip all three
    plain, _ = _decode(_head(grounding).eval(), grounding, feats, first, later)
    head = _head(grounding, test_cfg=dict(reprompt_iou_threshold=0.5)).eval()
    result, visual_calls = _decode(head, grounding, feats, first, later)
    assert visual_calls == 2
    # Row 0 (0.2 < 0.5) keeps its fused mask; rows 1 (0.5, not below) and 2 re-prompt.
    assert torch.equal(result.final_logits[0], result.fused_logits[0])
    assert torch.equal(result.final_logits[1:], plain.reprompt_logits[1:])
    assert not torch.equal(result.final_logits[0], plain.reprompt_logits[0])
    assert torch.equal(result.reprompt_logits, result.final_logits)


def test_training_mode_reads_train_cfg_and_no_threshold(grounding, feats):
    head = _head(grounding, train_cfg=dict(reprompt_iters=2),
                 test_cfg=dict(reprompt_iters=0, reprompt_iou_threshold=2.0))
    result, visual_calls = _decode(head.train(), grounding, feats)
    assert visual_calls == 3  # D_v + two re-prompting decodes
    # The threshold (above any IoU) is a test setting: training re-prompts every mask.
    assert torch.equal(result.final_logits, result.reprompt_logits)
    assert (result.final_logits - result.fused_logits).abs().max() > 1e-3
    result, visual_calls = _decode(head.eval(), grounding, feats)
    assert visual_calls == 1 and result.reprompt_logits is None
    off = _head(grounding, train_cfg=dict(reprompt_iters=0)).train()
    result, visual_calls = _decode(off, grounding, feats)
    assert visual_calls == 1 and torch.equal(result.final_logits, result.fused_logits)


@pytest.mark.parametrize('old,new', [
    ('reprompt_iters_train', 'model.train_cfg.reprompt_iters'),
    ('reprompt_iters_test', 'model.test_cfg.reprompt_iters'),
    ('reprompt_iou_threshold', 'model.test_cfg.reprompt_iou_threshold'),
])
def test_removed_arguments_fail_naming_the_new_key(grounding, old, new):
    with pytest.raises(TypeError, match=re.escape(f'model.seg_head.{old} -> {new}')):
        _head(grounding, **{old: 0})


def test_unknown_and_invalid_settings_fail_naming_the_key(grounding):
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['reprompt'\]"):
        _head(grounding, reprompt=1)
    with pytest.raises(ValueError, match=re.escape(
            "model.train_cfg.reprompt_iou_threshold: DecoupledSegHead has no such setting "
            "(model.train_cfg keys: ['reprompt_iters'])")):
        _head(grounding, train_cfg=dict(reprompt_iou_threshold=0.5))
    with pytest.raises(ValueError, match=re.escape(
            "model.test_cfg.iters: DecoupledSegHead has no such setting (model.test_cfg "
            "keys: ['reprompt_iou_threshold', 'reprompt_iters'])")):
        _head(grounding, test_cfg=dict(iters=0))
    for bad in (-1, 1.0, True):
        with pytest.raises(ValueError, match=r'model.test_cfg.reprompt_iters must be an int'):
            _head(grounding, test_cfg=dict(reprompt_iters=bad))
    with pytest.raises(ValueError, match=r'model.train_cfg.reprompt_iters must be an int'):
        _head(grounding, train_cfg=dict(reprompt_iters=-2))
    with pytest.raises(ValueError, match=r'reprompt_iou_threshold must be a number or None'):
        _head(grounding, test_cfg=dict(reprompt_iou_threshold='0.5'))
