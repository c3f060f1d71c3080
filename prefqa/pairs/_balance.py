"""Length balancing and the per-prompt cap.

Length balance
--------------
Pairs are put into ``n_buckets`` equal-count buckets of their mean length
(characters of chosen and rejected, averaged). In each bucket, with ``L``
pairs whose chosen response is longer and ``S`` whose chosen is shorter
(equal lengths count for neither), the chosen-is-longer share is
``L / (L + S)``. If it lies outside ``0.5 +/- tolerance``:

* ``"subsample"`` (``length_balance=True``) drops random pairs of the
  larger side until the share is as close to the band as possible while
  keeping as many pairs as it can;
* ``"reweight"`` keeps every pair and sets ``weight`` on the larger side
  to ``minority / majority`` so the weighted share is exactly 0.5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["balance_lengths", "cap_per_prompt"]


def balance_lengths(
    len_chosen: np.ndarray, len_rejected: np.ndarray, alive: np.ndarray, *,
    mode: str, tolerance: float, n_buckets: int, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Return (drop mask, weights, per-bucket report) for the alive rows.

    Examples
    --------
    >>> lc = np.array([10, 12, 14, 16, 5, 30]); lr = np.array([5, 5, 5, 5, 9, 31])
    >>> drop, w, rep = balance_lengths(lc, lr, np.ones(6, bool), mode="subsample",
    ...                                tolerance=0.05, n_buckets=1, rng=np.random.default_rng(0))
    >>> int(drop.sum()), rep[["share_before", "share_after"]].round(3).values.tolist()
    (2, [[0.667, 0.5]])
    """
    n = len(alive)
    drop = np.zeros(n, dtype=bool)
    weight = np.ones(n, dtype=np.float64)
    idx = np.flatnonzero(alive)
    cols = ["bucket", "length_low", "length_high", "n", "n_chosen_longer", "n_chosen_shorter",
            "n_equal", "share_before", "share_after", "n_dropped"]
    if not len(idx):
        return drop, weight, pd.DataFrame(columns=cols)
    mean_len = (len_chosen[idx] + len_rejected[idx]) / 2.0
    n_b = max(1, min(n_buckets, len(np.unique(mean_len))))
    bucket = pd.qcut(pd.Series(mean_len).rank(method="first"), n_b, labels=False).to_numpy(dtype=np.int64)
    side = np.sign(len_chosen[idx] - len_rejected[idx]).astype(np.int64)  # 1 longer, -1 shorter, 0 equal
    longer = np.bincount(bucket, weights=(side > 0), minlength=n_b)
    shorter = np.bincount(bucket, weights=(side < 0), minlength=n_b)
    big_side = np.where(longer >= shorter, 1, -1)
    big, small = np.maximum(longer, shorter), np.minimum(longer, shorter)
    hi = 0.5 + tolerance
    allowed = np.floor(small * hi / (1.0 - hi) + 1e-9) if hi < 1 else big
    allowed = np.minimum(allowed, big)
    on_big = side == big_side[bucket]
    if mode == "subsample":
        key = rng.random(len(idx))
        order = np.lexsort((key, ~on_big, bucket))
        b_sorted = bucket[order]
        starts = np.searchsorted(b_sorted, np.arange(n_b))
        rank = np.arange(len(idx)) - starts[b_sorted]
        cut = (rank >= allowed[b_sorted]) & on_big[order]
        drop[idx[order[cut]]] = True
        kept_big = allowed
    else:
        ratio = np.where(big > 0, small / np.maximum(big, 1), 1.0)
        weight[idx[on_big]] = ratio[bucket[on_big]]
        kept_big = small
    share_after_longer = np.where(big_side == 1, kept_big, small)
    share_after_shorter = np.where(big_side == 1, small, kept_big)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = longer / (longer + shorter)
        after = share_after_longer / (share_after_longer + share_after_shorter)
    lo_len = pd.Series(mean_len).groupby(bucket).min().reindex(range(n_b)).to_numpy()
    hi_len = pd.Series(mean_len).groupby(bucket).max().reindex(range(n_b)).to_numpy()
    report = pd.DataFrame({
        "bucket": np.arange(n_b), "length_low": lo_len, "length_high": hi_len,
        "n": np.bincount(bucket, minlength=n_b), "n_chosen_longer": longer.astype(np.int64),
        "n_chosen_shorter": shorter.astype(np.int64),
        "n_equal": np.bincount(bucket, weights=(side == 0), minlength=n_b).astype(np.int64),
        "share_before": before, "share_after": after,
        "n_dropped": np.bincount(bucket, weights=drop[idx], minlength=n_b).astype(np.int64),
    })
    return drop, weight, report


def cap_per_prompt(
    prompt_key: np.ndarray, agreement: np.ndarray, margin: np.ndarray, alive: np.ndarray, cap: int,
) -> np.ndarray:
    """Mark alive rows beyond the first ``cap`` of their prompt.

    Within a prompt, pairs are ranked by agreement, then margin (both
    descending), then input order; the top ``cap`` are kept.

    Examples
    --------
    >>> cap_per_prompt(np.array([0, 0, 0, 1]), np.array([.6, 1., .8, .5]),
    ...                np.zeros(4), np.ones(4, bool), 2).tolist()
    [True, False, False, False]
    """
    drop = np.zeros(len(alive), dtype=bool)
    idx = np.flatnonzero(alive)
    if not len(idx):
        return drop
    g = pd.factorize(prompt_key[idx])[0]
    order = np.lexsort((idx, -np.nan_to_num(margin[idx]), -np.nan_to_num(agreement[idx]), g))
    gs = g[order]
    starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    rank = np.arange(len(gs)) - np.repeat(starts, np.diff(np.r_[starts, len(gs)]))
    drop[idx[order[rank >= cap]]] = True
    return drop
