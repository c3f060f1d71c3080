"""Style bias: Arena-style style control for length, markdown and refusals.

One joint logistic fit over non-tie judgments (displayed orientation)::

    logit P(a) = position + s[model_a] - s[model_b] + sum_k beta_k * d_k

with ``d_length`` the tanh length covariate and ``d_k = (a - b) / (a + b + 1)``
for headers, list items, bold spans and code blocks (Chatbot Arena's
normalised difference), and ``d_refusal = refusal_a - refusal_b``. Every
covariate lies in [-1, 1], so the coefficients are on comparable scales;
``std_estimate`` gives each per standard deviation of its covariate, the scale
Arena reports after z-scoring. SEs are cluster-robust (``cluster=``, as in
:func:`prefqa.length_bias`). Features that differ in fewer than
``min_n_differ`` comparisons, or whose fit separates, are reported as not
estimable (no p-value, no flag). Beside each
coefficient is the raw rate at which the response with more of the feature
was chosen, among non-tie judgments where the two differ.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..engine import ScannedData
from ..engine.reductions.bias import judgment_codes
from ..errors import ConvergenceWarning, InsufficientDataError, SchemaError
from ..features import FEATURE_NAMES
from ..schema import PreferenceData
from ._common import (
    bh_qvalues,
    check_confidence_level,
    check_data,
    check_fdr,
    fmt_p,
    logistic_design,
    wilson_interval,
)
from ._lengths import judgment_covariates

__all__ = ["STYLE_FEATURES", "StyleBiasResult", "style_bias"]

STYLE_FEATURES: tuple[str, ...] = ("length", "headers", "lists", "bold", "refusal")
#: Fewest comparisons in which a feature must differ to be estimated.
MIN_N_DIFFER = 30
#: A coefficient beyond this on a [-1, 1] covariate (odds ratio e^10) means the fit separated.
MAX_COEFFICIENT = 10.0


@dataclass(frozen=True, eq=False)
class StyleBiasResult:
    """Result of :func:`style_bias`.

    Attributes
    ----------
    table : DataFrame
        Indexed by ``feature``: ``estimate`` (logistic coefficient),
        ``std_error`` (cluster-robust, see ``se_method``), ``ci_low``, ``ci_high``,
        ``p_value``, ``q_value`` (BH across features), ``std_estimate``
        (coefficient per SD of the covariate), ``n_differ`` (non-tie
        judgments where the responses differ in the feature),
        ``n_comparisons_differ``, ``rate_more_chosen`` with
        ``rate_ci_low``/``rate_ci_high`` (Wilson, descriptive), ``estimable``,
        ``flagged`` and ``reason`` (the not-estimable reason where it applies).
    features, dropped : tuple of str
        Features fitted, and features left out because they never vary.
    """

    features: tuple[str, ...]
    dropped: tuple[str, ...]
    unit: str
    confidence_level: float
    fdr: float
    n_judgments: int
    n_used: int
    controls: tuple[str, ...]
    cluster: str
    se_method: str
    min_n_differ: int
    table: pd.DataFrame
    converged: bool
    n_iter: int
    warnings: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """Return the style-control table (tidy, one row per feature)."""
        return self.table.copy()

    def summary(self) -> str:
        """Return a plain-text summary."""
        lines = [f"Style control over {self.n_used:,} non-tie judgments (controls: "
                 f"{', '.join(self.controls) or 'none'}):"]
        for feat, row in self.table.iterrows():
            if not row["estimable"]:
                lines.append(f"  {feat:<12} {row['reason']}")
                continue
            lines.append(
                f"  {feat:<12} coef {row['estimate']:+.3f} (CI {row['ci_low']:+.3f} to {row['ci_high']:+.3f}), "
                f"q {fmt_p(row['q_value'])}; more-{feat} response chosen {row['rate_more_chosen']:.1%} "
                f"of {int(row['n_differ']):,}")
        lines.append(f"  clusters: {self.cluster}; SEs: {self.se_method}")
        lines.extend(f"  not fitted (never varies): {d}" for d in self.dropped)
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _validate(data: Any, features: Sequence[str], confidence_level: float, fdr: float) -> list[str]:
    check_data(data)
    check_confidence_level(confidence_level)
    check_fdr(fdr)
    feats = [features] if isinstance(features, str) else list(features)
    bad = [f for f in feats if f not in FEATURE_NAMES or f == "length_diff"]
    if bad or not feats:
        allowed = tuple(f for f in FEATURE_NAMES if f != "length_diff")
        raise SchemaError(f"`features` must be a non-empty subset of {allowed}; got {feats!r}.")
    if not judgment_codes(data).has_texts:
        raise SchemaError("style bias needs response texts (`response_a_id`, `response_b_id` and a "
                          "`responses` table); these judgments have none.")
    return feats


def style_bias(
    data: PreferenceData | ScannedData,
    *,
    features: Sequence[str] = STYLE_FEATURES,
    unit: str = "chars",
    tokenizer: Callable[[str], Any] | None = None,
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    control_models: bool = True,
    cluster: str = "auto",
    min_n_differ: int = MIN_N_DIFFER,
) -> StyleBiasResult:
    """Estimate style effects on the judgments, controlling for each other.

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Judgments with response texts. Scanned data (``pq.scan``): the
        per-response features come from ``prefqa.features.response_feature_table``
        (precomputed columns win over texts), the integer codes and the two
        displayed values per feature are pulled as numeric arrays in scan
        order; every estimate equals the in-memory one.
    features : sequence of str
        From ``'length'``, ``'headers'``, ``'lists'``, ``'bold'``,
        ``'code_blocks'``, ``'refusal'``.
    unit, tokenizer
        Length unit, as in :func:`prefqa.features.text_features`.
    confidence_level : float
        For every interval.
    fdr : float
        BH level for ``flagged``.
    control_models : bool
        Include model strengths when the data names models.
    cluster : {'auto', 'annotator+comparison', 'annotator+prompt', 'annotator', 'comparison', 'prompt', 'none'}
        Clusters of the SEs, as in :func:`prefqa.length_bias` (two-way
        annotator x prompt/comparison by default, t reference).
    min_n_differ : int
        A feature whose two responses differ in fewer comparisons than this
        (default 30) gets no coefficient, p-value or flag: ``estimable`` is
        False and ``reason`` says why. So does a feature whose fit separates
        (the response with more of it always or never chosen, or a
        coefficient beyond +-10 on its [-1, 1] scale); such features are left
        out of the joint fit so they cannot distort the others.

    Returns
    -------
    StyleBiasResult

    Raises
    ------
    SchemaError
        Unknown features or no texts.
    InsufficientDataError
        Too few non-tie judgments for the fit.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=100, length_effect=1.0, rng=4)
    >>> res = pq.style_bias(data, features=["length", "lists"])
    >>> list(res.table.index), bool(res.table.loc["length", "flagged"])
    (['length', 'lists'], True)
    """
    feats = _validate(data, features, confidence_level, fdr)
    if not isinstance(min_n_differ, (int, np.integer)) or min_n_differ < 1:
        raise SchemaError(f"`min_n_differ` must be a positive integer; got {min_n_differ!r}.")
    frame = pd.DataFrame(judgment_covariates(data, feats, unit=unit, tokenizer=tokenizer))
    codes = judgment_codes(data)
    choice = codes.choice_codes()
    use = (choice < 2) & np.isfinite(frame.to_numpy()).all(axis=1)
    fitted = [f for f in feats if np.nanstd(frame[f].to_numpy()[use]) > 0]
    dropped = tuple(f for f in feats if f not in fitted)
    if not fitted:
        raise SchemaError(f"none of the features {feats} varies between the two responses; nothing to fit.")
    comp = codes.codes("comparison_id")[0]
    y_all = (choice == 0).astype(np.float64)
    not_estimable: dict[str, str] = {}
    for f in fitted:  # a loop over the few features, not over rows
        v = frame[f].to_numpy()
        differ = use & (v != 0)
        n_comp = len(np.unique(comp[differ]))
        more = ((v > 0) & (y_all == 1)) | ((v < 0) & (y_all == 0))
        if n_comp < min_n_differ:
            not_estimable[f] = (f"not estimable: the responses differ in {f} in {n_comp} comparisons "
                                f"(fewer than min_n_differ={min_n_differ})")
        elif more[differ].all() or not more[differ].any():
            not_estimable[f] = (f"not estimable: the response with more {f} is "
                                f"{'always' if more[differ].all() else 'never'} chosen (the fit separates)")
    estimable = [f for f in fitted if f not in not_estimable]
    warn: list[str] = []
    fit = None
    design = None
    while estimable:
        cols = [np.ones(codes.n_judgments)] + [frame[f].to_numpy() for f in estimable]
        design = logistic_design(codes, choice, cols, use, controls=["position" if codes.order_known else "intercept"],
                                 control_models=control_models, cluster=cluster)
        try:
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore", ConvergenceWarning)
                fit = design.fit()
        except InsufficientDataError as exc:
            raise InsufficientDataError(f"style bias: {exc}") from exc
        est_k = fit.params[1:1 + len(estimable)]
        se_k = np.sqrt(np.diag(fit.cov)[1:1 + len(estimable)])
        bad = ~np.isfinite(se_k) | (np.abs(est_k) > MAX_COEFFICIENT) | (not fit.converged)
        if not bad.any():
            break
        worst = int(np.argmax(np.where(bad, np.abs(est_k) + np.where(np.isfinite(se_k), se_k, np.inf), -1.0)))
        not_estimable[estimable[worst]] = (f"not estimable: the fit separates (coefficient "
                                           f"{est_k[worst]:+.1f} beyond +-{MAX_COEFFICIENT:g})")
        estimable.pop(worst)
        fit = None
    if fit is None or design is None:  # nothing estimable: a table of reasons, no fit
        cols = [np.ones(codes.n_judgments)]
        design = logistic_design(codes, choice, cols, use, controls=["position" if codes.order_known else "intercept"],
                                 control_models=False, cluster=cluster)
    warn.extend(design.plan.warnings)
    if fit is not None:
        warn.extend(w for w in fit.warnings if w not in warn)
    use_rows, y = design.use, design.y
    k = len(fitted)
    est = np.full(k, np.nan)
    se = np.full(k, np.nan)
    if fit is not None:
        pos = [fitted.index(f) for f in estimable]
        est[pos] = fit.params[1:1 + len(estimable)]
        se[pos] = np.sqrt(np.diag(fit.cov)[1:1 + len(estimable)])
    tq = fit.t_quantile(confidence_level) if fit is not None else np.nan
    df = fit.df if fit is not None else np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * stats.t.sf(np.abs(est / se), df)
    q = bh_qvalues(p)
    values = np.column_stack([frame[f].to_numpy()[use_rows] for f in fitted])
    sd = values.std(axis=0)
    differ = values != 0
    more_won = ((values > 0) & (y[:, None] == 1)) | ((values < 0) & (y[:, None] == 0))
    n_differ = differ.sum(axis=0)
    n_more = (more_won & differ).sum(axis=0)
    low, high = wilson_interval(n_more, n_differ, confidence_level)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = n_more / n_differ
    flagged = np.nan_to_num(q, nan=1.0) < fdr
    reason = [
        not_estimable[f] if f in not_estimable else
        f"{'favours' if e > 0 else 'penalises'} the response with more {f} (coef {e:+.2f}, q {fmt_p(qq)}); "
        f"it is chosen {r:.0%} of the time when the two differ" if fl else ""
        for f, e, qq, r, fl in zip(fitted, est, q, rate, flagged)
    ]
    table = pd.DataFrame(
        {"estimate": est, "std_error": se, "ci_low": est - tq * se, "ci_high": est + tq * se, "p_value": p,
         "q_value": q, "std_estimate": est * sd, "n_differ": n_differ.astype(np.int64),
         "n_comparisons_differ": [len(np.unique(comp[use & (frame[f].to_numpy() != 0)])) for f in fitted],
         "rate_more_chosen": rate, "rate_ci_low": low, "rate_ci_high": high, "n": np.full(k, len(y)),
         "estimable": [f not in not_estimable for f in fitted], "flagged": flagged, "reason": reason},
        index=pd.Index(fitted, name="feature"),
    )
    return StyleBiasResult(
        features=tuple(fitted), dropped=dropped, unit=unit, confidence_level=confidence_level, fdr=fdr,
        n_judgments=codes.n_judgments, n_used=len(y), controls=design.controls, cluster=design.cluster,
        se_method=fit.se_method if fit is not None else "no estimable feature", min_n_differ=int(min_n_differ),
        table=table, converged=bool(fit.converged) if fit is not None else False,
        n_iter=fit.n_iter if fit is not None else 0, warnings=tuple(warn),
    )
