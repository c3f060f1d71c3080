"""Consensus reductions: every judgment's vote against its comparison, ids per comparison, Dawid-Skene sums.

Each accepts a :class:`~prefqa.schema.PreferenceData` (numpy) or a
:class:`~prefqa.engine.ScannedData` (SQL) and returns the same numbers:

* :func:`all_votes`: every judgment (repeats and missing annotators too)
  against its comparison's pattern: one row per (annotator, pattern, vote);
  the majority vote's confusion matrices are functions of it.
* :func:`comparison_table`: ``PreferenceData.comparisons()`` for either kind
  (one row of ids per comparison: pulled for ``ConsensusResult.labels``).
* :func:`judgment_codes`: integer codes of (a subset of) the judgments in
  scan order, for Dawid-Skene's EM (8 bytes per judgment and column).
* :func:`log_vote_sums`, :func:`soft_confusion`: the E-step sums and the
  expected confusion counts of Dawid-Skene over every judgment, given the
  (small) parameters: one pass each; the engine joins a small parameter
  table (or the per-comparison posteriors) to the judgments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ...errors import SchemaError
from ...schema import PreferenceData
from .votes import _is_scanned, _q, comparison_votes, unique_rows

__all__ = ["all_votes", "comparison_table", "judgment_codes", "log_vote_sums", "soft_confusion"]


def all_votes(data: PreferenceData | object) -> pd.DataFrame:
    """Every judgment against its comparison's vote pattern: one row per (rater, pattern, vote).

    Columns ``rater`` (annotator code, ``-1`` for a missing annotator),
    ``n0``, ``n1``, ``n2`` (the comparison's votes over all its judgments),
    ``value`` (this judgment's oriented choice) and ``count``, sorted. The
    majority vote's confusion matrices are functions of this table.

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c1", "c1"], "annotator_id": ["x", "x", None],
    ...                   "choice": ["a", "a", "b"]})
    >>> all_votes(pq.PreferenceData(j)).values.tolist()
    [[-1, 2, 1, 0, 1, 1], [0, 2, 1, 0, 0, 2]]
    """
    cols = ["rater", "n0", "n1", "n2", "value", "count"]
    if _is_scanned(data):
        t = data.frame(
            """WITH u AS (SELECT _ann, _och,
                   sum(CASE WHEN _och = 0 THEN 1 ELSE 0 END) OVER (PARTITION BY _cmp) AS n0,
                   sum(CASE WHEN _och = 1 THEN 1 ELSE 0 END) OVER (PARTITION BY _cmp) AS n1,
                   sum(CASE WHEN _och = 2 THEN 1 ELSE 0 END) OVER (PARTITION BY _cmp) AS n2 FROM {j})
               SELECT CAST(_ann AS BIGINT) AS rater, CAST(n0 AS BIGINT) AS n0, CAST(n1 AS BIGINT) AS n1,
                      CAST(n2 AS BIGINT) AS n2, CAST(_och AS BIGINT) AS value, count(*) AS "count"
               FROM u GROUP BY _ann, n0, n1, n2, _och""")
        return t.astype(np.int64).sort_values(cols[:-1]).reset_index(drop=True)[cols]
    assert isinstance(data, PreferenceData)
    comp, _ = data.codes("comparison_id")
    ann, _ = data.codes("annotator_id")
    och = data.oriented_choice().astype(np.int64)
    counts = comparison_votes(data)[["n0", "n1", "n2"]].to_numpy()
    rows = np.column_stack([ann, counts[comp], och])
    if not len(rows):
        return pd.DataFrame({c: np.zeros(0, dtype=np.int64) for c in cols})
    uniq, mult = unique_rows(rows)
    out = pd.DataFrame(uniq, columns=cols[:-1])
    out["count"] = mult.astype(np.int64)
    return out

def comparison_table(data: PreferenceData | object, *, votes: bool = False) -> pd.DataFrame:
    """``PreferenceData.comparisons()`` for either data kind (one row per comparison, in code order).

    For a ScannedData the ids come from each comparison's first judgment in
    the engine; this pulls one row of ids per comparison. ``votes=True``
    adds the oriented vote counts ``n0``, ``n1``, ``n2`` (as
    :func:`~prefqa.engine.reductions.votes.comparison_votes`) in the same query.
    """
    if not _is_scanned(data):
        assert isinstance(data, PreferenceData)
        out = data.comparisons()
        if votes:
            out = out.copy()
            counts = comparison_votes(data)
            for c in ("n0", "n1", "n2"):
                out[c] = counts[c].to_numpy()
        return out
    have = set(data.columns)
    rename = {"prompt_id": "prompt_id", "response_a_id": "response_1_id", "response_b_id": "response_2_id",
              "model_a": "model_1", "model_b": "model_2"}
    sel = "".join(f", jj.{_q(src)} AS {_q(dst)}" for src, dst in rename.items() if src in have)
    counts = "".join(f", CAST(sum(CASE WHEN _och = {k} THEN 1 ELSE 0 END) AS BIGINT) AS n{k}" for k in range(3)) \
        if votes else ""
    pick = ", f.n0, f.n1, f.n2" if votes else ""
    t = data.frame(
        f"""WITH f AS (SELECT _cmp, min(_row) AS _row, count(*) AS n_judgments{counts} FROM {{j}} GROUP BY _cmp)
            SELECT jj.comparison_id{sel}, f.n_judgments{pick} FROM {{j}} jj JOIN f ON jj._row = f._row
            ORDER BY f._cmp""")
    for c in ("n_judgments", *(("n0", "n1", "n2") if votes else ())):
        t[c] = t[c].astype(np.int64)
    return t.reset_index(drop=True)


def judgment_codes(data: PreferenceData | object, columns: Sequence[str] = ("_cmp", "_ann", "_och"),
                   *, comparisons: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Integer codes of the judgments in scan order (optionally of the given comparison codes only).

    Names are the engine's code columns (``_cmp``, ``_ann``, ``_och``,
    ``_ch``, ``_ma``, ``_mb``, ``_prm``); in memory they come from
    ``PreferenceData.codes`` and friends. Pulls 8 bytes per judgment and
    column, never strings.
    """
    if _is_scanned(data):
        sel = ", ".join(f"CAST({c} AS BIGINT) AS {c}" for c in columns)
        if comparisons is None:
            t = data.frame(f"SELECT {sel} FROM {{j}} ORDER BY _row")
            return {c: t[c].to_numpy(np.int64) for c in columns}
        backend = data.backend
        name = backend.temp_name("codes")
        backend.register(name, pd.DataFrame({"_code": np.asarray(comparisons, dtype=np.int64)}))
        try:
            t = data.frame(
                f"SELECT {sel} FROM {{j}} WHERE _cmp IN (SELECT _code FROM {name}) ORDER BY _row")
        finally:
            backend.drop(name)
        return {c: t[c].to_numpy(np.int64) for c in columns}
    assert isinstance(data, PreferenceData)
    source = {"_cmp": lambda: data.codes("comparison_id")[0], "_ann": lambda: data.codes("annotator_id")[0],
              "_prm": lambda: data.codes("prompt_id")[0], "_och": data.oriented_choice, "_ch": data.choice_codes,
              "_ma": lambda: data.model_codes()[0], "_mb": lambda: data.model_codes()[1]}
    out = {c: np.asarray(source[c](), dtype=np.int64) for c in columns}
    if comparisons is not None:
        keep = np.isin(data.codes("comparison_id")[0], comparisons)
        out = {c: v[keep] for c, v in out.items()}
    return out

def _missing_last(ann: np.ndarray, n_ann: int) -> np.ndarray:
    return np.where(ann < 0, n_ann - 1, ann)

def log_vote_sums(data: PreferenceData | object, log_conf: np.ndarray, *,
                  weights: np.ndarray | None = None) -> np.ndarray:
    """Per comparison, ``sum over its judgments of log_conf[annotator, t, vote]`` for t = 0, 1, 2.

    ``log_conf`` is (n_annotators, 3, 3); a missing annotator (code -1)
    reads its last row (the pooled ``'<unknown>'`` annotator). Returns an
    (n_comparisons, 3) array in code order. The engine joins a 9-row-per-
    annotator table to the judgments and groups by comparison: one pass,
    the E-step of Dawid-Skene over every comparison. ``weights`` (one per
    judgment) only in memory.
    """
    log_conf = np.asarray(log_conf, dtype=np.float64)
    n_ann = log_conf.shape[0]
    if _is_scanned(data):
        if weights is not None:
            raise SchemaError("per-judgment `weights` are not supported on a ScannedData; pass weights=None.")
        grid = np.indices((n_ann, 3)).reshape(2, -1)
        table = pd.DataFrame({"a": grid[0].astype(np.int64), "y": grid[1].astype(np.int64),
                              "l0": log_conf[grid[0], 0, grid[1]], "l1": log_conf[grid[0], 1, grid[1]],
                              "l2": log_conf[grid[0], 2, grid[1]]})
        backend = data.backend
        name = backend.temp_name("logconf")
        backend.register(name, table)
        try:
            t = data.frame(
                f"""SELECT jj._cmp, sum(lc.l0) AS s0, sum(lc.l1) AS s1, sum(lc.l2) AS s2 FROM {{j}} jj
                    JOIN {name} lc ON lc.a = CASE WHEN jj._ann < 0 THEN {n_ann - 1} ELSE jj._ann END AND lc.y = jj._och
                    GROUP BY jj._cmp ORDER BY jj._cmp""")
        finally:
            backend.drop(name)
        return t[["s0", "s1", "s2"]].to_numpy(dtype=np.float64)
    assert isinstance(data, PreferenceData)
    comp, labels = data.codes("comparison_id")
    ann = _missing_last(data.codes("annotator_id")[0], n_ann)
    y = data.oriented_choice().astype(np.int64)
    out = np.empty((len(labels), 3))
    for t in range(3):
        vals = log_conf[ann, t, y] if weights is None else log_conf[ann, t, y] * weights
        out[:, t] = np.bincount(comp, vals, len(labels))
    return out

def soft_confusion(data: PreferenceData | object, post: np.ndarray, n_ann: int, *,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Expected (annotator, true label, vote) counts given soft labels ``post`` (n_comparisons, 3).

    ``sum over judgments of post[comparison, t]`` per (annotator, vote); a
    missing annotator counts as annotator ``n_ann - 1``. Returns
    (n_ann, 3, 3). The engine registers ``post`` (one row per comparison)
    and joins it to the judgments.
    """
    post = np.asarray(post, dtype=np.float64)
    if _is_scanned(data):
        if weights is not None:
            raise SchemaError("per-judgment `weights` are not supported on a ScannedData; pass weights=None.")
        backend = data.backend
        name = backend.temp_name("post")
        backend.register(name, pd.DataFrame({"_cmp": np.arange(len(post), dtype=np.int64), "p0": post[:, 0],
                                             "p1": post[:, 1], "p2": post[:, 2]}))
        try:
            t = data.frame(
                f"""SELECT CAST(CASE WHEN jj._ann < 0 THEN {n_ann - 1} ELSE jj._ann END AS BIGINT) AS a,
                           CAST(jj._och AS BIGINT) AS y, sum(pp.p0) AS s0, sum(pp.p1) AS s1, sum(pp.p2) AS s2
                    FROM {{j}} jj JOIN {name} pp ON pp._cmp = jj._cmp GROUP BY 1, 2""")
        finally:
            backend.drop(name)
        out = np.zeros((n_ann, 3, 3))
        a, y = t["a"].to_numpy(np.int64), t["y"].to_numpy(np.int64)
        for k in range(3):
            out[a, k, y] = t[f"s{k}"].to_numpy(np.float64)
        return out
    assert isinstance(data, PreferenceData)
    comp, _ = data.codes("comparison_id")
    ann = _missing_last(data.codes("annotator_id")[0], n_ann)
    y = data.oriented_choice().astype(np.int64)
    out = np.empty((n_ann, 3, 3))
    for k in range(3):
        soft = post[comp, k] if weights is None else post[comp, k] * weights
        out[:, k, :] = np.bincount(ann * 3 + y, soft, n_ann * 3).reshape(n_ann, 3)
    return out
