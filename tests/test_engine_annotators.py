"""``annotator_table`` on scanned data equals the in-memory table: every column, flag, reason and attr.

Issue 13, item 4: the table from ``pq.scan(data)`` (DuckDB here; Spark in
``test_engine_bias.py::test_bias_on_spark_equal``, which shares one Spark
scan between the analyses to keep Spark's per-query cost down) must equal
``pq.annotator_table(data)`` to 1e-9 relative + 1e-12 absolute, on the
planted simulator (timestamps, seconds, gold items, an always-a
annotator, a spammer, both-order repeats), the bundled sample, a messy
design and data whose display order is unknown. The planted
annotators are checked to be the flagged ones, so two equal wrong tables
would not pass.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_engine_bias import _messy, assert_same

import prefqa as pq
from prefqa.engine.reductions.annotators import annotation_order, gold_codes, gold_problems


def _table(data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pq.annotator_table(data, **kwargs)


@pytest.fixture(scope="module")
def planted():
    return pq.simulate(n_prompts=150, n_annotators=12, n_always_a=1, n_spammers=1, both_orders=0.3,
                       gold_share=0.2, n_windows=3, rng=11)


def test_planted_table_equal_and_flags_the_planted(planted) -> None:
    data, truth = planted
    mem = _table(data)
    assert_same(mem, _table(pq.scan(data)))
    planted_ids = truth.flagged_annotators().tolist()
    assert set(planted_ids) <= set(mem.index[mem["flagged"]])
    assert mem["n_gold"].notna().any() and mem["median_seconds"].notna().all()
    assert "timestamp order" in " ".join(mem.attrs["notes"])  # the straight-lining test ran in time order


def test_options_equal(planted) -> None:
    data, _ = planted
    scanned = pq.scan(data)
    for kwargs in ({"fast_seconds": 5.0, "max_run": 6}, {"min_judgments": 40, "fdr": 0.1, "confidence_level": 0.9},
                   {"min_gold_accuracy": 0.8}):
        assert_same(_table(data, **kwargs), _table(scanned, **kwargs))
    ds = pq.consensus(data, method="dawid_skene")
    assert_same(_table(data, consensus=ds), _table(scanned, consensus=ds))


def test_sample_messy_and_unknown_order_equal() -> None:
    sample = pq.load_sample()
    # scanned data carry no ratings: compare the judgments-only data set (the rating columns would differ)
    plain = pq.PreferenceData(sample.judgments, sample.responses, sample.prompts)
    assert_same(_table(plain), _table(pq.scan(plain)))
    messy = _messy()
    mem = _table(messy)
    assert any("no `annotator_id`" in n for n in mem.attrs["notes"])
    assert_same(mem, _table(pq.scan(messy)))
    unordered = pq.PreferenceData(messy.judgments, messy.responses, order_known=False)
    assert_same(_table(unordered), _table(pq.scan(unordered)))


def test_dawid_skene_subsample_path_equal(planted, monkeypatch) -> None:
    """Above MAX_DS_JUDGMENTS the fit uses every k-th comparison code: the same comparisons from the engine."""
    import prefqa.annotators._consensus as cons

    data, _ = planted
    monkeypatch.setattr(cons, "MAX_DS_JUDGMENTS", 1000)
    mem = _table(data)
    assert any("one comparison in" in n for n in mem.attrs["notes"])
    assert_same(mem, _table(pq.scan(data)))


def test_reductions_equal(planted) -> None:
    data, _ = planted
    scanned = pq.scan(data)
    np.testing.assert_array_equal(annotation_order(data), annotation_order(scanned))
    np.testing.assert_array_equal(gold_codes(data), gold_codes(scanned))
    bad = data.judgments.assign(gold=data.judgments["gold"].where(data.judgments.index % 7 != 0, "A"))
    wrong = pq.PreferenceData(bad, data.responses, data.prompts)
    assert gold_problems(wrong) == gold_problems(pq.scan(wrong))
    with pytest.raises(pq.SchemaError, match="`gold` must hold"):
        pq.annotator_table(pq.scan(wrong))


def test_no_annotator_ids_gives_the_empty_table() -> None:
    data, _ = pq.simulate(n_prompts=20, rng=2)
    j = data.judgments.assign(annotator_id=pd.NA)
    plain = pq.PreferenceData(j, data.responses, data.prompts)
    assert_same(_table(plain), _table(pq.scan(plain)))
    assert len(_table(pq.scan(plain))) == 0
