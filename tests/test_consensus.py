"""Consensus: majority vote rules, Dawid-Skene vs an independent loop implementation, PandaLM."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.errors import ConvergenceWarning, InsufficientDataError, SchemaError

POSTERIOR_ATOL = 1e-6   # vectorized vs loop Dawid-Skene on the same data
FLIP_ATOL = 0.03        # estimated vs realised flip rate on planted data


def crowd(n_items=400, n_good=8, n_spam=6, per_item=5, accuracy=0.8, rng=0):
    """Planted crowd: true labels '1'/'2', good annotators right with `accuracy`, spammers uniform."""
    gen = np.random.default_rng(rng)
    truth = gen.integers(0, 2, n_items)
    n_ann = n_good + n_spam
    rows = []
    ann = np.array([gen.choice(n_ann, per_item, replace=False) for _ in range(n_items)])
    item = np.repeat(np.arange(n_items), per_item)
    ann = ann.reshape(-1)
    good = ann < n_good
    correct = gen.random(len(ann)) < accuracy
    label = np.where(good, np.where(correct, truth[item], 1 - truth[item]), gen.integers(0, 3, len(ann)))
    # display order random; choice is what was clicked as displayed
    swap = gen.random(len(ann)) < 0.5
    choice = np.where(label == 2, "tie", np.where((label == 0) ^ swap, "a", "b"))
    rows = pd.DataFrame({
        "comparison_id": [f"c{i:04d}" for i in item], "annotator_id": [f"w{a:02d}" for a in ann],
        "choice": choice, "response_a_id": np.where(swap, [f"r{i}_2" for i in item], [f"r{i}_1" for i in item]),
        "response_b_id": np.where(swap, [f"r{i}_1" for i in item], [f"r{i}_2" for i in item]),
    })
    return pq.PreferenceData(rows), truth


def canonical_truth(data, truth):
    """Map planted labels (0 = r*_1 better) onto the canonical orientation of data.comparisons()."""
    comps = data.comparisons()
    first_is_1 = comps["response_1_id"].str.endswith("_1").to_numpy()
    idx = comps["comparison_id"].str[1:].astype(int).to_numpy()
    t = truth[idx]
    return np.where(first_is_1, t, 1 - t)


def test_majority_rules_and_orientation():
    j = pd.DataFrame({
        "comparison_id": ["c1", "c1", "c1", "c2", "c2", "c3", "c3"],
        "annotator_id": ["x", "y", "z", "x", "y", "x", "y"],
        "choice": ["a", "b", "a", "a", "tie", "a", "b"],
        "response_a_id": ["r1", "r2", "r1", "r3", "r3", "r5", "r5"],
        "response_b_id": ["r2", "r1", "r2", "r4", "r4", "r6", "r6"],
    })
    res = pq.consensus(pq.PreferenceData(j))
    lab = res.labels
    # c1: all three picked r1 although one saw it second
    assert lab.loc["c1", "label"] == "1" and lab.loc["c1", "agreement"] == 1.0
    # c2: one vote for r3, one tie -> top shared -> 'tie' by rule
    assert lab.loc["c2", "label"] == "tie" and lab.loc["c2", "tied_vote"]
    # c3: 1-1 split between the responses -> 'tie'
    assert lab.loc["c3", "label"] == "tie" and lab.loc["c3", ["p_1", "p_2"]].tolist() == [0.5, 0.5]
    assert lab.loc["c1", "response_1_id"] == "r1"
    assert res.converged and res.n_iter == 0 and res.method == "majority"
    conf = res.confusion
    sums = conf.groupby(["annotator_id", "true_label"])["probability"].sum(min_count=1).dropna()
    np.testing.assert_allclose(sums, 1.0)


def test_majority_without_annotators_and_dawid_skene_needs_them():
    j = pd.DataFrame({"comparison_id": ["c1", "c1", "c2"], "annotator_id": [None, None, None],
                      "choice": ["a", "a", "b"]})
    data = pq.PreferenceData(j)
    res = pq.consensus(data)
    assert res.labels["label"].tolist() == ["1", "2"]
    assert set(res.confusion["annotator_id"]) == {"<unknown>"}
    with pytest.raises(InsufficientDataError, match="Dawid-Skene needs annotator ids"):
        pq.consensus(data, method="dawid_skene")
    with pytest.raises(SchemaError, match="`method` must be one of"):
        pq.consensus(data, method="mace")


def _loop_dawid_skene(data, n_iter, smoothing):
    """Independent, unvectorized Dawid-Skene (dicts and Python loops) for cross-checking."""
    comp = data.judgments["comparison_id"].to_numpy()
    ann = data.judgments["annotator_id"].to_numpy()
    y = data.oriented_choice()
    items = sorted(set(comp))
    workers = sorted(set(ann))
    obs = {}
    for c, a, v in zip(comp, ann, y):
        obs.setdefault(c, []).append((a, int(v)))
    post = {}
    for c in items:
        v = np.zeros(3)
        for _, lab in obs[c]:
            v[lab] += 1
        post[c] = v / v.sum()
    for _ in range(n_iter):
        prior = (sum(post.values()) + smoothing) / (len(items) + 3 * smoothing)
        conf = {w: np.full((3, 3), smoothing) for w in workers}
        for c in items:
            for w, lab in obs[c]:
                conf[w][:, lab] += post[c]
        for w in workers:
            conf[w] /= conf[w].sum(axis=1, keepdims=True)
        for c in items:
            lp = np.log(prior).copy()
            for w, lab in obs[c]:
                lp += np.log(conf[w][:, lab])
            lp -= lp.max()
            post[c] = np.exp(lp) / np.exp(lp).sum()
    return np.array([post[c] for c in items])


def test_dawid_skene_matches_loop_implementation():
    data, _ = crowd(n_items=60, n_good=4, n_spam=2, per_item=3, rng=4)
    res = pq.consensus(data, method="dawid_skene", max_iter=15, tol=1e-300, smoothing=0.01)
    ref = _loop_dawid_skene(data, 15, 0.01)
    got = res.labels[["p_1", "p_2", "p_tie"]].to_numpy()
    np.testing.assert_allclose(got, ref, atol=POSTERIOR_ATOL)


def test_dawid_skene_beats_majority_with_planted_spammers():
    data, truth = crowd(n_items=1500, n_good=6, n_spam=8, per_item=5, accuracy=0.8, rng=1)
    t = canonical_truth(data, truth)
    maj = pq.consensus(data)
    ds = pq.consensus(data, method="dawid_skene")
    code = {"1": 0, "2": 1, "tie": 2}
    acc_maj = np.mean(maj.labels["label"].map(code).to_numpy() == t)
    acc_ds = np.mean(ds.labels["label"].map(code).to_numpy() == t)
    assert ds.converged and ds.n_iter > 1
    assert acc_ds > acc_maj + 0.03
    # spammers' confusion rows are near uniform, good annotators' near-diagonal
    conf = ds.confusion.set_index(["annotator_id", "true_label", "observed_label"])["probability"]
    assert conf[("w00", "1", "1")] > 0.7
    assert conf[("w13", "1", "1")] < 0.5
    # the flip rate estimate matches the realised share of wrong non-tie labels
    lab = ds.labels["label"].map(code).to_numpy()
    sided = lab < 2
    realised = np.mean(lab[sided] != t[sided])
    assert ds.flip_rate == pytest.approx(realised, abs=FLIP_ATOL)
    assert 0 <= ds.flip_rate < 0.5 and "label_smoothing" in ds.summary()


def test_dawid_skene_on_simulated_spammers():
    data, truth = pq.simulate(n_prompts=300, n_annotators=20, n_spammers=8, judgments_per_comparison=5,
                              tie_threshold=0.1, rng=2)
    comps = truth.comparisons.set_index("comparison_id").reindex(data.comparisons()["comparison_id"])
    better_first = (comps["quality_1"] > comps["quality_2"]).to_numpy()
    maj = pq.consensus(data)
    ds = pq.consensus(data, method="dawid_skene")
    def acc(res):
        lab = res.labels["label"].to_numpy()
        return np.mean(np.where(better_first, lab == "1", lab == "2"))
    assert acc(ds) >= acc(maj)


def test_dawid_skene_warns_when_not_converged():
    data, _ = crowd(n_items=50, rng=3)
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 iterations"):
        res = pq.consensus(data, method="dawid_skene", max_iter=1)
    assert not res.converged


def test_pandalm_majority_matches_published_distribution(pandalm_dir):
    # PandaLM README distribution table: majority label 0 (tie) 105, 1 422, 2 472
    rows = json.loads((pandalm_dir / "testset-v1.json").read_text())
    wide = pd.DataFrame(rows)
    long = wide.melt(id_vars=["idx", "cmp_key"], value_vars=["annotator1", "annotator2", "annotator3"],
                     var_name="annotator_id", value_name="code")
    long["choice"] = long["code"].map({1: "a", 2: "b", 0: "tie"})
    long["comparison_id"] = long["idx"].astype(str)
    res = pq.consensus(pq.PreferenceData(long[["comparison_id", "annotator_id", "choice"]]))
    assert res.labels["label"].value_counts().to_dict() == {"2": 472, "1": 422, "tie": 105}
    assert int(res.labels["tied_vote"].sum()) == 0
    assert (res.labels["agreement"] == 1.0).sum() == 879   # SOURCE.md: 879 unanimous items
    ds = pq.consensus(pq.PreferenceData(long[["comparison_id", "annotator_id", "choice"]]),
                      method="dawid_skene")
    assert ds.converged and (ds.labels["label"] == res.labels["label"]).mean() > 0.97
