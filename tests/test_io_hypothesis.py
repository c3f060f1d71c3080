"""Hypothesis: random valid canonical data round-trips through pq.write and pq.read (every file type)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prefqa as pq
from test_io_roundtrip import SUFFIXES, assert_same_data

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


