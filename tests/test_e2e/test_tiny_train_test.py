"""A short real run of the tiny model through tools/train.py and tools/test.py."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO_ROOT


def _run(args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _data_opts(root):
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={root}/', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    return opts


@pytest.mark.timeout(900)
def test_train_then_test_with_overlays_and_baselines(synthetic_refcoco, tmp_path):
    work = tmp_path / 'work'
    opts = _data_opts(synthetic_refcoco) + [
        'train_cfg.max_iters=4', 'train_cfg.val_interval=4', 'train_dataloader.batch_size=2',
        'default_hooks.logger.interval=2', 'default_hooks.checkpoint.interval=2',
        'load_from=None']
    out = _run([osp.join(REPO_ROOT, 'tools/train.py'), 'configs/sa2va/sa2va_tiny.py',
                '--work-dir', str(work), '--cfg-options', *opts], REPO_ROOT)
    assert 'loss_mask' in out and 'loss_dice' in out and 'loss_lm' in out
    assert 'cIoU' in out and 'gIoU' in out
    ckpt = open(work / 'last_checkpoint').read().strip()
    assert ckpt.endswith('iter_4.pth')

    test_dir = tmp_path / 'test'
    out = _run([osp.join(REPO_ROOT, 'tools/test.py'), 'configs/sa2va/sa2va_tiny.py', ckpt,
                '--work-dir', str(test_dir), '--show-dir', 'vis', '--cfg-options',
                *_data_opts(synthetic_refcoco)], REPO_ROOT)
    assert 'cIoU' in out
    overlays = glob.glob(str(test_dir / '*' / 'vis' / '*.jpg'))
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py'))
    cfg.test_dataloader.dataset.data_root = synthetic_refcoco + '/'
    init_default_scope('desa2va_mm')
    n_images = len(DATASETS.build(cfg.test_dataloader.dataset))
    assert len(overlays) == n_images

    out = _run([osp.join(REPO_ROOT, 'tools/analysis_tools/trivial_baselines.py'),
                'configs/sa2va/sa2va_tiny.py', '--model-metrics', str(test_dir), '--cfg-options',
                f'test_dataloader.dataset.data_root={synthetic_refcoco}/'], REPO_ROOT)
    for row in ('whole image', 'largest object', 'random object', 'model (ours)', 'margin'):
        assert row in out
