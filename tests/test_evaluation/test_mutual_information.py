"""The CLUB-independent MI estimators against Gaussians of known mutual information."""
import math

import numpy as np
import pytest

from desa2va_mm.evaluation.functional import (canonical_correlations,
                                              estimate_mutual_information,
                                              gaussian_mutual_information,
                                              ksg_mutual_information, pca_reduce)


def _pairs(n, d, rho, seed):
    """d independent pairs (x_i, y_i), each of correlation rho: I = -d/2 log(1 - rho^2)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = rho * x + math.sqrt(1 - rho ** 2) * rng.standard_normal((n, d))
    return x, y


def _true_mi(d, rho):
    return -0.5 * d * math.log(1 - rho ** 2)


@pytest.mark.parametrize('d,rho', [(1, 0.9), (2, 0.8)])
def test_both_estimators_recover_known_gaussian_mi(d, rho):
    x, y = _pairs(2000, d, rho, seed=d)
    true = _true_mi(d, rho)
    assert true > 0.8
    # Tolerances: over 5 seeds (N = 2000) the errors were <= 0.05 (KSG) and <= 0.02
    # (Gaussian).
    assert ksg_mutual_information(x, y) == pytest.approx(true, abs=0.1)
    assert gaussian_mutual_information(x, y) == pytest.approx(true, abs=0.05)


def test_independence_gives_about_zero():
    x, y = _pairs(2000, 2, 0.0, seed=3)
    assert abs(ksg_mutual_information(x, y)) < 0.05
    assert 0.0 <= gaussian_mutual_information(x, y) < 0.01
    # A non-linear dependence: KSG sees it, the linear-Gaussian estimate does not.
    rng = np.random.default_rng(4)
    u = rng.uniform(-2, 2, size=(2000, 1))
    v = u ** 2 + 0.1 * rng.standard_normal((2000, 1))
    assert ksg_mutual_information(u, v) > 1.0
    assert gaussian_mutual_information(u, v) < 0.05


def test_invariant_to_per_variable_scale_and_deterministic():
    x, y = _pairs(500, 2, 0.7, seed=5)
    base = ksg_mutual_information(x, y)
    assert ksg_mutual_information(x, y) == base  # seeded jitter
    assert ksg_mutual_information(100 * x + 3, 0.01 * y) == pytest.approx(base, abs=1e-6)
    assert gaussian_mutual_information(100 * x, y) == pytest.approx(
        gaussian_mutual_information(x, y), rel=1e-9)


def test_canonical_correlations_of_a_constructed_pair():
    x, y = _pairs(5000, 3, 0.5, seed=6)
    rho = canonical_correlations(x, y)
    assert rho.shape == (3, )
    np.testing.assert_allclose(rho, 0.5, atol=0.05)
    # y = linear map of x: all canonical correlations 1 (clipped to a finite MI).
    rho_det = canonical_correlations(x, x @ np.random.default_rng(0).standard_normal((3, 3)))
    np.testing.assert_allclose(rho_det, 1.0, atol=1e-6)
    assert math.isfinite(gaussian_mutual_information(x, 2 * x))


def test_pca_keeps_the_informative_subspace_of_high_dimensional_prompts():
    """Two correlated 2-d signals hidden in 64-d vectors (random rotations, small noise):
    8 principal components keep the signal, and both estimates see its MI."""
    rng = np.random.default_rng(7)
    s_x, s_y = _pairs(2000, 2, 0.8, seed=8)

    def embed(signal):
        rotation, _ = np.linalg.qr(rng.standard_normal((64, 64)))
        padded = np.concatenate([3 * signal, 0.05 * rng.standard_normal((2000, 62))], 1)
        return padded @ rotation.T

    h_t, h_v = embed(s_x), embed(s_y)
    reduced, explained = pca_reduce(h_t, 2)
    assert reduced.shape == (2000, 2) and explained > 0.95
    out = estimate_mutual_information(h_t, h_v, pca_dim=2)
    assert set(out) == {'ksg', 'gaussian', 'num_samples', 'pca_dim', 'explained_x',
                        'explained_y'}
    assert out['num_samples'] == 2000 and out['pca_dim'] == 2
    # What PCA must preserve is the signal's own MI (this sample's estimates on s_x, s_y;
    # the sample itself sits ~0.09 above the population value -d/2 log(1 - rho^2)).
    assert out['ksg'] == pytest.approx(ksg_mutual_information(s_x, s_y), abs=0.03)
    assert out['gaussian'] == pytest.approx(gaussian_mutual_information(s_x, s_y), abs=0.02)
    assert out['gaussian'] == pytest.approx(_true_mi(2, 0.8), abs=0.15)
    # More components than the data has: a rotation, nothing lost.
    assert pca_reduce(s_x, 5)[0].shape == (2000, 2) and pca_reduce(s_x, 5)[1] == 1.0


def test_errors_name_the_problem():
    x, y = _pairs(10, 2, 0.5, seed=0)
    with pytest.raises(ValueError, match='pair row by row, got 10 and 9 rows'):
        ksg_mutual_information(x, y[:9])
    with pytest.raises(ValueError, match='need at least 4 pairs, got 3'):
        ksg_mutual_information(x[:3], y[:3])
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match='finite'):
        gaussian_mutual_information(bad, y)
    with pytest.raises(ValueError, match=r'\(N, D\) arrays'):
        ksg_mutual_information(x[None], y)
