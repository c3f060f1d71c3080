"""The audit runner: run each analysis step, record ok / skipped / failed with reasons.

A step is a small adapter (``PreferenceData`` and config -> JSON-able dict)
plus the data it needs. The runner checks the needs first and records a
*skip* with a plain reason when the data cannot support the step (no
annotator ids, unknown display order, no model ids, no texts, one
annotator). An :class:`~prefqa.errors.InsufficientDataError` or
:class:`~prefqa.errors.SchemaError` raised by the library is a skip too,
with the library's message. Any other exception is recorded as *failed*
with its message, so one broken step never kills the report; with
``strict=True`` it is re-raised instead (tests run strict so bugs surface).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._progress import Progress
from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from ._json import jsonable

__all__ = ["Step", "StepOutcome", "needs_reason", "run_steps"]

Adapter = Callable[[PreferenceData, dict[str, Any], dict[str, Any]], tuple[dict[str, Any], Any]]


@dataclass(frozen=True)
class Step:
    """One audit step: ``adapter(data, config, done) -> (section dict, raw result)``."""

    name: str
    title: str
    adapter: Adapter
    needs: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class StepOutcome:
    """What happened in one step (``section`` is already JSON-able)."""

    name: str
    status: str
    reason: str | None
    seconds: float
    section: dict[str, Any] | None
    result: Any
    warnings: tuple[str, ...]


def needs_reason(data: PreferenceData, need: str, config: dict[str, Any]) -> str | None:
    """Return why ``data`` lacks ``need`` (``None`` when it has it)."""
    if need == "annotators" and not data.has_annotators:
        return "no annotator ids in the data"
    if need == "two_annotators" and data.n_annotators < 2:
        if not data.has_annotators:
            return "no annotator ids in the data"
        return (f"only {data.n_annotators} annotator in the data; agreement between annotators "
                "needs at least two")
    if need == "order" and not data.order_known:
        return ("the display order is unknown for this format (a/b were placed by a hash), "
                "so position effects cannot be measured")
    if need == "models" and not data.has_models:
        return "no model ids (`model_a`, `model_b`) in the data"
    if need == "texts" and not data.has_texts:
        return "no response texts in the data"
    if need == "prompts" and data.n_prompts == 0:
        return "no prompt ids in the data"
    if need == "judges":
        kind_column = dict(config["audit"].get("judge", {})).get("kind_column", "annotator_kind")
        if "judges" not in config["audit"].get("judge", {}) and kind_column not in data.judgments.columns:
            return (f"no `{kind_column}` column marks LLM judges (read option `annotator_kinds`, or "
                    "[audit.judge] judges = [...])")
    if need == "by" and not config["audit"].get("by"):
        return "no stratum column given (use --by COLUMN or [audit] by = ...)"
    if need == "multi_judged" and int(data.comparisons()["n_judgments"].to_numpy().max(initial=0)) < 2:
        return "no comparison was judged more than once, so there is nothing to agree on"
    return None


def run_steps(
    data: PreferenceData,
    steps: list[Step],
    config: dict[str, Any],
    *,
    progress: bool = True,
    strict: bool = False,
) -> list[StepOutcome]:
    """Run ``steps`` in order and return one outcome per step."""
    outcomes: list[StepOutcome] = []
    done: dict[str, Any] = {}
    skip = set(config["audit"]["skip"])
    with Progress(len(steps), label="prefqa audit", enabled=progress) as bar:
        for step in steps:
            bar.start(step.title)
            outcome = _run_one(data, step, config, done, skip, strict)
            if outcome.status == "ok":
                done[step.name] = outcome.result
            outcomes.append(outcome)
            bar.advance()
    return outcomes


def _run_one(data: PreferenceData, step: Step, config: dict[str, Any], done: dict[str, Any],
             skip: set[str], strict: bool) -> StepOutcome:
    if step.name in skip:
        return StepOutcome(step.name, "skipped", "disabled in the config ([audit] skip)", 0.0, None, None, ())
    for need in step.needs:
        reason = needs_reason(data, need, config)
        if reason is not None:
            return StepOutcome(step.name, "skipped", f"{reason}: {step.title.lower()} skipped",
                               0.0, None, None, ())
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            section, result = step.adapter(data, config, done)
        except (InsufficientDataError, SchemaError) as exc:
            return StepOutcome(step.name, "skipped", f"{exc}", time.perf_counter() - t0, None, None,
                               _messages(caught))
        except Exception as exc:  # one broken step must not kill the report
            if strict:
                raise
            return StepOutcome(step.name, "failed", f"{type(exc).__name__}: {exc}",
                               time.perf_counter() - t0, None, None, _messages(caught))
    seconds = time.perf_counter() - t0
    return StepOutcome(step.name, "ok", None, seconds, jsonable(section), result, _messages(caught))


def _messages(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for w in caught:
        seen.setdefault(f"{w.category.__name__}: {w.message}", None)
    return tuple(seen)
