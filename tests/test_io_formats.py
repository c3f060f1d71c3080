"""Every reader format on real (../shared/data) or realistic hand-made data (tests/data/io)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.io._pairs import hh_split
from prefqa.schema import stable_id

DATA = Path(__file__).resolve().parent / "data" / "io"
PANDALM_OPTIONS = {
    "format": "wide", "id_column": "idx", "annotator_columns": ["annotator1", "annotator2", "annotator3"],
    "prompt_columns": ["instruction", "input"], "response_columns": ["response1", "response2"],
    "model_key": "cmp_key",
}


def _accounted(data: pq.PreferenceData) -> None:
    r = data.load_report
    assert r.n_rows == r.n_rows_used + r.n_rejected
    assert r.n_judgments == data.n_judgments


def _chosen_texts(data: pq.PreferenceData) -> list[str]:
    w = data.judgments_with_text()
    return np.where(w["choice"] == "a", w["response_a"], w["response_b"]).tolist()


# ------------------------------------------------------------------ PandaLM
@pytest.fixture(scope="module")
def pandalm(pandalm_dir: Path) -> pq.PreferenceData:
    return pq.read(pandalm_dir / "testset-v1.json", **PANDALM_OPTIONS)


def test_pandalm_counts(pandalm: pq.PreferenceData) -> None:
    # counts from ../shared/data/pandalm_testset/SOURCE.md ("Counts (computed here)")
    assert pandalm.n_comparisons == 999
    assert pandalm.n_annotators == 3
    assert pandalm.n_judgments == 2997
    assert pandalm.n_prompts == 170
    assert pandalm.order_known
    _accounted(pandalm)
    assert pandalm.load_report.n_rows == 999 and pandalm.load_report.n_rejected == 0
    # per-annotator label counts: annotator1 {2: 475, 1: 427, 0: 97}, annotator2 {2: 466, 1: 417, 0: 116},
    # annotator3 {2: 475, 1: 411, 0: 113}; 1 = response1 = a, 2 = response2 = b, 0 = tie
    counts = pandalm.judgments.groupby(["annotator_id", "choice"]).size()
    expected = {"annotator1": (427, 475, 97), "annotator2": (417, 466, 116), "annotator3": (411, 475, 113)}
    for ann, (a, b, tie) in expected.items():
        assert (counts[ann]["a"], counts[ann]["b"], counts[ann]["tie"]) == (a, b, tie)


def test_pandalm_models_prompts_and_texts(pandalm: pq.PreferenceData, pandalm_dir: Path) -> None:
    raw = json.loads((pandalm_dir / "testset-v1.json").read_text())
    j = pandalm.judgments
    # 5 models over 10 model pairs; cmp_key "bloom-7b_llama-7b" -> model_a bloom-7b (response1)
    assert sorted(set(j["model_a"]) | set(j["model_b"])) == [
        "bloom-7b", "cerebras-gpt-6.7B", "llama-7b", "opt-7b", "pythia-6.9b"]
    first = j[j["comparison_id"] == "0"].iloc[0]
    assert (first["model_a"], first["model_b"]) == ("bloom-7b", "llama-7b")
    # prompt = instruction + "\n\n" + input, the input skipped when empty (167 items)
    prompts = pandalm.prompts.set_index("prompt_id")["text"]
    by_cid = j.drop_duplicates("comparison_id").set_index("comparison_id")["prompt_id"].map(prompts)
    empty_inputs = [r for r in raw if r["input"] == ""]
    assert len(empty_inputs) == 167
    assert by_cid[str(empty_inputs[0]["idx"])] == empty_inputs[0]["instruction"]
    with_input = next(r for r in raw if r["input"])
    assert by_cid[str(with_input["idx"])] == with_input["instruction"] + "\n\n" + with_input["input"]
    # the 6 JSON booleans are kept as the text "True" (idx 157, 158, 159, 164 response1; 161, 162 response2)
    w = pandalm.judgments_with_text().drop_duplicates("comparison_id").set_index("comparison_id")
    for idx, side in [(157, "a"), (158, "a"), (159, "a"), (164, "a"), (161, "b"), (162, "b")]:
        assert w.loc[str(idx), f"response_{side}"] == "True"
    assert any("JSON booleans" in n for n in pandalm.load_report.notes)
    # 54 comparisons have an empty response; they are kept, and the empty responses counted
    empty = (w["response_a"].str.strip() == "") | (w["response_b"].str.strip() == "")
    assert int(empty.sum()) == 54
    assert pandalm.load_report.n_empty_texts == int((pandalm.responses["text"].str.strip() == "").sum()) > 0
    # ids: response id = stable_id("r", prompt_id, text); comparison id from the idx column
    r = pandalm.responses.iloc[0]
    assert r["response_id"] == stable_id("r", pd.Series([r["prompt_id"]]), pd.Series([r["text"]]))[0]
    assert set(j["comparison_id"]) == {str(r["idx"]) for r in raw}
    assert pandalm.meta["source_format"] == "wide" and not pandalm.conversational


def test_pandalm_llm_judge_garbage_is_listed(pandalm_dir: Path) -> None:
    test = pd.DataFrame(json.loads((pandalm_dir / "testset-v1.json").read_text()))
    gpt = pd.DataFrame(json.loads((pandalm_dir / "gpt-3.5-turbo-testset-v1.json").read_text()))
    frame = test.merge(gpt[["idx", "gpt_result"]], on="idx")
    options = dict(PANDALM_OPTIONS, annotator_columns=["annotator1", "annotator2", "annotator3", "gpt35"],
                   annotator_codes={"gpt35": {"1": "a", "2": "b", "Tie": "tie"}},
                   annotator_kinds={"gpt35": "llm"}, mapping={"gpt_result": "gpt35"})
    with pytest.raises(pq.SchemaError, match=r"row \d+, column 'gpt35' \(source column 'gpt_result'\).*'garbage' \(25 cells\)"):
        pq.read(frame, **options)
    data = pq.read(frame, on_error="skip", **options)
    # GPT-3.5 verdicts {2: 476, 1: 460, Tie: 38, garbage: 25} (SOURCE.md)
    gpt_j = data.judgments[data.judgments["annotator_kind"] == "llm"]
    assert gpt_j["choice"].value_counts().to_dict() == {"b": 476, "a": 460, "tie": 38}
    assert (data.judgments["annotator_kind"] == "human").sum() == 2997
    cells = data.load_report.rejected_values
    assert len(cells) == 25 and set(cells["value"]) == {"garbage"} and set(cells["column"]) == {"gpt35"}
    assert data.load_report.n_rejected == 0 and data.load_report.n_rows_used == 999
    assert "25 cells rejected" in data.load_report.summary()
    assert data.load_report.to_frame()["n_rejected_values"].item() == 25


# ------------------------------------------------------------------- HH-RLHF
def test_hh_rlhf_harmless_base(hh_path: Path) -> None:
    data = pq.read(hh_path)
    assert data.load_report.format == "hh"
    # 2,312 pairs, 2,310 distinct prompts (SOURCE.md)
    assert data.n_comparisons == data.n_judgments == 2312
    assert data.n_prompts == 2310
    assert not data.has_annotators and not data.order_known
    _accounted(data)
    chosen = pd.Series(_chosen_texts(data))
    w = data.judgments_with_text()
    rejected = pd.Series(np.where(w["choice"] == "a", w["response_b"], w["response_a"]))
    lc, lr = chosen.str.len(), rejected.str.len()
    # SOURCE.md: chosen longer in 44.2% of pairs (1,023 of 2,312), 11 equal lengths, splitting each
    # transcript at its own last marker; our shared-marker rule changes the split of 5 pairs only
    assert abs(int((lc > lr).sum()) - 1023) <= 5
    assert int((lc == lr).sum()) == 11
    # 4 empty final turns are kept and counted
    assert data.load_report.n_empty_texts == 4
    # a/b were placed by hash: about half the chosen responses sit in position b
    assert 0.4 < (data.judgments["choice"] == "b").mean() < 0.6
    assert any("5 pairs" in n for n in data.load_report.notes)


def test_hh_split_edge_cases() -> None:
    base = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: tell me a joke\n\nAssistant:"
    chosen = pd.Series([
        base + " Why did the chicken cross the road?",
        # the chosen final turn holds the marker text again: stays whole in the response
        base + " Sure.\n\nAssistant: Here is one.",
        # dialogues differ before the final turn: split at the last shared marker
        "\n\nHuman: hi\n\nAssistant: hello there\n\nHuman: ok\n\nAssistant: bye",
        base + "",  # empty final turn
        "no markers at all",
    ])
    rejected = pd.Series([
        base + " No.",
        base + " No.",
        "\n\nHuman: hi\n\nAssistant: hey\n\nHuman: ok\n\nAssistant: bye",
        base + " Knock knock.",
        "still none",
    ])
    prompt, rc, rr, ok, n_slow = hh_split(chosen, rejected)
    assert ok.tolist() == [True, True, True, True, False]
    assert prompt[0] == base and rc[0] == "Why did the chicken cross the road?" and rr[0] == "No."
    assert prompt[1] == base and rc[1] == "Sure.\n\nAssistant: Here is one."
    assert prompt[2] == "\n\nHuman: hi\n\nAssistant:"
    assert rc[2] == "hello there\n\nHuman: ok\n\nAssistant: bye"
    assert rc[3] == "" and rr[3] == "Knock knock."
    assert n_slow == 2


def test_auto_tells_hh_from_trl_implicit() -> None:
    assert pq.read(DATA / "trl_implicit.jsonl").load_report.format == "trl"
    hh = pd.DataFrame({"chosen": ["\n\nHuman: hi\n\nAssistant: hello"], "rejected": ["\n\nHuman: hi\n\nAssistant: go away"]})
    assert pq.read(hh).load_report.format == "hh"


# ----------------------------------------------------------------------- TRL
def test_trl_standard_explicit_prompt() -> None:
    data = pq.read(DATA / "trl_standard.jsonl")
    assert data.load_report.format == "trl" and data.meta["source_format"] == "trl"
    assert not data.order_known and not data.has_annotators and not data.conversational
    assert data.judgments["annotator_id"].isna().all()
    assert data.judgments["comparison_id"].tolist() == ["row1", "row2", "row3", "row4"]
    assert _chosen_texts(data) == ["A hash map stores key-value pairs and finds a value by hashing its key to an array slot.",
                                   "Bonjour.", "Soft rain on the roof\nthe gutters hum their one note\nstreetlights blur to gold",
                                   "No: 91 = 7 x 13."]
    assert data.load_report.n_empty_texts == 1
    # placement by a stable hash: the same file gives the same a/b every time
    assert pq.read(DATA / "trl_standard.jsonl").judgments["choice"].tolist() == data.judgments["choice"].tolist()
    _accounted(data)


def test_trl_standard_implicit_prompt() -> None:
    data = pq.read(DATA / "trl_implicit.jsonl")
    w = data.judgments_with_text()
    assert w["prompt"].tolist() == ["Q: What is the boiling point of water at sea level? A:",
                                    "Summarize: The meeting moved to Friday. Summary:", "Name a prime number."]
    assert _chosen_texts(data) == [" 100 degrees Celsius.", " Meeting is now on Friday.", " Seven."]


def test_trl_conversational_explicit_and_implicit() -> None:
    data = pq.read(DATA / "trl_conversational.jsonl")
    assert data.conversational and data.meta["conversational"]
    assert _chosen_texts(data) == ["Canberra.", "Joyful.", "Six."]
    msgs = json.loads(data.prompts["messages"].iloc[0])
    assert msgs == [{"role": "system", "content": "You are a terse assistant."},
                    {"role": "user", "content": "What's the capital of Australia?"}]
    assert data.prompts["text"].iloc[0] == "system: You are a terse assistant.\n\nuser: What's the capital of Australia?"
    implicit = pq.read(DATA / "trl_conversational_implicit.jsonl")
    assert _chosen_texts(implicit) == ["144.", "Try 'The Left Hand of Darkness' by Ursula K. Le Guin."]
    assert json.loads(implicit.prompts["messages"].iloc[0]) == [{"role": "user", "content": "What's 12 * 12?"}]


# ------------------------------------------------------- arena, openai, canonical
def test_arena_battles() -> None:
    data = pq.read(DATA / "arena.jsonl")
    j = data.judgments
    assert data.load_report.format == "arena" and data.order_known and data.conversational
    assert j["choice"].tolist() == ["a", "tie", "tie", "b"]
    assert j["both_bad"].tolist() == [False, False, True, False]
    assert j["annotator_id"].tolist() == ["arena_user_17", "arena_user_17", "arena_user_4", "arena_user_9"]
    assert (j["model_a"].iloc[0], j["model_b"].iloc[0]) == ("gpt-4", "vicuna-13b")
    assert j["language"].tolist() == ["English", "English", "German", "English"]
    assert "openai_moderation" not in j
    w = data.judgments_with_text()
    assert w["response_b"].iloc[3] == "Octopuses have three hearts."
    assert w["prompt"].iloc[3] == "user: Hi\n\nassistant: Hello!\n\nuser: Tell me a fact."


def test_openai_preference_rows() -> None:
    data = pq.read(DATA / "openai.jsonl")
    assert data.load_report.format == "openai" and data.conversational and not data.order_known
    assert _chosen_texts(data)[1] == "Yellow."
    assert json.loads(data.prompts["messages"].iloc[1])[0] == {"role": "system", "content": "Answer in one word."}


@pytest.mark.parametrize("name", ["canonical.csv", "canonical.jsonl"])
def test_canonical_file(name: str) -> None:
    data = pq.read(DATA / name)
    j = data.judgments
    assert data.load_report.format == "prefqa" and data.order_known
    assert (data.n_judgments, data.n_comparisons, data.n_annotators) == (6, 3, 3)
    # c001 was shown in both orders: both annotators preferred the same response
    assert data.oriented_choice()[:2].tolist() == [0, 0]
    assert data.load_report.n_repeats == 1  # w03 judged c003 twice: reported and kept
    assert data.load_report.n_empty_texts == 1
    assert j["seconds"].tolist() == [41.5, 12.0, 20.25, 33.0, 8.0, 9.5]
    assert j["batch"].tolist() == ["b1", "b1", "b1", "b2", "b2", "b2"]  # extra column kept as a stratum
    assert data.judgments_with_text()["response_b"].iloc[2] == "Red, yellow"


def test_canonical_parquet_and_dataframe(tmp_path: Path) -> None:
    frame = pd.read_csv(DATA / "canonical.csv", keep_default_na=False)
    frame.to_parquet(tmp_path / "c.parquet")
    from_csv = pq.read(DATA / "canonical.csv")
    for data in (pq.read(tmp_path / "c.parquet"), pq.read(frame)):
        pd.testing.assert_frame_equal(data.judgments, from_csv.judgments, check_dtype=False)
        assert data.responses["response_id"].tolist() == from_csv.responses["response_id"].tolist()


# -------------------------------------------------------- ratings and rankings
def test_ratings_with_aspects() -> None:
    data = pq.read(DATA / "ratings.csv")
    assert data.load_report.format == "ratings" and not data.order_known
    assert data.n_ratings == 11 and data.meta["aspects"] == ["helpfulness", "honesty"]
    j = data.judgments
    # ann1: 3 responses x 2 aspects -> 3 + 3 pairs; ann2: 3 pairs on prompt 1 + 1 on prompt 2
    assert len(j) == 10 and set(j["aspect"]) == {"helpfulness", "honesty"}
    # comparisons are per aspect; annotators who scored the same two responses share one
    assert data.n_comparisons == 7
    # gpt-4 (5) vs llama (4) for ann1 on helpfulness: gpt-4 wins by 1; ann2 scored both 4: a tie
    w = data.judgments_with_text()
    pair = w[(w["aspect"] == "helpfulness") & w["model_a"].isin(["gpt-4", "llama-2-13b"])
             & w["model_b"].isin(["gpt-4", "llama-2-13b"])].set_index("annotator_id")
    row = pair.loc["ann1"]
    winner = row["model_a"] if row["choice"] == "a" else row["model_b"]
    assert winner == "gpt-4" and abs(row["strength"]) == 1.0
    assert pair.loc["ann2", "choice"] == "tie"
    assert data.load_report.n_ratings == 11 and data.load_report.n_rows_used == 11
    one = pq.read(DATA / "ratings.csv", aspect="honesty")
    assert set(one.judgments["aspect"]) == {"honesty"} and len(one.judgments) == 3 and one.n_ratings == 11


def test_rankings_expand_to_pairs() -> None:
    data = pq.read(DATA / "rankings.jsonl")
    assert data.load_report.format == "rankings" and not data.order_known
    assert len(data.judgments) == 3 + 3 + 1
    assert data.rankings["rank"].tolist() == [1, 2, 3, 1, 2, 3, 1, 2]
    w = data.judgments_with_text()
    winners = np.where(w["choice"] == "a", w["response_a"], w["response_b"])
    r1 = winners[(w["annotator_id"] == "r1").to_numpy()].tolist()
    assert r1.count("Rise & Shine Bakery") == 2 and r1.count("The Bread Box") == 1 and "night" in r1
    # both annotators ranked the same three responses: they share the 3 comparisons
    assert data.n_comparisons == 4


def test_mapping_renames_and_maps_values() -> None:
    frame = pd.DataFrame({"item": ["i1", "i1", "i2"], "rater": ["x", "y", "x"], "verdict": ["A", "B", "Tie"]})
    data = pq.read(frame, mapping={"item": "comparison_id", "rater": "annotator_id", "verdict": "choice",
                                   "choice": {"A": "a", "B": "b", "Tie": "tie"}})
    assert data.judgments["choice"].tolist() == ["a", "b", "tie"]
    assert data.meta["mapping"]["rater"] == "annotator_id"
