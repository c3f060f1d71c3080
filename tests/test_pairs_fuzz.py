"""build_pairs and export on small messy designs: a result that accounts for every comparison, or a PrefqaError.

Derandomised hypothesis (a fixed seed and max_examples, so CI runs the same examples every time)
over ragged designs: 1-6 comparisons, 1-5 annotators, 1-4 judgments per comparison, exact
duplicate rows, all ties, one comparison, prompts missing or empty, no annotator ids. Each
example reads the rows with ``pq.read``, builds pairs under a drawn policy (flags precomputed or
computed by ``pq.annotator_table`` / ``pq.flag_prompts``) and exports every format. Anything other than a PrefqaError (a pandas, numpy or scipy error) fails the test.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prefqa as pq
from prefqa.errors import PrefqaError, PrefqaWarning
from prefqa.export import FORMATS, manifest_path

MAX_EXAMPLES = 40


@st.composite
def messy_rows(draw) -> pd.DataFrame:
    n_comp = draw(st.integers(1, 6))
    n_ann = draw(st.integers(1, 5))
    per = draw(st.lists(st.integers(1, 4), min_size=n_comp, max_size=n_comp))
    choices = draw(st.sampled_from(["mixed", "ties", "a"]))
    prompts = draw(st.sampled_from(["texts", "some_empty", "all_empty", "none"]))
    rows = []
    for c, k in enumerate(per):
        for j in range(k):
            choice = {"ties": "tie", "a": "a"}.get(choices) or draw(st.sampled_from(["a", "b", "tie"]))
            row = {"comparison_id": f"c{c}", "annotator_id": f"w{(c + j) % n_ann}", "choice": choice,
                   "response_a": draw(st.sampled_from([f"A{c}", "same", ""])),
                   "response_b": f"B{c % 3}"}
            if prompts != "none":
                row["prompt"] = {"texts": f"Q{c % 2}", "all_empty": "",
                                 "some_empty": f"Q{c}" if c % 2 else " "}[prompts]
            rows.append(row)
    frame = pd.DataFrame(rows)
    # one text per response side within a comparison (the reader requires it)
    frame["response_a"] = frame.groupby("comparison_id")["response_a"].transform("first")
    n_dup = draw(st.integers(0, 2))
    if n_dup:
        frame = pd.concat([frame, frame.iloc[:n_dup]], ignore_index=True)
    return frame


POLICIES = st.fixed_dictionaries({
    "label": st.sampled_from(["majority", "dawid_skene"]),
    "ties": st.sampled_from(["drop", "keep_as_kto"]),
    "min_agreement": st.sampled_from([0.0, 0.6]),
    "min_judgments": st.sampled_from([1, 2]),
    "flagged": st.sampled_from(["keep", "drop", "downweight"]),
    "max_pairs_per_prompt": st.sampled_from([None, 1]),
})


@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(frame=messy_rows(), policy=POLICIES, drop_annotators=st.booleans(),
       duplicates=st.sampled_from(["keep", "drop"]), computed_flags=st.booleans())
def test_messy_designs_account_for_every_comparison_or_raise_prefqa_errors(
        frame, policy, drop_annotators, duplicates, computed_flags, tmp_path_factory):
    if drop_annotators:  # TRL-like rows without annotator ids: one row per comparison
        frame = frame.drop(columns="annotator_id").drop_duplicates("comparison_id")
        frame = frame.rename(columns={"response_a": "chosen", "response_b": "rejected"})
        frame = frame.drop(columns=["comparison_id", "choice"])
    try:
        data = pq.read(frame, duplicates=duplicates)
    except PrefqaError:
        return
    if policy["flagged"] != "keep" and not computed_flags:  # else pq.annotator_table / pq.flag_prompts run
        policy = {**policy, "annotator_flags": [f"w{i}" for i in range(0, 5, 2)], "prompt_flags": []}
    try:
        ps = pq.build_pairs(data, **policy)
    except PrefqaError:
        return
    assert ps.n_pairs + len(ps.ties) + ps.n_dropped == ps.n_input == data.n_comparisons
    assert set(ps.dropped["reason_code"]) <= set(pq.pairs.REASONS)
    assert ps.to_frame()["n"].sum() == ps.n_input
    out = tmp_path_factory.mktemp("fuzz")
    for fmt in FORMATS:
        for allow in (False, True):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", PrefqaWarning)
                    path = pq.export(ps, out / f"{fmt}.jsonl", format=fmt, tie_label=True,
                                     allow_empty_prompts=allow)
            except PrefqaError as exc:
                assert str(exc)  # a message that says what to do
                continue
            m = json.loads(manifest_path(path).read_text())
            assert m["kept"]["total"] + m["dropped"]["total"] == m["input"]["n_units"] == ps.n_input
            n_lines = len(path.read_text().splitlines())
            assert n_lines == m["output"]["n_rows"]
            expected = {"dpo": ps.n_pairs, "reward": ps.n_pairs, "openai": ps.n_pairs,
                        "kto": 2 * (ps.n_pairs + len(ps.ties))}.get(fmt)
            if expected is not None:
                assert n_lines == expected
            assert 0 <= m["output"]["n_empty_prompts"] <= max(n_lines, ps.n_pairs + len(ps.ties))


@pytest.mark.parametrize("choice", ["tie", "a"])
def test_one_comparison_and_all_ties(choice, tmp_path):
    frame = pd.DataFrame({"comparison_id": ["c1", "c1"], "annotator_id": ["x", "y"], "choice": [choice] * 2,
                          "prompt": ["Q", "Q"], "response_a": ["A", "A"], "response_b": ["B", "B"]})
    ps = pq.build_pairs(pq.read(frame), ties="keep_as_kto")
    assert (ps.n_pairs, len(ps.ties)) == ((0, 1) if choice == "tie" else (1, 0))
    path = pq.export(ps, tmp_path / "k.jsonl", format="kto", tie_label=False)
    labels = [json.loads(line)["label"] for line in path.read_text().splitlines()]
    assert labels == ([False, False] if choice == "tie" else [True, False])


def test_no_texts_is_a_schema_error_with_the_fix():
    frame = pd.DataFrame({"comparison_id": ["c1", "c1"], "annotator_id": ["x", "y"], "choice": ["a", "b"]})
    with pytest.raises(pq.SchemaError, match=r"pairs need response texts.*response_a.*response_b"):
        pq.build_pairs(pq.read(frame))


def test_labels_that_need_annotators_say_so():
    frame = pd.DataFrame({"prompt": ["Q1", "Q2"], "chosen": ["A", "B"], "rejected": ["C", "D"]})
    with pytest.raises(pq.InsufficientDataError, match=r"needs annotator ids.*label='majority'"):
        pq.build_pairs(pq.read(frame), label="dawid_skene")
    ps = pq.build_pairs(pq.read(frame))
    assert ps.n_pairs == 2 and np.isnan(ps.flip_rate)
