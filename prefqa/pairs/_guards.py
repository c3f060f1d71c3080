"""Degenerate-pair guards: each one marks pairs to drop with its own reason code.

Default guards (cheap, exact)
-----------------------------
``empty``
    The chosen or the rejected text is empty or whitespace only.
``identical``
    Chosen and rejected are equal after whitespace normalisation (runs of
    whitespace collapsed to one space, ends stripped).
``duplicate``
    Same prompt text, chosen text and rejected text (exact) as an earlier
    kept pair; the first one is kept.

Opt-in guards
-------------
``near_identical``
    Jaccard similarity of the sets of lower-cased word bigrams of chosen
    and rejected is at least ``near_identical_threshold`` (default 0.9).
    Word bigrams (each word with the one before it) make word order count.
``near_duplicate``
    Within one prompt (same prompt text), a pair whose chosen *and* rejected
    each have word-bigram Jaccard >= ``near_duplicate_threshold`` (default
    0.9) with the chosen and rejected of an earlier kept pair. Cost grows
    with the square of the pairs per prompt.
``truncation``
    With the user's ``tokenizer``, ``prompt + response`` is cut to
    ``max_tokens`` tokens (as trainers truncate); the pair is dropped when
    the two kept completions are equal token for token (OpenRLHF PR #1313).

Exact texts are compared through Arrow dictionary codes, so the checks are exact.
The text checks that ``pq.lint`` also reports (``empty``, ``identical``,
``truncation_identical``) live in ``prefqa.cleaning._text``: one
implementation, called from here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..cleaning._text import blank_mask, identical_mask, normalize_ws, resolve_tokenizer, text_codes, truncated_equal

__all__ = [
    "DEFAULT_GUARDS",
    "OPTIONAL_GUARDS",
    "text_codes",
    "identical_mask",
    "blank_mask",
    "normalize_ws",
    "jaccard_word_bigrams",
    "duplicate_mask",
    "near_duplicate_mask",
    "truncation_mask",
]

DEFAULT_GUARDS: tuple[str, ...] = ("empty", "identical", "duplicate")
OPTIONAL_GUARDS: tuple[str, ...] = ("near_identical", "near_duplicate", "truncation")


def _shingles(texts: pd.Series) -> sp.csr_matrix:
    """Binary texts x word-bigram matrix (lower-cased ``\\w+`` words; a word with the one before it)."""
    tokens = texts.astype("str").fillna("").str.lower().str.findall(r"\w+")
    counts = tokens.str.len().to_numpy(dtype=np.int64)
    flat = tokens.explode().dropna().to_numpy(dtype=object)
    rows = np.repeat(np.arange(len(texts)), counts)
    h = pd.util.hash_array(flat, categorize=False) if len(flat) else np.zeros(0, np.uint64)
    prev = np.zeros_like(h)
    if len(h):
        prev[1:] = h[:-1]
        starts = np.cumsum(counts) - counts
        prev[starts[counts > 0]] = 0  # first word of a text pairs with a start marker
    with np.errstate(over="ignore"):
        shingle = h * np.uint64(0x9E3779B97F4A7C15) ^ (prev + np.uint64(0x632BE59BD9B4E019))
    cols, _ = pd.factorize(shingle)
    m = sp.csr_matrix((np.ones(len(cols), dtype=np.float64), (rows, cols)),
                      shape=(len(texts), max(int(cols.max()) + 1 if len(cols) else 0, 1)))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def jaccard_word_bigrams(texts: pd.Series, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Jaccard similarity of word-bigram sets between ``texts[left[k]]`` and ``texts[right[k]]``.

    Two texts with no words at all have similarity 1.

    Examples
    --------
    >>> t = pd.Series(["the cat sat", "The cat sat!", "a dog ran"])
    >>> jaccard_word_bigrams(t, np.array([0, 0]), np.array([1, 2])).tolist()
    [1.0, 0.0]
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    if not len(left):
        return np.zeros(0)
    used, inverse = np.unique(np.concatenate([left, right]), return_inverse=True)
    m = _shingles(texts.iloc[used].reset_index(drop=True))
    li, ri = inverse[: len(left)], inverse[len(left):]
    inter = np.asarray(m[li].multiply(m[ri]).sum(axis=1)).ravel()
    size = np.diff(m.indptr)
    union = size[li] + size[ri] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def duplicate_mask(keys: list[np.ndarray], alive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mark alive rows whose key equals that of an earlier alive row.

    Returns (mask, first) where ``first[i]`` is the row index of the kept
    original for a duplicate row ``i`` (-1 elsewhere).
    """
    n = len(alive)
    mask = np.zeros(n, dtype=bool)
    first = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(alive)
    if not len(idx):
        return mask, first
    frame = pd.DataFrame({f"k{i}": k[idx] for i, k in enumerate(keys)})
    group = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    first_in_group = np.full(group.max() + 1, -1, dtype=np.int64)
    first_in_group[group[::-1]] = idx[::-1]
    orig = first_in_group[group]
    dup = orig != idx
    mask[idx[dup]] = True
    first[idx[dup]] = orig[dup]
    return mask, first


def near_duplicate_mask(
    texts: pd.Series, prompt_key: np.ndarray, chosen: np.ndarray, rejected: np.ndarray,
    alive: np.ndarray, threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Mark alive rows that near-duplicate an earlier alive row of the same prompt.

    Returns (mask, first): ``first[i]`` is the earliest matching row.
    """
    n = len(alive)
    mask = np.zeros(n, dtype=bool)
    first = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(alive)
    if len(idx) < 2:
        return mask, first
    group = pd.factorize(prompt_key[idx])[0]
    order = np.argsort(group, kind="stable")
    g, rows = group[order], idx[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    rank = np.arange(len(g)) - np.repeat(starts, sizes)  # earlier rows in the same prompt
    later = np.repeat(np.arange(len(g)), rank)
    offs = np.arange(len(later)) - np.repeat(np.cumsum(rank) - rank, rank)
    earlier = np.repeat(np.repeat(starts, sizes), rank) + offs
    if not len(later):
        return mask, first
    j, i = rows[later], rows[earlier]
    sim_c = jaccard_word_bigrams(texts, chosen[i], chosen[j])
    sim_r = jaccard_word_bigrams(texts, rejected[i], rejected[j])
    hit = np.minimum(sim_c, sim_r) >= threshold
    if hit.any():
        hit_j, hit_i = j[hit], i[hit]
        earliest = pd.Series(hit_i).groupby(hit_j).min()
        mask[earliest.index.to_numpy()] = True
        first[earliest.index.to_numpy()] = earliest.to_numpy()
    return mask, first


def truncation_mask(
    prompts: pd.Series, prompt_pos: np.ndarray, texts: pd.Series, chosen: np.ndarray,
    rejected: np.ndarray, alive: np.ndarray, tokenizer: Any, max_tokens: int,
) -> np.ndarray:
    """Mark alive rows whose completions are equal after cutting prompt + response to ``max_tokens``.

    ``prefqa.cleaning._text.truncated_equal`` with TRL's ``keep_start``
    (the first ``max_tokens`` tokens are kept; TRL >= 1.0's default) and no
    separate prompt cut: the check ``pq.lint(..., truncation_mode='keep_start')``
    reports as ``truncation_identical``. The tokenizer runs once per distinct
    text. ``prompt_pos`` is -1 for a missing prompt (no tokens).
    """
    mask = np.zeros(len(alive), dtype=bool)
    idx = np.flatnonzero(alive)
    if not len(idx):
        return mask
    same, _ = truncated_equal(resolve_tokenizer(tokenizer), prompts, prompt_pos[idx], texts, chosen[idx],
                              rejected[idx], max_tokens=int(max_tokens), truncation_mode="keep_start")
    mask[idx[same]] = True
    return mask
