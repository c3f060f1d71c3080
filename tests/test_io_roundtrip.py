"""pq.write -> pq.read gives the same data (every file type, ratings, rankings, hypothesis frames);
load_sample; TOML reader config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import prefqa as pq
from prefqa.errors import SchemaError
from prefqa.io.config import load_config

DATA = Path(__file__).resolve().parent / "data" / "io"
SUFFIXES = ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"]
FLOAT_RTOL = 1e-14  # JSONL floats are written to 15 decimal places (pandas' maximum) ...
FLOAT_ATOL = 1e-15  # ... so tiny values keep an absolute error below 1e-15


def _norm(frame: pd.DataFrame | None, key: str | None = None) -> pd.DataFrame | None:
    """The documented dtype normalization: compare values, missing as None, in a fixed row order."""
    if frame is None:
        return None
    out = frame.copy()
    if key is not None:
        out = out.sort_values(key, kind="stable").reset_index(drop=True)
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].astype(float)
        else:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def assert_same_data(a: pq.PreferenceData, b: pq.PreferenceData) -> None:
    if a.n_judgments or b.n_judgments:  # a ratings-only set has no judgments (an empty JSONL has no columns)
        pd.testing.assert_frame_equal(_norm(a.judgments), _norm(b.judgments), check_dtype=False, rtol=FLOAT_RTOL,
                                      atol=FLOAT_ATOL)
    pd.testing.assert_frame_equal(_norm(a.responses, "response_id"), _norm(b.responses, "response_id"),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(_norm(a.prompts, "prompt_id"), _norm(b.prompts, "prompt_id"), check_dtype=False)
    for name in ("ratings", "rankings"):
        ta, tb = getattr(a, name), getattr(b, name)
        assert (ta is None) == (tb is None), name
        if ta is not None:
            pd.testing.assert_frame_equal(_norm(ta), _norm(tb), check_dtype=False, check_like=True)
    assert a.order_known == b.order_known
    assert a.conversational == b.conversational


ROUND_TRIPS = [("canonical.csv", s) for s in SUFFIXES] + [
    ("trl_conversational.jsonl", "csv"), ("trl_conversational.jsonl", "jsonl.gz"),
    ("arena.jsonl", "parquet"), ("ratings.csv", "csv.gz"), ("ratings.csv", "jsonl"),
    ("rankings.jsonl", "parquet"), ("rankings.jsonl", "csv"), ("trl_standard.jsonl", "jsonl"),
]


@pytest.mark.parametrize("fixture, suffix", ROUND_TRIPS)
def test_write_read_round_trip(tmp_path: Path, fixture: str, suffix: str) -> None:
    data = pq.read(DATA / fixture)
    path = pq.write(data, tmp_path / f"out.{suffix}")
    back = pq.read(path)
    assert back.load_report.format == "prefqa"
    assert_same_data(data, back)
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed away


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_ratings_only_round_trip(tmp_path: Path, suffix: str) -> None:
    # ConvAbuse's layout (response_id, annotator_id, score, response) plus an extra column; no prompts
    frame = pd.DataFrame({"response_id": ["50827-q0-bart", "50827-q0-bart", "61000-q0-gpt"],
                          "annotator_id": ["A1", "A2", "A1"], "score": [1, 0, -1],
                          "response": ["same text", "same text", "same text"], "batch": ["b1", "b1", "b2"]})
    data = pq.read(frame)
    back = pq.read(pq.write(data, tmp_path / f"r.{suffix}"))
    assert_same_data(data, back)
    assert back.ratings["response_id"].tolist() == ["50827-q0-bart", "50827-q0-bart", "61000-q0-gpt"]
    assert back.ratings["batch"].tolist() == ["b1", "b1", "b2"] and back.n_judgments == 0


def test_round_trip_pandalm(tmp_path: Path, pandalm_dir: Path) -> None:
    data = pq.read(pandalm_dir / "testset-v1.json", format="wide", id_column="idx",
                   prompt_columns=["instruction", "input"], response_columns=["response1", "response2"],
                   model_key="cmp_key")
    for suffix in ("csv", "jsonl.gz", "parquet"):
        assert_same_data(data, pq.read(pq.write(data, tmp_path / f"p.{suffix}")))


def test_write_is_atomic_and_validates(tmp_path: Path) -> None:
    data = pq.read(DATA / "canonical.csv")
    target = tmp_path / "keep.parquet"
    target.write_text("old content\n")
    with pytest.raises(ValueError):  # pyarrow cannot store a Python object
        # a failure while writing leaves the old file untouched and no temporary file behind
        pq.io._writer._write_table(pd.DataFrame({"x": [object()]}), target)
    assert target.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.parquet"]
    with pytest.raises(SchemaError, match=r"`data` must be a PreferenceData"):
        pq.write(pd.DataFrame(), tmp_path / "x.csv")
    with pytest.raises(SchemaError, match=r"a \.json array is not written\. Change the suffix"):
        pq.write(data, tmp_path / "x.json")
    with pytest.raises(SchemaError, match=r"the folder .* does not exist"):
        pq.write(data, tmp_path / "missing" / "x.csv")


def test_ratings_go_to_a_sibling_file(tmp_path: Path) -> None:
    data = pq.read(DATA / "ratings.csv")
    pq.write(data, tmp_path / "r.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl", "r.ratings.jsonl"]
    side = pd.read_json(tmp_path / "r.ratings.jsonl", lines=True)
    assert {"response_id", "annotator_id", "score", "aspect", "response"} <= set(side.columns)


def test_load_sample_reads_the_canonical_sample(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import prefqa.io._writer as writer

    data = pq.read(DATA / "canonical.csv")
    pq.write(data, tmp_path / "sample.jsonl.gz")
    monkeypatch.setattr(writer, "_sample_path", lambda: tmp_path / "sample.jsonl.gz")
    assert_same_data(data, pq.load_sample())


# --------------------------------------------------------------------- config
def test_config_drives_the_wide_reader(tmp_path: Path, pandalm_dir: Path) -> None:
    cfg = tmp_path / "prefqa.toml"
    cfg.write_text(
        '[read]\nformat = "wide"\non_error = "skip"\nid_column = "idx"\n'
        'annotator_columns = ["annotator1", "annotator2", "annotator3"]\n'
        'codes = { "1" = "a", "2" = "b", "0" = "tie" }\n'
        'prompt_columns = ["instruction", "input"]\nresponse_columns = ["response1", "response2"]\n'
        'model_key = "cmp_key"\n\n[policy]\nmin_margin = 1\n'
    )
    config = load_config(cfg)
    assert config["policy"] == {"min_margin": 1}  # other tables are passed through
    data = pq.read(pandalm_dir / "testset-v1.json", **config["read"])
    assert (data.n_judgments, data.n_comparisons, data.n_prompts) == (2997, 999, 170)


@pytest.mark.parametrize("body, match", [
    ('[read]\nformt = "wide"\n', r"unknown key `read\.formt`; known keys: \['annotator_codes'"),
    ('[read]\nformat = "excel"\n', r"`read\.format` must be one of \['auto', 'prefqa'.*; got 'excel'"),
    ('[read]\nresponse_columns = ["a"]\n', r"`read\.response_columns` must be a list of two column names; got \['a'\]"),
    ('[read]\ncodes = { "1" = "first" }\n', r"`read\.codes` must be a table of cell value -> 'a' / 'b' / 'tie'"),
    ('[read\nformat = 1\n', r"not valid TOML"),
    ('[read]\nduplicates = "first"\n', r"`read\.duplicates` must be 'keep' or 'drop'; got 'first'"),
])
def test_config_errors_name_the_key(tmp_path: Path, body: str, match: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(body)
    with pytest.raises(SchemaError, match=match):
        load_config(cfg)


def test_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"config file not found"):
        load_config(tmp_path / "none.toml")


def test_bundled_sample_loads_with_its_ratings() -> None:
    from prefqa.io._writer import _sample_path

    if not _sample_path().exists():
        pytest.skip("sample_data/sample.jsonl.gz not generated yet")
    data = pq.load_sample()
    report = data.load_report
    assert report.format == "prefqa" and report.n_rows == report.n_rows_used == data.n_judgments > 10_000
    assert data.ratings is not None and report.n_ratings == data.n_ratings > 0
    assert report.n_repeats > 0  # the sample re-judges some comparisons in swapped order
