"""annotator_table: planted-bias recovery, null calibration, and checks against independent implementations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

import prefqa as pq
from prefqa._stats import bh_qvalues as bh
from prefqa.annotators._stats import longest_runs, run_pvalue
from prefqa.errors import SchemaError

SEED = 11
MAX_FALSE_FLAGS_FIXED_SEED = 1     # the issue: at most one false flag at a fixed seed
MAX_FALSE_FLAG_RATE = 0.05         # the issue: at most 5% of null annotators flagged over repeats
N_NULL_REPEATS = 8
RTOL_INDEPENDENT = 1e-9            # exact formulas against independent code
ATOL_SLOPE = 1e-3                  # our ridge (1e-3) against statsmodels' unpenalized Logit
MIN_DS_CORRELATION = 0.9          # our EM vs prefqa.consensus' EM (different smoothing and stopping rules)
RUN_MC_TOL = 0.03                  # Poisson approximation of the longest-run tail vs Monte Carlo


@pytest.fixture(scope="module")
def planted():
    return pq.simulate(n_prompts=400, n_annotators=30, n_spammers=3, n_always_a=2, n_position_biased=3,
                       n_length_biased=3, rng=SEED)


@pytest.fixture(scope="module")
def planted_table(planted):
    return pq.annotator_table(planted[0])


def test_planted_annotators_are_all_flagged(planted, planted_table):
    _, truth = planted
    kinds = truth.annotators["kind"].reindex(planted_table.index)
    flagged = planted_table["flagged"]
    assert flagged[kinds != "normal"].all(), planted_table.loc[kinds != "normal", ["flagged", "reason"]]
    assert int((flagged & (kinds == "normal")).sum()) <= MAX_FALSE_FLAGS_FIXED_SEED


def test_reasons_name_the_planted_problem(planted, planted_table):
    _, truth = planted
    kinds = truth.annotators["kind"].reindex(planted_table.index)
    reason = planted_table["reason"]
    assert reason[kinds == "position"].str.contains("chooses the first response").all()
    assert reason[kinds == "always_a"].str.contains("chooses the first response in 100%").all()
    assert reason[kinds == "length"].str.contains("prefers the longer response").all()
    assert reason[kinds == "spammer"].str.contains("s per judgment").all()
    assert (planted_table.loc[kinds == "position", "q_position"] < 0.05).all()
    assert (planted_table.loc[kinds == "length", "length_slope"] > 1.0).all()
    assert reason[~planted_table["flagged"]].eq("").all()


def test_null_annotators_are_not_flagged_over_repeats():
    flags, total = 0, 0
    for i in range(N_NULL_REPEATS):
        data, _ = pq.simulate(n_prompts=300, n_annotators=30, rng=1000 + i)
        table = pq.annotator_table(data)
        flags += int(table["flagged"].sum())
        total += len(table)
    assert flags / total <= MAX_FALSE_FLAG_RATE


def test_columns_and_bh_within_each_test(planted_table):
    from prefqa.annotators.table import TESTS

    for t in TESTS:
        p = planted_table[f"p_{t}"].to_numpy()
        if np.isfinite(p).any():
            ok = np.isfinite(p)
            # statsmodels' BH on the annotators in that test's family only
            expected = multipletests(p[ok], method="fdr_bh")[1]
            np.testing.assert_allclose(planted_table[f"q_{t}"].to_numpy()[ok], expected, rtol=RTOL_INDEPENDENT)
    assert planted_table.index.name == "annotator_id"
    assert planted_table["flagged"].dtype == bool


def test_bh_against_statsmodels_with_nan():
    p = np.array([0.001, 0.2, np.nan, 0.03, 0.04, 0.5])
    ok = np.isfinite(p)
    np.testing.assert_allclose(bh(p)[ok], multipletests(p[ok], method="fdr_bh")[1], rtol=RTOL_INDEPENDENT)
    assert np.isnan(bh(p)[2])


def test_loo_agreement_kappa_and_p_a_against_plain_loops():
    from statsmodels.stats.inter_rater import cohens_kappa

    data, _ = pq.simulate(n_prompts=30, n_annotators=6, judgments_per_comparison=3, both_orders=0.3, rng=5)
    table = pq.annotator_table(data, min_judgments=5)
    j = data.judgments.assign(o=data.oriented_choice())
    rows = list(j.itertuples())
    # independent: plain Python over every judgment (small data only). The column's definition
    # (prefqa.reliability.annotator_agreement): the first judgment per annotator and comparison is
    # compared with the strict plurality of the other annotators' first judgments; ties are not scored.
    first = {}
    for r in rows:
        first.setdefault((r.annotator_id, r.comparison_id), r.o)
    for ann in table.index:
        pairs = []
        for (a, cid), own in first.items():
            if a != ann:
                continue
            others = [o for (b, c), o in first.items() if c == cid and b != ann]
            counts = np.bincount(others, minlength=3) if others else np.zeros(3, int)
            if counts.max() > 0 and (counts == counts.max()).sum() == 1:
                pairs.append((own, int(counts.argmax())))
        hits = [own == cons for own, cons in pairs]
        assert table.loc[ann, "n_scored"] == len(pairs)
        assert table.loc[ann, "loo_agreement"] == pytest.approx(np.mean(hits), rel=RTOL_INDEPENDENT)
        tab = np.zeros((3, 3))
        for own, cons in pairs:
            tab[own, cons] += 1
        # orientation-free kappa: the table counted half as stored, half with the two responses swapped
        sym = (tab + tab[[1, 0, 2]][:, [1, 0, 2]]) / 2
        assert table.loc[ann, "loo_kappa"] == pytest.approx(cohens_kappa(sym).kappa, rel=1e-9)
        mine = j[(j.annotator_id == ann) & (j.choice != "tie")]
        k, n = int((mine.choice == "a").sum()), len(mine)
        assert table.loc[ann, "p_a"] == pytest.approx(k / n, rel=RTOL_INDEPENDENT)
    # both_orders=0.3 repeats comparisons for the same annotator: the intra-rater columns are filled
    assert (table["n_repeat_units"] > 0).all() and table["intra_agreement"].between(0, 1).all()


def test_length_and_position_columns_are_the_shared_implementation(planted, planted_table):
    # one implementation per question: the table's per-annotator length and position columns are those
    # of prefqa.bias._per_annotator (checked there against statsmodels); nothing is re-estimated here
    from prefqa.bias._per_annotator import (
        annotator_length_tests,
        annotator_position_tests,
    )

    data, _ = planted
    length = annotator_length_tests(data).reindex(planted_table.index)
    for col in ("n_length", "length_slope", "length_slope_se", "p_length", "q_length"):
        np.testing.assert_array_equal(planted_table[col].to_numpy(dtype=float), length[col].to_numpy(dtype=float))
    position = annotator_position_tests(data).reindex(planted_table.index)
    for col in ("n_position", "p_a", "p_a_ci_low", "p_a_ci_high", "position_logit", "position_logit_se",
                "p_position", "q_position", "n_both_orders", "self_consistency", "p_consistency", "q_consistency"):
        np.testing.assert_array_equal(planted_table[col].to_numpy(dtype=float),
                                      position[col].to_numpy(dtype=float))
    flagged = planted_table["q_length"].lt(0.05)
    assert (flagged == length["flagged_length"]).all()


def test_dawid_skene_ranks_spammers_last(planted, planted_table):
    _, truth = planted
    kinds = truth.annotators["kind"].reindex(planted_table.index)
    acc = planted_table["ds_accuracy"]
    assert acc[kinds == "spammer"].max() < acc[kinds == "normal"].median()


def test_dawid_skene_recovers_confusion_on_clean_synthetic():
    # ds_accuracy now comes from pq.consensus(method="dawid_skene"): check that EM on known truth
    rng = np.random.default_rng(0)
    n_comp, n_ann = 2000, 5
    truth = rng.integers(0, 2, n_comp)
    acc = np.array([0.95, 0.9, 0.85, 0.8, 0.5])  # the last one flips coins
    comp = np.repeat(np.arange(n_comp), n_ann)
    ann = np.tile(np.arange(n_ann), n_comp)
    right = rng.random(len(comp)) < acc[ann]
    label = np.where(right, truth[comp], 1 - truth[comp])
    j = pd.DataFrame({"comparison_id": [f"c{i:05d}" for i in comp], "annotator_id": [f"a{i}" for i in ann],
                      "choice": np.where(label == 0, "a", "b")})
    res = pq.consensus(pq.PreferenceData(j), method="dawid_skene")
    conf = res.confusion.set_index(["annotator_id", "true_label", "observed_label"])["probability"]
    diag = np.array([(conf[(f"a{i}", "1", "1")] + conf[(f"a{i}", "2", "2")]) / 2 for i in range(n_ann)])
    np.testing.assert_allclose(diag, acc, atol=0.03)
    table = pq.annotator_table(pq.PreferenceData(j), consensus=res)
    assert table["ds_accuracy"].idxmin() == "a4"


def test_longest_run_and_its_pvalue_against_monte_carlo():
    rng = np.random.default_rng(3)
    shares = np.array([0.45, 0.45, 0.10])
    n, reps = 120, 4000
    draws = rng.choice(3, size=(reps, n), p=shares)
    ann = np.repeat(np.arange(reps), n)
    runs = longest_runs(ann, draws.ravel(), np.tile(np.arange(n), reps), reps)
    for length in (6, 8, 10):
        approx = run_pvalue(np.array([length]), np.array([n]), shares)[0]
        assert approx == pytest.approx((runs >= length).mean(), abs=RUN_MC_TOL)


def test_gold_and_hard_rules():
    data, truth = pq.simulate(n_prompts=300, n_annotators=12, n_spammers=1, rng=8)
    comps = truth.comparisons.set_index("comparison_id")
    j = data.judgments.copy()
    better_first = (comps["quality_1"] > comps["quality_2"]).reindex(j["comparison_id"]).to_numpy()
    shown_first = j["response_a_id"].to_numpy() == comps["response_1_id"].reindex(j["comparison_id"]).to_numpy()
    gold = np.where(better_first == shown_first, "a", "b").astype(object)
    gold[np.abs((comps["quality_1"] - comps["quality_2"]).reindex(j["comparison_id"]).to_numpy()) < 1.5] = None
    j["gold"] = gold
    table = pq.annotator_table(pq.PreferenceData(j, data.responses, data.prompts), max_run=4, fast_seconds=1.0)
    spam = truth.annotators.index[truth.annotators["kind"] == "spammer"][0]
    assert table["n_gold"].gt(0).all()
    assert table.loc[spam, "gold_accuracy"] < table["gold_accuracy"].drop(spam).min()
    assert (table["longest_run"] >= 4).all() and table["flagged"].all()  # max_run=4 flags everyone
    assert table["reason"].str.contains("(rule max_run = 4)", regex=False).all()  # a rule names itself
    assert not table["fast"].any()  # nobody's median is under 1 s
    slow = pq.annotator_table(pq.PreferenceData(j, data.responses, data.prompts), fast_seconds=1e6)
    assert slow["fast"].all()
    assert slow["reason"].str.contains("below the rule fast_seconds = 1000000.0 s", regex=False).all()


def test_leniency_recovers_planted_values():
    data, truth = pq.simulate(n_prompts=300, n_annotators=15, ratings=True, leniency_sd=0.6, rng=4)
    table = pq.annotator_table(data)
    planted = truth.annotators["leniency"].reindex(table.index)
    assert np.corrcoef(table["leniency"], planted)[0, 1] > 0.9
    assert table["n_ratings"].gt(0).all()


def test_unknown_order_empties_position_columns_and_says_why():
    data, _ = pq.simulate(n_prompts=100, n_annotators=8, rng=2)
    blind = pq.PreferenceData(data.judgments, data.responses, data.prompts, order_known=False)
    table = pq.annotator_table(blind)
    assert table["p_a"].isna().all() and table["p_position"].isna().all() and table["longest_run"].isna().all()
    assert table["notes"].str.contains("display order unknown").all()
    assert any("order_known=False" in n for n in table.attrs["notes"])
    assert table["tie_rate"].notna().all()


def test_missing_annotator_ids_give_an_empty_table_with_a_note():
    data, _ = pq.simulate(n_prompts=20, n_annotators=5, rng=2)
    j = data.judgments.assign(annotator_id=pd.NA)
    table = pq.annotator_table(pq.PreferenceData(j, data.responses, data.prompts))
    assert len(table) == 0 and "flagged" in table.columns
    assert any("annotator_id" in n for n in table.attrs["notes"])


def test_too_few_judgments_are_not_tested():
    data, _ = pq.simulate(n_prompts=20, n_annotators=5, rng=2)
    table = pq.annotator_table(data, min_judgments=1000)
    for t in ("agreement", "tie", "length"):  # the pool-relative tests and the length minimum
        assert table[f"p_{t}"].isna().all()
    assert not table["flagged"].any()
    assert table["notes"].str.contains("too few judgments").all()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"min_judgments": 1}, "`min_judgments` must be an integer >= 2; got 1"),
    ({"fdr": 1.5}, r"`fdr` is a false discovery rate in \(0, 1\); got 1.5"),
    ({"confidence_level": 95}, "`confidence_level` must be between 0 and 1"),
    ({"fast_seconds": -2}, "`fast_seconds` must be a positive number"),
    ({"max_run": 1}, "`max_run` must be an integer >= 2"),
])
def test_bad_options_are_rejected(kwargs, match):
    data, _ = pq.simulate(n_prompts=5, n_annotators=3, rng=0, with_text=False)
    with pytest.raises(SchemaError, match=match):
        pq.annotator_table(data, **kwargs)


def test_bad_inputs_are_rejected():
    with pytest.raises(SchemaError, match="`data` must be a PreferenceData; got DataFrame"):
        pq.annotator_table(pd.DataFrame())
    data, _ = pq.simulate(n_prompts=5, n_annotators=3, rng=0, with_text=False)
    j = data.judgments.assign(gold="A")
    with pytest.raises(SchemaError, match="`gold` must hold the correct displayed choice"):
        pq.annotator_table(pq.PreferenceData(j))


def test_reuses_a_consensus_result_and_agrees_with_it(planted, planted_table):
    data, _ = planted
    cons = pq.consensus(data, method="dawid_skene")
    reused = pq.annotator_table(data, consensus=cons)
    # prefqa.consensus' Dawid-Skene (an independently written EM) ranks annotators like ours
    assert np.corrcoef(reused["ds_accuracy"], planted_table["ds_accuracy"])[0, 1] > MIN_DS_CORRELATION
    with pytest.raises(SchemaError, match="`consensus` must be a pq.consensus"):
        pq.annotator_table(data, consensus="dawid_skene")


def test_length_covariate_is_prefqa_features_length():
    from prefqa.annotators._metrics import length_covariate
    from prefqa.features import judgment_features

    data, truth = pq.simulate(n_prompts=50, rng=9)
    mine = length_covariate(data)  # computed from character counts only
    np.testing.assert_allclose(mine, judgment_features(data, ["length"])["length"].to_numpy(), rtol=1e-12)
    # and the simulator's own scale (THE covariate: characters, RMS scale, tanh)
    j = data.judgments
    la = j["response_a_id"].map(data.responses.set_index("response_id")["text"].str.len())
    lb = j["response_b_id"].map(data.responses.set_index("response_id")["text"].str.len())
    np.testing.assert_allclose(mine, np.tanh((la - lb).to_numpy() / truth.length_scale), rtol=1e-12)


def test_straight_lining_is_tested_in_timestamp_order():
    data, _ = pq.simulate(n_prompts=300, n_annotators=12, rng=12)
    j = data.judgments.copy()
    rng = np.random.default_rng(0)
    j["timestamp"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.permutation(len(j)), unit="min")
    liner = "ann-003"
    mine = j.index[j["annotator_id"] == liner]
    order = mine[np.argsort(j.loc[mine, "timestamp"].to_numpy())]
    block = np.arange(len(order)) // 25  # 25 identical clicks in a row, alternating a / b
    j.loc[order, "choice"] = np.where(block % 2 == 0, "a", "b")
    table = pq.annotator_table(pq.PreferenceData(j, data.responses, data.prompts))
    assert table.loc[liner, "longest_run"] >= 25
    assert table.loc[liner, "q_run"] < 0.05 and "straight-lining" in table.loc[liner, "reason"]
    others = table.drop(liner)
    assert others["p_run"].notna().all() and not others["reason"].str.contains("straight-lining").any()
    assert any("timestamp order" in n for n in table.attrs["notes"])


def test_crossed_model_supplies_position_and_length_columns():
    data, truth = pq.simulate(n_prompts=200, n_annotators=16, n_length_biased=2, n_position_biased=2, rng=13)
    fit = pq.fit_preference_model(data)
    table = pq.annotator_table(data, model=fit)
    plain = pq.annotator_table(data)
    modes = fit.random_effects["annotator:length"]
    expected = fit.fixed_effects.loc["length", "estimate"] + modes["estimate"].reindex(table.index)
    np.testing.assert_allclose(table["model_length_slope"], expected, rtol=RTOL_INDEPENDENT)
    np.testing.assert_allclose(table["model_length_slope_se"], modes["std_error"].reindex(table.index),
                               rtol=RTOL_INDEPENDENT)
    pos = fit.fixed_effects.loc["position", "estimate"] + fit.random_effects["annotator"]["estimate"]
    np.testing.assert_allclose(table["model_position_logit"], pos.reindex(table.index), rtol=RTOL_INDEPENDENT)
    # the model's modes are shown beside the tests; the tests are the one implementation's, unchanged
    kinds = truth.annotators["kind"].reindex(table.index)
    assert set(table["model_length_slope"].nlargest(2).index) == set(kinds.index[kinds == "length"])
    for t in ("position", "length", "consistency"):
        np.testing.assert_array_equal(table[f"q_{t}"].to_numpy(), plain[f"q_{t}"].to_numpy())
    assert (table["flagged"] == plain["flagged"]).all()
    assert table.loc[kinds != "normal", "flagged"].all()
    assert any("conditional mode" in n for n in table.attrs["notes"])
    with pytest.raises(SchemaError, match="`model` must be a pq.fit_preference_model"):
        pq.annotator_table(data, model="mixed")


def test_large_data_fits_dawid_skene_on_a_subsample(planted, planted_table, monkeypatch):
    import prefqa.annotators._consensus as cons

    data, _ = planted
    monkeypatch.setattr(cons, "MAX_DS_JUDGMENTS", data.n_judgments // 3)
    sub = pq.annotator_table(data)
    assert any("fitted on one comparison in 3" in n or "one comparison in 4" in n for n in sub.attrs["notes"])
    # Dawid-Skene with a 'tie' class has several optima on small data, so the subsample fit's accuracies
    # are not the full fit's; what must hold: spammers still rank last, and the flags do not change
    _, truth = planted
    kinds = truth.annotators["kind"].reindex(sub.index)
    assert sub.loc[kinds == "spammer", "ds_accuracy"].max() < sub.loc[kinds == "normal", "ds_accuracy"].median()
    assert (sub["flagged"] == planted_table["flagged"]).all()


# ---------------------------------------------------------------- the gold-accuracy test (absolute, one-sided)
MIN_GOLD_ACCURACY = 0.6
N_GOLD_ANNOTATORS = 400            # each annotator is one replicate of the test and the interval
COVERAGE_SE = 3                    # allowed Monte Carlo deviation, in binomial SEs at the nominal rate


def _gold_data(acc: np.ndarray, n_items: int, both_orders: bool, rng: int, item_sd: float = 0.0
               ) -> pq.PreferenceData:
    """Annotators answering gold items; with ``both_orders`` each item twice, correlated through the item."""
    from scipy.special import expit, logit

    g = np.random.default_rng(rng)
    m = len(acc)
    item_effect = g.normal(0, item_sd, size=(m, n_items)) if item_sd else np.zeros((m, n_items))
    p_item = expit(logit(acc)[:, None] + item_effect)
    reps = 2 if both_orders else 1
    ann = np.repeat(np.arange(m), n_items * reps)
    item = np.tile(np.repeat(np.arange(n_items), reps), m)
    correct = g.random(len(ann)) < p_item[ann, item]
    gold = np.where(g.random(len(ann)) < 0.5, "a", "b")
    choice = np.where(correct, gold, np.where(gold == "a", "b", "a"))
    j = pd.DataFrame({"comparison_id": np.char.add("c", item.astype(str)),
                      "annotator_id": np.char.add("ann-", np.char.zfill(ann.astype(str), 4)),
                      "choice": choice, "gold": gold})
    return pq.PreferenceData(j)


def _gold_table(data: pq.PreferenceData) -> pd.DataFrame:
    from prefqa.annotators._gold import gold_accuracy_test
    from prefqa.annotators._metrics import codes_for

    return gold_accuracy_test(data, codes_for(data)[1], min_gold_accuracy=MIN_GOLD_ACCURACY)


def test_gold_test_exact_binomial_matches_scipy_binomtest():
    from scipy.stats import binomtest
    from statsmodels.stats.proportion import proportion_confint

    data = _gold_data(np.array([0.45, 0.55, 0.6, 0.7, 0.9]), 60, both_orders=False, rng=1)
    t = _gold_table(data)
    j = data.judgments
    for ann, row in t.iterrows():
        mine = j[j["annotator_id"] == ann]
        k, n = int((mine["choice"] == mine["gold"]).sum()), len(mine)
        ref = binomtest(k, n, MIN_GOLD_ACCURACY, alternative="less")
        assert row["gold_se_method"] == "exact binomial"
        assert row["p_gold"] == pytest.approx(ref.pvalue, rel=RTOL_INDEPENDENT)
        lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (row["gold_ci_low"], row["gold_ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
    np.testing.assert_allclose(t["q_gold"], multipletests(t["p_gold"], method="fdr_bh")[1], rtol=RTOL_INDEPENDENT)


def test_gold_test_cluster_robust_matches_statsmodels():
    from scipy import stats
    from statsmodels.regression.linear_model import OLS

    data = _gold_data(np.array([0.5, 0.65, 0.8]), 80, both_orders=True, rng=2, item_sd=1.0)
    t = _gold_table(data)
    j = data.judgments
    for ann, row in t.iterrows():
        mine = j[j["annotator_id"] == ann]
        y = (mine["choice"] == mine["gold"]).to_numpy(dtype=float)
        groups = pd.factorize(mine["comparison_id"])[0]
        G = groups.max() + 1
        fit = OLS(y, np.ones((len(y), 1))).fit(cov_type="cluster", cov_kwds={"groups": groups,
                                                                              "use_correction": False})
        se = fit.bse[0] * np.sqrt(G / (G - 1))  # CR1 with the G / (G - 1) factor only
        assert row["gold_se_method"] == "cluster-robust by comparison"
        assert row["p_gold"] == pytest.approx(stats.t.cdf((y.mean() - MIN_GOLD_ACCURACY) / se, G - 1),
                                              rel=RTOL_INDEPENDENT)
        half = stats.t.ppf(0.975, G - 1) * se
        assert (row["gold_ci_low"], row["gold_ci_high"]) == pytest.approx((y.mean() - half, y.mean() + half),
                                                                          rel=1e-9)


@pytest.mark.parametrize("both_orders", [False, True])
def test_gold_test_null_rate_and_interval_coverage(both_orders):
    # every annotator exactly at min_gold_accuracy: the one-sided test rejects at about its level, and
    # the interval covers the true accuracy at its nominal rate; with both orders the two judgments
    # of an item share an item effect (sd 1 on the logit), which an iid interval would ignore
    acc = np.full(N_GOLD_ANNOTATORS, MIN_GOLD_ACCURACY)
    data = _gold_data(acc, 120, both_orders=both_orders, rng=3 + both_orders, item_sd=1.0 if both_orders else 0.0)
    t = _gold_table(data)
    if both_orders:  # the population accuracy of an item-heterogeneous annotator: E[expit(logit(0.6) + e)]
        from scipy.special import expit, logit

        e = np.random.default_rng(0).normal(0, 1.0, 400_000)
        truth = float(expit(logit(MIN_GOLD_ACCURACY) + e).mean())
    else:
        truth = MIN_GOLD_ACCURACY
    se_rate = np.sqrt(0.05 * 0.95 / N_GOLD_ANNOTATORS)
    covered = ((t["gold_ci_low"] <= truth) & (truth <= t["gold_ci_high"])).mean()
    assert covered >= 0.95 - COVERAGE_SE * se_rate, covered
    if not both_orders:  # the null holds exactly only where the accuracy is exactly the reference
        assert (t["p_gold"] < 0.05).mean() <= 0.05 + COVERAGE_SE * se_rate


def test_gold_test_recovers_a_planted_low_accuracy_annotator():
    acc = np.array([0.5] + [0.8] * 9)
    t = _gold_table(_gold_data(acc, 200, both_orders=True, rng=5, item_sd=0.5))
    assert t.index[t["flagged_gold"]].tolist() == ["ann-0000"]


# ---------------------------------------------------------------- small messy designs (derandomised)
HYPOTHESIS_EXAMPLES = 40


def messy_design(seed: int, n_ann: int, n_cmp: int, max_per: int, tie_mode: str, n_dup: int,
                 with_prompt: bool, with_text: bool, with_seconds: bool, with_gold: bool,
                 both_orders: bool) -> pd.DataFrame:
    """A small long judgments table: ragged, duplicated rows, all/no ties, gold, both-order repeats."""
    rng = np.random.default_rng(seed)
    per = np.minimum(rng.integers(1, max_per + 1, size=n_cmp), n_ann)
    cmp_idx = np.repeat(np.arange(n_cmp), per)
    ann_idx = np.concatenate([rng.permutation(n_ann)[:k] for k in per])
    labels = np.array(["a", "b", "tie"])
    pick = {"all": np.full(len(cmp_idx), 2), "none": rng.integers(0, 2, size=len(cmp_idx)),
            "mixed": rng.integers(0, 3, size=len(cmp_idx))}[tie_mode]
    frame = pd.DataFrame({"comparison_id": [f"c{i}" for i in cmp_idx], "annotator_id": [f"ann{i}" for i in ann_idx],
                          "choice": labels[pick]})
    prompt_of = rng.integers(0, 3, size=n_cmp)
    if with_prompt:
        frame["prompt_id"] = [f"p{prompt_of[i]}" for i in cmp_idx]
    if with_text:
        words = rng.integers(1, 40, size=(n_cmp, 2))
        frame["prompt"] = [f"prompt {prompt_of[i]}" for i in cmp_idx]
        frame["response_a"] = ["word " * words[i, 0] for i in cmp_idx]
        frame["response_b"] = ["term " * words[i, 1] for i in cmp_idx]
    if with_seconds:
        frame["seconds"] = rng.gamma(2.0, 5.0, size=len(frame))
    if with_gold:
        gold = np.where(rng.random(n_cmp) < 0.5, "a", "b").astype(object)
        gold[rng.random(n_cmp) < 0.3] = None
        frame["gold"] = [gold[i] for i in cmp_idx]
    if both_orders and with_text:
        swapped = frame.sample(frac=0.5, random_state=seed % 1000).copy()
        swapped[["response_a", "response_b"]] = swapped[["response_b", "response_a"]].to_numpy()
        swapped["choice"] = swapped["choice"].map({"a": "b", "b": "a", "tie": "tie"})
        if with_gold:
            swapped["gold"] = swapped["gold"].map({"a": "b", "b": "a"})
        frame = pd.concat([frame, swapped], ignore_index=True)
    if n_dup:
        frame = pd.concat([frame, frame.sample(n=min(n_dup, len(frame)), random_state=seed % 1000)],
                          ignore_index=True)
    return frame


def _designs():
    from hypothesis import strategies as st

    return st.builds(messy_design, seed=st.integers(0, 2**31 - 1), n_ann=st.integers(1, 12),
                     n_cmp=st.integers(1, 12), max_per=st.integers(1, 7),
                     tie_mode=st.sampled_from(["mixed", "none", "all"]), n_dup=st.integers(0, 3),
                     with_prompt=st.booleans(), with_text=st.booleans(), with_seconds=st.booleans(),
                     with_gold=st.booleans(), both_orders=st.booleans())


def _answers_or_prefqa_error(fn, *args, **kwargs):
    import warnings

    from prefqa.errors import PrefqaError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except PrefqaError as exc:
        assert str(exc).strip()
        return None


def test_annotator_table_and_judge_report_on_messy_designs():
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=HYPOTHESIS_EXAMPLES, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_designs())
    def check(frame):
        data = _answers_or_prefqa_error(pq.read, frame)
        if data is None:
            return
        table = _answers_or_prefqa_error(pq.annotator_table, data, min_judgments=2)
        if table is not None:
            assert table.index.is_unique and table["flagged"].dtype == bool
            assert set(table.index) <= set(frame["annotator_id"])
            q = table[[f"q_{t}" for t in ("position", "consistency", "gold")]].to_numpy(dtype=float)
            assert np.all(np.isnan(q) | ((q >= 0) & (q <= 1)))
            assert (table["reason"] != "").eq(table["flagged"]).all()
        first = sorted(frame["annotator_id"].unique())[:1]
        rep = _answers_or_prefqa_error(pq.judge_report, data, judges=first)
        if rep is not None:
            assert rep.judges == tuple(first) and len(rep.to_frame()) == 7 * len(rep.table)
            assert rep.summary()

    check()


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_gold_flags_the_simulated_spammers_only(seed):
    # pq.simulate(gold_share=1): every comparison has a gold label; spammers answer at random (gold
    # accuracy about 0.5 < min_gold_accuracy 0.6), normal annotators are right about 70% of the time
    data, truth = pq.simulate(n_prompts=600, n_annotators=20, n_spammers=2, gold_share=1.0, rng=seed)
    table = pq.annotator_table(data)
    kinds = truth.annotators["kind"].reindex(table.index)
    assert table.index[table["q_gold"] < 0.05].tolist() == kinds.index[kinds == "spammer"].tolist()
    assert table["reason"][kinds == "spammer"].str.contains("below min_gold_accuracy 60%").all()
