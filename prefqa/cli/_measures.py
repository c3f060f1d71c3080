"""What the gates of ``prefqa check`` read: library calls made once each, and their numbers as measures.

:class:`Values` turns a :class:`~prefqa.cli._gates.Gate` into a :class:`~prefqa.cli._gates.Measure`
from the library only: the batch's metric estimates and their changes from ``pq.compare``
(``pq.compare(DATA, DATA)`` without a baseline: the new batch's estimates and intervals do not
depend on the baseline side), the ``drift`` decision from :attr:`prefqa.CompareResult.worse`, the
flagged counts from ``pq.annotator_table`` and ``pq.flag_prompts``. :func:`drift_terms`
rephrases the options that ``pq.drift`` / ``pq.compare`` errors name as ``prefqa`` flags.

Examples
--------
>>> drift_terms("`baseline`=99 windows must leave at least one window to monitor")
'--baseline 99 windows must leave at least one window to monitor'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ..errors import InsufficientDataError, PrefqaError, SchemaError
from ._gates import Gate, GateOutcome, Measure, evaluate

__all__ = ["DRIFT_FLAGS", "Values", "drift_terms", "library", "outcome", "records"]

#: ``pq.drift`` / ``pq.compare`` options -> flags (errors raised under the CLI name the flags).
DRIFT_FLAGS: dict[str, str] = {"time": "--time", "freq": "--freq", "window": "--window", "baseline": "--baseline",
                               "metrics": "--metrics", "fdr": "--fdr", "confidence_level": "--confidence-level",
                               "cusum_k": "--cusum-k", "cusum_h": "--cusum-h", "min_judgments": "--min-judgments"}
_OPTION = re.compile(r"(?<![\w.\-:/`])(" + "|".join(DRIFT_FLAGS) + r")\s*=(?!=)\s*('[^']*'|\"[^\"]*\"|[^\s,;)]+)?")
_BACKTICK = re.compile(r"`(" + "|".join(DRIFT_FLAGS) + r")`")


def drift_terms(message: str) -> str:
    """Rephrase ``pq.drift`` / ``pq.compare`` options in an error message as ``prefqa drift`` flags.

    Examples
    --------
    >>> drift_terms("no column `time`='ts' in the judgments; pass window='batch' or time='created'.")
    'no column --time ts in the judgments; pass --window batch or --time created.'
    """
    def flag(m: re.Match[str]) -> str:
        value = (m.group(2) or "").strip("'\"")
        return f"{DRIFT_FLAGS[m.group(1)]} {value}".rstrip()

    message = re.sub(r"`(" + "|".join(DRIFT_FLAGS) + r")`\s*=", lambda m: m.group(1) + "=", message)
    return _BACKTICK.sub(lambda m: DRIFT_FLAGS[m.group(1)], _OPTION.sub(flag, message))


def library(call: Callable[[], Any]) -> Any:
    """Run a ``pq.drift`` / ``pq.compare`` call; its errors name the flags, not the Python options."""
    try:
        return call()
    except PrefqaError as exc:
        try:
            renamed = type(exc)(drift_terms(str(exc)))
        except TypeError:  # a subclass with another constructor: keep the library's message
            raise exc from None
        raise renamed from exc


def records(frame: Any) -> list[dict[str, Any]]:
    """A result table as JSON-able rows (the audit's converter: NaN -> null, numpy scalars -> Python)."""
    from ..audit._json import frame_records

    return frame_records(frame.reset_index(drop=frame.index.name is None))


def outcome(gate: Gate, values: Values, strict: bool) -> GateOutcome:
    try:
        measure = values.measure(gate)
    except (InsufficientDataError, SchemaError) as exc:
        measure = Measure(None, reason=drift_terms(" ".join(str(exc).split())))
    return evaluate(gate, measure, strict=strict)


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


class Values:
    """What the gates read, each library call made once and only when a gate needs it."""

    def __init__(self, data: Any, baseline: Any, settings: dict[str, Any]) -> None:
        self.data, self.baseline, self.settings = data, baseline, settings
        self._cache: dict[str, Any] = {}

    def _once(self, key: str, call: Callable[[], Any]) -> Any:
        if key not in self._cache:
            try:
                self._cache[key] = call()
            except (InsufficientDataError, SchemaError) as exc:
                self._cache[key] = exc
        value = self._cache[key]
        if isinstance(value, Exception):
            raise value
        return value

    def compare(self) -> Any:
        from ..drift import compare

        return self._once("compare", lambda: library(lambda: compare(self.data, self.baseline, **self.settings)))

    def compare_records(self) -> list[dict[str, Any]] | None:
        res = self._cache.get("compare")
        if res is None or isinstance(res, Exception):
            return None
        return records(res.to_frame())

    def compare_annotators(self) -> list[dict[str, Any]] | None:
        """``pq.compare``'s annotators that are new, gone or changed (None when no comparison ran)."""
        res = self._cache.get("compare")
        if res is None or isinstance(res, Exception):
            return None
        a = res.annotators
        return records(a[a["status"].astype(str).isin(["new", "gone", "changed"]).to_numpy()])

    def batch(self) -> Any:
        """The batch's own metric table (``estimate, ci_low, ci_high`` per metric).

        With a baseline: ``pq.compare(DATA, BASELINE)``. Without one: ``pq.compare(DATA, DATA)``, whose
        new-batch estimates and intervals do not depend on the baseline side (the differences are
        ignored), so a level gate reads the same numbers with or without ``--baseline``.
        """
        if self.baseline is not None:
            return self.compare().to_frame()
        from ..drift import compare

        res = self._once("self", lambda: library(lambda: compare(self.data, self.data, **self.settings)))
        return res.to_frame()

    def measure(self, gate: Gate) -> Measure:
        if gate.needs_baseline and self.baseline is None:
            return Measure(None, reason=f"gate {gate.text!r} compares with a baseline; pass --baseline FILE "
                                        "(or baseline = ... in the [check] table of --config)")
        if gate.kind in ("count", "share"):
            return self._flagged(gate)
        if gate.kind == "drift":
            return self._drift()
        chosen = self.settings.get("metrics")
        if chosen is not None and gate.metric not in chosen:
            return Measure(None, reason=f"{gate.metric} is not among --metrics {','.join(chosen)}; add it there "
                                        "(or drop --metrics to compute every metric the data supports)")
        frame = self.compare().to_frame() if gate.kind in ("drop", "rise") else self.batch()
        rows = frame[frame["metric"].astype(str) == gate.metric]
        if not len(rows):
            return Measure(None, reason=f"{gate.metric} was not computed ({_not_computed(frame, gate.metric)})")
        r = rows.iloc[0]
        if gate.kind == "level":
            return Measure(_num(r.get("estimate")), _num(r.get("ci_low")), _num(r.get("ci_high")),
                           reason=_reason_if_missing(r, "estimate"))
        diff, lo, hi = _num(r.get("difference")), _num(r.get("diff_ci_low")), _num(r.get("diff_ci_high"))
        reason = _reason_if_missing(r, "difference")
        if gate.kind == "rise":
            return Measure(diff, lo, hi, reason=reason)
        return Measure(None if diff is None else -diff, None if hi is None else -hi, None if lo is None else -lo,
                       reason=reason)

    def _flagged(self, gate: Gate) -> Measure:
        from ..annotators import annotator_table
        from ..prompts import flag_prompts

        if gate.metric == "flagged_annotators":
            table = self._once("annotators", lambda: annotator_table(self.data))
        else:
            table = self._once("prompts", lambda: flag_prompts(self.data))
        if "flagged" not in table:
            return Measure(None, reason=f"the {gate.metric.removeprefix('flagged_')} table has no `flagged` column")
        n = int(table["flagged"].fillna(False).astype(bool).sum())
        if gate.kind == "count":
            return Measure(float(n), exact=True, detail=f"{n} of {len(table)} flagged")
        if not len(table):
            return Measure(None, reason=f"no {gate.metric.removeprefix('flagged_')} to flag")
        return Measure(n / len(table), exact=True, detail=f"{n} of {len(table)} flagged")

    def _drift(self) -> Measure:
        """``pq.compare``'s own decision (:attr:`CompareResult.worse`), with the metrics and annotators behind it."""
        res = self.compare()
        frame = res.to_frame()
        worse = [str(m) for m, v in zip(frame["metric"], frame["verdict"]) if str(v) == "worse"]
        changed = _changed_annotators(res)
        parts = []
        if worse:
            parts.append("worse than the baseline: " + ", ".join(worse))
        if changed:
            more = f"; and {len(changed) - 3} more (see annotators in --json)" if len(changed) > 3 else ""
            parts.append(f"{len(changed)} new or changed annotator(s) flagged: " + "; ".join(changed[:3]) + more)
        detail = "; ".join(parts) if parts else "no metric worse and no new or changed annotator flagged"
        n = float(len(worse) + len(changed))
        return Measure(max(n, 1.0) if bool(res.worse) else 0.0, exact=True, detail=detail)


def _changed_annotators(res: Any) -> list[str]:
    """New or changed annotators that ``pq.compare`` flags, with its reasons."""
    a = getattr(res, "annotators", None)
    if a is None or not len(a) or "flagged" not in a:
        return []
    mask = a["flagged"].fillna(False).astype(bool)
    if "status" in a:
        mask &= a["status"].astype(str).isin(["new", "changed"])
    rows = a[mask.to_numpy()]
    reasons = rows["reason"].astype(str) if "reason" in rows else [""] * len(rows)
    status = rows["status"].astype(str) if "status" in rows else [""] * len(rows)
    return [f"{i} ({s}: {r})" if r else f"{i} ({s})" for i, s, r in zip(rows["annotator_id"].astype(str), status,
                                                                        reasons)]


def _reason_if_missing(row: Any, column: str) -> str | None:
    if _num(row.get(column)) is not None:
        return None
    why = row.get("reason")
    return str(why) if isinstance(why, str) and why else f"no {column} for {row.get('metric')}"


def _not_computed(frame: Any, metric: str) -> str:
    have = sorted(map(str, frame["metric"].unique())) if "metric" in frame else []
    return f"the data supports {have}" if have else "no metric could be computed on this data"
