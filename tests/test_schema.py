"""PreferenceData validation, identity rules and integer views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefqa.errors import SchemaError
from prefqa.schema import LoadReport, PreferenceData, stable_id


def _judgments(**extra):
    base = {
        "comparison_id": ["c1", "c1", "c2", "c2"],
        "annotator_id": ["x", "y", "x", "y"],
        "choice": ["a", "b", "tie", "a"],
    }
    base.update(extra)
    return pd.DataFrame(base)


def test_counts_and_codes():
    data = PreferenceData(_judgments())
    assert (data.n_judgments, data.n_comparisons, data.n_annotators) == (4, 2, 2)
    assert data.choice_codes().tolist() == [0, 1, 2, 0]
    codes, labels = data.codes("comparison_id")
    assert codes.tolist() == [0, 0, 1, 1] and list(labels) == ["c1", "c2"]


def test_missing_column_message_names_found_columns_and_fix():
    with pytest.raises(SchemaError, match=r"missing required column\(s\) \['annotator_id'\]; found \['comparison_id', 'choice'\].*mapping="):
        PreferenceData(pd.DataFrame({"comparison_id": ["c"], "choice": ["a"]}))


def test_unknown_choice_lists_values_with_counts():
    with pytest.raises(SchemaError, match=r"found 'A' \(2 rows\), 'left' \(1 rows\)"):
        PreferenceData(_judgments(choice=["A", "A", "left", "a"]))


def test_oriented_choice_is_about_the_response():
    j = _judgments(
        response_a_id=["r1", "r2", "r3", "r3"], response_b_id=["r2", "r1", "r4", "r4"],
        choice=["a", "b", "a", "tie"],
    )
    resp = pd.DataFrame({"response_id": ["r1", "r2", "r3", "r4"], "prompt_id": "p", "text": list("wxyz")})
    data = PreferenceData(j, resp)
    assert data.flipped().tolist() == [False, True, False, False]
    assert data.oriented_choice().tolist() == [0, 0, 0, 2]
    assert data.choice_codes().tolist() == [0, 1, 0, 2]  # display labels untouched


def test_comparison_must_name_one_response_pair():
    j = _judgments(response_a_id=["r1", "r1", "r3", "r3"], response_b_id=["r2", "r4", "r4", "r4"])
    with pytest.raises(SchemaError, match="different response pairs.*'c1'"):
        PreferenceData(j)


def test_unknown_response_ids_are_an_error():
    j = _judgments(response_a_id=["r1"] * 4, response_b_id=["r2"] * 4, comparison_id=["c"] * 4)
    resp = pd.DataFrame({"response_id": ["r1"], "prompt_id": ["p"], "text": ["t"]})
    with pytest.raises(SchemaError, match=r"not in `responses`: \['r2'"):
        PreferenceData(j, resp)


def test_missing_annotators_are_not_one_annotator():
    data = PreferenceData(_judgments(annotator_id=[None] * 4))
    assert data.n_annotators == 0 and not data.has_annotators
    assert data.codes("annotator_id")[0].tolist() == [-1] * 4


def test_stable_id_is_deterministic_and_order_sensitive():
    a = stable_id("r", pd.Series(["p1", "p2"]), pd.Series(["t", "t"]))
    b = stable_id("r", pd.Series(["p1", "p2"]), pd.Series(["t", "t"]))
    assert a.tolist() == b.tolist() and a[0] != a[1]
    swapped = stable_id("r", pd.Series(["x"]), pd.Series(["y"]))[0]
    assert swapped != stable_id("r", pd.Series(["y"]), pd.Series(["x"]))[0]


def test_fingerprint_changes_with_content():
    a = PreferenceData(_judgments())
    b = PreferenceData(_judgments(choice=["a", "b", "tie", "b"]))
    assert a.fingerprint() == PreferenceData(_judgments()).fingerprint()
    assert a.fingerprint() != b.fingerprint()


def test_subset_and_text_view():
    resp = pd.DataFrame({"response_id": ["r1", "r2"], "prompt_id": ["p", "p"], "text": ["long text", ""]})
    prompts = pd.DataFrame({"prompt_id": ["p"], "text": ["Q?"]})
    j = _judgments(response_a_id=["r1"] * 4, response_b_id=["r2"] * 4, prompt_id=["p"] * 4,
                   comparison_id=["c"] * 4)
    data = PreferenceData(j, resp, prompts)
    view = data.judgments_with_text()
    assert view["prompt"].tolist() == ["Q?"] * 4 and view["response_b"].tolist() == [""] * 4
    sub = data.subset(np.array([True, False, True, False]))
    assert sub.n_judgments == 2 and len(sub.responses) == 2


def test_load_report_must_account_for_every_row():
    with pytest.raises(RuntimeError, match="does not account"):
        LoadReport(source="x", format="prefqa", n_rows=3, n_rows_used=1)
    rep = LoadReport(source="x", format="prefqa", n_rows=1, n_rows_used=1, n_judgments=1)
    assert rep.n_rejected == 0 and "Read 1 rows" in rep.summary()
