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
3. ``sigma`` by maximum likelihood in a two-class mixture of prompts
   (ordinary, or votes that ignore the quality gap), so that a few split
   prompts do not inflate it; then steps 1-3 are repeated without the
   prompts whose posterior of being split exceeds 0.5.

The mean and variance of the disagreeing pairs of a comparison then mix the
exact conditional moments of :mod:`._null` over Gauss-Hermite nodes of
``e_c``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit

from ._null import pair_moments

__all__ = ["VoteModel", "fit_vote_model", "node_components", "prompt_test", "simulate_weighted", "vote_moments"]

_K_PROBIT = np.pi / 8.0
_MAX_SHRINK = 0.9          # cap of pi/8 a^2 sigma^2 when undoing the attenuation
_N_NODES = 5               # Gauss-Hermite nodes over e_c
_FIT_VOTES = 200_000       # votes (whole comparisons) used for the logistic fits
_SIGMA_FIT_VOTES = 60_000  # votes (whole prompts) used to fit sigma
_RIDGE = 0.05


@dataclass(frozen=True, eq=False)
class VoteModel:
    """Fitted per-vote null: strengths and per-annotator (a, p, length, tau) at the conditional scale."""

    strengths: np.ndarray
    a: np.ndarray
    p: np.ndarray
    length: np.ndarray
    tau: np.ndarray
    sigma: float
    converged: bool
    n_nodes: int = _N_NODES
    notes: tuple[str, ...] = ()        # approximations made while fitting (subsamples, unconverged solves)
    subsample: tuple[tuple[str, int, int], ...] = ()  # (what, used, total) for every subsampled fit


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
        mu = expit(eta)
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
        if float(big.max(initial=0.0)) < 1e-6:
            converged = True
            break
    return beta, converged


def _strength_fit(m1: np.ndarray, m2: np.ndarray, a: np.ndarray, offset: np.ndarray, y: np.ndarray,
                  n_models: int, *, ridge: float = _RIDGE, max_iter: int = 40) -> tuple[np.ndarray, bool]:
    """Bradley-Terry strengths with a per-vote scale ``a`` and a fixed ``offset`` (few models: dense Newton).

    Returns the centred strengths and whether the Newton steps converged.
    """
    s = np.zeros(n_models)
    key = m1 * n_models + m2
    converged = False
    for _ in range(max_iter):
        eta = a * (s[m1] - s[m2]) + offset
        mu = expit(eta)
        r = (y - mu) * a
        grad: np.ndarray = (np.bincount(m1, weights=r, minlength=n_models)
                            - np.bincount(m2, weights=r, minlength=n_models))
        grad -= ridge * s
        w = np.bincount(key, weights=mu * (1 - mu) * a * a, minlength=n_models * n_models).reshape(n_models, -1)
        w = w + w.T
        hess = np.diag(w.sum(axis=1)) - w + ridge * np.eye(n_models)
        step = np.linalg.solve(hess, grad)
        s += step * min(1.0, 3.0 / max(float(np.abs(step).max()), 1e-300))
        if float(np.abs(step).max()) < 1e-7:
            converged = True
            break
    return s - s.mean(), converged


def fit_vote_model(ann: np.ndarray, comp: np.ndarray, label: np.ndarray, flip_sign: np.ndarray,
                   x: np.ndarray, m1: np.ndarray, m2: np.ndarray, n_ann: int, n_models: int,
                   prompt_of_comp: np.ndarray, n_prompts: int) -> VoteModel:
    """Fit the vote model (module notes); ``m1``/``m2`` are -1 when unknown.

    Two rounds: fit on every vote, find the prompts whose votes look like
    they ignore the quality gap (mixture posterior above 0.5), refit without
    them.
    """
    use = np.ones(len(label), dtype=bool)
    model, post = _fit_once(ann, comp, label, flip_sign, x, m1, m2, n_ann, n_models, prompt_of_comp, n_prompts,
                            use)
    split = post > 0.5
    if split.any() and not split.all():
        first = model
        use = ~split[prompt_of_comp[comp]]
        model, _ = _fit_once(ann, comp, label, flip_sign, x, m1, m2, n_ann, n_models, prompt_of_comp, n_prompts,
                             use)
        # what was approximated in the first round shaped the second (which prompts were left out)
        notes = tuple(dict.fromkeys(first.notes + model.notes))
        model = replace(model, notes=notes, subsample=tuple(dict.fromkeys(first.subsample + model.subsample)))
    return model


def _fit_once(ann: np.ndarray, comp: np.ndarray, label: np.ndarray, flip_sign: np.ndarray,
              x: np.ndarray, m1: np.ndarray, m2: np.ndarray, n_ann: int, n_models: int,
              prompt_of_comp: np.ndarray, n_prompts: int, use: np.ndarray
              ) -> tuple[VoteModel, np.ndarray]:
    """One round of fit_vote_model on the votes where ``use``.

    Above ``_FIT_VOTES`` votes the logistic fits use every k-th comparison
    (all of its votes; deterministic), which still leaves each annotator
    thousands of votes at the 1M scale; tie rates use every vote.
    """
    known_m = (m1 >= 0) & (m2 >= 0)
    nt = use & (label < 2)
    notes: list[str] = []
    subsample: list[tuple[str, int, int]] = []
    if nt.sum() > _FIT_VOTES:
        n_before = int(nt.sum())
        k = int(np.ceil(n_before / _FIT_VOTES))
        nt &= comp % k == 0
        subsample.append(("vote model logistic fits", int(nt.sum()), n_before))
        notes.append(f"the null's strength and annotator fits used every {k}-th comparison: {int(nt.sum()):,} of "
                     f"{n_before:,} non-tie votes (more than {_FIT_VOTES:,}); tie rates use every vote")
    y = (label[nt] == 0).astype(np.float64)
    g_a, f, xx = ann[nt], flip_sign[nt], x[nt]
    mm1, mm2, km = np.maximum(m1[nt], 0), np.maximum(m2[nt], 0), known_m[nt]
    s = np.zeros(n_models)
    beta = np.zeros((n_ann, 3))
    converged = True
    s_converged = True
    a_vote = np.ones(len(y))
    for _ in range(2):  # alternate strengths and annotators
        if n_models > 1 and km.any():
            off = beta[g_a, 1] * f + beta[g_a, 2] * xx
            s, s_converged = _strength_fit(mm1[km], mm2[km], a_vote[km], off[km], y[km], n_models)
            sd = float(s.std())
            s = s / sd if sd > 0 else s
        gap = np.where(km, s[mm1] - s[mm2], 0.0)
        beta, converged = _group_logit(g_a, np.column_stack([gap, f, xx]), y, n_ann)
        a_vote = beta[g_a, 0]
    if not s_converged:
        notes.append("the null's model-strength fit stopped after 40 Newton steps without converging")
    if not converged:
        notes.append("the null's per-annotator logistic fits stopped after 40 Newton steps without converging")
    n_all = np.bincount(ann[use], minlength=n_ann).astype(np.float64)
    ties = np.bincount(ann[use], weights=(label[use] == 2).astype(np.float64), minlength=n_ann)
    tau = np.where(n_all > 0, (ties + 0.5) / (n_all + 1.0), 0.1)
    marginal = VoteModel(s, beta[:, 0], beta[:, 1], beta[:, 2], tau, 0.0, converged and s_converged)
    gap_all = np.where(known_m, s[np.maximum(m1, 0)] - s[np.maximum(m2, 0)], 0.0)
    sigma, post, sub = _mixture_sigma(marginal, ann, comp, label, flip_sign, x, gap_all, prompt_of_comp,
                                      n_prompts, use)
    if sub is not None:
        subsample.append(("comparison-effect SD (sigma)", sub[0], sub[1]))
        notes.append(f"the null's comparison-effect SD was fitted on every {sub[2]}-th prompt: {sub[0]:,} of "
                     f"{sub[1]:,} votes (more than {_SIGMA_FIT_VOTES:,})")
    return replace(_conditional(marginal, sigma), notes=tuple(notes), subsample=tuple(subsample)), post


def _conditional(m: VoteModel, sigma: float) -> VoteModel:
    """Undo the attenuation of the marginal fit for a shared comparison effect with SD ``sigma``."""
    shrink = np.minimum(_K_PROBIT * m.a**2 * sigma**2, _MAX_SHRINK)
    c = 1.0 / np.sqrt(1.0 - shrink)
    return VoteModel(m.strengths, m.a * c, m.p * c, m.length * c, m.tau, sigma, m.converged, m.n_nodes, m.notes,
                     m.subsample)


def _vote_probs(m: VoteModel, ann: np.ndarray, gap: np.ndarray, flip_sign: np.ndarray,
                x: np.ndarray, e: float) -> np.ndarray:
    eta = m.a[ann] * (gap + e) + m.p[ann] * flip_sign + m.length[ann] * x
    first = expit(eta)
    t = m.tau[ann]
    return np.column_stack([(1 - t) * first, (1 - t) * (1 - first), t])


def node_components(m: VoteModel, ann: np.ndarray, gap: np.ndarray, flip_sign: np.ndarray, x: np.ndarray,
                    n_comp: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The quadrature mixture of the null: (weight per comparison, vote probabilities) per node."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(m.n_nodes if m.sigma > 0 else 1)
    weights = weights / weights.sum()
    return [(np.full(n_comp, w), _vote_probs(m, ann, gap, flip_sign, x, m.sigma * node))
            for node, w in zip(nodes, weights)]  # a handful of nodes


def vote_moments(m: VoteModel, ann: np.ndarray, comp: np.ndarray, gap: np.ndarray, flip_sign: np.ndarray,
                 x: np.ndarray, n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    """Null mean and variance of the disagreeing vote pairs per comparison, mixed over ``e_c``."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(m.n_nodes if m.sigma > 0 else 1)
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


def _log_probs(m: VoteModel, ann: np.ndarray, label: np.ndarray, gap: np.ndarray, flip_sign: np.ndarray,
               x: np.ndarray, e: float) -> np.ndarray:
    """Log-probability of each observed vote given the comparison effect ``e``."""
    def col(v: np.ndarray) -> np.ndarray:
        return v[ann] if np.ndim(gap) == 1 else v[ann][:, None]

    eta = col(m.a) * (gap + e) + col(m.p) * flip_sign + col(m.length) * x
    lab = label if np.ndim(gap) == 1 else label[:, None]
    side = np.where(lab == 1, -eta, eta)
    t = col(m.tau)
    return np.where(lab == 2, np.log(t), np.log1p(-t) - np.logaddexp(0.0, -side))


def _prompt_loglik(m: VoteModel, ann: np.ndarray, comp: np.ndarray, label: np.ndarray, gap: np.ndarray,
                   flip_sign: np.ndarray, x: np.ndarray, n_comp: int, prompt_of_comp: np.ndarray,
                   n_prompts: int) -> np.ndarray:
    """Log-likelihood of each prompt's votes under ``m`` (comparison effects integrated out)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(m.n_nodes if m.sigma > 0 else 1)
    lp = _log_probs(m, ann, label, gap[:, None] + m.sigma * nodes[None, :], flip_sign[:, None], x[:, None], 0.0)
    k = len(nodes)
    per_node = np.bincount((comp[:, None] * k + np.arange(k)[None, :]).ravel(), weights=lp.ravel(),
                           minlength=n_comp * k).reshape(n_comp, k)
    ll_comp = np.logaddexp.reduce(per_node + np.log(weights / weights.sum())[None, :], axis=1)
    return np.bincount(prompt_of_comp, weights=ll_comp, minlength=n_prompts)


def _mixture_sigma(marginal: VoteModel, ann: np.ndarray, comp: np.ndarray, label: np.ndarray,
                   flip_sign: np.ndarray, x: np.ndarray, gap: np.ndarray, prompt_of_comp: np.ndarray,
                   n_prompts: int, use: np.ndarray) -> tuple[float, np.ndarray, tuple[int, int, int] | None]:
    """``sigma`` by maximum likelihood of a two-class prompt mixture, and each prompt's posterior of 'split'.

    A prompt is, with probability ``pi``, one whose votes ignore the quality
    gap (``a_i = 0``) and otherwise follows the null with comparison SD
    ``sigma``. Fitting both keeps a few genuinely split prompts from
    inflating ``sigma`` (which would make every split look expected). On a
    deterministic subsample of prompts (every k-th) when the data are large;
    then also returns ``(votes used, votes available, k)``, else None.
    """
    take = use.copy()
    sub = None
    if take.sum() > _SIGMA_FIT_VOTES:
        n_before = int(take.sum())
        k = int(np.ceil(n_before / _SIGMA_FIT_VOTES))
        take &= prompt_of_comp[comp] % k == 0
        sub = (int(take.sum()), n_before, k)
    a, lab, f, xx, g = ann[take], label[take], flip_sign[take], x[take], gap[take]
    kept, c = np.unique(comp[take], return_inverse=True)  # the subsample's comparisons, renumbered
    n_comp = len(kept)
    kept_prompt, pr = np.unique(prompt_of_comp[kept], return_inverse=True)
    n_kept = len(kept_prompt)
    blind = VoteModel(marginal.strengths, np.zeros_like(marginal.a), marginal.p, marginal.length, marginal.tau,
                      0.0, marginal.converged)
    ll1 = _prompt_loglik(blind, a, c, lab, g, f, xx, n_comp, pr, n_kept)
    has = np.ones(n_kept, dtype=bool)

    def fit(sigma: float) -> tuple[float, float, np.ndarray]:
        ll0 = _prompt_loglik(_conditional(marginal, sigma), a, c, lab, g, f, xx, n_comp, pr, n_kept)[has]
        pi = 0.05
        for _ in range(50):  # EM on the mixing share only: two fixed likelihood vectors
            r = expit(np.log(pi) + ll1[has] - np.log1p(-pi) - ll0)
            pi = float(np.clip(r.mean(), 1e-4, 0.5))
        total = float(np.logaddexp(np.log1p(-pi) + ll0, np.log(pi) + ll1[has]).sum())
        return total, pi, r

    a_typ = float(np.median(np.abs(marginal.a[np.bincount(ann[use], minlength=len(marginal.a)) > 0])))
    hi = np.sqrt(_MAX_SHRINK / _K_PROBIT) / max(a_typ, 1e-3)
    grid = np.linspace(0.0, hi, 7)
    scores = [fit(sg)[0] for sg in grid]  # coarse grid, then golden-section refinement
    best = int(np.argmax(scores))
    lo, up = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    golden = (np.sqrt(5.0) - 1.0) / 2.0
    m1, m2 = up - golden * (up - lo), lo + golden * (up - lo)
    f1, f2 = fit(m1)[0], fit(m2)[0]
    for _ in range(10):  # one new evaluation per step
        if f1 >= f2:
            up, m2, f2 = m2, m1, f1
            m1 = up - golden * (up - lo)
            f1 = fit(m1)[0]
        else:
            lo, m1, f1 = m1, m2, f2
            m2 = lo + golden * (up - lo)
            f2 = fit(m2)[0]
    sigma = 0.5 * (lo + up)
    post = np.zeros(n_prompts)
    post[kept_prompt] = fit(sigma)[2]
    return float(sigma), post, sub


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
    blind = VoteModel(m.strengths, np.zeros_like(m.a), m.p, m.length, m.tau, 0.0, m.converged)
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
    base = m.a[ann] * gap + m.p[ann] * flip_sign + m.length[ann] * x
    t = m.tau[ann]
    out = np.empty((n_resamples, n_groups))
    for b in range(n_resamples):  # resamples; each one is vectorized over votes
        e = rng.normal(0.0, m.sigma, n_comp)
        first = expit(base + m.a[ann] * e[comp])
        u = rng.random(len(comp))
        lab = np.where(u < t, 2, np.where(u < t + (1 - t) * first, 0, 1))
        counts = np.bincount(comp * 3 + lab, minlength=n_comp * 3).reshape(n_comp, 3)
        dis = pairs - (counts * (counts - 1) / 2).sum(axis=1)
        out[b] = np.bincount(group, weights=weight * dis, minlength=n_groups)
    return out
