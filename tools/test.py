# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmdet 3.3's tools/test.py for desa2va_mm (registry scope ``desa2va_mm``).
"""Test (and evaluate) a desa2va_mm checkpoint.

Single process::

    python tools/test.py CONFIG CHECKPOINT [--out preds.pkl] [--show-dir DIR] ...

Distributed (GPUs, or CPU processes with gloo on a CPU-only torch)::

    bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py options]

Differences from mmdet's script: it works from a fresh clone without PYTHONPATH,
``--cfg-options`` keys are checked against the config (``--allow-new-keys`` turns that
off), a missing config / checkpoint, a ``--out`` that is not a pickle and
``--show`` without a visualization hook fail early with a clear message, and
distributed runs on CPU-only torch use gloo and ``DeviceAgnosticDDP``.
"""
import argparse
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

def parse_args():
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a desa2va_mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file, or a Sa2VA release folder (config.json + safetensors, '
        'e.g. pretrained/Sa2VA-1B) for a Sa2VA-baseline config: converted in memory')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file (.pkl/.pickle) for offline '
        'evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory (under work_dir/timestamp) where painted images are saved')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
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
    # will pass the `--local-rank` parameter to `tools/test.py` instead
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


def trigger_visualization_hook(cfg, args):
    """Turn on ``default_hooks.visualization`` for ``--show`` / ``--show-dir``.

    Same behaviour as ``mmdet.engine.hooks.utils.trigger_visualization_hook``
    (``draw=True``; ``show`` and ``wait_time`` for ``--show``; ``test_out_dir`` for
    ``--show-dir``), with an error that names what the config lacks.
    """
    default_hooks = cfg.get('default_hooks', None)
    if not isinstance(default_hooks, dict) or 'visualization' not in default_hooks \
            or not default_hooks['visualization']:
        missing = ('`default_hooks`' if not isinstance(default_hooks, dict) else
                   '`default_hooks.visualization`')
        raise RuntimeError(
            f'--show/--show-dir need a visualization hook, but the config has no '
            f'{missing}. Add e.g. '
            "default_hooks = dict(visualization=dict(type='DetVisualizationHook')) "
            '(and a `visualizer`) to the config.')
    visualization_hook = default_hooks['visualization']
    # Turn on visualization
    visualization_hook['draw'] = True
    if args.show:
        visualization_hook['show'] = True
        visualization_hook['wait_time'] = args.wait_time
    if args.show_dir:
        visualization_hook['test_out_dir'] = args.show_dir
    return cfg


def main():
    parser, args = parse_args()

    # Fail early on arguments that would only break after the model is built.
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must end in .pkl or .pickle, got {args.out!r}')
    sa2va_release = False
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        from desa2va_mm.utils.sa2va_release import is_sa2va_release
        sa2va_release = is_sa2va_release(args.checkpoint)
        if not sa2va_release:
            parser.error(f'checkpoint file not found: {args.checkpoint!r} (a folder must be a '
                         'Sa2VA release: config.json of model_type sa2va_chat + safetensors)')

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

    cfg.load_from = args.checkpoint
    if sa2va_release:
        # Loaded below, after the model is built; the release's tokenizer replaces an
        # offline stand-in (the weights' vocabulary is the release's).
        from desa2va_mm.utils.sa2va_release import use_release_tokenizer
        cfg.load_from = None
        use_release_tokenizer(cfg.model, args.checkpoint)

    if args.show or args.show_dir:
        try:
            cfg = trigger_visualization_hook(cfg, args)
        except RuntimeError as err:
            parser.error(str(err))

    runner, cpu_distributed = build_runner(cfg, args.launcher)
    if sa2va_release:
        from desa2va_mm.utils.sa2va_release import load_sa2va_release
        load_sa2va_release(runner.model, args.checkpoint, logger='current')

    # add `DumpResults` dummy metric
    if args.out is not None:
        # Temp file + rename: an interrupted run never leaves a partial --out file.
        from desa2va_mm.evaluation.metrics import AtomicDumpDetResults
        runner.test_evaluator.metrics.append(
            AtomicDumpDetResults(out_file_path=args.out))

    # start testing
    runner.test()

    finish(cpu_distributed)


if __name__ == '__main__':
    main()
