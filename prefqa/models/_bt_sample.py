"""Exact multinomial resampling of many cells, fast: Poisson table inversion plus a correction.

``numpy``'s ``multinomial`` draws one conditional binomial per cell; at
60,000 cells (200 models: every pair x 3 outcomes) and a million
judgments that is most of a 1,000-resample bootstrap. Here a resample of
``N`` judgments over cells with counts ``n_c`` (``sum n_c = N``) is drawn as

1. ``X_c ~ Poisson(n_c)`` independently, by inverting each cell's CDF
   with one uniform: the CDF is tabulated once on ``n_c +/- 8 sd + 8``
   (``scipy.special.pdtr``) with a 64-bin guide table per cell, so a draw is
   a guided lookup and a step or two of linear search. The rare uniforms
   outside a table (probability below ``1e-14``) are inverted by
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
_SD_SPAN = 8.0


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
        cell = np.repeat(np.arange(len(lam)), width)
        x = np.arange(off[-1]) - off[cell] + lo[cell]
        table = special.pdtr(x, lam[cell])
        table[off[1:] - 1] = np.inf                       # sentinel: a search never leaves its cell
        self.lo, self.off, self.table = lo, off[:-1], table
        self.below = np.where(lo > 0, special.pdtr(lo - 1, lam), 0.0)
        self.top = table[off[1:] - 2]                     # F at the last tabulated value
        # guide[c, g]: number of tabulated values with F <= g / G (a start for any U >= g / G)
        grid = np.arange(_GUIDE) / _GUIDE
        key = table + 2.0 * cell                          # increasing across cells; finite part only
        key[off[1:] - 1] = 2.0 * np.arange(len(lam)) + 1.5
        q = (grid[None, :] + 2.0 * np.arange(len(lam))[:, None]).ravel()
        guide = np.searchsorted(key, q, side="right") - np.repeat(self.off, _GUIDE)
        guide = np.clip(guide, 0, None).reshape(len(lam), _GUIDE)
        # the 2c offset costs ~1e-11 of precision: move each start to the exact boundary
        base = self.off[:, None]
        for _ in range(3):
            over = (guide > 0) & (table[base + np.maximum(guide - 1, 0)] > grid[None, :])
            guide -= over
        self.guide = (guide + base).ravel()                # absolute table positions

    def _poisson(self, u: np.ndarray) -> np.ndarray:
        """Invert the tabulated Poisson CDFs at uniforms ``u`` (n_block, n_cells)."""
        n_cells = len(self.lam)
        cell = np.broadcast_to(np.arange(n_cells), u.shape).ravel()
        flat = u.ravel()
        g = (flat * _GUIDE).astype(np.int64)
        pos = self.guide[cell * _GUIDE + g]
        act = np.flatnonzero(self.table[pos] <= flat)
        while len(act):                                     # linear search, shrinking set
            pos[act] += 1
            act = act[self.table[pos[act]] <= flat[act]]
        x = pos - self.off[cell] + self.lo[cell]
        tail = np.flatnonzero((flat < self.below[cell]) | (flat >= self.top[cell]))
        if len(tail):
            x[tail] = stats.poisson.ppf(flat[tail], self.lam[cell[tail]]).astype(np.int64)
        return x.reshape(u.shape)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Return ``size`` multinomial count vectors as an (size, n_cells) int64 array."""
        n_cells = len(self.lam)
        x = self._poisson(rng.random((size, n_cells)))
        short = self.total - x.sum(axis=1)
        add = np.flatnonzero(short > 0)
        if len(add):
            k = short[add]
            cats = np.searchsorted(self.cum, rng.random(int(k.sum())), side="right")
            cats = np.minimum(cats, n_cells - 1)
            rows = np.repeat(add, k)
            x += np.bincount(rows * n_cells + cats, minlength=size * n_cells).reshape(size, n_cells)
        for b in np.flatnonzero(short < 0):                 # a loop over resamples, not cells
            extra = int(-short[b])
            m = int(x[b].sum())
            drop = rng.choice(m, size=extra, replace=False)
            cats = np.searchsorted(np.cumsum(x[b]), drop, side="right")
            x[b] -= np.bincount(cats, minlength=n_cells)
        return x
