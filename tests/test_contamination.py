"""pq.contamination: verbatim and lightly edited benchmark copies are found, unrelated prompts are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefqa import PreferenceData
from prefqa.cleaning._contam import contamination, ngram_hashes, read_benchmarks
from prefqa.errors import InsufficientDataError, SchemaError

WORDS = ("apple river stone cloud music paper garden silver window engine forest candle planet orange "
         "bridge market winter letter castle rocket butter island yellow signal number pocket shadow "
         "honey tunnel mirror ladder velvet copper meadow harbor violin thunder pepper marble lantern").split()


def _sentences(rng: np.random.Generator, k: int, lo: int = 15, hi: int = 30) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(lo, hi)))).capitalize() + "?" for _ in range(k)]


def _data(prompts: list[str]) -> PreferenceData:
    ids = [f"p{i}" for i in range(len(prompts))]
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(len(prompts))], "annotator_id": "x",
                      "choice": "a", "prompt_id": ids})
    return PreferenceData(j, prompts=pd.DataFrame({"prompt_id": ids, "text": prompts}))


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(7)
    bench = _sentences(rng, 60)
    unrelated = _sentences(rng, 200)  # same vocabulary, independent word sequences
    edits = {
        "verbatim": bench[0],
        "case": bench[1].upper(),
        "spacing": "  " + bench[2].replace(" ", "   \n ") + "  ",
        "punctuation": bench[3].replace(" ", ", ").rstrip("?") + "!!!",
        "appended": bench[4] + " Please answer in one short sentence and explain why.",
        "prefixed": "Question: " + bench[5],
    }
    prompts = list(edits.values()) + unrelated
    frame = pd.DataFrame({"id": np.arange(len(bench)), "question": bench})
    return _data(prompts), frame, list(edits), len(edits)


def test_finds_every_edited_copy_and_no_unrelated_prompt(planted):
    data, frame, names, k = planted
    res = contamination(data, frame)
    got = res.matches.set_index("prompt_id")
    assert sorted(got.index) == sorted(f"p{i}" for i in range(k)), res.matches
    # each copy points at its own benchmark row
    assert got.loc[[f"p{i}" for i in range(k)], "benchmark_row"].tolist() == list(range(k))
    kinds = dict(zip(names, got.loc[[f"p{i}" for i in range(k)], "kind"]))
    assert kinds["verbatim"] == kinds["case"] == kinds["spacing"] == kinds["punctuation"] == "exact"
    assert kinds["appended"] == kinds["prefixed"] == "ngram"
    assert got.loc["p4", "overlap"] < 1.0 and got.loc["p4", "overlap"] > 0.3
    assert res.n_prompts == len(data.prompts) and res.benchmarks == (("benchmarks[0]", 60, "question"),)
    assert res.share == pytest.approx(k / len(data.prompts))


def test_minhash_catches_a_reordered_copy_that_shares_no_13_gram():
    rng = np.random.default_rng(3)
    words = list(rng.choice(WORDS, size=40))
    bench = " ".join(words)
    # swap every 10th word with a new one: no 13-word run survives, Jaccard of 3-shingles stays high
    edited = [w if i % 10 else "zebra" for i, w in enumerate(words)]
    edited = " ".join(edited)
    res = contamination(_data([edited]), pd.DataFrame({"q": [bench]}), min_jaccard=0.3)
    assert res.matches["kind"].tolist() == ["minhash"]
    assert 0.3 <= res.matches["jaccard"].iloc[0] < 1.0
    # the same pair is not flagged at the default min_jaccard=0.8 (true Jaccard ~0.5)
    assert contamination(_data([edited]), pd.DataFrame({"q": [bench]})).n_flagged == 0


def test_short_prompts_need_an_exact_match():
    bench = pd.DataFrame({"q": ["What is two plus two?", "Name the largest ocean on Earth."]})
    res = contamination(_data(["what is TWO plus two", "What is two plus three?", "largest ocean"]), bench)
    assert res.matches["prompt_id"].tolist() == ["p0"]
    assert res.matches["kind"].tolist() == ["exact"] and res.matches["overlap"].tolist() == [1.0]


def test_files_and_names(tmp_path, planted):
    data, frame, _, k = planted
    frame.to_json(tmp_path / "b.jsonl", orient="records", lines=True)
    frame.iloc[:3].to_csv(tmp_path / "b.csv", index=False)
    frame.iloc[3:].to_parquet(tmp_path / "b.parquet")
    res = contamination(data, [tmp_path / "b.csv", tmp_path / "b.parquet"], text_column="question")
    got = res.matches.sort_values("prompt_id")
    assert got["benchmark"].tolist() == [str(tmp_path / "b.csv")] * 3 + [str(tmp_path / "b.parquet")] * (k - 3)
    assert got["benchmark_row"].tolist() == [0, 1, 2] + list(range(k - 3))
    # a CSV's numeric id column is read as text but is not a text column
    auto = contamination(data, [tmp_path / "b.csv"])
    assert auto.benchmarks == ((str(tmp_path / "b.csv"), 3, "question"),) and auto.n_flagged == 3
    res2 = contamination(data, {"mybench": str(tmp_path / "b.jsonl")}, text_column="question")
    assert set(res2.matches["benchmark"]) == {"mybench"} and res2.n_flagged == k
    assert "mybench" in res2.summary()


def test_clear_errors(tmp_path):
    data = _data(["a prompt"])
    two = pd.DataFrame({"question": ["q"], "answer": ["a"]})
    with pytest.raises(SchemaError, match=r"2 string columns \['question', 'answer'\].*text_column"):
        contamination(data, two)
    with pytest.raises(SchemaError, match=r"no column 'prompt'.*found \['question', 'answer'\]"):
        contamination(data, two, text_column="prompt")
    with pytest.raises(SchemaError, match="does not exist"):
        contamination(data, tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(SchemaError, match="could not read the benchmark file"):
        contamination(data, tmp_path / "bad.jsonl")
    (tmp_path / "bad.txt").write_text("q\n")
    with pytest.raises(SchemaError, match="unknown type"):
        contamination(data, tmp_path / "bad.txt")
    with pytest.raises(SchemaError, match="`n` must be"):
        contamination(data, two, n=0, text_column="question")
    with pytest.raises(SchemaError, match="`min_jaccard`"):
        contamination(data, two, min_jaccard=0, text_column="question")
    j = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"]})
    with pytest.raises(InsufficientDataError, match="no prompt texts"):
        contamination(PreferenceData(j), two, text_column="question")


def test_ngram_hashes_match_a_direct_count():
    texts = pd.Series(["a b c d", "b c d e", "x"])
    own, h, nw = ngram_hashes(texts, 3)
    assert own.tolist() == [0, 0, 1, 1] and nw.tolist() == [4, 4, 1]
    assert h[1] == h[2] and len(set(h.tolist())) == 3  # "b c d" shared, the rest distinct
    texts_b, info = read_benchmarks([pd.DataFrame({"t": ["x"]})])
    assert info == [("benchmarks[0]", 1, "t")] and texts_b["benchmark_row"].tolist() == [0]


@pytest.mark.parametrize("seed", range(5))
def test_recovers_the_simulators_planted_copies(seed):
    import prefqa as pq

    data, truth = pq.simulate(n_prompts=400, contaminate=30, rng=seed)
    res = contamination(data, truth.benchmark)
    m = res.matches.merge(truth.contamination, on="prompt_id", how="outer", suffixes=("", "_true"), indicator=True)
    assert (m["_merge"] == "both").all(), m.loc[m["_merge"] != "both"]  # every copy, nothing else
    assert (m["benchmark_row"] == m["benchmark_row_true"]).all()
    kinds = m.groupby("edit")["kind"].agg(set).to_dict()
    assert kinds["appended"] == {"ngram"} and all(kinds[e] == {"exact"} for e in kinds if e != "appended")
