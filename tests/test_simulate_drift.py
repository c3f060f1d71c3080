"""The simulator's windows, planted drift, reward-model scores and benchmark contamination.

Checked with numpy/pandas on the simulated tables only (independent of prefqa's estimators).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.errors import SchemaError
from prefqa.simulate import Degrade, Join, Shift

RATE_TOL = 0.06  # >= 3 binomial SEs at the >= 700 judgments each rate below uses


def _better_chosen(data, truth):
    """Per judgment: 1 if the truly better response was chosen, 0 if the other, NaN on ties."""
    j = data.judgments
    better = truth.better.reindex(j["comparison_id"]).to_numpy()
    shown = np.where(j["choice"].to_numpy() == "a", j["response_a_id"].to_numpy(), j["response_b_id"].to_numpy())
    return np.where(j["choice"].to_numpy() == "tie", np.nan, (shown == better).astype(float))


def test_windows_add_columns_only():
    base, t0 = pq.simulate(n_prompts=60, ratings=True, rng=4)
    assert "timestamp" not in base.judgments and "batch" not in base.judgments
    assert t0.windows is None and t0.drift is None and "window" not in t0.comparisons
    data, truth = pq.simulate(n_prompts=60, ratings=True, n_windows=5, rng=4)
    pd.testing.assert_frame_equal(base.judgments, data.judgments.drop(columns=["timestamp", "batch"]))
    pd.testing.assert_frame_equal(base.ratings, data.ratings.drop(columns=["timestamp", "batch"]))
    j = data.judgments
    assert (j.groupby("comparison_id")["batch"].nunique() == 1).all()
    # batch k is exactly the k-th pandas weekly period, in order
    weeks = j["timestamp"].dt.tz_convert(None).dt.to_period("W")
    assert (weeks.groupby(j["batch"].to_numpy()).nunique() == 1).all()
    by_batch = weeks.groupby(j["batch"].to_numpy()).first().sort_index()
    assert list(np.diff(by_batch.map(lambda p: p.ordinal).to_numpy())) == [1, 1, 1, 1]
    assert list(truth.windows["batch"]) == sorted(j["batch"].unique())
    assert truth.windows["n_comparisons"].sum() == data.n_comparisons
    counts = j.drop_duplicates("comparison_id")["batch"].value_counts().sort_index().to_numpy()
    assert (counts == truth.windows["n_comparisons"].to_numpy()).all()
    assert (truth.windows["start"] <= j.groupby("batch")["timestamp"].min().to_numpy()).all()
    assert (j.groupby("batch")["timestamp"].max().to_numpy() < truth.windows["end"]).all()


def test_degrading_annotator_turns_random_from_its_window():
    data, truth = pq.simulate(n_prompts=900, n_annotators=6, n_windows=6, tie_threshold=0.3,
                              drift=[Degrade(window=3)], rng=7)
    row = truth.drift.iloc[0]
    assert (row["kind"], row["window"], row["batch"]) == ("degrade", 3, "batch-003")
    (who,) = row["annotator_ids"]
    assert truth.annotators.loc[who, "degraded_from"] == 3
    assert truth.annotators["degraded_from"].isna().sum() == 5
    j = data.judgments
    mine = (j["annotator_id"] == who).to_numpy()
    late = (j["batch"] >= "batch-003").to_numpy()
    hit = _better_chosen(data, truth)
    before, after = hit[mine & ~late], hit[mine & late]
    assert np.nanmean(before) > 0.7 and abs(np.nanmean(after) - 0.5) < RATE_TOL
    choice = j["choice"].to_numpy()
    assert abs((choice[mine & late] == "tie").mean() - 0.10) < RATE_TOL / 2  # the spammers' 10% ties
    assert np.nanmean(hit[~mine & late]) > 0.7  # the others are unchanged
    # given ids work too, and the design's population counts the degraded judgments as random
    data2, truth2 = pq.simulate(n_prompts=300, n_annotators=6, n_windows=3,
                                drift=[{"kind": "degrade", "window": 1, "annotator_ids": ["ann-002"]}], rng=1)
    assert truth2.drift.loc[0, "annotator_ids"] == ("ann-002",)


def test_joining_team_works_only_from_its_window_with_its_bias():
    data, truth = pq.simulate(n_prompts=900, n_annotators=10, n_windows=6,
                              drift=[Join(window=4, n_annotators=4, position_bias=2.0)], rng=3)
    team = list(truth.drift.loc[0, "annotator_ids"])
    assert team == ["ann-010", "ann-011", "ann-012", "ann-013"]
    assert (truth.annotators.loc[team, "first_window"] == 4).all()
    assert (truth.annotators.loc[team, "kind"] == "position").all()
    j = data.judgments
    is_team = j["annotator_id"].isin(team).to_numpy()
    late = (j["batch"] >= "batch-004").to_numpy()
    assert not (is_team & ~late).any() and (is_team & late).sum() > 600
    assert not j.duplicated(["comparison_id", "annotator_id"]).any()
    choice_a = (j["choice"] == "a").to_numpy()
    assert choice_a[is_team].mean() > choice_a[~is_team & late].mean() + 0.25
    # the population P(first chosen) accounts for the team (its judgments carry the planted offset)
    assert abs(truth.population["p_choose_a"] - choice_a[j["choice"].to_numpy() != "tie"].mean()) < 0.03


def test_global_shift_and_leniency_shift():
    data, truth = pq.simulate(n_prompts=1200, n_annotators=12, n_windows=4, ratings=True,
                              drift=[Shift(window=2, position=1.0, leniency=0.8)], rng=5)
    j = data.judgments
    late = (j["batch"] >= "batch-002").to_numpy()
    dec = j["choice"].to_numpy() != "tie"
    a = (j["choice"] == "a").to_numpy()
    assert abs(a[dec & ~late].mean() - 0.5) < RATE_TOL and a[dec & late].mean() > 0.65
    r = data.ratings
    r_late = (r["batch"] >= "batch-002").to_numpy()
    gain = r["score"].to_numpy()[r_late].mean() - r["score"].to_numpy()[~r_late].mean()
    assert 0.5 < gain < 0.8  # 0.8 planted, shrunk by rounding and clipping at 5
    assert truth.drift.loc[0, ["position", "leniency"]].tolist() == [1.0, 0.8]


def test_reward_model_scores():
    data, truth = pq.simulate(n_prompts=800, rm_noise=0.4, rng=2)
    j, c = data.judgments, truth.comparisons
    q = pd.concat([c.set_index("response_1_id")["quality_1"], c.set_index("response_2_id")["quality_2"]])
    noise = np.concatenate([j["rm_score_a"] - q.reindex(j["response_a_id"]).to_numpy(),
                            j["rm_score_b"] - q.reindex(j["response_b_id"]).to_numpy()])
    resp_noise = data.responses["rm_score"].to_numpy() - q.reindex(data.responses["response_id"]).to_numpy()
    assert abs(resp_noise.std() - 0.4) < 0.02 and abs(resp_noise.mean()) < 0.02  # 4,800 responses
    # one score per response: every judgment showing it carries the same one
    assert np.allclose(np.abs(noise).max(), np.abs(resp_noise).max())
    per_resp = pd.concat([j[["response_a_id", "rm_score_a"]].set_axis(["r", "s"], axis=1),
                          j[["response_b_id", "rm_score_b"]].set_axis(["r", "s"], axis=1)])
    assert (per_resp.groupby("r")["s"].nunique() == 1).all()
    exact, _ = pq.simulate(n_prompts=20, rm_noise=0.0, rng=2)
    assert "rm_score_a" not in pq.simulate(n_prompts=20, rng=2)[0].judgments
    _, t0 = pq.simulate(n_prompts=20, rm_noise=0.0, rng=2)
    q0 = pd.concat([t0.comparisons.set_index("response_1_id")["quality_1"],
                    t0.comparisons.set_index("response_2_id")["quality_2"]])
    assert np.allclose(exact.responses["rm_score"], q0.reindex(exact.responses["response_id"]).to_numpy())
    # better: the higher-quality response, per comparison
    better_is_1 = (truth.better.to_numpy() == c["response_1_id"].to_numpy())
    assert (better_is_1 == (c["quality_1"] > c["quality_2"]).to_numpy()).all()


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def test_contamination_copies_are_findable_and_distractors_are_not():
    data, truth = pq.simulate(n_prompts=100, contaminate=15, rng=9)
    bench, table = truth.benchmark, truth.contamination
    assert list(bench.columns) == ["text"] and len(bench) == 30 and len(table) == 15
    assert table["edit"].value_counts().to_dict() == {e: 3 for e in
                                                      ("verbatim", "case", "spacing", "punctuation", "appended")}
    assert set(truth.contaminated_prompts) == set(table["prompt_id"])
    prompts = data.prompts.set_index("prompt_id")["text"]
    assert prompts.str.split().str.len().min() >= 14 and prompts.nunique() == 100
    for pid, row, edit in table.itertuples(index=False):
        copy, orig = bench["text"].iloc[row], prompts[pid]
        assert (copy == orig) == (edit == "verbatim")
        if edit == "appended":
            assert _norm(copy).startswith(_norm(orig)) and _norm(copy) != _norm(orig)
        else:
            assert _norm(copy) == _norm(orig)
    others = np.setdiff1d(np.arange(len(bench)), table["benchmark_row"])
    words = [set(_norm(t).split()) for t in prompts]
    for row in others:  # unrelated rows share little vocabulary with any prompt
        w = set(_norm(bench["text"].iloc[row]).split())
        assert max(len(w & p) / len(w | p) for p in words) < 0.3
    _, t2 = pq.simulate(n_prompts=40, contaminate=0.25, rng=1)
    assert len(t2.contamination) == 10


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_windows": 0}, "n_windows"),
    ({"n_windows": 4, "drift": [Degrade(window=4)]}, r"\[0, 4\)"),
    ({"drift": [Shift(window=0, position=1.0)]}, "n_windows"),
    ({"n_windows": 3, "drift": [{"kind": "melt", "window": 1}]}, "kind"),
    ({"n_windows": 3, "drift": [{"kind": "shift", "window": 1, "bogus": 1}]}, "bogus"),
    ({"n_windows": 3, "drift": [Join(window=0)]}, "window >= 1"),
    ({"n_windows": 3, "drift": [Degrade(window=1, annotator_ids=("nobody",))]}, "nobody"),
    ({"n_windows": 3, "drift": [Degrade(window=1, n_annotators=99)]}, "normal"),
    ({"n_windows": 10_000}, "comparisons"),
    ({"rm_noise": -1.0}, "rm_noise"),
    ({"contaminate": 1000}, "contaminate"),
    ({"contaminate": 1.5}, "share"),
    ({"contaminate": 3, "with_text": False}, "with_text"),
])
def test_bad_drift_and_cleaning_arguments(kwargs, match):
    with pytest.raises(SchemaError, match=match):
        pq.simulate(n_prompts=30, n_annotators=6, **kwargs)
