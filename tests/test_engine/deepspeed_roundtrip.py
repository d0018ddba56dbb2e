"""One-process DeepSpeed save / load round trip of TrainableDeepSpeedStrategy (CPU, gloo).

Run by ``test_trainable_deepspeed_strategy.py`` in a subprocess (DeepSpeed initialises
``torch.distributed`` for the whole process):
    python tests/test_engine/deepspeed_roundtrip.py WORK_DIR ZERO_STAGE
It prints one JSON line with what the checkpoint holds and what loading restored.
"""
import glob
import json
import os
import os.path as osp
import sys

import torch
from mmengine.model import BaseModel
from torch import nn


class PhaseTwoLikeModel(BaseModel):
    """Names and trainable flags as in DeSa2VA phase 2 (tiny sizes)."""

    def __init__(self):
        super().__init__()
        self.mllm = nn.Linear(4, 4)               # frozen, from `pretrained`
        self.grounding_encoder = nn.Linear(4, 4)  # frozen, from the SAM-2 checkpoint
        self.text_decoder = nn.Linear(4, 4)       # frozen now, trained in phase 1
        self.visual_decoder = nn.Linear(4, 4)     # trainable
        for module in (self.mllm, self.grounding_encoder, self.text_decoder):
            module.requires_grad_(False)

    def forward(self, inputs, data_samples=None, mode='loss'):
        out = self.visual_decoder(self.text_decoder(self.grounding_encoder(self.mllm(inputs))))
        return dict(loss=out.pow(2).mean())


def build(work_dir, stage, seed):
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import STRATEGIES
    DefaultScope.get_instance(f'roundtrip{seed}', scope_name='desa2va_mm')
    torch.manual_seed(seed)
    strategy = STRATEGIES.build(dict(
        type='TrainableDeepSpeedStrategy', zero_optimization=dict(stage=stage),
        fp16=dict(enabled=False), bf16=dict(enabled=False), gradient_clipping=1.0,
        train_micro_batch_size_per_gpu=5, gradient_accumulation_steps=1,
        work_dir=work_dir, env_kwargs=dict(launcher='pytorch')))
    model, optim_wrapper, *_ = strategy.prepare(
        PhaseTwoLikeModel(), dispatch_kwargs=dict(max_iters=2, epoch_length=2,
                                             train_micro_batch_size_per_gpu=2),
        optim_wrapper=dict(type='DeepSpeedOptimWrapper',
                           optimizer=dict(type='AdamW', lr=0.1)))
    return strategy, model, optim_wrapper


def state(strategy):
    import deepspeed
    module = strategy.model.model.module
    params = list(module.parameters())
    with deepspeed.zero.GatheredParameters([p for p in params if hasattr(p, 'ds_id')]):
        return {k: v.detach().clone() for k, v in module.named_parameters()}


def main():
    work_dir, stage = sys.argv[1], int(sys.argv[2])
    import desa2va_mm  # noqa: F401  (registers the strategy)
    from desa2va_mm.utils.dist import finalize_distributed, setup_cpu_distributed
    setup_cpu_distributed('pytorch')  # gloo; MMEngine's init_dist needs CUDA
    from mmengine._strategy import deepspeed as mm_ds
    mm_ds.register_deepspeed_optimizers = lambda: None  # second strategy in one process

    strategy, model, optim_wrapper = build(work_dir, stage, seed=0)
    with torch.no_grad():  # "phase 1 trained D_t": a value no init reproduces
        module = strategy.model.model.module
        import deepspeed
        with deepspeed.zero.GatheredParameters(
                [p for p in module.text_decoder.parameters() if hasattr(p, 'ds_id')],
                modifier_rank=0):
            module.text_decoder.weight.fill_(0.5)
    model.train_step(dict(inputs=torch.randn(2, 4)), optim_wrapper)
    saved = state(strategy)
    ckpt = osp.join(work_dir, 'iter_1.pth')
    strategy.save_checkpoint(ckpt)
    files = glob.glob(osp.join(ckpt, '*model_states.pt'))
    payload = torch.load(files[0], map_location='cpu', weights_only=True)
    module_keys = sorted(payload['module'])
    kept_keys = sorted(payload['kept_frozen_state_dict'])

    # A fresh run: different random init (as if frozen weights came from `pretrained`).
    strategy2, *_ = build(work_dir, stage, seed=1)
    before = state(strategy2)
    strategy2.load_checkpoint(ckpt)
    after = state(strategy2)
    # An ordinary `.pth` (a DDP phase before this DeepSpeed phase) loads as well, and the
    # fp32 master weights follow: a step with lr 0 keeps the loaded values.
    plain = osp.join(work_dir, 'ddp_phase.pth')
    torch.save({'state_dict': {k: torch.full_like(v, 0.25) for k, v in saved.items()
                               if not k.startswith('mllm.')}, 'meta': {}}, plain)
    strategy4, model4, optim_wrapper4 = build(work_dir, stage, seed=3)
    strategy4.load_checkpoint(plain)
    for group in optim_wrapper4.optimizer.param_groups:
        group['lr'] = 0.0
    model4.train_step(dict(inputs=torch.randn(2, 4)), optim_wrapper4)
    plain_loaded = state(strategy4)

    # Resuming (optimizer state too) restores the kept weights as well.
    strategy3, *_ = build(work_dir, stage, seed=2)
    strategy3.resume(ckpt)
    resumed = state(strategy3)
    result = dict(
        micro_batch=strategy.config['train_micro_batch_size_per_gpu'],
        module_keys=module_keys, kept_keys=kept_keys,
        restored={k: bool(torch.equal(after[k], saved[k])) for k in saved},
        changed={k: not bool(torch.equal(after[k], before[k])) for k in saved},
        resumed={k: bool(torch.equal(resumed[k], saved[k])) for k in saved},
        plain_loaded={k: bool((v == 0.25).all()) for k, v in plain_loaded.items()})
    print('RESULT ' + json.dumps(result))
    finalize_distributed(0)


if __name__ == '__main__':
    os.environ.setdefault('RANK', '0')
    os.environ.setdefault('LOCAL_RANK', '0')
    os.environ.setdefault('WORLD_SIZE', '1')
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    main()
