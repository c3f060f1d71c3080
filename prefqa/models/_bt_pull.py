"""Per-judgment arrays of a Bradley-Terry fit with per-judgment covariates, in memory or pulled from an engine.

Continuous covariates (text features, a user table) do not compress into
design cells, so the fit iterates over judgments. For a ``ScannedData`` the
needed numbers are **pulled as numeric arrays** in scan order (``_row``):
the item codes, the displayed choice, the comparison and annotator codes,
and for each text feature its value for response ``a`` and ``b``, joined in
the engine to :func:`prefqa.features.response_feature_table` (computed from
texts streamed in batches, or precomputed columns). About
``8 * (5 + 2 * n_features)`` bytes per judgment; never strings or texts.
The differences are then formed exactly as
:func:`prefqa.features.judgment_features` forms them in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..engine import ScannedData
from ..errors import SchemaError
from ..schema import PreferenceData
from . import _bt_design as build

__all__ = ["JudgmentArrays", "judgment_arrays"]


@dataclass(frozen=True, eq=False)
class JudgmentArrays:
    """Everything the per-judgment fit reads, one entry per judgment (scan order)."""

    ia: np.ndarray
    ib: np.ndarray
    labels: pd.Index
    y: np.ndarray
    z: np.ndarray
    names: list[str]
    comparison: np.ndarray
    annotator: np.ndarray
    n_judgments: int


def judgment_arrays(data: PreferenceData | ScannedData, over: str, covariates: Any) -> JudgmentArrays:
    """The arrays of :class:`JudgmentArrays` for either data kind (module notes)."""
    if isinstance(data, ScannedData):
        return _from_engine(data, over, covariates)
    ia, ib, labels = build.items(data, over)
    z, names = build.covariate_matrix(data, covariates)
    ann = data.codes("annotator_id")[0] if "annotator_id" in data.judgments else np.full(data.n_judgments, -1)
    return JudgmentArrays(ia, ib, labels, data.choice_codes().astype(np.int64), z, names,
                          data.codes("comparison_id")[0], ann, data.n_judgments)


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _from_engine(s: ScannedData, over: str, covariates: Any) -> JudgmentArrays:
    from ..engine.reductions._bt_sql import _items, _labels

    n = s.n_judgments
    table: np.ndarray | None = None
    if isinstance(covariates, pd.DataFrame | np.ndarray):
        names: list[str] = []
    else:
        names = [covariates] if isinstance(covariates, str) else list(covariates)
        if len(set(names)) != len(names):
            raise SchemaError(f"`covariates` names repeat: {names}.")
        from ..features import FEATURE_NAMES

        unknown = [c for c in names if c != "position" and c not in FEATURE_NAMES]
        if unknown:
            raise SchemaError(f"unknown covariate name(s) {unknown}; choose from "
                              f"{('position', *FEATURE_NAMES)}, or pass a DataFrame with one row per judgment.")
        if "position" in names and not s.order_known:
            raise SchemaError("covariate 'position' needs the display order, but this data's order is "
                              "unknown (`order_known=False`); drop 'position' from `covariates`.")
    text = [c for c in names if c != "position"]
    cte, ia, ib = _items(over)
    joins = ("" if over == "model" else
             " LEFT JOIN items ia_t ON ia_t.m = jj.response_a_id LEFT JOIN items ib_t ON ib_t.m = jj.response_b_id")
    columns = _feature_columns(text)
    sel = ""
    if text:
        from ..features import response_feature_table

        ft = response_feature_table(s)
        joins += (f" LEFT JOIN {ft} fa ON fa.response_id = jj.response_a_id"
                  f" LEFT JOIN {ft} fb ON fb.response_id = jj.response_b_id")
        sel = ", CASE WHEN fa.response_id IS NULL OR fb.response_id IS NULL THEN 0 ELSE 1 END AS known" + "".join(
            f", CAST(f{side}.{_q(c)} AS DOUBLE) AS {side}_{c}" for c in columns for side in "ab")
    query = (f"WITH {cte}q AS (SELECT jj._row, CAST({ia} AS BIGINT) AS ia, CAST({ib} AS BIGINT) AS ib, "
             f"CAST(jj._ch AS BIGINT) AS y, CAST(jj._cmp AS BIGINT) AS cmp, CAST(jj._ann AS BIGINT) AS ann{sel} "
             f"FROM {{j}} jj{joins}) SELECT * FROM q ORDER BY _row") if cte else (
             f"SELECT CAST({ia} AS BIGINT) AS ia, CAST({ib} AS BIGINT) AS ib, CAST(jj._ch AS BIGINT) AS y, "
             f"CAST(jj._cmp AS BIGINT) AS cmp, CAST(jj._ann AS BIGINT) AS ann{sel} "
             f"FROM {{j}} jj{joins} ORDER BY jj._row")
    t = s.frame(query)
    cols: dict[str, np.ndarray] = {}
    if "position" in names:
        cols["position"] = np.ones(n)
    if text:
        cols.update(_differences(t, text))
    if isinstance(covariates, pd.DataFrame):
        if len(covariates) != n:
            raise SchemaError(f"`covariates` has {len(covariates)} rows; it needs one per judgment ({n}).")
        table = covariates.to_numpy(dtype=np.float64, na_value=np.nan)
        names = [str(c) for c in covariates.columns]
    elif isinstance(covariates, np.ndarray):
        table = covariates.astype(np.float64).reshape(n, -1) if covariates.size else np.zeros((n, 0))
        if table.shape[0] != n:
            raise SchemaError(f"`covariates` has {covariates.shape[0]} rows; it needs one per judgment ({n}).")
        names = [f"covariate_{c}" for c in range(table.shape[1])]
    z = table if table is not None else (np.column_stack([cols[c] for c in names]) if names else np.zeros((n, 0)))
    return JudgmentArrays(t["ia"].to_numpy(np.int64), t["ib"].to_numpy(np.int64), _labels(s, over),
                          t["y"].to_numpy(np.int64), z, names, t["cmp"].to_numpy(np.int64),
                          t["ann"].to_numpy(np.int64), n)


def _feature_columns(names: list[str]) -> list[str]:
    from ..features import feature_column

    return list(dict.fromkeys(feature_column(n) for n in names))


def _differences(t: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """a-minus-b feature differences as :func:`prefqa.features.judgment_features` forms them."""
    from ..features import side_differences

    known = t["known"].to_numpy() == 1

    def side(col: str) -> tuple[np.ndarray, np.ndarray]:
        a = t[f"a_{col}"].to_numpy(dtype=np.float64, na_value=np.nan)
        b = t[f"b_{col}"].to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(known, a, np.nan), np.where(known, b, np.nan)

    return side_differences(names, side)
