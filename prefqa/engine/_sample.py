"""Seeded hash subsamples of whole prompts (or comparisons), the same in memory, on DuckDB and on Spark.

A subsample is chosen from the ids, never from row order, so every engine and
every file layout picks the same one:

1. each distinct id gets the key ``md5("<seed>:<id>")`` (32 lowercase hex
   digits; their string order is their numeric order);
2. ``fraction=f`` keeps the ids whose first 15 hex digits, read as a number,
   fall below ``f * 16**15`` (the rule of
   :func:`prefqa.engine.reductions.votes.hash_sample`, so both choose the same ids);
   ``max_judgments=m`` keeps ids in key order (ties, which need an md5
   collision, broken by id) while fewer than ``m`` judgments were taken
   before them, so the sample holds at least ``m`` judgments, or all.

The selection runs as one SQL query: on the engine's coded table for
:class:`ScannedData`, and on DuckDB over an Arrow table of the distinct ids
and their judgment counts for :class:`PreferenceData`, so the arithmetic is
the same text of SQL in both cases (Spark runs it transpiled; ``md5`` and the
window sum are exact in all three).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from ._scan import ScannedData

__all__ = ["HashSample", "hash_sample"]

_COLUMNS = ("prompt_id", "comparison_id", "annotator_id")


@dataclass(frozen=True, eq=False)
class HashSample:
    """Ids chosen by :func:`hash_sample` and how to select their judgments.

    Attributes
    ----------
    column : str
        The id column sampled (whole prompts: ``"prompt_id"``).
    ids : ndarray of str
        The chosen ids, sorted.
    n_ids, n_ids_total : int
        Ids chosen, and distinct ids in the data.
    n_judgments, n_judgments_total : int
        Judgments of the chosen ids, and in the data.
    seed : int
        The seed of the keys.
    rule : str
        ``"fraction=0.1"`` or ``"max_judgments=20000"``, for the report.
    """

    column: str
    ids: np.ndarray
    n_ids: int
    n_ids_total: int
    n_judgments: int
    n_judgments_total: int
    seed: int
    rule: str

    def mask(self, data: PreferenceData) -> np.ndarray:
        """Boolean mask over ``data.judgments`` of the chosen ids' judgments."""
        codes, labels = data.codes(self.column)
        chosen = np.zeros(len(labels) + 1, dtype=bool)
        chosen[:-1] = pd.Index(labels).isin(self.ids)
        return chosen[np.where(codes >= 0, codes, len(labels))]

    def where(self, data: ScannedData) -> str:
        """A SQL condition on ``{j}`` selecting the chosen ids' judgments (for ``data.collect(where=...)``)."""
        name = data.backend.temp_name("sample")
        data.backend.register(name, pa.table({"id": pa.array(self.ids, pa.string())}))
        return f"{self.column} IN (SELECT id FROM {name})"

    def describe(self) -> str:
        """One sentence for reports: what was sampled and how."""
        return (f"a seeded hash subsample of whole {self.column.removesuffix('_id')}s ({self.rule}, seed "
                f"{self.seed}): {self.n_ids:,} of {self.n_ids_total:,} ids, {self.n_judgments:,} of "
                f"{self.n_judgments_total:,} judgments")

    def to_frame(self) -> pd.DataFrame:
        """One row of counts."""
        return pd.DataFrame([{"column": self.column, "rule": self.rule, "seed": self.seed, "n_ids": self.n_ids,
                              "n_ids_total": self.n_ids_total, "n_judgments": self.n_judgments,
                              "n_judgments_total": self.n_judgments_total}])

    def summary(self) -> str:
        """Plain text, as :meth:`describe`."""
        return self.describe()[0].upper() + self.describe()[1:] + "."


def _threshold(fraction: float) -> str:
    return format(min(int(fraction * 16**15), 16**15 - 1), "015x") if fraction < 1 else "g"


def _selection_sql(table: str, seed: int, *, fraction: float | None, max_judgments: int | None) -> str:
    key = f"md5('{int(seed)}:' || id)"
    if fraction is not None:
        return (f"SELECT id, n FROM (SELECT id, n, substr({key}, 1, 15) AS h FROM {table}) k "
                f"WHERE h < '{_threshold(fraction)}'")
    return (f"SELECT id, n FROM (SELECT id, n, sum(n) OVER (ORDER BY h, id ROWS BETWEEN UNBOUNDED PRECEDING AND "
            f"CURRENT ROW) - n AS before FROM (SELECT id, n, {key} AS h FROM {table}) k) c "
            f"WHERE before < {int(max_judgments or 0)}")


def hash_sample(
    data: PreferenceData | ScannedData,
    column: str = "prompt_id",
    *,
    fraction: float | None = None,
    max_judgments: int | None = None,
    seed: int = 0,
) -> HashSample:
    """Choose whole prompts (or comparisons, annotators) by a seeded hash of their ids.

    Parameters
    ----------
    data : PreferenceData or ScannedData
    column : {"prompt_id", "comparison_id", "annotator_id"}
        Whose ids are sampled; every judgment of a chosen id is kept.
    fraction : float, optional
        Keep each id with probability ``fraction`` (by its key).
    max_judgments : int, optional
        Keep ids in key order until at least this many judgments are taken.
        Exactly one of ``fraction`` and ``max_judgments``.
    seed : int
        Seed of the keys; the same seed gives the same ids on every engine.

    Returns
    -------
    HashSample

    Raises
    ------
    SchemaError
        Bad options, or the column is absent.
    InsufficientDataError
        The column holds no ids.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, _ = pq.simulate(n_prompts=50, n_annotators=4, rng=2)
    >>> mem = hash_sample(data, max_judgments=100, seed=7)
    >>> eng = hash_sample(pq.scan(data), max_judgments=100, seed=7)
    >>> list(mem.ids) == list(eng.ids), mem.n_judgments >= 100, int(mem.mask(data).sum()) == mem.n_judgments
    (True, True, True)
    """
    if column not in _COLUMNS:
        raise SchemaError(f"`column` must be one of {list(_COLUMNS)}; got {column!r}.")
    if (fraction is None) == (max_judgments is None):
        raise SchemaError("give exactly one of `fraction` (0 < f <= 1) and `max_judgments` (a positive count); "
                          f"got fraction={fraction!r}, max_judgments={max_judgments!r}.")
    if fraction is not None and not (0 < float(fraction) <= 1):
        raise SchemaError(f"`fraction` must be in (0, 1]; got {fraction!r}.")
    if max_judgments is not None and (int(max_judgments) != max_judgments or max_judgments < 1):
        raise SchemaError(f"`max_judgments` must be a positive integer; got {max_judgments!r}.")
    if not isinstance(seed, int | np.integer):
        raise SchemaError(f"`seed` must be an integer; got {seed!r}.")
    rule = f"fraction={fraction}" if fraction is not None else f"max_judgments={int(max_judgments or 0)}"
    if isinstance(data, ScannedData):
        if column not in data.columns:
            raise SchemaError(f"the scanned judgments have no {column!r} column; found {list(data.columns)}.")
        counts = f"(SELECT {column} AS id, count(*) AS n FROM {{j}} WHERE {column} IS NOT NULL GROUP BY {column})"
        total = data.frame(f"SELECT count(*) AS i, coalesce(sum(n), 0) AS n FROM {counts} t")
        chosen = data.frame(_selection_sql(counts + " t0", seed, fraction=fraction, max_judgments=max_judgments))
    elif isinstance(data, PreferenceData):
        if column not in data.judgments:
            raise SchemaError(f"the judgments have no {column!r} column; found {list(data.judgments.columns)}.")
        import duckdb

        codes, labels = data.codes(column)
        n = np.bincount(codes[codes >= 0], minlength=len(labels)).astype(np.int64)
        ids = pa.table({"id": pa.array(np.asarray(labels, dtype=object), pa.string()), "n": pa.array(n)})
        con = duckdb.connect()
        try:
            con.register("ids", ids)
            total = pd.DataFrame({"i": [len(labels)], "n": [int(n.sum())]})
            chosen = con.sql(_selection_sql("ids", seed, fraction=fraction, max_judgments=max_judgments)).df()
        finally:
            con.close()
    else:
        raise SchemaError(f"`data` must be a PreferenceData or ScannedData; got {type(data).__name__}.")
    if int(total["i"].iloc[0]) == 0:
        raise InsufficientDataError(f"no judgment has a {column}; nothing to sample.")
    picked = np.sort(chosen["id"].astype(str).to_numpy(dtype=object))
    return HashSample(column=column, ids=picked, n_ids=len(picked), n_ids_total=int(total["i"].iloc[0]),
                      n_judgments=int(chosen["n"].sum()), n_judgments_total=int(total["n"].iloc[0]),
                      seed=int(seed), rule=rule)
