"""gRefCOCO: cIoU, gIoU, N-acc and T-acc with the ReLA (GRES) evaluator's conventions."""
from typing import Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from desa2va_mm.registry import METRICS
from .referring_seg_metric import sentence_masks

_PR_THRESHOLDS = (0.7, 0.8, 0.9)


@METRICS.register_module()
class GRefSegMetric(BaseMetric):
    """Generalised referring segmentation metrics (gRefCOCO, ReLA's ``ReferEvaluator``).

    An expression is *no-target* when its ground-truth mask is empty, and is *predicted*
    no-target when the predicted mask is empty (a DeSa2VA answer without ``[SEG]`` gives
    an empty mask, so it is never dropped). Following ReLA
    (``gres_model/evaluation/refer_evaluation.py``), per expression with I = |P & G|,
    U = |P | G|:

    * no-target, predicted no-target (TP): IoU 1, adds 0 to cumulative I and U;
    * no-target, predicted a mask (FN): IoU 0, adds U (the predicted area) to cumulative U;
    * target, predicted no-target (FP): IoU 0, adds U (= |G|) to cumulative U;
    * target, predicted a mask (TN): IoU = I / U, adds I and U.

    Reported (percent): ``cIoU`` = sum I / sum U, ``gIoU`` = mean IoU over all
    expressions, ``N-acc`` = TP / (TP + FN) (no-target expressions recognised),
    ``T-acc`` = TN / (TN + FP) (target expressions given a mask), and ``Pr@0.7/0.8/0.9``
    over target expressions. As in ReLA, N-acc and T-acc are 0 when a split has no
    no-target expression.

    A split where every expression is no-target and predicted no-target has sum U = 0:
    ReLA's evaluator divides by zero there and Sa2VA's gRefCOCO evaluation divides by
    ``sum U + 1e-10``, reporting cIoU 0, which is the default; ``empty_split_ciou=100.0``
    scores it as perfect (as gIoU does).

    Input: image predictions, ``pred_instances.masks`` (one row per ``[SEG]``, the first
    of each sentence scored: :func:`~.referring_seg_metric.sentence_masks`) and
    ``gt_masks`` (N, H, W) with the union of each sentence's objects (empty for
    no-target).

    Args:
        empty_split_ciou: cIoU reported when sum U = 0: ``0.0`` (Sa2VA) or ``100.0``.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Metric name prefix.
    """

    default_prefix: Optional[str] = None

    def __init__(self, empty_split_ciou: float = 0.0, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if empty_split_ciou not in (0.0, 100.0):
            raise ValueError(f'empty_split_ciou must be 0.0 (Sa2VA) or 100.0, got '
                             f'{empty_split_ciou!r}')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.empty_split_ciou = float(empty_split_ciou)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            where = sample.get('img_path', '<unknown image>')
            for key in ('pred_instances', 'gt_masks'):
                if key not in sample:
                    raise KeyError(f'{where}: the sample has no {key!r}')
            pred = sentence_masks(sample['pred_instances'], where)
            gt = sample['gt_masks']
            gt = gt.to_tensor(torch.bool, pred.device) if hasattr(gt, 'to_tensor') else \
                torch.as_tensor(gt).bool()
            if pred.shape != gt.shape:
                raise ValueError(f'{where}: predicted masks {tuple(pred.shape)} and ground '
                                 f'truth {tuple(gt.shape)} differ')
            n = len(pred)
            inter = (pred & gt).reshape(n, -1).sum(-1)
            union = (pred | gt).reshape(n, -1).sum(-1)
            gt_nt = gt.reshape(n, -1).sum(-1) == 0
            pred_nt = pred.reshape(n, -1).sum(-1) == 0
            stats = dict(I=0, U=0, iou=0.0, total=n, TP=0, TN=0, FP=0, FN=0, targets=0,
                         **{f'pr{t}': 0 for t in _PR_THRESHOLDS})
            for i in range(n):
                I, U = int(inter[i]), int(union[i])
                if gt_nt[i]:
                    if pred_nt[i]:
                        stats['TP'] += 1
                        stats['iou'] += 1.0
                    else:
                        stats['FN'] += 1
                        stats['U'] += U
                    continue
                if pred_nt[i]:
                    stats['FP'] += 1
                    I = 0
                else:
                    stats['TN'] += 1
                iou = 0.0 if U == 0 else I / U
                stats['iou'] += iou
                stats['I'] += I
                stats['U'] += U
                stats['targets'] += 1
                for t in _PR_THRESHOLDS:
                    stats[f'pr{t}'] += int(iou >= t)
            self.results.append(stats)

    def compute_metrics(self, results: list) -> dict:
        total = {k: sum(r[k] for r in results) for k in results[0]} if results else {}
        if not total or total['total'] == 0:
            return {}
        out = {
            'cIoU': (100.0 * total['I'] / total['U'] if total['U'] > 0
                     else self.empty_split_ciou),
            'gIoU': 100.0 * total['iou'] / total['total'],
        }
        if total['TP'] + total['FN'] > 0:
            out['N-acc'] = 100.0 * total['TP'] / (total['TP'] + total['FN'])
            out['T-acc'] = 100.0 * total['TN'] / max(total['TN'] + total['FP'], 1)
        else:
            print_log('GRefSegMetric: no no-target expression in this split; N-acc and '
                      'T-acc are reported as 0 (ReLA convention)', logger='current')
            out['N-acc'] = out['T-acc'] = 0.0
        for t in _PR_THRESHOLDS:
            out[f'Pr@{t}'] = 100.0 * total[f'pr{t}'] / max(total['targets'], 1)
        return out
