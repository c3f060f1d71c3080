"""Benchmark contamination: prompts of the data that overlap prompts of benchmarks the user supplies.

Nothing is downloaded: benchmarks are JSONL / CSV / Parquet files or
DataFrames. Every text (the data's prompts, the benchmarks' prompts) is
normalised first: lower case, punctuation to spaces, runs of whitespace to
one space (:func:`~prefqa.cleaning._text.normalize_for_match`). A prompt is
flagged, in this order of precedence, when

``exact``
    its normalised text equals a benchmark prompt's (any length; this is
    the only test for prompts shorter than ``n`` words);
``ngram``
    it shares a run of ``n`` consecutive words with a benchmark prompt
    (GPT-3's 13-gram overlap test; ``n=13`` by default);
``minhash``
    its Jaccard similarity of word 3-shingles with a benchmark prompt,
    estimated by MinHash (``prefqa.prompts._minhash``, 128 hash functions,
    candidates by LSH in 32 bands of 4 rows), is at least ``min_jaccard``.

Word ``n``-grams are hashed to 64 bits (a collision between two different
13-grams has probability about 2**-64 per pair) and matched with sorted-array
joins. A benchmark ``n``-gram shared by more than ``_TEMPLATE_ROWS`` distinct
benchmark prompts is boilerplate of the benchmark's template (``"the
following are multiple choice questions"``), not a copied item, and is not
used for matching; the result's warnings count them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InsufficientDataError, SchemaError
from ..prompts._minhash import MIX, minhash_signatures, row_keys
from ..schema import PreferenceData
from ._text import normalize_for_match

__all__ = ["ContaminationResult", "contamination", "read_benchmarks"]

KINDS: tuple[str, ...] = ("exact", "ngram", "minhash")
MATCH_COLUMNS: tuple[str, ...] = ("prompt_id", "prompt", "kind", "overlap", "jaccard", "benchmark",
                                  "benchmark_row", "benchmark_text")
_N_HASHES, _BANDS, _SHINGLE = 128, 32, 3
_TEMPLATE_ROWS = 100


@dataclass(frozen=True, eq=False)
class ContaminationResult:
    """Prompts that overlap benchmark prompts: one row per flagged prompt.

    Attributes
    ----------
    matches : DataFrame
        One row per flagged prompt: ``prompt_id``, ``prompt``, ``kind``
        (``exact`` / ``ngram`` / ``minhash``), ``overlap`` (share of the
        prompt's ``n``-word runs found in the matched benchmark prompt; 1 for
        an exact match, ``nan`` for a prompt shorter than ``n`` words that is
        not exact), ``jaccard`` (MinHash estimate of the word 3-shingle
        Jaccard similarity with it), ``benchmark`` (file path or frame name),
        ``benchmark_row`` (0-based data row of that file; a CSV header is not
        counted) and ``benchmark_text``.
    n_prompts : int
        Prompts of the data that were checked.
    benchmarks : tuple of (name, n_rows, text_column)
        Each benchmark as read.
    settings : dict
        ``n``, ``min_jaccard``, ``text_column``.
    warnings : tuple of str
        Plain-language remarks.
    """

    matches: pd.DataFrame
    n_prompts: int
    benchmarks: tuple[tuple[str, int, str], ...]
    settings: dict[str, Any]
    warnings: tuple[str, ...] = field(default=())

    @property
    def prompt_ids(self) -> tuple[str, ...]:
        """Ids of the flagged prompts (what ``build_pairs(contamination=...)`` drops)."""
        return tuple(self.matches["prompt_id"].astype("str").tolist())

    @property
    def n_flagged(self) -> int:
        """Number of flagged prompts."""
        return len(self.matches)

    @property
    def share(self) -> float:
        """Flagged share of the prompts (``nan`` without prompts)."""
        return self.n_flagged / self.n_prompts if self.n_prompts else float("nan")

    def to_frame(self) -> pd.DataFrame:
        """Return the flagged prompts (a copy of ``matches``)."""
        return self.matches.copy()

    def summary(self) -> str:
        """Return a plain-text account: how many prompts overlap which benchmark, by kind."""
        n_bench = sum(b[1] for b in self.benchmarks)
        lines = [f"{self.n_flagged:,} of {self.n_prompts:,} prompts overlap {n_bench:,} benchmark prompts "
                 f"({', '.join(b[0] for b in self.benchmarks)}; n={self.settings['n']}, "
                 f"min_jaccard={self.settings['min_jaccard']})."]
        if self.n_flagged:
            by = self.matches.groupby(["benchmark", "kind"], sort=False).size()
            lines += [f"  {int(k):>8,}  {b}: {kind}" for (b, kind), k in by.items()]
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"ContaminationResult({self.n_flagged:,} of {self.n_prompts:,} prompts flagged)"


def _read_file(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if not path.is_file():
        raise SchemaError(f"benchmark file {str(path)!r} does not exist; pass JSONL, CSV or Parquet files "
                          "or DataFrames (nothing is downloaded).")
    try:
        if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
            return pd.read_json(path, lines=True, dtype=False)
        if name.endswith((".json", ".json.gz")):
            try:
                return pd.read_json(path, dtype=False)
            except ValueError:
                return pd.read_json(path, lines=True, dtype=False)
        if name.endswith((".csv", ".csv.gz", ".tsv")):
            return pd.read_csv(path, sep="\t" if name.endswith(".tsv") else ",", dtype=str, keep_default_na=False)
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise SchemaError(f"could not read the benchmark file {str(path)!r}: {exc}") from exc
    raise SchemaError(f"benchmark file {str(path)!r}: unknown type; use .jsonl, .json, .csv, .tsv or .parquet "
                      "(optionally .gz for JSON / CSV).")


def _string_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of text: every value a string, not all of them numbers (a CSV's id column is read as text)."""
    out = []
    for col in frame.columns:  # columns, not rows
        s = frame[col].dropna()
        if not len(s) or not s.map(type).eq(str).all():
            continue
        filled = s.astype("str").str.strip()
        filled = filled[filled != ""]
        if len(filled) and pd.to_numeric(filled, errors="coerce").notna().all():
            continue
        out.append(str(col))
    return out


def read_benchmarks(benchmarks: Any, text_column: str | None = None) -> tuple[pd.DataFrame, list[tuple[str, int, str]]]:
    """Return (texts: ``benchmark``, ``benchmark_row``, ``benchmark_text``; per-benchmark (name, rows, column)).

    ``benchmarks`` is a path, a DataFrame, a ``{name: path or DataFrame}``
    mapping, or a sequence of paths and DataFrames.

    Examples
    --------
    >>> texts, info = read_benchmarks(pd.DataFrame({"id": [1, 2], "question": ["2+2?", "3+3?"]}))
    >>> texts["benchmark_text"].tolist(), info
    (['2+2?', '3+3?'], [('benchmarks[0]', 2, 'question')])
    """
    items: list[tuple[str | None, Any]]
    if isinstance(benchmarks, (str, os.PathLike, pd.DataFrame)):
        items = [(None, benchmarks)]
    elif isinstance(benchmarks, Mapping):
        items = [(str(k), v) for k, v in benchmarks.items()]
    elif isinstance(benchmarks, Sequence) and not isinstance(benchmarks, bytes):
        items = [(None, b) for b in benchmarks]
    else:
        raise SchemaError(f"`benchmarks` must be a file path, a DataFrame, a list of them or a {{name: ...}} dict; "
                          f"got {type(benchmarks).__name__}.")
    if not items:
        raise SchemaError("`benchmarks` is empty; pass at least one JSONL / CSV / Parquet file or DataFrame.")
    parts, info = [], []
    for i, (name, item) in enumerate(items):
        if isinstance(item, pd.DataFrame):
            frame, label = item, name or f"benchmarks[{i}]"
        elif isinstance(item, (str, os.PathLike)):
            frame, label = _read_file(Path(item)), name or str(item)
        else:
            raise SchemaError(f"benchmark {i} must be a file path or a DataFrame; got {type(item).__name__}.")
        found = [str(c) for c in frame.columns]
        if text_column is not None:
            if text_column not in frame:
                raise SchemaError(f"benchmark {label!r} has no column {text_column!r} (text_column=); "
                                  f"found {found}.")
            col = text_column
        else:
            cols = _string_columns(frame)
            if len(cols) != 1:
                what = "no string column" if not cols else f"{len(cols)} string columns {cols}"
                raise SchemaError(f"benchmark {label!r} has {what} (columns found: {found}); name the prompt "
                                  "column with text_column=... (on the command line: --benchmark-column).")
            col = cols[0]
        text = frame[col].astype("str").fillna("").reset_index(drop=True)
        parts.append(pd.DataFrame({"benchmark": label, "benchmark_row": np.arange(len(frame), dtype=np.int64),
                                   "benchmark_text": text}))
        info.append((label, len(frame), str(col)))
    return pd.concat(parts, ignore_index=True), info


def _word_hashes(norm: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hash per word, word count per text) of whitespace-split normalised texts."""
    arr = pa.array(norm.to_numpy(dtype=object), type=pa.large_string())
    words = pc.utf8_split_whitespace(arr)
    offsets = words.offsets.to_numpy().astype(np.int64)
    enc = pc.dictionary_encode(pc.list_flatten(words))
    vocab = enc.dictionary.to_numpy(zero_copy_only=False).astype(object)
    ids = enc.indices.to_numpy()
    owner = np.repeat(np.arange(len(norm)), np.diff(offsets))
    keep = (vocab != "")[ids] if len(ids) else np.zeros(0, dtype=bool)
    if not len(ids):
        return np.zeros(0, np.uint64), np.zeros(len(norm), dtype=np.int64)
    wh = pd.util.hash_array(vocab, categorize=False).astype(np.uint64)[ids[keep]]
    return wh, np.bincount(owner[keep], minlength=len(norm))


def ngram_hashes(norm: pd.Series, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (owner text, hash) of every run of ``n`` words, and the word count of each text.

    Texts shorter than ``n`` words have no runs.

    Examples
    --------
    >>> own, h, nw = ngram_hashes(pd.Series(["a b c", "b c", "x a b"]), 2)
    >>> own.tolist(), nw.tolist(), bool(h[1] == h[2]), bool(h[0] == h[4])
    ([0, 0, 1, 2, 2], [3, 2, 3], True, True)
    """
    wh, n_words = _word_hashes(norm)
    start = np.concatenate([[0], np.cumsum(n_words)[:-1]]).astype(np.int64)
    owner_w = np.repeat(np.arange(len(norm)), n_words)
    pos = np.arange(len(wh)) - start[owner_w]
    first = np.flatnonzero(pos + n <= n_words[owner_w])
    sh = np.zeros(len(first), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):  # n words per run
            sh = sh * MIX + wh[first + k] + np.uint64(k + 1)
    return owner_w[first], sh, n_words


def _ngram_matches(p_norm: pd.Series, b_norm: pd.Series, n: int) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Best benchmark row per prompt by shared ``n``-grams: frame (prompt, bench, shared), n-grams per prompt."""
    p_own, p_h, p_words = ngram_hashes(p_norm, n)
    b_own, b_h, _ = ngram_hashes(b_norm, n)
    pt = pd.DataFrame({"h": p_h.view(np.int64), "prompt": p_own}).drop_duplicates()
    per_prompt = np.bincount(pt["prompt"].to_numpy(dtype=np.int64), minlength=len(p_norm))  # distinct n-grams
    empty = pd.DataFrame({"prompt": np.zeros(0, np.int64), "bench": np.zeros(0, np.int64),
                          "shared": np.zeros(0, np.int64)})
    if not len(p_h) or not len(b_h):
        return empty, per_prompt, 0
    bt = pd.DataFrame({"h": b_h.view(np.int64), "bench": b_own}).drop_duplicates()
    rows_per_h = bt.groupby("h", sort=False)["bench"].transform("size").to_numpy()
    n_template = int(bt.loc[rows_per_h > _TEMPLATE_ROWS, "h"].nunique())
    bt = bt.loc[rows_per_h <= _TEMPLATE_ROWS]
    pt = pt.loc[pt["h"].isin(bt["h"])]
    if not len(pt):
        return empty, per_prompt, n_template
    joined = pt.merge(bt, on="h", how="inner")
    counts = joined.groupby(["prompt", "bench"], sort=False).size().rename("shared").reset_index()
    counts = counts.sort_values(["prompt", "shared", "bench"], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("prompt").reset_index(drop=True), per_prompt, n_template


def _minhash_matches(p_norm: pd.Series, b_norm: pd.Series, min_jaccard: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Best benchmark row per prompt with estimated Jaccard >= ``min_jaccard``; also all signatures."""
    sig = minhash_signatures(pd.concat([p_norm, b_norm], ignore_index=True), shingle=_SHINGLE,
                             n_hashes=_N_HASHES, seed=0)
    n_p = len(p_norm)
    has_words = (pd.concat([p_norm, b_norm], ignore_index=True).str.len() > 0).to_numpy()
    rows = _N_HASHES // _BANDS
    p_ok, b_ok = np.flatnonzero(has_words[:n_p]), np.flatnonzero(has_words[n_p:])
    cand = []
    for band in range(_BANDS):  # LSH bands
        block = slice(band * rows, (band + 1) * rows)
        kp = pd.DataFrame({"k": row_keys(sig[p_ok, block]).view(np.int64), "prompt": p_ok})
        kb = pd.DataFrame({"k": row_keys(sig[n_p + b_ok, block]).view(np.int64), "bench": b_ok})
        cand.append(kp.merge(kb, on="k", how="inner")[["prompt", "bench"]])
    pairs = pd.concat(cand, ignore_index=True).drop_duplicates()
    if not len(pairs):
        return pd.DataFrame({"prompt": [], "bench": [], "jaccard": []}), sig
    p, b = pairs["prompt"].to_numpy(), pairs["bench"].to_numpy()
    jac = (sig[p] == sig[n_p + b]).mean(axis=1)
    out = pd.DataFrame({"prompt": p, "bench": b, "jaccard": jac}).loc[jac >= min_jaccard - 1e-12]
    out = out.sort_values(["prompt", "jaccard", "bench"], ascending=[True, False, True], kind="stable")
    return out.drop_duplicates("prompt").reset_index(drop=True), sig


def contamination(
    data: PreferenceData,
    benchmarks: Any,
    *,
    n: int = 13,
    min_jaccard: float = 0.8,
    text_column: str | None = None,
) -> ContaminationResult:
    """Find the data's prompts that overlap benchmark prompts (exact, shared ``n``-gram, or MinHash Jaccard).

    Parameters
    ----------
    data : PreferenceData
        Data with a ``prompts`` table (prompt texts).
    benchmarks : path, DataFrame, list of them, or dict name -> path / DataFrame
        Benchmark prompts: JSONL, JSON, CSV, TSV or Parquet files (``.gz``
        for JSON / CSV) or DataFrames. Nothing is downloaded.
    n : int
        Length in words of the shared run that flags a prompt (13 as in
        GPT-3's contamination study). Prompts shorter than ``n`` words are
        flagged only by an exact normalised match or by MinHash.
    min_jaccard : float
        Estimated Jaccard similarity of word 3-shingles at or above which a
        prompt is flagged (``kind='minhash'``).
    text_column : str, optional
        The benchmarks' prompt column; by default each benchmark's only
        string column.

    Returns
    -------
    ContaminationResult
        One row per flagged prompt in ``matches`` (see the module notes for
        the tests and their precedence).

    Raises
    ------
    SchemaError
        Bad options, unreadable benchmarks, or no single text column.
    InsufficientDataError
        The data has no prompt texts.

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c2"], "annotator_id": ["x", "x"], "choice": ["a", "b"],
    ...                   "prompt_id": ["p1", "p2"]})
    >>> p = pd.DataFrame({"prompt_id": ["p1", "p2"], "text": ["What is  the capital of FRANCE?", "Write a poem."]})
    >>> bench = pd.DataFrame({"question": ["what is the capital of France", "Name a prime number."]})
    >>> res = pq.contamination(pq.PreferenceData(j, prompts=p), bench)
    >>> res.matches[["prompt_id", "kind", "benchmark_row"]].values.tolist()
    [['p1', 'exact', 0]]
    """
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData; got {type(data).__name__}. Load it with pq.read(...).")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise SchemaError(f"`n` must be a positive integer (words in a shared run); got {n!r}.")
    if isinstance(min_jaccard, bool) or not isinstance(min_jaccard, (int, float)) or not 0.0 < min_jaccard <= 1.0:
        raise SchemaError(f"`min_jaccard` must be in (0, 1]; got {min_jaccard!r}.")
    prompts = data.prompts
    if not len(prompts) or "text" not in prompts:
        raise InsufficientDataError("the data has no prompt texts to check for contamination; read data with a "
                                    "prompt column (pq.read(..., mapping={'YOUR_COLUMN': 'prompt'})).")
    bench, info = read_benchmarks(benchmarks, text_column)
    warns: list[str] = []
    p_text = prompts["text"].astype("str").fillna("").reset_index(drop=True)
    p_norm = normalize_for_match(p_text)
    b_norm_all = normalize_for_match(bench["benchmark_text"])
    # distinct normalised benchmark texts (first row kept): duplicates would look like templates
    b_codes, b_uniq = pd.factorize(b_norm_all)
    b_first = np.full(len(b_uniq), len(b_codes), dtype=np.int64)
    np.minimum.at(b_first, b_codes, np.arange(len(b_codes)))
    b_norm = pd.Series(b_uniq, dtype="str")
    if (b_norm == "").any():
        warns.append(f"{int((b_norm_all == '').sum()):,} benchmark rows have no words and are ignored.")
    n_p = len(p_norm)
    bench_of = np.full(n_p, -1, dtype=np.int64)
    kind = np.full(n_p, "", dtype=object)
    # exact normalised match
    exact = pd.Index(b_norm).get_indexer(p_norm)
    exact[(p_norm == "").to_numpy()] = -1
    hit = exact >= 0
    bench_of[hit], kind[hit] = exact[hit], "exact"
    ng, per_prompt, n_template = _ngram_matches(p_norm, b_norm.where(b_norm != "", ""), int(n))
    if n_template:
        warns.append(f"{n_template:,} {n}-word runs shared by more than {_TEMPLATE_ROWS} distinct benchmark prompts "
                     "were treated as the benchmark's template and not matched.")
    shared = np.zeros(n_p, dtype=np.int64)
    ng_bench = np.full(n_p, -1, dtype=np.int64)
    if len(ng):
        ng_bench[ng["prompt"].to_numpy()] = ng["bench"].to_numpy()
        shared[ng["prompt"].to_numpy()] = ng["shared"].to_numpy()
        new = (ng_bench >= 0) & (bench_of < 0)
        bench_of[new], kind[new] = ng_bench[new], "ngram"
    mh, sig = _minhash_matches(p_norm, b_norm, float(min_jaccard))
    if len(mh):
        mp, mb = mh["prompt"].to_numpy(np.int64), mh["bench"].to_numpy(np.int64)
        new = bench_of[mp] < 0
        bench_of[mp[new]], kind[mp[new]] = mb[new], "minhash"
    rows = np.flatnonzero(bench_of >= 0)
    b_sel = bench_of[rows]
    jac = (sig[rows] == sig[n_p + b_sel]).mean(axis=1) if len(rows) else np.zeros(0)
    # overlap with the matched row: its shared n-grams over the prompt's
    ov_shared = _shared_with(p_norm, b_norm, rows, b_sel, int(n))
    with np.errstate(invalid="ignore", divide="ignore"):
        overlap = np.where(per_prompt[rows] > 0, ov_shared / np.maximum(per_prompt[rows], 1), np.nan)
    overlap = np.where(kind[rows] == "exact", 1.0, overlap)
    src = b_first[b_sel]
    matches = pd.DataFrame({
        "prompt_id": prompts["prompt_id"].astype("str").to_numpy()[rows],
        "prompt": p_text.to_numpy(dtype=object)[rows],
        "kind": pd.Series(kind[rows], dtype="str"),
        "overlap": overlap.astype(np.float64),
        "jaccard": jac.astype(np.float64),
        "benchmark": bench["benchmark"].to_numpy(dtype=object)[src],
        "benchmark_row": bench["benchmark_row"].to_numpy(dtype=np.int64)[src],
        "benchmark_text": bench["benchmark_text"].to_numpy(dtype=object)[src],
    }, columns=list(MATCH_COLUMNS))
    for col in ("prompt_id", "prompt", "benchmark", "benchmark_text"):
        matches[col] = matches[col].astype("str")
    settings = {"n": int(n), "min_jaccard": float(min_jaccard), "text_column": text_column}
    return ContaminationResult(matches=matches, n_prompts=n_p, benchmarks=tuple(info), settings=settings,
                               warnings=tuple(warns))


def _shared_with(p_norm: pd.Series, b_norm: pd.Series, rows: np.ndarray, bench: np.ndarray, n: int) -> np.ndarray:
    """Distinct ``n``-grams that prompt ``rows[k]`` shares with benchmark text ``bench[k]``."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    p_own, p_h, _ = ngram_hashes(p_norm.iloc[rows].reset_index(drop=True), n)
    b_own, b_h, _ = ngram_hashes(b_norm.iloc[bench].reset_index(drop=True), n)
    a = pd.DataFrame({"k": p_own, "h": p_h.view(np.int64)}).drop_duplicates()
    b = pd.DataFrame({"k": b_own, "h": b_h.view(np.int64)}).drop_duplicates()
    both = a.merge(b, on=["k", "h"], how="inner")
    return np.bincount(both["k"].to_numpy(dtype=np.int64), minlength=len(rows))
