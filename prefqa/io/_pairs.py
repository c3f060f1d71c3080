"""Chosen/rejected formats without annotators: ``trl``, ``hh`` and ``openai``.

These rows name no annotator and do not record which response was shown first. Following
DESIGN.md, ``annotator_id`` stays missing, ``order_known`` is ``False`` and chosen/rejected go
into a/b by a stable hash of the comparison id (:func:`hash_swap`), so the stored order carries
no signal. Comparison ids come from ``id_column`` when given, else ``row<line>``.

``trl``
    ``prompt`` (optional), ``chosen``, ``rejected``; strings (standard) or lists of
    ``{role, content}`` messages (conversational). Without ``prompt`` the prompt is implicit:
    for strings the longest shared character prefix (a space just before the split stays with
    the responses), for message lists the shared leading messages. A conversational response
    is the ``content`` of its messages joined by blank lines; the prompt's text is its
    messages rendered as ``role: content`` blocks, and the list itself is kept as JSON in
    ``prompts.messages``.
``hh``
    Anthropic HH-RLHF transcripts. The prompt is the dialogue up to and including the last
    ``"\\n\\nAssistant:"`` marker that lies inside the prefix shared by chosen and rejected;
    the responses are the rest, leading whitespace removed. Edge cases: (1) a final turn
    that itself contains the marker text (the model wrote another "Assistant:" turn) stays
    whole in the response, because only a *shared* marker splits; (2) pairs whose dialogues
    differ before their final turns are split at the last marker both share, so the differing
    turns become part of the responses (5 of the 2,312 harmless-base test pairs); (3) empty
    final turns are kept as empty responses and counted; (4) a pair sharing no marker is
    rejected (or an error).
``openai``
    Preference fine-tuning rows: ``input`` (``{"messages": [...]}``, or a flattened
    ``input.messages`` column), ``preferred_output`` and ``non_preferred_output`` (lists of
    assistant messages).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import PreferenceData
from ._build import (
    Collector,
    as_text,
    assemble,
    comparison_ids,
    hash_swap,
    is_message_list,
    messages_json,
    render_messages,
)
from ._canonical import missing_columns_error
from ._source import Source

HH_MARKER = "\n\nAssistant:"


def _pair_long(rows: np.ndarray, cid: pd.Series, prompt: pd.Series | None, chosen: pd.Series,
               rejected: pd.Series, messages: pd.Series | None = None) -> pd.DataFrame:
    swap = hash_swap(cid)
    chosen = chosen.reset_index(drop=True)
    rejected = rejected.reset_index(drop=True)
    long = pd.DataFrame({"_row": rows, "comparison_id": cid.to_numpy(),
                         "choice": np.where(swap, "b", "a")})
    if prompt is not None:
        long["prompt"] = prompt.reset_index(drop=True)
    long["response_a"] = chosen.where(~swap, rejected)
    long["response_b"] = rejected.where(~swap, chosen)
    if messages is not None:
        long["_messages"] = messages.reset_index(drop=True)
    return long


def _drop_missing(src: Source, rej: Collector, columns: list[str]) -> np.ndarray:
    """Reject rows where a response column is null; return the remaining row positions."""
    f = src.frame
    bad = np.zeros(len(f), dtype=bool)
    for col in columns:
        isna = f[col].isna().to_numpy()
        if isna.any():
            rej.reject_rows(np.flatnonzero(isna & ~bad), col, f[col][isna & ~bad], "response is missing (null)",
                            "Fill it (an empty string is a valid empty response) or drop the row.")
        bad |= isna
    return np.flatnonzero(~bad)


def _extras(frame: pd.DataFrame, rows: np.ndarray, used: set[str], rej: Collector) -> dict[str, pd.Series]:
    """Scalar extra columns (kept as strata); nested ones are reported as unused."""
    out = {}
    for col in frame.columns:
        if col in used:
            continue
        s = frame[col].iloc[rows].reset_index(drop=True)
        first = s.dropna().head(1)
        if len(first) and isinstance(first.iloc[0], (list, dict, np.ndarray)):
            rej.unused([col])
            continue
        out[str(col)] = s
    return out


def _common_prefix_len(a: str, b: str) -> int:
    """Length of the longest common prefix, by bisection on C-level slice comparisons."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --------------------------------------------------------------------- trl
def read_trl(src: Source, rej: Collector, *, id_column: str | None = None) -> PreferenceData:
    missing_columns_error(src, "trl", ["chosen", "rejected"])
    f = src.frame
    rows = _drop_missing(src, rej, ["chosen", "rejected"])
    cid = comparison_ids(src, f, id_column, rows)
    chosen_raw = f["chosen"].iloc[rows].reset_index(drop=True)
    rejected_raw = f["rejected"].iloc[rows].reset_index(drop=True)
    first = chosen_raw.dropna().head(1)
    conversational = bool(len(first)) and is_message_list(first.iloc[0])
    has_prompt = "prompt" in f
    notes: list[str] = []
    messages = None
    if conversational:
        if has_prompt:
            pmsgs = list(f["prompt"].iloc[rows])
            cmsgs, rmsgs = list(chosen_raw), list(rejected_raw)
        else:
            pmsgs, cmsgs, rmsgs = [], [], []
            for c, r in zip(chosen_raw, rejected_raw):
                c, r = list(c), list(r)
                k = 0
                while k < min(len(c), len(r)) - 1 and c[k] == r[k]:
                    k += 1
                pmsgs.append(c[:k])
                cmsgs.append(c[k:])
                rmsgs.append(r[k:])
            notes.append("implicit prompt: the leading messages shared by chosen and rejected.")
        prompt = pd.Series([render_messages(m) for m in pmsgs], dtype="str")
        messages = pd.Series([messages_json(m) for m in pmsgs], dtype="str")
        chosen = pd.Series(["\n\n".join(str(m.get("content", "")) for m in c) for c in cmsgs], dtype="str")
        rejected = pd.Series(["\n\n".join(str(m.get("content", "")) for m in r) for r in rmsgs], dtype="str")
    else:
        chosen, k1 = as_text(chosen_raw)
        rejected, k2 = as_text(rejected_raw)
        if k1 + k2:
            notes.append(f"{k1 + k2:,} non-string responses were converted to text.")
            rej.coerced_texts("chosen", chosen_raw, k1)
            rej.coerced_texts("rejected", rejected_raw, k2)
        if has_prompt:
            prompt, _ = as_text(f["prompt"].iloc[rows].reset_index(drop=True))
        else:
            c_list, r_list = chosen.tolist(), rejected.tolist()
            cut = [_common_prefix_len(c, r) for c, r in zip(c_list, r_list)]
            cut = [k - 1 if k > 0 and c[k - 1] == " " else k for k, c in zip(cut, c_list)]
            prompt = pd.Series([c[:k] for c, k in zip(c_list, cut)], dtype="str")
            chosen = pd.Series([c[k:] for c, k in zip(c_list, cut)], dtype="str")
            rejected = pd.Series([r[k:] for r, k in zip(r_list, cut)], dtype="str")
            notes.append("implicit prompt: the longest character prefix shared by chosen and rejected.")
    long = _pair_long(rows, cid, prompt, chosen, rejected, messages)
    for name, s in _extras(f, rows, {"prompt", "chosen", "rejected", id_column or "comparison_id"}, rej).items():
        long[name] = s
    meta = {"source_format": "trl", "conversational": conversational}
    return assemble(long, src, "trl", rej, order_known=False, meta=meta, notes=notes)


# ---------------------------------------------------------------------- hh
def hh_split(
    chosen: pd.Series, rejected: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Series, np.ndarray, int]:
    """Split HH transcripts: (prompt, chosen response, rejected response, ok mask, n split early)."""
    chosen = chosen.astype("str").reset_index(drop=True)
    rejected = rejected.astype("str").reset_index(drop=True)
    cut_c = chosen.str.rfind(HH_MARKER).to_numpy(dtype=np.int64)
    cut_r = rejected.str.rfind(HH_MARKER).to_numpy(dtype=np.int64)
    end_c = np.where(cut_c >= 0, cut_c + len(HH_MARKER), 0)
    end_r = np.where(cut_r >= 0, cut_r + len(HH_MARKER), 0)
    # fast path (vectorized): both split at their own last marker and the prefixes agree
    pc = pd.Series([c[:e] for c, e in zip(chosen.tolist(), end_c)], dtype="str")
    pr = pd.Series([r[:e] for r, e in zip(rejected.tolist(), end_r)], dtype="str")
    ok = ((cut_c >= 0) & (cut_r >= 0) & (pc == pr).to_numpy())
    end_c, end_r = end_c.copy(), end_r.copy()
    slow = np.flatnonzero(~ok)
    for i in slow:  # the few pairs whose last markers are not shared
        c, r = chosen.iat[i], rejected.iat[i]
        shared = _common_prefix_len(c, r)
        pos = c.rfind(HH_MARKER, 0, shared)
        if pos >= 0 and pos + len(HH_MARKER) <= shared:
            end_c[i] = end_r[i] = pos + len(HH_MARKER)
            ok[i] = True
    prompt = pd.Series([c[:e] for c, e in zip(chosen.tolist(), end_c)], dtype="str")
    resp_c = pd.Series([c[e:] for c, e in zip(chosen.tolist(), end_c)], dtype="str").str.lstrip()
    resp_r = pd.Series([r[e:] for r, e in zip(rejected.tolist(), end_r)], dtype="str").str.lstrip()
    return prompt, resp_c, resp_r, ok, int(ok[slow].sum())


def read_hh(src: Source, rej: Collector, *, id_column: str | None = None) -> PreferenceData:
    missing_columns_error(src, "hh", ["chosen", "rejected"])
    f = src.frame
    rows = _drop_missing(src, rej, ["chosen", "rejected"])
    chosen, _ = as_text(f["chosen"].iloc[rows].reset_index(drop=True))
    rejected, _ = as_text(f["rejected"].iloc[rows].reset_index(drop=True))
    prompt, rc, rr, ok, n_early = hh_split(chosen, rejected)
    if not ok.all():
        rej.reject_rows(rows[~ok], "chosen", chosen[~ok].str.slice(0, 60),
                        "chosen and rejected share no '\\n\\nAssistant:' turn, so there is no prompt to split off",
                        "Check that the row is an HH transcript, or read it with format='trl'.")
    keep = np.flatnonzero(ok)
    rows = rows[keep]
    cid = comparison_ids(src, f, id_column, rows)
    notes = []
    if n_early:
        notes.append(f"{n_early:,} pairs differ before their final turns or hold the marker inside a final "
                     "turn; they were split at the last '\\n\\nAssistant:' marker both transcripts share.")
    long = _pair_long(rows, cid, prompt.iloc[keep], rc.iloc[keep], rr.iloc[keep])
    for name, s in _extras(f, rows, {"chosen", "rejected", id_column or "comparison_id"}, rej).items():
        long[name] = s
    meta = {"source_format": "hh", "conversational": False}
    return assemble(long, src, "hh", rej, order_known=False, meta=meta, notes=notes)


def looks_like_hh(chosen: pd.Series) -> bool:
    """``True`` when most non-missing values are HH transcripts (start with a Human turn)."""
    sample = chosen.dropna().head(200)
    if not len(sample) or not isinstance(sample.iloc[0], str):
        return False
    s = sample.astype("str")
    hits = s.str.lstrip("\n").str.startswith("Human:") & s.str.contains(HH_MARKER, regex=False)
    return bool(hits.mean() >= 0.9)


# ------------------------------------------------------------------ openai
def read_openai(src: Source, rej: Collector, *, id_column: str | None = None) -> PreferenceData:
    f = src.frame
    input_col = "input" if "input" in f else "input.messages"
    missing_columns_error(src, "openai", [input_col, "preferred_output", "non_preferred_output"])
    rows = _drop_missing(src, rej, [input_col, "preferred_output", "non_preferred_output"])
    cid = comparison_ids(src, f, id_column, rows)
    raw_in = f[input_col].iloc[rows].tolist()
    pmsgs = [(v.get("messages", []) if isinstance(v, dict) else v) for v in raw_in]
    pmsgs = [list(m) if m is not None else [] for m in pmsgs]

    def content(outputs: object) -> str:
        items = list(outputs) if isinstance(outputs, (list, np.ndarray)) else [outputs]
        return "\n\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in items)

    prompt = pd.Series([render_messages(m) for m in pmsgs], dtype="str")
    messages = pd.Series([messages_json(m) for m in pmsgs], dtype="str")
    chosen = pd.Series([content(v) for v in f["preferred_output"].iloc[rows]], dtype="str")
    rejected = pd.Series([content(v) for v in f["non_preferred_output"].iloc[rows]], dtype="str")
    long = _pair_long(rows, cid, prompt, chosen, rejected, messages)
    used = {"input", "input.messages", "preferred_output", "non_preferred_output", id_column or "comparison_id"}
    for name, s in _extras(f, rows, used, rej).items():
        long[name] = s
    meta = {"source_format": "openai", "conversational": True}
    return assemble(long, src, "openai", rej, order_known=False, meta=meta)


__all__ = ["hh_split", "looks_like_hh", "read_hh", "read_openai", "read_trl"]
