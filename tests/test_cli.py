"""The prefqa command line, in-process: audit, export, sample, --version, one-line errors."""

from __future__ import annotations

import gzip
import json

import jsonschema
import pytest

import prefqa as pq
from prefqa.audit._json import load_schema
from prefqa.cli import main

HTML_SECTIONS = ("findings", "reliability", "annotators", "bradley_terry", "length_bias", "prompts", "pairs")
PANDALM_TOML = """
[read]
format = "wide"
prompt_columns = ["instruction", "input"]
response_columns = ["response1", "response2"]
model_key = "cmp_key"
id_column = "idx"

[read.codes]
"1" = "a"
"2" = "b"
"0" = "tie"

[pairs]
ties = "drop"

[audit]
n_resamples = 20
skip = ["preference_model"]
"""


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("prefqa: error: ")
    assert "Traceback" not in err
    return lines[0]


def _check_report(out_dir) -> dict:
    content = json.loads((out_dir / "report.json").read_text())
    jsonschema.validate(content, load_schema())
    html = (out_dir / "report.html").read_text()
    for name in HTML_SECTIONS:
        assert f"id='{name}'" in html
    return content


FAST_TOML = "[audit]\nn_resamples = 20\nskip = [\"preference_model\"]\n"  # the mixed model is tested in test_audit


@pytest.fixture(scope="module")
def fast_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "fast.toml"
    path.write_text(FAST_TOML)
    return str(path)


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "sample.jsonl.gz"
    assert main(["sample", "--out", str(path)]) == 0
    return path


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"prefqa {pq.__version__}"


def test_audit_sample_writes_reports(sample_file, fast_config, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["audit", str(sample_file), "--out", str(out), "--no-progress", "--config", fast_config]) == 0
    printed = capsys.readouterr().out
    assert "Findings:" in printed and "report.html" in printed
    content = _check_report(out)
    assert content["input"]["source"] == str(sample_file)
    assert content["sections"]["load_report"]["status"] == "ok"
    assert content["sections"]["reliability"]["status"] == "ok"


@pytest.mark.slow
def test_audit_pandalm_with_toml_config(pandalm_dir, tmp_path):
    cfg = tmp_path / "prefqa.toml"
    cfg.write_text(PANDALM_TOML)
    out = tmp_path / "pandalm"
    argv = ["audit", str(pandalm_dir / "testset-v1.json"), "--config", str(cfg), "--out", str(out),
            "--no-progress"]
    assert main(argv) == 0
    content = _check_report(out)
    assert content["input"]["n_judgments"] == 2997  # SOURCE.md: 999 items x 3 annotators
    assert content["input"]["n_models"] == 5
    assert content["config"]["read"]["model_key"] == "cmp_key"
    s = content["sections"]
    assert s["reliability"]["status"] == "ok" and s["bradley_terry"]["status"] == "ok"


def test_audit_hh_says_what_was_skipped(hh_path, fast_config, tmp_path):
    out = tmp_path / "hh"
    assert main(["audit", str(hh_path), "--out", str(out), "--no-progress", "--config", fast_config]) == 0
    content = _check_report(out)
    s = content["sections"]
    assert "no annotator ids" in s["reliability"]["reason"]
    assert "display order is unknown" in s["position_bias"]["reason"]
    assert "no model ids" in s["bradley_terry"]["reason"]
    assert s["pairs"]["status"] == "ok"


def test_export_dpo_with_policy_flags(sample_file, tmp_path):
    out = tmp_path / "pairs.jsonl"
    assert main(["export", str(sample_file), "--to", "dpo", "--out", str(out), "--flagged", "drop",
                 "--exclude-annotators", "nobody,else", "--no-progress"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {"prompt", "chosen", "rejected"} <= set(rows[0])
    assert any(p.name != out.name and p.name.startswith("pairs") for p in tmp_path.iterdir())  # manifest


def test_missing_file(tmp_path, capsys):
    assert main(["audit", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in _error_line(capsys)


def test_malformed_jsonl_line_names_its_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    good = json.dumps({"comparison_id": "c1", "annotator_id": "x", "choice": "a"})
    bad.write_text(good + "\n" + good.replace("c1", "c2") + "\n{not json\n")
    assert main(["audit", str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "line 3" in _error_line(capsys)


def test_unknown_format(sample_file, capsys):
    assert main(["audit", str(sample_file), "--format", "nonsense"]) == 2
    assert "nonsense" in _error_line(capsys)


def test_unknown_column_in_map(sample_file, capsys):
    assert main(["audit", str(sample_file), "--map", "no_such_column=annotator_id", "--no-progress"]) == 2
    assert "no_such_column" in _error_line(capsys)


def test_bad_map_syntax_and_unknown_command(capsys):
    assert main(["audit", "x.jsonl", "--map", "oops"]) == 2
    assert "COLUMN=CANONICAL" in _error_line(capsys)
    assert main(["frobnicate"]) == 2
    _error_line(capsys)


def test_debug_shows_traceback(tmp_path, capsys):
    assert main(["--debug", "audit", str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("prefqa: error: ")


def test_bad_config_file(sample_file, tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[audit]\nn_resamples = 'many'\n")
    assert main(["audit", str(sample_file), "--config", str(cfg), "--no-progress"]) == 2
    assert "n_resamples" in _error_line(capsys)
