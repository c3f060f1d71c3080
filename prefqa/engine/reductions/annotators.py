"""Per-judgment inputs of ``annotator_table`` beyond the integer codes: annotation order and gold codes.

* :func:`annotation_order` -- the ``timestamp`` column as a sort key (int64
  nanoseconds, parsed as ``pandas.to_datetime(utc=True)`` does in memory);
  the column is pulled in scan order in its stored type (8 bytes per
  judgment for a timestamp column; a text column is pulled as text and
  parsed in Python, the one case where a string per judgment crosses).
* :func:`gold_codes` -- the ``gold`` column as int8 codes (0 a, 1 b, 2 tie,
  -1 missing, 3 anything else), computed by ``CASE`` in the engine.
* :func:`gold_problems` -- the values of ``gold`` that are not a choice,
  and how many rows hold them (one small query).

Seconds and other numeric columns come from
:func:`prefqa.engine.reductions.bias.judgment_values`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...schema import PreferenceData
from .._scan import ScannedData

__all__ = ["annotation_order", "gold_codes", "gold_problems", "prefetch"]

_GOLD_CASE = ("CASE WHEN gold IS NULL THEN -1 WHEN CAST(gold AS VARCHAR) = 'a' THEN 0 "
              "WHEN CAST(gold AS VARCHAR) = 'b' THEN 1 WHEN CAST(gold AS VARCHAR) = 'tie' THEN 2 ELSE 3 END")


def prefetch(data: ScannedData) -> None:
    """Pull ``timestamp``, ``seconds`` and the gold codes that ``annotator_table`` reads in one query (cached)."""
    if "annotators:pulled" in data._cache:
        return
    sel = []
    if "timestamp" in data.columns:
        sel.append('"timestamp"')
    if "seconds" in data.columns:
        sel.append('TRY_CAST("seconds" AS DOUBLE) AS "seconds"')
    if "gold" in data.columns:
        sel.append(f"CAST({_GOLD_CASE} AS TINYINT) AS _gold")
    data._cache["annotators:pulled"] = True
    if not sel:
        return
    table = data.sql(f"SELECT {', '.join(sel)} FROM {{j}} ORDER BY _row")
    if "timestamp" in data.columns:
        data._cache["annotators:timestamp"] = table.column("timestamp").to_pandas()
    if "seconds" in data.columns:
        data._cache.setdefault("values", {})["seconds"] = table.column("seconds").to_numpy(
            zero_copy_only=False).astype(np.float64)
    if "gold" in data.columns:
        data._cache["annotators:gold"] = table.column("_gold").to_numpy().astype(np.int8)


def annotation_order(data: PreferenceData | ScannedData) -> np.ndarray | None:
    """Per judgment, the ``timestamp`` in int64 nanoseconds (UTC), or None unless every judgment has one.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, _ = pq.simulate(n_prompts=10, n_annotators=4, n_windows=2, rng=1)
    >>> bool((annotation_order(data) == annotation_order(pq.scan(data))).all())
    True
    """
    if isinstance(data, PreferenceData):
        if "timestamp" not in data.judgments:
            return None
        raw = data.judgments["timestamp"]
    else:
        if "timestamp" not in data.columns:
            return None
        if "annotators:timestamp" not in data._cache:
            data._cache["annotators:timestamp"] = data.sql('SELECT "timestamp" FROM {j} ORDER BY _row').column(0) \
                .to_pandas()
        raw = data._cache["annotators:timestamp"]
    if not raw.notna().any():
        return None
    ts = pd.to_datetime(raw, errors="coerce", utc=True)
    if not ts.notna().all():
        return None
    return ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def gold_codes(data: PreferenceData | ScannedData) -> np.ndarray | None:
    """Per judgment, the ``gold`` choice as int8 (0 a, 1 b, 2 tie, -1 missing, 3 not a choice); None without it."""
    if isinstance(data, PreferenceData):
        if "gold" not in data.judgments:
            return None
        g = data.judgments["gold"]
        s = g.astype("str")
        out = np.full(len(g), 3, dtype=np.int8)
        for code, value in enumerate(("a", "b", "tie")):  # three labels
            out[(s == value).to_numpy(dtype=bool, na_value=False)] = code
        out[g.isna().to_numpy()] = -1
        return out
    if "gold" not in data.columns:
        return None
    if "annotators:gold" not in data._cache:
        data._cache["annotators:gold"] = data.sql(
            f"SELECT CAST({_GOLD_CASE} AS TINYINT) AS g FROM {{j}} ORDER BY _row").column(0).to_numpy().astype(np.int8)
    return data._cache["annotators:gold"]


def gold_problems(data: PreferenceData | ScannedData) -> tuple[list[str], int]:
    """Up to three values of ``gold`` that are not 'a', 'b', 'tie' or missing, and the number of such rows."""
    if isinstance(data, PreferenceData):
        if "gold" not in data.judgments:
            return [], 0
        g = data.judgments["gold"].dropna().astype(str)
        bad = ~g.isin(["a", "b", "tie"])
        return g[bad].unique()[:3].tolist(), int(bad.sum())
    if "gold" not in data.columns:
        return [], 0
    if "annotators:gold_problems" not in data._cache:
        frame = data.frame(
            f"SELECT v, total FROM (SELECT CAST(gold AS VARCHAR) AS v, min(_row) AS first, "
            f"sum(count(*)) OVER () AS total FROM {{j}} WHERE {_GOLD_CASE} = 3 GROUP BY CAST(gold AS VARCHAR)) t "
            "ORDER BY first LIMIT 3")
        total = int(frame["total"].iloc[0]) if len(frame) else 0
        data._cache["annotators:gold_problems"] = (frame["v"].astype(str).tolist(), total)
    values, total = data._cache["annotators:gold_problems"]
    return list(values), total
