"""FSDP and DeepSpeed ZeRO-2 train, save and chain phases on CPU (2 gloo processes).

The tiny DeSa2VA phase 2 through ``tools/dist_train.sh``: FSDP saves a full state dict
(it crashed with SIGSEGV on CPU before ``adapt_fsdp_to_cpu``), the checkpoint keeps every
trainable weight of FSDP-wrapped layers (``TrainableCheckpointHook`` missed them before)
and the phase-1 heads; a DeepSpeed run starts from that ``.pth`` (DeepSpeed alone only
reads its own folders) and saves a folder whose client state holds the frozen phase-1
heads; a second DeepSpeed run loads that folder.
"""
import glob
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT

pytest.importorskip('deepspeed')

COMMON = '''
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root='{data_root}/'))
train_cfg = dict(max_iters=2, val_interval=100)
val_dataloader = None
val_cfg = None
val_evaluator = None
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=2)]
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
load_from = None
'''
FSDP = '''_base_ = ['{repo}/configs/desa2va/desa2va_tiny_decouple.py',
          '{repo}/configs/_base_/strategies/fsdp.py']
strategy = dict(model_wrapper=dict(mixed_precision=None))  # bf16 needs a GPU
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-4), clip_grad=dict(max_norm=1.0))
custom_hooks = [dict(type='TrainableCheckpointHook', pretrained_prefixes=('mllm.',))]
'''
ZERO2 = '''_base_ = ['{repo}/configs/desa2va/desa2va_tiny_decouple.py',
          '{repo}/configs/_base_/strategies/deepspeed_zero2.py']
strategy = dict(type='TrainableDeepSpeedStrategy', pretrained_prefixes=('mllm.',),
                bf16=dict(enabled=False), gradient_accumulation_steps=1)
optim_wrapper = dict(_delete_=True, type='DeepSpeedOptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-4))
'''


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


pytestmark = pytest.mark.slow  # two-process distributed runs


def _train(config, work_dir, *options):
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(_free_port()),
               PATH=osp.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        env.pop(key, None)
    cmd = ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), str(config), '2',
           '--work-dir', str(work_dir), '--allow-new-keys']
    if options:
        cmd += ['--cfg-options', *options]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_fsdp_and_zero2_train_save_and_chain_on_cpu(synthetic_refcoco, tmp_path):
    common = COMMON.format(data_root=synthetic_refcoco)
    fsdp_cfg, zero_cfg = tmp_path / 'fsdp.py', tmp_path / 'zero2.py'
    fsdp_cfg.write_text(FSDP.format(repo=REPO_ROOT) + common)
    zero_cfg.write_text(ZERO2.format(repo=REPO_ROOT) + common)

    _train(fsdp_cfg, tmp_path / 'fsdp')
    # What our checkpoints and DeepSpeed's folders hold is allow-listed for weights_only
    # loads by the modules that write them (import registers the DeepSpeed classes).
    import desa2va_mm.engine.strategies.trainable_deepspeed_strategy  # noqa: F401
    from desa2va_mm.utils.checkpoint_safety import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    state = torch.load(tmp_path / 'fsdp' / 'iter_2.pth', map_location='cpu')['state_dict']
    # Trainable weights inside FSDP-wrapped layers (InternViT / LLM layers) are saved.
    assert any('vision_tower.encoder.layer.0.' in k for k in state)
    assert any(k.startswith('seg_head.text_head.') for k in state)  # frozen, trained in phase 1

    # DeepSpeed phase from the FSDP / DDP `.pth`, then a DeepSpeed phase from its folder.
    log = _train(zero_cfg, tmp_path / 'zero2', f"load_from={tmp_path / 'fsdp' / 'iter_2.pth'}")
    assert 'into the DeepSpeed model' in log
    folder = tmp_path / 'zero2' / 'iter_2.pth'
    ds_state = torch.load(glob.glob(str(folder / '*model_states.pt'))[0],
                          map_location='cpu', weights_only=True)
    kept = ds_state['kept_frozen_state_dict']
    text_head = [k for k in state if k.startswith('seg_head.text_head.')]
    assert text_head and set(text_head) <= set(kept)
    assert not any(k.startswith('seg_head.text_head.') for k in ds_state['module'])
    # Frozen in this phase, so still exactly the values the FSDP run saved.
    assert all(torch.equal(kept[k], state[k]) for k in text_head)
    _train(zero_cfg, tmp_path / 'zero2b', f'load_from={folder}')
