"""``prefqa drift``: the command passes its windowing and baseline options to ``pq.drift`` and prints its flags.

The statistics are tested in tests/test_drift*.py; here the command must give the numbers of the library
call with the same options (``--window``, ``--time/--freq``, ``--baseline K|LABELS|FILE``, ``--metrics``,
``--fdr``, the ``[drift]`` table), find a planted change from the planted window on (and not before), write
its tables, and turn bad options into one ``prefqa: error:`` line that names the flag.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

import prefqa as pq
from prefqa.simulate import Shift


@pytest.fixture
def cli():
    """The ``prefqa`` command line, in-process (``check`` and ``drift`` come from prefqa.cli._monitor)."""
    from prefqa.cli import main

    return main


PLANTED_WINDOW = 5


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """8 weekly windows; from window 5 every annotator leans +1.5 logits toward the first-shown response."""
    data, truth = pq.simulate(n_prompts=160, n_annotators=12, n_windows=8, rng=3,
                              drift=[Shift(window=PLANTED_WINDOW, position=1.5)])
    path = tmp_path_factory.mktemp("planted") / "weeks.csv"
    pq.write(data, path)
    return str(path), truth


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("prefqa: error: "), err
    return err[0]


def _windows(path) -> pd.DataFrame:
    return pd.DataFrame(json.loads(open(path, encoding="utf-8").read())["windows"])


def test_drift_finds_the_planted_shift_from_its_window_and_writes_the_tables(cli, planted, tmp_path, capsys):
    path, truth = planted
    out, folder = tmp_path / "drift.json", tmp_path / "tables"
    assert cli(["drift", path, "--window", "batch", "--baseline", "3", "--json", str(out), "--out", str(folder),
                "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "Flagged windows:" in printed and "p_first" in printed
    w = _windows(out)
    labels = list(truth.windows["batch"])
    flagged = w[(w["metric"] == "p_first") & w["flagged"].astype(bool)]["window"].tolist()
    assert flagged and set(flagged) <= set(labels[PLANTED_WINDOW:]), flagged  # never before the planted window
    assert labels[PLANTED_WINDOW] in flagged  # the jump is large: found at once
    # the same numbers as the library call with the same options
    lib = pq.drift(pq.read(path), window="batch", baseline=3).windows
    assert len(lib) == len(w)
    pd.testing.assert_series_equal(w["estimate"].astype(float), lib["estimate"].astype(float).reset_index(drop=True),
                                   check_names=False)
    csv = pd.read_csv(folder / "drift_windows.csv")
    assert len(csv) == len(lib) and list(csv.columns) == list(lib.columns)
    assert (folder / "drift_annotators.csv").exists()


def test_time_and_freq_options(cli, planted, tmp_path):
    path, truth = planted
    out = tmp_path / "weeks.json"
    assert cli(["drift", path, "--time", "timestamp", "--freq", "W", "--metrics", "p_first,tie_rate",
                "--json", str(out), "--no-progress"]) == 0
    w = _windows(out)
    assert set(w["metric"]) == {"p_first", "tie_rate"}
    assert w["window"].nunique() == len(truth.windows) == 8  # the simulator's windows are pandas "W" weeks


def test_baseline_as_labels_and_as_a_file(cli, planted, tmp_path):
    path, truth = planted
    labels = list(truth.windows["batch"])
    out = tmp_path / "labels.json"
    assert cli(["drift", path, "--window", "batch", "--baseline", f"{labels[0]},{labels[1]}", "--metrics",
                "p_first", "--json", str(out), "--no-progress"]) == 0
    lib = pq.drift(pq.read(path), window="batch", baseline=labels[:2], metrics=["p_first"]).windows
    assert _windows(out)["difference"].astype(float).tolist() == pytest.approx(
        lib["difference"].astype(float).tolist(), nan_ok=True)
    data = pq.read(path)
    first = data.subset((data.judgments["batch"].astype(str) == labels[0]).to_numpy())
    base = tmp_path / "base.csv"
    pq.write(first, base)
    out = tmp_path / "file.json"
    assert cli(["drift", path, "--window", "batch", "--baseline", str(base), "--metrics", "p_first",
                "--json", str(out), "--no-progress"]) == 0
    lib = pq.drift(data, window="batch", baseline=pq.read(base), metrics=["p_first"]).windows
    assert _windows(out)["estimate"].astype(float).tolist() == pytest.approx(
        lib["estimate"].astype(float).tolist(), nan_ok=True)


def test_cusum_settings(cli, planted, tmp_path, capsys):
    path, _ = planted
    out = tmp_path / "cusum.json"
    assert cli(["drift", path, "--window", "batch", "--baseline", "3", "--metrics", "p_first", "--json", str(out),
                "--no-progress"]) == 0
    assert _windows(out)["alarm"].astype(bool).any()  # the planted shift alarms at the default h = 4
    assert cli(["drift", path, "--window", "batch", "--baseline", "3", "--metrics", "p_first", "--cusum-h", "1000",
                "--json", str(out), "--no-progress"]) == 0
    assert not _windows(out)["alarm"].astype(bool).any()
    settings = json.loads(out.read_text())["settings"]
    assert (settings["cusum_h"], settings["cusum_k"]) == (1000.0, 0.5)
    assert settings["baseline_windows"] == ["batch-000", "batch-001", "batch-002"]
    assert settings["change_points"] == {"p_first": None} and settings["n_windows"] == 8
    capsys.readouterr()
    assert cli(["drift", path, "--window", "batch", "--cusum-k", "-1", "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "--cusum-k" in line and "cusum_k" not in line, line


def test_drift_table_of_the_config(cli, planted, tmp_path):
    path, _ = planted
    cfg = tmp_path / "prefqa.toml"
    out = tmp_path / "cfg.json"
    cfg.write_text('[drift]\nwindow = "batch"\nbaseline = 2\nmetrics = ["tie_rate"]\nfdr = 0.1\n')
    assert cli(["drift", path, "--config", str(cfg), "--json", str(out), "--no-progress"]) == 0
    w = _windows(out)
    assert set(w["metric"]) == {"tie_rate"}
    lib = pq.drift(pq.read(path), window="batch", baseline=2, metrics=["tie_rate"], fdr=0.1).windows
    assert w["q_value"].astype(float).tolist() == pytest.approx(lib["q_value"].astype(float).tolist(), nan_ok=True)
    # a flag wins over the file
    assert cli(["drift", path, "--config", str(cfg), "--metrics", "p_first", "--json", str(out),
                "--no-progress"]) == 0
    assert set(_windows(out)["metric"]) == {"p_first"}


def test_bad_options_name_the_flag(cli, planted, capsys):
    path, _ = planted
    assert cli(["drift", path, "--time", "created_at", "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "'created_at'" in line and "--window batch" in line and "window=" not in line
    assert cli(["drift", path, "--window", "batch", "--baseline", "99", "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "--baseline 99" in line and "`baseline`" not in line
    assert cli(["drift", path, "--window", "batch", "--baseline", "nope-1,nope-2", "--no-progress"]) == 2
    assert "['nope-1', 'nope-2'] not found" in _error_line(capsys)
    assert cli(["drift", path, "--metrics", "alpah", "--no-progress"]) == 2
    assert "unknown metric(s) ['alpah'] in --metrics" in _error_line(capsys)
    assert cli(["drift", path, "--fdr", "2", "--no-progress"]) == 2
    assert "--fdr" in _error_line(capsys)


def test_leniency_drift_on_a_ratings_file(cli, tmp_path):
    # from window 3 every rater scores 1 point higher: score_mean must move there and not before
    data, truth = pq.simulate(n_prompts=80, n_annotators=8, n_windows=6, ratings=True, rng=4,
                              drift=[Shift(window=3, leniency=1.0)])
    path = tmp_path / "rated.csv"
    pq.write(data, path)
    out = tmp_path / "rated.json"
    assert cli(["drift", str(path), "--window", "batch", "--baseline", "2", "--metrics", "score_mean",
                "--json", str(out), "--no-progress"]) == 0
    w = _windows(out)
    labels = list(truth.windows["batch"])
    flagged = w[w["flagged"].astype(bool)]["window"].tolist()
    assert set(flagged) == set(labels[3:]), w[["window", "difference", "q_value"]]
    assert (w.set_index("window").loc[labels[3:], "difference"].astype(float) > 0.5).all()


# ------------------------------------------------------------------ the audit's Drift section
AUDIT_CONFIG = {"audit": {"confidence_level": 0.95, "max_table_rows": 200}}


def test_audit_section_holds_the_library_numbers_and_draws_both_figures(planted):
    from prefqa.audit._drift import drift_findings, drift_step, plot_drift
    from prefqa.audit._json import jsonable

    path, truth = planted
    data = pq.read(path)
    section, res = drift_step(data, AUDIT_CONFIG, {})
    section = jsonable(section)
    json.dumps(section, allow_nan=False)  # valid JSON for any consumer
    # windows from the batch column's time order (the file has a timestamp): the default is the time column
    assert res.window_source.startswith("timestamp")
    series = {s["metric"]: s for s in section["control"]}
    assert set(series) == set(res.windows["metric"])
    p_first = series["p_first"]
    labels = [r["window"] for r in p_first["rows"]]
    assert labels == [str(x) for x in res.labels]
    flagged = [r["window"] for r in p_first["rows"] if r["flagged"]]
    assert flagged and set(flagged) <= set(labels[PLANTED_WINDOW:])  # the planted shift, never before
    assert p_first["first_alarm"] == res.change_points["p_first"]
    tidy = res.tidy()
    row = tidy[(tidy["metric"] == "p_first")].iloc[PLANTED_WINDOW]
    assert p_first["rows"][PLANTED_WINDOW]["band_low"] == pytest.approx(row["band_low"])
    hm = section["heatmap"]
    assert len(hm["agreement"]) == len(hm["annotators"]) and len(hm["agreement"][0]) == len(res.labels)
    a = res.annotators
    for i, ann in enumerate(hm["annotators"]):
        for k, win in enumerate(hm["windows"]):
            rows = a[(a["annotator_id"].astype(str) == ann) & (a["window"].astype(str) == win)]
            value = hm["agreement"][i][k]
            assert (value is None) == (rows.empty or pd.isna(rows["agreement"].iloc[0]))
            if value is not None:
                assert value == pytest.approx(float(rows["agreement"].iloc[0]))
            assert hm["flagged"][i][k] == bool(len(rows) and rows["flagged"].iloc[0])
    figures = plot_drift({"result": section})
    assert figures.count("<svg") == 2 and "<script" not in figures
    findings = drift_findings({"sections": {"drift": {"status": "ok", "result": section}}}, {})
    codes = [f["code"] for f in findings]
    assert "drift_window" in codes
    assert section["change_points"] == {k: v for k, v in res.change_points.items()}
    slow = {m for m, w in res.change_points.items() if w is not None} - set(res.flagged_windows["metric"])
    assert codes.count("drift_cusum") == len(slow)  # an alarm without a flagged window is reported as slow drift


def test_audit_section_is_skipped_without_a_time_or_batch_column():
    from prefqa.audit._config import resolve_config
    from prefqa.audit._drift import drift_step
    from prefqa.audit._run import Step, run_steps

    data, _ = pq.simulate(n_prompts=40, n_annotators=6, rng=2)  # one window: no timestamp, no batch
    (outcome,) = run_steps(data, [Step("drift", "Drift", drift_step)], resolve_config(None), progress=False)
    assert outcome.status == "skipped"
    assert outcome.reason.startswith("no time or batch column in this file")


def test_the_audit_runs_the_drift_section_on_data_with_windows(planted):
    path, _ = planted
    heavy = ["preference_model", "bradley_terry_style", "style_bias", "consensus", "judge", "simpson", "pairs"]
    report = pq.audit(pq.read(path), progress=False, strict=True,
                      config={"audit": {"n_resamples": 20, "skip": heavy, "drift": {"window": "batch"}}})
    s = report.sections["drift"]
    assert s["status"] == "ok", s["reason"]
    assert s["result"]["values"]["window_source"].startswith("batch")
    assert any(f["code"] == "drift_window" and f["step"] == "drift" for f in report.findings)
    html = report.to_html()
    section = html[html.index("<section id='drift'>"):]
    section = section[:section.index("</section>")]
    assert section.count("<svg") == 2  # the control charts and the heatmap
