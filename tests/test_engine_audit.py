"""pq.audit on ScannedData: the in-memory report's numbers, the engine stated, the hash subsample, no silent skip.

Every section that runs both in memory and on DuckDB must carry the same values and table rows
(estimates, SEs, CIs, q-values and flags to 1e-9 relative + 1e-12 absolute). A section the engine
cannot run yet is skipped with a reason naming the engine; none may fail.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.audit._engine import subsample_prompts
from prefqa.schema import PreferenceData

RTOL, ATOL = 1e-9, 1e-12
CONFIG = {"audit": {"n_resamples": 20, "preference_model_max_judgments": 400, "by": "domain"}}


def _close(a, b, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            if "fingerprint" not in str(k):  # the engine's content hash is its own (documented)
                _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        if math.isnan(a):
            assert b is None or (isinstance(b, float) and math.isnan(b)), where
        else:
            assert isinstance(b, int | float) and abs(a - b) <= ATOL + RTOL * abs(a), (where, a, b)
    else:
        assert a == b, (where, a, b)


@pytest.fixture(scope="module")
def reports():
    data, _ = pq.simulate(n_prompts=60, n_annotators=8, n_position_biased=1, n_spammers=1, length_effect=1.0,
                          n_domains=2, rng=21)
    mem = pq.audit(data, config=CONFIG, progress=False, strict=True)
    eng = pq.audit(pq.scan(data, memory_limit="300MB", threads=1), config=CONFIG, progress=False, strict=True)
    return data, mem, eng


def test_engine_sections_equal_memory_or_are_skipped_with_a_reason(reports):
    _, mem, eng = reports
    assert list(eng.sections) == list(mem.sections)
    compared = []
    for name, sec in eng.sections.items():
        assert sec["status"] != "failed", (name, sec["reason"])
        other = mem.sections[name]
        if sec["status"] == "skipped":
            assert sec["reason"], name
            if other["status"] == "ok" and name != "load_report":
                assert "engine data" in sec["reason"] or "engine" in sec["reason"], (name, sec["reason"])
            continue
        assert other["status"] == "ok", name
        for key in ("values", "table", "tables", "subsample", "n_prompts", "n_flagged", "n_kept", "n_dropped",
                    "drop_reasons", "examples", "kinds"):
            if key in other["result"] or key in sec["result"]:
                _close(other["result"].get(key), sec["result"].get(key), f"{name}.{key}")
        compared.append(name)
    assert "preference_model" in compared and "pairs" in compared


def test_the_report_says_which_engine_ran(reports):
    _, mem, eng = reports
    assert mem.content["input"]["engine"] == {"engine": "memory", "memory_limit": None, "threads": None}
    assert eng.content["input"]["engine"] == {"engine": "duckdb", "memory_limit": "286.1 MiB", "threads": 1}
    assert "engine: duckdb (memory limit 286.1 MiB, 1 threads)" in eng.summary()
    assert "duckdb (memory limit 286.1 MiB, 1 threads)" in eng.to_html()
    for key in ("n_judgments", "n_comparisons", "n_annotators", "n_prompts", "n_models", "n_responses", "strata"):
        assert eng.content["input"][key] == mem.content["input"][key], key


def test_preference_model_subsample_is_stated_and_identical(reports):
    data, mem, eng = reports
    a, b = mem.sections["preference_model"], eng.sections["preference_model"]
    assert a["result"]["subsample"] == b["result"]["subsample"]
    sub = b["result"]["subsample"]
    assert 0 < sub["n_judgments"] <= 400 < data.n_judgments and "md5" in sub["rule"]
    assert any("pulled into memory from the engine" in w for w in b["warnings"])
    assert any(f["code"] == "preference_model_subsample" for f in eng.findings)


def test_hash_subsample_is_whole_prompts_and_ignores_row_order():
    data, _ = pq.simulate(n_prompts=80, n_annotators=6, rng=2)
    ids = subsample_prompts(data, 500, 7)
    shuffled = data.judgments.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = subsample_prompts(PreferenceData(shuffled, data.responses, data.prompts), 500, 7)
    np.testing.assert_array_equal(ids, again)
    np.testing.assert_array_equal(ids, subsample_prompts(pq.scan(data), 500, 7))
    sizes = data.judgments["prompt_id"].value_counts()
    assert sizes.loc[list(ids)].sum() <= 500 < sizes.loc[list(ids)].sum() + sizes.drop(list(ids)).min() * 50
    other = subsample_prompts(data, 500, 8)
    assert set(other) != set(ids)  # the seed matters
    # the first prompt in md5 order is always kept, even alone above the cap
    assert len(subsample_prompts(data, 1, 7)) == 1
    assert subsample_prompts(data, 0, 7) is None and subsample_prompts(data, 10**9, 7) is None


def _oracle(data: PreferenceData, cap: int, seed: int) -> np.ndarray:
    """The audit's rule written out independently: hashlib keys, a prefix of the key order within the cap."""
    import hashlib

    sizes = data.judgments["prompt_id"].dropna().astype(str).value_counts()
    order = sorted(sizes.index, key=lambda i: (hashlib.md5(f"{seed}:{i}".encode()).hexdigest(), i))
    cum = np.cumsum(sizes.loc[order].to_numpy())
    keep = max(int((cum <= cap).sum()), 1)
    return np.sort(np.array(order[:keep], dtype=object))


@pytest.mark.parametrize("cap, seed", [(500, 7), (37, 0), (1, 3), (711, 11)])
def test_hash_subsample_equals_an_independent_implementation(cap, seed):
    data, _ = pq.simulate(n_prompts=80, n_annotators=6, rng=2)
    got = subsample_prompts(data, cap, seed)
    np.testing.assert_array_equal(got, _oracle(data, cap, seed))
    np.testing.assert_array_equal(subsample_prompts(pq.scan(data), cap, seed), got)


def test_hash_subsample_is_not_biased_towards_large_prompts():
    # over many seeds, every prompt is chosen about equally often (ragged prompt sizes)
    rows = []
    for p in range(20):
        for k in range(1 + p % 4):
            rows += [(f"c{p}-{k}", f"a{i}", "a", f"p{p:02d}") for i in range(3)]
    j = pd.DataFrame(rows, columns=["comparison_id", "annotator_id", "choice", "prompt_id"])
    data = PreferenceData(j)
    counts = pd.Series(0, index=sorted(j["prompt_id"].unique()))
    for seed in range(300):
        counts[list(subsample_prompts(data, len(j) // 2, seed))] += 1
    small, large = counts[[f"p{p:02d}" for p in range(20) if p % 4 == 0]], counts[[f"p{p:02d}" for p in
                                                                                 range(20) if p % 4 == 3]]
    assert small.mean() > large.mean()  # a prefix by a random order keeps small prompts more often, as before
    assert counts.min() > 0


@pytest.mark.spark
def test_spark_subsample_equals_memory(spark):
    data, _ = pq.simulate(n_prompts=20, n_annotators=4, rng=5)
    scanned = pq.scan(data, engine="spark", connection=spark)
    np.testing.assert_array_equal(subsample_prompts(data, 120, 3), subsample_prompts(scanned, 120, 3))


def test_drift_section_is_wired_when_the_data_has_time():
    data, _ = pq.simulate(n_prompts=40, n_annotators=6, n_windows=3, rng=4)
    only = {"audit": {"n_resamples": 20, "skip": ["preference_model", "annotators", "prompts", "length_bias",
                                                  "style_bias", "bradley_terry_style"]}}
    report = pq.audit(data, config=only, progress=False, strict=True)
    names = list(report.sections)
    assert names[names.index("drift"):names.index("pairs") + 1] == ["drift", "readiness", "cleaning", "pairs"]
    assert report.sections["drift"]["status"] == "ok" and "<svg" in report.to_html()
    eng = pq.audit(pq.scan(data), config=only, progress=False, strict=True)
    assert eng.sections["drift"]["status"] in ("ok", "skipped") and (eng.sections["drift"]["status"] == "ok"
                                                                     or eng.sections["drift"]["reason"])
    plain, _ = pq.simulate(n_prompts=10, n_annotators=4, rng=4)
    assert "drift" not in pq.audit(plain, config=only, progress=False).sections  # no time column
