"""GRefSegMetric against hand-computed values and a transcription of ReLA's loop."""
import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks

from desa2va_mm.evaluation import GRefSegMetric


def _sample(pred, gt, name='x.jpg'):
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    return {'pred_instances': {'masks': torch.from_numpy(pred)},
            'gt_masks': BitmapMasks(gt, *gt.shape[1:]), 'img_path': name}


def _rela(preds, gts):
    """ReLA's ReferEvaluator.evaluate for one source (pred_nt = empty prediction)."""
    acc_i = acc_u = acc_iou = 0.0
    nt = dict(TP=0, TN=0, FP=0, FN=0)
    for p, g in zip(preds, gts):
        i, u = np.logical_and(p, g).sum(), np.logical_or(p, g).sum()
        gt_nt, pred_nt = not g.any(), not p.any()
        if gt_nt:
            if pred_nt:
                nt['TP'] += 1
                acc_iou += 1
            else:
                nt['FN'] += 1
                acc_u += u
        else:
            if pred_nt:
                nt['FP'] += 1
                i = 0
            else:
                nt['TN'] += 1
            acc_iou += 0 if u == 0 else i / u
            acc_i += i
            acc_u += u
    return dict(cIoU=100 * acc_i / acc_u, gIoU=100 * acc_iou / len(preds),
                **{'T-acc': 100 * nt['TN'] / (nt['TN'] + nt['FP']),
                   'N-acc': 100 * nt['TP'] / (nt['TP'] + nt['FN'])})


def test_hand_computed_values():
    z = [[0, 0, 0, 0], [0, 0, 0, 0]]
    p_fn = [[1, 1, 1, 0], [0, 0, 0, 0]]  # 3 px on a no-target expression
    g_fp = [[0, 0, 0, 0], [1, 1, 1, 1]]  # 4 px target, empty prediction
    p_tn, g_tn = [[1, 1, 0, 0], [1, 1, 0, 0]], [[0, 1, 1, 0], [0, 1, 1, 0]]  # I 2, U 6
    metric = GRefSegMetric()
    metric.process({}, [_sample([z, p_fn], [z, z])])  # TP, FN
    metric.process({}, [_sample([z, p_tn], [g_fp, g_tn])])  # FP, TN
    out = metric.compute_metrics(metric.results)
    assert out['cIoU'] == pytest.approx(100 * 2 / (3 + 4 + 6))
    assert out['gIoU'] == pytest.approx(100 * (1 + 0 + 0 + 2 / 6) / 4)
    assert out['N-acc'] == pytest.approx(50.0)
    assert out['T-acc'] == pytest.approx(50.0)
    assert out['Pr@0.7'] == 0.0


def test_matches_rela_on_random_masks():
    rng = np.random.default_rng(0)
    gts = rng.random((40, 6, 7)) < 0.3
    preds = rng.random((40, 6, 7)) < 0.3
    gts[::3] = False  # no-target expressions
    preds[::4] = False  # predicted no-target (no [SEG] / empty mask)
    metric = GRefSegMetric()
    for k in range(0, 40, 8):
        metric.process({}, [_sample(preds[k:k + 8], gts[k:k + 8])])
    out = metric.compute_metrics(metric.results)
    ref = _rela(preds, gts)
    for key, value in ref.items():
        assert out[key] == pytest.approx(value), key


def test_no_no_target_split_and_errors():
    g = np.ones((1, 2, 2), bool)
    metric = GRefSegMetric()
    metric.process({}, [_sample(g, g)])
    out = metric.compute_metrics(metric.results)
    assert out['N-acc'] == out['T-acc'] == 0.0  # ReLA convention
    assert out['cIoU'] == out['gIoU'] == 100.0
    with pytest.raises(ValueError, match='y.jpg'):
        metric.process({}, [_sample(np.zeros((1, 2, 2)), np.zeros((2, 2, 2)), 'y.jpg')])
    with pytest.raises(KeyError, match="'pred_instances'"):
        metric.process({}, [{'gt_masks': None, 'img_path': 'z.jpg'}])


def test_all_no_target_split_ciou_convention():
    # Every expression no-target and predicted no-target: sum U = 0. ReLA divides by zero;
    # Sa2VA's gRefCOCO evaluation reports I / (U + 1e-10) = 0 (the default).
    empty = np.zeros((2, 3, 3), bool)
    metric = GRefSegMetric()
    metric.process({}, [_sample(empty, empty)])
    out = metric.compute_metrics(metric.results)
    assert out['cIoU'] == 0.0
    assert out['gIoU'] == 100.0 and out['N-acc'] == 100.0
    perfect = GRefSegMetric(empty_split_ciou=100.0)
    perfect.process({}, [_sample(empty, empty)])
    assert perfect.compute_metrics(perfect.results)['cIoU'] == 100.0
    with pytest.raises(ValueError, match='empty_split_ciou'):
        GRefSegMetric(empty_split_ciou=1.0)
