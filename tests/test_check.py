"""``prefqa check``: gate parsing and evaluation (pure), then the command end to end on simulated batches.

The pure part pins the grammar (``METRIC OP VALUE``, percentages, ``_drop`` / ``_rise``, bare ``drift``),
the ``--strict`` rule (the whole interval on the passing side), the exit codes 0/1/2 and the JSON shape.
The command part runs ``prefqa check`` on a simulated delivery against a simulated baseline: a batch in
which a planted team with a strong position bias joined must fail ``p_first_rise`` and ``drift`` gates,
a batch from the same population must pass them, and errors must name the value found and the fix.
"""

from __future__ import annotations

import math

import pytest

from prefqa.cli._gates import (
    COUNTS,
    METRICS,
    Gate,
    Measure,
    evaluate,
    exit_code,
    known_gate_names,
    parse_gates,
    render_table,
    report,
)
from prefqa.errors import SchemaError


# ------------------------------------------------------------------ parsing
def test_the_metric_names_are_the_issue_names() -> None:
    # issue 14, item 1: the metric names of drift / compare; item 3: flagged_annotators, flagged_prompts
    assert list(METRICS) == ["alpha", "ac1", "p_first", "p_longer", "tie_rate", "flagged_share", "score_mean", "icc"]
    assert list(COUNTS) == ["flagged_annotators", "flagged_prompts"]
    from prefqa.drift import METRICS as LIBRARY_METRICS

    assert tuple(METRICS) == tuple(LIBRARY_METRICS)  # the gates name exactly what pq.drift / pq.compare compute
    assert "alpha_drop" in known_gate_names() and "icc_rise" in known_gate_names()


@pytest.mark.parametrize("text, expected", [
    ("alpha<0.67", ("alpha", "level", "<", 0.67, False)),
    ("  ac1 <= 0.5 ", ("ac1", "level", "<=", 0.5, False)),
    ("p_first>55%", ("p_first", "level", ">", 0.55, True)),
    ("tie_rate >= 12.5 %", ("tie_rate", "level", ">=", 0.125, True)),
    ("alpha_drop>0.1", ("alpha", "drop", ">", 0.1, False)),
    ("p_first_rise>5%", ("p_first", "rise", ">", 0.05, True)),
    ("flagged_share_rise>0.02", ("flagged_share", "rise", ">", 0.02, False)),
    ("flagged_annotators>=3", ("flagged_annotators", "count", ">=", 3.0, False)),
    ("flagged_prompts>10%", ("flagged_prompts", "share", ">", 0.1, True)),
    ("score_mean<-1e-1", ("score_mean", "level", "<", -0.1, False)),
    ("drift", ("drift", "drift", None, None, False)),
])
def test_parse_one_gate(text, expected) -> None:
    (g,) = parse_gates(text)
    metric, kind, op, threshold, percent = expected
    assert (g.metric, g.kind, g.op, g.percent) == (metric, kind, op, percent)
    assert g.threshold == (None if threshold is None else pytest.approx(threshold))
    assert g.text == text.strip()
    assert g.needs_baseline == (g.kind in ("drop", "rise", "drift"))


def test_parse_a_list_and_comma_separated_text() -> None:
    gates = parse_gates(["alpha<0.6, drift", "icc_drop>0.2"])
    assert [g.text for g in gates] == ["alpha<0.6", "drift", "icc_drop>0.2"]
    assert len(parse_gates("alpha<0.6,,drift,")) == 2


@pytest.mark.parametrize("text, match", [
    ("alpah<0.6", r"unknown metric 'alpah'\. Did you mean 'alpha'\?.*'alpha', 'ac1'"),
    ("kappa<0.6", r"unknown metric 'kappa'.*METRIC_drop.*'flagged_annotators'.*'drift'"),
    ("alpha=0.6", r"operator '=' is not supported; use one of \['<=', '>=', '<', '>'\]"),
    ("alpha==0.6", r"operator '==' is not supported"),
    ("alpha=>0.6", r"operator '=>' is not supported \(write '>='\)"),
    ("alpha!=0.6", r"operator '!=' is not supported"),
    ("alpha<", r"no value after '<'.*'alpha<0.5'"),
    ("alpha<abc", r"the value 'abc' is not a number.*'p_first>55%'"),
    ("alpha 0.6", r"has no operator.*'alpha<0.5'"),
    ("drift>1", r"'drift' takes no operator or value"),
    ("flagged_annotators_drop>1", r"flagged_annotators has no drop against the baseline"),
    ("flagged_prompts>-1", r"threshold must be >= 0, got -1"),
    ("", r"no gate given; pass --fail-on"),
    ("1alpha<2", r"not of the form METRIC OP VALUE"),
])
def test_parse_errors_name_the_value_and_the_fix(text, match) -> None:
    with pytest.raises(SchemaError, match=match):
        parse_gates(text)


# ------------------------------------------------------------------ evaluation
def _g(text: str) -> Gate:
    return parse_gates(text)[0]


@pytest.mark.parametrize("gate, value, status", [
    ("alpha<0.67", 0.66, "fail"), ("alpha<0.67", 0.67, "pass"), ("alpha<=0.67", 0.67, "fail"),
    ("p_first>55%", 0.56, "fail"), ("p_first>55%", 0.55, "pass"), ("p_first>=55%", 0.55, "fail"),
    ("alpha_drop>0.1", 0.1, "pass"), ("alpha_drop>0.1", 0.11, "fail"),
])
def test_a_gate_fails_when_the_estimate_crosses_the_threshold(gate, value, status) -> None:
    assert evaluate(_g(gate), Measure(value, value - 0.2, value + 0.2)).status == status


@pytest.mark.parametrize("gate, ci, status", [
    # fail-on alpha<0.67: passing side alpha >= 0.67; strict passes only if the CI lies wholly there
    ("alpha<0.67", (0.70, 0.68, 0.72), "pass"),
    ("alpha<0.67", (0.70, 0.66, 0.74), "fail"),
    ("alpha<0.67", (0.70, 0.67, 0.74), "pass"),     # the boundary 0.67 itself passes a '<' gate
    ("alpha<=0.67", (0.70, 0.67, 0.74), "fail"),   # ... and fails a '<=' gate
    ("p_first>55%", (0.52, 0.50, 0.549), "pass"),
    ("p_first>55%", (0.52, 0.50, 0.56), "fail"),
    ("alpha_drop>0.1", (0.05, -0.02, 0.12), "fail"),
    ("alpha_drop>0.1", (0.05, -0.02, 0.09), "pass"),
])
def test_strict_needs_the_whole_interval_on_the_passing_side(gate, ci, status) -> None:
    value, lo, hi = ci
    plain = evaluate(_g(gate), Measure(value, lo, hi))
    strict = evaluate(_g(gate), Measure(value, lo, hi), strict=True)
    assert plain.status == "pass"  # every case above passes on the estimate alone
    assert strict.status == status, strict.reason
    if status == "fail":
        assert "--strict" in strict.reason


def test_strict_without_an_interval_is_an_error_but_counts_are_exact() -> None:
    out = evaluate(_g("alpha<0.6"), Measure(0.8), strict=True)
    assert out.status == "error" and "no confidence interval" in out.reason
    assert evaluate(_g("flagged_annotators>=3"), Measure(2.0, exact=True), strict=True).status == "pass"
    assert evaluate(_g("flagged_annotators>=3"), Measure(3.0, exact=True), strict=True).status == "fail"


def test_a_gate_that_cannot_be_computed_is_an_error_with_the_reason() -> None:
    out = evaluate(_g("icc<0.5"), Measure(None, reason="no ratings in this file"))
    assert out.status == "error" and out.reason == "icc cannot be computed: no ratings in this file"
    nan = evaluate(_g("alpha<0.5"), Measure(math.nan))
    assert nan.status == "error"


def test_the_drift_gate_fails_on_any_change() -> None:
    g = _g("drift")
    assert evaluate(g, Measure(0.0, detail="nothing changed")).status == "pass"
    out = evaluate(g, Measure(2.0, detail="p_first is worse; team-1 is new and different"))
    assert out.status == "fail" and out.reason == "p_first is worse; team-1 is new and different"


def test_exit_codes() -> None:
    ok = evaluate(_g("alpha<0.5"), Measure(0.7, 0.6, 0.8))
    bad = evaluate(_g("alpha<0.5"), Measure(0.4, 0.3, 0.5))
    err = evaluate(_g("icc<0.5"), Measure(None, reason="no ratings"))
    assert exit_code([ok, ok]) == 0
    assert exit_code([ok, bad]) == 1
    assert exit_code([ok, bad, err]) == 2
    assert exit_code([]) == 0


def test_report_shape_and_table() -> None:
    outs = [evaluate(_g("alpha<0.5"), Measure(0.4, 0.3, 0.5)), evaluate(_g("icc<0.5"), Measure(None, reason="x")),
            evaluate(_g("p_first>55%"), Measure(0.5, 0.45, 0.55))]
    r = report(outs, data="batch.csv", baseline=None, strict=False)
    assert r["status"] == "error" and r["exit_code"] == 2
    assert (r["n_gates"], r["n_passed"], r["n_failed"], r["n_errors"]) == (3, 1, 1, 1)
    assert r["data"] == "batch.csv" and r["baseline"] is None
    assert [g["status"] for g in r["gates"]] == ["fail", "error", "pass"]
    assert set(r["gates"][0]) >= {"gate", "metric", "kind", "op", "threshold", "percent", "value", "ci_low",
                                  "ci_high", "status", "reason", "detail"}
    assert r["gates"][1]["value"] is None and r["gates"][2]["threshold"] == pytest.approx(0.55)
    table = render_table(outs).splitlines()
    assert table[0].split()[:4] == ["gate", "value", "CI", "result"]
    assert "FAIL" in table[1] and "ERROR" in table[2] and "PASS" in table[3]
    assert "[0.45, 0.55]" in table[3]


# ------------------------------------------------------------------ the command
import json  # noqa: E402

import prefqa as pq  # noqa: E402
from prefqa.simulate import Shift  # noqa: E402


@pytest.fixture
def cli():
    """The ``prefqa`` command line, in-process (``check`` and ``drift`` come from prefqa.cli._monitor)."""
    from prefqa.cli import main

    return main


def _split(data: pq.PreferenceData, tmp_path, name: str) -> tuple[str, str]:
    """Write window 0 (the baseline) and window 1 (the new delivery) of a two-window simulation."""
    batch = data.judgments["batch"].astype(str).to_numpy()
    base, new = tmp_path / f"{name}-base.csv", tmp_path / f"{name}-new.csv"
    pq.write(data.subset(batch == "batch-000"), base)
    pq.write(data.subset(batch == "batch-001"), new)
    return str(base), str(new)


SIM = {"n_prompts": 150, "n_annotators": 12, "n_windows": 2}


@pytest.fixture(scope="module")
def null_files(tmp_path_factory):
    data, _ = pq.simulate(**SIM, rng=21)  # the same annotators in both windows, nothing planted
    return _split(data, tmp_path_factory.mktemp("null"), "null")


@pytest.fixture(scope="module")
def shifted_files(tmp_path_factory):
    # every annotator leans toward the first-shown response from window 1: +1.5 logits (P(first) ~0.5 -> ~0.8)
    data, truth = pq.simulate(**SIM, drift=[Shift(window=1, position=1.5)], rng=22)
    assert list(truth.drift["window"]) == [1]
    return _split(data, tmp_path_factory.mktemp("shift"), "shift")


def _json(path) -> dict:
    return json.loads(open(path, encoding="utf-8").read())


def test_planted_position_shift_fails_and_the_null_batch_passes(cli, null_files, shifted_files, tmp_path,
                                                               capsys) -> None:
    gates = "p_first_rise>0.1, drift"
    base, new = shifted_files
    out = tmp_path / "shift.json"
    assert cli(["check", new, "--baseline", base, "--fail-on", gates, "--json", str(out), "--no-progress"]) == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "p_first_rise>0.1" in printed
    r = _json(out)
    assert r["status"] == "fail" and r["exit_code"] == 1
    rise = r["gates"][0]
    assert rise["status"] == "fail" and rise["value"] > 0.1 and rise["ci_low"] <= rise["value"] <= rise["ci_high"]
    assert r["gates"][1]["status"] == "fail" and "p_first" in r["gates"][1]["reason"]
    assert any(m["metric"] == "p_first" and m["verdict"] == "worse" for m in r["compare"])
    assert all(a["status"] in ("new", "gone", "changed") for a in r["annotators"])

    base, new = null_files
    out = tmp_path / "null.json"
    assert cli(["check", new, "--baseline", base, "--fail-on", gates, "--json", str(out), "--no-progress"]) == 0
    r = _json(out)
    assert r["status"] == "pass" and [g["status"] for g in r["gates"]] == ["pass", "pass"]
    assert abs(r["gates"][0]["value"]) < 0.1


def test_json_shape(cli, null_files, tmp_path) -> None:
    base, new = null_files
    out = tmp_path / "c.json"
    code = cli(["check", new, "--baseline", base, "--fail-on", "alpha<0.2, alpha_drop>0.3, flagged_annotators>50%",
                "--json", str(out), "--no-progress"])
    r = _json(out)
    assert code == r["exit_code"] == 0
    assert {"status", "exit_code", "n_gates", "n_passed", "n_failed", "n_errors", "prefqa", "data", "baseline",
            "strict", "settings", "n_judgments", "baseline_n_judgments", "compare", "annotators", "gates"} <= set(r)
    assert (r["data"], r["baseline"], r["strict"], r["n_gates"], r["n_passed"]) == (new, base, False, 3, 3)
    assert r["n_judgments"] == pq.read(new).n_judgments
    kinds = [(g["metric"], g["kind"]) for g in r["gates"]]
    assert kinds == [("alpha", "level"), ("alpha", "drop"), ("flagged_annotators", "share")]
    level, drop = r["gates"][0], r["gates"][1]
    row = next(m for m in r["compare"] if m["metric"] == "alpha")
    # the level gate reads the batch's estimate, the drop gate minus compare's difference (interval flipped)
    assert (level["value"], level["ci_low"], level["ci_high"]) == (row["estimate"], row["ci_low"], row["ci_high"])
    assert drop["value"] == pytest.approx(-row["difference"])
    assert (drop["ci_low"], drop["ci_high"]) == pytest.approx((-row["diff_ci_high"], -row["diff_ci_low"]))


def test_strict_fails_a_gate_whose_interval_reaches_the_threshold(cli, shifted_files, tmp_path) -> None:
    base, new = shifted_files
    out = tmp_path / "probe.json"
    cli(["check", new, "--baseline", base, "--fail-on", "p_first_rise>0.9", "--json", str(out), "--no-progress"])
    g = _json(out)["gates"][0]
    assert g["ci_low"] < g["value"] < g["ci_high"]
    threshold = (g["value"] + g["ci_high"]) / 2  # above the estimate, inside the interval
    gate = f"p_first_rise>{threshold!r}"
    assert cli(["check", new, "--baseline", base, "--fail-on", gate, "--no-progress"]) == 0
    assert cli(["check", new, "--baseline", base, "--fail-on", gate, "--strict", "--no-progress"]) == 1
    below = (g["value"] + g["ci_low"]) / 2  # the estimate fails; strict fails too
    assert cli(["check", new, "--baseline", base, "--fail-on", f"p_first_rise>{below!r}", "--strict",
                "--no-progress"]) == 1
    above = g["ci_high"] + 0.01  # the whole interval passes: strict passes
    assert cli(["check", new, "--baseline", base, "--fail-on", f"p_first_rise>{above!r}", "--strict",
                "--no-progress"]) == 0


def test_gates_from_the_toml_config(cli, shifted_files, tmp_path, capsys) -> None:
    base, new = shifted_files
    out = tmp_path / "from-toml.json"
    cfg = tmp_path / "prefqa.toml"
    cfg.write_text(f'[check]\nfail_on = ["p_first_rise>10%", "alpha<0.0"]\nbaseline = "{base}"\njson = "{out}"\n'
                   "strict = true\n\n[drift]\nfdr = 0.1\n")
    assert cli(["check", new, "--config", str(cfg), "--no-progress"]) == 1
    r = _json(out)
    assert [g["gate"] for g in r["gates"]] == ["p_first_rise>10%", "alpha<0.0"]
    assert r["strict"] is True and r["baseline"] == base and r["settings"]["fdr"] == 0.1
    assert [g["status"] for g in r["gates"]] == ["fail", "pass"]
    # flags win over the file
    assert cli(["check", new, "--config", str(cfg), "--fail-on", "alpha<0.0", "--no-strict", "--no-progress"]) == 0
    capsys.readouterr()
    cfg.write_text('[check]\nfail_on = ["alpha<0.5"]\nthreshold = 3\n')
    assert cli(["check", new, "--config", str(cfg), "--no-progress"]) == 2
    assert "`[check]` has unknown key(s) ['threshold']; allowed keys are" in capsys.readouterr().err


def test_bad_gates_exit_2_with_one_line_naming_the_value_and_the_fix(cli, null_files, capsys) -> None:
    base, new = null_files
    for gates, text in [("alpah<0.6", "unknown metric 'alpah'. Did you mean 'alpha'?"),
                        ("alpha=0.6", "operator '=' is not supported; use one of ['<=', '>=', '<', '>']"),
                        ("alpha<x", "the value 'x' is not a number")]:
        assert cli(["check", new, "--baseline", base, "--fail-on", gates, "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("prefqa: error: gate ") and text in err[0], err
    assert cli(["check", new, "--no-progress"]) == 2
    assert "no gate given; pass --fail-on GATES" in capsys.readouterr().err
    assert cli(["check", new, "--baseline", "missing.csv", "--fail-on", "drift", "--no-progress"]) == 2
    assert "--baseline file 'missing.csv' does not exist" in capsys.readouterr().err


def test_gates_that_cannot_be_computed_exit_2_with_the_reason(cli, null_files, tmp_path, capsys) -> None:
    base, new = null_files
    out = tmp_path / "err.json"
    # no --baseline for a relative gate; no ratings for icc: the others are still evaluated and reported
    assert cli(["check", new, "--fail-on", "alpha_drop>0.1, flagged_annotators>50%", "--json", str(out),
                "--no-progress"]) == 2
    r = _json(out)
    assert [g["status"] for g in r["gates"]] == ["error", "pass"]
    assert "pass --baseline FILE" in r["gates"][0]["reason"]
    assert cli(["check", new, "--baseline", base, "--fail-on", "icc<0.5", "--no-progress"]) == 2
    printed = capsys.readouterr().out
    assert "ERROR" in printed and "icc cannot be computed" in printed
    assert cli(["check", new, "--metrics", "p_first", "--fail-on", "alpha<0.5", "--no-progress"]) == 2
    assert "alpha is not among --metrics p_first; add it there" in capsys.readouterr().out


def test_flagged_annotator_gates(cli, tmp_path) -> None:
    data, truth = pq.simulate(n_prompts=150, n_annotators=12, n_spammers=2, rng=5)
    path = tmp_path / "spam.csv"
    pq.write(data, path)
    out = tmp_path / "spam.json"
    code = cli(["check", str(path), "--fail-on", "flagged_annotators>=1, flagged_annotators>50%", "--json", str(out),
                "--no-progress"])
    r = _json(out)
    table = pq.annotator_table(pq.read(path))
    n = int(table["flagged"].sum())
    assert n >= 2  # the two planted spammers (truth: kind == "spammer")
    assert r["gates"][0]["value"] == n and r["gates"][1]["value"] == pytest.approx(n / len(table))
    assert code == 1 and [g["status"] for g in r["gates"]] == ["fail", "pass"]


def test_level_gates_read_the_same_estimate_with_or_without_a_baseline(cli, null_files, tmp_path) -> None:
    base, new = null_files
    with_base, alone = tmp_path / "with.json", tmp_path / "alone.json"
    gates = "alpha<0.1, p_first>60%, tie_rate>0.5"
    assert cli(["check", new, "--baseline", base, "--fail-on", gates, "--json", str(with_base), "--no-progress"]) == 0
    assert cli(["check", new, "--fail-on", gates, "--json", str(alone), "--no-progress"]) == 0
    a, b = _json(with_base)["gates"], _json(alone)["gates"]
    assert [(g["value"], g["ci_low"], g["ci_high"]) for g in a] == [(g["value"], g["ci_low"], g["ci_high"]) for g in b]
    assert all(g["ci_low"] < g["value"] < g["ci_high"] for g in a)


def test_leniency_drift_between_two_rating_files(cli, tmp_path) -> None:
    # the same 8 raters score the new batch 1 point more leniently (before rounding and clipping to 1..5)
    old, truth = pq.simulate(n_prompts=80, n_annotators=8, ratings=True, rng=1)
    panel = truth.annotators.assign(leniency=truth.annotators["leniency"] + 1.0)
    new, _ = pq.simulate(n_prompts=80, ratings=True, annotators=panel, rng=2)
    base_path, new_path, out = tmp_path / "old.csv", tmp_path / "new.csv", tmp_path / "r.json"
    pq.write(old, base_path)
    pq.write(new, new_path)
    assert cli(["check", str(new_path), "--baseline", str(base_path), "--fail-on", "score_mean_rise>0.5, drift",
                "--json", str(out), "--no-progress"]) == 1
    r = _json(out)
    rise, drift = r["gates"]
    assert rise["status"] == "fail" and 0.5 < rise["value"] <= 1.0 and rise["ci_low"] > 0.5
    assert drift["status"] == "fail" and "score_mean" in drift["reason"]
    assert {a["annotator_id"] for a in r["annotators"] if a["status"] == "changed"} <= set(truth.annotators.index)
    assert cli(["check", str(base_path), "--baseline", str(base_path), "--fail-on", "score_mean_rise>0.1, icc<0.2",
                "--no-progress"]) == 0  # a batch against itself: no rise; the ICC of simulated raters is high


def test_readme_check_and_drift_commands_parse() -> None:
    """Every `prefqa check` / `prefqa drift` command and [check] table shown in README.md parses as written."""
    import re
    import shlex
    import tomllib
    from pathlib import Path

    from prefqa.cli import build_parser
    from prefqa.cli._monitor import CHECK_KEYS, _check_table

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    commands = [line[line.index("prefqa "):] for b in blocks for line in b.replace("\\\n", " ").splitlines()
                if re.search(r"\bprefqa (check|drift) ", line)]
    tables = [b for b in blocks if b.lstrip().startswith("[check]") or "\n[check]" in b]
    if not commands:
        pytest.skip("README.md shows no prefqa check / drift command yet")
    parser = build_parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])
        if args.command == "check" and args.fail_on:
            assert parse_gates(args.fail_on)
    for block in tables:
        config = tomllib.loads(block)
        check = _check_table(config["check"], "check", CHECK_KEYS)
        assert parse_gates(check["fail_on"])
