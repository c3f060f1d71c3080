"""Format ``arena``: Chatbot Arena battles.

Columns ``model_a``, ``model_b``, ``winner`` (``model_a``, ``model_b``, ``tie`` or
``tie (bothbad)``), optional ``judge`` (the voter: becomes ``annotator_id``), optional
``conversation_a`` / ``conversation_b`` (message lists), optional ``tstamp`` (becomes
``timestamp``) and ``question_id``. In the Arena, ``model_a`` is shown on the left, so the
display order is known (``order_known=True``).

The prompt is ``conversation_a`` without its final assistant message; the responses are the
final assistant messages of each conversation. In multi-turn battles the earlier assistant
turns of the two sides differ; they stay in side a's prompt messages, and a note counts such
battles. ``tie (bothbad)`` becomes ``tie`` with ``both_bad = True``. Nested extra columns
(moderation dictionaries) are dropped with a note; scalar extras (``language``, ``turn``)
are kept as strata. Comparison ids: ``id_column`` when given, else ``row<line>`` (a
``question_id`` can repeat across battles, so it is kept as a stratum, not used as the id).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..schema import PreferenceData
from ._build import (
    Collector,
    assemble,
    comparison_ids,
    messages_json,
    normalize_ids,
    render_messages,
)
from ._canonical import missing_columns_error

WINNERS = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "tie"}


def _split_conversation(conv: Any) -> tuple[list[dict], str]:
    msgs = [dict(m) for m in list(conv)] if isinstance(conv, (list, np.ndarray)) else []
    if msgs and msgs[-1].get("role") == "assistant":
        return msgs[:-1], str(msgs[-1].get("content", ""))
    return msgs, ""


def read_arena(src: Any, rej: Collector, *, id_column: str | None = None) -> PreferenceData:
    f: pd.DataFrame = src.frame
    missing_columns_error(src, "arena", ["model_a", "model_b", "winner"])
    rows = np.arange(len(f))
    winner = f["winner"].astype("str").str.strip()
    long = pd.DataFrame({
        "_row": rows,
        "comparison_id": comparison_ids(src, f, id_column, rows).to_numpy(),
        "annotator_id": normalize_ids(f["judge"]).to_numpy() if "judge" in f else pd.NA,
        "choice": winner.map(WINNERS).fillna(winner).to_numpy(),
        "model_a": f["model_a"].to_numpy(),
        "model_b": f["model_b"].to_numpy(),
    })
    notes: list[str] = []
    conversational = "conversation_a" in f and "conversation_b" in f
    if conversational:
        split_a = [_split_conversation(c) for c in f["conversation_a"]]
        split_b = [_split_conversation(c) for c in f["conversation_b"]]
        long["prompt"] = pd.Series([render_messages(p) for p, _ in split_a], dtype="str")
        long["_messages"] = pd.Series([messages_json(p) for p, _ in split_a], dtype="str")
        long["response_a"] = pd.Series([r for _, r in split_a], dtype="str")
        long["response_b"] = pd.Series([r for _, r in split_b], dtype="str")
        n_multi = sum(1 for p, _ in split_a if len(p) > 1)
        if n_multi:
            notes.append(f"{n_multi:,} multi-turn battles: the prompt is side a's history; side b's earlier "
                         "assistant turns are not kept.")
    if "tstamp" in f:
        long["timestamp"] = f["tstamp"].to_numpy()
    long["both_bad"] = (winner == "tie (bothbad)").to_numpy()
    used = {"model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b", "tstamp",
            id_column or "comparison_id"}
    dropped = []
    for col in f.columns:
        if col in used or col in long:
            continue
        first = f[col].dropna().head(1)
        if len(first) and isinstance(first.iloc[0], (list, dict, np.ndarray)):
            dropped.append(str(col))
            continue
        long[str(col)] = f[col].to_numpy()
    if dropped:
        notes.append(f"nested columns {dropped} are not kept (they are not strata).")
        rej.unused(dropped)
    meta = {"source_format": "arena", "conversational": conversational}
    return assemble(long, src, "arena", rej, order_known=True, meta=meta, notes=notes)
