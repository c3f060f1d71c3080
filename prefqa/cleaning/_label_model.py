"""The label model of :func:`prefqa.label_issues` when scores are given: a latent quality gap.

The model
---------
Comparison *c* compares its canonical responses 1 and 2
(:meth:`PreferenceData.comparisons`). Its latent quality gap ``D_c`` (response
1 minus response 2) decides the true label: response 1 is truly better when
``D_c > 0``. A reward model or judge scores each response; ``d_c`` is the
score difference ``s_1 - s_2`` as a normal score (its sign, with ``|s_1 - s_2|``
ranked over the comparisons and mapped to half-normal quantiles; 0 where a
score is missing), so that the link below does not depend on the score's
scale or tails. The score is evidence about the gap::

    D_c = beta * d_c + e_c,      e_c ~ N(0, 1)                  (score -> gap)

and every judgment of annotator *i* reads the same gap through an ordered
logit (the latent-logistic tie model of the simulator and of Rao-Kupper)::

    P(vote = 1)   = sigmoid(a_i * D_c - t_i)
    P(vote = 2)   = sigmoid(-a_i * D_c - t_i)
    P(vote = tie) = 1 - the two

``a_i`` is the annotator's reliability (0: votes carry no information, as a
spammer's), ``t_i >= 0`` its tie threshold; judgments without annotator id
share one pooled ``(a, t)``. Votes are independent given the gap. Unlike a
constant confusion matrix, the model lets every annotator err more on close
pairs than on clear ones, as people (and the planted-bias simulator) do; and
unlike a logistic fit of votes on the score difference, it separates the
truth (``D_c``) from the votes, so a unanimous vote against a weak score
difference still wins and a split vote on a pair the score calls clearly is
resolved by the score.

Known limitation: when the score explains the votes well, the likelihood is
nearly flat along "larger ``beta``, less reliable annotators" (only the
correlation of a comparison's votes beyond the score tells them apart). EM
starts from ``beta = 1``, ``a_i = 1`` and stops when the log-likelihood gains
less than ``tol`` (1e-5) per judgment, which acts as a mild regularisation:
on the planted-bias simulator the pooled expected calibration error of
``p_label_wrong`` is 0.008 so; run to 1e-8 it drifts along the ridge and the
error rises to 0.034 (a Beta(2, 2) prior on the score's share of the gap
variance brought it to 0.021 but did not stop the drift).

``beta``, ``a_i`` and ``t_i`` are fitted jointly by EM over a fixed grid of
``e`` values (quadrature): the E-step gives each comparison's posterior over
the grid; the M-step updates ``beta`` in closed form (the regression of the
posterior mean gap on ``d``) and ``(a_i, t_i)`` by Newton steps (the
ordered-logit likelihood is concave in them), with a ridge of weight
``shrink`` (pseudo-judgments) pulling each annotator toward the pool, as
Dawid-Skene's smoothing does. The scale of ``D`` is fixed by ``var(e) = 1``.

Cross-fitting
-------------
Prompts are split at random into ``K`` folds. For the comparisons of fold
*k*, ``beta`` and the reliabilities come from a fit on the other folds only;
the posterior ``P(D_c > 0 | d_c, votes_c)`` then combines that calibrated
score with the comparison's own votes. A comparison's votes therefore never
calibrate its own score (nor the reliabilities applied to them). An
annotator without judgments outside fold *k* gets the pool's ``(a, t)``.

Examples
--------
>>> import numpy as np
>>> comp = np.repeat(np.arange(4), 2); ann = np.tile([0, 1], 4)
>>> y = np.array([0, 0, 1, 1, 0, 1, 0, 0]); d = np.array([1.0, -1.0, 0.5, 2.0])
>>> fit = fit_joint(comp, ann, y, d, n_comp=4, n_ann=2)
>>> p = p_better(fit, comp, ann, y, d, 4)
>>> bool(p[0, 0] > 0.5 > p[1, 0]), bool(p[3, 0] > p[2, 0]), bool(np.allclose(p.sum(axis=1), 1))
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import expit, log_expit

__all__ = ["CHUNK", "MAX_FIT", "JointFit", "chunks", "cross_fit", "fit_joint", "folds_of", "grid_posterior",
           "p_better", "share_above_zero", "vote_probabilities"]

_GRID = np.linspace(-4.0, 4.0, 33)                     # e nodes (step 0.25)
_LOG_W = -0.5 * _GRID**2 - np.logaddexp.reduce(-0.5 * _GRID**2)
_STEP = float(_GRID[1] - _GRID[0])
_T_MIN = 1e-4
#: comparisons per chunk when posteriors are computed (bounds memory: chunk x grid x a few floats)
CHUNK = 50_000
#: a cross-fitting fold's fit uses at most this many training comparisons (a random subset)
MAX_FIT = 100_000


@dataclass(frozen=True, eq=False)
class JointFit:
    """Parameters of one fit: score calibration ``beta`` and per-annotator ``(a, t)`` (plus the pool's)."""

    beta: float
    a: np.ndarray            # (n_ann,) reliability slopes
    t: np.ndarray            # (n_ann,) tie thresholds
    seen: np.ndarray         # (n_ann,) the annotator has judgments in the fit
    pool_a: float
    pool_t: float
    converged: bool
    n_iter: int
    log_likelihood: float


def vote_probabilities(eta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Return ``P(vote = 1, 2, tie)`` stacked on a new last axis for gap-times-slope ``eta``."""
    p1, p2 = expit(eta - t), expit(-eta - t)
    return np.stack([p1, p2, np.clip(1.0 - p1 - p2, 0.0, None)], axis=-1)


class _Votes:
    """Per-judgment codes sorted by vote (so each vote type is a slice) and the comparison-sum operator."""

    def __init__(self, comp: np.ndarray, ann: np.ndarray, y: np.ndarray, n_comp: int) -> None:
        order = np.argsort(y, kind="stable")
        comp, ann, y = comp[order], ann[order], y[order]
        self.comp, self.ann, self.y, self.n_comp = comp, ann, y, n_comp
        ends = np.cumsum(np.bincount(y, minlength=3))
        self.rows = [slice(0, int(ends[0])), slice(int(ends[0]), int(ends[1])), slice(int(ends[1]), int(ends[2]))]
        self.sum_by_comp = sparse.csr_matrix((np.ones(len(comp)), (comp, np.arange(len(comp)))),
                                             shape=(n_comp, len(comp)))


def _log_vote(eta: np.ndarray, t: np.ndarray, v: _Votes) -> np.ndarray:
    """``log P(vote | eta, t)`` for (n, m) ``eta`` and per-judgment thresholds ``t`` (n, 1)."""
    out = np.empty_like(eta)
    r0, r1, r2 = v.rows
    out[r0] = log_expit(eta[r0] - t[r0])
    out[r1] = log_expit(-eta[r1] - t[r1])
    e, tt = eta[r2], t[r2]
    out[r2] = log_expit(e + tt) + log_expit(tt - e) + np.log(-np.expm1(-2.0 * tt))
    return out


def _posterior_grid(v: _Votes, ann_a: np.ndarray, ann_t: np.ndarray, d: np.ndarray, beta: float
                    ) -> tuple[np.ndarray, float, np.ndarray]:
    """Return the (n_comp, m) posterior over the grid, the log-likelihood and the (n_comp, m) gaps."""
    gap = beta * d[:, None] + _GRID[None, :]
    logp = _LOG_W[None, :] + v.sum_by_comp @ _log_vote(ann_a[:, None] * gap[v.comp], ann_t[:, None], v)
    norm = np.logaddexp.reduce(logp, axis=1)
    return np.exp(logp - norm[:, None]), float(norm.sum()), gap


def _newton(q_j: np.ndarray, gap_j: np.ndarray, v: _Votes, a: np.ndarray, t: np.ndarray, n_ann: int,
            shrink: float, pool_a: float, pool_t: float) -> tuple[np.ndarray, np.ndarray]:
    """One damped Newton step for every annotator's ``(a, t)``, ridge ``shrink`` toward the pool."""
    eta = a[v.ann][:, None] * gap_j
    tt = t[v.ann][:, None]
    g_eta, g_t, h_ee, h_et, h_tt = (np.empty_like(eta) for _ in range(5))
    r0, r1, r2 = v.rows
    e, u = eta[r0], tt[r0]                       # vote for response 1: log sigmoid(eta - t)
    s = expit(u - e)
    g_eta[r0], g_t[r0] = s, -s
    h_ee[r0] = h_tt[r0] = -s * (1.0 - s)
    h_et[r0] = s * (1.0 - s)
    e, u = eta[r1], tt[r1]                       # vote for response 2: log sigmoid(-eta - t)
    s = expit(e + u)
    g_eta[r1], g_t[r1] = -s, -s
    h_ee[r1] = h_tt[r1] = h_et[r1] = -s * (1.0 - s)
    e, u = eta[r2], tt[r2]                       # tie
    lo, hi = expit(e - u), expit(e + u)
    s1, s2 = lo * (1.0 - lo), hi * (1.0 - hi)
    em = np.expm1(2.0 * u)
    g_eta[r2] = (1.0 - hi) - lo
    g_t[r2] = (1.0 - hi) + lo + 2.0 / em
    h_ee[r2] = -s1 - s2
    h_et[r2] = s1 - s2
    h_tt[r2] = -s1 - s2 - 4.0 * (em + 1.0) / em**2
    sums = [np.bincount(v.ann, (q_j * x).sum(axis=1), n_ann).astype(np.float64) for x in
            (g_eta * gap_j, g_t, h_ee * gap_j**2, h_et * gap_j, h_tt)]
    g_a = sums[0] - shrink * (a - pool_a)
    g_tt = sums[1] - shrink * (t - pool_t)
    h_aa, h_at, h_t = sums[2] - shrink, sums[3], sums[4] - shrink
    det = h_aa * h_t - h_at**2
    step_a = np.clip(-(h_t * g_a - h_at * g_tt) / det, -1.0, 1.0)
    step_t = np.clip(-(h_aa * g_tt - h_at * g_a) / det, -1.0, 1.0)
    return a + step_a, np.maximum(t + step_t, _T_MIN)


def fit_joint(comp: np.ndarray, ann: np.ndarray, y: np.ndarray, d: np.ndarray, *, n_comp: int, n_ann: int,
              shrink: float = 2.0, max_iter: int = 300, tol: float = 1e-5) -> JointFit:
    """Fit ``beta`` and every annotator's ``(a, t)`` by EM (module notes).

    ``comp`` / ``ann`` / ``y`` are per-judgment comparison codes (``0..n_comp-1``),
    annotator codes (``0..n_ann-1``) and oriented votes (0 = response 1,
    1 = response 2, 2 = tie); ``d`` the score difference as a normal score per comparison.
    """
    has_tie = np.bincount(ann, y == 2, n_ann) > 0
    a = np.ones(n_ann)
    t = np.where(has_tie, 0.3, _T_MIN)
    beta, pool_a, pool_t = 1.0, 1.0, float(np.mean(y == 2) > 0) * 0.3 + _T_MIN
    v = _Votes(comp, ann, y, n_comp)
    ll_old, converged, it, ll = -np.inf, False, 0, -np.inf
    for it in range(1, max_iter + 1):  # noqa: B007 - the iteration count is returned
        q, ll, gap = _posterior_grid(v, a[v.ann], t[v.ann], d, beta)
        # M-step: beta in closed form (E[D_c] regressed on d_c), then (a, t) by one Newton step
        mean_gap = q @ _GRID + beta * d
        ss = float(d @ d)
        beta = float(d @ mean_gap) / ss if ss > 0 else 0.0
        n_j = np.bincount(ann, minlength=n_ann)
        pool_a = float(np.average(a, weights=n_j)) if n_j.sum() else 1.0
        pool_t = float(np.average(t, weights=n_j)) if n_j.sum() else _T_MIN
        a, t = _newton(q[v.comp], gap[v.comp], v, a, t, n_ann, shrink, pool_a, pool_t)
        t = np.where(has_tie, t, _T_MIN)
        if abs(ll - ll_old) / max(len(y), 1) < tol:
            converged = True
            break
        ll_old = ll
    seen = np.bincount(ann, minlength=n_ann) > 0
    return JointFit(beta=beta, a=a, t=t, seen=seen, pool_a=pool_a, pool_t=pool_t, converged=converged,
                    n_iter=it, log_likelihood=ll)


def grid_posterior(fit: JointFit, comp: np.ndarray, ann: np.ndarray, y: np.ndarray, d: np.ndarray,
                   n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the (n_comp, m) posterior weights over the grid and the gap ``D`` at each node.

    Unseen annotators get the pool's ``(a, t)``.
    """
    v = _Votes(comp, ann, y, n_comp)
    idx = np.minimum(v.ann, len(fit.seen) - 1)
    known = (v.ann < len(fit.seen)) & fit.seen[idx]
    ann_a = np.where(known, fit.a[idx], fit.pool_a)
    ann_t = np.where(known, fit.t[idx], fit.pool_t)
    q, _, gap = _posterior_grid(v, ann_a, ann_t, d, fit.beta)
    return q, gap


def share_above_zero(gap: np.ndarray) -> np.ndarray:
    """Share of each grid cell (width ``step`` around its node) where ``D > 0``."""
    return np.clip(gap / _STEP + 0.5, 0.0, 1.0)


def p_better(fit: JointFit, comp: np.ndarray, ann: np.ndarray, y: np.ndarray, d: np.ndarray,
             n_comp: int) -> np.ndarray:
    """Return ``P(D_c > 0)`` and ``P(D_c < 0)`` given ``d_c`` and the votes, as (n_comp, 2).

    Each grid node stands for a cell of width ``step``: a cell that straddles
    ``D = 0`` counts for the share of it above 0.
    """
    q, gap = grid_posterior(fit, comp, ann, y, d, n_comp)
    above = share_above_zero(gap)
    return np.column_stack([(q * above).sum(axis=1), (q * (1.0 - above)).sum(axis=1)])


def folds_of(groups: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Assign each comparison to one of ``k`` folds so that a group (prompt) stays in one fold."""
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    fold_of_group[rng.permutation(n_groups)] = np.arange(n_groups) % k
    return fold_of_group[groups]


def chunks(comp: np.ndarray, rows: np.ndarray, size: int | None = None
           ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Split comparisons ``rows`` into chunks of ``size`` (default :data:`CHUNK`).

    Yields (rows, their judgments' indices, the judgments' comparison codes local to the chunk).
    """
    size = max(int(CHUNK if size is None else size), 1)
    n_comp = int(comp.max()) + 1 if len(comp) else 0
    part = np.full(n_comp, -1, dtype=np.int64)
    local = np.full(n_comp, -1, dtype=np.int64)
    for start in range(0, len(rows), size):
        part[rows[start:start + size]] = start // size
        local[rows[start:start + size]] = np.arange(len(rows[start:start + size]))
    judgment_part = part[comp]
    order = np.argsort(judgment_part, kind="stable")
    bounds = np.searchsorted(judgment_part[order], np.arange(-1, (len(rows) + size - 1) // size + 1))
    for i, start in enumerate(range(0, len(rows), size)):
        js = order[bounds[i + 1]:bounds[i + 2]]
        yield rows[start:start + size], js, local[comp[js]]


def cross_fit(comp: np.ndarray, ann: np.ndarray, y: np.ndarray, d: np.ndarray, fold: np.ndarray, k: int, *,
              n_ann: int, max_fit: int | None = None, rng: np.random.Generator | None = None,
              **options: float) -> tuple[np.ndarray, list[JointFit]]:
    """Return out-of-fold ``P(response 1 / 2 truly better)`` (n_comp, 2) and the ``k`` fits.

    A fold's fit uses at most ``max_fit`` of its training comparisons (a
    random subset, from ``rng``); the posteriors are computed for every
    comparison, in chunks.
    """
    gen = np.random.default_rng(0) if rng is None else rng
    max_fit = MAX_FIT if max_fit is None else max_fit
    n_comp = len(d)
    p1 = np.empty((n_comp, 2))
    fits: list[JointFit] = []
    for f in range(k):
        train_c = np.flatnonzero(fold != f)
        if len(train_c) > max_fit:
            train_c = np.sort(gen.choice(train_c, max_fit, replace=False))
        (_, tr, local), = chunks(comp, train_c, size=len(train_c))
        fit = fit_joint(local, ann[tr], y[tr], d[train_c], n_comp=len(train_c), n_ann=n_ann,
                        **options)  # type: ignore[arg-type]
        for rows, js, local in chunks(comp, np.flatnonzero(fold == f)):
            p1[rows] = p_better(fit, local, ann[js], y[js], d[rows], len(rows))
        fits.append(fit)
    return p1, fits


# ----------------------------------------------------------------- one vote per comparison
# With a single vote per comparison the latent-gap model cannot tell a vote's reliability from the
# score's calibration (both only shape one curve). The flip model can: P(vote = 1 | d) =
# e + (1 - 2e) * sigmoid(g * d), i.e. the truth follows the score through sigmoid(g * d) and the vote
# flips it with probability e, so e is the curve's floor at large |d|. One (g, e) for the pool.
def _flip_neg_ll(params: np.ndarray, d: np.ndarray, first: np.ndarray) -> tuple[float, np.ndarray]:
    g, theta = params
    e = 0.5 * expit(theta)
    s = expit(g * d)
    p = e + (1.0 - 2.0 * e) * s                       # P(vote for response 1)
    p = np.clip(p, 1e-300, 1.0 - 1e-16)
    dp_dg = (1.0 - 2.0 * e) * s * (1.0 - s) * d
    dp_de = 1.0 - 2.0 * s
    de_dtheta = e * (1.0 - expit(theta))
    w = np.where(first, 1.0 / p, -1.0 / (1.0 - p))
    value = -float(np.where(first, np.log(p), np.log1p(-p)).sum())
    return value, -np.array([float((w * dp_dg).sum()), float((w * dp_de).sum()) * de_dtheta])


def fit_flip(d: np.ndarray, first: np.ndarray) -> tuple[float, float, bool]:
    """Return ``(g, e, converged)`` of the flip model from decisive single votes (``first``: voted response 1)."""
    from scipy.optimize import minimize

    res = minimize(_flip_neg_ll, np.array([1.0, -1.0]), args=(d, first), jac=True, method="L-BFGS-B",
                   bounds=[(-50.0, 50.0), (-20.0, 20.0)])
    return float(res.x[0]), float(0.5 * expit(res.x[1])), bool(res.success)


def flip_posterior(g: float, e: float, d: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Return ``P(response 1 / 2 truly better | d, vote)`` (n, 2) under the flip model."""
    one = np.where(first, 1.0 - e, e) * expit(g * d)    # P(vote, response 1 better)
    two = np.where(first, e, 1.0 - e) * expit(-g * d)
    return np.column_stack([one, two]) / (one + two)[:, None]
