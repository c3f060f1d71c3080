"""Gates of ``prefqa check``: parse ``METRIC OP VALUE``, evaluate them, exit codes, the table and the JSON.

Pure functions (no data, no statistics): :func:`parse_gates` turns the text of
``--fail-on`` (or ``[check] fail_on`` of the TOML config) into :class:`Gate` objects,
:func:`evaluate` decides one gate from a :class:`Measure` (a value with its interval,
computed elsewhere by ``pq.compare`` / ``pq.drift`` / ``pq.annotator_table`` /
``pq.flag_prompts``), and :func:`exit_code`, :func:`render_table` and :func:`report`
turn the outcomes into what ``prefqa check`` prints, returns and writes.

A gate names the *failing* condition (``--fail-on "alpha<0.67"`` fails when alpha is
below 0.67):

* ``METRIC OP VALUE`` with ``OP`` one of ``<``, ``<=``, ``>``, ``>=``; ``VALUE`` a number
  or a percentage (``10%`` is 0.1, always an absolute amount in the metric's units,
  never a relative change);
* ``METRIC`` a metric of ``pq.drift`` / ``pq.compare`` (:data:`METRICS`), the batch's
  value; or ``flagged_annotators`` / ``flagged_prompts``: the number flagged by
  ``pq.annotator_table`` / ``pq.flag_prompts``, or with a percentage the share of
  annotators (prompts) flagged;
* ``METRIC_drop`` / ``METRIC_rise``: the change against ``--baseline``
  (``drop`` = baseline - batch, ``rise`` = batch - baseline), with the interval of
  ``pq.compare``'s difference;
* the bare word ``drift``: fails when ``pq.compare`` calls any metric ``worse`` or flags a
  changed or new annotator.

A gate fails when its value meets the condition. With ``strict`` a gate passes only
when its whole confidence interval lies on the passing side (a value with no interval
cannot pass strictly and is an error; counts of flagged annotators and prompts are exact
tallies and are compared as they are). Exit codes: 0 every gate passed, 1 a gate failed,
2 a gate could not be computed (the reason is printed; an incomplete check is never
reported as a pass or a plain fail).

Examples
--------
>>> gates = parse_gates("alpha<0.67, p_first>55%, alpha_drop>0.1, drift")
>>> [(g.metric, g.kind, g.op, g.threshold) for g in gates]  # doctest: +NORMALIZE_WHITESPACE
[('alpha', 'level', '<', 0.67), ('p_first', 'level', '>', 0.55), ('alpha', 'drop', '>', 0.1),
 ('drift', 'drift', None, None)]
>>> out = evaluate(gates[0], Measure(0.71, 0.64, 0.78))
>>> out.status, out.reason
('pass', 'alpha = 0.71 is not < 0.67')
>>> evaluate(gates[0], Measure(0.71, 0.64, 0.78), strict=True).status
'fail'
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SchemaError

__all__ = ["COUNTS", "METRICS", "OPERATORS", "Gate", "GateOutcome", "Measure", "evaluate", "exit_code",
           "known_gate_names", "parse_gates", "render_table", "report"]

#: Metrics of ``pq.drift`` / ``pq.compare`` (the names the issue fixes), with a few words each.
METRICS: dict[str, str] = {
    "alpha": "Krippendorff's alpha",
    "ac1": "Gwet's AC1",
    "p_first": "P(first-shown response chosen)",
    "p_longer": "P(longer response chosen)",
    "tie_rate": "tie rate",
    "flagged_share": "share of judgments by annotators flagged in pq.annotator_table",
    "score_mean": "mean score (ratings)",
    "icc": "intraclass correlation (ratings)",
}
#: Tallies of flagged entities (a plain number: how many; a percentage: which share).
COUNTS: dict[str, str] = {
    "flagged_annotators": "annotators flagged by pq.annotator_table",
    "flagged_prompts": "prompts flagged by pq.flag_prompts",
}
#: Allowed operators: a gate ``METRIC OP VALUE`` fails when ``OP(value, VALUE)`` holds.
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}
_BAD_OPERATORS = ("==", "!=", "=<", "=>", "=", "\u2264", "\u2265", "<>")
_GATE = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>[<>=!\u2264\u2265]+)?\s*(?P<value>.*?)\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def known_gate_names() -> list[str]:
    """Every name a gate can start with, in the order :data:`METRICS`, drops, rises, counts, ``drift``."""
    return [*METRICS, *(f"{m}_drop" for m in METRICS), *(f"{m}_rise" for m in METRICS), *COUNTS, "drift"]


@dataclass(frozen=True)
class Gate:
    """One parsed gate.

    Attributes
    ----------
    text : str
        The gate as written (whitespace trimmed).
    metric : str
        The metric it reads: a name of :data:`METRICS`, of :data:`COUNTS`, or ``drift``.
    kind : str
        ``level`` (the batch's value), ``drop`` / ``rise`` (the change against the baseline),
        ``count`` / ``share`` (flagged annotators or prompts) or ``drift``.
    op : str or None
        One of :data:`OPERATORS` (None for ``drift``).
    threshold : float or None
        The number after the operator; a percentage is already divided by 100.
    percent : bool
        Whether the threshold was written as a percentage.
    """

    text: str
    metric: str
    kind: str
    op: str | None
    threshold: float | None
    percent: bool = False

    @property
    def needs_baseline(self) -> bool:
        """Whether the gate compares with ``--baseline`` (drops, rises and ``drift``)."""
        return self.kind in ("drop", "rise", "drift")


@dataclass(frozen=True)
class Measure:
    """What a gate reads: a value with its interval, or the reason it cannot be computed.

    ``ci_low`` / ``ci_high`` are None when there is no interval (counts, or a library result
    without one); ``reason`` is set (and ``value`` None) when the value cannot be computed;
    ``detail`` is a line of context (for ``drift``: which metrics are worse and who changed).
    """

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    reason: str | None = None
    detail: str | None = None
    exact: bool = False


@dataclass(frozen=True)
class GateOutcome:
    """One gate's verdict: ``status`` is ``pass``, ``fail`` or ``error``, with the reason in words."""

    gate: Gate
    value: float | None
    ci_low: float | None
    ci_high: float | None
    status: str
    reason: str
    detail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ parsing
def _split(text: str | Sequence[str]) -> list[str]:
    parts = [text] if isinstance(text, str) else list(text)
    out: list[str] = []
    for p in parts:
        if not isinstance(p, str):
            raise SchemaError(f"a gate must be text such as 'alpha<0.67'; got {p!r} ({type(p).__name__}).")
        out.extend(s.strip() for s in p.split(","))
    return [s for s in out if s]


def _number(raw: str, gate: str) -> tuple[float, bool]:
    text = raw.replace(" ", "")
    percent = text.endswith("%")
    body = text[:-1] if percent else text
    if not _NUMBER.match(body):
        raise SchemaError(f"gate {gate!r}: the value {raw!r} is not a number; write a number or a "
                          "percentage after the operator, for example 'alpha<0.67' or 'p_first>55%'.")
    value = float(body)
    return (value / 100.0 if percent else value), percent


def _unknown(name: str, gate: str) -> SchemaError:
    names = known_gate_names()
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return SchemaError(
        f"gate {gate!r}: unknown metric {name!r}.{hint} Use one of the metrics {list(METRICS)}, "
        f"their changes against --baseline (METRIC_drop, METRIC_rise, for example 'alpha_drop>0.1'), "
        f"{list(COUNTS)}, or the bare word 'drift'.")


def _one(gate: str) -> Gate:
    m = _GATE.match(gate)
    if m is None:
        raise SchemaError(f"gate {gate!r} is not of the form METRIC OP VALUE (for example 'alpha<0.67', "
                          "'p_first>55%', 'alpha_drop>0.1') or the bare word 'drift'.")
    name, op, raw = m.group("name"), m.group("op"), m.group("value")
    if op is None:
        if name == "drift" and not raw:
            return Gate(gate, "drift", "drift", None, None)
        if name == "drift":
            raise SchemaError(f"gate {gate!r}: 'drift' takes no operator or value; write the bare word "
                              "'drift' (it fails when pq.compare calls a metric worse or flags an annotator).")
        if name not in known_gate_names():
            raise _unknown(name, gate)
        raise SchemaError(f"gate {gate!r} has no operator; write METRIC OP VALUE with OP one of "
                          f"{list(OPERATORS)}, for example '{name}<0.5'.")
    if op in _BAD_OPERATORS or op not in OPERATORS:
        fix = {"=<": "<=", "=>": ">=", "\u2264": "<=", "\u2265": ">="}.get(op)
        hint = f" (write {fix!r})" if fix else ""
        raise SchemaError(f"gate {gate!r}: operator {op!r} is not supported{hint}; use one of "
                          f"{list(OPERATORS)}: a gate states when the check fails, for example 'alpha<0.67'.")
    if name == "drift":
        raise SchemaError(f"gate {gate!r}: 'drift' takes no operator or value; write the bare word 'drift'.")
    if not raw:
        raise SchemaError(f"gate {gate!r} has no value after {op!r}; write a number or a percentage, "
                          f"for example '{name}{op}0.5'.")
    threshold, percent = _number(raw, gate)
    if name in METRICS:
        return Gate(gate, name, "level", op, threshold, percent)
    if name in COUNTS:
        if threshold < 0:
            raise SchemaError(f"gate {gate!r}: {name} counts flagged entities; the threshold must be >= 0, "
                              f"got {threshold:g}.")
        return Gate(gate, name, "share" if percent else "count", op, threshold, percent)
    for suffix in ("_drop", "_rise"):
        base = name.removesuffix(suffix)
        if name.endswith(suffix) and base in METRICS:
            return Gate(gate, base, suffix[1:], op, threshold, percent)
        if name.endswith(suffix) and base in COUNTS:
            raise SchemaError(f"gate {gate!r}: {base} has no {suffix[1:]} against the baseline; gate on the "
                              f"count itself ('{base}{op}{raw}') or on 'flagged_share{suffix}'.")
    raise _unknown(name, gate)


def parse_gates(text: str | Sequence[str]) -> tuple[Gate, ...]:
    """Parse comma-separated gates (a string, or a list of strings as TOML gives).

    Parameters
    ----------
    text : str or sequence of str
        For example ``"alpha<0.67, p_first>55%"`` or ``["alpha_drop>0.1", "drift"]``.

    Returns
    -------
    tuple of Gate

    Raises
    ------
    SchemaError
        No gate, an unknown metric (the message names it, suggests the closest name and
        lists the valid ones), an unsupported operator (``=``, ``==``, ``=>`` ...), or a
        value that is not a number or a percentage.

    Examples
    --------
    >>> parse_gates("flagged_annotators>=3, flagged_annotators>10%")[1].kind
    'share'
    >>> parse_gates("alpah<0.6")
    Traceback (most recent call last):
    ...
    prefqa.errors.SchemaError: gate 'alpah<0.6': unknown metric 'alpah'. Did you mean 'alpha'? ...
    """
    items = _split(text)
    if not items:
        raise SchemaError("no gate given; pass --fail-on with comma-separated gates such as 'alpha<0.67, drift' "
                          "or set fail_on in the [check] table of --config.")
    return tuple(_one(g) for g in items)


# ------------------------------------------------------------------ evaluation
def _finite(x: float | None) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _name(gate: Gate) -> str:
    if gate.kind in ("drop", "rise"):
        return f"{gate.metric}_{gate.kind}"
    if gate.kind == "share":
        return f"share of {gate.metric.removeprefix('flagged_')} flagged"
    return gate.metric


def _show(x: float, percent: bool) -> str:
    return f"{x:.4g}" if not percent else f"{100 * x:.4g}%"


def evaluate(gate: Gate, measure: Measure, *, strict: bool = False) -> GateOutcome:
    """Decide one gate from its measure.

    Parameters
    ----------
    gate : Gate
    measure : Measure
        The value (and interval) the gate reads, or the reason it cannot be computed.
    strict : bool
        Pass only when the whole confidence interval lies on the passing side.

    Returns
    -------
    GateOutcome
        ``error`` when the value cannot be computed (or, under ``strict``, has no interval);
        else ``fail`` when the condition holds (under ``strict``: anywhere in the interval),
        else ``pass``.

    Examples
    --------
    >>> g = parse_gates("alpha_drop>0.1")[0]
    >>> evaluate(g, Measure(0.05, -0.02, 0.12), strict=True).reason
    'alpha_drop = 0.05, CI [-0.02, 0.12] reaches > 0.1 (--strict: the whole interval must pass)'
    """
    def out(status: str, reason: str) -> GateOutcome:
        return GateOutcome(gate, measure.value, measure.ci_low, measure.ci_high, status, reason, measure.detail)

    name = _name(gate)
    if measure.reason is not None or not _finite(measure.value):
        return out("error", f"{name} cannot be computed: {measure.reason or 'the library returned no estimate'}")
    value = float(measure.value)  # type: ignore[arg-type]
    if gate.kind == "drift":
        if value > 0:
            return out("fail", measure.detail or f"{value:g} change(s) against the baseline")
        return out("pass", measure.detail or "no metric worse and no annotator flagged against the baseline")
    if gate.op is None or gate.threshold is None:
        return out("error", f"gate {gate.text!r} has no operator and value (only 'drift' may be bare)")
    cond, thr = OPERATORS[gate.op], gate.threshold
    pct = gate.percent
    shown = f"{name} = {_show(value, pct)}"
    has_ci = _finite(measure.ci_low) and _finite(measure.ci_high)
    if strict and not measure.exact:
        if not has_ci:
            return out("error", f"{shown} has no confidence interval, so --strict cannot decide it (the whole "
                                "interval must pass); drop --strict or gate on a metric with an interval")
        lo, hi = float(measure.ci_low), float(measure.ci_high)  # type: ignore[arg-type]
        ci = f"CI [{_show(lo, pct)}, {_show(hi, pct)}]"
        if cond(value, thr) or cond(lo, thr) or cond(hi, thr):
            return out("fail", f"{shown}, {ci} reaches {gate.op} {_show(thr, pct)} "
                               "(--strict: the whole interval must pass)")
        return out("pass", f"{shown}, {ci} lies wholly on the passing side of {gate.op} {_show(thr, pct)}")
    if cond(value, thr):
        return out("fail", f"{shown} is {gate.op} {_show(thr, pct)}")
    return out("pass", f"{shown} is not {gate.op} {_show(thr, pct)}")


def exit_code(outcomes: Iterable[GateOutcome]) -> int:
    """0 when every gate passed, 1 when one failed, 2 when one could not be computed (it wins over 1).

    Examples
    --------
    >>> g = parse_gates("alpha<0.5")[0]
    >>> exit_code([evaluate(g, Measure(0.4)), evaluate(g, Measure(None, reason="no annotators"))])
    2
    """
    statuses = {o.status for o in outcomes}
    return 2 if "error" in statuses else 1 if "fail" in statuses else 0


# ------------------------------------------------------------------ output
def _cell(x: float | None) -> str:
    return "-" if not _finite(x) else f"{float(x):.4g}"  # type: ignore[arg-type]


def render_table(outcomes: Sequence[GateOutcome]) -> str:
    """The table ``prefqa check`` prints: gate, value, CI, pass/fail/error, reason.

    Examples
    --------
    >>> g = parse_gates("alpha<0.5")[0]
    >>> print(render_table([evaluate(g, Measure(0.7, 0.6, 0.8))]))  # doctest: +NORMALIZE_WHITESPACE
    gate       value  CI            result  reason
    alpha<0.5  0.7    [0.6, 0.8]    PASS    alpha = 0.7 is not < 0.5
    """
    rows = [("gate", "value", "CI", "result", "reason")]
    for o in outcomes:
        ci = "-" if not (_finite(o.ci_low) and _finite(o.ci_high)) else f"[{_cell(o.ci_low)}, {_cell(o.ci_high)}]"
        rows.append((o.gate.text, _cell(o.value), ci, o.status.upper(), o.reason))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    widths[2] = max(widths[2], 12)
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows).rstrip()


def _json_number(x: float | None) -> float | None:
    return float(x) if _finite(x) else None  # type: ignore[arg-type]


def report(outcomes: Sequence[GateOutcome], **meta: Any) -> dict[str, Any]:
    """The JSON of ``prefqa check --json``.

    Keys: ``status`` (``pass``, ``fail`` or ``error``), ``exit_code`` (0, 1, 2), the counts
    ``n_gates``, ``n_passed``, ``n_failed``, ``n_errors``, ``gates`` (one object per gate:
    ``gate``, ``metric``, ``kind``, ``op``, ``threshold``, ``percent``, ``value``, ``ci_low``,
    ``ci_high``, ``status``, ``reason``, ``detail``, plus what the caller put in ``extra``),
    and every keyword of ``meta`` (the inputs and settings).

    Examples
    --------
    >>> g = parse_gates("alpha<0.5")[0]
    >>> r = report([evaluate(g, Measure(0.4, 0.3, 0.5))], data="batch.csv")
    >>> r["status"], r["exit_code"], r["gates"][0]["status"], r["data"]
    ('fail', 1, 'fail', 'batch.csv')
    """
    code = exit_code(outcomes)
    gates = [{
        "gate": o.gate.text, "metric": o.gate.metric, "kind": o.gate.kind, "op": o.gate.op,
        "threshold": o.gate.threshold, "percent": o.gate.percent, "value": _json_number(o.value),
        "ci_low": _json_number(o.ci_low), "ci_high": _json_number(o.ci_high), "status": o.status,
        "reason": o.reason, "detail": o.detail, **o.extra,
    } for o in outcomes]
    return {
        "status": ("pass", "fail", "error")[code], "exit_code": code, "n_gates": len(gates),
        "n_passed": sum(o.status == "pass" for o in outcomes), "n_failed": sum(o.status == "fail" for o in outcomes),
        "n_errors": sum(o.status == "error" for o in outcomes), **meta, "gates": gates,
    }
