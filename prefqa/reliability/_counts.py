"""Long ratings -> integer codes, sparse per-unit value counts and count patterns.

Every reliability coefficient in this package is a function of the per-unit
value counts ``n_uc`` (how many raters put unit ``u`` in category ``c``).
This module builds them from a long table without ever forming a raters x
units matrix: the counts live in a ``scipy.sparse`` CSR matrix with one
non-zero per (unit, category) that occurs, so memory is O(rows).

For the bootstrap, units are compressed into *patterns*: distinct count
vectors. Preference data has very few of them (with 3 categories and at
most 7 judgments per unit there are at most 120), so resampling units is a
multinomial draw over patterns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InsufficientDataError, SchemaError

__all__ = ["LEVELS", "Ratings", "count_matrix", "patterns", "prepare"]

LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True, eq=False)
class Ratings:
    """Integer-coded long ratings, one row per (unit, rater) after de-duplication."""

    unit: np.ndarray          # int64 codes into unit_labels
    rater: np.ndarray         # int64 codes into rater_labels
    value: np.ndarray         # int64 codes into categories
    categories: pd.Index      # ordered category labels (the value domain or the observed values)
    numeric: np.ndarray | None  # float value of each category, None for non-numeric labels
    unit_labels: pd.Index
    rater_labels: pd.Index
    n_rows: int               # rows in the input
    n_missing: int            # rows dropped for a missing unit, rater or value
    n_repeats: int            # rows dropped because (unit, rater) was seen before (first kept)
    first_rows: np.ndarray    # positions (in the input) of the rows kept

    @property
    def n_units(self) -> int:
        return len(self.unit_labels)

    @property
    def n_categories(self) -> int:
        return len(self.categories)


def _check_level(level: Any) -> None:
    if callable(level):
        return
    if level not in LEVELS:
        raise SchemaError(
            f"`level` must be one of {list(LEVELS)} or a callable metric(v1, v2); got {level!r}."
        )


def prepare(
    frame: pd.DataFrame,
    *,
    unit: str,
    rater: str,
    value: str,
    level: Any = "nominal",
    value_domain: Sequence[Any] | None = None,
) -> Ratings:
    """Validate a long table and code it as integers (first row per unit x rater kept)."""
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"`frame` must be a pandas DataFrame; got {type(frame).__name__}.")
    missing = [c for c in (unit, rater, value) if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"`frame` has no column(s) {missing}; found {list(frame.columns)}. "
            "Pass the column names as `unit=`, `rater=` and `value=`."
        )
    _check_level(level)
    n_rows = len(frame)
    vals = frame[value]
    ok = vals.notna().to_numpy() & frame[unit].notna().to_numpy() & frame[rater].notna().to_numpy()
    vals = vals[ok]
    numeric_values = pd.api.types.is_numeric_dtype(vals.dtype) and not pd.api.types.is_bool_dtype(vals.dtype)
    if value_domain is not None:
        categories = pd.Index(list(value_domain))
        if categories.has_duplicates:
            raise SchemaError(f"`value_domain` has duplicate entries: {list(categories[categories.duplicated()])}.")
        codes = categories.get_indexer(vals)
        if (codes < 0).any():
            bad = pd.unique(vals[codes < 0])[:5]
            raise SchemaError(
                f"{int((codes < 0).sum())} value(s) of `{value}` are not in `value_domain`, e.g. "
                f"{list(bad)}; add them to `value_domain` or drop those rows."
            )
    else:
        codes, categories = pd.factorize(vals, sort=True)
        categories = pd.Index(categories)
    numeric: np.ndarray | None
    if pd.api.types.is_numeric_dtype(categories.dtype) and not pd.api.types.is_bool_dtype(categories.dtype):
        numeric = categories.to_numpy(dtype=float)
    else:
        numeric = None
    if not callable(level) and level != "nominal":
        if numeric is None and (level in ("interval", "ratio")):
            raise SchemaError(
                f"level={level!r} needs numeric values, but `{value}` holds labels such as "
                f"{list(categories[:3])}; map them to numbers first, or use level='nominal' "
                "(or level='ordinal' with an ordered `value_domain`)."
            )
        if numeric is None and value_domain is None and not numeric_values:
            raise SchemaError(
                f"level={level!r} on string values needs their order: pass "
                f"`value_domain=[...]` listing {list(categories[:5])} from lowest to highest, "
                "or use level='nominal'."
            )
    u_codes, u_labels = pd.factorize(frame[unit][ok], sort=True)
    r_codes, r_labels = pd.factorize(frame[rater][ok], sort=True)
    u_codes = u_codes.astype(np.int64)
    r_codes = r_codes.astype(np.int64)
    key = u_codes * max(len(r_labels), 1) + r_codes
    _, first = np.unique(key, return_index=True)
    first.sort()
    rows = np.flatnonzero(ok)[first]
    return Ratings(
        unit=u_codes[first], rater=r_codes[first], value=np.asarray(codes, dtype=np.int64)[first],
        categories=categories, numeric=numeric,
        unit_labels=pd.Index(u_labels), rater_labels=pd.Index(r_labels),
        n_rows=n_rows, n_missing=int(n_rows - ok.sum()), n_repeats=int(ok.sum() - len(first)),
        first_rows=rows,
    )


def count_matrix(unit: np.ndarray, value: np.ndarray, n_units: int, n_categories: int) -> sp.csr_matrix:
    """Return the sparse units x categories matrix of value counts ``n_uc``."""
    data = np.ones(len(unit), dtype=np.float64)
    m = sp.csr_matrix((data, (unit, value)), shape=(n_units, n_categories))
    m.sum_duplicates()
    return m


def need_pairable(m_u: np.ndarray, what: str) -> None:
    """Raise when no unit has two or more values."""
    n_pairable = int((m_u >= 2).sum())
    if n_pairable == 0:
        raise InsufficientDataError(
            f"{what} needs at least one unit rated by 2 or more raters; got 0 of {len(m_u)} units "
            f"({int(m_u.sum())} ratings). Collect overlapping ratings (several raters per unit)."
        )


def patterns(counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compress units into distinct count vectors.

    Returns ``(pattern_counts, multiplicity, inverse)``: a dense P x V array of
    the distinct count rows, how many units have each, and each unit's pattern.
    """
    n, v = counts.shape
    if n == 0:
        return np.zeros((0, v)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    top = int(counts.max()) + 1 if counts.nnz else 1
    if v * np.log2(max(top, 2)) < 62:
        # one integer key per unit: sum_c n_uc * top**c (exact, since every n_uc < top)
        coo = counts.tocoo()
        weights = np.asarray(top, dtype=np.int64) ** coo.col.astype(np.int64)
        key = np.bincount(coo.row, weights=coo.data.astype(np.int64) * weights, minlength=n)
        key = key.astype(np.int64)
        _, first, inverse, mult = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        pats = counts[first].toarray()
        return pats, mult.astype(np.int64), inverse.astype(np.int64)
    dense = counts.toarray()
    pats, inverse, mult = np.unique(dense, axis=0, return_inverse=True, return_counts=True)
    return pats, mult.astype(np.int64), inverse.reshape(-1).astype(np.int64)


def metric_matrix(
    level: str | Callable[[np.ndarray, np.ndarray], np.ndarray],
    numeric: np.ndarray | None,
    marginals: np.ndarray,
) -> np.ndarray:
    """Return squared distances delta^2 (V x V), or a stack (B x V x V) for stacked marginals.

    ``marginals`` holds the coincidence marginals ``n_c`` (shape V or B x V);
    only the ordinal metric depends on them (Krippendorff 2011, rank based).
    """
    v = marginals.shape[-1]
    if callable(level):
        vals = numeric if numeric is not None else np.arange(v, dtype=float)
        d = np.asarray(level(vals[:, None], vals[None, :]), dtype=float)
        return np.broadcast_to(d, marginals.shape[:-1] + (v, v))
    if level == "nominal":
        d = 1.0 - np.eye(v)
        return np.broadcast_to(d, marginals.shape[:-1] + (v, v))
    if level == "ordinal":
        cum = np.cumsum(marginals, axis=-1)
        # sum_{g=c..k} n_g - (n_c + n_k)/2 for c <= k, symmetric
        lo = cum - marginals  # sum_{g < c} n_g
        c_idx = np.arange(v)
        big = np.maximum(c_idx[:, None], c_idx[None, :])
        small = np.minimum(c_idx[:, None], c_idx[None, :])
        span = cum[..., big] - lo[..., small]
        d = span - (marginals[..., :, None] + marginals[..., None, :]) / 2.0
        return d**2
    vals = numeric if numeric is not None else np.arange(v, dtype=float)
    diff = vals[:, None] - vals[None, :]
    if level == "interval":
        d = diff**2
    else:  # ratio
        tot = vals[:, None] + vals[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(tot == 0, 0.0, (diff / np.where(tot == 0, 1.0, tot)) ** 2)
    return np.broadcast_to(d, marginals.shape[:-1] + (v, v))
