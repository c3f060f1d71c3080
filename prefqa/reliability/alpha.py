"""Krippendorff's alpha on long, sparse data (coincidence matrices, O(n + V^2) memory)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InsufficientDataError, SchemaError
from ._counts import Ratings, count_matrix, metric_matrix, need_pairable, prepare

__all__ = ["alpha_from_coincidences", "coincidences", "krippendorff_alpha"]


def coincidences(counts: sp.csr_matrix) -> np.ndarray:
    """Return the V x V coincidence matrix ``o_ck`` of a units x categories count matrix.

    ``o = C' diag(w) C - diag(C' w)`` with ``w_u = 1 / (m_u - 1)`` over
    pairable units (``m_u >= 2``); the units x V x V tensor is never formed.
    """
    m_u = np.asarray(counts.sum(axis=1)).ravel()
    w = np.zeros_like(m_u)
    pair = m_u >= 2
    w[pair] = 1.0 / (m_u[pair] - 1.0)
    weighted = sp.diags(w) @ counts
    o = np.asarray((counts.T @ weighted).toarray() if sp.issparse(counts) else counts.T @ weighted)
    o -= np.diag(np.asarray(weighted.sum(axis=0)).ravel())
    return o


def alpha_from_coincidences(
    o: np.ndarray,
    level: str | Callable[[np.ndarray, np.ndarray], np.ndarray],
    numeric: np.ndarray | None,
) -> np.ndarray:
    """Alpha from coincidence matrices of shape (..., V, V); NaN where undefined.

    ``alpha = 1 - (n - 1) * sum(o * delta) / sum(n_c n_k delta)``.
    """
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    delta = metric_matrix(level, numeric, n_c)
    observed = (o * delta).sum(axis=(-2, -1))
    expected = (n_c[..., :, None] * n_c[..., None, :] * delta).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 1.0 - (n - 1.0) * observed / expected
    return np.where(expected > 0, out, np.nan)


def _undefined_message(r: Ratings, n_c: np.ndarray) -> str:
    used = np.flatnonzero(n_c > 0)
    if len(used) <= 1:
        cat = r.categories[used[0]] if len(used) else None
        return (
            f"Krippendorff's alpha is undefined: every pairable value is {cat!r} "
            f"({int(n_c.sum())} values), so the expected disagreement is 0 (the prevalence "
            "problem). Report percent agreement or Gwet's AC1 instead, which stay defined."
        )
    return "Krippendorff's alpha is undefined: the expected disagreement is 0 under this metric."


def _alpha_of_data(data: Any, level: Any, unit: Any, rater: Any, value: Any, value_domain: Any) -> float:
    """Nominal alpha of which response won (``orientation='symmetric'``), from the vote reduction."""
    from ..engine.reductions.votes import first_votes
    from ._boot import block_table
    from ._choice import _choice_categories

    if level != "nominal" or unit is not None or rater is not None or value is not None or value_domain is not None:
        raise SchemaError(
            "krippendorff_alpha(data) on a PreferenceData or ScannedData gives the nominal alpha of the choices "
            f"and takes no unit/rater/value/value_domain and level='nominal' only (got level={level!r}, "
            f"unit={unit!r}, rater={rater!r}, value={value!r}). For other targets pass a long DataFrame, "
            "or use pq.agreement(data)."
        )
    if not data.n_judgments or not data.has_annotators:
        raise InsufficientDataError(
            f"Krippendorff's alpha needs annotator ids, but all {data.n_judgments:,} judgments have a missing "
            "`annotator_id`. Load data that names its annotators.")
    t = first_votes(data).table
    n_choice = np.bincount(t["value"].to_numpy(), weights=t["count"].to_numpy(), minlength=3)
    remap, cats, perm = _choice_categories(n_choice, "symmetric", None)
    idx = np.flatnonzero(remap >= 0)
    rows = block_table(t[[f"n{i}" for i in idx]].to_numpy(), t["rater"].to_numpy(), remap[t["value"].to_numpy()],
                       t["count"].to_numpy(), len(cats), level="nominal", numeric=None, family_kinds=(),
                       n_resamples=0, confidence_level=0.95, rng=np.random.default_rng(0), perm=perm,
                       use_rater=False)
    if rows[0]["n"] == 0:
        raise InsufficientDataError(
            f"Krippendorff's alpha needs at least one comparison judged by 2 or more annotators; got 0 of "
            f"{data.n_comparisons:,}. Collect overlapping judgments.")
    a = float(rows[0]["estimate"])
    if np.isnan(a):
        raise InsufficientDataError(
            f"Krippendorff's alpha is undefined: a single choice category is in use ({list(cats)}), so the "
            "expected disagreement is 0 (the prevalence problem). Report percent agreement or Gwet's AC1 instead.")
    return a


def krippendorff_alpha(
    frame: pd.DataFrame | Any,
    *,
    unit: str | None = None,
    rater: str | None = None,
    value: str | None = None,
    level: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = "nominal",
    value_domain: Sequence[Any] | None = None,
) -> float:
    """Compute Krippendorff's alpha from a long table of ratings.

    Parameters
    ----------
    frame : DataFrame, PreferenceData or ScannedData
        One row per rating, with the columns named by ``unit``, ``rater`` and
        ``value``. Rows with a missing unit, rater or value are ignored. When a
        rater rated a unit more than once, the first row is used. Given
        preference data (in memory or from :func:`prefqa.scan`), the nominal
        alpha of which response won, counted over both orientations: the
        ``alpha`` of :func:`prefqa.agreement` (its defaults), from the vote
        reduction (computed in SQL for a ScannedData).
    unit, rater, value : str
        Column names (required for a DataFrame; omitted for preference data).
    level : {'nominal', 'ordinal', 'interval', 'ratio'} or callable
        Level of measurement. ``'ordinal'`` is Krippendorff's (2011) rank
        metric built from the coincidence marginals. A callable
        ``metric(v1, v2)`` receives broadcastable arrays of category values
        and returns squared distances.
    value_domain : sequence, optional
        The ordered categories. Required for ``'ordinal'`` on string values;
        values outside it raise.

    Returns
    -------
    float

    Raises
    ------
    SchemaError
        Missing columns, unknown ``level``, string values at a metric level
        without an order, values outside ``value_domain``.
    InsufficientDataError
        No unit with two or more ratings, or a single category in use (alpha is
        then undefined: the prevalence problem; report AC1 or percent agreement).

    Notes
    -----
    Units with a single rating are not pairable and are ignored. The observed
    coincidences are ``o = C' diag(1/(m_u - 1)) C - diag(...)`` from the sparse
    units x categories count matrix ``C``: memory is O(rows + V^2), with no
    raters x units matrix and no units x V x V tensor.

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"item": [1, 1, 1, 2, 2, 3, 3, 3],
    ...                       "coder": ["x", "y", "z", "x", "y", "x", "y", "z"],
    ...                       "label": ["p", "p", "p", "q", "q", "p", "q", "q"]})
    >>> round(krippendorff_alpha(frame, unit="item", rater="coder", value="label"), 4)
    0.5625
    >>> import prefqa as pq
    >>> data, _ = pq.simulate(n_prompts=30, n_annotators=5, rng=2)
    >>> krippendorff_alpha(data) == pq.agreement(data, n_resamples=0).alpha
    True
    """
    from ..engine import ScannedData
    from ..schema import PreferenceData

    if isinstance(frame, PreferenceData | ScannedData):
        return _alpha_of_data(frame, level, unit, rater, value, value_domain)
    if unit is None or rater is None or value is None:
        raise SchemaError("krippendorff_alpha(frame) on a long DataFrame needs the column names unit=, rater= and "
                          f"value=; got unit={unit!r}, rater={rater!r}, value={value!r}.")
    r = prepare(frame, unit=unit, rater=rater, value=value, level=level, value_domain=value_domain)
    counts = count_matrix(r.unit, r.value, r.n_units, r.n_categories)
    m_u = np.asarray(counts.sum(axis=1)).ravel()
    need_pairable(m_u, "Krippendorff's alpha")
    o = coincidences(counts)
    a = float(alpha_from_coincidences(o, level, r.numeric))
    if np.isnan(a):
        raise InsufficientDataError(_undefined_message(r, o.sum(axis=1)))
    return a
