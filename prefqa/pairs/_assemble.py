"""Units -> guards -> output frames, on integer positions and Arrow takes (no per-row Python objects).

A *unit* table is a dict of equal-length columns, one entry per input
comparison (judged data) or candidate (rated data):

``comparison_id``, ``prompt_id``, ``id_1``, ``id_2`` (the two response ids),
``model_1``, ``model_2``: pandas Series (string ids stay Arrow-backed);
``swap``: the chosen response is ``id_2``; ``n_judgments``, ``agreement``,
``p_chosen``, ``margin``, ``weight``, ``is_tie`` (and, for rated data,
``chosen_score``, ``rejected_score``): numpy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._guards import (
    blank_mask, duplicate_mask, identical_mask, jaccard_word_bigrams, near_duplicate_mask, text_codes,
    truncation_mask,
)
from ._result import PAIR_COLUMNS, REASONS

__all__ = ["as_arrow", "positions", "take", "apply_guards", "frames"]


def as_arrow(values: pd.Series | np.ndarray) -> pa.Array:
    """One Arrow ``large_string`` array (zero-copy for Arrow-backed string Series)."""
    arr = pa.array(values, from_pandas=True) if not isinstance(values, pa.Array) else values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == pa.large_string() else arr.cast(pa.large_string())


def positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """Row of ``keys`` holding each value (first match), -1 when absent; an Arrow hash lookup.

    Examples
    --------
    >>> positions(pd.Series(["b", "x", None]), pd.Series(["a", "b"])).tolist()
    [1, -1, -1]
    """
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    idx = pc.index_in(as_arrow(values), value_set=as_arrow(keys))
    return idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def take(series: pd.Series, rows: np.ndarray) -> pd.Series:
    """``series.iloc[rows]`` with a fresh 0..n-1 index."""
    return series.iloc[rows].reset_index(drop=True)


def text_array(texts: pd.Series) -> pa.Array:
    """Texts as one Arrow ``large_string`` array, missing as ``""``; no copy for Arrow-backed text without gaps."""
    if texts.dtype == object:
        texts = texts.astype("str")
    if texts.hasnans:
        texts = texts.fillna("")
    return as_arrow(texts)


def _take_text(arr: pa.Array, pos: np.ndarray) -> pd.Series:
    """``arr[pos]`` as a string Series; ``""`` where ``pos`` is -1 (no copy of ``arr`` itself)."""
    missing = pos < 0
    idx = pa.array(pos, mask=missing) if missing.any() else pa.array(pos)
    out = pd.Series(arr.take(idx), dtype="str")
    return out.fillna("") if missing.any() else out


def apply_guards(u: dict, reason: np.ndarray, detail: np.ndarray, guards: tuple[str, ...], texts: pd.Series,
                 cpos: np.ndarray, rpos: np.ndarray, ptab: pd.DataFrame, ppos: np.ndarray, pkey: np.ndarray,
                 ni_thr: float, nd_thr: float, tokenizer: Any, max_tokens: int | None) -> None:
    """Mark the units each guard drops, in place (``reason`` codes, ``detail`` notes)."""
    def alive() -> np.ndarray:
        return (reason == None) & (cpos >= 0) & (rpos >= 0)  # noqa: E711

    arr = text_array(texts)
    if "empty" in guards:
        blank = blank_mask(arr)
        idx = np.flatnonzero(alive())
        reason[idx[blank[cpos[idx]] | blank[rpos[idx]]]] = "empty"
    if "identical" in guards:
        idx = np.flatnonzero(alive())
        reason[idx[identical_mask(arr, cpos[idx], rpos[idx], texts)]] = "identical"
    if "truncation" in guards:
        assert max_tokens is not None  # for mypy: build_pairs refuses the truncation guard without max_tokens
        hit = truncation_mask(ptab["text"], ppos, texts, cpos, rpos, alive(), tokenizer, int(max_tokens))
        reason[hit] = "truncation_identical"
    if "near_identical" in guards:
        idx = np.flatnonzero(alive())
        sim = jaccard_word_bigrams(texts, cpos[idx], rpos[idx])
        reason[idx[sim >= ni_thr]] = "near_identical"
    if "duplicate" in guards:
        idx = _exact_duplicate_candidates(arr, np.flatnonzero(alive()), cpos, rpos, pkey, u["is_tie"])
        used, inv = np.unique(np.concatenate([cpos[idx], rpos[idx]]), return_inverse=True)
        raw = text_codes(texts.iloc[used])[0][inv]  # exact text codes, only where a duplicate is possible
        is_tie = u["is_tie"][idx]
        hc, hr = raw[: len(idx)], raw[len(idx):]
        k1, k2 = np.where(is_tie, np.minimum(hc, hr), hc), np.where(is_tie, np.maximum(hc, hr), hr)
        dup, first = duplicate_mask([pkey[idx], k1, k2, is_tie], np.ones(len(idx), dtype=bool))
        hit = np.flatnonzero(dup)
        reason[idx[hit]] = "duplicate"
        _note_first(u, detail, idx[hit], idx[first[hit]])
    if "near_duplicate" in guards:
        dup, first = near_duplicate_mask(texts, pkey, cpos, rpos, alive(), nd_thr)
        hit = np.flatnonzero(dup)
        reason[hit] = "near_duplicate"
        _note_first(u, detail, hit, first[hit])


def _exact_duplicate_candidates(arr: pa.Array, idx: np.ndarray, cpos: np.ndarray, rpos: np.ndarray,
                                pkey: np.ndarray, is_tie: np.ndarray) -> np.ndarray:
    """Rows of ``idx`` that share (prompt, byte lengths of chosen and rejected, tie) with another row.

    Exact duplicates must share these, so only these rows need exact text
    codes (factorizing every text would copy all of them).
    """
    if len(idx) < 2:
        return idx
    blen = pc.binary_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
    tie = is_tie[idx]
    lc, lr = blen[cpos[idx]], blen[rpos[idx]]
    k1, k2 = np.where(tie, np.minimum(lc, lr), lc), np.where(tie, np.maximum(lc, lr), lr)
    key = pd.MultiIndex.from_arrays([pkey[idx], k1, k2, tie])
    return idx[key.duplicated(keep=False)]


def _unit_names(u: dict, rows: np.ndarray) -> np.ndarray:
    """The comparison id of each row, or ``chosen>rejected`` response ids for rated candidates."""
    cid = take(u["comparison_id"], rows).astype("object")
    i1, i2 = take(u["id_1"], rows).astype("str"), take(u["id_2"], rows).astype("str")
    sw = u["swap"][rows]
    pair = pd.Series(np.where(sw, i2, i1), dtype="str") + ">" + pd.Series(np.where(sw, i1, i2), dtype="str")
    return np.where(cid.notna(), cid, pair).astype(object)


def _note_first(u: dict, detail: np.ndarray, rows: np.ndarray, firsts: np.ndarray) -> None:
    if len(rows):
        detail[rows] = " (first kept: " + pd.Series(_unit_names(u, firsts), dtype="str") + ")"


def _side(u: dict, key: str, rows: np.ndarray, chosen: bool) -> pd.Series:
    """``model_1``/``model_2`` (or ``id_1``/``id_2``) of the chosen (or rejected) side, as strings."""
    a, b = take(u[f"{key}_1"], rows), take(u[f"{key}_2"], rows)
    pick = u["swap"][rows] if chosen else ~u["swap"][rows]
    return a.astype("str").where(~pick, b.astype("str"))


def frames(data: Any, u: dict, reason: np.ndarray, detail: np.ndarray, texts: pd.Series, cpos: np.ndarray,
           rpos: np.ndarray, ptab: pd.DataFrame, ppos: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return (pairs, ties kept for KTO, dropped) with the columns of :class:`PairSet`."""
    keep = reason == None  # noqa: E711
    is_tie = u["is_tie"]
    text_arr = text_array(texts)
    prompt_arr = text_array(ptab["text"]) if len(ptab) else pa.array([], type=pa.large_string())
    rid = as_arrow(data.responses["response_id"].astype("str"))

    def table(rows: np.ndarray) -> pd.DataFrame:
        c, r, p = cpos[rows], rpos[rows], ppos[rows]
        cols: dict[str, Any] = {
            "prompt_id": take(u["prompt_id"], rows).astype("str"),
            "prompt": _take_text(prompt_arr, p),
            "chosen": _take_text(text_arr, c),
            "rejected": _take_text(text_arr, r),
            "chosen_id": pd.Series(rid.take(c), dtype="str"),
            "rejected_id": pd.Series(rid.take(r), dtype="str"),
            "chosen_model": _side(u, "model", rows, True),
            "rejected_model": _side(u, "model", rows, False),
        }
        for col in PAIR_COLUMNS[8:-1]:
            cols[col] = u[col][rows]
        cols["comparison_ids"] = take(u["comparison_id"], rows).astype("str").fillna("")
        for col in ("chosen_score", "rejected_score"):
            if col in u:
                cols[col] = u[col][rows]
        if data.conversational and "messages" in ptab:
            msgs = ptab["messages"].astype("str").to_numpy(dtype=object)
            cols["prompt_messages"] = pd.Series(np.where(p >= 0, msgs[np.maximum(p, 0)], None), dtype="str")
        return pd.DataFrame(cols)

    pairs = table(np.flatnonzero(keep & ~is_tie))
    tie_frame = table(np.flatnonzero(keep & is_tie))
    d = np.flatnonzero(~keep)
    codes = pd.Series(reason[d], dtype="str")
    dropped = pd.DataFrame({
        "comparison_id": take(u["comparison_id"], d).astype("str"),
        "prompt_id": take(u["prompt_id"], d).astype("str"),
        "chosen_id": _side(u, "id", d, True),
        "rejected_id": _side(u, "id", d, False),
        "reason_code": codes,
        "reason": codes.map(REASONS).astype("str") + pd.Series(detail[d], dtype="str"),
    })
    return pairs, tie_frame, dropped
