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

__all__ = ["annotation_order", "gold_codes", "gold_problems"]

_GOLD_CASE = ("CASE WHEN gold IS NULL THEN -1 WHEN CAST(gold AS VARCHAR) = 'a' THEN 0 "
              "WHEN CAST(gold AS VARCHAR) = 'b' THEN 1 WHEN CAST(gold AS VARCHAR) = 'tie' THEN 2 ELSE 3 END")


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
        raw = data.sql('SELECT "timestamp" FROM {j} ORDER BY _row').column(0).to_pandas()
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
    return data.sql(f"SELECT CAST({_GOLD_CASE} AS TINYINT) AS g FROM {{j}} ORDER BY _row").column(0).to_numpy() \
        .astype(np.int8)


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
    frame = data.frame(f"SELECT CAST(gold AS VARCHAR) AS v, count(*) AS n FROM {{j}} WHERE {_GOLD_CASE} = 3 "
                       "GROUP BY v ORDER BY min(_row) LIMIT 3")
    total = int(data.scalar(f"SELECT count(*) FROM {{j}} WHERE {_GOLD_CASE} = 3") or 0)
    return frame["v"].astype(str).tolist(), total
