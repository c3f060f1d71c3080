"""Building the rows of a Bradley-Terry fit: items, covariates, compression.

Clusters (comparisons, annotators) live in :mod:`prefqa.models._bt_cluster`.

:func:`screen_covariates` finds covariate columns that the data cannot
estimate before any fit is attempted:

* a column that is 0 for every judgment (for example ``'bold'`` when no
  response uses bold text) carries no information;
* a column that is a linear combination of the strength differences and
  of the covariates before it (a second constant column next to
  ``'position'``, a duplicated or rescaled column, a per-item attribute
  such as ``size_a - size_b``) has no separate effect.

The test works on the unweighted design ``X = [D, Z]`` with ``D`` the
``+1/-1`` item incidence of each judgment: it removes from ``Z`` its least
squares projection on ``D`` (a solve with the graph Laplacian ``D'D``,
sparse) and then pivots through the covariates in the order given. Exact
collinearity does not depend on the likelihood's weights, so this is the
rank condition of every fit here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import linalg, sparse
from scipy.sparse import linalg as splinalg

from ..engine.reductions.pairs_bt import items
from ..errors import SchemaError
from ..schema import PreferenceData
from . import _bt_fit as core

__all__ = ["COLLINEAR_RTOL", "build_design", "covariate_matrix", "items", "screen_covariates"]

# a covariate is dropped when less than this share of its sum of squares is left after
# projecting out the strength differences and the covariates kept before it
COLLINEAR_RTOL = 1e-9


def covariate_matrix(data: PreferenceData, covariates: Sequence[str] | pd.DataFrame | np.ndarray
                     ) -> tuple[np.ndarray, list[str]]:
    """Return (z, names): z is (n_judgments, p), displayed a minus b."""
    n = data.n_judgments
    if isinstance(covariates, pd.DataFrame):
        if len(covariates) != n:
            raise SchemaError(f"`covariates` has {len(covariates)} rows; it needs one per judgment ({n}).")
        try:
            z = covariates.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"`covariates` must be numeric; converting it failed: {exc}.") from None
        return z, [str(c) for c in covariates.columns]
    if isinstance(covariates, np.ndarray):
        z = covariates.astype(np.float64).reshape(n, -1) if covariates.size else np.zeros((n, 0))
        if z.shape[0] != n:
            raise SchemaError(f"`covariates` has {covariates.shape[0]} rows; it needs one per judgment ({n}).")
        return z, [f"covariate_{c}" for c in range(z.shape[1])]
    names = [covariates] if isinstance(covariates, str) else list(covariates)
    if len(set(names)) != len(names):
        raise SchemaError(f"`covariates` names repeat: {names}.")
    cols: dict[str, np.ndarray] = {}
    if "position" in names:
        if not data.order_known:
            raise SchemaError("covariate 'position' needs the display order, but this data's order is "
                              "unknown (`order_known=False`); drop 'position' from `covariates`.")
        cols["position"] = np.ones(n)
    text_names = [c for c in names if c != "position"]
    if text_names:
        from ..features import FEATURE_NAMES, judgment_features

        unknown = [c for c in text_names if c not in FEATURE_NAMES]
        if unknown:
            raise SchemaError(f"unknown covariate name(s) {unknown}; choose from "
                              f"{('position', *FEATURE_NAMES)}, or pass a DataFrame with one row per judgment.")
        feats = judgment_features(data, text_names)
        for c in text_names:
            cols[c] = feats[c].to_numpy(dtype=np.float64, na_value=np.nan)
    z = np.column_stack([cols[c] for c in names]) if names else np.zeros((n, 0))
    return z, names


def _project_out_strengths(ia: np.ndarray, ib: np.ndarray, z: np.ndarray, k: int,
                           weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (``Z'Z - C' L^+ C``, ``diag(Z'Z)``) with ``L = D'D`` and ``C = D'Z``.

    The first is the Gram matrix of Z's residuals after the strength differences.
    ``weights`` repeats rows (design rows standing for that many judgments).
    """
    p = z.shape[1]
    ones = np.ones(len(ia)) if weights is None else np.asarray(weights, dtype=np.float64)
    wz = z if weights is None else z * ones[:, None]
    gram = np.array([[core.vdot(wz[:, a], z[:, b]) for b in range(p)] for a in range(p)])
    lap = sparse.coo_matrix((ones, (ia, ib)), shape=(k, k)).tocsr()
    lap = -(lap + lap.T)
    degree = np.bincount(ia, ones, minlength=k) + np.bincount(ib, ones, minlength=k)
    # C is orthogonal to every component's indicator, the Laplacian's null space, so a tiny
    # ridge gives L^+ C up to a relative error of ridge / (smallest non-zero eigenvalue)
    ridge = 1e-10 * max(float(degree.max()), 1.0)
    lap = (lap + sparse.diags(degree + ridge)).tocsc()
    cross = np.column_stack([np.bincount(ia, wz[:, c], k) - np.bincount(ib, wz[:, c], k)
                             for c in range(p)])
    sol = splinalg.splu(lap).solve(cross) if k > 1 else np.zeros_like(cross)
    return gram - cross.T @ sol, np.diag(gram).copy()


def screen_covariates(ia: np.ndarray, ib: np.ndarray, z: np.ndarray, k: int, names: list[str],
                      weights: np.ndarray | None = None) -> dict[str, str]:
    """Return ``{name: reason}`` for the covariate columns that cannot be estimated (module notes).

    ``weights`` (optional) repeats rows: compressed design rows standing for that many judgments.
    """
    p = z.shape[1]
    if p == 0:
        return {}
    reasons: dict[str, str] = {}
    zero = ~np.any(z != 0.0, axis=0)
    for c in np.flatnonzero(zero):
        reasons[names[c]] = ("it is 0 for every judgment (no difference between the two responses), "
                             "so it carries no information")
    live = np.flatnonzero(~zero)
    if not len(live):
        return reasons
    resid, sumsq = _project_out_strengths(ia, ib, z[:, live], k, weights)
    kept: list[int] = []
    for pos, c in enumerate(live):
        rest = resid[pos, pos]
        coef = np.zeros(0)
        if kept:
            block = resid[np.ix_(kept, kept)]
            coef = linalg.solve(block, resid[kept, pos], assume_a="pos")
            rest = rest - float(resid[pos, kept] @ coef)
        if rest > COLLINEAR_RTOL * sumsq[pos]:
            kept.append(pos)
            continue
        partners = [names[live[kept[m]]] for m in np.flatnonzero(np.abs(coef) > 1e-6)]
        if partners:
            reasons[names[c]] = (f"it is a linear combination of {partners} (plus, possibly, "
                                 "strength differences), so its effect cannot be told apart")
        elif resid[pos, pos] <= COLLINEAR_RTOL * sumsq[pos] and np.ptp(z[:, c]) == 0:
            reasons[names[c]] = (f"it is constant ({z[0, c]:g}) and the comparison graph cannot "
                                 "separate a constant from the strengths")
        else:
            reasons[names[c]] = ("it is determined by which items are compared (a difference of "
                                 "per-item values), so the strengths absorb it")
    return reasons


def build_design(ia: np.ndarray, ib: np.ndarray, y: np.ndarray, z: np.ndarray, k: int, ties: str
                 ) -> tuple[core.Design, np.ndarray, np.ndarray, bool]:
    """Return the design plus, per judgment, its design row and outcome in that row's orientation.

    Judgments collapse to unique (i, j) rows with outcome counts when every
    covariate is constant (none, or ``'position'``); the last value says
    whether they did.
    """
    const = z.shape[1] == 0 or bool(np.all(z == z[:1], axis=0).all())
    if not const:
        counts = np.zeros((len(y), 3))
        counts[np.arange(len(y)), y] = 1.0
        return core.Design(ia, ib, z, counts, k, ties), np.arange(len(y)), y, False
    if z.shape[1] == 0:  # orientation carries nothing: canonical (low, high) order
        flip = ia > ib
        lo, hi = np.where(flip, ib, ia), np.where(flip, ia, ib)
        y = np.where(flip & (y < 2), 1 - y, y)
    else:  # constant columns such as position: keep the display orientation
        lo, hi = ia, ib
    key = lo * k + hi
    if k * k <= 4 * len(key) + 65536:   # dense key space: counting instead of sorting
        present = np.zeros(k * k, dtype=bool)
        present[key] = True
        uniq = np.flatnonzero(present)
        inv = (np.cumsum(present) - 1)[key]
    else:
        uniq, inv = np.unique(key, return_inverse=True)
    counts = np.bincount(inv * 3 + y, minlength=len(uniq) * 3).reshape(-1, 3).astype(np.float64)
    zz = np.repeat(z[:1], len(uniq), axis=0)
    return core.Design(uniq // k, uniq % k, zz, counts, k, ties), inv, y.astype(np.int64), True
