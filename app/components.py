"""Plain functions behind the app's widgets: no Streamlit here, so tests call them directly.

The app holds no statistics. These helpers only move bytes in and out of
``prefqa``'s public API (upload bytes -> :class:`prefqa.PreferenceData`,
a :class:`prefqa.PairSet` -> download bytes), translate widget values into
keyword arguments, and reshape result tables for display (filtering,
joining texts, making a matrix long for a heatmap).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib
import io
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import prefqa as pq

#: File types the upload widget accepts; the suffix tells ``pq.read`` how to parse the bytes
#: (``.xlsx`` needs openpyxl, from prefqa's ``app`` extra; without it ``pq.read`` says so).
UPLOAD_SUFFIXES: tuple[str, ...] = (".jsonl.gz", ".csv", ".jsonl", ".json", ".parquet", ".xlsx")


def _read_formats() -> dict[str, str]:
    """The formats ``pq.read`` knows and a line on each, from the io reader registry (one place to add a reader)."""
    io_mod = importlib.import_module("prefqa.io")  # the registry's home (not re-exported by prefqa)
    listing = getattr(io_mod, "reader_formats", None)
    if callable(listing):
        return {str(f.name): f"{f.description} (needs {f.signature})" for f in listing()}
    return {str(f): "" for f in io_mod.FORMATS}


#: Reader format -> description and the columns its detection needs (from ``prefqa.io.reader_formats()``).
READ_FORMAT_HELP: dict[str, str] = _read_formats()
#: The formats ``pq.read`` knows (read from the library, so a new reader appears in the selector).
READ_FORMATS: tuple[str, ...] = tuple(READ_FORMAT_HELP)
#: The export formats ``pq.export`` writes.
EXPORT_FORMATS: tuple[str, ...] = ("dpo", "reward", "kto", "prompts", "openai")
#: Canonical judgment columns offered by the column-mapping form (DESIGN.md section 1).
CANONICAL_COLUMNS: tuple[str, ...] = (
    "comparison_id", "annotator_id", "choice", "prompt_id", "prompt", "response_a", "response_b",
    "response_a_id", "response_b_id", "model_a", "model_b", "strength", "seconds", "timestamp",
    "chosen", "rejected",
)
#: The app's audit settings: fewer bootstrap resamples than the CLI (200); the crossed mixed
#: model is left to ``prefqa audit`` (it dominates the run time and no page needs it); the pair
#: preview is skipped because the Export page builds pairs with the user's policy anyway.
#: Per-stratum reliability is computed on the Reliability page only (``pq.agreement(by=...)``).
#: The ICC bootstrap (incomplete designs) gets the app's resamples too.
APP_AUDIT: dict[str, Any] = {
    "n_resamples": 50,
    "skip": ["preference_model", "pairs"],
    "reliability": {"by": None},
    "icc": {"n_resamples": 50, "rng": 0},
}
#: Strata with more levels than this are not offered as the comparison column.
MAX_STRATUM_LEVELS = 20


# ------------------------------------------------------------------ upload
def upload_suffix(name: str) -> str:
    """Return the file-type suffix of an uploaded file name, or raise a SchemaError naming the allowed ones.

    Examples
    --------
    >>> upload_suffix("batch.JSONL.gz")
    '.jsonl.gz'
    """
    lower = str(name).lower()
    for suffix in UPLOAD_SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    raise pq.SchemaError(
        f"cannot read {name!r}: the file name must end in one of {list(UPLOAD_SUFFIXES)}. "
        "Rename the file or convert it to CSV, JSONL (optionally gzipped) or Parquet."
    )


def digest(content: bytes) -> str:
    """Return a short content hash used as the cache key of an upload."""
    return hashlib.sha256(content).hexdigest()[:20]


def read_upload(content: bytes, name: str, *, format: str = "auto",
                mapping: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None,
                on_error: str = "skip") -> pq.PreferenceData:
    """Read uploaded bytes with ``pq.read`` through a temporary file that keeps the file's suffix.

    Parameters
    ----------
    content : bytes
        The uploaded file.
    name : str
        The uploaded file name (its suffix picks the parser).
    format, mapping, on_error
        Passed to :func:`prefqa.read`. ``on_error='skip'`` (the app's default) lists bad rows in
        the load report instead of stopping at the first.
    options : mapping, optional
        Format options for :func:`prefqa.read` (wide-format columns, codes, ...).

    Raises
    ------
    prefqa.SchemaError
        Unsupported suffix, empty upload, or anything ``pq.read`` rejects.
    """
    suffix = upload_suffix(name)
    if not content:
        raise pq.SchemaError(f"the uploaded file {name!r} is empty (0 bytes); upload a file with data.")
    with tempfile.TemporaryDirectory(prefix="prefqa-upload-") as tmp:
        stem = Path(str(name)).name[: -len(suffix)] or "upload"
        path = Path(tmp) / f"{stem}{suffix}"
        path.write_bytes(content)
        own = Path(str(name)).name
        try:
            data = pq.read(path, format=format, mapping=dict(mapping) if mapping else None,
                           on_error=on_error, **dict(options or {}))
        except pq.PrefqaError as exc:  # the message names the user's file, not the temp copy
            try:
                renamed = type(exc)(str(exc).replace(str(path), own))
            except TypeError:  # a subclass with another constructor: keep the original
                raise exc from None
            raise renamed from None
    # the temp file is gone: the load report (and the audit's copyable commands) name the user's file
    lr = data.load_report
    if lr is not None:
        data.load_report = dataclasses.replace(
            lr, source=own, notes=tuple(str(n).replace(str(path), own) for n in lr.notes))
    return data


def raw_preview(content: bytes, name: str, *, n_rows: int = 5) -> pd.DataFrame:
    """Return the first rows of an upload as the user's own columns (for the mapping form).

    Cells are shown as text, so nested JSON values (conversations) display too.
    """
    suffix = upload_suffix(name)
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(io.BytesIO(content)).head(n_rows)
        elif suffix == ".xlsx":
            frame = pd.read_excel(io.BytesIO(content), nrows=n_rows, dtype=str)
        elif suffix == ".csv":
            frame = pd.read_csv(io.BytesIO(content), nrows=n_rows, dtype=str, keep_default_na=False)
        elif suffix == ".json":
            frame = pd.DataFrame(json.loads(content.decode("utf-8"))[:n_rows])
        else:
            raw = gzip.decompress(content) if suffix == ".jsonl.gz" else content
            lines = [ln for ln in raw.decode("utf-8").splitlines() if ln.strip()][:n_rows]
            frame = pd.DataFrame([json.loads(ln) for ln in lines])
    except ImportError:
        raise pq.SchemaError(f"cannot preview {name!r}: reading .xlsx needs openpyxl "
                             "(`pip install 'prefqa[app]'` or `pip install openpyxl`).") from None
    except (ValueError, OSError, UnicodeDecodeError, TypeError, AttributeError, KeyError) as exc:
        raise pq.SchemaError(f"cannot preview {name!r} as {suffix}: {exc}. Check that the file is "
                             f"valid {suffix[1:].upper()}.") from None
    return frame.astype(str)


def column_examples(preview: pd.DataFrame, column: str, *, width: int = 40) -> str:
    """Return ``column`` with its first values, clipped, for a select box label."""
    values = [v if len(v) <= width else v[: width - 1] + "\u2026" for v in preview[column].astype(str).head(3)]
    return f"{column}  ({', '.join(repr(v) for v in values)})"


def parse_codes(text: str) -> dict[str, str]:
    """Parse ``'1=a, 2=b, 0=tie'`` into ``{'1': 'a', '2': 'b', '0': 'tie'}``.

    Examples
    --------
    >>> parse_codes("1=a, 2=b, 0=tie")
    {'1': 'a', '2': 'b', '0': 'tie'}
    """
    codes: dict[str, str] = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or value.strip() not in ("a", "b", "tie") or not key.strip():
            raise pq.SchemaError(
                f"choice code {part!r} is not of the form value=a, value=b or value=tie; "
                "write for example `1=a, 2=b, 0=tie`."
            )
        codes[key.strip()] = value.strip()
    return codes


def read_kwargs(*, format: str = "auto", columns: Mapping[str, str | None] | None = None,
                prompt_columns: Sequence[str] = (), annotator_columns: Sequence[str] = (),
                model_key: str | None = None, codes: str = "") -> dict[str, Any]:
    """Turn the mapping form's values into ``pq.read`` keyword arguments.

    Parameters
    ----------
    format : str
        ``'auto'`` or one of :data:`READ_FORMATS`.
    columns : mapping
        Canonical column -> the user's column (``None`` or ``''`` for not present).
    prompt_columns : sequence of str
        Wide format: several columns joined into the prompt (PandaLM's instruction and input).
    annotator_columns : sequence of str
        Wide format: one column per annotator.
    model_key : str, optional
        Wide format: one column holding both model names (``"modelA_modelB"``).
    codes : str
        Choice codes such as ``"1=a, 2=b, 0=tie"``; for the wide format they become ``codes``,
        otherwise a value mapping of the ``choice`` column.

    Returns
    -------
    dict
        ``{"format": ..., "mapping": {...} or None, "options": {...}}``.

    Examples
    --------
    >>> read_kwargs(format="wide", columns={"comparison_id": "idx"}, model_key="cmp_key")
    {'format': 'wide', 'mapping': {'idx': 'comparison_id'}, 'options': {'model_key': 'cmp_key'}}
    """
    if format != "auto" and format not in READ_FORMATS:
        raise pq.SchemaError(f"unknown format {format!r}; choose 'auto' or one of {list(READ_FORMATS)}.")
    mapping: dict[str, Any] = {}
    for canonical, user in (columns or {}).items():
        if not user:
            continue
        if canonical not in CANONICAL_COLUMNS:
            raise pq.SchemaError(f"{canonical!r} is not a canonical column; choose from {list(CANONICAL_COLUMNS)}.")
        if user in mapping:
            raise pq.SchemaError(
                f"column {user!r} is mapped twice (to {mapping[user]!r} and {canonical!r}); map each of "
                "your columns to one canonical column."
            )
        if user != canonical:
            mapping[user] = canonical
    options: dict[str, Any] = {}
    if prompt_columns:
        if format != "wide":
            raise pq.SchemaError("several prompt columns can only be joined for format 'wide'; pick "
                                 "format 'wide' or map one column to `prompt`.")
        options["prompt_columns"] = list(prompt_columns)
    if annotator_columns:
        options["annotator_columns"] = list(annotator_columns)
    if model_key:
        options["model_key"] = model_key
    table = parse_codes(codes) if codes else {}
    if table:
        if format == "wide":
            options["codes"] = table
        else:
            mapping["choice"] = table
    if (annotator_columns or model_key) and format != "wide":
        raise pq.SchemaError("annotator columns and a model-pair key column belong to format 'wide'; "
                             f"choose format 'wide' (got {format!r}).")
    return {"format": format, "mapping": mapping or None, "options": options}


# ------------------------------------------------------------------ audit
def stratum_columns(data: pq.PreferenceData) -> list[str]:
    """Return the extra judgment columns (strata) with 2 to :data:`MAX_STRATUM_LEVELS` levels."""
    known = {"comparison_id", "annotator_id", "choice", "prompt_id", "response_a_id", "response_b_id",
             "model_a", "model_b", "strength", "seconds", "timestamp"}
    out = []
    for col in data.judgments.columns:
        if col in known:
            continue
        n = data.judgments[col].nunique(dropna=True)
        if 2 <= n <= MAX_STRATUM_LEVELS:
            out.append(str(col))
    return out


def audit_config(by: str | None = None) -> dict[str, Any]:
    """Return the app's ``pq.audit`` config, with ``by`` as the stratum of the Simpson check."""
    cfg = json.loads(json.dumps(APP_AUDIT))
    cfg["by"] = by
    return {"audit": cfg}


def run_audit(data: pq.PreferenceData, *, by: str | None = None) -> Any:
    """Run ``pq.audit`` with the app's settings."""
    return pq.audit(data, progress=False, config=audit_config(by))


def headline(report: Any) -> dict[str, Any]:
    """Return the overview's headline numbers from an audit report (nothing recomputed)."""
    inp = report.content["input"]
    out: dict[str, Any] = {k: inp[k] for k in ("n_judgments", "n_comparisons", "n_annotators",
                                               "n_prompts", "n_models")}
    res = report.results.get("reliability")
    out["coefficients"] = pd.DataFrame()
    if res is not None:
        c = res.coefficients
        overall = c[(c["stratum"].astype(str) == "all")] if "stratum" in c else c
        out["coefficients"] = overall
    return out


def step_table(report: Any) -> pd.DataFrame:
    """Return one row per audit step: title, status, reason, seconds."""
    return report.to_frame().reset_index()


def flagged_ids(table: pd.DataFrame | None) -> list[str]:
    """Return the index labels of rows with ``flagged`` true (annotators or prompts)."""
    if table is None or "flagged" not in table:
        return []
    mask = table["flagged"].fillna(False).to_numpy(dtype=bool)
    return [str(i) for i in table.index[mask]]


def strata_reliability(data: pq.PreferenceData, column: str, *, expected: str = "pooled",
                       n_resamples: int = 50, rng: int = 0) -> pd.DataFrame:
    """Return ``pq.agreement(data, by=column, expected=...)``'s per-stratum coefficients (the library's one
    implementation; ``expected='within'`` is alpha on each stratum alone, ``'pooled'`` uses all data's)."""
    if column not in data.judgments:
        raise pq.SchemaError(f"stratum column {column!r} is not a judgments column; choose one of "
                             f"{stratum_columns(data)} on the Data page.")
    res = pq.agreement(data, by=column, expected=expected, n_resamples=n_resamples, rng=rng)
    coef = res.coefficients
    return coef[coef["stratum"].astype(str) != "all"].reset_index(drop=True) if "stratum" in coef else coef


def score_agreement(data: pq.PreferenceData, *, level: str = "interval", n_resamples: int = 50,
                    rng: int = 0) -> pd.DataFrame:
    """Reliability of the absolute scores: ``pq.agreement(..., level=level)``'s rows whose target is a score."""
    res = pq.agreement(data, level=level, n_resamples=n_resamples, rng=rng)
    coef = res.coefficients
    if "target" in coef:
        mask = ~coef["target"].astype(str).isin(["choice", "strength"])
        coef = coef[mask.to_numpy()]
    if "stratum" in coef:
        coef = coef[(coef["stratum"].astype(str) == "all").to_numpy()]
    return coef.reset_index(drop=True)


def kappa_input(data: pq.PreferenceData) -> pd.DataFrame:
    """Long table for ``pq.pairwise_kappa``: unit, rater and the oriented choice (which response won)."""
    j = data.judgments
    keep = j["annotator_id"].notna().to_numpy()
    return pd.DataFrame({
        "unit": j["comparison_id"].to_numpy(dtype=object)[keep],
        "rater": j["annotator_id"].astype(str).to_numpy(dtype=object)[keep],
        "value": np.asarray(data.oriented_choice())[keep],
    })


def symmetric_pairs(kappas: pd.DataFrame) -> pd.DataFrame:
    """Return ``pairwise_kappa`` rows in both orders (rater_1, rater_2), for a square heatmap."""
    if kappas.empty:
        return kappas
    cols = ["rater_1", "rater_2", "n", "estimate", "ci_low", "ci_high"]
    flipped = kappas[cols].rename(columns={"rater_1": "rater_2", "rater_2": "rater_1"})
    return pd.concat([kappas[cols], flipped], ignore_index=True)


def win_matrix(result: Any) -> pd.DataFrame:
    """Long table of ``result.win_probability(i, j)`` over every ordered pair of items."""
    ids = result.scores.index.astype(str).to_numpy()
    i, j = np.repeat(ids, len(ids)), np.tile(ids, len(ids))
    p = np.asarray(result.win_probability(i, j), dtype=float)
    return pd.DataFrame({"row": i, "column": j, "win_probability": p})


def leaderboard(plain: Any, styled: Any | None) -> pd.DataFrame:
    """Plain and style-controlled Bradley-Terry scores side by side (one row per model)."""
    cols = ["estimate", "ci_low", "ci_high", "rank"]
    out = plain.scores[cols + [c for c in ("n", "wins", "losses", "ties") if c in plain.scores]].copy()
    if styled is not None:
        s = styled.scores[cols].add_prefix("style_")
        out = out.join(s)
    out.index = out.index.astype(str)
    out.index.name = "model"
    return out.sort_values("estimate", ascending=False)


def annotator_judgments(data: pq.PreferenceData, annotator_id: str, *, max_rows: int = 500) -> pd.DataFrame:
    """One annotator's judgments with the texts they saw (first ``max_rows``)."""
    j = data.judgments
    mask = (j["annotator_id"].astype("string") == str(annotator_id)).fillna(False).to_numpy(dtype=bool)
    sub = data.subset(mask)
    if not sub.n_judgments:
        return pd.DataFrame()
    frame = sub.judgments_with_text() if sub.has_texts else sub.judgments.copy()
    return frame.head(max_rows).reset_index(drop=True)


def prompt_votes(data: pq.PreferenceData, prompt_id: str) -> tuple[str, pd.DataFrame]:
    """Return a prompt's text and its judgments (annotator, choice, both responses)."""
    j = data.judgments
    if "prompt_id" not in j:
        raise pq.SchemaError("the data has no prompt ids, so there is nothing to show per prompt.")
    mask = (j["prompt_id"].astype("string") == str(prompt_id)).fillna(False).to_numpy(dtype=bool)
    sub = data.subset(mask)
    texts = data.prompts.set_index("prompt_id")["text"] if len(data.prompts) else pd.Series(dtype=str)
    text = str(texts.get(prompt_id, "")) if len(texts) else ""
    frame = sub.judgments_with_text() if sub.has_texts else sub.judgments.copy()
    keep = [c for c in ("comparison_id", "annotator_id", "choice", "model_a", "model_b", "response_a_id",
                        "response_b_id", "response_a", "response_b") if c in frame]
    return text, frame[keep].sort_values(["comparison_id", "annotator_id"], kind="stable").reset_index(drop=True)


def vote_sides(votes: pd.DataFrame) -> pd.Series:
    """For one comparison's judgments, which shown response each vote preferred: ``left``, ``right`` or ``tie``.

    ``left`` is the response displayed first to the first judgment (``response_a_id`` of row 0);
    judgments shown in the other order are translated, so the column reads the same for everyone.
    """
    if not len(votes) or "response_a_id" not in votes:
        return pd.Series(votes.get("choice", pd.Series(dtype=str)), dtype="string")
    left = votes["response_a_id"].iloc[0]
    chosen = np.where(votes["choice"].to_numpy() == "a", votes["response_a_id"].to_numpy(dtype=object),
                      votes["response_b_id"].to_numpy(dtype=object))
    side = np.where(chosen == left, "left", "right")
    side = np.where(votes["choice"].to_numpy() == "tie", "tie", side)
    return pd.Series(side, index=votes.index, dtype="string")


# ------------------------------------------------------------------ export
def policy_kwargs(report: Any, *, exclude_flagged_annotators: bool = True, exclude_flagged_prompts: bool = True,
                  min_agreement: float = 0.0, ties: str = "drop", length_balance: bool | str = False,
                  rng: int = 0) -> dict[str, Any]:
    """Translate the export controls into ``pq.build_pairs`` keyword arguments.

    Flagged annotators and prompts come from the cached audit's tables and are passed as
    ``exclude_annotators`` / ``exclude_prompts``, so a policy change never refits a model.
    """
    results = getattr(report, "results", {}) or {}
    kwargs: dict[str, Any] = {"min_agreement": float(min_agreement), "ties": ties,
                              "length_balance": length_balance, "rng": rng}
    if exclude_flagged_annotators:
        kwargs["exclude_annotators"] = flagged_ids(results.get("annotators"))
    if exclude_flagged_prompts:
        kwargs["exclude_prompts"] = flagged_ids(results.get("prompts"))
    return kwargs


def pair_counts(pairs: Any) -> pd.DataFrame:
    """Kept and dropped units by reason: ``outcome``, ``reason_code``, ``reason``, ``n``."""
    rows = [{"outcome": "kept", "reason_code": "pair", "reason": "kept as a chosen/rejected pair",
             "n": len(pairs.pairs)}]
    if len(pairs.ties):
        rows.append({"outcome": "kept", "reason_code": "tie_kto", "reason": "tie kept for KTO",
                     "n": len(pairs.ties)})
    d = pairs.dropped
    if len(d):
        g = d.groupby(["reason_code", "reason"], sort=False, observed=True).size().sort_values(ascending=False)
        rows += [{"outcome": "dropped", "reason_code": str(k[0]), "reason": str(k[1]), "n": int(v)}
                 for k, v in g.items()]
    return pd.DataFrame(rows)


def export_bytes(pairs: Any, format: str, *, tie_label: bool | None = None) -> tuple[bytes, bytes]:
    """Write ``pairs`` with ``pq.export`` to a temporary JSONL file; return (file bytes, manifest bytes)."""
    if format not in EXPORT_FORMATS:
        raise pq.SchemaError(f"unknown export format {format!r}; choose one of {list(EXPORT_FORMATS)}.")
    kwargs: dict[str, Any] = {"format": format}
    if format == "kto" and len(pairs.ties):
        kwargs["tie_label"] = bool(tie_label)
    with tempfile.TemporaryDirectory(prefix="prefqa-export-") as tmp:
        path = pq.export(pairs, Path(tmp) / f"{format}.jsonl", **kwargs)
        manifest = path.with_name(path.name + ".manifest.json")
        return path.read_bytes(), manifest.read_bytes()
