"""Format ``prefqa``: the canonical long judgments table (one row per annotator x comparison).

Columns: ``comparison_id, annotator_id, choice`` (required) plus optional ``prompt_id, prompt,
response_a_id, response_a, response_b_id, response_b, model_a, model_b, strength, seconds,
timestamp``, ``order_known`` (written by :func:`prefqa.write`; one value for the whole file),
``prompt_messages`` (JSON message list of a conversational prompt) and extra columns, which
are kept as strata. Texts may be inline (``prompt``, ``response_a``, ``response_b``) or
absent (ids only).

In CSV an empty text field is the empty string (a valid, empty response), while an empty id
field (``annotator_id``, ``model_a``, ...) is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ..schema import PreferenceData
from ._build import Collector, as_text, assemble, normalize_ids
from ._checks import order_known_value
from ._source import Source, load_source, suffix_kind

REQUIRED = ("comparison_id", "annotator_id", "choice")


def missing_columns_error(src: Source, fmt: str, required: tuple[str, ...] | list[str], extra: str = "") -> None:
    """Raise a SchemaError when ``required`` columns are absent from the source frame."""
    missing = [c for c in required if c not in src.frame.columns]
    if missing:
        found = list(map(str, src.frame.columns))
        example = ", ".join(f"'<your column>': '{m}'" for m in missing)
        err = SchemaError(
            f"{src.name}: format {fmt!r} needs column(s) {missing}; found {found}. Rename yours with "
            f"pq.read(source, mapping={{{example}}}){extra}."
        )
        err.fix = {"rename": {"<your column>": missing[0]}}  # type: ignore[attr-defined]
        raise err


def read_canonical(src: Source, rej: Collector, *, sibling_ratings: bool = True) -> PreferenceData:
    missing_columns_error(src, "prefqa", REQUIRED)
    f = src.frame
    long = pd.DataFrame({"_row": np.arange(len(f), dtype=np.int64)})
    notes: list[str] = []
    n_coerced = 0
    for col in f.columns:
        if col in ("prompt", "response_a", "response_b"):
            long[col], k = as_text(f[col])
            n_coerced += k
            rej.coerced_texts(col, f[col], k)
        elif col == "prompt_messages":
            long["_messages"] = f[col].astype("str").fillna("")
        elif col != "order_known":
            long[col] = f[col]
    if n_coerced:
        notes.append(f"{n_coerced:,} non-string text values were converted to text.")
    if "choice" in long and not isinstance(long["choice"].dtype, pd.StringDtype):
        long["choice"] = long["choice"].astype("str")
    order_known = True
    if "order_known" in f:
        values = pd.Series(f["order_known"]).astype("str").str.lower().unique().tolist()
        order_known = order_known_value(values, src.name)
    ratings = extra = None
    meta = {"source_format": "prefqa", "conversational": "prompt_messages" in f}
    if sibling_ratings and src.path is not None:
        ratings, extra = _sibling_ratings(src.path)
        if ratings is not None:
            notes.append(f"ratings read from {sibling_path(src.path, 'ratings').name}.")
    rankings = None
    if sibling_ratings and src.path is not None and sibling_path(src.path, "rankings").exists():
        rankings = load_source(sibling_path(src.path, "rankings"), on_error="raise").frame
        for col in ("ranking_id", "annotator_id", "prompt_id", "response_id"):
            if col in rankings:
                rankings[col] = normalize_ids(rankings[col])
        notes.append(f"rankings read from {sibling_path(src.path, 'rankings').name}.")
    if not len(f) and ratings is not None:  # ratings only: no judgments, nothing was displayed in an order
        order_known = False
    return assemble(long, src, "prefqa", rej, order_known=order_known, meta=meta, notes=notes,
                    ratings=ratings, extra_responses=extra, rankings=rankings)


def sibling_path(path: Path, table: str) -> Path:
    """Return the sibling file for a table, e.g. ``data.jsonl.gz`` -> ``data.ratings.jsonl.gz``."""
    name = path.name
    kind = suffix_kind(path)
    for suffix in (".jsonl.gz", ".csv.gz", ".json.gz", ".jsonl", ".ndjson", ".csv", ".tsv", ".json",
                   ".parquet", ".pq", ".xlsx"):
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)] + f".{table}" + name[-len(suffix):])
    raise SchemaError(f"unsupported file type {kind!r} for {path}")  # unreachable after suffix_kind


def _sibling_ratings(path: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    side = sibling_path(path, "ratings")
    if not side.exists():
        return None, None
    r = load_source(side, on_error="raise").frame
    missing = [c for c in ("response_id", "annotator_id", "score") if c not in r]
    if missing:
        raise SchemaError(f"{side}: the ratings file needs columns {missing}; found {list(r.columns)}.")
    out = r[[c for c in r.columns if c != "response"]].copy()
    for col in ("response_id", "annotator_id", "prompt_id", "model", "aspect"):
        if col in out:
            out[col] = normalize_ids(out[col])
    extra = None
    if "response" in r:
        text, _ = as_text(r["response"])
        pid = out["prompt_id"] if "prompt_id" in out else pd.Series(pd.NA, index=out.index, dtype="str")
        extra = pd.DataFrame({"response_id": out["response_id"], "prompt_id": pid, "text": text})
        extra = extra.drop_duplicates("response_id").reset_index(drop=True)
    return out, extra
