"""build_pairs with suspect labels (drop / flip / downweight / keep) and contaminated prompts; exports still load."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.cleaning._contam import contamination
from prefqa.cleaning._lint import lint
from prefqa.errors import SchemaError
from prefqa.pairs import REASONS


@pytest.fixture(scope="module")
def sample():
    return pq.load_sample()


@pytest.fixture(scope="module")
def base(sample):
    return pq.build_pairs(sample)


def _suspects(sample, base, k=40, seed=0):
    """A label_issues-like table: k kept pairs flagged, with p_label_wrong and the consensus side."""
    rng = np.random.default_rng(seed)
    kept = base.pairs["comparison_ids"].to_numpy(dtype=object)
    flagged = rng.choice(kept, size=k, replace=False)
    labels = pq.consensus(sample).labels
    t = pd.DataFrame({"consensus": labels["label"].astype("str"),
                      "p_label_wrong": rng.uniform(0.0, 0.4, len(labels)),
                      "model_prefers": "", "flagged": False, "reason": ""}, index=labels.index)
    t.loc[flagged, "flagged"] = True
    t.loc[flagged, "p_label_wrong"] = rng.uniform(0.6, 0.95, k)
    t.index.name = "comparison_id"
    return t, set(flagged)


def _n_contaminable(sample, base, prompt_id):
    """Comparisons of the prompt not already dropped by a check that runs before `contaminated`."""
    order = list(REASONS)
    early = base.dropped.loc[base.dropped["reason_code"].map(order.index) < order.index("contaminated")]
    comps = sample.comparisons()
    ids = set(comps.loc[comps["prompt_id"] == prompt_id, "comparison_id"])
    return len(ids - set(early["comparison_id"]))


def test_drop_counts_every_flagged_comparison(sample, base):
    t, flagged = _suspects(sample, base)
    ps = pq.build_pairs(sample, suspect_labels=t)
    assert ps.n_input == ps.n_pairs + len(ps.ties) + ps.n_dropped == sample.n_comparisons
    sus = ps.dropped.loc[ps.dropped["reason_code"] == "suspect_label"]
    assert set(sus["comparison_id"]) == flagged
    assert sus["reason"].str.contains(r"p_label_wrong=0\.\d{3}").all()
    assert ps.n_pairs == base.n_pairs - len(flagged)
    m = ps.manifest()
    assert m["dropped"]["by_reason"]["suspect_label"] == len(flagged)
    assert m["cleaning"]["suspect_labels"]["dropped"] == len(flagged)
    assert m["cleaning"]["suspect_labels"]["n_flagged"] == len(flagged)
    assert m["policy"]["suspect_action"] == "drop" and m["kept"]["flipped_suspect_label"] == 0
    # the frame with comparison_id as a column and the plain id list do the same
    same = pq.build_pairs(sample, suspect_labels=t.reset_index())
    assert same.dropped.equals(ps.dropped)
    ids = pq.build_pairs(sample, suspect_labels=sorted(flagged))
    assert set(ids.dropped.loc[ids.dropped["reason_code"] == "suspect_label", "comparison_id"]) == flagged


def test_flip_swaps_sides_and_is_counted(sample, base):
    t, flagged = _suspects(sample, base)
    ps = pq.build_pairs(sample, suspect_labels=t, suspect_action="flip")
    assert ps.n_pairs == base.n_pairs and ps.n_dropped == base.n_dropped
    b = base.pairs.set_index("comparison_ids")
    f = ps.pairs.set_index("comparison_ids")
    assert set(f.index[f["flipped"]]) == flagged and not b["flipped"].any()
    fl = sorted(flagged)
    assert (f.loc[fl, "chosen"].to_numpy() == b.loc[fl, "rejected"].to_numpy()).all()
    assert (f.loc[fl, "rejected_id"].to_numpy() == b.loc[fl, "chosen_id"].to_numpy()).all()
    np.testing.assert_allclose(f.loc[fl, "p_chosen"], t.loc[fl, "p_label_wrong"])
    np.testing.assert_allclose(f.loc[fl, "margin"], 2 * t.loc[fl, "p_label_wrong"] - 1)
    rest = f.index[~f["flipped"]]
    assert f.loc[rest, ["chosen", "rejected", "p_chosen"]].equals(b.loc[rest, ["chosen", "rejected", "p_chosen"]])
    m = ps.manifest()
    assert m["kept"]["flipped_suspect_label"] == len(flagged) == ps.n_flipped
    assert m["cleaning"]["suspect_labels"]["flipped"] == len(flagged)
    assert "flipped" in ps.summary()
    # label_issues doubted the other side for one of them: our label already agrees with the correction
    t2 = t.copy()
    one = fl[0]
    t2.loc[one, "consensus"] = "2" if t2.loc[one, "consensus"] == "1" else "1"
    ps2 = pq.build_pairs(sample, suspect_labels=t2, suspect_action="flip")
    assert not ps2.pairs.set_index("comparison_ids").loc[one, "flipped"]
    assert ps2.cleaning["suspect_labels"]["label_already_changed"] == 1
    assert ps2.n_flipped == len(flagged) - 1
    # a table in the other orientation (response ids swapped, side codes swapped) flips the same pairs
    comps = sample.comparisons().set_index("comparison_id")
    t3 = t.copy()
    t3["response_1_id"] = comps.loc[t3.index, "response_2_id"].to_numpy()
    t3["response_2_id"] = comps.loc[t3.index, "response_1_id"].to_numpy()
    t3["consensus"] = t3["consensus"].map({"1": "2", "2": "1"}).fillna(t3["consensus"])
    ps3 = pq.build_pairs(sample, suspect_labels=t3, suspect_action="flip")
    assert ps3.pairs.equals(ps.pairs)


def test_downweight_and_keep(sample, base):
    t, flagged = _suspects(sample, base)
    fl = sorted(flagged)
    b = base.pairs.set_index("comparison_ids")
    dw = pq.build_pairs(sample, suspect_labels=t, suspect_action="downweight").pairs.set_index("comparison_ids")
    np.testing.assert_allclose(dw.loc[fl, "weight"], 0.5)
    np.testing.assert_allclose(dw.loc[fl, "p_chosen"], 0.5 + 0.5 * (b.loc[fl, "p_chosen"] - 0.5))
    assert (dw.drop(index=fl)["weight"] == 1).all()
    keep = pq.build_pairs(sample, suspect_labels=t, suspect_action="keep")
    assert keep.pairs.equals(base.pairs) and keep.dropped.equals(base.dropped)
    assert keep.manifest()["cleaning"]["suspect_labels"]["kept_as_is"] == len(flagged)


def test_unknown_ids_and_non_pairs_are_reported(sample, base):
    t, flagged = _suspects(sample, base)
    extra = pd.DataFrame({"flagged": [True]}, index=pd.Index(["not-a-comparison"], name="comparison_id"))
    dropped_one = base.dropped["comparison_id"].iloc[0]
    extra2 = pd.DataFrame({"flagged": [True]}, index=pd.Index([dropped_one], name="comparison_id"))
    ps = pq.build_pairs(sample, suspect_labels=pd.concat([t[["flagged"]], extra, extra2]))
    c = ps.cleaning["suspect_labels"]
    assert c["n_unknown_ids"] == 1 and c["not_a_pair"] == 1 and c["dropped"] == len(flagged)
    assert any("not in the data" in w for w in ps.warnings)
    assert ps.dropped.set_index("comparison_id").loc[dropped_one, "reason_code"] != "suspect_label"


def test_contamination_drops_prompts_and_names_the_benchmark(sample, base, tmp_path):
    texts = sample.prompts.set_index("prompt_id")["text"]
    # the sample's prompts are one 7-word template ("Question N: please explain the topic clearly."), so
    # every pair of them shares 5-word runs: only exact copies (after normalisation) may be flagged
    bench = pd.DataFrame({"question": [texts["prompt-0003"].upper(), texts["prompt-0010"].replace(":", " --"),
                                       "A completely unrelated benchmark question about the weather today."]})
    bench.to_json(tmp_path / "bench.jsonl", orient="records", lines=True)
    res = contamination(sample, tmp_path / "bench.jsonl")
    assert set(res.prompt_ids) == {"prompt-0003", "prompt-0010"}
    ps = pq.build_pairs(sample, contamination=res, exclude_prompts=["prompt-0010"])
    d = ps.dropped.set_index("comparison_id")
    n3 = _n_contaminable(sample, base, "prompt-0003")
    assert ps.dropped_counts()["contaminated"] == n3
    assert d.loc[d["reason_code"] == "contaminated", "prompt_id"].eq("prompt-0003").all()
    assert d.loc[d["reason_code"] == "contaminated", "reason"].str.endswith(
        f"(exact match with {tmp_path / 'bench.jsonl'} row 0)").all()
    # exclude_prompts wins over contaminated (its reason comes first)
    assert d.loc[d["prompt_id"] == "prompt-0010", "reason_code"].eq("excluded_prompt").all()
    m = ps.manifest()
    assert m["cleaning"]["contamination"] == {"n_flagged_prompts": 2, "dropped": n3}
    assert list(REASONS).index("contaminated") < list(REASONS).index("suspect_label")
    # a frame or plain ids work the same
    same = pq.build_pairs(sample, contamination=["prompt-0003"])
    assert same.dropped_counts()["contaminated"] == n3


def test_exports_with_cleaning_load_in_datasets(sample, base, tmp_path):
    datasets = pytest.importorskip("datasets")
    t, flagged = _suspects(sample, base, k=25)
    ps = pq.build_pairs(sample, suspect_labels=t, suspect_action="flip", contamination=["prompt-0003"])
    for fmt in ("dpo", "reward", "kto"):
        out = pq.export(ps, tmp_path / f"{fmt}.jsonl", format=fmt)
        ds = datasets.load_dataset("json", data_files=str(out), split="train")
        assert len(ds) == (2 * ps.n_pairs if fmt == "kto" else ps.n_pairs)
        man = json.loads(out.with_name(out.name + ".manifest.json").read_text())
        assert man["kept"]["flipped_suspect_label"] == len(flagged)
        assert man["dropped"]["by_reason"]["contaminated"] == ps.dropped_counts()["contaminated"]
        assert man["input"]["n_units"] == man["kept"]["total"] + man["dropped"]["total"]
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "dpo.jsonl"), split="train")
    flipped = ps.pairs.loc[ps.pairs["flipped"]].index[0]
    assert ds[int(flipped)]["chosen"] == ps.pairs.loc[flipped, "chosen"]
    pq_out = pq.export(ps, tmp_path / "dpo.parquet")
    assert len(datasets.load_dataset("parquet", data_files=str(pq_out), split="train")) == ps.n_pairs


def test_guards_and_lint_are_one_implementation(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    rng = np.random.default_rng(1)
    words = "a b c d e".split()
    n = 200
    rows = pd.DataFrame({
        "prompt": [" ".join(rng.choice(words, rng.integers(0, 4))) for _ in range(n)],
        "chosen": [" ".join(rng.choice(words[:2], rng.integers(1, 5))) for _ in range(n)],
        "rejected": [" ".join(rng.choice(words[:2], rng.integers(1, 5))) for _ in range(n)],
    })
    tok = Tokenizer(WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    data = pq.read(rows, format="trl")
    ps = pq.build_pairs(data, guards=("empty", "identical", "truncation"), tokenizer=tmp_path / "tokenizer.json",
                        max_tokens=3)
    got = ps.dropped.groupby("reason_code")["comparison_id"].agg(set).to_dict()
    res = lint(data, tokenizer=tmp_path / "tokenizer.json", max_tokens=3, truncation_mode="keep_start")
    want = res.problems.groupby("reason_code")["comparison_id"].agg(set).to_dict()
    assert got.get("identical", set()) == want.get("identical", set())
    assert got.get("truncation_identical", set()) == want.get("truncation_identical", set())
    assert len(got.get("truncation_identical", ())) > 10 and len(got.get("identical", ())) > 10


def test_errors():
    data = pq.load_sample()
    with pytest.raises(SchemaError, match="`suspect_action` must be one of"):
        pq.build_pairs(data, suspect_labels=["x"], suspect_action="relabel")
    with pytest.raises(SchemaError, match="acts on `suspect_labels`, which is None"):
        pq.build_pairs(data, suspect_action="flip")
    with pytest.raises(SchemaError, match="applies to judged comparisons"):
        pq.build_pairs(data, suspect_labels=["x"], policy="best_vs_worst")
    with pytest.raises(SchemaError, match=r"boolean `flagged` column\); got columns \['p_label_wrong'\]"):
        pq.build_pairs(data, suspect_labels=pd.DataFrame({"p_label_wrong": [0.9]}))
    with pytest.raises(SchemaError, match="must be a pq.contamination result"):
        pq.build_pairs(data, contamination=3)


def test_cli_cleaning_options(sample, base, tmp_path):
    import argparse

    from prefqa.cli._export_opts import add_cleaning_options, cleaning_kwargs

    parser = argparse.ArgumentParser()
    add_cleaning_options(parser)
    t, flagged = _suspects(sample, base)
    t.reset_index().to_csv(tmp_path / "issues.csv", index=False)
    t.reset_index().to_json(tmp_path / "issues.jsonl", orient="records", lines=True)
    texts = sample.prompts.set_index("prompt_id")["text"]
    pd.DataFrame({"q": [texts["prompt-0007"]], "a": ["x"]}).to_csv(tmp_path / "bench.csv", index=False)
    for f in ("issues.csv", "issues.jsonl"):
        args = parser.parse_args(["--suspect-labels", str(tmp_path / f), "--benchmarks", str(tmp_path / "bench.csv"),
                                  "--benchmark-column", "q"])
        kw = cleaning_kwargs(args, sample)
        ps = pq.build_pairs(sample, suspect_action="flip", **kw)
        assert ps.n_flipped == len(flagged - set(ps.dropped["comparison_id"]))
        assert ps.dropped_counts()["contaminated"] == _n_contaminable(sample, base, "prompt-0007")
    with pytest.raises(SchemaError, match="2 string columns"):
        cleaning_kwargs(parser.parse_args(["--benchmarks", str(tmp_path / "bench.csv")]), sample)
    with pytest.raises(SchemaError, match="not both"):
        cleaning_kwargs(parser.parse_args(["--suspect-labels", "x.csv", "--scores", "a,b"]), sample)
    with pytest.raises(SchemaError, match="does not exist"):
        cleaning_kwargs(parser.parse_args(["--suspect-labels", str(tmp_path / "nope.csv")]), sample)
    with pytest.raises(SchemaError, match=r"--scores: the judgments have no column \['rm_a', 'rm_b'\]"):
        cleaning_kwargs(parser.parse_args(["--scores", "rm_a,rm_b"]), sample)
    assert cleaning_kwargs(parser.parse_args(["--tokenizer", "tok.json"]), sample) == {"tokenizer": "tok.json"}


def test_cli_scores_compute_label_issues(sample):
    import argparse

    from prefqa.cli._export_opts import _scores, add_cleaning_options, cleaning_kwargs

    cleaning = pytest.importorskip("prefqa.cleaning")
    if not hasattr(cleaning, "label_issues"):
        pytest.skip("pq.label_issues not available yet")
    rng = np.random.default_rng(0)
    j = sample.judgments.iloc[:3000].copy()  # a slice keeps the label model fit short
    j["rm_a"] = rng.normal(size=len(j))
    j["rm_b"] = rng.normal(size=len(j))
    data = pq.PreferenceData(j, sample.responses, sample.prompts)
    s = _scores(data, "rm_a,rm_b")
    assert s.index.is_unique and len(s) == sample.responses["response_id"].isin(s.index).sum()
    parser = argparse.ArgumentParser()
    add_cleaning_options(parser)
    kw = cleaning_kwargs(parser.parse_args(["--scores", "rm_a,rm_b"]), data)
    ps = pq.build_pairs(data, **kw)
    assert ps.n_input == ps.n_pairs + ps.n_dropped and "suspect_labels" in ps.cleaning


def test_contamination_with_a_rating_policy(sample):
    base = pq.build_pairs(sample, policy="best_vs_worst")
    ps = pq.build_pairs(sample, policy="best_vs_worst", contamination=["prompt-0003"])
    assert ps.dropped_counts()["contaminated"] == int((base.pairs["prompt_id"] == "prompt-0003").sum()) == 1
    assert ps.n_input == base.n_input and ps.n_pairs == base.n_pairs - 1


def test_prefqa_export_with_cleaning_flags(sample, base, tmp_path, capsys):
    from prefqa.cli import main

    src = tmp_path / "s.jsonl"
    assert main(["sample", "--out", str(src)]) == 0
    t, flagged = _suspects(sample, base, k=30)
    t.reset_index().to_csv(tmp_path / "issues.csv", index=False)
    texts = sample.prompts.set_index("prompt_id")["text"]
    pd.DataFrame({"question": [texts["prompt-0003"]], "answer": ["x"]}).to_json(
        tmp_path / "bench.jsonl", orient="records", lines=True)
    out = tmp_path / "out" / "train.jsonl"
    rc = main(["export", str(src), "--to", "dpo", "--out", str(out), "--suspect-labels", str(tmp_path / "issues.csv"),
               "--suspect-action", "flip", "--benchmarks", str(tmp_path / "bench.jsonl"), "--benchmark-column",
               "question", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    man = json.loads(out.with_name("train.jsonl.manifest.json").read_text())
    assert man["cleaning"]["suspect_labels"]["flipped"] + man["cleaning"]["suspect_labels"]["not_a_pair"] == 30
    assert man["dropped"]["by_reason"]["contaminated"] == _n_contaminable(sample, base, "prompt-0003")
    assert man["input"]["n_units"] == man["kept"]["total"] + man["dropped"]["total"]
    rc = main(["export", str(src), "--to", "dpo", "--out", str(out), "--benchmarks", str(tmp_path / "bench.jsonl"),
               "--no-progress"])
    assert rc == 2 and "--benchmark-column" in capsys.readouterr().err
