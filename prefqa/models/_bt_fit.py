"""Numerical core of the Bradley-Terry fit.

Everything here works on a :class:`Design`: integer item codes ``i`` (the
response shown first, or the canonical first of a compressed row) and ``j``,
a covariate matrix ``z`` oriented ``i`` minus ``j`` and per-row outcome
counts ``(i won, j won, tie)``. Parameters are stacked as
``theta = [strengths (n_items), coefficients (p), log tie parameter]`` (the
last only for Davidson ties).

The linear predictor of a row is ``d = s_i - s_j + z @ beta``.

* ``ties="drop"``: ``P(i) = sigmoid(d)``; tie counts are ignored.
* ``ties="half"``: the same likelihood with a tie counted as half a win for
  each side (Chatbot Arena's convention).
* ``ties="davidson"`` (Davidson 1970): with ``nu = exp(log_nu)``,
  ``P(i) = e^{d/2} / D``, ``P(j) = e^{-d/2} / D``, ``P(tie) = nu / D`` and
  ``D = e^{d/2} + e^{-d/2} + nu``; ``nu = 0`` gives plain Bradley-Terry on
  the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import optimize, sparse
from scipy.sparse import csgraph
from scipy.special import expit

__all__ = ["Design", "FitOutput", "fit_design", "information", "cluster_meat", "covariance",
           "components", "bootstrap_unique_rows", "bootstrap_rows", "outcome_scores"]


_NEWTON_MAX_PARAMS = 1000  # bootstrap refits use Fisher scoring up to this size, L-BFGS beyond


@dataclass(frozen=True, eq=False)
class Design:
    """Rows of a Bradley-Terry fit (see the module notes)."""

    i: np.ndarray          # int64, item shown first / canonical first
    j: np.ndarray          # int64
    z: np.ndarray          # float64 (n_rows, p)
    counts: np.ndarray     # float64 (n_rows, 3): i won, j won, tie
    n_items: int
    ties: str              # "davidson", "half" or "drop"

    @property
    def n_cov(self) -> int:
        return int(self.z.shape[1])

    @property
    def davidson(self) -> bool:
        return self.ties == "davidson"

    @property
    def n_params(self) -> int:
        return self.n_items + self.n_cov + int(self.davidson)

    @cached_property
    def totals(self) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
        """(n per row, (n_i - n_j) / 2, total ties, y_i, y_j for the logistic likelihoods)."""
        na, nb, nt = self.counts[:, 0], self.counts[:, 1], self.counts[:, 2]
        if self.ties == "half":
            ya, yb = na + 0.5 * nt, nb + 0.5 * nt
        else:
            ya, yb = na, nb
        return na + nb + nt, 0.5 * (na - nb), float(nt.sum()), ya, yb

    def with_counts(self, counts: np.ndarray) -> Design:
        return Design(self.i, self.j, self.z, counts, self.n_items, self.ties)


@dataclass(frozen=True)
class FitOutput:
    theta: np.ndarray
    log_likelihood: float
    converged: bool
    n_iter: int
    max_gradient: float
    message: str


def _linear(design: Design, theta: np.ndarray) -> np.ndarray:
    s = theta[: design.n_items]
    d = s[design.i] - s[design.j]
    for c in range(design.n_cov):  # column loop, not BLAS gemv (see _vdot)
        d += design.z[:, c] * theta[design.n_items + c]
    return d


def _davidson_probs(d: np.ndarray, lnu: float) -> tuple[np.ndarray, ...]:
    """Return (log D, P(i) - P(j), P(tie)) with one exp and one log per row."""
    half = 0.5 * d
    a = np.abs(half)
    e = np.exp(-a)
    e2 = e * e
    nu = float(np.exp(lnu))
    den = nu * e
    den += e2
    den += 1.0                           # D * exp(-|d|/2)
    inv = 1.0 / den
    log_den = np.log(den)
    log_den += a
    diff = 1.0 - e2
    diff *= inv
    np.copysign(diff, half, out=diff)
    e *= nu
    e *= inv
    return log_den, diff, e


def _logistic(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (log(1 + exp(-|d|)), sigmoid(d)) with one exp and one log per row."""
    e = np.exp(-np.abs(d))
    p = np.where(d >= 0, 1.0, e) / (1.0 + e)
    return np.log1p(e), p


def _vdot(a: np.ndarray, b: np.ndarray) -> float:
    """Dot product without BLAS (multi-threaded ddot stalls on a busy 2-core machine)."""
    return float(np.multiply(a, b).sum())


def _terms(design: Design, theta: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Return the log-likelihood, its derivative in ``d`` per row and in ``log_nu``."""
    d = _linear(design, theta)
    n, half_diff, n_ties, ya, yb = design.totals
    if design.davidson:
        lnu = float(theta[-1])
        log_den, diff, pt = _davidson_probs(d, lnu)
        ll = float(_vdot(d, half_diff) + lnu * n_ties - _vdot(n, log_den))
        diff *= n
        diff *= -0.5
        diff += half_diff
        return ll, diff, n_ties - _vdot(n, pt)
    l1, p = _logistic(d)
    ll = -float(_vdot(ya, np.maximum(-d, 0.0)) + _vdot(yb, np.maximum(d, 0.0)) + _vdot(ya + yb, l1))
    gd = ya - (ya + yb) * p
    return ll, gd, 0.0


def _objective(theta: np.ndarray, design: Design, reg: float, cov_reg: float, scale: float
               ) -> tuple[float, np.ndarray]:
    k, p = design.n_items, design.n_cov
    ll, gd, gl = _terms(design, theta)
    s, beta = theta[:k], theta[k: k + p]
    f = -ll + 0.5 * reg * float(s @ s) + 0.5 * cov_reg * float(beta @ beta)
    g = np.empty_like(theta)
    g[:k] = np.bincount(design.j, gd, k) - np.bincount(design.i, gd, k) + reg * s
    if p:
        g[k: k + p] = -np.array([_vdot(design.z[:, c], gd) for c in range(p)]) + cov_reg * beta
    if design.davidson:
        g[-1] = -gl
    return f * scale, g * scale


def fit_design(design: Design, *, regularization: float, covariate_regularization: float,
               max_iter: int, tol: float, x0: np.ndarray | None = None) -> FitOutput:
    """Maximise the (penalised) likelihood with L-BFGS-B and analytic gradients.

    The objective is divided by the number of judgments so that ``tol``
    (the largest absolute gradient entry at the end) does not depend on the
    data size.
    """
    total = float(design.counts.sum())
    scale = 1.0 / max(total, 1.0)
    if x0 is None:
        x0 = np.zeros(design.n_params)
        if design.davidson:
            tie_share = design.counts[:, 2].sum() / max(total, 1.0)
            tie_share = min(max(tie_share, 1e-3), 0.95)
            x0[-1] = np.log(2.0 * tie_share / (1.0 - tie_share))
    # diagonal preconditioning: rescale parameters by the square root of a
    # curvature guess (a quarter of the counts per item and covariate)
    n_row = design.counts.sum(axis=1) * 0.25
    k, p = design.n_items, design.n_cov
    diag = np.ones(design.n_params)
    diag[:k] = (np.bincount(design.i, n_row, k) + np.bincount(design.j, n_row, k)) * scale
    if p:
        diag[k: k + p] = np.einsum("rc,rc,r->c", design.z, design.z, n_row) * scale
    diag[:k] += regularization * scale
    diag[k: k + p] += covariate_regularization * scale
    root = np.sqrt(np.maximum(diag, 1e-8))

    def scaled(u: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = _objective(u / root, design, regularization, covariate_regularization, scale)
        return f, g / root

    res = optimize.minimize(
        scaled, x0 * root, jac=True, method="L-BFGS-B",
        options={"maxiter": max_iter, "maxcor": 30, "ftol": 1e-15, "gtol": tol * 0.1 * root.min()},
    )
    res.x = res.x / root
    theta = np.asarray(res.x, dtype=np.float64)
    if regularization == 0.0:
        theta[: design.n_items] -= theta[: design.n_items].mean()
    _, g = _objective(theta, design, regularization, covariate_regularization, scale)
    max_grad = float(np.max(np.abs(g))) if len(g) else 0.0
    ll, _, _ = _terms(design, theta)
    return FitOutput(theta, ll, bool(max_grad <= tol), int(res.nit), max_grad, str(res.message))


def outcome_scores(design: Design, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row score of one judgment of each outcome and the outcome probabilities.

    Returns ``(u_d, u_lognu, probs)``, each (n_rows, 3) over (i won, j won,
    tie). For the logistic likelihoods the tie "probability" is 0 and a
    tie's score is 0 (``drop``) or that of half a win (``half``).
    """
    d = _linear(design, theta)
    n = len(d)
    if design.davidson:
        _, diff, pt = _davidson_probs(d, float(theta[-1]))
        pa = 0.5 * (1.0 - pt + diff)
        pb = 0.5 * (1.0 - pt - diff)
        m = 0.5 * diff
        ud = np.column_stack([0.5 - m, -0.5 - m, -m])
        ul = np.column_stack([-pt, -pt, 1.0 - pt])
        return ud, ul, np.column_stack([pa, pb, pt])
    _, p = _logistic(d)
    tie = (0.5 - p) if design.ties == "half" else np.zeros(n)
    return (np.column_stack([1.0 - p, -p, tie]), np.zeros((n, 3)),
            np.column_stack([p, 1.0 - p, np.zeros(n)]))


def _assemble(i: np.ndarray, j: np.ndarray, k: int, lap_w: np.ndarray, cross: np.ndarray,
              other: np.ndarray) -> np.ndarray:
    """Return the symmetric matrix sum_r x_r W_r x_r' with x_r = e_i - e_j for the strengths.

    ``lap_w`` weighs the strength block, ``cross`` (n_rows, q) the strength x
    other-parameter block, ``other`` (q, q) is the other-parameter block.
    """
    q = other.shape[0]
    out = np.zeros((k + q, k + q))
    pair = np.bincount(i * k + j, lap_w, k * k).reshape(k, k)
    ss = -(pair + pair.T)
    ss[np.diag_indices(k)] += np.bincount(i, lap_w, k) + np.bincount(j, lap_w, k)
    out[:k, :k] = ss
    for c in range(q):
        col = np.bincount(i, cross[:, c], k) - np.bincount(j, cross[:, c], k)
        out[:k, k + c] = col
        out[k + c, :k] = col
    out[k:, k:] = other
    return out


def information(design: Design, theta: np.ndarray, *, regularization: float,
                covariate_regularization: float) -> np.ndarray:
    """Return the expected (Fisher) information of the penalised likelihood (dense)."""
    k, p = design.n_items, design.n_cov
    ud, ul, probs = outcome_scores(design, theta)
    if design.davidson:
        n = design.counts.sum(axis=1)
    else:
        n = design.counts[:, 0] + design.counts[:, 1]
        if design.ties == "half":
            n = n + design.counts[:, 2]
        ud[:, 2] = 0.0
    w_dd = n * np.einsum("rk,rk,rk->r", probs, ud, ud)
    w_dl = n * np.einsum("rk,rk,rk->r", probs, ud, ul)
    w_ll = n * np.einsum("rk,rk,rk->r", probs, ul, ul)
    z = design.z
    if design.davidson:
        cross = np.column_stack([w_dd[:, None] * z, w_dl])
        other = np.empty((p + 1, p + 1))
        other[:p, :p] = z.T @ (w_dd[:, None] * z)
        other[:p, p] = other[p, :p] = z.T @ w_dl
        other[p, p] = w_ll.sum()
    else:
        cross = w_dd[:, None] * z
        other = z.T @ cross
    h = _assemble(design.i, design.j, k, w_dd, cross, other)
    h[np.arange(k), np.arange(k)] += regularization
    h[np.arange(k, k + p), np.arange(k, k + p)] += covariate_regularization
    return h


def cluster_meat(design: Design, theta: np.ndarray, row: np.ndarray, outcome: np.ndarray,
                 cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Return sum over clusters of the outer product of the summed judgment scores.

    ``row`` maps each judgment to its design row, ``outcome`` is its outcome
    (0, 1, 2) in the design row's orientation, ``cluster`` its cluster code.
    Every judgment of a cluster must share one unordered pair of items (the
    caller checks); scores are oriented to the first judgment's row.
    """
    k, p = design.n_items, design.n_cov
    ud, ul, _ = outcome_scores(design, theta)
    u_d = ud[row, outcome]
    u_l = ul[row, outcome]
    i_r, j_r = design.i[row], design.j[row]
    first = np.full(n_clusters, -1, dtype=np.int64)
    idx = np.arange(len(row))
    first[cluster[::-1]] = idx[::-1]
    ic, jc = i_r[first], j_r[first]
    sign = np.where(i_r == ic[cluster], 1.0, -1.0)
    a = np.bincount(cluster, sign * u_d, n_clusters)
    cols = [np.bincount(cluster, u_d * design.z[row, c], n_clusters) for c in range(p)]
    if design.davidson:
        cols.append(np.bincount(cluster, u_l, n_clusters))
    b = np.column_stack(cols) if cols else np.zeros((n_clusters, 0))
    return _assemble(ic, jc, k, a * a, a[:, None] * b, b.T @ b)


def covariance(h: np.ndarray, n_items: int, identified: bool, meat: np.ndarray | None = None
               ) -> np.ndarray:
    """Return ``H^-1`` or the sandwich ``H^-1 G H^-1``, on centred strengths.

    Without a penalty the strengths are identified only up to a shift; the
    inverse is then taken on the sum-to-zero subspace (``(H + v v')^-1 - v v'``
    with ``v`` the normalised all-ones strength direction).
    """
    v = np.zeros(h.shape[0])
    if not identified:
        v[:n_items] = 1.0 / np.sqrt(n_items)
        hinv = np.linalg.inv(h + np.outer(v, v)) - np.outer(v, v)
    else:
        hinv = np.linalg.inv(h)
    if meat is None:
        return hinv
    return hinv @ meat @ hinv


def components(i: np.ndarray, j: np.ndarray, n_items: int, counts: np.ndarray, ties: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """Return (weak component labels, strong component labels) of the comparison graph.

    A strong component follows "beat at least once" edges; with ties kept, a
    tie is an edge both ways.
    """
    keep = counts.sum(axis=1) > 0
    adj = sparse.coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n_items, n_items))
    _, weak = csgraph.connected_components(adj, directed=False)
    tie_edge = counts[:, 2] > 0 if ties != "drop" else np.zeros(len(i), dtype=bool)
    won_i = (counts[:, 0] > 0) | tie_edge
    won_j = (counts[:, 1] > 0) | tie_edge
    src = np.concatenate([i[won_i], j[won_j]])   # edge loser -> winner is enough for SCCs
    dst = np.concatenate([j[won_i], i[won_j]])
    directed = sparse.coo_matrix((np.ones(len(src)), (src, dst)), shape=(n_items, n_items))
    _, strong = csgraph.connected_components(directed, directed=True, connection="strong")
    return weak, strong


def _refit(design: Design, counts: np.ndarray, theta0: np.ndarray, reg: float, cov_reg: float,
           max_iter: int, tol: float) -> tuple[np.ndarray, bool]:
    d = design.with_counts(counts)
    if d.n_params <= _NEWTON_MAX_PARAMS:
        return newton_fit(d, theta0, regularization=reg, covariate_regularization=cov_reg,
                          max_iter=min(max_iter, 100), tol=tol)
    out = fit_design(d, regularization=reg, covariate_regularization=cov_reg, max_iter=max_iter,
                     tol=tol, x0=theta0)
    return out.theta, out.converged


def _chord_fit(design: Design, theta0: np.ndarray, factor: tuple, reg: float, cov_reg: float,
               max_iter: int, tol: float) -> tuple[np.ndarray, bool]:
    """Newton iterations with a fixed, pre-factorised information matrix (chord method).

    A bootstrap resample changes the counts but barely the curvature, so the
    full-data information is a good fixed Jacobian: each step costs one
    gradient evaluation and one triangular solve; convergence is linear with
    a small rate.
    """
    from scipy.linalg import cho_solve

    scale = 1.0 / max(float(design.counts.sum()), 1.0)
    theta = theta0.copy()
    for _ in range(max_iter):
        _, g = _objective(theta, design, reg, cov_reg, scale)
        if np.max(np.abs(g)) <= tol:
            return theta, True
        theta = theta - cho_solve(factor, g)
    _, g = _objective(theta, design, reg, cov_reg, scale)
    return theta, bool(np.max(np.abs(g)) <= tol)


def bootstrap_unique_rows(design: Design, theta0: np.ndarray, n_resamples: int,
                          rng: np.random.Generator, *, regularization: float,
                          covariate_regularization: float, max_iter: int, tol: float,
                          chunk: int = 64) -> tuple[np.ndarray, int]:
    """Refit on multinomial counts over the unique (i, j, outcome) rows.

    Each resample draws ``N`` judgments with replacement, expressed as counts
    of the unique rows, and refits warm-started at ``theta0`` with chord
    Newton steps (:func:`_chord_fit`; falling back to :func:`newton_fit` or
    L-BFGS when that does not converge). Returns the (n_resamples, n_params)
    draws and the number of refits that did not converge.
    """
    from scipy.linalg import cho_factor

    nrow = len(design.i)
    flat = design.counts.reshape(-1)
    cells = np.flatnonzero(flat > 0)
    total = int(round(flat.sum()))
    probs = flat[cells] / flat[cells].sum()
    draws = np.empty((n_resamples, design.n_params))
    factor = None
    if design.n_params <= _NEWTON_MAX_PARAMS:
        h = information(design, theta0, regularization=regularization,
                        covariate_regularization=covariate_regularization) / max(total, 1)
        if regularization == 0.0:
            v = np.zeros(design.n_params)
            v[: design.n_items] = 1.0 / np.sqrt(design.n_items)
            h = h + np.outer(v, v)
        try:
            factor = cho_factor(h)
        except np.linalg.LinAlgError:
            factor = None
    failed = 0
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        block = rng.multinomial(total, probs, size=size)
        for b in range(size):
            counts = np.zeros(nrow * 3)
            counts[cells] = block[b]
            ok = False
            if factor is not None:
                theta, ok = _chord_fit(design.with_counts(counts.reshape(nrow, 3)), theta0, factor,
                                       regularization, covariate_regularization, 50, tol)
            if not ok:
                theta, ok = _refit(design, counts.reshape(nrow, 3), theta0, regularization,
                                   covariate_regularization, max_iter, tol)
            draws[start + b] = theta
            failed += not ok
    return draws, failed


def bootstrap_rows(design: Design, theta0: np.ndarray, n_resamples: int, rng: np.random.Generator,
                   *, regularization: float, covariate_regularization: float, max_iter: int,
                   tol: float) -> tuple[np.ndarray, int]:
    """Refit on judgments resampled with replacement (rows that do not compress).

    Cost: one full fit per resample, so about ``n_resamples`` times the
    time of the point fit.
    """
    n = len(design.i)
    draws = np.empty((n_resamples, design.n_params))
    failed = 0
    for b in range(n_resamples):
        w = rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)
        theta, ok = _refit(design, design.counts * w[:, None], theta0, regularization,
                           covariate_regularization, max_iter, tol)
        draws[b] = theta
        failed += not ok
    return draws, failed


def newton_fit(design: Design, theta0: np.ndarray, *, regularization: float,
               covariate_regularization: float, max_iter: int, tol: float) -> tuple[np.ndarray, bool]:
    """Fisher scoring with step halving from a warm start (used for bootstrap refits).

    Each step solves with the dense expected information, so it is for
    designs with at most a few thousand parameters; near the estimate it
    converges in a handful of steps, where L-BFGS needs dozens.
    """
    total = max(float(design.counts.sum()), 1.0)
    scale = 1.0 / total
    k = design.n_items
    v = np.zeros(design.n_params)
    if regularization == 0.0:
        v[:k] = 1.0 / np.sqrt(k)
    theta = theta0.copy()
    f, g = _objective(theta, design, regularization, covariate_regularization, scale)
    for _ in range(max_iter):
        if np.max(np.abs(g)) <= tol:
            return theta, True
        h = information(design, theta, regularization=regularization,
                        covariate_regularization=covariate_regularization) * scale
        step = np.linalg.solve(h + np.outer(v, v), -g)
        t = 1.0
        for _half in range(30):
            cand = theta + t * step
            f_new, g_new = _objective(cand, design, regularization, covariate_regularization, scale)
            if f_new <= f + 1e-4 * t * float(g @ step):
                break
            t *= 0.5
        theta, f, g = cand, f_new, g_new
    return theta, bool(np.max(np.abs(g)) <= tol)
