"""Windows and baselines for :func:`prefqa.drift`: which comparison (and rating) falls in which window.

Windows come either from a time column cut into pandas periods (``freq``,
any offset alias: ``"W"``, ``"D"``, ``"MS"``, ...) or from a column of batch
labels. Each comparison belongs to the window of its *first* judgment (the
earliest timestamp, else the first row), so its judgments are never split.
Ratings are windowed on the same column of the ratings table, one rating at
a time. Windows are ordered by time: periods by their start, batch labels by
their earliest timestamp when a time column exists, else in order of first
appearance.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData

__all__ = ["Windows", "assign_windows", "resolve_baseline"]

TIME_DEFAULT = "timestamp"


@dataclass(frozen=True, eq=False)
class Windows:
    """Window codes of the judgments and ratings, the ordered labels and how they were formed."""

    labels: tuple[str, ...]
    judgment_window: np.ndarray       # per judgment, -1 = no window (missing time / label)
    rating_window: np.ndarray | None  # per rating, or None without a usable ratings column
    source: str                       # e.g. "timestamp by W" or "batch"
    n_dropped: int                    # judgments without a window


def _times(frame: pd.DataFrame, column: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = pd.to_datetime(frame[column], errors="coerce", utc=True)
    return ts


def _periods(ts: pd.Series, freq: str) -> pd.Series:
    naive = ts.dt.tz_convert(None)  # periods are taken in UTC
    tries = [freq] + ([freq[:-1]] if isinstance(freq, str) and freq.endswith("S") and len(freq) > 1 else [])
    for f in tries:  # start-anchored aliases ("MS", "QS", "YS") name the same periods as "M", "Q", "Y"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return naive.dt.to_period(f)
        except (ValueError, TypeError, AttributeError) as err:
            exc = err
    if True:
        raise SchemaError(f"`freq`={freq!r} is not a pandas offset alias usable for periods ({exc}); "
                          "use for example 'D', 'W', 'MS' or 'QS'.") from None


def _comparison_first(data: PreferenceData, ts: pd.Series | None) -> np.ndarray:
    """Per judgment: the row of its comparison's first judgment (earliest time, else first row)."""
    comp, _ = data.codes("comparison_id")
    n = len(comp)
    if ts is not None:
        t = ts.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").view(np.int64)
        t = np.where(ts.isna().to_numpy(), np.iinfo(np.int64).max, t)
        order = np.lexsort((np.arange(n), t, comp))
    else:
        order = np.lexsort((np.arange(n), comp))
    sorted_comp = comp[order]
    starts = np.flatnonzero(np.r_[True, sorted_comp[1:] != sorted_comp[:-1]]) if n else np.zeros(0, np.int64)
    first_row = np.zeros(int(comp.max()) + 1 if n else 0, dtype=np.int64)
    first_row[sorted_comp[starts]] = order[starts]  # the first row of each comparison in (comparison, time) order
    return first_row[comp]


def assign_windows(data: PreferenceData, *, time: str | None, freq: str | None, window: str | None) -> Windows:
    """Window every judgment (through its comparison's first judgment) and every rating."""
    if time is not None and window is not None:
        raise SchemaError(f"give either `time` (a time column cut by `freq`) or `window` (a column of batch "
                          f"labels), not both; got time={time!r}, window={window!r}.")
    j, r = data.judgments, data.ratings
    if window is not None:
        column, kind = window, "window"
    else:
        column, kind = (time or TIME_DEFAULT), "time"
    in_j, in_r = column in j.columns, r is not None and column in r.columns
    if not in_j and not in_r:
        found = sorted(set(j.columns) | (set(r.columns) if r is not None else set()))
        hint = ("pass window='batch' (a column of batch labels) or time='<your time column>'"
                if kind == "time" else "pass the name of a column of batch labels")
        raise SchemaError(f"drift needs a {'time' if kind == 'time' else 'window'} column {column!r} in the "
                          f"judgments or ratings; found {found}. {hint}.")
    j_ts = _times(j, TIME_DEFAULT if kind == "window" else column) if (
        (kind == "time" and in_j) or (kind == "window" and TIME_DEFAULT in j.columns)) else None
    r_ts = _times(r, TIME_DEFAULT if kind == "window" else column) if r is not None and (
        (kind == "time" and in_r) or (kind == "window" and TIME_DEFAULT in r.columns)) else None
    if kind == "time":
        if freq is None:
            raise SchemaError("`freq` is needed with a time column; use for example freq='W'.")
        for ts, name, present in ((j_ts, "judgments", in_j), (r_ts, "ratings", in_r)):
            if present and ts is not None and ts.notna().sum() == 0:
                first = list(map(str, cast(pd.DataFrame, j if name == "judgments" else r)[column].head(3)))
                raise SchemaError(f"the time column {column!r} of the {name} holds no parseable time "
                                  f"(first values {first}); give ISO times or pass window='<batch column>'.")
        j_key = _periods(j_ts, freq) if in_j else None
        r_key = _periods(r_ts, freq) if in_r else None
        keys = pd.concat([k.dropna() for k in (j_key, r_key) if k is not None])
        ordered = sorted(pd.unique(keys))
        labels = [str(p) for p in ordered]
        lookup = {p: i for i, p in enumerate(ordered)}
        source = f"{column} by {freq}"
    else:
        j_key = j[column].astype("string") if in_j else None
        r_key = cast(pd.DataFrame, r)[column].astype("string") if in_r else None  # in_r: r is not None
        parts = [(k, ts) for k, ts in ((j_key, j_ts), (r_key, r_ts)) if k is not None]
        frame = pd.concat([pd.DataFrame({"key": k.to_numpy(), "t": ts.to_numpy() if ts is not None else pd.NaT,
                                         "row": np.arange(len(k))}) for k, ts in parts], ignore_index=True)
        frame["pos"] = np.arange(len(frame))
        frame = frame.dropna(subset=["key"])
        first = frame.groupby("key", sort=False).agg(t=("t", "min"), pos=("pos", "min"))
        use_time = first["t"].notna().all() and len(first)
        first = first.sort_values(["t", "pos"] if use_time else ["pos"])
        labels = [str(x) for x in first.index]
        lookup = {k: i for i, k in enumerate(first.index)}
        source = f"{column}" + (" (ordered by earliest timestamp)" if use_time else " (in order of appearance)")
    if not labels:
        raise InsufficientDataError(f"no window could be formed from {column!r}: every value is missing.")

    def code(keys: pd.Series | None) -> np.ndarray | None:
        if keys is None:
            return None
        mapped = keys.map(lookup)
        return mapped.fillna(-1).to_numpy(dtype=np.int64)

    jw = code(j_key)
    if jw is None:
        jw = np.full(len(j), -1, dtype=np.int64)
    elif len(jw):
        jw = jw[_comparison_first(data, j_ts)]  # the window of the comparison's first judgment
    rw = code(r_key)
    return Windows(tuple(labels), jw, rw, source, int((jw < 0).sum()))


def resolve_baseline(labels: Sequence[str], baseline: Any) -> tuple[np.ndarray, str]:
    """Indices of the baseline windows and how they were chosen (int k, labels, or None = first quarter)."""
    n = len(labels)
    if baseline is None:
        k = max(1, n // 4)
        return np.arange(k), f"the first {k} of {n} windows (default: the first quarter, at least one)"
    if isinstance(baseline, (int, np.integer)) and not isinstance(baseline, bool):
        k = int(baseline)
        if not 1 <= k < n:
            raise SchemaError(f"`baseline`={k} windows must leave at least one window to monitor: use 1 to "
                              f"{n - 1} (the data has {n} windows: {list(labels)[:6]}{' ...' if n > 6 else ''}).")
        return np.arange(k), f"the first {k} of {n} windows"
    if isinstance(baseline, str):
        baseline = [baseline]
    if isinstance(baseline, Sequence) and baseline and all(isinstance(b, str) for b in baseline):
        pos = {lab: i for i, lab in enumerate(labels)}
        missing = [b for b in baseline if b not in pos]
        if missing:
            raise SchemaError(f"baseline window label(s) {missing} not found; the windows are {list(labels)}.")
        idx = np.unique([pos[b] for b in baseline])
        if len(idx) == n:
            raise SchemaError(f"`baseline` names all {n} windows; leave at least one to monitor.")
        return idx, f"windows {', '.join(labels[i] for i in idx)}"
    raise SchemaError(f"`baseline` must be a number of leading windows (int), a list of window labels, or a "
                      f"PreferenceData; got {type(baseline).__name__} {baseline!r}.")
