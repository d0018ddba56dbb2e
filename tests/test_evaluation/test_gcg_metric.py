"""GCGMetric and its functional parts against hand-computed values."""
import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks

from desa2va_mm.evaluation import GCGMetric
from desa2va_mm.evaluation.functional import (cider_d, grounded_matches, image_miou,
                                              parse_gcg_answer, token_overlap_similarity)


def _rows(r0, r1, extra=0):
    m = np.zeros((10, 10), bool)
    m[r0:r1] = True
    if extra:
        m[r1, :extra] = True
    return m


def test_parse_gcg_answer_as_sa2va():
    text = '<p> A man </p> [SEG] walks <p> a dog </p> [SEG].<|im_end|>'
    # Sa2VA's cleaning leaves a space where '[SEG]' stood before the period.
    assert parse_gcg_answer(text) == ('A man walks a dog .', ['A man', 'a dog'], 2)
    assert parse_gcg_answer('A plain caption.') == ('A plain caption.', [], 0)


def test_cider_d_hand_computed():
    # Two images, N = 2: every reference n-gram has df = 1, weight ln 2; an n-gram in no
    # reference (e) also gets ln 2 (df clipped to 1). Image 1 ("a b" vs "a b"): cosine 1 for
    # unigrams and bigrams, no 3- or 4-grams -> 10 * (1 + 1) / 4 = 5. Image 2 ("c e" vs
    # "c d"): unigram cosine ln2^2 / (2 ln2^2) = 0.5, bigrams 0 -> 10 * 0.5 / 4 = 1.25.
    score, per_image = cider_d(['a b', 'c e'], [['a b'], ['c d']])
    assert per_image == pytest.approx([5.0, 1.25])
    assert score == pytest.approx(3.125)
    # One image alone: log(N) = 0, every weight is 0.
    assert cider_d(['a b'], [['a b']])[0] == 0.0
    with pytest.raises(ValueError, match='image 0 has no reference'):
        cider_d(['a'], [[]])


def test_cider_d_length_penalty():
    # "a b c" vs reference "a b" (other image "x y"): 1 bigram vs 2, penalty exp(-1/72);
    # unigram cosine 2 / (sqrt(3) sqrt(2)) (c gets weight ln 2 too), bigram 1 / (sqrt(2) * 1).
    score = cider_d(['a b c', 'x y'], [['a b'], ['x y']])[1][0]
    expected = 10 / 4 * np.exp(-1 / 72) * (2 / np.sqrt(6) + 1 / np.sqrt(2))
    assert score == pytest.approx(expected)


def test_miou_uses_glamm_greedy_pairing():
    # IoU(pred 0, gt 0) = 1, IoU(pred 1, gt 1) = 32 / 50 = 0.64.
    gt = np.stack([_rows(0, 5), _rows(5, 10)])
    pred = np.stack([_rows(0, 5), _rows(5, 8, extra=2)])
    assert image_miou(pred, gt) == pytest.approx((1 + 0.64) / 2)
    # Greedy takes the highest IoU first: pred 0 (rows 0-6) pairs with gt 0 (IoU 5/7) and
    # pred 1 (rows 5-9) is left with gt 1 (IoU 5/5 = 1): highest first is (1, 1).
    pred = np.stack([_rows(0, 7), _rows(5, 10)])
    assert image_miou(pred, gt) == pytest.approx((1 + 5 / 7) / 2)
    assert image_miou(np.zeros((0, 10, 10), bool), gt) == 0.0


def test_recall_matching_stops_at_first_failing_pair():
    gt = np.stack([_rows(0, 5), _rows(5, 10)])
    pred = np.stack([_rows(0, 5), _rows(5, 8, extra=2)])
    assert token_overlap_similarity('a dog', 'the dog') == pytest.approx(0.5)
    assert grounded_matches(gt, ['a man', 'a dog'], pred, ['a man', 'the dog'],
                            token_overlap_similarity) == [(0, 0), (1, 1)]
    exact = lambda a, b: float(a == b)  # noqa: E731  (a pluggable matcher)
    assert grounded_matches(gt, ['a man', 'a dog'], pred, ['a man', 'the dog'], exact) == [
        (0, 0)]
    # The highest-IoU pair fails the text test: matching ends, nothing counted.
    assert grounded_matches(gt, ['a man', 'a dog'], pred, ['a cat', 'a dog'], exact) == []


def _sample(answer, gt, gt_caption, gt_phrases, pred_masks, sentence_idx=None):
    n = len(pred_masks)
    return dict(img_path='x.jpg', pred_answers=[answer], gt_caption=gt_caption,
                gt_phrases=gt_phrases, gt_masks=BitmapMasks(gt.astype(np.uint8), 10, 10),
                pred_instances=dict(
                    masks=torch.as_tensor(np.asarray(pred_masks).reshape(n, 10, 10)),
                    scores=torch.ones(n),
                    sentence_idx=torch.as_tensor(sentence_idx or [0] * n)))


def test_gcg_metric_hand_computed():
    gt1 = np.stack([_rows(0, 5), _rows(5, 10)])
    s1 = _sample('<p> man </p> [SEG] <p> dog </p> [SEG]', gt1, 'man dog', ['man', 'dog'],
                 np.stack([_rows(0, 5), _rows(5, 8, extra=2)]))
    # No [SEG]: the model's placeholder empty row is not a prediction.
    s2 = _sample('cat sky', _rows(0, 3)[None], 'cat tree', ['cat'],
                 np.zeros((1, 10, 10), bool))
    metric = GCGMetric(metric=('mask_AP', 'mask_AP50', 'mIoU', 'recall', 'CIDEr'))
    metric.process({}, [s1, s2])
    out = metric.compute_metrics(metric.results)
    # AP: 3 ground-truth masks, 2 predictions (IoU 1 and 0.64). At IoU thresholds
    # 0.50 / 0.55 / 0.60 both are true positives: precision 1 up to recall 2/3, i.e. 67 of
    # COCO's 101 recall points; at 0.65 .. 0.95 the second is a false positive: 34 points.
    assert out['mask_AP50'] == pytest.approx(100 * 67 / 101)
    assert out['mask_AP'] == pytest.approx(100 * (3 * 67 + 7 * 34) / 101 / 10)
    assert out['mIoU'] == pytest.approx(100 * ((1 + 0.64) / 2 + 0) / 2)
    assert out['recall'] == pytest.approx(100 * 2 / 3)
    assert out['CIDEr'] == pytest.approx(100 * 3.125)  # the cider_d hand case, word for word


def test_gcg_metric_meteor_is_reported_or_explained(monkeypatch):
    import desa2va_mm.evaluation.metrics.gcg_metric as mod
    monkeypatch.setattr(mod, 'meteor_scorer', lambda: (None, 'METEOR needs a Java runtime'))
    logged = []
    monkeypatch.setattr(mod, 'print_log', lambda msg, **kw: logged.append(msg))
    metric = GCGMetric(metric=('METEOR', 'CIDEr'))
    metric.process({}, [_sample('cat', _rows(0, 3)[None], 'cat', ['cat'],
                                np.zeros((1, 10, 10), bool))])
    out = metric.compute_metrics(metric.results)
    assert 'METEOR' not in out and set(out) == {'CIDEr'}
    assert logged == ['GCGMetric: METEOR not reported: METEOR needs a Java runtime.']


def test_gcg_metric_errors():
    with pytest.raises(ValueError, match='metric must be a non-empty subset'):
        GCGMetric(metric=('BLEU', ))
    with pytest.raises(ValueError, match="phrase_matcher must be a callable or one of"):
        GCGMetric(phrase_matcher='bert')
    metric = GCGMetric()
    with pytest.raises(KeyError, match="x.jpg: GCGMetric needs .*gt_caption"):
        metric.process({}, [dict(img_path='x.jpg', gt_masks=None)])
