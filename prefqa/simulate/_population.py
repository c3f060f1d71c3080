"""Population values of the simulator's headline quantities, by quadrature.

What "population value" means here
----------------------------------
The analyses estimate quantities such as P(first shown chosen) or the
position logit of a logistic fit with model strengths. When annotators and
comparisons differ, the value such an estimator converges to is a
*marginal* one: the average over the annotators' random effects and the
comparisons' random draws. This module computes it for the design that
:func:`~prefqa.simulate.simulate` generated, conditional on what an analyst
observes (which models were compared, the response lengths, the display
orders, which annotator judged what) and integrating over every latent draw:

* ``marginal``: the annotators' accuracy (uniform on ``accuracy_range``),
  position deviation (``N(0, position_sd)``) and length-slope deviation
  (``N(0, length_slope_sd)``), each response's quality around its model's
  strength (``N(0, response_sd)``), the comparison effect
  (``N(0, comparison_sd)``), the personal sides on ambiguous prompts, and
  the logistic noise;
* ``fixed annotators``: the same, but with every annotator's accuracy,
  deviations and personal sides held at their drawn values (the estimand
  when the few annotators at hand are the population of interest).

The integral over the annotator's accuracy uses 8-point Gauss-Legendre
nodes, the one over the Gaussian part of the logit (its variance adds up the
independent normal terms) 40-point Gauss-Hermite nodes: for logit SDs up to
2 the absolute error of each probability is below 1e-7 (measured against
64 x 16 nodes; the tests check the values against an independent Monte
Carlo), far below 1% of any standard error at the sample sizes the
simulator produces. About 15 microseconds per judgment. Logistic fits and the Davidson
Bradley-Terry fit are then solved exactly on the expected outcome counts
(the pseudo-true values of the misspecified models), by Newton steps to
1e-12.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

__all__ = ["JudgmentDesign", "judgment_probabilities", "population_alpha", "population_logit", "population_values"]

_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
_CHUNK = 4096


@dataclass(frozen=True, eq=False)
class JudgmentDesign:
    """What the population computation needs, one entry per judgment."""

    kind: np.ndarray            # 0 eta-driven, 1 spammer, 2 always-a
    ann: np.ndarray             # annotator code
    model_a: np.ndarray         # model code shown first
    model_b: np.ndarray
    strength_diff: np.ndarray   # strength[model_a] - strength[model_b]
    ambiguous: np.ndarray       # bool
    personal: np.ndarray        # drawn personal term on ambiguous prompts (displayed orientation), else 0
    x: np.ndarray               # tanh length covariate
    len_a: np.ndarray
    len_b: np.ndarray
    planted_offset: np.ndarray  # position_effect + planted extra position + (length_effect + planted slope) * x
    accuracy: np.ndarray        # per annotator (drawn)
    position_dev: np.ndarray    # per annotator (drawn random part)
    slope_dev: np.ndarray       # per annotator (drawn random part)
    accuracy_range: tuple[float, float]
    position_sd: float
    length_slope_sd: float
    comparison_sd: float
    response_sd: float
    tie_threshold: float
    n_models: int
    comp: np.ndarray | None = None         # comparison code per judgment
    first_shown: np.ndarray | None = None  # the comparison's first response was shown as a


def _gauss_expect(mean: np.ndarray, sd: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """``E expit(eta - t)`` and ``E expit(-eta - t)`` for ``eta ~ N(mean, sd^2)``; leading axes kept."""
    eta = mean[..., None] + sd[..., None] * _GH_NODES
    return expit(eta - t) @ _GH_WEIGHTS, expit(-eta - t) @ _GH_WEIGHTS


def _probabilities(d: JudgmentDesign, fixed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per judgment: P(a) and P(b), marginal or with the annotators fixed."""
    n = len(d.kind)
    pa, pb = np.empty(n), np.empty(n)
    t = d.tie_threshold
    q_var = 2.0 * d.response_sd**2
    lo, hi = d.accuracy_range
    acc_nodes = (hi - lo) / 2.0 * _GL_NODES + (hi + lo) / 2.0
    acc_w = _GL_WEIGHTS / 2.0
    for s in range(0, n, _CHUNK):
        sl = slice(s, min(n, s + _CHUNK))
        off, x, mu, amb = d.planted_offset[sl], d.x[sl], d.strength_diff[sl], d.ambiguous[sl]
        if fixed:
            acc = d.accuracy[d.ann[sl]]
            mean = off + d.position_dev[d.ann[sl]] + d.slope_dev[d.ann[sl]] * x
            mean_q = np.where(amb, d.personal[sl], acc * mu)
            sd = np.sqrt(np.where(amb, 0.0, acc**2 * q_var + d.comparison_sd**2))  # personal side replaces both
            a, b = _gauss_expect(mean + mean_q, sd, t)
        else:
            extra = d.position_sd**2 + d.length_slope_sd**2 * x**2 + d.comparison_sd**2
            # quality term: acc * (mu + noise), acc uniform -> Gauss-Legendre over acc
            m = off[:, None] + acc_nodes[None, :] * mu[:, None]
            sd = np.sqrt(acc_nodes[None, :] ** 2 * q_var + extra[:, None])
            qa, qb = _gauss_expect(m, sd, t)
            qa, qb = qa @ acc_w, qb @ acc_w
            # ambiguous prompts: personal side +-2 with equal chance, no quality or comparison term
            sd0 = np.sqrt(extra - d.comparison_sd**2)
            pa_p, pb_p = _gauss_expect(off + 2.0, sd0, t)
            pa_m, pb_m = _gauss_expect(off - 2.0, sd0, t)
            a = np.where(amb, (pa_p + pa_m) / 2.0, qa)
            b = np.where(amb, (pb_p + pb_m) / 2.0, qb)
        kind = d.kind[sl]
        pa[sl] = np.where(kind == 1, 0.45, np.where(kind == 2, 1.0, a))
        pb[sl] = np.where(kind == 1, 0.45, np.where(kind == 2, 0.0, b))
    return pa, pb


def judgment_probabilities(d: JudgmentDesign, fixed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per judgment (in the judgments' row order): population P(a) and P(b) (module notes)."""
    return _probabilities(d, fixed)


def population_logit(X: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Pseudo-true coefficients of a logistic fit of "a chosen" on the non-tie judgments.

    Rows of ``X`` with a non-finite value are left out, as the analyses
    leave out judgments with a missing covariate. NaN when the expected
    information is singular.
    """
    X = np.asarray(X, dtype=np.float64)
    keep = np.isfinite(X).all(axis=1)
    return _weighted_logit(X[keep], pa[keep], (pa + pb)[keep])


def _weighted_logit(X: np.ndarray, success: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Pseudo-true logistic coefficients: solve ``X' (success - trials * expit(X b)) = 0``."""
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        p = expit(X @ beta)
        grad = X.T @ (success - trials * p)
        hess = (X * (trials * p * (1.0 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return np.full(X.shape[1], np.nan)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12:
            return beta
    return np.full(X.shape[1], np.nan)


def _model_columns(d: JudgmentDesign) -> np.ndarray:
    n, k = len(d.kind), d.n_models
    mat = np.zeros((n, k))
    rows = np.arange(n)
    mat[rows, d.model_a] += 1.0
    mat[rows, d.model_b] -= 1.0
    return mat[:, 1:]


def _davidson(d: JudgmentDesign, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Pseudo-true centred log-strengths of the Davidson Bradley-Terry model over models."""
    k = d.n_models
    key = d.model_a * k + d.model_b
    counts = np.column_stack([np.bincount(key, weights=w, minlength=k * k) for w in (pa, pb, 1.0 - pa - pb)])
    keep = counts.sum(axis=1) > 0
    i, j = np.divmod(np.flatnonzero(keep), k)
    c = counts[keep]
    D = np.zeros((len(i), k))
    D[np.arange(len(i)), i] += 1.0
    D[np.arange(len(i)), j] -= 1.0
    D = np.column_stack([D[:, 1:], np.zeros(len(i))])  # s_0 = 0; last column: log nu
    theta = np.zeros(k)
    tot = c.sum(axis=1)
    for _ in range(200):
        dlin = D[:, :-1] @ theta[:-1]
        nu = np.exp(theta[-1])
        e1, e2 = np.exp(dlin / 2.0), np.exp(-dlin / 2.0)
        den = e1 + e2 + nu
        p_i, p_j, p_t = e1 / den, e2 / den, nu / den
        m = (p_i - p_j) / 2.0
        g_d = (c[:, 0] - c[:, 1]) / 2.0 - tot * m
        g_t = c[:, 2] - tot * p_t
        grad = np.concatenate([D[:, :-1].T @ g_d, [g_t.sum()]])
        h_dd = tot * ((1.0 - p_t) / 4.0 - m**2)
        h_dt = -tot * m * p_t
        h_tt = tot * p_t * (1.0 - p_t)
        H = np.zeros((k, k))
        H[:-1, :-1] = (D[:, :-1] * h_dd[:, None]).T @ D[:, :-1]
        H[:-1, -1] = H[-1, :-1] = D[:, :-1].T @ h_dt
        H[-1, -1] = h_tt.sum()
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            return np.full(k, np.nan)
        theta = theta + step
        if np.max(np.abs(step)) < 1e-12:
            s = np.concatenate([[0.0], theta[:-1]])
            return s - s.mean()
    return np.full(k, np.nan)


def _clear_difference(a: np.ndarray, b: np.ndarray, min_difference: float) -> np.ndarray:
    longest = np.maximum(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(a - b) / np.where(longest > 0, longest, 1.0)
    return (a != b) & (rel > min_difference)


def population_values(d: JudgmentDesign, pa: np.ndarray, pb: np.ndarray, models: pd.Index, *, fixed: bool,
                      min_difference: float = 0.1) -> tuple[pd.Series, pd.Series]:
    """Headline population values and Davidson BT strengths from :func:`judgment_probabilities`."""
    decided = pa + pb
    longer_a = d.len_a > d.len_b
    trial = _clear_difference(d.len_a.astype(float), d.len_b.astype(float), min_difference)
    p_longer = np.where(longer_a, pa, pb)
    mcols = _model_columns(d)
    ones = np.ones(len(pa))
    pos = _weighted_logit(np.column_stack([ones, mcols]), pa, decided)
    slope = _weighted_logit(np.column_stack([ones, d.x, mcols]), pa, decided)
    headline = pd.Series({
        "p_choose_a": float(pa.sum() / decided.sum()),
        "position_logit": float(pos[0]),
        "p_longer_chosen": float(p_longer[trial].sum() / decided[trial].sum()) if trial.any() else np.nan,
        "length_slope": float(slope[1]),
        "p_tie": float(1.0 - decided.mean()),
    }, name="fixed_annotators" if fixed else "population")
    strengths = pd.Series(_davidson(d, pa, pb), index=models, name="strength")
    return headline, strengths


_ALPHA_LATENT = np.polynomial.hermite_e.hermegauss(8)  # per comparison: quality noise and comparison effect
_ALPHA_INNER = np.polynomial.hermite_e.hermegauss(12)  # per judgment: the annotator's Gaussian terms


def population_alpha(d: JudgmentDesign, *, fixed: bool) -> float:
    """Population Krippendorff alpha (nominal) of the oriented choices, chance agreement symmetrised.

    Labels are the chosen response (first or second of the comparison) or
    a tie. Judgments of one comparison share its quality noise and
    comparison effect, so the expected disagreement integrates a product of
    per-judgment probabilities over those shared draws (8 x 8 Gauss-Hermite
    nodes), each probability integrated over the annotator's own draws as in
    :func:`judgment_probabilities` (12 nodes; within 1e-8 of 12 x 12 x 20
    nodes on the calibration designs). The expected
    chance disagreement is ``1 - sum(pi_k^2)`` with ``pi_first = pi_second``
    (the orientation-free convention of ``pq.agreement``). Returns NaN when
    the design has repeats by one annotator in the marginal version (their
    shared annotator draws are not modelled), or ambiguous prompts.
    """
    if d.comp is None or d.first_shown is None or d.ambiguous.any():
        return float("nan")
    comp = d.comp
    n_comp = int(comp.max()) + 1 if len(comp) else 0
    if not fixed:
        key = comp * (int(d.ann.max()) + 1) + d.ann
        if len(np.unique(key)) < len(key):
            return float("nan")
    m = np.bincount(comp, minlength=n_comp).astype(np.float64)
    pairable = (m >= 2)[comp]
    sign = np.where(d.first_shown, 1.0, -1.0)
    t = d.tie_threshold
    lat_x, lat_w = _ALPHA_LATENT
    lat_w = lat_w / lat_w.sum()
    in_x, in_w = _ALPHA_INNER
    in_w = in_w / in_w.sum()
    e_sd, u_sd = np.sqrt(2.0) * d.response_sd, d.comparison_sd
    lo, hi = d.accuracy_range
    acc_nodes = (hi - lo) / 2.0 * _GL_NODES + (hi + lo) / 2.0
    acc_w = _GL_WEIGHTS / 2.0
    if fixed:
        acc = d.accuracy[d.ann][:, None]
        base = (d.planted_offset + d.position_dev[d.ann] + d.slope_dev[d.ann] * d.x)[:, None]
        g_sd = np.zeros((len(comp), 1))
        a_w = np.ones(1)
    else:
        acc = np.broadcast_to(acc_nodes, (len(comp), len(acc_nodes)))
        base = d.planted_offset[:, None]
        g_sd = np.sqrt(d.position_sd**2 + d.length_slope_sd**2 * d.x**2)[:, None]
        a_w = acc_w
    agree = np.zeros(n_comp)
    p_tie = np.zeros(len(comp))
    for ei, ew in zip(lat_x, lat_w):
        for ui, uw in zip(lat_x, lat_w):
            if (e_sd == 0 and ei != lat_x[0]) or (u_sd == 0 and ui != lat_x[0]):
                continue
            we = 1.0 if e_sd == 0 else ew
            wu = 1.0 if u_sd == 0 else uw
            # displayed logit given the shared draws, per judgment x accuracy node, then the inner Gaussian
            mean = base + acc * (d.strength_diff[:, None] + sign[:, None] * e_sd * ei) + sign[:, None] * u_sd * ui
            eta = mean[..., None] + g_sd[..., None] * in_x
            pa = (expit(eta - t) @ in_w) @ a_w
            pb = (expit(-eta - t) @ in_w) @ a_w
            kind = d.kind
            pa = np.where(kind == 1, 0.45, np.where(kind == 2, 1.0, pa))
            pb = np.where(kind == 1, 0.45, np.where(kind == 2, 0.0, pb))
            first = np.where(sign > 0, pa, pb)
            second = np.where(sign > 0, pb, pa)
            tie = 1.0 - pa - pb
            pairs = np.zeros(n_comp)
            for p in (first, second, tie):
                s = np.bincount(comp, weights=p, minlength=n_comp)
                q = np.bincount(comp, weights=p * p, minlength=n_comp)
                pairs += s * s - q
            agree += we * wu * pairs
            p_tie += we * wu * tie
    ok = m >= 2
    n = m[ok].sum()
    d_obs = float(((m[ok] * (m[ok] - 1) - agree[ok]) / (m[ok] - 1)).sum() / n)
    pi_tie = float(p_tie[pairable].mean())
    d_exp = 1.0 - (2.0 * ((1.0 - pi_tie) / 2.0) ** 2 + pi_tie**2)
    return 1.0 - d_obs / d_exp
