# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmdet 3.3's tools/train.py for desa2va_mm (registry scope ``desa2va_mm``).
"""Train a desa2va_mm model.

Single process::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] ...

Distributed (GPUs, or CPU processes with gloo on a CPU-only torch)::

    bash tools/dist_train.sh CONFIG NUM_PROCS [train.py options]

Differences from mmdet's script: it works from a fresh clone without PYTHONPATH (the
repository root is put on ``sys.path``), ``--cfg-options`` keys are checked against the
config (a typo is an error naming the key; ``--allow-new-keys`` turns that off), a
missing config and ``--amp`` without an accelerator fail with a clear message, and
distributed runs on CPU-only torch use gloo and ``DeviceAgnosticDDP``.
"""
import argparse
import logging
import os
import os.path as osp
import sys

# Works from a fresh clone: make ``import desa2va_mm`` find this checkout.
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if not sys.path or sys.path[0] != REPO_ROOT:
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction  # noqa: E402
from tools.cli_utils import (build_runner, finish, load_config,  # noqa: E402
                             merge_cfg_options)
from mmengine.logging import print_log  # noqa: E402

def parse_args():
    parser = argparse.ArgumentParser(description='Train a desa2va_mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training (needs CUDA/NPU/MLU/MUSA)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='enable automatically scaling LR (needs cfg.auto_scale_lr)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT if given, else from the latest checkpoint in '
        'the work_dir')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy pairs (key="[a,b]" for lists)')
    parser.add_argument(
        '--allow-new-keys',
        action='store_true',
        help='let --cfg-options add keys the config does not have (no typo check)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # When using PyTorch version >= 2.0.0, the `torch.distributed.launch`
    # will pass the `--local-rank` parameter to `tools/train.py` instead
    # of `--local_rank`.
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=int,
        default=0,
        help='local process rank (set by old launchers; torchrun uses LOCAL_RANK)')
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return parser, args


def accelerator_available() -> bool:
    """Same test as ``desa2va_mm.utils.dist.accelerator_available`` (and as
    MMEngine's ``AmpOptimWrapper``), without importing the whole package."""
    from mmengine.device import (is_cuda_available, is_mlu_available,
                                 is_musa_available, is_npu_available)
    return bool(is_cuda_available() or is_npu_available() or is_mlu_available()
                or is_musa_available())


def main():
    parser, args = parse_args()

    # load config
    cfg, args.config = load_config(parser, args.config)
    cfg.launcher = args.launcher
    merge_cfg_options(parser, cfg, args)

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        # update configs according to CLI args if args.work_dir is not None
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        # use config filename as default work_dir if cfg.work_dir is None
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    # enable automatic-mixed-precision training
    if args.amp is True:
        if not accelerator_available():
            sys.exit('error: --amp needs a CUDA (or NPU/MLU/MUSA) device: '
                     "MMEngine's AmpOptimWrapper does not support CPU training. "
                     'Drop --amp to train in full precision on the CPU.')
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'NonFiniteGuardOptimWrapper':
            # Keep the NaN/Inf step guard under fp16 (its loss scaler handles grads).
            cfg.optim_wrapper.type = 'NonFiniteGuardAmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
        elif optim_wrapper in ('AmpOptimWrapper', 'NonFiniteGuardAmpOptimWrapper'):
            print_log(
                'AMP training is already enabled in your config.',
                logger='current',
                level=logging.WARNING)
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper type is '
                f'`OptimWrapper` but got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    optim_type = str((cfg.get('optim_wrapper') or {}).get('type', ''))
    if 'Amp' in optim_type and not accelerator_available():
        # The real-size configs train with bf16 autocast (AmpOptimWrapper), GPU only.
        full = ('NonFiniteGuardOptimWrapper' if optim_type.startswith('NonFiniteGuard')
                else 'OptimWrapper')
        sys.exit(f'error: {args.config} uses {optim_type} (bf16/fp16 autocast), which '
                 'needs a CUDA (or NPU/MLU/MUSA) device. To run it on the CPU in float32: '
                 f'--cfg-options optim_wrapper.type={full}')
    if optim_type in ('OptimWrapper', 'NonFiniteGuardOptimWrapper'):
        # AMP-only keys left when a bf16 config is switched to full precision.
        for key in ('dtype', 'loss_scale'):
            cfg.optim_wrapper.pop(key, None)
        if optim_type == 'OptimWrapper':  # the guard's keys, when it was switched off
            for key in ('max_consecutive_bad_steps', 'check_grads'):
                cfg.optim_wrapper.pop(key, None)

    # enable automatically scaling LR
    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and \
                'enable' in cfg.auto_scale_lr and \
                'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('Can not find "auto_scale_lr" or '
                               '"auto_scale_lr.enable" or '
                               '"auto_scale_lr.base_batch_size" in your'
                               ' configuration file.')

    # resume is determined in this priority: resume from > auto_resume
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    # The dataloader `timeout` bounds the wait for worker processes; PyTorch refuses it
    # without any (`train_dataloader.num_workers=0`, e.g. for debugging).
    train_loader = cfg.get('train_dataloader')
    if train_loader and train_loader.get('timeout') and not train_loader.get('num_workers'):
        train_loader.timeout = 0

    runner, cpu_distributed = build_runner(cfg, args.launcher)

    # start training
    try:
        runner.train()
    except Exception as error:
        # A data-loader worker died or hung: say what killed it and which sample it loaded.
        from desa2va_mm.datasets.wrappers import explain_dataloader_failure
        explained = explain_dataloader_failure(error)
        if explained is None:
            raise
        raise explained from error

    # A run stopped by PreemptionCheckpointHook exits with its `exit_code`.
    from desa2va_mm.engine.hooks.preemption_checkpoint_hook import preemption_exit_code
    finish(cpu_distributed, preemption_exit_code(runner))


if __name__ == '__main__':
    main()
