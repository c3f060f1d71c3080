"""pq.scan: validation and load report in the engine, equal to pq.read's; inline texts get pq.read's ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as papq
import pytest

import prefqa as pq
from prefqa.errors import SchemaError

CODES = ("comparison_id", "annotator_id", "prompt_id")


def _write(frame: pd.DataFrame, path: Path) -> str:
    papq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return str(path)


@pytest.fixture(scope="module")
def sim() -> pq.PreferenceData:
    data, _ = pq.simulate(n_prompts=40, n_annotators=5, rng=11)
    return data


@pytest.fixture(scope="module")
def flat(sim: pq.PreferenceData, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The simulated judgments as one canonical flat frame with inline texts (as pq.write stores them)."""
    path = pq.write(sim, tmp_path_factory.mktemp("flat") / "all.parquet")
    return papq.read_table(path).to_pandas().drop(columns=["order_known"])


def _text(values: pd.Series) -> np.ndarray:
    return values.astype(str).where(values.notna(), "<missing>").to_numpy(dtype=object)


def _same_as_read(s: pq.ScannedData, m: pq.PreferenceData) -> None:
    """Counts, ids, codes and texts of a scan equal pq.read's of the same rows."""
    assert (s.n_judgments, s.n_comparisons, s.n_annotators, s.n_prompts) == \
        (m.n_judgments, m.n_comparisons, m.n_annotators, m.n_prompts)
    assert list(s.columns) == list(m.judgments.columns)
    c = s.collect()
    for col in m.judgments.columns:
        np.testing.assert_array_equal(_text(c.judgments[col]), _text(m.judgments[col]), err_msg=col)
    coded = s.frame("SELECT _cmp, _ann, _prm, _ch, _flip, _och FROM {j} ORDER BY _row")
    for col, name in zip(CODES, ("_cmp", "_ann", "_prm")):
        np.testing.assert_array_equal(coded[name].to_numpy(), m.codes(col)[0], err_msg=col)
    np.testing.assert_array_equal(coded["_ch"].to_numpy(), m.choice_codes())
    np.testing.assert_array_equal(coded["_flip"].to_numpy(), m.flipped())
    np.testing.assert_array_equal(coded["_och"].to_numpy(), m.oriented_choice())
    if m.has_texts:
        for table, key in (("responses", "response_id"), ("prompts", "prompt_id")):
            a = getattr(m, table).set_index(key).sort_index()
            b = getattr(c, table).set_index(key).sort_index()
            assert list(a.index) == list(b.index), table
            for col in a.columns:
                np.testing.assert_array_equal(_text(b[col]), _text(a[col]), err_msg=f"{table}.{col}")
    rs, rm = s.load_report, m.load_report
    for field in ("n_rows", "n_rows_used", "n_rejected", "n_judgments", "n_repeats", "n_empty_texts",
                  "n_duplicates", "n_coerced"):
        assert getattr(rs, field) == getattr(rm, field), field
    cols = ["line", "column", "value", "reason"]
    pd.testing.assert_frame_equal(rs.rejected[cols].reset_index(drop=True), rm.rejected[cols].reset_index(drop=True),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(rs.duplicates[["line", "duplicate_of"]].reset_index(drop=True),
                                  rm.duplicates[["line", "duplicate_of"]].reset_index(drop=True), check_dtype=False)
    pd.testing.assert_frame_equal(rs.coerced.sort_values(["column", "value"]).reset_index(drop=True),
                                  rm.coerced.sort_values(["column", "value"]).reset_index(drop=True), check_dtype=False)


def test_good_file_equals_read(sim: pq.PreferenceData, tmp_path: Path) -> None:
    path = pq.write(sim, tmp_path / "good.parquet")
    m = pq.read(path)
    s = pq.scan(path)
    _same_as_read(s, m)
    assert s.order_known == m.order_known and s.has_texts
    assert s.load_report.engine == "duckdb" and s.meta["memory_limit"] == s.backend.memory_limit


def test_texts_without_ids_get_read_ids(flat: pd.DataFrame, tmp_path: Path) -> None:
    # no id columns at all: prompt and response ids are hashed from the texts, as pq.read does
    path = _write(flat.drop(columns=["prompt_id", "response_a_id", "response_b_id"]), tmp_path / "t.parquet")
    m = pq.read(path)
    assert m.judgments["response_a_id"].str.startswith("r").all()  # derived, not given
    _same_as_read(pq.scan(path), m)
    # some ids given, some missing (whole comparisons, or pq.read also finds two pairs): the rest derived
    part = flat.copy()
    code = pd.factorize(part["comparison_id"])[0]
    part.loc[code % 3 == 0, "prompt_id"] = None
    part.loc[code % 4 == 0, ["response_a_id", "response_b_id"]] = None
    path = _write(part, tmp_path / "part.parquet")
    _same_as_read(pq.scan(path), pq.read(path))


def _plant(frame: pd.DataFrame) -> pd.DataFrame:
    """Bad rows of every kind pq.read rejects, at known positions."""
    f = frame.copy()
    f["choice"] = f["choice"].astype(object)
    f.loc[3, "choice"] = None                      # choice is missing
    f.loc[5, "choice"] = "maybe"                    # unknown choice
    f.loc[6, "choice"] = " Left\t"                  # coerced to 'a' (kept)
    f.loc[7, "choice"] = "TIE"                      # coerced (kept)
    f.loc[9, "comparison_id"] = None                # comparison id is missing
    f.loc[11, "annotator_id"] = ""                  # empty id = missing annotator
    f.loc[13, "response_a"] = f.loc[13, "response_a"] + " changed"  # response id with a second text
    same = np.flatnonzero(f["prompt_id"].to_numpy()[1:] == f["prompt_id"].to_numpy()[:-1]) + 1
    f.loc[same[same >= 15][0], "prompt"] = "a different prompt"  # prompt id with a second text (not its first row)
    f = pd.concat([f, f.iloc[[20, 21]]], ignore_index=True)  # exact duplicates at the end
    return f


@pytest.mark.parametrize("duplicates", ["keep", "drop"])
def test_bad_rows_in_one_of_several_files(flat: pd.DataFrame, tmp_path: Path, duplicates: str) -> None:
    n = len(flat)
    cut = [0, n // 3, 2 * n // 3, n]
    parts = [flat.iloc[cut[i]:cut[i + 1]].reset_index(drop=True) for i in range(3)]
    parts[1] = _plant(parts[1])
    paths = [_write(p, tmp_path / f"part-{i}.parquet") for i, p in enumerate(parts)]
    s = pq.scan(paths, on_error="skip", duplicates=duplicates)
    rep = s.load_report
    total = sum(len(p) for p in parts)
    assert rep.n_rows == total and rep.n_rows_used + rep.n_rejected == total
    assert rep.n_judgments == s.n_judgments == rep.n_rows_used
    # every bad row is named with its file and its row in that file
    bad = rep.rejected
    assert set(bad["file"]) == {str(Path(paths[1]).resolve())}
    changed = int(np.flatnonzero(parts[1]["prompt"].to_numpy() == "a different prompt")[0]) + 1
    expected = {4: "choice is missing", 6: "unknown choice", 10: "comparison id is missing",
                12: "annotator id is missing", 14: "response id seen before with a different text",
                changed: "prompt id seen before with a different prompt text"}
    if duplicates == "drop":
        expected[len(parts[1]) - 1] = "exact duplicate"
        expected[len(parts[1])] = "exact duplicate"
    got = dict(zip(bad["file_line"], bad["reason"]))
    assert sorted(got) == sorted(expected)
    for line, why in expected.items():
        assert got[line].startswith(why)
    np.testing.assert_array_equal(bad["line"].to_numpy(), bad["file_line"].to_numpy() + len(parts[0]))
    assert rep.n_duplicates == 2
    assert rep.duplicates["line"].tolist() == [len(parts[0]) + len(parts[1]) - 1, len(parts[0]) + len(parts[1])]
    assert rep.rejected_by_reason().sum() == rep.n_rejected
    # the same rows as one file through pq.read: the same report (lines in scan order) and the same data
    one = pd.concat(parts, ignore_index=True)
    mpath = _write(one, tmp_path / "one.parquet")
    m = pq.read(mpath, on_error="skip", duplicates=duplicates)
    _same_as_read(s, m)
    assert "rejected" in rep.summary() and "Engine: duckdb" in rep.summary()


def test_raise_names_file_and_row(flat: pd.DataFrame, tmp_path: Path) -> None:
    parts = [flat.iloc[:50], _plant(flat.iloc[50:100].reset_index(drop=True))]
    paths = [_write(p, tmp_path / f"p{i}.parquet") for i, p in enumerate(parts)]
    with pytest.raises(SchemaError, match=r"p1\.parquet, row 4, column 'choice': choice is missing") as err:
        pq.scan(paths)
    assert "on_error='skip'" in str(err.value)
    one = flat.iloc[:30].copy()
    one["choice"] = one["choice"].astype(object)
    one.loc[[2, 8], "choice"] = ["2", "1"]
    path = _write(one, tmp_path / "codes.parquet")
    with pytest.raises(SchemaError) as scan_err:
        pq.scan(path)
    with pytest.raises(SchemaError) as read_err:
        pq.read(path)
    assert str(scan_err.value) == str(read_err.value)  # same message, same structured fix
    assert scan_err.value.fix == read_err.value.fix == {"map_value": {"choice": {"1": "a", "2": "b"}}}


def test_reference_errors(sim: pq.PreferenceData) -> None:
    j = sim.judgments
    with pytest.raises(SchemaError, match="response ids not in `responses`"):
        pq.scan(j, responses=sim.responses.iloc[5:])
    with pytest.raises(SchemaError, match="must be unique"):
        pq.scan(j, responses=pd.concat([sim.responses, sim.responses.iloc[:1]]))
    two = j.copy()
    two.loc[0, "response_b_id"] = two.loc[0, "response_a_id"]
    with pytest.raises(SchemaError, match="different response pairs"):
        pq.scan(two, responses=sim.responses)
    two = j.copy()
    two["prompt_id"] = two["prompt_id"].astype(object)
    first = two["comparison_id"] == two.loc[0, "comparison_id"]
    two.loc[first[first].index[0], "prompt_id"] = "elsewhere"
    with pytest.raises(SchemaError, match="different prompts"):
        pq.scan(two)
    with pytest.raises(SchemaError, match="missing required column"):
        pq.scan(j.drop(columns=["choice"]))
    with pytest.raises(SchemaError, match="on_error"):
        pq.scan(j, on_error="ignore")
    s = pq.scan(j, prompts=sim.prompts.iloc[3:])
    assert any("no row in the prompts table" in n for n in s.load_report.notes)


def test_frames_and_sample_equal_read() -> None:
    sample = pq.load_sample()
    frame = sample.judgments.head(3000)
    _same_as_read(pq.scan(frame), pq.read(frame))
    messy = frame.copy()
    messy["choice"] = messy["choice"].astype(object)
    messy.loc[[0, 10], "choice"] = ["B", ""]
    messy.loc[20, "seconds"] = np.nan
    messy = pd.concat([messy, messy.iloc[[5]]], ignore_index=True)
    _same_as_read(pq.scan(messy, on_error="skip"), pq.read(messy, on_error="skip"))


def test_numbers_as_text_and_float_ids(sim: pq.PreferenceData) -> None:
    j = sim.judgments.head(60).copy()
    j["seconds"] = j["seconds"].map(lambda x: f" {x:.3f}").astype(object)
    j.loc[4, "seconds"] = "fast"
    j["annotator_id"] = j["annotator_id"].str.extract(r"(\d+)")[0].astype(float)
    _same_as_read(pq.scan(j, on_error="skip"), pq.read(j, on_error="skip"))


@pytest.mark.spark
def test_spark_report_equals_duckdb(flat: pd.DataFrame, tmp_path: Path, spark) -> None:
    parts = [flat.iloc[:60].reset_index(drop=True), _plant(flat.iloc[60:160].reset_index(drop=True))]
    paths = [_write(p, tmp_path / f"s{i}.parquet") for i, p in enumerate(parts)]
    d = pq.scan(paths, on_error="skip")
    s = pq.scan(paths, engine="spark", connection=spark, on_error="skip")
    assert s.load_report.to_frame().drop(columns=["engine", "memory_limit"]).equals(
        d.load_report.to_frame().drop(columns=["engine", "memory_limit"]))
    cols = ["line", "column", "value", "reason", "file_line"]
    pd.testing.assert_frame_equal(s.load_report.rejected[cols], d.load_report.rejected[cols], check_dtype=False)
    a = d.frame("SELECT comparison_id, response_a_id, response_b_id, prompt_id, _cmp, _och FROM {j} ORDER BY _row")
    b = s.frame("SELECT comparison_id, response_a_id, response_b_id, prompt_id, _cmp, _och FROM {j} ORDER BY _row")
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


# ------------------------------------------------------------------ seeded hash subsamples
def _hashlib_sample(ids: np.ndarray, counts: np.ndarray, seed: int, *, fraction=None, max_judgments=None) -> list:
    """The documented rule, computed independently with hashlib and Python integers."""
    import hashlib

    keys = [int(hashlib.md5(f"{seed}:{i}".encode()).hexdigest(), 16) for i in ids]
    if fraction is not None:
        return sorted(str(i) for i, k in zip(ids, keys) if k >> 68 < int(fraction * 16**15))  # first 15 hex digits
    order = sorted(range(len(ids)), key=lambda t: (keys[t], ids[t]))
    taken, out = 0, []
    for t in order:
        if taken >= max_judgments:
            break
        out.append(str(ids[t]))
        taken += int(counts[t])
    return sorted(out)


@pytest.mark.parametrize("column", ["prompt_id", "comparison_id"])
def test_hash_sample_equal_in_memory_and_duckdb(sim: pq.PreferenceData, column: str) -> None:
    from prefqa.engine._sample import hash_sample

    s = pq.scan(sim)
    codes, labels = sim.codes(column)
    counts = np.bincount(codes, minlength=len(labels))
    for kwargs in ({"fraction": 0.3}, {"max_judgments": 150}, {"max_judgments": 10**9}):
        for seed in (0, 5):
            mem = hash_sample(sim, column, seed=seed, **kwargs)
            eng = hash_sample(s, column, seed=seed, **kwargs)
            assert list(mem.ids) == list(eng.ids) == _hashlib_sample(np.asarray(labels), counts, seed, **kwargs)
            assert mem.n_judgments == eng.n_judgments == int(mem.mask(sim).sum())
            assert eng.n_judgments == len(s.collect(where=eng.where(s)).judgments)
            if "max_judgments" in kwargs:
                assert mem.n_judgments >= min(kwargs["max_judgments"], sim.n_judgments)
    from prefqa.engine.reductions.votes import hash_sample as vote_sample  # E2's rule for Dawid-Skene: the same ids

    got = hash_sample(sim, column, fraction=0.4, seed=3)
    np.testing.assert_array_equal(np.asarray(labels)[vote_sample(sim, column, 0.4, seed=3)], got.ids)
    a = hash_sample(sim, column, fraction=0.5, seed=1).ids
    b = hash_sample(sim, column, fraction=0.5, seed=2).ids
    assert list(a) != list(b)  # the seed matters


def test_hash_sample_fraction_is_binomial() -> None:
    from prefqa.engine._sample import hash_sample

    data, _ = pq.simulate(n_prompts=2000, n_annotators=3, rng=4)
    kept = [hash_sample(data, fraction=0.25, seed=seed).n_ids for seed in range(5)]
    # 2000 prompts at p = 0.25: sd = sqrt(2000 * 0.25 * 0.75) = 19.4; 4.5 sd either side
    assert all(abs(k - 500) < 87 for k in kept), kept
    with pytest.raises(SchemaError, match="exactly one"):
        hash_sample(data)
    with pytest.raises(SchemaError, match="fraction"):
        hash_sample(data, fraction=1.5)
    with pytest.raises(SchemaError, match="column"):
        hash_sample(data, "model_a", fraction=0.5)


@pytest.mark.spark
def test_hash_sample_spark(sim: pq.PreferenceData, spark) -> None:
    from prefqa.engine._sample import hash_sample

    s = pq.scan(sim, engine="spark", connection=spark)
    for kwargs in ({"fraction": 0.3}, {"max_judgments": 150}):
        assert list(hash_sample(s, seed=3, **kwargs).ids) == list(hash_sample(sim, seed=3, **kwargs).ids)


# ------------------------------------------------------------------ engine="auto" and spilling
def test_choose_engine_rule(sim: pq.PreferenceData, tmp_path: Path) -> None:
    from prefqa.engine import choose_engine
    from prefqa.engine._auto import PER_ROW_BYTES, TEXT_FACTOR, parquet_size

    path = pq.write(sim, tmp_path / "j.parquet")
    rows, size = parquet_size([str(path)])
    assert rows == sim.n_judgments
    need = PER_ROW_BYTES * rows + TEXT_FACTOR * size
    assert choose_engine(path, memory=2 * need)[0] == "memory"  # the boundary: exactly half fits
    engine, why = choose_engine(path, memory=2 * need - 1)
    assert engine == "duckdb" and "memory_limit" in why
    assert choose_engine(str(tmp_path / "*.parquet"), memory=2 * need)[0] == "memory"
    csv = tmp_path / "j.csv"
    sim.judgments.to_csv(csv, index=False)
    assert choose_engine(csv)[0] == "memory"  # not Parquet: pq.read
    with pytest.raises(SchemaError, match="no file"):
        choose_engine(tmp_path / "absent.csv")
    s = pq.scan(path, engine="auto")
    assert s.engine == "duckdb" and s.meta["engine_requested"] == "auto" and "available" in s.meta["engine_rule"]
    assert s.load_report.memory_limit == s.backend.memory_limit == s.meta["memory_limit"]


def test_memory_limit_below_data_spills_with_same_numbers(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n, nc = 400_000, 130_000
    cmp, ann, ch = rng.integers(0, nc, n), rng.integers(0, 300, n), rng.integers(0, 3, n)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz     ", dtype="S1")
    note = rng.choice(letters, (n, 80)).view("S80").ravel().astype(str)  # an 80-character stratum column
    table = pa.table({"comparison_id": np.char.add("c", np.char.zfill(cmp.astype(str), 7)),
                      "annotator_id": np.char.add("a", np.char.zfill(ann.astype(str), 3)),
                      "choice": np.array(["a", "b", "tie"])[ch], "note": note})
    path = tmp_path / "big.parquet"
    papq.write_table(table, path, row_group_size=50_000)
    assert table.nbytes > 40 * 2**20  # the data: more than 40 MB as Arrow (more as pandas)
    s = pq.scan(path, memory_limit="24MB", threads=1)
    votes = s.frame("SELECT _cmp, count(*) FILTER (WHERE _ch = 0) AS a, count(*) FILTER (WHERE _ch = 1) AS b, "
                    "count(*) FILTER (WHERE _ch = 2) AS t FROM {j} GROUP BY _cmp ORDER BY _cmp")
    spilled = s.scalar("SELECT count(*) FROM duckdb_temporary_files()")
    assert spilled > 0, "DuckDB did not spill: the test no longer tests spilling"
    _, inv = np.unique(cmp, return_inverse=True)
    for k, col in enumerate("abt"):  # independent numbers: numpy on the generated arrays
        np.testing.assert_array_equal(votes[col].to_numpy(), np.bincount(inv[ch == k], minlength=inv.max() + 1))
    assert s.load_report.n_rows == n and s.n_comparisons == len(votes)
    assert s.load_report.memory_limit.startswith("22.8")  # DuckDB reports 24MB as 22.8 MiB
