"""Config inheritance: leaf configs change only what they declare."""
import os.path as osp

from mmengine.config import Config

from conftest import REPO_ROOT


def _cfg(name):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


def test_tiny_config_inherits_bases_and_overrides_schedule():
    cfg = _cfg('sa2va_tiny.py')
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
    assert cfg.model.loss_mask.loss_weight == 2.0
    assert cfg.model.loss_dice.loss_weight == 2.0


def test_decouple_config_inherits_tiny_model():
    cfg = _cfg('desa2va_tiny_decouple.py')
    ref = _cfg('sa2va_tiny.py')
    assert cfg.model.to_dict() == ref.model.to_dict()
    assert cfg.train_dataloader.dataset.split == 'train'
    assert cfg.test_dataloader.dataset.split == 'val'
