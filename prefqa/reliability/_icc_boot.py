"""Bootstrap intervals for ICCs on incomplete designs (moment estimates recomputed per resample).

Two schemes (``icc(ci=...)``):

* ``"bootstrap_units"``: resample the rated units (items) with replacement,
  each with all its ratings (a unit drawn twice is two units); percentile
  intervals, bootstrap SD as the standard error. The raters of the data are
  held fixed, so the interval is for the ICCs of *these* raters: right for
  ICC(C,1)/(C,k), whose value does not involve rater effects, and for ICC(A,1)
  when exactly these raters will be used.
* ``"bootstrap_units_raters"``: raters are a sample too. The variance is the
  unit-bootstrap variance plus the jackknife variance over raters (each
  rater left out once), the usual sum of one-way variances for crossed random
  effects; the interval is ``estimate +- z * SE`` (clipped to [-1, 1]). Each
  one-way variance also carries the residual's share, so the sum errs on the
  conservative side (Owen 2007 notes the same of the pigeonhole bootstrap,
  which on ICCs is worse: a rater drawn twice duplicates ratings of a unit
  and inflates agreement). Coverage of the population ICC on simulated
  incomplete designs is in ``tests/test_reliability_icc.py``.

Resampled data sets are never built: every Henderson III quantity of a
resample is a sum over the original rows weighted by the unit copies, so a
chunk of resamples is a few sparse products and one batched ``n_r x n_r``
solve. The loop runs over chunks of resamples, never over rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["SCHEMES", "bootstrap_icc"]

SCHEMES = ("units", "units_raters")


_MAX_CELLS = 30_000_000  # doubles per chunk of resamples (B x max(rows, pairs, raters^2))


class _Design:
    """The fixed (0/1) design, precomputed once: rows, within-unit rating pairs, sparse maps."""

    def __init__(self, unit: np.ndarray, rater: np.ndarray, y: np.ndarray) -> None:
        self.n_u = int(unit.max()) + 1
        self.n_r = int(rater.max()) + 1
        self.unit, self.rater, self.y = unit, rater, y
        n = len(y)
        self.U = sp.csr_matrix((np.ones(n), (np.arange(n), unit)), shape=(n, self.n_u))
        self.R = sp.csr_matrix((np.ones(n), (np.arange(n), rater)), shape=(n, self.n_r))
        # ordered pairs (i, j) of rows of the same unit, i == j included
        order = np.argsort(unit, kind="stable")
        size = np.bincount(unit, minlength=self.n_u)
        start = np.repeat(np.cumsum(size) - size, size)     # per sorted row: its unit's first position
        m = size[unit[order]]
        i = np.repeat(order, m)
        pos = np.arange(len(i)) - np.repeat(np.cumsum(m) - m, m)
        j = order[np.repeat(start, m) + pos]
        self.pi, self.pj = i, j
        self.P = sp.csr_matrix((np.ones(len(i)), (np.arange(len(i)), rater[i] * self.n_r + rater[j])),
                               shape=(len(i), self.n_r * self.n_r))


def _weighted_iccs(d: _Design, w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The six moment ICCs of B resampled data sets given unit copies ``w`` (B x n_u) and rater copies ``v``.

    A copy of a unit (rater) is a distinct unit (rater): the Henderson III
    quantities of the resampled data are sums over the original rows weighted
    by ``w[unit] * v[rater]``. Rater copies have equal effects in the fit, so
    the rater reduction solves the ``n_r x n_r`` system
    ``K = diag(v * nr) - sum_u w_u (v a_u)(v a_u)' / nu_u`` (``a_u`` = the
    unit's raters, ``nu_u = v . a_u``) with right side ``v * g``.
    """
    y = d.y
    wu = w[:, d.unit]                       # B x n
    vr = v[:, d.rater]
    om = wu * vr                            # row weights
    n = om.sum(axis=1)
    nu = np.asarray((d.U.T @ vr.T).T)                                 # per unit copy: sum_r v_r a_ur
    sig = np.asarray((d.U.T @ (vr * y).T).T)                          # per unit copy: sum_r v_r y_ur
    has_u = nu > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ybar = np.where(has_u, sig / np.where(has_u, nu, 1.0), 0.0)
        r_units = (w * np.where(has_u, sig**2 / np.where(has_u, nu, 1.0), 0.0)).sum(axis=1)
    n_u_eff = (w * has_u).sum(axis=1)
    total = (om * y**2).sum(axis=1)
    r_mu = (om * y).sum(axis=1) ** 2 / n
    nr = np.asarray((d.R.T @ wu.T).T)                                  # per rater copy: sum_u w_u a_ur
    sr = np.asarray((d.R.T @ (wu * y).T).T)
    has_r = nr > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        r_raters = (v * np.where(has_r, sr**2 / np.where(has_r, nr, 1.0), 0.0)).sum(axis=1)
    n_r_eff = (v * has_r).sum(axis=1)
    g = np.asarray((d.R.T @ (wu * (y[None, :] - ybar[:, d.unit])).T).T)   # B x n_r
    rhs = v * g
    with np.errstate(invalid="ignore", divide="ignore"):
        nu_rows = nu[:, d.unit[d.pi]]
        pair_w = np.where(nu_rows > 0, om[:, d.pi] * vr[:, d.pj] / np.where(nu_rows > 0, nu_rows, 1.0), 0.0)
    k_off = np.asarray((d.P.T @ pair_w.T).T).reshape(len(n), d.n_r, d.n_r)
    diag = np.asarray((d.R.T @ om.T).T)
    kmat = -k_off
    idx = np.arange(d.n_r)
    kmat[:, idx, idx] += diag
    # K 1 = 0 on the raters present and rhs sums to 0, so K + e e' (e = present raters) gives the same
    # reduction with a nonsingular matrix on connected designs; absent raters get a unit diagonal
    e = has_r.astype(float)
    kmat += e[:, :, None] * e[:, None, :]
    kmat[:, idx, idx] += 1.0 - e
    try:
        beta = np.linalg.solve(kmat, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:  # a resample whose raters fall apart into unlinked groups
        beta = np.einsum("bij,bj->bi", np.linalg.pinv(kmat, hermitian=True), rhs)
    r_b = (beta * rhs).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_full = r_units + r_b
        df_e = n - n_u_eff - n_r_eff + 1
        s2e = np.where(df_e > 0, (total - r_full) / df_e, np.nan)
        tr_b, tr_a = n - n_u_eff, n - n_r_eff
        s2b = (r_b - (n_r_eff - 1) * s2e) / tr_b
        s2a = (r_full - r_raters - (n_u_eff - 1) * s2e) / tr_a
        msw = (total - r_units) / (n - n_u_eff)
        msb = (r_units - r_mu) / (n_u_eff - 1)
        n0 = (n - (w * nu**2).sum(axis=1) / n) / (n_u_eff - 1)
        s2a1 = (msb - msw) / n0
        k = n / n_u_eff
        out = np.stack([s2a1 / (s2a1 + msw), s2a / (s2a + s2b + s2e), s2a / (s2a + s2e),
                        s2a1 / (s2a1 + msw / k), s2a / (s2a + (s2b + s2e) / k), s2a / (s2a + s2e / k)], axis=1)
    bad = (n_r_eff < 2) | (n_u_eff < 2) | ~(df_e > 0)
    out[bad] = np.nan
    return out


def rater_jackknife(unit: np.ndarray, rater: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Jackknife variance over raters of the six ICCs (each rater left out once); NaN if undefined."""
    d = _Design(unit, rater, y)
    v = 1.0 - np.eye(d.n_r)
    theta = _weighted_iccs(d, np.ones((d.n_r, d.n_u)), v)
    with np.errstate(invalid="ignore"):
        var = (d.n_r - 1.0) / d.n_r * ((theta - theta.mean(axis=0)) ** 2).sum(axis=0)
    return var


def bootstrap_icc(
    unit: np.ndarray,
    rater: np.ndarray,
    y: np.ndarray,
    *,
    n_resamples: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """Return a (n_resamples x 6) array of bootstrap ICCs (NaN where a resample is degenerate).

    Unit codes and rater codes must be dense (0..n-1) and each (unit, rater)
    pair must occur once. Also returns the number of degenerate resamples.
    """
    d = _Design(unit, rater, y)
    per = max(len(y), len(d.pi), d.n_r * d.n_r, 1) * 4
    chunk = max(1, min(n_resamples, _MAX_CELLS // per))
    out = np.full((n_resamples, 6), np.nan)
    for s in range(0, n_resamples, chunk):      # loop over chunks of resamples, never over rows
        b = min(chunk, n_resamples - s)
        w = rng.multinomial(d.n_u, np.full(d.n_u, 1.0 / d.n_u), size=b).astype(float)
        out[s:s + b] = _weighted_iccs(d, w, np.ones((b, d.n_r)))
    failed = int((~np.isfinite(out).all(axis=1)).sum())
    return out, failed
