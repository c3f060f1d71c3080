"""Small statistical helpers shared across layers: BH q-values and the Wilson interval."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["bh_qvalues", "wilson_interval"]


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values over the finite entries of ``p`` (NaN stays NaN).

    A NaN-aware wrapper of ``statsmodels.stats.multitest.multipletests(method="fdr_bh")``.

    Examples
    --------
    >>> bh_qvalues(np.array([0.01, np.nan, 0.04, 0.03])).round(3).tolist()
    [0.03, nan, 0.04, 0.04]
    """
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return q


def wilson_interval(k: np.ndarray | float, n: np.ndarray | float, confidence_level: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` successes out of ``n`` (vectorized; NaN where n = 0).

    Examples
    --------
    >>> lo, hi = wilson_interval(np.array([81.0]), np.array([100.0]), 0.95)
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.7222, 0.8749)
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = stats.norm.ppf(0.5 + confidence_level / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
        low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    bad = n <= 0
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)
