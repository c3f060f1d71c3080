"""pq.drift and pq.compare: estimates equal the single-window analyses, the joint SE equals the cluster
sandwich, planted drift is found where it was planted, null data stays quiet, and the errors are clear."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa._cluster import sandwich
from prefqa.bias._per_annotator import within_annotator_clusters
from prefqa.drift import WINDOW_COLUMNS, average_run_length
from prefqa.errors import InsufficientDataError, SchemaError
from prefqa.simulate import Degrade, Join, Shift

CHEAP = ["alpha", "ac1", "p_first", "p_longer", "tie_rate"]  # flagged_share runs annotator_table per window


def _week(data_frame: pd.DataFrame) -> np.ndarray:
    ts = data_frame["timestamp"].dt.tz_convert(None)
    return ts.dt.to_period("W").astype(str).to_numpy()


@pytest.fixture(scope="module")
def hetero():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pq.simulate(n_prompts=200, n_annotators=12, n_windows=4, ratings=True, both_orders=0.2,
                           position_sd=0.5, rng=3)


def test_window_estimates_equal_the_single_window_analyses(hetero):
    data, _ = hetero
    res = pq.drift(data, baseline=1, metrics=CHEAP + ["score_mean", "icc"])
    assert list(res.windows.columns) == WINDOW_COLUMNS
    assert len(res.windows) == 4 * 7 and res.labels[0] == "2026-01-05/2026-01-11"
    for lab in res.labels[:2]:
        sub = data.subset(_week(data.judgments) == lab)
        ag = pq.agreement(sub, n_resamples=0).to_frame()
        ag = ag[(ag["target"] == "choice") & (ag["stratum"] == "all")].set_index("coefficient")["estimate"]
        ratings = data.ratings[_week(data.ratings) == lab]
        icc = pq.icc(ratings, unit="response_id", rater="annotator_id", value="score", n_resamples=50)
        j = sub.judgments_with_text()
        la, lb = j["response_a"].str.len().to_numpy(float), j["response_b"].str.len().to_numpy(float)
        trial = (np.abs(la - lb) / np.maximum(la, lb) > 0.1) & (j["choice"] != "tie").to_numpy()
        chose_longer = np.where(j["choice"] == "a", la > lb, lb > la)[trial]
        decided = j["choice"] != "tie"
        want = {"alpha": ag["krippendorff_alpha"], "ac1": ag["gwet_ac1"],
                "p_first": float((j["choice"][decided] == "a").mean()), "p_longer": float(chose_longer.mean()),
                "tie_rate": float((sub.judgments["choice"] == "tie").mean()),
                "score_mean": float(ratings["score"].mean()), "icc": icc.table.loc["ICC2", "estimate"]}
        got = res.windows[res.windows["window"] == lab].set_index("metric")["estimate"]
        for metric, value in want.items():
            assert got[metric] == pytest.approx(value, abs=1e-12), metric
    assert res.windows.loc[res.windows["window"] == res.labels[0], "in_baseline"].all()
    assert res.windows.loc[res.windows["in_baseline"], "p_value"].isna().all()


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_joint_difference_se_equals_the_cluster_sandwich(seed):
    """For a mean, the two-way jackknife of the difference equals the CR1 sandwich of prefqa._cluster
    (a regression on a window dummy, two-way annotator x prompt, floored at the one-way prompt one) within 2%."""
    data, _ = pq.simulate(n_prompts=300, n_annotators=15, n_windows=4, position_sd=0.8, comparison_sd=0.5, rng=seed)
    res = pq.drift(data, baseline=2, metrics=["p_first", "tie_rate"])
    j = data.judgments
    batch, ann, clus = j["batch"].to_numpy(), j["annotator_id"].to_numpy(), within_annotator_clusters(data)
    cases = {"p_first": ((j["choice"] == "a").to_numpy(float), (j["choice"] != "tie").to_numpy()),
             "tie_rate": ((j["choice"] == "tie").to_numpy(float), np.ones(len(j), bool))}
    for metric, (y, n) in cases.items():
        rows = res.windows[res.windows["metric"] == metric].reset_index(drop=True)
        for w, label in ((2, "batch-002"), (3, "batch-003")):
            use = n & np.isin(batch, ["batch-000", "batch-001", label])
            X = np.column_stack([np.ones(use.sum()), (batch[use] == label).astype(float)])
            beta = np.linalg.lstsq(X, y[use], rcond=None)[0]
            scores = X * (y[use] - X @ beta)[:, None]
            bread = np.linalg.inv(X.T @ X)
            two_way, prompts = (np.sqrt(sandwich(scores, bread, g).cov[1, 1])
                                for g in ([ann[use], clus[use]], [clus[use]]))
            assert rows.loc[w, "difference"] == pytest.approx(beta[1], abs=1e-12)
            assert rows.loc[w, "diff_std_error"] / max(two_way, prompts) == pytest.approx(1.0, abs=0.02)


def test_cusum_run_length_matches_published_values():
    # Montgomery, Introduction to Statistical Quality Control (6th ed.), Table 9.3, two-sided, k = 1/2:
    # ARL0 = 168 (h = 4) and 465 (h = 5); ARL1 = 8.38 (h = 4, one-SD shift)
    assert average_run_length(0.5, 4.0) == pytest.approx(168, abs=1.5)
    assert average_run_length(0.5, 5.0) == pytest.approx(465, abs=3)
    assert average_run_length(0.5, 4.0, shift=1.0) == pytest.approx(8.38, abs=0.1)
    assert average_run_length() >= 100  # the default limit meets the stated in-control ARL


def test_global_shift_found_from_its_window_and_not_before():
    data, _ = pq.simulate(n_prompts=400, n_annotators=12, n_windows=8, position_sd=0.3, rng=21,
                          drift=[Shift(window=5, position=1.0, length=3.0)])
    res = pq.drift(data, baseline=2, metrics=CHEAP)
    w = res.windows
    pos = {lab: i for i, lab in enumerate(res.labels)}
    for metric in ("p_first", "p_longer"):
        flagged = sorted(w.loc[(w["metric"] == metric) & w["flagged"], "window"].map(pos))
        assert flagged == [5, 6, 7], metric
        # CUSUM: a shift of >= 4.5 SE alarms in its first window (stated delay h / (delta - k))
        assert pos[res.change_points[metric]] == 5
        assert "rose from" in w.loc[(w["metric"] == metric) & w["flagged"], "reason"].iloc[0]
    before = w["window"].map(pos) < 5  # nothing is flagged or alarmed before the shift, on any metric
    assert not w.loc[before, "flagged"].any() and not w.loc[before, "alarm"].any()


def test_agreement_drop_found_from_its_window_and_not_before():
    # 9 of 12 annotators click at random from window 5: alpha and AC1 fall
    data, _ = pq.simulate(n_prompts=400, n_annotators=12, n_windows=8, accuracy_range=(1.5, 2.5), tie_threshold=0.2,
                          drift=[Degrade(window=5, n_annotators=9)], rng=0)  # also seeds 1-3 (checked)
    res = pq.drift(data, baseline=2, metrics=["alpha", "ac1"])
    w = res.windows
    pos = {lab: i for i, lab in enumerate(res.labels)}
    for metric in ("alpha", "ac1"):
        assert sorted(w.loc[(w["metric"] == metric) & w["flagged"], "window"].map(pos)) == [5, 6, 7], metric
        assert 5 <= pos[res.change_points[metric]] <= 6  # the CUSUM's delay: at most one window here
        assert (w.loc[(w["metric"] == metric) & w["flagged"], "difference"] < 0).all()


def test_degrading_annotator_flagged_from_its_window():
    data, truth = pq.simulate(n_prompts=600, n_annotators=8, n_windows=6, accuracy_range=(1.5, 2.5),
                              tie_threshold=0.2, drift=[Degrade(window=3)], rng=0)
    (who,) = truth.drift.loc[0, "annotator_ids"]
    res = pq.drift(data, baseline=2, metrics=["alpha"])
    a = res.annotators
    pos = {lab: i for i, lab in enumerate(res.labels)}
    mine = a[a["annotator_id"] == who]
    assert sorted(mine.loc[mine["flagged"], "window"].map(pos)) == [3, 4, 5]
    assert (mine.loc[mine["flagged"], "agreement"] < 0.65).all()
    assert mine.loc[mine["flagged"], "reason"].str.contains("agreement fell from").all()
    others = a[a["annotator_id"] != who]
    assert not others["flagged"].any()  # a reference that turned random does not drag the others down


def test_joining_biased_team_flagged_as_new_and_the_others_are_not():
    # a team that joins at window 4 with a position bias and clicks at random from its first window
    team = ("ann-008", "ann-009", "ann-010", "ann-011")
    data, truth = pq.simulate(n_prompts=600, n_annotators=8, n_windows=6, accuracy_range=(1.5, 2.5),
                              tie_threshold=0.2, rng=3,
                              drift=[Join(window=4, n_annotators=4, position_bias=3.0),
                                     Degrade(window=4, annotator_ids=team)])
    assert truth.drift.loc[0, "annotator_ids"] == team
    res = pq.drift(data, baseline=2, metrics=["alpha"])
    a = res.annotators
    is_team = a["annotator_id"].isin(team)
    assert a.loc[is_team, "new"].all() and not a.loc[~is_team, "new"].any()
    assert a.loc[is_team, "flagged"].all()
    assert a.loc[is_team & a["flagged"], "reason"].str.startswith("new annotator:").all()
    good = a[~is_team & ~a["in_baseline"]]
    assert not good["flagged"].any()
    # their agreement is measured against the known annotators only: it does not move with the team
    late = good[good["window"].isin(res.labels[4:])]
    assert abs((late["agreement"] - late["agreement_baseline"]).mean()) < 0.04  # 20 seeds: -0.002 on average


@pytest.mark.slow
def test_null_data_flags_at_most_fdr_over_100_seeds():
    """No change, heterogeneous annotators, 8 windows: per metric, the share of seeds with any flagged window
    is at most fdr + 3 SE (0.05 + 3 * 0.0218); likewise the share with any flagged annotator-window. The
    window CIs cover the population P(first chosen) and tie rate, and the difference CIs cover 0. ~45 s."""
    n_seeds, fdr = 100, 0.05
    limit = fdr + 3 * np.sqrt(fdr * (1 - fdr) / n_seeds)
    window_hits = dict.fromkeys(CHEAP, 0)
    annotator_hits = 0
    covered = {"p_first": [], "tie_rate": []}  # the window's CI against the population value
    diff_covered = {"p_first": [], "tie_rate": []}  # the difference's CI against 0
    for seed in range(n_seeds):
        data, truth = pq.simulate(n_prompts=120, n_annotators=12, n_windows=8, position_sd=0.5, comparison_sd=0.3,
                                  length_slope_sd=0.3, rng=1000 + seed)
        res = pq.drift(data, metrics=CHEAP, fdr=fdr)
        w = res.windows
        for metric in CHEAP:
            window_hits[metric] += bool(w.loc[w["metric"] == metric, "flagged"].any())
        annotator_hits += bool(res.annotators["flagged"].any())
        for metric, target in (("p_first", truth.population["p_choose_a"]), ("tie_rate", truth.population["p_tie"])):
            rows = w[w["metric"] == metric]
            covered[metric] += list((rows["ci_low"] <= target) & (target <= rows["ci_high"]))
            mon = rows[~rows["in_baseline"]]
            diff_covered[metric] += list((mon["diff_ci_low"] <= 0) & (0 <= mon["diff_ci_high"]))
    assert max(window_hits.values()) / n_seeds <= limit, window_hits
    assert annotator_hits / n_seeds <= limit, annotator_hits
    # 800 windows (600 differences) per metric: 3 binomial SEs below 0.95 is 0.927 (0.924)
    for metric in covered:
        assert np.mean(covered[metric]) >= 0.927, (metric, np.mean(covered[metric]))
        assert np.mean(diff_covered[metric]) >= 0.924, (metric, np.mean(diff_covered[metric]))


def test_leniency_drift_on_ratings():
    data, _ = pq.simulate(n_prompts=200, n_windows=6, ratings=True, leniency_sd=0.3, rng=3,
                          drift=[{"kind": "shift", "window": 3, "leniency": 0.6}])
    res = pq.drift(data, baseline=2, metrics=["score_mean", "icc"])
    w = res.windows
    pos = {lab: i for i, lab in enumerate(res.labels)}
    flagged = sorted(w.loc[(w["metric"] == "score_mean") & w["flagged"], "window"].map(pos))
    assert flagged == [3, 4, 5]
    assert w.loc[(w["metric"] == "score_mean") & w["flagged"], "difference"].between(0.4, 0.7).all()
    assert not w.loc[w["metric"] == "icc", "flagged"].any() and w.loc[w["metric"] == "icc", "estimate"].notna().all()
    assert {"score_mean", "score_mean_baseline", "p_score", "q_score"} <= set(res.annotators.columns)
    # ratings-only comparison: the same shift is 'worse' (any leniency change), alpha is not computed
    old = data.subset((data.judgments["batch"] < "batch-003").to_numpy())
    new = data.subset((data.judgments["batch"] >= "batch-003").to_numpy())
    ratings_old = data.ratings[data.ratings["batch"] < "batch-003"]
    ratings_new = data.ratings[data.ratings["batch"] >= "batch-003"]
    old = pq.PreferenceData(old.judgments, old.responses, old.prompts, ratings_old)
    new = pq.PreferenceData(new.judgments, new.responses, new.prompts, ratings_new)
    cmp = pq.compare(new, old, metrics=["score_mean", "tie_rate"])
    assert cmp.verdicts == {"score_mean": "worse", "tie_rate": "same"}


def test_compare_verdicts():
    old, truth = pq.simulate(n_prompts=200, n_annotators=10, rng=1)
    same, _ = pq.simulate(n_prompts=200, annotators=truth.annotators, rng=2)
    biased, _ = pq.simulate(n_prompts=200, annotators=truth.annotators, position_effect=1.0, rng=3)
    metrics = ["p_first", "alpha", "tie_rate"]
    assert pq.compare(biased, old, metrics=metrics).verdicts["p_first"] == "worse"
    assert pq.compare(old, biased, metrics=metrics).verdicts["p_first"] == "better"
    res = pq.compare(same, old, metrics=metrics)
    assert set(res.verdicts.values()) == {"same"} and not res.worse
    unknown = pq.PreferenceData(same.judgments, same.responses, same.prompts, order_known=False)
    res = pq.compare(unknown, old, metrics=metrics)
    assert res.verdicts["p_first"] == "not estimable"
    assert "display order" in res.metrics.set_index("metric").loc["p_first", "reason"]
    # annotators: new, gone, changed
    newcomers, _ = pq.simulate(n_prompts=200, n_annotators=12, rng=4)
    renamed = newcomers.judgments.assign(annotator_id=newcomers.judgments["annotator_id"].str.replace("ann-", "x-"))
    mixed = pq.PreferenceData(pd.concat([same.judgments, renamed.assign(comparison_id="n" + renamed["comparison_id"])]),
                              pd.concat([same.responses, newcomers.responses.assign(
                                  response_id=lambda f: f["response_id"])]).drop_duplicates("response_id"),
                              None)
    res = pq.compare(mixed, old, metrics=["tie_rate"])
    assert len(res.new_annotators) == 12 and not res.gone_annotators
    assert set(res.annotators["status"]) <= {"new", "same", "changed", "not tested"}
    res = pq.compare(old.subset(old.judgments["annotator_id"] != "ann-000"), old, metrics=["tie_rate"])
    assert res.gone_annotators == ("ann-000",)


def test_windows_from_a_batch_column_and_first_judgment_rule():
    data, _ = pq.simulate(n_prompts=120, n_annotators=8, n_windows=4, rng=5)
    by_time = pq.drift(data, baseline=1, metrics=["tie_rate"])
    by_batch = pq.drift(data, window="batch", baseline=["batch-000"], metrics=["tie_rate"])
    assert by_batch.labels == ("batch-000", "batch-001", "batch-002", "batch-003")
    np.testing.assert_allclose(by_time.windows["estimate"], by_batch.windows["estimate"])
    # without timestamps, labels keep their order of appearance
    j = data.judgments.drop(columns="timestamp").iloc[::-1].reset_index(drop=True)
    rev = pq.drift(pq.PreferenceData(j, data.responses, data.prompts), window="batch", metrics=["tie_rate"])
    assert rev.labels[0] == "batch-003" and rev.baseline_windows == ("batch-003",)
    # a comparison whose judgments straddle two batches belongs to its first judgment's window
    j = data.judgments.copy()
    rows = np.flatnonzero(j["comparison_id"] == j["comparison_id"].iloc[0])
    rows = rows[np.argsort(j["timestamp"].to_numpy()[rows])]
    j.loc[rows[1:], "batch"] = "batch-003"  # the later judgments of one comparison, relabelled
    moved = pq.drift(pq.PreferenceData(j, data.responses, data.prompts), window="batch", metrics=["tie_rate"])
    assert moved.windows.set_index("window").loc["batch-000", "n_judgments"] == \
        by_batch.windows.set_index("window").loc["batch-000", "n_judgments"]


def test_baseline_dataset_tidy_and_summary():
    old, truth = pq.simulate(n_prompts=150, n_annotators=10, rng=7)
    new, _ = pq.simulate(n_prompts=150, annotators=truth.annotators, n_windows=3, rng=8,
                         drift=[Shift(window=2, position=1.2)])
    res = pq.drift(new, baseline=old, metrics=["p_first", "tie_rate"])
    assert res.baseline_windows == ("baseline",) and not res.windows["in_baseline"].any()
    flagged = res.windows.loc[res.windows["flagged"], ["window", "metric"]].values.tolist()
    assert flagged == [[res.labels[2], "p_first"]]
    tidy = res.tidy()
    assert list(tidy.columns) == ["window", "position", "metric", "estimate", "ci_low", "ci_high", "baseline",
                                  "band_low", "band_high", "in_baseline", "flagged", "alarm"]
    assert (tidy["band_low"] < tidy["baseline"]).all() and (tidy["baseline"] < tidy["band_high"]).all()
    text = res.summary()
    assert "p_first in" in text and "baseline: a separate baseline dataset" in text


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"time": "when"}, SchemaError, "'when'"),
    ({"window": "vendor"}, SchemaError, "vendor"),
    ({"time": "timestamp", "window": "batch"}, SchemaError, "not both"),
    ({"freq": "bogus"}, SchemaError, "offset alias"),
    ({"baseline": ["2030-01-01"]}, SchemaError, "not found"),
    ({"baseline": 4}, SchemaError, "1 to 3"),
    ({"baseline": 2.5}, SchemaError, "PreferenceData"),
    ({"metrics": ["kappa"]}, SchemaError, "kappa"),
    ({"cusum_h": -1}, SchemaError, "cusum_h"),
    ({"fdr": 1.5}, SchemaError, "fdr"),
    ({"freq": "YS"}, InsufficientDataError, "two windows"),
    ({"freq": "Y"}, InsufficientDataError, "two windows"),
])
def test_errors(kwargs, error, match):
    data, _ = pq.simulate(n_prompts=40, n_annotators=6, n_windows=4, rng=1)
    with pytest.raises(error, match=match):
        pq.drift(data, **{"metrics": ["tie_rate"], **kwargs})


def test_no_time_column_error_names_the_fix():
    data, _ = pq.simulate(n_prompts=40, n_annotators=6, rng=1)
    with pytest.raises(SchemaError, match="window='batch'"):
        pq.drift(data)


def test_vectorized_windows_equal_the_per_window_contrast():
    from prefqa.drift._jackknife import all_windows, contrast
    from prefqa.drift._metrics import judgment_inputs, unit_stats
    from prefqa.drift._windows import assign_windows

    data, _ = pq.simulate(n_prompts=150, n_annotators=12, n_windows=6, position_sd=0.5, both_orders=0.2, rng=9)
    win = assign_windows(data, time=None, freq="W", window=None)
    x = judgment_inputs(data, win.judgment_window, np.zeros(data.n_judgments, bool), "n:")
    base = np.array([0, 1])
    for name in ("alpha", "ac1", "p_first", "tie_rate"):
        us = unit_stats(name, x, 6)
        vec = all_windows(us, base)
        for w in range(6):
            own = contrast(us, np.array([w]), None)
            assert (own.estimate, own.df) == pytest.approx((vec["estimate"][w], vec["df"][w]))
            assert own.std_error == pytest.approx(vec["std_error"][w], rel=1e-10)
            if w >= 2:
                diff = contrast(us, np.array([w]), base)
                assert (diff.estimate, diff.df) == pytest.approx((vec["difference"][w], vec["diff_df"][w]))
                assert diff.std_error == pytest.approx(vec["diff_std_error"][w], rel=1e-10)


def test_flagged_share_is_the_share_of_judgments_by_annotators_flagged_in_their_window():
    data, _ = pq.simulate(n_prompts=90, n_annotators=8, n_windows=3, rng=4,
                          drift=[Join(window=2, n_annotators=3, position_bias=3.0)])
    res = pq.drift(data, window="batch", baseline=1, metrics=["flagged_share"])
    got = res.windows.set_index("window")["estimate"]
    for label in res.labels:
        sub = data.subset((data.judgments["batch"] == label).to_numpy())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = pq.annotator_table(sub)
        flagged = table.index[table["flagged"]]
        assert got[label] == pytest.approx(float(sub.judgments["annotator_id"].isin(flagged).mean()), abs=1e-12)
    assert got["batch-002"] > 0


def test_scanned_data_is_collected(tmp_path):
    data, _ = pq.simulate(n_prompts=60, n_annotators=6, n_windows=3, rng=1)
    path = pq.write(data, tmp_path / "d.parquet")
    res = pq.drift(pq.scan(path), metrics=["tie_rate", "p_first"])
    np.testing.assert_allclose(res.windows["estimate"],
                               pq.drift(data, metrics=["tie_rate", "p_first"]).windows["estimate"], atol=1e-12)
    assert any("collected into memory" in w for w in res.warnings)


def test_without_annotator_ids_and_with_gold():
    data, _ = pq.simulate(n_prompts=100, n_annotators=8, n_windows=4, gold_share=0.5, rng=1)
    anonymous = pq.PreferenceData(data.judgments.assign(annotator_id=pd.NA), data.responses, data.prompts)
    res = pq.drift(anonymous, metrics=["p_first", "alpha"])
    assert list(res.windows["metric"].unique()) == ["p_first"] and len(res.annotators) == 0
    assert any("needs annotator ids" in w for w in res.warnings)
    cmp = pq.compare(anonymous, anonymous, metrics=["alpha", "tie_rate"])
    assert cmp.verdicts == {"alpha": "not estimable", "tie_rate": "same"}
    assert cmp.metrics.loc[0, "reason"] == "needs annotator ids (agreement is between annotators)"
    a = pq.drift(data, metrics=["tie_rate"]).annotators
    assert {"gold_accuracy", "gold_accuracy_baseline", "p_gold", "q_gold"} <= set(a.columns)
    j = data.judgments[data.judgments["gold"].notna()]
    first = a.iloc[0]
    mine = j[(j["annotator_id"] == first["annotator_id"]) & (j["batch"] == "batch-000") & (j["choice"] != "tie")]
    assert first["gold_accuracy"] == pytest.approx(float((mine["choice"] == mine["gold"]).mean()))
