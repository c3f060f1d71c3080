"""export: TRL / OpenAI layouts, round trips through pq.read, `datasets` features, manifests."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

import prefqa as pq
from prefqa.errors import SchemaError
from prefqa.export import manifest_path
from prefqa.schema import PreferenceData


@pytest.fixture(scope="module")
def pairset():
    data, _ = pq.simulate(n_prompts=40, rng=7)
    return pq.build_pairs(data)


def conversational_pairs():
    msgs = json.dumps([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}])
    j = pd.DataFrame({"comparison_id": ["c1", "c1"], "annotator_id": ["x", "y"], "choice": ["b", "b"],
                      "prompt_id": ["p", "p"], "response_a_id": ["r1", "r1"], "response_b_id": ["r2", "r2"]})
    r = pd.DataFrame({"response_id": ["r1", "r2"], "prompt_id": ["p", "p"], "text": ["Go away.", "Hello!"]})
    p = pd.DataFrame({"prompt_id": ["p"], "text": ["Hi?"], "messages": [msgs]})
    return pq.build_pairs(PreferenceData(j, r, p, meta={"conversational": True}))


def _same_pairs(left: pd.DataFrame, right: pd.DataFrame) -> None:
    key = ["prompt", "chosen", "rejected"]
    a = left[key].astype(str).sort_values(key).reset_index(drop=True)
    b = right[key].astype(str).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_dpo_round_trip_through_read(pairset, tmp_path, suffix):
    out = pq.export(pairset, tmp_path / f"dpo{suffix}", format="dpo")
    back = pq.build_pairs(pq.read(out, format="trl"))
    assert back.n_pairs == pairset.n_pairs
    _same_pairs(back.pairs, pairset.pairs)


def test_reward_round_trip_compares_full_texts(pairset, tmp_path):
    out = pq.export(pairset, tmp_path / "rm.jsonl", format="reward", margin=True)
    rows = pd.read_json(out, lines=True)
    assert list(rows.columns) == ["chosen", "rejected", "margin"]
    assert rows["chosen"].tolist() == (pairset.pairs["prompt"] + pairset.pairs["chosen"]).tolist()
    assert rows["margin"].tolist() == pytest.approx(pairset.pairs["margin"].tolist())
    back = pq.build_pairs(pq.read(out, format="trl"))
    full = back.pairs.assign(chosen=back.pairs["prompt"] + back.pairs["chosen"],
                             rejected=back.pairs["prompt"] + back.pairs["rejected"], prompt="")
    _same_pairs(full, pairset.pairs.assign(chosen=rows["chosen"], rejected=rows["rejected"], prompt=""))


def test_openai_round_trip(pairset, tmp_path):
    out = pq.export(pairset, tmp_path / "oa.jsonl", format="openai")
    first = json.loads(out.read_text().splitlines()[0])
    assert first["input"]["messages"] == [{"role": "user", "content": pairset.pairs["prompt"].iloc[0]}]
    assert first["preferred_output"] == [{"role": "assistant", "content": pairset.pairs["chosen"].iloc[0]}]
    back = pq.build_pairs(pq.read(out, format="openai")).pairs
    # the openai reader keeps the message list (conversational); its user turn is our prompt
    prompt = back["prompt_messages"].map(lambda m: json.loads(m)[-1]["content"])
    _same_pairs(back.assign(prompt=prompt), pairset.pairs)


def test_kto_and_prompts_rows(pairset, tmp_path):
    kto = pd.read_json(pq.export(pairset, tmp_path / "k.jsonl", format="kto"), lines=True)
    assert len(kto) == 2 * pairset.n_pairs
    assert kto["completion"].iloc[0::2].tolist() == pairset.pairs["chosen"].tolist()
    assert kto["completion"].iloc[1::2].tolist() == pairset.pairs["rejected"].tolist()
    assert kto["label"].tolist() == [True, False] * pairset.n_pairs
    prompts = pd.read_json(pq.export(pairset, tmp_path / "p.jsonl", format="prompts"), lines=True)
    assert prompts["prompt"].tolist() == pairset.pairs["prompt"].drop_duplicates().tolist()


def test_kto_ties_need_a_label(tmp_path):
    j = pd.DataFrame({"comparison_id": ["c1", "c2"], "annotator_id": ["x", "x"], "choice": ["a", "tie"],
                      "prompt_id": ["p", "p"], "response_a_id": ["r1", "r3"], "response_b_id": ["r2", "r4"]})
    r = pd.DataFrame({"response_id": ["r1", "r2", "r3", "r4"], "prompt_id": "p", "text": ["A", "B", "C", "D"]})
    ps = pq.build_pairs(PreferenceData(j, r, pd.DataFrame({"prompt_id": ["p"], "text": ["Q"]})), ties="keep_as_kto")
    with pytest.raises(SchemaError, match=r"holds 1 tied comparisons.*tie_label=True"):
        pq.export(ps, tmp_path / "k.jsonl", format="kto")
    rows = pd.read_json(pq.export(ps, tmp_path / "k.jsonl", format="kto", tie_label=True), lines=True)
    assert rows[["completion", "label"]].values.tolist() == [["A", True], ["B", False], ["C", True], ["D", True]]


@pytest.mark.parametrize("fmt, features", [
    ("dpo", {"prompt": "string", "chosen": "string", "rejected": "string"}),
    ("reward", {"chosen": "string", "rejected": "string"}),
    ("kto", {"prompt": "string", "completion": "string", "label": "bool"}),
    ("prompts", {"prompt": "string"}),
])
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_datasets_loads_standard_outputs(pairset, tmp_path, fmt, features, suffix):
    datasets = pytest.importorskip("datasets")
    out = pq.export(pairset, tmp_path / f"{fmt}{suffix}", format=fmt)
    ds = datasets.load_dataset("json" if suffix == ".jsonl" else "parquet", data_files=str(out),
                               split="train", cache_dir=str(tmp_path / "cache"))
    assert {k: v.dtype for k, v in ds.features.items()} == features
    assert len(ds) == json.loads(manifest_path(out).read_text())["output"]["n_rows"]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_datasets_conversational_structure(tmp_path, suffix):
    datasets = pytest.importorskip("datasets")
    ps = conversational_pairs()
    for fmt in ("dpo", "reward", "openai"):
        out = pq.export(ps, tmp_path / f"{fmt}{suffix}", format=fmt)
        ds = datasets.load_dataset("json" if suffix == ".jsonl" else "parquet", data_files=str(out),
                                   split="train", cache_dir=str(tmp_path / f"cache_{fmt}"))
        row = ds[0]
        if fmt == "dpo":
            assert row["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
            assert row["chosen"] == [{"role": "assistant", "content": "Hello!"}]
            assert row["rejected"] == [{"role": "assistant", "content": "Go away."}]
        elif fmt == "reward":
            assert [m["role"] for m in row["chosen"]] == ["system", "user", "assistant"]
            assert row["rejected"][-1] == {"role": "assistant", "content": "Go away."}
        else:
            assert row["input"]["messages"][0] == {"role": "system", "content": "Be brief."}
            assert row["non_preferred_output"] == [{"role": "assistant", "content": "Go away."}]


def test_manifest_accounts_and_hashes(pairset, tmp_path):
    out = pq.export(pairset, tmp_path / "d.jsonl.gz", format="dpo")
    m = json.loads(manifest_path(out).read_text())
    assert m["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert m["kept"]["total"] + m["dropped"]["total"] == m["input"]["n_units"] == pairset.n_input
    assert sum(m["dropped"]["by_reason"].values()) == m["dropped"]["total"]
    assert m["prefqa_version"] == pq.__version__ and m["policy"]["label"] == "majority"
    assert m["input"]["fingerprint"] == pq.simulate(n_prompts=40, rng=7)[0].fingerprint()  # the input, recorded
    assert m["suggested_label_smoothing"] == pytest.approx(pairset.suggested_label_smoothing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl.gz", "d.jsonl.gz.manifest.json"]  # no temp files


@pytest.mark.parametrize("kwargs, match", [
    ({"format": "sft"}, r"`format` must be one of \['dpo', 'reward', 'kto', 'prompts', 'openai'\]; got 'sft'"),
    ({"path": "x.csv"}, r"`path` must end in one of"),
    ({"margin": True}, r"`margin=True` adds a margin column to format='reward' only"),
])
def test_export_errors(pairset, tmp_path, kwargs, match):
    path = tmp_path / kwargs.pop("path", "x.jsonl")
    with pytest.raises(SchemaError, match=match):
        pq.export(pairset, path, **kwargs)


def _prompt_pairs(prompts: list[str]):
    """One unanimous comparison per prompt text (two annotators), with distinct responses."""
    n = len(prompts)
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(n) for _ in range(2)],
                      "annotator_id": ["x", "y"] * n, "choice": ["a"] * (2 * n),
                      "prompt_id": [f"p{i}" for i in range(n) for _ in range(2)],
                      "response_a_id": [f"r{i}a" for i in range(n) for _ in range(2)],
                      "response_b_id": [f"r{i}b" for i in range(n) for _ in range(2)]})
    r = pd.DataFrame({"response_id": [f"r{i}{s}" for i in range(n) for s in "ab"],
                      "prompt_id": [f"p{i}" for i in range(n) for _ in "ab"],
                      "text": [f"answer {i} {s}" for i in range(n) for s in "ab"]})
    p = pd.DataFrame({"prompt_id": [f"p{i}" for i in range(n)], "text": prompts})
    return pq.build_pairs(PreferenceData(j, r, p))


@pytest.mark.parametrize("fmt", ["dpo", "kto", "prompts", "openai"])
def test_all_empty_prompts_are_refused_unless_allowed(tmp_path, fmt):
    ps = _prompt_pairs(["", "  ", "\n"])
    with pytest.raises(SchemaError, match=r"all 3 .* empty prompt.*allow_empty_prompts=True"):
        pq.export(ps, tmp_path / "x.jsonl", format=fmt)
    assert not list(tmp_path.iterdir())  # nothing written
    with pytest.warns(pq.errors.PrefqaWarning, match=r"3 of 3 exported rows have an empty prompt"):
        out = pq.export(ps, tmp_path / "x.jsonl", format=fmt, allow_empty_prompts=True)
    m = json.loads(manifest_path(out).read_text())
    assert m["output"]["n_empty_prompts"] == 3 and m["output"]["allow_empty_prompts"] is True
    assert any("empty prompt" in w for w in m["warnings"])


def test_reward_without_prompts_is_the_implicit_layout_and_only_warns(tmp_path):
    ps = _prompt_pairs(["", " ", ""])
    with pytest.warns(pq.errors.PrefqaWarning, match=r"3 of 3 exported rows have an empty prompt \(the rows hold"):
        out = pq.export(ps, tmp_path / "rm.jsonl", format="reward")
    rows = pd.read_json(out, lines=True)
    assert rows["chosen"].str.strip().str.startswith("answer").all()  # the prompt (blank) is prepended
    assert json.loads(manifest_path(out).read_text())["output"]["n_empty_prompts"] == 3


def test_some_empty_prompts_export_with_a_warning_and_a_count(tmp_path):
    ps = _prompt_pairs(["What is 2+2?", " ", "Name a colour."])
    with pytest.warns(pq.errors.PrefqaWarning, match=r"1 of 3 exported rows have an empty prompt"):
        out = pq.export(ps, tmp_path / "x.jsonl", format="dpo")
    rows = pd.read_json(out, lines=True)
    assert rows["prompt"].str.strip().eq("").sum() == 1 and len(rows) == 3
    m = json.loads(manifest_path(out).read_text())
    assert m["output"]["n_empty_prompts"] == 1 and m["output"]["allow_empty_prompts"] is False


def test_no_empty_prompts_no_warning(pairset, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", pq.errors.PrefqaWarning)
        out = pq.export(pairset, tmp_path / "x.jsonl")
    assert json.loads(manifest_path(out).read_text())["output"]["n_empty_prompts"] == 0


@pytest.fixture
def umask_022():
    import os

    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_files_follow_the_umask_and_stay_atomic(pairset, tmp_path, umask_022, capsys):
    """Exports, manifests, reports, pq.write and `prefqa sample` are 0644 under umask 022 (issue 12)."""
    import os
    import stat

    from prefqa.cli import main

    written = [pq.export(pairset, tmp_path / "d.jsonl", format="dpo"),
               pq.export(pairset, tmp_path / "d.parquet", format="dpo")]
    written += [manifest_path(p) for p in written]
    data, _ = pq.simulate(n_prompts=15, n_annotators=5, rng=1)
    written.append(pq.write(data, tmp_path / "w.csv"))
    report = pq.audit(data, progress=False, config={"audit": {"n_resamples": 5, "skip": ["preference_model"]}})
    report.to_json(tmp_path / "r" / "report.json")
    report.to_html(tmp_path / "r" / "report.html")
    written += [tmp_path / "r" / "report.json", tmp_path / "r" / "report.html"]
    assert main(["sample", "--out", str(tmp_path / "s" / "sample.jsonl.gz")]) == 0
    written += [tmp_path / "s" / "sample.jsonl.gz", tmp_path / "s" / "sample.ratings.jsonl.gz"]
    modes = {p.name: oct(stat.S_IMODE(os.stat(p).st_mode)) for p in written}
    assert set(modes.values()) == {"0o644"}, modes
    os.umask(0o077)  # a stricter umask is obeyed too; a replaced file keeps the mode it had
    fresh = pq.export(pairset, tmp_path / "new.jsonl")
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o600
    again = pq.export(pairset, tmp_path / "d.jsonl")
    assert stat.S_IMODE(os.stat(again).st_mode) == 0o644
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_failed_write_leaves_no_file(tmp_path):
    from prefqa._atomic import atomic_path

    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
