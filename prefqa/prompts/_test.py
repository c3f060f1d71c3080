"""The per-prompt test of ``flag_prompts``: weighted disagreement against a fitted null, per comparison.

Two nulls, chosen by what the data carry:

* ``'vote model'`` (judgments name models): :mod:`._votes`. Each vote
  follows the annotator's fitted discrimination, position pull, length slope
  and tie rate, applied to the model-strength gap of the comparison plus a
  shared comparison effect. A split is surprising where the models are far
  apart and the annotators reliable.
* ``'competence'`` (no models): the one-coin model of :mod:`._onecoin`; each
  comparison has one true label and every annotator votes it with its own
  competence. Its confusion matrices are fitted twice: on all judgments, then
  without the prompts whose first-pass p-value is below 0.05.

In both, comparison c gets the weight ``(mu1_c - mu0_c) / v0_c`` (null mean
``mu0_c`` and variance ``v0_c`` of its disagreeing vote pairs; ``mu1_c`` the
mean when the votes ignore which response is better), the prompt statistic
is ``S = sum_c w_c D_c`` (comparisons are independent under the null);
the weights are rounded to integers 0..16 relative to the prompt's largest
(any design-fixed weights give a valid test), so ``S`` lives on a lattice.
The p-value is ``P(S >= s)`` under the null, from the exact per-comparison
null distributions (:mod:`._saddle`): the normal tail of the exact mean
and variance first, the Lugannani-Rice saddlepoint for the prompts where
that is below 0.2, and the exact lattice tail (FFT product of the
comparisons' polynomials) where the saddlepoint is below 0.2. With
``n_resamples > 0`` a parametric bootstrap from the fitted null instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..engine import ScannedData
from ..engine.reductions.bias import JudgmentCodes, judgment_codes
from ..schema import PreferenceData
from ._null import disagreement_moments, simulate_disagreement
from ._onecoin import N_LABELS, ds_posterior, fit_one_coin
from ._saddle import disagreement_pmf, exact_sf, integer_weights, saddlepoint_sf
from ._votes import (
    VoteModel,
    fit_vote_model,
    node_components,
    prompt_test,
    simulate_weighted,
)

__all__ = ["PromptNull", "run_null"]

_CANDIDATE_P = 0.2  # prompts whose saddlepoint p-value is below this get the exact tail
_SADDLE_P = 0.2     # prompts whose normal-approximation p-value is below this get the saddlepoint
_POOLED_NODES = 3


@dataclass(frozen=True)
class PromptNull:
    """p-values and expected disagreeing pairs per prompt, against the annotators' own and a typical annotator."""

    p_value: np.ndarray
    p_value_pooled: np.ndarray
    expected: np.ndarray
    expected_pooled: np.ndarray
    name: str
    converged: bool
    details: dict


def _p_value(components: list, v: _Votes, w: np.ndarray, mean0: np.ndarray, var0: np.ndarray,
             prompt: np.ndarray, n_prompts: int) -> np.ndarray:
    """p-values of the (integer-)weighted disagreement per prompt.

    Every prompt first gets the normal tail of its exact mean and variance;
    those below ``_SADDLE_P`` (and above their null mean) then get the
    saddlepoint tail on the exact per-comparison laws, and the exact lattice
    tail when that is below ``_CANDIDATE_P``. So p-values above about 0.2
    (never a flag) are normal approximations.
    """
    grp = _group(prompt, n_prompts)
    n_g = n_prompts + 1
    stat = np.bincount(grp, weights=w * v.disagree, minlength=n_g)
    mean = np.bincount(grp, weights=w * mean0, minlength=n_g)
    var = np.bincount(grp, weights=w * w * var0, minlength=n_g)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(var > 1e-12, stats.norm.sf((stat - mean) / np.sqrt(var)), 1.0)
    above = np.flatnonzero((stat > mean + 1e-9) & (var > 1e-12) & (p < _SADDLE_P))
    if not len(above):
        return p[:n_prompts]
    # the comparisons and votes of those prompts only, renumbered
    sel_c = np.flatnonzero(np.isin(grp, above) & (w > 0))
    new_c = np.full(v.n_comp, -1)
    new_c[sel_c] = np.arange(len(sel_c))
    votes = new_c[v.comp] >= 0
    sub_comp = new_c[v.comp[votes]]
    pmf, exact = disagreement_pmf([(cw[sel_c], probs[votes]) for cw, probs in components], sub_comp, len(sel_c))
    used = max(int(np.flatnonzero(pmf.any(axis=0)).max(initial=0)) + 1, 2)
    pmf = pmf[:, :used]
    new_g = np.full(n_g, -1)
    new_g[above] = np.arange(len(above))
    g_sub = new_g[grp[sel_c]]
    w_sub = w[sel_c]
    p_sub = saddlepoint_sf(stat[above], w_sub.astype(np.float64), pmf, exact, mean0[sel_c], var0[sel_c], g_sub,
                           len(above))
    inexact = np.bincount(g_sub[~exact], minlength=len(above)) > 0
    cand = np.flatnonzero((p_sub < _CANDIDATE_P) & ~inexact)
    p_exact, done = exact_sf(stat[above], w_sub, pmf, g_sub, cand)
    p_sub[cand[done]] = p_exact[done]
    p[above] = p_sub
    return p[:n_prompts]


def _p_boot(sims: np.ndarray, stat: np.ndarray) -> np.ndarray:
    return (1.0 + (sims >= stat[None, :] - 1e-9).sum(axis=0)) / (1.0 + sims.shape[0])


class _Votes:
    """Per-vote codes shared by both nulls."""

    def __init__(self, data: PreferenceData | JudgmentCodes) -> None:
        self.comp, labels = data.codes("comparison_id")
        self.n_comp = len(labels)
        self.label = data.oriented_choice().astype(np.int64)
        a_codes, a_labels = data.codes("annotator_id")
        self.n_ann = len(a_labels) + 1  # judgments without an annotator share one pseudo-annotator
        self.ann = np.where(a_codes >= 0, a_codes, self.n_ann - 1)
        counts = np.bincount(self.comp * N_LABELS + self.label,
                             minlength=self.n_comp * N_LABELS).reshape(self.n_comp, N_LABELS).astype(np.float64)
        votes = counts.sum(axis=1)
        self.disagree = votes * (votes - 1) / 2 - (counts * (counts - 1) / 2).sum(axis=1)


def run_null(data: PreferenceData | ScannedData, v: _Votes, prompt: np.ndarray, n_prompts: int, tested: np.ndarray,
             n_resamples: int, rng: np.random.Generator) -> PromptNull:
    """Dispatch to the vote-model null (models known) or the competence null."""
    codes = judgment_codes(data)
    if codes.has_models:
        ma, mb, mlabels = codes.model_codes()
        if len(mlabels) >= 2:
            return _vote_null(data, v, prompt, n_prompts, ma, mb, len(mlabels), n_resamples, rng)
    return _competence_null(v, prompt, n_prompts, tested, n_resamples, rng)


def _per_prompt(prompt: np.ndarray, n_prompts: int, w: np.ndarray) -> np.ndarray:
    ok = prompt >= 0
    return np.bincount(prompt[ok], weights=w[ok], minlength=n_prompts)


def _group(prompt: np.ndarray, n_prompts: int) -> np.ndarray:
    """Comparisons without a prompt go to an extra group that the caller drops."""
    return np.where(prompt >= 0, prompt, n_prompts)


def _vote_null(data: PreferenceData | ScannedData, v: _Votes, prompt: np.ndarray, n_prompts: int, ma: np.ndarray,
               mb: np.ndarray, n_models: int, n_resamples: int, rng: np.random.Generator) -> PromptNull:
    flipped = judgment_codes(data).flipped()
    sign = np.where(flipped, -1.0, 1.0)
    x = np.zeros(len(sign))
    if judgment_codes(data).has_texts:
        from ..bias._lengths import judgment_covariates

        x = np.nan_to_num(judgment_covariates(data, ["length"])["length"]) * sign
    m1, m2 = np.where(flipped, mb, ma), np.where(flipped, ma, mb)
    fit = fit_vote_model(v.ann, v.comp, v.label, sign, x, m1, m2, v.n_ann, n_models, _group(prompt, n_prompts),
                         n_prompts + 1)
    known = (m1 >= 0) & (m2 >= 0)
    gap = np.where(known, fit.strengths[np.maximum(m1, 0)] - fit.strengths[np.maximum(m2, 0)], 0.0)
    active = np.bincount(v.ann, minlength=v.n_ann) > 0

    def typical(values: np.ndarray) -> np.ndarray:
        return np.full(v.n_ann, float(np.median(values[active])))

    # the typical annotator only separates 'noisy' from unremarkable prompts: 3 quadrature nodes suffice
    pooled = VoteModel(fit.strengths, typical(fit.a), typical(fit.p), typical(fit.length), typical(fit.tau),
                       fit.sigma, fit.converged, n_nodes=_POOLED_NODES)
    p_out, e_out = [], []
    for model in (fit, pooled):  # own annotators, then the typical annotator
        w_raw, mean0, var0 = prompt_test(model, v.ann, v.comp, gap, sign, x, v.n_comp)
        w = integer_weights(w_raw, _group(prompt, n_prompts), n_prompts + 1)
        stat = _per_prompt(prompt, n_prompts, w * v.disagree)
        if n_resamples > 0:
            sims = simulate_weighted(model, v.ann, v.comp, gap, sign, x, v.n_comp, w, _group(prompt, n_prompts),
                                     n_prompts + 1, n_resamples, rng)[:, :n_prompts]
            p_out.append(_p_boot(sims, stat))
        else:
            comps = node_components(model, v.ann, gap, sign, x, v.n_comp)
            p_out.append(_p_value(comps, v, w, mean0, var0, prompt, n_prompts))
        e_out.append(_per_prompt(prompt, n_prompts, mean0))
    details = {"sigma": fit.sigma, "strengths": fit.strengths, "notes": fit.notes, "subsample": fit.subsample}
    return PromptNull(p_out[0], p_out[1], e_out[0], e_out[1], "vote model", fit.converged, details)


def _competence_null(v: _Votes, prompt: np.ndarray, n_prompts: int, tested: np.ndarray, n_resamples: int,
                     rng: np.random.Generator) -> PromptNull:
    L = N_LABELS
    shares = np.bincount(v.ann * L + v.label, minlength=v.n_ann * L).reshape(v.n_ann, L) + 0.5
    blind = np.broadcast_to((shares / shares.sum(axis=1, keepdims=True))[:, None, :], (v.n_ann, L, L))

    def test(conf: np.ndarray, post: np.ndarray, boot: bool) -> tuple[np.ndarray, np.ndarray]:
        mean0, var0 = disagreement_moments(conf, post, v.ann, v.comp, v.n_comp)
        mean1, _ = disagreement_moments(blind, post, v.ann, v.comp, v.n_comp)
        with np.errstate(divide="ignore", invalid="ignore"):
            w_raw = np.where(var0 > 1e-12, np.clip((mean1 - mean0) / var0, 0.0, None), 0.0)
        w = integer_weights(w_raw, _group(prompt, n_prompts), n_prompts + 1)
        stat = _per_prompt(prompt, n_prompts, w * v.disagree)
        expected = _per_prompt(prompt, n_prompts, mean0)
        if boot:
            sims = simulate_disagreement(conf, post, v.ann, v.comp, v.n_comp, _group(prompt, n_prompts),
                                         n_prompts + 1, n_resamples, rng, weights=w)[:, :n_prompts]
            return _p_boot(sims, stat), expected
        comps = [(post[:, z], conf[v.ann, z, :]) for z in range(L)]
        return _p_value(comps, v, w, mean0, var0, prompt, n_prompts), expected

    fit = fit_one_coin(v.ann, v.comp, v.label, v.n_ann, v.n_comp)
    conf, post = fit.confusion, fit.posterior
    notes, subsample = list(fit.notes), list(fit.subsample)
    p_first, _ = test(conf, post, False)
    suspect = (np.where(tested, p_first, 1.0) < 0.05)[np.maximum(prompt, 0)] & (prompt >= 0)
    clean = ~suspect[v.comp]
    if suspect.any() and clean.any():
        clean_comp, sub = np.unique(v.comp[clean], return_inverse=True)
        refit = fit_one_coin(v.ann[clean], sub, v.label[clean], v.n_ann, len(clean_comp))
        notes.extend(refit.notes)
        subsample.extend(refit.subsample)
        conf = refit.confusion
        post = ds_posterior(conf, refit.prior, v.ann, v.comp, v.label, v.n_comp)
    active = np.bincount(v.ann, minlength=v.n_ann) > 0
    typical = np.median(conf[active], axis=0)
    typical = typical / typical.sum(axis=1, keepdims=True)
    p_val, exp_own = test(conf, post, n_resamples > 0)
    p_pool, exp_pool = test(np.broadcast_to(typical, conf.shape), post, n_resamples > 0)
    details = {"notes": tuple(dict.fromkeys(notes)), "subsample": tuple(dict.fromkeys(subsample))}
    return PromptNull(p_val, p_pool, exp_own, exp_pool, "competence", fit.converged, details)
