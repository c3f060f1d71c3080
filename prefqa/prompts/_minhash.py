"""Near-duplicate texts by MinHash over word shingles, vectorized with numpy and pyarrow.

Texts are lower-cased and split into words by pyarrow's string kernels; each
run of ``shingle`` consecutive words is hashed to one 64-bit value (a
polynomial combination of the words' SipHash values, computed on the
flattened word array with boundary masks, no Python loop over texts). Each
of ``n_hashes`` universal hash functions ``h(x) = (a * x + b) mod 2^64``
(odd ``a``) is applied to every shingle and reduced to its minimum per text
with ``np.minimum.reduceat``: the share of equal minima between two texts
estimates their Jaccard similarity. Candidate pairs come from locality
sensitive hashing (``bands`` bands of ``n_hashes / bands`` rows); a
candidate is kept when its estimated Jaccard is at least ``threshold``, and
groups are the connected components of the kept pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["MIX", "duplicate_groups", "minhash_signatures", "row_keys"]

MIX = np.uint64(0x9E3779B97F4A7C15)


def minhash_signatures(
    texts: pd.Series, *, shingle: int = 3, n_hashes: int = 32, seed: int = 0
) -> np.ndarray:
    """Return a ``(len(texts), n_hashes)`` uint64 MinHash signature matrix.

    Texts shorter than ``shingle`` words use their whole word sequence as
    one shingle; empty texts get the maximum value everywhere (they match
    only other empty texts).

    Examples
    --------
    >>> s = minhash_signatures(pd.Series(["the cat sat on the mat", "the cat sat on the mat", "dogs bark"]))
    >>> bool((s[0] == s[1]).all()), float((s[0] == s[2]).mean())
    (True, 0.0)
    """
    arr = pa.array(texts.fillna("").astype(str).to_numpy(dtype=object), type=pa.large_string())
    clean = pc.replace_substring_regex(pc.utf8_lower(arr), r"[^\w\s]+", " ")
    words = pc.utf8_split_whitespace(clean)
    offsets = words.offsets.to_numpy().astype(np.int64)
    encoded = pc.dictionary_encode(pc.list_flatten(words))
    vocab = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    word_hash = pd.util.hash_array(vocab, categorize=False).astype(np.uint64)
    ids = encoded.indices.to_numpy()
    text_of = np.repeat(np.arange(len(texts)), np.diff(offsets))
    nonempty = (vocab != "")[ids]  # a trailing separator leaves an empty token
    h, text_of = word_hash[ids[nonempty]], text_of[nonempty]
    n_words = np.bincount(text_of, minlength=len(texts))
    start = np.concatenate([[0], np.cumsum(n_words)[:-1]])
    k = shingle
    # a shingle starts at word w if w + k - 1 stays inside its text; short texts get one shingle at their start
    pos = np.arange(len(h)) - start[text_of]
    own_words = n_words[text_of]
    is_start = pos <= np.maximum(own_words - k, 0)
    first = np.flatnonzero(is_start)
    owner = text_of[first]
    sh = np.zeros(len(first), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for step in range(k):  # k words per shingle
            idx = np.minimum(first + step, len(h) - 1)
            part = np.where(pos[first] + step < own_words[first], h[idx], np.uint64(0))
            sh = sh * MIX + part + np.uint64(step + 1)
    n = len(texts)
    sig = np.full((n_hashes, n), np.iinfo(np.uint64).max, dtype=np.uint64)
    if not len(sh):
        return sig.T
    has = np.bincount(owner, minlength=n) > 0
    seg_start = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, n_hashes, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, n_hashes, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for t in range(n_hashes):  # hash functions
            hv = sh * a[t] + b[t]
            sig[t, has] = np.minimum.reduceat(hv, seg_start)
    return np.ascontiguousarray(sig.T)


def duplicate_groups(
    texts: pd.Series, *, threshold: float = 0.7, shingle: int = 3, n_hashes: int = 32, bands: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """Return a group number per text (``-1`` when the text has no near duplicate).

    Examples
    --------
    >>> t = pd.Series(["Explain how a river forms a delta, in simple words please.",
    ...                "Explain how a river forms a delta, in simple words, please!",
    ...                "Write a haiku about autumn leaves falling on a quiet pond."])
    >>> duplicate_groups(t).tolist()
    [0, 0, -1]
    """
    n = len(texts)
    if n < 2:
        return np.full(n, -1, dtype=np.int64)
    sig = minhash_signatures(texts, shingle=shingle, n_hashes=n_hashes, seed=seed)
    rows = n_hashes // bands
    src, dst = [], []
    for band in range(bands):  # LSH bands
        block = sig[:, band * rows:(band + 1) * rows]
        key = row_keys(block)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        first = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        head = np.repeat(order[first], np.diff(np.r_[first, n]))
        mate = head != order
        src.append(head[mate])
        dst.append(order[mate])
    s, d = np.concatenate(src), np.concatenate(dst)
    if len(s):
        pair = np.unique(np.minimum(s, d) * n + np.maximum(s, d))
        s, d = pair // n, pair % n
        jac = (sig[s] == sig[d]).mean(axis=1)
        s, d = s[jac >= threshold], d[jac >= threshold]
    graph = coo_matrix((np.ones(len(s)), (s, d)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    size = np.bincount(comp)
    dup = size[comp] > 1
    out = np.full(n, -1, dtype=np.int64)
    if dup.any():
        codes, _ = pd.factorize(comp[dup], sort=False)
        out[dup] = codes
    return out


def row_keys(block: np.ndarray) -> np.ndarray:
    """Combine the columns of a uint64 block into one uint64 key per row."""
    key = np.zeros(len(block), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in range(block.shape[1]):  # rows per band
            key = (key ^ block[:, col]) * MIX + np.uint64(col + 1)
    return key
