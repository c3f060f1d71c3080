"""Annotation planning: the issue's worked example against statsmodels and textbook formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

import prefqa as pq
from prefqa.errors import InsufficientDataError, SchemaError
from prefqa.planning import comparison_icc

TEXTBOOK_RTOL = 0.002  # arcsine (Cohen's h) vs Wald-variance sample sizes differ by < 0.2% here
EXACT = 1e-12
FAR_TAIL_RTOL = 1e-5

Z_A = stats.norm.ppf(0.975)  # two-sided alpha 0.05
Z_B = stats.norm.ppf(0.80)   # power 0.8


def test_issue_worked_example_one_sample() -> None:
    # issue 5: baseline 52%, +1 point, alpha 0.05 two-sided, power 0.8 -> about 19.6k judgments.
    # Textbook one-sample size (e.g. Chow, Shao & Wang, Sample Size Calculations, eq. 4.1.2):
    # n = (z_{1-a/2} + z_{1-b})^2 p(1-p) / d^2
    plan = pq.plan_annotations(baseline=0.52, difference=0.01)
    textbook = (Z_A + Z_B) ** 2 * 0.52 * 0.48 / 0.01**2
    assert round(plan.n_per_arm_raw, -2) == 19_600
    assert plan.n_per_arm_raw == pytest.approx(textbook, rel=TEXTBOOK_RTOL)
    # Cohen's h power formula n = ((z_a + z_b) / h)^2, computed here without statsmodels; statsmodels
    # also counts the far rejection tail of the two-sided test, which moves n by about 3e-6 relative
    h = 2 * math.asin(math.sqrt(0.53)) - 2 * math.asin(math.sqrt(0.52))
    assert plan.n_per_arm_raw == pytest.approx(((Z_A + Z_B) / h) ** 2, rel=FAR_TAIL_RTOL)
    assert plan.n_per_arm == math.ceil(plan.n_per_arm_raw) and plan.design_effect == 1.0


def test_issue_worked_example_two_arms() -> None:
    # issue 5: two arms -> about 39.1k per arm. Textbook two-proportion size (Fleiss, Levin & Paik 2003,
    # eq. 4.14 without continuity correction): n = (z_a + z_b)^2 [p1(1-p1) + p2(1-p2)] / d^2
    plan = pq.plan_annotations(baseline=0.52, difference=0.01, design="two-sample")
    textbook = (Z_A + Z_B) ** 2 * (0.52 * 0.48 + 0.53 * 0.47) / 0.01**2
    assert 39_100 <= plan.n_per_arm_raw < 39_200
    assert plan.n_per_arm_raw == pytest.approx(textbook, rel=TEXTBOOK_RTOL)
    assert plan.n_total == 2 * plan.n_per_arm


def test_design_effect_inflates_by_kish_formula() -> None:
    base = pq.plan_annotations(baseline=0.52, difference=0.01)
    plan = pq.plan_annotations(baseline=0.52, difference=0.01, icc=0.2, judgments_per_comparison=3)
    assert plan.design_effect == pytest.approx(1 + (3 - 1) * 0.2)
    assert plan.n_per_arm == math.ceil(base.n_per_arm_raw * 1.4)
    assert plan.n_comparisons_per_arm == math.ceil(plan.n_per_arm / 3)


def test_icc_matches_balanced_anova_formula() -> None:
    rng = np.random.default_rng(1)
    n_comp, k = 200, 3
    p_first = rng.beta(2, 2, n_comp)
    y = rng.random((n_comp, k)) < p_first[:, None]
    j = pd.DataFrame({"comparison_id": np.repeat(np.arange(n_comp), k).astype(str),
                      "annotator_id": np.tile(["x", "y", "z"], n_comp),
                      "choice": np.where(y.ravel(), "a", "b")})
    icc, m = comparison_icc(pq.PreferenceData(j))
    # balanced one-way ICC(1) = (MSB - MSW) / (MSB + (k - 1) MSW) (Shrout & Fleiss 1979, ICC(1,1))
    yf = y.astype(float)
    msb = k * yf.mean(axis=1).var(ddof=1)
    msw = ((yf - yf.mean(axis=1, keepdims=True)) ** 2).sum() / (n_comp * (k - 1))
    assert icc == pytest.approx((msb - msw) / (msb + (k - 1) * msw), rel=1e-10)
    assert m == 3.0
    plan = pq.plan_annotations(pq.PreferenceData(j), baseline=0.5, difference=0.05)
    assert plan.icc_source == "measured on data" and plan.judgments_per_comparison == 3
    assert plan.design_effect == pytest.approx(1 + 2 * icc)


def test_zero_failure_upper_bounds() -> None:
    plan = pq.plan_annotations(baseline=0.02, difference=-0.01, n_observed=1000, max_rate=0.001)
    assert plan.upper_rule_of_three == pytest.approx(3 / 1000, abs=EXACT)  # Hanley & Lippman-Hand (1983)
    # exact one-sided 95% bound = upper end of the two-sided 90% Clopper-Pearson interval
    cp = stats.binomtest(0, 1000).proportion_ci(confidence_level=0.90, method="exact").high
    assert plan.upper_exact == pytest.approx(cp, rel=1e-9)
    # Jeffreys Beta(0.5, n + 0.5) posterior: upper end of statsmodels' two-sided 90% Jeffreys interval
    jeffreys = proportion_confint(0, 1000, alpha=0.10, method="jeffreys")[1]
    assert plan.upper_beta == pytest.approx(jeffreys, rel=1e-9)
    n = plan.n_zero_events_needed
    assert (1 - 0.001) ** n <= 0.05 < (1 - 0.001) ** (n - 1)
    assert any("near 0 or 1" in w for w in plan.warnings)


def test_errors() -> None:
    with pytest.raises(SchemaError, match="`baseline` must be a rate"):
        pq.plan_annotations(baseline=52, difference=1)
    with pytest.raises(SchemaError, match="keep `baseline \\+ difference` inside"):
        pq.plan_annotations(baseline=0.99, difference=0.05)
    with pytest.raises(SchemaError, match="`design` must be"):
        pq.plan_annotations(difference=0.01, design="paired")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="contradicts the sign"):
        pq.plan_annotations(difference=-0.01, alternative="larger")
    with pytest.raises(SchemaError, match="`icc` must be in"):
        pq.plan_annotations(difference=0.01, icc=1.5)
    one = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"]})
    with pytest.raises(InsufficientDataError, match="Pass `icc=` instead"):
        pq.plan_annotations(pq.PreferenceData(one), difference=0.01)


def test_frame_and_summary() -> None:
    plan = pq.plan_annotations(baseline=0.52, difference=0.01, n_observed=500)
    frame = plan.to_frame()
    assert frame.loc["n_per_arm", "estimate"] == plan.n_per_arm
    assert "rule of three" in plan.summary()
