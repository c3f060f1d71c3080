"""pq.audit: steps, skips with reasons, findings, JSON schema, escaped HTML, config, progress.

Speed: each data set is audited once per module (fixtures) and many things are asserted on
that one report; settings are light (20 bootstrap resamples, the crossed preference model only
where it is checked). The CLI runs on the bundled sample, PandaLM and HH-RLHF are in test_cli.
"""

from __future__ import annotations

import io
import json
import re

import jsonschema
import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa._progress import Progress
from prefqa.audit import _steps
from prefqa.audit._json import load_schema
from prefqa.audit._steps import prompt_subsample
from prefqa.errors import SchemaError
from prefqa.schema import PreferenceData

N_RESAMPLES = 20
FAST = {"audit": {"n_resamples": N_RESAMPLES, "skip": ["preference_model"]}}
EVIL = "<script>alert(\"x\")</script> it's"
SECTIONS = ("load_report", "reliability", "icc", "annotators", "judge", "consensus", "bradley_terry",
            "bradley_terry_style", "preference_model", "rating_model", "length_bias", "position_bias", "style_bias",
            "prompts", "simpson", "readiness", "cleaning", "pairs")
RATINGS_STEPS = ("icc", "rating_model")
# a planted dataset-wide position effect of +1.0 logit moves P(first shown) from 0.5 to about 0.7
POSITION_EFFECT = 1.0
MIN_PLANTED_P_FIRST = 0.6
FIT_RTOL = 1e-9  # same data, same deterministic fit


def _validate(report: pq.AuditReport) -> dict:
    content = json.loads(report.to_json())
    jsonschema.validate(content, load_schema())
    return content


def _only(step: str, **audit) -> dict:
    return {"audit": {"n_resamples": N_RESAMPLES, "skip": [s for s in SECTIONS if s != step], **audit}}


@pytest.fixture(scope="module")
def planted():
    data, truth = pq.simulate(n_prompts=80, n_annotators=12, n_always_a=1, n_spammers=1,
                              length_effect=1.5, n_domains=2, rng=11)
    report = pq.audit(data, config={"audit": {"n_resamples": N_RESAMPLES, "by": "domain"}},
                      progress=False, strict=True)
    return data, truth, report


def test_every_step_runs_on_rich_data_and_validates(planted):
    data, _, report = planted
    content = _validate(report)
    assert list(content["sections"]) == list(SECTIONS)
    status = {k: s["status"] for k, s in content["sections"].items()}
    assert status["load_report"] == "skipped"  # built in memory: no reader, no load report
    assert "no load report" in content["sections"]["load_report"]["reason"]
    assert "no `annotator_kind` column marks LLM judges" in content["sections"]["judge"]["reason"]
    for name in RATINGS_STEPS:
        assert content["sections"][name]["reason"] == "no ratings (absolute scores) in this file"
    ran = [k for k in SECTIONS if k not in ("load_report", "judge", *RATINGS_STEPS)]
    assert all(status[k] == "ok" for k in ran), status
    assert content["input"]["fingerprint"] == data.fingerprint()
    assert content["input"]["n_judgments"] == data.n_judgments
    assert content["dependencies"]["pandas"] == pd.__version__
    assert content["config"]["audit"]["by"] == "domain"
    assert all(s["seconds"] >= 0 for s in content["sections"].values())
    assert report.to_frame().loc["reliability", "status"] == "ok"
    # small data: the preference model is fitted on every judgment, and says so
    pm = content["sections"]["preference_model"]["result"]
    assert pm["subsample"] is None


def test_findings_name_the_planted_annotators_and_length_bias(planted):
    _, truth, report = planted
    order = {"high": 0, "medium": 1, "low": 2, "info": 3}
    ranks = [order[f["severity"]] for f in report.findings]
    assert ranks == sorted(ranks)
    planted_ids = set(truth.flagged_annotators())
    named = set()
    for f in report.findings:
        if f["code"].startswith("annotators_"):
            assert f["command"].startswith("prefqa export ")
            named |= set(f["command"].split("--exclude-annotators ")[1].strip("'").split(","))
    assert planted_ids <= named
    codes = {f["code"] for f in report.findings}
    assert "length_bias" in codes  # planted length_effect=1.5
    assert all(f["message"].endswith(".") for f in report.findings)


def test_dataset_wide_position_bias_gives_a_finding_with_its_numbers():
    data, _ = pq.simulate(n_prompts=150, n_annotators=10, position_effect=POSITION_EFFECT, rng=21)
    report = pq.audit(data, config=_only("position_bias"), progress=False, strict=True)
    v = report.sections["position_bias"]["result"]["values"]
    assert v["estimate"] > MIN_PLANTED_P_FIRST
    f = next(f for f in report.findings if f["code"] == "position_bias")
    assert f["value"] == v["estimate"] and f["severity"] == "high"
    low, high = v["confidence_interval"]
    expected = (f"The first-shown response is chosen in {100 * v['estimate']:.0f}% of {v['n_trials']:,} "
                f"non-tie judgments (95% CI {100 * low:.0f}% to {100 * high:.0f}%)")
    assert f["message"].startswith(expected)


def test_null_data_raises_no_bias_findings():
    data, _ = pq.simulate(n_prompts=80, n_annotators=10, rng=5)
    report = pq.audit(data, config=FAST, progress=False, strict=True)
    codes = {f["code"] for f in report.findings}
    assert not codes & {"length_bias", "position_bias", "step_failed"}
    assert not any(c.startswith("annotators_") for c in codes)


def _no_annotators(data: PreferenceData) -> PreferenceData:
    j = data.judgments.drop_duplicates("comparison_id").copy()
    j["annotator_id"] = pd.NA
    return PreferenceData(j, data.responses, data.prompts, order_known=False)


@pytest.fixture(scope="module")
def small():
    data, _ = pq.simulate(n_prompts=40, n_annotators=6, rng=2)
    return data


def test_no_annotators_skips_with_reasons(small):
    report = pq.audit(_no_annotators(small), config=FAST, progress=False, strict=True)
    content = _validate(report)
    s = content["sections"]
    for name in ("reliability", "annotators", "consensus", "judge"):
        assert s[name]["status"] == "skipped"
        assert "no annotator ids" in s[name]["reason"]
    assert s["position_bias"]["reason"].startswith("the display order is unknown: this file does not record")
    assert s["pairs"]["status"] == "ok" and s["length_bias"]["status"] == "ok"
    info = [f["message"] for f in report.findings if f["code"] == "step_skipped"]
    assert any(m.startswith("Reliability skipped: no annotator ids") for m in info)
    # the preference model needs annotator ids too (the config skip is checked first here)
    no_skip = pq.audit(_no_annotators(small), config=_only("preference_model"), progress=False, strict=True)
    assert "no annotator ids" in no_skip.sections["preference_model"]["reason"]


def test_one_annotator_and_no_models_skip_with_reasons(small):
    j = small.judgments.drop_duplicates("comparison_id").drop(columns=["model_a", "model_b"])
    j["annotator_id"] = "solo"
    one = PreferenceData(j, small.responses, small.prompts)
    content = _validate(pq.audit(one, config=FAST, progress=False, strict=True))
    s = content["sections"]
    assert "only 1 annotator" in s["reliability"]["reason"]
    for name in ("bradley_terry", "bradley_terry_style"):
        assert s[name]["reason"] == "no model ids (`model_a`, `model_b`) in this file"
    assert s["pairs"]["status"] == "ok"


@pytest.mark.filterwarnings("ignore:variance component:prefqa.errors.ConvergenceWarning")
def test_large_data_fits_the_preference_model_on_a_stated_subsample(small):
    cfg = _only("preference_model", preference_model_max_judgments=200)
    report = pq.audit(small, config=cfg, progress=False, strict=True)
    sec = report.sections["preference_model"]
    assert sec["status"] == "ok"
    sub = sec["result"]["subsample"]
    assert sub["n_judgments_total"] == small.n_judgments
    assert 0 < sub["n_judgments"] <= 200 < small.n_judgments
    # the fit is the one of the same prompts chosen directly (an independent call of the library)
    direct = pq.fit_preference_model(small.subset(prompt_subsample(small, 200, 0)))
    assert report.results["preference_model"].n_judgments == direct.n_judgments
    assert report.results["preference_model"].to_frame()["estimate"].tolist() == pytest.approx(
        direct.to_frame()["estimate"].tolist(), rel=FIT_RTOL)
    assert any("subsample" in w for w in sec["warnings"])
    f = next(f for f in report.findings if f["code"] == "preference_model_subsample")
    assert f"{sub['n_judgments']:,} of {small.n_judgments:,} judgments" in f["message"]
    # the same seed picks the same prompts
    again = pq.audit(small, config=cfg, progress=False, strict=True)
    assert again.sections["preference_model"]["result"]["subsample"] == sub


def test_unexpected_error_is_recorded_or_raised_in_strict(monkeypatch, small):
    def boom(*args, **kwargs):
        raise RuntimeError("planted bug")

    monkeypatch.setattr(_steps, "_api", lambda: type("Api", (), {"length_bias": staticmethod(boom)}))
    only = {"audit": {"skip": [s for s in SECTIONS if s != "length_bias"]}}
    report = pq.audit(small, config=only, progress=False)
    sec = report.sections["length_bias"]
    assert sec["status"] == "failed" and sec["reason"] == "RuntimeError: planted bug"
    assert report.findings[0]["code"] == "step_failed"
    with pytest.raises(RuntimeError, match="planted bug"):
        pq.audit(small, config=only, progress=False, strict=True)


def _evil_data() -> PreferenceData:
    data, _ = pq.simulate(n_prompts=30, n_annotators=6, rng=7)
    j = data.judgments.copy()
    j["annotator_id"] = j["annotator_id"].str.replace("ann-", EVIL + "-", regex=False)
    for col in ("model_a", "model_b"):
        j[col] = j[col].str.replace("model-", EVIL + "-", regex=False)
    responses = data.responses.copy()
    responses["text"] = EVIL + " " + responses["text"]
    prompts = data.prompts.copy()
    prompts["text"] = EVIL + " " + prompts["text"]
    return PreferenceData(j, responses, prompts)


def test_html_escapes_every_text_field_including_plots():
    cfg = {"audit": {"n_resamples": N_RESAMPLES, "skip": ["preference_model"]}}
    report = pq.audit(_evil_data(), config=cfg, progress=False, strict=True)
    html = report.to_html()
    assert "<script" not in html.lower()
    assert 'alert("x")' not in html and "it's" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; it&#x27;s" in html  # texts, ids, models
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL)
    assert len(svgs) >= 4
    assert any("&lt;script&gt;" in svg for svg in svgs)  # model ids in the leaderboard plot
    assert report.sections["bradley_terry_style"]["status"] == "ok"  # its model ids are escaped too
    examples = report.sections["pairs"]["result"]["examples"]
    assert EVIL in examples[0]["prompt"]  # the JSON keeps the raw text; only HTML escapes


@pytest.fixture(scope="module")
def planted_html(planted, tmp_path_factory):
    """The planted report rendered once, through ``to_html(path)``."""
    path = tmp_path_factory.mktemp("html") / "r" / "report.html"
    return planted[2].to_html(path), path


def test_html_is_self_contained_and_built_from_the_json(planted, planted_html):
    _, _, report = planted
    html, _ = planted_html
    for name in SECTIONS + ("findings", "input", "steps", "provenance"):
        assert f"id='{name}'" in html
    assert not re.search(r"(src|href)=['\"]?https?:", html) and "@import" not in html
    from prefqa.audit._html import fmt

    for row in report.sections["bradley_terry"]["result"]["table"]:
        assert fmt(row["estimate"]) in html
    alpha = report.sections["reliability"]["result"]["table"][0]["estimate"]
    assert fmt(alpha) in html
    # laptop readability: body text at least 14px, tables scroll sideways instead of overflowing
    assert re.search(r"body\{font:1[4-9]px", html)
    assert "overflow-x:auto" in html


def test_to_json_and_to_html_write_files(planted, planted_html, tmp_path):
    _, _, report = planted
    text = report.to_json(tmp_path / "r" / "report.json")
    assert (tmp_path / "r" / "report.json").read_text() == text
    assert json.loads(text) == report.content
    html, path = planted_html
    assert path.read_text() == html and html.startswith("<!DOCTYPE html>")
    assert "Findings:" in report.summary()


def test_config_from_toml_is_echoed(tmp_path, small):
    cfg = tmp_path / "prefqa.toml"
    cfg.write_text('[read]\nformat = "prefqa"\n[pairs]\nties = "drop"\nmin_agreement = 0.6\n'
                   '[audit]\nn_resamples = 10\nskip = ["preference_model", "reliability", "consensus", '
                   '"bradley_terry", "bradley_terry_style", "length_bias", "style_bias", "prompts"]\n'
                   '[audit.annotators]\nfdr = 0.1\n')
    report = pq.audit(small, config=cfg, progress=False, strict=True)
    c = report.content["config"]
    assert c["read"] == {"format": "prefqa"}
    assert c["pairs"] == {"ties": "drop", "min_agreement": 0.6}
    assert c["audit"]["n_resamples"] == 10 and c["audit"]["annotators"] == {"fdr": 0.1}
    assert report.sections["preference_model"]["reason"] == "skipped by your config ([audit] skip lists 'preference_model')"
    assert report.sections["annotators"]["result"]["attrs"]["fdr"] == 0.1


def test_wrong_read_key_in_a_toml_file_names_the_key(tmp_path, small):
    # [read] is validated by prefqa.io.config (one parser for reader options)
    cfg = tmp_path / "prefqa.toml"
    cfg.write_text('[read]\nformt = "wide"\n')
    with pytest.raises(SchemaError, match=r"prefqa\.toml: unknown key `read\.formt`; known keys: .*'format'"):
        pq.audit(small, config=cfg, progress=False)
    cfg.write_text('[read]\nresponse_columns = ["only_one"]\n')
    with pytest.raises(SchemaError, match=r"`read\.response_columns` must be a list of two column names; "
                                          r"got \['only_one'\]"):
        pq.audit(small, config=str(cfg), progress=False)


@pytest.mark.parametrize("config, match", [
    ({"audti": {}}, r"unknown table\(s\) \['audti'\]"),
    ({"audit": {"n_resampels": 5}}, r"unknown key\(s\) \['n_resampels'\]"),
    ({"audit": {"confidence_level": 1.5}}, r"`\[audit\] confidence_level` must be between 0 and 1; got 1.5"),
    ({"audit": {"skip": ["nope"]}}, r"`\[audit\] skip` must list step names"),
    ({"audit": {"by": "nope"}}, r"stratum column `by`='nope' is not a judgments column"),
    ({"audit": {"preference_model_max_judgments": -1}},
     r"`\[audit\] preference_model_max_judgments` must be >= 0; got -1"),
    ({"read": {"formt": "wide"}}, r"`config`: unknown key `read\.formt`"),
    ({"read": {"on_error": "ignore"}}, r"`read\.on_error` must be 'raise' or 'skip'; got 'ignore'"),
    ({"pairs": {"tie": "drop"}}, r"`\[pairs\]` has unknown key\(s\) \['tie'\]; allowed keys .*'ties'"),
])
def test_bad_config_raises_schema_error(config, match, small):
    with pytest.raises(SchemaError, match=match):
        pq.audit(small, config=config, progress=False)


def test_bad_arguments_raise_schema_error(small):
    with pytest.raises(SchemaError, match="`data` must be a PreferenceData"):
        pq.audit(pd.DataFrame())
    with pytest.raises(SchemaError, match="`progress` must be True or False; got 'yes'"):
        pq.audit(small, progress="yes")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_only_on_a_tty():
    quiet = io.StringIO()
    with Progress(2, stream=quiet) as bar:
        bar.advance("a")
    assert quiet.getvalue() == ""
    tty = _Tty()
    with Progress(2, label="x", stream=tty) as bar:
        bar.start("reading")
        bar.advance()
    out = tty.getvalue()
    assert "x [" in out and "1/2 reading" in out and out.endswith("\r")
    off = _Tty()
    with Progress(2, stream=off, enabled=False) as bar:
        bar.advance("a")
    assert off.getvalue() == ""


# ---------------------------------------------------------------- ratings only, judges without humans, warnings
PAIRWISE_STEPS = ("judge", "consensus", "bradley_terry", "bradley_terry_style", "preference_model", "length_bias",
                  "position_bias", "style_bias", "prompts", "simpson", "pairs")
RATINGS_ONLY = "ratings only: no pairwise judgments in this file"


def _ratings_only(leniency_sd: float = 0.8, rng: int = 1):
    data, truth = pq.simulate(n_prompts=60, n_annotators=8, ratings=True, leniency_sd=leniency_sd, rng=rng)
    empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in ("comparison_id", "annotator_id", "choice")})
    return PreferenceData(empty, data.responses, data.prompts, ratings=data.ratings), truth


def test_ratings_only_data_audits_cleanly():
    data, _truth = _ratings_only()
    report = pq.audit(data, config={"audit": {"n_resamples": N_RESAMPLES}}, progress=False, strict=True)
    content = _validate(report)
    s = content["sections"]
    for name in ("reliability", "icc", "annotators", "rating_model"):
        assert s[name]["status"] == "ok", (name, s[name]["reason"])
    for name in PAIRWISE_STEPS:
        assert s[name]["status"] == "skipped" and s[name]["reason"] == RATINGS_ONLY, name
    rel = s["reliability"]["result"]["table"]
    assert any(str(r["target"]).startswith("rating") and r["estimate"] is not None for r in rel)
    # the ICC section is pq.icc on the ratings (an independent call of the library)
    direct = pq.icc(data.ratings, unit="response_id", rater="annotator_id", value="score")
    assert report.results["icc"].to_frame()["estimate"].tolist() == pytest.approx(
        direct.to_frame()["estimate"].tolist(), rel=FIT_RTOL)
    table = report.results["annotators"]
    assert table["leniency"].notna().all() and table["score_agreement"].notna().all()
    assert any("ratings only" in n for n in table.attrs["notes"])
    # leniency flags name ratings, not judgments, and offer no DPO export
    for f in report.findings:
        if f["code"].startswith("annotators_"):
            assert "of ratings)" in f["message"] and f["command"] is None
    assert content["input"]["n_rating_annotators"] == 8
    assert not any(f["code"] == "step_failed" for f in report.findings)
    # the reliability finding reads the scores' alpha, and the headline counts ratings, not 0 judgments
    alpha = next(x for x in rel if x["coefficient"] == "krippendorff_alpha" and x["stratum"] == "all")
    rel_finding = next(f for f in report.findings if f["code"] in ("reliability_ok", "low_reliability"))
    assert "of the scores" in rel_finding["message"] and rel_finding["value"] == pytest.approx(alpha["estimate"])
    head = report.summary().splitlines()[0]
    assert f"{len(data.ratings):,} ratings" in head and "0 judgments" not in head


def test_annotator_table_on_ratings_only_matches_plain_loops():
    data, truth = _ratings_only(leniency_sd=0.6, rng=4)
    table = pq.annotator_table(data)
    r = data.ratings
    for ann in table.index[:3]:
        mine = r[r["annotator_id"] == ann]
        others_mean, own = [], []
        for resp, score in zip(mine["response_id"], mine["score"]):
            others = r[(r["response_id"] == resp) & (r["annotator_id"] != ann)]["score"]
            if len(others):
                others_mean.append(others.mean())
                own.append(score)
        assert table.loc[ann, "leniency"] == pytest.approx(np.mean(np.subtract(own, others_mean)), rel=1e-9)
        assert table.loc[ann, "score_agreement"] == pytest.approx(np.corrcoef(own, others_mean)[0, 1], rel=1e-9)
    planted = truth.annotators["leniency"].reindex(table.index)
    assert np.corrcoef(table["leniency"], planted)[0, 1] > 0.9


def test_skip_reasons_name_the_file_format():
    from prefqa.schema import LoadReport

    data, _ = pq.simulate(n_prompts=30, n_annotators=4, rng=3)
    j = data.judgments.drop_duplicates("comparison_id").assign(annotator_id=pd.NA).drop(columns="prompt_id")
    report_hh = LoadReport(source="hh.jsonl", format="hh", n_rows=len(j), n_rows_used=len(j), n_judgments=len(j))
    hh = PreferenceData(j, data.responses, pd.DataFrame({"prompt_id": [], "text": []}), order_known=False,
                        load_report=report_hh)
    s = pq.audit(hh, config=FAST, progress=False, strict=True).sections
    assert s["annotators"]["reason"] == "no annotator ids: HH-RLHF rows carry none"
    assert s["position_bias"]["reason"].startswith("the display order is unknown: HH-RLHF rows do not record")
    assert s["prompts"]["reason"] == "no prompt ids in this file"
    assert not any("config" in str(x["reason"]) for name, x in s.items() if name != "preference_model")


def test_llmbar_like_judges_without_humans_in_the_audit():
    from test_judges import LLMBAR_JUDGES, llmbar_like

    data = llmbar_like(LLMBAR_JUDGES, n_items=300)
    cfg = {"audit": {"n_resamples": N_RESAMPLES, "skip": ["preference_model"]}}
    report = pq.audit(data, config=cfg, progress=False, strict=True)
    content = _validate(report)
    s = content["sections"]
    assert s["judge"]["status"] == "ok"
    assert s["prompts"]["status"] == "ok"  # every item judged twice by each judge once crashed flag_prompts
    gold = {f["message"].split()[2]: f for f in report.findings if f["code"] == "judge_vs_gold"}
    assert set(gold) == set(LLMBAR_JUDGES)
    assert gold["chatgpt-0301"]["severity"] == "medium" and "below min_gold_accuracy 60%" in gold[
        "chatgpt-0301"]["message"]
    table = report.results["annotators"]
    # one set of numbers per report: the position and length sections show the annotator table's columns
    for step, cols in (("position_bias", ("p_a", "q_position", "self_consistency", "q_consistency")),
                       ("length_bias", ("length_slope", "q_length"))):
        shown = pd.DataFrame(s[step]["result"]["tables"]["annotators"]["rows"]).set_index("annotator_id")
        assert s[step]["result"]["tables"]["annotators"]["source"] == "annotator_table"
        for col in cols:
            np.testing.assert_allclose(shown[col].to_numpy(dtype=float),
                                       table.loc[shown.index, col].to_numpy(dtype=float), rtol=1e-12)
    flagged = {f["code"]: f for f in report.findings if f["code"].startswith("annotators_")}
    assert "falcon-180b" in flagged["annotators_position"]["command"]
    assert "chatgpt-0301" in flagged["annotators_gold"]["command"]


def test_every_warning_and_approximation_reaches_the_report(monkeypatch, small):
    import dataclasses
    import warnings

    import prefqa.bias._per_annotator as per_annotator
    import prefqa.prompts as prompts_module
    import prefqa.simpson as simpson_module
    from prefqa.errors import ConvergenceWarning

    @dataclasses.dataclass(frozen=True)
    class Approximate:
        estimate: float = 0.5
        subsampled: str = "fitted on 1 of 3 comparisons (planted note)"
        warnings: tuple[str, ...] = ("planted result warning",)

        def summary(self) -> str:
            return "approximate"

    real_flag_prompts = prompts_module.flag_prompts

    def flag_prompts(data, **kwargs):
        table = real_flag_prompts(data, **kwargs)
        table.attrs["warnings"] = ("planted flag_prompts attrs warning",)
        return table

    monkeypatch.setattr(simpson_module, "simpson_check", lambda data, **kw: Approximate())
    monkeypatch.setattr(prompts_module, "flag_prompts", flag_prompts)
    real_length_tests = per_annotator.annotator_length_tests

    def length_tests(*args, **kwargs):  # a fit inside the shared per-annotator tests that did not converge
        warnings.warn("planted: per-annotator length fit did not converge", ConvergenceWarning, stacklevel=2)
        return real_length_tests(*args, **kwargs)

    monkeypatch.setattr(per_annotator, "annotator_length_tests", length_tests)
    cfg = {"audit": {"n_resamples": N_RESAMPLES, "by": "prompt_id",
                     "skip": ["preference_model", "bradley_terry", "bradley_terry_style"]}}
    report = pq.audit(small, config=cfg, progress=False, strict=True)
    content = _validate(report)
    by_step = {}
    for w in content["warnings"]:
        by_step.setdefault(w["step"], []).append(w["message"])
    assert "planted result warning" in by_step["simpson"]
    assert "fitted on 1 of 3 comparisons (planted note)" in by_step["simpson"]
    assert "planted flag_prompts attrs warning" in by_step["prompts"]
    assert any("did not converge" in m for m in by_step["annotators"])  # from the table's attrs['warnings']
    assert any("did not converge" in w for w in report.results["annotators"].attrs["warnings"])
    html, text = report.to_html(), report.summary()
    for msg in ("planted result warning", "planted note", "planted flag_prompts attrs warning"):
        assert msg in html and msg in text
    assert "Warnings and approximations" in html
    assert report.warnings == tuple(f"{w['step']}: {w['message']}" for w in content["warnings"])


def test_position_finding_says_when_side_is_confounded_with_model():
    from prefqa.audit._findings import findings_for

    def content(confounded: bool) -> dict:
        values = {"estimate": 0.13, "confidence_interval": [0.1, 0.16], "n_trials": 1000,
                  "side_confounded": confounded}
        return {"config": {"audit": {"confidence_level": 0.95}}, "input": {"source": None, "n_judgments": 1000},
                "sections": {"position_bias": {"title": "Position bias", "status": "ok", "reason": None,
                                               "result": {"values": values}}}}

    codes = {f["code"] for f in findings_for(content(True))}
    assert codes == {"position_confounded"}
    msg = findings_for(content(True))[0]["message"]
    assert "Position and model cannot be separated" in msg and "HIGH" not in msg
    assert {f["code"] for f in findings_for(content(False))} == {"position_bias"}


AUDIT_HYPOTHESIS_EXAMPLES = 8


def test_audit_on_small_messy_designs_never_fails_a_step():
    from hypothesis import HealthCheck, given, settings
    from test_annotators import _designs

    cfg = {"audit": {"n_resamples": 5, "skip": ["preference_model"]}}

    @settings(max_examples=AUDIT_HYPOTHESIS_EXAMPLES, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_designs())
    def check(frame):
        import warnings

        from prefqa.errors import PrefqaError

        try:
            data = pq.read(frame)
        except PrefqaError:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = pq.audit(data, config=cfg, progress=False)
        content = _validate(report)
        failed = {k: s["reason"] for k, s in content["sections"].items() if s["status"] == "failed"}
        # a failed step is a raw numpy/pandas/scipy error inside a library call
        assert not failed, failed
        assert all(s["reason"] for s in content["sections"].values() if s["status"] == "skipped")
        report.to_html()

    check()


def test_side_confounded_data_gets_the_confounded_finding():
    # a/b in model-name order: the first-shown response is always the alphabetically first model of its pair
    data, _ = pq.simulate(n_prompts=150, n_annotators=8, rng=3)
    j = data.judgments.copy()
    swap = (j["model_a"] > j["model_b"]).to_numpy()
    j.loc[swap, ["model_a", "model_b"]] = j.loc[swap, ["model_b", "model_a"]].to_numpy()
    j.loc[swap, ["response_a_id", "response_b_id"]] = j.loc[swap, ["response_b_id", "response_a_id"]].to_numpy()
    j.loc[swap, "choice"] = j.loc[swap, "choice"].map({"a": "b", "b": "a", "tie": "tie"})
    confounded = PreferenceData(j, data.responses, data.prompts)
    report = pq.audit(confounded, config=_only("position_bias"), progress=False, strict=True)
    assert report.sections["position_bias"]["result"]["values"]["side_confounded"] is True
    codes = [f["code"] for f in report.findings]
    assert "position_confounded" in codes and "position_bias" not in codes


def test_simpson_reversal_finding_names_its_q_value():
    """A model pair that wins overall but loses inside one batch is reported with its BH q-value."""
    rng = np.random.default_rng(0)
    sizes, p_first_model = {"b1": 900, "b2": 400}, {"b1": 0.72, "b2": 0.25}
    rows = []
    for batch, n in sizes.items():
        wins = rng.random(n) < p_first_model[batch]
        for i, w in enumerate(wins):
            rows.append((f"{batch}-c{i}", f"ann{i % 12}", "a" if w else "b", "m1", "m2", batch))
    j = pd.DataFrame(rows, columns=["comparison_id", "annotator_id", "choice", "model_a", "model_b", "batch"])
    report = pq.audit(pq.PreferenceData(j), progress=False,
                      config={"audit": {"n_resamples": N_RESAMPLES, "by": "batch"}})
    finding = next(f for f in report.findings if f["code"] == "simpson_reversal")
    assert "b2" in finding["message"] and "q < 0.001" in finding["message"]
    assert "Benjamini-Hochberg over every stratum cell at fdr 0.05" in finding["message"]
