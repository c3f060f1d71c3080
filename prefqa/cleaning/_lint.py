"""``pq.lint``: training-readiness problems of preference data, one row per problem with a reason code.

The checks need no labels except ``contradictory_duplicate`` (the majority
vote of ``pq.consensus``); they look at each comparison's two responses in
their canonical order (``response_1_id``, ``response_2_id`` of
:meth:`PreferenceData.comparisons`). ``empty``, ``identical`` and
``truncation_identical`` are the very functions ``build_pairs``' guards call
(``prefqa.cleaning._text``), so lint and the export agree. Conversational
structure is checked on the prompts' message lists of a ``PreferenceData``
or, for raw TRL rows passed as a DataFrame, on the ``prompt`` / ``chosen`` /
``rejected`` message lists themselves (``prefqa.cleaning._lint_messages``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import SchemaError
from ..schema import PreferenceData
from ._lint_messages import as_message_lists, conversation_problems, prefix_mismatch, prompt_message_lists
from ._text import (
    TRUNCATION_MODES, blank_mask, control_char_mask, identical_mask, mojibake_mask, resolve_tokenizer,
    text_array, text_codes, token_lengths, truncated_equal,
)

__all__ = ["LINT_REASONS", "LintResult", "lint"]

# reason code -> words, in the order of the report
LINT_REASONS: dict[str, str] = {
    "roles_not_alternating": "user and assistant turns do not alternate (after an optional leading system turn)",
    "empty_turn": "a conversation turn is empty or whitespace only",
    "last_turn_not_assistant": "the last turn of chosen or rejected is not the assistant's",
    "prompt_not_shared_prefix": "chosen and rejected differ before their last turn (no shared implicit prompt)",
    "missing_text": "a response text is missing",
    "empty": "a response is empty or whitespace only",
    "identical": "the two responses are identical after whitespace normalisation",
    "truncation_identical": "the two responses become identical after truncation to `max_tokens` (as TRL truncates)",
    "prompt_too_long": "the prompt alone has more than `max_prompt_tokens` tokens (the trainer keeps only its end)",
    "contradictory_duplicate": ("the same prompt and the same two responses are labelled both ways in different "
                                "comparisons"),
    "response_repeats_prompt": "a response repeats the whole prompt verbatim (20+ characters, ends trimmed)",
    "control_characters": "a text holds control characters (other than tab and newline)",
    "mojibake": "a text looks mis-decoded (UTF-8 read as cp1252 / Latin-1, or U+FFFD)",
}
PROBLEM_COLUMNS: tuple[str, ...] = ("comparison_id", "prompt_id", "response_id", "field", "reason_code", "reason")
MIN_REPEAT_CHARS = 20  # a prompt shorter than this (after whitespace normalisation) is not checked for repeats


@dataclass(frozen=True, eq=False)
class LintResult:
    """Training-readiness problems: one row per (comparison, problem).

    Attributes
    ----------
    problems : DataFrame
        ``comparison_id``, ``prompt_id``, ``response_id`` (the offending
        response, empty for a pair- or prompt-level problem), ``field``
        (``prompt``, ``response``, ``pair``, ``chosen``, ``rejected``),
        ``reason_code`` (a key of ``LINT_REASONS``) and ``reason`` (words).
    n_comparisons : int
        Comparisons checked.
    settings : dict
        ``max_tokens``, ``max_prompt_tokens``, ``truncation_mode``, ``tokenizer``.
    warnings : tuple of str
        Plain-language remarks (checks that could not run, and why).
    """

    problems: pd.DataFrame
    n_comparisons: int
    settings: dict[str, Any]
    warnings: tuple[str, ...] = field(default=())

    @property
    def n_problems(self) -> int:
        """Number of problem rows."""
        return len(self.problems)

    def counts(self) -> dict[str, int]:
        """Return ``{reason_code: number of rows}`` in report order, zeros omitted."""
        vc = self.problems["reason_code"].value_counts()
        return {k: int(vc[k]) for k in LINT_REASONS if k in vc.index}

    def comparison_ids(self, reasons: tuple[str, ...] | list[str] | None = None) -> tuple[str, ...]:
        """Distinct comparison ids with a problem (of the given reason codes), in first-seen order."""
        p = self.problems if reasons is None else self.problems.loc[self.problems["reason_code"].isin(list(reasons))]
        return tuple(pd.unique(p["comparison_id"].astype("str")).tolist())

    def to_frame(self) -> pd.DataFrame:
        """Return the problems (a copy)."""
        return self.problems.copy()

    def summary(self) -> str:
        """Return a plain-text account: problems by reason, and affected comparisons."""
        n_aff = len(self.comparison_ids())
        lines = [f"{self.n_problems:,} training-readiness problems in {n_aff:,} of {self.n_comparisons:,} comparisons."]
        lines += [f"  {n:>8,}  {code}: {LINT_REASONS[code]}" for code, n in self.counts().items()]
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"LintResult({self.n_problems:,} problems in {self.n_comparisons:,} comparisons)"


def _check_options(tokenizer: Any, max_tokens: Any, max_prompt_tokens: Any, truncation_mode: str) -> None:
    if truncation_mode not in TRUNCATION_MODES:
        raise SchemaError(f"`truncation_mode` must be one of {list(TRUNCATION_MODES)}; got {truncation_mode!r}.")
    for name, v in (("max_tokens", max_tokens), ("max_prompt_tokens", max_prompt_tokens)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
            raise SchemaError(f"`{name}` must be None or a positive integer; got {v!r}.")
    if (max_tokens is not None or max_prompt_tokens is not None) and tokenizer is None:
        raise SchemaError("`max_tokens` / `max_prompt_tokens` count tokens, so they need `tokenizer` (a callable "
                          "text -> token ids, an object with .encode, or a path to a local tokenizer.json).")
    if tokenizer is not None and max_tokens is None and max_prompt_tokens is None:
        raise SchemaError("`tokenizer` is used only with `max_tokens` and/or `max_prompt_tokens`; pass them "
                          "(TRL's max_length and max_prompt_length).")


def _text_arr(texts: pd.Series) -> pa.Array:
    return text_array(texts)


def _positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    return pd.Index(keys.astype("str")).get_indexer(values.astype("str").fillna("\x00"))


def _raw_structure(frame: pd.DataFrame) -> tuple[pd.DataFrame, PreferenceData]:
    """Structural problems of raw TRL rows, and the rows read as PreferenceData (ids ``row<n>``)."""
    from ..io import read

    missing = [c for c in ("chosen", "rejected") if c not in frame]
    if missing:
        raise SchemaError(f"raw rows for pq.lint need `chosen` and `rejected` columns (TRL layout); missing "
                          f"{missing}, found {list(map(str, frame.columns))}.")
    data = read(frame, format="trl")
    # the reader keeps every row (it raises on a bad one) in order: row i is judgment i
    cid = data.judgments["comparison_id"].astype("str").reset_index(drop=True)
    if len(cid) != len(frame):  # pragma: no cover - the reader raises instead of skipping
        raise SchemaError(f"pq.lint read {len(cid)} of {len(frame)} rows; fix the rejected rows first.")
    first = frame["chosen"].dropna().head(1)
    rows: list[pd.DataFrame] = []
    if not len(first) or isinstance(first.iloc[0], str):
        return pd.DataFrame(columns=["row", "field", "reason_code"]), data
    chosen, rejected = as_message_lists(frame["chosen"], "chosen"), as_message_lists(frame["rejected"], "rejected")
    if "prompt" in frame:
        pr = conversation_problems(as_message_lists(frame["prompt"], "prompt"), completion=False)
        for code, mask in pr.items():
            rows.append(pd.DataFrame({"row": np.flatnonzero(mask), "field": "prompt", "reason_code": code}))
    else:
        rows.append(pd.DataFrame({"row": np.flatnonzero(prefix_mismatch(chosen, rejected)), "field": "pair",
                                  "reason_code": "prompt_not_shared_prefix"}))
    for name, conv in (("chosen", chosen), ("rejected", rejected)):
        # with an explicit prompt the completion is the assistant's turns alone
        probs = conversation_problems(conv, completion=True)
        if "prompt" in frame:
            lengths = np.diff(conv.offsets.to_numpy())
            probs["roles_not_alternating"] = probs["roles_not_alternating"] & (lengths > 1)
        for code, mask in probs.items():
            rows.append(pd.DataFrame({"row": np.flatnonzero(mask), "field": name, "reason_code": code}))
    out = pd.concat(rows, ignore_index=True)
    out["comparison_id"] = cid.to_numpy()[out["row"].to_numpy(dtype=np.int64)]
    return out, data


def lint(
    data: PreferenceData | pd.DataFrame,
    *,
    tokenizer: Any = None,
    max_tokens: int | None = None,
    max_prompt_tokens: int | None = None,
    truncation_mode: str = "keep_end",
) -> LintResult:
    """Find what would make preference pairs untrainable or misleading; one row per problem.

    Parameters
    ----------
    data : PreferenceData or DataFrame
        Read data, or raw TRL rows (``prompt``, ``chosen``, ``rejected`` as
        strings or ``{role, content}`` lists; read with ``format='trl'``,
        comparison ids ``row1``, ``row2``, ...): raw rows add the checks of
        ``chosen`` / ``rejected`` turn structure that reading flattens away.
    tokenizer : callable, object with ``.encode``, or path, optional
        Text -> token ids; a path is a local ``tokenizer.json`` loaded with
        the ``tokenizers`` package (never downloaded). Needed by
        ``max_tokens`` and ``max_prompt_tokens``.
    max_tokens : int, optional
        TRL's ``max_length``: prompt + completion tokens kept. Pairs whose two
        sequences are equal after the cut are ``truncation_identical`` (the
        reason ``build_pairs``' ``'truncation'`` guard uses).
    max_prompt_tokens : int, optional
        TRL's ``max_prompt_length`` (TRL < 1.0): prompts with more tokens
        are ``prompt_too_long``; the cut prompt (its last tokens) is what the
        truncation check uses.
    truncation_mode : {'keep_end', 'keep_start'}
        TRL's ``truncation_mode`` (``keep_end`` is the default of TRL < 1.0,
        ``keep_start`` of TRL >= 1.0): keep the first or the last
        ``max_tokens`` tokens of prompt + completion.

    Returns
    -------
    LintResult
        ``problems`` with a reason code per row (``LINT_REASONS``).

    Raises
    ------
    SchemaError
        Bad options, or data without response texts.

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> rows = pd.DataFrame({"prompt": ["Say hi", "Say hi", "2+2?"], "chosen": ["hi", "Hello", "4"],
    ...                      "rejected": ["hi ", "Yo", "caf\\u00c3\\u00a9"]})
    >>> pq.lint(rows).problems[["comparison_id", "reason_code"]].values.tolist()
    [['row1', 'identical'], ['row3', 'mojibake']]
    """
    _check_options(tokenizer, max_tokens, max_prompt_tokens, truncation_mode)
    raw = None
    if isinstance(data, pd.DataFrame):
        raw, data = _raw_structure(data)
    elif not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData or a DataFrame of TRL rows; got {type(data).__name__}.")
    c = data.comparisons()
    if "response_2_id" not in c or not data.has_texts:
        raise SchemaError("pq.lint needs response texts: the judgments have no `response_a_id`/`response_b_id` "
                          "with a `responses` table. Read data that carries `response_a` and `response_b` texts.")
    n = len(c)
    texts = data.responses["text"].astype("str").fillna("").reset_index(drop=True)
    rid = data.responses["response_id"].astype("str").reset_index(drop=True)
    ptab = data.prompts
    ptext = ptab["text"].astype("str").fillna("").reset_index(drop=True) if len(ptab) else pd.Series([], dtype="str")
    p1, p2 = _positions(c["response_1_id"], rid), _positions(c["response_2_id"], rid)
    pid = c["prompt_id"] if "prompt_id" in c else pd.Series([None] * n, dtype="object")
    pp = _positions(pid, ptab["prompt_id"]) if len(ptab) else np.full(n, -1, dtype=np.int64)
    parts: list[tuple[np.ndarray, str, np.ndarray | None, str, Any]] = []  # (rows, field, resp pos, code, detail)

    def add(rows: np.ndarray, fld: str, code: str, resp: np.ndarray | None = None, detail: Any = "") -> None:
        if len(rows):
            parts.append((rows, fld, resp, code, detail))

    if raw is not None and len(raw):
        pos = pd.Index(c["comparison_id"].astype("str")).get_indexer(raw["comparison_id"].astype("str"))
        for code in ("roles_not_alternating", "empty_turn", "last_turn_not_assistant", "prompt_not_shared_prefix"):
            sel = (raw["reason_code"] == code).to_numpy() & (pos >= 0)
            for fld in pd.unique(raw.loc[sel, "field"]):
                s = sel & (raw["field"] == fld).to_numpy()
                add(pos[s], str(fld), code)
    elif data.conversational and "messages" in ptab and len(ptab):
        probs = conversation_problems(prompt_message_lists(ptab["messages"]), completion=False)
        for code in ("roles_not_alternating", "empty_turn"):
            add(np.flatnonzero((pp >= 0) & probs[code][np.maximum(pp, 0)]), "prompt", code)
    missing = (p1 < 0) | (p2 < 0)
    add(np.flatnonzero(missing), "pair", "missing_text")
    arr = _text_arr(texts)
    blank = blank_mask(arr)
    ok = np.flatnonzero(~missing)
    for side in (p1, p2):
        e = ok[blank[side[ok]]]
        add(e, "response", "empty", side)
    alive = ok[~(blank[p1[ok]] | blank[p2[ok]])]
    same = identical_mask(arr, p1[alive], p2[alive], texts)
    add(alive[same], "pair", "identical")
    rest = alive[~same]
    settings = {"max_tokens": None if max_tokens is None else int(max_tokens),
                "max_prompt_tokens": None if max_prompt_tokens is None else int(max_prompt_tokens),
                "truncation_mode": truncation_mode,
                "tokenizer": None if tokenizer is None else (str(tokenizer) if isinstance(tokenizer, (str, os.PathLike))
                                                             else type(tokenizer).__name__)}
    if tokenizer is not None:
        encode = resolve_tokenizer(tokenizer)
        if max_tokens is not None:
            eq, _ = truncated_equal(encode, ptext, pp[rest], texts, p1[rest], p2[rest], max_tokens=int(max_tokens),
                                    max_prompt_tokens=max_prompt_tokens, truncation_mode=truncation_mode)
            add(rest[eq], "pair", "truncation_identical", None, f" (max_tokens={int(max_tokens)}, {truncation_mode})")
        if max_prompt_tokens is not None:
            has_p = np.flatnonzero(pp >= 0)
            lens = token_lengths(encode, ptext, pp[has_p])
            long = lens > int(max_prompt_tokens)
            note = " (" + pd.Series(lens[long]).astype("str") + f" tokens > {int(max_prompt_tokens)})"
            add(has_p[long], "prompt", "prompt_too_long", None, note.to_numpy(dtype=object))
    _contradictions(data, c, texts, ptext, pp, p1, p2, ~missing, add)
    _repeats(ptext, pp, texts, p1, p2, alive, add)
    for fld, tab, pos_arr in (("prompt", ptext, [pp]), ("response", texts, [p1, p2])):
        if not len(tab):
            continue
        for code, mask in (("control_characters", control_char_mask(tab)), ("mojibake", mojibake_mask(tab))):
            for side in pos_arr:
                rows = np.flatnonzero((side >= 0) & mask[np.maximum(side, 0)])
                add(rows, fld, code, side if fld == "response" else None)
    problems = _assemble(parts, c, pid, rid, n)
    return LintResult(problems=problems, n_comparisons=n, settings=settings, warnings=())


def _contradictions(data, c, texts, ptext, pp, p1, p2, usable, add) -> None:
    """Comparisons whose (prompt text, pair of response texts) is labelled both ways elsewhere."""
    from ..consensus import consensus

    labels = consensus(data, method="majority").labels["label"].reindex(c["comparison_id"]).to_numpy(dtype=object)
    decisive = usable & np.isin(labels, ["1", "2"])
    rows = np.flatnonzero(decisive)
    if len(rows) < 2:
        return
    pkey = np.where(pp >= 0, text_codes(ptext)[0][np.maximum(pp, 0)] if len(ptext) else -1, -1)
    # equal texts have equal byte lengths: only rows sharing (prompt, the two lengths) can be duplicates
    blen = pc.binary_length(_text_arr(texts)).to_numpy(zero_copy_only=False).astype(np.int64)
    la, lb = blen[p1[rows]], blen[p2[rows]]
    key = pd.MultiIndex.from_arrays([pkey[rows], np.minimum(la, lb), np.maximum(la, lb)])
    rows = rows[key.duplicated(keep=False)]
    if len(rows) < 2:
        return
    used, inv = np.unique(np.concatenate([p1[rows], p2[rows]]), return_inverse=True)
    codes = text_codes(texts.iloc[used])[0][inv]
    a, b = codes[: len(rows)], codes[len(rows):]
    win = np.where(labels[rows] == "1", a, b)
    f = pd.DataFrame({"p": pkey[rows], "k1": np.minimum(a, b), "k2": np.maximum(a, b), "w": win, "row": rows})
    f = f.loc[f["k1"] != f["k2"]]
    n_w = f.groupby(["p", "k1", "k2"], sort=False)["w"].transform("nunique").to_numpy()
    bad = f.loc[n_w > 1]
    if not len(bad):
        return
    # name the first comparison labelled the other way
    g = ["p", "k1", "k2"]
    big = np.iinfo(np.int64).max
    first_1 = bad.assign(r=np.where(bad["w"] == bad["k1"], bad["row"], big)).groupby(g, sort=False)["r"]
    first_2 = bad.assign(r=np.where(bad["w"] == bad["k2"], bad["row"], big)).groupby(g, sort=False)["r"]
    first_1, first_2 = first_1.transform("min"), first_2.transform("min")
    mate = np.where(bad["w"].to_numpy() == bad["k1"].to_numpy(), first_2.to_numpy(), first_1.to_numpy())
    cid = c["comparison_id"].astype("str").to_numpy(dtype=object)
    detail = (" (labelled the other way in " + pd.Series(cid[mate], dtype="str") + ")").to_numpy(dtype=object)
    add(bad["row"].to_numpy(dtype=np.int64), "pair", "contradictory_duplicate", None, detail)


def _repeats(ptext, pp, texts, p1, p2, alive, add) -> None:
    """Responses that contain their whole prompt verbatim (ends trimmed), for prompts of 20+ characters."""
    if not len(ptext) or not len(alive):
        return
    parr = pc.utf8_trim_whitespace(_text_arr(ptext))
    plen = pc.utf8_length(parr).to_numpy(zero_copy_only=False)
    pbytes = pc.binary_length(parr).to_numpy(zero_copy_only=False)
    rbytes = pc.binary_length(_text_arr(texts)).to_numpy(zero_copy_only=False)
    pn = parr.to_numpy(zero_copy_only=False)
    for side in (p1, p2):
        rows = alive[pp[alive] >= 0]
        rows = rows[(plen[pp[rows]] >= MIN_REPEAT_CHARS) & (rbytes[side[rows]] >= pbytes[pp[rows]])]
        if not len(rows):
            continue
        key = pd.DataFrame({"p": pp[rows], "r": side[rows]})
        distinct = key.drop_duplicates()
        rt = texts.iloc[distinct["r"].to_numpy()].to_numpy(dtype=object)
        hit = np.array([p in r for p, r in zip(pn[distinct["p"].to_numpy()], rt)], dtype=bool)  # distinct pairs
        hits = distinct.loc[hit]
        sel = key.merge(hits.assign(h=True), on=["p", "r"], how="left")["h"].fillna(False).to_numpy(dtype=bool)
        add(rows[sel], "response", "response_repeats_prompt", side)


def _assemble(parts, c, pid, rid, n) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({k: pd.Series([], dtype="str") for k in PROBLEM_COLUMNS})
    order = {code: i for i, code in enumerate(LINT_REASONS)}
    frames = []
    for rows, fld, resp, code, detail in parts:
        rows = np.asarray(rows, dtype=np.int64)
        r_id = (rid.to_numpy(dtype=object)[resp[rows]] if resp is not None else np.full(len(rows), "", dtype=object))
        words = LINT_REASONS[code] + (pd.Series(detail, dtype="str").to_numpy(dtype=object)
                                      if not isinstance(detail, str) else detail)
        frames.append(pd.DataFrame({"row": rows, "rank": order[code], "field": fld, "reason_code": code,
                                    "response_id": r_id, "reason": words}))
    out = pd.concat(frames, ignore_index=True).sort_values(["row", "rank"], kind="stable")
    out = out.drop_duplicates(["row", "reason_code", "field", "response_id"])
    rows = out["row"].to_numpy(dtype=np.int64)
    res = pd.DataFrame({
        "comparison_id": c["comparison_id"].astype("str").to_numpy(dtype=object)[rows],
        "prompt_id": pd.Series(pid).astype("str").fillna("").to_numpy(dtype=object)[rows],
        "response_id": out["response_id"].to_numpy(dtype=object),
        "field": out["field"].to_numpy(dtype=object),
        "reason_code": out["reason_code"].to_numpy(dtype=object),
        "reason": out["reason"].to_numpy(dtype=object),
    })
    return res.astype({k: "str" for k in PROBLEM_COLUMNS}).reset_index(drop=True)
