"""TensorBoard as docs/train.md switches it on: the ``--cfg-options`` form and the config
line, checked on the runtime config; a tiny run writes event files when ``tensorboard`` is
importable (it is not a dependency: skipped otherwise)."""
import glob
import os
import os.path as osp
import runpy
import sys

import pytest

from conftest import REPO_ROOT

TESTS_DATA = osp.join(REPO_ROOT, 'tests', 'data')
TOY_CONFIG = osp.join(TESTS_DATA, 'configs', 'toy_ref.py')
TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
#: The option docs/train.md gives (TensorBoard instead of the JSON scalar files).
CFG_OPTION = 'visualizer.vis_backends.0.type=TensorboardVisBackend'
#: The config lines docs/train.md gives (TensorBoard beside the JSON scalar files).
CONFIG_LINES = """
visualizer = dict(
    vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
"""


def _leaf(tmp_path, base):
    path = tmp_path / 'with_tensorboard.py'
    path.write_text(f'_base_ = [{base!r}]\n' + CONFIG_LINES)
    return str(path)


def test_documented_switches_reach_the_visualizer(tmp_path):
    import argparse

    from mmengine.config import Config, DictAction

    from tools.cli_utils import merge_cfg_options
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--allow-new-keys', action='store_true')
    config = osp.join(REPO_ROOT, 'configs/desa2va/desa2va_tiny_decouple.py')
    cfg = Config.fromfile(config)
    assert cfg.visualizer.vis_backends == [dict(type='LocalVisBackend')]
    merge_cfg_options(parser, cfg, parser.parse_args(['--cfg-options', CFG_OPTION]))
    assert cfg.visualizer.vis_backends == [dict(type='TensorboardVisBackend')]
    assert cfg.visualizer.type == 'ReferringSegVisualizer'  # the rest of it is kept

    cfg = Config.fromfile(_leaf(tmp_path, config))
    assert cfg.visualizer.vis_backends == [dict(type='LocalVisBackend'),
                                           dict(type='TensorboardVisBackend')]
    assert cfg.visualizer.type == 'ReferringSegVisualizer'


def test_tiny_run_writes_tensorboard_events(tmp_path):
    pytest.importorskip('tensorboard')
    work_dir = str(tmp_path / 'work')
    saved_argv, saved_path, saved_env = sys.argv, list(sys.path), dict(os.environ)
    os.environ.pop('LOCAL_RANK', None)
    sys.path.insert(0, TESTS_DATA)  # the toy plugin
    sys.argv = [TRAIN, _leaf(tmp_path, TOY_CONFIG), '--work-dir', work_dir, '--cfg-options',
                f'experiment_name=tensorboard_{os.getpid()}']
    try:
        runpy.run_path(TRAIN, run_name='__main__')
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        os.environ.clear()
        os.environ.update(saved_env)
    events = glob.glob(osp.join(work_dir, '**', 'events.out.tfevents.*'), recursive=True)
    assert events and all(osp.getsize(e) > 0 for e in events)
    # The JSON scalars stay beside them (analyze_logs.py reads those).
    assert glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
