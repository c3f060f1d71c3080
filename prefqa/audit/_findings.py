"""Findings: one sentence each, with its number and what to do, most severe first.

Findings are read from the report dict (the same JSON the HTML renders), so
a finding never shows a number the JSON does not hold. Each rule is a small
function ``(content, config) -> list of findings``; a rule whose section did
not run returns nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

__all__ = ["SEVERITIES", "findings_for"]

SEVERITIES: tuple[str, ...] = ("high", "medium", "low", "info")
Finding = dict[str, Any]


def _finding(severity: str, code: str, message: str, command: str | None = None,
             value: float | None = None, step: str | None = None) -> Finding:
    return {"severity": severity, "code": code, "message": message, "command": command,
            "value": value, "step": step}


def _result(content: dict[str, Any], name: str) -> dict[str, Any] | None:
    s = content["sections"].get(name)
    return s["result"] if s and s["status"] == "ok" else None


def _data_arg(content: dict[str, Any]) -> str:
    src = content["input"].get("source")
    return shlex.quote(src) if src and not src.startswith("<") else "DATA"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.01 else f"{100 * x:.1f}%"


def _ids(ids: list[str], limit: int = 8) -> str:
    return ",".join(ids[:limit]) + (",..." if len(ids) > limit else "")


# ------------------------------------------------------------------ rules
def _failed_and_skipped(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    out = []
    for name, s in content["sections"].items():
        if s["status"] == "failed":
            out.append(_finding("high", "step_failed",
                                f"The {s['title']} step failed ({s['reason']}); rerun with --debug "
                                "for the traceback and report it.",
                                f"prefqa --debug audit {_data_arg(content)}", step=name))
        elif s["status"] == "skipped" and name != "load_report":
            reason = str(s["reason"]).rstrip()
            out.append(_finding("info", "step_skipped", f"{s['title']} skipped: {reason}"
                                + ("" if reason.endswith(".") else "."), step=name))
    return out


def _load(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    r = _result(content, "load_report")
    if not r:
        return []
    v = r["values"]
    n_rej, n_rows = v.get("n_rejected") or 0, v.get("n_rows") or 0
    out: list[Finding] = []
    if n_rej:
        share = n_rej / max(n_rows, 1)
        top = r["rejected_reasons"][0]["reason"] if r["rejected_reasons"] else "see the load report"
        out.append(_finding("high" if share > 0.05 else "medium", "rows_rejected",
                            f"{n_rej:,} of {n_rows:,} input rows ({_pct(share)}) were rejected by the reader "
                            f"(most common reason: {top}); fix the source rows listed in the load report.",
                            value=n_rej, step="load_report"))
    n_cells = v.get("n_rejected_values") or 0
    if n_cells:
        top_cells = ", ".join(f"{x['n']:,} x {x['value']!r} in column {x['column']!r}"
                              for x in (r.get("rejected_value_counts") or [])[:3])
        out.append(_finding("medium", "cells_rejected",
                            f"{n_cells:,} cells inside otherwise used rows have no valid choice and were "
                            f"left out ({top_cells}); re-run or fix those verdicts, they are listed in the "
                            "load report.", value=n_cells, step="load_report"))
    return out


def _reliability(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    r = _result(content, "reliability")
    if not r:
        return []
    rows = r.get("table") or []
    alphas = [x for x in rows if x.get("coefficient") == "krippendorff_alpha" and x.get("stratum") in (None, "all")]
    # the choices' alpha; on ratings-only data the scores' alpha (target 'rating:<aspect>')
    row = next((x for x in alphas if x.get("target", "choice") == "choice"), None) or next(
        (x for x in alphas if str(x.get("target", "")).startswith("rating:")), None)
    if row is None or row.get("estimate") is None:
        return []
    of = "" if row.get("target", "choice") == "choice" else f" of the scores ({row.get('level')}, {row['target'][7:]})"
    a = config["audit"]
    est = row["estimate"]
    ci = ""
    if row.get("ci_low") is not None and row.get("ci_high") is not None:
        ci = f" ({_pct_level(a['confidence_level'])} CI {row['ci_low']:.2f} to {row['ci_high']:.2f})"
    if est >= a["alpha_good"]:
        return [_finding("info", "reliability_ok",
                         f"Krippendorff's alpha{of} is {est:.2f}{ci}, at or above {a['alpha_good']:g}: "
                         "annotators agree well enough for firm conclusions.", value=est, step="reliability")]
    severity = "high" if est < a["alpha_tentative"] else "medium"
    bar = a["alpha_good"] if severity == "medium" else a["alpha_tentative"]
    return [_finding(severity, "low_reliability",
                     f"Krippendorff's alpha{of} is {est:.2f}{ci}, below {bar:g}; "
                     "tighten the guidelines, retrain or exclude the flagged annotators, and re-annotate "
                     "the flagged prompts.", value=est, step="reliability")]


def _simpson(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    r = _result(content, "simpson")
    if not r:
        return []
    rows = [x for x in (r.get("table") or []) if x.get("flagged")]
    if not rows:
        return []
    x = rows[0]
    by = config["audit"]["by"]
    fdr = config["audit"].get("simpson", {}).get("fdr", 0.05)
    return [_finding("medium", "simpson_reversal",
                     f"{len(rows)} effect(s) reverse within strata of {by!r}, for example {x.get('kind')} of "
                     f"{x.get('subject')} in {x.get('stratum')} ({x.get('estimate')!s:.6} against "
                     f"{x.get('pooled_estimate')!s:.6} pooled; q {_q(x.get('q_value'))}, Benjamini-Hochberg "
                     f"over every stratum cell at fdr {fdr:g}); report per-{by} results, not the pooled one.",
                     value=len(rows), step="simpson")]


def _judge(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    r = _result(content, "judge")
    if not r:
        return []
    rows = r["tables"].get("table", {}).get("rows", [])
    humans = [x["kappa"] for x in rows if x.get("kind") == "human" and x.get("kappa") is not None]
    median_human = sorted(humans)[len(humans) // 2] if humans else None
    v = r["values"]
    level = _pct_level(v.get("confidence_level") or config["audit"]["confidence_level"])
    min_gold = v.get("min_gold_accuracy") or 0.6
    fdr = float(dict(config["audit"].get("judge", {})).get("fdr", 0.05))
    out = []
    for x in (x for x in rows if x.get("kind") == "judge"):
        has_kappa = x.get("kappa") is not None and x.get("kappa_ci_low") is not None
        has_gold = x.get("gold_accuracy") is not None and x.get("gold_ci_low") is not None
        if not has_kappa and not has_gold:
            continue
        worse = median_human is not None and has_kappa and x.get("kappa_ci_high") is not None \
            and x["kappa_ci_high"] < median_human
        bad_gold = bool(x.get("flagged_gold"))
        biased = x.get("q_position") is not None and x["q_position"] < fdr
        parts = []
        if has_kappa:
            human = f" (humans: median {median_human:.2f})" if median_human is not None else ""
            parts.append(f"agrees with the human consensus at kappa {x['kappa']:.2f} ({level} CI "
                         f"{x['kappa_ci_low']:.2f} to {x['kappa_ci_high']:.2f}) on "
                         f"{x.get('n_with_consensus', 0):,} items{human}")
        if has_gold:
            below = f", below min_gold_accuracy {_pct(min_gold)} (q {_q(x.get('q_gold'))})" if bad_gold else ""
            parts.append(f"gets {_pct(x['gold_accuracy'])} of {int(x.get('n_gold') or 0):,} gold judgments right "
                         f"({level} CI {_pct(x['gold_ci_low'])} to {_pct(x['gold_ci_high'])}){below}")
        if x.get("p_a") is not None:
            sig = f" (q {_q(x['q_position'])} against 50%)" if biased else ""
            parts.append(f"chooses the first-shown response in {_pct(x['p_a'])} of its judgments{sig}")
        if x.get("n_both_orders") and x.get("position_consistency") is not None:
            parts.append(f"is position-consistent on {_pct(x['position_consistency'])} of {x['n_both_orders']:,} "
                         "items judged in both orders")
        if x.get("length_slope") is not None:
            parts.append(f"length slope {x['length_slope']:.2f}")
        act = worse or bad_gold or biased
        if not act:
            advice = "it may stand in for a human where its biases are acceptable"
        elif median_human is not None:
            advice = "weight it below the humans, re-prompt it or swap display orders and average"
        else:
            advice = "re-prompt it, or run it in both display orders and average, before using its verdicts"
        out.append(_finding("medium" if act else "info", "judge_vs_humans" if has_kappa else "judge_vs_gold",
                            f"LLM judge {x['annotator_id']} " + ", ".join(parts) + f"; {advice}.",
                            value=x["kappa"] if has_kappa else x["gold_accuracy"], step="judge"))
    return out


def _q(q: Any) -> str:
    if not isinstance(q, (int, float)):
        return "n/a"
    return "< 0.001" if q < 0.001 else f"= {q:.3f}"


def _subsample(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    r = _result(content, "preference_model")
    sub = (r or {}).get("subsample")
    if not sub:
        return []
    return [_finding("info", "preference_model_subsample",
                     f"The crossed preference model was fitted on {sub['n_judgments']:,} of "
                     f"{sub['n_judgments_total']:,} judgments ({sub['n_prompts']:,} of {sub['n_prompts_total']:,} "
                     f"prompts, chosen by a seeded hash of the prompt ids, seed {sub['rng']}) to keep the audit fast; "
                     "set [audit] "
                     "preference_model_max_judgments = 0 to fit every judgment.",
                     value=sub["n_judgments"], step="preference_model")]


def _pct_level(level: float) -> str:
    return f"{100 * level:g}%"


# test name -> (metric column, phrase with {r} = the range of the metric, percent?)
_ANNOTATOR_TESTS: dict[str, tuple[str, str, bool]] = {
    "position": ("p_a", ("choose the first-shown response in {r} of their non-tie judgments "
                         "(randomised order: 50%)"), True),
    "consistency": ("self_consistency", ("name the same response in both display orders on only {r} of items "
                                         "judged both ways, and the changes favour one position"), True),
    "agreement": ("loo_agreement", "agree with the other annotators on only {r} of shared items", True),
    "tie": ("tie_rate", "have outlying tie rates ({r})", True),
    "length": ("length_slope", "reward length more than the other annotators (slopes {r} on the logit scale)",
               False),
    "speed": ("median_seconds", "answer outlyingly fast (median {r} seconds per judgment)", False),
    "run": ("longest_run", "click the same option in long runs (longest run {r})", False),
    "gold": ("gold_accuracy", "score only {r} on gold items, below min_gold_accuracy", True),
    "leniency": ("leniency", "rate outlyingly leniently or harshly ({r} points)", False),
}


def _annotators(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    r = _result(content, "annotators")
    if not r or not r.get("n_flagged"):
        return []
    rows = [x for x in r["table"] if x.get("flagged")]
    fdr = (r.get("attrs") or {}).get("fdr") or 0.05
    n_judgments = content["input"]["n_judgments"]
    unit = "judgments" if n_judgments else "ratings"
    n_total = max(n_judgments if n_judgments else content["input"].get("n_ratings", 0), 1)
    data = _data_arg(content)
    out: list[Finding] = []
    covered: set[str] = set()
    for test, (col, phrase, pct) in _ANNOTATOR_TESTS.items():
        hit = [x for x in rows if (x.get(f"q_{test}") is not None and x[f"q_{test}"] < fdr)
               or (test == "speed" and x.get("fast"))]
        if not hit:
            continue
        covered.update(str(x["annotator_id"]) for x in hit)
        vals = [x[col] for x in hit if isinstance(x.get(col), (int, float))]
        lo, hi = (min(vals), max(vals)) if vals else (None, None)
        rng = _show(lo, pct) if _show(lo, pct) == _show(hi, pct) else f"{_show(lo, pct)} to {_show(hi, pct)}"
        out.append(_annotator_finding(hit, n_total, phrase.format(r=rng), data, test, unit))
    rest = [x for x in rows if str(x["annotator_id"]) not in covered]
    if rest:
        out.append(_annotator_finding(rest, n_total, f"are flagged ({rest[0].get('reason') or 'see the table'})",
                                      data, "other", unit))
    return out


def _show(v: float | None, pct: bool) -> str:
    return "?" if v is None else (_pct(v) if pct else f"{v:.3g}")


_SINGULAR = {"agree": "agrees", "have": "has", "choose": "chooses", "answer": "answers", "click": "clicks",
             "score": "scores", "rate": "rates", "are": "is", "name": "names", "reward": "rewards"}


def _annotator_finding(hit: list[dict[str, Any]], n_total: int, phrase: str, data: str, test: str,
                       unit: str = "judgments") -> Finding:
    ids = [str(x["annotator_id"]) for x in hit]
    count = "n_judgments" if unit == "judgments" else "n_ratings"
    share = sum(int(x.get(count) or 0) for x in hit) / max(n_total, 1)
    severity = "high" if share > 0.05 else "medium"
    cmd = (f"prefqa export {data} --to dpo --out pairs.jsonl "
           f"--exclude-annotators {shlex.quote(','.join(ids))}") if unit == "judgments" else None
    noun = "annotator" if len(ids) == 1 else "annotators"
    if len(ids) == 1:  # "1 annotator agrees", not "agree"
        verb, _, rest = phrase.partition(" ")
        phrase = f"{_SINGULAR.get(verb, verb)} {rest}"
    what = "exclude them or re-annotate their items" if unit == "judgments" else \
        "exclude their ratings or recalibrate them"
    return _finding(severity, f"annotators_{test}",
                    f"{len(ids)} {noun} ({_pct(share)} of {unit}) {phrase}; {what} ({_ids(ids)}).",
                    cmd, value=len(ids), step="annotators")


def _prompts(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    r = _result(content, "prompts")
    if not r or not r.get("n_flagged"):
        return []
    share = r["n_flagged"] / max(r["n_prompts"], 1)
    kinds = ", ".join(f"{v} {k}" for k, v in (r.get("kinds") or {}).items())
    kinds = f" ({kinds})" if kinds else ""
    return [_finding("medium" if share > 0.05 else "low", "flagged_prompts",
                     f"{r['n_flagged']} of {r['n_prompts']} prompts ({_pct(share)}) are flagged{kinds}; "
                     "review them, or drop them from training pairs.",
                     f"prefqa export {_data_arg(content)} --to dpo --out pairs.jsonl --flagged drop",
                     value=r["n_flagged"], step="prompts")]


def _pairs(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    r = _result(content, "pairs")
    if not r or r.get("n_kept") is None or r.get("n_dropped") is None:
        return []
    total = r["n_kept"] + r["n_dropped"]
    share = r["n_dropped"] / max(total, 1)
    if share <= config["audit"]["drop_share"]:
        return []
    top = r["drop_reasons"][0] if r["drop_reasons"] else {"reason": "?", "n": 0}
    return [_finding("medium", "many_pairs_dropped",
                     f"Pair building drops {r['n_dropped']:,} of {total:,} comparisons ({_pct(share)}), most "
                     f"for {top['reason']} ({top['n']:,}); check the [pairs] policy before exporting.",
                     value=share, step="pairs")]


# A share this far from one half is "high" / "medium"; a significant but smaller lean is "low"
# (with a million judgments a 51% share is significant and rarely worth acting on).
EFFECT_HIGH, EFFECT_MEDIUM = 0.10, 0.03


def _effect_severity(share: float) -> str:
    gap = abs(share - 0.5)
    return "high" if gap >= EFFECT_HIGH else "medium" if gap >= EFFECT_MEDIUM else "low"


def _ci_excludes(ci: Any, value: float) -> bool:
    return isinstance(ci, list) and len(ci) == 2 and None not in ci and not (ci[0] <= value <= ci[1])


def _length(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    r = _result(content, "length_bias")
    if not r:
        return []
    v = r["values"]
    est, ci = v.get("estimate"), v.get("confidence_interval")
    if est is None or not _ci_excludes(ci, 0.5):
        return []
    level = _pct_level(config["audit"]["confidence_level"])
    side = "longer" if est > 0.5 else "shorter"
    severity = _effect_severity(est)
    return [_finding(severity, "length_bias",
                     f"The longer response wins {_pct(est)} of {v.get('n_trials', 0):,} decided trials "
                     f"({level} CI {_pct(ci[0])} to {_pct(ci[1])}): judgments favour {side} responses; rank "
                     "models with the style-controlled leaderboard and balance lengths in exported pairs.",
                     f"prefqa export {_data_arg(content)} --to dpo --out pairs.jsonl --length-balance",
                     value=est, step="length_bias")]


def _position(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    r = _result(content, "position_bias")
    if not r:
        return []
    v = r["values"]
    est, ci = v.get("estimate"), v.get("confidence_interval")
    out = []
    level = _pct_level(config["audit"]["confidence_level"])
    if v.get("side_confounded"):
        shown = "" if est is None else f" (first shown chosen in {_pct(est)} of {v.get('n_trials', 0):,} judgments)"
        out.append(_finding("medium", "position_confounded",
                            f"Position and model cannot be separated in this data: most comparisons show the same "
                            f"model of each pair first{shown}, so a first-shown share says nothing about position "
                            "bias; randomize and counterbalance the display order (see the side balance table).",
                            value=est, step="position_bias"))
    elif est is not None and _ci_excludes(ci, 0.5):
        out.append(_finding(_effect_severity(est), "position_bias",
                            f"The first-shown response is chosen in {_pct(est)} of {v.get('n_trials', 0):,} "
                            f"non-tie judgments ({level} CI {_pct(ci[0])} to {_pct(ci[1])}); randomize and "
                            "counterbalance the display order in future batches, and audit per annotator.",
                            value=est, step="position_bias"))
    cons, n_both = v.get("consistency"), v.get("n_both_orders") or 0
    if cons is not None and n_both and cons < 0.8:
        out.append(_finding("medium", "position_inconsistent",
                            f"Only {_pct(cons)} of {n_both:,} items judged in both display orders get the same "
                            "answer both times; treat single-order judgments from these annotators as noisy.",
                            value=cons, step="position_bias"))
    return out


def _style_ranking(content: dict[str, Any], config: dict[str, Any]) -> list[Finding]:
    plain, style = _result(content, "bradley_terry"), _result(content, "bradley_terry_style")
    if not plain or not style:
        return []

    def ranking(res: dict[str, Any]) -> list[str]:
        rows = [x for x in res.get("table", []) if x.get("kind", "strength") == "strength"
                and x.get("estimate") is not None]
        return [str(x.get("term")) for x in sorted(rows, key=lambda x: -x["estimate"])]

    a, b = ranking(plain), ranking(style)
    moved = [(m, a.index(m) + 1, b.index(m) + 1) for m in a if m in b and a.index(m) != b.index(m)]
    if not moved:
        return []
    m, i, j = max(moved, key=lambda t: abs(t[1] - t[2]))
    return [_finding("medium", "style_changes_ranking",
                     f"Controlling for style (length, headers, lists, bold) reorders {len(moved)} of {len(a)} "
                     f"models ({m} moves from rank {i} to {j}); report the style-controlled leaderboard.",
                     value=len(moved), step="bradley_terry_style")]


RULES: tuple[Callable[[dict[str, Any], dict[str, Any]], list[Finding]], ...] = (
    _failed_and_skipped, _subsample, _load, _reliability, _annotators, _judge, _position, _length, _style_ranking,
    _simpson, _prompts, _pairs,
)


def findings_for(content: dict[str, Any]) -> list[Finding]:
    """Return every finding for a report dict, most severe first (stable within a severity)."""
    config = content["config"]
    out: list[Finding] = []
    for rule in RULES:
        out.extend(rule(content, config))
    if "drift" in content["sections"]:
        from ._drift import drift_findings

        out.extend(drift_findings(content, config))
    if "readiness" in content["sections"] or "cleaning" in content["sections"]:
        from ._readiness import readiness_findings

        out.extend(readiness_findings(content, config))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(out, key=lambda f: order[f["severity"]])
