"""build_pairs and export on engine data (pq.scan): the same decisions and files as in memory, texts streamed.

Every comparison is accounted for in the same way (pairs, ties and dropped tables equal the in-memory
ones, column for column), the files hold the same rows in the same order (values compared after
parsing; the in-memory JSONL writer rounds margins to 15 significant digits, the engine writes them
exactly, hence the 1e-12 tolerance on margins only), load in `datasets`, and round-trip through
pq.read to data with the same fingerprint as the in-memory file's.
"""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pqp
import pytest

import prefqa as pq
from prefqa.engine._pairs import normalize
from prefqa.errors import SchemaError
from prefqa.export import manifest_path
from prefqa.pairs._guards import normalize_ws
from prefqa.schema import PreferenceData

FORMATS = ("dpo", "reward", "kto", "prompts", "openai")
SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz")


def messy() -> PreferenceData:
    """Few annotators, ragged votes, repeats, blank / whitespace-variant / duplicated texts, a missing prompt."""
    rows = [  # comparison, annotator, choice, prompt, response a, response b
        ("c1", "x", "a", "p1", "r1", "r2"), ("c1", "y", "a", "p1", "r1", "r2"), ("c1", "x", "b", "p1", "r2", "r1"),
        ("c2", "x", "a", "p1", "r3", "r4"),                      # r3 / r4 equal after whitespace normalisation
        ("c3", "y", "b", "p2", "r5", "r6"), ("c3", "z", "b", "p2", "r5", "r6"),   # r5 blank
        ("c4", "x", "a", "p1", "r7", "r2"),                      # r7 is r1's exact text: duplicate of c1
        ("c5", "z", "tie", "p3", "r8", "r9"), ("c5", "x", "tie", "p3", "r8", "r9"),
        ("c6", "x", "a", "p4", "r10", "r11"), ("c6", "y", "b", "p4", "r10", "r11"),  # split vote
        ("c7", "y", "b", None, "r12", "r13"),                    # no prompt id
        ("c8", "z", "a", "p5", "r14", "r15"),                    # r15 differs from r14 by a non-breaking space
        ("c9", "x", "b", "p6", "r16", "r17"),                    # p6 is blank
    ]
    j = pd.DataFrame(rows, columns=["comparison_id", "annotator_id", "choice", "prompt_id", "response_a_id",
                                    "response_b_id"])
    texts = {"r1": "Paris.", "r2": "It is Paris.", "r3": "a  b\n", "r4": "a b", "r5": " \t ", "r6": "Fine",
             "r7": "Paris.", "r8": "yes", "r9": "no", "r10": "left", "r11": "right", "r12": "un", "r13": "deux",
             "r14": "x\u00a0y", "r15": "x y!", "r16": "\u00e9t\u00e9", "r17": "winter"}
    prompt_of = dict(zip(j["response_a_id"], j["prompt_id"])) | dict(zip(j["response_b_id"], j["prompt_id"]))
    r = pd.DataFrame({"response_id": list(texts), "prompt_id": [prompt_of[k] for k in texts],
                      "text": list(texts.values())})
    p = pd.DataFrame({"prompt_id": ["p1", "p2", "p3", "p4", "p5", "p6"],
                      "text": ["Capital?", "How?", "Q3", "Q4", "Q5 / \"quoted\"", "  "]})
    return PreferenceData(j, responses=r, prompts=p)


@pytest.fixture(scope="module", params=["simulated", "sample", "messy"])
def both(request):
    if request.param == "simulated":
        data, _ = pq.simulate(n_prompts=50, n_annotators=6, rng=5)
    elif request.param == "sample":
        data = pq.load_sample()
    else:
        data = messy()
    return data, pq.scan(data)


def _same_pairsets(a, b) -> None:
    for name in ("pairs", "ties"):
        left, right = getattr(a, name), getattr(b, name)
        assert "chosen" not in right and "prompt" not in right  # texts stayed in the engine
        pd.testing.assert_frame_equal(left[list(right.columns)].reset_index(drop=True), right.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.dropped, b.dropped)
    ma, mb = a.manifest(), b.manifest()
    ma["input"].pop("fingerprint")
    mb["input"].pop("fingerprint")
    assert ma == mb


@pytest.mark.parametrize("options", [{}, {"ties": "keep_as_kto", "min_agreement": 0.6},
                                     {"label": "dawid_skene", "guards": ("empty", "duplicate")},
                                     {"max_pairs_per_prompt": 1, "exclude_annotators": ["y"]}])
def test_build_pairs_on_the_engine_equals_memory(both, options):
    data, scanned = both
    if options.get("label") == "dawid_skene" and not data.has_annotators:
        pytest.skip("Dawid-Skene needs annotator ids")
    a = pq.build_pairs(data, **options)
    b = pq.build_pairs(scanned, **options)
    _same_pairsets(a, b)


def test_messy_design_exercises_every_text_guard():
    ps = pq.build_pairs(pq.scan(messy()))
    reasons = dict(zip(ps.dropped["comparison_id"], ps.dropped["reason_code"]))
    assert reasons == {"c2": "identical", "c3": "empty", "c4": "duplicate", "c5": "tie", "c6": "no_majority"}
    assert set(ps.pairs["comparison_ids"]) == {"c1", "c7", "c8", "c9"}  # c8: a non-breaking space is whitespace


def _rows(path) -> list:
    path = str(path)
    if path.endswith(".parquet"):
        return pqp.read_table(path).to_pylist()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _export_pair(data, scanned, fmt, suffix, folder, **kw):
    build = {"ties": "keep_as_kto"} if fmt in ("kto", "prompts") else {}
    opts = {"tie_label": False} if fmt == "kto" else ({"margin": True} if fmt == "reward" else {})
    opts.update(kw)
    a = pq.export(pq.build_pairs(data, **build), folder / f"mem_{fmt}{suffix}", format=fmt, **opts)
    b = pq.export(pq.build_pairs(scanned, **build), folder / f"eng_{fmt}{suffix}", format=fmt, **opts)
    return a, b


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_streamed_export_writes_the_in_memory_rows(both, tmp_path, fmt, suffix):
    data, scanned = both
    a, b = _export_pair(data, scanned, fmt, suffix, tmp_path, allow_empty_prompts=True)
    ra, rb = _rows(a), _rows(b)
    assert len(ra) == len(rb) > 0
    if fmt == "reward":
        np.testing.assert_allclose([r.pop("margin") for r in rb], [r.pop("margin") for r in ra], rtol=1e-12)
    assert ra == rb
    ma, mb = (json.loads(manifest_path(p).read_text()) for p in (a, b))
    for key in ("kept", "dropped", "format", "trl", "warnings"):
        assert ma.get(key) == mb.get(key), key
    for key in ("n_rows", "columns", "n_empty_prompts", "file_type"):
        assert ma["output"][key] == mb["output"][key], key
    assert mb["output"]["sha256"] == __import__("hashlib").sha256(b.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_streamed_dpo_round_trips_through_read(tmp_path, suffix):
    data, _ = pq.simulate(n_prompts=40, rng=7)
    a, b = _export_pair(data, pq.scan(data), "dpo", suffix, tmp_path)
    assert pq.read(b, format="trl").fingerprint() == pq.read(a, format="trl").fingerprint()


@pytest.mark.parametrize("fmt, features", [
    ("dpo", {"prompt": "string", "chosen": "string", "rejected": "string"}),
    ("kto", {"prompt": "string", "completion": "string", "label": "bool"}),
])
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_streamed_export_loads_in_datasets(tmp_path, fmt, features, suffix):
    datasets = pytest.importorskip("datasets")
    data, _ = pq.simulate(n_prompts=30, rng=3)
    _, out = _export_pair(data, pq.scan(data), fmt, suffix, tmp_path)
    ds = datasets.load_dataset("json" if suffix == ".jsonl" else "parquet", data_files=str(out),
                               split="train", cache_dir=str(tmp_path / "cache"))
    assert {k: v.dtype for k, v in ds.features.items()} == features
    assert len(ds) == json.loads(manifest_path(out).read_text())["output"]["n_rows"]


def test_streamed_export_honours_the_umask_and_leaves_no_temporary_file(tmp_path):
    data, _ = pq.simulate(n_prompts=20, rng=1)
    old = os.umask(0o002)
    try:
        out = pq.export(pq.build_pairs(pq.scan(data)), tmp_path / "t.parquet")
    finally:
        os.umask(old)
    assert oct(os.stat(out).st_mode & 0o777) == oct(0o664)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet", "t.parquet.manifest.json"]


def test_empty_prompts_are_refused_as_in_memory(tmp_path):
    data = messy()
    j = data.judgments[data.judgments["prompt_id"] == "p6"].reset_index(drop=True)
    only_blank = PreferenceData(j, data.responses, data.prompts)
    with pytest.raises(SchemaError, match="empty prompt"):
        pq.export(pq.build_pairs(pq.scan(only_blank)), tmp_path / "x.jsonl")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("options, words", [
    ({"guards": ("empty", "near_identical")}, "near_identical"),
    ({"length_balance": True}, "length_balance"),
    ({"label": "model"}, "label='model'"),
    ({"flagged": "drop"}, "annotator_flags"),
])
def test_text_reading_options_are_refused_with_the_fix(options, words):
    data, _ = pq.simulate(n_prompts=10, rng=1)
    with pytest.raises(SchemaError, match=r"engine data.*" + words.replace("(", r"\(") + r".*collect\(\)"):
        pq.build_pairs(pq.scan(data), **options)


def test_precomputed_flags_are_used_on_the_engine():
    data, _ = pq.simulate(n_prompts=30, n_annotators=6, n_spammers=1, rng=4)
    flags = pq.annotator_table(data)
    opts = {"flagged": "drop", "annotator_flags": flags, "prompt_flags": ()}
    _same_pairsets(pq.build_pairs(data, **opts), pq.build_pairs(pq.scan(data), **opts))


def test_normalisation_equals_the_guards_on_every_whitespace_character():
    ws = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000 and chr(c).isspace()]
    rng = np.random.default_rng(0)
    alphabet = ws + list("ab.\u00e9") + ["\u200b"]  # zero-width space is not whitespace
    texts = ["".join(rng.choice(alphabet, size=rng.integers(0, 8))) for _ in range(3000)] + ws
    got = normalize(__import__("pyarrow").array(texts)).to_pylist()
    want = normalize_ws(pd.Series(texts)).tolist()
    assert got == want
    # the DuckDB path normalises in SQL with the same RE2 class: the same keys as the Python path
    from prefqa.engine._pairs import _duckdb_keys, _text_keys

    frame = pd.DataFrame({"response_id": [f"r{i}" for i in range(len(texts))], "text": texts})
    scanned = pq.scan(PreferenceData(pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"]}),
                                     responses=frame.assign(prompt_id="p")))
    sel = "CAST(response_id AS VARCHAR) AS response_id, coalesce(CAST(text AS VARCHAR), '') AS text"
    keys = _duckdb_keys(scanned, scanned.responses_table, sel, "response_id", [])
    blank = keys["blank"].to_numpy(zero_copy_only=False)
    assert blank.tolist() == [w == "" for w in want]
    hashed = pd.DataFrame({"hi": keys["norm"][:, 0], "lo": keys["norm"][:, 1], "want": want})
    by_norm = hashed.groupby(["hi", "lo"])["want"].nunique()
    assert (by_norm == 1).all() and len(by_norm) == len(set(want))  # equal hashes exactly when equal normal forms
    # and the Arrow-batch path (Spark's) gives the same key column, text for text
    a = _text_keys(scanned, scanned.responses_table, "response_id", ("prompt_id",), True)
    b = _text_keys(scanned, scanned.responses_table, "response_id", ("prompt_id",), True, in_engine=False)
    for x, y in ((a, b), (b, a)):  # the same classes of exact and of normalised texts (the numbering may differ)
        assert (x.groupby("text")["text"].transform(lambda t: y.loc[t.index, "text"].nunique()) == 1).all()
        nx, ny = normalize_ws(x["text"]), normalize_ws(y["text"])
        assert (nx.groupby(nx).transform(lambda t: ny.loc[t.index].nunique()) == 1).all()
    assert (a["text"].str.strip() == "").tolist() == [w == "" for w in want]
    assert (b["text"].str.strip() == "").tolist() == [w == "" for w in want]
    exact = pd.Series(texts)
    assert (exact.groupby(a["text"]).nunique() == 1).all() and a["text"].nunique() == exact.nunique()
    assert a["text"].str.len().max() < 20  # short keys however many variants share a normal form


@pytest.mark.spark
def test_spark_pairs_and_streamed_export_equal_memory(spark, tmp_path):
    data, _ = pq.simulate(n_prompts=8, n_annotators=4, rng=9)  # small: Spark costs seconds per query
    scanned = pq.scan(data, engine="spark", connection=spark)
    a = pq.build_pairs(data)
    b = pq.build_pairs(scanned)
    _same_pairsets(a, b)
    for fmt, suffix in (("openai", ".jsonl"),):  # nested rows, streamed to the driver
        out_a = pq.export(a, tmp_path / f"m_{fmt}{suffix}", format=fmt)
        out_b = pq.export(b, tmp_path / f"s_{fmt}{suffix}", format=fmt)
        assert _rows(out_a) == _rows(out_b)
