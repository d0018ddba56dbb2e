"""Several splits in one test run: ConcatDataset + mmdet's MultiDatasetsEvaluator."""
import os
import os.path as osp
import runpy
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT

CONFIG = osp.join(REPO_ROOT, 'configs', 'sa2va', 'sa2va_tiny_test_splits.py')


def _cfg(root):
    cfg = Config.fromfile(CONFIG)
    for ds in cfg.test_dataloader.dataset.datasets:
        ds.data_root = root + '/'
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    return cfg


def test_each_split_scored_on_its_own_slice(synthetic_refcoco):
    """Perfect predictions on testA only: testA scores 100, the others 0, and each split's
    sample count is its own."""
    import desa2va_mm  # noqa: F401
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from desa2va_mm.registry import DATASETS, EVALUATOR
    init_default_scope('desa2va_mm')
    cfg = _cfg(synthetic_refcoco)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    evaluator = EVALUATOR.build(cfg.test_evaluator)
    evaluator.dataset_meta = dataset.metainfo
    sizes = dataset.metainfo['cumulative_sizes']
    assert len(sizes) == 3 and sizes[-1] == len(dataset)
    for idx in range(len(dataset)):
        item = dataset[idx]
        sample: DetDataSample = item['data_samples']
        gt = sample.metainfo['gt_masks'].to_tensor(torch.bool, 'cpu')
        in_testA = sizes[0] <= idx < sizes[1]
        sample.pred_instances = InstanceData(masks=gt if in_testA else torch.zeros_like(gt))
        evaluator.process([sample], {})
    metrics = evaluator.evaluate(len(dataset))
    assert metrics['testA/cIoU'] == pytest.approx(100.0)
    assert metrics['testA/gIoU'] == pytest.approx(100.0)
    assert metrics['val/cIoU'] == 0.0 and metrics['testB/cIoU'] == 0.0
    assert set(metrics) == {f'{s}/{m}' for s in ('val', 'testA', 'testB')
                            for m in ('cIoU', 'gIoU', 'mIoU')}


def test_tools_test_reports_every_split(synthetic_refcoco, tiny_model, tmp_path):
    ckpt = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=tiny_model.state_dict(), meta=dict()), ckpt)
    opts = [f'test_dataloader.dataset.datasets.{i}.data_root={synthetic_refcoco}/'
            for i in range(3)] + ['test_dataloader.num_workers=0',
                                  'test_dataloader.persistent_workers=False',
                                  f'experiment_name=multi_split_{os.getpid()}']
    saved_argv, saved_env = sys.argv, dict(os.environ)
    sys.argv = ['tools/test.py', CONFIG, str(ckpt), '--work-dir', str(tmp_path / 'work'),
                '--cfg-options', *opts]
    os.environ.pop('LOCAL_RANK', None)
    try:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', 'test.py'), run_name='__main__')
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    logs = [osp.join(dp, f) for dp, _, fs in os.walk(tmp_path / 'work') for f in fs
            if f.endswith('.log')]
    text = open(logs[0]).read()
    for split in ('val', 'testA', 'testB'):
        assert f'{split}/cIoU' in text and f'{split}/gIoU' in text
