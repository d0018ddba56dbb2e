"""Real-size training configs: bf16 AMP, DeepSpeed (ZeRO-2 / 3) and FSDP strategies build."""
import os.path as osp

import pytest

from conftest import REPO_ROOT


def _cfg(name):
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


def test_plain_ddp_configs_use_bf16_amp_and_sa2va_recipe():
    cfg = _cfg('desa2va/desa2va_1b_decouple.py')
    assert 'runner_type' not in cfg  # tools/dist_train.sh: Runner + DDP
    ow = cfg.optim_wrapper
    assert (ow.type, ow.dtype, ow.accumulative_counts) == \
        ('NonFiniteGuardAmpOptimWrapper', 'bfloat16', 4)
    # bf16 has no loss scaler: the NaN/Inf guard inspects the gradients too.
    assert ow.check_grads and ow.max_consecutive_bad_steps == 5
    assert (ow.optimizer.lr, ow.optimizer.weight_decay, ow.clip_grad.max_norm) == \
        (4e-5, 0.05, 1.0)
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_cfg.max_epochs == 1
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end, cosine.type, cosine.begin) == \
        ('LinearLR', 0.05, 'CosineAnnealingLR', 0.05)
    lora = cfg.model.mllm.lora
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (128, 256, 0.05)
    assert cfg.model.mllm.gradient_checkpointing
    assert [h.type for h in cfg.custom_hooks][0] == 'TrainableCheckpointHook'
    assert cfg.load_from == 'work_dirs/desa2va_1b_pretrain/epoch_1.pth'
    assert _cfg('desa2va/desa2va_1b_fusion.py').load_from == 'work_dirs/desa2va_1b_decouple/epoch_1.pth'


def test_fsdp_strategy_builds():
    import mmengine._strategy  # noqa: F401  (registers the strategies, as FlexibleRunner does)
    from mmengine.registry import STRATEGIES
    cfg = _cfg('desa2va/desa2va_1b_decouple_fsdp.py')
    assert cfg.runner_type == 'FlexibleRunner'
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'dtype' not in cfg.optim_wrapper
    strategy = STRATEGIES.build(cfg.strategy)
    assert type(strategy).__name__ == 'FSDPStrategy'


@pytest.mark.parametrize('config,stage,strategy_type', [
    ('desa2va/desa2va_1b_decouple_zero2.py', 2, 'TrainableDeepSpeedStrategy'),
    ('desa2va/desa2va_1b_decouple_zero3.py', 3, 'TrainableDeepSpeedStrategy'),
    ('sa2va/sa2va_1b_zero2.py', 2, 'TrainableDeepSpeedStrategy'),
])
def test_deepspeed_strategy_builds(config, stage, strategy_type, monkeypatch):
    pytest.importorskip('deepspeed')
    import mmengine._strategy.deepspeed as ds_strategy
    from mmengine.registry import OPTIMIZERS

    from desa2va_mm.registry import STRATEGIES  # ours, a child of MMEngine's
    if 'DeepSpeedCPUAdam' in OPTIMIZERS.module_dict:
        # mmengine 0.10.7 registers DeepSpeed's optimizers in every strategy constructor and
        # fails the second time; a training process builds one strategy.
        monkeypatch.setattr(ds_strategy, 'register_deepspeed_optimizers', lambda: None)
    cfg = _cfg(config)
    assert cfg.runner_type == 'FlexibleRunner'
    assert cfg.optim_wrapper.type == 'DeepSpeedOptimWrapper'
    strategy = STRATEGIES.build(cfg.strategy)
    assert type(strategy).__name__ == strategy_type
    assert strategy.config['zero_optimization']['stage'] == stage
    assert strategy.config['bf16'] == {'enabled': True}
    assert strategy.config['gradient_accumulation_steps'] == 4
    # Frozen parameters are left out; DeSa2VA's strategy keeps the phase-1 heads (see
    # test_trainable_deepspeed_strategy.py for the save / load round trip).
    assert strategy.exclude_frozen_parameters is True
    if strategy_type == 'TrainableDeepSpeedStrategy':
        assert strategy.pretrained_prefixes == ('mllm.', 'grounding_encoder.')


def test_bf16_config_on_cpu_stops_with_a_clear_message():
    import subprocess
    import sys

    import torch
    if torch.cuda.is_available():
        pytest.skip('the message is for machines without an accelerator')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools/train.py'),
         osp.join(REPO_ROOT, 'configs/desa2va/desa2va_1b_decouple.py')],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert 'NonFiniteGuardAmpOptimWrapper' in proc.stderr
    assert 'optim_wrapper.type=NonFiniteGuardOptimWrapper' in proc.stderr


def test_gradient_checkpointing_covers_llm_and_vision_and_keeps_gradients():
    import torch
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    from tools.analysis_tools.smoke_real_size import build_batch

    def run(checkpointing):
        cfg = _cfg('sa2va/sa2va_tiny.py')
        cfg.model.mllm.update(gradient_checkpointing=checkpointing, freeze_llm=True,
                              freeze_vision=False,
                              lora=dict(r=4, lora_alpha=8, lora_dropout=0.0))
        torch.manual_seed(0)
        with DefaultScope.overwrite_default_scope('desa2va_mm'):
            model = MODELS.build(cfg.model)
        model.train()
        batch = model.data_preprocessor(build_batch(model, 'the red circle')[0], True)
        losses = model(**batch, mode='loss')
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()
                 if p.grad is not None and ('lora_' in n or 'vision_tower' in n)}
        return model, grads

    model, with_ckpt = run(True)
    flags = {n for n, m in model.mllm.model.named_modules()
             if getattr(m, 'gradient_checkpointing', False)}
    assert 'model.vision_tower.encoder' in flags and 'model.language_model' in flags
    _, without = run(False)
    assert with_ckpt.keys() == without.keys() and any('lora_' in k for k in with_ckpt)
    for name in with_ckpt:
        torch.testing.assert_close(with_ckpt[name], without[name], atol=1e-6, rtol=1e-5)


def test_fsdp_wrap_policy_wraps_layers_and_heads_not_sam2base():
    from mmengine.registry import DefaultScope

    from desa2va_mm.engine.fsdp import layer_wrap_policy
    from desa2va_mm.registry import MODELS
    cfg = _cfg('desa2va/desa2va_tiny_decouple.py')
    assert _cfg('desa2va/desa2va_1b_decouple_fsdp.py').strategy.model_wrapper.auto_wrap_policy.type \
        == 'desa2va_mm.engine.fsdp.layer_wrap_policy'
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        model = MODELS.build(cfg.model)
    wrapped = {type(m).__name__ for m in model.modules() if layer_wrap_policy(m, False, 0)}
    assert {'Qwen2DecoderLayer', 'InternVLVisionLayer', 'MultiScaleBlock', 'SAM2TextHead',
            'SAM2VisualHead'} <= wrapped
    # SAM2Base.forward never runs (components are called): it must not be a unit.
    assert 'SAM2Base' not in wrapped and not layer_wrap_policy(model.grounding_encoder.sam2,
                                                               False, 10**9)
    assert layer_wrap_policy(model, True, 0)
