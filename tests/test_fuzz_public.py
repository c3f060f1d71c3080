"""Every public analysis, on any small messy design ``pq.read`` accepts, returns or raises a PrefqaError.

Issue 12 item 3 (and issue 15's cleaning analyses, on the same frames with reward-model scores and on raw
TRL rows): ragged designs (1-12 annotators, 1-7 judgments per comparison), duplicated rows, all ties,
one comparison, one prompt, missing optional columns. Each example runs every public analysis; a smaller set
also runs ``pq.audit``. A raw numpy / pandas / scipy / LinAlg error is a failure.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prefqa as pq
from prefqa.errors import PrefqaError

pytestmark = pytest.mark.slow

CHOICES = np.array(["a", "b", "tie"])
#: derandomised (the same examples on every run), no deadline, small messy frames are the point
FUZZ = {"deadline": None, "derandomize": True,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


@st.composite
def messy_frames(draw: st.DrawFn) -> pd.DataFrame:
    """A small long-format judgments table of an arbitrary messy design."""
    seed = draw(st.integers(0, 2**31 - 1))
    n_ann = draw(st.integers(1, 12))
    n_cmp = draw(st.integers(1, 15))
    max_per = draw(st.integers(1, 7))
    n_prompts = draw(st.integers(1, 4))
    n_models = draw(st.integers(0, 4))  # 0 = no model columns, 1 = a model against itself is not allowed
    tie_mode = draw(st.sampled_from(["mixed", "none", "all"]))
    n_dup = draw(st.integers(0, 4))
    with_prompt = draw(st.booleans())
    with_text = draw(st.booleans())
    with_seconds = draw(st.booleans())
    rng = np.random.default_rng(seed)

    per = rng.integers(1, max_per + 1, size=n_cmp)
    per = np.minimum(per, n_ann)  # distinct annotators per comparison (repeats come from duplicates)
    cmp_idx = np.repeat(np.arange(n_cmp), per)
    ann_idx = np.concatenate([rng.permutation(n_ann)[:k] for k in per])  # per comparison, not per row
    if tie_mode == "all":
        choice = np.full(len(cmp_idx), "tie", dtype=object)
    elif tie_mode == "none":
        choice = CHOICES[rng.integers(0, 2, size=len(cmp_idx))]
    else:
        choice = CHOICES[rng.integers(0, 3, size=len(cmp_idx))]
    frame = pd.DataFrame({
        "comparison_id": [f"c{i}" for i in cmp_idx],
        "annotator_id": [f"ann{i}" for i in ann_idx],
        "choice": choice,
    })
    prompt_of = rng.integers(0, n_prompts, size=n_cmp)
    if with_prompt:
        frame["prompt_id"] = [f"p{prompt_of[i]}" for i in cmp_idx]
    if with_text:
        frame["prompt"] = [f"prompt number {prompt_of[i]}" for i in cmp_idx]
        words = rng.integers(1, 60, size=(n_cmp, 2))
        frame["response_a"] = ["word " * words[i, 0] + "**bold**" * (i % 2) for i in cmp_idx]
        frame["response_b"] = ["term " * words[i, 1] + "\n- item" * (i % 3) for i in cmp_idx]
    if n_models >= 2:
        pair = np.stack([rng.permutation(n_models)[:2] for _ in range(n_cmp)])
        frame["model_a"] = [f"m{pair[i, 0]}" for i in cmp_idx]
        frame["model_b"] = [f"m{pair[i, 1]}" for i in cmp_idx]
    if with_seconds:
        frame["seconds"] = rng.gamma(2.0, 10.0, size=len(frame))
    frame["batch"] = [f"batch{i % 2}" for i in cmp_idx]  # an extra column, kept as a stratum
    if n_dup:
        frame = pd.concat([frame, frame.sample(n=min(n_dup, len(frame)), random_state=seed % 1000)],
                          ignore_index=True)
    return frame


def _run(fn, *args, **kwargs):
    """Call one analysis; PrefqaError (with a message) is an accepted answer."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except PrefqaError as exc:
        assert str(exc).strip(), f"{fn.__name__} raised {type(exc).__name__} without a message"
        return None


def _run_all(analyses, data, frame: pd.DataFrame) -> None:
    """Run every analysis; anything but a result or a PrefqaError fails, naming the analysis and the input."""
    for name, call in analyses:
        try:
            _run(call, data)
        except Exception as exc:  # the point of the test
            raise AssertionError(f"{name} raised {type(exc).__name__}: {exc}\n{frame.to_string()}") from exc


def _read(frame: pd.DataFrame):
    try:
        return pq.read(frame)
    except PrefqaError:
        return None


ANALYSES = (
    ("agreement", lambda d: pq.agreement(d, n_resamples=20, rng=0)),
    ("consensus", lambda d: pq.consensus(d)),
    ("consensus_ds", lambda d: pq.consensus(d, method="dawid_skene")),
    ("annotator_table", lambda d: pq.annotator_table(d)),
    ("position_bias", lambda d: pq.position_bias(d)),
    ("length_bias", lambda d: pq.length_bias(d)),
    ("style_bias", lambda d: pq.style_bias(d)),
    ("simpson_check", lambda d: pq.simpson_check(d, by="batch")),
    ("flag_prompts", lambda d: pq.flag_prompts(d)),
    ("fit_bradley_terry", lambda d: pq.fit_bradley_terry(d)),
    ("fit_preference_model", lambda d: pq.fit_preference_model(d)),
    ("build_pairs", lambda d: pq.build_pairs(d)),
    ("plan_annotations", lambda d: pq.plan_annotations(d)),
)


@settings(max_examples=40, **FUZZ)
@given(messy_frames())
def test_every_analysis_returns_or_raises_prefqa_error(frame):
    data = _read(frame)
    if data is None:
        return
    _run_all(ANALYSES, data, frame)


@settings(max_examples=8, **FUZZ)
@given(frame=messy_frames())
def test_audit_returns_or_raises_prefqa_error(tmp_path_factory, frame):
    data = _read(frame)
    if data is None:
        return
    report = _run(pq.audit, data, progress=False, config={"audit": {"n_resamples": 20}})
    if report is not None:
        out = tmp_path_factory.mktemp("audit")
        report.to_json(out / "report.json")
        report.to_html(out / "report.html")
        assert report.summary()


#: a small benchmark: one prompt the messy frames hold verbatim ("prompt number 1"), one near copy, one unrelated
BENCHMARK = pd.DataFrame({"question": ["Prompt number 1", "PROMPT   number 2!", "Name three rivers of Europe."]})

CLEANING_ANALYSES = (
    ("lint", lambda d: pq.lint(d)),
    ("contamination", lambda d: pq.contamination(d, BENCHMARK, n=2)),
    ("label_issues", lambda d: pq.label_issues(d, cross_fit=2)),
    ("label_issues_scores", lambda d: pq.label_issues(d, scores="rm_score", cross_fit=2)),
    ("relabel_queue", lambda d: pq.relabel_queue(d, budget=3)),
    ("relabel_queue_scores", lambda d: pq.relabel_queue(d, budget=3, scores="rm_score", cross_fit=2)),
)


@st.composite
def scored_frames(draw: st.DrawFn) -> pd.DataFrame:
    """A messy frame, sometimes with reward-model scores ``rm_score_a`` / ``rm_score_b`` (gaps, constants, ties)."""
    frame = draw(messy_frames())
    kind = draw(st.sampled_from(["normal", "missing", "normal", "constant", "normal", "text", "none"]))
    rng = np.random.default_rng(len(frame) * 7919 + 1)
    n = len(frame)
    if kind == "normal":
        frame["rm_score_a"], frame["rm_score_b"] = rng.normal(size=n), rng.normal(size=n)
    elif kind == "constant":
        frame["rm_score_a"] = frame["rm_score_b"] = 1.0
    elif kind == "missing":
        a = rng.normal(size=n)
        a[rng.random(n) < 0.5] = np.nan
        frame["rm_score_a"], frame["rm_score_b"] = a, rng.normal(size=n)
    elif kind == "text":  # a non-numeric score column
        frame["rm_score_a"], frame["rm_score_b"] = "high", "low"
    return frame


@settings(max_examples=40, **FUZZ)
@given(scored_frames())
def test_cleaning_analyses_return_or_raise_prefqa_error(frame):
    data = _read(frame)
    if data is None:
        return
    _run_all(CLEANING_ANALYSES, data, frame)


@st.composite
def messy_trl_rows(draw: st.DrawFn) -> pd.DataFrame:
    """Raw TRL rows for ``pq.lint``: strings or message lists, empty turns, wrong roles, missing prompts."""
    n = draw(st.integers(1, 6))
    text = st.sampled_from(["", " ", "hi", "Hello there", "caf\u00c3\u00a9", "a\x00b", "q"])
    role = st.sampled_from(["user", "assistant", "system"])
    turn = st.fixed_dictionaries({"role": role, "content": text})
    conversational = draw(st.booleans())
    value = st.lists(turn, min_size=0, max_size=3) if conversational else text
    cols = {"chosen": draw(st.lists(value, min_size=n, max_size=n)),
            "rejected": draw(st.lists(value, min_size=n, max_size=n))}
    if draw(st.booleans()):
        cols["prompt"] = draw(st.lists(value, min_size=n, max_size=n))
    return pd.DataFrame(cols)


@settings(max_examples=40, **FUZZ)
@given(messy_trl_rows())
def test_lint_of_raw_rows_returns_or_raises_prefqa_error(frame):
    try:
        _run(pq.lint, frame)
    except Exception as exc:  # the point of the test
        raise AssertionError(f"lint raised {type(exc).__name__}: {exc}\n{frame.to_string()}") from exc


@settings(max_examples=6, **FUZZ)
@given(frame=scored_frames())
def test_audit_with_cleaning_sections_returns_or_raises_prefqa_error(tmp_path_factory, frame):
    data = _read(frame)
    if data is None:
        return
    bench = tmp_path_factory.mktemp("bench") / "bench.jsonl"
    BENCHMARK.to_json(bench, orient="records", lines=True)
    skip = ["preference_model", "bradley_terry", "bradley_terry_style", "style_bias"]
    cfg = {"audit": {"n_resamples": 10, "skip": skip, "readiness": {},
                     "cleaning": {"benchmarks": [str(bench)], "n": 2, "cross_fit": 2}}}
    report = _run(pq.audit, data, progress=False, config=cfg)
    if report is not None:
        assert {"readiness", "cleaning"} <= set(report.sections)
        assert not [f for f in report.findings if f["code"] == "step_failed"], report.summary()
        report.to_html()


@st.composite
def messy_ratings(draw: st.DrawFn) -> pd.DataFrame:
    """A small ratings table (absolute scores), with or without prompts, ragged, with duplicates."""
    seed = draw(st.integers(0, 2**31 - 1))
    n_ann = draw(st.integers(1, 8))
    n_resp = draw(st.integers(1, 20))
    per_prompt = draw(st.integers(1, 4))
    with_prompt = draw(st.booleans())
    constant = draw(st.booleans())
    rng = np.random.default_rng(seed)
    per = np.minimum(rng.integers(1, 5, size=n_resp), n_ann)
    resp_idx = np.repeat(np.arange(n_resp), per)
    ann_idx = np.concatenate([rng.permutation(n_ann)[:k] for k in per])
    score = np.full(len(resp_idx), 3) if constant else rng.integers(1, 6, size=len(resp_idx))
    frame = pd.DataFrame({
        "response_id": [f"resp-{i}" for i in resp_idx],
        "annotator_id": [f"r{i}" for i in ann_idx],
        "score": score,
        "response": [f"text of response {i}" for i in resp_idx],
    })
    if with_prompt:
        frame["prompt_id"] = [f"q{i // per_prompt}" for i in resp_idx]
    if draw(st.booleans()):
        frame = pd.concat([frame, frame.head(2)], ignore_index=True)
    return frame


RATING_ANALYSES = (
    ("agreement", lambda d: pq.agreement(d, n_resamples=20, rng=0)),
    ("icc", lambda d: pq.icc(d)),
    ("fit_rating_model", lambda d: pq.fit_rating_model(d)),
    ("annotator_table", lambda d: pq.annotator_table(d)),
)


@settings(max_examples=30, **FUZZ)
@given(messy_ratings())
def test_ratings_analyses_return_or_raise_prefqa_error(frame):
    try:
        data = pq.read(frame, format="ratings")
    except PrefqaError:
        return
    assert set(data.ratings["response_id"]) <= set(frame["response_id"]), "the reader replaced the user's ids"
    _run_all(RATING_ANALYSES, data, frame)
