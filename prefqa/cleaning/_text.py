"""Text checks shared by :func:`prefqa.lint`, :func:`prefqa.contamination` and ``build_pairs``' guards.

One implementation per question: ``prefqa.pairs._guards`` calls these
functions, so a pair that ``pq.lint`` reports as ``identical`` or
``truncation_identical`` is exactly one that ``build_pairs`` drops with the
same reason code.

Truncation follows TRL's ``DPOTrainer`` (looked up in TRL's source, v0.14
to v1.x): the prompt's token ids are first cut to their *last*
``max_prompt_tokens`` (TRL's ``max_prompt_length``; TRL >= 1.0 has no such
cut, pass ``None``), each completion is appended to the prompt, and the
whole sequence is cut to ``max_tokens`` (TRL's ``max_length``): its first
``max_tokens`` ids with ``truncation_mode='keep_start'``, its last ones with
``'keep_end'``. Two approximations, both at the edge of the window: texts
are encoded separately and without special tokens (TRL >= 1.0 encodes
prompt + completion as one text, so a token may span the boundary, and
applies the chat template to conversations), and the EOS token TRL appends
to both completions is not modelled (with ``keep_end`` it takes one place
of the window on both sides).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import SchemaError

__all__ = [
    "TRUNCATION_MODES",
    "text_array",
    "normalize_ws",
    "normalize_for_match",
    "text_codes",
    "identical_mask",
    "blank_mask",
    "resolve_tokenizer",
    "truncated_equal",
    "token_lengths",
    "control_char_mask",
    "mojibake_mask",
]

TRUNCATION_MODES: tuple[str, ...] = ("keep_end", "keep_start")
_CHUNK = 200_000
# Python's str.isspace set for RE2: \s there is [\t\n\f\r ] only
_WS = r"[\t\n\x0b\x0c\r\x1c-\x1f\x85\p{Z}]+"
# C0 controls except tab, newline, carriage return; DEL; C1 controls (U+0080-U+009F)
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
# UTF-8 read as cp1252 / latin-1: a lead byte (U+00C2-U+00DF, or U+00E2 followed by the euro sign)
# shown as a Latin-1 letter, then a continuation byte shown as a cp1252 symbol; or U+FFFD.
_CONT = ("\u00a0-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
         "\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122")
_MOJIBAKE = f"[\u00c2-\u00df][{_CONT}]|\u00e2\u20ac[{_CONT}]|\ufffd"


def text_array(texts: pd.Series | pa.Array) -> pa.Array:
    """Texts as one Arrow ``large_string`` array, missing as ``""`` (no copy for Arrow-backed text without gaps).

    Examples
    --------
    >>> text_array(pd.Series(["a", None], dtype=object)).to_pylist()
    ['a', '']
    """
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        arr = texts
    else:
        s = texts.astype("str")
        if s.hasnans:
            s = s.fillna("")
        arr = pa.array(s, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    return arr if arr.type == pa.large_string() else arr.cast(pa.large_string())


def normalize_ws(texts: pd.Series) -> pd.Series:
    """Collapse runs of whitespace to one space and strip the ends (missing texts become ``""``).

    Whitespace is Python's (``str.isspace``: ASCII whitespace, the
    information separators U+001C-U+001F, U+0085 and Unicode's separators),
    matched by Arrow's RE2 kernels, so ``s.split()`` joined by spaces gives
    the same text.

    Examples
    --------
    >>> normalize_ws(pd.Series(["  a \\n\\t b ", ""])).tolist()
    ['a b', '']
    """
    arr = text_array(texts)
    one = pc.replace_substring_regex(arr, _WS, " ")
    out = pc.replace_substring_regex(one, r"^ | $", "")
    return pd.Series(out.to_numpy(zero_copy_only=False), index=texts.index, dtype="str")


def normalize_for_match(texts: pd.Series) -> pd.Series:
    """Lower-case, turn punctuation into spaces, collapse whitespace: the form contamination compares.

    Unicode-aware (``\\w`` keeps letters and digits of every script);
    missing texts become ``""``.

    Examples
    --------
    >>> normalize_for_match(pd.Series(["What's  2+2?\\n", None])).tolist()
    ['what s 2 2', '']
    """
    arr = text_array(texts)
    low = pc.replace_substring_regex(pc.utf8_lower(arr), r"[^\w\s]+|_+", " ")
    clean = pc.utf8_trim_whitespace(pc.replace_substring_regex(low, r"\s+", " "))
    return pd.Series(clean.to_numpy(zero_copy_only=False), index=texts.index, dtype="str")


def text_codes(texts: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return (exact-text code, is_empty-after-trimming) per text; equal codes mean equal texts.

    Examples
    --------
    >>> codes, empty = text_codes(pd.Series(["a b", "a b", " "]))
    >>> codes.tolist(), empty.tolist()
    ([0, 0, 1], [False, False, True])
    """
    texts = texts.astype("str").fillna("")
    arr = pa.array(texts, type=pa.large_string())
    empty = pc.or_(pc.equal(pc.utf8_length(arr), 0), pc.utf8_is_space(arr)).to_numpy(zero_copy_only=False)
    codes = pd.factorize(texts)[0].astype(np.int64)
    return np.asarray(codes), np.asarray(empty, dtype=bool)


def blank_mask(arr: pa.Array) -> np.ndarray:
    """``True`` where an Arrow string is empty, whitespace only or missing.

    Examples
    --------
    >>> blank_mask(pa.array(["a", " \\n", "", None])).tolist()
    [False, True, True, True]
    """
    return (pc.equal(pc.utf8_length(arr), 0).fill_null(True).to_numpy(zero_copy_only=False)
            | pc.utf8_is_space(arr).fill_null(True).to_numpy(zero_copy_only=False))


def identical_mask(arr: pa.Array, left: np.ndarray, right: np.ndarray, texts: pd.Series) -> np.ndarray:
    """``normalize_ws(texts[left]) == normalize_ws(texts[right])``, computed without normalising every text.

    ``arr`` holds ``texts`` as one Arrow array (missing as ``""``).
    Works in chunks of pairs (memory stays bounded): the two texts are
    trimmed with Arrow; equal trimmed texts are identical. Otherwise equal
    normalised texts must share their first and last non-space character,
    so only pairs passing that cheap test are normalised and compared.

    Examples
    --------
    >>> t = pd.Series(["a  b ", "a b", "a c"])
    >>> identical_mask(pa.array(t), np.array([0, 0]), np.array([1, 2]), t).tolist()
    [True, False]
    """
    out = np.zeros(len(left), dtype=bool)
    if not len(left):
        return out
    for start in range(0, len(left), _CHUNK):  # chunks of 200k pairs, not rows
        li, ri = pa.array(left[start:start + _CHUNK]), pa.array(right[start:start + _CHUNK])
        a, b = pc.utf8_trim_whitespace(arr.take(li)), pc.utf8_trim_whitespace(arr.take(ri))
        same = pc.equal(a, b).to_numpy(zero_copy_only=False)
        maybe = pc.and_(pc.equal(pc.utf8_slice_codeunits(a, 0, 1), pc.utf8_slice_codeunits(b, 0, 1)),
                        pc.equal(pc.utf8_slice_codeunits(a, -1), pc.utf8_slice_codeunits(b, -1)))
        rows = np.flatnonzero(maybe.to_numpy(zero_copy_only=False) & ~same)
        if len(rows):
            na = normalize_ws(texts.iloc[left[start + rows]]).to_numpy(dtype=object)
            nb = normalize_ws(texts.iloc[right[start + rows]]).to_numpy(dtype=object)
            same[rows[na == nb]] = True
        out[start:start + len(same)] = same
    return out


def resolve_tokenizer(tokenizer: Any) -> Callable[[str], Sequence[int]]:
    """Return a function text -> token ids from a callable, an object with ``.encode``, or a ``tokenizer.json`` path.

    A path is loaded with the ``tokenizers`` package (``Tokenizer.from_file``;
    nothing is downloaded) and encodes without special tokens. An object
    whose ``.encode`` returns an ``Encoding`` (``tokenizers.Tokenizer``)
    yields its ``.ids``.

    Examples
    --------
    >>> resolve_tokenizer(str.split)("a b c")
    ['a', 'b', 'c']
    """
    if isinstance(tokenizer, (str, os.PathLike)):
        path = Path(tokenizer)
        if not path.is_file():
            raise SchemaError(f"`tokenizer` {str(path)!r} is not a file; pass a local tokenizer.json "
                              "or a callable text -> token ids (nothing is downloaded).")
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - tokenizers is installed with the dev extra
            raise SchemaError("a tokenizer.json path needs the `tokenizers` package: pip install tokenizers "
                              "(or pass a callable text -> token ids).") from exc
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise SchemaError(f"could not load the tokenizer {str(path)!r}: {exc}. Pass a tokenizer.json "
                              "written by the `tokenizers` package.") from exc
        return lambda text: tok.encode(text, add_special_tokens=False).ids
    encode = tokenizer.encode if callable(getattr(tokenizer, "encode", None)) else tokenizer
    if not callable(encode):
        raise SchemaError(f"`tokenizer` must be a callable text -> token ids, an object with .encode, or a "
                          f"path to a tokenizer.json; got {type(tokenizer).__name__}.")

    def run(text: str) -> Sequence[int]:
        out = encode(text)
        return out.ids if hasattr(out, "ids") else out
    return run


def _encode_distinct(encode: Callable[[str], Sequence[int]], texts: pd.Series,
                     rows: np.ndarray) -> tuple[np.ndarray, list[list[Any]]]:
    """Encode each distinct row of ``texts`` once; return (code per requested row, token lists by code).

    The tokenizer is the user's Python function, so it runs once per distinct text.
    """
    used, inv = np.unique(rows, return_inverse=True)
    try:
        toks = [list(encode(t)) for t in texts.iloc[used].astype("str").fillna("").tolist()]
    except Exception as exc:  # the user's tokenizer: any failure is bad input
        raise SchemaError(f"the tokenizer failed on a text ({type(exc).__name__}: {exc}); it must map a string "
                          "to a sequence of token ids.") from exc
    return inv, toks


def token_lengths(encode: Callable[[str], Sequence[int]], texts: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Token count of ``texts.iloc[rows]`` (each distinct row encoded once)."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    inv, toks = _encode_distinct(encode, texts, rows)
    return np.array([len(t) for t in toks], dtype=np.int64)[inv]


def truncated_equal(
    encode: Callable[[str], Sequence[int]], prompts: pd.Series, prompt_pos: np.ndarray, texts: pd.Series,
    left: np.ndarray, right: np.ndarray, *, max_tokens: int, max_prompt_tokens: int | None = None,
    truncation_mode: str = "keep_start",
) -> tuple[np.ndarray, np.ndarray]:
    """Whether prompt + ``texts[left]`` and prompt + ``texts[right]`` are equal after TRL's truncation.

    ``prompt_pos`` is the row of ``prompts`` per pair (-1: no prompt, no
    tokens). Returns (equal, prompt token count) per pair. See the module
    notes for the truncation model.

    Examples
    --------
    >>> t = pd.Series(["a b c", "a b d"])
    >>> eq, n = truncated_equal(str.split, pd.Series(["q"]), np.array([0]), t, np.array([0]),
    ...                         np.array([1]), max_tokens=3, truncation_mode="keep_start")
    >>> eq.tolist(), n.tolist()
    ([True], [1])
    """
    if truncation_mode not in TRUNCATION_MODES:
        raise SchemaError(f"`truncation_mode` must be one of {list(TRUNCATION_MODES)}; got {truncation_mode!r}.")
    n = len(left)
    if not n:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    has_p = prompt_pos >= 0
    p_inv, p_toks = _encode_distinct(encode, prompts, np.where(has_p, prompt_pos, 0)) if len(prompts) else (
        np.zeros(n, dtype=np.int64), [[]])
    r_inv, r_toks = _encode_distinct(encode, texts, np.concatenate([left, right]))
    keep_p = max_prompt_tokens if max_prompt_tokens is not None else None
    p_cut = [t[-keep_p:] if keep_p is not None and len(t) > keep_p else t for t in p_toks]
    p_len = np.array([len(t) for t in p_toks], dtype=np.int64)[p_inv] * has_p
    li, ri = r_inv[:n], r_inv[n:]
    pc_ids = p_inv.tolist()
    hp = has_p.tolist()
    if truncation_mode == "keep_start":
        cut = [(p_cut[p] if h else [])[:max_tokens] for p, h in zip(pc_ids, hp)]
        room = [max_tokens - len(c) for c in cut]
        same = [r_toks[a][:b] == r_toks[c][:b] if b > 0 else True
                for a, c, b in zip(li.tolist(), ri.tolist(), room)]
    else:  # keep_end: the last max_tokens ids of prompt + completion
        heads = [p_cut[p] if h else [] for p, h in zip(pc_ids, hp)]
        same = [(q + r_toks[a])[-max_tokens:] == (q + r_toks[c])[-max_tokens:]
                for q, a, c in zip(heads, li.tolist(), ri.tolist())]
    return np.asarray(same, dtype=bool), p_len


def control_char_mask(texts: pd.Series) -> np.ndarray:
    """``True`` where a text holds a control character other than tab, newline or carriage return.

    Examples
    --------
    >>> control_char_mask(pd.Series(["ok\\n", "bad\\x00", "bell\\x07"])).tolist()
    [False, True, True]
    """
    arr = text_array(texts)
    return np.asarray(pc.match_substring_regex(arr, _CONTROL).to_numpy(zero_copy_only=False), dtype=bool)


def mojibake_mask(texts: pd.Series) -> np.ndarray:
    """``True`` where a text looks like UTF-8 decoded as cp1252 / Latin-1 (``Ã©``, ``â€™``) or holds U+FFFD.

    Examples
    --------
    >>> mojibake_mask(pd.Series(["caf\\u00e9", "caf\\u00c3\\u00a9", "it\\u00e2\\u20ac\\u2122s", "\\ufffd"])).tolist()
    [False, True, True, True]
    """
    arr = text_array(texts)
    return np.asarray(pc.match_substring_regex(arr, _MOJIBAKE).to_numpy(zero_copy_only=False), dtype=bool)
