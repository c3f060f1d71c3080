"""Cluster-robust (one- and two-way) sandwich covariances for M-estimators, vectorized.

Given per-observation score contributions ``S`` (n x k, the estimating
equations ``sum_i S_i = 0``) and the inverse bread ``B^-1`` (the inverse of
the summed score derivative, e.g. ``(X' W X)^-1`` for a logistic GLM):

* one-way: ``V = c_G B^-1 M_G B^-1`` with ``M_G = sum_g s_g s_g'`` over the
  cluster sums ``s_g`` (computed with ``np.bincount``) and the CR1 factor
  ``c_G = G / (G - 1) * (n - 1) / (n - k)`` (Stata's and statsmodels'
  default);
* two-way (Cameron, Gelbach and Miller 2011, J. Bus. Econ. Stat. 29(2)):
  ``V = V_A + V_B - V_AB``, with ``AB`` the intersection clusters, each term
  with its own CR1 factor. ``V`` can fail to be positive semi-definite;
  negative eigenvalues are then set to 0 (CGM section 2.3), and
  :attr:`ClusterCov.clipped` says so.

The reference distribution for Wald tests and intervals is t with
``min(G) - 1`` degrees of freedom (CGM; Cameron and Miller 2015), which
together with CR1 is the small-sample adjustment used by prefqa.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ClusterCov", "cluster_meat", "dense_singletons", "intersect_codes", "sandwich"]


@dataclass(frozen=True, eq=False)
class ClusterCov:
    """A sandwich covariance and what it rests on."""

    cov: np.ndarray
    df: float
    n_clusters: tuple[int, ...]
    clipped: bool


def _dense_codes(groups: np.ndarray) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    return codes.astype(np.int64), int(codes.max()) + 1 if len(codes) else 0


def dense_singletons(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Return codes 0..G-1 for the values present, each missing (-1) value its own cluster, and G.

    Examples
    --------
    >>> out, g = dense_singletons(np.array([4, -1, 4, 7, -1]))
    >>> out.tolist(), g
    ([0, 2, 0, 1, 3], 4)
    """
    n = len(codes)
    if n == 0:
        return codes.astype(np.int64), 0
    top = int(codes.max()) + 1 if (codes >= 0).any() else 0
    present = np.zeros(top, dtype=bool)
    present[codes[codes >= 0]] = True
    remap = np.cumsum(present) - 1
    g = int(present.sum())
    out = np.empty(n, dtype=np.int64)
    named = codes >= 0
    out[named] = remap[codes[named]]
    out[~named] = g + np.arange(int((~named).sum()))
    return out, g + int((~named).sum())


def intersect_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Codes of the (a, b) intersection clusters."""
    a, _ = _dense_codes(a)
    b, nb = _dense_codes(b)
    return _dense_codes(a * max(nb, 1) + b)[0]


def cluster_meat(scores: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, int]:
    """``sum_g s_g s_g'`` over the cluster sums of ``scores`` (n x k), and the number of clusters.

    Examples
    --------
    >>> s = np.array([[1.0], [2.0], [-1.0]])
    >>> m, g = cluster_meat(s, np.array([0, 0, 1]))
    >>> m.tolist(), g
    ([[10.0]], 2)
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    codes, n_groups = _dense_codes(groups)
    sums = np.column_stack([np.bincount(codes, weights=scores[:, j], minlength=n_groups)
                            for j in range(scores.shape[1])])  # loop over the few columns, not rows
    return sums.T @ sums, n_groups


def sandwich(scores: np.ndarray, bread_inv: np.ndarray, groups: Sequence[np.ndarray]) -> ClusterCov:
    """One-way (one array in ``groups``) or two-way (two arrays) cluster-robust covariance.

    Parameters
    ----------
    scores : ndarray
        ``n x k`` score contributions at the estimate.
    bread_inv : ndarray
        ``k x k`` inverse bread.
    groups : sequence of ndarray
        One or two arrays of cluster labels, one per observation.

    Returns
    -------
    ClusterCov
        ``df`` is ``min(G) - 1`` (at least 1).

    Examples
    --------
    One-way with equal cluster sums reproduces ``c_G * sum_g s_g^2 / H^2``:

    >>> s = np.array([1.0, -1.0, 1.0, -1.0]); res = sandwich(s, np.array([[1.0]]), [np.array([0, 0, 1, 1])])
    >>> float(res.cov[0, 0]), res.df, res.n_clusters
    (0.0, 1.0, (2,))
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    n, k = scores.shape
    bread_inv = np.atleast_2d(np.asarray(bread_inv, dtype=np.float64))
    small = (n - 1) / max(n - k, 1)

    def one(codes: np.ndarray) -> tuple[np.ndarray, int]:
        meat, g = cluster_meat(scores, codes)
        factor = g / (g - 1) * small if g > 1 else np.nan
        return factor * (bread_inv @ meat @ bread_inv.T), g

    if len(groups) == 1:
        cov, g = one(groups[0])
        return ClusterCov(cov=cov, df=float(max(g - 1, 1)), n_clusters=(g,), clipped=False)
    if len(groups) != 2:
        raise ValueError("sandwich takes one or two cluster arrays")
    va, ga = one(groups[0])
    vb, gb = one(groups[1])
    vab, _ = one(intersect_codes(groups[0], groups[1]))
    cov = va + vb - vab
    clipped = False
    if np.all(np.isfinite(cov)):
        cov = (cov + cov.T) / 2.0
        vals, vecs = np.linalg.eigh(cov)
        if vals.min() < -1e-12 * max(abs(vals.max()), 1e-300):
            clipped = True
            cov = (vecs * np.clip(vals, 0.0, None)) @ vecs.T
    return ClusterCov(cov=cov, df=float(max(min(ga, gb) - 1, 1)), n_clusters=(ga, gb), clipped=clipped)
