"""Text features of responses: lengths, markdown style counts and refusals.

Features are computed once per response (texts live once in
``data.responses``) with vectorized pandas string methods, which run on
pyarrow's RE2 kernels over the whole column, and cached on the data object.
Judgment-level covariates are differences between the two displayed
responses (``a`` minus ``b``).

The length covariate
--------------------
``judgment_features(data, ["length"])`` is THE length covariate of prefqa,
shared with the simulator, the Bradley-Terry covariates and the bias
analyses::

    length = tanh((len_a - len_b) / s),   s = sqrt(mean((len_a - len_b) ** 2))

where lengths are in characters by default and ``s`` (the root mean square
of the difference) is taken over all judgments whose two responses are known.
The tanh bounds the influence of very long responses (AlpacaEval's
length-controlled GLM uses the same transform). Count features (headers,
lists, bold, code blocks) use Chatbot Arena's normalised difference
``(a - b) / (a + b + 1)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, SupportsFloat, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import SchemaError
from .schema import PreferenceData

__all__ = [
    "DEFAULT_REFUSAL_PATTERNS",
    "FEATURE_NAMES",
    "UNITS",
    "judgment_features",
    "PRECOMPUTED_COLUMNS",
    "length_scale",
    "response_feature_table",
    "response_features",
    "text_features",
]

Unit = Literal["chars", "words", "tokens"]
UNITS: tuple[str, ...] = ("chars", "words", "tokens")

#: Judgment-level feature names accepted by :func:`judgment_features`.
FEATURE_NAMES: tuple[str, ...] = (
    "length", "length_diff", "headers", "lists", "bold", "code_blocks", "refusal",
)
_COUNT_COLUMNS = {"headers": "headers", "lists": "list_items", "bold": "bold", "code_blocks": "code_blocks"}

#: Regular expressions (RE2 syntax, case-insensitive, searched in the first
#: ``_REFUSAL_WINDOW`` characters) that mark a response as a refusal.
DEFAULT_REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bI(?:'m| am) (?:sorry|afraid)\b[^.]{0,80}\b(?:can(?:'|no)t|cannot|unable|not able)\b",
    r"\bI (?:can(?:'|no)t|cannot|won't|will not|am unable to|am not able to) "
    r"(?:help|assist|comply|provide|do that|fulfil|fulfill|support|create|generate|write)",
    r"\bas an AI(?: language model)?\b[^.]{0,80}\b(?:can(?:'|no)t|cannot|unable|not able|don't|do not)\b",
    r"\bI(?:'m| am) not (?:able|comfortable|going) to\b",
    r"\bI must (?:decline|refuse)\b",
)
_REFUSAL_WINDOW = 300

#: Precomputed per-response columns a ``responses`` table may carry instead of (or beside) its
#: texts, and the :func:`text_features` column each one fills. Present columns win over values
#: computed from the texts; ``n_tokens`` gives ``length`` when ``unit='tokens'`` (no tokenizer needed).
PRECOMPUTED_COLUMNS: dict[str, str] = {
    "n_chars": "chars", "n_words": "words", "n_tokens": "length", "headers": "headers",
    "list_items": "list_items", "bold": "bold", "code_blocks": "code_blocks", "refusal": "refusal",
}
FEATURE_COLUMNS: tuple[str, ...] = ("length", "chars", "words", "headers", "list_items", "bold", "code_blocks",
                                    "refusal")

_CODE_BLOCK = r"(?s)```.*?(?:```|$)"
_HEADER = r"(?m)^[ \t]{0,3}#{1,6}[ \t]+\S"
_LIST_ITEM = r"(?m)^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S"
_BOLD = r"\*\*[^*\n]+?\*\*|__[^_\n]+?__"
_WORD_CHUNK_BYTES = 1 << 24


def _validate_unit(unit: str, tokenizer: Callable[[str], Any] | None) -> None:
    if unit not in UNITS:
        raise SchemaError(f"`unit` must be one of {UNITS}; got {unit!r}.")
    if unit == "tokens" and tokenizer is None:
        raise SchemaError(
            "`unit='tokens'` needs a `tokenizer`: a callable taking one text and returning its "
            "tokens (a sequence) or their count, for example tokenizer=my_tokenizer.encode."
        )
    if tokenizer is not None and not callable(tokenizer):
        raise SchemaError(f"`tokenizer` must be callable; got {type(tokenizer).__name__}.")


def _word_counts(arr: pa.ChunkedArray) -> np.ndarray:
    """Whitespace-separated word counts straight from the UTF-8 buffers.

    A word starts at a byte that is not ASCII whitespace and follows
    whitespace or the start of its text (same as ``len(text.split())`` on
    ASCII-whitespace text). Bytes are processed in chunks of about 16 MB;
    RE2's ``\\S+`` count is ten times slower on long texts.
    """
    parts = [_word_counts_chunk(chunk) for chunk in arr.chunks]  # a few arrow chunks, not rows
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _word_counts_chunk(arr: pa.Array) -> np.ndarray:
    n = len(arr)
    out = np.zeros(n, dtype=np.int64)
    buffers = arr.buffers()
    if n == 0 or buffers[2] is None:
        return out
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=width)[arr.offset:arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8)
    cuts = np.searchsorted(offsets, np.arange(offsets[0], offsets[-1], _WORD_CHUNK_BYTES), side="right") - 1
    bounds = np.unique(np.concatenate([[0], np.clip(cuts, 0, n), [n]]))
    for i0, i1 in zip(bounds[:-1], bounds[1:]):  # a handful of byte chunks, not rows
        lo = offsets[i0]
        rel = offsets[i0:i1 + 1] - lo
        b = data[lo:offsets[i1]]
        space = (b == 32) | ((b >= 9) & (b <= 13))
        start = ~space
        start[1:] &= space[:-1]
        first = rel[:-1][rel[1:] > rel[:-1]]
        start[first] = ~space[first]
        pos = np.flatnonzero(start)
        out[i0:i1] = np.searchsorted(pos, rel[1:]) - np.searchsorted(pos, rel[:-1])
    return out


def _token_counts(texts: pd.Series, tokenizer: Callable[[str], Any]) -> np.ndarray:
    # a user callable cannot be vectorized; it runs once per distinct response text
    out = np.empty(len(texts), dtype=np.float64)
    for i, text in enumerate(texts.tolist()):
        value = tokenizer(text)
        # cast: np.isscalar's type guard admits complex and str, which float() of a count never sees
        out[i] = float(cast(SupportsFloat, value)) if np.isscalar(value) else float(len(value))
    return out


def text_features(
    texts: Iterable[str] | pd.Series,
    *,
    unit: Unit = "chars",
    tokenizer: Callable[[str], Any] | None = None,
    refusal_patterns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Compute length, markdown style counts and a refusal flag per text.

    Parameters
    ----------
    texts : Series or iterable of str
        The texts; a Series keeps its index. Missing values count as empty.
    unit : {'chars', 'words', 'tokens'}
        What the ``length`` column counts. ``'tokens'`` needs ``tokenizer``.
    tokenizer : callable, optional
        ``tokenizer(text)`` returns the tokens (any sequence) or their count.
        When given, ``length`` counts tokens whatever ``unit`` says.
    refusal_patterns : sequence of str, optional
        Case-insensitive regular expressions (RE2 syntax) marking a refusal;
        searched in the first 300 characters. Defaults to
        :data:`DEFAULT_REFUSAL_PATTERNS`.

    Returns
    -------
    DataFrame
        One row per text: ``length`` (in ``unit``), ``chars``, ``words``
        (whitespace-separated), ``headers`` (markdown ``#`` headings),
        ``list_items`` (``-``, ``*``, ``+`` or ``1.`` items), ``bold``
        (``**x**`` or ``__x__`` spans), ``code_blocks`` (fenced with three
        backticks) and ``refusal`` (bool). Code blocks are stripped before
        headers, list items and bold are counted, so ``# comment`` lines in
        code do not count as headers.

    Raises
    ------
    SchemaError
        Unknown ``unit``, ``'tokens'`` without a tokenizer, or a bad pattern.

    Examples
    --------
    >>> f = text_features(["# Title\\n- one\\n- **two**", "I'm sorry, but I can't help with that."])
    >>> f[["chars", "words", "headers", "list_items", "bold", "refusal"]].values.tolist()
    [[23, 6, 1, 2, 1, False], [38, 8, 0, 0, 0, True]]
    """
    _validate_unit(unit, tokenizer)
    index = texts.index if isinstance(texts, pd.Series) else None
    s = pd.Series(texts if index is not None else list(texts), index=index, dtype="str").fillna("")
    arr = pa.array(s.array)  # zero copy for pandas' arrow-backed strings
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.large_string())
    # pyarrow's RE2 kernels run over the whole column (pandas' str.count loops in Python)
    code_blocks = pc.count_substring_regex(arr, _CODE_BLOCK)
    prose = pc.replace_substring_regex(arr, _CODE_BLOCK, " ")
    patterns = list(DEFAULT_REFUSAL_PATTERNS if refusal_patterns is None else refusal_patterns)
    if patterns:
        joined = "(?i)(?:" + "|".join(f"(?:{p})" for p in patterns) + ")"
        try:
            head = pc.utf8_slice_codeunits(arr, 0, _REFUSAL_WINDOW)
            refusal = pc.match_substring_regex(head, joined).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(f"`refusal_patterns` holds an invalid regular expression: {exc}") from exc
    else:
        refusal = np.zeros(len(s), dtype=bool)

    def count(values: pa.ChunkedArray, pattern: str) -> np.ndarray:
        return pc.count_substring_regex(values, pattern).to_numpy(zero_copy_only=False).astype(np.int64)

    out = pd.DataFrame(
        {
            "length": np.zeros(len(s)),
            "chars": pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(np.int64),
            "words": _word_counts(arr),
            "headers": count(prose, _HEADER),
            "list_items": count(prose, _LIST_ITEM),
            "bold": count(prose, _BOLD),
            "code_blocks": code_blocks.to_numpy(zero_copy_only=False).astype(np.int64),
            "refusal": refusal.astype(bool),
        },
        index=s.index,
    )
    if tokenizer is not None:
        out["length"] = _token_counts(s, tokenizer)
    elif unit == "words":
        out["length"] = out["words"].astype(np.float64)
    else:
        out["length"] = out["chars"].astype(np.float64)
    return out


def _require_texts(data: PreferenceData) -> None:
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData; got {type(data).__name__}. Load it with pq.read(...).")
    if not data.has_texts or "response_b_id" not in data.judgments:
        raise SchemaError(
            "these judgments carry no response texts (`response_a_id`, `response_b_id` and a "
            "`responses` table are needed for text features); read the data with its response "
            "columns, for example pq.read(path) on a file with `response_a` and `response_b`."
        )


def response_features(
    data: PreferenceData,
    *,
    unit: Unit = "chars",
    tokenizer: Callable[[str], Any] | None = None,
) -> pd.DataFrame:
    """Return :func:`text_features` for every response, indexed by ``response_id``.

    Computed once per response and cached on ``data`` (per unit; not cached
    when a ``tokenizer`` is given, since a callable has no stable identity).

    Raises
    ------
    SchemaError
        When the data has no response texts.

    Examples
    --------
    >>> j = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"],
    ...                   "response_a_id": ["r1"], "response_b_id": ["r2"]})
    >>> r = pd.DataFrame({"response_id": ["r1", "r2"], "prompt_id": ["p", "p"],
    ...                   "text": ["short", "a longer reply"]})
    >>> response_features(PreferenceData(j, r))["chars"].tolist()
    [5, 14]
    """
    _require_texts(data)
    _validate_unit(unit, tokenizer)
    key = f"features:{unit}"
    if tokenizer is None and key in data._cache:
        return data._cache[key]
    responses = data.responses
    out = text_features(responses["text"], unit=unit, tokenizer=tokenizer)
    out.index = pd.Index(responses["response_id"].to_numpy(), name="response_id")
    if tokenizer is None:
        data._cache[key] = out
    return out


def _side_positions(data: PreferenceData) -> tuple[np.ndarray, np.ndarray]:
    """Row positions into ``data.responses`` of response a and b (-1 if missing)."""
    if "features:positions" not in data._cache:
        ids = pd.Index(data.responses["response_id"].to_numpy())
        j = data.judgments
        pa = ids.get_indexer(j["response_a_id"].to_numpy(dtype=object))
        pb = ids.get_indexer(j["response_b_id"].to_numpy(dtype=object))
        data._cache["features:positions"] = (pa.astype(np.int64), pb.astype(np.int64))
    return data._cache["features:positions"]


def length_scale(diff: np.ndarray) -> float:
    """Return the root mean square of finite length differences (0 when none).

    Examples
    --------
    >>> length_scale(np.array([3.0, -4.0, np.nan]))
    3.5355339059327378
    """
    d = np.asarray(diff, dtype=np.float64)
    d = d[np.isfinite(d)]
    return float(np.sqrt(np.mean(d * d))) if len(d) else 0.0


def judgment_features(
    data: PreferenceData,
    names: Sequence[str] = ("length", "headers", "lists", "bold"),
    *,
    unit: Unit = "chars",
    tokenizer: Callable[[str], Any] | None = None,
) -> pd.DataFrame:
    """Return response-feature differences per judgment, in displayed orientation.

    Parameters
    ----------
    data : PreferenceData
        Judgments with response texts.
    names : sequence of str
        Any of ``'length'`` (tanh of the RMS-scaled difference, see the
        module notes), ``'length_diff'`` (raw ``len_a - len_b``),
        ``'headers'``, ``'lists'``, ``'bold'``, ``'code_blocks'`` (each
        ``(a - b) / (a + b + 1)``) and ``'refusal'`` (``refusal_a -
        refusal_b`` in {-1, 0, 1}).
    unit, tokenizer
        The length unit, as in :func:`text_features`.

    Returns
    -------
    DataFrame
        One row per judgment (same row order as ``data.judgments``), one
        float column per name; NaN where a response id is missing. Positive
        values mean response ``a`` (shown first) has more of the feature.
        To orient toward the comparison's canonical first response, negate
        the rows where ``data.flipped()`` is true.

    Raises
    ------
    SchemaError
        No texts, or an unknown feature name.

    Examples
    --------
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c2"], "annotator_id": ["x", "x"],
    ...                   "choice": ["a", "b"], "response_a_id": ["r1", "r3"],
    ...                   "response_b_id": ["r2", "r4"]})
    >>> r = pd.DataFrame({"response_id": ["r1", "r2", "r3", "r4"], "prompt_id": ["p"] * 4,
    ...                   "text": ["aaaa", "aa", "- x\\n- y", "b"]})
    >>> f = judgment_features(PreferenceData(j, r), ["length_diff", "length", "lists"])
    >>> f.round(3).values.tolist()
    [[2.0, 0.42, 0.0], [6.0, 0.872, 0.667]]
    """
    _require_texts(data)
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        raise SchemaError(f"unknown feature name(s) {unknown}; choose from {FEATURE_NAMES}.")
    feats = response_features(data, unit=unit, tokenizer=tokenizer)
    pa, pb = _side_positions(data)
    known = (pa >= 0) & (pb >= 0)
    pa0, pb0 = np.where(known, pa, 0), np.where(known, pb, 0)

    def side(column: str) -> tuple[np.ndarray, np.ndarray]:
        values = feats[column].to_numpy(dtype=np.float64)
        return (np.where(known, values[pa0], np.nan), np.where(known, values[pb0], np.nan))

    return pd.DataFrame(side_differences(names, side), index=data.judgments.index)


def feature_column(name: str) -> str:
    """Return the per-response feature column that the judgment feature ``name`` is formed from.

    Examples
    --------
    >>> feature_column("length_diff"), feature_column("lists")
    ('length', 'list_items')
    """
    if name in ("length", "length_diff"):
        return "length"
    return "refusal" if name == "refusal" else _COUNT_COLUMNS[name]


def side_differences(names: Sequence[str],
                     side: Callable[[str], tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Return the judgment features (a minus b) from per-side response values: the one set of formulas.

    ``side(column)`` gives the values of the displayed ``a`` and ``b``
    responses (NaN where a side is unknown). ``length_diff`` is the raw
    difference, ``length`` its tanh on the RMS scale of :func:`length_scale`,
    ``refusal`` the difference of the flags, and each count ``(a - b) / (a + b + 1)``.
    :func:`judgment_features` and the engine paths (which join the values in
    SQL) both call it.

    Examples
    --------
    >>> side = lambda col: (np.array([3.0]), np.array([1.0]))
    >>> side_differences(["length_diff", "lists"], side)["lists"].tolist()
    [0.4]
    """
    out: dict[str, np.ndarray] = {}
    for name in names:
        a, b = side(feature_column(name))
        if name == "length":
            diff = a - b
            scale = length_scale(diff)
            known = np.isfinite(a) & np.isfinite(b)
            out[name] = np.tanh(diff / scale) if scale > 0 else np.where(known, 0.0, np.nan)
        elif name in ("length_diff", "refusal"):
            out[name] = a - b
        else:
            out[name] = (a - b) / (a + b + 1.0)
    return out


# ---------------------------------------------------------------- one entry point for both data kinds
def _precomputed(columns: Iterable[str]) -> dict[str, str]:
    cols = set(columns)
    return {src: dst for src, dst in PRECOMPUTED_COLUMNS.items() if src in cols}


def _apply_precomputed(out: pd.DataFrame | None, given: pd.DataFrame, pre: dict[str, str], unit: str,
                       n: int) -> pd.DataFrame:
    """Fill :data:`FEATURE_COLUMNS` from computed features ``out`` (or nothing) and precomputed ``given``."""
    cols: dict[str, Any] = {}
    for name in FEATURE_COLUMNS[1:]:
        src = next((s for s, d in pre.items() if d == name), None)
        if src is not None:
            values = given[src]
            if name == "refusal":
                cols[name] = values.astype("boolean") if values.isna().any() else values.astype(bool)
            else:
                num = pd.to_numeric(values, errors="coerce")
                cols[name] = num.to_numpy(dtype=np.float64) if num.isna().any() else num.to_numpy(dtype=np.int64)
        elif out is not None:
            cols[name] = out[name].to_numpy()
        else:
            cols[name] = np.full(n, np.nan) if name != "refusal" else pd.array([pd.NA] * n, dtype="boolean")
    if unit == "tokens" and "n_tokens" in pre:
        length = pd.to_numeric(given["n_tokens"], errors="coerce").to_numpy(dtype=np.float64)
    elif unit == "tokens" and out is not None:
        length = out["length"].to_numpy(dtype=np.float64)
    elif unit == "tokens":
        length = np.full(n, np.nan)
    else:
        length = np.asarray(cols["words" if unit == "words" else "chars"], dtype=np.float64)
    return pd.DataFrame({"length": length, **cols})


def response_feature_table(
    data: Any,
    *,
    unit: Unit = "chars",
    tokenizer: Callable[[str], Any] | None = None,
    batch_size: int = 1 << 15,
) -> pd.DataFrame | str:
    """Per-response features for in-memory or scanned data: THE source of lengths and style counts.

    The length and style analyses call this once and hand the result to
    their reduction (:mod:`prefqa.engine.reductions`), which joins it on
    ``response_id``. Precomputed columns of the responses table
    (:data:`PRECOMPUTED_COLUMNS`: ``n_chars``, ``n_words``, ``n_tokens``,
    ``headers``, ``list_items``, ``bold``, ``code_blocks``, ``refusal``) win
    over values computed from the texts, so data whose texts are stored
    elsewhere still has lengths; a feature with neither a text nor a column
    is missing (NaN / NULL).

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Judgments with a responses table (texts and/or precomputed columns).
    unit : {'chars', 'words', 'tokens'}
        What ``length`` counts. ``'tokens'`` uses a precomputed ``n_tokens``
        column, else ``tokenizer``.
    tokenizer : callable, optional
        As in :func:`text_features` (called once per response text).
    batch_size : int
        Responses per Arrow batch streamed from the engine (scanned data only).

    Returns
    -------
    DataFrame or str
        For a ``PreferenceData``: a DataFrame indexed by ``response_id`` with
        the :func:`text_features` columns (``length, chars, words, headers,
        list_items, bold, code_blocks, refusal``), equal to
        :func:`response_features` when nothing is precomputed. For a
        ``ScannedData``: the name of an engine table with ``response_id`` and
        those columns (``length`` DOUBLE, counts BIGINT, ``refusal``
        BOOLEAN; NULL where unknown), one row per response; join it in SQL
        (``JOIN <name> fa ON fa.response_id = {j}.response_a_id``). Texts
        are streamed in batches of ``batch_size`` and features computed with
        :func:`text_features` (so the values are exactly the in-memory ones);
        only the numeric table is written back. Cached per unit on ``data``
        (not with a ``tokenizer``).

    Raises
    ------
    SchemaError
        No responses table, neither texts nor precomputed columns, or
        ``unit='tokens'`` with neither ``n_tokens`` nor a tokenizer.

    Examples
    --------
    >>> import prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"],
    ...                   "response_a_id": ["r1"], "response_b_id": ["r2"]})
    >>> r = pd.DataFrame({"response_id": ["r1", "r2"], "prompt_id": ["p", "p"],
    ...                   "text": ["short", "a **longer** reply"]})
    >>> data = PreferenceData(j, r)
    >>> response_feature_table(data)[["chars", "bold"]].values.tolist()
    [[5, 0], [18, 1]]
    >>> s = pq.scan(data)
    >>> s.frame(f"SELECT response_id, chars, bold FROM {response_feature_table(s)} ORDER BY 1").values.tolist()
    [['r1', 5, 0], ['r2', 18, 1]]
    """
    from .engine import ScannedData

    if isinstance(data, ScannedData):
        return _scanned_feature_table(data, unit=unit, tokenizer=tokenizer, batch_size=batch_size)
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData or ScannedData; got {type(data).__name__}.")
    pre = _precomputed(data.responses.columns)
    if not pre:
        return response_features(data, unit=unit, tokenizer=tokenizer)
    if unit not in UNITS:
        raise SchemaError(f"`unit` must be one of {UNITS}; got {unit!r}.")
    needs_text = unit == "tokens" and "n_tokens" not in pre
    needs_text |= any(name not in pre.values() for name in FEATURE_COLUMNS[1:])
    if unit == "tokens" and "n_tokens" not in pre and tokenizer is None:
        _validate_unit(unit, tokenizer)
    key = f"features:pre:{unit}"
    if tokenizer is None and key in data._cache:
        return data._cache[key]
    out = None
    if needs_text and data.has_texts:
        out = text_features(data.responses["text"], unit=unit if unit != "tokens" or tokenizer else "chars",
                            tokenizer=tokenizer)
    table = _apply_precomputed(out, data.responses, pre, unit, len(data.responses))
    table.index = pd.Index(data.responses["response_id"].to_numpy(), name="response_id")
    if tokenizer is None:
        data._cache[key] = table
    return table


def _scanned_feature_table(data: Any, *, unit: str, tokenizer: Callable[[str], Any] | None,
                           batch_size: int) -> str:
    if unit not in UNITS:
        raise SchemaError(f"`unit` must be one of {UNITS}; got {unit!r}.")
    if data.responses_table is None:
        raise SchemaError(
            "these scanned judgments have no responses table: pass responses='responses.parquet' to pq.scan "
            "(with `text` or precomputed columns such as n_chars), or scan judgments with inline response texts."
        )
    key = f"features:{unit}"
    if tokenizer is None and key in data._cache:
        return data._cache[key]
    rcols = data.backend.columns(data.responses_table)
    pre = _precomputed(rcols)
    has_text = "text" in rcols
    if not has_text and not pre:
        raise SchemaError(
            f"the responses table has neither `text` nor precomputed feature columns; found {rcols}. Add "
            f"texts or any of {list(PRECOMPUTED_COLUMNS)}."
        )
    if unit == "tokens" and "n_tokens" not in pre and (tokenizer is None or not has_text):
        raise SchemaError("`unit='tokens'` needs a precomputed `n_tokens` column in the responses, or texts "
                          "and a `tokenizer`.")
    needs_text = has_text and (any(name not in pre.values() for name in FEATURE_COLUMNS[1:])
                               or (unit == "tokens" and "n_tokens" not in pre))
    name = data.backend.temp_name("features")
    schema = pa.schema([("response_id", pa.string()), ("length", pa.float64())]
                       + [(c, pa.int64()) for c in FEATURE_COLUMNS[1:-1]] + [("refusal", pa.bool_())])
    if not needs_text:  # everything precomputed: one SQL statement, no Python over rows
        inv = {dst: src for src, dst in pre.items()}

        def col(feature: str, kind: str) -> str:
            return f"CAST({inv[feature]} AS {kind})" if feature in inv else f"CAST(NULL AS {kind})"

        length = col("length" if unit == "tokens" else ("words" if unit == "words" else "chars"), "DOUBLE")
        sel = ", ".join(["CAST(response_id AS VARCHAR) AS response_id", f"{length} AS length"]
                        + [f"{col(c, 'BIGINT')} AS {c}" for c in FEATURE_COLUMNS[1:-1]]
                        + [f"{col('refusal', 'BOOLEAN')} AS refusal"])
        data.backend.materialize(name, data._format(f"SELECT {sel} FROM {{r}}"))
    else:
        keep = ["response_id", "text", *pre]
        query = data._format("SELECT " + ", ".join(f'"{c}"' for c in keep) + " FROM {r}")

        def compute(batch: pa.RecordBatch) -> pa.Table:
            frame = pa.Table.from_batches([batch]).to_pandas()
            texts = frame["text"].astype("str").fillna("")
            feats = text_features(texts, unit=cast(Unit, unit if unit != "tokens" or tokenizer else "chars"),
                                  tokenizer=tokenizer)
            out = _apply_precomputed(feats, frame, pre, unit, len(frame))
            out.insert(0, "response_id", frame["response_id"].astype("str").to_numpy())
            return pa.table([pa.array(out[f.name].to_numpy() if f.name != "refusal" else out[f.name].array,
                                      type=f.type, from_pandas=True) for f in schema], schema=schema)

        data.backend.map_batches(name, query, compute, schema, batch_size)
    if tokenizer is None:
        data._cache[key] = name
    return name
