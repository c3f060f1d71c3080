"""Vote reductions: per-comparison vote patterns and per-annotator x pattern x vote counts.

Every reduction accepts a :class:`~prefqa.schema.PreferenceData` (numpy) or a
:class:`~prefqa.engine.ScannedData` (SQL in DuckDB's dialect, transpiled for
Spark) and returns the same small table, sorted by its integer columns.
Choices are the *oriented* codes (``PreferenceData.oriented_choice()`` /
the engine's ``_och``): 0 = the comparison's first response won, 1 = the
second, 2 = tie.

* :func:`first_votes`: the inter-rater table. One judgment per annotator
  and comparison (the first row) and named annotators only; a unit is a
  comparison (within a stratum when ``by`` is given), its pattern the
  counts ``n0, n1, n2`` of its votes. One row per (stratum, annotator,
  pattern, own vote) with ``count`` = how many such judgments. Units per
  pattern are ``sum(count) / (n0 + n1 + n2)``. Agreement, alpha, the kappa
  family, the two-way jackknife and the leave-one-out annotator agreement
  are functions of this table. Size: strata x annotators x patterns x 3
  (patterns are few: at most 120 with 7 votes per comparison).
* :func:`repeat_votes`: intra-rater repeats. Units are (annotator,
  comparison) pairs judged 2+ times by that annotator (every row counts);
  one row per (annotator, pattern) with ``count`` units.
* :func:`comparison_votes`: every judgment's vote per comparison (missing
  annotators included): one row per comparison (``_cmp``, ``n0``, ``n1``,
  ``n2``). This one is as long as the comparisons: it is pulled as three
  int64 columns plus the code (32 bytes per comparison).

* :func:`hash_sample`: a seeded md5 rule choosing comparisons (or prompts),
  identical in memory and in SQL.
* :mod:`.labels` holds the consensus reductions (every judgment against its
  comparison's pattern, comparison ids, Dawid-Skene's E-step sums).
* :func:`first_strength`: the oriented ``strength`` of first judgments
  (a continuous value has no small pattern table): pulled as numeric
  arrays, 2 int64 codes and one float per first judgment with a strength.

Memory: apart from :func:`comparison_votes` and :func:`first_strength`, none
of these pulls per-judgment or per-comparison data; the SQL runs out of core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

import numpy as np
import pandas as pd

from ...errors import SchemaError
from ...schema import PreferenceData

if TYPE_CHECKING:
    from .._scan import ScannedData

__all__ = ["VoteTable", "comparison_votes", "first_strength", "first_votes", "hash_sample", "repeat_votes",
           "stratum_codes", "table_from_arrays", "unique_rows"]

# the first judgment (lowest _row) of each (comparison, named annotator); joined back on _row, never
# arg_min(value, _row), which skips NULL values in DuckDB
_FIRST = "f0 AS (SELECT min(_row) AS _row FROM {j} WHERE _ann >= 0 GROUP BY _cmp, _ann)"
_TABLE = ["stratum", "rater", "n0", "n1", "n2", "value", "count"]


@dataclass(frozen=True, eq=False)
class VoteTable:
    """The result of :func:`first_votes`.

    Attributes
    ----------
    table : DataFrame
        Columns ``stratum`` (0 when ``by`` is None, else an index into
        ``strata``), ``rater`` (annotator code), ``n0``, ``n1``, ``n2``
        (the unit's vote counts), ``value`` (this annotator's vote),
        ``count``; sorted by all of them. int64 throughout.
    strata : tuple of str
        Stratum labels (``" | ".join`` of the ``by`` values as strings,
        ``"<NA>"`` for missing), sorted; ``("all",)`` when ``by`` is None.
    n_judgments : int
        All judgments.
    n_named : int
        Judgments with an annotator id.
    n_first : int
        Judgments used (first per annotator and comparison, named).
    n_comparisons : int
        All comparisons.
    """

    table: pd.DataFrame
    strata: tuple[str, ...]
    n_judgments: int
    n_named: int
    n_first: int
    n_comparisons: int


def _is_scanned(data: object) -> TypeGuard[ScannedData]:
    from .._scan import ScannedData

    return isinstance(data, ScannedData)


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _by_columns(data: object, by: str | Sequence[str] | None) -> tuple[str, ...]:
    if by is None:
        return ()
    cols = (by,) if isinstance(by, str) else tuple(by)
    have = list(data.columns) if _is_scanned(data) else list(data.judgments.columns)  # type: ignore[attr-defined]
    missing = [c for c in cols if c not in have]
    if missing:
        raise SchemaError(f"`by` names column(s) {missing} not in the judgments; found {have}.")
    return cols


def stratum_codes(frame: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes and labels of the rows of ``frame`` (the ``by`` columns), as the analyses label strata.

    Values are read as strings (``"<NA>"`` for missing), tuples sorted,
    labels joined with ``" | "``.
    """
    text = frame.astype("string").fillna("<NA>")
    code, keys = pd.MultiIndex.from_frame(text).factorize(sort=True)
    return code.astype(np.int64), tuple(" | ".join(map(str, k)) for k in keys)


def table_from_arrays(unit: np.ndarray, rater: np.ndarray, value: np.ndarray,
                      stratum: np.ndarray | None = None, n_cat: int = 3) -> pd.DataFrame:
    """Build the (stratum, rater, pattern, value, count) table from one row per (unit, rater).

    ``unit``, ``rater``, ``value`` (0..n_cat-1) are integer arrays of equal
    length (rows already de-duplicated); ``stratum`` splits units. The
    pattern columns are ``n0 .. n{n_cat-1}``.
    """
    unit = np.asarray(unit, dtype=np.int64)
    rater = np.asarray(rater, dtype=np.int64)
    value = np.asarray(value, dtype=np.int64)
    strat = np.zeros(len(unit), dtype=np.int64) if stratum is None else np.asarray(stratum, dtype=np.int64)
    cols = [f"n{c}" for c in range(n_cat)]
    if not len(unit):
        return pd.DataFrame({c: np.zeros(0, dtype=np.int64) for c in ["stratum", "rater", *cols, "value", "count"]})
    n_u = int(unit.max()) + 1
    _, su = np.unique(strat * n_u + unit, return_inverse=True)
    su = su.ravel()
    counts = np.bincount(su * n_cat + value, minlength=(int(su.max()) + 1) * n_cat).reshape(-1, n_cat)
    rows = np.column_stack([strat, rater, counts[su], value])
    uniq, mult = unique_rows(rows)
    out = pd.DataFrame(uniq, columns=["stratum", "rater", *cols, "value"])
    out["count"] = mult.astype(np.int64)
    return out


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a 2-D integer array in lexicographic order, and how often each occurs.

    One mixed-radix int64 key per row when the value ranges allow it (a 1-D
    sort), else ``np.unique(axis=0)``; the result is the same either way.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return rows.reshape(0, rows.shape[1] if rows.ndim == 2 else 0), np.zeros(0, dtype=np.int64)
    lo = rows.min(axis=0)
    span = rows.max(axis=0) - lo + 1
    if float(np.prod(span.astype(np.float64))) < 2.0**62:
        key = np.zeros(len(rows), dtype=np.int64)
        for c in range(rows.shape[1]):
            key = key * span[c] + (rows[:, c] - lo[c])
        uniq, first, mult = np.unique(key, return_index=True, return_counts=True)
        return rows[first], mult.astype(np.int64)
    uniq, mult = np.unique(rows, axis=0, return_counts=True)
    return uniq, mult.astype(np.int64)


def _first_rows(data: PreferenceData) -> np.ndarray:
    """Positions of the first judgment per (comparison, named annotator)."""
    comp, _ = data.codes("comparison_id")
    ann, _ = data.codes("annotator_id")
    has = ann >= 0
    key = np.where(has, comp * (int(ann.max()) + 1 if len(ann) else 1) + ann, -1 - np.arange(len(comp)))
    _, first = np.unique(key, return_index=True)
    return np.sort(first[has[first]])


def first_votes(data: PreferenceData | object, *, by: str | Sequence[str] | None = None) -> VoteTable:
    """Per (stratum, annotator, vote pattern, own vote) counts of first judgments (module notes).

    Parameters
    ----------
    data : PreferenceData or ScannedData
    by : str or list of str, optional
        Judgment column(s): units are (stratum, comparison) pairs.

    Returns
    -------
    VoteTable

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c1", "c1", "c2", "c2"],
    ...                   "annotator_id": ["x", "y", "z", "x", "y"], "choice": ["a", "a", "b", "b", "b"]})
    >>> t = first_votes(pq.PreferenceData(j)).table
    >>> t[["rater", "n0", "n1", "value", "count"]].values.tolist()
    [[0, 0, 2, 1, 1], [0, 2, 1, 0, 1], [1, 0, 2, 1, 1], [1, 2, 1, 0, 1], [2, 2, 1, 1, 1]]
    >>> first_votes(pq.scan(pq.PreferenceData(j))).table.equals(first_votes(pq.PreferenceData(j)).table)
    True
    """
    cols = _by_columns(data, by)
    if _is_scanned(data):
        return _first_votes_sql(data, cols)
    assert isinstance(data, PreferenceData)
    first = _first_rows(data)
    comp, _ = data.codes("comparison_id")
    ann, _ = data.codes("annotator_id")
    och = data.oriented_choice().astype(np.int64)
    strata: tuple[str, ...] = ("all",)
    strat = None
    if cols:  # strata labelled over the judgments used, as the engine does
        strat, strata = stratum_codes(data.judgments[list(cols)].iloc[first])
    table = table_from_arrays(comp[first], ann[first], och[first], strat)
    return VoteTable(table, strata, data.n_judgments, int((ann >= 0).sum()), len(first), data.n_comparisons)


def _first_votes_sql(data: object, cols: tuple[str, ...]) -> VoteTable:
    s = data  # ScannedData
    by_first = "".join(f", jj.{_q(c)}" for c in cols)
    part = ", ".join([*(_q(c) for c in cols), "_cmp"])
    by_sel = "".join(f"{_q(c)}, " for c in cols)
    query = f"""
    WITH {_FIRST},
    f AS (SELECT jj._cmp, jj._ann, jj._och AS v{by_first} FROM {{j}} jj JOIN f0 ON jj._row = f0._row),
    u AS (SELECT {by_sel}_ann, v,
            sum(CASE WHEN v = 0 THEN 1 ELSE 0 END) OVER (PARTITION BY {part}) AS n0,
            sum(CASE WHEN v = 1 THEN 1 ELSE 0 END) OVER (PARTITION BY {part}) AS n1,
            sum(CASE WHEN v = 2 THEN 1 ELSE 0 END) OVER (PARTITION BY {part}) AS n2 FROM f)
    SELECT {by_sel}CAST(_ann AS BIGINT) AS rater, CAST(n0 AS BIGINT) AS n0, CAST(n1 AS BIGINT) AS n1,
           CAST(n2 AS BIGINT) AS n2, CAST(v AS BIGINT) AS value, count(*) AS "count"
    FROM u GROUP BY {by_sel}_ann, n0, n1, n2, v
    UNION ALL SELECT {"NULL, " * len(cols)}CAST(-1 AS BIGINT), CAST(count(*) AS BIGINT),
           CAST(sum(CASE WHEN _ann >= 0 THEN 1 ELSE 0 END) AS BIGINT), CAST(-1 AS BIGINT), CAST(-1 AS BIGINT),
           CAST(-1 AS BIGINT) FROM {{j}}"""
    t = s.frame(query)  # type: ignore[attr-defined]
    # the last row carries the totals (all judgments, named ones), one query for Spark's sake
    marker = (t["rater"] == -1).to_numpy()
    totals = {"n": t.loc[marker, "n0"].iloc[0], "named": t.loc[marker, "n1"].iloc[0]}
    t = t.loc[~marker].reset_index(drop=True)
    strata: tuple[str, ...] = ("all",)
    if cols:
        code, strata = stratum_codes(t[list(cols)].reset_index(drop=True))
        t = t.drop(columns=list(cols))
        t.insert(0, "stratum", code)
    else:
        t.insert(0, "stratum", np.zeros(len(t), dtype=np.int64))
    t = t.astype(np.int64)
    # equal strings from different raw values (rare) merge, as in memory
    t = t.groupby(_TABLE[:-1], sort=True, as_index=False)["count"].sum()
    t = t.sort_values(_TABLE[:-1], kind="stable").reset_index(drop=True)
    n_first = int(t["count"].sum())
    named = totals["named"]
    return VoteTable(t[_TABLE].astype(np.int64), strata, int(totals["n"]), int(0 if pd.isna(named) else named),
                     n_first, int(s.n_comparisons))  # type: ignore[attr-defined]


def repeat_votes(data: PreferenceData | object) -> pd.DataFrame:
    """Intra-rater repeats: one row per (annotator, vote pattern) of (annotator, comparison) pairs with 2+ rows.

    Columns ``rater``, ``n0``, ``n1``, ``n2``, ``count`` (units), sorted;
    every row of a named annotator counts (oriented choices).

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c1", "c1", "c2"], "annotator_id": ["x", "x", "y", "x"],
    ...                   "choice": ["a", "b", "a", "a"]})
    >>> repeat_votes(pq.PreferenceData(j)).values.tolist()
    [[0, 1, 1, 0, 1]]
    """
    cols = ["rater", "n0", "n1", "n2", "count"]
    if _is_scanned(data):
        t = data.frame(
            """WITH g AS (SELECT _ann, sum(CASE WHEN _och = 0 THEN 1 ELSE 0 END) AS n0,
                   sum(CASE WHEN _och = 1 THEN 1 ELSE 0 END) AS n1, sum(CASE WHEN _och = 2 THEN 1 ELSE 0 END) AS n2
                   FROM {j} WHERE _ann >= 0 GROUP BY _ann, _cmp HAVING count(*) >= 2)
               SELECT CAST(_ann AS BIGINT) AS rater, CAST(n0 AS BIGINT) AS n0, CAST(n1 AS BIGINT) AS n1,
                      CAST(n2 AS BIGINT) AS n2, count(*) AS "count" FROM g GROUP BY _ann, n0, n1, n2""")
        return t.astype(np.int64).sort_values(cols[:-1]).reset_index(drop=True)[cols]
    assert isinstance(data, PreferenceData)
    comp, _ = data.codes("comparison_id")
    ann, _ = data.codes("annotator_id")
    och = data.oriented_choice().astype(np.int64)
    has = ann >= 0
    if not has.any():
        return pd.DataFrame({c: np.zeros(0, dtype=np.int64) for c in cols})
    c, a, v = comp[has], ann[has], och[has]
    _, g = np.unique(a * (int(c.max()) + 1) + c, return_inverse=True)
    g = g.ravel()
    n_g = int(g.max()) + 1
    counts = np.bincount(g * 3 + v, minlength=n_g * 3).reshape(n_g, 3)
    g_ann = np.zeros(n_g, dtype=np.int64)
    g_ann[g] = a
    rep = counts.sum(axis=1) >= 2
    rows = np.column_stack([g_ann[rep], counts[rep]])
    if not len(rows):
        return pd.DataFrame({c: np.zeros(0, dtype=np.int64) for c in cols})
    uniq, mult = unique_rows(rows)
    out = pd.DataFrame(uniq, columns=cols[:-1])
    out["count"] = mult.astype(np.int64)
    return out


def comparison_votes(data: PreferenceData | object) -> pd.DataFrame:
    """Votes per comparison over every judgment: columns ``_cmp``, ``n0``, ``n1``, ``n2`` (sorted by ``_cmp``).

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c2", "c1", "c1"], "annotator_id": ["x", "x", None],
    ...                   "choice": ["tie", "a", "b"]})
    >>> comparison_votes(pq.PreferenceData(j)).values.tolist()
    [[0, 1, 1, 0], [1, 0, 0, 1]]
    """
    if _is_scanned(data):
        t = data.frame(
            """SELECT CAST(_cmp AS BIGINT) AS _cmp, CAST(sum(CASE WHEN _och = 0 THEN 1 ELSE 0 END) AS BIGINT) AS n0,
                      CAST(sum(CASE WHEN _och = 1 THEN 1 ELSE 0 END) AS BIGINT) AS n1,
                      CAST(sum(CASE WHEN _och = 2 THEN 1 ELSE 0 END) AS BIGINT) AS n2
               FROM {j} GROUP BY _cmp ORDER BY _cmp""")
        return t.astype(np.int64).reset_index(drop=True)
    assert isinstance(data, PreferenceData)
    comp, labels = data.codes("comparison_id")
    och = data.oriented_choice().astype(np.int64)
    n = len(labels)
    counts = np.bincount(comp * 3 + och, minlength=n * 3).reshape(n, 3)
    return pd.DataFrame({"_cmp": np.arange(n, dtype=np.int64), "n0": counts[:, 0], "n1": counts[:, 1],
                         "n2": counts[:, 2]})


def first_strength(data: PreferenceData | object, *, by: str | Sequence[str] | None = None
                   ) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Oriented ``strength`` of the first judgment per (comparison, named annotator), where finite.

    Returns a frame with ``unit`` (comparison code), ``rater``, ``value``
    (strength signed toward the comparison's first response), ``stratum``
    (as in :func:`first_votes`), sorted by (unit, rater), and the stratum
    labels. Empty when there is no ``strength`` column. Pulls 3 numbers per
    first judgment (module notes).
    """
    cols = _by_columns(data, by)
    empty = pd.DataFrame({"unit": np.zeros(0, dtype=np.int64), "rater": np.zeros(0, dtype=np.int64),
                          "value": np.zeros(0), "stratum": np.zeros(0, dtype=np.int64)})
    if _is_scanned(data):
        if "strength" not in data.columns:
            return empty, ("all",)
        by_first = "".join(f", jj.{_q(c)}" for c in cols)
        t = data.frame(
            f"""WITH {_FIRST},
                f AS (SELECT jj._cmp, jj._ann, CASE WHEN jj._flip THEN -CAST(jj.strength AS DOUBLE)
                      ELSE CAST(jj.strength AS DOUBLE) END AS value{by_first}
                      FROM {{j}} jj JOIN f0 ON jj._row = f0._row)
                SELECT * FROM f WHERE value IS NOT NULL AND NOT isnan(value) ORDER BY _cmp, _ann""")
        labels: tuple[str, ...] = ("all",)
        strat = np.zeros(len(t), dtype=np.int64)
        if cols:
            strat, labels = stratum_codes(t[list(cols)])
        return pd.DataFrame({"unit": t["_cmp"].to_numpy(np.int64), "rater": t["_ann"].to_numpy(np.int64),
                             "value": t["value"].to_numpy(float), "stratum": strat}), labels
    assert isinstance(data, PreferenceData)
    s = data.oriented_strength()
    if s is None:
        return empty, ("all",)
    first = _first_rows(data)
    first = first[np.isfinite(s[first])]
    comp, _ = data.codes("comparison_id")
    ann, _ = data.codes("annotator_id")
    labels = ("all",)
    strat = np.zeros(len(first), dtype=np.int64)
    if cols:  # strata labelled over the judgments used, as the engine does
        strat, labels = stratum_codes(data.judgments[list(cols)].iloc[first])
    order = np.lexsort((ann[first], comp[first]))
    return pd.DataFrame({"unit": comp[first][order], "rater": ann[first][order], "value": s[first][order],
                         "stratum": strat[order]}), labels




def hash_sample(data: PreferenceData | object, column: str, share: float, *, seed: int | str = 0) -> np.ndarray:
    """Codes of the ids of ``column`` kept by a seeded hash rule (sorted): the same ids in memory and in SQL.

    An id is kept when the first 15 hex digits of ``md5(f"{seed}:{id}")``,
    read as a number, fall below ``share * 16**15``: a uniform draw of about
    ``share`` of the ids that depends on the ids and the seed only (never on
    row order or on the other ids). ``column`` is ``"comparison_id"`` or
    ``"prompt_id"``; codes are those of ``PreferenceData.codes(column)``.
    The engine compares the hex strings (fixed length, lower case), so no
    engine-specific hex parsing is needed.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, _ = pq.simulate(n_prompts=40, n_annotators=4, rng=1)
    >>> mem = hash_sample(data, "comparison_id", 0.5, seed=7)
    >>> (mem == hash_sample(pq.scan(data), "comparison_id", 0.5, seed=7)).all(), 0 < len(mem) < data.n_comparisons
    (np.True_, True)
    """
    import hashlib

    if column not in ("comparison_id", "prompt_id"):
        raise SchemaError(f"hash_sample samples comparison_id or prompt_id; got {column!r}.")
    if not 0.0 <= share <= 1.0:
        raise SchemaError(f"`share` must be in [0, 1]; got {share!r}.")
    limit = min(int(share * 16**15), 16**15)
    if share >= 1.0:
        limit = 16**15
    code_col = {"comparison_id": "_cmp", "prompt_id": "_prm"}[column]
    if _is_scanned(data):
        text = f"{limit:015x}" if limit < 16**15 else "g"  # 'g' sorts after every hex digit
        lit = str(seed).replace("'", "''")
        t = data.frame(
            f"""SELECT DISTINCT CAST({code_col} AS BIGINT) AS code FROM {{j}}
                WHERE {code_col} >= 0 AND substr(md5(concat('{lit}:', {column})), 1, 15) < '{text}' ORDER BY code""")
        return t["code"].to_numpy(np.int64)
    assert isinstance(data, PreferenceData)
    _, labels = data.codes(column)
    prefix = f"{seed}:"
    keep = np.fromiter((int(hashlib.md5((prefix + str(x)).encode()).hexdigest()[:15], 16) < limit for x in labels),
                       dtype=bool, count=len(labels))
    return np.flatnonzero(keep).astype(np.int64)
