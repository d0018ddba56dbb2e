"""cIoU / gIoU / mIoU against hand-computed values, including the empty-mask cases."""
import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks

from desa2va_mm.evaluation import ReferringSegMetric


def _sample(pred, gt):
    pred = np.asarray(pred, bool)
    gt = np.asarray(gt, bool)
    return {'pred_instances': {'masks': torch.from_numpy(pred)},
            'gt_masks': BitmapMasks(gt, *gt.shape[1:]), 'img_path': 'x.jpg'}


def test_hand_computed_values():
    # sentence 1: I=2, U=4 ; sentence 2: I=1, U=1 ; sentence 3: both empty ; sentence 4:
    # no [SEG] (empty prediction) on a 3-pixel target: I=0, U=3.
    p1, g1 = [[1, 1, 1, 0]], [[0, 1, 1, 1]]
    p2, g2 = [[1, 0, 0, 0]], [[1, 0, 0, 0]]
    p3, g3 = [[0, 0, 0, 0]], [[0, 0, 0, 0]]
    p4, g4 = [[0, 0, 0, 0]], [[1, 1, 1, 0]]
    metric = ReferringSegMetric(metric=('cIoU', 'gIoU', 'mIoU'))
    metric.process({}, [_sample([p1, p2], [g1, g2])])
    metric.process({}, [_sample([p3, p4], [g3, g4])])
    out = metric.compute_metrics(metric.results)
    assert out['cIoU'] == pytest.approx(100 * 3 / 8)
    assert out['gIoU'] == pytest.approx(100 * (0.5 + 1 + 1 + 0) / 4)  # empty-empty = 1
    assert out['mIoU'] == pytest.approx(100 * (0.5 + 1 + 0 + 0) / 4)  # mmdet: = 0


def test_matches_mmdet_refseg_metric_when_no_empty_pairs():
    from mmdet.evaluation import RefSegMetric
    rng = np.random.default_rng(0)
    pred = rng.random((5, 6, 7)) > 0.5
    gt = rng.random((5, 6, 7)) > 0.5
    ours, theirs = ReferringSegMetric(metric=('cIoU', 'mIoU')), RefSegMetric()
    ours.process({}, [_sample(pred, gt)])
    theirs.process({}, [_sample(pred, gt)])
    a, b = ours.compute_metrics(ours.results), theirs.compute_metrics(theirs.results)
    assert a['cIoU'] == pytest.approx(float(b['cIoU']))
    assert a['mIoU'] == pytest.approx(float(b['mIoU']))


def test_shape_mismatch_names_sample_and_bad_metric_name():
    metric = ReferringSegMetric()
    with pytest.raises(ValueError, match='x.jpg'):
        metric.process({}, [_sample(np.zeros((1, 2, 2)), np.zeros((2, 2, 2)))])
    with pytest.raises(ValueError, match='subset'):
        ReferringSegMetric(metric=('cIoU', 'AP'))


def _sa2va_ciou(preds, gts):
    """Sa2VA's RESDataset.evaluate, hand-transcribed for binary masks: cumulative
    intersection / (cumulative union + 1e-10) of the foreground class, in percent (its
    intersectionAndUnionGPU needs CUDA, so it is not run from a fetched copy)."""
    inter = sum(int(np.logical_and(p, g).sum()) for p, g in zip(preds, gts))
    union = sum(int(np.logical_or(p, g).sum()) for p, g in zip(preds, gts))
    return 100 * inter / (union + 1e-10)


def test_all_empty_split_scores_ciou_like_sa2va_by_default():
    empty = np.zeros((3, 4, 5), bool)
    default = ReferringSegMetric(metric=('cIoU', 'gIoU', 'mIoU'))
    default.process({}, [_sample(empty, empty)])
    out = default.compute_metrics(default.results)
    assert out['cIoU'] == _sa2va_ciou(empty, empty) == 0.0
    assert out['gIoU'] == 100.0 and out['mIoU'] == 0.0  # per-sentence conventions unchanged
    perfect = ReferringSegMetric(empty_split_ciou=100.0)
    perfect.process({}, [_sample(empty, empty)])
    assert perfect.compute_metrics(perfect.results)['cIoU'] == 100.0
    with pytest.raises(ValueError, match='empty_split_ciou must be 0.0 .* or 100.0'):
        ReferringSegMetric(empty_split_ciou=50)


def test_ciou_matches_sa2va_formula_on_random_masks():
    rng = np.random.default_rng(1)
    pred = rng.random((6, 5, 7)) > 0.6
    gt = rng.random((6, 5, 7)) > 0.6
    gt[0] = pred[0] = False  # one empty-empty sentence adds nothing to either sum
    metric = ReferringSegMetric()
    metric.process({}, [_sample(pred, gt)])
    assert metric.compute_metrics(metric.results)['cIoU'] == pytest.approx(
        _sa2va_ciou(pred, gt), rel=1e-9)


def test_one_mask_per_seg_scores_each_sentences_first_mask():
    """pred_instances with one row per [SEG]: sentence 0 has two masks (the first is
    scored, as Sa2VA's evaluation scores prediction_masks[0]), sentence 1 one."""
    from desa2va_mm.evaluation import GRefSegMetric
    first, second, other = [[1, 1, 0, 0]], [[0, 0, 1, 1]], [[1, 0, 0, 0]]
    gt = np.asarray([[[1, 1, 0, 0]], [[1, 0, 0, 0]]], bool)
    sample = _sample([first, second, other], gt)
    sample['pred_instances']['sentence_idx'] = torch.tensor([0, 0, 1])
    for metric in (ReferringSegMetric(), GRefSegMetric()):
        metric.process({}, [sample])
        out = metric.compute_metrics(metric.results)
        assert out['cIoU'] == pytest.approx(100.0) and out['gIoU'] == pytest.approx(100.0)
    bad = _sample([first, other], gt)
    bad['pred_instances']['sentence_idx'] = torch.tensor([1, 1])
    with pytest.raises(ValueError, match=r'x\.jpg: pred_instances\.sentence_idx \[1, 1\] '
                                         'must run 0, 1'):
        ReferringSegMetric().process({}, [bad])
