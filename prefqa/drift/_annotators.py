"""Per annotator x window table of :func:`prefqa.drift`: agreement, position, gold, scores, change tests.

Agreement: one-coin accuracy against the known annotators
---------------------------------------------------------
Under the one-coin model two annotators pick the same response with
probability ``a_g a_h + (1 - a_g)(1 - a_h)``, so ``2 P_gh - 1 = c_g c_h``
with ``c = 2 a - 1``. On the pooled baseline windows, ``c`` of the *known*
annotators (those with judgments in the baseline) is the weighted rank-one
fit of the observed pair agreements (decisive votes, one per annotator and
comparison), by alternating least squares (:func:`one_coin`); an
independent fit per window was tried and gave more false flags on small
null windows (the references' weights then share the noise of the votes
they score). An annotator's agreement in a window is its accuracy
against those references::

    c_g = sum_i sum_h s_ih c_h / sum_i sum_h c_h^2,     agreement = (1 + c_g) / 2

over its decisive judgments ``i`` and the decisive votes of the known
annotators ``h != g`` on the same comparison (``s_ih = +1`` when they chose
the same response, else ``-1``): the least-squares (inverse-variance
weighted) combination of the per-reference estimates; unbiased, so it can
exceed 1 by chance on few judgments. Why this way:

* annotators first seen after the baseline are never references, so a new
  team, however biased, cannot pull the others' agreement down;
* a reference that turns random would drag the others down, so the table
  is computed again without the references whose own agreement fell
  significantly in that window (up to three passes): it then does not;
* the value does not depend on how many references a comparison has or
  how accurate they are (a raw agreement rate would).

Change tests
------------
Every metric is a ratio ``sum(num) / sum(den)`` over the annotator's
comparisons (agreement as above; ``p_a``: first shown chosen over decisive
judgments; ``gold_accuracy``: correct over gold judgments; ``score_mean``:
mean rating, units = rated responses). Its variance is the linearised
(delta-method) one over comparisons, ``n / (n - 1) * sum_u (num_u - r
den_u)^2 / (sum den)^2``. A known annotator's window is tested against its
own baseline windows: ``z = (r_w - r_b) / sqrt(V_w + V_b)`` with t on
``min(n_w, n_b) - 1`` degrees of freedom, needing ``min_judgments``
comparisons on both sides. An annotator first seen after the baseline is
compared with the baseline pool: the known annotators' baseline values
give a mean and a between-annotator variance ``tau^2`` (moment estimate),
and ``z = (r_w - mean) / sqrt(tau^2 + V_w + var(mean))`` with t on
Welch-Satterthwaite degrees of freedom (``G - 1`` for the pool part, ``n - 1``
for the window), so an ordinary newcomer is not flagged for being one of
many. One-sided (a fall) for ``agreement`` and ``gold_accuracy``, whose
rise is no problem; two-sided for ``p_a`` and ``score_mean``. BH within
each metric over the monitored annotator-windows. ``flagged`` when a metric's q-value is below ``fdr``
divided by the number of metrics tested (Bonferroni over the metric
families, so that the table as a whole keeps the false-flag rate near
``fdr`` on data without change); ``p_value`` / ``q_value`` are the smallest
over the metrics.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from .._stats import bh_qvalues
from ._metrics import JudgmentInputs, _codes

__all__ = ["ANNOTATOR_METRICS", "annotator_windows", "one_coin"]

ANNOTATOR_METRICS = {"agreement": "agreement", "position": "p_a", "gold": "gold_accuracy", "score": "score_mean"}


def one_coin(unit: np.ndarray, ann: np.ndarray, side: np.ndarray, n_ann: int) -> np.ndarray:
    """``c = 2 a - 1`` per annotator from pairwise agreement (NaN without pairs); see the module notes.

    ``unit``, ``ann`` (codes), ``side`` (0/1) are decisive votes, one per annotator and unit.

    Examples
    --------
    Three annotators, two right on every unit and one right on half of them:

    >>> unit = np.repeat(np.arange(4), 3); ann = np.tile([0, 1, 2], 4)
    >>> side = np.array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1])
    >>> one_coin(unit, ann, side, 3).round(3).tolist()
    [0.98, 0.98, 0.0]
    """
    out = np.full(n_ann, np.nan)
    if len(unit) < 2:
        return out
    order = np.argsort(unit, kind="stable")
    u, g, s = unit[order], ann[order], side[order]
    start = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    size = np.diff(np.r_[start, len(u)])
    # every ordered pair within a unit: offsets 1..max_size-1 within the sorted block
    gx_parts: list[np.ndarray] = []
    gy_parts: list[np.ndarray] = []
    sg_parts: list[np.ndarray] = []
    pos = np.arange(len(u))
    block_end = np.repeat(start + size, size)
    for k in range(1, int(size.max())):  # loop over the few within-unit offsets, not over rows
        ok = pos + k < block_end
        a, b = pos[ok], pos[ok] + k
        gx_parts.append(g[a])
        gy_parts.append(g[b])
        sg_parts.append(np.where(s[a] == s[b], 1.0, -1.0))
    if not gx_parts:
        return out
    gx, gy, sg = np.concatenate(gx_parts), np.concatenate(gy_parts), np.concatenate(sg_parts)
    rows, cols = np.r_[gx, gy], np.r_[gy, gx]
    n_mat = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_ann, n_ann))
    s_mat = sp.csr_matrix((np.r_[sg, sg], (rows, cols)), shape=(n_ann, n_ann))
    c = np.full(n_ann, 0.5)
    for _ in range(200):  # alternating least squares of the rank-one fit, each step in closed form
        den = n_mat @ (c * c)
        new = np.clip(np.where(den > 0, (s_mat @ c) / np.where(den > 0, den, 1.0), 0.0), 0.0, 0.98)
        done = np.max(np.abs(new - c)) < 1e-10
        c = new
        if done:
            break
    has = np.asarray(n_mat.sum(axis=1)).ravel() > 0
    out[has] = c[has]
    return out


def _agreement_parts(unit: np.ndarray, g: np.ndarray, w: np.ndarray, side: np.ndarray, dec: np.ndarray,
                     known: np.ndarray, base: np.ndarray, n_ann: int, n_win: int,
                     dropped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per judgment: ``sum_h s_ih c_h`` and ``sum_h c_h^2`` over the reference votes on its comparison.

    ``c_h`` from the baseline windows; ``dropped`` (per annotator x window cell) removes references.
    """
    first = ~pd.DataFrame({"u": unit, "g": g}).duplicated().to_numpy()
    in_base = np.isin(w, base)
    fit = in_base & dec & first & known[g]
    c = one_coin(unit[fit], g[fit], side[fit], n_ann)
    ref = dec & first & known[g] & np.isfinite(c[g]) & ~dropped[g * n_win + w]
    c_ref = np.where(ref, np.nan_to_num(c[g]), 0.0)
    n_u = int(unit.max()) + 1 if len(unit) else 0
    sgn = np.where(side == 0, 1.0, -1.0)
    cs = c_ref * sgn  # +c for "first", -c for "second"
    c2 = c_ref * c_ref
    s_u, q_u = np.bincount(unit, weights=cs, minlength=n_u), np.bincount(unit, weights=c2, minlength=n_u)
    _, ug = np.unique(unit * n_ann + g, return_inverse=True)
    s_g, q_g = np.bincount(ug, weights=cs), np.bincount(ug, weights=c2)
    num = sgn * (s_u[unit] - s_g[ug])
    den = q_u[unit] - q_g[ug]
    ok = dec & (den > 1e-12)
    return np.where(ok, num, np.nan), np.where(ok, den, np.nan)


def _ratio_cells(g, w, u, num, den, n_cells_w):
    """Per (annotator, window) cell: ratio, its linearised variance, and the number of units."""
    ok = np.isfinite(num) & np.isfinite(den)
    g, w, u, num, den = g[ok], w[ok], u[ok], num[ok], den[ok]
    key = (g * n_cells_w + w) * (int(u.max()) + 1 if len(u) else 1) + u
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    nu, du = np.bincount(inv, weights=num), np.bincount(inv, weights=den)
    return g[first], w[first], nu, du


def _ratio(cell: np.ndarray, nu: np.ndarray, du: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cnt = np.bincount(cell, minlength=n).astype(float)
    sn, sd = np.bincount(cell, weights=nu, minlength=n), np.bincount(cell, weights=du, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sn / sd
        resid = nu - r[cell] * du
        var = np.bincount(cell, weights=resid**2, minlength=n) / sd**2 * cnt / (cnt - 1.0)
    return r, var, cnt


def _sf(z: np.ndarray, df: np.ndarray, lower: bool) -> np.ndarray:
    """Two-sided p-value, or the one-sided one for a fall (``lower``)."""
    return stats.t.cdf(z, df) if lower else 2.0 * stats.t.sf(np.abs(z), df)


def _tests(g, w, u, num, den, n_ann, n_win, base, new, min_n, lower=False):
    """Value, baseline value and p-value per (annotator, window) cell ``g * n_win + w`` (module notes)."""
    gg, ww, nu, du = _ratio_cells(g, w, u, num, den, n_win)
    cells = n_ann * n_win
    r, var, n = _ratio(gg * n_win + ww, nu, du, cells)
    in_b = np.isin(ww, base)
    rb, vb, nb = _ratio(gg[in_b], nu[in_b], du[in_b], n_ann)
    cg = np.repeat(np.arange(n_ann), n_win)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(var + vb[cg])
        z = (r - rb[cg]) / se
        p_own = np.where(se > 0, _sf(z, np.maximum(np.minimum(n, nb[cg]) - 1.0, 1.0), lower),
                         np.where(r == rb[cg], 1.0, np.nan))
    own_ok = (n >= min_n) & (nb[cg] >= min_n)
    pool = (nb >= min_n) & ~new & np.isfinite(rb) & np.isfinite(vb)
    g_pool = int(pool.sum())
    p_new, pool_mean = np.full(cells, np.nan), np.nan
    if g_pool >= 2:
        pool_mean = float(rb[pool].mean())
        spread = float(rb[pool].var(ddof=1))
        tau2 = max(spread - float(vb[pool].mean()), 0.0)
        pool_var = tau2 + spread / g_pool
        with np.errstate(invalid="ignore", divide="ignore"):
            zz = (r - pool_mean) / np.sqrt(pool_var + var)
            # Welch-Satterthwaite: the pool part is estimated from G annotators, the window part from n units
            df = (pool_var + var) ** 2 / (pool_var**2 / (g_pool - 1.0) + var**2 / np.maximum(n - 1.0, 1.0))
        p_new = _sf(zz, np.where(np.isfinite(df), df, g_pool - 1.0), lower)
    is_new = new[cg]
    monitored = ~np.isin(np.tile(np.arange(n_win), n_ann), base)
    p = np.where(is_new, np.where(n >= min_n, p_new, np.nan), np.where(own_ok, p_own, np.nan))
    return {"value": r, "baseline": np.where(is_new, pool_mean, rb[cg]), "p": np.where(monitored, p, np.nan)}


def annotator_windows(x: JudgmentInputs, labels: tuple[str, ...], base: np.ndarray,
                      ratings: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
                      fdr: float, min_judgments: int) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The ``.annotators`` table (one row per annotator x window with judgments or ratings)."""
    use = (x.window >= 0) & ~pd.Series(x.annotator, dtype=object).astype(str).str.startswith("\x00").to_numpy()
    names = list(pd.unique(pd.Series(x.annotator[use], dtype=object)))
    if ratings is not None:
        seen = set(names)
        names += [a for a in pd.unique(pd.Series(ratings[0], dtype=object)) if a not in seen]
    lookup = {a: i for i, a in enumerate(names)}
    n_ann, n_win = len(names), len(labels)
    g = pd.Series(x.annotator[use], dtype=object).map(lookup).to_numpy(dtype=np.int64)
    w, unit = x.window[use], _codes(x.comparison[use])
    oriented, displayed, gold = x.oriented[use], x.displayed[use], x.gold[use]
    seen_base = np.zeros(n_ann, dtype=bool)
    seen_base[g[np.isin(w, base)]] = True
    rg = None
    if ratings is not None:
        r_ann, r_win, r_unit, r_score = ratings
        rg = pd.Series(r_ann, dtype=object).map(lookup).to_numpy(dtype=np.int64)
        seen_base[rg[np.isin(r_win, base)]] = True
    new = ~seen_base
    results = {}
    dec = oriented < 2
    dropped = np.zeros(n_ann * n_win, dtype=bool)
    n_tests = 1 + int(x.order_known) + int(np.isfinite(gold).any()) + int(rg is not None)
    for _ in range(3):  # later passes drop the references whose own agreement fell in that window
        num, den = _agreement_parts(unit, g, w, np.where(dec, oriented, 0), dec, ~new, base, n_ann, n_win, dropped)
        res = _tests(g, w, unit, num, den, n_ann, n_win, base, new, min_judgments, lower=True)
        fell = (np.nan_to_num(bh_qvalues(res["p"]), nan=1.0) < fdr / n_tests) & (res["value"] < res["baseline"])
        if not (fell & ~dropped).any():
            break
        dropped |= fell
    results["agreement"] = res
    if x.order_known:
        y = np.where(displayed < 2, (displayed == 0).astype(float), np.nan)
        results["position"] = _tests(g, w, unit, y, np.where(np.isfinite(y), 1.0, np.nan), n_ann, n_win, base,
                                     new, min_judgments)
    if np.isfinite(gold).any():
        results["gold"] = _tests(g, w, unit, gold, np.where(np.isfinite(gold), 1.0, np.nan), n_ann, n_win, base,
                                 new, min_judgments, lower=True)
    if rg is not None:
        results["score"] = _tests(rg, r_win, r_unit, r_score, np.where(np.isfinite(r_score), 1.0, np.nan), n_ann,
                                  n_win, base, new, min_judgments)
    cells = n_ann * n_win
    n_j = np.bincount(g * n_win + w, minlength=cells)
    n_r = np.bincount(rg * n_win + r_win, minlength=cells) if rg is not None else np.zeros_like(n_j)
    keep = (n_j + n_r) > 0
    cg, cw = np.repeat(np.arange(n_ann), n_win), np.tile(np.arange(n_win), n_ann)
    out = pd.DataFrame({"window": np.asarray(labels, dtype=object)[cw], "annotator_id": np.asarray(names, object)[cg],
                        "n_judgments": n_j, "in_baseline": np.isin(cw, base), "new": new[cg]})
    level = fdr / max(len(results), 1)
    ps, qs = [], []
    reasons: list[list[str]] = [[] for _ in range(cells)]
    for key, res in results.items():
        col = ANNOTATOR_METRICS[key]
        q = bh_qvalues(np.where(keep, res["p"], np.nan))
        value, basev = res["value"], res["baseline"]
        if key == "agreement":  # report accuracies, tested on c = 2a - 1
            value, basev = (1.0 + value) / 2.0, (1.0 + basev) / 2.0
        out[col], out[f"{col}_baseline"] = value, basev
        out[f"p_{key}"], out[f"q_{key}"] = res["p"], q
        ps.append(res["p"])
        qs.append(q)
        for i in np.flatnonzero(np.nan_to_num(q, nan=1.0) < level):
            verb = "rose" if value[i] > basev[i] else "fell"
            ref = "the baseline pool's" if new[cg[i]] else "its baseline"
            reasons[i].append(f"{col} {verb} from {basev[i]:.2f} ({ref}) to {value[i]:.2f} in {labels[cw[i]]} "
                              f"(q = {q[i]:.2g})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells
        out["p_value"] = np.nanmin(np.vstack(ps), axis=0)
        out["q_value"] = np.nanmin(np.vstack(qs), axis=0)
    out["flagged"] = np.array([bool(r) for r in reasons])
    out["reason"] = [("new annotator: " if new[cg[i]] and r else "") + "; ".join(r) for i, r in enumerate(reasons)]
    order = np.lexsort((cg, cw))
    if not n_ann:
        notes: tuple[str, ...] = ("no annotator ids: the annotator x window table is empty.",)
    else:
        notes = () if (~new).any() else ("no annotator has baseline judgments: agreement has no references.",)
    return out.iloc[order][keep[order]].reset_index(drop=True), notes
