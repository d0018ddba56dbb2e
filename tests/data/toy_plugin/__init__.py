"""A tiny OpenMMLab plugin for the tool / checkpoint tests (CPU, milliseconds per step).

Importable once ``tests/data`` is on ``sys.path`` (configs load it through
``custom_imports=dict(imports=['toy_plugin'])``). Everything is registered in
MMEngine's *root* registries, so it resolves from any scope (``desa2va_mm`` climbs to
mmdet and then to mmengine) and needs neither mmdet nor ``desa2va_mm``.

* ``ToyRefDataset``: ``num_samples`` random 4-d vectors, label = sign of a fixed
  linear function; deterministic for a ``seed``; ``metainfo`` has class names.
* ``ToyRefModel``: one ``nn.Linear``, BCE loss; ``predict`` fills ``pred_score`` and
  ``pred_label`` on the data samples.
* ``ToyRefMetric``: accuracy and mean score, returned as ``numpy.float64`` as many
  OpenMMLab metrics do (so ``save_best`` puts a NumPy scalar in the checkpoint).
* ``ToyVisualizationHook``: stands in for ``DetVisualizationHook`` in
  ``default_hooks.visualization``; with ``draw=True`` and ``test_out_dir`` it writes
  one text file per test sample under ``work_dir/<timestamp>/<test_out_dir>``.
"""
import os
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS
from mmengine.structures import BaseDataElement
from torch import nn
from torch.utils.data import Dataset


@DATASETS.register_module()
class ToyRefDataset(Dataset):
    METAINFO = dict(classes=('background', 'target'))

    def __init__(self, num_samples: int = 16, in_dim: int = 4, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.inputs = torch.randn(num_samples, in_dim, generator=gen)
        weight = torch.linspace(-1.0, 2.0, in_dim)
        self.labels = (self.inputs @ weight > 0.1).long()

    @property
    def metainfo(self) -> dict:
        return dict(self.METAINFO)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> dict:
        sample = BaseDataElement(metainfo=dict(sample_idx=idx))
        sample.gt_label = self.labels[idx].clone()
        return dict(inputs=self.inputs[idx].clone(), data_samples=sample)


@MODELS.register_module()
class ToyRefModel(BaseModel):

    def __init__(self, in_dim: int = 4, data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.linear = nn.Linear(in_dim, 1)

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        x = torch.stack(inputs) if isinstance(inputs, (list, tuple)) else inputs
        logits = self.linear(x).squeeze(-1)
        if mode == 'loss':
            labels = torch.stack([s.gt_label for s in data_samples]).float()
            return dict(loss=F.binary_cross_entropy_with_logits(logits, labels))
        if mode == 'predict':
            for sample, logit in zip(data_samples, logits.detach()):
                sample.pred_score = logit.sigmoid()
                sample.pred_label = (logit > 0).long()
            return data_samples
        return logits


@METRICS.register_module()
class ToyRefMetric(BaseMetric):
    default_prefix = 'toy'

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            self.results.append((int(sample['pred_label']), int(sample['gt_label']),
                                 float(sample['pred_score'])))

    def compute_metrics(self, results: list) -> dict:
        pred, gt, score = (np.asarray(col) for col in zip(*results))
        return dict(
            acc=np.float64((pred == gt).mean()), mean_score=np.float64(score.mean()))


@HOOKS.register_module()
class ToyVisualizationHook(Hook):

    def __init__(self, draw: bool = False, show: bool = False,
                 wait_time: float = 0., test_out_dir=None):
        self.draw = draw
        self.show = show
        self.wait_time = wait_time
        self.test_out_dir = test_out_dir

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not self.draw or self.test_out_dir is None:
            return
        out_dir = osp.join(runner.work_dir, runner.timestamp, self.test_out_dir)
        os.makedirs(out_dir, exist_ok=True)
        for sample in outputs:
            name = f'{sample.sample_idx}.txt'
            with open(osp.join(out_dir, name), 'w') as f:
                f.write(f'{float(sample.pred_score):.6f}\n')
