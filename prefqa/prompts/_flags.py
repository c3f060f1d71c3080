"""``flag_prompts``: prompts whose annotators disagree more than their reliability explains."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from .._types import RngLike, as_generator
from ..annotators._stats import N_LABELS, bh, ds_posterior, fit_em
from ..errors import SchemaError
from ..schema import PreferenceData
from ._minhash import duplicate_groups
from ._null import disagreement_moments, simulate_disagreement

__all__ = ["flag_prompts"]


def _validate(data: Any, min_judgments: int, fdr: float, n_resamples: int, duplicate_threshold: float) -> None:
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData; got {type(data).__name__}. Load it with pq.read(...).")
    if "prompt_id" not in data.judgments:
        raise SchemaError(
            "flag_prompts needs a `prompt_id` column in the judgments; found "
            f"{list(data.judgments.columns)}. Map your prompt column with mapping={{'<your column>': 'prompt_id'}}."
        )
    if isinstance(min_judgments, bool) or not isinstance(min_judgments, (int, np.integer)) or min_judgments < 2:
        raise SchemaError(f"`min_judgments` must be an integer >= 2; got {min_judgments!r}.")
    if not 0 < fdr < 1:
        raise SchemaError(f"`fdr` is a false discovery rate in (0, 1); got {fdr!r}.")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0:
        raise SchemaError(f"`n_resamples` must be a non-negative integer (0 = exact moments); got {n_resamples!r}.")
    if not 0 < duplicate_threshold <= 1:
        raise SchemaError(f"`duplicate_threshold` is a Jaccard similarity in (0, 1]; got {duplicate_threshold!r}.")


def _betabinom_sf(s: np.ndarray, n: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """P(S >= s) for a beta-binomial on ``n`` trials matched to ``mean`` and ``var``.

    Falls back to the binomial when the null is not over-dispersed.
    """
    p = np.clip(mean / np.maximum(n, 1), 1e-9, 1 - 1e-9)
    bin_var = n * p * (1 - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (var / bin_var - 1.0) / np.maximum(n - 1, 1)
    out = np.full(len(s), np.nan)
    over = np.isfinite(rho) & (rho > 1e-6) & (n > 1)
    k = np.ceil(s - 1e-9) - 1  # P(S >= s) = sf(ceil(s) - 1)
    if over.any():
        r = np.minimum(rho[over], 1 - 1e-6)
        ab = 1.0 / r - 1.0
        out[over] = _betabinom_tail(k[over] + 1, n[over], p[over] * ab, (1 - p[over]) * ab)
    out[~over] = stats.binom.sf(k[~over], n[~over], p[~over])
    return out


def _betabinom_tail(s: np.ndarray, n: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(X >= s) for X ~ BetaBinomial(n, a, b), vectorized per distinct ``n`` (scipy's sf loops per element).

    Examples
    --------
    >>> round(float(_betabinom_tail(np.array([3.0]), np.array([9.0]), np.array([0.5]), np.array([2.0]))[0]), 6)
    0.290567
    >>> round(float(stats.betabinom.sf(2, 9, 0.5, 2.0)), 6)
    0.290567
    """
    out = np.ones(len(s))
    nn = np.round(n).astype(np.int64)
    for value in np.unique(nn):  # distinct numbers of vote pairs: a handful
        m = nn == value
        grid = np.arange(value + 1, dtype=np.float64)
        am, bm = a[m][:, None], b[m][:, None]
        logpmf = (special.gammaln(value + 1) - special.gammaln(grid + 1) - special.gammaln(value - grid + 1)
                  + special.betaln(grid + am, value - grid + bm) - special.betaln(am, bm))
        pmf = np.exp(logpmf)
        tail = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # tail[:, k] = P(X >= k)
        idx = np.clip(s[m], 0, value + 1).astype(np.int64)
        padded = np.concatenate([tail, np.zeros((tail.shape[0], 1))], axis=1)
        out[m] = np.clip(padded[np.arange(m.sum()), idx], 0.0, 1.0)
    return out


def _entropy_bits(counts: np.ndarray) -> np.ndarray:
    tot = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(tot > 0, counts / tot, 0.0)
        ent = -np.where(share > 0, share * np.log2(share), 0.0).sum(axis=1)
    return ent


def _score_variance(data: PreferenceData, prompt_labels: pd.Index) -> np.ndarray:
    """Mean over a prompt's responses of the across-rater score variance (ddof 1), from ``ratings``."""
    out = np.full(len(prompt_labels), np.nan)
    r = data.ratings
    if r is None or not len(r):
        return out
    if "prompt_id" in r:
        prompt = r["prompt_id"]
    elif len(data.responses):
        prompt = r["response_id"].map(data.responses.set_index("response_id")["prompt_id"])
    else:
        return out
    resp, _ = pd.factorize(r["response_id"])
    s = r["score"].to_numpy(dtype=np.float64)
    cnt = np.bincount(resp).astype(np.float64)
    mean = np.bincount(resp, weights=s) / cnt
    ss = np.bincount(resp, weights=(s - mean[resp]) ** 2)
    var = np.where(cnt >= 2, ss / np.maximum(cnt - 1, 1), np.nan)
    first = pd.Series(np.arange(len(resp))).groupby(resp).first().to_numpy()
    p_idx = prompt_labels.get_indexer(prompt.to_numpy(dtype=object)[first])
    ok = (p_idx >= 0) & np.isfinite(var)
    tot = np.bincount(p_idx[ok], weights=var[ok], minlength=len(prompt_labels))
    n = np.bincount(p_idx[ok], minlength=len(prompt_labels))
    return np.where(n > 0, tot / np.maximum(n, 1), np.nan)


def flag_prompts(
    data: PreferenceData,
    *,
    min_judgments: int = 6,
    fdr: float = 0.05,
    n_resamples: int = 0,
    duplicate_threshold: float = 0.7,
    rng: RngLike = None,
) -> pd.DataFrame:
    """Flag prompts whose annotators split more than the annotators' reliability explains.

    Parameters
    ----------
    data : PreferenceData
        Judgments with ``prompt_id``; prompt texts (for duplicate groups)
        and ratings (for ``score_variance``) are used when present.
    min_judgments : int
        Prompts with fewer judgments (on comparisons judged at least twice)
        get their descriptive columns but no test, and are left out of the
        Benjamini-Hochberg family: a prompt with one comparison and three
        votes cannot show ambiguity, and testing it only costs power.
    fdr : float
        False discovery rate for ``flagged``.
    n_resamples : int
        0 (default): p-values from a beta-binomial matched to the exact null
        mean and variance. > 0: a parametric bootstrap with this many
        replicates instead (p-values ``(1 + #{S* >= S}) / (1 + B)``).
    duplicate_threshold : float
        Estimated Jaccard similarity of word 3-shingles at which two prompt
        texts are near duplicates.
    rng : int, Generator or None
        Randomness of the bootstrap (unused when ``n_resamples == 0``).

    Returns
    -------
    DataFrame
        Indexed by ``prompt_id``: ``n_comparisons``, ``n_judgments``,
        ``vote_entropy`` (mean per-comparison entropy of the votes, bits,
        weighted by votes), ``split_rate`` (share of vote pairs on the same
        comparison that disagree), ``expected_split_rate`` (under the
        annotators' estimated reliability), ``pooled_split_rate`` (if a
        typical annotator, the element-wise median confusion matrix, had
        cast every vote), ``score_variance``
        (ratings), ``p_value``, ``q_value``, ``p_value_pooled``,
        ``q_value_pooled``, ``tested``, ``flagged``, ``kind``, ``reason``,
        ``duplicate_group`` (the first ``prompt_id`` of its near-duplicate
        group, missing when it has none).

    Notes
    -----
    The null is the Dawid-Skene model: each
    comparison has one true label (first response, second response or tie)
    and each annotator votes from its own confusion matrix, independently
    given that label. The statistic is the number of disagreeing vote pairs
    on the prompt's comparisons; its exact null mean and variance are
    summed over comparisons (see ``prefqa.prompts._null``), mixing over the
    posterior of each true label. The confusion matrices are fitted twice:
    on all judgments, then again without the prompts whose first-pass
    p-value is below 0.05, so that genuinely split prompts do not make the
    annotators look noisier than they are (which would hide those very
    prompts). ``kind`` is ``'diverging'`` when the split
    is significant under this null (q < ``fdr``): annotators who are
    reliable elsewhere genuinely disagree here; these rows are ``flagged``.
    ``kind`` is ``'noisy'`` when the split is significant only against a
    *typical* annotator (``q_value_pooled < fdr``, every vote cast with the
    median annotator's confusion matrix) but explained by the unreliability of the
    annotators who actually judged it: fix the annotators, not the prompt.
    Noisy prompts are not flagged.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=100, n_ambiguous_prompts=10, accuracy_range=(2.0, 3.0),
    ...                           model_strengths=[-3, -1.5, 0, 1.5, 3], tie_threshold=0.1,
    ...                           comparisons_per_prompt=4, judgments_per_comparison=5, rng=4)
    >>> table = pq.flag_prompts(data)
    >>> flagged = table.index[table["flagged"]]
    >>> len(flagged), int(truth.prompts.loc[flagged, "ambiguous"].sum())
    (10, 8)
    >>> print(table.loc[flagged[0], "reason"])
    annotators who are reliable elsewhere split here: 57% of vote pairs disagree where their estimated reliability predicts 8% (20 judgments on 4 comparisons), q = 0.006
    """
    _validate(data, min_judgments, fdr, n_resamples, duplicate_threshold)
    L = N_LABELS
    comps = data.comparisons()
    comp_all, _ = data.codes("comparison_id")
    n_comp = len(comps)
    prompt_codes, prompt_labels = data.codes("prompt_id")
    prompt_of_comp = np.full(n_comp, -1, dtype=np.int64)
    prompt_of_comp[comp_all] = prompt_codes
    n_prompts = len(prompt_labels)
    keep_c = prompt_of_comp >= 0
    pc_ = np.where(keep_c, prompt_of_comp, 0)

    label = data.oriented_choice().astype(np.int64)
    ann_codes, ann_labels = data.codes("annotator_id")
    n_ann = len(ann_labels) + 1  # judgments without an annotator share one pseudo-annotator
    ann = np.where(ann_codes >= 0, ann_codes, n_ann - 1)

    counts = np.bincount(comp_all * L + label, minlength=n_comp * L).reshape(n_comp, L).astype(np.float64)
    votes = counts.sum(axis=1)
    pairs = votes * (votes - 1) / 2
    agree = (counts * (counts - 1) / 2).sum(axis=1)
    multi = votes >= 2

    def per_prompt(w: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        m = keep_c if where is None else keep_c & where
        return np.bincount(pc_[m], weights=w[m], minlength=n_prompts)

    n_judg = per_prompt(votes)
    n_cmp = per_prompt(np.ones(n_comp))
    n_judg_multi = per_prompt(votes, multi)
    pair_p = per_prompt(pairs)
    split = per_prompt(pairs - agree)
    ent = per_prompt(_entropy_bits(counts) * votes, multi)

    tested = (n_judg_multi >= min_judgments) & (pair_p > 0)
    # pass 1 fits the reliabilities on everything; pass 2 refits them without the prompts that
    # pass 1 finds suspicious (p < 0.05), so genuinely split prompts do not make everyone look noisy
    fit = fit_em("one_coin", ann, comp_all, label, n_ann, n_comp)
    conf, post = fit.confusion, fit.posterior
    mean_c, var_c = disagreement_moments(conf, post, ann, comp_all, n_comp)
    p_first = np.where(tested, _betabinom_sf(split, pair_p, per_prompt(mean_c), per_prompt(var_c)), 1.0)
    suspect_c = (p_first < 0.05)[pc_] & keep_c
    clean = ~suspect_c[comp_all]
    if suspect_c.any() and clean.sum() > 0:
        clean_comp = np.unique(comp_all[clean])
        sub = np.searchsorted(clean_comp, comp_all[clean])
        refit = fit_em("one_coin", ann[clean], sub, label[clean], n_ann, len(clean_comp))
        conf = refit.confusion
        post = ds_posterior(conf, refit.prior, ann, comp_all, label, n_comp)
        mean_c, var_c = disagreement_moments(conf, post, ann, comp_all, n_comp)
    # the typical annotator: element-wise median confusion over annotators who judged something
    active = np.bincount(ann, minlength=n_ann) > 0
    pooled = np.median(conf[active], axis=0)
    pooled = pooled / pooled.sum(axis=1, keepdims=True)
    pooled_conf = np.broadcast_to(pooled, conf.shape)
    mean_p, var_p = disagreement_moments(pooled_conf, post, ann, comp_all, n_comp)
    exp_split = per_prompt(mean_c)
    exp_pooled = per_prompt(mean_p)

    if n_resamples > 0:
        gen = as_generator(rng)
        p_val = np.full(n_prompts, np.nan)
        p_pool = np.full(n_prompts, np.nan)
        for cm, target in ((conf, p_val), (pooled_conf, p_pool)):  # the two nulls
            sims = simulate_disagreement(cm, post, ann, comp_all, n_comp, pc_ * keep_c,
                                         n_prompts, n_resamples, gen)
            target[:] = (1.0 + (sims >= split[None, :] - 1e-9).sum(axis=0)) / (1.0 + n_resamples)
    else:
        p_val = _betabinom_sf(split, pair_p, exp_split, per_prompt(var_c))
        p_pool = _betabinom_sf(split, pair_p, exp_pooled, per_prompt(var_p))
    p_val = np.where(tested, p_val, np.nan)
    p_pool = np.where(tested, p_pool, np.nan)
    q_val, q_pool = bh(p_val), bh(p_pool)

    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "n_comparisons": n_cmp.astype(np.int64),
            "n_judgments": n_judg.astype(np.int64),
            "vote_entropy": np.where(n_judg_multi > 0, ent / n_judg_multi, np.nan),
            "split_rate": np.where(pair_p > 0, split / pair_p, np.nan),
            "expected_split_rate": np.where(pair_p > 0, exp_split / pair_p, np.nan),
            "pooled_split_rate": np.where(pair_p > 0, exp_pooled / pair_p, np.nan),
            "score_variance": _score_variance(data, prompt_labels),
            "p_value": p_val, "q_value": q_val, "p_value_pooled": p_pool, "q_value_pooled": q_pool,
            "tested": tested,
        }, index=pd.Index(prompt_labels.to_numpy(), name="prompt_id", dtype="str"))
    diverging = np.nan_to_num(q_val, nan=1.0) < fdr
    noisy = ~diverging & (np.nan_to_num(q_pool, nan=1.0) < fdr)
    out["flagged"] = diverging
    out["kind"] = np.where(diverging, "diverging", np.where(noisy, "noisy", ""))
    out["reason"] = _reasons(out, min_judgments)
    out["duplicate_group"] = _duplicates(data, out.index, duplicate_threshold)
    out.attrs.update(fdr=fdr, min_judgments=min_judgments, n_resamples=n_resamples,
                     n_tested=int(tested.sum()), converged=fit.converged,
                     null="Dawid-Skene confusion matrices, exact moments" if n_resamples == 0
                     else f"Dawid-Skene confusion matrices, parametric bootstrap ({n_resamples})")
    return out


def _pct(x: pd.Series) -> pd.Series:
    return (x * 100).round().astype("Int64").astype(str).fillna("?") + "%"


def _qtext(q: pd.Series) -> pd.Series:
    return pd.Series(np.where(q < 0.001, "q < 0.001", "q = " + q.map("{:.3f}".format)), index=q.index)


def _reasons(out: pd.DataFrame, min_judgments: int) -> np.ndarray:
    counts = (out["n_judgments"].astype(str) + " judgments on " + out["n_comparisons"].astype(str) +
              " comparisons")
    div = ("annotators who are reliable elsewhere split here: " + _pct(out["split_rate"]) +
           " of vote pairs disagree where their estimated reliability predicts " +
           _pct(out["expected_split_rate"]) + " (" + counts + "), " + _qtext(out["q_value"]))
    noisy = ("the split (" + _pct(out["split_rate"]) + " of vote pairs disagree) is explained by unreliable "
             "annotators: their estimated reliability predicts " + _pct(out["expected_split_rate"]) +
             ", a typical annotator " + _pct(out["pooled_split_rate"]) + " (" + counts + ")")
    untested = ("not tested: " + out["n_judgments"].astype(str) +
                f" judgments on comparisons judged at least twice is below min_judgments {min_judgments}")
    kind = out["kind"].to_numpy()
    return np.where(kind == "diverging", div, np.where(kind == "noisy", noisy,
                    np.where(out["tested"].to_numpy(), "", untested)))


def _duplicates(data: PreferenceData, index: pd.Index, threshold: float) -> pd.Series:
    empty = pd.Series(pd.NA, index=index, dtype="str")
    p = data.prompts
    if p is None or not len(p):
        return empty
    texts = p.set_index("prompt_id")["text"].reindex(index)
    known = texts.notna().to_numpy()
    if known.sum() < 2:
        return empty
    groups = duplicate_groups(texts[known], threshold=threshold)
    ids = index.to_numpy()[known]
    head = pd.Series(ids).groupby(groups).transform("first").to_numpy()
    out = empty.copy()
    out.iloc[np.flatnonzero(known)] = np.where(groups >= 0, head, None)
    return out
