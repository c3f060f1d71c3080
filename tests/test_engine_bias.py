"""Bias, prompt and Simpson analyses on scanned data equal the in-memory ones (DuckDB and Spark).

Every estimate, SE, interval, q-value, flag and reason of ``position_bias``,
``length_bias``, ``style_bias``, ``flag_prompts`` and ``simpson_check`` on
``pq.scan(data)`` must equal the in-memory result to 1e-9 relative + 1e-12
absolute (issue 13, item 4), on the planted simulator, the bundled sample
and a messy design (few annotators, ragged comparisons, duplicates, no
prompts). A planted effect is checked too, so equality of two wrong answers
would not pass.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.engine.reductions.bias import coded_preference_data, judgment_codes, stratum_codes


def assert_same(a, b, path: str = "result") -> None:
    """Deep equality of results: numbers to rtol 1e-9 + atol 1e-12, everything else exactly."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, pd.DataFrame):
        assert list(a.columns) == list(b.columns), (path, list(a.columns), list(b.columns))
        assert [str(x) for x in a.index] == [str(x) for x in b.index], path
        for c in a.columns:
            assert_same(a[c].to_numpy(), b[c].to_numpy(), f"{path}[{c}]")
        assert_same(dict(a.attrs), dict(b.attrs), f"{path}.attrs")
    elif isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, np.ndarray) and a.dtype.kind in "fiub":
        np.testing.assert_allclose(a.astype(float), np.asarray(b).astype(float), rtol=1e-9, atol=1e-12,
                                   err_msg=path)
    elif isinstance(a, np.ndarray):
        assert [str(x) for x in a] == [str(x) for x in np.asarray(b)], path
    elif isinstance(a, (float, np.floating)) or (isinstance(a, (int, np.integer)) and not isinstance(a, bool)):
        np.testing.assert_allclose(float(a), float(b), rtol=1e-9, atol=1e-12, err_msg=path)
    elif isinstance(a, (tuple, list)) and len(a) == len(b) and all(
            isinstance(x, (float, int, np.floating, np.integer, str, tuple)) for x in a):
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def planted():
    data, truth = pq.simulate(n_prompts=150, n_annotators=12, n_always_a=1, n_length_biased=1, length_slope=3.0,
                              length_effect=0.8, both_orders=0.3, n_domains=3, rng=7)
    return data, truth


@pytest.fixture(scope="module")
def sample():
    return pq.load_sample()


def _messy() -> pq.PreferenceData:
    """Few annotators, ragged comparisons (1-5 votes), a duplicated judgment, no prompt ids, missing annotators."""
    rng = np.random.default_rng(3)
    n_comp = 260
    votes = rng.integers(1, 6, n_comp)
    comp = np.repeat(np.arange(n_comp), votes)
    n = len(comp)
    ann = rng.choice(["u", "v", "w", None], n, p=[0.4, 0.3, 0.25, 0.05])
    swap = rng.random(n) < 0.5
    ra, rb = np.char.add("r", (2 * comp).astype(str)), np.char.add("r", (2 * comp + 1).astype(str))
    quality = rng.normal(size=2 * n_comp)
    gap = quality[2 * comp] - quality[2 * comp + 1]
    a_first = np.where(swap, -gap, gap) + 0.4
    choice = np.where(rng.random(n) < 1 / (1 + np.exp(-a_first)), "a", "b").astype(object)
    choice[rng.random(n) < 0.08] = "tie"
    models = np.array(["m1", "m2", "m3"])
    ma, mb = models[comp % 3], models[(comp + 1) % 3]
    j = pd.DataFrame({"comparison_id": np.char.add("c", comp.astype(str)), "annotator_id": ann, "choice": choice,
                      "response_a_id": np.where(swap, rb, ra), "response_b_id": np.where(swap, ra, rb),
                      "model_a": np.where(swap, mb, ma), "model_b": np.where(swap, ma, mb),
                      "vendor": rng.choice(["x", "y"], n)})
    j = pd.concat([j, j.iloc[[5]]], ignore_index=True)  # an exact duplicate row
    texts = ["word " * int(k) + ("\n- item" * int(i)) for k, i in zip(rng.integers(5, 120, 2 * n_comp),
                                                                      rng.integers(0, 3, 2 * n_comp))]
    r = pd.DataFrame({"response_id": [f"r{i}" for i in range(2 * n_comp)], "prompt_id": None, "text": texts})
    return pq.PreferenceData(j, r)


@pytest.fixture(scope="module")
def messy():
    return _messy()


def test_codes_equal_in_memory_and_engine(planted, sample, messy) -> None:
    for data in (planted[0], sample, messy):
        mem, eng = judgment_codes(data), judgment_codes(pq.scan(data))
        for f in ("comp", "ann", "prm", "choice", "flip", "oriented", "ma", "mb"):
            a, b = getattr(mem, f), getattr(eng, f)
            assert (a is None) == (b is None), f
            if a is not None:
                np.testing.assert_array_equal(a, b, err_msg=f)
        assert list(mem.annotator_labels) == list(eng.annotator_labels)
        assert (mem.has_models, mem.has_texts, mem.n_comparisons) == (eng.has_models, eng.has_texts,
                                                                       eng.n_comparisons)
    rebuilt = judgment_codes(coded_preference_data(judgment_codes(pq.scan(sample))))
    np.testing.assert_array_equal(rebuilt.comp, judgment_codes(sample).comp)
    np.testing.assert_array_equal(rebuilt.ma, judgment_codes(sample).ma)


def test_position_bias_equal(planted, sample, messy) -> None:
    data, truth = planted
    mem = pq.position_bias(data)
    assert_same(mem, pq.position_bias(pq.scan(data)))
    # not two equal wrong answers: the planted always-a annotator is the one flagged
    planted_ids = list(truth.annotators.index[truth.annotators["kind"] == "always_a"])
    assert list(mem.annotators.index[mem.annotators["flagged_position"]]) == planted_ids
    for d in (sample, messy):
        assert_same(_quiet(pq.position_bias, d), _quiet(pq.position_bias, pq.scan(d)))
    assert_same(pq.position_bias(data, cluster="none"), pq.position_bias(pq.scan(data), cluster="none"))


def test_length_and_style_bias_equal(planted, sample, messy) -> None:
    data, truth = planted
    mem = _quiet(pq.length_bias, data)
    assert_same(mem, _quiet(pq.length_bias, pq.scan(data)))
    assert mem.estimate > 0.5 and mem.slope_confidence_interval.low > 0  # planted length_effect=0.8
    assert list(mem.annotators.index[mem.annotators["flagged"]]) == list(
        truth.annotators.index[truth.annotators["kind"] == "length"])
    assert len(mem.win_rates) > 0
    for d in (sample, messy):
        for per in ("judgment", "comparison"):
            assert_same(_quiet(pq.length_bias, d, per=per), _quiet(pq.length_bias, pq.scan(d), per=per))
        assert_same(_quiet(pq.style_bias, d), _quiet(pq.style_bias, pq.scan(d)))
    assert_same(_quiet(pq.style_bias, data, features=["length", "lists", "bold"]),
                _quiet(pq.style_bias, pq.scan(data), features=["length", "lists", "bold"]))


def test_length_bias_from_precomputed_lengths_equals_texts(sample) -> None:
    """Responses carrying n_chars instead of texts give the numbers the texts give."""
    feats = pq.features.response_features(sample)
    responses = pd.DataFrame({"response_id": feats.index.to_numpy(), "n_chars": feats["chars"].to_numpy()})
    scanned = pq.scan(sample.judgments, responses=responses)
    assert_same(_quiet(pq.length_bias, sample), _quiet(pq.length_bias, scanned))


def test_flag_prompts_equal(sample) -> None:
    data, truth = pq.simulate(n_prompts=100, n_ambiguous_prompts=10, accuracy_range=(2.0, 3.0),
                              model_strengths=[-3, -1.5, 0, 1.5, 3], tie_threshold=0.1, comparisons_per_prompt=4,
                              judgments_per_comparison=5, rng=4)
    mem = pq.flag_prompts(data)
    assert_same(mem, pq.flag_prompts(pq.scan(data)))
    assert mem["flagged"].sum() >= 5 and truth.prompts.loc[mem.index[mem["flagged"]], "ambiguous"].all()
    # the sample has ratings, which scanned data do not carry: score_variance is the one column that differs
    mem = pq.flag_prompts(sample, n_resamples=30, rng=2)
    eng = pq.flag_prompts(pq.scan(sample), n_resamples=30, rng=2)
    assert mem["score_variance"].notna().any() and eng["score_variance"].isna().all()
    assert_same(mem.drop(columns="score_variance"), eng.drop(columns="score_variance"))


def test_flag_prompts_competence_null_equal() -> None:
    data, _ = pq.simulate(n_prompts=60, n_annotators=8, comparisons_per_prompt=3, judgments_per_comparison=4, rng=9)
    j = data.judgments.drop(columns=["model_a", "model_b"])
    plain = pq.PreferenceData(j, data.responses, data.prompts)
    assert_same(pq.flag_prompts(plain), pq.flag_prompts(pq.scan(plain)))


def test_simpson_check_equal(planted, messy) -> None:
    data, _ = planted
    for by in ("domain", ["domain", "annotator_id"]):
        assert_same(pq.simpson_check(data, by=by, min_n=5), pq.simpson_check(pq.scan(data), by=by, min_n=5))
    assert_same(pq.simpson_check(messy, by="vendor", min_n=5), pq.simpson_check(pq.scan(messy), by="vendor", min_n=5))
    codes, labels = stratum_codes(pq.scan(messy), ["vendor", "annotator_id"])
    mem_codes, mem_labels = stratum_codes(messy, ["vendor", "annotator_id"])
    np.testing.assert_array_equal(codes, mem_codes)
    assert list(labels) == list(mem_labels) and (codes == -1).any()  # missing annotators form no stratum


def test_simpson_planted_reversal_found_from_engine() -> None:
    """The planted paradox of the Simpson tests (Charig et al. 1986 kidney-stone counts x4) from the engine."""
    from test_simpson import paradox_data  # the one reversal fixture

    data = paradox_data()
    mem = pq.simpson_check(data, by="domain")
    assert mem.reversals["paradox"].any()
    assert_same(mem, pq.simpson_check(pq.scan(data), by="domain"))


def test_scanned_data_errors_are_prefqa_errors(sample) -> None:
    scanned = pq.scan(sample.judgments.drop(columns=["response_a_id", "response_b_id"]))
    with pytest.raises(pq.SchemaError, match="response"):
        pq.length_bias(scanned)
    with pytest.raises(pq.SchemaError, match="not in the judgments"):
        pq.simpson_check(pq.scan(sample), by="nope")
    with pytest.raises(pq.SchemaError, match="use_mixed_model"):
        pq.length_bias(pq.scan(sample), use_mixed_model=True)


@pytest.mark.spark
def test_bias_on_spark_equal(spark) -> None:
    """One Spark scan (about 500 judgments) shared by every analysis of E3's families, annotator_table too."""
    data, _ = pq.simulate(n_prompts=40, n_annotators=12, n_always_a=1, both_orders=0.3, gold_share=0.2,
                          n_windows=2, n_domains=2, rng=7)
    scanned = pq.scan(data, engine="spark", connection=spark)
    assert_same(pq.position_bias(data), pq.position_bias(scanned))
    assert_same(_quiet(pq.length_bias, data), _quiet(pq.length_bias, scanned))
    assert_same(pq.simpson_check(data, by="domain", min_n=5), pq.simpson_check(scanned, by="domain", min_n=5))
    assert_same(pq.flag_prompts(data), pq.flag_prompts(scanned))
    assert_same(_quiet(pq.annotator_table, data), _quiet(pq.annotator_table, scanned))


def test_from_parquet_files_equal(tmp_path, planted) -> None:
    """The same numbers when the engine reads Parquet files (judgments split over two files) itself."""
    data, _ = planted
    j = data.judgments
    half = len(j) // 2
    j.iloc[:half].to_parquet(tmp_path / "j-0.parquet")
    j.iloc[half:].to_parquet(tmp_path / "j-1.parquet")
    data.responses.to_parquet(tmp_path / "r.parquet")
    data.prompts.to_parquet(tmp_path / "p.parquet")
    scanned = pq.scan(str(tmp_path / "j-*.parquet"), responses=str(tmp_path / "r.parquet"),
                      prompts=str(tmp_path / "p.parquet"), memory_limit="200MB")
    assert_same(pq.position_bias(data), pq.position_bias(scanned))
    assert_same(_quiet(pq.length_bias, data), _quiet(pq.length_bias, scanned))
    assert_same(pq.flag_prompts(data), pq.flag_prompts(scanned))
    assert_same(_quiet(pq.annotator_table, data), _quiet(pq.annotator_table, scanned))


def test_empty_judgments_raise_prefqa_errors() -> None:
    data, _ = pq.simulate(n_prompts=4, rng=1)
    for empty in (pq.PreferenceData(data.judgments.iloc[:0]), pq.scan(data.judgments.iloc[:0])):
        for fn in (pq.position_bias, pq.flag_prompts):
            with pytest.raises(pq.InsufficientDataError, match="no judgments"):
                fn(empty)
