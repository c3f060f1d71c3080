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
from ..engine import ScannedData, is_scanned
from ..schema import PreferenceData
from ._engine import columns, max_judgments_per_comparison, n_ratings
from ._json import jsonable

__all__ = ["Step", "StepOutcome", "needs_reason", "run_steps"]

# the data is a PreferenceData or a ScannedData (pq.scan); adapters annotated for either are accepted
Adapter = Callable[[Any, dict[str, Any], dict[str, Any]], tuple[dict[str, Any], Any]]


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


_FORMAT_NAMES = {"hh": "HH-RLHF", "trl": "TRL", "openai": "OpenAI", "arena": "arena"}


def _rating_annotators(data: PreferenceData | ScannedData) -> int:
    if isinstance(data, ScannedData):
        return 0
    r = data.ratings
    if r is None or not len(r) or "annotator_id" not in r:
        return 0
    return int(r["annotator_id"].dropna().nunique())


def _source_words(data: PreferenceData | ScannedData) -> str:
    """'HH-RLHF rows', 'TRL rows', ... from the load report's format, or 'this file'."""
    fmt = getattr(data.load_report, "format", None)
    return f"{_FORMAT_NAMES[fmt]} rows" if fmt in _FORMAT_NAMES else "this file"


def _no_annotator_ids(data: PreferenceData | ScannedData) -> str:
    words = _source_words(data)
    if words != "this file":
        return f"no annotator ids: {words} carry none"
    return "no annotator ids in this file (every `annotator_id` is missing)"


def needs_reason(data: PreferenceData | ScannedData, need: str, config: dict[str, Any]) -> str | None:
    """Return why ``data`` lacks ``need``, in the user's terms (``None`` when it has it).

    Needs: ``pairs`` (pairwise judgments), ``ratings``, ``annotators`` (ids
    on judgments or ratings), ``judgment_annotators`` (ids on judgments),
    ``two_annotators``, ``order``, ``models``, ``texts``, ``prompts``,
    ``judges``, ``by``, ``multi_judged``.
    """
    n_pairwise = data.n_judgments
    if need == "pairs" and n_pairwise == 0:
        if n_ratings(data):
            return "ratings only: no pairwise judgments in this file"
        return "no judgments in this file"
    if need == "ratings" and not n_ratings(data):
        if is_scanned(data):
            return "no ratings: pq.scan reads pairwise judgments (audit ratings in memory with pq.read)"
        return "no ratings (absolute scores) in this file"
    if need == "annotators" and not data.has_annotators and not _rating_annotators(data):
        return _no_annotator_ids(data)
    if need == "judgment_annotators" and not data.has_annotators:
        return _no_annotator_ids(data)
    if need == "two_annotators":
        n_ann = max(data.n_annotators, _rating_annotators(data))
        if n_ann == 0:
            return _no_annotator_ids(data)
        if n_ann < 2:
            return f"only {n_ann} annotator in this file; agreement between annotators needs at least two"
    if need == "order" and not data.order_known:
        words = _source_words(data)
        verb = "does" if words == "this file" else "do"
        return (f"the display order is unknown: {words} {verb} not record which response was shown first "
                "(a/b were placed by a hash), so position effects cannot be measured")
    if need == "models" and not data.has_models:
        return "no model ids (`model_a`, `model_b`) in this file"
    if need == "texts" and not data.has_texts:
        return "no response texts in this file"
    if need == "prompts" and data.n_prompts == 0:
        return "no prompt ids in this file"
    if need == "judges":
        kind_column = dict(config["audit"].get("judge", {})).get("kind_column", "annotator_kind")
        if "judges" not in config["audit"].get("judge", {}) and kind_column not in columns(data):
            return (f"no `{kind_column}` column marks LLM judges in this file (read option `annotator_kinds`, "
                    "or [audit.judge] judges = [...])")
    if need == "by" and not config["audit"].get("by"):
        return "no stratum column chosen (use --by COLUMN or [audit] by = ...)"
    if need == "multi_judged" and data.n_judgments and max_judgments_per_comparison(data) < 2:
        return "no comparison in this file was judged more than once, so there is nothing to agree on"
    return None


def run_steps(
    data: PreferenceData | ScannedData,
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


def _run_one(data: PreferenceData | ScannedData, step: Step, config: dict[str, Any], done: dict[str, Any],
             skip: set[str], strict: bool) -> StepOutcome:
    if step.name in skip:
        return StepOutcome(step.name, "skipped", f"skipped by your config ([audit] skip lists {step.name!r})",
                           0.0, None, None, ())
    for need in step.needs:
        reason = needs_reason(data, need, config)
        if reason is not None:
            return StepOutcome(step.name, "skipped", reason, 0.0, None, None, ())
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            section, result = step.adapter(data, config, done)
        except (InsufficientDataError, SchemaError) as exc:
            return StepOutcome(step.name, "skipped", _engine_words(data, exc), time.perf_counter() - t0, None,
                               None, _messages(caught))
        except Exception as exc:  # one broken step must not kill the report
            if is_scanned(data) and isinstance(exc, (AttributeError, TypeError, NotImplementedError)):
                # the analysis does not take engine data yet: a stated skip, never a silent one
                return StepOutcome(step.name, "skipped", f"not supported on engine data ({data.engine}) yet: "
                                   f"{type(exc).__name__}: {exc}", time.perf_counter() - t0, None, None,
                                   _messages(caught))
            if strict:
                raise
            return StepOutcome(step.name, "failed", f"{type(exc).__name__}: {exc}",
                               time.perf_counter() - t0, None, None, _messages(caught))
    seconds = time.perf_counter() - t0
    return StepOutcome(step.name, "ok", None, seconds, jsonable(section), result, _messages(caught))


def _engine_words(data: Any, exc: Exception) -> str:
    """The library's message; on engine data, a refusal of a ScannedData says that is the reason."""
    text = f"{exc}"
    if is_scanned(data) and "ScannedData" in text:
        return f"not supported on engine data ({data.engine}) yet: {text}"
    return text


def _messages(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for w in caught:
        seen.setdefault(f"{w.category.__name__}: {w.message}", None)
    return tuple(seen)
