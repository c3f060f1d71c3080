"""pq.audit's Training readiness and Suspect labels sections (prefqa/audit/_readiness.py, issue 15 items 5-6).

The sections copy pq.lint, pq.label_issues and pq.contamination: every number is checked against an
independent call of the library on the same data; planted problems (identical / empty / mojibake
responses, a pair that truncation makes identical, copied benchmark prompts, label noise against
the simulator's true better response) must be found and named in the findings, and clean data (an
unrelated benchmark, a clean simulation) must give no such finding.
"""

from __future__ import annotations

import json
import shlex

import jsonschema
import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.audit._config import STEP_NAMES
from prefqa.audit._json import load_schema
from prefqa.audit._readiness import readiness_applies, score_stem
from prefqa.cleaning import contamination, label_issues, lint
from prefqa.errors import SchemaError
from prefqa.schema import PreferenceData

EVIL = "<script>alert(\"x\")</script> it's"
MINE = ("readiness", "cleaning")
ONLY = [s for s in STEP_NAMES if s not in MINE]  # skip every other step: these tests are about two sections


def _cfg(**tables) -> dict:
    return {"audit": {"n_resamples": 10, "skip": list(ONLY), **tables}}


def _valid(report: pq.AuditReport) -> dict:
    content = json.loads(report.to_json())
    jsonschema.validate(content, load_schema())
    return content


def _same(a, b) -> bool:
    """Equal JSON values, floats to 1e-9 relative (the engine sums in another order)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return b == pytest.approx(a, rel=1e-9, abs=1e-12)
    return a == b


def _codes(report: pq.AuditReport) -> dict[str, dict]:
    return {f["code"]: f for f in report.findings}


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def scored():
    """Simulated votes with reward-model scores (rm_score_a / rm_score_b) and planted benchmark copies."""
    return pq.simulate(n_prompts=40, n_annotators=8, rm_noise=0.5, contaminate=4, rng=3)


@pytest.fixture(scope="module")
def bench_files(scored, tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    _, truth = scored
    planted = d / "planted.jsonl"
    truth.benchmark.to_json(planted, orient="records", lines=True)
    unrelated = d / "unrelated.csv"
    pd.DataFrame({"question": [f"Which river flows through city number {i} of the old kingdom, and why?"
                               for i in range(30)]}).to_csv(unrelated, index=False)
    return planted, unrelated


@pytest.fixture(scope="module")
def scored_report(scored, bench_files):
    data, _ = scored
    return pq.audit(data, config=_cfg(cleaning={"benchmarks": [str(bench_files[0])]}), progress=False, strict=True)


def _with_problems() -> PreferenceData:
    """A clean simulation with planted lint problems: one identical pair, one empty and one mis-decoded response."""
    data, _ = pq.simulate(n_prompts=20, n_annotators=5, rng=8)
    comps = data.comparisons()
    r = data.responses.set_index("response_id")
    text = r["text"].copy()
    c0, c1, c2 = comps.iloc[0], comps.iloc[7], comps.iloc[14]
    text[c0["response_1_id"]] = EVIL + " same words"
    text[c0["response_2_id"]] = EVIL + " same words"
    text[c1["response_1_id"]] = "   "
    text[c2["response_2_id"]] = "the caf\u00c3\u00a9 is open"
    responses = r.assign(text=text).reset_index()
    return PreferenceData(data.judgments, responses, data.prompts)


# ------------------------------------------------------------------ when the sections appear
def test_sections_are_in_every_audit_and_skip_leaves_them_out(scored):
    data, _ = scored
    plain, _ = pq.simulate(n_prompts=10, n_annotators=4, rng=1)
    assert score_stem(data) == "rm_score" and score_stem(plain) is None
    assert readiness_applies(data, {"audit": {}}) and readiness_applies(plain, {"audit": {}})
    names = list(pq.audit(plain, config=_cfg(), progress=False, strict=True).sections)
    assert names[-3:] == ["readiness", "cleaning", "pairs"]  # before the pair preview
    skipped = pq.audit(plain, config={"audit": {"n_resamples": 10, "skip": [*ONLY, *MINE]}}, progress=False,
                       strict=True)
    assert all(skipped.sections[m]["status"] == "skipped" for m in MINE if m in skipped.sections)


def test_sections_follow_skip_and_validate_their_options(scored, tmp_path):
    data, _ = scored
    report = pq.audit(data, config={"audit": {"skip": ONLY + ["cleaning"]}}, progress=False, strict=True)
    assert report.sections["readiness"]["status"] == "ok"
    assert report.sections["cleaning"]["reason"] == "skipped by your config ([audit] skip lists 'cleaning')"
    with pytest.raises(SchemaError, match=r"`\[audit.readiness\]` has unknown key\(s\) \['max_tokes'\]; allowed"):
        pq.audit(data, config=_cfg(readiness={"max_tokes": 5}), progress=False)
    with pytest.raises(SchemaError, match=r"benchmarks`: '.*nope.jsonl' does not exist"):
        pq.audit(data, config=_cfg(cleaning={"benchmarks": [str(tmp_path / "nope.jsonl")]}), progress=False)
    with pytest.raises(SchemaError, match=r"`\[audit.cleaning\] scores` must be a column stem .* got 3"):
        pq.audit(data, config=_cfg(cleaning={"scores": 3}), progress=False)
    toml = tmp_path / "prefqa.toml"
    toml.write_text(f"[audit]\nskip = {json.dumps(ONLY)}\n[audit.cleaning]\nscores = false\nthreshold = 0.9\n")
    assert pq.audit(data, config=toml, progress=False, strict=True).sections["cleaning"]["status"] == "ok"


# ------------------------------------------------------------------ Training readiness
def test_readiness_counts_equal_pq_lint_and_name_the_planted_problems():
    data = _with_problems()
    report = pq.audit(data, config=_cfg(readiness={}), progress=False, strict=True)
    content = _valid(report)
    sec = content["sections"]["readiness"]
    assert sec["status"] == "ok"
    res = sec["result"]
    direct = lint(data)  # an independent call of the library
    assert res["counts"] == direct.counts()
    assert {"identical", "empty", "mojibake"} <= set(direct.counts())
    n_aff = len(direct.comparison_ids())
    assert res["values"]["n_affected"] == n_aff and res["values"]["n_problems"] == direct.n_problems
    assert res["values"]["affected_share"] == n_aff / data.n_comparisons
    per = direct.problems.groupby("reason_code")["comparison_id"].nunique()
    for row in res["table"]:
        assert row["n_comparisons"] == per[row["reason_code"]]
        assert row["share"] == per[row["reason_code"]] / data.n_comparisons
    # one example per reason code, with the pair's texts (raw in the JSON, escaped in the HTML)
    assert [e["reason_code"] for e in res["examples"]] == list(direct.counts())
    same = next(e for e in res["examples"] if e["reason_code"] == "identical")
    assert same["response_1"] == same["response_2"] == EVIL + " same words"
    html = report.to_html()
    readiness_html = html[html.index("<section id='readiness'>"):]
    assert readiness_html.index("<svg") < readiness_html.index("</section>")  # the problems chart
    assert "<script" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; it&#x27;s" in html
    f = _codes(report)["training_readiness"]
    assert f["value"] == n_aff / data.n_comparisons and f"{n_aff:,} of {data.n_comparisons:,} comparisons" in f[
        "message"]
    assert f["severity"] == ("high" if f["value"] >= 0.05 else "medium" if f["value"] >= 0.01 else "low")


def test_clean_data_gets_no_readiness_problem_finding():
    data, _ = pq.simulate(n_prompts=20, n_annotators=5, rng=8)
    report = pq.audit(data, config=_cfg(readiness={}), progress=False, strict=True)
    assert lint(data).n_problems == 0
    codes = _codes(report)
    assert "training_readiness" not in codes and codes["training_ready"]["severity"] == "info"


@pytest.fixture
def tokenizer_json(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    words = "q the answer is four five six seven a b c d e f g".split()
    tok = Tokenizer(WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    path = tmp_path / "my tokenizer.json"
    tok.save(str(path))
    return path


def test_truncation_from_the_config_with_a_local_tokenizer(tokenizer_json):
    rows = pd.DataFrame({"prompt": ["q", "q", "q"],
                         "chosen": ["the answer is four", "a b c", "a b c d e f"],
                         "rejected": ["the answer is five", "a b d", "g b c d e f"]})
    data = pq.read(rows, format="trl")  # one vote per row, no annotator ids
    opts = {"tokenizer": str(tokenizer_json), "max_tokens": 5}
    report = pq.audit(data, config=_cfg(readiness=opts), progress=False, strict=True)
    res = _valid(report)["sections"]["readiness"]["result"]
    direct = lint(data, tokenizer=tokenizer_json, max_tokens=5)
    assert res["counts"] == direct.counts() == {"truncation_identical": 1}  # keep_end: the first token is cut
    assert res["values"]["max_tokens"] == 5 and res["values"]["truncation_mode"] == "keep_end"
    f = _codes(report)["training_readiness"]
    assert f["command"].endswith(f"--max-tokens 5 --tokenizer {shlex.quote(str(tokenizer_json))}")
    # one vote, no annotator ids, no scores: p_label_wrong is not estimable, and the finding says why
    part = report.sections["cleaning"]["result"]["label_issues"]
    assert part["method"] == "none" and part["n_estimable"] == 0
    assert "cannot be estimated" in _codes(report)["suspect_labels_not_estimable"]["message"]


def test_data_without_texts_skips_readiness_and_keeps_the_label_issues(scored):
    data, _ = scored
    bare = PreferenceData(data.judgments.drop(columns=["response_a_id", "response_b_id"]))
    report = pq.audit(bare, config=_cfg(cleaning={"scores": False}), progress=False, strict=True)
    assert report.sections["readiness"]["reason"] == "no response texts in this file"
    part = report.sections["cleaning"]["result"]["label_issues"]
    direct = label_issues(bare, rng=0)
    assert part["method"] == direct.method == "dawid_skene"
    assert part["n_flagged"] == direct.n_flagged and part["expected_wrong_share"] == direct.flip_rate
    assert report.sections["cleaning"]["result"]["contamination"]["status"] == "skipped"


# ------------------------------------------------------------------ Suspect labels
def test_suspect_labels_equal_pq_label_issues_with_the_found_scores(scored, scored_report):
    data, truth = scored
    report = scored_report
    _valid(report)
    res = report.sections["cleaning"]["result"]
    part = res["label_issues"]
    direct = label_issues(data, scores="rm_score", rng=0)  # the stem the section found by itself
    assert part["scores_found"] and part["scores_arg"] == "rm_score" and part["method"] == direct.method
    assert part["n_flagged"] == direct.n_flagged > 0 and part["n_estimable"] == direct.n_estimable
    assert part["flagged_share"] == direct.n_flagged / direct.n_estimable
    assert part["expected_wrong_share"] == direct.flip_rate
    t = direct.table
    top = t[t["flagged"]].sort_values("p_label_wrong", ascending=False, kind="stable")
    shown = res["tables"]["suspect_labels"]["rows"]
    assert [r["comparison_id"] for r in shown] == top.index.tolist()
    assert [r["p_label_wrong"] for r in shown] == top["p_label_wrong"].tolist()
    ex = res["examples"]
    assert len(ex) == min(5, len(top)) and all(e["prompt"] and e["response_1"] and e["response_2"] for e in ex)
    # planted label noise: the comparisons the section shows as suspect are mostly truly mislabelled
    better = truth.better.reindex(t.index).to_numpy(dtype=object)
    chosen = np.where(t["consensus"] == "1", t["response_1_id"], t["response_2_id"])
    wrong = pd.Series(chosen != better, index=t.index)[t["p_label_wrong"].notna()]
    assert wrong[[r["comparison_id"] for r in shown]].mean() >= 2 * wrong.mean()
    hist = res["distribution"]  # the chart's bins hold every comparison with a p_label_wrong
    assert sum(hist["counts"]) == direct.n_estimable and hist["threshold"] == 0.5
    assert sum(c for c, lo in zip(hist["counts"], hist["edges"]) if lo >= 0.5) == direct.n_flagged
    html = report.to_html()
    cleaning_html = html[html.index("<section id='cleaning'>"):]
    assert cleaning_html.index("<svg") < cleaning_html.index("</section>")
    f = _codes(report)["suspect_labels"]
    assert f["value"] == part["flagged_share"] and f["command"].startswith("prefqa relabel DATA --budget ")
    assert f"--budget {direct.n_flagged} --scores rm_score" in f["command"]
    assert f["severity"] == ("high" if f["value"] >= 0.10 else "medium" if f["value"] >= 0.03 else "low")


def test_two_score_columns_from_the_config(scored):
    data, _ = scored
    j = data.judgments.rename(columns={"rm_score_a": "left_rm", "rm_score_b": "right_rm"})
    renamed = PreferenceData(j, data.responses, data.prompts)
    assert score_stem(renamed) is None  # not a <stem>_a / <stem>_b pair: only used when named
    report = pq.audit(renamed, config=_cfg(cleaning={"scores": ["left_rm", "right_rm"]}), progress=False,
                      strict=True)
    part = report.sections["cleaning"]["result"]["label_issues"]
    direct = label_issues(renamed, scores=("left_rm", "right_rm"), rng=0)
    assert part["n_flagged"] == direct.n_flagged and part["scores"] == direct.scores
    assert not part["scores_found"]
    assert "--scores left_rm,right_rm" in _codes(report)["suspect_labels"]["command"]


def test_no_suspect_label_is_an_info_finding(scored):
    data, _ = scored
    report = pq.audit(data, config=_cfg(cleaning={"threshold": 0.99}), progress=False, strict=True)
    assert label_issues(data, scores="rm_score", threshold=0.99, rng=0).n_flagged == 0
    codes = _codes(report)
    assert "suspect_labels" not in codes and codes["suspect_labels_none"]["severity"] == "info"


# ------------------------------------------------------------------ contamination
def test_contamination_finds_the_planted_copies(scored, bench_files, scored_report):
    data, truth = scored
    part = scored_report.sections["cleaning"]["result"]["contamination"]
    direct = contamination(data, [str(bench_files[0])])
    assert set(direct.prompt_ids) == set(truth.contaminated_prompts.astype(str))
    rows = scored_report.sections["cleaning"]["result"]["tables"]["contaminated_prompts"]["rows"]
    assert {r["prompt_id"] for r in rows} == set(direct.prompt_ids)
    assert part["n_flagged"] == direct.n_flagged and part["share"] == direct.share
    hit = data.comparisons()["prompt_id"].isin(list(direct.prompt_ids))
    assert part["n_comparisons_affected"] == int(hit.sum()) and part["comparison_share"] == hit.mean()
    f = _codes(scored_report)["contaminated_prompts"]
    assert f["severity"] == "high" and f["value"] == direct.share
    assert f["command"].endswith(f"--benchmarks {shlex.quote(str(bench_files[0]))}")


def test_an_unrelated_benchmark_flags_nothing(scored, bench_files):
    data, _ = scored
    report = pq.audit(data, config=_cfg(cleaning={"benchmarks": [str(bench_files[1])]}), progress=False,
                      strict=True)
    part = report.sections["cleaning"]["result"]["contamination"]
    assert part["status"] == "ok" and part["n_flagged"] == 0
    codes = _codes(report)
    assert "contaminated_prompts" not in codes and codes["contamination_none"]["severity"] == "info"


# ------------------------------------------------------------------ engine data
def test_engine_data_skips_with_a_reason_or_equals_memory(scored, bench_files, scored_report):
    data, _ = scored
    scanned = pq.scan(data, memory_limit="300MB", threads=1)
    cfg = {"audit": {"skip": ONLY, "cleaning": {"benchmarks": [str(bench_files[0])]}}}
    report = pq.audit(scanned, config=cfg, progress=False, strict=True)
    _valid(report)
    sec = report.sections
    assert sec["readiness"]["status"] == "skipped" and "engine data (duckdb)" in sec["readiness"]["reason"]
    assert sec["cleaning"]["status"] in ("ok", "skipped")
    if sec["cleaning"]["status"] == "skipped":
        assert "engine data (duckdb)" in sec["cleaning"]["reason"]
        return
    # pq.label_issues collects the votes: the same numbers, rows and example texts as in memory
    mine, mem = sec["cleaning"]["result"], scored_report.sections["cleaning"]["result"]
    for key in ("method", "n_flagged", "n_estimable", "flagged_share", "scores_arg"):
        assert mine["label_issues"][key] == mem["label_issues"][key], key
    assert mine["label_issues"]["expected_wrong_share"] == pytest.approx(
        mem["label_issues"]["expected_wrong_share"], rel=1e-9)
    assert mine["examples"] and _same(mine["examples"], mem["examples"])
    assert _same(mine["tables"]["suspect_labels"], mem["tables"]["suspect_labels"])
    assert "engine data (duckdb)" in mine["contamination"]["reason"]
    assert "Contamination not checked: not supported on engine data" in _codes(report)["contamination_skipped"][
        "message"]
