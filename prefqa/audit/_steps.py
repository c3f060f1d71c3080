"""Audit steps: one small adapter per analysis (public API call -> JSON-able dict).

Every adapter calls ``prefqa``'s public API and copies what the result
already holds (``to_frame()``, ``summary()``, counts, warnings, tables) into
a dict. Histograms and counts made here are presentation only (binning a
column the API returned); no statistic is computed in the audit.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..engine import is_scanned
from ..errors import InsufficientDataError, PrefqaWarning
from ..schema import PreferenceData
from ._engine import prompt_texts, response_texts, subsample_prompts
from ._json import frame_records, jsonable
from ._run import Step

__all__ = ["DRIFT", "STEPS", "describe", "drift_applies", "pick", "prompt_subsample", "result_warnings"]

STYLE_COVARIATES = ("length", "headers", "lists", "bold")
_TEXT_CHARS = 400


_API = {  # public analysis function -> module path (imported on first use, one by one)
    "annotator_table": "..annotators", "judge_report": "..annotators", "length_bias": "..bias",
    "position_bias": "..bias", "style_bias": "..bias", "consensus": "..consensus",
    "fit_bradley_terry": "..models.bradley_terry", "fit_preference_model": "..models.mixed",
    "build_pairs": "..pairs", "flag_prompts": "..prompts", "agreement": "..reliability",
    "simpson_check": "..simpson", "icc": "..reliability", "fit_rating_model": "..models.mixed",
}


class _LazyApi:
    """The public analysis functions, each imported when a step first uses it.

    Importing one at a time keeps a module that fails to import from failing
    every other step: only the steps that call it are recorded as failed.
    """

    def __getattr__(self, name: str) -> Any:
        import importlib

        if name not in _API:
            raise AttributeError(name)
        return getattr(importlib.import_module(_API[name], __package__), name)


def _api() -> Any:
    """The public analysis functions (see :class:`_LazyApi`)."""
    return _LazyApi()


def _opts(config: dict[str, Any], step: str) -> dict[str, Any]:
    return dict(config["audit"].get(step, {}))


def _common(config: dict[str, Any]) -> dict[str, Any]:
    a = config["audit"]
    return {"n_resamples": a["n_resamples"], "confidence_level": a["confidence_level"], "rng": a["rng"]}


def pick(frame: pd.DataFrame, *candidates: str) -> str | None:
    """Return the first of ``candidates`` that is a column of ``frame``."""
    return next((c for c in candidates if c in frame.columns), None)


def _subsample_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "fitted on a subsample: " + ", ".join(f"{k} = {v}" for k, v in value.items())
    return "part of this result was computed on a subsample of the data"


def result_warnings(result: Any) -> list[str]:
    """Every warning and approximation note a result carries, as plain strings.

    Collects ``result.warnings``, a truthy ``result.subsampled`` (a note, a
    dict of counts or True), ``result.skipped`` (parts not computed, with
    their reasons) and ``attrs["warnings"]`` of a DataFrame result or of any
    DataFrame field (``flag_prompts``, ``annotator_table``,
    ``position_bias(...).annotators``).
    """
    msgs: list[str] = []

    def frame_warnings(frame: Any) -> None:
        if isinstance(frame, (pd.DataFrame, pd.Series)):
            msgs.extend(str(w) for w in frame.attrs.get("warnings", ()) or ())

    if isinstance(result, (pd.DataFrame, pd.Series)):
        frame_warnings(result)
    else:
        msgs.extend(str(w) for w in getattr(result, "warnings", ()) or ())
        sub = getattr(result, "subsampled", None)
        if sub is not None and sub is not False and not (isinstance(sub, (str, dict, tuple, list)) and not sub):
            msgs.append(_subsample_text(sub))
        skipped = getattr(result, "skipped", ()) or ()
        if isinstance(skipped, (tuple, list)):
            msgs.extend(f"not computed: {x}" for x in skipped if isinstance(x, str))
        if dataclasses.is_dataclass(result):
            for f in dataclasses.fields(result):
                frame_warnings(getattr(result, f.name))
    return list(dict.fromkeys(msgs))


def describe(result: Any, *, max_rows: int) -> dict[str, Any]:
    """Copy a result object's summary, scalar fields, warnings and tables into a dict."""
    out: dict[str, Any] = {"summary": None, "values": {}, "tables": {}, "warnings": result_warnings(result)}
    if isinstance(result, pd.DataFrame):
        out["table"] = frame_records(result, max_rows=max_rows)
        out["n_rows"] = len(result)
        return out
    if hasattr(result, "summary"):
        out["summary"] = str(result.summary())
    if dataclasses.is_dataclass(result):
        for f in dataclasses.fields(result):
            value = getattr(result, f.name)
            if f.name == "warnings":
                continue
            if isinstance(value, (pd.DataFrame, pd.Series)):
                frame = value.to_frame() if isinstance(value, pd.Series) else value
                out["tables"][f.name] = {"n_rows": len(frame),
                                         "rows": frame_records(frame, max_rows=max_rows)}
            elif _is_scalarish(value):
                out["values"][f.name] = jsonable(value)
    if hasattr(result, "to_frame"):
        frame = result.to_frame()
        out["table"] = frame_records(frame, max_rows=max_rows)
        out["n_rows"] = len(frame)
    return out


def _is_scalarish(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return True
    if isinstance(value, tuple) and len(value) <= 16:
        return all(v is None or isinstance(v, (bool, int, float, str, np.generic)) for v in value)
    return False


def _max_rows(config: dict[str, Any]) -> int:
    return int(config["audit"]["max_table_rows"])


def _clip(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    return text if len(text) <= _TEXT_CHARS else text[:_TEXT_CHARS] + "..."


# ------------------------------------------------------------------ adapters
def _load_report(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    lr = data.load_report
    if lr is None:
        if is_scanned(data):
            raise InsufficientDataError("this engine scan carries no load report (pq.scan of a table or frame, "
                                        "not of files)")
        raise InsufficientDataError("the data was built in memory, not read from a file, so there is no load report")
    rejected = lr.rejected
    reasons = rejected["reason"].value_counts() if len(rejected) else pd.Series(dtype="int64")
    cells = lr.rejected_values
    cell_reasons = (cells.groupby(["column", "value"], dropna=False).size().sort_values(ascending=False)
                    if len(cells) else pd.Series(dtype="int64"))
    section = {
        "summary": lr.summary(),
        "values": lr.to_frame().iloc[0].to_dict(),
        "notes": list(lr.notes),
        "rejected": frame_records(rejected, max_rows=_max_rows(config)),
        "rejected_reasons": [{"reason": str(k), "n": int(v)} for k, v in reasons.items()],
        # cells rejected inside rows that were used (an LLM judge answering "garbage")
        "rejected_values": frame_records(cells, max_rows=_max_rows(config)),
        "rejected_value_counts": [{"column": str(c), "value": str(v), "n": int(n)}
                                  for (c, v), n in cell_reasons.items()],
    }
    return section, lr


def _reliability(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    pq = _api()
    kwargs = {**_common(config), "by": config["audit"]["by"], **_opts(config, "reliability")}
    res = pq.agreement(data, **kwargs)
    return describe(res, max_rows=_max_rows(config)), res


def _annotators(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    pq = _api()
    table = pq.annotator_table(data, **_opts(config, "annotators"))
    flag = pick(table, "flagged")
    ordered = table.sort_values(flag, ascending=False, kind="stable") if flag else table
    section = describe(ordered, max_rows=_max_rows(config))
    section["warnings"] = result_warnings(table)
    section["n_annotators"] = len(table)
    section["n_flagged"] = int(table[flag].sum()) if flag else 0
    section["columns"] = [str(c) for c in table.columns]
    section["scatter"] = _scatter(table)
    section["attrs"] = jsonable({k: v for k, v in table.attrs.items()})
    return section, table


def _scatter(table: pd.DataFrame) -> dict[str, Any] | None:
    x = pick(table, "loo_agreement", "agreement", "loo_kappa")
    y = pick(table, "p_a", "share_a", "first_rate", "p_first")
    n = pick(table, "n_judgments", "n")
    if x is None or y is None:
        return None
    flag = table["flagged"] if "flagged" in table else pd.Series(False, index=table.index)
    return {"x": x, "y": y, "size": n, "points": frame_records(pd.DataFrame({
        "annotator_id": table.index.astype(str), "x": table[x].to_numpy(dtype=float, na_value=np.nan),
        "y": table[y].to_numpy(dtype=float, na_value=np.nan),
        "n": table[n].to_numpy(dtype=float, na_value=np.nan) if n else np.ones(len(table)),
        "flagged": flag.fillna(False).to_numpy(dtype=bool)}))}


def _plain(api_name: str, step: str, *, row_limit: int | None = None,
           **fixed: Any) -> Any:
    """An adapter that calls ``pq.<api_name>(data, **fixed, **[audit.<step>])`` and describes the result."""

    def adapter(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
        res = getattr(_api(), api_name)(data, **{**fixed, **_opts(config, step)})
        rows = _max_rows(config) if row_limit is None else min(_max_rows(config), row_limit)
        return describe(res, max_rows=rows), res

    return adapter


_judge = _plain("judge_report", "judge")
_consensus = _plain("consensus", "consensus", row_limit=20)
_bradley_terry = _plain("fit_bradley_terry", "bradley_terry")
_bradley_terry_style = _plain("fit_bradley_terry", "bradley_terry_style", covariates=STYLE_COVARIATES)
_style_bias = _plain("style_bias", "style_bias")
_rating_model = _plain("fit_rating_model", "rating_model")

#: The annotator table's columns for each per-annotator test shown in a bias section.
PER_ANNOTATOR_COLUMNS: dict[str, tuple[str, ...]] = {
    "position_bias": ("n_judgments", "n_position", "p_a", "p_a_ci_low", "p_a_ci_high", "position_logit",
                      "position_logit_se", "p_position", "q_position", "n_both_orders", "n_inconsistent",
                      "self_consistency", "p_consistency", "q_consistency"),
    "length_bias": ("n_judgments", "n_length", "length_slope", "length_slope_se", "p_length", "q_length"),
}


def _per_annotator(section: dict[str, Any], step: str, config: dict[str, Any], done: dict[str, Any]) -> None:
    """Show the annotator table's columns for this step's per-annotator tests (one set of numbers per report).

    The bias functions' own ``annotators`` tables read the same implementation;
    the report shows the annotator table's copy so that every section of it
    agrees on every flag, whatever the step options. Without an annotator
    table (step skipped or failed) the bias function's own table stays.
    """
    table = done.get("annotators")
    if not isinstance(table, pd.DataFrame) or not len(table):
        return
    fdr = float(table.attrs.get("fdr", 0.05))
    cols = [c for c in PER_ANNOTATOR_COLUMNS[step] if c in table]
    tests = [c[2:] for c in cols if c.startswith("q_")]
    frame = table[cols].copy()
    for t in tests:
        frame[f"flagged_{t}"] = np.nan_to_num(frame[f"q_{t}"].to_numpy(dtype=float), nan=1.0) < fdr
    frame = frame[frame["n_judgments"] > 0]
    section["tables"]["annotators"] = {"n_rows": len(frame), "source": "annotator_table",
                                       "rows": frame_records(frame, max_rows=_max_rows(config))}


def _position_bias(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    res = _api().position_bias(data, **_opts(config, "position_bias"))
    section = describe(res, max_rows=_max_rows(config))
    _per_annotator(section, "position_bias", config, done)
    return section, res


def _icc(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    """``pq.icc(data)`` on the ratings (responses as units, annotators as raters; ``[audit.icc]`` options).

    With several aspects and no ``[audit.icc] aspect``, ``pq.icc`` refuses (an ICC mixes no aspects)
    and the step is skipped with its message.
    """
    opts = {**_common(config), **_opts(config, "icc")}
    res = _api().icc(data, **opts)
    return describe(res, max_rows=_max_rows(config)), res


def prompt_subsample(data: PreferenceData, max_judgments: int, rng: Any) -> np.ndarray | None:
    """Return a judgment mask over whole prompts with at most ``max_judgments`` rows (None: use all).

    The prompts are those of :func:`prefqa.audit._engine.subsample_prompts`
    (a seeded hash of the prompt ids, the same rule in memory and in every
    engine), so every kept prompt keeps all its judgments and the annotator x
    prompt crossing stays intact.
    """
    return _mask(data, subsample_prompts(data, max_judgments, rng))


def _mask(data: PreferenceData, ids: np.ndarray | None) -> np.ndarray | None:
    """Judgments whose prompt id is in ``ids`` (a hash lookup per distinct prompt, then one take)."""
    if ids is None:
        return None
    codes, labels = data.codes("prompt_id")
    chosen = pd.Index(labels.astype("str")).isin(pd.Index(ids)).astype(bool)
    return (codes >= 0) & chosen[np.maximum(codes, 0)]


def _subsample(data: Any, max_judgments: int, rng: Any) -> tuple[PreferenceData, dict[str, int] | None]:
    """The data the crossed preference model is fitted on, in memory, and the subsample's counts."""
    ids = subsample_prompts(data, max_judgments, rng)
    if not is_scanned(data):
        mask = _mask(data, ids)
        if mask is None or ids is None:
            return data, None
        return _restricted(data.subset(mask)), {"n_judgments": int(mask.sum()), "n_prompts": len(ids)}
    if ids is None:
        return data.collect(), None
    name = data.backend.temp_name("audit_prompts")
    data.backend.register(name, pd.DataFrame({"prompt_id": pd.Series(ids, dtype="str")}))
    try:
        used = data.collect(where=f"prompt_id IN (SELECT prompt_id FROM {name})")
    finally:
        data.backend.drop(name)
    return used, {"n_judgments": used.n_judgments, "n_prompts": len(ids)}


def _restricted(sub: PreferenceData) -> PreferenceData:
    """``sub`` with only the responses and prompts its judgments name (as ``ScannedData.collect`` pulls them).

    ``PreferenceData.subset`` keeps the texts whole; the model's per-response
    features would then be computed for every response of the full data (the
    features are per text, so the fit is the same).
    """
    j = sub.judgments
    responses, prompts = sub.responses, sub.prompts
    if len(responses) and "response_a_id" in j:
        used = pd.Index(pd.concat([j["response_a_id"], j["response_b_id"]]).dropna().astype("str").unique())
        responses = responses[pd.Index(responses["response_id"].astype("str")).isin(used)].reset_index(drop=True)
    if len(prompts) and "prompt_id" in j:
        used_p = pd.Index(j["prompt_id"].dropna().astype("str").unique())
        prompts = prompts[pd.Index(prompts["prompt_id"].astype("str")).isin(used_p)].reset_index(drop=True)
    return PreferenceData(j, responses=responses, prompts=prompts, ratings=sub.ratings, order_known=sub.order_known,
                          load_report=sub.load_report, meta=sub.meta)


def _preference_model(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    pq = _api()
    a = config["audit"]
    cap = int(a["preference_model_max_judgments"])
    used, counts = _subsample(data, cap, a["rng"])
    res = pq.fit_preference_model(used, **_opts(config, "preference_model"))
    section = describe(res, max_rows=_max_rows(config))
    section["subsample"] = None
    if counts is not None:
        n_used, n_prompts = counts["n_judgments"], counts["n_prompts"]
        section["subsample"] = {
            "n_judgments": n_used, "n_judgments_total": data.n_judgments,
            "n_prompts": n_prompts, "n_prompts_total": data.n_prompts,
            "max_judgments": cap, "rng": jsonable(a["rng"]),
            "rule": "whole prompts in the order of md5('<seed>:<prompt_id>') while the judgment count fits",
        }
        where = " pulled into memory from the engine" if is_scanned(data) else ""
        warnings.warn(
            f"the crossed preference model was fitted on a seeded hash subsample of whole prompts{where}: "
            f"{n_used:,} of {data.n_judgments:,} judgments ({n_prompts:,} of {data.n_prompts:,} "
            f"prompts), because the data has more than [audit] preference_model_max_judgments = "
            f"{cap:,} judgments; set it to 0 to fit all.",
            PrefqaWarning, stacklevel=2)
    return section, res


def _length_bias(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    pq = _api()
    res = pq.length_bias(data, **{"confidence_level": config["audit"]["confidence_level"],
                                  **_opts(config, "length_bias")})
    section = describe(res, max_rows=_max_rows(config))
    _per_annotator(section, "length_bias", config, done)
    buckets = section["tables"].get("buckets")
    if buckets and buckets["rows"]:
        section["curve"] = {"x": "bucket", "y": "estimate", "low": "ci_low", "high": "ci_high",
                            "rows": buckets["rows"]}
    return section, res


def _prompts(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    pq = _api()
    table = pq.flag_prompts(data, **_opts(config, "prompts"))
    flag = pick(table, "flagged")
    flagged = table[table[flag].fillna(False).astype(bool)] if flag else table.iloc[:0]
    shown = flagged.head(_max_rows(config)).copy()
    texts = prompt_texts(data, shown.index)
    if len(texts):
        shown["prompt"] = [_clip(t) for t in texts.to_numpy(dtype=object)]
    section = describe(shown, max_rows=_max_rows(config))
    section["warnings"] = result_warnings(table)
    section["n_prompts"] = len(table)
    section["n_flagged"] = len(flagged)
    section["columns"] = [str(c) for c in table.columns]
    if flag and "kind" in table:
        section["kinds"] = {str(k): int(v) for k, v in flagged["kind"].value_counts().items()}
    dcol = pick(table, "disagreement", "vote_entropy", "entropy", "split_rate", "dispersion",
                "minority_share", "split")
    if dcol is not None:
        values = table[dcol].to_numpy(dtype=float, na_value=np.nan)
        values = values[np.isfinite(values)]
        counts, edges = np.histogram(values, bins=20) if len(values) else (np.zeros(0), np.zeros(0))
        section["distribution"] = {"column": dcol, "counts": counts.tolist(), "edges": edges.tolist()}
    return section, table


def _simpson(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    pq = _api()
    kwargs = {"by": config["audit"]["by"], **_opts(config, "simpson")}
    res = pq.simpson_check(data, **kwargs)
    return describe(res, max_rows=_max_rows(config)), res


def _pairs(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    pq = _api()
    ps = pq.build_pairs(data, **config["pairs"])
    section = describe(ps, max_rows=_max_rows(config))
    for name in ("pairs", "dropped"):  # examples only; the full tables can be large
        section["tables"].pop(name, None)
    pairs = getattr(ps, "pairs", None)
    dropped = getattr(ps, "dropped", None)
    section["n_kept"] = len(pairs) if pairs is not None else None
    section["n_dropped"] = len(dropped) if dropped is not None else None
    reason = pick(dropped, "reason_code", "reason") if isinstance(dropped, pd.DataFrame) else None
    counts = dropped[reason].value_counts() if reason and dropped is not None else pd.Series(dtype="int64")
    section["drop_reasons"] = [{"reason": str(k), "n": int(v)} for k, v in counts.items()]
    if isinstance(pairs, pd.DataFrame) and len(pairs):
        head = pairs.head(int(config["audit"]["max_examples"]))
        if "chosen" not in pairs and "chosen_id" in pairs:  # engine data: texts stay there; fetch the few shown
            head = head.assign(chosen=response_texts(data, list(head["chosen_id"])).to_numpy(dtype=object),
                               rejected=response_texts(data, list(head["rejected_id"])).to_numpy(dtype=object),
                               prompt=prompt_texts(data, pd.Index(head["prompt_id"])).to_numpy(dtype=object))
        cols = [c for c in ("comparison_id", "prompt", "chosen", "rejected", "agreement") if c in head]
        ex = head[cols].copy()
        for c in ("prompt", "chosen", "rejected"):
            if c in ex:
                ex[c] = [_clip(t) if isinstance(t, str) else _clip(str(t)) for t in ex[c]]
        section["examples"] = frame_records(ex)
    return section, ps


def _drift(data: Any, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict, Any]:
    """The Drift section (``prefqa.audit._drift``, which reads ``pq.drift`` only)."""
    from ._drift import drift_step

    return drift_step(data, config, done)


def drift_applies(data: Any, config: dict[str, Any]) -> bool:
    """The Drift section runs when the judgments carry ``timestamp`` or ``batch``, or ``[audit.drift]`` names one.

    Without such a column the section is left out of the report (rather than
    listed as skipped), so reports of data without time keep their sections.
    """
    opts = dict(config["audit"].get("drift", {}))
    if opts.get("time") is not None or opts.get("window") is not None:
        return True
    cols = list(data.columns) if is_scanned(data) else [str(c) for c in data.judgments.columns]
    if not is_scanned(data) and data.ratings is not None:
        cols += [str(c) for c in data.ratings.columns]
    return "timestamp" in cols or "batch" in cols


DRIFT = Step("drift", "Drift", _drift)

STEPS: tuple[Step, ...] = (
    Step("load_report", "Load report", _load_report),
    Step("reliability", "Reliability", _reliability, ("two_annotators", "multi_judged")),
    Step("icc", "Rating reliability (ICC)", _icc, ("ratings", "two_annotators")),
    Step("annotators", "Annotator table", _annotators, ("annotators",)),
    Step("judge", "LLM-judge report", _judge, ("pairs", "judgment_annotators", "judges")),
    Step("consensus", "Consensus", _consensus, ("pairs", "judgment_annotators")),
    Step("bradley_terry", "Bradley-Terry leaderboard", _bradley_terry, ("pairs", "models")),
    Step("bradley_terry_style", "Style-controlled leaderboard", _bradley_terry_style, ("pairs", "models", "texts")),
    Step("preference_model", "Crossed preference model", _preference_model,
         ("pairs", "judgment_annotators", "prompts")),
    Step("rating_model", "Crossed rating model", _rating_model, ("ratings", "annotators")),
    Step("length_bias", "Length bias", _length_bias, ("pairs", "texts")),
    Step("position_bias", "Position bias", _position_bias, ("pairs", "order")),
    Step("style_bias", "Style bias", _style_bias, ("pairs", "texts")),
    Step("prompts", "Flagged prompts", _prompts, ("pairs", "prompts")),
    Step("simpson", "Simpson check", _simpson, ("pairs", "by")),
    Step("pairs", "Pair-building preview", _pairs, ("pairs",)),
)
