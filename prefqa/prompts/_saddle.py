"""Exact per-comparison null distributions of disagreement and a saddlepoint tail for their weighted sum.

Under either null of ``flag_prompts`` the votes of a comparison are
independent given a latent state (the comparison effect of the vote model,
or the true label of the competence model). Given the state, the vote
counts per label follow a Poisson-multinomial law that a dynamic programme
over the votes gives exactly (states = counts of 'first' and 'second'
votes), vectorized over all comparisons with the same number of votes; the
number of disagreeing pairs ``D = C(k, 2) - sum_l C(n_l, 2)`` is a function of
the counts, and mixing over the states gives its exact null distribution.

The prompt statistic ``S = sum_c w_c D_c`` sums independent comparisons.
Its upper tail comes from the Lugannani-Rice saddlepoint formula on the
exact cumulant generating function ``K(t) = sum_c log E exp(t w_c D_c)``,
with a continuity correction of half the smallest weighted step
(comparisons with more than ``max_votes`` votes enter through a normal
cumulant generating function with their exact mean and variance). On
lumpy sums of a few unequal terms the saddlepoint can be off by a factor
of two, so with integer weights :func:`exact_sf` gives the exact tail as a
product of polynomials (FFT) for the prompts that matter.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import stats

__all__ = ["disagreement_pmf", "exact_sf", "integer_weights", "saddlepoint_sf"]

MAX_VOTES = 8
WEIGHT_STEPS = 16       # integer weight resolution within a prompt
MAX_SUPPORT = 1 << 14   # largest lattice of S done exactly (FFT); larger sums use the saddlepoint
_T_MAX = 60.0


def _wsum(index: np.ndarray, weights: np.ndarray, minlength: int) -> np.ndarray:
    """``np.bincount`` with weights, always float (on empty input numpy returns int64)."""
    return np.bincount(index, weights=weights, minlength=minlength).astype(np.float64, copy=False)


def _pairs(n: np.ndarray | np.integer) -> np.ndarray | np.integer:
    return n * (n - 1) // 2


def disagreement_pmf(components: Iterable[tuple[np.ndarray, np.ndarray]], comp: np.ndarray, n_comp: int,
                     *, max_votes: int = MAX_VOTES) -> tuple[np.ndarray, np.ndarray]:
    """Exact null pmf of the disagreeing pairs of every comparison with 2 to ``max_votes`` votes.

    Parameters
    ----------
    components : iterable of (weight, probs)
        Mixture over latent states: ``weight`` (one per comparison, summing
        to 1 over components) and ``probs`` (one row of label probabilities
        per vote) for each state.
    comp : ndarray of int
        Comparison code of each vote.

    Returns
    -------
    pmf : ndarray, shape (n_comp, C(max_votes, 2) + 1)
        ``pmf[c, d] = P(D_c = d)``; zero rows where not ``exact``.
    exact : ndarray of bool
        Comparisons with 2 to ``max_votes`` votes.

    Examples
    --------
    Three votes, each 'first' or 'second' with probability 1/2: all agree
    with probability 1/4, otherwise 2 of 3 pairs disagree.

    >>> probs = np.tile([0.5, 0.5, 0.0], (3, 1))
    >>> pmf, _ = disagreement_pmf([(np.ones(1), probs)], np.zeros(3, int), 1, max_votes=3)
    >>> pmf[0].tolist()
    [0.25, 0.0, 0.75, 0.0]
    """
    components = list(components)
    k_of = np.bincount(comp, minlength=n_comp)
    order = np.argsort(comp, kind="stable")
    start = np.zeros(n_comp + 1, dtype=np.int64)
    start[1:] = np.cumsum(k_of)
    width = int(_pairs(np.int64(max_votes))) + 1
    pmf = np.zeros((n_comp, width))
    exact = (k_of >= 2) & (k_of <= max_votes)
    for k in np.unique(k_of[exact]):  # distinct numbers of votes per comparison: a handful
        cids = np.flatnonzero(k_of == k)
        votes = order[start[cids][:, None] + np.arange(k)[None, :]]
        n1, n2 = np.meshgrid(np.arange(k + 1), np.arange(k + 1), indexing="ij")
        n3 = k - n1 - n2
        ok = n3 >= 0
        d = (_pairs(np.int64(k)) - _pairs(n1) - _pairs(n2) - _pairs(np.maximum(n3, 0)))[ok]
        i1, i2 = n1[ok], n2[ok]
        onehot = (d[:, None] == np.arange(width)[None, :]).astype(np.float64)  # count state -> D value
        for weight, probs in components:  # latent states: nodes or true labels
            p = probs[votes]
            state = np.zeros((len(cids), k + 1, k + 1))
            state[:, 0, 0] = 1.0
            for j in range(k):  # votes of the comparison (at most max_votes)
                new = state * p[:, j, 2][:, None, None]
                new[:, 1:, :] += state[:, :-1, :] * p[:, j, 0][:, None, None]
                new[:, :, 1:] += state[:, :, :-1] * p[:, j, 1][:, None, None]
                state = new
            pmf[cids] += (state[:, i1, i2] * weight[cids][:, None]) @ onehot
    return pmf, exact


def _support_step(pmf: np.ndarray) -> np.ndarray:
    """Smallest gap between attainable values of each row of ``pmf`` (1 when fewer than two)."""
    last = np.full(len(pmf), -1)
    gap = np.full(len(pmf), np.inf)
    for col in range(pmf.shape[1]):  # at most C(max_votes, 2) + 1 columns
        here = pmf[:, col] > 0
        gap = np.where(here & (last >= 0), np.minimum(gap, col - last), gap)
        last = np.where(here, col, last)
    return np.where(np.isfinite(gap), gap, 1.0)


def saddlepoint_sf(stat: np.ndarray, weight: np.ndarray, pmf: np.ndarray, exact: np.ndarray, mean: np.ndarray,
                   var: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """``P(S_g >= stat_g)`` for ``S_g = sum_{c in g} weight_c D_c`` (Lugannani-Rice, continuity-corrected).

    ``pmf``/``exact`` from :func:`disagreement_pmf`; ``mean``/``var`` the
    exact moments used for comparisons that are not ``exact``. Groups with
    no weighted comparison get 1. The continuity correction is half the
    smallest weighted step between attainable values; at the largest
    attainable value the tail is exact; at or below the null mean the
    p-value is reported as at least 1/2.

    Examples
    --------
    Ten comparisons with three fair-coin votes each: ``S`` is 2 x
    Binomial(10, 3/4) in pairs, and the tail at 20 (all ten split) is
    ``0.75**10``:

    >>> pmf = np.tile([0.25, 0.0, 0.75, 0.0], (10, 1))
    >>> p = saddlepoint_sf(np.array([20.0]), np.ones(10), pmf, np.ones(10, bool), np.full(10, 1.5),
    ...                    np.full(10, 0.75), np.zeros(10, int), 1)
    >>> round(float(p[0]), 4), round(0.75 ** 10, 4)
    (0.0563, 0.0563)
    >>> p = saddlepoint_sf(np.array([16.0, 18.0]), np.ones(20), np.tile(pmf, (2, 1)), np.ones(20, bool),
    ...                    np.full(20, 1.5), np.full(20, 0.75), np.repeat([0, 1], 10), 2)
    >>> p.round(3).tolist(), stats.binom.sf([7, 8], 10, 0.75).round(3).tolist()
    ([0.524, 0.249], [0.526, 0.244])
    """
    use = weight > 0
    scale = float(weight[use].max()) if use.any() else 1.0
    w = np.where(use, weight / scale, 0.0)
    s = stat / scale
    values = w[:, None] * np.arange(pmf.shape[1])[None, :]
    logp = np.where(pmf > 0, np.log(np.where(pmf > 0, pmf, 1.0)), -np.inf)
    ex = use & exact
    gx = use & ~exact
    step = np.where(ex, _support_step(pmf), 1.0) * w
    min_step = np.full(n_groups, np.inf)
    np.minimum.at(min_step, group[use], step[use])
    has = np.isfinite(min_step)
    s_adj = s - 0.5 * np.where(has, min_step, 0.0)
    attainable = pmf > 0
    top_col = np.where(attainable.any(axis=1), pmf.shape[1] - 1 - np.argmax(attainable[:, ::-1], axis=1), 0)
    top = w * top_col
    s_max = _wsum(group[ex], top[ex], minlength=n_groups)
    s_min = _wsum(group[ex], (w * np.argmax(attainable, axis=1))[ex], minlength=n_groups)
    log_p_top = _wsum(group[ex], np.log(np.maximum(pmf[np.arange(len(w)), top_col], 1e-300))[ex],
                            minlength=n_groups)
    any_gauss = np.bincount(group[gx], minlength=n_groups) > 0

    def cumulants(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        tc = t[group]
        z = logp[ex] + tc[ex][:, None] * values[ex]
        zmax = z.max(axis=1, keepdims=True)
        e = np.exp(z - zmax)
        tot = e.sum(axis=1)
        m1 = (e * values[ex]).sum(axis=1) / tot
        m2 = (e * values[ex] ** 2).sum(axis=1) / tot
        m3 = (e * (values[ex] - m1[:, None]) ** 3).sum(axis=1) / tot
        k0 = _wsum(group[ex], zmax[:, 0] + np.log(tot), minlength=n_groups)
        k1 = _wsum(group[ex], m1, minlength=n_groups)
        k2 = _wsum(group[ex], m2 - m1**2, minlength=n_groups)
        k3 = _wsum(group[ex], m3, minlength=n_groups)
        wg, tg = w[gx], tc[gx]
        k0 += _wsum(group[gx], tg * wg * mean[gx] + 0.5 * tg**2 * wg**2 * var[gx], minlength=n_groups)
        k1 += _wsum(group[gx], wg * mean[gx] + tg * wg**2 * var[gx], minlength=n_groups)
        k2 += _wsum(group[gx], wg**2 * var[gx], minlength=n_groups)
        return k0, k1, k2, k3

    lo = np.full(n_groups, -_T_MAX)
    hi = np.full(n_groups, _T_MAX)
    t = np.zeros(n_groups)
    for _ in range(60):  # safeguarded Newton on K'(t) = s, vectorized over groups
        _, k1, k2, _ = cumulants(t)
        f = k1 - s_adj
        lo = np.where(f < 0, t, lo)
        hi = np.where(f > 0, t, hi)
        step = t - f / np.maximum(k2, 1e-300)
        inside = (step > lo) & (step < hi)
        new = np.where(inside, step, 0.5 * (lo + hi))
        moved = np.abs(new - t)
        t = new
        if np.max(moved, initial=0.0) < 1e-9 or np.max(np.abs(f) / np.sqrt(np.maximum(k2, 1e-300)), initial=0.0) < 1e-9:
            break
    k0, k1, k2, k3 = cumulants(t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = np.sign(t) * np.sqrt(np.maximum(2.0 * (t * s_adj - k0), 0.0))
        u = t * np.sqrt(k2)
        lr = stats.norm.sf(r) + stats.norm.pdf(r) * (1.0 / u - 1.0 / r)
        centre = 0.5 - k3 / (6.0 * np.sqrt(2.0 * np.pi) * k2**1.5)  # the formula's limit at the mean
    near = np.abs(r) < 1e-3
    p = np.where(near, centre, lr)
    # at or below the null mean the tail is large; on lumpy sums of a few unequal weights the formula is
    # unreliable there, so report at least 1/2 (such prompts are never candidates for a flag)
    p = np.where(t <= 0, np.where(np.isfinite(p), np.maximum(p, 0.5), 1.0), p)
    # at the largest attainable value the tail is the probability that every comparison is at its top
    p = np.where(~any_gauss & (s > s_max - 1e-9), np.exp(log_p_top), p)
    p = np.where(~any_gauss & (s < s_min + 1e-9), 1.0, p)  # at the bottom of the support
    return np.where(has, np.clip(p, 0.0, 1.0), 1.0)


def integer_weights(weight: np.ndarray, group: np.ndarray, n_groups: int, *, resolution: int = WEIGHT_STEPS
                    ) -> np.ndarray:
    """Weights rounded to integers 0..``resolution`` relative to the largest weight of their group.

    The test is valid for any weights fixed by the design; integer weights
    make the prompt statistic a lattice variable whose exact law is a
    product of polynomials (:func:`exact_sf`).
    """
    top = np.zeros(n_groups)
    np.maximum.at(top, group, weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(top[group] > 0, weight / top[group], 0.0)
    return np.rint(rel * resolution).astype(np.int64)


def exact_sf(stat: np.ndarray, weight: np.ndarray, pmf: np.ndarray, group: np.ndarray, groups: np.ndarray,
             *, max_support: int = MAX_SUPPORT) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``P(S_g >= stat_g)`` for integer ``weight`` by FFT products of per-comparison polynomials.

    Only for ``groups`` (the candidates) whose largest attainable ``S`` is at
    most ``max_support``; returns their p-values and a mask of the groups
    done. Every weighted comparison of those groups must have an exact
    ``pmf`` (the caller leaves out groups with a non-exact one).

    Examples
    --------
    Ten comparisons with three fair-coin votes each, weight 1: ``P(S >= 18)``
    is ``P(Binomial(10, 3/4) >= 9)``.

    >>> pmf = np.tile([0.25, 0.0, 0.75, 0.0], (10, 1))
    >>> p, done = exact_sf(np.array([18]), np.ones(10, int), pmf, np.zeros(10, int), np.array([0]))
    >>> round(float(p[0]), 6), round(float(stats.binom.sf(8, 10, 0.75)), 6)
    (0.244025, 0.244025)
    """
    out = np.full(len(groups), np.nan)
    if not len(groups):
        return out, np.zeros(0, dtype=bool)
    pos = np.full(int(group.max()) + 1 if len(group) else 0, -1)
    pos[groups] = np.arange(len(groups))
    member = (pos[group] >= 0) & (weight > 0)
    rows = np.flatnonzero(member)
    g = pos[group[rows]]
    width = pmf.shape[1]
    attain = pmf[rows] > 0
    top_col = width - 1 - np.argmax(attain[:, ::-1], axis=1)
    support = np.bincount(g, weights=weight[rows] * top_col, minlength=len(groups))
    done = support <= max_support
    sizes = 1 << np.ceil(np.log2(support + 1)).astype(np.int64)
    for size in np.unique(sizes[done]):  # a few power-of-two lengths
        which = np.flatnonzero(done & (sizes == size))
        sel = np.isin(g, which)
        r, gg = rows[sel], g[sel]
        order = np.argsort(gg, kind="stable")
        r, gg = r[order], gg[order]
        poly = np.zeros((len(r), size))
        cols = weight[r][:, None] * np.arange(width)[None, :]
        ok = cols < size
        rr = np.broadcast_to(np.arange(len(r))[:, None], cols.shape)
        poly[rr[ok], cols[ok]] = pmf[r][ok]
        spectrum = np.fft.rfft(poly, axis=1)
        starts = np.flatnonzero(np.r_[True, gg[1:] != gg[:-1]])
        prod = np.multiply.reduceat(spectrum, starts, axis=0)
        law = np.clip(np.fft.irfft(prod, n=size, axis=1), 0.0, None)
        tail = np.cumsum(law[:, ::-1], axis=1)[:, ::-1]
        idx = np.clip(np.ceil(stat[groups[gg[starts]]] - 1e-9).astype(np.int64), 0, size)
        padded = np.concatenate([tail, np.zeros((len(starts), 1))], axis=1)
        out[gg[starts]] = np.minimum(padded[np.arange(len(starts)), idx], 1.0)
    no_terms = done & np.isnan(out)  # candidates without a weighted comparison: S = 0
    out[no_terms] = np.where(stat[groups[no_terms]] <= 0, 1.0, 0.0)
    return out, done
