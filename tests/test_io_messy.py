"""Real, messy files: prompt-less ratings with the user's ids, missing ids, exact duplicates,
conflicting texts, choice spellings, PandaLM auto-detection, the reader registry, Excel."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.errors import SchemaError
from prefqa.io import CHOICE_TABLE, FORMATS, error_text, format_fix, reader_formats

DATA = Path(__file__).resolve().parent / "data" / "io"


def _accounted(data: pq.PreferenceData) -> None:
    r = data.load_report
    assert r.n_rows == r.n_rows_used + r.n_rejected
    assert r.n_judgments == data.n_judgments and r.n_ratings == data.n_ratings


# ------------------------------------------------------------ ratings (item 1)
def _convabuse_like() -> pd.DataFrame:
    # ConvAbuse's layout: response_id, annotator_id, score, response; no prompt. Two ids share a text.
    return pd.DataFrame({
        "response_id": ["50827-q0-bart", "50827-q0-bart", "50828-q1-bart", "50828-q1-bart", "61000-q0-gpt",
                        "61000-q0-gpt", "61000-q0-gpt"],
        "annotator_id": ["Annotator1", "Annotator2", "Annotator1", "Annotator3", "Annotator1", "Annotator2",
                         "Annotator3"],
        "score": [1, 0, -1, -1, 0, 0, 1],
        "response": ["you are stupid", "you are stupid", "ok", "ok", "you are stupid", "you are stupid",
                     "you are stupid"],
        "batch": ["b1", "b1", "b1", "b2", "b2", "b2", "b2"],
    })


def test_ratings_without_prompt_keep_the_users_ids_and_extras(tmp_path: Path) -> None:
    frame = _convabuse_like()
    frame.to_csv(tmp_path / "convabuse.csv", index=False)
    for data in (pq.read(frame), pq.read(tmp_path / "convabuse.csv")):
        assert data.load_report.format == "ratings"
        r = data.ratings
        assert r["response_id"].tolist() == frame["response_id"].tolist()  # as given, not re-keyed
        # 50827-q0-bart and 61000-q0-gpt carry the same text: still two responses, no rating merged
        assert sorted(data.responses["response_id"]) == ["50827-q0-bart", "50828-q1-bart", "61000-q0-gpt"]
        assert data.n_ratings == 7 and r["score"].tolist() == [1.0, 0.0, -1.0, -1.0, 0.0, 0.0, 1.0]
        assert r["batch"].tolist() == frame["batch"].tolist()  # extra column kept, as on judgments
        assert data.n_judgments == 0  # no prompts: each response is its own unit, no pairs derived
        assert any("each response is its own unit" in n for n in data.load_report.notes)
        _accounted(data)


def test_ratings_with_one_response_per_prompt_and_ids_only() -> None:
    frame = _convabuse_like().assign(prompt_id=["p1", "p1", "p2", "p2", "p3", "p3", "p3"])
    data = pq.read(frame)  # used to raise "zero-size array to reduction operation maximum"
    assert data.n_ratings == 7 and data.n_judgments == 0
    assert set(data.ratings["prompt_id"]) == {"p1", "p2", "p3"}
    ids_only = pq.read(frame.drop(columns="response"))
    assert ids_only.ratings["response_id"].tolist() == frame["response_id"].tolist()
    # two responses under one prompt: pairs are derived within the prompt only
    two = frame.assign(prompt_id=["p1", "p1", "p1", "p1", "p2", "p2", "p2"])
    pairs = pq.read(two)
    # Annotator1 scored 50827 (1) and 50828 (-1) under p1: one judgment, 50827 wins by 2
    assert pairs.n_judgments == 1
    j = pairs.judgments.iloc[0]
    winner = j["response_a_id"] if j["choice"] == "a" else j["response_b_id"]
    assert winner == "50827-q0-bart" and abs(j["strength"]) == 2.0


def test_ratings_conflicting_texts_and_missing_ids() -> None:
    frame = _convabuse_like()
    frame.loc[3, "response"] = "ok!"  # 50828-q1-bart now carries two texts
    with pytest.raises(SchemaError, match=r"row 4, column 'response_id': response id seen before with a "
                                          r"different text; found '50828-q1-bart' \(1 rows\)"):
        pq.read(frame)
    data = pq.read(frame, on_error="skip")
    rej = data.load_report.rejected
    assert rej["line"].tolist() == [4] and rej["value"].tolist() == ["50828-q1-bart"]
    assert data.n_ratings == 6 and data.responses.set_index("response_id").loc["50828-q1-bart", "text"] == "ok"
    frame = _convabuse_like()
    frame.loc[[2, 5], "annotator_id"] = None
    with pytest.raises(SchemaError, match=r"row 3, column 'annotator_id': annotator id is missing.*\(rows 3, 6\)"):
        pq.read(frame)
    skipped = pq.read(frame, on_error="skip")
    assert skipped.load_report.rejected["line"].tolist() == [3, 6] and skipped.n_ratings == 5
    _accounted(skipped)


def test_ratings_fixture_still_derives_pairs_per_prompt() -> None:
    data = pq.read(DATA / "ratings.csv")  # prompt + response texts, no ids: ids hashed from (prompt, text)
    assert data.n_ratings == 11 and data.n_judgments == 10 and data.n_prompts == 2


# ------------------------------------------------------- missing ids (item 2)
def _judgments_with_blank_annotators() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    rows = [{"comparison_id": f"c{c}", "annotator_id": f"w{a}", "choice": rng.choice(["a", "b"], p=[0.7, 0.3])}
            for c in range(30) for a in range(3)]
    clean = pd.DataFrame(rows)
    blank = pd.DataFrame({"comparison_id": [f"c{c}" for c in range(30)], "annotator_id": None,
                          "choice": ["b"] * 30})
    return clean, pd.concat([clean, blank], ignore_index=True)


def test_rows_with_a_missing_annotator_id_are_rejected_with_lines(tmp_path: Path) -> None:
    clean, messy = _judgments_with_blank_annotators()
    messy.to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(SchemaError, match=r"m\.csv, line 92, column 'annotator_id': annotator id is missing "
                                          r"while other rows name their annotator; found '<missing>' \(30 rows\)"):
        pq.read(tmp_path / "m.csv")
    data = pq.read(tmp_path / "m.csv", on_error="skip")
    rej = data.load_report.rejected
    assert rej["line"].tolist() == list(range(92, 122))  # header is line 1; 90 clean rows before
    assert set(rej["reason"]) == {"annotator id is missing while other rows name their annotator"}
    # the blank rows no longer enter agreement: alpha equals the clean file's
    clean.to_csv(tmp_path / "clean.csv", index=False)
    ref = pq.read(tmp_path / "clean.csv")
    assert data.fingerprint() == ref.fingerprint()
    assert pq.agreement(data).alpha == pytest.approx(pq.agreement(ref).alpha, abs=1e-12)
    assert "30 x annotator id is missing" in data.load_report.summary()


def test_an_all_blank_annotator_column_means_no_annotators() -> None:
    frame = pd.DataFrame({"comparison_id": ["c1", "c2"], "annotator_id": [None, None], "choice": ["a", "b"]})
    data = pq.read(frame)
    assert not data.has_annotators and data.n_judgments == 2


def test_missing_comparison_id_is_rejected() -> None:
    frame = pd.DataFrame({"comparison_id": ["c1", None, "c2"], "annotator_id": ["w", "w", "v"],
                          "choice": ["a", "b", "a"]})
    with pytest.raises(SchemaError, match=r"row 2, column 'comparison_id': comparison id is missing"):
        pq.read(frame)
    assert pq.read(frame, on_error="skip").load_report.rejected["line"].tolist() == [2]
    trl = pd.DataFrame({"uid": [1, None], "prompt": ["p", "q"], "chosen": ["x", "y"], "rejected": ["z", "w"]})
    assert pq.read(trl, id_column="uid", on_error="skip").judgments["comparison_id"].tolist() == ["1"]


# ------------------------------------------------------------- duplicates (item 2)
def test_exact_duplicates_are_reported_kept_or_dropped(tmp_path: Path) -> None:
    text = ("comparison_id,annotator_id,choice,seconds\nc1,w1,a,3.5\nc1,w2,b,4\nc1,w1,a,3.5\n"
            "c2,w1,a,2\nc1,w1,a,3.6\nc1,w1,a,3.5\n")
    path = tmp_path / "d.csv"
    path.write_text(text)
    kept = pq.read(path)
    rep = kept.load_report
    # lines 4 and 7 equal line 2 in every column; line 6 differs in seconds (3.6): a repeat, not a copy
    assert rep.duplicates.values.tolist() == [[4, 2], [7, 2]] and rep.duplicates_policy == "keep"
    assert kept.n_judgments == 6 and rep.n_rejected == 0
    assert any("no timestamp column, so a duplicate cannot be told apart" in n for n in rep.notes)
    assert "2 rows are exact duplicates of an earlier row, kept" in rep.summary()
    dropped = pq.read(path, duplicates="drop")
    rep = dropped.load_report
    assert dropped.n_judgments == 4 and rep.rejected["line"].tolist() == [4, 7]
    assert rep.rejected["value"].tolist() == ["= line 2", "= line 2"]
    assert rep.n_rows == 6 == rep.n_rows_used + rep.n_rejected
    assert dropped.fingerprint() != kept.fingerprint()
    assert dropped.judgments["seconds"].tolist() == [3.5, 4.0, 2.0, 3.6]
    stamped = pd.read_csv(path).assign(timestamp=["t1", "t2", "t1", "t3", "t4", "t1"])
    note = next(n for n in pq.read(stamped).load_report.notes if "exact duplicates" in n)
    assert "timestamps included" in note
    with pytest.raises(SchemaError, match=r"`duplicates` must be 'keep' or 'drop'; got 'first'"):
        pq.read(path, duplicates="first")


def test_duplicate_detection_against_pandas() -> None:
    # independent check: pandas.DataFrame.duplicated over every column
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"comparison_id": rng.integers(0, 40, 3000).astype(str),
                          "annotator_id": rng.integers(0, 5, 3000).astype(str),
                          "choice": rng.choice(["a", "b", "tie"], 3000),
                          "response_a": rng.choice(["x", "y", "z"], 3000)})
    frame["prompt"] = "prompt of " + frame["comparison_id"]  # a long column equal within comparisons
    from prefqa.io._checks import exact_duplicates

    rows, first = exact_duplicates(frame)
    assert rows.tolist() == np.flatnonzero(frame.duplicated().to_numpy()).tolist()
    key = frame.apply(tuple, axis=1)
    first_seen = {k: i for i, k in reversed(list(enumerate(key)))}
    assert first.tolist() == [first_seen[key[i]] for i in rows]


# ------------------------------------------------- conflicting texts (item 1, judgments)
def test_one_response_id_with_two_texts(tmp_path: Path) -> None:
    header = "comparison_id,annotator_id,choice,response_a_id,response_a,response_b_id,response_b\n"
    clean = header + "c1,w1,a,r1,yes,r2,no\nc2,w1,b,r1,yes,r3,maybe\n"
    messy = header + "c1,w1,a,r1,yes,r2,no\nc2,w1,b,r1,YES!,r3,maybe\nc3,w2,a,r4,x,r2,no\n"
    (tmp_path / "clean.csv").write_text(clean)
    (tmp_path / "messy.csv").write_text(messy)
    with pytest.raises(SchemaError, match=r"messy\.csv, line 3, column 'response_a_id': response id seen "
                                          r"before with a different text; found 'r1' \(1 rows\)"):
        pq.read(tmp_path / "messy.csv")
    data = pq.read(tmp_path / "messy.csv", on_error="skip")
    assert data.load_report.rejected["line"].tolist() == [3]
    assert data.judgments["comparison_id"].tolist() == ["c1", "c3"]
    assert data.responses.set_index("response_id").loc["r1", "text"] == "yes"
    assert data.fingerprint() != pq.read(tmp_path / "clean.csv").fingerprint()
    prompts = pd.DataFrame({"comparison_id": ["c1", "c2"], "annotator_id": ["w", "w"], "choice": ["a", "b"],
                            "prompt_id": ["p1", "p1"], "prompt": ["Hi", "Hello"]})
    with pytest.raises(SchemaError, match=r"row 2, column 'prompt_id': prompt id seen before with a different"):
        pq.read(prompts)


# ---------------------------------------------------------- choices (item 4)
def test_choice_spellings_are_normalised_and_counted(tmp_path: Path) -> None:
    spellings = ["A", "B ", " Tie", "left", "RIGHT", "First", "second", "draw", "equal", "a", "b", "tie"]
    expected = ["a", "b", "tie", "a", "b", "a", "b", "tie", "tie", "a", "b", "tie"]
    frame = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(12)], "annotator_id": "w",
                          "choice": spellings})
    frame.to_csv(tmp_path / "c.csv", index=False)
    for data in (pq.read(frame), pq.read(tmp_path / "c.csv")):
        assert data.judgments["choice"].tolist() == expected
        co = data.load_report.coerced
        assert co["n"].sum() == 9 == data.load_report.n_coerced  # the 3 canonical values are not changes
        assert dict(zip(co["value"], co["to"]))["RIGHT"] == "b"
        assert "'RIGHT' -> 'b'" in data.load_report.summary()
    for spelling, target in CHOICE_TABLE.items():
        assert spelling == spelling.strip().lower() and target in ("a", "b", "tie")


@pytest.mark.parametrize("codes, suggestion", [
    ([1, 2, 2, 1], {"1": "a", "2": "b"}),
    ([1, 2, 0, 0], {"0": "tie", "1": "a", "2": "b"}),
    ([0, 1, 1, 0], {"0": "a", "1": "b"}),
])
def test_numeric_choice_codes_need_a_mapping_for_the_values_found(codes: list[int], suggestion: dict,
                                                                   tmp_path: Path) -> None:
    frame = pd.DataFrame({"comparison_id": ["c1", "c2", "c3", "c4"], "annotator_id": "w", "choice": codes})
    with pytest.raises(SchemaError, match=r"numeric choice codes .* are ambiguous") as info:
        pq.read(frame)
    assert info.value.fix == {"map_value": {"choice": suggestion}}
    assert f"mapping={{'choice': {suggestion!r}}}" in str(info.value)
    cli = format_fix(info.value, "cli")
    assert cli == " ".join(f"--map-value choice:{k}={v}" for k, v in suggestion.items())
    message = error_text(info.value, "cli")  # the whole message in CLI terms
    assert cli in message and "--on-error skip" in message and "mapping=" not in message
    assert "on_error=" not in message and error_text(info.value) == str(info.value)
    # the suggested mapping works as written, on integers and on CSV text alike
    frame.to_csv(tmp_path / "n.csv", index=False)
    for source in (frame, tmp_path / "n.csv"):
        data = pq.read(source, mapping={"choice": suggestion})
        assert data.judgments["choice"].tolist() == [suggestion[str(c)] for c in codes]


def test_missing_column_fix_in_cli_terms() -> None:
    with pytest.raises(SchemaError) as info:
        pq.read(pd.DataFrame({"comparison_id": ["c"], "rater": ["w"], "choice": ["a"]}))
    assert info.value.fix == {"rename": {"<your column>": "annotator_id"}}
    assert error_text(info.value, "cli").endswith("Rename yours with --map <your column>=annotator_id.")


def test_choice_fix_names_the_source_column() -> None:
    frame = pd.DataFrame({"comparison_id": ["c1"], "annotator_id": ["w"], "verdict": [2]})
    with pytest.raises(SchemaError, match=r"column 'verdict'.*mapping=\{'verdict': \{'2': 'b'\}\}") as info:
        pq.read(frame, mapping={"verdict": "choice"})
    assert format_fix(info.value, "cli") == "--map-value verdict:2=b"


# ---------------------------------------------------------- PandaLM auto (item 4)
def test_pandalm_is_read_with_format_auto(pandalm_dir: Path) -> None:
    auto = pq.read(pandalm_dir / "testset-v1.json")
    # counts from ../shared/data/pandalm_testset/SOURCE.md ("Counts (computed here)")
    assert (auto.n_judgments, auto.n_comparisons, auto.n_prompts) == (2997, 999, 170)
    models = set(auto.judgments["model_a"]) | set(auto.judgments["model_b"])
    assert len(models) == 5 and auto.has_models
    assert any("recognised PandaLM's layout" in n for n in auto.load_report.notes)
    explicit = pq.read(pandalm_dir / "testset-v1.json", format="wide", id_column="idx",
                       prompt_columns=["instruction", "input"], response_columns=["response1", "response2"],
                       model_key="cmp_key")
    assert auto.fingerprint() == explicit.fingerprint()
    # SOURCE.md "Oddities": 6 responses are JSON true (4 in response1, 2 in response2), kept as "True"
    co = auto.load_report.coerced.set_index("column")
    assert co.loc["response1", ["value", "to", "n"]].tolist() == ["True (bool)", "True", 4]
    assert co.loc["response2", "n"] == 2
    assert (auto.prompts["text"].str.len() > 0).all()


# --------------------------------------------------------------- registry (item 4)
def test_the_registry_drives_formats_detection_and_options() -> None:
    formats = reader_formats()
    assert tuple(f.name for f in formats) == FORMATS == pq.io.FORMATS
    for f in formats:
        d = f.to_dict()
        assert d["signature"] and d["description"] and isinstance(d["options"], list)
    from prefqa.io._detect import OPTIONS, SIGNATURES

    assert OPTIONS == {f.name: f.options for f in formats} and list(SIGNATURES) == list(FORMATS)
    frame = pd.DataFrame({"foo": [1]})
    with pytest.raises(SchemaError, match=r"cannot detect the format.*ratings: score \+ response"):
        pq.read(frame)
    assert pq.io.SOURCE_SUFFIXES[".xlsx"] == "excel" and ".jsonl" in pq.io.SOURCE_SUFFIXES


# ----------------------------------------------------------------- unused columns
def test_unused_columns_are_named() -> None:
    data = pq.read(DATA / "arena.jsonl")
    assert "openai_moderation" in data.load_report.unused_columns
    assert "Columns not used: ['openai_moderation']" in data.load_report.summary()
    frame = pd.DataFrame({"prompt": ["p"], "chosen": ["x"], "rejected": ["y"], "tags": [["t1", "t2"]],
                          "vendor": ["acme"]})
    trl = pq.read(frame)
    assert trl.load_report.unused_columns == ("tags",) and trl.judgments["vendor"].tolist() == ["acme"]


# -------------------------------------------------------------------- Excel (item 7)
def test_xlsx_reads_like_csv(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    frame = pd.read_csv(DATA / "canonical.csv", keep_default_na=False, dtype={"comparison_id": str})
    frame.to_excel(tmp_path / "vendor.xlsx", index=False, sheet_name="batch 1")
    data = pq.read(tmp_path / "vendor.xlsx")
    ref = pq.read(DATA / "canonical.csv")
    pd.testing.assert_frame_equal(data.judgments, ref.judgments, check_dtype=False)
    assert data.responses["text"].tolist() == ref.responses["text"].tolist()
    rep = data.load_report
    assert rep.n_rows == 6 and rep.n_rejected == 0
    ids = pd.DataFrame({"comparison_id": [101, 102], "annotator_id": [7, 8], "choice": ["A", "x"]})
    ids.to_excel(tmp_path / "ids.xlsx", index=False)
    with pytest.raises(SchemaError, match=r"ids\.xlsx, sheet row 3, column 'choice'"):
        pq.read(tmp_path / "ids.xlsx")
    ok = pq.read(tmp_path / "ids.xlsx", on_error="skip")
    assert ok.judgments[["comparison_id", "annotator_id", "choice"]].values.tolist() == [["101", "7", "a"]]
    assert ok.load_report.rejected["line"].tolist() == [3]


def test_xlsx_without_openpyxl_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v.xlsx"
    path.write_bytes(b"not really a workbook")
    real_import = builtins.__import__

    def no_openpyxl(name, *args, **kwargs):
        if name == "openpyxl":
            raise ImportError("No module named 'openpyxl'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openpyxl)
    with pytest.raises(pq.PrefqaError, match=r"needs the openpyxl package.*pip install 'prefqa\[app\]'"):
        pq.read(path)


def test_old_excel_formats_get_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "v.xls"
    path.write_bytes(b"x")
    with pytest.raises(SchemaError, match=r"\.xls workbooks are not read; save the sheet as \.xlsx"):
        pq.read(path)


def test_json_summary_mentions_everything() -> None:
    frame = pd.DataFrame({"comparison_id": ["c1", "c1", "c2", "c2"], "annotator_id": ["w", "w", "v", None],
                          "choice": ["Left", "Left", "b", "a"]})
    rep = pq.read(frame, on_error="skip").load_report
    text = rep.summary()
    assert "1 x annotator id is missing" in text and "'Left' -> 'a' (2 cells)" in text
    assert "exact duplicates" in text
    assert json.loads(rep.to_frame().to_json(orient="records"))[0]["n_duplicates"] == 1


def test_text_conflicts_against_a_plain_dictionary() -> None:
    # independent implementation: remember the first text of each id, flag every later different text
    from prefqa.io._checks import text_conflicts

    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(1, 30))
        ids = pd.Series(rng.choice(np.array(["r1", "r2", "r3", None], dtype=object), n), dtype="str")
        texts = pd.Series(rng.choice(["x", "y", "z"], n), dtype="str")
        if rng.random() < 0.5:  # long runs of equal rows, as in files with consecutive judgments
            texts = texts.sort_values().reset_index(drop=True)
        first: dict[str, str] = {}
        expected = []
        for i, t in zip(ids, texts):
            if pd.isna(i):
                expected.append(False)
                continue
            expected.append(first.setdefault(i, t) != t)
        assert text_conflicts(ids, texts).tolist() == expected


def test_blank_choice_is_missing_not_unknown(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_text("comparison_id,annotator_id,choice\nc1,w,a\nc2,w,\nc3,w,maybe\n")
    with pytest.raises(SchemaError, match=r"b\.csv, line 3, column 'choice': choice is missing"):
        pq.read(tmp_path / "b.csv")
    rej = pq.read(tmp_path / "b.csv", on_error="skip").load_report.rejected
    assert rej["line"].tolist() == [3, 4]
    assert rej["reason"].iloc[0] == "choice is missing" and rej["reason"].iloc[1].startswith("unknown choice")


def test_messy_xlsx_accounts_for_every_row(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    frame = pd.DataFrame({"comparison_id": ["c1", "c1", None, "c3", "c3", "c3"],
                          "annotator_id": [1, "w2", "w3", None, "w2", "w2"],
                          "choice": ["A", "b", "a", "tie", "Left", "Left"],
                          "prompt": ["日本語?", "日本語?", "p", "x" * 20_000, "x" * 20_000, "x" * 20_000],
                          "empty": [None] * 6})
    frame.to_excel(tmp_path / "m.xlsx", index=False)
    data = pq.read(tmp_path / "m.xlsx", on_error="skip")
    rep = data.load_report
    assert rep.n_rows == 6 and rep.n_rows_used == 4 and rep.rejected["line"].tolist() == [4, 5]
    assert rep.duplicates.values.tolist() == [[7, 6]]  # sheet rows 6 and 7 are equal in every column
    assert data.judgments["annotator_id"].tolist() == ["1", "w2", "w2", "w2"]
    assert data.prompts.set_index("prompt_id")["text"].str.len().max() == 20_000


def test_a_list_among_strings_in_an_extra_column() -> None:
    frame = pd.DataFrame({"comparison_id": ["c1", "c2", "c2"], "annotator_id": ["w", "w", "w"],
                          "choice": ["a", "b", "b"], "tags": ["x", ["y"], ["y"]]})
    data = pq.read(frame)
    assert data.load_report.duplicates.values.tolist() == [[3, 2]]
    other = pq.read(frame.assign(tags=["x", ["y"], ["z"]]))
    assert len(data.fingerprint()) == 64 and data.fingerprint() != other.fingerprint()


def test_text_in_a_numeric_column_is_rejected_on_its_line() -> None:
    frame = pd.DataFrame({"comparison_id": ["c1", "c2", "c3"], "annotator_id": "w", "choice": ["a", "b", "b"],
                          "seconds": ["3.5", "fast", ""]})
    with pytest.raises(SchemaError, match=r"row 2, column 'seconds': seconds is not a number; found 'fast'"):
        pq.read(frame)
    data = pq.read(frame, on_error="skip")
    assert data.judgments["seconds"].tolist()[0] == 3.5 and np.isnan(data.judgments["seconds"].iloc[1])
    assert data.load_report.rejected["line"].tolist() == [2]
    assert data.load_report.coerced[["column", "n"]].values.tolist() == [["seconds", 1]]
