"""ReVOSMetric: A and R by hand and against VISA's formulas, groups, rounding, errors."""
import numpy as np
import pytest
from video_metric_utils import rle, video

from desa2va_mm.evaluation import ReVOSMetric


def _visa_a_r(gt, pred, fg):
    """VISA's get_r2vos_accuracy / get_r2vos_robustness for one frame (uint8 0 / 1)."""
    gt, pred, fg = (np.asarray(x, np.uint8) for x in (gt, pred, fg))
    acc = np.mean(gt == pred)
    neg = ((1 - gt) * pred).sum()
    return acc, max(1 - neg / (fg.sum() + 1e-6), 0.0)


def _masks():
    gt = np.zeros((4, 5), bool)
    gt[1:3, 1:3] = True  # 4 px
    pred = np.zeros((4, 5), bool)
    pred[1:3, 2:5] = True  # 6 px, 2 shared with gt -> I = 2, U = 8
    other = np.zeros((4, 5), bool)
    other[0, :] = True  # another annotated object, 5 px
    return gt, pred, other


def test_hand_computed_accuracy_and_robustness():
    gt, pred, other = _masks()
    fg = [rle(gt), rle(other)]  # the frame's foreground: all annotated objects (9 px)
    sample = video('v', preds=[[pred]], gts=[[gt]], type_ids=[0], foreground_rles=[fg])
    metric = ReVOSMetric(round_per_expression=False)
    metric.process({}, [sample])
    rec = metric.results[0][0]
    assert rec['A'] == pytest.approx(1 - 6 / 20)  # |P xor G| = U - I = 6 of 20 pixels
    assert rec['R'] == pytest.approx(1 - 4 / (9 + 1e-6))  # P \ G = 4 px
    acc, rob = _visa_a_r(gt, pred, gt | other)
    assert (rec['A'], rec['R']) == (pytest.approx(acc), pytest.approx(rob))


def test_robustness_is_clipped_at_zero():
    gt, pred, _ = _masks()
    tiny = np.zeros_like(gt)
    tiny[0, 0] = True
    sample = video('v', preds=[[pred]], gts=[[gt]], type_ids=[1], foreground_rles=[rle(tiny)])
    metric = ReVOSMetric()
    metric.process({}, [sample])
    assert metric.results[0][0]['R'] == 0.0


def test_groups_overall_and_rounding():
    gt, pred, other = _masks()
    z = np.zeros_like(gt)
    # referring: 2 expressions (one perfect, one 2/8 IoU); reasoning: 1 expression (empty
    # prediction of a target: J = F = 0).
    sample = video('v', preds=[[gt], [pred], [z]], gts=[[gt], [gt], [gt]],
                   type_ids=[0, 0, 1], foreground_rles=[[rle(gt), rle(other)]])
    exact = ReVOSMetric(round_per_expression=False)
    exact.process({}, [sample])
    rounded = ReVOSMetric()
    rounded.process({}, [sample])
    recs = exact.results[0]
    out, out_r = (m.compute_metrics(m.results) for m in (exact, rounded))
    ref_j = (recs[0]['J'] + recs[1]['J']) / 2 * 100
    assert recs[1]['J'] == pytest.approx(2 / 8)
    assert out['referring/J'] == pytest.approx(ref_j)
    assert out['reasoning/J'] == 0.0
    assert out['overall/J'] == pytest.approx((ref_j + 0) / 2)
    assert out['referring/J&F'] == pytest.approx((out['referring/J'] + out['referring/F']) / 2)
    assert out['overall/J&F'] == pytest.approx(
        (out['referring/J&F'] + out['reasoning/J&F']) / 2)
    # VISA rounds each expression's percentage to 2 decimals before averaging.
    ref_f_rounded = (round(100 * recs[0]['F'], 2) + round(100 * recs[1]['F'], 2)) / 2
    assert out_r['referring/F'] == pytest.approx(ref_f_rounded, abs=1e-12)
    for key in ('A', 'R'):
        assert f'overall/{key}' in out


def test_errors_and_robustness_switch():
    gt, pred, _ = _masks()
    sample = video('v', preds=[[pred]], gts=[[gt]], type_ids=[0])
    with pytest.raises(KeyError, match='foreground_rles'):
        ReVOSMetric().process({}, [sample])
    metric = ReVOSMetric(robustness=False)
    metric.process({}, [sample])
    out = metric.compute_metrics(metric.results)
    assert 'overall/R' not in out and 'referring/A' in out
    bad_type = video('v', preds=[[pred]], gts=[[gt]], type_ids=[2], foreground_rles=[None])
    with pytest.raises(ValueError, match='type_id'):
        ReVOSMetric().process({}, [bad_type])
    bad_fg = video('v', preds=[[pred]], gts=[[gt]], type_ids=[0],
                   foreground_rles=[rle(np.zeros((3, 3), bool))])
    with pytest.raises(ValueError, match=r"video 'v', frame '00000' \(foreground_rles\)"):
        ReVOSMetric().process({}, [bad_fg])
