"""Coefficients of one target (choices, strength or one rating aspect) with vectorized bootstrap CIs.

Units are compressed into count patterns; a bootstrap resample of the units
is a multinomial draw of pattern multiplicities (``B x P``), and every
coefficient is recomputed from those multiplicities with matrix products:
the coincidence matrices of all resamples are ``W @ Q`` with ``Q`` the
per-pattern coincidence contributions. No Python loop runs over resamples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy import stats

from ._counts import count_matrix, metric_matrix
from ._family import family, weight_matrix
from .alpha import alpha_from_coincidences

__all__ = ["block", "block_table", "canonical_patterns", "marginals_from_table", "pattern_coincidences"]

_MAX_CELLS = 20_000_000  # B x P x V^2 doubles per chunk of resamples


def pattern_coincidences(pats: np.ndarray) -> np.ndarray:
    """Per-pattern coincidence contributions, shape (P, V*V)."""
    m = pats.sum(axis=1)
    w = np.where(m >= 2, 1.0 / np.maximum(m - 1.0, 1.0), 0.0)
    q = w[:, None, None] * (pats[:, :, None] * pats[:, None, :])
    idx = np.arange(pats.shape[1])
    q[:, idx, idx] -= w[:, None] * pats
    return q.reshape(len(pats), -1)


def _percentile_ci(draws: np.ndarray, level: float) -> tuple[float, float]:
    ok = draws[np.isfinite(draws)]
    if len(ok) < 2:
        return np.nan, np.nan
    lo, hi = np.quantile(ok, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


#: Raters needed before their sampling variance is estimated (a jackknife over fewer says little).
MIN_JACKKNIFE_RATERS = 10


def _weighted_jackknife(alphas: np.ndarray, weights: np.ndarray) -> float:
    """Delete-one jackknife variance from leave-one-out values that repeat ``weights`` times."""
    ok = np.isfinite(alphas) & (weights > 0)
    n = float(weights[ok].sum())
    if n < 2:
        return np.nan
    mean = float((weights[ok] * alphas[ok]).sum() / n)
    return (n - 1.0) / n * float((weights[ok] * (alphas[ok] - mean) ** 2).sum())


def canonical_patterns(pats: np.ndarray) -> np.ndarray:
    """Return the order that sorts distinct count patterns as :func:`~._counts.patterns` does.

    One integer key ``sum_c n_c * top**c`` (``top`` = largest count + 1) when
    it fits in 62 bits, else lexicographic order of the count vectors; both
    the in-memory and the engine reductions go through this, so the
    bootstrap sees the patterns in one order.
    """
    if not len(pats):
        return np.zeros(0, dtype=np.int64)
    v = pats.shape[1]
    top = int(pats.max()) + 1
    if v * np.log2(max(top, 2)) < 62:
        key = (pats.astype(np.int64) * np.asarray(top, dtype=np.int64) ** np.arange(v, dtype=np.int64)).sum(axis=1)
        return np.argsort(key, kind="stable")
    return np.lexsort(pats.T[::-1])


def _two_way_jackknife_var(pats: np.ndarray, mult: np.ndarray, row_pat: np.ndarray, rater: np.ndarray,
                           value: np.ndarray, count: np.ndarray, n_cat: int, total: np.ndarray,
                           alpha_of: Callable[[np.ndarray], np.ndarray], perm: np.ndarray | None) -> float:
    """Two-way (units x raters) jackknife variance of alpha, exact and vectorized.

    ``V = V_units + V_raters - V_judgments`` (the delete-one jackknife over
    units, over raters, and over single judgments; the last removes the
    judgment-level noise that the other two both contain, as Cameron,
    Gelbach and Miller's two-way formula does), floored at ``V_units``.
    Every leave-one-out alpha is exact without a refit: leaving a value out
    of a unit changes its coincidences by the difference of its pattern's
    contribution with and without that value, which depends only on the
    (pattern, value) pair, so the change is computed once per distinct pair
    and summed per rater from the (rater, pattern, value, count) table.
    """
    codes, inv = np.unique(rater, return_inverse=True)
    n_r = len(codes)
    if n_r < MIN_JACKKNIFE_RATERS:
        return np.nan

    def sym(d: np.ndarray) -> np.ndarray:
        if perm is None:
            return d
        d3 = d.reshape(len(d), n_cat, n_cat)
        return (d3 + d3[:, perm][:, :, perm]).reshape(len(d), -1)

    # units: leaving a unit out removes its pattern's whole contribution
    v_units = _weighted_jackknife(alpha_of(total[None, :] - sym(pattern_coincidences(pats))), mult.astype(float))
    # judgments and raters: the change of one value, per distinct (pattern, value) pair
    pairs, row_pair = np.unique(row_pat * n_cat + value, return_inverse=True)
    row_pair = row_pair.ravel()
    pair_rows = np.bincount(row_pair, weights=count, minlength=len(pairs))
    full = pats[pairs // n_cat].astype(float)
    reduced = full.copy()
    reduced[np.arange(len(pairs)), pairs % n_cat] -= 1.0
    delta = sym(pattern_coincidences(full) - pattern_coincidences(reduced))  # (distinct pairs, V*V)
    v_judgments = _weighted_jackknife(alpha_of(total[None, :] - delta), pair_rows)
    by_rater = sp.csr_matrix((count.astype(float), (inv.ravel(), row_pair)), shape=(n_r, len(pairs)))
    per_rater = np.asarray(by_rater @ delta)
    v_raters = _weighted_jackknife(alpha_of(total[None, :] - per_rater), np.ones(n_r))
    if not np.isfinite(v_units + v_raters + v_judgments):
        return np.nan
    return max(v_units + v_raters - v_judgments, v_units)


def block(
    unit: np.ndarray,
    value: np.ndarray,
    n_cat: int,
    *,
    rater: np.ndarray | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Return one row per coefficient for integer-coded (unit, value) ratings, one per unit and rater.

    Builds the (rater, pattern, value, count) table and calls
    :func:`block_table` (see there for the options).
    """
    from ..engine.reductions.votes import table_from_arrays

    r = np.zeros(len(unit), dtype=np.int64) if rater is None else rater
    t = table_from_arrays(unit, r, value, n_cat=n_cat)
    cols = [f"n{c}" for c in range(n_cat)]
    return block_table(t[cols].to_numpy(), t["rater"].to_numpy(), t["value"].to_numpy(), t["count"].to_numpy(),
                       n_cat, use_rater=rater is not None, **options)


def block_table(
    row_patterns: np.ndarray,
    rater: np.ndarray,
    value: np.ndarray,
    count: np.ndarray,
    n_cat: int,
    *,
    level: str | Callable[..., Any],
    numeric: np.ndarray | None,
    family_kinds: tuple[str, ...],
    n_resamples: int,
    confidence_level: float,
    rng: np.random.Generator,
    pooled_marginals: np.ndarray | None = None,
    perm: np.ndarray | None = None,
    use_rater: bool = True,
) -> list[dict[str, Any]]:
    """Return one row per coefficient from a (pattern, rater, value, count) table.

    Each row says: ``count`` judgments by ``rater`` with value ``value`` sit
    in units whose value counts are ``row_patterns`` (one row of length
    ``n_cat``). Units per pattern are the pattern's total count divided by
    its size. :func:`prefqa.engine.reductions.votes.first_votes` gives this
    table for choices, in memory or from an engine.

    ``pooled_marginals`` (coincidence marginals of the whole data) makes alpha
    use the pooled expected disagreement, as ``by=`` strata do.

    ``perm`` (a permutation of the categories) counts every unit in both
    orientations: alpha is computed from the coincidences of the doubled data
    (each pattern plus its mirror, ``o + P o P'``), and the kappa family from
    symmetrised category shares. Observed agreement is unchanged, the
    patterns (and so the bootstrap over units) are those of the data as given,
    and ``pooled_marginals`` must then be symmetrised too.

    ``use_rater`` adds the raters as a second source of sampling variance:
    with at least :data:`MIN_JACKKNIFE_RATERS` raters, alpha's SE is the
    two-way (units x raters) jackknife of :func:`_two_way_jackknife_var` and
    its interval is normal on that SE (``se_method`` ``'two_way_jackknife'``).
    With fewer raters (or without them) the unit bootstrap treats the raters
    as fixed, and the caller says so.
    """
    row_patterns = np.asarray(row_patterns, dtype=np.int64).reshape(-1, n_cat)
    count = np.asarray(count, dtype=np.int64)
    keep = row_patterns.sum(axis=1) > 0
    row_patterns, rater, value, count = row_patterns[keep], np.asarray(rater)[keep], np.asarray(value)[keep], \
        count[keep]
    if len(row_patterns):
        uniq, row_pat = np.unique(row_patterns, axis=0, return_inverse=True)
        order = canonical_patterns(uniq)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        pats_int = uniq[order]
        row_pat = rank[row_pat.ravel()]
        size = pats_int.sum(axis=1)
        mult = np.bincount(row_pat, weights=count, minlength=len(pats_int)) // size
        mult = np.rint(mult).astype(np.int64)
    else:
        pats_int, row_pat, mult = np.zeros((0, n_cat), dtype=np.int64), np.zeros(0, dtype=np.int64), \
            np.zeros(0, dtype=np.int64)
    pats = pats_int.astype(float)
    n_units = int(mult.sum())
    m = pats.sum(axis=1)
    n_pairable = int(mult[m >= 2].sum())
    q = pattern_coincidences(pats)
    if perm is not None:
        q3 = q.reshape(len(pats), n_cat, n_cat)
        q = (q3 + q3[:, perm][:, :, perm]).reshape(len(pats), -1)
    rows: list[dict[str, Any]] = []
    base = {"n": n_pairable, "n_units": n_units, "n_ratings": int(count.sum())}

    def alpha_of(o_flat: np.ndarray) -> np.ndarray:
        o = o_flat.reshape(o_flat.shape[:-1] + (n_cat, n_cat))
        if pooled_marginals is None:
            return alpha_from_coincidences(o, level, numeric)
        nc = pooled_marginals
        delta = metric_matrix(level, numeric, nc)
        n_tot = nc.sum()
        de = (np.outer(nc, nc) * delta).sum() / (n_tot * (n_tot - 1.0))
        n_s = o.sum(axis=(-2, -1))
        with np.errstate(invalid="ignore", divide="ignore"):
            do = (o * delta).sum(axis=(-2, -1)) / n_s
            return np.where(de > 0, 1.0 - do / de, np.nan)

    point_alpha = float(alpha_of(mult @ q)) if n_pairable else np.nan
    w = weight_matrix("identity", np.arange(n_cat, dtype=float))
    point_family = family(pats, mult, w, family_kinds, perm=perm) if family_kinds and n_pairable else {}
    draws_alpha = np.full(n_resamples, np.nan)
    draws_family = {k: np.full(n_resamples, np.nan) for k in point_family}
    if n_resamples > 0 and n_pairable:
        p = mult / mult.sum()
        chunk = max(1, min(n_resamples, _MAX_CELLS // max(len(pats) * (n_cat**2 + n_cat + 2), 1)))
        for start in range(0, n_resamples, chunk):  # loop over chunks of resamples, not resamples
            size = min(chunk, n_resamples - start)
            wb = rng.multinomial(int(mult.sum()), p, size=size).astype(float)
            draws_alpha[start:start + size] = alpha_of(wb @ q)
            if point_family:
                fam = family(pats, wb, w, family_kinds, se=False, perm=perm)
                for k, arr in draws_family.items():
                    arr[start:start + size] = fam[k]["estimate"]
    lv = level if isinstance(level, str) else "custom"
    lo, hi = _percentile_ci(draws_alpha, confidence_level)
    boot_se = float(np.nanstd(draws_alpha, ddof=1)) if np.isfinite(draws_alpha).sum() > 1 else np.nan
    se_method = "bootstrap"
    if use_rater and n_pairable and np.isfinite(boot_se):
        jack = _two_way_jackknife_var(pats_int, mult, row_pat, rater, value, count.astype(float), n_cat,
                                      mult @ q, alpha_of, perm)
        if np.isfinite(jack):
            boot_se = float(np.sqrt(jack))
            z = stats.norm.ppf(0.5 + confidence_level / 2.0)
            lo, hi = point_alpha - z * boot_se, point_alpha + z * boot_se
            se_method = "two_way_jackknife"
    rows.append({"coefficient": "krippendorff_alpha", "level": lv, "estimate": point_alpha,
                 "std_error": boot_se, "se_method": se_method, "ci_low": lo, "ci_high": hi, **base})
    names = {"gwet_ac": "gwet_ac1"}
    for k, res in point_family.items():
        lo, hi = _percentile_ci(draws_family[k], confidence_level)
        rows.append({"coefficient": names.get(k, k), "level": "nominal", "estimate": float(res["estimate"]),
                     "std_error": float(res["std_error"]), "se_method": "gwet_linearised",
                     "ci_low": lo, "ci_high": hi, **base})
    return rows


def marginals_from_table(row_patterns: np.ndarray, value: np.ndarray, count: np.ndarray, n_cat: int,
                         perm: np.ndarray | None = None) -> np.ndarray:
    """Coincidence marginals ``n_c`` (pairable values per category) from a (pattern, value, count) table."""
    pairable = np.asarray(row_patterns).reshape(-1, n_cat).sum(axis=1) >= 2
    nc = np.bincount(np.asarray(value)[pairable], weights=np.asarray(count, dtype=float)[pairable],
                     minlength=n_cat)
    return nc + nc[perm] if perm is not None else nc


def coincidence_marginals(unit: np.ndarray, value: np.ndarray, n_cat: int,
                          perm: np.ndarray | None = None) -> np.ndarray:
    """Coincidence marginals ``n_c`` (pairable values per category) of the whole data.

    With ``perm``, the marginals of the doubled (both-orientation) data.
    """
    _, unit = np.unique(unit, return_inverse=True)
    counts = count_matrix(unit, value, int(unit.max()) + 1 if len(unit) else 0, n_cat)
    m = np.asarray(counts.sum(axis=1)).ravel()
    nc = np.asarray((sp.diags((m >= 2).astype(float)) @ counts).sum(axis=0)).ravel()
    return nc + nc[perm] if perm is not None else nc
