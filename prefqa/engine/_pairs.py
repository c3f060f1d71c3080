"""``build_pairs`` on engine data: decisions in memory on text keys, texts left in the engine.

``pq.build_pairs(scanned, ...)`` runs the in-memory ``build_pairs`` (one
implementation of every rule) on a *keyed* copy of the data: the judgments'
ids and choices are pulled into memory (numbers and ids, never texts), and
every response and prompt text is replaced by a short key that the exact
text checks cannot tell from the text:

* a response key is ``k<n>`` followed by whitespace spelling ``m``, where ``n`` numbers
  the text after whitespace normalisation (runs of whitespace collapsed to
  one space, ends stripped: the ``identical`` guard's rule) and ``m`` numbers
  the exact texts sharing that normalised form; a blank text (empty or
  whitespace only: the ``empty`` guard's rule) has no ``k<n>``, only spaces.
  So two keys are equal exactly when the texts are (``duplicate``), equal
  after normalisation exactly when the texts are (``identical``), and blank
  exactly when the text is (``empty``). ``m`` is written in bijective base 3
  with space, tab and newline as digits, so keys stay short;
* a prompt key is ``p<n>`` for the ``n``-th distinct exact text, whitespace
  only for a blank one.

The texts are streamed from the engine in Arrow batches (one batch in memory
at a time) to compute the keys: normalisation with Arrow's RE2 (a whitespace
class equal to Python's ``\\s``), two 64-bit hashes per text (128 bits).
Guards that read words or tokens (``near_identical``, ``near_duplicate``,
``truncation``), ``length_balance``, ``label='model'`` (text lengths) and
flags computed inside ``build_pairs`` (pass ``annotator_flags=`` /
``prompt_flags=`` from ``pq.annotator_table(scanned)`` / ``pq.flag_prompts(scanned)``)
are refused on engine data with that reason.

The returned ``PairSet`` holds ids, labels and every decision, but no
``prompt`` / ``chosen`` / ``rejected`` columns; ``pq.export`` joins the texts
in the engine and streams them to the file (:mod:`prefqa.engine._export`).
Memory: the judgments' ids and codes (about 100 bytes a judgment) and a few
numbers per response; never the texts.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import SchemaError
from ..schema import PreferenceData
from ._scan import ScannedData, is_scanned

__all__ = ["WS_PATTERN", "engine_source", "is_scanned", "keyed", "linked", "normalize"]

# Python's ``\s`` for str (the same set as str.isspace and Arrow's utf8_is_space), as an RE2 class
WS_PATTERN = (r"[\t\n\x{0b}\x{0c}\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
              r"\x{202f}\x{205f}\x{3000}]+")
_JUDGMENT_COLUMNS = ("comparison_id", "annotator_id", "choice", "prompt_id", "response_a_id", "response_b_id",
                     "model_a", "model_b", "strength")
_TEXT_GUARDS = ("near_identical", "near_duplicate", "truncation")
_KEYS = ("prefqa-keys-0001", "prefqa-keys-0002")  # 16-byte SipHash keys of the two 64-bit hashes
_SOURCES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def normalize(arr: pa.Array) -> pa.Array:
    """Collapse runs of whitespace to one space and strip the ends (the ``identical`` guard's rule).

    Examples
    --------
    >>> normalize(pa.array(["  a \\u00a0\\n b ", "\\u3000"])).to_pylist()
    ['a b', '']
    """
    return pc.utf8_trim(pc.replace_substring_regex(arr, WS_PATTERN, " "), " ")


def _hash2(arr: pa.Array) -> np.ndarray:
    values = arr.to_numpy(zero_copy_only=False)
    return np.stack([pd.util.hash_array(values, hash_key=k, categorize=False) for k in _KEYS], axis=1)


def _text_keys(data: ScannedData, table: str, id_col: str, extra: tuple[str, ...],
               response: bool, *, in_engine: bool = True) -> pd.DataFrame:
    """One row per row of ``table``: the id, ``extra`` columns and the text key (see the module docstring)."""
    cols = data.backend.columns(table)
    keep = [c for c in extra if c in cols]
    sel = ", ".join([f"CAST({id_col} AS VARCHAR) AS {id_col}"] + [f"CAST({c} AS VARCHAR) AS {c}" for c in keep]
                    + ["coalesce(CAST(text AS VARCHAR), '') AS text"])
    ids: list[pa.Array] = []
    others: dict[str, list[pa.Array]] = {c: [] for c in keep}
    exact: list[np.ndarray] = []
    norm: list[np.ndarray] = []
    blank: list[np.ndarray] = []
    if in_engine and data.engine == "duckdb":  # keys computed in the engine: no text leaves DuckDB
        return _keys_frame(_duckdb_keys(data, table, sel, id_col, keep), id_col, keep, response)
    for batch in data.backend.batches(f"SELECT {sel} FROM {table}"):
        text = batch.column("text").cast(pa.large_string())
        ids.append(batch.column(id_col))
        for c in keep:
            others[c].append(batch.column(c))
        n = normalize(text)
        blank.append(pc.equal(pc.utf8_length(n), 0).to_numpy(zero_copy_only=False))
        exact.append(_hash2(text))
        if response:
            norm.append(_hash2(n))
    parts = {id_col: ids, **others}
    keys: dict[str, Any] = {c: pa.chunked_array(v, type=pa.string()) for c, v in parts.items()}
    if ids:
        keys["blank"] = pa.chunked_array([pa.array(b) for b in blank])
        keys["exact"] = np.concatenate(exact)
        if response:
            keys["norm"] = np.concatenate(norm)
    return _keys_frame(keys, id_col, keep, response)


def _duckdb_keys(data: ScannedData, table: str, sel: str, id_col: str, keep: list[str]) -> dict[str, Any]:
    """Blank flag and two 64-bit halves of md5 of the exact and the normalised text, computed by DuckDB.

    DuckDB's ``regexp_replace`` is RE2, as Arrow's is, so the normalisation is
    the same text for text (``WS_PATTERN``, then spaces trimmed).
    """
    pattern = WS_PATTERN.replace("'", "''")
    norm = f"trim(regexp_replace(text, '{pattern}', ' ', 'g'), ' ')"
    halves = ", ".join(f"CAST(md5_number({x}) >> 64 AS UBIGINT) AS {n}_hi, "
                       f"CAST(md5_number({x}) & CAST(18446744073709551615 AS UHUGEINT) AS UBIGINT) AS {n}_lo"
                       for x, n in (("text", "e"), ("nt", "n")))
    extra = "".join(f", {c}" for c in keep)
    t = data.backend.sql(f"SELECT {id_col}{extra}, length(nt) = 0 AS blank, {halves} FROM "
                         f"(SELECT *, {norm} AS nt FROM (SELECT {sel} FROM {table}) s) k")
    out: dict[str, Any] = {c: t.column(c) for c in (id_col, *keep, "blank")}
    out["exact"] = np.stack([t.column("e_hi").to_numpy(), t.column("e_lo").to_numpy()], axis=1)
    out["norm"] = np.stack([t.column("n_hi").to_numpy(), t.column("n_lo").to_numpy()], axis=1)
    return out


def _keys_frame(cols: dict[str, Any], id_col: str, keep: list[str], response: bool) -> pd.DataFrame:
    """Ids, extra columns and the text key from the blank flags and the exact / normalised text hashes."""
    out = pd.DataFrame({id_col: pd.Series(cols[id_col].to_pandas(), dtype="str") if id_col in cols
                        else pd.Series([], dtype="str")})
    for c in keep:
        out[c] = pd.Series(cols[c].to_pandas(), dtype="str")
    if "exact" not in cols or not len(out):
        out["text"] = pd.Series([], dtype="str")
        return out
    is_blank = np.asarray(cols["blank"].to_numpy(zero_copy_only=False), dtype=bool)
    e = np.unique(cols["exact"], axis=0, return_inverse=True)[1].ravel()
    if response:
        g = np.unique(cols["norm"], axis=0, return_inverse=True)[1].ravel()
        g = np.where(is_blank, -1, g)
    else:
        g = np.where(is_blank, -1, e)
        e = np.where(is_blank, e, 0)
    # m: rank of the exact text among the distinct exact texts of its group
    pairs = np.unique(np.stack([g, e], axis=1), axis=0)
    first = np.searchsorted(pairs[:, 0], pairs[:, 0], side="left")
    rank = np.arange(len(pairs)) - first
    pos = np.searchsorted(pairs[:, 0] * (int(e.max()) + 1) + pairs[:, 1], g * (int(e.max()) + 1) + e)
    m = rank[pos]
    stem = pd.Series(np.where(g >= 0, ("k" if response else "p"), ""), dtype="str")
    number = pd.Series(g, dtype="int64").astype("str").where(g >= 0, "")
    out["text"] = (stem + number + _whitespace_digits(m)).astype("str")
    return out


def _whitespace_digits(m: np.ndarray) -> pd.Series:
    """``m`` in bijective base 3 with the digits space, tab and newline (0 -> ``""``): distinct and all blank.

    Examples
    --------
    >>> _whitespace_digits(np.array([0, 1, 3, 4])).tolist()
    ['', ' ', '\\n', '  ']
    """
    out = pd.Series("", index=range(len(m)), dtype="str")
    x = np.asarray(m, dtype=np.int64).copy()
    chars = np.array([" ", "\t", "\n"], dtype=object)
    while (x > 0).any():
        live = x > 0
        d = (x - 1) % 3
        out = out.where(~live, out + pd.Series(chars[d], dtype="str"))
        x = np.where(live, (x - 1) // 3, 0)
    return out


def keyed(data: ScannedData, options: dict[str, Any]) -> PreferenceData:
    """The keyed in-memory copy of ``data`` that ``build_pairs`` decides on (see the module docstring)."""
    _refuse(data, options)
    cols = [c for c in _JUDGMENT_COLUMNS if c in data.columns]
    sel = ", ".join(f'"{c}"' for c in cols)
    judgments = data.frame(f"SELECT {sel} FROM {{j}} ORDER BY _row").reset_index(drop=True)
    responses = prompts = None
    if data.responses_table is not None and "text" in data.backend.columns(data.responses_table):
        responses = _text_keys(data, data.responses_table, "response_id", ("prompt_id",), True)
    if data.prompts_table is not None and "text" in data.backend.columns(data.prompts_table):
        if "messages" in data.backend.columns(data.prompts_table):
            raise SchemaError("build_pairs on engine data writes standard (string) prompts; these prompts carry "
                              "`messages` (conversational data): build the pairs in memory, "
                              "pq.build_pairs(scanned.collect()).")
        prompts = _text_keys(data, data.prompts_table, "prompt_id", (), False)
    return PreferenceData(judgments, responses=responses, prompts=prompts, order_known=data.order_known,
                          load_report=data.load_report, meta=dict(data.meta))


def _refuse(data: ScannedData, options: dict[str, Any]) -> None:
    guards = options.get("guards", ())
    guards = (guards,) if isinstance(guards, str) else tuple(guards)
    why = []
    text_guards = [g for g in guards if g in _TEXT_GUARDS]
    if text_guards:
        why.append(f"guards {text_guards} read words or tokens of the texts")
    if options.get("length_balance"):
        why.append(f"length_balance={options['length_balance']!r} needs the text lengths")
    if options.get("label") == "model":
        why.append("label='model' fits text lengths")
    if options.get("policy") is not None:
        why.append(f"policy={options['policy']!r} pairs ratings, which pq.scan does not read")
    if options.get("flagged", "keep") != "keep" and (options.get("annotator_flags") is None
                                                     or options.get("prompt_flags") is None):
        why.append(f"flagged={options['flagged']!r} without annotator_flags= and prompt_flags= would compute "
                   "the flags in memory; pass annotator_flags=pq.annotator_table(scanned), "
                   "prompt_flags=pq.flag_prompts(scanned)")
    if why:
        raise SchemaError(
            "build_pairs on engine data (pq.scan) keeps the texts in the engine and cannot run: "
            + "; ".join(why) + ". Drop those options, or build in memory: pq.build_pairs(scanned.collect(), ...)."
        )


def linked(pairs: Any, data: ScannedData) -> Any:
    """Tie a PairSet built on keyed data to its engine, drop the key columns and return it.

    ``pq.export`` finds the engine with :func:`engine_source` and joins the
    texts there. The blank-prompt flags the export's empty-prompt check needs
    are kept (computed on the keys, which are blank exactly when the prompt is).
    """
    info: dict[str, Any] = {"data": data}
    for name in ("pairs", "ties"):
        frame = getattr(pairs, name)
        prompt = frame["prompt"] if "prompt" in frame else pd.Series([""] * len(frame), dtype="str")
        info[f"{name}_blank"] = prompt.astype("str").fillna("").str.strip().eq("").to_numpy(dtype=bool)
        for c in ("prompt", "chosen", "rejected"):
            if c in frame:
                del frame[c]
    _SOURCES[pairs] = info
    return pairs


def engine_source(pairs: Any) -> dict[str, Any] | None:
    """``{"data": ScannedData, "pairs_blank": ..., "ties_blank": ...}`` for a PairSet built on engine data."""
    try:
        return _SOURCES.get(pairs)
    except TypeError:  # not weak-referenceable: not ours
        return None
