"""Cohen's kappa (unweighted, linear, quadratic) for one rater pair or every overlapping pair.

Conventions (chosen to match R ``irr::kappa2`` and SAS ``PROC FREQ``):

* Weights are built from the *positions* of the levels that the pair used on
  its shared units (R irr), or of the declared ``value_domain``: linear
  ``1 - |i - j| / (q - 1)``, quadratic ``1 - (i - j)^2 / (q - 1)^2``.
* ``std_error`` is the asymptotic SE of Fleiss, Cohen and Everitt (1969)
  (SAS "ASE"); ``z`` uses the SE under the null of no agreement (SAS "ASE
  under H0"); the CI is ``estimate +- z_(1-a/2) * std_error``.

All pairs are computed at once: per-category sparse units x raters
indicators give every pair's contingency table through sparse products.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from .._stats import bh_qvalues
from ..errors import InsufficientDataError, SchemaError
from ._counts import prepare
from .kappa import Coefficient

__all__ = ["cohen_kappa", "kappa_from_tables", "pairwise_kappa"]

_COHEN_WEIGHTS = ("unweighted", "identity", "linear", "quadratic")


def _check(weights: str, confidence_level: float, min_overlap: int = 2) -> None:
    if weights not in _COHEN_WEIGHTS:
        raise SchemaError(f"`weights` must be one of {list(_COHEN_WEIGHTS)}; got {weights!r}.")
    if not (0.0 < float(confidence_level) < 1.0):
        raise SchemaError(f"`confidence_level` must be between 0 and 1 (e.g. 0.95); got {confidence_level!r}.")
    if int(min_overlap) < 2:
        raise SchemaError(f"`min_overlap` must be at least 2; got {min_overlap!r}.")


def kappa_from_tables(tables: np.ndarray, weights: str = "unweighted", *, observed_levels: bool = True
                      ) -> dict[str, np.ndarray]:
    """Cohen's kappa of contingency tables of shape (..., V, V) (rater 1 rows, rater 2 columns).

    Returns arrays ``estimate``, ``std_error``, ``se_null``, ``z``, ``p_value``,
    ``p_observed``, ``p_chance`` and ``n``.
    """
    t = np.asarray(tables, dtype=float)
    v = t.shape[-1]
    n = t.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = t / n[..., None, None]
    row, col = p.sum(axis=-1), p.sum(axis=-2)
    if observed_levels:
        used = (row + col) > 0
        pos = np.cumsum(used, axis=-1) - 1.0
        q = used.sum(axis=-1).astype(float)
    else:
        pos = np.broadcast_to(np.arange(v, dtype=float), row.shape)
        q = np.full(row.shape[:-1], float(v))
    scale = np.where(q > 1, q - 1.0, 1.0)[..., None, None]
    dist = np.abs(pos[..., :, None] - pos[..., None, :]) / scale
    if weights == "linear":
        w = 1.0 - dist
    elif weights == "quadratic":
        w = 1.0 - dist**2
    else:
        w = np.broadcast_to(np.eye(v), dist.shape)
    po = (w * p).sum(axis=(-2, -1))
    outer = row[..., :, None] * col[..., None, :]
    pe = (w * outer).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(pe < 1 - 1e-12, (po - pe) / (1.0 - pe), np.nan)
        wr = (w * col[..., None, :]).sum(axis=-1)   # wbar_i. = sum_j p_.j w_ij
        wc = (w * row[..., :, None]).sum(axis=-2)   # wbar_.j = sum_i p_i. w_ij
        both = wr[..., :, None] + wc[..., None, :]
        a = (p * (w - both * (1.0 - k)[..., None, None]) ** 2).sum(axis=(-2, -1))
        var = (a - (k - pe * (1.0 - k)) ** 2) / (n * (1.0 - pe) ** 2)
        var0 = ((outer * (w - both) ** 2).sum(axis=(-2, -1)) - pe**2) / (n * (1.0 - pe) ** 2)
        se = np.sqrt(np.maximum(var, 0.0))
        se0 = np.sqrt(np.maximum(var0, 0.0))
        z = k / se0
    return {"estimate": k, "std_error": se, "se_null": se0, "z": z,
            "p_value": 2.0 * stats.norm.sf(np.abs(z)), "p_observed": po, "p_chance": pe, "n": n}


def _pair_tables(unit: np.ndarray, rater: np.ndarray, value: np.ndarray, n_units: int, n_raters: int,
                 n_cat: int, min_overlap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contingency tables of every rater pair (i < j) sharing at least ``min_overlap`` units."""
    ind = [sp.csr_matrix((np.ones(int((value == c).sum())), (unit[value == c], rater[value == c])),
                         shape=(n_units, n_raters)) for c in range(n_cat)]
    allr = sp.csr_matrix((np.ones(len(unit)), (unit, rater)), shape=(n_units, n_raters))
    overlap = sp.triu(allr.T @ allr, k=1).tocoo()
    keep = overlap.data >= min_overlap
    i, j = overlap.row[keep], overlap.col[keep]
    tables = np.zeros((len(i), n_cat, n_cat))
    for c in range(n_cat):
        for k in range(n_cat):
            m = (ind[c].T @ ind[k]).tocsr()
            tables[:, c, k] = np.asarray(m[i, j]).ravel() if len(i) else 0.0
    return i, j, tables


def _mirror_domain(frame: pd.DataFrame, value: str, value_domain: Sequence[Any] | None,
                   mirror: Mapping[Any, Any]) -> list[Any]:
    """The categories closed under ``mirror`` (the declared domain, else the observed values)."""
    if not isinstance(mirror, Mapping):
        raise SchemaError(f"`mirror` must be a mapping of each value to its mirror image; got {type(mirror).__name__}.")
    if value not in frame.columns:
        raise SchemaError(f"`frame` has no column {value!r}; found {list(frame.columns)}.")
    base = list(value_domain) if value_domain is not None else list(pd.unique(frame[value].dropna()))
    missing = [v for v in base if v not in mirror]
    if missing:
        raise SchemaError(f"`mirror` has no image for value(s) {missing[:5]}; map every value (e.g. 'tie': 'tie').")
    images = [mirror[v] for v in base]
    if value_domain is not None:
        outside = [v for v in images if v not in base]
        if outside:
            raise SchemaError(f"`mirror` maps into {outside[:5]}, which `value_domain` does not list.")
        return base
    out = list(dict.fromkeys(base + images))
    try:
        return sorted(out)
    except TypeError:
        return out


def pairwise_kappa(
    frame: pd.DataFrame,
    *,
    unit: str,
    rater: str,
    value: str,
    weights: str = "unweighted",
    min_overlap: int = 10,
    value_domain: Sequence[Any] | None = None,
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    mirror: Mapping[Any, Any] | None = None,
) -> pd.DataFrame:
    """Compute Cohen's kappa for every pair of raters sharing at least ``min_overlap`` units.

    Parameters
    ----------
    frame : DataFrame
        Long ratings (first row per unit x rater used).
    unit, rater, value : str
        Column names.
    weights : {'unweighted', 'linear', 'quadratic'}
    min_overlap : int, default 10
        Minimum number of shared units for a pair to be reported.
    value_domain : sequence, optional
        Ordered categories; weights then use positions in it instead of the
        levels each pair observed (R irr's convention).
    confidence_level : float, default 0.95
    fdr : float, default 0.05
        False discovery rate for ``significant``.
    mirror : mapping, optional
        Each value's mirror image, for labels that are arbitrary per unit:
        for pairwise preferences ``{"a": "b", "b": "a", "tie": "tie"}`` (or the
        codes of ``PreferenceData.oriented_choice()``, ``{0: 1, 1: 0, 2: 2}``).
        Every unit is then counted half as stored and half mirrored (the table
        ``(T + P T P') / 2``), so no kappa depends on which response of a
        comparison was stored first; observed agreement and ``n`` are
        unchanged. The asymptotic SE on the symmetrised table is the
        delta-method SE of this estimator (the kappa's gradient is
        mirror-invariant there).

    Returns
    -------
    DataFrame
        One row per pair: ``rater_1``, ``rater_2``, ``n`` (shared units),
        ``estimate``, ``std_error``, ``ci_low``, ``ci_high``, ``z``,
        ``p_value`` (test of kappa = 0, SE under the null), ``q_value``
        (Benjamini-Hochberg over all reported pairs; NaN where kappa is
        undefined), ``significant`` (``q_value < fdr``), ``p_observed``,
        ``p_chance``. Empty when no pair overlaps enough.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"u": [1, 1, 2, 2, 3, 3, 4, 4], "r": list("xyxyxyxy"),
    ...                   "v": ["a", "a", "b", "b", "a", "b", "b", "b"]})
    >>> pairwise_kappa(f, unit="u", rater="r", value="v", min_overlap=2)[["rater_1", "rater_2", "n", "estimate"]]
      rater_1 rater_2  n  estimate
    0       x       y  4       0.5
    """
    _check(weights, confidence_level, min_overlap)
    if isinstance(fdr, bool) or not isinstance(fdr, (int, float)) or not 0.0 < float(fdr) < 1.0:
        raise SchemaError(f"`fdr` must be a number strictly between 0 and 1 (e.g. 0.05); got {fdr!r}.")
    domain = value_domain if mirror is None else _mirror_domain(frame, value, value_domain, mirror)
    r = prepare(frame, unit=unit, rater=rater, value=value, level="nominal", value_domain=domain)
    i, j, tables = _pair_tables(r.unit, r.rater, r.value, r.n_units, len(r.rater_labels), r.n_categories,
                                int(min_overlap))
    if mirror is not None:
        perm = r.categories.get_indexer([mirror[c] for c in r.categories])
        tables = (tables + tables[:, perm][:, :, perm]) / 2.0
    res = kappa_from_tables(tables, weights, observed_levels=value_domain is None)
    zq = stats.norm.ppf(0.5 + confidence_level / 2.0)
    q = bh_qvalues(res["p_value"])
    out = pd.DataFrame({
        "rater_1": r.rater_labels.to_numpy()[i], "rater_2": r.rater_labels.to_numpy()[j],
        "n": res["n"].astype(np.int64), "estimate": res["estimate"], "std_error": res["std_error"],
        "ci_low": res["estimate"] - zq * res["std_error"], "ci_high": res["estimate"] + zq * res["std_error"],
        "z": res["z"], "p_value": res["p_value"], "q_value": q, "significant": q < float(fdr),
        "p_observed": res["p_observed"], "p_chance": res["p_chance"],
    })
    return out


def cohen_kappa(
    frame: pd.DataFrame,
    *,
    unit: str,
    rater: str,
    value: str,
    raters: tuple[Any, Any] | None = None,
    weights: str = "unweighted",
    value_domain: Sequence[Any] | None = None,
    confidence_level: float = 0.95,
) -> Coefficient:
    """Compute Cohen's kappa between two raters on the units both rated.

    Parameters
    ----------
    frame : DataFrame
        Long ratings with exactly two raters, or name them in ``raters``.
    unit, rater, value : str
        Column names.
    raters : tuple, optional
        The two raters to compare (rows of the table, columns).
    weights : {'unweighted', 'linear', 'quadratic'}
        Weights on the positions of the observed levels (R irr) or of
        ``value_domain``.
    value_domain : sequence, optional
    confidence_level : float, default 0.95

    Returns
    -------
    Coefficient
        ``std_error`` is the asymptotic SE; ``z``/``p_value`` use the SE under
        the null hypothesis.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"u": [1, 1, 2, 2, 3, 3, 4, 4], "r": list("xyxyxyxy"),
    ...                   "v": ["a", "a", "b", "b", "a", "b", "b", "b"]})
    >>> round(cohen_kappa(f, unit="u", rater="r", value="v").estimate, 3)
    0.5
    """
    _check(weights, confidence_level)
    if raters is not None:
        if rater not in frame.columns:
            raise SchemaError(f"`frame` has no column {rater!r}; found {list(frame.columns)}.")
        frame = frame[frame[rater].isin(list(raters))]
    r = prepare(frame, unit=unit, rater=rater, value=value, level="nominal", value_domain=value_domain)
    if len(r.rater_labels) != 2:
        raise SchemaError(
            f"Cohen's kappa compares exactly 2 raters; `{rater}` has {len(r.rater_labels)} "
            f"({list(r.rater_labels[:5])}). Pass `raters=(first, second)` or use pairwise_kappa()."
        )
    if raters is not None and list(r.rater_labels) != list(raters):
        r_first = 0 if r.rater_labels[0] == raters[0] else 1
    else:
        r_first = 0
    i, _, tables = _pair_tables(r.unit, r.rater, r.value, r.n_units, 2, r.n_categories, 1)
    if len(i) == 0 or tables[0].sum() < 2:
        raise InsufficientDataError(
            f"Cohen's kappa needs units rated by both raters; {list(r.rater_labels)} share "
            f"{int(tables[0].sum()) if len(i) else 0} unit(s). Collect overlapping ratings."
        )
    table = tables[0] if r_first == 0 else tables[0].T
    res = {k: float(v) for k, v in kappa_from_tables(table, weights, observed_levels=value_domain is None).items()}
    zq = stats.norm.ppf(0.5 + confidence_level / 2.0)
    warn: tuple[str, ...] = ()
    if np.isnan(res["estimate"]):
        warn = (("Cohen's kappa is undefined: both raters used a single category, so chance "
                 "agreement is 1 (the prevalence problem); report percent agreement instead."),)
    return Coefficient(
        name="cohen_kappa", estimate=res["estimate"], std_error=res["std_error"],
        ci_low=res["estimate"] - zq * res["std_error"], ci_high=res["estimate"] + zq * res["std_error"],
        p_observed=res["p_observed"], p_chance=res["p_chance"], z=res["z"], p_value=res["p_value"],
        weights=weights, confidence_level=float(confidence_level), n_units=r.n_units,
        n_pairable=int(res["n"]), n_ratings=len(r.unit), n_raters=2,
        categories=tuple(r.categories.tolist()), warnings=warn,
    )
