"""DecoupledSegHead: W_t / W_v, D_t, D_v, fusion, re-prompting and its own losses."""
import pytest
import torch

from seg_head_fixtures import HIDDEN, image_feats, seg_head, tiny_grounding

FULL = dict(
    type='DecoupledSegHead',
    text_head=dict(type='SAM2TextHead', multimask_output=False),
    visual_head=dict(type='SAM2VisualHead', multimask_output=False),
    fusion=dict(type='MaskFusion', hidden_channels=8),
    adversarial_loss=dict(type='ModalityAdversarialLoss', hidden_channels=16),
    club_loss=dict(type='CLUBLoss', hidden_dim=16, estimator='full'),
    train_cfg=dict(reprompt_iters=1), test_cfg=dict(reprompt_iters=1))


@pytest.fixture(scope='module')
def grounding():
    return tiny_grounding()


def _hidden(n, seed=2):
    return torch.randn(n, HIDDEN, generator=torch.Generator().manual_seed(seed)) * 3


def _gt(n):
    gt = torch.zeros(n, 64, 64)
    gt[:, 8:40, 20:60] = 1
    return gt


def test_decode_runs_every_branch_in_order(grounding):
    head = seg_head(grounding, **FULL).train()
    feats = image_feats(grounding)
    hidden, idx = _hidden(3), torch.tensor([0, 1, 1])
    result = head.decode(grounding, feats, hidden, idx)
    assert list(result.branch_logits()) == ['text', 'visual', 'fused', 'reprompt']
    for logits in result.branch_logits().values():
        assert logits.shape == (3, 1, 32, 32)
    h_t, h_v = head.neck(hidden)
    assert torch.equal(result.text_prompt, h_t) and torch.equal(result.visual_prompt, h_v)
    dense = grounding.dense_prompts(3)
    pad = grounding.padding_prompts(3)
    m_t = head.text_head(feats, torch.cat([pad, h_t[:, None]], 1), dense, idx)
    m_v = head.visual_head(feats, torch.cat([pad, h_v[:, None]], 1), dense, idx)
    assert torch.equal(result.text_logits, m_t['low_res_logits'])
    assert torch.equal(result.visual_logits, m_v['low_res_logits'])
    fused, gate = head.fusion(m_t['low_res_logits'], m_v['low_res_logits'])
    assert torch.equal(result.fused_logits, fused) and torch.equal(result.fusion_gate, gate)
    # M_r = D_v(F, [pad; h_v], P(clamp(M_f))): the final mask, and its score.
    m_r = head.visual_head(feats, torch.cat([pad, h_v[:, None]], 1),
                           grounding.dense_prompts(3, fused.detach()), idx)
    assert torch.equal(result.reprompt_logits, m_r['low_res_logits'])
    assert torch.equal(result.final_logits, m_r['low_res_logits'])
    assert torch.equal(result.iou_pred, m_r['iou_pred'])
    # The tracked frames' prompt is h_v.
    assert torch.equal(head.tracking_prompt(hidden), h_v)


def test_switches_change_what_is_final(grounding):
    feats, hidden, idx = image_feats(grounding), _hidden(2), torch.tensor([0, 1])
    no_fusion = seg_head(grounding, **dict(FULL, fusion=None,
                                           train_cfg=dict(reprompt_iters=0))).train()
    result = no_fusion.decode(grounding, feats, hidden, idx)
    assert list(result.branch_logits()) == ['text', 'visual']
    assert torch.equal(result.final_logits, result.visual_logits)
    # At test, a mask whose first IoU is below the threshold keeps its fused mask.
    head = seg_head(grounding, **dict(FULL, test_cfg=dict(
        reprompt_iters=1, reprompt_iou_threshold=2.0))).eval()  # above any IoU
    with torch.no_grad():
        result = head.decode(grounding, feats, hidden, idx)
    assert torch.equal(result.final_logits, result.fused_logits)


def test_mask_losses_one_per_weighted_branch(grounding):
    head = seg_head(grounding, **dict(FULL, mask_loss_weights=dict(visual=0.0, fused=2.0)))
    head.train()
    result = head.decode(grounding, image_feats(grounding), _hidden(2), torch.tensor([0, 1]))
    gt = _gt(2)
    losses = head.mask_losses(result, gt)
    assert set(losses) == {'loss_mask_text', 'loss_mask_fused', 'loss_mask_reprompt'}
    torch.testing.assert_close(losses['loss_mask_fused'],
                               2.0 * head.segmentation_loss(result.fused_logits, gt))
    torch.testing.assert_close(losses['loss_mask_text'],
                               head.segmentation_loss(result.text_logits, gt))
    empty = head.mask_losses(result, None)
    assert set(empty) == set(losses) and all(v.item() == 0 for v in empty.values())
    with pytest.raises(ValueError, match=r"mask_loss_weights.*\['txt'\]"):
        seg_head(grounding, **dict(FULL, mask_loss_weights=dict(txt=1.0)))


def test_every_branch_is_point_sampled_with_a_sampler(grounding):
    from desa2va_mm.models.seg_heads import segmentation_losses
    head = seg_head(grounding, **FULL,
                    mask_loss_sampler=dict(type='MaskPointSampler', num_points=128)).train()
    result = head.decode(grounding, image_feats(grounding), _hidden(2), torch.tensor([0, 1]))
    gt = _gt(2)
    torch.manual_seed(4)
    losses = head.mask_losses(result, gt)
    torch.manual_seed(4)
    for name, logits in result.branch_logits().items():
        mask, dice = segmentation_losses(logits, gt, head.loss_mask, head.loss_dice,
                                         head.mask_loss_sampler)
        assert torch.allclose(losses[f'loss_mask_{name}'], mask + dice), name


def test_prompt_losses_adversarial_and_club(grounding):
    head = seg_head(grounding, **FULL).train()
    result = head.decode(grounding, image_feats(grounding), _hidden(2), torch.tensor([0, 1]))
    gt = _gt(2)
    anchor = head.text_anchor(torch.randn(2, 4, HIDDEN), torch.ones(2, 4, dtype=torch.long))
    assert anchor.shape == (2, 64) and head.needs_text_anchor
    q_before = {k: w.clone() for k, w in head.club_loss.estimator_weights().items()}
    losses = head.prompt_losses(grounding, result, gt, anchor)
    assert {'loss_adv', 'acc_text_disc', 'acc_visual_disc', 'grl_lambda', 'loss_mi',
            'club_nll', 'mi_estimate'} <= set(losses)
    assert not any(k.startswith('loss_club') for k in losses)  # q is not in the total loss
    assert losses['loss_adv'] > 0
    # CLUB's estimator took its own optimizer step on the batch's pairs.
    q_after = {k: w.clone() for k, w in head.club_loss.estimator_weights().items()}
    assert any(not torch.equal(q_before[k], q_after[k]) for k in q_before)
    # Without targets: zeroed prompts, no real samples, every loss term x 0, and the
    # estimator does not fit the dummy prompt.
    empty = head.prompt_losses(grounding, result, None, None)
    assert empty['loss_adv'].item() == 0 and empty['loss_mi'].item() == 0
    assert all(torch.equal(w, q_after[k])
               for k, w in head.club_loss.estimator_weights().items())
    # Nothing to align without the losses.
    bare = seg_head(grounding, **dict(FULL, adversarial_loss=None, club_loss=None))
    assert not bare.needs_text_anchor
    assert bare.prompt_losses(grounding, bare.decode(grounding, image_feats(grounding),
                                                     _hidden(2), torch.tensor([0, 1])),
                              gt, None) == {}


def test_anchor_alignment_pulls_each_text_prompt_to_its_own_anchor(grounding):
    head = seg_head(grounding, **dict(FULL, adversarial_loss=None, club_loss=None,
                                      anchor_align_loss=dict(type='MSELoss',
                                                             loss_weight=2.0))).train()
    assert head.needs_text_anchor
    hidden = _hidden(2).requires_grad_()
    result = head.decode(grounding, image_feats(grounding), hidden, torch.tensor([0, 1]))
    anchor = head.text_anchor(torch.randn(2, 4, HIDDEN), torch.ones(2, 4, dtype=torch.long))
    anchor = anchor.detach().requires_grad_()
    losses = head.prompt_losses(grounding, result, _gt(2), anchor)
    assert set(losses) == {'loss_align'}
    # mmdet's MSELoss: weight x mean over every element, row i against anchor i.
    expected = 2.0 * ((result.text_prompt - anchor) ** 2).mean()
    torch.testing.assert_close(losses['loss_align'], expected)
    swapped = 2.0 * ((result.text_prompt - anchor.flip(0)) ** 2).mean()
    assert not torch.allclose(losses['loss_align'], swapped)
    losses['loss_align'].backward()
    # h_t (through W_t) moves toward the anchor; the anchor is a fixed target.
    assert hidden.grad.abs().sum() > 0 and head.neck.text_proj.weight.grad.abs().sum() > 0
    assert anchor.grad is None
    assert head.neck.visual_proj.weight.grad is None
    # A batch without targets keeps the graph with weight 0; a count mismatch is refused.
    empty = head.prompt_losses(grounding, result, None, None)
    assert empty['loss_align'].item() == 0
    with pytest.raises(ValueError, match='1 text anchors .* for 2 \\[SEG\\] prompts'):
        head.prompt_losses(grounding, result, _gt(2), anchor[:1])


def test_phase1_anchor_decode_is_the_text_branch_only(grounding):
    head = seg_head(grounding, **FULL)
    feats = image_feats(grounding)
    anchor = head.text_anchor(torch.randn(2, 5, HIDDEN))
    result = head.decode_anchor(grounding, feats, anchor, torch.tensor([1, 0]))
    assert list(result.branch_logits()) == ['text']
    assert torch.equal(result.final_logits, result.text_logits)
    assert torch.equal(result.text_prompt, anchor)
    assert head.prompt_losses(grounding, result, _gt(2), anchor) == {}
    zero = head.empty_text_anchor()
    assert zero.shape == (1, 64) and zero.abs().sum() == 0
    zero.sum().backward()
    assert head.neck.anchor_proj.weight.grad is not None  # W_e stays in the graph


def test_sam2_heads_start_from_sam2_and_keys_live_under_the_head(grounding):
    head = seg_head(grounding, **FULL)
    assert set(head.sam2_heads()) == {'text_head', 'visual_head'}
    for sub in head.sam2_heads().values():
        for name, value in grounding.mask_decoder.state_dict().items():
            assert torch.equal(sub.decoder.state_dict()[name], value), name
    prefixes = {k.split('.')[0] for k in head.state_dict()}
    assert prefixes == {'neck', 'text_head', 'visual_head', 'fusion', 'adversarial_loss',
                        'club_loss'}
