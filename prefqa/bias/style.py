"""Style bias: Arena-style style control for length, markdown and refusals.

One joint logistic fit over non-tie judgments (displayed orientation)::

    logit P(a) = position + s[model_a] - s[model_b] + sum_k beta_k * d_k

with ``d_length`` the tanh length covariate and ``d_k = (a - b) / (a + b + 1)``
for headers, list items, bold spans and code blocks (Chatbot Arena's
normalised difference), and ``d_refusal = refusal_a - refusal_b``. Every
covariate lies in [-1, 1], so the coefficients are on comparable scales;
``std_estimate`` gives each per standard deviation of its covariate, the scale
Arena reports after z-scoring. SEs are clustered by prompt. Beside each
coefficient is the raw rate at which the response with more of the feature
was chosen, among non-tie judgments where the two differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import SchemaError
from ..features import FEATURE_NAMES, judgment_features
from ..schema import PreferenceData
from ._common import (
    bh_qvalues, check_confidence_level, check_data, check_fdr, fmt_p, logistic_design, wilson_interval,
)

__all__ = ["StyleBiasResult", "style_bias", "STYLE_FEATURES"]

STYLE_FEATURES: tuple[str, ...] = ("length", "headers", "lists", "bold", "refusal")


@dataclass(frozen=True, eq=False)
class StyleBiasResult:
    """Result of :func:`style_bias`.

    Attributes
    ----------
    table : DataFrame
        Indexed by ``feature``: ``estimate`` (logistic coefficient),
        ``std_error`` (prompt-clustered), ``ci_low``, ``ci_high``,
        ``p_value``, ``q_value`` (BH across features), ``std_estimate``
        (coefficient per SD of the covariate), ``n_differ`` (non-tie
        judgments where the responses differ in the feature),
        ``rate_more_chosen`` with ``rate_ci_low``/``rate_ci_high`` (Wilson),
        ``flagged`` and ``reason``.
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
            lines.append(
                f"  {feat:<12} coef {row['estimate']:+.3f} (CI {row['ci_low']:+.3f} to {row['ci_high']:+.3f}), "
                f"q {fmt_p(row['q_value'])}; more-{feat} response chosen {row['rate_more_chosen']:.1%} "
                f"of {int(row['n_differ']):,}")
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
    if not data.has_texts:
        raise SchemaError("style bias needs response texts (`response_a_id`, `response_b_id` and a "
                          "`responses` table); these judgments have none.")
    return feats


def style_bias(
    data: PreferenceData,
    *,
    features: Sequence[str] = STYLE_FEATURES,
    unit: str = "chars",
    tokenizer: Callable[[str], Any] | None = None,
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    control_models: bool = True,
) -> StyleBiasResult:
    """Estimate style effects on the judgments, controlling for each other.

    Parameters
    ----------
    data : PreferenceData
        Judgments with response texts.
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
    frame = judgment_features(data, feats, unit=unit, tokenizer=tokenizer)  # type: ignore[arg-type]
    choice = data.choice_codes()
    use = (choice < 2) & np.isfinite(frame.to_numpy()).all(axis=1)
    fitted = [f for f in feats if np.nanstd(frame[f].to_numpy()[use]) > 0]
    dropped = tuple(f for f in feats if f not in fitted)
    if not fitted:
        raise SchemaError(f"none of the features {feats} varies between the two responses; nothing to fit.")
    cols = [np.ones(data.n_judgments)] + [frame[f].to_numpy() for f in fitted]
    design = logistic_design(data, choice, cols, use, controls=["position" if data.order_known else "intercept"],
                             control_models=control_models)
    use, y = design.use, design.y
    fit = design.fit()
    k = len(fitted)
    est = fit.params[1:1 + k]
    se = np.sqrt(np.diag(fit.cov)[1:1 + k])
    z = stats.norm.ppf(0.5 + confidence_level / 2.0)
    p = 2 * stats.norm.sf(np.abs(est / se))
    q = bh_qvalues(p)
    values = np.column_stack([frame[f].to_numpy()[use] for f in fitted])
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
        f"{'favours' if e > 0 else 'penalises'} the response with more {f} (coef {e:+.2f}, q {fmt_p(qq)}); "
        f"it is chosen {r:.0%} of the time when the two differ" if fl else ""
        for f, e, qq, r, fl in zip(fitted, est, q, rate, flagged)
    ]
    table = pd.DataFrame(
        {"estimate": est, "std_error": se, "ci_low": est - z * se, "ci_high": est + z * se, "p_value": p,
         "q_value": q, "std_estimate": est * sd, "n_differ": n_differ.astype(np.int64),
         "rate_more_chosen": rate, "rate_ci_low": low, "rate_ci_high": high, "n": np.full(k, len(y)),
         "flagged": flagged, "reason": reason},
        index=pd.Index(fitted, name="feature"),
    )
    return StyleBiasResult(
        features=tuple(fitted), dropped=dropped, unit=unit, confidence_level=confidence_level, fdr=fdr,
        n_judgments=data.n_judgments, n_used=int(len(y)), controls=design.controls, cluster=design.cluster,
        table=table, converged=fit.converged, n_iter=fit.n_iter, warnings=fit.warnings,
    )
