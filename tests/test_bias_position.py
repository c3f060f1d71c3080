"""Position bias: cross-checks, planted recovery, nulls, both-order consistency, unknown order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

import prefqa as pq
from prefqa.errors import InsufficientDataError, SchemaError

ATOL = 1e-10


@pytest.fixture(scope="module")
def planted():
    return pq.simulate(n_prompts=400, position_effect=0.5, n_always_a=1, n_position_biased=2, rng=0)


@pytest.fixture(scope="module")
def null():
    return pq.simulate(n_prompts=400, rng=3)


def test_overall_rate_matches_statsmodels_and_scipy(null) -> None:
    data, _ = null
    res = pq.position_bias(data)
    c = data.judgments["choice"]
    n_a, n = int((c == "a").sum()), int((c != "tie").sum())
    assert (res.n_a, res.n_trials) == (n_a, n)
    low, high = proportion_confint(n_a, n, alpha=0.05, method="wilson")
    assert res.confidence_interval.low == pytest.approx(low, abs=ATOL)
    assert res.confidence_interval.high == pytest.approx(high, abs=ATOL)
    assert res.p_value == pytest.approx(stats.binomtest(n_a, n).pvalue, rel=1e-9)


def test_per_annotator_q_values_are_bh(planted) -> None:
    data, _ = planted
    table = pq.position_bias(data).annotators
    # independent: scipy's exact test per annotator and statsmodels' BH
    expected_p = [stats.binomtest(int(k), int(n)).pvalue for k, n in zip(table["n_a"], table["n"])]
    np.testing.assert_allclose(table["p_value"], expected_p, rtol=1e-8)
    np.testing.assert_allclose(table["q_value"], multipletests(expected_p, method="fdr_bh")[1], rtol=1e-8)


def test_planted_position_effect_within_ci() -> None:
    data, truth = pq.simulate(n_prompts=400, position_effect=0.5, rng=0)
    res = pq.position_bias(data)
    lo, hi = res.logit_confidence_interval
    assert lo < truth.position_effect < hi
    assert res.confidence_interval.low > 0.5


def test_planted_annotators_are_flagged(planted) -> None:
    data, truth = planted
    table = pq.position_bias(data).annotators
    special = set(truth.annotators.index[truth.annotators["kind"].isin(["always_a", "position"])])
    assert special <= set(table.index[table["flagged"]])
    always = truth.annotators.index[truth.annotators["kind"] == "always_a"][0]
    assert table.loc[always, "reason"].startswith("chooses the first response 100% of the time")


def test_null_data_is_quiet(null) -> None:
    data, _ = null
    res = pq.position_bias(data)
    assert res.confidence_interval.low < 0.5 < res.confidence_interval.high
    assert res.logit_confidence_interval.low < 0 < res.logit_confidence_interval.high
    assert res.annotators["flagged"].sum() <= 1


def _both_orders_frame() -> pd.DataFrame:
    # (annotator, comparison) groups; r1/r2 are the responses, display order in response_a_id
    rows = [
        ("x", "c1", "r1", "r2", "a"), ("x", "c1", "r2", "r1", "b"),   # consistent: r1 both times
        ("x", "c2", "r3", "r4", "a"), ("x", "c2", "r4", "r3", "a"),   # inconsistent, 'a' both times
        ("y", "c1", "r1", "r2", "tie"), ("y", "c1", "r2", "r1", "tie"),  # consistent tie
        ("y", "c2", "r3", "r4", "b"), ("y", "c2", "r4", "r3", "tie"),  # inconsistent
        ("y", "c3", "r5", "r6", "a"),                                  # one order only
    ]
    j = pd.DataFrame(rows, columns=["annotator_id", "comparison_id", "response_a_id", "response_b_id", "choice"])
    return j


def test_position_consistency_counts_by_hand() -> None:
    j = _both_orders_frame()
    r = pd.DataFrame({"response_id": [f"r{i}" for i in range(1, 7)], "prompt_id": "p", "text": "t"})
    res = pq.position_bias(pq.PreferenceData(j, r))
    assert (res.n_both_orders, res.n_inconsistent, res.n_inconsistent_first) == (4, 2, 1)
    assert res.consistency == pytest.approx(0.5)
    table = res.annotators
    assert table.loc["x", ["n_both_orders", "n_inconsistent"]].tolist() == [2, 1]
    assert table.loc["y", ["n_both_orders", "n_inconsistent"]].tolist() == [2, 1]


def test_simulated_both_orders_are_all_found() -> None:
    data, _ = pq.simulate(n_prompts=100, both_orders=0.5, rng=4)
    res = pq.position_bias(data)
    # every repeated judgment is the same annotator and comparison in the swapped order
    repeats = data.judgments.duplicated(["annotator_id", "comparison_id"]).sum()
    assert res.n_both_orders == repeats > 0
    assert res.annotators["n_both_orders"].sum() == repeats


def test_unknown_display_order_raises(null) -> None:
    data, _ = null
    hidden = pq.PreferenceData(data.judgments, data.responses, data.prompts, order_known=False)
    with pytest.raises(InsufficientDataError, match="display order of these judgments is unknown"):
        pq.position_bias(hidden)


def test_missing_annotators_give_empty_table(null) -> None:
    data, _ = null
    j = data.judgments.assign(annotator_id=pd.NA)
    res = pq.position_bias(pq.PreferenceData(j, data.responses, data.prompts))
    assert res.annotators.empty and res.n_both_orders == 0
    assert any("no annotator ids" in s for s in res.skipped)
    assert np.isfinite(res.estimate)


def test_bad_options(null) -> None:
    with pytest.raises(SchemaError, match="`fdr` must be"):
        pq.position_bias(null[0], fdr=5)
    with pytest.raises(SchemaError, match="must be a PreferenceData"):
        pq.position_bias(pd.DataFrame())  # type: ignore[arg-type]
    ties = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["tie"]})
    with pytest.raises(InsufficientDataError, match="are ties"):
        pq.position_bias(pq.PreferenceData(ties))


def test_frame_and_summary(planted) -> None:
    res = pq.position_bias(planted[0])
    frame = res.to_frame()
    assert list(frame.index) == ["p_choose_a", "position_logit", "position_consistency"]
    assert "Position bias" in res.summary()


def test_position_not_identified_when_a_model_is_always_shown_first() -> None:
    rng = np.random.default_rng(0)
    n = 300
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(n)], "annotator_id": "x",
                      "choice": np.where(rng.random(n) < 0.7, "a", "b"), "model_a": "X", "model_b": "Y"})
    res = pq.position_bias(pq.PreferenceData(j))
    assert np.isnan(res.logit) and not res.converged
    assert any("rank deficient" in s for s in res.skipped)
    assert res.estimate == pytest.approx((j["choice"] == "a").mean())  # the raw rate is still reported
