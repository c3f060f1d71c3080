"""build_pairs: labels, guards, rated policies, balancing, accounting, errors, properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prefqa as pq
from prefqa.errors import SchemaError
from prefqa.pairs._guards import normalize_ws
from prefqa.schema import PreferenceData

BAND_SLACK = 1e-9  # shares after balancing are exact ratios of counts


def make(texts: dict[str, str], comps: list[tuple[str, str, str, list[str]]], prompts=None) -> PreferenceData:
    """comps: (comparison_id, response_a_id, response_b_id, choices by annotators x0, x1, ...)."""
    rows = [{"comparison_id": c, "annotator_id": f"x{i}", "choice": ch, "prompt_id": "p",
             "response_a_id": a, "response_b_id": b} for c, a, b, chs in comps for i, ch in enumerate(chs)]
    resp = pd.DataFrame({"response_id": list(texts), "prompt_id": "p", "text": list(texts.values())})
    prom = pd.DataFrame({"prompt_id": ["p"], "text": [prompts or "Q?"]})
    return PreferenceData(pd.DataFrame(rows), resp, prom)


def test_guards_each_have_their_reason_code():
    texts = {"r1": "good answer", "r2": "bad answer", "r3": "  ", "r4": "same  text", "r5": "same text\n",
             "r6": "good answer", "r7": "bad answer"}
    data = make(texts, [("c1", "r1", "r2", ["a", "a"]), ("c2", "r3", "r1", ["b", "b"]),
                        ("c3", "r4", "r5", ["a", "a"]), ("c4", "r6", "r7", ["a", "a"])])
    ps = pq.build_pairs(data)
    assert ps.dropped.set_index("comparison_id")["reason_code"].to_dict() == {
        "c2": "empty", "c3": "identical", "c4": "duplicate"}
    assert "first kept: c1" in ps.dropped.set_index("comparison_id").loc["c4", "reason"]
    assert ps.pairs["comparison_ids"].tolist() == ["c1"]


def test_opt_in_guards():
    texts = {"r1": "the cat sat on the mat today", "r2": "the cat sat on the mat today!",
             "r3": "alpha beta gamma delta", "r4": "one two three four",
             "r5": "alpha beta gamma delta", "r6": "one two three four five",
             "r7": "common start then x", "r8": "common start then y"}
    comps = [("c1", "r1", "r2", ["a"]), ("c2", "r3", "r4", ["a"]), ("c3", "r5", "r6", ["a"]),
             ("c4", "r7", "r8", ["a"])]
    data = make(texts, comps)
    assert pq.build_pairs(data).n_pairs == 4  # word-bigram sets of r1/r2 equal, but not "identical"
    ps = pq.build_pairs(data, guards=("empty", "identical", "duplicate", "near_identical", "near_duplicate"),
                        near_duplicate_threshold=0.6)
    codes = ps.dropped.set_index("comparison_id")["reason_code"].to_dict()
    # r4 vs r6: bigram Jaccard 4/5 = 0.8 >= 0.6, r3 == r5 exactly
    assert codes == {"c1": "near_identical", "c3": "near_duplicate"}
    tok = str.split  # a whitespace "tokenizer"; prompt "Q?" is 1 token
    ps = pq.build_pairs(data, guards=("empty", "identical", "duplicate", "truncation"), tokenizer=tok, max_tokens=4)
    # budget 3 tokens: "common start then" == "common start then" -> dropped; c1 also identical when cut
    assert ps.dropped.set_index("comparison_id")["reason_code"].to_dict() == {
        "c1": "truncation_identical", "c4": "truncation_identical"}


def test_labels_agreement_soft_label_and_ties():
    texts = {f"r{i}": f"text {i}" for i in range(1, 7)}
    data = make(texts, [("c1", "r1", "r2", ["b", "b", "a"]), ("c2", "r3", "r4", ["tie", "tie", "a"]),
                        ("c3", "r5", "r6", ["a", "b", "tie"])])
    ps = pq.build_pairs(data, min_agreement=0.5)
    row = ps.pairs.iloc[0]
    assert (row["chosen_id"], row["rejected_id"]) == ("r2", "r1")
    assert row["agreement"] == pytest.approx(2 / 3) and row["p_chosen"] == pytest.approx(2 / 3)
    assert row["margin"] == pytest.approx(1 / 3) and row["n_judgments"] == 3
    assert ps.dropped_counts() == {"tie": 1, "no_majority": 1}
    kto = pq.build_pairs(data, ties="keep_as_kto")
    assert len(kto.ties) == 1 and kto.n_kept + kto.n_dropped == 3
    assert pq.build_pairs(data, min_agreement=0.7).dropped_counts()["low_agreement"] == 1


def test_exclusions_and_min_judgments():
    texts = {f"r{i}": f"text {i}" for i in range(1, 5)}
    data = make(texts, [("c1", "r1", "r2", ["a", "b", "b"]), ("c2", "r3", "r4", ["a"])])
    ps = pq.build_pairs(data, exclude_annotators=["x1", "x2"])
    assert ps.pairs.set_index("comparison_ids").loc["c1", "chosen_id"] == "r1"
    assert pq.build_pairs(data, min_judgments=2).dropped_counts() == {"too_few_judgments": 1}
    assert pq.build_pairs(data, exclude_prompts=["p"]).dropped_counts() == {"excluded_prompt": 2}


def test_flip_rate_matches_hand_computation():
    texts = {f"r{i}": f"text {i}" for i in range(1, 9)}
    data = make(texts, [("c1", "r1", "r2", ["a", "a", "a"]), ("c2", "r3", "r4", ["a", "a", "b"]),
                        ("c3", "r5", "r6", ["b", "b", "b"]), ("c4", "r7", "r8", ["a", "tie", "a"])])
    ps = pq.build_pairs(data)
    # pq.consensus' definition, by hand: mean over kept labels of p_other + p_tie / 2 = 0, 1/3, 0, 1/6
    assert ps.flip_rate == pytest.approx((0 + 1 / 3 + 0 + 1 / 6) / 4, rel=1e-12)
    assert ps.flip_rate == pytest.approx(pq.consensus(data).flip_rate, rel=1e-12)
    assert ps.suggested_label_smoothing == pytest.approx(ps.flip_rate)
    # a guard-dropped pair no longer counts: c2 made identical -> mean of 0, 0, 1/6
    texts["r4"] = "text 3"
    assert pq.build_pairs(make(texts, data_comps(data))).flip_rate == pytest.approx(1 / 18, rel=1e-12)
    # single judgments say nothing about flips
    one = make(texts, [("c1", "r1", "r2", ["a"])])
    assert np.isnan(pq.build_pairs(one).flip_rate)


def test_dawid_skene_down_weights_a_spammer_majority():
    # x0, x1 are reliable (agree with each other on 20 items); s0..s2 click 'b' on everything
    texts, comps = {}, []
    rng = np.random.default_rng(3)
    for k in range(30):
        texts[f"a{k}"], texts[f"b{k}"] = f"first {k}", f"second {k}"
        truth = "a" if rng.random() < 0.5 else "b"
        comps.append((f"c{k}", f"a{k}", f"b{k}", [truth, truth, "b", "b", "b"]))
    data = make(texts, comps)
    ds = pq.build_pairs(data, label="dawid_skene")
    mv = pq.build_pairs(data, label="majority")
    truth_a = {c for c, _, _, ch in comps if ch[0] == "a"}
    ds_a = set(ds.pairs.loc[ds.pairs["chosen_id"].str.startswith("a"), "comparison_ids"])
    mv_a = set(mv.pairs.loc[mv.pairs["chosen_id"].str.startswith("a"), "comparison_ids"])
    assert ds_a == truth_a and not mv_a  # majority follows the 3 spammers


def data_comps(data: PreferenceData) -> list[tuple[str, str, str, list[str]]]:
    j = data.judgments
    return [(c, g["response_a_id"].iloc[0], g["response_b_id"].iloc[0], g["choice"].tolist())
            for c, g in j.groupby("comparison_id", sort=False)]


def rated(scores: dict[str, list[float]]) -> PreferenceData:
    resp = pd.DataFrame([(f"{p}_{i}", p, f"{p} answer {i}") for p, s in scores.items() for i in range(len(s))],
                        columns=["response_id", "prompt_id", "text"])
    ratings = pd.DataFrame([(f"{p}_{i}", "x", v) for p, s in scores.items() for i, v in enumerate(s)],
                           columns=["response_id", "annotator_id", "score"])
    j = pd.DataFrame({"comparison_id": ["dummy"], "annotator_id": ["x"], "choice": ["a"]})
    return PreferenceData(j, resp, None, ratings)


def _pairs(ps):
    return sorted(zip(ps.pairs["chosen_id"], ps.pairs["rejected_id"]))


def test_rating_policies():
    data = rated({"p": [5, 4, 4, 3], "q": [2, 2, 2], "s": [1]})
    ps = pq.build_pairs(data, policy="best_vs_worst", rng=0)
    assert _pairs(ps) == [("p_0", "p_3")]
    assert ps.dropped.set_index("prompt_id")["reason_code"].to_dict() == {"q": "equal_scores", "s": "single_response"}
    assert ps.n_input == 3
    assert _pairs(pq.build_pairs(data, policy="adjacent")) == [("p_0", "p_1"), ("p_0", "p_2"), ("p_1", "p_3"), ("p_2", "p_3")]
    assert len(pq.build_pairs(data, policy="all_above_margin").pairs) == 5
    assert _pairs(pq.build_pairs(data, policy="all_above_margin", margin=1.5)) == [("p_0", "p_3")]
    assert pq.build_pairs(data, policy="best_vs_worst", margin=2).dropped_counts()["within_margin"] == 1
    picks = {_pairs(pq.build_pairs(data, policy="best_vs_random", rng=s))[0] for s in range(12)}
    assert picks == {("p_0", "p_1"), ("p_0", "p_2"), ("p_0", "p_3")}
    assert (pq.build_pairs(data, policy="all_above_margin").pairs["margin"] > 0).all()


def test_length_balance_removes_planted_length_preference():
    data, _ = pq.simulate(n_prompts=300, length_effect=2.0, judgments_per_comparison=3, rng=4)
    before = pq.build_pairs(data)
    lc, lr = before.pairs["chosen"].str.len(), before.pairs["rejected"].str.len()
    assert (lc > lr).mean() > 0.6  # the planted bias is visible
    tol = 0.05
    ps = pq.build_pairs(data, length_balance=True, length_tolerance=tol, rng=1)
    rep = ps.length_balance
    assert (rep["share_before"] > 0.5 + tol).any()
    assert (rep["share_after"] <= 0.5 + tol + BAND_SLACK).all() and (rep["share_after"] >= 0.5 - tol - BAND_SLACK).all()
    assert ps.dropped_counts()["length_balance"] == rep["n_dropped"].sum() > 0
    lc, lr = ps.pairs["chosen"].str.len(), ps.pairs["rejected"].str.len()
    assert abs((lc > lr).sum() / ((lc > lr).sum() + (lc < lr).sum()) - 0.5) <= tol
    rw = pq.build_pairs(data, length_balance="reweight")
    w = rw.pairs["weight"].to_numpy()
    longer = (rw.pairs["chosen"].str.len() > rw.pairs["rejected"].str.len()).to_numpy()
    shorter = (rw.pairs["chosen"].str.len() < rw.pairs["rejected"].str.len()).to_numpy()
    assert w[longer].sum() == pytest.approx(w[shorter].sum(), rel=0.05) and rw.n_dropped == before.n_dropped


def test_null_length_balance_drops_little():
    data, _ = pq.simulate(n_prompts=300, rng=5)  # no length effect planted
    ps = pq.build_pairs(data, length_balance=True, length_tolerance=0.1, rng=0)
    assert ps.dropped_counts().get("length_balance", 0) < 0.1 * ps.n_input


def test_max_pairs_per_prompt():
    data, _ = pq.simulate(n_prompts=20, comparisons_per_prompt=4, rng=2)
    ps = pq.build_pairs(data, max_pairs_per_prompt=1)
    assert ps.pairs["prompt_id"].value_counts().max() == 1
    assert ps.n_kept + ps.n_dropped == data.n_comparisons


@pytest.mark.parametrize("kwargs, match", [
    ({"label": "vote"}, r"`label` must be one of \['majority', 'dawid_skene', 'model'\]; got 'vote'"),
    ({"ties": "keep"}, r"`ties` must be one of"),
    ({"guards": ("empty", "dupes")}, r"unknown `guards` \['dupes'\]"),
    ({"min_agreement": 1.5}, r"`min_agreement` must be in \[0, 1\]; got 1.5"),
    ({"margin": 1.0}, r"`margin` \(1.0\) applies to rated data"),
    ({"policy": "best_vs_worst"}, r"has no ratings"),
    ({"max_tokens": 10}, r"only used by the 'truncation' guard"),
    ({"guards": ("truncation",)}, r"needs both `tokenizer`"),
])
def test_errors_name_the_problem(kwargs, match):
    data = make({"r1": "x", "r2": "y"}, [("c1", "r1", "r2", ["a"])])
    with pytest.raises(SchemaError, match=match):
        pq.build_pairs(data, **kwargs)


def test_no_texts_is_an_error():
    j = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"]})
    with pytest.raises(SchemaError, match="pairs need response texts"):
        pq.build_pairs(PreferenceData(j))


# ------------------------------------------------------------------ properties
WORDS = ["", " ", "yes", "no", "Yes", "yes ", "maybe so", "no\n"]


@st.composite
def judged(draw):
    n_resp = draw(st.integers(2, 6))
    texts = {f"r{i}": draw(st.sampled_from(WORDS)) for i in range(n_resp)}
    comps = []
    for k in range(draw(st.integers(1, 8))):
        a, b = draw(st.lists(st.sampled_from(sorted(texts)), min_size=2, max_size=2, unique=True))
        comps.append((f"c{k}", a, b, draw(st.lists(st.sampled_from(["a", "b", "tie"]), min_size=1, max_size=4))))
    return texts, comps


def _swap(comps):
    flip = {"a": "b", "b": "a", "tie": "tie"}
    return [(c, b, a, [flip[x] for x in chs]) for c, a, b, chs in comps]


# 50 examples: the strategy space is small (8 texts, <= 8 comparisons); 100 found nothing more in CI runs
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(judged(), st.sampled_from(["drop", "keep_as_kto"]))
def test_properties_accounting_no_degenerate_pairs_and_swap_invariance(case, ties):
    texts, comps = case
    ps = pq.build_pairs(make(texts, comps), ties=ties)
    assert ps.n_kept + ps.n_dropped == ps.n_input == len(comps)
    assert not (normalize_ws(ps.pairs["chosen"]) == normalize_ws(ps.pairs["rejected"])).any()
    assert not (normalize_ws(ps.pairs["chosen"]) == "").any()
    swapped = pq.build_pairs(make(texts, _swap(comps)), ties=ties)
    pd.testing.assert_frame_equal(ps.pairs, swapped.pairs)
    pd.testing.assert_frame_equal(ps.dropped, swapped.dropped)


def test_ratings_only_data_says_which_policy_to_use():
    """Issue 12: ratings without judgments once gave an empty PairSet, ratings without prompts 0 candidates."""
    r = pd.DataFrame({"response_id": ["r1", "r2", "r3"] * 2, "annotator_id": list("xxxyyy"),
                      "score": [1, 3, 5, 2, 3, 4], "response": ["a", "b", "c"] * 2})
    no_prompts = pq.read(r)
    with pytest.raises(pq.SchemaError, match=r"6 ratings and no judged comparisons.*policy='best_vs_worst'"):
        pq.build_pairs(no_prompts)
    with pytest.raises(pq.InsufficientDataError, match=r"none of the 3 rated responses has a prompt id"):
        pq.build_pairs(no_prompts, policy="best_vs_worst")
    with_prompts = pq.read(r.assign(prompt=["P1", "P1", "P2"] * 2))
    ps = pq.build_pairs(with_prompts, policy="best_vs_worst")
    assert ps.pairs[["chosen", "rejected"]].values.tolist() == [["b", "a"]]  # mean 3 vs 1.5
    assert ps.dropped_counts() == {"single_response": 1}
