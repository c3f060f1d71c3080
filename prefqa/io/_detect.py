"""Format detection from column names, and the options each format accepts."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import SchemaError
from ._pairs import looks_like_hh
from ._wide import WIDE_OPTIONS, default_annotator_columns

FORMATS: tuple[str, ...] = ("prefqa", "trl", "hh", "wide", "ratings", "rankings", "arena", "openai")

OPTIONS: dict[str, tuple[str, ...]] = {
    "prefqa": (),
    "trl": ("id_column",),
    "hh": ("id_column",),
    "openai": ("id_column",),
    "arena": ("id_column",),
    "wide": ("id_column", *WIDE_OPTIONS),
    "ratings": ("aspect",),
    "rankings": ("id_column", "ranking_items"),
}

SIGNATURES = {
    "prefqa": "comparison_id + choice",
    "trl": "chosen + rejected (+ prompt)",
    "hh": "chosen + rejected holding '\\n\\nHuman:' / '\\n\\nAssistant:' transcripts",
    "wide": "annotator columns such as annotator1, annotator2 (or annotator_columns=...)",
    "ratings": "score + response (or response_id) + annotator_id",
    "rankings": "ranking (a list, best first) + prompt",
    "arena": "model_a + model_b + winner",
    "openai": "input + preferred_output + non_preferred_output",
}


def candidates(frame: pd.DataFrame, options: dict[str, Any]) -> list[str]:
    """Return every format whose signature columns are present."""
    cols = set(map(str, frame.columns))
    found = []
    if {"comparison_id", "choice"} <= cols:
        found.append("prefqa")
    if {"chosen", "rejected"} <= cols:
        if "prompt" not in cols and looks_like_hh(frame["chosen"]):
            found.append("hh")
        else:
            found.append("trl")
    if any(k in options for k in WIDE_OPTIONS) or default_annotator_columns(frame.columns):
        found.append("wide")
    if "score" in cols and ("response" in cols or "response_id" in cols):
        found.append("ratings")
    if "ranking" in cols:
        found.append("rankings")
    if {"model_a", "model_b", "winner"} <= cols:
        found.append("arena")
    if {"preferred_output", "non_preferred_output"} <= cols:
        found.append("openai")
    return found


def detect(frame: pd.DataFrame, name: str, options: dict[str, Any]) -> str:
    """Return the one format the columns fit; raise a SchemaError listing candidates otherwise."""
    found = candidates(frame, options)
    if len(found) == 1:
        return found[0]
    cols = list(map(str, frame.columns))
    if not found:
        known = "; ".join(f"{f}: {s}" for f, s in SIGNATURES.items())
        raise SchemaError(
            f"{name}: cannot detect the format from the columns {cols}. Known formats and the columns "
            f"they need: {known}. Pass format='...', or rename columns with mapping={{...}}."
        )
    raise SchemaError(
        f"{name}: the columns {cols} fit more than one format: {found}. Pass format= one of {found}."
    )


def check_options(fmt: str, options: dict[str, Any]) -> None:
    """Raise when an option does not apply to ``fmt``."""
    allowed = OPTIONS[fmt]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise SchemaError(
            f"option(s) {unknown} do not apply to format {fmt!r}; it accepts {list(allowed) or 'no options'}. "
            + ("Wide-format options need format='wide'." if any(k in WIDE_OPTIONS for k in unknown) else "")
        )
