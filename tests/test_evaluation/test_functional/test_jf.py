"""Fast DAVIS J / F == the official per-frame algorithm, on crafted and random masks."""
import math

import numpy as np
import pytest

from desa2va_mm.evaluation.functional import (boundary_radius, clip_scores, db_eval_boundary,
                                              db_eval_iou, f_measure, frame_scores,
                                              jf_per_frame, seg2bmap)
from desa2va_mm.evaluation.functional.davis_reference import (reference_db_eval_boundary,
                                                              reference_db_eval_iou,
                                                              reference_f_measure,
                                                              reference_seg2bmap)

pytest.importorskip('skimage')


@pytest.fixture(params=['dilate', 'points'])
def method(request, monkeypatch):
    """Run a test through each of the two exact methods (radius-based dispatch forced)."""
    from desa2va_mm.evaluation.functional import jf
    monkeypatch.setattr(jf, '_DILATE_MAX_RADIUS', 10 ** 6 if request.param == 'dilate' else -1)
    return request.param


def _blob(rng, h, w, n=3):
    """A union of random axis-aligned ellipses (realistic object masks)."""
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w), bool)
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ay, ax = rng.uniform(0.5, max(h / 2, 1)), rng.uniform(0.5, max(w / 2, 1))
        m |= ((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2 <= 1
    return m


def _adversarial(rng, h, w):
    """Masks that stress borders, thin structures and sparse/dense boundaries."""
    kinds = []
    kinds.append(rng.random((h, w)) < rng.uniform(0.01, 0.99))  # noise, any density
    m = np.zeros((h, w), bool)
    m[rng.integers(0, h), :] = True  # a full-width line
    kinds.append(m)
    m = np.zeros((h, w), bool)
    m[:, rng.integers(0, w)] = True  # a full-height line
    kinds.append(m)
    kinds.append(np.indices((h, w)).sum(0) % 2 == 0)  # checkerboard
    kinds.append(np.ones((h, w), bool))  # full mask: no boundary at all
    m = np.zeros((h, w), bool)
    m[-1, :] = True  # only the last row (east-only rule)
    kinds.append(m)
    m = np.zeros((h, w), bool)
    m[:, -1] = True  # only the last column (south-only rule)
    kinds.append(m)
    m = np.zeros((h, w), bool)
    m[-1, -1] = True  # only the bottom-right pixel
    kinds.append(m)
    m = np.zeros((h, w), bool)
    m[rng.integers(0, h, 5), rng.integers(0, w, 5)] = True  # isolated pixels
    kinds.append(m)
    kinds.append(_blob(rng, h, w))
    kinds.append(np.zeros((h, w), bool))
    return kinds


SIZES = [(1, 1), (1, 7), (6, 1), (2, 2), (3, 5), (8, 8), (17, 31), (40, 23), (64, 97),
         (120, 213)]


def test_boundary_map_equals_seg2bmap():
    rng = np.random.default_rng(0)
    for h, w in SIZES:
        for m in _adversarial(rng, h, w):
            np.testing.assert_array_equal(seg2bmap(m), reference_seg2bmap(m))


def test_hand_computed_f(method):
    # 8x8 frame: r = ceil(0.008 * sqrt(128)) = 1. A single foreground pixel at (y, x) has
    # the boundary {y-1, y} x {x-1, x}. P at (2, 2): columns 1-2; G at (2, 4): columns 3-4.
    # Pairs closer than r = 1: P's column 2 with G's column 3, same rows -> 2 of 4 each.
    p = np.zeros((8, 8), bool)
    g = np.zeros((8, 8), bool)
    p[2, 2] = g[2, 4] = True
    assert boundary_radius(8, 8) == 1
    assert f_measure(p, g) == pytest.approx(0.5)  # P = R = 0.5
    # One column further: no boundary pixel within 1 -> P = R = 0 -> F = 0.
    g2 = np.zeros((8, 8), bool)
    g2[2, 5] = True
    assert f_measure(p, g2) == 0.0
    assert f_measure(p, p) == 1.0


def test_empty_cases(method):
    z = np.zeros((10, 12), bool)
    m = z.copy()
    m[3:6, 4:9] = True
    full = np.ones_like(z)
    assert f_measure(z, z) == 1.0  # both empty: P = R = 1
    assert f_measure(z, m) == 0.0  # P empty, G not: P = 1, R = 0
    assert f_measure(m, z) == 0.0  # G empty, P not: P = 0, R = 1
    # A full mask has no boundary: it counts as an empty boundary map (as DAVIS does).
    assert f_measure(full, full) == 1.0
    assert f_measure(full, m) == reference_f_measure(full, m) == 0.0
    assert db_eval_iou(z, z) == 1.0  # J of empty vs empty is 1
    assert db_eval_iou(z, m) == 0.0
    assert db_eval_iou(m, m) == 1.0
    j, f = jf_per_frame(np.stack([z, m]), np.stack([z, z]))
    np.testing.assert_array_equal(j, [1.0, 0.0])
    np.testing.assert_array_equal(f, [1.0, 0.0])


def test_radius_matches_official_formula():
    for h, w, r in [(480, 854, 8), (720, 1280, 12), (1080, 1920, 18), (8, 8, 1)]:
        assert boundary_radius(h, w) == r == int(np.ceil(0.008 * np.linalg.norm((h, w))))
    assert boundary_radius(100, 100, 3) == 3
    with pytest.raises(ValueError, match='integer'):
        boundary_radius(100, 100, 2.5)
    with pytest.raises(ValueError, match='positive'):
        boundary_radius(100, 100, 0)


@pytest.mark.parametrize('r', [1, 2, 3, 5, 8])
def test_distances_at_the_disk_edge(r, method):
    # Two single pixels whose boundaries are exactly at squared distance r^2 and r^2 + 1:
    # the first pair matches, the second does not (the disk is dx^2 + dy^2 <= r^2).
    h = w = 4 * r + 12
    for dy in range(0, r + 2):
        for dx in range(0, r + 2):
            p = np.zeros((h, w), bool)
            g = np.zeros((h, w), bool)
            p[r + 3, r + 3] = True
            g[r + 3 + dy, r + 3 + dx] = True
            assert f_measure(p, g, r) == reference_f_measure(p, g, r), (r, dy, dx)


def test_fast_equals_reference_on_random_and_adversarial_masks(method):
    rng = np.random.default_rng(1)
    for h, w in SIZES:
        masks = _adversarial(rng, h, w)
        for _ in range(3):
            masks.append(_blob(rng, h, w))
        # Every pair, plus each mask against a shifted / eroded copy of itself.
        pairs = [(a, b) for a in masks for b in masks]
        for m in masks:
            pairs.append((m, np.roll(m, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))),
                                     (0, 1))))
        preds = np.stack([p for p, _ in pairs])
        gts = np.stack([g for _, g in pairs])
        j, f = jf_per_frame(gts, preds)
        ref_f = reference_db_eval_boundary(gts, preds)
        ref_j = reference_db_eval_iou(gts, preds)
        assert np.max(np.abs(f - ref_f)) <= 1e-9, (h, w)
        assert np.max(np.abs(j - ref_j)) <= 1e-9, (h, w)


@pytest.mark.parametrize('bound_th', [0.02, 0.05, 3, 7, 20, 40])
def test_other_tolerances(bound_th, method):
    rng = np.random.default_rng(2)
    gts = np.stack([_blob(rng, 60, 90) for _ in range(6)])
    preds = np.stack([np.roll(g, (2, -3), (0, 1)) if i % 2 else _blob(rng, 60, 90)
                      for i, g in enumerate(gts)])
    f = db_eval_boundary(gts, preds, bound_th)
    ref = reference_db_eval_boundary(gts, preds, bound_th)
    assert np.max(np.abs(f - ref)) <= 1e-9


def test_transposition_invariance_and_dtypes():
    # Metrics score column-major decoded RLEs transposed; J and F must not change.
    rng = np.random.default_rng(3)
    for _ in range(10):
        p, g = _blob(rng, 37, 61), _blob(rng, 37, 61)
        assert f_measure(p.T, g.T) == f_measure(p, g)
        j, f, inter, union = frame_scores(p.astype(np.uint8) * 255, g.astype(np.float32))
        assert f == f_measure(p, g)
        assert (inter, union) == (int((p & g).sum()), int((p | g).sum()))
        assert j == pytest.approx(inter / union)


def test_bad_shapes():
    with pytest.raises(ValueError, match='differ'):
        f_measure(np.zeros((4, 5)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match='differ'):
        jf_per_frame(np.zeros((2, 4, 5)), np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        jf_per_frame(np.zeros((1, 2, 4, 5)), np.zeros((1, 2, 4, 5)))
    assert math.isclose(db_eval_boundary(np.ones((4, 5)), np.ones((4, 5))), 1.0)


def test_chunks_keep_frames_apart(method):
    # Frame t's boundary on its last row and frame t+1's on its first row must never
    # match each other, whatever the chunking.
    h, w = 12, 20
    p = np.zeros((4, h, w), bool)
    g = np.zeros((4, h, w), bool)
    p[0, -1, 3:9] = True
    g[1, 0, 3:9] = True
    p[2, 5:8, 5:9] = True
    g[3, 5:8, 5:9] = True
    for chunk in (1, 2, 4):
        j, f, inter, union = clip_scores(p, g, chunk=chunk)
        np.testing.assert_array_equal(f, [0.0, 0.0, 0.0, 0.0])
        np.testing.assert_array_equal(j, [0.0, 0.0, 0.0, 0.0])
        np.testing.assert_array_equal(union, p.sum((1, 2)) + g.sum((1, 2)))
