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

from ._counts import count_matrix, metric_matrix, patterns
from ._family import family, weight_matrix
from .alpha import alpha_from_coincidences

__all__ = ["block", "pattern_coincidences"]

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


def block(
    unit: np.ndarray,
    value: np.ndarray,
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
) -> list[dict[str, Any]]:
    """Return one row per coefficient for integer-coded (unit, value) ratings.

    ``pooled_marginals`` (coincidence marginals of the whole data) makes alpha
    use the pooled expected disagreement, as ``by=`` strata do.

    ``perm`` (a permutation of the categories) counts every unit in both
    orientations: alpha is computed from the coincidences of the doubled data
    (each pattern plus its mirror, ``o + P o P'``), and the kappa family from
    symmetrised category shares. Observed agreement is unchanged, the
    patterns (and so the bootstrap over units) are those of the data as given,
    and ``pooled_marginals`` must then be symmetrised too.
    """
    n_slots = int(unit.max()) + 1 if len(unit) else 0  # unit codes need not be dense
    counts = count_matrix(unit, value, n_slots, n_cat)
    pats, mult, _ = patterns(counts)
    rated = pats.sum(axis=1) > 0          # drop the all-zero pattern of unused unit codes
    pats, mult = pats[rated].astype(float), mult[rated]
    n_units = int(mult.sum())
    m = pats.sum(axis=1)
    n_pairable = int(mult[m >= 2].sum())
    q = pattern_coincidences(pats)
    if perm is not None:
        q3 = q.reshape(len(pats), n_cat, n_cat)
        q = (q3 + q3[:, perm][:, :, perm]).reshape(len(pats), -1)
    rows: list[dict[str, Any]] = []
    base = {"n": n_pairable, "n_units": n_units, "n_ratings": len(unit)}

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
    rows.append({"coefficient": "krippendorff_alpha", "level": lv, "estimate": point_alpha,
                 "std_error": boot_se, "se_method": "bootstrap", "ci_low": lo, "ci_high": hi, **base})
    names = {"gwet_ac": "gwet_ac1"}
    for k, res in point_family.items():
        lo, hi = _percentile_ci(draws_family[k], confidence_level)
        rows.append({"coefficient": names.get(k, k), "level": "nominal", "estimate": float(res["estimate"]),
                     "std_error": float(res["std_error"]), "se_method": "gwet_linearised",
                     "ci_low": lo, "ci_high": hi, **base})
    return rows


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
