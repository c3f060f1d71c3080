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


def test_iid_rate_matches_statsmodels_and_scipy(null) -> None:
    data, _ = null
    res = pq.position_bias(data, cluster="none")
    assert res.cluster == "none" and "iid" in res.se_method
    c = data.judgments["choice"]
    n_a, n = int((c == "a").sum()), int((c != "tie").sum())
    assert (res.n_a, res.n_trials) == (n_a, n)
    low, high = proportion_confint(n_a, n, alpha=0.05, method="wilson")
    assert res.confidence_interval.low == pytest.approx(low, abs=ATOL)
    assert res.confidence_interval.high == pytest.approx(high, abs=ATOL)
    assert res.p_value == pytest.approx(stats.binomtest(n_a, n).pvalue, rel=1e-9)


def test_default_rate_is_two_way_clustered_like_statsmodels(null) -> None:
    import statsmodels.api as sm

    data, _ = null
    res = pq.position_bias(data)
    assert res.cluster == "annotator+prompt" and "two-way" in res.se_method and "t reference" in res.se_method
    j = data.judgments[data.judgments["choice"] != "tie"]
    y = (j["choice"] == "a").to_numpy(dtype=float)
    groups = np.column_stack([pd.factorize(j["annotator_id"])[0], pd.factorize(j["prompt_id"])[0]])
    # independent: statsmodels' intercept-only GLM with two-way clustering (CGM, CR1 per term)
    fit = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups})
    df = min(len(np.unique(groups[:, 0])), len(np.unique(groups[:, 1]))) - 1
    tq = stats.t.ppf(0.975, df)
    b, se = fit.params[0], fit.bse[0]
    assert res.confidence_interval.low == pytest.approx(1 / (1 + np.exp(-(b - tq * se))), abs=1e-9)
    assert res.confidence_interval.high == pytest.approx(1 / (1 + np.exp(-(b + tq * se))), abs=1e-9)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(b / se), df), rel=1e-6)


def test_per_annotator_tests_match_independent_fits(planted) -> None:
    import statsmodels.api as sm

    from prefqa.bias._per_annotator import (
        pooled_model_offset,
        within_annotator_clusters,
    )

    data, _ = planted
    table = pq.position_bias(data).annotators
    # q-values are BH within each family (statsmodels)
    for p, q in (("p_position", "q_position"), ("p_consistency", "q_consistency")):
        ok = table[p].notna()
        np.testing.assert_allclose(table.loc[ok, q], multipletests(table.loc[ok, p], method="fdr_bh")[1], rtol=1e-9)
    # the model-controlled per-annotator logit and its within-annotator clustered SE: statsmodels GLM with offset
    off, clusters = pooled_model_offset(data), within_annotator_clusters(data)
    j = data.judgments
    for ann in ["ann-000", "ann-005"]:
        m = (j["annotator_id"] == ann).to_numpy() & (j["choice"] != "tie").to_numpy()
        y = (j["choice"].to_numpy()[m] == "a").astype(float)
        g = clusters[m]
        G = len(np.unique(g))
        fit = sm.GLM(y, np.ones((m.sum(), 1)), family=sm.families.Binomial(), offset=off[m]).fit(
            cov_type="cluster", cov_kwds={"groups": g, "use_correction": False})
        assert table.loc[ann, "position_logit"] == pytest.approx(fit.params[0], abs=1e-8)
        assert table.loc[ann, "position_logit_se"] == pytest.approx(fit.bse[0] * np.sqrt(G / (G - 1)), rel=1e-6)


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
    assert np.isnan(table.loc[always, "position_logit"])  # infinite logit: the score test still flags it


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
    assert res.side_confounded and not res.identifiable
    assert np.isnan(res.estimate) and np.isnan(res.p_value)  # no finding from a confounded design
    assert any("not identifiable" in s for s in res.skipped) and "cannot be separated" in res.summary()
    assert res.raw_estimate == pytest.approx((j["choice"] == "a").mean())  # the raw rate is still reported


def test_model_name_order_file_sets_side_confounded() -> None:
    # a file stored in model-name order: the alphabetically first model always shown as a
    rng = np.random.default_rng(1)
    models = np.array(["alpaca", "bard", "claude", "gpt4"])
    n = 400
    pick = np.array([rng.choice(4, 2, replace=False) for _ in range(n)])
    first, second = models[pick.min(axis=1)], models[pick.max(axis=1)]
    strength = dict(zip(models, [-1.0, -0.3, 0.3, 1.0]))
    p_first = 1 / (1 + np.exp(-(pd.Series(first).map(strength) - pd.Series(second).map(strength)).to_numpy()))
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(n)], "annotator_id": rng.choice(["u", "v"], n),
                      "choice": np.where(rng.random(n) < p_first, "a", "b"), "model_a": first, "model_b": second})
    res = pq.position_bias(pq.PreferenceData(j))
    assert res.side_confounded
    assert (res.side_balance["share_model_1_first"] == 1.0).all() and res.side_balance["one_sided"].all()
    assert "cannot be separated" in res.summary()
    # the same judgments with the sides of a random half swapped are balanced
    swap = rng.random(n) < 0.5
    k = j.assign(model_a=np.where(swap, j["model_b"], j["model_a"]), model_b=np.where(swap, j["model_a"], j["model_b"]),
                 choice=np.where(swap, np.where(j["choice"] == "a", "b", "a"), j["choice"]))
    balanced = pq.position_bias(pq.PreferenceData(k))
    assert not balanced.side_confounded and balanced.identifiable
    assert balanced.estimate == pytest.approx(balanced.raw_estimate)


# ---- issue 12: small messy designs never leak a numpy / scipy / LinAlg error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _messy(seed: int, n_ann: int, n_comp: int, max_per: int, models: bool, ties: float, dup: bool) -> pq.PreferenceData:
    rng = np.random.default_rng(seed)
    per = rng.integers(1, max_per + 1, n_comp)
    comp = np.repeat(np.arange(n_comp), per)
    n = len(comp)
    flip = rng.random(n) < 0.5
    ra, rb = np.char.add("x", comp.astype(str)), np.char.add("y", comp.astype(str))
    choice = np.where(rng.random(n) < ties, "tie", np.where(rng.random(n) < 0.5, "a", "b"))
    j = pd.DataFrame({"comparison_id": np.char.add("c", comp.astype(str)),
                      "annotator_id": np.char.add("u", rng.integers(0, n_ann, n).astype(str)),
                      "prompt_id": np.char.add("p", (comp // 2).astype(str)),
                      "response_a_id": np.where(flip, rb, ra), "response_b_id": np.where(flip, ra, rb), "choice": choice})
    if models:
        names = np.array(["m1", "m2", "m3"])
        ma, mb = names[comp % 3], names[(comp + 1) % 3]
        j["model_a"], j["model_b"] = np.where(flip, mb, ma), np.where(flip, ma, mb)
    if dup:
        j = pd.concat([j, j.iloc[: max(1, n // 3)]], ignore_index=True)
    ids = np.concatenate([np.char.add("x", np.arange(n_comp).astype(str)), np.char.add("y", np.arange(n_comp).astype(str))])
    lengths = rng.integers(1, 60, len(ids))
    texts = ["w" * int(k) + (" **b**" if rng.random() < 0.2 else "") for k in lengths]
    r = pd.DataFrame({"response_id": ids, "prompt_id": np.char.add("p", (np.tile(np.arange(n_comp), 2) // 2).astype(str)),
                      "text": texts})
    return pq.PreferenceData(j, r)


@settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10_000), n_ann=st.integers(1, 12), n_comp=st.integers(1, 12),
       max_per=st.integers(1, 7), models=st.booleans(), ties=st.sampled_from([0.0, 0.3, 1.0]), dup=st.booleans())
def test_messy_small_designs_return_or_raise_prefqa_errors(seed, n_ann, n_comp, max_per, models, ties, dup) -> None:
    import warnings

    data = _messy(seed, n_ann, n_comp, max_per, models, ties, dup)
    for fn in (pq.position_bias, pq.length_bias, pq.style_bias):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = fn(data)
            except pq.errors.PrefqaError:
                continue
        res.summary()
        res.to_frame()


# ---- per-annotator tests: an LLMBar-like design, and null data
def _llmbar_like(seed: int = 0, n_items: int = 400) -> pq.PreferenceData:
    """6 judges, every item judged by every judge in both display orders; 'falcon' is position-driven."""
    rng = np.random.default_rng(seed)
    judges = {"gpt-4": (0.0, 2.5), "claude-2": (0.1, 2.0), "palm-2": (-0.1, 1.5), "llama-2": (0.0, 1.0),
              "chatgpt": (0.05, 0.3), "falcon": (1.45, 0.6)}  # (position logit, weight on quality)
    d = rng.normal(0, 1.5, n_items)  # quality of response 1 minus response 2
    parts = []
    for name, (pos, weight) in judges.items():
        for first_is_1 in (True, False):
            o = 1.0 if first_is_1 else -1.0
            chose_a = rng.random(n_items) < special_expit(pos + o * weight * d)
            r1, r2 = np.char.add("r1-", np.arange(n_items).astype(str)), np.char.add("r2-", np.arange(n_items).astype(str))
            parts.append(pd.DataFrame({"comparison_id": np.char.add("i", np.arange(n_items).astype(str)),
                                       "annotator_id": name, "response_a_id": r1 if first_is_1 else r2,
                                       "response_b_id": r2 if first_is_1 else r1,
                                       "choice": np.where(chose_a, "a", "b")}))
    return pq.PreferenceData(pd.concat(parts, ignore_index=True))


def special_expit(x: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(x)


def test_llmbar_like_position_driven_judge_is_flagged_by_both_tests() -> None:
    from prefqa.bias._per_annotator import annotator_position_tests

    data = _llmbar_like()
    table = annotator_position_tests(data)
    falcon = table.loc["falcon"]
    assert 0.72 < falcon["p_a"] < 0.82 and 0.35 < falcon["self_consistency"] < 0.55
    assert falcon["flagged_position"] and falcon["flagged_consistency"]
    assert falcon["p_a_ci_low"] < falcon["p_a"] < falcon["p_a_ci_high"]
    # the unbiased judges (including the noisy one, chatgpt) are flagged by neither test
    others = table.drop(index="falcon")
    assert not others["flagged_position"].any() and not others["flagged_consistency"].any()
    # position_bias(...).annotators reads the same numbers
    pb = pq.position_bias(data).annotators
    np.testing.assert_array_equal(pb["q_position"].to_numpy(), table["q_position"].to_numpy())
    assert list(pb.index[pb["flagged"]]) == ["falcon"]
    assert "chooses the first response" in pb.loc["falcon", "reason"]


def test_per_annotator_tests_are_quiet_on_null_data() -> None:
    # no annotator biased (accuracy differs only); BH at 5%: a seed with any flag is a family-wise error
    from prefqa.bias._per_annotator import (
        annotator_length_tests,
        annotator_position_tests,
    )

    seeds = range(40)
    any_position = any_consistency = any_length = 0
    for seed in seeds:
        data, _ = pq.simulate(n_prompts=120, n_annotators=20, both_orders=0.3, rng=1000 + seed)
        pos = annotator_position_tests(data)
        any_position += bool(pos["flagged_position"].any())
        any_consistency += bool(pos["flagged_consistency"].any())
        any_length += bool(annotator_length_tests(data)["flagged_length"].any())
    limit = 0.05 * len(seeds) + 3 * np.sqrt(0.05 * 0.95 * len(seeds))  # 5% + 3 SE
    assert any_position <= limit and any_consistency <= limit and any_length <= limit, (
        any_position, any_consistency, any_length)


def test_per_annotator_position_test_is_not_estimable_when_side_is_confounded() -> None:
    from prefqa.bias._per_annotator import annotator_position_tests

    rng = np.random.default_rng(2)
    n = 300
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(n)], "annotator_id": rng.choice(list("xyz"), n),
                      "choice": np.where(rng.random(n) < 0.13, "a", "b"), "model_a": "X", "model_b": "Y"})
    table = annotator_position_tests(pq.PreferenceData(j))
    assert table["p_position"].isna().all() and not table["flagged_position"].any()
    assert table["p_a"].between(0.05, 0.25).all()  # the share is still reported


def _heterogeneous_positions(rng: np.random.Generator, n_annotators: int = 40, n_comparisons: int = 500) -> pq.PreferenceData:
    """Annotators' position logits ~ N(0, 0.8) (population P(a) = 1/2 by symmetry), a comparison effect."""
    per = 3
    comp = np.repeat(np.arange(n_comparisons), per)
    ann = np.concatenate([rng.choice(n_annotators, per, replace=False) for _ in range(n_comparisons)])
    pos = rng.normal(0, 0.8, n_annotators)
    quality = rng.normal(0, 1.0, n_comparisons) + rng.normal(0, 1.0, n_comparisons)
    o = np.where(rng.random(len(comp)) < 0.5, 1.0, -1.0)
    chose_a = rng.random(len(comp)) < special_expit(pos[ann] + o * quality[comp])
    r1, r2 = np.char.add("x", comp.astype(str)), np.char.add("y", comp.astype(str))
    j = pd.DataFrame({"comparison_id": np.char.add("c", comp.astype(str)), "annotator_id": np.char.add("u", ann.astype(str)),
                      "response_a_id": np.where(o > 0, r1, r2), "response_b_id": np.where(o > 0, r2, r1),
                      "choice": np.where(chose_a, "a", "b")})
    return pq.PreferenceData(j)


def test_clustered_intervals_cover_the_population_value_and_iid_ones_do_not() -> None:
    # measured at this seed: auto 0.965 for both intervals, iid 0.645
    rng = np.random.default_rng(11)
    replicates = 200
    hits = {"auto": [0, 0], "none": [0, 0]}
    for _ in range(replicates):
        data = _heterogeneous_positions(rng)
        for cluster in hits:
            res = pq.position_bias(data, cluster=cluster)
            hits[cluster][0] += res.confidence_interval.low <= 0.5 <= res.confidence_interval.high
            hits[cluster][1] += res.logit_confidence_interval.low <= 0.0 <= res.logit_confidence_interval.high
    auto = np.array(hits["auto"]) / replicates
    iid = np.array(hits["none"]) / replicates
    low = 0.95 - 3 * np.sqrt(0.95 * 0.05 / replicates)  # 0.904
    assert (auto >= low).all() and (auto <= 0.995).all(), auto
    assert (iid < 0.8).all(), iid  # the scoring can fail: iid intervals ignore annotator heterogeneity
