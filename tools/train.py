# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmdet 3.3's tools/train.py for desa2va_mm (registry scope ``desa2va``).
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
import difflib
import logging
import os
import os.path as osp
import sys

# Works from a fresh clone: make ``import desa2va_mm`` find this checkout.
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if not sys.path or sys.path[0] != REPO_ROOT:
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402

# Top-level keys ``Runner.from_cfg`` reads; ``--cfg-options`` may create them (and
# anything below them) even when the config does not define them.
RUNNER_CFG_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader',
    'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper',
    'param_scheduler', 'val_evaluator', 'test_evaluator', 'default_hooks',
    'custom_hooks', 'data_preprocessor', 'load_from', 'resume', 'launcher',
    'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'model_wrapper_cfg', 'find_unused_parameters',
    'sync_bn', 'compile', 'strategy', 'runner_type'
})


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


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def _hint(name, candidates) -> str:
    matches = difflib.get_close_matches(
        str(name), [str(c) for c in candidates], n=3, cutoff=0.6)
    return f'; did you mean {", ".join(matches)}?' if matches else ''


def _looks_like_typo(name, candidates) -> bool:
    return bool(
        difflib.get_close_matches(
            str(name), [str(c) for c in candidates], n=1, cutoff=0.75))


def check_cfg_option_key(cfg_dict: dict, key: str):
    """Return an error message when ``key`` does not fit the config, else None.

    Every component but the last must exist (dict key, or in-range list index);
    the first may also be a key ``Runner.from_cfg`` reads (``randomness``,
    ``env_cfg``...). The last may be new (MMEngine adds it) unless it looks like a
    misspelling of an existing sibling (``train_cfg.max_itres`` next to
    ``max_iters``).
    """
    parts = key.split('.')
    node = cfg_dict
    for i, part in enumerate(parts):
        path = '.'.join(parts[:i + 1])
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if part in node:
                node = node[part]
                continue
            where = 'the config' if i == 0 else f'`{".".join(parts[:i])}`'
            if i == 0 and part in RUNNER_CFG_KEYS:
                return None  # a Runner argument the config leaves at its default
            if last and not _looks_like_typo(part, node.keys()):
                return None  # a new leaf key, MMEngine adds it
            return (f'unknown key `{path}` in --cfg-options `{key}`: {where} has no '
                    f'key `{part}`{_hint(part, node.keys())} (pass --allow-new-keys '
                    'to add it anyway)')
        if isinstance(node, (list, tuple)):
            if part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            return (f'invalid key `{path}` in --cfg-options `{key}`: '
                    f'`{".".join(parts[:i])}` is a list of {len(node)} items, '
                    f'`{part}` is not an index in it')
        return (f'invalid key `{path}` in --cfg-options `{key}`: '
                f'`{".".join(parts[:i])}` is {_describe(node)}, not a dict; set it '
                f'as a whole instead (or pass --allow-new-keys)')
    return None


def merge_cfg_options(parser, cfg, args) -> None:
    """Check ``--cfg-options`` keys (unless ``--allow-new-keys``), then merge."""
    if args.cfg_options is None:
        return
    if not args.allow_new_keys:
        errors = [
            msg for msg in (check_cfg_option_key(cfg._cfg_dict, key)
                            for key in args.cfg_options) if msg
        ]
        if errors:
            parser.error('\n  '.join(errors))
    cfg.merge_from_dict(args.cfg_options)


def load_config(parser, path: str):
    if not osp.isfile(path):
        parser.error(f'config file not found: {path!r} (cwd {os.getcwd()})')
    return Config.fromfile(path)


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
    cfg = load_config(parser, args.config)
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
        if optim_wrapper == 'AmpOptimWrapper':
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

    # Imported only now so that argument / config errors come back in ~1 s.
    # Importing the package registers every module and the checkpoint safe globals.
    import desa2va_mm  # noqa: F401
    import desa2va_mm.models.wrappers  # noqa: F401  (DeviceAgnosticDDP)
    from desa2va_mm.registry import RUNNERS
    from desa2va_mm.utils.dist import (finalize_distributed,
                                       resolve_model_wrapper_type,
                                       setup_cpu_distributed,
                                       use_device_agnostic_ddp)
    from mmdet.utils import setup_cache_size_limit_of_dynamo
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    # Reduce the number of repeated compilations and improve
    # training speed.
    setup_cache_size_limit_of_dynamo()

    # The Runner switches to cfg.default_scope ('mmengine' when absent): keep ours.
    if 'default_scope' not in cfg:
        cfg.default_scope = 'desa2va'
    init_default_scope(cfg.get('default_scope', 'desa2va'))

    # Distributed without an accelerator: gloo group + CPU-capable DDP wrapper.
    cpu_distributed = setup_cpu_distributed(
        args.launcher, (cfg.get('env_cfg') or {}).get('dist_cfg'))
    if cpu_distributed:
        use_device_agnostic_ddp(cfg)
    resolve_model_wrapper_type(cfg)

    # build the runner from config
    if 'runner_type' not in cfg:
        # build the default runner
        runner = Runner.from_cfg(cfg)
    else:
        # build customized runner from the registry
        # if 'runner_type' is set in the cfg
        runner = RUNNERS.build(cfg)

    # start training
    runner.train()

    if cpu_distributed:
        finalize_distributed(0)


if __name__ == '__main__':
    main()
