"""pq.label_issues: recovery of planted wrong labels, calibration, the votes-only and one-vote cases, inputs.

The planted data: the simulator's comparisons have a latent quality per
response; the truly better response is the one of higher quality, and a
consensus is wrong when it points at the other one. A reward model's score is
built here as quality plus N(0, RM_NOISE^2) noise, once per response.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

import prefqa as pq
from prefqa.errors import InsufficientDataError, SchemaError

RM_NOISE = 0.5  # the simulator's response_sd is 0.5 too: the score is informative but far from perfect


def planted(seed: int, *, n_prompts: int = 150, rm_noise: float = RM_NOISE, **kw):
    """Simulated data, RM scores as a Series by response id, and the truly better canonical response."""
    options = dict(n_annotators=20, n_spammers=2, rng=seed) | kw
    data, truth = pq.simulate(n_prompts=n_prompts, **options)
    tc = truth.comparisons
    gen = np.random.default_rng(10_000 + seed)
    quality = pd.Series(np.concatenate([tc["quality_1"], tc["quality_2"]]),
                        index=np.concatenate([tc["response_1_id"], tc["response_2_id"]]))
    scores = quality + gen.normal(0.0, rm_noise, len(quality))
    comps = data.comparisons().set_index("comparison_id")
    first_better = (quality.reindex(comps["response_1_id"]).to_numpy()
                    > quality.reindex(comps["response_2_id"]).to_numpy())
    return data, scores, pd.Series(first_better, index=comps.index)


def auc(wrong: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC (ties get mid-ranks)."""
    wrong = np.asarray(wrong, dtype=bool)
    r = rankdata(score)
    n1, n0 = int(wrong.sum()), int((~wrong).sum())
    return float((r[wrong].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ece(p: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error with equal-width bins (Guo et al. 2017)."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    sp, so = np.bincount(idx, p, bins), np.bincount(idx, outcome.astype(float), bins)
    return float(np.abs(sp - so).sum() / len(p))


def _wrong(table: pd.DataFrame, first_better: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    t = table[table["p_label_wrong"].notna()]
    fb = first_better.reindex(t.index).to_numpy()
    return t, np.where(t["consensus"] == "1", ~fb, fb)


# ------------------------------------------------------------------ planted recovery
def test_auc_beats_both_baselines_and_ece_is_small_over_20_seeds() -> None:
    """AUC >= the better baseline (score disagreement alone; vote margin alone); ECE <= 0.05.

    Tolerance: the simulator's annotators err more on close pairs (their logit
    is accuracy x quality gap). The label model represents exactly that (an
    ordered logit in the latent gap), so the bound is not widened for it; what
    remains is the gap given the score not being exactly normal (model
    strengths are discrete), spammers and always-a clickers, and binning
    noise: ~6,000 pooled comparisons in 10 bins give a sampling spread of
    about 0.01 for the ECE.
    """
    rows, pooled_p, pooled_w = [], [], []
    for seed in range(20):
        data, scores, fb = planted(seed)
        res = pq.label_issues(data, scores=scores, rng=seed)
        t, wrong = _wrong(res.to_frame(), fb)
        side = np.where(t["consensus"] == "1", 1.0, -1.0)
        base_score = -side * t["score_diff"].to_numpy()                          # score disagreement alone
        base_votes = 1.0 - np.maximum(t["votes_1"], t["votes_2"]) / t["n_judgments"]  # vote margin alone
        rows.append((auc(wrong, t["p_label_wrong"]), auc(wrong, base_score), auc(wrong, base_votes)))
        pooled_p.append(t["p_label_wrong"].to_numpy())
        pooled_w.append(wrong)
    a = np.array(rows)
    model, score_only, votes_only = a.mean(axis=0)
    assert model >= max(score_only, votes_only), a.mean(axis=0)
    assert (a[:, 0] >= np.maximum(a[:, 1], a[:, 2]) - 0.02).all(), a   # no seed where it is clearly worse
    p, w = np.concatenate(pooled_p), np.concatenate(pooled_w)
    assert ece(p, w) <= 0.05, ece(p, w)
    assert abs(p.mean() - w.mean()) < 0.02  # the expected share of wrong labels is right on average


def test_uninformative_scores_are_calibrated_away() -> None:
    """Scores unrelated to quality: beta ~ 0 and the ranking is the votes' (no score-driven flags)."""
    data, scores, fb = planted(3, n_prompts=200)
    noise = pd.Series(np.random.default_rng(5).normal(size=len(scores)), index=scores.index)
    res = pq.label_issues(data, scores=noise)
    assert res.calibration["beta"].abs().max() < 0.25, res.calibration
    votes = pq.label_issues(data)
    t, wrong = _wrong(res.to_frame(), fb)
    tv, wrong_v = _wrong(votes.to_frame(), fb)
    assert res.n_flagged <= votes.n_flagged + 5
    assert auc(wrong, t["p_label_wrong"]) > auc(wrong_v, tv["p_label_wrong"]) - 0.03


def test_a_perfect_reward_model_finds_the_wrong_labels() -> None:
    data, scores, fb = planted(4, rm_noise=0.05)
    res = pq.label_issues(data, scores=scores)
    t, wrong = _wrong(res.to_frame(), fb)
    assert auc(wrong, t["p_label_wrong"]) > 0.95
    flagged = t["flagged"].to_numpy()
    assert wrong[flagged].mean() > 0.85 and flagged[wrong].mean() > 0.7  # precision and recall of the flags


def test_own_votes_never_calibrate_own_score() -> None:
    """Changing the votes of fold-0 comparisons leaves the fit used for fold 0 unchanged."""
    data, scores, _ = planted(6, n_prompts=100)
    res = pq.label_issues(data, scores=scores, cross_fit=4)
    fold0 = res.to_frame().index[res.to_frame()["fold"] == 0]
    j = data.judgments.copy()
    hit = j["comparison_id"].isin(fold0).to_numpy()
    j.loc[hit, "choice"] = j.loc[hit, "choice"].map({"a": "b", "b": "a", "tie": "tie"})
    changed = pq.PreferenceData(j, data.responses, data.prompts)
    res2 = pq.label_issues(changed, scores=scores, cross_fit=4)
    assert res2.calibration["beta"].iloc[0] == pytest.approx(res.calibration["beta"].iloc[0], rel=1e-12)
    assert not np.allclose(res2.calibration["beta"].iloc[1:], res.calibration["beta"].iloc[1:])


def test_display_order_does_not_matter() -> None:
    data, scores, _ = planted(7, n_prompts=60)
    j = data.judgments.copy()
    j[["response_a_id", "response_b_id"]] = j[["response_b_id", "response_a_id"]].to_numpy()
    j["choice"] = j["choice"].map({"a": "b", "b": "a", "tie": "tie"})
    j = j.iloc[::-1].reset_index(drop=True)
    swapped = pq.PreferenceData(j, data.responses, data.prompts)
    a = pq.label_issues(data, scores=scores).to_frame()
    b = pq.label_issues(swapped, scores=scores).to_frame().reindex(a.index)
    np.testing.assert_allclose(a["p_label_wrong"], b["p_label_wrong"], atol=1e-6)
    assert (a["flagged"] == b["flagged"]).all()


# ------------------------------------------------------------------ votes only, one vote, ties
def test_votes_only_is_consensus_dawid_skene() -> None:
    data, _, _ = planted(8, n_prompts=60)
    res = pq.label_issues(data)
    ds = pq.consensus(data, method="dawid_skene").labels
    maj = pq.consensus(data).labels
    t = res.to_frame()
    expect = np.where(maj["label"] == "1", ds["p_2"] + ds["p_tie"] / 2,
                      np.where(maj["label"] == "2", ds["p_1"] + ds["p_tie"] / 2, np.nan))
    np.testing.assert_allclose(t["p_label_wrong"], expect, rtol=1e-12, atol=1e-15)
    assert res.method == "dawid_skene" and t["model_prefers"].isna().all()


def _one_vote(n: int, g: float, e: float, seed: int) -> tuple[pq.PreferenceData, pd.Series]:
    """One vote per comparison, no annotator ids: truth ~ sigmoid(g d), the vote flips it with prob. e."""
    gen = np.random.default_rng(seed)
    d = gen.normal(size=n)
    first = gen.random(n) < 1.0 / (1.0 + np.exp(-g * d))
    vote_first = np.where(gen.random(n) < e, ~first, first)
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(n)], "annotator_id": None,
                      "choice": np.where(vote_first, "a", "b"), "prompt_id": [f"p{i}" for i in range(n)],
                      "rm_a": d, "rm_b": 0.0})
    return pq.PreferenceData(j), pd.Series(first, index=j["comparison_id"])


def test_one_vote_without_ids_recovers_the_planted_flip_rate() -> None:
    data, first = _one_vote(6000, 2.0, 0.2, 1)
    res = pq.label_issues(data, scores="rm")
    assert res.method == "flip"
    assert res.calibration["e"].to_numpy() == pytest.approx(0.2, abs=0.03)
    assert res.flip_rate == pytest.approx(0.2, abs=0.03)
    t = res.to_frame()
    fb = first.reindex(t.index).to_numpy()
    wrong = np.where(t["consensus"] == "1", ~fb, fb)
    assert ece(t["p_label_wrong"].to_numpy(), wrong) < 0.03


def test_one_vote_without_scores_is_nan_with_the_reason() -> None:
    data, _ = _one_vote(50, 2.0, 0.2, 2)
    res = pq.label_issues(data)
    t = res.to_frame()
    assert res.method == "none" and t["p_label_wrong"].isna().all() and not t["flagged"].any()
    assert t["reason"].str.contains("cannot be estimated").all()


def test_ties_and_no_decisive_votes_are_nan_with_reasons() -> None:
    j = pd.DataFrame({"comparison_id": ["c1", "c1", "c2", "c2", "c3", "c3", "c4", "c4"],
                      "annotator_id": ["x", "y"] * 4,
                      "choice": ["a", "b", "tie", "tie", "a", "a", "b", "b"]})
    t = pq.label_issues(pq.PreferenceData(j)).to_frame()
    assert np.isnan(t.loc["c1", "p_label_wrong"]) and "tie" in t.loc["c1", "reason"]
    assert np.isnan(t.loc["c2", "p_label_wrong"]) and t.loc["c2", "reason"].startswith("no decisive votes")
    assert t.loc[["c3", "c4"], "p_label_wrong"].notna().all()


# ------------------------------------------------------------------ inputs
def test_score_sources_agree() -> None:
    data, scores, _ = planted(9, n_prompts=40)
    j = data.judgments.assign(rm_a=scores.reindex(data.judgments["response_a_id"]).to_numpy(),
                              rm_b=scores.reindex(data.judgments["response_b_id"]).to_numpy())
    r = data.responses.assign(rm=scores.reindex(data.responses["response_id"]).to_numpy())
    with_cols = pq.PreferenceData(j, r, data.prompts)
    base = pq.label_issues(data, scores=scores).to_frame()["p_label_wrong"]
    for src in ("rm", ("rm_a", "rm_b")):
        np.testing.assert_allclose(pq.label_issues(with_cols, scores=src).to_frame()["p_label_wrong"], base,
                                   rtol=1e-9, atol=1e-12)
    r_only = pq.PreferenceData(data.judgments, r.rename(columns={"rm": "rm_score"}), data.prompts)
    np.testing.assert_allclose(pq.label_issues(r_only, scores="rm_score").to_frame()["p_label_wrong"], base,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"scores": "score"}, "ratings"),
    ({"scores": "nope"}, "found neither"),
    ({"scores": ("x_a", "x_b")}, "no column"),
    ({"scores": 3.0}, "must be None"),
    ({"cross_fit": 1}, "cross_fit"),
    ({"threshold": 1.5}, "threshold"),
    ({"consensus": "vote"}, "method"),
])
def test_bad_options_raise_schema_errors(kwargs, match) -> None:
    data, _, _ = planted(0, n_prompts=20)
    with pytest.raises(SchemaError, match=match):
        pq.label_issues(data, **kwargs)


def test_missing_ids_and_bad_values_are_named() -> None:
    data, scores, _ = planted(0, n_prompts=20)
    with pytest.raises(SchemaError, match=r"no score for 1 response id.*resp-"):
        pq.label_issues(data, scores=scores.iloc[1:])
    bad = scores.astype(object)
    bad.iloc[0] = "high"
    with pytest.raises(SchemaError, match="'high'"):
        pq.label_issues(data, scores=bad)
    with pytest.raises(InsufficientDataError, match="never differ"):
        pq.label_issues(data, scores=scores * 0)
    with pytest.raises(InsufficientDataError, match="at least `cross_fit`"):
        pq.label_issues(data, scores=scores, cross_fit=50)
    with pytest.raises(SchemaError, match="PreferenceData"):
        pq.label_issues(data.judgments)


def test_missing_scores_fall_back_to_the_votes() -> None:
    data, scores, _ = planted(2, n_prompts=60)
    some = scores.copy()
    some.iloc[:10] = np.nan
    res = pq.label_issues(data, scores=some)
    t = res.to_frame()
    assert any("lack a score" in w for w in res.warnings)
    assert t["model_prefers"].isna().sum() == t["score_diff"].isna().sum() > 0
    assert "Label issues by latent_gap" in res.summary()


def test_chunked_posteriors_and_subsampled_fits(monkeypatch) -> None:
    """Posteriors computed in chunks equal one pass; a fit on a subsample of each fold still ranks well."""
    from prefqa.cleaning import _label_model as lm

    data, scores, fb = planted(11, n_prompts=100)
    whole = pq.label_issues(data, scores=scores).to_frame()
    monkeypatch.setattr(lm, "CHUNK", 37)
    chunked = pq.label_issues(data, scores=scores).to_frame()
    np.testing.assert_allclose(chunked["p_label_wrong"], whole["p_label_wrong"], rtol=1e-10, atol=1e-13)
    queue = pq.relabel_queue(data, budget=20, scores=scores, rng=0)
    monkeypatch.setattr(lm, "CHUNK", 50_000)
    pd.testing.assert_frame_equal(queue, pq.relabel_queue(data, budget=20, scores=scores, rng=0))
    monkeypatch.setattr(lm, "MAX_FIT", 120)  # of ~240 training comparisons per fold
    sub = pq.label_issues(data, scores=scores)
    t, wrong = _wrong(sub.to_frame(), fb)
    tw, wrong_w = _wrong(whole, fb)
    assert auc(wrong, t["p_label_wrong"]) > auc(wrong_w, tw["p_label_wrong"]) - 0.03


def test_the_simulators_reward_model_scores_and_truth() -> None:
    """pq.simulate(rm_noise=) columns as the stem 'rm_score', against truth.better (5 seeds, pooled)."""
    p_all, w_all, rows = [], [], []
    for seed in range(5):
        data, truth = pq.simulate(n_prompts=100, n_annotators=20, n_spammers=2, rm_noise=0.5, rng=100 + seed)
        res = pq.label_issues(data, scores="rm_score")
        t = res.to_frame()
        t = t[t["p_label_wrong"].notna()]
        better = truth.better.reindex(t.index).to_numpy()
        chosen = np.where(t["consensus"] == "1", t["response_1_id"], t["response_2_id"])
        wrong = chosen != better
        side = np.where(t["consensus"] == "1", 1.0, -1.0)
        rows.append((auc(wrong, t["p_label_wrong"]), auc(wrong, -side * t["score_diff"].to_numpy())))
        p_all.append(t["p_label_wrong"].to_numpy())
        w_all.append(wrong)
    a = np.array(rows).mean(axis=0)
    assert a[0] >= a[1] - 0.01, a
    assert ece(np.concatenate(p_all), np.concatenate(w_all)) <= 0.05


def test_subsampled_fits_say_so(monkeypatch) -> None:
    from prefqa.cleaning import _label_model as lm

    data, scores, _ = planted(12, n_prompts=40)
    monkeypatch.setattr(lm, "MAX_FIT", 50)
    res = pq.label_issues(data, scores=scores)
    assert any("random 50 of up to" in w for w in res.warnings), res.warnings
    monkeypatch.undo()  # the default bound is far above 96 training comparisons: no note
    assert not any("random" in w for w in pq.label_issues(data, scores=scores).warnings)


def test_a_skewed_score_scale_changes_little() -> None:
    """Scores reported as exp(1.5 x score) (heavy right tail): still beats both baselines, ECE <= 0.05."""
    rows, p_all, w_all = [], [], []
    for seed in range(6):
        data, scores, fb = planted(200 + seed)
        res = pq.label_issues(data, scores=np.exp(1.5 * scores), rng=seed)
        t, wrong = _wrong(res.to_frame(), fb)
        side = np.where(t["consensus"] == "1", 1.0, -1.0)
        rows.append((auc(wrong, t["p_label_wrong"]), auc(wrong, -side * t["score_diff"].to_numpy())))
        p_all.append(t["p_label_wrong"].to_numpy())
        w_all.append(wrong)
    a = np.array(rows).mean(axis=0)
    assert a[0] >= a[1], a
    assert ece(np.concatenate(p_all), np.concatenate(w_all)) <= 0.05


def test_scanned_data_is_collected_with_a_note(tmp_path) -> None:
    data, _ = pq.simulate(n_prompts=40, n_annotators=8, rm_noise=0.5, rng=1)
    path = pq.write(data, tmp_path / "d.parquet")
    scanned = pq.label_issues(pq.scan(path), scores="rm_score")
    memory = pq.label_issues(pq.read(path), scores="rm_score")
    pd.testing.assert_frame_equal(scanned.to_frame(), memory.to_frame())
    assert any("pq.scan" in w for w in scanned.warnings) and not any("pq.scan" in w for w in memory.warnings)
