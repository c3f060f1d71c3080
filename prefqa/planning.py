"""Annotation budgets: judgments needed to detect a win-rate difference or a rare-event change.

Sample sizes come from statsmodels' normal power tools on Cohen's arcsine
effect size ``h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))``:
``NormalIndPower().solve_power(h, alpha=1 - confidence_level, power=power,
ratio=0)`` for one sample (a rate against a fixed value) and ``ratio=1`` for
two equal arms (per arm). Judgments of the same comparison are correlated, so
the count is inflated by the design effect ``1 + (m - 1) * ICC`` (Kish), with
``m`` the judgments per comparison and ``ICC`` given or measured on ``data``
(one-way ANOVA intraclass correlation of the 0/1 "first response won" outcome
within comparisons).

For a rare event (a failure rate, say) with zero events in ``n_observed``
trials, the plan also gives upper bounds on the rate: the rule of three
``3 / n`` (95%), the exact one-sided Clopper-Pearson bound
``1 - (1 - confidence_level) ** (1 / n)``, and the Jeffreys Beta(0.5, n + 0.5)
posterior quantile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from .errors import InsufficientDataError, SchemaError
from .schema import PreferenceData

__all__ = ["AnnotationPlan", "plan_annotations", "comparison_icc"]


@dataclass(frozen=True, eq=False)
class AnnotationPlan:
    """Result of :func:`plan_annotations`.

    Attributes
    ----------
    n_per_arm_raw : float
        Judgments per arm from the power calculation, before the design
        effect and before rounding up.
    n_per_arm : int
        ``ceil(n_per_arm_raw * design_effect)``.
    n_total : int
        ``n_per_arm`` times the number of arms.
    n_comparisons_per_arm : int
        ``ceil(n_per_arm / judgments_per_comparison)``.
    design_effect : float
        ``1 + (judgments_per_comparison - 1) * icc``.
    upper_rule_of_three, upper_exact, upper_beta : float
        Upper bounds on an event rate after zero events in ``n_observed``
        trials (NaN when ``n_observed`` is not given).
    n_zero_events_needed : int or None
        Trials with zero events needed to bound the rate below ``max_rate``.
    """

    baseline: float
    difference: float
    design: str
    alternative: str
    confidence_level: float
    power: float
    effect_size: float
    n_per_arm_raw: float
    icc: float
    icc_source: str
    judgments_per_comparison: int
    design_effect: float
    n_per_arm: int
    n_arms: int
    n_total: int
    n_comparisons_per_arm: int
    n_observed: int | None
    upper_rule_of_three: float
    upper_exact: float
    upper_beta: float
    max_rate: float | None
    n_zero_events_needed: int | None
    warnings: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """Return the plan as a tidy frame indexed by ``quantity``."""
        rows = {
            "effect_size": self.effect_size, "n_per_arm_raw": self.n_per_arm_raw,
            "design_effect": self.design_effect, "n_per_arm": self.n_per_arm, "n_total": self.n_total,
            "n_comparisons_per_arm": self.n_comparisons_per_arm, "upper_rule_of_three": self.upper_rule_of_three,
            "upper_exact": self.upper_exact, "upper_beta": self.upper_beta,
            "n_zero_events_needed": np.nan if self.n_zero_events_needed is None else self.n_zero_events_needed,
        }
        return pd.DataFrame({"estimate": pd.Series(rows, dtype="float64")}).rename_axis("quantity")

    def summary(self) -> str:
        """Return a plain-text summary."""
        arms = "one sample" if self.n_arms == 1 else "two arms"
        lines = [
            f"To detect {self.baseline:.1%} -> {self.baseline + self.difference:.1%} ({arms}, {self.alternative}, "
            f"alpha {1 - self.confidence_level:g}, power {self.power:g}):",
            f"  {self.n_per_arm_raw:,.0f} judgments per arm before the design effect; design effect "
            f"{self.design_effect:.3f} (ICC {self.icc:.3f} from {self.icc_source}, "
            f"{self.judgments_per_comparison} judgments per comparison)",
            f"  plan {self.n_per_arm:,} judgments per arm ({self.n_comparisons_per_arm:,} comparisons), "
            f"{self.n_total:,} in total",
        ]
        if self.n_observed is not None:
            lines.append(
                f"  zero events in {self.n_observed:,}: rate below {self.upper_rule_of_three:.3%} (rule of three), "
                f"{self.upper_exact:.3%} (exact), {self.upper_beta:.3%} (Jeffreys posterior)")
        if self.n_zero_events_needed is not None:
            lines.append(f"  {self.n_zero_events_needed:,} event-free trials bound the rate below {self.max_rate:.3%}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _validate(data: Any, baseline: float, difference: float, design: str, alternative: str,
              confidence_level: float, power: float, icc: float | None, m: int,
              n_observed: int | None, max_rate: float | None) -> None:
    if data is not None and not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData or None; got {type(data).__name__}.")
    if not 0.0 < baseline < 1.0:
        raise SchemaError(f"`baseline` must be a rate strictly between 0 and 1; got {baseline!r}.")
    if difference == 0 or not 0.0 < baseline + difference < 1.0:
        raise SchemaError(
            f"`difference` must be non-zero and keep `baseline + difference` inside (0, 1); got "
            f"baseline {baseline!r} + difference {difference!r}.")
    if design not in ("one-sample", "two-sample"):
        raise SchemaError(f"`design` must be 'one-sample' or 'two-sample'; got {design!r}.")
    if alternative not in ("two-sided", "larger", "smaller"):
        raise SchemaError(f"`alternative` must be 'two-sided', 'larger' or 'smaller'; got {alternative!r}.")
    if alternative == "larger" and difference < 0 or alternative == "smaller" and difference > 0:
        raise SchemaError(f"`alternative={alternative!r}` contradicts the sign of `difference` ({difference!r}).")
    for name, value in (("confidence_level", confidence_level), ("power", power)):
        if not 0.0 < value < 1.0:
            raise SchemaError(f"`{name}` must be strictly between 0 and 1; got {value!r}.")
    if icc is not None and not 0.0 <= icc <= 1.0:
        raise SchemaError(f"`icc` must be in [0, 1]; got {icc!r}.")
    if not isinstance(m, (int, np.integer)) or m < 1:
        raise SchemaError(f"`judgments_per_comparison` must be a positive integer; got {m!r}.")
    if n_observed is not None and (not isinstance(n_observed, (int, np.integer)) or n_observed < 1):
        raise SchemaError(f"`n_observed` must be a positive integer; got {n_observed!r}.")
    if max_rate is not None and not 0.0 < max_rate < 1.0:
        raise SchemaError(f"`max_rate` must be strictly between 0 and 1; got {max_rate!r}.")


def comparison_icc(data: PreferenceData) -> tuple[float, float]:
    """ANOVA intraclass correlation of "first response won" within comparisons.

    Uses non-tie judgments of comparisons judged at least twice; returns
    ``(icc, mean judgments per comparison)``. Negative estimates are
    truncated at 0.

    Examples
    --------
    >>> j = pd.DataFrame({"comparison_id": list("aabbcc"), "annotator_id": list("xyxyxy"),
    ...                   "choice": ["a", "a", "b", "b", "a", "b"]})
    >>> icc, m = comparison_icc(PreferenceData(j))
    >>> round(icc, 3), m
    (0.5, 2.0)
    """
    oc = data.oriented_choice()
    comp = data.codes("comparison_id")[0]
    use = oc < 2
    y = (oc[use] == 0).astype(np.float64)
    g = comp[use]
    n_c = np.bincount(g).astype(np.float64)
    keep = n_c[g] >= 2
    y, g = y[keep], g[keep]
    _, g = np.unique(g, return_inverse=True)
    n_c = np.bincount(g).astype(np.float64)
    k, n = len(n_c), float(len(y))
    if k < 2:
        raise InsufficientDataError(
            "measuring the ICC needs at least 2 comparisons with 2 or more non-tie judgments; "
            f"found {k}. Pass `icc=` instead.")
    means = np.bincount(g, weights=y) / n_c
    grand = y.mean()
    ss_between = float(np.sum(n_c * (means - grand) ** 2))
    ss_within = float(np.sum((y - means[g]) ** 2))
    msb, msw = ss_between / (k - 1), ss_within / max(n - k, 1.0)
    n0 = (n - float(np.sum(n_c ** 2)) / n) / (k - 1)
    denom = msb + (n0 - 1.0) * msw
    icc = (msb - msw) / denom if denom > 0 else 0.0
    return float(min(max(icc, 0.0), 1.0)), float(n_c.mean())


def plan_annotations(
    data: PreferenceData | None = None,
    *,
    baseline: float = 0.5,
    difference: float = 0.05,
    design: Literal["one-sample", "two-sample"] = "one-sample",
    alternative: Literal["two-sided", "larger", "smaller"] = "two-sided",
    confidence_level: float = 0.95,
    power: float = 0.8,
    icc: float | None = None,
    judgments_per_comparison: int | None = None,
    n_observed: int | None = None,
    max_rate: float | None = None,
) -> AnnotationPlan:
    """Plan how many judgments detect a win-rate difference at a given power.

    Parameters
    ----------
    data : PreferenceData, optional
        A pilot batch to measure the ICC and judgments per comparison from
        (used when ``icc`` / ``judgments_per_comparison`` are not given).
    baseline : float
        Current rate (a win rate, or an event rate such as refusals).
    difference : float
        Change to detect (``+0.01`` is one percentage point up).
    design : {'one-sample', 'two-sample'}
        Test one rate against ``baseline``, or compare two arms of equal size.
    alternative : {'two-sided', 'larger', 'smaller'}
        Direction of the test.
    confidence_level : float
        ``1 - alpha``.
    power : float
        Probability of detecting ``difference`` when it is real.
    icc : float, optional
        Intraclass correlation of judgments within a comparison; 0 when
        neither this nor ``data`` is given.
    judgments_per_comparison : int, optional
        ``m`` in the design effect (default: measured on ``data``, else 1).
    n_observed : int, optional
        Trials observed with zero events, for the rare-event upper bounds.
    max_rate : float, optional
        Rate to bound with zero events: gives ``n_zero_events_needed``.

    Returns
    -------
    AnnotationPlan

    Raises
    ------
    SchemaError
        Out-of-range options.

    Examples
    --------
    >>> plan = plan_annotations(baseline=0.52, difference=0.01)
    >>> round(plan.n_per_arm_raw, -2), plan.n_per_arm
    (19600.0, 19573)
    >>> plan_annotations(baseline=0.52, difference=0.01, design="two-sample").n_per_arm
    39145
    """
    m_given = judgments_per_comparison
    _validate(data, baseline, difference, design, alternative, confidence_level, power, icc,
              1 if m_given is None else m_given, n_observed, max_rate)
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    warn: list[str] = []
    h = float(proportion_effectsize(baseline + difference, baseline))
    sm_alt = alternative if alternative == "two-sided" else "larger"
    ratio = 0.0 if design == "one-sample" else 1.0
    n_raw = float(NormalIndPower().solve_power(effect_size=abs(h), alpha=1.0 - confidence_level, power=power,
                                               ratio=ratio, alternative=sm_alt))
    icc_source = "given" if icc is not None else "none (assumed 0)"
    m = 1 if m_given is None else int(m_given)
    if data is not None and (icc is None or m_given is None):
        measured_icc, measured_m = comparison_icc(data)
        if icc is None:
            icc, icc_source = measured_icc, "measured on data"
        if m_given is None:
            m = max(int(round(measured_m)), 1)
    icc = 0.0 if icc is None else float(icc)
    deff = 1.0 + (m - 1) * icc
    n_arm = int(math.ceil(n_raw * deff))
    if min(baseline, baseline + difference) < 0.05 or max(baseline, baseline + difference) > 0.95:
        warn.append("rates near 0 or 1: the normal approximation is rough; check with an exact binomial "
                    "power calculation or simulation.")
    cl = confidence_level
    if n_observed is not None:
        up3 = min(3.0 / n_observed, 1.0)
        up_exact = 1.0 - (1.0 - cl) ** (1.0 / n_observed)
        up_beta = float(stats.beta.ppf(cl, 0.5, n_observed + 0.5))
        if abs(cl - 0.95) > 1e-9:
            warn.append("the rule of three is a 95% bound whatever `confidence_level` is.")
    else:
        up3 = up_exact = up_beta = float("nan")
    n_zero = int(math.ceil(math.log(1.0 - cl) / math.log1p(-max_rate))) if max_rate is not None else None
    n_arms = 1 if design == "one-sample" else 2
    return AnnotationPlan(
        baseline=float(baseline), difference=float(difference), design=design, alternative=alternative,
        confidence_level=cl, power=float(power), effect_size=h, n_per_arm_raw=n_raw, icc=icc,
        icc_source=icc_source, judgments_per_comparison=m, design_effect=deff, n_per_arm=n_arm, n_arms=n_arms,
        n_total=n_arm * n_arms, n_comparisons_per_arm=int(math.ceil(n_arm / m)), n_observed=n_observed,
        upper_rule_of_three=up3, upper_exact=up_exact, upper_beta=up_beta, max_rate=max_rate,
        n_zero_events_needed=n_zero, warnings=tuple(warn),
    )
