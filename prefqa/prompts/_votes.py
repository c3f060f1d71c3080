"""The model-aware null of ``flag_prompts``: what each vote should look like if the prompt were ordinary.

Every vote is modelled in the comparison's canonical orientation (which
response won, see :meth:`PreferenceData.oriented_choice`)::

    eta = a_i * (s[model_1] - s[model_2] + e_c) + p_i * f + l_i * x
    P(first) = (1 - tau_i) * sigmoid(eta),  P(second) = (1 - tau_i) * sigmoid(-eta),  P(tie) = tau_i

with ``s`` the model strengths, ``a_i`` annotator i's discrimination (its
reliability: 0 for a random clicker), ``p_i`` its pull toward the response
shown first (``f = +1`` when the canonical first response was shown first,
-1 otherwise), ``l_i`` its length slope on prefqa's length covariate ``x``
(oriented the same way), ``tau_i`` its tie rate, and ``e_c ~ N(0, sigma^2)``
the comparison's own quality gap beyond its models (shared by every vote on
it). Votes are independent given ``e_c``.

Fitting (all vectorized over judgments with ``np.bincount``):

1. the strengths ``s`` and the per-annotator ``(a_i, p_i, l_i)`` by
   alternating logistic fits on the non-tie votes (two rounds; the
   strengths are scaled to unit standard deviation, so ``a_i`` carries the
   scale), ``tau_i`` as the tie share;
2. the marginal fit of step 1 averages over ``e_c``, which shrinks every
   coefficient by ``1 / sqrt(1 + pi/8 a_i^2 sigma^2)`` (probit approximation
   of the logistic-normal integral); the conditional coefficients undo it;
3. ``sigma`` is the value at which the expected number of agreeing vote pairs
   over all comparisons equals the observed number (bisection on a
   deterministic subsample of comparisons).

The mean and variance of the disagreeing pairs of a comparison then mix the
exact conditional moments of :mod:`._null` over Gauss-Hermite nodes of
``e_c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._null import pair_moments

__all__ = ["VoteModel", "fit_vote_model", "vote_moments"]

_K_PROBIT = np.pi / 8.0
_MAX_SHRINK = 0.9          # cap of pi/8 a^2 sigma^2 when undoing the attenuation
_N_NODES = 9               # Gauss-Hermite nodes over e_c
_SIGMA_FIT_VOTES = 200_000  # votes used to match sigma
_RIDGE = 0.05


@dataclass(frozen=True, eq=False)
class VoteModel:
    """Fitted per-vote null: strengths and per-annotator (a, p, l, tau) at the conditional scale."""

    strengths: np.ndarray
    a: np.ndarray
    p: np.ndarray
    l: np.ndarray
    tau: np.ndarray
    sigma: float
    converged: bool


def _group_logit(group: np.ndarray, X: np.ndarray, y: np.ndarray, n_groups: int,
                 *, ridge: float = _RIDGE, max_iter: int = 40) -> tuple[np.ndarray, bool]:
    """Per-group logistic regression without intercept on the columns of ``X``, batched Newton steps."""
    k = X.shape[1]
    beta = np.zeros((n_groups, k))
    pairs = [(r, c) for r in range(k) for c in range(r, k)]
    prods = [X[:, r] * X[:, c] for r, c in pairs]
    converged = False
    for _ in range(max_iter):
        eta = (beta[group] * X).sum(axis=1)
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = mu * (1.0 - mu)
        grad = np.column_stack([np.bincount(group, weights=(y - mu) * X[:, r], minlength=n_groups)
                                for r in range(k)]) - ridge * beta
        hess = np.zeros((n_groups, k, k))
        for (r, c), pr in zip(pairs, prods):  # k(k+1)/2 cells (six for three covariates)
            hess[:, r, c] = hess[:, c, r] = np.bincount(group, weights=w * pr, minlength=n_groups)
        hess += ridge * np.eye(k)[None]
        step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        big = np.abs(step).max(axis=1, keepdims=True)
        beta += step * np.minimum(1.0, 3.0 / np.maximum(big, 1e-300))
        if float(big.max(initial=0.0)) < 1e-7:
            converged = True
            break
    return beta, converged


def _strength_fit(m1: np.ndarray, m2: np.ndarray, a: np.ndarray, offset: np.ndarray, y: np.ndarray,
                  n_models: int, *, ridge: float = _RIDGE, max_iter: int = 40) -> np.ndarray:
    """Bradley-Terry strengths with a per-vote scale ``a`` and a fixed ``offset`` (few models: dense Newton)."""
    s = np.zeros(n_models)
    key = m1 * n_models + m2
    for _ in range(max_iter):
        eta = a * (s[m1] - s[m2]) + offset
        mu = 1.0 / (1.0 + np.exp(-eta))
        r = (y - mu) * a
        grad = np.bincount(m1, weights=r, minlength=n_models) - np.bincount(m2, weights=r, minlength=n_models)
        grad -= ridge * s
        w = np.bincount(key, weights=mu * (1 - mu) * a * a, minlength=n_models * n_models).reshape(n_models, -1)
        w = w + w.T
        hess = np.diag(w.sum(axis=1)) - w + ridge * np.eye(n_models)
        step = np.linalg.solve(hess, grad)
        s += step * min(1.0, 3.0 / max(float(np.abs(step).max()), 1e-300))
        if float(np.abs(step).max()) < 1e-7:
            break
    return s - s.mean()


def fit_vote_model(ann: np.ndarray, comp: np.ndarray, label: np.ndarray, flip_sign: np.ndarray,
                   x: np.ndarray, m1: np.ndarray, m2: np.ndarray, n_ann: int, n_models: int,
                   n_comp: int, fit_mask: np.ndarray | None = None) -> VoteModel:
    """Fit the vote model (module notes) on the votes where ``fit_mask``; ``m1``/``m2`` are -1 when unknown."""
    use = np.ones(len(label), dtype=bool) if fit_mask is None else fit_mask.copy()
    known_m = (m1 >= 0) & (m2 >= 0)
    nt = use & (label < 2)
    y = (label[nt] == 0).astype(np.float64)
    g_a, f, xx = ann[nt], flip_sign[nt], x[nt]
    mm1, mm2, km = np.maximum(m1[nt], 0), np.maximum(m2[nt], 0), known_m[nt]
    s = np.zeros(n_models)
    beta = np.zeros((n_ann, 3))
    converged = True
    a_vote = np.ones(len(y))
    for _ in range(2):  # alternate strengths and annotators
        if n_models > 1 and km.any():
            off = beta[g_a, 1] * f + beta[g_a, 2] * xx
            s = _strength_fit(mm1[km], mm2[km], a_vote[km], off[km], y[km], n_models)
            sd = float(s.std())
            s = s / sd if sd > 0 else s
        gap = np.where(km, s[mm1] - s[mm2], 0.0)
        beta, converged = _group_logit(g_a, np.column_stack([gap, f, xx]), y, n_ann)
        a_vote = beta[g_a, 0]
    n_all = np.bincount(ann[use], minlength=n_ann).astype(np.float64)
    ties = np.bincount(ann[use], weights=(label[use] == 2).astype(np.float64), minlength=n_ann)
    tau = np.where(n_all > 0, (ties + 0.5) / (n_all + 1.0), 0.1)
    marginal = VoteModel(s, beta[:, 0], beta[:, 1], beta[:, 2], tau, 0.0, converged)
    gap_all = np.where(known_m, s[np.maximum(m1, 0)] - s[np.maximum(m2, 0)], 0.0)
    sigma = _match_sigma(marginal, ann, comp, label, flip_sign, x, gap_all, n_comp, use)
    return _conditional(marginal, sigma)


def _conditional(m: VoteModel, sigma: float) -> VoteModel:
    """Undo the attenuation of the marginal fit for a shared comparison effect with SD ``sigma``."""
    shrink = np.minimum(_K_PROBIT * m.a**2 * sigma**2, _MAX_SHRINK)
    c = 1.0 / np.sqrt(1.0 - shrink)
    return VoteModel(m.strengths, m.a * c, m.p * c, m.l * c, m.tau, sigma, m.converged)


def _vote_probs(m: VoteModel, ann: np.ndarray, gap: np.ndarray, flip_sign: np.ndarray,
                x: np.ndarray, e: float) -> np.ndarray:
    eta = m.a[ann] * (gap + e) + m.p[ann] * flip_sign + m.l[ann] * x
    first = 1.0 / (1.0 + np.exp(-eta))
    t = m.tau[ann]
    return np.column_stack([(1 - t) * first, (1 - t) * (1 - first), t])


def vote_moments(m: VoteModel, ann: np.ndarray, comp: np.ndarray, gap: np.ndarray, flip_sign: np.ndarray,
                 x: np.ndarray, n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    """Null mean and variance of the disagreeing vote pairs per comparison, mixed over ``e_c``."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(_N_NODES if m.sigma > 0 else 1)
    weights = weights / weights.sum()
    n_votes = np.bincount(comp, minlength=n_comp).astype(np.float64)
    pairs = n_votes * (n_votes - 1) / 2
    e_mix = np.zeros(n_comp)
    e2_mix = np.zeros(n_comp)
    v_mix = np.zeros(n_comp)
    for node, w in zip(nodes, weights):  # a handful of quadrature nodes
        mean, var = pair_moments(_vote_probs(m, ann, gap, flip_sign, x, m.sigma * node), comp, n_comp)
        e_mix += w * mean
        e2_mix += w * mean**2
        v_mix += w * var
    return pairs - e_mix, v_mix + np.maximum(e2_mix - e_mix**2, 0.0)


def _match_sigma(marginal: VoteModel, ann: np.ndarray, comp: np.ndarray, label: np.ndarray,
                 flip_sign: np.ndarray, x: np.ndarray, gap: np.ndarray, n_comp: int, use: np.ndarray) -> float:
    """The ``sigma`` at which the expected disagreeing pairs match the observed ones (module notes)."""
    take = use.copy()
    if take.sum() > _SIGMA_FIT_VOTES:  # every k-th comparison, all of its votes: deterministic
        k = int(np.ceil(take.sum() / _SIGMA_FIT_VOTES))
        take &= comp % k == 0
    sub_comp, inv = np.unique(comp[take], return_inverse=True)
    nc = len(sub_comp)
    a, lab, f, xx, g = ann[take], label[take], flip_sign[take], x[take], gap[take]
    counts = np.bincount(inv * 3 + lab, minlength=nc * 3).reshape(nc, 3).astype(np.float64)
    votes = counts.sum(axis=1)
    observed = float((votes * (votes - 1) / 2 - (counts * (counts - 1) / 2).sum(axis=1)).sum())

    def expected(sigma: float) -> float:
        return float(vote_moments(_conditional(marginal, sigma), a, inv, g, f, xx, nc)[0].sum())

    a_typ = float(np.median(np.abs(marginal.a[np.bincount(ann[use], minlength=len(marginal.a)) > 0])))
    hi = np.sqrt(_MAX_SHRINK / _K_PROBIT) / max(a_typ, 1e-3)
    if expected(0.0) <= observed:
        return 0.0
    if expected(hi) >= observed:
        return float(hi)
    lo = 0.0
    for _ in range(20):  # bisection: expected disagreement falls as sigma grows
        mid = 0.5 * (lo + hi)
        if expected(mid) > observed:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def prompt_test(m: VoteModel, ann: np.ndarray, comp: np.ndarray, gap: np.ndarray, flip_sign: np.ndarray,
                x: np.ndarray, n_comp: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-comparison weights, null mean and null variance of the disagreeing pairs.

    The weight of comparison c is ``(mu1_c - mu0_c) / v0_c``: the null mean
    ``mu0_c`` and variance ``v0_c`` under ``m``, and the mean ``mu1_c`` when
    the votes ignore which response is better (``a_i = 0``: annotators split
    as if the quality gap did not exist, keeping their tie, position and
    length habits). It is the locally most powerful linear combination of
    independent comparisons against that alternative, and it puts the weight
    where a split is surprising: comparisons whose models are far apart and
    whose annotators are reliable. The weights depend on covariates only, not
    on the votes, so the weighted statistic's null mean and variance are exact.
    """
    mean0, var0 = vote_moments(m, ann, comp, gap, flip_sign, x, n_comp)
    blind = VoteModel(m.strengths, np.zeros_like(m.a), m.p, m.l, m.tau, 0.0, m.converged)
    mean1, _ = vote_moments(blind, ann, comp, gap, flip_sign, x, n_comp)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(var0 > 1e-12, np.clip((mean1 - mean0) / var0, 0.0, None), 0.0)
    return w, mean0, var0


def simulate_weighted(m: VoteModel, ann: np.ndarray, comp: np.ndarray, gap: np.ndarray, flip_sign: np.ndarray,
                      x: np.ndarray, n_comp: int, weight: np.ndarray, group: np.ndarray, n_groups: int,
                      n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Parametric bootstrap of the weighted disagreement per group: shape ``(n_resamples, n_groups)``."""
    n_votes = np.bincount(comp, minlength=n_comp).astype(np.float64)
    pairs = n_votes * (n_votes - 1) / 2
    base = m.a[ann] * gap + m.p[ann] * flip_sign + m.l[ann] * x
    t = m.tau[ann]
    out = np.empty((n_resamples, n_groups))
    for b in range(n_resamples):  # resamples; each one is vectorized over votes
        e = rng.normal(0.0, m.sigma, n_comp)
        first = 1.0 / (1.0 + np.exp(-(base + m.a[ann] * e[comp])))
        u = rng.random(len(comp))
        lab = np.where(u < t, 2, np.where(u < t + (1 - t) * first, 0, 1))
        counts = np.bincount(comp * 3 + lab, minlength=n_comp * 3).reshape(n_comp, 3)
        dis = pairs - (counts * (counts - 1) / 2).sum(axis=1)
        out[b] = np.bincount(group, weights=weight * dis, minlength=n_groups)
    return out
