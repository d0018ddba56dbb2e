"""VideoJFMetric: hand-computed J / F / J&F, merging, bad input, online splits."""
import os.path as osp

import numpy as np
import pytest
from video_metric_utils import dot, rle, video

from desa2va_mm.evaluation import VideoJFMetric
from desa2va_mm.evaluation.functional.davis_reference import (reference_db_eval_boundary,
                                                              reference_db_eval_iou)

H = W = 8  # r = ceil(0.008 * sqrt(128)) = 1


def _hand_videos():
    z = np.zeros((H, W), bool)
    blob = z.copy()
    blob[2:5, 3:7] = True
    # Expression a: identical masks, then both empty -> J = F = 1 on both frames.
    # Expression b: empty prediction on a target (J 0, F 0), then single pixels two
    # columns apart -> J 0, F 0.5 (see test_jf.test_hand_computed_f).
    v1 = video('v1', preds=[[blob, z], [z, dot(H, W, 2, 2)]],
               gts=[[blob, z], [blob, dot(H, W, 2, 4)]], exp_ids=['a', 'b'])
    # Expression c: a prediction where nothing is to be found -> J 0, F 0.
    v2 = video('v2', preds=[[blob]], gts=[[z]], exp_ids=['c'])
    return v1, v2


def test_hand_computed_values_over_several_process_calls():
    v1, v2 = _hand_videos()
    metric = VideoJFMetric()
    metric.process({}, [v1])
    metric.process({}, [v2])
    assert len(metric.results) == 2  # one entry per video, whatever its expressions
    out = metric.evaluate(2)
    j = (1 + 0 + 0) / 3  # per expression: mean over frames; then mean over expressions
    f = (1 + 0.25 + 0) / 3
    assert out['J'] == pytest.approx(100 * j)
    assert out['F'] == pytest.approx(100 * f)
    assert out['J&F'] == pytest.approx(100 * (j + f) / 2)


def test_matches_reference_on_random_video():
    rng = np.random.default_rng(0)
    gts = rng.random((2, 5, 30, 41)) < 0.3
    preds = np.where(rng.random((2, 5, 30, 41)) < 0.1, ~gts, gts)
    preds[0, 2] = False  # an empty prediction frame
    gts[1, 3] = False  # an empty ground-truth frame
    metric = VideoJFMetric()
    metric.process({}, [video('v', preds=list(map(list, preds)), gts=list(map(list, gts)))])
    out = metric.compute_metrics(metric.results)
    j = np.mean([reference_db_eval_iou(g, p).mean() for g, p in zip(gts, preds)])
    f = np.mean([reference_db_eval_boundary(g, p).mean() for g, p in zip(gts, preds)])
    assert out['J'] == pytest.approx(100 * j, abs=1e-9)
    assert out['F'] == pytest.approx(100 * f, abs=1e-9)


def test_bad_inputs_name_the_video_frame_or_key():
    v1, _ = _hand_videos()
    bad = dict(v1)
    bad['gt_rles'] = [list(frames) for frames in v1['gt_rles']]
    bad['gt_rles'][1][1] = rle(np.zeros((H + 1, W), bool))
    with pytest.raises(ValueError, match=r"video 'v1', expression 'b', frame '00001'.*size"):
        VideoJFMetric().process({}, [bad])
    missing = {k: v for k, v in v1.items() if k != 'pred_rles'}
    with pytest.raises(KeyError, match=r"'v1'.*'pred_rles'"):
        VideoJFMetric().process({}, [missing])
    short = dict(v1, frame_names=['00000'])
    with pytest.raises(ValueError, match='frame_names has 1'):
        VideoJFMetric().process({}, [short])
    with pytest.raises(ValueError, match='out_dir'):
        VideoJFMetric(zip_submission=True)


def test_online_split_writes_submission_and_scores_nothing(tmp_path):
    v1, _ = _hand_videos()
    online = {k: v for k, v in v1.items() if k != 'gt_rles'}
    metric = VideoJFMetric(out_dir=str(tmp_path), zip_submission=True)
    metric.process({}, [online])
    assert metric.compute_metrics(metric.results) == {}
    assert osp.isfile(tmp_path / 'Annotations' / 'v1' / 'b' / '00001.png')
    assert osp.isfile(tmp_path / 'submission.zip')


def test_chunking_does_not_change_scores():
    rng = np.random.default_rng(1)
    gts = rng.random((1, 7, 20, 26)) < 0.4
    preds = np.roll(gts, 1, axis=3)
    sample = video('v', preds=list(map(list, preds)), gts=list(map(list, gts)))
    outs = []
    for chunk in (1, 3, 16):
        metric = VideoJFMetric(chunk_frames=chunk)
        metric.process({}, [sample])
        outs.append(metric.compute_metrics(metric.results))
    assert outs[0] == outs[1] == outs[2]
    with pytest.raises(ValueError, match='chunk_frames'):
        VideoJFMetric(chunk_frames=0)


def test_accepts_data_samples_and_their_dicts():
    from mmdet.structures import DetDataSample
    v1, _ = _hand_videos()
    sample = DetDataSample()
    sample.set_metainfo(v1)
    results = []
    for item in (sample, sample.to_dict()):  # the Evaluator passes to_dict() output
        metric = VideoJFMetric()
        metric.process({}, [item])
        results.append(metric.compute_metrics(metric.results))
    assert results[0] == results[1]
    assert results[0]['J'] == pytest.approx(100 * (1 + 0) / 2)


def test_first_frame_copy_of_the_same_predictions():
    # A prediction that follows a moving object (J = F = 1 on both frames) against its
    # own first frame copied forward: frame 1 then misses the moved object (J 0, F 0).
    z = np.zeros((H, W), bool)
    a, b = z.copy(), z.copy()
    a[1:3, 1:3] = True
    b[5:7, 5:7] = True
    v = video('v', preds=[[a, b]], gts=[[a, b]], exp_ids=['e'])
    metric = VideoJFMetric(report_first_frame_copy=True)
    metric.process({}, [v])
    out = metric.evaluate(1)
    assert out['J'] == pytest.approx(100.0) and out['F'] == pytest.approx(100.0)
    assert out['first_frame_copy/J'] == pytest.approx(50.0)
    assert out['first_frame_copy/F'] == pytest.approx(50.0)
    assert out['first_frame_copy/J&F'] == pytest.approx(50.0)
    plain = VideoJFMetric()
    plain.process({}, [v])
    assert sorted(plain.evaluate(1)) == ['F', 'J', 'J&F']  # off by default
