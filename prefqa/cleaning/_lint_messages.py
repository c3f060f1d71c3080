"""Conversational structure checks for :func:`prefqa.lint`, on Arrow list arrays of ``{role, content}``.

A conversation is well formed for preference training when, after an
optional leading ``system`` turn, ``user`` and ``assistant`` turns alternate
starting with ``user`` (``roles_not_alternating``), no turn is empty or
whitespace only (``empty_turn``), and the last turn of ``chosen`` and of
``rejected`` is the assistant's (``last_turn_not_assistant``). Rows without a
``prompt`` column hold whole conversations; their prompt is implicit, so
everything but the last turn must be the same in ``chosen`` and
``rejected`` (``prompt_not_shared_prefix``). Conversations with other roles
(``tool``, ``function``) are not checked for alternation.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import SchemaError
from ._text import blank_mask

__all__ = ["as_message_lists", "conversation_problems", "prefix_mismatch", "prompt_message_lists"]

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
_ROLE_CODE = {"system": 0, "user": 1, "assistant": 2}


def as_message_lists(values: pd.Series, name: str) -> pa.ListArray:
    """Message lists (``[{role, content}, ...]`` per row) as one Arrow list array; ``None`` becomes ``[]``.

    Examples
    --------
    >>> arr = as_message_lists(pd.Series([[{"role": "user", "content": "hi"}], None]), "prompt")
    >>> arr.to_pylist()
    [[{'role': 'user', 'content': 'hi'}], []]
    """
    rows = [[] if v is None or (isinstance(v, float) and np.isnan(v)) else list(v) for v in values.tolist()]
    try:
        return pa.array(rows, type=pa.list_(_MESSAGE))
    except (pa.ArrowException, TypeError, KeyError) as exc:
        try:  # contents that are not strings (parts lists): their JSON text
            rows = [[{"role": str(m.get("role", "")), "content": m["content"] if isinstance(m.get("content"), str)
                      else json.dumps(m.get("content"), ensure_ascii=False, default=str)} for m in r] for r in rows]
            return pa.array(rows, type=pa.list_(_MESSAGE))
        except (AttributeError, pa.ArrowException, TypeError) as exc2:
            raise SchemaError(f"column {name!r} must hold lists of {{'role', 'content'}} messages; could not "
                              f"read them ({exc2}).") from exc


def prompt_message_lists(messages: pd.Series) -> pa.ListArray:
    """Parse JSON message lists (``prompts.messages``); each distinct text is parsed once.

    Examples
    --------
    >>> prompt_message_lists(pd.Series(['[{"role": "user", "content": "q"}]', ""])).to_pylist()
    [[{'role': 'user', 'content': 'q'}], []]
    """
    codes, uniques = pd.factorize(messages.astype("str").fillna(""))
    parsed = []
    for text in uniques.tolist():  # distinct prompts, not rows
        try:
            turns = json.loads(text) if text.strip() else []
        except json.JSONDecodeError:
            turns = []
        parsed.append(turns if isinstance(turns, list) else [])
    return as_message_lists(pd.Series(parsed, dtype=object), "messages").take(pa.array(codes))


def conversation_problems(conv: pa.ListArray, *, completion: bool) -> dict[str, np.ndarray]:
    """Per conversation: ``roles_not_alternating``, ``empty_turn`` and (``completion``) ``last_turn_not_assistant``.

    With ``completion=False`` the conversation is a prompt that an assistant
    turn will follow, so it must end with the user's turn.

    Examples
    --------
    >>> c = as_message_lists(pd.Series([
    ...     [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    ...     [{"role": "user", "content": "q"}, {"role": "user", "content": " "}]]), "chosen")
    >>> {k: v.tolist() for k, v in conversation_problems(c, completion=True).items()}
    {'roles_not_alternating': [False, True], 'empty_turn': [False, True], 'last_turn_not_assistant': [False, True]}
    """
    n = len(conv)
    lengths = np.diff(conv.offsets.to_numpy().astype(np.int64))
    flat = conv.flatten()
    if not len(flat):
        none = np.zeros(n, dtype=bool)
        out = {"roles_not_alternating": none, "empty_turn": none.copy()}
        if completion:
            out["last_turn_not_assistant"] = np.ones(n, dtype=bool)
        return out
    owner = np.repeat(np.arange(n), lengths)
    roles = pc.fill_null(flat.field("role"), "").to_numpy(zero_copy_only=False).astype(object)
    code = pd.Series(roles, dtype=object).map(_ROLE_CODE).fillna(3).to_numpy(dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    pos = np.arange(len(code)) - start[owner]
    is_sys = code == 0
    # index among the non-system turns of the same conversation
    non_sys = (~is_sys).astype(np.int64)
    rank = np.cumsum(non_sys) - np.repeat(np.cumsum(non_sys)[np.maximum(start - 1, 0)] * (start > 0), lengths) - 1
    expected = np.where(rank % 2 == 0, 1, 2)
    bad_turn = (is_sys & (pos > 0)) | (~is_sys & (code != expected))
    other = np.bincount(owner[code == 3], minlength=n) > 0
    out = {"roles_not_alternating": (np.bincount(owner[bad_turn], minlength=n) > 0) & ~other}
    out["empty_turn"] = np.bincount(owner[blank_mask(flat.field("content"))], minlength=n) > 0
    last = np.full(n, -1, dtype=np.int64)
    has = lengths > 0
    last[has] = code[start[has] + lengths[has] - 1]
    if completion:
        out["last_turn_not_assistant"] = last != 2
    else:  # a prompt: empty prompts are allowed; a non-empty one must end with the user's turn
        out["roles_not_alternating"] |= has & (last != 1) & ~other
    return out


def prefix_mismatch(chosen: pa.ListArray, rejected: pa.ListArray) -> np.ndarray:
    """``True`` where all turns but the last differ between chosen and rejected (implicit prompt).

    Examples
    --------
    >>> u = {"role": "user", "content": "q"}
    >>> c = as_message_lists(pd.Series([[u, {"role": "assistant", "content": "a"}]] * 2), "chosen")
    >>> r = as_message_lists(pd.Series([[u, {"role": "assistant", "content": "b"}],
    ...                                 [{"role": "user", "content": "other"}, {"role": "assistant", "content": "b"}]]),
    ...                      "rejected")
    >>> prefix_mismatch(c, r).tolist()
    [False, True]
    """
    lc = np.diff(chosen.offsets.to_numpy().astype(np.int64))
    lr = np.diff(rejected.offsets.to_numpy().astype(np.int64))
    pl = np.maximum(lc - 1, 0)
    out = pl != np.maximum(lr - 1, 0)
    same_len = np.flatnonzero(~out & (pl > 0))
    if not len(same_len):
        return out
    sc = chosen.offsets.to_numpy().astype(np.int64)[same_len]
    sr = rejected.offsets.to_numpy().astype(np.int64)[same_len]
    k = pl[same_len]
    owner = np.repeat(np.arange(len(same_len)), k)
    step = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    ic, ir = pa.array(np.repeat(sc, k) + step), pa.array(np.repeat(sr, k) + step)
    fc, fr = chosen.flatten(), rejected.flatten()
    diff = np.zeros(len(ic), dtype=bool)
    for f in ("role", "content"):
        a, b = fc.field(f).take(ic), fr.field(f).take(ir)
        diff |= ~pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
    out[same_len] = np.bincount(owner[diff], minlength=len(same_len)) > 0
    return out
