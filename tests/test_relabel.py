"""pq.relabel_queue: relabelling the queue pays more than relabelling at random; the file a vendor gets.

New votes are drawn here the way the simulator draws votes (the drawn
annotator panel: accuracy x quality gap plus the annotator's position logit,
the Rao-Kupper tie threshold, spammers clicking at random), on the display
order the queue recorded.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.cleaning import QUEUE_COLUMNS, write_queue
from prefqa.errors import InsufficientDataError, SchemaError

TIE = 0.3  # the simulator's default tie_threshold


def _world(seed: int, n_prompts: int = 150):
    data, truth = pq.simulate(n_prompts=n_prompts, n_annotators=20, n_spammers=2, tie_threshold=TIE, rng=seed)
    tc = truth.comparisons
    quality = pd.Series(np.concatenate([tc["quality_1"], tc["quality_2"]]),
                        index=np.concatenate([tc["response_1_id"], tc["response_2_id"]]))
    scores = quality + np.random.default_rng(50 + seed).normal(0.0, 0.5, len(quality))
    return data, truth, quality, scores


def _new_votes(queue: pd.DataFrame, truth, quality: pd.Series, m: int, gen: np.random.Generator) -> pd.DataFrame:
    """``m`` new judgments per queued row from random panel annotators, in the recorded display order."""
    rows = queue.loc[queue.index.repeat(m)].reset_index(drop=True)
    panel = truth.annotators
    who = gen.integers(0, len(panel), len(rows))
    acc = panel["accuracy"].to_numpy()[who]
    pos = panel["position_bias"].to_numpy()[who]
    eta = acc * (quality.reindex(rows["response_a_id"]).to_numpy() - quality.reindex(rows["response_b_id"]).to_numpy())
    latent = eta + pos + gen.logistic(0.0, 1.0, len(rows))
    choice = np.where(latent > TIE, "a", np.where(latent < -TIE, "b", "tie")).astype(object)
    spam = panel["kind"].to_numpy()[who] == "spammer"
    u = gen.random(len(rows))
    choice[spam] = np.where(u < 0.45, "a", np.where(u < 0.9, "b", "tie"))[spam]
    return pd.DataFrame({"comparison_id": rows["comparison_id"], "annotator_id": [f"vendor-{i}" for i in who],
                         "choice": choice, "prompt_id": rows["prompt_id"],
                         "response_a_id": rows["response_a_id"], "response_b_id": rows["response_b_id"]})


def _accuracy(data: pq.PreferenceData, quality: pd.Series) -> float:
    """Share of majority labels that name the better response (a tie label counts 1/2)."""
    lab = pq.consensus(data).labels
    first = quality.reindex(lab["response_1_id"]).to_numpy() > quality.reindex(lab["response_2_id"]).to_numpy()
    right = np.where(lab["label"] == "1", first, np.where(lab["label"] == "2", ~first, np.nan))
    return float(np.where(np.isnan(right), 0.5, right).mean())


def _append(data: pq.PreferenceData, new: pd.DataFrame) -> pq.PreferenceData:
    return pq.PreferenceData(pd.concat([data.judgments, new], ignore_index=True), data.responses, data.prompts)


def _random_rows(data: pq.PreferenceData, budget: int, gen: np.random.Generator) -> pd.DataFrame:
    comps = data.comparisons().iloc[gen.choice(data.n_comparisons, budget, replace=False)]
    swap = gen.random(budget) < 0.5
    return pd.DataFrame({"comparison_id": comps["comparison_id"].to_numpy(), "prompt_id": comps["prompt_id"].to_numpy(),
                         "response_a_id": np.where(swap, comps["response_2_id"], comps["response_1_id"]),
                         "response_b_id": np.where(swap, comps["response_1_id"], comps["response_2_id"])})


@pytest.mark.parametrize("with_scores", [True, False])
def test_queue_improves_accuracy_at_least_twice_as_much_as_random(with_scores) -> None:
    budget, m = 60, 3
    gains = []
    for seed in range(5):
        data, truth, quality, scores = _world(seed)
        base = _accuracy(data, quality)
        queue = pq.relabel_queue(data, budget=budget, scores=scores if with_scores else None,
                                 votes_per_item=m, rng=seed)
        gen = np.random.default_rng(seed)
        gain_q = _accuracy(_append(data, _new_votes(queue, truth, quality, m, gen)), quality) - base
        rand = _random_rows(data, budget, gen)
        gain_r = _accuracy(_append(data, _new_votes(rand, truth, quality, m, gen)), quality) - base
        gains.append((gain_q, gain_r))
    g = np.array(gains)
    assert g[:, 0].mean() >= 2 * g[:, 1].mean(), g
    assert g[:, 0].mean() > 0.01, g  # the queue helps at all (~60 of 450 comparisons relabelled)


def _enumerated_error(p1: float, e: float, old: tuple[int, int, int], m: int) -> float:
    """Expected majority-label error after m votes, by enumerating every vote sequence (flip model)."""
    total = 0.0
    for seq in itertools.product((0, 1), repeat=m):
        k1 = seq.count(0)
        like1 = (1 - e) ** k1 * e ** (m - k1)      # response 1 better: a vote for it with prob. 1 - e
        like2 = e ** k1 * (1 - e) ** (m - k1)
        c1, c2 = old[0] + k1, old[1] + m - k1
        top = max(c1, c2, old[2])
        shared = [c1, c2, old[2]].count(top) > 1
        a, b = p1 * like1, (1 - p1) * like2         # P(sequence, 1 better), P(sequence, 2 better)
        total += 0.5 * (a + b) if shared else (b if c1 == top else a)
    return total


def test_expected_error_matches_enumeration_of_vote_sequences() -> None:
    """The flip model's queue numbers equal a brute-force enumeration over the 2^m vote sequences."""
    gen = np.random.default_rng(3)
    n = 4000
    d = gen.normal(size=n)
    first = gen.random(n) < 1 / (1 + np.exp(-2 * d))
    vote = np.where(gen.random(n) < 0.15, ~first, first)
    j = pd.DataFrame({"comparison_id": [f"c{i:04d}" for i in range(n)], "annotator_id": None,
                      "choice": np.where(vote, "a", "b"), "prompt_id": [f"p{i}" for i in range(n)],
                      "rm_a": d, "rm_b": 0.0})
    data = pq.PreferenceData(j)
    issues = pq.label_issues(data, scores="rm")
    queue = pq.relabel_queue(data, budget=25, issues=issues, votes_per_item=4)
    e = issues.calibration.set_index("fold")["e"]
    t = issues.to_frame().loc[queue["comparison_id"]]
    for (_cid, row), after in zip(t.iterrows(), queue["error_after"]):
        old = (int(row["votes_1"]), int(row["votes_2"]), int(row["votes_tie"]))
        assert after == pytest.approx(_enumerated_error(row["p_first_better"], e[row["fold"]], old, 4), abs=1e-12)
    assert (queue["error_before"] == t["p_label_wrong"].to_numpy()).all()


def test_queue_rows_are_judgments_with_a_fresh_display_order(tmp_path) -> None:
    data, _, _, scores = _world(1, n_prompts=60)
    queue = pq.relabel_queue(data, budget=40, scores=scores, rng=4)
    assert tuple(queue.columns) == QUEUE_COLUMNS and len(queue) == 40
    assert queue["rank"].tolist() == list(range(1, 41)) and queue["comparison_id"].is_unique
    assert queue["expected_error_reduction"].is_monotonic_decreasing
    assert 8 < int(queue["swapped"].sum()) < 32                        # sides randomised
    lab = pq.label_issues(data, scores=scores).to_frame().loc[queue["comparison_id"]]
    first_shown = np.where(queue["swapped"], lab["response_2_id"], lab["response_1_id"])
    assert (queue["response_a_id"].to_numpy() == first_shown).all()
    assert (np.where(queue["swapped"], lab["votes_2"], lab["votes_1"]) == queue["votes_a"]).all()
    texts = data.responses.set_index("response_id")["text"]
    assert (queue["response_a"].to_numpy() == texts.reindex(queue["response_a_id"]).to_numpy()).all()
    assert queue["prompt"].notna().all() and queue["choice"].isna().all()
    again = pq.relabel_queue(data, budget=40, scores=scores, rng=4)
    pd.testing.assert_frame_equal(queue, again)

    # filled in by a vendor and read back with pq.read: ordinary judgments of the same comparisons
    filled = queue.assign(annotator_id="vendor-1", choice=np.where(queue["votes_a"] >= queue["votes_b"], "a", "b"))
    path = write_queue(filled, tmp_path / "queue.csv")
    back = pq.read(path)
    assert set(back.judgments["comparison_id"]) == set(queue["comparison_id"])
    merged = _append(data, filled[["comparison_id", "annotator_id", "choice", "prompt_id", "response_a_id",
                                   "response_b_id"]])
    assert merged.n_comparisons == data.n_comparisons
    assert merged.n_judgments == data.n_judgments + 40


def test_write_queue_csv_and_jsonl(tmp_path) -> None:
    data, _, _, _ = _world(2, n_prompts=30)
    queue = pq.relabel_queue(data, budget=5, rng=0)
    write_queue(queue, tmp_path / "q.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [r["comparison_id"] for r in rows] == queue["comparison_id"].tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.jsonl"]   # no temporary file left behind
    with pytest.raises(SchemaError, match=r"\.csv or \.jsonl"):
        write_queue(queue, tmp_path / "q.parquet")


def test_budget_larger_than_the_data_returns_every_comparison() -> None:
    data, _, _, _ = _world(3, n_prompts=10)
    queue = pq.relabel_queue(data, budget=10_000)
    estimable = pq.label_issues(data).to_frame()
    assert len(queue) == len(estimable)


def test_bad_inputs() -> None:
    data, _, _, _ = _world(0, n_prompts=10)
    with pytest.raises(SchemaError, match="budget"):
        pq.relabel_queue(data, budget=0)
    with pytest.raises(SchemaError, match="votes_per_item"):
        pq.relabel_queue(data, budget=3, votes_per_item=1.5)
    other, _, _, _ = _world(1, n_prompts=12)
    with pytest.raises(SchemaError, match="same data"):
        pq.relabel_queue(data, budget=3, issues=pq.label_issues(other))
    one = pq.PreferenceData(pd.DataFrame({"comparison_id": ["c1", "c2"], "annotator_id": None, "choice": ["a", "b"]}))
    with pytest.raises(InsufficientDataError, match="cannot be estimated"):
        pq.relabel_queue(one, budget=1)


# ------------------------------------------------------------------ prefqa relabel
def test_cli_writes_the_queue_and_the_label_issues(tmp_path, capsys) -> None:
    from prefqa.cli import main

    data, _, _, scores = _world(5, n_prompts=40)
    j = data.judgments.assign(rm_a=scores.reindex(data.judgments["response_a_id"]).to_numpy(),
                              rm_b=scores.reindex(data.judgments["response_b_id"]).to_numpy())
    src = tmp_path / "data.csv"
    pq.write(pq.PreferenceData(j, data.responses, data.prompts), src)
    out, issues = tmp_path / "out" / "queue.jsonl", tmp_path / "issues.csv"
    code = main(["relabel", str(src), "--budget", "7", "--out", str(out), "--scores", "rm_a,rm_b",
                 "--label-issues", str(issues), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "Relabel queue: 7 comparisons" in printed and "latent_gap" in printed
    queue = pd.read_json(out, lines=True)
    assert len(queue) == 7 and list(queue.columns) == list(QUEUE_COLUMNS)
    table = pd.read_csv(issues)
    assert {"comparison_id", "p_label_wrong", "flagged"} <= set(table.columns)
    assert len(table) == data.n_comparisons


@pytest.mark.parametrize(("extra", "match"), [
    (["--cross-fit", "1"], "--cross-fit"),
    (["--budget", "0"], "--budget"),
    (["--scores", "nope"], "found neither"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, match) -> None:
    from prefqa.cli import main

    data, _, _, _ = _world(6, n_prompts=20)
    src = tmp_path / "data.csv"
    pq.write(data, src)
    args = ["relabel", str(src), "--budget", "5", "--out", str(tmp_path / "q.csv"), "--no-progress"]
    code = main(args + extra)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("prefqa: error:") and err.count("\n") == 1 and match in err, err
    assert not (tmp_path / "q.csv").exists()
