"""Model configs of earlier layouts become today's: head keys under seg_head, re-prompting
settings on the model's train_cfg / test_cfg (checkpoints hold no such tensors)."""
import copy
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO_ROOT
from desa2va_mm.models.segmentors.checkpoint_layout import upgrade_model_config

OLD_SETTINGS = dict(reprompt_iters_train=1, reprompt_iters_test=0, reprompt_iou_threshold=0.5)


def _tiny_model_cfg() -> dict:
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/desa2va/desa2va_tiny_fusion.py'))
    return cfg.model.to_dict()


def test_seg_head_layout_with_reprompt_arguments_moves_them_to_the_model():
    old = _tiny_model_cfg()
    del old['train_cfg'], old['test_cfg']
    old['seg_head'].update(OLD_SETTINGS)
    before = copy.deepcopy(old)
    new = upgrade_model_config(old)
    assert old == before  # the input is left as it was
    assert new['train_cfg'] == dict(reprompt_iters=1)
    assert new['test_cfg'] == dict(reprompt_iters=0, reprompt_iou_threshold=0.5)
    assert not set(OLD_SETTINGS) & set(new['seg_head'])
    # Everything else is untouched.
    rest = {k: v for k, v in new.items() if k not in ('train_cfg', 'test_cfg', 'seg_head')}
    assert rest == {k: v for k, v in before.items() if k != 'seg_head'}
    assert new['seg_head'] == {k: v for k, v in before['seg_head'].items()
                               if k not in OLD_SETTINGS}


def test_earlier_top_level_layout_gets_a_seg_head_and_the_settings():
    old = dict(type='DeSa2VA', mllm=dict(type='M'), grounding_encoder=dict(type='G'),
               neck=dict(type='SegTokenDecoupler'), text_head=dict(type='SAM2TextHead'),
               visual_head=dict(type='SAM2VisualHead'), fusion=dict(type='MaskFusion'),
               frozen_modules=['text_head', 'mllm'], **OLD_SETTINGS)
    new = upgrade_model_config(old)
    assert new['seg_head'] == dict(type='DecoupledSegHead', neck=dict(type='SegTokenDecoupler'),
                                   text_head=dict(type='SAM2TextHead'),
                                   visual_head=dict(type='SAM2VisualHead'),
                                   fusion=dict(type='MaskFusion'))
    assert new['train_cfg'] == dict(reprompt_iters=1)
    assert new['test_cfg'] == dict(reprompt_iters=0, reprompt_iou_threshold=0.5)
    assert new['frozen_modules'] == ['seg_head.text_head', 'mllm']
    assert not set(OLD_SETTINGS) & set(new)


def test_todays_config_is_unchanged():
    cfg = _tiny_model_cfg()
    assert upgrade_model_config(cfg) == cfg


def test_an_upgraded_config_builds_with_its_settings():
    import desa2va_mm  # noqa: F401
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import MODELS
    init_default_scope('desa2va_mm')
    old = _tiny_model_cfg()
    del old['train_cfg'], old['test_cfg']
    old['seg_head'].update(OLD_SETTINGS)
    with pytest.raises(TypeError, match='model.seg_head.reprompt_iters_train -> '
                                        'model.train_cfg.reprompt_iters'):
        MODELS.build(copy.deepcopy(old))
    model = MODELS.build(upgrade_model_config(old))
    assert model.train().seg_head.settings == dict(reprompt_iters=1)
    assert model.eval().seg_head.settings == dict(reprompt_iters=0, reprompt_iou_threshold=0.5)
