"""The audit's Training readiness and Suspect labels sections (issue 15): lint, label issues, contamination.

Two audit adapters (``(data, config, done) -> (section, result)``), each a
copy of what the public analyses return; no statistic is computed here:

* :func:`readiness_step` (section ``readiness``, "Training readiness"):
  ``pq.lint(data, **[audit.readiness])``: problems by reason code, the
  comparisons they touch and their share, one example per reason code with
  its texts (clipped; the HTML escapes them).
* :func:`cleaning_step` (section ``cleaning``, "Suspect labels and
  contamination"): ``pq.label_issues`` (votes only, or with reward-model
  scores: ``[audit.cleaning] scores = "rm_score"``, or found by themselves
  when the judgments carry a ``<stem>_a`` / ``<stem>_b`` pair whose stem ends
  in ``score``); the share of flagged labels, the expected share of wrong
  labels (mean ``p_label_wrong``) and the most suspect comparisons with both
  texts and their votes; and, when ``[audit.cleaning] benchmarks = [...]``
  lists benchmark files, ``pq.contamination``: the contaminated share of
  prompts and of comparisons. A part that cannot run is stated in the
  section (``status``, ``reason``); when neither runs the step is skipped.

Both sections are part of every audit of judgments (:func:`readiness_applies`);
``[audit.readiness]`` and ``[audit.cleaning]`` set their options, and
``skip = ["readiness", "cleaning"]`` leaves them out.

Options::

    [audit.readiness]          # pq.lint
    tokenizer = "tokenizer.json"   # a local file, never downloaded
    max_tokens = 1024              # TRL max_length
    max_prompt_tokens = 512        # TRL max_prompt_length
    truncation_mode = "keep_end"
    [audit.cleaning]           # pq.label_issues and pq.contamination
    scores = "rm_score"            # a stem, two judgment columns, or false (votes only)
    cross_fit = 5
    threshold = 0.5
    consensus = "majority"
    benchmarks = ["mmlu.jsonl", "gsm8k.parquet"]
    n = 13
    min_jaccard = 0.8
    text_column = "question"

On engine data (``pq.scan``) the lint and the contamination check read
every text in memory and are not run (the reason says so); the label
issues run when ``pq.label_issues`` accepts the scan.

Examples
--------
>>> import prefqa as pq
>>> data, _ = pq.simulate(n_prompts=20, n_annotators=5, rng=1)
>>> cfg = {"audit": {"readiness": {}, "max_examples": 2, "max_table_rows": 50}}
>>> readiness_applies(data, {"audit": {}})
True
>>> section, res = readiness_step(data, cfg, {})
>>> section["values"]["n_comparisons"] == data.n_comparisons, section["values"]["n_problems"]
(True, 0)
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..engine import is_scanned
from ..errors import InsufficientDataError, SchemaError
from ._engine import columns, prompt_texts, response_texts
from ._findings import _data_arg, _finding, _pct
from ._json import frame_records, jsonable
from ._run import Step
from ._steps import _clip

__all__ = ["CLEANING", "READINESS", "READINESS_STEPS", "cleaning_step", "plot_cleaning", "plot_readiness",
           "readiness_applies", "readiness_findings", "readiness_step", "score_stem"]

LINT_KEYS: tuple[str, ...] = ("tokenizer", "max_tokens", "max_prompt_tokens", "truncation_mode")
LABEL_KEYS: tuple[str, ...] = ("scores", "consensus", "cross_fit", "threshold")
CONTAM_KEYS: tuple[str, ...] = ("benchmarks", "n", "min_jaccard", "text_column")

# Severity of the findings, by share (a choice, stated): a label-noise share of 10% is the scale at which
# the issue's cited study lost about 30 points of win rate; 3% is within the noise of good vendors.
SUSPECT_HIGH, SUSPECT_MEDIUM = 0.10, 0.03
# any contaminated prompt inflates the evaluations on that benchmark: 1% or more is "high"
CONTAMINATED_HIGH = 0.01
# share of comparisons with a training-readiness problem
LINT_HIGH, LINT_MEDIUM = 0.05, 0.01

_NOT_CONFIGURED = "no benchmark files given: list them in [audit.cleaning] benchmarks = [\"FILE\", ...]"


# ------------------------------------------------------------------ options
def _table_of(config: Mapping[str, Any], step: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    opts = dict(config["audit"].get(step, {}) or {})
    bad = sorted(set(opts) - set(allowed))
    if bad:
        raise SchemaError(f"`[audit.{step}]` has unknown key(s) {bad}; allowed keys are {sorted(allowed)}.")
    return opts


def _benchmarks(value: Any) -> list[Any]:
    """The benchmark list of ``[audit.cleaning]``: paths (checked to exist) or, from Python, DataFrames."""
    items = [value] if isinstance(value, (str, Path, pd.DataFrame)) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise SchemaError(f"`[audit.cleaning] benchmarks` must list benchmark files (JSONL, CSV or Parquet); "
                          f"got {value!r}.")
    for item in items:
        if isinstance(item, pd.DataFrame):
            continue
        if not isinstance(item, (str, Path)):
            raise SchemaError(f"`[audit.cleaning] benchmarks` must list file paths; got {item!r}.")
        if not Path(item).is_file():
            raise SchemaError(f"`[audit.cleaning] benchmarks`: {str(item)!r} does not exist; give the path of a "
                              "local JSONL, CSV or Parquet file of benchmark prompts (nothing is downloaded).")
    return list(items)


def _options(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(lint kwargs, label_issues kwargs, contamination kwargs)`` from the config, validated."""
    lint_kw = _table_of(config, "readiness", LINT_KEYS)
    cleaning = _table_of(config, "cleaning", LABEL_KEYS + CONTAM_KEYS)
    label_kw = {k: v for k, v in cleaning.items() if k in LABEL_KEYS}
    contam_kw = {k: v for k, v in cleaning.items() if k in CONTAM_KEYS}
    scores = label_kw.get("scores")
    if not (scores is None or scores is False or isinstance(scores, str)
            or (isinstance(scores, (list, tuple)) and len(scores) == 2 and all(isinstance(s, str) for s in scores))):
        raise SchemaError(f"`[audit.cleaning] scores` must be a column stem (\"rm_score\"), two judgment columns "
                          f"[\"COL_A\", \"COL_B\"] or false (votes only); got {scores!r}.")
    if isinstance(scores, list):
        label_kw["scores"] = tuple(scores)
    if "benchmarks" in contam_kw:
        contam_kw["benchmarks"] = _benchmarks(contam_kw["benchmarks"])
    return lint_kw, label_kw, contam_kw


def score_stem(data: Any) -> str | None:
    """The reward-model score stem the judgments carry (``rm_score`` for ``rm_score_a``/``rm_score_b``), or None.

    A stem qualifies when both ``<stem>_a`` and ``<stem>_b`` are judgment
    columns and the stem ends in ``score``; ``rm_score`` is preferred, then
    the first in alphabetical order.
    """
    cols = set(columns(data))
    stems = sorted(c[:-2] for c in cols if c.endswith("_a") and c[:-2].lower().endswith("score")
                   and f"{c[:-2]}_b" in cols)
    if not stems:
        return None
    return "rm_score" if "rm_score" in stems else stems[0]


def readiness_applies(data: Any, config: Mapping[str, Any]) -> bool:
    """Whether the report gets the Training readiness and Suspect labels sections: whenever there are judgments.

    Data that cannot support a part (no texts, engine data for lint and
    contamination, no decisive votes) gets the section skipped with the reason.

    Also validates ``[audit.readiness]`` and ``[audit.cleaning]`` (a bad key or
    a missing benchmark file is a :class:`~prefqa.errors.SchemaError` of
    ``pq.audit`` itself, before any step runs).
    """
    _options(config)
    return data.n_judgments > 0


def _engine_reason(data: Any, what: str) -> str:
    return (f"not supported on engine data ({data.engine}) yet: {what} reads every text in memory; run it on "
            "pq.read(...) of the files (or of a sample of them)")


# ------------------------------------------------------------------ texts for examples
def _pair_texts(data: Any, ids: pd.DataFrame) -> pd.DataFrame:
    """``prompt``, ``response_1``, ``response_2`` (clipped) of a few comparisons, in canonical order.

    ``ids`` holds their ``prompt_id``, ``response_1_id`` and ``response_2_id`` (those present are used);
    the texts are fetched for these rows only (from memory or from the engine).
    """
    out = pd.DataFrame(index=range(len(ids)))
    if "prompt_id" in ids:
        out["prompt"] = prompt_texts(data, pd.Index(ids["prompt_id"].astype("str"))).to_numpy(dtype=object)
    for k in (1, 2):
        col = f"response_{k}_id"
        if col in ids:
            out[f"response_{k}"] = response_texts(data, ids[col].astype("str").tolist()).to_numpy(dtype=object)
    for col in out.columns:
        out[col] = [_clip(t) if isinstance(t, str) else None for t in out[col].to_numpy(dtype=object)]
    return out


def _comparison_ids(data: Any, comparison_ids: pd.Series) -> pd.DataFrame:
    """The prompt and canonical response ids of some comparisons of in-memory data."""
    comps = data.comparisons()
    comps = comps.set_index(comps["comparison_id"].astype("str"))
    return comps.reindex(pd.Index(comparison_ids.astype("str"))).reset_index(drop=True)


# ------------------------------------------------------------------ Training readiness
def readiness_step(data: Any, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Run ``pq.lint`` and describe it for the report (an audit adapter)."""
    from ..cleaning import lint
    from ..cleaning._lint import LINT_REASONS

    if is_scanned(data):
        raise InsufficientDataError(_engine_reason(data, "pq.lint"))
    lint_kw, _, _ = _options(config)
    res = lint(data, **lint_kw)
    p = res.problems
    n = res.n_comparisons
    n_aff = len(res.comparison_ids())
    per = p.groupby("reason_code", sort=False).agg(n_problems=("comparison_id", "size"),
                                                   n_comparisons=("comparison_id", "nunique"))
    per = per.reindex([k for k in LINT_REASONS if k in per.index])
    table = pd.DataFrame({"reason_code": per.index.astype("str"),
                          "n_problems": per["n_problems"].to_numpy(dtype=np.int64),
                          "n_comparisons": per["n_comparisons"].to_numpy(dtype=np.int64),
                          "share": per["n_comparisons"].to_numpy(dtype=np.float64) / max(n, 1),
                          "reason": [LINT_REASONS[k] for k in per.index]})
    first = p.drop_duplicates("reason_code")  # one example per reason code, in report order
    first = first.set_index("reason_code").reindex(per.index).reset_index()
    examples = first[["comparison_id", "reason_code", "field", "response_id", "reason"]].reset_index(drop=True)
    if len(examples):
        texts = _pair_texts(data, _comparison_ids(data, examples["comparison_id"]))
        examples = pd.concat([examples, texts], axis=1)
        examples["reason"] = [_clip(t) for t in examples["reason"]]
    section = {
        "summary": res.summary(),
        "values": {"n_comparisons": n, "n_problems": res.n_problems, "n_affected": n_aff,
                   "affected_share": n_aff / n if n else None, **res.settings},
        "counts": res.counts(),
        "table": frame_records(table),
        "n_rows": len(table),
        "examples": frame_records(examples),
        "tables": {},
        "warnings": list(res.warnings),
    }
    return jsonable(section), res


# ------------------------------------------------------------------ Suspect labels and contamination
def _label_part(data: Any, config: dict[str, Any], label_kw: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    from ..cleaning import label_issues

    kw = dict(label_kw)
    scores = kw.pop("scores", None)
    found = scores is None and score_stem(data) is not None
    if scores is None:
        scores = score_stem(data)
    elif scores is False:
        scores = None
    try:
        res = label_issues(data, scores=scores, rng=config["audit"]["rng"], **kw)
    except (InsufficientDataError, SchemaError) as exc:
        reason = str(exc)
        if is_scanned(data):
            reason = f"not supported on engine data ({data.engine}) yet: {reason}"
        return {"status": "skipped", "reason": reason}, None
    n_est = res.n_estimable
    part = {"status": "ok", "reason": None, "method": res.method, "scores": res.scores,
            "scores_arg": scores if isinstance(scores, str) else ",".join(scores) if scores else None,
            "scores_found": found,
            "consensus_method": res.consensus_method, "threshold": res.threshold,
            "cross_fit": res.cross_fit, "n_comparisons": res.n_comparisons, "n_estimable": n_est,
            "n_flagged": res.n_flagged, "flagged_share": res.n_flagged / n_est if n_est else None,
            "expected_wrong_share": res.flip_rate if n_est else None, "summary": res.summary(),
            "warnings": list(res.warnings)}
    if not n_est:
        reasons = res.table["reason"].astype("str")
        part["not_estimable"] = str(reasons[reasons != ""].iloc[0]) if (reasons != "").any() else \
            "p_label_wrong is defined for no comparison"
    return part, res


def _suspect_tables(data: Any, res: Any, config: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    t = res.table
    flagged = t[t["flagged"].to_numpy(dtype=bool)]
    flagged = flagged.sort_values("p_label_wrong", ascending=False, kind="stable")
    cols = [c for c in ("consensus", "p_label_wrong", "model_prefers", "votes_1", "votes_2", "votes_tie",
                        "score_diff", "prompt_id", "reason") if c in flagged]
    rows = flagged[cols].head(int(config["audit"]["max_table_rows"]))
    head = flagged.head(int(config["audit"]["max_examples"]))
    examples = head[[c for c in ("consensus", "p_label_wrong", "votes_1", "votes_2", "votes_tie", "model_prefers")
                     if c in head]].reset_index()
    if len(examples) and getattr(data, "has_texts", False):  # the label table names the prompt and responses
        examples = pd.concat([examples, _pair_texts(data, head.reset_index(drop=True))], axis=1)
    return rows, examples


def _contam_part(data: Any, contam_kw: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    from ..cleaning import contamination

    kw = dict(contam_kw)
    benchmarks = kw.pop("benchmarks", None)
    if not benchmarks:
        return {"status": "skipped", "reason": _NOT_CONFIGURED}, None
    if is_scanned(data):
        return {"status": "skipped", "reason": _engine_reason(data, "pq.contamination")}, None
    try:
        res = contamination(data, benchmarks, **kw)
    except (InsufficientDataError, SchemaError) as exc:
        return {"status": "skipped", "reason": str(exc)}, None
    comps = data.comparisons()
    n_cmp = len(comps)
    hit = comps["prompt_id"].astype("str").isin(list(res.prompt_ids)).to_numpy() if "prompt_id" in comps else \
        np.zeros(n_cmp, dtype=bool)
    kinds = res.matches["kind"].value_counts()
    part = {"status": "ok", "reason": None, "n_prompts": res.n_prompts, "n_flagged": res.n_flagged,
            "share": res.share if res.n_prompts else None, "n_comparisons": n_cmp,
            "n_comparisons_affected": int(hit.sum()), "comparison_share": float(hit.mean()) if n_cmp else None,
            "kinds": {str(k): int(v) for k, v in kinds.items()},
            "benchmarks": [{"name": str(b[0]), "n_rows": int(b[1]), "text_column": str(b[2])} for b in res.benchmarks],
            "paths": [str(b) for b in benchmarks if isinstance(b, (str, Path))] if all(
                isinstance(b, (str, Path)) for b in benchmarks) else None,
            "settings": dict(res.settings), "summary": res.summary(), "warnings": list(res.warnings)}
    return part, res


def cleaning_step(data: Any, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Run ``pq.label_issues`` (and ``pq.contamination`` with benchmarks) and describe them (an audit adapter)."""
    _, label_kw, contam_kw = _options(config)
    labels, li = _label_part(data, config, label_kw)
    contam, cr = _contam_part(data, contam_kw)
    if li is None and cr is None:
        raise InsufficientDataError(f"suspect labels: {str(labels['reason']).rstrip('.')}; "
                                    f"contamination: {contam['reason']}")
    rows = []
    tables: dict[str, Any] = {}
    examples = pd.DataFrame()
    if li is not None:
        rows.append({"check": "suspect labels", "status": "ok", "n_flagged": labels["n_flagged"],
                     "n_checked": labels["n_estimable"], "share": labels["flagged_share"],
                     "detail": f"p_label_wrong > {li.threshold:g} by {li.method} from "
                               + (f"votes and scores ({li.scores})" if li.scores else "votes only")
                               + (f"; expected share of wrong labels {_pct(li.flip_rate)}"
                                  if labels["n_estimable"] else "")})
        suspect, examples = _suspect_tables(data, li, config)
        tables["suspect_labels"] = {"n_rows": labels["n_flagged"], "rows": frame_records(suspect)}
    else:
        rows.append({"check": "suspect labels", "status": "skipped", "detail": labels["reason"]})
    if cr is not None:
        rows.append({"check": "contaminated prompts", "status": "ok", "n_flagged": contam["n_flagged"],
                     "n_checked": contam["n_prompts"], "share": contam["share"],
                     "detail": f"{contam['n_comparisons_affected']:,} of {contam['n_comparisons']:,} comparisons; "
                               + ", ".join(f"{v:,} {k}" for k, v in contam["kinds"].items())})
        m = cr.matches.copy()
        for col in ("prompt", "benchmark_text"):
            m[col] = [_clip(t) for t in m[col]]
        tables["contaminated_prompts"] = {"n_rows": len(m),
                                          "rows": frame_records(m, max_rows=int(config["audit"]["max_table_rows"]))}
    else:
        rows.append({"check": "contaminated prompts", "status": "skipped", "detail": contam["reason"]})
    summary = [part["summary"] if part["status"] == "ok" else f"{name}: not run ({part['reason']})"
               for name, part in (("Suspect labels", labels), ("Contamination", contam))]
    section = {
        "summary": "\n".join(summary),
        "values": {},
        "label_issues": {k: v for k, v in labels.items() if k != "summary"},
        "contamination": {k: v for k, v in contam.items() if k != "summary"},
        "table": frame_records(pd.DataFrame(rows)),
        "n_rows": len(rows),
        "tables": tables,
        "examples": frame_records(examples),
        "warnings": list(labels.get("warnings", [])) + list(contam.get("warnings", [])),
    }
    hist = _p_wrong_histogram(li)
    if hist is not None:
        section["distribution"] = hist
    return jsonable(section), {"label_issues": li, "contamination": cr}


def _p_wrong_histogram(res: Any) -> dict[str, Any] | None:
    """Counts of ``p_label_wrong`` in 20 bins of [0, 1] (presentation only: a binned column of the result)."""
    if res is None:
        return None
    p = res.table["p_label_wrong"].to_numpy(dtype=np.float64, na_value=np.nan)
    p = p[np.isfinite(p)]
    if not len(p):
        return None
    counts, edges = np.histogram(p, bins=20, range=(0.0, 1.0))
    return {"column": "p_label_wrong", "counts": counts.tolist(), "edges": edges.tolist(),
            "threshold": float(res.threshold)}


READINESS = Step("readiness", "Training readiness", readiness_step, ("pairs", "texts"))
CLEANING = Step("cleaning", "Suspect labels and contamination", cleaning_step, ("pairs",))
#: Both steps, in run order (before the pair-building preview).
READINESS_STEPS: tuple[Step, ...] = (READINESS, CLEANING)


# ------------------------------------------------------------------ plots
def plot_readiness(section: dict[str, Any]) -> str | None:
    """Comparisons with each training-readiness problem (from the section's table)."""
    from ._plots import _BASE, _FLAG, _label, svg_of

    rows = (section.get("result") or {}).get("table") or []
    if not rows:
        return None
    labels = [_label(r["reason_code"], 28) for r in rows]
    values = [int(r["n_comparisons"]) for r in rows]

    def draw(ax: Any) -> None:
        y = np.arange(len(rows))
        ax.barh(y, values, color=_FLAG if sum(values) else _BASE)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlabel("comparisons")
        ax.set_title("Training-readiness problems by reason")

    return svg_of(draw, height=min(max(2.0, 0.32 * len(rows) + 1.2), 8.0))


def plot_cleaning(section: dict[str, Any]) -> str | None:
    """Histogram of ``p_label_wrong`` with the flagging threshold."""
    from ._plots import _BASE, _FLAG, svg_of

    dist = (section.get("result") or {}).get("distribution")
    if not dist or not dist.get("counts"):
        return None

    def draw(ax: Any) -> None:
        edges = np.array(dist["edges"], dtype=float)
        ax.bar(edges[:-1], dist["counts"], width=np.diff(edges), align="edge", color=_BASE, edgecolor="white")
        ax.axvline(dist["threshold"], color=_FLAG, lw=1, ls="--", label=f"threshold {dist['threshold']:g}")
        ax.set_xlabel("p_label_wrong (posterior probability that the consensus picked the worse response)")
        ax.set_ylabel("comparisons")
        ax.set_title("Suspect labels: distribution of p_label_wrong")
        ax.legend(loc="best", frameon=False)

    return svg_of(draw)


# ------------------------------------------------------------------ findings
def _severity(share: float, high: float, medium: float) -> str:
    return "high" if share >= high else "medium" if share >= medium else "low"


def _lint_findings(content: dict[str, Any]) -> list[dict[str, Any]]:
    s = content["sections"].get("readiness")
    if not s or s["status"] != "ok":
        return []
    v = s["result"]["values"]
    n, n_aff = v["n_comparisons"], v["n_affected"]
    checks = "" if v.get("max_tokens") is None else f", truncation to {v['max_tokens']:,} tokens included"
    if not n_aff:
        return [_finding("info", "training_ready", f"No training-readiness problem in {n:,} comparisons (structure, "
                         f"empty or identical responses, duplicates labelled both ways, repeated prompts, control "
                         f"characters and mojibake{checks}).", value=0, step="readiness")]
    counts = s["result"]["counts"]
    top = ", ".join(f"{k:,} {code}" for code, k in list(counts.items())[:4]) + (", ..." if len(counts) > 4 else "")
    command = None
    if v.get("max_tokens") is not None and "truncation_identical" in counts and isinstance(v.get("tokenizer"), str):
        command = (f"prefqa export {_data_arg(content)} --to dpo --out pairs.jsonl --guards "
                   f"empty,identical,duplicate,truncation --max-tokens {v['max_tokens']} "
                   f"--tokenizer {shlex.quote(v['tokenizer'])}")
    share = n_aff / max(n, 1)
    return [_finding(_severity(share, LINT_HIGH, LINT_MEDIUM), "training_readiness",
                     f"{n_aff:,} of {n:,} comparisons ({_pct(share)}) are not ready for training ({top}); fix the "
                     "source texts, or drop them from the export (see the Training readiness section's examples).",
                     command, value=share, step="readiness")]


def _label_findings(content: dict[str, Any], part: dict[str, Any]) -> list[dict[str, Any]]:
    if part.get("status") != "ok":
        return [_finding("info", "suspect_labels_skipped", f"Suspect labels not checked: {part['reason']}"
                         + ("" if str(part["reason"]).endswith(".") else "."), step="cleaning")]
    src = f"votes and scores ({part['scores']})" if part["scores"] else "votes only"
    if not part["n_estimable"]:
        return [_finding("info", "suspect_labels_not_estimable",
                         f"Suspect labels not estimable from {src}: {part.get('not_estimable')}.", step="cleaning")]
    n_f, n_e, share = part["n_flagged"], part["n_estimable"], part["flagged_share"]
    wrong = _pct(part["expected_wrong_share"])
    if not n_f:
        return [_finding("info", "suspect_labels_none", f"No label is suspect (p_label_wrong > {part['threshold']:g}) "
                         f"among {n_e:,} comparisons by {part['method']} from {src}; the expected share of wrong "
                         f"labels is {wrong}.", value=0.0, step="cleaning")]
    scores = f" --scores {shlex.quote(part['scores_arg'])}" if part.get("scores_arg") else ""
    return [_finding(_severity(share, SUSPECT_HIGH, SUSPECT_MEDIUM), "suspect_labels",
                     f"{n_f:,} of {n_e:,} labels ({_pct(share)}) are suspect: p_label_wrong > {part['threshold']:g} "
                     f"by {part['method']} from {src}; the expected share of wrong labels is {wrong}. Send them "
                     "to be relabelled, or drop them from the export (prefqa export --suspect-labels FILE).",
                     f"prefqa relabel {_data_arg(content)} --budget {n_f}{scores} --out queue.csv",
                     value=share, step="cleaning")]


def _contam_findings(content: dict[str, Any], part: dict[str, Any]) -> list[dict[str, Any]]:
    if part.get("status") != "ok":
        if part.get("reason") == _NOT_CONFIGURED:
            return []
        return [_finding("info", "contamination_skipped", f"Contamination not checked: {part['reason']}"
                         + ("" if str(part["reason"]).endswith(".") else "."), step="cleaning")]
    names = ", ".join(b["name"] for b in part["benchmarks"])
    n_bench = sum(b["n_rows"] for b in part["benchmarks"])
    if not part["n_flagged"]:
        return [_finding("info", "contamination_none", f"No prompt of {part['n_prompts']:,} overlaps the "
                         f"{n_bench:,} benchmark prompts of {names}.", value=0.0, step="cleaning")]
    share = part["share"] or 0.0
    kinds = ", ".join(f"{v:,} {k}" for k, v in part["kinds"].items())
    command = None
    if part.get("paths"):
        command = (f"prefqa export {_data_arg(content)} --to dpo --out pairs.jsonl --benchmarks "
                   + " ".join(shlex.quote(p) for p in part["paths"]))
    return [_finding("high" if share >= CONTAMINATED_HIGH else "medium", "contaminated_prompts",
                     f"{part['n_flagged']:,} of {part['n_prompts']:,} prompts ({_pct(share)}) overlap benchmark "
                     f"prompts of {names} ({kinds}), in {part['n_comparisons_affected']:,} comparisons; drop them "
                     "before training, or scores on those benchmarks are inflated.", command, value=share,
                     step="cleaning")]


def readiness_findings(content: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """Report findings of the Training readiness and Suspect labels sections."""
    out = _lint_findings(content)
    s = content["sections"].get("cleaning")
    if s and s["status"] == "ok":
        r = s["result"]
        out += _label_findings(content, r["label_issues"]) + _contam_findings(content, r["contamination"])
    return out
