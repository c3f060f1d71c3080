"""Exact multinomial resampling of many cells, fast: Poisson table inversion plus a correction.

``numpy``'s ``multinomial`` draws one conditional binomial per cell; at
60,000 cells (200 models: every pair x 3 outcomes) and a million
judgments that is most of a 1,000-resample bootstrap. Here a resample of
``N`` judgments over cells with counts ``n_c`` (``sum n_c = N``) is drawn as

1. ``X_c ~ Poisson(n_c)`` independently, by inverting each cell's CDF
   with one uniform: the CDF is tabulated once on ``n_c +/- (7 sd + 7)``
   (``scipy.special.pdtr``) with a 64-bin guide table per cell, so a draw is
   a guided lookup and a step or two of linear search. The rare uniforms
   outside a table (probability below about ``1e-11``) are inverted by
   ``scipy.stats.poisson.ppf``. Given their total ``M ~ Poisson(N)``, the
   ``X_c`` are ``Multinomial(M, n / N)``.
2. If ``M < N``, add ``N - M`` further categorical draws with probabilities
   ``n / N``; if ``M > N``, remove ``M - N`` of the ``M`` draws chosen
   uniformly without replacement.

Both corrections give exactly ``Multinomial(N, n / N)``: a multinomial
plus an independent one with the same probabilities is multinomial in the
summed size, and a uniformly chosen sub-sample of i.i.d. categorical draws
is i.i.d. categorical.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = ["MultinomialSampler"]

_GUIDE = 64
_SD_SPAN = 7.0


class MultinomialSampler:
    """Draw ``Multinomial(N, counts / N)`` vectors for fixed non-negative integer ``counts``."""

    def __init__(self, counts: np.ndarray) -> None:
        lam = np.asarray(counts, dtype=np.float64)
        self.lam = lam
        self.total = int(round(lam.sum()))
        self.cum = np.cumsum(lam) / lam.sum()
        sd = np.sqrt(lam)
        lo = np.maximum(0.0, np.floor(lam - _SD_SPAN * sd - _SD_SPAN)).astype(np.int64)
        hi = np.ceil(lam + _SD_SPAN * sd + _SD_SPAN).astype(np.int64)
        width = hi - lo + 2                               # + a sentinel above each table
        off = np.concatenate([[0], np.cumsum(width)]).astype(np.int64)
        self.lo, self.off = lo, off[:-1]
        self.below = np.where(lo > 0, special.pdtr(np.maximum(lo - 1, 0), lam), 0.0)
        table = np.full(off[-1], np.inf)                  # the sentinels stay +inf
        # F(lo + t) = F(lo - 1) + cumulative pmf, row-wise in 2-D blocks of cells whose
        # tables have similar widths (power-of-two buckets: padding at most doubles the work)
        log_fact = special.gammaln(np.arange(int(hi.max()) + 2) + 1.0)
        log_lam = np.log(lam)
        bucket = np.ceil(np.log2(width)).astype(np.int64)
        # guide[c, g] = number of tabulated values with F <= g / G, a start for any U >= g / G;
        # F <= g / G exactly when ceil(F * G) <= g (G is a power of two: F * G is exact)
        guide = np.zeros((len(lam), _GUIDE), dtype=np.int64)
        for b in np.unique(bucket):                       # a handful of buckets
            cells = np.flatnonzero(bucket == b)
            steps = np.arange(2 ** int(b))
            x = lo[cells, None] + steps[None, :]
            x = np.minimum(x, len(log_fact) - 1)
            pmf = np.exp(x * log_lam[cells, None] - lam[cells, None] - log_fact[x])
            cdf = np.cumsum(pmf, axis=1)
            cdf += self.below[cells, None]
            inside = steps[None, :] < (width[cells, None] - 1)
            table[(self.off[cells, None] + steps[None, :])[inside]] = cdf[inside]
            level = np.minimum(np.ceil(cdf * _GUIDE), _GUIDE).astype(np.int64)
            level[~inside] = _GUIDE
            rows = np.broadcast_to(np.arange(len(cells))[:, None], level.shape)
            hist = np.bincount((rows * (_GUIDE + 1) + level).ravel(),
                               minlength=len(cells) * (_GUIDE + 1)).reshape(len(cells), _GUIDE + 1)
            guide[cells] = np.cumsum(hist[:, :_GUIDE], axis=1)
        self.table = table
        self.top = table[off[1:] - 2]                     # F at the last tabulated value
        self.guide = (guide + self.off[:, None]).ravel()   # absolute table positions

    def _poisson(self, u: np.ndarray) -> np.ndarray:
        """Invert the tabulated Poisson CDFs at uniforms ``u`` (n_cells, n_block), cell-major.

        Cell-major order keeps each cell's guide and table in cache while its
        draws are made (random gathers over the whole table were DRAM-bound).
        """
        n_cells = len(self.lam)
        g = np.multiply(u, _GUIDE).astype(np.int64)
        g += (np.arange(n_cells) * _GUIDE)[:, None]
        pos = self.guide[g].ravel()
        flat = u.ravel()
        for _ in range(2):                                  # most draws need 0-2 steps
            pos += self.table[pos] <= flat
        act = np.flatnonzero(self.table[pos] <= flat)
        while len(act):                                     # linear search, shrinking set
            pos[act] += 1
            act = act[self.table[pos[act]] <= flat[act]]
        x = pos.reshape(u.shape)
        x -= (self.off - self.lo)[:, None]
        tail = np.flatnonzero(((u < self.below[:, None]) | (u >= self.top[:, None])).ravel())
        if len(tail):
            cell = tail // u.shape[1]
            x.ravel()[tail] = stats.poisson.ppf(flat[tail], self.lam[cell]).astype(np.int64)
        return x

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Return ``size`` multinomial count vectors as an (n_cells, size) int64 array."""
        n_cells = len(self.lam)
        x = self._poisson(rng.random((n_cells, size)))
        short = self.total - x.sum(axis=0)
        add = np.flatnonzero(short > 0)
        if len(add):
            k = short[add]
            cats = np.searchsorted(self.cum, rng.random(int(k.sum())), side="right")
            cats = np.minimum(cats, n_cells - 1)
            x += np.bincount(cats * size + np.repeat(add, k),
                             minlength=n_cells * size).reshape(n_cells, size)
        over = np.flatnonzero(short < 0)
        if len(over):
            cum = np.cumsum(x[:, over], axis=0).T.copy()    # one pass, then one row per resample
            for r, b in enumerate(over):                    # a loop over resamples, not cells
                drop = rng.choice(int(cum[r, -1]), size=int(-short[b]), replace=False)
                x[:, b] -= np.bincount(np.searchsorted(cum[r], drop, side="right"), minlength=n_cells)
        return x
