"""Vectorized building blocks of the annotator table and the judge report.

Everything here works on integer codes (annotator, choice) and
``np.bincount``; nothing loops over judgments. The pieces:

* :func:`outlier_test` -- the annotator-population test used by every
  per-annotator flag (see its docstring for the null).
* :func:`longest_runs` -- the longest run of identical choices per annotator,
  and :func:`run_pvalue` its test.
"""

from __future__ import annotations


import numpy as np
from scipy import stats


__all__ = ["longest_runs", "outlier_test", "prop_se", "run_pvalue"]

N_LABELS = 3  # oriented choice: 0 = first response, 1 = second, 2 = tie


def outlier_test(
    estimate: np.ndarray,
    se_at: np.ndarray,
    valid: np.ndarray,
    *,
    side: str = "two-sided",
) -> tuple[np.ndarray, np.ndarray, float]:
    """Test each annotator against the annotator population.

    The null is "this annotator is drawn from the same population as the
    typical annotator": its estimate is centred at the median ``c`` of the
    valid annotators' estimates, with sampling variance ``se_i**2`` plus a
    between-annotator variance ``tau**2``. ``tau`` comes from the scaled
    median absolute deviation (``1.4826 * MAD``) minus the typical sampling
    variance, floored at 0, so normal annotator-to-annotator variation is
    not flagged and a minority of biased annotators does not move the centre.

    Parameters
    ----------
    estimate : ndarray
        One value per annotator (NaN = not estimable).
    se_at : ndarray
        Standard error of each estimate (for proportions: evaluated at the
        centre; pass a callable result of :func:`_prop_se`).
    valid : ndarray of bool
        Annotators that enter the centre, the spread and the test.
    side : {'two-sided', 'greater', 'less'}
        Direction flagged.

    Returns
    -------
    p : ndarray
        p-values, NaN where not valid or not estimable.
    z : ndarray
        The standardized deviations.
    centre : float
        The population median.
    """
    est = np.asarray(estimate, dtype=np.float64)
    se = np.asarray(se_at, dtype=np.float64)
    ok = valid & np.isfinite(est) & np.isfinite(se)
    p = np.full(est.shape, np.nan)
    z = np.full(est.shape, np.nan)
    if ok.sum() < 2:
        return p, z, float(np.nanmedian(est[ok])) if ok.any() else np.nan
    centre = float(np.median(est[ok]))
    mad = 1.4826 * float(np.median(np.abs(est[ok] - centre)))
    tau2 = max(0.0, mad**2 - float(np.median(se[ok] ** 2)))
    sd = np.sqrt(se**2 + tau2)
    with np.errstate(divide="ignore", invalid="ignore"):
        zz = (est - centre) / sd
        zz = np.where(sd > 0, zz, np.where(est == centre, 0.0, np.sign(est - centre) * np.inf))
    z[ok] = zz[ok]
    if side == "greater":
        p[ok] = stats.norm.sf(zz[ok])
    elif side == "less":
        p[ok] = stats.norm.cdf(zz[ok])
    else:
        p[ok] = 2.0 * stats.norm.sf(np.abs(zz[ok]))
    return p, z, centre


def prop_se(centre: float, n: np.ndarray) -> np.ndarray:
    """Binomial standard error of a proportion at ``centre`` with ``n`` trials."""
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, np.sqrt(max(centre * (1 - centre), 1e-12) / n), np.nan)


def longest_runs(ann: np.ndarray, label: np.ndarray, order_key: np.ndarray, n_ann: int) -> np.ndarray:
    """Return the longest run of identical labels per annotator, in ``order_key`` order.

    Examples
    --------
    >>> longest_runs(np.array([0, 0, 0, 1, 1]), np.array([1, 1, 0, 2, 2]),
    ...              np.arange(5), 2).tolist()
    [2, 2]
    """
    if len(ann) == 0:
        return np.zeros(n_ann, dtype=np.int64)
    order = np.lexsort((order_key, ann))
    a, lab = ann[order], label[order]
    start = np.ones(len(a), dtype=bool)
    start[1:] = (a[1:] != a[:-1]) | (lab[1:] != lab[:-1])
    starts = np.flatnonzero(start)
    lengths = np.diff(np.append(starts, len(a)))
    out = np.zeros(n_ann, dtype=np.int64)
    np.maximum.at(out, a[starts], lengths)
    return out


def run_pvalue(longest: np.ndarray, n: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """P(longest run >= observed) for ``n`` i.i.d. draws with label ``shares``.

    Poisson approximation to the number of runs of length ``>= L``: a run of
    label l starts at a given position with probability ``(1 - p_l) p_l**L``
    (``p_l**L`` at the first position), so the expected count is
    ``sum_l p_l**L * (1 + (n - L) * (1 - p_l))`` and
    ``P(max run >= L) = 1 - exp(-expected)``.

    Examples
    --------
    >>> run_pvalue(np.array([40]), np.array([100]), np.array([0.45, 0.45, 0.1])) < 1e-10
    array([ True])
    """
    L = np.asarray(longest, dtype=np.float64)[:, None]
    nn = np.asarray(n, dtype=np.float64)[:, None]
    p = np.clip(np.asarray(shares, dtype=np.float64)[None, :], 1e-12, 1 - 1e-12)
    expected = (p**L * (1.0 + np.maximum(nn - L, 0.0) * (1.0 - p))).sum(axis=1)
    return -np.expm1(-expected)
