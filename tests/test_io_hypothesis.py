"""Hypothesis: random valid canonical data round-trips through pq.write and pq.read (every file type)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyarrow import ArrowException
from test_io_roundtrip import SUFFIXES, assert_same_data

import prefqa as pq

# ----------------------------------------------------------------- hypothesis
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
ID = st.text(alphabet="abcXYZ0123456789_-. ", min_size=1, max_size=8).filter(lambda s: s.strip() == s)


@st.composite
def canonical_data(draw: st.DrawFn) -> pq.PreferenceData:
    n_comp = draw(st.integers(1, 6))
    prompts = draw(st.lists(TEXT, min_size=1, max_size=3))
    annotators = draw(st.lists(ID, min_size=1, max_size=4, unique=True))
    comp_ids = draw(st.lists(ID, min_size=n_comp, max_size=n_comp, unique=True))
    no_annotators = draw(st.booleans())  # a blank id among named ones is a rejected row, not data
    rows = []
    for c in range(n_comp):
        prompt = draw(st.sampled_from(prompts))
        r1, r2 = draw(TEXT), draw(TEXT)
        m1, m2 = draw(ID), draw(ID)
        for _ in range(draw(st.integers(1, 3))):
            flip = draw(st.booleans())
            ann = None if no_annotators else draw(st.sampled_from(annotators))
            rows.append({
                "comparison_id": comp_ids[c], "annotator_id": ann,
                "choice": draw(st.sampled_from(["a", "b", "tie"])), "prompt": prompt,
                "response_a": r2 if flip else r1, "response_b": r1 if flip else r2,
                "model_a": m2 if flip else m1, "model_b": m1 if flip else m2,
                "strength": draw(st.one_of(st.none(), st.floats(-5, 5, allow_nan=False))),
            })
    frame = pd.DataFrame(rows)
    if draw(st.booleans()):
        frame = frame.drop(columns="strength")
    data = pq.read(frame, format="prefqa")
    order_known = draw(st.booleans())
    return pq.PreferenceData(data.judgments, data.responses, data.prompts, order_known=order_known)


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
          deadline=None)
@given(data=canonical_data(), suffix=st.sampled_from(SUFFIXES))
def test_random_canonical_frames_round_trip(tmp_path: Path, data: pq.PreferenceData, suffix: str) -> None:
    back = pq.read(pq.write(data, tmp_path / f"h.{suffix}"))
    assert_same_data(data, back)




# ------------------------------------------------------------- messy input
# Any messy input either reads with every row accounted for, or raises a SchemaError that names
# the file; never a raw pandas/numpy/pyarrow error.
MESSY_TEXT = st.one_of(st.none(), st.just(""), TEXT, st.just("x" * 5000), st.just("日本語 ✓ \u00e9\u0301"))
MESSY_ID = st.one_of(st.none(), st.just(""), ID, st.integers(-3, 3), st.floats(0, 3).map(lambda x: round(x)),
                     st.just(float("nan")))
MESSY_EXTRA = st.one_of(MESSY_ID, st.lists(ID, max_size=2), st.booleans())  # lists among strings too
MESSY_CHOICE = st.one_of(st.none(), st.sampled_from(["a", "b", "tie", "A", " B", "Tie", "left", "1", "x"]),
                         st.integers(0, 2))
LAYOUTS = {
    "prefqa": {"comparison_id": MESSY_ID, "annotator_id": MESSY_ID, "choice": MESSY_CHOICE,
               "prompt": MESSY_TEXT, "response_a": MESSY_TEXT, "response_b": MESSY_TEXT,
               "seconds": st.one_of(st.none(), st.floats(0, 100), st.just("fast")), "batch": MESSY_EXTRA},
    "ratings": {"response_id": MESSY_ID, "annotator_id": MESSY_ID, "score": st.one_of(st.none(), st.integers(-2, 5),
                st.just("4"), st.just("good")), "response": MESSY_TEXT, "prompt_id": MESSY_ID,
                "vendor": MESSY_EXTRA},
    "trl": {"prompt": MESSY_TEXT, "chosen": MESSY_TEXT, "rejected": MESSY_TEXT, "extra": MESSY_EXTRA},
}


@st.composite
def messy_frames(draw: st.DrawFn) -> tuple[str, pd.DataFrame]:
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    spec = LAYOUTS[layout]
    required = {"prefqa": ("comparison_id", "annotator_id", "choice"), "ratings": ("annotator_id", "score"),
                "trl": ("chosen", "rejected")}[layout]
    cols = [c for c in spec if c in required or draw(st.booleans())]
    if layout == "ratings" and "response" not in cols and "response_id" not in cols:
        cols.append("response_id")
    n = draw(st.integers(0, 8))
    rows = [{c: draw(spec[c]) for c in cols} for _ in range(n)]
    if rows and draw(st.booleans()):  # exact duplicates
        rows += [dict(rows[0])] * draw(st.integers(1, 2))
    frame = pd.DataFrame(rows, columns=cols)
    if draw(st.booleans()):
        frame["all_nan"] = None
    return layout, frame


def _check_read(source: object, n_rows: int | None, **kw: object) -> None:
    try:
        data = pq.read(source, **kw)
    except pq.SchemaError:
        return
    rep = data.load_report
    assert rep.n_rows == rep.n_rows_used + rep.n_rejected
    if n_rows is not None:
        assert rep.n_rows == n_rows
    assert rep.n_judgments == data.n_judgments and rep.n_ratings == data.n_ratings
    assert len(rep.duplicates) <= rep.n_rows


@settings(max_examples=100, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=messy_frames(), kind=st.sampled_from(["frame", "csv", "jsonl", "parquet"]),
       on_error=st.sampled_from(["raise", "skip"]), duplicates=st.sampled_from(["keep", "drop"]))
def test_messy_input_is_accounted_for_or_a_schema_error(tmp_path: Path, case: tuple[str, pd.DataFrame],
                                                         kind: str, on_error: str, duplicates: str) -> None:
    _, frame = case
    if kind == "frame":
        _check_read(frame, len(frame) or None, on_error=on_error, duplicates=duplicates)
        return
    path = tmp_path / f"m.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        try:
            frame.to_parquet(path)
        except (ValueError, TypeError, ArrowException):  # mixed types cannot be stored in Parquet
            return
    _check_read(path, None, on_error=on_error, duplicates=duplicates)


def test_duplicated_column_names_are_a_schema_error(tmp_path: Path) -> None:
    frame = pd.DataFrame([["c1", "w", "a", "b"]], columns=["comparison_id", "annotator_id", "choice", "choice"])
    with pytest.raises(pq.SchemaError, match=r"column name\(s\) \['choice'\] appear more than once"):
        pq.read(frame)
    (tmp_path / "d.csv").write_text("comparison_id,annotator_id,choice,choice\nc1,w,a,b\n")
    with pytest.raises(pq.SchemaError, match=r"d\.csv: column name\(s\) \['choice'\] appear more than once"):
        pq.read(tmp_path / "d.csv")
