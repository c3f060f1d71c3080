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

All three are exponential families in ``(d, log_nu)``, so the observed and
the expected (Fisher) information coincide; per row they are
``n p (1 - p)`` (logistic) and, for Davidson, ``n [(1 - P(tie)) / 4 - m^2]``
in ``d``, ``-n m P(tie)`` across and ``n P(tie) (1 - P(tie))`` in
``log_nu``, with ``m = (P(i) - P(j)) / 2``.

Row loops are numpy passes over flat arrays; dot products use ``einsum``
(no multi-threaded BLAS, which stalls on a busy 2-core machine) and
scatter-adds use ``np.bincount``, over a flat ``i * n_items + j`` key when
the item table is small next to the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import linalg, optimize, sparse, special
from scipy.sparse import csgraph

__all__ = [
    "Design",
    "FitOutput",
    "cluster_meat",
    "components",
    "covariance",
    "fit_design",
    "information",
    "newton_fit",
    "objective",
    "row_terms",
    "vdot",
]


@dataclass(frozen=True, eq=False)
class Design:
    """Rows of a Bradley-Terry fit (see the module notes)."""

    i: np.ndarray          # int64, item shown first / canonical first
    j: np.ndarray          # int64
    z: np.ndarray          # float64 (n_rows, p), stored column-major
    counts: np.ndarray     # float64 (n_rows, 3): i won, j won, tie
    n_items: int
    ties: str              # "davidson", "half" or "drop"

    def __post_init__(self) -> None:
        object.__setattr__(self, "z", np.asfortranarray(self.z, dtype=np.float64))

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
    def pair_key(self) -> np.ndarray | None:
        """``i * n_items + j`` when an item-by-item table is cheap next to the rows, else None."""
        k = self.n_items
        return self.i * k + self.j if k * k <= max(len(self.i) // 2, 1024) else None

    @cached_property
    def totals(self) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None, np.ndarray | None]:
        """(n per row, (n_i - n_j) / 2, total ties, y_i, y_j for the logistic likelihoods; None for Davidson)."""
        na, nb, nt = self.counts[:, 0], self.counts[:, 1], self.counts[:, 2]
        ya: np.ndarray | None
        yb: np.ndarray | None
        if self.ties == "half":
            ya, yb = na + 0.5 * nt, nb + 0.5 * nt
        elif self.ties == "drop":
            ya, yb = na, nb
        else:
            ya = yb = None
        n = na + nb + nt if self.ties != "drop" else na + nb
        return n, 0.5 * (na - nb), float(nt.sum()), ya, yb

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


def vdot(a: np.ndarray, b: np.ndarray) -> float:
    """Dot product in one pass without BLAS."""
    return float(np.einsum("r,r->", a, b))


def scatter(design: Design, values: np.ndarray) -> np.ndarray:
    """Return ``bincount(j, values) - bincount(i, values)`` (the strength gradient of ``-ll``)."""
    k = design.n_items
    key = design.pair_key
    if key is not None:
        table = np.bincount(key, values, k * k).reshape(k, k)
        return table.sum(axis=0) - table.sum(axis=1)
    return np.bincount(design.j, values, k) - np.bincount(design.i, values, k)


def _linear(design: Design, theta: np.ndarray) -> np.ndarray:
    k = design.n_items
    s = theta[:k]
    key = design.pair_key
    if key is not None:
        d = np.take(np.subtract.outer(s, s).ravel(), key)
    else:
        d = s[design.i] - s[design.j]
    buf = None
    for c in range(design.n_cov):  # column loop: contiguous columns, no BLAS
        beta = theta[k + c]
        if beta != 0.0:
            buf = np.multiply(design.z[:, c], beta, out=buf)
            d += buf
    return d


def _davidson_probs(d: np.ndarray, lnu: float, want_log: bool = True
                    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Return (log D, P(i) - P(j), P(tie)) with one exp (and one log) per row; reuses ``d``."""
    a = np.multiply(d, 0.5)
    sign = np.sign(a)
    np.abs(a, out=a)
    e = np.exp(-a)
    nu = float(np.exp(lnu))
    den = np.multiply(e, e)                    # e^2
    diff = np.subtract(1.0, den)
    den += 1.0
    den += nu * e                              # D * exp(-|d|/2)
    inv = np.divide(1.0, den, out=den)
    diff *= inv
    diff *= sign
    e *= nu
    e *= inv                                   # P(tie)
    log_den = None
    if want_log:
        log_den = np.log(inv, out=inv)
        np.subtract(a, log_den, out=log_den)   # log D = |d|/2 - log(1/(D e^{-|d|/2}))
    return log_den, diff, e


def row_terms(design: Design, theta: np.ndarray, *, want_ll: bool = True, want_weights: bool = False
              ) -> tuple[float, np.ndarray, float, tuple | None]:
    """Return (log-likelihood, d ll / d d per row, d ll / d log_nu, information weights).

    The weights are ``(w_dd, w_dl, w_ll)`` per row (module notes), only when asked for.
    """
    d = _linear(design, theta)
    n, half_diff, n_ties, ya, yb = design.totals
    if design.davidson:
        lnu = float(theta[-1])
        log_den, diff, pt = _davidson_probs(d, lnu, want_ll)
        ll = np.nan
        if want_ll:
            assert log_den is not None  # for mypy: _davidson_probs returns log D when want_log (= want_ll)
            ll = float(vdot(d, half_diff) + lnu * n_ties - vdot(n, log_den))
        g_lnu = n_ties - vdot(n, pt)
        weights = None
        if want_weights:
            m = 0.5 * diff
            w_dl = -n * m * pt
            w_ll = n * pt * (1.0 - pt)
            w_dd = 0.25 * (1.0 - pt) - m * m
            w_dd *= n
            weights = (w_dd, w_dl, w_ll)
        gd = np.multiply(diff, n, out=diff)
        gd *= -0.5
        gd += half_diff
        return ll, gd, g_lnu, weights
    assert ya is not None and yb is not None  # for mypy: Design.totals sets them unless ties are Davidson
    p = special.expit(d)
    ll = np.nan
    if want_ll:   # log P(i) = log_expit(d), log P(j) = log_expit(-d)
        ll = float(vdot(ya, special.log_expit(d)) + vdot(yb, special.log_expit(-d)))
    weights = (n * p * (1.0 - p), None, None) if want_weights else None
    gd = np.multiply(n, p, out=p)
    np.subtract(ya, gd, out=gd)
    return ll, gd, 0.0, weights


def objective(theta: np.ndarray, design: Design, reg: float, cov_reg: float, scale: float
              ) -> tuple[float, np.ndarray]:
    """Penalised negative log-likelihood times ``scale`` and its gradient."""
    k, p = design.n_items, design.n_cov
    ll, gd, gl, _ = row_terms(design, theta)
    s, beta = theta[:k], theta[k: k + p]
    f = -ll + 0.5 * reg * float(s @ s) + 0.5 * cov_reg * float(beta @ beta)
    g = np.empty_like(theta)
    g[:k] = scatter(design, gd) + reg * s
    if p:
        g[k: k + p] = -np.einsum("rc,r->c", design.z, gd) + cov_reg * beta
    if design.davidson:
        g[-1] = -gl
    return f * scale, g * scale


_objective = objective  # old private name


def start_values(design: Design) -> np.ndarray:
    x0 = np.zeros(design.n_params)
    if design.davidson:
        total = max(float(design.counts.sum()), 1.0)
        tie_share = min(max(design.counts[:, 2].sum() / total, 1e-3), 0.95)
        x0[-1] = np.log(2.0 * tie_share / (1.0 - tie_share))
    return x0


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
        x0 = start_values(design)
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
        f, g = objective(u / root, design, regularization, covariate_regularization, scale)
        return f, g / root

    res = optimize.minimize(
        scaled, x0 * root, jac=True, method="L-BFGS-B",
        options={"maxiter": max_iter, "maxcor": 30, "ftol": 1e-15, "gtol": tol * 0.1 * root.min()},
    )
    theta = np.asarray(res.x, dtype=np.float64) / root
    if regularization == 0.0:
        theta[: design.n_items] -= theta[: design.n_items].mean()
    f, g = objective(theta, design, regularization, covariate_regularization, scale)
    max_grad = float(np.max(np.abs(g))) if len(g) else 0.0
    pen = 0.5 * regularization * float(theta[:k] @ theta[:k]) \
        + 0.5 * covariate_regularization * float(theta[k: k + p] @ theta[k: k + p])
    return FitOutput(theta, -f / scale + pen, bool(max_grad <= tol), int(res.nit), max_grad,
                     str(res.message))


def _assemble(design: Design, k: int, lap_w: np.ndarray, cross: list[np.ndarray],
              other: np.ndarray, i: np.ndarray | None = None, j: np.ndarray | None = None
              ) -> np.ndarray:
    """Return the symmetric matrix sum_r x_r W_r x_r' with x_r = e_i - e_j for the strengths.

    ``lap_w`` weighs the strength block, ``cross`` (q arrays per row) the
    strength x other-parameter block, ``other`` (q, q) is the other block.
    Rows are the design's unless ``i`` and ``j`` are given.
    """
    q = other.shape[0]
    out = np.zeros((k + q, k + q))
    if i is None:
        i, j, key = design.i, design.j, design.pair_key
    else:
        assert j is not None  # for mypy: callers pass i and j together
        key = None
    if key is None:
        key = i * k + j
    pair = np.bincount(key, lap_w, k * k).reshape(k, k)
    ss = -(pair + pair.T)
    ss[np.diag_indices(k)] += pair.sum(axis=1) + pair.sum(axis=0)
    out[:k, :k] = ss
    for c in range(q):
        if k * k <= len(key):
            t = np.bincount(key, cross[c], k * k).reshape(k, k)
            col = t.sum(axis=1) - t.sum(axis=0)
        else:
            col = np.bincount(i, cross[c], k) - np.bincount(j, cross[c], k)
        out[:k, k + c] = col
        out[k + c, :k] = col
    out[k:, k:] = other
    return out


def _info_from_weights(design: Design, weights: tuple, reg: float, cov_reg: float) -> np.ndarray:
    k, p = design.n_items, design.n_cov
    w_dd, w_dl, w_ll = weights
    z = design.z
    cross = [z[:, c] * w_dd for c in range(p)]
    q = p + int(design.davidson)
    other = np.empty((q, q))
    for a in range(p):
        for b in range(a, p):
            other[a, b] = other[b, a] = vdot(cross[a], z[:, b])
    if design.davidson:
        for a in range(p):
            other[a, p] = other[p, a] = vdot(z[:, a], w_dl)
        other[p, p] = float(w_ll.sum())
        cross.append(w_dl)
    h = _assemble(design, k, w_dd, cross, other)
    h[np.arange(k), np.arange(k)] += reg
    h[np.arange(k, k + p), np.arange(k, k + p)] += cov_reg
    return h


def information(design: Design, theta: np.ndarray, *, regularization: float,
                covariate_regularization: float) -> np.ndarray:
    """Return the (observed = expected) information of the penalised likelihood (dense)."""
    _, _, _, weights = row_terms(design, theta, want_ll=False, want_weights=True)
    assert weights is not None  # for mypy: row_terms returns the weights when want_weights=True
    return _info_from_weights(design, weights, regularization, covariate_regularization)


def judgment_scores(design: Design, theta: np.ndarray, row: np.ndarray | None, outcome: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Return each judgment's score in ``d`` and in ``log_nu`` (None without Davidson ties).

    ``row`` maps judgments to design rows (None: rows are the judgments),
    ``outcome`` is 0 (i won), 1 (j won) or 2 (tie) in the row's orientation.
    """
    d = _linear(design, theta)
    if row is not None:
        d = d[row]
    if design.davidson:
        _, diff, pt = _davidson_probs(d, float(theta[-1]), want_log=False)
        u_d = np.array([0.5, -0.5, 0.0])[outcome] - 0.5 * diff
        u_l = (outcome == 2) - pt
        return u_d, u_l
    win = np.array([1.0, 0.0, 0.5 if design.ties == "half" else 0.0])[outcome]
    return win - special.expit(d), None


def cluster_meat(design: Design, theta: np.ndarray, row: np.ndarray | None, outcome: np.ndarray,
                 cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Return sum over clusters of the outer product of the summed judgment scores.

    Every judgment of a cluster must share one unordered pair of items (the
    caller checks); scores are oriented to the cluster's first judgment.
    """
    k, p = design.n_items, design.n_cov
    u_d, u_l = judgment_scores(design, theta, row, outcome)
    i_r, j_r = (design.i, design.j) if row is None else (design.i[row], design.j[row])
    z = design.z if row is None else design.z[row]
    if n_clusters == len(u_d):       # one judgment per cluster: the meat is a plain sum over rows
        a, ic, jc = u_d, i_r, j_r
        cols = [np.multiply(u_d, z[:, c]) for c in range(p)]
        if u_l is not None:
            cols.append(u_l)
    else:
        first = np.empty(n_clusters, dtype=np.int64)
        first[cluster[::-1]] = np.arange(len(cluster) - 1, -1, -1)
        ic, jc = i_r[first], j_r[first]
        sign = np.where(i_r == ic[cluster], 1.0, -1.0)
        a = np.bincount(cluster, sign * u_d, n_clusters)
        cols = [np.bincount(cluster, u_d * z[:, c], n_clusters) for c in range(p)]
        if u_l is not None:
            cols.append(np.bincount(cluster, u_l, n_clusters))
    q = len(cols)
    other = np.array([[vdot(cols[x], cols[y]) for y in range(q)] for x in range(q)]).reshape(q, q)
    return _assemble(design, k, a * a, [a * c for c in cols], other, ic, jc)


def covariance(h: np.ndarray, n_items: int, identified: bool, meat: np.ndarray | None = None
               ) -> tuple[np.ndarray, list[str]]:
    """Return (``H^-1`` or the sandwich ``H^-1 G H^-1``, notes), on centred strengths.

    Without a penalty the strengths are identified only up to a shift; the
    inverse is then taken on the sum-to-zero subspace (``(H + v v')^-1 - v v'``
    with ``v`` the normalised all-ones strength direction). A singular
    information matrix (an estimate at infinity, an unidentified
    parameter) never raises: the parameters in its null space get NaN
    variances and a note says so.
    """
    v = np.zeros(h.shape[0])
    if not identified:
        v[:n_items] = 1.0 / np.sqrt(n_items)
    m = h + np.outer(v, v)
    notes: list[str] = []
    try:
        if not np.isfinite(m).all():
            raise np.linalg.LinAlgError("non-finite information")
        factor = linalg.cho_factor(m)
        root = np.abs(np.diag(factor[0]))
        if root.min() ** 2 < 1e-13 * root.max() ** 2:   # cheap lower bound on the condition number
            raise np.linalg.LinAlgError("ill-conditioned")
        hinv = linalg.cho_solve(factor, np.eye(len(m)))
        bad = np.zeros(len(m), dtype=bool)
        if not np.isfinite(hinv).all():
            raise np.linalg.LinAlgError("non-finite inverse")
    except (np.linalg.LinAlgError, ValueError):
        m = np.nan_to_num(m)
        vals, vecs = np.linalg.eigh(m)
        keep = vals > max(vals.max(), 1e-300) * 1e-12
        hinv = (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T
        bad = (np.abs(vecs[:, ~keep]) > 1e-6).any(axis=1)
        notes.append(f"the information matrix is singular or nearly so (rank {int(keep.sum())} of "
                     f"{len(m)}): {int(bad.sum())} parameter(s) are not identified by the data and "
                     "get NaN standard errors; add comparisons, drop covariates, or pass "
                     "`regularization` > 0.")
    if not identified:
        hinv -= np.outer(v, v)
    out = hinv if meat is None else hinv @ meat @ hinv
    out[bad, :] = np.nan
    out[:, bad] = np.nan
    return out, notes


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


def newton_fit(design: Design, theta0: np.ndarray, *, regularization: float,
               covariate_regularization: float, max_iter: int, tol: float) -> tuple[np.ndarray, bool]:
    """Newton's method (= Fisher scoring here) with step halving from a warm start.

    Each step solves with the dense information, so it is for designs with
    at most a few thousand parameters; near the estimate it converges in a
    handful of steps, where L-BFGS needs dozens. A singular system stops the
    iteration (returned as not converged) instead of raising.
    """
    scale = 1.0 / max(float(design.counts.sum()), 1.0)
    reg, cov_reg = regularization, covariate_regularization
    k = design.n_items
    v = np.zeros(design.n_params)
    if regularization == 0.0:
        v[:k] = 1.0 / np.sqrt(k)
    theta = theta0.copy()
    f, g = objective(theta, design, reg, cov_reg, scale)
    for _ in range(max_iter):
        if np.max(np.abs(g)) <= tol:
            return theta, True
        h = information(design, theta, regularization=reg, covariate_regularization=cov_reg) * scale
        try:
            step = linalg.solve(h + np.outer(v, v), -g, assume_a="sym")
        except (np.linalg.LinAlgError, ValueError):
            return theta, False
        if not np.isfinite(step).all():
            return theta, False
        t = 1.0
        for _half in range(30):
            cand = theta + t * step
            f_new, g_new = objective(cand, design, reg, cov_reg, scale)
            if f_new <= f + 1e-4 * t * float(g @ step):
                break
            t *= 0.5
        theta, f, g = cand, f_new, g_new
    return theta, bool(np.max(np.abs(g)) <= tol)
