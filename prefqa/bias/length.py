"""Length bias: do annotators prefer the longer response?

Two definitions of "the longer response wins", both reported by
:func:`length_bias` through ``per``:

* ``per="judgment"`` (default): every non-tie judgment whose two responses
  differ clearly in length is one trial; the rate is the share of those
  judgments that chose the longer response. Comparisons judged by more
  annotators weigh more; this is the rate a reward model trained on the raw
  judgments sees.
* ``per="comparison"``: each comparison's majority label (strict plurality
  of its judgments, display order removed) is one trial; comparisons whose
  majority is a tie, or that have no majority, are left out. This is the rate
  of the consensus labels a DPO export would keep (PandaLM's test set: 599 of
  887, see the tests).
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from .._types import ConfidenceInterval
from ..engine import ScannedData
from ..engine.reductions.bias import coded_preference_data, judgment_codes
from ..errors import InsufficientDataError, PrefqaWarning, SchemaError
from ..schema import PreferenceData
from ._common import (
    MAX_MODEL_COLUMNS,
    ClusterPlan,
    check_confidence_level,
    check_data,
    check_fdr,
    cluster_codes,
    cluster_plan,
    fmt_p,
    logistic_design,
    rate_inference,
    wilson_interval,
)
from ._lengths import (
    clear_difference,
    comparison_majority,
    judgment_covariates,
    judgment_lengths,
    validate_length_options,
)
from ._mixed import mixed_length_slope
from ._per_annotator import LENGTH_COLUMNS, annotator_length_tests
from .winrates import empty_win_rates, fit_joint_bt, length_controlled_win_rates

__all__ = ["RATIO_EDGES", "LengthBiasResult", "length_bias"]

#: Edges of the length-ratio buckets (longer / shorter).
RATIO_EDGES: tuple[float, ...] = (1.0, 1.1, 1.25, 1.5, 2.0, 3.0, np.inf)


@dataclass(frozen=True, eq=False)
class LengthBiasResult:
    """Result of :func:`length_bias`.

    Attributes
    ----------
    estimate : float
        P(the longer response is chosen) over the trials (see ``per``).
    std_error : float
        Cluster-robust SE of ``estimate`` (delta method from the logit scale).
    confidence_interval : ConfidenceInterval
        Cluster-robust interval of ``estimate`` (see ``se_method``).
    p_value : float
        Test of ``estimate == 0.5`` (cluster-robust, t reference).
    cluster, se_method : str
        Clusters used for the rate and the GLM slope, and how the SEs were
        obtained (see :func:`length_bias`).
    n_trials, n_longer_won : int
        Trials (non-tie judgments or majority labels with a clear length
        difference) and those the longer response won.
    buckets : DataFrame
        Indexed by ``bucket`` (length ratio longer/shorter): ``ratio_low``,
        ``ratio_high``, ``n``, ``n_longer_won``, ``estimate``, ``ci_low``,
        ``ci_high``, over all trials with unequal lengths.
    slope, slope_std_error, slope_confidence_interval, slope_p_value
        Logistic coefficient of the tanh length covariate (per judgment, ties
        left out) from ``slope_source``.
    slope_source : str
        ``'glm'`` (statsmodels binomial GLM, SEs clustered by ``cluster``) or
        ``'mixed_model'`` (crossed model with per-annotator slopes).
    glm_slope, glm_std_error : float
        The GLM's slope and clustered SE, always reported.
    controls : tuple of str
        Terms besides length in the GLM (``'position'``, ``'model'``).
    annotators : DataFrame
        One row per annotator (see :func:`length_bias`); empty with the
        reason in ``skipped`` when annotator ids are missing.
    win_rates : DataFrame
        One row per model: raw and length-controlled win rates (see
        :mod:`prefqa.bias.winrates`); empty without models.
    skipped : tuple of str
        Parts not computed, with the reason.
    """

    unit: str
    per: str
    min_difference: float
    confidence_level: float
    fdr: float
    n_judgments: int
    n_annotators: int
    n_trials: int
    n_longer_won: int
    n_ties: int
    estimate: float
    std_error: float
    confidence_interval: ConfidenceInterval
    p_value: float
    buckets: pd.DataFrame
    slope: float
    slope_std_error: float
    slope_confidence_interval: ConfidenceInterval
    slope_p_value: float
    slope_source: str
    glm_slope: float
    glm_std_error: float
    cluster: str
    se_method: str
    n_clusters: int
    controls: tuple[str, ...]
    annotators: pd.DataFrame
    win_rates: pd.DataFrame
    converged: bool
    n_iter: int
    skipped: tuple[str, ...]
    warnings: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """Return the headline estimates as a tidy frame indexed by ``term``."""
        z = stats.norm.ppf(0.5 + self.confidence_level / 2.0)
        rows = [
            {"term": "p_longer_chosen", "estimate": self.estimate, "std_error": self.std_error,
             "ci_low": self.confidence_interval.low, "ci_high": self.confidence_interval.high,
             "p_value": self.p_value, "n": self.n_trials},
            {"term": "length_slope", "estimate": self.slope, "std_error": self.slope_std_error,
             "ci_low": self.slope_confidence_interval.low, "ci_high": self.slope_confidence_interval.high,
             "p_value": self.slope_p_value, "n": self.n_judgments - self.n_ties},
        ]
        if self.slope_source != "glm":
            rows.append({"term": "length_slope_glm", "estimate": self.glm_slope, "std_error": self.glm_std_error,
                         "ci_low": self.glm_slope - z * self.glm_std_error,
                         "ci_high": self.glm_slope + z * self.glm_std_error,
                         "p_value": 2 * stats.norm.sf(abs(self.glm_slope / self.glm_std_error)),
                         "n": self.n_judgments - self.n_ties})
        frame = pd.DataFrame(rows).set_index("term")
        frame["se_method"] = self.se_method
        return frame

    def summary(self) -> str:
        """Return a plain-text summary."""
        lo, hi = self.confidence_interval
        slo, shi = self.slope_confidence_interval
        lines = [
            f"Length bias ({self.unit}, per {self.per}, relative difference > {self.min_difference:g}):",
            f"  longer response chosen in {self.n_longer_won:,} of {self.n_trials:,} = {self.estimate:.1%} "
            f"({self.confidence_level:.0%} CI {lo:.1%} to {hi:.1%}), p {fmt_p(self.p_value)}",
            f"  clusters: {self.cluster}; SEs: {self.se_method}",
            f"  logistic slope on tanh length difference ({self.slope_source}): {self.slope:.3f} "
            f"(SE {self.slope_std_error:.3f}, CI {slo:.3f} to {shi:.3f}), controls: "
            f"{', '.join(self.controls) or 'none'}",
        ]
        if len(self.annotators):
            flagged = int(self.annotators["flagged"].sum())
            lines.append(f"  {flagged} of {len(self.annotators)} annotators prefer length more than the pool "
                         f"(q < {self.fdr:g})")
        if len(self.win_rates):
            lines.append("  win rates (raw -> length-controlled):")
            for model, row in self.win_rates.iterrows():
                mark = "  <- diverges" if row["flagged"] else ""
                lines.append(f"    {model}: {row['raw_win_rate']:.1%} -> {row['lc_win_rate']:.1%}{mark}")
        lines.extend(f"  skipped: {s}" for s in self.skipped)
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _validate(data: Any, unit: str, min_difference: float, per: str, confidence_level: float,
              fdr: float, divergence_threshold: float) -> Any:
    check_data(data)
    validate_length_options(unit, min_difference, per)
    check_confidence_level(confidence_level)
    check_fdr(fdr)
    if not isinstance(divergence_threshold, (int, float)) or not 0 < divergence_threshold < 1:
        raise SchemaError(f"`divergence_threshold` must be in (0, 1); got {divergence_threshold!r}.")
    if not judgment_codes(data).has_texts:
        raise SchemaError(
            "length bias needs response texts (`response_a_id`, `response_b_id` and a `responses` "
            "table, or precomputed response lengths); these judgments have none. Read the data with its "
            "response columns."
        )
    return data


def length_bias(
    data: PreferenceData | ScannedData,
    *,
    unit: Literal["chars", "words", "tokens"] = "chars",
    tokenizer: Callable[[str], Any] | None = None,
    min_difference: float = 0.1,
    per: Literal["judgment", "comparison"] = "judgment",
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    control_models: bool = True,
    use_mixed_model: bool = False,
    model: Any = None,
    divergence_threshold: float = 0.10,
    cluster: str = "auto",
) -> LengthBiasResult:
    """Measure how strongly the judgments favour longer responses.

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Judgments with response texts. Scanned data (``pq.scan``): the
        per-response lengths come from ``prefqa.features.response_feature_table``
        (precomputed columns win over texts), the integer codes and the two
        displayed lengths per judgment are pulled as numeric arrays in scan
        order (about 70 bytes per judgment), and every estimate equals the
        in-memory one. The joint length-controlled BT fit runs on a
        ``PreferenceData`` rebuilt from those codes
        (:func:`prefqa.engine.reductions.bias.coded_preference_data`).
        ``use_mixed_model`` needs in-memory data (or a fitted ``model``).
    unit : {'chars', 'words', 'tokens'}
        Length unit (``'tokens'`` needs ``tokenizer``).
    tokenizer : callable, optional
        See :func:`prefqa.features.text_features`.
    min_difference : float
        Trials need ``|len_a - len_b| / max(len_a, len_b) > min_difference``;
        ``0`` keeps every pair of unequal length.
    per : {'judgment', 'comparison'}
        Trials for the rate: non-tie judgments, or comparisons' majority
        labels (see the module notes for both definitions).
    confidence_level : float
        For every interval.
    fdr : float
        Benjamini-Hochberg level for flagging annotators.
    control_models : bool
        Add model strengths to the GLM (when the data names models). Without
        them the slope is attenuated by the quality differences it ignores.
    use_mixed_model : bool
        Also fit :func:`prefqa.fit_preference_model` (crossed annotator and
        prompt effects, per-annotator length slopes) and report its slope;
        needs ``prefqa.models.mixed``.
    model : MixedModelResult, optional
        An already fitted crossed model with a ``length`` term to reuse.
    divergence_threshold : float
        Flag models whose LC and raw win rates differ by more than this.
    cluster : {'auto', 'annotator+comparison', 'annotator+prompt', 'annotator', 'comparison', 'prompt', 'none'}
        Clusters of the rate's and the GLM slope's SEs (see Notes).

    Returns
    -------
    LengthBiasResult

    Raises
    ------
    SchemaError
        Bad options, or no response texts.
    InsufficientDataError
        No trial with a clear length difference.

    Notes
    -----
    The slope is fitted per judgment on non-tie judgments with a
    statsmodels binomial GLM, ``logit P(a) = position + s[model_a] -
    s[model_b] + slope * tanh((len_a - len_b) / RMS)``. It is the
    simulator's ``length_effect`` scale.

    Inference is cluster-robust by default (``cluster='auto'``): two-way
    annotator x prompt when prompts group several comparisons (comparisons
    nest in prompts), annotator x comparison otherwise, CR1 sandwich (the
    two-way one of Cameron, Gelbach and Miller), t reference on ``min(G) - 1``
    df; P(longer chosen) is an intercept-only estimating equation with the
    same sandwich. Without annotator ids, or with fewer than 10 annotators,
    only the prompt/comparison dimension is used and the interval treats
    the annotators as fixed (a warning says so). ``per='comparison'``: the
    trials are comparisons, so the rate clusters by prompt when prompts
    group comparisons and is otherwise iid over comparisons (annotators
    enter only through the majority labels, as fixed). ``use_mixed_model``
    reports the crossed model's slope, whose SE is model-based: annotator
    and prompt variation are random effects there, not a sandwich.
    ``cluster='none'`` gives the iid Wilson interval and binomial test.

    The length-controlled win rates are read off the joint length-controlled
    Bradley-Terry fit, :func:`prefqa.models.bradley_terry.fit_bradley_terry`
    with ``ties="drop"`` and covariates position and length on the same
    judgments, with the length (and position) term set to zero
    (:mod:`prefqa.bias.winrates`). That is the same model as the GLM above,
    so both give the same estimates (to the optimizers' tolerance, about
    1e-5); it is fitted twice because the slope's SEs may cluster by prompt
    while the BT fit's sandwich offers annotator and comparison clusters
    only (``cluster`` is mapped by :data:`prefqa.bias.winrates.BT_CLUSTER`;
    prompt clusters become comparison clusters for the LC rates).

    The per-annotator table is
    :func:`prefqa.bias._per_annotator.annotator_length_tests` (each
    annotator's slope against the annotator population, one-sided: rewards
    length more than the pool) plus ``flagged`` (its BH flag) and ``reason``.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=150, length_effect=1.0, rng=3)
    >>> res = pq.length_bias(data)
    >>> bool(res.estimate > 0.5), bool(res.slope_confidence_interval.low < 1.0 < res.slope_confidence_interval.high)
    (True, True)
    """
    _validate(data, unit, min_difference, per, confidence_level, fdr, divergence_threshold)
    if isinstance(data, ScannedData) and use_mixed_model and model is None:
        raise SchemaError("`use_mixed_model=True` fits the crossed model in memory; pass a fitted model "
                          "(model=pq.fit_preference_model(subsample)) or collect the data (data.collect()).")
    given, codes = data, judgment_codes(data)
    warn: list[str] = []
    skipped: list[str] = []
    lengths = judgment_lengths(given, unit, tokenizer)
    choice = codes.choice_codes()
    n_ties = int((choice == 2).sum())

    # ---- trials: per judgment (displayed) or per comparison (majority label)
    if per == "judgment":
        la, lb, won = lengths.a, lengths.b, choice
    else:
        flip = codes.flipped()
        comp, labels = codes.codes("comparison_id")
        first = np.full(len(labels), -1, dtype=np.int64)
        first[comp[::-1]] = np.arange(len(comp))[::-1]
        l1 = np.where(flip, lengths.b, lengths.a)[first]
        l2 = np.where(flip, lengths.a, lengths.b)[first]
        la, lb, won = l1, l2, comparison_majority(codes)
    decided = (won == 0) | (won == 1)
    unequal = decided & np.isfinite(la) & np.isfinite(lb) & (la != lb)
    longer_won = ((won == 0) & (la > lb)) | ((won == 1) & (lb > la))
    trial = unequal & clear_difference(la, lb, float(min_difference))
    n_trials = int(trial.sum())
    if n_trials == 0:
        raise InsufficientDataError(
            f"no {'non-tie judgment' if per == 'judgment' else 'comparison with a non-tie majority'} "
            f"has a length difference above `min_difference`={min_difference:g} "
            f"({int(unequal.sum())} have unequal lengths); lower `min_difference`."
        )
    k = int(longer_won[trial].sum())
    if per == "judgment":
        plan = cluster_plan(codes, cluster, trial)
    elif cluster == "none":
        plan = ClusterPlan("none", (), ())
    else:
        clusters, name = cluster_codes(codes)
        plan = ClusterPlan(name if name == "prompt" else "comparison (iid over comparisons)",
                           (clusters[first] if name == "prompt" else np.arange(len(first)),), ())
    warn.extend(plan.warnings)
    rate = rate_inference(longer_won.astype(np.float64), plan, trial, confidence_level)
    low, high = rate.ci
    p_value = rate.p_value
    buckets = _buckets(la, lb, longer_won, unequal, confidence_level)

    # ---- slope: prompt-clustered logistic GLM on non-tie judgments
    x = judgment_covariates(given, ["length"], unit=unit, tokenizer=tokenizer)["length"]
    constant = "position" if codes.order_known else "intercept"
    design = logistic_design(codes, choice, [np.ones(codes.n_judgments), x], (choice < 2) & np.isfinite(x),
                             controls=[constant], control_models=control_models, cluster=cluster)
    y, use = design.y, design.use
    fit = design.fit()
    warn.extend(w for w in (*design.plan.warnings, *fit.warnings) if w not in warn)
    z = fit.t_quantile(confidence_level)
    glm_slope, glm_se = float(fit.params[1]), float(np.sqrt(fit.cov[1, 1]))
    slope, slope_se, source = glm_slope, glm_se, "glm"
    slope_ci = ConfidenceInterval(float(glm_slope - z * glm_se), float(glm_slope + z * glm_se))
    if model is not None or use_mixed_model:
        mixed, note = mixed_length_slope(given, model, use_mixed_model, confidence_level)
        if mixed is None:
            skipped.append(note)
        else:
            slope, slope_se, slope_ci = mixed
            source = "mixed_model"
    se_method = fit.se_method if rate.se_method == fit.se_method else (
        f"rate: {rate.se_method}; slope: {fit.se_method}")
    if source == "mixed_model":
        se_method += "; reported slope: crossed mixed model, model-based SE (random annotator and prompt effects)"
    slope_p = float(fit.p_values()[1]) if source == "glm" else (
        float(2 * stats.norm.sf(abs(slope / slope_se))) if slope_se > 0 else np.nan)

    # ---- win rates from the joint length-controlled BT fit on the same judgments
    win_rates = empty_win_rates()
    if design.model_labels is not None:
        ca, cb, _ = codes.model_codes()
        try:
            bt_data = given if isinstance(given, PreferenceData) else coded_preference_data(codes)
            bt = fit_joint_bt(bt_data, x, use, constant, confidence_level, cluster)
        except InsufficientDataError as exc:
            skipped.append(f"length-controlled win rates: {exc}")
        else:
            warn.extend(bt.warnings)
            win_rates = length_controlled_win_rates(
                bt, ca[use], cb[use], y, design.model_labels,
                confidence_level=confidence_level, divergence_threshold=divergence_threshold,
            )
        if win_rates["flagged"].any():
            models = ", ".join(map(str, win_rates.index[win_rates["flagged"].to_numpy()]))
            msg = (f"length-controlled and raw win rates differ by more than {divergence_threshold:.0%} "
                   f"for {models}: their raw win rates are driven by response length.")
            _warnings.warn(msg, PrefqaWarning, stacklevel=2)
            warn.append(msg)
    elif not control_models:
        skipped.append("length-controlled win rates: `control_models=False`")
    elif codes.has_models:
        skipped.append(f"length-controlled win rates: more than {MAX_MODEL_COLUMNS} models; the dense "
                       "joint fit is skipped and the slope is not controlled for model strength")
    else:
        skipped.append("length-controlled win rates: the judgments name no models (`model_a`, `model_b`)")

    annotators = _annotator_table(given, unit, tokenizer, confidence_level, fdr, skipped, glm_slope)
    warn.extend(w for w in annotators.attrs.get("warnings", ()) if w not in warn)
    return LengthBiasResult(
        unit=unit, per=per, min_difference=float(min_difference), confidence_level=confidence_level,
        fdr=fdr, n_judgments=codes.n_judgments, n_annotators=codes.n_annotators, n_trials=n_trials,
        n_longer_won=k, n_ties=n_ties, estimate=k / n_trials, std_error=rate.std_error,
        confidence_interval=ConfidenceInterval(float(low), float(high)), p_value=p_value,
        buckets=buckets, slope=slope, slope_std_error=slope_se, slope_confidence_interval=slope_ci,
        slope_p_value=slope_p, slope_source=source, glm_slope=glm_slope, glm_std_error=glm_se,
        cluster=design.cluster, se_method=se_method, n_clusters=fit.n_clusters, controls=design.controls,
        annotators=annotators,
        win_rates=win_rates, converged=fit.converged, n_iter=fit.n_iter, skipped=tuple(skipped),
        warnings=tuple(warn),
    )


def _buckets(la: np.ndarray, lb: np.ndarray, longer_won: np.ndarray, unequal: np.ndarray,
             confidence_level: float) -> pd.DataFrame:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(la, lb) / np.minimum(la, lb)
    ratio = np.where(np.minimum(la, lb) > 0, ratio, np.inf)[unequal]
    edges = np.asarray(RATIO_EDGES)
    which = np.clip(np.searchsorted(edges, ratio, side="right") - 1, 0, len(edges) - 2)
    nb = len(edges) - 1
    n = np.bincount(which, minlength=nb)
    k = np.bincount(which, weights=longer_won[unequal].astype(np.float64), minlength=nb)
    low, high = wilson_interval(k, n, confidence_level)
    names = [f"{lo:g}-{hi:g}" if np.isfinite(hi) else f">= {lo:g}" for lo, hi in zip(edges[:-1], edges[1:])]
    with np.errstate(invalid="ignore", divide="ignore"):
        est = k / n
    return pd.DataFrame(
        {"ratio_low": edges[:-1], "ratio_high": edges[1:], "n": n, "n_longer_won": k.astype(np.int64),
         "estimate": est, "ci_low": low, "ci_high": high},
        index=pd.Index(names, name="bucket"),
    )


def _annotator_table(data: PreferenceData | ScannedData, unit: str, tokenizer: Any, confidence_level: float, fdr: float,
                     skipped: list[str], pooled_slope: float) -> pd.DataFrame:
    """:func:`prefqa.bias._per_annotator.annotator_length_tests` plus ``flagged`` and ``reason``."""
    table = annotator_length_tests(data, confidence_level=confidence_level, fdr=fdr, unit=unit, tokenizer=tokenizer)
    if table.empty:
        skipped.append("per-annotator table: the judgments have no annotator ids")
        return table.assign(flagged=pd.Series(dtype=bool), reason=pd.Series(dtype=object))
    flagged = table["flagged_length"].to_numpy(dtype=bool)
    reason = [
        f"prefers longer responses more than the pool: length slope {sl:.2f} (SE {se:.2f}) vs pooled "
        f"{pooled_slope:.2f}, q {fmt_p(q)}" if f else ""
        for sl, se, q, f in zip(table["length_slope"], table["length_slope_se"], table["q_length"], flagged)
    ]
    return table[LENGTH_COLUMNS].assign(flagged=flagged, reason=reason)
