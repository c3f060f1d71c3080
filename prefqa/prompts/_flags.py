"""``flag_prompts``: prompts whose annotators disagree more than their reliability explains."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._stats import bh_qvalues
from .._types import RngLike, as_generator
from ..engine import ScannedData
from ..engine.reductions.bias import judgment_codes
from ..engine.reductions.prompts import prompt_texts
from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from ._minhash import duplicate_groups
from ._onecoin import N_LABELS
from ._test import _Votes, run_null

__all__ = ["flag_prompts"]


def _validate(data: Any, min_judgments: int, fdr: float, n_resamples: int, duplicate_threshold: float) -> None:
    if not isinstance(data, PreferenceData | ScannedData):
        raise SchemaError(f"`data` must be a PreferenceData; got {type(data).__name__}. "
                          "Load it with pq.read(...), or open it out of core with pq.scan(...).")
    if data.n_judgments == 0:
        raise InsufficientDataError("`data` holds no judgments; there are no prompts to flag.")
    columns = list(data.columns) if isinstance(data, ScannedData) else list(data.judgments.columns)
    if "prompt_id" not in columns:
        raise SchemaError(
            "flag_prompts needs a `prompt_id` column in the judgments; found "
            f"{columns}. Map your prompt column with mapping={{'<your column>': 'prompt_id'}}."
        )
    if isinstance(min_judgments, bool) or not isinstance(min_judgments, (int, np.integer)) or min_judgments < 2:
        raise SchemaError(f"`min_judgments` must be an integer >= 2; got {min_judgments!r}.")
    if not 0 < fdr < 1:
        raise SchemaError(f"`fdr` is a false discovery rate in (0, 1); got {fdr!r}.")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0:
        raise SchemaError(f"`n_resamples` must be a non-negative integer (0 = exact moments); got {n_resamples!r}.")
    if not 0 < duplicate_threshold <= 1:
        raise SchemaError(f"`duplicate_threshold` is a Jaccard similarity in (0, 1]; got {duplicate_threshold!r}.")


def _entropy_bits(counts: np.ndarray) -> np.ndarray:
    tot = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(tot > 0, counts / tot, 0.0)
        ent = -np.where(share > 0, share * np.log2(share), 0.0).sum(axis=1)
    return ent


def _score_variance(data: PreferenceData | ScannedData, prompt_labels: pd.Index) -> np.ndarray:
    """Mean over a prompt's responses of the across-rater score variance (ddof 1), from ``ratings``."""
    out = np.full(len(prompt_labels), np.nan)
    if isinstance(data, ScannedData):  # scanned data carry no ratings table
        return out
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
    data: PreferenceData | ScannedData,
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
    data : PreferenceData or ScannedData
        Judgments with ``prompt_id``; model ids (for the model-aware null),
        response texts (length habits), prompt texts (duplicate groups) and
        ratings (``score_variance``) are used when present. Scanned data
        (``pq.scan``): the vote model is fitted on integer codes and the
        length covariate pulled per judgment as numeric arrays
        (:mod:`prefqa.engine.reductions.bias`), the prompt texts one per
        prompt (:mod:`prefqa.engine.reductions.prompts`); the table equals
        the in-memory one. Scanned data has no ratings, so
        ``score_variance`` is NaN.
    min_judgments : int
        A prompt is tested when it has at least this many judgments on
        comparisons judged at least twice, spread over at least two such
        comparisons. Others get their descriptive columns but no test and
        stay out of the Benjamini-Hochberg family: one comparison cannot tell
        an ambiguous prompt from one close pair of responses, and testing it
        only costs power. The default 6 admits two comparisons with three
        votes each, the smallest design that carries evidence.
    fdr : float
        False discovery rate for ``flagged``.
    n_resamples : int
        0 (default): normal p-values from the exact null mean and variance
        of the prompt statistic. > 0: a parametric bootstrap from the fitted
        null with this many replicates (p-values ``(1 + #{S* >= S}) / (1 + B)``).
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
        comparison that disagree), ``expected_split_rate`` (under the null
        with the annotators who actually voted), ``pooled_split_rate`` (if a
        typical annotator had cast every vote), ``score_variance``
        (ratings), ``p_value``, ``q_value``, ``p_value_pooled``,
        ``q_value_pooled``, ``tested``, ``flagged``, ``kind``, ``reason``,
        ``duplicate_group`` (the first ``prompt_id`` of its near-duplicate
        group, missing when it has none). ``attrs['null']`` names the null;
        ``attrs['warnings']`` (tuple of str) states every approximation
        made while fitting it: a fit on a subsample of large data (above
        200,000 non-tie votes for the vote model's logistic fits, 60,000 for
        its comparison-effect SD, 100,000 judgments for the competence EM)
        or an inner solve stopped at its iteration cap;
        ``attrs['subsampled']`` is True when any part was fitted on a
        subsample, and ``attrs['subsample']`` lists ``(fit, rows used, rows
        available)`` for each; ``attrs['converged']`` is False when an inner
        solve did not converge.

    Notes
    -----
    **The null.** When the judgments name models, every vote follows a
    fitted model of the annotator (see ``prefqa.prompts._votes``): its
    discrimination (reliability) times the strength gap between the two
    models compared plus a comparison effect shared by all votes on the
    comparison (a pair of responses can be closer or further apart than
    their models), its pull toward the response shown first, its length
    slope and its tie rate. A split is then surprising where the models are
    far apart and the annotators reliable, and expected on close pairs.
    Without models, the null is a competence model (Hovy et al. 2013):
    each comparison has one true label that each annotator votes with its
    own estimated competence (``prefqa.prompts._onecoin``).

    **The test.** Each comparison contributes its number of disagreeing
    vote pairs ``D_c``, weighted by ``(mu1_c - mu0_c) / v0_c``: ``mu0_c``,
    ``v0_c`` are its exact null mean and variance and ``mu1_c`` its mean if
    the votes ignored which response is better. These are the locally most
    powerful weights against "annotators split here"; they depend on the
    design, not on the votes (rounded to integers 0..16 within the prompt),
    so the test is valid for them. The p-value is ``P(S >= s)`` computed
    from the exact null distribution of each comparison's ``D_c`` (a dynamic
    programme over its votes): exactly, as a product of polynomials, for
    every prompt that could matter (saddlepoint p below 0.2); by a
    Lugannani-Rice saddlepoint or a normal tail for the rest (see
    ``prefqa.prompts._test``). Being exact on a discrete statistic, the test
    is conservative: on null simulations P(p <= 0.01) is about 0.003-0.009
    (``tests/test_prompts.py``).

    **Kinds.** ``'diverging'``: significant (q < ``fdr``) against the
    annotators who voted; annotators who are reliable elsewhere genuinely
    split here, and these rows are ``flagged``. ``'noisy'``: significant only
    against a *typical* annotator (every parameter at the median annotator's
    value), so the unreliability of the annotators who actually judged it
    explains the split: fix the annotators, not the prompt. Noisy prompts are
    not flagged.

    **Power.** Each prompt's evidence is bounded by its number of
    comparisons: a single comparison that splits may simply be a close
    pair. With 4 comparisons of 3 votes, planted ambiguous prompts rank at
    the top (AUC about 0.9) but only a few reach BH significance among
    thousands of prompts; more comparisons per prompt, not more votes per
    comparison, is what makes them individually detectable.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=100, n_ambiguous_prompts=10, accuracy_range=(2.0, 3.0),
    ...                           model_strengths=[-3, -1.5, 0, 1.5, 3], tie_threshold=0.1,
    ...                           comparisons_per_prompt=4, judgments_per_comparison=5, rng=4)
    >>> table = pq.flag_prompts(data)
    >>> flagged = table.index[table["flagged"]]
    >>> len(flagged), int(truth.prompts.loc[flagged, "ambiguous"].sum())
    (8, 8)
    >>> print(table.loc[flagged[0], "reason"])  # doctest: +NORMALIZE_WHITESPACE
    annotators who are reliable elsewhere split here: 57% of vote pairs disagree where their
    estimated reliability and the models compared predict 16% (20 judgments on 4 comparisons), q = 0.003
    """
    _validate(data, min_judgments, fdr, n_resamples, duplicate_threshold)
    codes = judgment_codes(data)
    v = _Votes(codes)
    n_comp = v.n_comp
    prompt_codes, prompt_labels = codes.codes("prompt_id")
    prompt = np.full(n_comp, -1, dtype=np.int64)
    prompt[v.comp] = prompt_codes
    n_prompts = len(prompt_labels)
    L = N_LABELS
    counts = np.bincount(v.comp * L + v.label, minlength=n_comp * L).reshape(n_comp, L).astype(np.float64)
    votes = counts.sum(axis=1)
    pairs = votes * (votes - 1) / 2
    multi = votes >= 2

    def per_prompt(w: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        m = prompt >= 0 if where is None else (prompt >= 0) & where
        return np.bincount(prompt[m], weights=w[m], minlength=n_prompts)

    n_judg = per_prompt(votes)
    n_cmp = per_prompt(np.ones(n_comp))
    n_judg_multi = per_prompt(votes, multi)
    n_cmp_multi = per_prompt(np.ones(n_comp), multi)
    pair_p = per_prompt(pairs)
    split = per_prompt(v.disagree)
    ent = per_prompt(_entropy_bits(counts) * votes, multi)

    tested = (n_judg_multi >= min_judgments) & (n_cmp_multi >= 2) & (pair_p > 0)
    null = run_null(data, v, prompt, n_prompts, tested, n_resamples, as_generator(rng))
    p_val = np.where(tested, null.p_value, np.nan)
    p_pool = np.where(tested, null.p_value_pooled, np.nan)
    q_val, q_pool = bh_qvalues(p_val), bh_qvalues(p_pool)

    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "n_comparisons": n_cmp.astype(np.int64),
            "n_judgments": n_judg.astype(np.int64),
            "vote_entropy": np.where(n_judg_multi > 0, ent / n_judg_multi, np.nan),
            "split_rate": np.where(pair_p > 0, split / pair_p, np.nan),
            "expected_split_rate": np.where(pair_p > 0, null.expected / pair_p, np.nan),
            "pooled_split_rate": np.where(pair_p > 0, null.expected_pooled / pair_p, np.nan),
            "score_variance": _score_variance(data, prompt_labels),
            "p_value": p_val, "q_value": q_val, "p_value_pooled": p_pool, "q_value_pooled": q_pool,
            "tested": tested,
        }, index=pd.Index(prompt_labels.to_numpy(), name="prompt_id", dtype="str"))
    diverging = np.nan_to_num(q_val, nan=1.0) < fdr
    noisy = ~diverging & (np.nan_to_num(q_pool, nan=1.0) < fdr)
    out["flagged"] = diverging
    out["kind"] = np.where(diverging, "diverging", np.where(noisy, "noisy", ""))
    out["reason"] = _reasons(out, min_judgments, null.name)
    out["duplicate_group"] = _duplicates(data, out.index, duplicate_threshold)
    how = "normal tail of the exact moments" if n_resamples == 0 else f"parametric bootstrap ({n_resamples})"
    notes = tuple(null.details.get("notes", ()))
    subsample = tuple(null.details.get("subsample", ()))
    converged = bool(null.converged) and not any("without converging" in n for n in notes)
    out.attrs.update(fdr=fdr, min_judgments=min_judgments, n_resamples=n_resamples,
                     n_tested=int(tested.sum()), converged=converged, null=f"{null.name}, {how}",
                     warnings=notes, subsampled=bool(subsample), subsample=subsample,
                     **{k: val for k, val in null.details.items() if k == "sigma"})
    return out


def _pct(x: pd.Series) -> pd.Series:
    return (x * 100).round().astype("Int64").astype(str).fillna("?") + "%"


def _qtext(q: pd.Series) -> pd.Series:
    return pd.Series(np.where(q < 0.001, "q < 0.001", "q = " + q.map("{:.3f}".format)), index=q.index)


def _reasons(out: pd.DataFrame, min_judgments: int, null: str) -> np.ndarray:
    verb = " and the models compared predict " if null == "vote model" else " predicts "
    counts = (out["n_judgments"].astype(str) + " judgments on " + out["n_comparisons"].astype(str) +
              " comparisons")
    div = ("annotators who are reliable elsewhere split here: " + _pct(out["split_rate"]) +
           " of vote pairs disagree where their estimated reliability" + verb +
           _pct(out["expected_split_rate"]) + " (" + counts + "), " + _qtext(out["q_value"]))
    noisy = ("the split (" + _pct(out["split_rate"]) + " of vote pairs disagree) is explained by unreliable "
             "annotators: their estimated reliability predicts " + _pct(out["expected_split_rate"]) +
             ", a typical annotator " + _pct(out["pooled_split_rate"]) + " (" + counts + ")")
    untested = ("not tested: " + out["n_judgments"].astype(str) + " judgments on " +
                out["n_comparisons"].astype(str) + f" comparisons; a test needs min_judgments {min_judgments} "
                "judgments on at least two comparisons judged at least twice")
    kind = out["kind"].to_numpy()
    return np.where(kind == "diverging", div, np.where(kind == "noisy", noisy,
                    np.where(out["tested"].to_numpy(), "", untested)))


def _duplicates(data: PreferenceData | ScannedData, index: pd.Index, threshold: float) -> pd.Series:
    empty = pd.Series(pd.NA, index=index, dtype="str")
    texts = prompt_texts(data)
    if not len(texts):
        return empty
    texts = texts.reindex(index)
    known = texts.notna().to_numpy()
    if known.sum() < 2:
        return empty
    groups = duplicate_groups(texts[known], threshold=threshold)
    ids = index.to_numpy()[known]
    head = pd.Series(ids).groupby(groups).transform("first").to_numpy()
    out = empty.copy()
    out.iloc[np.flatnonzero(known)] = np.where(groups >= 0, head, None)
    return out
