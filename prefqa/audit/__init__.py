"""One-call audit: run every analysis the data supports and report findings.

:func:`audit` calls the public API of prefqa (no statistics live here),
records for each step whether it ran, was skipped (and why) or failed, and
bundles a severity-ordered list of findings. :class:`AuditReport` renders
the same JSON-able dict to JSON (:meth:`AuditReport.to_json`), a
self-contained HTML page (:meth:`AuditReport.to_html`) and plain text
(:meth:`AuditReport.summary`).
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .._atomic import atomic_path
from ..engine import ScannedData, is_scanned
from ..errors import SchemaError
from ..schema import PreferenceData
from ._config import STEP_NAMES, resolve_config
from ._engine import columns, engine_block, fingerprint, n_models, n_ratings, n_responses
from ._findings import findings_for
from ._json import SCHEMA_VERSION, dumps, jsonable, versions
from ._readiness import READINESS_STEPS, readiness_applies
from ._run import run_steps
from ._steps import DRIFT, STEPS, drift_applies

__all__ = ["SCHEMA_VERSION", "STEP_NAMES", "AuditReport", "audit"]

_SEVERITIES = ("high", "medium", "low", "info")


@dataclass(frozen=True, eq=False)
class AuditReport:
    """The outcome of :func:`audit`.

    Attributes
    ----------
    content : dict
        The whole report as JSON-able values; :meth:`to_json` writes it and
        :meth:`to_html` renders it (every number shown comes from here).
    results : dict
        The raw result object of each step that ran (``AgreementResult``,
        ``BradleyTerryResult``, DataFrames, ...), keyed by step name.
    """

    content: dict[str, Any]
    results: dict[str, Any]

    @property
    def findings(self) -> list[dict[str, Any]]:
        """Findings, most severe first: ``severity``, ``code``, ``message``, ``command``."""
        return self.content["findings"]

    @property
    def sections(self) -> dict[str, dict[str, Any]]:
        """One entry per step: ``title``, ``status``, ``reason``, ``seconds``, ``result``."""
        return self.content["sections"]

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every warning and approximation note of every step, prefixed with the step name.

        Python warnings a step raised and the notes its result carries
        (``.warnings``, ``.subsampled``, ``attrs["warnings"]``); the same list
        as ``content["warnings"]``.
        """
        return tuple(f"{w['step']}: {w['message']}" for w in self.content["warnings"])

    def to_frame(self) -> pd.DataFrame:
        """Return one row per step: ``status``, ``reason``, ``seconds`` (index ``step``)."""
        rows = [{"step": k, "title": s["title"], "status": s["status"], "reason": s["reason"],
                 "seconds": s["seconds"]} for k, s in self.sections.items()]
        return pd.DataFrame(rows).set_index("step")

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return the report as JSON text; also write it (atomically) when ``path`` is given."""
        text = dumps(self.content)
        if path is not None:
            _atomic_write(Path(path), text)
        return text

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return a self-contained HTML page; also write it (atomically) when ``path`` is given."""
        from ._html import render_html

        text = render_html(self.content)
        if path is not None:
            _atomic_write(Path(path), text)
        return text

    def summary(self) -> str:
        """Return a plain-text summary for terminals and logs."""
        from ._html import render_text

        return render_text(self.content)

    def __repr__(self) -> str:
        counts = self.to_frame()["status"].value_counts().to_dict()
        return (f"AuditReport({self.content['input']['n_judgments']:,} judgments, "
                f"{len(self.findings)} findings, steps {counts})")


def _validate_audit(data: Any, config: Any, progress: Any, strict: Any) -> dict[str, Any]:
    if not isinstance(data, PreferenceData) and not is_scanned(data):
        raise SchemaError(f"`data` must be a PreferenceData (from pq.read or pq.simulate) or a ScannedData "
                          f"(from pq.scan); got {type(data).__name__}.")
    if config is not None and not isinstance(config, (Mapping, str, os.PathLike)):
        raise SchemaError(f"`config` must be a dict, a TOML file path or None; got {type(config).__name__}.")
    for name, value in (("progress", progress), ("strict", strict)):
        if not isinstance(value, bool):
            raise SchemaError(f"`{name}` must be True or False; got {value!r}.")
    cfg = resolve_config(config)
    by = cfg["audit"]["by"]
    if by is not None and by not in columns(data):
        raise SchemaError(f"stratum column `by`={by!r} is not a judgments column; found {columns(data)}.")
    return cfg


def audit(
    data: PreferenceData | ScannedData,
    *,
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    progress: bool = True,
    strict: bool = False,
) -> AuditReport:
    """Run every analysis the data supports and collect findings.

    Parameters
    ----------
    data : PreferenceData or ScannedData
        From :func:`prefqa.read`, :func:`prefqa.load_sample` or :func:`prefqa.simulate`;
        or from :func:`prefqa.scan` (DuckDB or Spark): every step then runs on
        the engine through the same public analyses (same numbers), the
        report's ``input.engine`` says which engine ran with what memory
        limit and threads, and a step whose analysis does not run on engine
        data is skipped with that reason.
    config : dict or path, optional
        ``{"read": {...}, "pairs": {...}, "audit": {...}}`` or a TOML file
        with those tables (see ``prefqa.audit._config``). ``[read]`` holds
        :func:`prefqa.read` options, validated by :mod:`prefqa.io.config`
        (the same parser ``pq.read`` users get); ``[pairs]`` is the
        :func:`prefqa.build_pairs` policy of the pair preview; ``[audit]``
        holds ``n_resamples`` (default 200), ``confidence_level`` (0.95),
        ``rng`` (0), ``by`` (stratum column), ``skip`` (step names),
        ``preference_model_max_judgments`` (20,000), finding thresholds and
        one table of keyword options per step (``[audit.annotators]`` ...).
    progress : bool
        Draw a progress bar on stderr (only when stderr is a terminal).
    strict : bool
        Re-raise an unexpected exception in a step instead of recording it
        as failed (for tests and ``prefqa audit --debug``).

    Returns
    -------
    AuditReport

    Raises
    ------
    SchemaError
        ``data`` is not a PreferenceData, or the config is invalid.

    Notes
    -----
    Steps: load report, reliability (overall and per stratum; ratings
    included), ICC of ratings, annotator table, LLM-judge report, consensus,
    Bradley-Terry (plain and style controlled), crossed preference model,
    crossed rating model, length / position / style bias, flagged prompts,
    Simpson check and a pair-building preview. A step the data cannot
    support is skipped with its reason in the file's terms ("no prompt ids
    in this file", "ratings only: no pairwise judgments in this file");
    per-step seconds are recorded in ``content["sections"][step]["seconds"]``.

    Nothing approximated is silent: every warning a step raises and every
    note its result carries (``.warnings``, ``.subsampled``, ``.skipped``,
    ``attrs["warnings"]`` of tables such as ``flag_prompts`` and
    ``annotator_table``) is in ``content["warnings"]`` (step and message),
    in the section's ``result["warnings"]`` and on the HTML page.

    Per-annotator tests have one set of numbers per report: the position
    and length sections show the annotator table's columns (which read the
    same implementation as ``position_bias(...).annotators``).

    Defaults are chosen so that an audit of a million judgments stays in a
    few minutes on two cores while every interval is a real one:

    * reliability: percentile bootstrap over comparisons with
      ``n_resamples = 200`` (Monte Carlo error of a 95% bound is then small
      next to the interval), overall and per ``by`` stratum;
    * Bradley-Terry (plain and style-controlled): sandwich (robust) CIs, the
      library default, no bootstrap;
    * crossed preference model: its cost grows with the number of
      annotators and prompts, so above ``preference_model_max_judgments``
      (20,000) judgments it is fitted on a random subsample of whole prompts
      (seeded by ``rng``) holding at most that many judgments. The
      subsample is never silent: the section's ``result["subsample"]`` gives
      the counts, a warning is recorded and an "info" finding states it.
      Set the option to 0 to fit every judgment;
    * flagged prompts use the library's analytic tests (no resampling).

    Examples
    --------
    >>> import prefqa as pq
    >>> data, _ = pq.simulate(n_prompts=30, n_annotators=8, rng=1)
    >>> report = pq.audit(data, progress=False, config={"audit": {"n_resamples": 20}})
    >>> report.sections["reliability"]["status"]
    'ok'
    >>> report.content["schema_version"]
    '1.1'
    """
    cfg = _validate_audit(data, config, progress, strict)
    t0 = time.perf_counter()
    steps = list(STEPS)
    if drift_applies(data, cfg) and all(s.name != "drift" for s in steps):
        steps.insert(next(i for i, s in enumerate(steps) if s.name == "pairs"), DRIFT)
    if readiness_applies(data, cfg):  # Training readiness, Suspect labels (prefqa.audit._readiness)
        at = next(i for i, s in enumerate(steps) if s.name == "pairs")
        steps[at:at] = [r for r in READINESS_STEPS if all(s.name != r.name for s in steps)]
    outcomes = run_steps(data, steps, cfg, progress=progress, strict=strict)
    sections: dict[str, Any] = {}
    for o in outcomes:
        step = next(s for s in steps if s.name == o.name)
        sections[o.name] = {
            "title": step.title, "status": o.status, "reason": o.reason,
            "seconds": o.seconds, "warnings": list(o.warnings), "result": o.section,
        }
    content: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **versions(),
        "input": _input_block(data),
        "config": jsonable(cfg),
        "findings": [],
        "warnings": [],
        "sections": sections,
        "seconds": 0.0,
    }
    content["warnings"] = _all_warnings(sections)
    content["findings"] = jsonable(findings_for(content))
    content["seconds"] = time.perf_counter() - t0
    results = {o.name: o.result for o in outcomes if o.status == "ok"}
    return AuditReport(content=content, results=results)


def _all_warnings(sections: dict[str, Any]) -> list[dict[str, str]]:
    """Every step's raised warnings and result notes, once each, in step order."""
    import re

    out: list[dict[str, str]] = []
    for name, s in sections.items():
        result = s["result"] or {}
        seen: dict[str, str] = {}
        for w in list(s["warnings"]) + list(result.get("warnings") or []):
            # a raised warning is recorded as "ConvergenceWarning: text"; the result's copy is "text"
            seen.setdefault(re.sub(r"^[A-Za-z]*Warning: ", "", str(w)), str(w))
        out.extend({"step": name, "message": w} for w in seen.values())
    return out


def _input_block(data: PreferenceData | ScannedData) -> dict[str, Any]:
    lr = data.load_report
    strata = [c for c in columns(data) if c not in _KNOWN_COLUMNS]
    rating_annotators = 0
    if not isinstance(data, ScannedData) and data.ratings is not None and "annotator_id" in data.ratings:
        rating_annotators = int(data.ratings["annotator_id"].dropna().nunique())
    return jsonable({
        "fingerprint": fingerprint(data),
        "source": getattr(lr, "source", None),
        "format": getattr(lr, "format", None),
        "n_judgments": data.n_judgments,
        "n_comparisons": data.n_comparisons,
        "n_annotators": data.n_annotators,
        "n_prompts": data.n_prompts,
        "n_models": n_models(data),
        "n_responses": n_responses(data),
        "n_ratings": n_ratings(data),
        "n_rating_annotators": rating_annotators,
        "order_known": data.order_known,
        "has_texts": data.has_texts,
        "strata": strata,
        "engine": engine_block(data),
    })


_KNOWN_COLUMNS = {
    "comparison_id", "annotator_id", "choice", "prompt_id", "response_a_id", "response_b_id",
    "model_a", "model_b", "strength", "seconds", "timestamp",
    "prompt", "response_a", "response_b",  # texts inline in scanned judgments
}


def _atomic_write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
