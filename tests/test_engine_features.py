"""Per-response features from the engine equal the in-memory text_features (DuckDB and Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.errors import SchemaError
from prefqa.features import FEATURE_COLUMNS, response_feature_table, response_features, text_features

STYLED = [
    "# Title\n- one\n- **two**",
    "I'm sorry, but I can't help with that.",
    "```python\n# not a header\nx = 1\n```\nAfter the code, __bold__ text.",
    "",
    "  spaced   words\tand\ttabs \n 1. first\n 2) second",
    "émoji 😀 and accents café",
]


def _styled_data() -> pq.PreferenceData:
    n = len(STYLED)
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(n)], "annotator_id": "x", "choice": "a",
                      "response_a_id": [f"r{i}" for i in range(n)],
                      "response_b_id": [f"r{(i + 1) % n}" for i in range(n)]})
    r = pd.DataFrame({"response_id": [f"r{i}" for i in range(n)], "prompt_id": "p", "text": STYLED})
    return pq.PreferenceData(j, r)


def _engine_frame(s: pq.ScannedData, table: str) -> pd.DataFrame:
    f = s.frame(f"SELECT * FROM {table} ORDER BY response_id").set_index("response_id")
    f.index.name = "response_id"
    return f


def _assert_same(mem: pd.DataFrame, eng: pd.DataFrame) -> None:
    mem = mem.sort_index()
    assert list(eng.index) == list(mem.index)
    for col in FEATURE_COLUMNS:
        np.testing.assert_array_equal(eng[col].to_numpy(dtype=float), mem[col].to_numpy(dtype=float), err_msg=col)


@pytest.mark.parametrize("unit", ["chars", "words"])
def test_scanned_features_equal_text_features(unit: str) -> None:
    data, _ = pq.simulate(n_prompts=40, n_annotators=4, rng=3)
    mem = response_features(data, unit=unit)
    s = pq.scan(data)
    _assert_same(mem, _engine_frame(s, response_feature_table(s, unit=unit, batch_size=7)))
    assert response_feature_table(s, unit=unit) == response_feature_table(s, unit=unit)  # cached


def test_styled_texts_equal_and_values_known() -> None:
    data = _styled_data()
    mem = response_features(data)
    # independent values: characters and whitespace words counted by Python itself
    np.testing.assert_array_equal(mem["chars"].to_numpy(), [len(t) for t in STYLED])
    np.testing.assert_array_equal(mem["words"].to_numpy(), [len(t.split()) for t in STYLED])
    assert mem["headers"].tolist() == [1, 0, 0, 0, 0, 0]  # the '# not a header' line is inside code
    assert mem["refusal"].tolist() == [False, True, False, False, False, False]
    s = pq.scan(data)
    _assert_same(mem, _engine_frame(s, response_feature_table(s, batch_size=2)))


def test_precomputed_columns_win_in_memory_and_engine() -> None:
    data = _styled_data()
    r = data.responses.copy()
    r["n_chars"] = np.arange(len(r)) * 100
    r["bold"] = 7
    d2 = pq.PreferenceData(data.judgments, r)
    mem = response_feature_table(d2)
    assert mem["chars"].tolist() == list(np.arange(len(r)) * 100)
    assert mem["length"].tolist() == list(np.arange(len(r)) * 100.0)
    assert (mem["bold"] == 7).all()
    plain = response_features(data)
    np.testing.assert_array_equal(mem["words"].to_numpy(), plain["words"].to_numpy())  # computed from text
    s = pq.scan(d2)
    _assert_same(mem, _engine_frame(s, response_feature_table(s)))


def test_precomputed_without_texts_is_sql_only() -> None:
    data = _styled_data()
    feats = text_features(data.responses["text"])
    r = pd.DataFrame({"response_id": data.responses["response_id"], "n_chars": feats["chars"],
                      "n_words": feats["words"], "n_tokens": feats["words"] * 2})
    s = pq.scan(data.judgments, responses=r)
    eng = _engine_frame(s, response_feature_table(s))
    np.testing.assert_array_equal(eng["chars"].to_numpy(), feats["chars"].to_numpy())
    assert eng["headers"].isna().all() and eng["refusal"].isna().all()
    tok = _engine_frame(s, response_feature_table(s, unit="tokens"))
    np.testing.assert_array_equal(tok["length"].to_numpy(), (feats["words"] * 2).to_numpy(dtype=float))
    with pytest.raises(SchemaError, match="neither `text` nor precomputed"):
        response_feature_table(pq.scan(data.judgments, responses=r[["response_id"]]))


def test_errors_name_the_fix() -> None:
    data = _styled_data()
    with pytest.raises(SchemaError, match="no responses table"):
        response_feature_table(pq.scan(data.judgments))
    with pytest.raises(SchemaError, match="n_tokens"):
        response_feature_table(pq.scan(data), unit="tokens")
    with pytest.raises(SchemaError, match="unit"):
        response_feature_table(pq.scan(data), unit="bytes")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="PreferenceData or ScannedData"):
        response_feature_table(data.judgments)


def test_tokenizer_runs_per_text() -> None:
    data = _styled_data()
    mem = response_features(data, unit="tokens", tokenizer=str.split)
    s = pq.scan(data)
    eng = _engine_frame(s, response_feature_table(s, unit="tokens", tokenizer=str.split))
    np.testing.assert_array_equal(eng["length"].to_numpy(), mem.sort_index()["length"].to_numpy())


@pytest.mark.spark
def test_spark_features_equal(spark) -> None:
    data, _ = pq.simulate(n_prompts=15, n_annotators=3, rng=5)
    mem = response_features(data)
    s = pq.scan(data, engine="spark", connection=spark)
    _assert_same(mem, _engine_frame(s, response_feature_table(s, batch_size=50)))
