"""The prefqa command line, in-process: audit, export, sample, --version, one-line errors.

Speed: the bundled sample, PandaLM (with its GPT-3.5 judge) and HH-RLHF are each audited once per
module through the CLI with light settings, and the tests assert on those reports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

import prefqa as pq
from prefqa.audit._findings import EFFECT_MEDIUM
from prefqa.audit._json import load_schema
from prefqa.cli import main
from prefqa.io._writer import SAMPLE_PATH

PLANTED = Path(SAMPLE_PATH).parent / "planted_annotators.csv"
HTML_SECTIONS = ("findings", "reliability", "annotators", "bradley_terry", "length_bias", "prompts", "pairs")
# the mixed model is tested in test_audit; light bootstrap settings keep the CLI runs fast
FAST_TOML = '[audit]\nn_resamples = 20\nskip = ["preference_model"]\n'
PANDALM_TOML = """
[read]
format = "wide"
on_error = "skip"
id_column = "idx"
prompt_columns = ["instruction", "input"]
response_columns = ["response1", "response2"]
model_key = "cmp_key"
annotator_columns = ["annotator1", "annotator2", "annotator3", "gpt35"]
annotator_kinds = { gpt35 = "llm" }
annotator_codes = { gpt35 = { "1" = "a", "2" = "b", "Tie" = "tie" } }

[read.codes]
"1" = "a"
"2" = "b"
"0" = "tie"

[read.mapping]
gpt_result = "gpt35"

[pairs]
ties = "drop"

[audit]
n_resamples = 20
skip = ["preference_model"]
"""
# ../shared/data/pandalm_testset/SOURCE.md: 999 items x 3 annotators; GPT-3.5 verdicts
# {2: 476, 1: 460, Tie: 38, garbage: 25}
PANDALM_HUMAN_JUDGMENTS = 2997
PANDALM_GPT_JUDGMENTS = 476 + 460 + 38
PANDALM_GARBAGE = 25
KAPPA_RANGE = (0.0, 1.0)


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


@pytest.fixture(scope="module")
def fast_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "fast.toml"
    path.write_text(FAST_TOML)
    return str(path)


@pytest.fixture(scope="module")
def sample_report(fast_config, tmp_path_factory):
    """`prefqa audit` once on the real bundled sample (prefqa/sample_data/sample.jsonl.gz)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("sample-report")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["audit", str(SAMPLE_PATH), "--out", str(out), "--no-progress", "--config", fast_config])
    return code, printed.getvalue(), out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"prefqa {pq.__version__}"


def test_sample_command_writes_the_sample(tmp_path, capsys):
    path = tmp_path / "sample.csv"
    assert main(["sample", "--out", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    assert pq.read(path).n_judgments == pq.load_sample().n_judgments


def test_audit_sample_writes_reports(sample_report):
    code, printed, out = sample_report
    assert code == 0
    assert "Findings:" in printed and "report.html" in printed
    content = _check_report(out)
    assert content["input"]["source"] == str(SAMPLE_PATH)
    assert content["sections"]["load_report"]["status"] == "ok"
    assert content["sections"]["reliability"]["status"] == "ok"
    assert content["config"]["audit"]["n_resamples"] == 20


def test_sample_findings_name_the_planted_annotators_and_length_bias(sample_report):
    # planted (prefqa/sample_data/README.md, planted_annotators.csv): 2 spammers, 1 always-a,
    # 3 position-biased, 3 length-biased annotators; global length effect 0.5; 60 ambiguous prompts
    _, _, out = sample_report
    content = json.loads((out / "report.json").read_text())
    planted = pd.read_csv(PLANTED).set_index("annotator_id")["kind"]
    assert len(planted) == 9
    named: dict[str, set[str]] = {}
    for f in content["findings"]:
        if f["code"].startswith("annotators_"):
            ids = f["command"].split("--exclude-annotators ")[1].strip("'").split(",")
            named[f["code"]] = set(ids)
            for i in ids:  # every id is named in the message too (up to 8 per finding)
                assert i in f["message"] or len(ids) > 8
    every = set().union(*named.values())
    assert set(planted.index) <= every, (sorted(set(planted.index) - every), named)
    assert set(planted[planted == "position"].index) | {"ann-029"} <= named["annotators_position"]  # ann-029: always-a
    assert set(planted[planted == "length"].index) <= named["annotators_length"]
    codes = [f["code"] for f in content["findings"]]
    assert "length_bias" in codes
    length = next(f for f in content["findings"] if f["code"] == "length_bias")
    est = content["sections"]["length_bias"]["result"]["values"]["estimate"]
    assert f"wins {100 * est:.0f}% of" in length["message"] and est > 0.5
    # no dataset-wide position effect was planted: the 4 annotators who lean to the first response
    # make a small overall lean, reported as "low" (less than EFFECT_MEDIUM from one half)
    position = [f for f in content["findings"] if f["code"] == "position_bias"]
    assert all(f["severity"] == "low" and abs(f["value"] - 0.5) < EFFECT_MEDIUM for f in position)


@pytest.mark.slow
def test_audit_pandalm_with_llm_judge_from_toml_config(pandalm_dir, tmp_path):
    test = pd.DataFrame(json.loads((pandalm_dir / "testset-v1.json").read_text()))
    gpt = pd.DataFrame(json.loads((pandalm_dir / "gpt-3.5-turbo-testset-v1.json").read_text()))
    joined = tmp_path / "pandalm-with-gpt35.json"
    joined.write_text(test.merge(gpt[["idx", "gpt_result"]], on="idx").to_json(orient="records"))
    cfg = tmp_path / "prefqa.toml"
    cfg.write_text(PANDALM_TOML)
    out = tmp_path / "pandalm"
    assert main(["audit", str(joined), "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    content = _check_report(out)
    assert content["input"]["n_judgments"] == PANDALM_HUMAN_JUDGMENTS + PANDALM_GPT_JUDGMENTS
    assert content["input"]["n_models"] == 5
    assert content["config"]["read"]["model_key"] == "cmp_key"
    assert content["config"]["read"]["annotator_kinds"] == {"gpt35": "llm"}
    s = content["sections"]
    assert s["reliability"]["status"] == "ok" and s["bradley_terry"]["status"] == "ok"
    # the 25 'garbage' verdicts are listed in the load report section, and a finding says so
    lr = s["load_report"]["result"]
    assert lr["values"]["n_rejected_values"] == PANDALM_GARBAGE
    assert lr["rejected_value_counts"] == [{"column": "gpt35", "value": "garbage", "n": PANDALM_GARBAGE}]
    assert len(lr["rejected_values"]) == PANDALM_GARBAGE
    cells = next(f for f in content["findings"] if f["code"] == "cells_rejected")
    assert cells["value"] == PANDALM_GARBAGE and "25 x 'garbage' in column 'gpt35'" in cells["message"]
    # the judge step: GPT-3.5's kappa against the human consensus and its position/length figures
    assert s["judge"]["status"] == "ok"
    rows = {r["annotator_id"]: r for r in s["judge"]["result"]["tables"]["table"]["rows"]}
    g = rows["gpt35"]
    assert g["kind"] == "judge" and {r["kind"] for k, r in rows.items() if k != "gpt35"} == {"human"}
    assert g["n_judgments"] == PANDALM_GPT_JUDGMENTS
    assert KAPPA_RANGE[0] < g["kappa_ci_low"] < g["kappa"] < g["kappa_ci_high"] < KAPPA_RANGE[1]
    assert g["p_a"] is not None and g["length_slope"] is not None
    judge = next(f for f in content["findings"] if f["code"] == "judge_vs_humans")
    assert judge["value"] == g["kappa"]
    assert f"kappa {g['kappa']:.2f}" in judge["message"]
    assert f"first-shown response in {100 * g['p_a']:.0f}%" in judge["message"]
    assert f"length slope {g['length_slope']:.2f}" in judge["message"]
    html = (out / "report.html").read_text()
    assert "id='judge'" in html and "Rejected cells" in html and "garbage" in html


def test_audit_hh_says_what_was_skipped(hh_path, fast_config, tmp_path):
    out = tmp_path / "hh"
    assert main(["audit", str(hh_path), "--out", str(out), "--no-progress", "--config", fast_config]) == 0
    content = _check_report(out)
    s = content["sections"]
    assert "no annotator ids" in s["reliability"]["reason"]
    assert "display order is unknown" in s["position_bias"]["reason"]
    assert "no model ids" in s["bradley_terry"]["reason"]
    assert s["pairs"]["status"] == "ok"


def test_export_dpo_with_policy_flags(tmp_path):
    out = tmp_path / "pairs.jsonl"
    assert main(["export", str(SAMPLE_PATH), "--to", "dpo", "--out", str(out), "--flagged", "drop",
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


def test_unknown_format(capsys):
    assert main(["audit", str(SAMPLE_PATH), "--format", "nonsense"]) == 2
    assert "nonsense" in _error_line(capsys)


def test_unknown_column_in_map(capsys):
    assert main(["audit", str(SAMPLE_PATH), "--map", "no_such_column=annotator_id", "--no-progress"]) == 2
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


def test_bad_config_file(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[audit]\nn_resamples = 'many'\n")
    assert main(["audit", str(SAMPLE_PATH), "--config", str(cfg), "--no-progress"]) == 2
    assert "n_resamples" in _error_line(capsys)


def test_wrong_read_key_in_config_names_the_key(tmp_path, capsys):
    cfg = tmp_path / "bad-read.toml"
    cfg.write_text('[read]\nformat = "wide"\nanotator_columns = ["a1"]\n')
    assert main(["audit", str(SAMPLE_PATH), "--config", str(cfg), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert re.search(r"bad-read\.toml: unknown key `read\.anotator_columns`; known keys: .*'annotator_columns'",
                     line), line
    cfg.write_text('[read]\ncodes = { "1" = "first" }\n')
    assert main(["export", str(SAMPLE_PATH), "--to", "dpo", "--out", str(tmp_path / "x.jsonl"),
                 "--config", str(cfg), "--no-progress"]) == 2
    assert "`read.codes` must be a table of cell value -> 'a' / 'b' / 'tie'" in _error_line(capsys)


# ---------------------------------------------------------------- issue 12: CLI parity flags

CODED = """comparison_id,annotator_id,choice,prompt,response_a,response_b
c1,x,1,Q1,A1,B1
c1,y,1,Q1,A1,B1
c2,x,2,Q2,A2,B2
c2,y,2,Q2,A2,B2
c3,x,0,Q3,A3,B3
c3,y,0,Q3,A3,B3
"""


def _csv(tmp_path, text: str, name: str = "j.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def _manifest(path) -> dict:
    return json.loads(Path(str(path) + ".manifest.json").read_text())


def test_map_value_gives_numeric_codes_a_meaning(tmp_path, capsys):
    src, out = _csv(tmp_path, CODED), tmp_path / "x.jsonl"
    assert main(["export", src, "--to", "dpo", "--out", str(out), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "--map-value choice:1=a" in line and "mapping=" not in line, line  # the fix in CLI terms
    assert main(["export", src, "--to", "dpo", "--out", str(out), "--no-progress", "--map-value", "choice:1=a",
                 "--map-value", "choice:2=b", "--map-value", "choice:0=tie"]) == 0
    assert [(r["prompt"], r["chosen"]) for r in _rows(out)] == [("Q1", "A1"), ("Q2", "B2")]
    assert _manifest(out)["dropped"]["by_reason"] == {"tie": 1}


def test_map_and_map_value_together_and_bad_syntax(tmp_path, capsys):
    src = _csv(tmp_path, CODED.replace("choice", "verdict"))
    out = tmp_path / "x.jsonl"
    assert main(["export", src, "--to", "dpo", "--out", str(out), "--no-progress", "--map", "verdict=choice",
                 "--map-value", "choice:1=a", "--map-value", "choice:2=b", "--map-value", "choice:0=tie"]) == 0
    assert len(_rows(out)) == 2
    assert main(["export", src, "--to", "dpo", "--out", str(out), "--map-value", "choice=1"]) == 2
    assert "COLUMN:FROM=TO" in _error_line(capsys)
    assert main(["export", src, "--to", "dpo", "--out", str(out), "--no-progress", "--map", "verdict=choice",
                 "--map-value", "verdict:1=a"]) == 2
    assert "--map-value choice:1=a" in _error_line(capsys)


def test_on_error_skip_lists_bad_rows_instead_of_failing(tmp_path, capsys):
    src = _csv(tmp_path, CODED.replace(",1,", ",a,").replace(",2,", ",b,").replace(",0,", ",maybe,"))
    out = tmp_path / "x.jsonl"
    assert main(["export", src, "--to", "dpo", "--out", str(out), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "--on-error skip" in line and "on_error=" not in line and "'maybe'" in line, line
    assert main(["export", src, "--to", "dpo", "--out", str(out), "--no-progress", "--on-error", "skip"]) == 0
    assert len(_rows(out)) == 2 and _manifest(out)["input"]["n_units"] == 2  # c3's two rows rejected by the reader


def test_duplicates_drop_removes_exact_duplicate_rows(tmp_path, capsys):
    text = CODED.replace(",1,", ",a,").replace(",2,", ",b,").replace(",0,", ",tie,")
    src = _csv(tmp_path, text + "c1,x,a,Q1,A1,B1\n")  # an exact copy of line 2
    kept, dropped = tmp_path / "keep.jsonl", tmp_path / "drop.jsonl"
    assert main(["export", src, "--to", "dpo", "--out", str(kept), "--no-progress"]) == 0
    printed = capsys.readouterr().out  # the load report, in CLI terms
    assert "1 rows are exact duplicates of an earlier row, kept" in printed and "--duplicates drop" in printed
    assert "duplicates='drop'" not in printed
    assert main(["export", src, "--to", "dpo", "--out", str(dropped), "--no-progress", "--duplicates", "drop"]) == 0
    assert _manifest(kept)["input"]["n_judgments"] == 7
    assert _manifest(dropped)["input"]["n_judgments"] == 6


def test_tie_label_makes_kto_with_ties_work(tmp_path, capsys):
    text = CODED.replace(",1,", ",a,").replace(",2,", ",b,").replace(",0,", ",tie,")
    src, out = _csv(tmp_path, text), tmp_path / "k.jsonl"
    args = ["export", src, "--to", "kto", "--out", str(out), "--no-progress", "--ties", "keep_as_kto"]
    assert main(args) == 2
    line = _error_line(capsys)
    assert "--tie-label true" in line and "--tie-label false" in line and "--ties drop" in line, line
    assert "tie_label=" not in line and "ties='drop'" not in line
    assert not out.parent.joinpath("k.jsonl").exists()
    assert main(args + ["--tie-label", "false"]) == 0
    rows = _rows(out)
    assert len(rows) == 6 and [r["label"] for r in rows if r["prompt"] == "Q3"] == [False, False]
    assert main(args + ["--tie-label", "maybe"]) == 2
    assert "true" in _error_line(capsys)


def test_all_empty_prompts_refused_unless_allowed(tmp_path, capsys):
    text = CODED.replace(",1,", ",a,").replace(",2,", ",b,").replace(",0,", ",a,")
    src = _csv(tmp_path, text.replace(",Q1,", ",,").replace(",Q2,", ",,").replace(",Q3,", ",,"))
    out = tmp_path / "x.jsonl"
    assert main(["export", src, "--to", "dpo", "--out", str(out), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "--allow-empty-prompts" in line and "allow_empty_prompts" not in line, line
    assert not out.exists()
    assert main(["export", src, "--to", "dpo", "--out", str(out), "--no-progress", "--allow-empty-prompts"]) == 0
    err = capsys.readouterr().err
    assert "prefqa: warning: 3 of 3 exported rows have an empty prompt (allowed by --allow-empty-prompts)" in err
    assert _manifest(out)["output"]["n_empty_prompts"] == 3


def test_export_creates_folders_and_prints_kept_and_dropped_by_reason(tmp_path, capsys):
    text = CODED.replace(",1,", ",a,").replace(",2,", ",b,").replace(",0,", ",tie,")
    src = _csv(tmp_path, text + "c4,x,a,Q4,same,same\nc5,x,a,Q5,A5,B5\nc5,y,b,Q5,A5,B5\n")
    out = tmp_path / "new" / "deeper" / "x.jsonl"
    assert main(["export", src, "--to", "dpo", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert out.exists() and Path(str(out) + ".manifest.json").exists()
    assert "5 input comparisons -> 2 pairs kept, 3 dropped." in printed
    for code in ("tie", "no_majority", "identical"):
        assert re.search(rf"^\s+1\s+{code}: ", printed, flags=re.MULTILINE), printed
    assert "(--ties drop)" in printed  # reason text in CLI terms
    # a failed export removes the folders it created
    bad = tmp_path / "other" / "k.jsonl"
    assert main(["export", src, "--to", "kto", "--ties", "keep_as_kto", "--out", str(bad), "--no-progress"]) == 2
    assert not (tmp_path / "other").exists()
    capsys.readouterr()
    assert main(["export", src, "--to", "dpo", "--out", str(tmp_path / "zz" / "x.csv"), "--no-progress"]) == 2
    assert "'.jsonl'" in _error_line(capsys) and not (tmp_path / "zz").exists()


def test_sample_creates_its_folder(tmp_path):
    out = tmp_path / "a" / "b" / "sample.parquet"
    assert main(["sample", "--out", str(out)]) == 0
    assert out.exists()


def test_help_lists_the_valid_values_of_every_choice(capsys):
    assert main(["export", "--help"]) == 0
    text = capsys.readouterr().out
    from prefqa.export import FORMATS as EXPORT_FORMATS
    from prefqa.io import FORMATS as READ_FORMATS
    from prefqa.pairs import REASONS

    for values in (READ_FORMATS, EXPORT_FORMATS, ("keep_as_kto", "drop"), ("keep", "drop", "downweight"),
                   ("majority", "dawid_skene", "model"), ("raise", "skip"), ("near_identical", "truncation"),
                   ("subsample", "reweight"), tuple(REASONS)):
        missing = [v for v in values if v not in text]
        assert not missing, missing
    for flag in ("--tie-label", "--on-error", "--duplicates", "--map-value", "--allow-empty-prompts"):
        assert flag in text
    assert main(["audit", "--help"]) == 0
    text = capsys.readouterr().out
    assert all(f in text for f in READ_FORMATS) and "--map-value" in text and "--on-error" in text


def test_read_flags_reach_the_audit(tmp_path, capsys):
    src = _csv(tmp_path, CODED)
    out = tmp_path / "rep"
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_TOML)
    args = ["audit", src, "--out", str(out), "--no-progress", "--config", str(cfg)]
    assert main(args) == 2
    assert "--map-value choice:1=a" in _error_line(capsys)
    assert main(args + ["--map-value", "choice:1=a", "--map-value", "choice:2=b", "--map-value", "choice:0=tie"]) == 0
    assert json.loads((out / "report.json").read_text())["input"]["n_judgments"] == 6


@pytest.mark.parametrize("message, stage, expected", [
    ("pass tie_label=True (both) or tie_label=False, or build with ties='drop'.", "export",
     "pass --tie-label true (both) or --tie-label false, or build with --ties drop."),
    ("`margin=True` adds a margin column to format='reward' only; got format='dpo'.", "export",
     "`--margin-column` adds a margin column to --to reward only; got --to dpo."),
    ("read a ratings file (format='ratings') or use policy=None", "pairs",
     "read a ratings file (--format ratings) or use no --policy"),
    ("Rename them, for example pq.read(source, mapping={'rater': 'annotator_id'}).", "read",
     "Rename them, for example --map rater=annotator_id."),
    ("pass length_balance=True or guards=('empty', 'truncation'); flagged='drop'", "pairs",
     "pass --length-balance or --guards empty,truncation; --flagged drop"),
    ("for the wide format, prompt_columns=[...]", "read",
     "for the wide format, `prompt_columns = [...]` in the [read] table of --config TOML"),
    ("x == y, a=b and n_resamples=5 stay", "read", "x == y, a=b and n_resamples=5 stay"),
])
def test_library_terms_become_flags(message, stage, expected):
    from prefqa.cli import cli_terms

    assert cli_terms(message, stage) == expected


def test_excel_input_through_the_cli(tmp_path):
    pytest.importorskip("openpyxl", reason="reading .xlsx needs openpyxl (the app and dev extras)")
    frame = pd.read_csv(_csv(tmp_path, CODED))
    src = tmp_path / "votes.xlsx"
    frame.to_excel(src, index=False)
    out = tmp_path / "x.jsonl"
    assert main(["export", str(src), "--to", "dpo", "--out", str(out), "--no-progress", "--map-value", "choice:1=a",
                 "--map-value", "choice:2=b", "--map-value", "choice:0=tie"]) == 0
    assert [(r["prompt"], r["chosen"]) for r in _rows(out)] == [("Q1", "A1"), ("Q2", "B2")]


def test_interrupt_is_one_line_without_traceback(monkeypatch, tmp_path, capsys):
    import prefqa.io

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prefqa.io, "read", interrupted)
    assert main(["export", _csv(tmp_path, CODED), "--to", "dpo", "--out", str(tmp_path / "x.jsonl"),
                 "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("prefqa: interrupted") and "Traceback" not in err
