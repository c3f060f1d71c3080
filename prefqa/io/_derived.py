"""Formats whose pairwise judgments are derived: ``ratings`` and ``rankings``.

``ratings`` (UltraFeedback / HelpSteer style absolute scores)
    One row per annotator x response (x aspect): ``response`` (text) or ``response_id``,
    ``annotator_id``, ``score``, plus optional ``prompt`` / ``prompt_id``, ``model``, ``aspect``.
    All rows are kept in ``data.ratings``. Pairwise judgments are derived per annotator, per
    prompt and per aspect from score differences: every two responses the same annotator
    scored on the same prompt and aspect make one judgment, higher score wins, equal scores
    are a tie, ``strength`` = score difference (a minus b). The comparison id is a hash of
    (aspect, the two response ids in sorted order), so annotators who scored the same two
    responses share the comparison. Derived pairs were never displayed side by side, so
    ``order_known`` is ``False`` and a/b are placed by a stable hash. Aspects are separate
    scales: ``aspect="helpfulness"`` derives judgments from that aspect only (ratings keep
    every aspect); with several aspects and no choice, judgments of every aspect are derived
    with an ``aspect`` column, ``meta["aspects"]`` lists them and a note says to analyse one
    aspect at a time. Without a prompt no pairs can be derived (only ratings are kept).
``rankings``
    One row per annotator x prompt: ``ranking`` (a list, best first), ``prompt`` or
    ``prompt_id``, optional ``annotator_id``. ``ranking_items="text"`` (default) treats the
    list items as response texts, ``"id"`` as response ids. Each ranking of k responses gives
    k(k-1)/2 judgments (display order unknown, hash placement) and is kept in long form in
    ``data.rankings`` (``rank`` 1 = best) for Plackett-Luce.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ..schema import PreferenceData, stable_id
from ._build import (
    Collector,
    as_text,
    assemble,
    comparison_ids,
    hash_swap,
    normalize_ids,
)
from ._canonical import missing_columns_error
from ._checks import nested_columns, text_conflicts


def _prompt_ids(f: pd.DataFrame, rows: np.ndarray) -> tuple[pd.Series | None, pd.DataFrame | None]:
    if "prompt" in f:
        text, _ = as_text(f["prompt"].iloc[rows].reset_index(drop=True))
        codes, uniq = pd.factorize(text, use_na_sentinel=False)
        ids = stable_id("p", pd.Series(uniq, dtype="str"))
        pid = pd.Series(ids[codes], dtype="str")
        if "prompt_id" in f:
            pid = normalize_ids(f["prompt_id"].iloc[rows].reset_index(drop=True)).fillna(pid)
        table = pd.DataFrame({"prompt_id": pid, "text": text}).drop_duplicates("prompt_id")
        return pid, table.reset_index(drop=True)
    if "prompt_id" in f:
        return normalize_ids(f["prompt_id"].iloc[rows].reset_index(drop=True)), None
    return None, None


def _pairs_to_long(left: pd.DataFrame, right: pd.DataFrame, winner_left: np.ndarray, tie: np.ndarray,
                   cid: np.ndarray) -> pd.DataFrame:
    """Place derived pairs into a/b by hash; ``winner_left`` is True when ``left`` won."""
    swap = hash_swap(cid)
    a = {c: np.where(swap, right[c].to_numpy(dtype=object), left[c].to_numpy(dtype=object)) for c in left}
    b = {c: np.where(swap, left[c].to_numpy(dtype=object), right[c].to_numpy(dtype=object)) for c in left}
    a_won = winner_left != swap
    choice = np.where(tie, "tie", np.where(a_won, "a", "b"))
    out = pd.DataFrame({"comparison_id": cid, "choice": choice, "response_a_id": a["response_id"],
                        "response_b_id": b["response_id"]})
    if "model" in left:
        out["model_a"], out["model_b"] = a["model"], b["model"]
    if "score" in left:
        out["strength"] = a["score"].astype(float) - b["score"].astype(float)
    return out


# ----------------------------------------------------------------- ratings
RATING_KNOWN = ("response_id", "response", "annotator_id", "score", "prompt", "prompt_id", "model", "aspect")


def _reject(rej: Collector, ok: np.ndarray, bad: np.ndarray, f: pd.DataFrame, col: str, reason: str,
            fix: str) -> None:
    """Reject the still-usable rows flagged in ``bad`` and clear them from ``ok`` (in place)."""
    bad = bad & ok
    if bad.any():
        rej.reject_rows(np.flatnonzero(bad), col, f[col][bad] if col in f else "", reason, fix)
        ok &= ~bad


def read_ratings(src: Any, rej: Collector, *, aspect: str | None = None) -> PreferenceData:
    f: pd.DataFrame = src.frame
    if "response" not in f and "response_id" not in f:
        missing_columns_error(src, "ratings", ["response_id"], " (or 'response' with the texts)")
    missing_columns_error(src, "ratings", ["annotator_id", "score"])
    n = len(f)
    ok = np.ones(n, dtype=bool)
    score = pd.to_numeric(f["score"], errors="coerce")
    _reject(rej, ok, score.isna().to_numpy(), f, "score", "score is missing or not a number",
            "Fix the score, or map text scores with mapping={'score': {'good': 4, ...}}.")
    if not pd.api.types.is_numeric_dtype(f["score"]) and ok.any():
        rej.coerced(pd.DataFrame({"column": [rej.column("score")], "value": ["<text>"], "to": ["<number>"],
                                  "n": [int(ok.sum())]}))
    ann_all = normalize_ids(f["annotator_id"])
    if ann_all.notna().any():
        _reject(rej, ok, ann_all.isna().to_numpy(), f, "annotator_id",
                "annotator id is missing while other rows name their annotator",
                "Fill in the annotator id (or remove the column if the file has no annotators).")
    rid_given = normalize_ids(f["response_id"]) if "response_id" in f else None
    if rid_given is not None and "response" not in f:
        _reject(rej, ok, rid_given.isna().to_numpy(), f, "response_id", "response id is missing",
                "Fill in the response id, or add a `response` column with the texts.")
    # prompts (optional): ids as given, else hashed from the prompt text; aligned with f's rows
    pid, prompts = _prompt_ids(f, np.arange(n))
    if pid is not None and "prompt" in f and "prompt_id" in f:
        ptext, _ = as_text(f["prompt"])
        _reject(rej, ok, text_conflicts(pid.where(ok), ptext), f, "prompt_id",
                "prompt id seen before with a different prompt text",
                "Give each distinct prompt its own prompt id, or correct the texts.")
    text = None
    if "response" in f:
        text, k = as_text(f["response"])
        if k:
            rej.coerced(pd.DataFrame({"column": [rej.column("response")], "value": ["<non-string>"],
                                      "to": ["<text>"], "n": [k]}))
    # response ids: the user's ids as given; texts only name responses that have no id
    key = pid.fillna("") if pid is not None else pd.Series("", index=f.index, dtype="str")
    if rid_given is not None:
        rid = rid_given
        if text is not None and rid.isna().any():
            rid = rid.fillna(pd.Series(stable_id("r", key, text), dtype="str"))
        if text is not None:
            _reject(rej, ok, text_conflicts(rid.where(ok), text), f, "response_id",
                    "response id seen before with a different text",
                    "Give each distinct text its own response id, or correct the texts.")
    else:
        rid = pd.Series(stable_id("r", key, text), dtype="str")
    if pid is not None:  # one response answers one prompt
        _reject(rej, ok, text_conflicts(rid.where(ok), key), f, "response_id",
                "response id seen before under a different prompt",
                "A response answers one prompt: give the responses of different prompts distinct ids.")
    rows = np.flatnonzero(ok)
    r = pd.DataFrame({"response_id": rid.iloc[rows].reset_index(drop=True),
                      "annotator_id": ann_all.iloc[rows].reset_index(drop=True),
                      "score": score.iloc[rows].to_numpy(dtype=float)})
    if pid is not None:
        r["prompt_id"] = pid.iloc[rows].reset_index(drop=True)
        if prompts is not None:
            prompts = prompts[prompts["prompt_id"].isin(set(r["prompt_id"].dropna()))].reset_index(drop=True)
    for col in ("model", "aspect"):
        if col in f:
            r[col] = normalize_ids(f[col].iloc[rows].reset_index(drop=True))
    nested = nested_columns(f, [c for c in f.columns if c not in RATING_KNOWN])
    rej.unused(nested)
    for col in f.columns:  # extra columns (timestamp, batch, vendor, ...) are kept, as on judgments
        if col not in RATING_KNOWN and str(col) not in nested:
            r[str(col)] = f[col].iloc[rows].reset_index(drop=True)
    responses = None
    if text is not None:
        responses = pd.DataFrame({"response_id": r["response_id"],
                                  "prompt_id": r.get("prompt_id", pd.NA),
                                  "text": text.iloc[rows].reset_index(drop=True)})
        responses = responses.drop_duplicates("response_id").reset_index(drop=True)
    notes: list[str] = []
    meta: dict[str, Any] = {"source_format": "ratings", "conversational": False}
    aspects = sorted(r["aspect"].dropna().unique().tolist()) if "aspect" in r else []
    if aspects:
        meta["aspects"] = aspects
    pool = r.assign(_row=rows, _aspect=r["aspect"].fillna("") if "aspect" in r else "")
    if aspect is not None:
        if aspect not in aspects:
            raise SchemaError(f"{src.name}: `aspect` {aspect!r} is not in the data; aspects found: {aspects}.")
        pool = pool[pool["aspect"] == aspect]
        meta["aspect"] = aspect
    elif len(aspects) > 1:
        notes.append(f"{len(aspects)} aspects ({', '.join(aspects)}) are separate scales: judgments carry an "
                     "`aspect` column; analyse one aspect at a time (read with aspect=...).")
    pool = pool[pool["annotator_id"].notna()]
    if "prompt_id" not in pool:
        notes.append("no prompt ids: each response is its own unit, so no pairwise judgments are derived "
                     "(ratings only).")
        pool = pool.iloc[:0].assign(prompt_id=pd.Series(dtype="str"))
    else:
        pool = pool[pool["prompt_id"].notna()]
    dup = pool.duplicated(["annotator_id", "response_id", "_aspect"])
    if dup.any():
        notes.append(f"{int(dup.sum()):,} repeated ratings (same annotator, response, aspect) are kept in "
                     "ratings; pairs use the first.")
        pool = pool[~dup]
    keys = ["annotator_id", "prompt_id", "_aspect"]
    m = pool[["_row", "response_id", "score", *keys, *(["model"] if "model" in pool else [])]]
    m = m.merge(m, on=keys, suffixes=("_1", "_2"))
    m = m[m["response_id_1"] < m["response_id_2"]].reset_index(drop=True)
    left = pd.DataFrame({"response_id": m["response_id_1"], "score": m["score_1"]})
    right = pd.DataFrame({"response_id": m["response_id_2"], "score": m["score_2"]})
    if "model" in pool:
        left["model"], right["model"] = m["model_1"], m["model_2"]
    cid = stable_id("c", m["_aspect"], m["response_id_1"], m["response_id_2"])
    diff = m["score_1"].to_numpy() - m["score_2"].to_numpy()
    long = _pairs_to_long(left, right, diff > 0, diff == 0, cid)
    long.insert(0, "_row", m["_row_1"].to_numpy())
    long.insert(2, "annotator_id", m["annotator_id"].to_numpy())
    long["prompt_id"] = m["prompt_id"].to_numpy()
    if aspects:
        long["aspect"] = m["_aspect"].to_numpy()
    return assemble(long, src, "ratings", rej, order_known=False, meta=meta, notes=notes, ratings=r,
                    extra_used_rows=rows, extra_responses=responses, prompts_table=prompts)


# ---------------------------------------------------------------- rankings
def read_rankings(src: Any, rej: Collector, *, ranking_items: str = "text",
                  id_column: str | None = None) -> PreferenceData:
    f: pd.DataFrame = src.frame
    missing_columns_error(src, "rankings", ["ranking"])
    if "prompt" not in f and "prompt_id" not in f:
        missing_columns_error(src, "rankings", ["prompt"], " (or 'prompt_id')")
    rej.unused([c for c in f.columns if c not in ("ranking", "prompt", "prompt_id", "annotator_id",
                                                   id_column or "comparison_id")])
    lengths = np.fromiter((len(v) if isinstance(v, (list, np.ndarray)) else -1 for v in f["ranking"]),
                          dtype=np.int64, count=len(f))
    bad = lengths < 2
    if bad.any():
        rej.reject_rows(np.flatnonzero(bad), "ranking", f["ranking"][bad],
                        "a ranking must be a list of at least two responses, best first",
                        "Write the ranking as a JSON list such as [\"best text\", \"second text\"].")
    rows = np.flatnonzero(~bad)
    rid_of_row = comparison_ids(src, f, id_column, rows)
    if rid_of_row.isna().any():
        missing = rid_of_row.isna().to_numpy()
        rej.reject_rows(rows[missing], id_column or "comparison_id", rid_of_row[missing], "ranking id is missing",
                        "Fill it, or drop `id_column` to number rankings by source line.")
        rows, rid_of_row = rows[~missing], rid_of_row[~missing].reset_index(drop=True)
    rid_of_row = rid_of_row.to_numpy()
    pid, prompts = _prompt_ids(f, rows)
    ann = (normalize_ids(f["annotator_id"].iloc[rows].reset_index(drop=True)) if "annotator_id" in f
           else pd.Series(pd.NA, index=range(len(rows)), dtype="str"))
    lens = lengths[rows]
    pos = np.repeat(np.arange(len(rows)), lens)
    rank = np.arange(len(pos)) - np.repeat(np.cumsum(lens) - lens, lens) + 1
    items = pd.Series(np.concatenate([np.asarray(list(v), dtype=object) for v in f["ranking"].iloc[rows]]))
    item_pid = pid.to_numpy()[pos] if pid is not None else np.full(len(pos), "", dtype=object)
    responses = None
    if ranking_items == "text":
        text, _ = as_text(items)
        resp = stable_id("r", pd.Series(item_pid, dtype="str"), text)
        responses = pd.DataFrame({"response_id": resp, "prompt_id": item_pid, "text": text})
        responses = responses.drop_duplicates("response_id").reset_index(drop=True)
    else:
        resp = normalize_ids(items).to_numpy(dtype=object)
    long_rank = pd.DataFrame({"ranking_id": rid_of_row[pos], "annotator_id": ann.to_numpy()[pos],
                              "prompt_id": item_pid, "response_id": resp, "rank": rank, "_pos": pos})
    dup = long_rank.duplicated(["_pos", "response_id"]).to_numpy()
    if dup.any():
        bad_pos = np.unique(long_rank["_pos"].to_numpy()[dup])
        rej.reject_rows(rows[bad_pos], "ranking", f["ranking"].iloc[rows[bad_pos]].astype("str"),
                        "a ranking lists the same response twice", "Remove the repeated entry.")
        long_rank = long_rank[~long_rank["_pos"].isin(bad_pos)]
    m = long_rank.merge(long_rank[["_pos", "response_id", "rank"]], on="_pos", suffixes=("_1", "_2"))
    m = m[m["rank_1"] < m["rank_2"]].reset_index(drop=True)  # 1 = the better of the two
    lo = np.minimum(m["response_id_1"].to_numpy(dtype=object), m["response_id_2"].to_numpy(dtype=object))
    hi = np.maximum(m["response_id_1"].to_numpy(dtype=object), m["response_id_2"].to_numpy(dtype=object))
    cid = stable_id("c", pd.Series(lo, dtype="str"), pd.Series(hi, dtype="str"))
    # orient every comparison the same way for all annotators (lower id left), then place by hash
    left = pd.DataFrame({"response_id": lo})
    right = pd.DataFrame({"response_id": hi})
    winner_left = m["response_id_1"].to_numpy(dtype=object) == lo
    long = _pairs_to_long(left, right, winner_left, np.zeros(len(m), dtype=bool), cid)
    long.insert(0, "_row", rows[m["_pos"].to_numpy()])
    long.insert(2, "annotator_id", m["annotator_id"].to_numpy())
    if pid is not None:
        long["prompt_id"] = m["prompt_id"].to_numpy()
    rankings = long_rank.drop(columns="_pos").reset_index(drop=True)
    meta = {"source_format": "rankings", "conversational": False}
    return assemble(long, src, "rankings", rej, order_known=False, meta=meta, rankings=rankings,
                    extra_responses=responses, prompts_table=prompts)
