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
