"""``annotator_table``: one row per annotator with quality metrics, tests, flags and plain reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._stats import bh_qvalues
from ..engine import ScannedData
from ..engine.reductions.annotators import annotation_order, prefetch
from ..engine.reductions.bias import judgment_codes, judgment_values
from ..errors import SchemaError
from ..schema import PreferenceData
from ._consensus import check_consensus, consensus_posterior
from ._gold import MIN_GOLD, check_gold_column, check_min_gold_accuracy, gold_accuracy_test
from ._metrics import (
    agreement_metrics,
    codes_for,
    position_metrics,
    rating_loo,
    ratio,
    score_agreement,
)
from ._model import model_effects
from ._reasons import flag_and_explain
from ._shared import shared_tests
from ._stats import outlier_test, prop_se, run_pvalue

__all__ = ["ABSOLUTE_TESTS", "RELATIVE_TESTS", "TESTS", "annotator_table"]

#: Test types of the table, in column order; each gets ``p_<test>`` and ``q_<test>``.
TESTS: tuple[str, ...] = ("agreement", "position", "consistency", "tie", "length", "speed", "run", "gold",
                          "leniency")
#: Tests against a fixed reference (randomised display order, both-order agreement, ``min_gold_accuracy``).
ABSOLUTE_TESTS: tuple[str, ...] = ("position", "consistency", "gold")
#: Tests against the annotator pool (median and robust spread of the annotators).
RELATIVE_TESTS: tuple[str, ...] = ("agreement", "tie", "length", "speed", "run", "leniency")

_COLUMNS = (
    "n_judgments", "n_scored", "loo_agreement", "loo_kappa", "loo_kappa_se", "n_repeat_units",
    "intra_agreement", "intra_alpha", "ds_accuracy", "n_position", "p_a", "p_a_ci_low", "p_a_ci_high",
    "position_logit", "position_logit_se", "n_both_orders", "n_inconsistent", "self_consistency", "tie_rate",
    "n_length", "length_slope", "length_slope_se", "leniency", "n_ratings", "score_agreement",
    "n_score_agreement", "median_seconds", "fast", "longest_run", "n_gold", "n_gold_items", "gold_accuracy",
    "gold_ci_low", "gold_ci_high",
)


def _validate(data: Any, confidence_level: float, min_judgments: int, fast_seconds: float | None,
              max_run: int | None, fdr: float, consensus: Any, min_gold_accuracy: float) -> None:
    if not isinstance(data, PreferenceData | ScannedData):
        raise SchemaError(f"`data` must be a PreferenceData; got {type(data).__name__}. "
                          "Load it with pq.read(...), or open it out of core with pq.scan(...).")
    if isinstance(confidence_level, bool) or not isinstance(confidence_level, (int, float)) \
            or not 0 < confidence_level < 1:
        raise SchemaError(f"`confidence_level` must be between 0 and 1 (exclusive); got {confidence_level!r}.")
    if isinstance(fdr, bool) or not isinstance(fdr, (int, float)) or not 0 < fdr < 1:
        raise SchemaError(f"`fdr` is a false discovery rate in (0, 1); got {fdr!r}.")
    if isinstance(min_judgments, bool) or not isinstance(min_judgments, (int, np.integer)) or min_judgments < 2:
        raise SchemaError(f"`min_judgments` must be an integer >= 2; got {min_judgments!r}.")
    if fast_seconds is not None and (isinstance(fast_seconds, bool) or not isinstance(fast_seconds, (int, float))
                                     or not (np.isfinite(fast_seconds) and fast_seconds > 0)):
        raise SchemaError(f"`fast_seconds` must be a positive number of seconds or None; got {fast_seconds!r}.")
    if max_run is not None and (isinstance(max_run, bool) or not isinstance(max_run, (int, np.integer))
                                or max_run < 2):
        raise SchemaError(f"`max_run` must be an integer >= 2 or None; got {max_run!r}.")
    check_min_gold_accuracy(min_gold_accuracy)
    if consensus is not None:
        check_consensus(consensus)
    check_gold_column(data)


def _order_key(data: PreferenceData | ScannedData, mask: np.ndarray) -> tuple[np.ndarray, bool]:
    """Sort key of the judgments and whether it is the annotation (timestamp) order."""
    ts = annotation_order(data)
    if ts is not None:
        return ts[mask], True
    return np.arange(len(mask))[mask], False


def _leniency(data: PreferenceData | ScannedData, index: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean score minus the leave-one-out mean of the same response, per annotator, with its SE."""
    n_ann = len(index)
    loo = rating_loo(data, index)
    if loo is None:
        return np.full(n_ann, np.nan), np.full(n_ann, np.nan), np.zeros(n_ann)
    au, s, others, n_all = loo
    resid = s - others
    n = np.bincount(au, minlength=n_ann).astype(np.float64)
    mean = ratio(np.bincount(au, weights=resid, minlength=n_ann), n)
    ss = np.bincount(au, weights=(resid - mean[au]) ** 2, minlength=n_ann)
    se = np.sqrt(ratio(ss, n * np.maximum(n - 1, 1)))
    return mean, se, n_all


def annotator_table(
    data: PreferenceData | ScannedData,
    *,
    confidence_level: float = 0.95,
    min_judgments: int = 20,
    fast_seconds: float | None = None,
    max_run: int | None = None,
    fdr: float = 0.05,
    min_gold_accuracy: float = 0.6,
    consensus: Any = None,
    model: Any = None,
) -> pd.DataFrame:
    """Return one row per annotator: agreement, biases, gold accuracy, speed, flags and reasons.

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Judgments with ``annotator_id`` and/or ``ratings``. Uses
        ``seconds``, ``timestamp``, a ``gold`` column (the correct displayed
        choice) and ``ratings`` when present. Scanned data (``pq.scan``):
        integer codes, ``seconds``, the ``timestamp`` key and gold codes are
        pulled per judgment as numeric arrays (:mod:`prefqa.engine.reductions`),
        agreement comes from the vote reductions, and Dawid-Skene is fitted
        on the same comparisons as in memory (collected without texts, at
        most about 100,000 judgments); the table equals the in-memory one.
        Scanned data has no ratings.
    confidence_level : float
        Level of the intervals on ``p_a`` and ``gold_accuracy``.
    min_judgments : int
        Annotators with fewer judgments get their metrics but none of the
        pool-relative tests (their p- and q-values are NaN and they are not
        in those BH families); also the length test's minimum.
    fast_seconds : float, optional
        Rule: median seconds per judgment below which an annotator is
        ``fast`` (and flagged). Default: a quarter of the median annotator's
        median.
    max_run : int, optional
        Rule: flag any run of this many identical displayed choices.
    fdr : float
        Benjamini-Hochberg false discovery rate, within each test type.
    min_gold_accuracy : float
        Gold-accuracy reference: an annotator is flagged when its accuracy
        on gold items is significantly below it (one-sided).
    consensus : ConsensusResult, optional
        A ``pq.consensus(data, method="dawid_skene")`` result to reuse for
        ``ds_accuracy``. Without it, Dawid-Skene is run here (above 100,000
        judgments on one comparison in k, then one E-step for all;
        ``attrs['notes']`` says so).
    model : MixedModelResult, optional
        A fitted ``pq.fit_preference_model(data)``. Adds
        ``model_position_logit``, ``model_length_slope`` and their SEs (fixed
        effect plus the annotator's conditional mode, net of model quality)
        as columns to read beside the tests; the tests themselves always
        come from their one implementation (see Notes).

    Returns
    -------
    DataFrame
        Indexed by ``annotator_id``. Metrics: ``n_judgments``, ``n_scored``,
        ``loo_agreement``, ``loo_kappa``, ``loo_kappa_se`` (against the
        plurality of the other annotators of the same comparison, from
        :func:`prefqa.reliability.annotator_agreement`), ``n_repeat_units``,
        ``intra_agreement``, ``intra_alpha``, ``ds_accuracy`` (Dawid-Skene),
        the position columns ``n_position``, ``p_a`` (share of non-tie
        judgments choosing the response shown first) with
        ``p_a_ci_low``/``p_a_ci_high``, ``position_logit``/``_se``,
        ``n_both_orders``, ``n_inconsistent``, ``self_consistency``; the
        length columns ``n_length``, ``length_slope``/``_se``; ``tie_rate``;
        for ratings ``leniency``, ``n_ratings``, ``score_agreement``
        (correlation with the other raters' mean of the same responses) and
        ``n_score_agreement``; ``median_seconds``, ``fast``, ``longest_run``;
        gold ``n_gold``, ``n_gold_items``, ``gold_accuracy`` with
        ``gold_ci_low``/``gold_ci_high`` and ``gold_se_method``. Then
        ``p_<test>`` and ``q_<test>`` for each test in :data:`TESTS`,
        ``flagged``, ``reason`` and ``notes``. ``attrs`` holds ``notes``,
        ``warnings`` (approximations and non-convergence of the functions
        called), the ``pool`` values and the settings.

    Notes
    -----
    **One implementation per question.** The position, self-consistency
    and length columns and tests are those of
    :func:`prefqa.bias._per_annotator.annotator_position_tests` and
    ``annotator_length_tests``, the same numbers as
    ``pq.position_bias(data).annotators`` and ``pq.length_bias(data).annotators``;
    the gold test is :func:`prefqa.annotators._gold.gold_accuracy_test`, the
    same one :func:`prefqa.judge_report` shows.

    **Absolute tests** (:data:`ABSOLUTE_TESTS`): ``position`` against the
    randomised-order reference P(a) = 0.5, ``consistency`` on comparisons
    the annotator judged in both display orders, ``gold`` one-sided against
    ``min_gold_accuracy`` (exact binomial, or cluster-robust by comparison
    when gold items are judged more than once). A problem every annotator
    shares is still found. **Relative tests** (:data:`RELATIVE_TESTS`)
    compare the annotator with the pool, because a global effect would make
    an absolute test flag everyone: ``length`` (from the shared function),
    and ``agreement`` (lower side), ``tie``, ``speed`` (mean log seconds,
    lower side), ``run`` (longest run against i.i.d. choices at the median
    annotator's shares, Poisson approximation) and ``leniency``, which use
    ``prefqa.annotators._stats.outlier_test``: the median annotator as
    centre and its sampling variance plus a robust (MAD) between-annotator
    variance.

    BH is applied within each test type. ``flagged`` is true when any
    ``q_<test>`` is below ``fdr`` or a rule fires (``fast_seconds``,
    ``max_run``); ``reason`` names each cause, the rules by name.

    Straight-lining is tested only in annotation order (every judgment has
    a ``timestamp``); ``max_run`` applies in whichever order is used. Display
    order unknown (``data.order_known`` false): position, consistency and
    run columns are NaN and ``notes`` says so. Ratings-only data (no
    judgments) gets the ratings columns; the pairwise columns are NaN and
    ``attrs['notes']`` says why. Judgments without an annotator id are left
    out; with no annotator at all the table is empty and ``attrs['notes']``
    says why.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=150, n_annotators=10, n_always_a=1, rng=3)
    >>> table = pq.annotator_table(data)
    >>> table.index[table["flagged"]].tolist() == truth.flagged_annotators().tolist()
    True
    >>> print(table.loc[table["flagged"], "reason"].iloc[0].split(" (")[0])
    chooses the first response in 100% of its non-tie judgments
    """
    if isinstance(data, ScannedData):
        prefetch(data)  # timestamp, seconds and gold codes in one query
    _validate(data, confidence_level, min_judgments, fast_seconds, max_run, fdr, consensus, min_gold_accuracy)
    index, c = codes_for(data)
    effects = model_effects(model, index) if model is not None else None
    notes: list[str] = []
    warns: list[str] = []
    n_missing = int((~c.mask).sum())
    if n_missing:
        notes.append(f"{n_missing:,} judgment(s) have no `annotator_id` and are left out of this table.")
    out = pd.DataFrame(index=index)
    for col in _COLUMNS:
        out[col] = np.nan
    out["gold_se_method"] = ""
    for t in TESTS:
        out[f"p_{t}"] = np.nan
        out[f"q_{t}"] = np.nan
    out["fast"] = False
    out["flagged"] = False
    out["reason"] = ""
    settings = {"fdr": fdr, "min_judgments": min_judgments, "confidence_level": confidence_level,
                    "min_gold_accuracy": min_gold_accuracy}
    if not len(index):
        notes.append("no judgment or rating names its annotator (`annotator_id` is missing everywhere), so "
                     "there is nothing to tabulate; read data that keeps annotator ids.")
        out["notes"] = ""
        out.attrs.update(notes=tuple(notes), warnings=(), pool={}, **settings)
        return out

    n = c.count()
    out["n_judgments"] = n
    valid = n >= min_judgments
    pool: dict[str, float] = {}
    ps: dict[str, np.ndarray] = {}
    row_notes = np.full(len(index), "", dtype=object)
    has_pairs = bool(c.mask.any())
    few = (n < min_judgments) & has_pairs
    row_notes[few] = np.char.add(np.char.add("too few judgments (", n[few].astype(int).astype(str)),
                                 f" < min_judgments {min_judgments}) for the pool-relative tests; ").astype(object)
    ds_converged = None
    shared_q: dict[str, np.ndarray] = {}
    if has_pairs:
        ds_converged, shared_q = _pairwise(data, c, out, ps, pool, notes, warns, row_notes, valid, n, confidence_level,
                                 fdr, min_judgments, fast_seconds, consensus, min_gold_accuracy)
    else:
        notes.append("ratings only: no pairwise judgments, so agreement, position, consistency, tie, length, "
                     "speed, run and gold columns are empty.")
    if effects is not None:
        for col, values in effects.items():
            out[f"model_{col}"] = values
        notes.append("`model_position_logit` and `model_length_slope` are the crossed model's fixed effect plus "
                     "each annotator's conditional mode (shown beside the tests, which do not use them).")

    # ratings: leniency and agreement on scores
    ratings = getattr(data, "ratings", None)  # scanned data carry no ratings
    if ratings is not None and len(ratings):
        len_mean, len_se, n_r = _leniency(data, index)
        out["leniency"], out["n_ratings"] = len_mean, n_r
        ps["leniency"], _, pool["leniency"] = outlier_test(len_mean, len_se, n_r >= min_judgments)
        corr, n_corr = score_agreement(data, index)
        out["score_agreement"], out["n_score_agreement"] = corr, n_corr
        pool["score_agreement"] = float(np.nanmedian(corr)) if np.isfinite(corr).any() else np.nan
    else:
        notes.append("no ratings: `leniency` and `score_agreement` are empty.")

    for t in TESTS:
        p = ps.get(t)
        if p is not None:
            out[f"p_{t}"] = p
            out[f"q_{t}"] = shared_q[t] if t in shared_q else bh_qvalues(p)
    out["notes"] = row_notes
    out["notes"] = out["notes"].str.rstrip("; ")
    flag_and_explain(out, TESTS, pool, fdr, max_run, min_gold_accuracy)
    out.attrs.update(notes=tuple(notes), warnings=tuple(dict.fromkeys(warns)), pool=pool,
                     ds_converged=ds_converged, **settings)
    return out


def _pairwise(data: PreferenceData | ScannedData, c: Any, out: pd.DataFrame, ps: dict[str, np.ndarray],
              pool: dict[str, float], notes: list[str], warns: list[str], row_notes: np.ndarray,
              valid: np.ndarray, n: np.ndarray,
              confidence_level: float, fdr: float, min_judgments: int, fast_seconds: float | None,
              consensus: Any, min_gold_accuracy: float) -> tuple[bool, dict[str, np.ndarray]]:
    """Fill the columns computed from pairwise judgments.

    Returns whether Dawid-Skene converged and the q-values of the shared
    tests, as their one implementation computed them.
    """
    codes = judgment_codes(data)
    index = out.index
    # agreement with the other annotators, Dawid-Skene
    posterior, ds_converged, ds_note = consensus_posterior(consensus, data)
    if ds_note:
        notes.append(ds_note)
        warns.append(ds_note)
    if not ds_converged:
        warns.append("Dawid-Skene did not converge: `ds_accuracy` is from its last iteration.")
    agr = agreement_metrics(data, c, posterior)
    for col in ("n_scored", "loo_agreement", "loo_kappa", "loo_kappa_se", "n_repeat_units", "intra_agreement",
                "intra_alpha", "ds_accuracy"):
        out[col] = agr[col]
    n_scored = np.nan_to_num(agr["n_scored"])
    v = valid & (n_scored > 0)
    centre = float(np.nanmedian(agr["loo_agreement"][v])) if v.any() else np.nan
    ps["agreement"], _, pool["loo_agreement"] = outlier_test(
        agr["loo_agreement"], prop_se(centre, n_scored), v, side="less")
    if not (n_scored > 0).any():
        notes.append("no comparison has a leave-one-out consensus (judged by two or more other annotators "
                     "without a tie between them): agreement columns are empty.")
    if not (np.nan_to_num(agr["n_repeat_units"]) > 0).any():
        notes.append("no annotator judged a comparison twice: intra-rater columns are empty.")

    # tie rate
    tie = ratio(c.count(where=c.oriented == 2), n)
    out["tie_rate"] = tie
    centre = float(np.nanmedian(tie[valid])) if valid.any() else np.nan
    ps["tie"], _, pool["tie_rate"] = outlier_test(tie, prop_se(centre, n), valid)

    # position, self-consistency and length: their one implementation
    shared, shared_warn = shared_tests(data, index, confidence_level=confidence_level, fdr=fdr,
                                       min_judgments=min_judgments, position=data.order_known,
                                       length=codes.has_texts)
    warns.extend(shared_warn)
    tested = {f"{k}_{t}" for k in ("p", "q") for t in ("position", "consistency", "length")}
    for col, values in shared.items():
        if col not in tested:
            out[col] = values
    for t in ("position", "consistency", "length"):
        ps[t] = shared[f"p_{t}"]
    shared_q = {t: shared[f"q_{t}"] for t in ("position", "consistency", "length")}
    if np.isfinite(out["p_a"]).any():
        pool["p_a"] = float(np.nanmedian(out["p_a"]))
    if np.isfinite(out["length_slope"]).any():
        pool["length_slope"] = float(np.nanmedian(out["length_slope"]))
    if not codes.has_texts:
        notes.append("no response texts: `length_slope` and the length test are empty.")
        row_notes += "no response texts: no length slope; "
    if not (np.nan_to_num(out["n_both_orders"].to_numpy(dtype=float)) > 0).any() and data.order_known:
        notes.append("no annotator judged a comparison in both display orders: the consistency test is empty.")

    # straight-lining
    order_key, in_time = _order_key(data, c.mask)
    if data.order_known:
        pos = position_metrics(c, order_key)
        out["longest_run"] = pos["longest_run"]
        shares = np.nanmedian(pos["choice_shares"][valid], axis=0) if valid.any() else np.full(3, np.nan)
        shares = shares / np.nansum(shares)
        if in_time:
            ps["run"] = np.where(valid, run_pvalue(pos["longest_run"], n, np.nan_to_num(shares)), np.nan)
            notes.append("runs of identical choices are counted and tested in timestamp order.")
        else:
            notes.append("no complete `timestamp`: `longest_run` is counted in row order, which need not be the "
                         "annotation order (rows grouped by prompt give careful annotators long runs), so "
                         "straight-lining is not tested; add timestamps to test it.")
    else:
        notes.append("display order unknown (order_known=False): position, consistency and run columns and "
                     "their tests are empty, since a/b were placed by a hash and carry no position signal.")
        row_notes += "display order unknown: no position or run statistics; "

    # speed
    seconds = judgment_values(data, ["seconds"]).get("seconds")
    if seconds is not None and (~np.isnan(seconds)).any():
        s = seconds[c.mask]
        ok = np.isfinite(s) & (s > 0)
        med = pd.Series(s[ok]).groupby(c.ann[ok]).median().reindex(range(len(index))).to_numpy()
        out["median_seconds"] = med
        finite = np.isfinite(med)
        typical = float(np.nanmedian(med[valid & finite] if (valid & finite).any() else med)) \
            if finite.any() else np.nan
        threshold = fast_seconds if fast_seconds is not None else 0.25 * typical
        out["fast"] = np.nan_to_num(med, nan=np.inf) < threshold
        logs = np.log(s[ok])
        ns = c.count(where=ok)
        mean = ratio(np.bincount(c.ann[ok], weights=logs, minlength=len(index)), ns)
        ss = np.bincount(c.ann[ok], weights=(logs - mean[c.ann[ok]]) ** 2, minlength=len(index))
        se_s = np.sqrt(ratio(ss, ns * np.maximum(ns - 1, 1)))
        ps["speed"], _, _ = outlier_test(mean, se_s, valid & (ns >= 2), side="less")
        pool["median_seconds"] = float(np.nanmedian(med[valid])) if (valid & finite).any() else np.nan
        pool["fast_seconds"] = float(threshold)
    else:
        notes.append("no `seconds` column: speed columns are empty.")

    # gold items: absolute, one implementation shared with judge_report
    if "gold" in (data.columns if isinstance(data, ScannedData) else data.judgments.columns):
        gold = gold_accuracy_test(data, c, min_gold_accuracy=min_gold_accuracy, confidence_level=confidence_level,
                                  fdr=fdr)
        for col in ("n_gold", "n_gold_items", "gold_accuracy", "gold_ci_low", "gold_ci_high", "gold_se_method"):
            out[col] = gold[col]
        ps["gold"] = gold["p_gold"].to_numpy(dtype=np.float64)
        items = gold["n_gold_items"].to_numpy(dtype=np.float64)
        short = (items > 0) & (items < MIN_GOLD)
        row_notes[short] += f"fewer than {MIN_GOLD} gold items: gold accuracy not tested; "
        shared_q["gold"] = gold["q_gold"].to_numpy(dtype=np.float64)
    return ds_converged, shared_q
