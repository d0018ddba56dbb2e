"""Sa2VASegHead: [SEG] -> text_hidden_fcs -> [pad; pad; token] -> one SAM-2 decoder."""
import dataclasses

import pytest
import torch

from seg_head_fixtures import HIDDEN, image_feats, seg_head, tiny_grounding


@pytest.fixture(scope='module')
def grounding():
    return tiny_grounding()


@pytest.fixture
def head(grounding):
    return seg_head(grounding, type='Sa2VASegHead',
                    mask_head=dict(type='SAM2MaskHead', multimask_output=False))


def test_decode_is_the_mask_head_on_the_projected_token(grounding, head):
    feats = image_feats(grounding)
    hidden = torch.randn(3, HIDDEN, generator=torch.Generator().manual_seed(2))
    idx = torch.tensor([0, 1, 1])
    result = head.decode(grounding, feats, hidden, idx)
    assert result.final_logits.shape == (3, 1, 32, 32)
    assert result.iou_pred.shape == result.object_score_logits.shape == (3, )
    assert result.branch_logits() == {}  # no DeSa2VA branches
    assert result.text_prompt is None and result.visual_prompt is None
    token = head.text_hidden_fcs(hidden)
    assert token.shape == (3, 64)  # C: SAM-2's prompt width
    sparse = torch.cat([grounding.padding_prompts(3), token[:, None]], dim=1)
    direct = head.mask_head(feats, sparse, grounding.dense_prompts(3), idx)
    assert torch.equal(result.final_logits, direct['low_res_logits'])
    assert torch.equal(result.mask_tokens, direct['mask_tokens'])
    # Tracked frames carry the same token (or SAM-2's padding only).
    tracked = head.decode_tracked(grounding, feats, head.tracking_prompt(hidden), idx)
    assert torch.equal(tracked.final_logits, result.final_logits)
    bare = head.decode_tracked(grounding, feats, token, idx, with_prompt=False)
    direct = head.mask_head(feats, grounding.padding_prompts(3), grounding.dense_prompts(3),
                            idx)
    assert torch.equal(bare.final_logits, direct['low_res_logits'])


def test_decoder_starts_from_sam2_and_keys_are_sa2va_names(grounding, head):
    assert set(head.sam2_heads()) == {'mask_head'}
    for name, value in grounding.mask_decoder.state_dict().items():
        assert torch.equal(head.mask_head.decoder.state_dict()[name], value), name
    keys = set(head.state_dict())
    assert {'text_hidden_fcs.mlp.0.weight', 'text_hidden_fcs.mlp.2.weight'} <= keys
    assert all(k.startswith(('text_hidden_fcs.', 'mask_head.')) for k in keys)


def test_mask_losses_follow_the_ground_truth(grounding, head):
    feats = image_feats(grounding)
    hidden = torch.randn(2, HIDDEN, generator=torch.Generator().manual_seed(3))
    result = head.decode(grounding, feats, hidden, torch.tensor([0, 1]))
    gt = torch.zeros(2, 64, 64)
    gt[:, 16:48, 16:48] = 1
    losses = head.mask_losses(result, gt)
    assert set(losses) == {'loss_mask', 'loss_dice'}
    # Perfect logits (large inside the ground truth, small outside) cost ~nothing.
    perfect = dataclasses.replace(result, final_logits=torch.nn.functional.interpolate(
        gt[:, None], size=(32, 32)) * 40 - 20)
    good = head.mask_losses(perfect, gt)
    assert good['loss_mask'] < 1e-3 and good['loss_dice'] < 0.05
    assert losses['loss_mask'] > 100 * good['loss_mask']
    assert head.prompt_losses(grounding, result, gt, None) == {}


def test_point_sampled_mask_losses(grounding):
    """With mask_loss_sampler the losses are those of the sampled points (same seed)."""
    from desa2va_mm.models.seg_heads import segmentation_losses
    sampled = seg_head(grounding, type='Sa2VASegHead',
                       mask_head=dict(type='SAM2MaskHead', multimask_output=False),
                       mask_loss_sampler=dict(type='MaskPointSampler', num_points=256))
    assert sampled.mask_loss_sampler.num_points == 256
    result = sampled.decode(grounding, image_feats(grounding),
                            torch.randn(2, HIDDEN, generator=torch.Generator().manual_seed(3)),
                            torch.tensor([0, 1]))
    gt = torch.zeros(2, 64, 64)
    gt[:, 16:48, 16:48] = 1
    torch.manual_seed(5)
    losses = sampled.mask_losses(result, gt)
    torch.manual_seed(5)
    mask, dice = segmentation_losses(result.final_logits, gt, sampled.loss_mask,
                                     sampled.loss_dice, sampled.mask_loss_sampler)
    assert torch.equal(losses['loss_mask'], mask) and torch.equal(losses['loss_dice'], dice)
    full = segmentation_losses(result.final_logits, gt, sampled.loss_mask, sampled.loss_dice)
    assert not torch.equal(mask, full[0])
    losses['loss_mask'].backward()
    assert sampled.text_hidden_fcs.mlp[0].weight.grad.abs().sum() > 0


def test_batch_without_targets_gives_connected_zeros(grounding, head):
    feats = image_feats(grounding, 1)
    result = head.decode(grounding, feats, torch.zeros(1, HIDDEN), torch.tensor([0]))
    losses = head.mask_losses(result, None)
    assert losses['loss_mask'].item() == 0 and losses['loss_dice'].item() == 0
    sum(losses.values()).backward()
    grad = head.mask_head.decoder.iou_token.weight.grad
    assert grad is not None and grad.abs().sum() == 0


@pytest.mark.parametrize('kind,key', [('test_cfg', 'reprompt_iters'),
                                      ('test_cfg', 'reprompt_iou_threshold'),
                                      ('train_cfg', 'reprompt_iters')])
def test_refuses_reprompt_settings_naming_the_key(grounding, kind, key):
    with pytest.raises(ValueError, match=rf"model\.{kind}\.{key}: Sa2VASegHead has no such "
                                         r"setting.*does not re-prompt"):
        seg_head(grounding, type='Sa2VASegHead', **{kind: {key: 0}})
    head = seg_head(grounding, type='Sa2VASegHead', train_cfg={}, test_cfg=None)
    assert head.train_cfg == {} and head.test_cfg == {}
