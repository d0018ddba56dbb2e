"""Mutual-information estimates independent of CLUB, for checking the decoupling (docs/method.md §9).

Two estimators of ``I(x; y)`` in nats from paired samples ``x: (N, Dx)``, ``y: (N, Dy)``:

- :func:`ksg_mutual_information`: Kraskov, Stoegbauer & Grassberger (2004), estimator 1,
  a k-nearest-neighbour estimate that assumes no distribution. Its bias grows with the
  dimension, so :func:`estimate_mutual_information` first reduces each variable with PCA
  to a few components (``pca_dim``, 8-16); the result is then ``I(PCA(x); PCA(y))``, a lower
  bound of ``I(x; y)`` by data processing.
- :func:`gaussian_mutual_information`: the linear-Gaussian estimate
  ``-1/2 sum_i log(1 - rho_i^2)`` over the canonical correlations ``rho_i`` of ``x`` and ``y``
  (= ``-1/2 log det(I - C)``, ``C = Sxx^-1/2 Sxy Syy^-1 Syx Sxx^-1/2``): exact for jointly
  Gaussian data, blind to non-linear dependence.
"""
from typing import Dict, Tuple

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma


def _check_pairs(x: np.ndarray, y: np.ndarray, min_rows: int) -> Tuple[np.ndarray, np.ndarray]:
    """(N, Dx), (N, Dy) float64 arrays (1-D inputs become one column), validated."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f'x and y must be (N, D) arrays, got shapes {x.shape} and {y.shape}')
    if x.shape[0] != y.shape[0]:
        raise ValueError(f'x and y must pair row by row, got {x.shape[0]} and {y.shape[0]} '
                         'rows')
    if x.shape[0] < min_rows:
        raise ValueError(f'need at least {min_rows} pairs, got {x.shape[0]}: collect more '
                         'samples')
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError('x and y must be finite (found NaN or Inf): check the model '
                         'outputs they came from')
    return x, y


def ksg_mutual_information(x: np.ndarray, y: np.ndarray, k: int = 3,
                           jitter: float = 1e-10, seed: int = 0) -> float:
    """KSG estimator 1: ``psi(k) + psi(N) - mean_i [psi(n_x,i + 1) + psi(n_y,i + 1)]``.

    ``eps_i`` is the max-norm distance from ``(x_i, y_i)`` to its k-th nearest neighbour in
    the joint space; ``n_x,i`` (``n_y,i``) counts the other points strictly closer than
    ``eps_i`` to ``x_i`` (``y_i``) in the marginal space. Each column is scaled to unit
    variance first (MI does not change under per-variable invertible maps; the max norm
    does), and ``jitter`` times a standard normal is added so repeated rows do not tie.

    Args:
        x: (N, Dx) samples.
        y: (N, Dy) samples paired with ``x`` by row.
        k: Neighbour order (3 is Kraskov's recommendation for small bias).
        jitter: Noise scale added to the standardised columns.
        seed: Seed of the jitter.

    Returns:
        The estimate in nats (may be slightly negative at independence).

    Raises:
        ValueError: Shapes do not pair, fewer than ``k + 1`` rows, or non-finite values.
    """
    x, y = _check_pairs(x, y, min_rows=k + 1)
    rng = np.random.default_rng(seed)

    def scaled(values: np.ndarray) -> np.ndarray:
        std = values.std(axis=0)
        values = (values - values.mean(axis=0)) / np.where(std > 0, std, 1.0)
        return values + jitter * rng.standard_normal(values.shape)

    x, y = scaled(x), scaled(y)
    joint = np.concatenate([x, y], axis=1)
    n = joint.shape[0]
    # k + 1: the query returns the point itself first.
    dist, _ = cKDTree(joint).query(joint, k=k + 1, p=np.inf)
    eps = np.nextafter(dist[:, -1], 0)  # "strictly closer than eps_i"
    n_x = cKDTree(x).query_ball_point(x, eps, p=np.inf, return_length=True) - 1
    n_y = cKDTree(y).query_ball_point(y, eps, p=np.inf, return_length=True) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(n_x + 1) + digamma(n_y + 1)))


def canonical_correlations(x: np.ndarray, y: np.ndarray, ridge: float = 1e-8) -> np.ndarray:
    """Canonical correlations of ``x`` (N, Dx) and ``y`` (N, Dy), descending, min(Dx, Dy).

    ``ridge`` times the mean variance is added to each covariance's diagonal so
    rank-deficient features (N < D, constant columns) stay invertible.
    """
    x, y = _check_pairs(x, y, min_rows=3)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    n = x.shape[0]

    def inv_sqrt(cov: np.ndarray) -> np.ndarray:
        cov = cov + ridge * max(np.trace(cov) / len(cov), 1e-300) * np.eye(len(cov))
        values, vectors = np.linalg.eigh(cov)
        return (vectors / np.sqrt(np.clip(values, 1e-300, None))) @ vectors.T

    whitened = inv_sqrt(x.T @ x / (n - 1)) @ (x.T @ y / (n - 1)) @ inv_sqrt(y.T @ y / (n - 1))
    return np.clip(np.linalg.svd(whitened, compute_uv=False), 0.0, 1.0)


def gaussian_mutual_information(x: np.ndarray, y: np.ndarray, ridge: float = 1e-8,
                                max_rho: float = 1 - 1e-9) -> float:
    """``-1/2 sum_i log(1 - rho_i^2)`` in nats, ``rho_i`` the canonical correlations.

    Args:
        x: (N, Dx) samples.
        y: (N, Dy) samples paired with ``x`` by row.
        ridge: See :func:`canonical_correlations`.
        max_rho: Correlations are clipped here, so deterministic linear relations give a
            large finite value instead of infinity.
    """
    rho = np.minimum(canonical_correlations(x, y, ridge), max_rho)
    return float(-0.5 * np.sum(np.log1p(-rho ** 2)))


def pca_reduce(values: np.ndarray, dim: int) -> Tuple[np.ndarray, float]:
    """The first ``dim`` principal components of ``values`` (N, D) -> ((N, dim), explained).

    ``explained`` is the fraction of the total variance they keep. With ``dim >= D`` the
    centred data is rotated onto all its components (nothing is lost).
    """
    values = np.asarray(values, dtype=np.float64)
    centred = values - values.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    dim = min(dim, vt.shape[0])
    total = float(np.sum(singular ** 2))
    explained = float(np.sum(singular[:dim] ** 2) / total) if total > 0 else 1.0
    return centred @ vt[:dim].T, explained


def estimate_mutual_information(x: np.ndarray, y: np.ndarray, pca_dim: int = 8,
                                k: int = 3, seed: int = 0) -> Dict[str, float]:
    """Both estimates of ``I(x; y)`` on ``pca_dim`` principal components of each variable.

    Args:
        x: (N, Dx), e.g. the ``h_t`` of N ``[SEG]`` tokens.
        y: (N, Dy), e.g. their ``h_v``.
        pca_dim: Components kept per variable (KSG is unreliable beyond ~10-16).
        k: KSG's neighbour order.
        seed: Seed of KSG's tie-breaking jitter.

    Returns:
        dict with ``ksg`` and ``gaussian`` (nats, on the reduced variables), ``num_samples``,
        ``pca_dim`` and ``explained_x`` / ``explained_y`` (variance fraction kept).
    """
    x, y = _check_pairs(x, y, min_rows=max(k + 1, 3))
    x_red, explained_x = pca_reduce(x, pca_dim)
    y_red, explained_y = pca_reduce(y, pca_dim)
    return dict(ksg=ksg_mutual_information(x_red, y_red, k=k, seed=seed),
                gaussian=gaussian_mutual_information(x_red, y_red),
                num_samples=int(x.shape[0]), pca_dim=int(x_red.shape[1]),
                explained_x=explained_x, explained_y=explained_y)


__all__ = ['ksg_mutual_information', 'canonical_correlations', 'gaussian_mutual_information',
           'pca_reduce', 'estimate_mutual_information']
