"""Config inheritance: leaf configs change only what they declare."""
import os.path as osp

from mmengine.config import Config

from conftest import REPO_ROOT


def _cfg(name):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


def test_tiny_config_inherits_bases_and_overrides_schedule():
    cfg = _cfg('sa2va/sa2va_tiny.py')
    base = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/schedules/iter_adamw.py'))
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == cfg.max_iters != base.train_cfg.max_iters
    # Overridden optimiser keys merge into the base dict (type/betas kept from the base).
    assert cfg.optim_wrapper.optimizer.lr == 3e-4
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.betas == (0.9, 0.999)
    assert cfg.optim_wrapper.clip_grad.max_norm == 1.0
    assert cfg.default_hooks.logger.interval == 20
    assert cfg.default_hooks.timer.type == 'IterTimerHook'  # from the runtime base
    # Sa2VA's BCE x2; the tiny model raises Dice to x2 (documented in the base).
    assert cfg.model.seg_head.type == 'Sa2VASegHead'
    assert cfg.model.seg_head.loss_mask.loss_weight == 2.0
    assert cfg.model.seg_head.loss_dice.loss_weight == 2.0


def test_desa2va_phases_share_the_tiny_backbone_and_differ_where_declared():
    ref = _cfg('sa2va/sa2va_tiny.py')
    phases = {p: _cfg(f'desa2va/desa2va_tiny_{p}.py') for p in ('pretrain', 'decouple', 'fusion')}
    for name, cfg in phases.items():
        # Backbone inherited unchanged from the Sa2VA tiny base.
        assert cfg.model.mllm.to_dict() == ref.model.mllm.to_dict(), name
        assert cfg.model.grounding_encoder.to_dict() == ref.model.grounding_encoder.to_dict()
        # The Sa2VA head replaced (none of its keys left), DeSa2VA's in its place with the
        # tiny losses.
        head = cfg.model.seg_head
        assert head.type == 'DecoupledSegHead' and head.neck.type == 'SegTokenDecoupler'
        assert 'mask_head' not in head and 'text_hidden_fcs' not in head
        assert head.loss_dice.to_dict() == ref.model.seg_head.loss_dice.to_dict()
        assert cfg.model.train_phase == name
    # Phase 1: the MLLM is not listed (it gets no gradient; stage 0 holds none to load).
    assert 'mllm' not in phases['pretrain'].model.frozen_modules
    assert 'seg_head.visual_head' in phases['pretrain'].model.frozen_modules
    assert phases['decouple'].model.frozen_modules == ['seg_head.text_head',
                                                       'seg_head.neck.anchor_proj']
    # Each phase loads the previous one; phase 3 re-prompts in training.
    assert phases['pretrain'].load_from.endswith('desa2va_tiny_sam_pretrain/iter_600.pth')
    assert phases['decouple'].load_from.endswith('desa2va_tiny_pretrain/iter_1600.pth')
    assert phases['fusion'].load_from.endswith('desa2va_tiny_decouple/iter_2000.pth')
    assert phases['fusion'].model.train_cfg.reprompt_iters == 1
    assert phases['decouple'].model.train_cfg.reprompt_iters == 0
    # Test-time re-prompting: off in the tiny phase-2 / phase-3 leaves (measured to hurt
    # the tiny model), the paper's single round where phase 1 leaves the base's setting.
    for name, cfg in phases.items():
        assert cfg.model.test_cfg.to_dict() == dict(
            reprompt_iters=0 if name in ('decouple', 'fusion') else 1,
            reprompt_iou_threshold=None), name
    assert phases['fusion'].train_cfg.max_iters == 100  # leaf override of the phase-2 leaf
    # The DeSa2VA stage 0 (clicks) starts from scratch and is what phase 1 loads.
    stage0 = _cfg('desa2va/desa2va_tiny_sam_pretrain.py')
    assert stage0.model.type == 'SAM2ClickPretrainer' and stage0.load_from is None
    assert set(stage0.model.mask_heads) == {'text_head', 'visual_head'}
    pretrain = phases['pretrain'].model
    assert stage0.model.grounding_encoder.to_dict() == pretrain.grounding_encoder.to_dict()
    assert stage0.model.mask_heads.visual_head.to_dict() == \
        pretrain.seg_head.visual_head.to_dict()
    assert stage0.model.loss_dice.to_dict() == pretrain.seg_head.loss_dice.to_dict()
    sa2va_stage0 = _cfg('sa2va/sa2va_tiny_sam_pretrain.py')
    assert sa2va_stage0.model.mask_heads.mask_head.to_dict() == \
        ref.model.seg_head.mask_head.to_dict()
