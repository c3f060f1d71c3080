"""Reader errors name file, line, column, the values found and the fix; on_error='skip' accounts for rows."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

import prefqa as pq
from prefqa.errors import PrefqaError, SchemaError

CANON_HEADER = "comparison_id,annotator_id,choice,prompt,response_a,response_b\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(tmp_path: Path, lines: list[str], name: str = "d.jsonl") -> Path:
    return _write(tmp_path / name, "\n".join(lines) + "\n")


GOOD = '{"comparison_id": "c%d", "annotator_id": "w1", "choice": "a", "prompt": "p", "response_a": "x", "response_b": "y"}'


def test_malformed_json_line_names_file_and_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, [GOOD % 1, GOOD % 2, '{"comparison_id": "c3", "choice": "a"', GOOD % 4])
    with pytest.raises(SchemaError, match=r"d\.jsonl, line 3: malformed JSON .*on_error='skip'"):
        pq.read(path)
    data = pq.read(path, on_error="skip")
    report = data.load_report
    assert (report.n_rows, report.n_rows_used, report.n_rejected) == (4, 3, 1)
    assert report.rejected["line"].tolist() == [3]
    assert "malformed JSON" in report.rejected["reason"].iloc[0]
    assert data.judgments["comparison_id"].tolist() == ["c1", "c2", "c4"]


def test_malformed_line_in_gzip_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join([GOOD % 1, "", GOOD % 2, "not json", GOOD % 3]) + "\n")
    with pytest.raises(SchemaError, match=r"d\.jsonl\.gz, line 4: malformed JSON"):
        pq.read(path)


def test_non_object_json_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, [GOOD % 1, "[1, 2]"])
    with pytest.raises(SchemaError, match=r"line 2: expected a JSON object per line, found a JSON list"):
        pq.read(path)


def test_unknown_choice_names_line_column_values_and_fix(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", CANON_HEADER + "c1,w1,a,p,x,y\nc2,w1,maybe,p,x,z\nc3,w2,??,p,x,w\nc4,w2,maybe,p,x,v\n")
    with pytest.raises(SchemaError, match=r"d\.csv, line 3, column 'choice': unknown choice value .*"
                                          r"found 'maybe' \(2 rows\), '\?\?' \(1 rows\) \(lines 3, 4, 5\)\. "
                                          r"say which of 'a', 'b', 'tie' each value means: mapping=") as info:
        pq.read(path)
    assert info.value.fix == {"map_value": {"choice": {"??": "<a|b|tie>", "maybe": "<a|b|tie>"}}}
    data = pq.read(path, on_error="skip")
    assert data.load_report.rejected["line"].tolist() == [3, 4, 5]
    assert data.load_report.n_rows_used == 1 and data.load_report.n_rows == 4


def test_unknown_choice_line_counts_multiline_csv_records(tmp_path: Path) -> None:
    text = CANON_HEADER + 'c1,w1,a,"a prompt\nover two lines",x,y\nc2,w1,nope,p,x,y\n'
    with pytest.raises(SchemaError, match=r"line 4, column 'choice'"):
        pq.read(_write(tmp_path / "d.csv", text))


def test_unknown_choice_reports_the_source_column_name(tmp_path: Path) -> None:
    frame = pd.DataFrame({"comparison_id": ["c1"], "annotator_id": ["w"], "verdict": ["maybe"]})
    with pytest.raises(SchemaError, match=r"row 1, column 'verdict': unknown choice value"):
        pq.read(frame, mapping={"verdict": "choice"})


def test_missing_required_columns_lists_found_and_suggests_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "comparison_id,rater,choice\nc1,w1,a\n")
    with pytest.raises(SchemaError, match=r"format 'prefqa' needs column\(s\) \['annotator_id'\]; found "
                                          r"\['comparison_id', 'rater', 'choice'\].*mapping=\{'<your column>': 'annotator_id'\}"):
        pq.read(path)
    assert pq.read(path, mapping={"rater": "annotator_id"}).n_annotators == 1


def test_empty_file(tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.csv", "e.json"):
        with pytest.raises(SchemaError, match=rf"{name} is empty: it holds no data rows"):
            pq.read(_write(tmp_path / name, ""))
    with pytest.raises(SchemaError, match=r"is empty"):
        pq.read(_write(tmp_path / "header_only.csv", CANON_HEADER))


def test_unknown_format_lists_formats() -> None:
    frame = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["w"], "choice": ["a"]})
    with pytest.raises(SchemaError, match=r"unknown `format` 'dpo'; use 'auto' or one of \['prefqa', 'trl', 'hh', "
                                          r"'wide', 'ratings', 'rankings', 'arena', 'openai'\]"):
        pq.read(frame, format="dpo")


def test_undetectable_and_ambiguous_formats() -> None:
    with pytest.raises(SchemaError, match=r"cannot detect the format from the columns \['foo', 'bar'\].*format='\.\.\.'"):
        pq.read(pd.DataFrame({"foo": [1], "bar": [2]}))
    both = pd.DataFrame({"comparison_id": ["c"], "choice": ["a"], "chosen": ["x"], "rejected": ["y"]})
    with pytest.raises(SchemaError, match=r"fit more than one format: \['prefqa', 'trl'\]\. Pass format="):
        pq.read(both)
    assert pq.read(both, format="trl").load_report.format == "trl"


def test_bad_arguments(tmp_path: Path) -> None:
    frame = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["w"], "choice": ["a"]})
    with pytest.raises(SchemaError, match=r"`on_error` must be 'raise' or 'skip'; got 'ignore'"):
        pq.read(frame, on_error="ignore")
    with pytest.raises(SchemaError, match=r"`source` must be a file path or a pandas DataFrame; got list"):
        pq.read([1, 2])
    with pytest.raises(SchemaError, match=r"option\(s\) \['annotator_columns'\] do not apply to format 'prefqa'"):
        pq.read(frame, format="prefqa", annotator_columns=["x"])
    with pytest.raises(SchemaError, match=r"`mapping` renames column\(s\) \['rater'\] that are not in the data"):
        pq.read(frame, mapping={"rater": "annotator_id"})
    with pytest.raises(SchemaError, match=r"would give two columns the name\(s\) \['choice'\]"):
        pq.read(frame.assign(verdict="b"), mapping={"verdict": "choice"})
    with pytest.raises(SchemaError, match=r"no such file: '.*nope\.jsonl'"):
        pq.read("nope.jsonl")
    with pytest.raises(SchemaError, match=r"cannot tell the file type .* from its suffix '\.txt'"):
        pq.read(_write(tmp_path / "notes.txt", "comparison_id\n"))


def test_ragged_csv_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", CANON_HEADER + "c1,w1,a,p,x,y\nc2,w1,b,p,x,y,EXTRA\nc3,w1,a,p,x,y\n")
    with pytest.raises(SchemaError, match=r"d\.csv, line 3: expected 6 fields like the header, found 7"):
        pq.read(path)
    data = pq.read(path, on_error="skip")
    assert data.load_report.rejected["line"].tolist() == [3] and data.n_judgments == 2


def test_json_array_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"line 1, column 8: malformed JSON"):
        pq.read(_write(tmp_path / "a.json", '[{"a": }]'))
    with pytest.raises(SchemaError, match=r"holds a JSON object, not an array of records \(keys \['data'\]\).*'data'"):
        pq.read(_write(tmp_path / "b.json", '{"data": []}'))


def test_wide_errors(tmp_path: Path) -> None:
    frame = pd.DataFrame({"prompt": ["p", "q"], "response1": ["x", "y"], "response2": ["z", "w"],
                          "annotator1": [1, 7], "annotator2": [None, None], "pair": ["m1_m2", "m1-m2"]})
    with pytest.raises(SchemaError, match=r"row 2, column 'annotator1': value\(s\) with no code: '7' \(1 cells\)"):
        pq.read(frame)
    with pytest.raises(SchemaError, match=r"`annotator_columns` names column\(s\) \['rater9'\] that are not in the data"):
        pq.read(frame, format="wide", annotator_columns=["rater9"])
    with pytest.raises(SchemaError, match=r"`codes` maps to values other than 'a', 'b', 'tie': \{1: 'first'\}"):
        pq.read(frame, format="wide", codes={1: "first"})
    data = pq.read(frame, on_error="skip", model_key="pair")
    report = data.load_report
    # row 2: its only cell is bad and its model key does not split -> rejected once, with a reason
    assert (report.n_rows, report.n_rows_used, report.n_rejected) == (2, 1, 1)
    assert report.rejected["line"].tolist() == [2]
    assert data.judgments["model_a"].tolist() == ["m1"]


def test_trl_null_response_rejected(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, ['{"prompt": "p", "chosen": "x", "rejected": null}', '{"prompt": "q", "chosen": "x", "rejected": "y"}'])
    with pytest.raises(SchemaError, match=r"line 1, column 'rejected': response is missing \(null\).*an empty string is a valid"):
        pq.read(path)
    data = pq.read(path, on_error="skip")
    assert data.load_report.n_rejected == 1 and data.n_judgments == 1


def test_repeats_are_counted_and_kept() -> None:
    frame = pd.DataFrame({"comparison_id": ["c1", "c1", "c1", "c2"], "annotator_id": ["w", "w", "v", "v"],
                          "choice": ["a", "b", "a", "tie"]})
    data = pq.read(frame)
    assert data.load_report.n_repeats == 1 and data.n_judgments == 4
    assert any("repeat" in n for n in data.load_report.notes)
    assert data.load_report.n_duplicates == 0  # c1 by w twice, but with different choices


def test_load_sample_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import prefqa.io._writer as writer

    monkeypatch.setattr(writer, "_sample_path", lambda: tmp_path / "sample.jsonl.gz")
    with pytest.raises(PrefqaError, match=r"the bundled sample is missing: expected .*sample\.jsonl\.gz"):
        pq.load_sample()


def test_schema_errors_name_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", CANON_HEADER + "c1,w1,a,p,x,y\nc1,w2,a,p,x,z\n")
    with pytest.raises(SchemaError, match=r"d\.csv: 1 comparison\(s\) have judgments over different response pairs"):
        pq.read(path)


def test_id_column_and_model_columns() -> None:
    frame = pd.DataFrame({"uid": [10, 11], "prompt": ["p", "q"], "chosen": ["x", "y"], "rejected": ["z", "w"]})
    assert pq.read(frame, id_column="uid").judgments["comparison_id"].tolist() == ["10", "11"]
    with pytest.raises(SchemaError, match=r"`id_column` 'idx' is not a column; found \['uid', 'prompt'"):
        pq.read(frame, id_column="idx")
    wide = pd.DataFrame({"response_a": ["x"], "response_b": ["y"], "left": ["m1"], "right": ["m2"], "rater1": ["b"]})
    data = pq.read(wide, model_columns=["left", "right"])
    assert (data.judgments["model_a"].item(), data.judgments["choice"].item()) == ("m1", "b")
