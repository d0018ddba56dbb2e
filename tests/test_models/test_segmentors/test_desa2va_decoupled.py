"""DeSa2VA proper: phases, frozen sets, loss switches, re-prompting, zero-[SEG] batches."""
import copy

import pytest
import torch
from mmengine.registry import init_default_scope

from conftest import build_batch, load_tiny_cfg


def _build(cfg_model):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    init_default_scope('desa2va_mm')
    torch.manual_seed(0)
    return MODELS.build(cfg_model)


@pytest.fixture
def phase_cfgs(synthetic_refcoco):
    return {p: load_tiny_cfg(synthetic_refcoco, f'configs/desa2va/desa2va_tiny_{p}.py')
            for p in ('pretrain', 'decouple', 'fusion')}


def _train_steps(model, cfg, steps=2):
    data, _ = build_batch(cfg, 'train_dataloader', indices=(0, 1))
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model.train()
    last = None
    for _ in range(steps):
        batch = model.data_preprocessor(data, training=True)
        losses = model(**batch, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        opt.zero_grad()
        loss.backward()
        opt.step()
        last = losses
    return last


def _changed(model, before):
    return {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}


def _prefixes(names):
    """``mllm``, ``grounding_encoder`` or the seg head's part (``seg_head.neck.text_proj``,
    ``seg_head.visual_head`` ...) of each parameter name."""
    def part(name):
        parts = name.split('.')
        if parts[0] != 'seg_head':
            return parts[0]
        return '.'.join(parts[:3] if parts[1] == 'neck' else parts[:2])
    return {part(n) for n in names}


def test_phase1_trains_only_anchor_proj_and_text_head(phase_cfgs):
    cfg = phase_cfgs['pretrain']
    # As docs/method.md §11: a frozen (pretrained) SAM-2 image encoder in phase 1.
    cfg.model.grounding_encoder.freeze_image_encoder = True
    model = _build(cfg.model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = _train_steps(model, cfg)
    assert set(losses) == {'loss_mask_text'}
    assert _prefixes(_changed(model, before)) == {'seg_head.neck.anchor_proj',
                                                  'seg_head.text_head'}
    # The tiny phase 1 leaves the MLLM out of frozen_modules (stage 0 has none to load):
    # it never receives a gradient.
    assert all(p.grad is None for p in model.mllm.parameters())


def test_phase2_keeps_text_head_and_anchor_bit_identical(phase_cfgs):
    cfg = phase_cfgs['decouple']
    cfg.model.grounding_encoder.freeze_image_encoder = True
    model = _build(cfg.model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    q_before = {k: w.clone() for k, w in model.seg_head.club_loss.estimator_weights().items()}
    _train_steps(model, cfg)
    changed = _changed(model, before)
    prefixes = _prefixes(changed)
    assert not any(n.startswith(('seg_head.text_head.', 'seg_head.neck.anchor_proj.'))
                   for n in changed)
    assert {'mllm', 'seg_head.neck.text_proj', 'seg_head.neck.visual_proj',
            'seg_head.visual_head', 'seg_head.fusion', 'seg_head.adversarial_loss'} <= prefixes
    # CLUB's q trains with its own optimizer inside the forward (its weights are buffers).
    assert any(not torch.equal(w, q_before[k])
               for k, w in model.seg_head.club_loss.estimator_weights().items())
    assert 'grounding_encoder' not in prefixes


def test_loss_keys_separate_and_each_switchable(phase_cfgs):
    base = phase_cfgs['fusion']
    model = _build(base.model)
    data, _ = build_batch(base, 'train_dataloader', indices=(0, 1))
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    expected = {'loss_lm', 'loss_mask_text', 'loss_mask_visual', 'loss_mask_fused',
                'loss_mask_reprompt', 'loss_adv', 'loss_mi'}
    assert expected <= set(losses)
    assert {'acc_text_disc', 'acc_visual_disc', 'mi_estimate', 'club_nll'} <= set(losses)
    # The --cfg-options of docs/method.md §13, merged as the tools merge them.
    switches = {
        'loss_adv': {'model.seg_head.adversarial_loss': None},
        'loss_mi': {'model.seg_head.club_loss': None},
        'loss_mask_fused': {'model.seg_head.fusion': None},
        'loss_mask_reprompt': {'model.train_cfg.reprompt_iters': 0},
        'loss_mask_text': {'model.seg_head.mask_loss_weights.text': 0.0},
    }
    for key, change in switches.items():
        cfg = copy.deepcopy(base)
        cfg.merge_from_dict(change)
        model = _build(cfg.model)
        out = model(**model.data_preprocessor(data, True), mode='loss')
        assert key not in out, key
        rest = expected - {key}
        assert rest <= set(out), (key, set(out))
        sum(v for k, v in out.items() if 'loss' in k).backward()


def test_dense_prompt_changes_visual_output_and_reprompt_loss_reaches_visual_head(
        phase_cfgs):
    cfg = phase_cfgs['fusion']
    model = _build(cfg.model)
    data, _ = build_batch(cfg, 'train_dataloader', indices=(0, ))
    batch = model.data_preprocessor(data, True)
    out = model(**batch, mode='tensor')
    assert not torch.allclose(out.reprompt_logits, out.visual_logits)
    # Only the re-prompt loss: the visual head still gets gradients through M_r.
    cfg_model = copy.deepcopy(cfg.model)
    cfg_model.seg_head.update(
        mask_loss_weights=dict(text=0.0, visual=0.0, fused=0.0, reprompt=1.0),
        adversarial_loss=None, club_loss=None)
    cfg_model.update(loss_lm_weight=0.0)
    model = _build(cfg_model)
    losses = model(**model.data_preprocessor(data, True), mode='loss')
    assert set(k for k in losses if k.startswith('loss_mask')) == {'loss_mask_reprompt'}
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    grad = model.seg_head.visual_head.decoder.output_hypernetworks_mlps[0].layers[0] \
        .weight.grad
    assert grad is not None and grad.abs().sum() > 0
    # The fused mask enters as a detached prompt: the gate gets no gradient from M_r.
    gate_grad = model.seg_head.fusion.gate[0].weight.grad
    assert gate_grad is None or gate_grad.abs().sum() == 0


def test_zero_seg_batch_runs_same_graph_with_zero_losses(phase_cfgs):
    cfg = phase_cfgs['decouple']
    data, _ = build_batch(cfg, 'train_dataloader', indices=(0, ))

    def params_with_grad(strip_seg):
        model = _build(cfg.model)
        batch = model.data_preprocessor(copy.deepcopy(data), True)
        if strip_seg:
            ids = batch['inputs']['input_ids']
            ids[ids == model.mllm.seg_token_id] = model.mllm.tokenizer.unk_token_id
            batch['data_samples'][0].gt_instances = batch['data_samples'][0].gt_instances[:0]
        losses = model(**batch, mode='loss')
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        return losses, {n for n, p in model.named_parameters() if p.grad is not None}

    losses, dummy_params = params_with_grad(True)
    for key in ('loss_mask_visual', 'loss_mask_fused', 'loss_adv', 'loss_mi'):
        assert float(losses[key]) == 0.0, key
    _, normal_params = params_with_grad(False)
    # DDP needs the same parameters used on every rank, whatever the batch holds.
    assert dummy_params == normal_params


def test_predict_every_phase_and_reprompt_iou_threshold(phase_cfgs):
    for phase, cfg in phase_cfgs.items():
        model = _build(cfg.model).eval()
        data, dataset = build_batch(cfg, 'test_dataloader', indices=(0, ))
        sample = model.test_step(data)[0]
        info = dataset.get_data_info(0)
        n = sum(len(o['sentences']) for o in info['instances'])
        assert tuple(sample.pred_instances.masks.shape) == (n, info['height'], info['width'])
    # With an impossible threshold, re-prompting is skipped: final == fused.
    cfg_model = copy.deepcopy(phase_cfgs['fusion'].model)
    cfg_model.test_cfg.reprompt_iou_threshold = 2.0
    model = _build(cfg_model).eval()
    data, _ = build_batch(phase_cfgs['fusion'], 'train_dataloader', indices=(0, ))
    batch = model.data_preprocessor(data, True)
    with torch.no_grad():
        out = model(**batch, mode='tensor')
    assert torch.equal(out.final_logits, out.fused_logits)


def test_invalid_combinations_are_clear_errors(phase_cfgs):
    # The Sa2VA head's keys do not exist on DeSa2VA's: the error names the key.
    cfg_model = copy.deepcopy(phase_cfgs['decouple'].model)
    cfg_model.seg_head.update(mask_head=dict(type='SAM2MaskHead'))
    with pytest.raises(TypeError, match="DecoupledSegHead.*unexpected keyword.*'mask_head'"):
        _build(cfg_model)
    cfg_model = copy.deepcopy(phase_cfgs['decouple'].model)
    cfg_model.update(frozen_modules=['seg_head.neck.nope'])
    with pytest.raises(ValueError, match='seg_head.neck.nope'):
        _build(cfg_model)
    cfg_model = copy.deepcopy(phase_cfgs['decouple'].model)
    cfg_model.update(train_phase='phase4')
    with pytest.raises(ValueError, match='train_phase'):
        _build(cfg_model)


def test_train_and_eval_pick_the_models_train_cfg_and_test_cfg(phase_cfgs):
    """No runner: ``model.train()`` / ``model.eval()`` alone switch re-prompting."""
    cfg_model = copy.deepcopy(phase_cfgs['fusion'].model)
    cfg_model.train_cfg = dict(reprompt_iters=1)
    cfg_model.test_cfg = dict(reprompt_iters=0)
    model = _build(cfg_model)
    assert model.train_cfg is model.seg_head.train_cfg == {'reprompt_iters': 1}
    assert model.test_cfg is model.seg_head.test_cfg == {'reprompt_iters': 0,
                                                         'reprompt_iou_threshold': None}
    data, _ = build_batch(phase_cfgs['fusion'], 'train_dataloader', indices=(0, ))
    batch = model.data_preprocessor(data, True)
    with torch.no_grad():
        trained = model.train()(**batch, mode='tensor')
        evaluated = model.eval()(**batch, mode='tensor')
        again = model.train()(**batch, mode='tensor')
    assert trained.reprompt_logits is not None
    assert torch.equal(trained.final_logits, trained.reprompt_logits)
    assert evaluated.reprompt_logits is None
    assert torch.equal(evaluated.final_logits, evaluated.fused_logits)
    assert torch.equal(again.final_logits, trained.final_logits)
    # The seg head gets its settings from the model only.
    cfg_model.seg_head.test_cfg = dict(reprompt_iters=1)
    with pytest.raises(ValueError, match=r'model.seg_head.test_cfg: .*set model.test_cfg'):
        _build(cfg_model)

