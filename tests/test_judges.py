"""judge_report: LLM judges against human consensus (PandaLM test set) and position consistency."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import cohens_kappa

import prefqa as pq
from prefqa.errors import InsufficientDataError, SchemaError
from prefqa.schema import LoadReport, stable_id

RTOL_INDEPENDENT = 1e-9
# PandaLM SOURCE.md (counted from gpt-3.5-turbo-testset-v1.json): {2: 476, 1: 460, Tie: 38, garbage: 25}
GPT_GARBAGE = 25
GPT_COUNTS = {"a": 460, "b": 476, "tie": 38}
HUMAN = ("annotator1", "annotator2", "annotator3")
CODE = {1: "a", 2: "b", 0: "tie"}  # PandaLM: 1 = response1 (shown first) better, 2 = response2, 0 = tie


def build_pandalm(folder) -> tuple[pq.PreferenceData, pd.DataFrame]:
    """Join the test set with both judges' verdicts on ``idx``; unparseable verdicts go to the load report."""
    test = pd.DataFrame(json.loads((folder / "testset-v1.json").read_text()))
    gpt = pd.DataFrame(json.loads((folder / "gpt-3.5-turbo-testset-v1.json").read_text()))
    panda = pd.DataFrame(json.loads((folder / "pandalm-7b-testset-v1.json").read_text()))
    test = test.merge(gpt[["idx", "gpt_result"]], on="idx", validate="one_to_one").merge(
        panda[["idx", "pandalm_result"]], on="idx", validate="one_to_one")
    for col in ("response1", "response2"):
        test[col] = test[col].astype(str)  # 6 responses are the JSON boolean true (SOURCE.md)
    prompt_text = test["instruction"] + "\n\n" + test["input"].fillna("")
    prompt_id = stable_id("p", prompt_text)
    r1, r2 = stable_id("r", prompt_id, test["response1"]), stable_id("r", prompt_id, test["response2"])
    cid = test["idx"].astype(str).to_numpy()
    parts = []
    for col in HUMAN:
        parts.append(pd.DataFrame({"comparison_id": cid, "annotator_id": col,
                                   "choice": test[col].map(CODE), "annotator_kind": "human"}))
    gpt_choice = test["gpt_result"].map({"1": "a", "2": "b", "Tie": "tie"})
    parts.append(pd.DataFrame({"comparison_id": cid, "annotator_id": "gpt-3.5-turbo",
                               "choice": gpt_choice, "annotator_kind": "llm"})[gpt_choice.notna().to_numpy()])
    parts.append(pd.DataFrame({"comparison_id": cid, "annotator_id": "pandalm-7b",
                               "choice": test["pandalm_result"].map(CODE), "annotator_kind": "llm"}))
    j = pd.concat(parts, ignore_index=True)
    by_cid = pd.DataFrame({"prompt_id": prompt_id, "a": r1, "b": r2}, index=cid)
    j["prompt_id"] = by_cid["prompt_id"].reindex(j["comparison_id"]).to_numpy()
    j["response_a_id"] = by_cid["a"].reindex(j["comparison_id"]).to_numpy()
    j["response_b_id"] = by_cid["b"].reindex(j["comparison_id"]).to_numpy()
    responses = pd.DataFrame({"response_id": np.concatenate([r1, r2]),
                              "prompt_id": np.concatenate([prompt_id, prompt_id]),
                              "text": pd.concat([test["response1"], test["response2"]]).to_numpy()}
                             ).drop_duplicates("response_id")
    prompts = pd.DataFrame({"prompt_id": prompt_id, "text": prompt_text}).drop_duplicates("prompt_id")
    bad = np.flatnonzero(gpt_choice.isna().to_numpy())
    rejected = pd.DataFrame({"line": bad + 1, "column": "gpt_result",
                             "value": test["gpt_result"].to_numpy()[bad],
                             "reason": "unparseable judge verdict 'garbage'"})
    report = LoadReport(source=str(folder), format="pandalm", n_rows=len(test) * 5,
                        n_rows_used=len(test) * 5 - len(bad), rejected=rejected, n_judgments=len(j))
    return pq.PreferenceData(j, responses, prompts, load_report=report), test


@pytest.fixture(scope="module")
def pandalm(pandalm_dir):
    data, test = build_pandalm(pandalm_dir)
    return data, test, pq.judge_report(data)


def test_pandalm_garbage_is_reported_not_dropped_silently(pandalm):
    data, test, rep = pandalm
    assert rep.n_rejected == GPT_GARBAGE
    assert any("rejected 25 input row(s)" in w and "garbage" in w for w in rep.warnings)
    assert rep.table.loc["gpt-3.5-turbo", "n_judgments"] == len(test) - GPT_GARBAGE
    counts = data.judgments.query("annotator_id == 'gpt-3.5-turbo'")["choice"].value_counts().to_dict()
    assert counts == GPT_COUNTS
    assert "Note: the reader rejected 25" in rep.summary()


def test_pandalm_judge_kappa_matches_statsmodels(pandalm):
    _, test, rep = pandalm
    assert rep.judges == ("gpt-3.5-turbo", "pandalm-7b")
    assert rep.humans == HUMAN
    votes = test[list(HUMAN)].to_numpy()
    # SOURCE.md: no item lacks a majority and no item has three different labels
    majority = np.array([np.bincount(v, minlength=3).argmax() for v in votes])
    assert rep.n_consensus == len(test)
    for judge, column, codes in (("gpt-3.5-turbo", "gpt_result", {"1": 1, "2": 2, "Tie": 0}),
                                 ("pandalm-7b", "pandalm_result", {1: 1, 2: 2, 0: 0})):
        verdict = test[column].map(codes)
        ok = verdict.notna().to_numpy()
        table = pd.crosstab(verdict[ok].astype(int), majority[ok]).reindex(index=[0, 1, 2], columns=[0, 1, 2],
                                                                             fill_value=0)
        expected = cohens_kappa(table.to_numpy())  # statsmodels, an independent implementation
        row = rep.table.loc[judge]
        assert row["kappa"] == pytest.approx(expected.kappa, rel=RTOL_INDEPENDENT)
        assert row["n_with_consensus"] == ok.sum()
        assert row["kappa_ci_low"] < row["kappa"] < row["kappa_ci_high"]
        assert row["n_both_orders"] == 0 and np.isnan(row["position_consistency"])


def test_pandalm_humans_against_the_other_humans(pandalm):
    _, test, rep = pandalm
    a1 = test["annotator1"].to_numpy()
    others = test[["annotator2", "annotator3"]].to_numpy()
    agree = others[:, 0] == others[:, 1]  # the two others have a strict plurality only when they agree
    table = pd.crosstab(a1[agree], others[agree, 0]).reindex(index=[0, 1, 2], columns=[0, 1, 2], fill_value=0)
    assert rep.table.loc["annotator1", "kappa"] == pytest.approx(cohens_kappa(table.to_numpy()).kappa,
                                                                  rel=RTOL_INDEPENDENT)
    assert rep.table.loc["annotator1", "n_with_consensus"] == agree.sum()
    # the humans agree with each other more than either judge agrees with them (SOURCE.md: kappa 0.85-0.88)
    humans = rep.table.loc[list(HUMAN), "kappa"]
    assert humans.min() > rep.table.loc[list(rep.judges), "kappa"].max()


def test_pandalm_bias_columns_beside_the_humans(pandalm):
    data, _test, rep = pandalm
    t = rep.table
    gpt = data.judgments.query("annotator_id == 'gpt-3.5-turbo' and choice != 'tie'")
    assert t.loc["gpt-3.5-turbo", "p_a"] == pytest.approx((gpt["choice"] == "a").mean(), rel=RTOL_INDEPENDENT)
    assert t[["p_a", "tie_rate", "length_slope"]].notna().all().all()
    # the PandaLM humans prefer longer responses (599 of 887 per SOURCE.md): positive slopes
    assert (t.loc[list(HUMAN), "length_slope"] > 0).all()
    tidy = rep.to_frame()
    assert set(tidy.columns) == {"annotator_id", "kind", "metric", "estimate", "ci_low", "ci_high", "n"}
    assert len(tidy) == 7 * len(t)


def test_position_consistency_counts_swapped_reruns():
    data, truth = pq.simulate(n_prompts=150, n_annotators=8, judgments_per_comparison=4, n_position_biased=1,
                              position_bias=3.0, both_orders=1.0, rng=6)
    biased = truth.annotators.index[truth.annotators["kind"] == "position"][0]
    rep = pq.judge_report(data, judges=[biased])
    j = data.judgments.assign(o=data.oriented_choice(), f=data.flipped())
    first = j.groupby(["annotator_id", "comparison_id", "f"])["o"].first().unstack("f").dropna()
    inconsistent = (first[False] != first[True]).groupby(level=0).sum()
    n_both = first.groupby(level=0).size()
    np.testing.assert_array_equal(rep.table["n_both_orders"].reindex(n_both.index), n_both)
    np.testing.assert_array_equal(rep.table["n_inconsistent"].reindex(n_both.index), inconsistent)
    humans = rep.table[rep.table["kind"] == "human"]
    assert rep.table.loc[biased, "position_consistency"] < humans["position_consistency"].min()
    assert rep.table.loc[biased, "p_a"] > humans["p_a"].max()
    assert biased in rep.summary()


def test_errors_name_the_fix():
    data, _ = pq.simulate(n_prompts=10, n_annotators=4, rng=0)
    with pytest.raises(SchemaError, match="no column 'annotator_kind' marks the LLM judges"):
        pq.judge_report(data)
    with pytest.raises(SchemaError, match=r"`judges` names annotators not in the data: \['gpt-9'\]"):
        pq.judge_report(data, judges=["gpt-9"])
    with pytest.raises(SchemaError, match="not one string"):
        pq.judge_report(data, judges="ann-000")
    with pytest.raises(InsufficientDataError, match="needs judges and either humans or gold labels"):
        pq.judge_report(data, judges=list(data.judgments["annotator_id"].unique()))


def test_pandalm_careful_annotators_are_not_flagged_for_straight_lining(pandalm):
    # PandaLM's rows are grouped by item, not in annotation order: runs of equal answers there are not
    # straight-lining. Without timestamps the run test is not run, and no annotator is flagged for runs.
    data, _, _ = pandalm
    table = pq.annotator_table(data)
    assert table["p_run"].isna().all()
    assert not table["reason"].str.contains("straight-lining").any(), table["reason"]
    assert table.loc[list(HUMAN), "longest_run"].ge(10).all()  # the long row-order runs that used to be flagged
    assert any("straight-lining is not tested" in n for n in table.attrs["notes"])


def test_judge_report_counts_cells_the_wide_reader_rejected(pandalm_dir):
    # read through pq.read: the 25 'garbage' GPT-3.5 verdicts become rejected cells of kept rows
    test = pd.DataFrame(json.loads((pandalm_dir / "testset-v1.json").read_text()))
    gpt = pd.DataFrame(json.loads((pandalm_dir / "gpt-3.5-turbo-testset-v1.json").read_text()))
    frame = test.merge(gpt[["idx", "gpt_result"]], on="idx").rename(columns={"gpt_result": "gpt35"})
    data = pq.read(
        frame, format="wide", id_column="idx", on_error="skip",
        annotator_columns=["annotator1", "annotator2", "annotator3", "gpt35"],
        annotator_codes={"gpt35": {"1": "a", "2": "b", "Tie": "tie"}}, annotator_kinds={"gpt35": "llm"},
        prompt_columns=["instruction", "input"], response_columns=["response1", "response2"], model_key="cmp_key",
    )
    report = pq.judge_report(data)
    assert report.judges == ("gpt35",)
    assert report.n_rejected == 25  # gpt_result 'garbage' count in SOURCE.md
    assert any("25 judgment cell(s)" in w for w in report.warnings)


# ---------------------------------------------------------------- LLMBar-like judges: no humans, gold everywhere
# (position logit beta, skill s): P(choose shown-first) = expit(beta + s) when it is the correct one, else
# expit(beta - s). Falcon: P(a) = (expit(2.4) + expit(0.4)) / 2 = 0.758, consistency across orders
# expit(2.4) (1 - expit(0.4)) + (1 - expit(2.4)) expit(0.4) = 0.418 (LLMBar: 0.77 and 44%); ChatGPT-0301:
# accuracy (expit(0.08) + 1 - expit(0.32)) / 2 = 0.470 (LLMBar: 47% on 838 items).
LLMBAR_JUDGES = {"gpt-4": (0.05, 2.0), "falcon-180b": (1.4, 1.0), "chatgpt-0301": (0.2, -0.12),
                 "llama-2-70b": (0.3, 1.0), "palm-2": (-0.2, 1.2), "claude-2": (0.1, 1.4)}
NULL_JUDGES = {f"judge-{i}": (0.0, s) for i, s in enumerate((1.0, 1.2, 1.4, 1.6, 1.8, 2.0))}
N_LLMBAR_ITEMS = 838


def llmbar_like(judges: dict[str, tuple[float, float]], n_items: int = N_LLMBAR_ITEMS, rng: int = 0
                ) -> pq.PreferenceData:
    """Every item judged by every judge in both display orders; ``gold`` on every judgment; no humans."""
    from scipy.special import expit

    g = np.random.default_rng(rng)
    items = np.array([f"item-{i:04d}" for i in range(n_items)])
    r1 = np.char.add(items, "-r1")
    r2 = np.char.add(items, "-r2")
    better_is_r1 = g.random(n_items) < 0.5
    texts = ["x" * int(n) for n in g.integers(20, 400, size=2 * n_items)]
    responses = pd.DataFrame({"response_id": np.concatenate([r1, r2]), "prompt_id": np.tile(items, 2),
                              "text": texts})
    prompts = pd.DataFrame({"prompt_id": items, "text": np.char.add("question ", items)})
    parts = []
    for judge, (beta, skill) in judges.items():
        for flipped in (False, True):
            a, b = (r2, r1) if flipped else (r1, r2)
            correct_first = better_is_r1 != flipped
            p_first = expit(beta + np.where(correct_first, skill, -skill))
            chose_first = g.random(n_items) < p_first
            parts.append(pd.DataFrame({
                "comparison_id": items, "annotator_id": judge, "choice": np.where(chose_first, "a", "b"),
                "prompt_id": items, "response_a_id": a, "response_b_id": b,
                "gold": np.where(correct_first, "a", "b"), "annotator_kind": "llm"}))
    return pq.PreferenceData(pd.concat(parts, ignore_index=True), responses, prompts)


@pytest.fixture(scope="module")
def llmbar():
    data = llmbar_like(LLMBAR_JUDGES)
    return data, pq.annotator_table(data), pq.judge_report(data)


def test_llmbar_like_judges_are_flagged_where_position_bias_flags_them(llmbar):
    from prefqa.bias._per_annotator import annotator_position_tests

    data, table, rep = llmbar
    falcon = table.loc["falcon-180b"]
    assert 0.72 < falcon["p_a"] < 0.80 and 0.36 < falcon["self_consistency"] < 0.48
    assert falcon["q_position"] < 0.05 and "chooses the first response" in falcon["reason"]
    assert falcon["flagged"]
    # one implementation: the table's position and consistency columns are the shared function's
    shared = annotator_position_tests(data).reindex(table.index)
    for col in ("p_a", "p_a_ci_low", "p_a_ci_high", "q_position", "self_consistency", "q_consistency"):
        np.testing.assert_array_equal(table[col].to_numpy(dtype=float), shared[col].to_numpy(dtype=float))
    # position_bias(...).annotators and length_bias(...).annotators: the same numbers and flags
    pb = pq.position_bias(data).annotators.reindex(table.index)
    assert bool(pb.loc["falcon-180b", "flagged_position"])
    for col in ("p_a", "q_position", "self_consistency", "q_consistency"):
        np.testing.assert_array_equal(table[col].to_numpy(dtype=float), pb[col].to_numpy(dtype=float))
    lb = pq.length_bias(data).annotators.reindex(table.index)
    for col in ("length_slope", "q_length"):
        np.testing.assert_array_equal(table[col].to_numpy(dtype=float), lb[col].to_numpy(dtype=float))
    assert (table["q_position"].lt(0.05) == pb["flagged_position"]).all()
    # ... and judge_report shows the same numbers
    np.testing.assert_array_equal(rep.table.loc[table.index, "p_a"].to_numpy(dtype=float),
                                  table["p_a"].to_numpy(dtype=float))


def test_llmbar_like_judge_below_min_gold_accuracy_is_flagged(llmbar):
    _, table, rep = llmbar
    chatgpt = table.loc["chatgpt-0301"]
    assert chatgpt["n_gold"] == 2 * N_LLMBAR_ITEMS and chatgpt["n_gold_items"] == N_LLMBAR_ITEMS
    assert 0.43 < chatgpt["gold_accuracy"] < 0.51
    assert chatgpt["gold_se_method"] == "cluster-robust by comparison"  # both orders of one item correlate
    assert chatgpt["q_gold"] < 0.001 and "below min_gold_accuracy 60%" in chatgpt["reason"]
    assert chatgpt["gold_ci_high"] < 0.6
    # the good judges are above the reference: not flagged on gold (falcon's accuracy is 0.66)
    assert table.loc[["gpt-4", "claude-2", "palm-2", "llama-2-70b", "falcon-180b"], "q_gold"].gt(0.05).all()
    # judge_report without humans: the same gold test
    assert rep.humans == () and set(rep.judges) == set(LLMBAR_JUDGES)
    np.testing.assert_array_equal(rep.table.loc[table.index, "q_gold"].to_numpy(dtype=float),
                                  table["q_gold"].to_numpy(dtype=float))
    assert bool(rep.table.loc["chatgpt-0301", "flagged_gold"])
    assert rep.table["kappa"].isna().all() and rep.n_consensus == 0
    assert any("no human judgments" in w for w in rep.warnings)
    text = rep.summary()
    assert "no human judgments" in text and "chatgpt-0301: gold accuracy" in text
    tidy = rep.to_frame()
    gold = tidy[(tidy["metric"] == "gold_accuracy") & (tidy["annotator_id"] == "chatgpt-0301")].iloc[0]
    assert gold["ci_low"] < gold["estimate"] < gold["ci_high"]


def test_llmbar_like_null_design_flags_no_judge():
    for seed in range(3):
        table = pq.annotator_table(llmbar_like(NULL_JUDGES, n_items=400, rng=100 + seed))
        assert not table["flagged"].any(), table.loc[table["flagged"], "reason"]


def test_judge_report_needs_humans_or_gold():
    data = llmbar_like(LLMBAR_JUDGES, n_items=30)
    j = data.judgments.drop(columns="gold")
    with pytest.raises(InsufficientDataError, match="found 6 judge\\(s\\), 0 human\\(s\\) and no `gold` column"):
        pq.judge_report(pq.PreferenceData(j, data.responses, data.prompts))
    with pytest.raises(SchemaError, match="`min_gold_accuracy` is the accuracy on gold items"):
        pq.judge_report(data, min_gold_accuracy=60)
