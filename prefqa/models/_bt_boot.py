"""Bootstrap refits of a Bradley-Terry design, many resamples at once.

A resample changes the outcome counts of the design rows, never the rows
themselves. Each resample's estimate is the root of its score equations,
found by chord Newton steps from the full-data estimate ``theta0``:
``theta <- theta - H0^-1 g_b(theta)`` with ``H0`` the full-data information
at ``theta0``, factorised once. A resample's curvature differs from ``H0``
by sampling noise, so the iteration contracts fast (a handful of steps at
thousands of judgments, two or three at a million) and its fixed point is
the resample's exact (penalised) maximum-likelihood estimate, not a
one-step approximation. The gradients of a block of resamples are
computed together as ``(n_block, n_rows)`` array passes and one sparse
product; resamples that have converged leave the block. A resample that
does not converge in :data:`CHORD_MAX_STEPS` steps is refitted alone by
full Newton (or L-BFGS beyond :data:`NEWTON_MAX_PARAMS` parameters).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, sparse, special

from ..engine.reductions.pairs_bt import cell_patterns as _patterns
from . import _bt_fit as core
from ._bt_sample import MultinomialSampler

__all__ = ["CHORD_MAX_STEPS", "NEWTON_MAX_PARAMS", "chord_refits", "cluster_bootstrap", "pattern_bootstrap"]

CHORD_MAX_STEPS = 60
NEWTON_MAX_PARAMS = 1000      # single refits use Newton up to this size, L-BFGS beyond
_BLOCK_CELLS = 2_000_000      # resamples x rows per block (about 16 MB per float array)
_SAMPLER_MAX_PATTERNS = 200_000  # the table sampler's memory grows with the patterns


def _scatter_matrix(design: core.Design) -> sparse.csr_matrix:
    """Return the (n_items, n_rows) matrix with +1 at j and -1 at i of each row."""
    n = len(design.i)
    rows = np.concatenate([design.j, design.i])
    data = np.concatenate([np.ones(n), -np.ones(n)])
    cols = np.concatenate([np.arange(n), np.arange(n)])
    return sparse.csr_matrix((data, (rows, cols)), shape=(design.n_items, n))


def _block_gradient(design: core.Design, theta: np.ndarray, stats: tuple, scat: sparse.csr_matrix,
                    reg: float, cov_reg: float, scale: float | np.ndarray) -> np.ndarray:
    """Return the scaled gradients (n_block, n_params) of the penalised objective."""
    k, p = design.n_items, design.n_cov
    n, half_diff, n_ties, ya = stats
    d = theta[:, design.i]
    d -= theta[:, design.j]
    if p:
        d += theta[:, k: k + p] @ design.z.T
    if design.davidson:
        nu = np.exp(theta[:, -1])[:, None]
        d *= 0.5
        sign = np.sign(d)
        np.abs(d, out=d)
        e = np.exp(-d, out=d)
        den = e * e
        diff = 1.0 - den
        den += 1.0
        den += nu * e
        diff /= den
        diff *= sign
        e *= nu
        e /= den                                # P(tie)
        g_lnu = n_ties - np.einsum("br,br->b", n, e)
        gd = np.multiply(diff, n, out=diff)
        gd *= -0.5
        gd += half_diff
    else:
        prob = special.expit(d, out=d)
        gd = np.multiply(n, prob, out=prob)
        np.subtract(ya, gd, out=gd)
    g = np.empty_like(theta)
    g[:, :k] = (scat @ gd.T).T + reg * theta[:, :k]
    if p:
        g[:, k: k + p] = -(gd @ design.z) + cov_reg * theta[:, k: k + p]
    if design.davidson:
        g[:, -1] = -g_lnu
    g *= scale
    return g


def _block_stats(design: core.Design, counts: np.ndarray) -> tuple:
    """Per-resample row totals from counts (n_block, n_rows, 3)."""
    na, nb, nt = counts[:, :, 0], counts[:, :, 1], counts[:, :, 2]
    if design.ties == "drop":
        return na + nb, None, None, na
    if design.ties == "half":
        return na + nb + nt, None, None, na + 0.5 * nt
    return na + nb + nt, 0.5 * (na - nb), nt.sum(axis=1), None


def _factor(design: core.Design, theta0: np.ndarray, reg: float, cov_reg: float) -> tuple | None:
    total = max(float(design.counts.sum()), 1.0)
    h = core.information(design, theta0, regularization=reg, covariate_regularization=cov_reg) / total
    if reg == 0.0:
        v = np.zeros(design.n_params)
        v[: design.n_items] = 1.0 / np.sqrt(design.n_items)
        h = h + np.outer(v, v)
    try:
        return linalg.cho_factor(h)
    except (np.linalg.LinAlgError, ValueError):
        return None


def _refit(design: core.Design, counts: np.ndarray, theta0: np.ndarray, reg: float, cov_reg: float,
           max_iter: int, tol: float) -> tuple[np.ndarray, bool]:
    d = design.with_counts(counts)
    if d.n_params <= NEWTON_MAX_PARAMS:
        theta, ok = core.newton_fit(d, theta0, regularization=reg, covariate_regularization=cov_reg,
                                    max_iter=min(max_iter, 100), tol=tol)
        if ok:
            return theta, ok
    out = core.fit_design(d, regularization=reg, covariate_regularization=cov_reg, max_iter=max_iter,
                          tol=tol, x0=theta0)
    return out.theta, out.converged


def chord_refits(design: core.Design, theta0: np.ndarray, counts: np.ndarray, *, regularization: float,
                 covariate_regularization: float, max_iter: int, tol: float,
                 factor: tuple | None = None) -> tuple[np.ndarray, int]:
    """Refit the design under each of ``counts`` (n_block, n_rows, 3); return (estimates, n_failed).

    Each resample's gradient is divided by its own total count (the scale
    of the gradient tolerance, as in the point fit), so the chord step with
    the full-data information per judgment stays a Newton-like step when
    resamples hold more or fewer judgments than the data.
    """
    reg, cov_reg = regularization, covariate_regularization
    b = counts.shape[0]
    theta = np.repeat(theta0[None, :], b, axis=0)
    if factor is None and design.n_params <= 3000:
        factor = _factor(design, theta0, reg, cov_reg)
    active = np.arange(b)
    if factor is not None:
        scale = 1.0 / np.maximum(counts.sum(axis=(1, 2)), 1.0)
        scat = _scatter_matrix(design)
        stats = _block_stats(design, counts)
        for _ in range(CHORD_MAX_STEPS):
            sub = tuple(None if s is None else s[active] for s in stats)
            g = _block_gradient(design, theta[active], sub, scat, reg, cov_reg, scale[active, None])
            done = np.abs(g).max(axis=1) <= tol
            moving = ~done
            if not moving.any():
                active = active[:0]
                break
            step = linalg.cho_solve(factor, g[moving].T).T
            keep = active[moving]
            theta[keep] -= step
            active = keep
            if not np.isfinite(theta[active]).all():
                break
    failed = 0
    for r in active:                # rare: full refits one at a time
        theta[r], ok = _refit(design, counts[r], theta0, reg, cov_reg, max_iter, tol)
        failed += not ok
    return theta, failed


def cluster_bootstrap(design: core.Design, theta0: np.ndarray, row: np.ndarray | None, outcome: np.ndarray,
                      cluster: np.ndarray, n_clusters: int, n_resamples: int, rng: np.random.Generator, *,
                      regularization: float, covariate_regularization: float, max_iter: int, tol: float
                      ) -> tuple[np.ndarray, int, int]:
    """Refit on clusters (comparisons, annotators or judgments) resampled with replacement.

    Each resample draws ``n_clusters`` clusters with replacement. Clusters
    are first compressed into distinct vote patterns (:func:`_patterns`), so
    a resample is a multinomial draw of pattern counts
    (:class:`~prefqa.models._bt_sample.MultinomialSampler` when there are
    few patterns, else ``n_clusters`` uniform indices), turned into design
    row counts by one sparse product; refits use :func:`chord_refits`.
    Returns the (n_resamples, n_params) draws, the number of refits that did
    not converge and the number of patterns.
    """
    nrow = len(design.i)
    rows = np.arange(len(outcome)) if row is None else row
    pat, mult, _ = _patterns(rows * 3 + outcome, cluster, n_clusters, nrow * 3)
    return pattern_bootstrap(design, theta0, pat, mult, n_clusters, n_resamples, rng, regularization=regularization,
                             covariate_regularization=covariate_regularization, max_iter=max_iter, tol=tol)


def pattern_bootstrap(design: core.Design, theta0: np.ndarray, pat: sparse.csr_matrix, mult: np.ndarray,
                      n_clusters: int, n_resamples: int, rng: np.random.Generator, *, regularization: float,
                      covariate_regularization: float, max_iter: int, tol: float) -> tuple[np.ndarray, int, int]:
    """Cluster bootstrap from cluster patterns: ``pat`` (patterns x design cells) and ``mult`` clusters each.

    The patterns come from :func:`prefqa.engine.reductions.pairs_bt.cell_patterns`
    (or the engine's equal reduction), in their canonical order; see
    :func:`cluster_bootstrap`.
    """
    nrow = len(design.i)
    n_cells = nrow * 3
    n_pat = len(mult)
    # the table sampler pays off when clusters share few patterns; else n_clusters indices per resample
    use_sampler = n_pat <= _SAMPLER_MAX_PATTERNS and n_pat * 4 <= n_clusters
    sampler = MultinomialSampler(mult) if use_sampler else None
    expanded = None if use_sampler else np.repeat(np.arange(n_pat), mult)
    factor = _factor(design, theta0, regularization, covariate_regularization) \
        if design.n_params <= 3000 else None
    draws = np.empty((n_resamples, design.n_params))
    failed = 0
    single = pat.nnz == n_pat and bool((pat.data == 1).all())
    cells = pat.indices if single else None
    pat_t = None if single else pat.T.tocsr()
    del pat
    block = max(1, min(n_resamples, _BLOCK_CELLS // max(nrow, n_pat, 1)))
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        if sampler is not None:
            m = sampler.draw(rng, size)
        else:                                  # a loop over resamples, not rows
            assert expanded is not None  # for mypy: set whenever there is no sampler
            m = np.stack([np.bincount(expanded[rng.integers(0, n_clusters, n_clusters)], minlength=n_pat)
                          for _ in range(size)], axis=1)
        if single:
            counts = np.zeros((size, n_cells))
            counts[:, cells] = m.T
        else:
            assert pat_t is not None  # for mypy: set unless single
            counts = np.asarray((pat_t @ m.astype(np.float64)).T)
        draws[start: start + size], bad = chord_refits(
            design, theta0, counts.reshape(size, nrow, 3), regularization=regularization,
            covariate_regularization=covariate_regularization, max_iter=max_iter, tol=tol,
            factor=factor)
        failed += bad
    return draws, failed, n_pat
