"""ReVOSMetric: A and R by hand and against VISA's formulas, groups, rounding, errors."""
import numpy as np
import pytest
from reference_code import reference_module
from video_metric_utils import rle
from video_metric_utils import video as _video

from desa2va_mm.evaluation import ReVOSMetric


def video(*args, **kwargs):
    """A ReVOS prediction: single-object expressions unless gt_object_rles says otherwise."""
    kwargs.setdefault('gt_object_rles', {})
    return _video(*args, **kwargs)


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
    bad_type = video('v', preds=[[pred]], gts=[[gt]], type_ids=[3], foreground_rles=[None])
    with pytest.raises(ValueError, match='type_id'):
        ReVOSMetric().process({}, [bad_type])
    bad_fg = video('v', preds=[[pred]], gts=[[gt]], type_ids=[0],
                   foreground_rles=[rle(np.zeros((3, 3), bool))])
    with pytest.raises(ValueError, match=r"video 'v', frame '00000' \(foreground_rles\)"):
        ReVOSMetric().process({}, [bad_fg])


# Two overlapping objects of one expression on a 32 x 48 frame (HW = 1536), another
# annotated object elsewhere; object A 80 px, B 64 px, overlap O 16 px, union G 128 px,
# foreground F = A | B | C = 896 px.
_H, _W = 32, 48


def _overlap_scene():
    a, b, c = (np.zeros((_H, _W), bool) for _ in range(3))
    a[4:12, 4:14] = True
    b[4:12, 12:20] = True
    c[16:32, :] = True
    p0 = np.zeros((_H, _W), bool)
    p0[4:12, 10:16] = True  # 48 px: all of O (16), 16 of A only, 16 of B only
    p0[0:2, 0:5] = True  # 10 false-positive px
    p1 = np.zeros((_H, _W), bool)
    p1[4:12, 4:12] = True  # 64 px of A only
    p1[4, 12] = True  # 1 px of O
    return a, b, c, [p0, p1]


def _overlap_sample(type_ids=(0,)):
    a, b, c, preds = _overlap_scene()
    return video('v', preds=[preds], gts=[[a | b, a | b]], type_ids=list(type_ids),
                 foreground_rles=[rle(a | b | c)] * 2,
                 gt_object_rles={'0': [[rle(a), rle(a)], [rle(b), rle(b)]]})


def test_overlapping_objects_are_added_up_like_visa_by_default():
    hw, fg = _H * _W, 896 + 1e-6
    summed = ReVOSMetric(round_per_expression=False)
    summed.process({}, [_overlap_sample()])
    union = ReVOSMetric(round_per_expression=False, overlap='union')
    union.process({}, [_overlap_sample()])
    s, u = summed.results[0][0], union.results[0][0]
    # Frame 0: |P xor G| = (128 - 48) + 10 = 90; frame 1: 128 - 65 = 63. With the objects
    # added up (C = 2 on O) a predicted overlap pixel is also wrong: 16 and 1 more.
    assert u['A'] == pytest.approx(((1 - 90 / hw) + (1 - 63 / hw)) / 2)
    assert s['A'] == pytest.approx(((1 - 106 / hw) + (1 - 64 / hw)) / 2)
    # R: union counts only the 10 px outside G; the sum adds (1 - 2) mod 256 = 255 per
    # predicted overlap pixel: frame 0 10 + 16 * 255 (clipped to 0), frame 1 255.
    assert u['R'] == pytest.approx(((1 - 10 / fg) + 1) / 2)
    assert s['R'] == pytest.approx((0 + (1 - 255 / fg)) / 2)
    # J and F binarise the ground truth in both.
    assert (s['J'], s['F']) == (u['J'], u['F'])
    assert s['J'] == pytest.approx((48 / 138 + 65 / 128) / 2)


def test_summed_ground_truth_matches_visas_functions(tmp_path):
    visa = reference_module('cilinyan/VISA', 'tools/metrics.py', str(tmp_path))
    a, b, c, preds = _overlap_scene()
    gt = np.stack([a.astype(np.uint8) + b.astype(np.uint8)] * 2)  # VISA: gt += decode(rle)
    pred = np.stack(preds).astype(np.uint8)
    fg = np.stack([(a | b | c).astype(np.uint8)] * 2)
    metric = ReVOSMetric(round_per_expression=False)
    metric.process({}, [_overlap_sample()])
    rec = metric.results[0][0]
    assert rec['A'] == pytest.approx(visa.get_r2vos_accuracy(gt, pred).mean(), abs=1e-12)
    assert rec['R'] == pytest.approx(visa.get_r2vos_robustness(gt, pred, fg).mean(),
                                     abs=1e-12)
    assert rec['J'] == pytest.approx(visa.db_eval_iou(gt, pred).mean(), abs=1e-12)


def test_type_2_is_scored_but_left_out_of_every_average():
    gt, pred, other = _masks()
    z = np.zeros_like(gt)
    # referring: perfect; reasoning: empty prediction (0); type 2: 2 / 8 IoU.
    sample = video('v', preds=[[gt], [z], [pred]], gts=[[gt], [gt], [gt]],
                   type_ids=[0, 1, 2], foreground_rles=[[rle(gt), rle(other)]])
    metric = ReVOSMetric()
    metric.process({}, [sample])
    recs = metric.results[0]
    assert [r['type_id'] for r in recs] == [0, 1, 2]
    assert recs[2]['J'] == pytest.approx(2 / 8)  # scored
    out = metric.compute_metrics(metric.results)
    assert out['referring/J'] == 100.0 and out['reasoning/J'] == 0.0
    assert out['overall/J'] == 50.0  # (100 + 0) / 2: the type 2 expression is not in it
    assert not any(k.startswith(('2/', 'not averaged')) for k in out)
    only_type_2 = ReVOSMetric()
    only_type_2.process({}, [video('v', preds=[[pred]], gts=[[gt]], type_ids=[2],
                                   foreground_rles=[rle(gt)])])
    assert only_type_2.compute_metrics(only_type_2.results) == {}


def test_summed_mode_needs_the_object_masks():
    gt, pred, _ = _masks()
    sample = _video('v', preds=[[pred]], gts=[[gt]], type_ids=[0], foreground_rles=[rle(gt)])
    with pytest.raises(KeyError, match="gt_object_rles.*meta_keys.*overlap='union'"):
        ReVOSMetric().process({}, [sample])
    ReVOSMetric(overlap='union').process({}, [sample])
    with pytest.raises(ValueError, match="overlap must be one of"):
        ReVOSMetric(overlap='max')
    short = _video('v', preds=[[pred]], gts=[[gt]], type_ids=[0], foreground_rles=[rle(gt)],
                   gt_object_rles={'0': [[rle(gt), rle(gt)], [rle(gt)]]})
    with pytest.raises(ValueError, match="expression '0': gt_object_rles has an object "
                                         'with 2 frames but frame_names has 1'):
        ReVOSMetric().process({}, [short])
