"""build_pairs labels: pq.consensus (majority, Dawid-Skene), label='model', flagged annotators/prompts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.errors import InsufficientDataError, SchemaError
from prefqa.schema import PreferenceData

EXACT = 1e-12        # same arithmetic, different code path
EM_TOL = 1e-9        # weighted vs repeated judgments: identical EM iterates up to rounding
MODEL_GAIN = 0.05    # label='model' must beat the majority vote's accuracy by at least this much
CALIBRATION = 0.08   # |mean p_chosen - accuracy| for label='model' (0.064 seen at rng=0: a little overconfident)
NULL_LOSS = 0.03     # without planted bias, label='model' may not lose more than this to majority


@pytest.fixture(scope="module")
def crowd():
    """8 reliable annotators, 2 spammers, 2 always-'a' annotators; 5 judgments per comparison."""
    return pq.simulate(n_prompts=120, n_annotators=12, n_spammers=2, n_always_a=2,
                       judgments_per_comparison=5, rng=11)


@pytest.fixture(scope="module")
def crowd_table(crowd):
    return pq.annotator_table(crowd[0])


def _accuracy(ps: pq.PairSet, truth, n_total: int) -> float:
    """Share of all comparisons whose kept pair picks the truly better response; dropped ones count 1/2."""
    tc = truth.comparisons.set_index("comparison_id")
    best = pd.Series(np.where(tc["quality_1"] > tc["quality_2"], tc["response_1_id"], tc["response_2_id"]),
                     index=tc.index)
    right = (ps.pairs["chosen_id"].to_numpy() == best.reindex(ps.pairs["comparison_ids"]).to_numpy()).sum()
    return float((right + 0.5 * (n_total - ps.n_pairs)) / n_total)


# ------------------------------------------------------------ pq.consensus is the label source
@pytest.mark.parametrize("method", ["majority", "dawid_skene"])
def test_pairs_carry_the_consensus_labels(crowd, method):
    data, _ = crowd
    res = pq.consensus(data, method=method)
    ps = pq.build_pairs(data, label=method, guards=(), ties="keep_as_kto")
    lab = res.labels
    kept = lab.loc[ps.pairs["comparison_ids"]]
    assert (kept["label"] != "tie").all()
    winner = np.where(kept["label"] == "1", kept["response_1_id"], kept["response_2_id"])
    assert (ps.pairs["chosen_id"].to_numpy() == winner).all()
    p_win = np.where(kept["label"] == "1", kept["p_1"], kept["p_2"]) + 0.5 * kept["p_tie"]
    np.testing.assert_allclose(ps.pairs["p_chosen"], p_win, rtol=0, atol=EXACT)
    np.testing.assert_allclose(ps.pairs["agreement"], kept["agreement"], rtol=0, atol=EXACT)
    assert set(ps.ties["comparison_ids"]) == set(lab.index[(lab["label"] == "tie") & ~lab["tied_vote"]])
    split = ps.dropped.loc[ps.dropped["reason_code"] == "no_majority", "comparison_id"]
    assert set(split) == set(lab.index[lab["tied_vote"]])
    assert ps.n_pairs + len(ps.ties) + len(split) == data.n_comparisons
    # nothing else dropped, so the flip rate is consensus' own (p_other + p_tie / 2 over sided labels)
    assert ps.flip_rate == pytest.approx(res.flip_rate, rel=EXACT)


def test_consensus_weights_equal_repeated_judgments(crowd):
    data, _ = crowd
    w = np.random.default_rng(0).integers(1, 4, data.n_judgments)
    repeated = PreferenceData(data.judgments.loc[np.repeat(np.arange(data.n_judgments), w)].reset_index(drop=True))
    for method in ("majority", "dawid_skene"):
        weighted = pq.consensus(data, method=method, weights=w.astype(float)).labels
        copies = pq.consensus(repeated, method=method).labels
        cols = ["p_1", "p_2", "p_tie", "agreement"]
        np.testing.assert_allclose(weighted[cols], copies[cols], rtol=0, atol=EM_TOL)
        assert (weighted["label"] == copies["label"]).all()
        # n_judgments still counts judgments, not weight
        assert weighted["n_judgments"].sum() == data.n_judgments


@pytest.mark.parametrize("weights, match", [
    (np.zeros(3), r"`weights` must be finite and > 0; 3 are not \(first: 0.0\)"),
    (np.ones(2), r"`weights` must hold one number per judgment \(3\); got shape \(2,\)"),
])
def test_consensus_weights_errors(weights, match):
    j = pd.DataFrame({"comparison_id": ["c"] * 3, "annotator_id": list("xyz"), "choice": ["a", "a", "b"]})
    with pytest.raises(SchemaError, match=match):
        pq.consensus(PreferenceData(j), weights=weights)


# ------------------------------------------------------------ flagged annotators and prompts
def test_flagged_drop_excludes_flagged_annotators(crowd, crowd_table):
    data, truth = crowd
    flagged = sorted(crowd_table.index[crowd_table["flagged"]])
    assert set(truth.flagged_annotators()) <= set(flagged)  # precondition: the planted ones are found
    ps = pq.build_pairs(data, flagged="drop", annotator_flags=crowd_table, prompt_flags=())
    clean = data.subset(~data.judgments["annotator_id"].isin(flagged).to_numpy())
    ref = pq.build_pairs(clean)  # an independent route: the judgments removed beforehand
    pd.testing.assert_frame_equal(ps.pairs, ref.pairs)
    assert ps.settings["n_flagged_annotators"] == len(flagged)
    # every kept pair counts only unflagged judgments
    n_clean = clean.judgments.groupby("comparison_id").size()
    assert (ps.pairs["n_judgments"].to_numpy() == n_clean.loc[ps.pairs["comparison_ids"]].to_numpy()).all()
    keep = pq.build_pairs(data)
    assert _accuracy(ps, truth, data.n_comparisons) > _accuracy(keep, truth, data.n_comparisons)
    # ids work as well as the table
    ids = pq.build_pairs(data, flagged="drop", annotator_flags=flagged, prompt_flags=())
    pd.testing.assert_frame_equal(ids.pairs, ps.pairs)


def test_flagged_downweight_counts_flagged_votes_half(crowd, crowd_table):
    data, _ = crowd
    flagged = crowd_table.index[crowd_table["flagged"]]
    ps = pq.build_pairs(data, flagged="downweight", annotator_flags=crowd_table, prompt_flags=())
    is_flagged = data.judgments["annotator_id"].isin(flagged).to_numpy()
    # by hand: weighted votes per comparison, oriented to the chosen response
    j = data.judgments.assign(w=np.where(is_flagged, 0.5, 1.0), oc=data.oriented_choice())
    votes = j.pivot_table(index="comparison_id", columns="oc", values="w", aggfunc="sum", fill_value=0.0)
    comps = data.comparisons().set_index("comparison_id")
    rows = ps.pairs.set_index("comparison_ids")
    first = (comps.loc[rows.index, "response_1_id"] == rows["chosen_id"]).to_numpy()
    v = votes.loc[rows.index].reindex(columns=[0, 1, 2], fill_value=0.0).to_numpy()
    v_c, v_r = np.where(first, v[:, 0], v[:, 1]), np.where(first, v[:, 1], v[:, 0])
    np.testing.assert_allclose(rows["p_chosen"], (v_c + 0.5 * v[:, 2]) / v.sum(axis=1), rtol=0, atol=EXACT)
    assert (v_c > v_r).all() and (v_c > v[:, 2]).all()
    assert (rows["n_judgments"].to_numpy() == 5).all()  # downweighted, not dropped


@pytest.fixture(scope="module")
def ambiguous():
    # the pq.flag_prompts docstring scenario: reliable annotators, 10 ambiguous prompts
    return pq.simulate(n_prompts=100, n_ambiguous_prompts=10, accuracy_range=(2.0, 3.0),
                       model_strengths=[-3, -1.5, 0, 1.5, 3], tie_threshold=0.1,
                       comparisons_per_prompt=4, judgments_per_comparison=5, rng=4)


def test_flagged_prompts_dropped_or_downweighted(ambiguous, monkeypatch):
    data, truth = ambiguous
    table = pq.flag_prompts(data)
    flagged = set(table.index[table["flagged"]])
    assert len(flagged & set(truth.prompts.index[truth.prompts["ambiguous"]])) >= 5  # precondition
    ps = pq.build_pairs(data, flagged="drop", prompt_flags=table, annotator_flags=())
    reason = ps.dropped.set_index("comparison_id")["reason_code"]
    of_flagged = data.comparisons().loc[lambda c: c["prompt_id"].isin(flagged), "comparison_id"]
    assert set(reason.index[reason == "flagged_prompt"]) == set(of_flagged)
    assert not ps.pairs["prompt_id"].isin(flagged).any()
    assert ps.dropped_counts()["flagged_prompt"] == len(of_flagged)
    dw = pq.build_pairs(data, flagged="downweight", prompt_flags=sorted(flagged), annotator_flags=())
    base = pq.build_pairs(data).pairs.set_index("comparison_ids")
    on = dw.pairs["prompt_id"].isin(flagged).to_numpy()
    assert (dw.pairs["weight"].to_numpy()[on] == 0.5).all() and (dw.pairs["weight"].to_numpy()[~on] == 1.0).all()
    p0 = base.loc[dw.pairs["comparison_ids"], "p_chosen"].to_numpy()
    np.testing.assert_allclose(dw.pairs["p_chosen"].to_numpy()[on], 0.5 + 0.5 * (p0[on] - 0.5), rtol=0, atol=EXACT)

    # precomputed tables are used as given: nothing is refitted
    def refit(*args, **kwargs):
        raise AssertionError("refitted")

    monkeypatch.setattr("prefqa.annotators.annotator_table", refit)
    monkeypatch.setattr("prefqa.prompts.flag_prompts", refit)
    again = pq.build_pairs(data, flagged="drop", prompt_flags=table, annotator_flags=pd.DataFrame({"flagged": []}))
    pd.testing.assert_frame_equal(again.pairs, ps.pairs)


def test_flagged_without_tables_runs_the_flaggers(crowd, crowd_table):
    data, _ = crowd
    auto = pq.build_pairs(data, flagged="drop")
    given = pq.build_pairs(data, flagged="drop", annotator_flags=crowd_table, prompt_flags=pq.flag_prompts(data))
    pd.testing.assert_frame_equal(auto.pairs, given.pairs)
    pd.testing.assert_frame_equal(auto.dropped, given.dropped)


@pytest.mark.parametrize("kwargs, match", [
    ({"flagged": "drop", "annotator_flags": pd.DataFrame({"q": [0.1]}, index=["x"])},
     r"`annotator_flags` must be a table with a boolean `flagged` column"),
    ({"annotator_flags": ["x"]}, r"`annotator_flags`/`prompt_flags` are used with flagged='drop' or 'downweight'"),
])
def test_flag_argument_errors(kwargs, match):
    j = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"], "prompt_id": ["p"],
                      "response_a_id": ["r1"], "response_b_id": ["r2"]})
    data = PreferenceData(j, pd.DataFrame({"response_id": ["r1", "r2"], "prompt_id": "p", "text": ["A", "B"]}))
    with pytest.raises(SchemaError, match=match):
        pq.build_pairs(data, prompt_flags=(), **kwargs)


# ------------------------------------------------------------ label='model'
@pytest.fixture(scope="module")
def position_biased():
    # 14 of 20 annotators add +2.5 logits toward the response shown first
    return pq.simulate(n_prompts=200, n_annotators=20, n_position_biased=14, position_bias=2.5, rng=0)


def test_model_label_beats_majority_when_position_biased_annotators_dominate(position_biased):
    data, truth = position_biased
    n = data.n_comparisons
    model = pq.build_pairs(data, label="model", guards=())
    majority = pq.build_pairs(data, label="majority", guards=())
    acc_model = _accuracy(model, truth, n)
    assert acc_model > _accuracy(majority, truth, n) + MODEL_GAIN
    assert model.n_pairs + model.n_dropped == n
    # p_chosen is a calibrated soft label: its mean matches the share of correct pairs
    tc = truth.comparisons.set_index("comparison_id").loc[model.pairs["comparison_ids"]]
    best = np.where(tc["quality_1"] > tc["quality_2"], tc["response_1_id"], tc["response_2_id"])
    correct = (model.pairs["chosen_id"].to_numpy() == best).mean()
    assert abs(model.pairs["p_chosen"].mean() - correct) < CALIBRATION
    assert model.flip_rate == pytest.approx(1 - model.pairs["p_chosen"].mean(), rel=EXACT)
    assert ((model.pairs["p_chosen"] >= 0.5) & (model.pairs["p_chosen"] <= 1)).all()
    np.testing.assert_allclose(model.pairs["margin"], 2 * model.pairs["p_chosen"] - 1, rtol=0, atol=EXACT)


def test_model_label_no_worse_than_majority_on_unbiased_data():
    data, truth = pq.simulate(n_prompts=150, n_annotators=20, rng=1)
    n = data.n_comparisons
    model = pq.build_pairs(data, label="model", guards=())
    majority = pq.build_pairs(data, label="majority", guards=())
    assert _accuracy(model, truth, n) >= _accuracy(majority, truth, n) - NULL_LOSS


def test_model_label_needs_annotators():
    j = pd.DataFrame({"comparison_id": ["c"], "annotator_id": [None], "choice": ["a"], "prompt_id": ["p"],
                      "response_a_id": ["r1"], "response_b_id": ["r2"]})
    data = PreferenceData(j, pd.DataFrame({"response_id": ["r1", "r2"], "prompt_id": "p", "text": ["A", "B"]}))
    with pytest.raises(InsufficientDataError, match=r"label='model' removes each annotator's side and length bias"):
        pq.build_pairs(data, label="model")
