"""prefqa audit / export on engines: --engine, --memory-limit, --threads, --spark-master, globs, errors."""

from __future__ import annotations

import json

import pytest

import prefqa as pq
from prefqa.cli import main

FAST = ["--no-progress"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine_cli")
    data, _ = pq.simulate(n_prompts=40, n_annotators=6, rng=1)
    half = data.n_judgments // 2
    cut = int(data.judgments["comparison_id"].iloc[half] != data.judgments["comparison_id"].iloc[half - 1])
    j = data.judgments
    # two Parquet files of canonical judgments (texts inline), read back through a glob
    first = pq.PreferenceData(j.iloc[:half + 1 - cut], data.responses, data.prompts)
    second = pq.PreferenceData(j.iloc[half + 1 - cut:].reset_index(drop=True), data.responses, data.prompts)
    pq.write(first, folder / "part-0.parquet")
    pq.write(second, folder / "part-1.parquet")
    pq.write(data, folder / "all.parquet")
    return folder


def _report(folder, name, *extra):
    out = folder / name
    assert main(["audit", *extra, "--out", str(out), *FAST]) == 0
    return json.loads((out / "report.json").read_text())


def _same_values(a: dict, b: dict, where: str) -> None:
    assert set(a) == set(b), where
    for key, value in a.items():
        if "fingerprint" in key:  # the engine's content hash is not the in-memory one (documented)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            assert b[key] == value, (where, key)
        else:
            assert b[key] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), (where, key)


def test_audit_on_duckdb_states_the_engine_and_gives_the_in_memory_numbers(files, capsys):
    eng = _report(files, "rep_duck", str(files / "part-*.parquet"), "--engine", "duckdb", "--memory-limit", "1GB",
                  "--threads", "1")
    mem = _report(files, "rep_mem", str(files / "all.parquet"), "--engine", "memory")
    assert eng["input"]["engine"] == {"engine": "duckdb", "memory_limit": "953.6 MiB", "threads": 1}
    assert mem["input"]["engine"]["engine"] == "memory"
    assert "engine: duckdb (memory limit 953.6 MiB, 1 threads)" in capsys.readouterr().out
    for key in ("n_judgments", "n_comparisons", "n_annotators", "n_prompts", "n_models"):
        assert eng["input"][key] == mem["input"][key], key
    compared = 0
    for name, sec in eng["sections"].items():
        assert sec["status"] in ("ok", "skipped"), (name, sec["reason"])
        if sec["status"] == "skipped":
            assert sec["reason"], name  # never silent
        elif mem["sections"][name]["status"] == "ok" and name != "load_report":
            a, b = mem["sections"][name]["result"], sec["result"]
            _same_values(a.get("values") or {}, b.get("values") or {}, name)
            assert (a.get("table") is None) == (b.get("table") is None), name
            compared += 1
    assert compared >= 1


def test_export_on_duckdb_writes_the_in_memory_file(files):
    out_e, out_m = files / "x" / "eng.jsonl", files / "x" / "mem.jsonl"
    assert main(["export", str(files / "part-*.parquet"), "--engine", "duckdb", "--to", "dpo", "--out",
                 str(out_e), *FAST]) == 0
    assert main(["export", str(files / "all.parquet"), "--engine", "memory", "--to", "dpo", "--out",
                 str(out_m), *FAST]) == 0
    assert out_e.read_bytes() == out_m.read_bytes()
    me = json.loads((files / "x" / "eng.jsonl.manifest.json").read_text())
    mm = json.loads((files / "x" / "mem.jsonl.manifest.json").read_text())
    assert me["kept"] == mm["kept"] and me["dropped"] == mm["dropped"]


@pytest.mark.parametrize("flags, words", [
    (["--format", "trl"], "--format is an option of pq.read"),
    (["--map", "rater=annotator_id"], "--map / --map-value is an option of pq.read"),
    (["--memory-limit", "lots"], "memory_limit 'lots' is not a size"),
])
def test_engine_errors_are_one_line_with_the_fix(files, capsys, flags, words):
    code = main(["export", str(files / "all.parquet"), "--engine", "duckdb", *flags, "--to", "dpo",
                 "--out", str(files / "bad.jsonl"), *FAST])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("prefqa: error: ") and words in err and err.count("\n") == 1


def test_engine_tables_without_an_engine_are_refused(files, capsys):
    code = main(["export", str(files / "all.parquet"), "--engine", "memory", "--responses", "r.parquet",
                 "--to", "dpo", "--out", str(files / "bad.jsonl"), *FAST])
    assert code == 2 and "--responses / --prompts name engine tables" in capsys.readouterr().err


def test_auto_engine_is_recorded(files):
    rep = _report(files, "rep_auto", str(files / "all.parquet"), "--engine", "auto")
    try:
        from prefqa.engine._auto import choose_engine
    except ImportError:
        expected = "memory"
    else:
        kind = choose_engine([str(files / "all.parquet")])[0]
        expected = "memory" if kind == "memory" else "duckdb"
    assert rep["input"]["engine"]["engine"] == expected


def test_other_modules_subcommands_are_wired(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    import importlib.util

    for module, commands in (("prefqa.cli._monitor", ("drift", "check")), ("prefqa.cli._clean", ("relabel",))):
        if importlib.util.find_spec(module) is not None:
            for command in commands:
                assert command in text, command


@pytest.mark.spark
def test_export_on_spark_builds_on_the_session(files, spark, monkeypatch):
    import prefqa.engine as engine

    seen = {}
    real = engine.scan

    def scan(source, **kw):  # the file's rows, scanned into the session the CLI built (file validation is E1's)
        seen.update(kw)
        return real(pq.read(source[0]), **kw)

    monkeypatch.setattr(engine, "scan", scan)
    small = files / "small.parquet"
    data, _ = pq.simulate(n_prompts=6, n_annotators=3, rng=2)
    pq.write(data, small)
    out_s, out_m = files / "s" / "spark.jsonl", files / "s" / "mem.jsonl"
    assert main(["export", str(small), "--engine", "spark", "--spark-master", "local[2]", "--to", "dpo",
                 "--out", str(out_s), *FAST]) == 0
    assert seen["engine"] == "spark" and seen["connection"] is spark  # getOrCreate: the running session
    assert main(["export", str(small), "--engine", "memory", "--to", "dpo", "--out", str(out_m), *FAST]) == 0
    rows = [json.loads(x) for x in out_s.read_text().splitlines()]
    assert rows == [json.loads(x) for x in out_m.read_text().splitlines()]
