"""``flagged`` and ``reason`` of the annotator table: each flag from a q-value or a named rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["flag_and_explain"]


def _q_text(q: float) -> str:
    return "q < 0.001" if q < 0.001 else f"q = {q:.3f}"


def flag_and_explain(out: pd.DataFrame, tests: tuple[str, ...], pool: dict[str, float], fdr: float,
                     max_run: int | None, min_gold_accuracy: float) -> None:
    """Set ``flagged`` and ``reason`` in place (a handful of test types, vectorized over annotators).

    A statistical flag is ``q_<test> < fdr``; the rules ``fast`` (median
    seconds below the ``fast_seconds`` threshold) and ``max_run`` (a run of
    at least ``max_run`` identical displayed choices) name themselves in the
    reason ("rule fast_seconds", "rule max_run").
    """
    reasons = pd.DataFrame(index=out.index)
    q = {t: out[f"q_{t}"].to_numpy(dtype=np.float64) for t in tests}

    def add(name: str, hit: np.ndarray, text: pd.Series) -> None:
        reasons[name] = np.where(hit, text, "")

    def qs(t: str) -> pd.Series:
        return pd.Series([_q_text(v) if np.isfinite(v) else "" for v in q[t]], index=out.index)

    def pct(col: str) -> pd.Series:
        return (out[col] * 100).round().astype("Int64").astype(str) + "%"

    def count(col: str) -> pd.Series:
        return out[col].fillna(0).astype(int).astype(str)

    def sig(t: str) -> np.ndarray:
        return np.nan_to_num(q[t], nan=1.0) < fdr

    if sig("position").any():
        add("position", sig("position"), "chooses the first response in " + pct("p_a") +
            " of its non-tie judgments (without position bias: 50% under randomised order; pool " +
            f"{pool.get('p_a', np.nan):.0%}), " + qs("position"))
    if sig("consistency").any():
        add("consistency", sig("consistency"), "changes its answer with the display order (the same response "
            "in both orders on " + pct("self_consistency") + " of " + count("n_both_orders") +
            " comparisons judged both ways; its changes favour one position), " + qs("consistency"))
    if sig("agreement").any():
        add("agreement", sig("agreement"), "agrees with the other annotators of the same comparison " +
            pct("loo_agreement") + f" of the time (pool {pool.get('loo_agreement', np.nan):.0%}), " + qs("agreement"))
    if sig("tie").any():
        add("tie", sig("tie"), "calls " + pct("tie_rate") +
            f" of comparisons a tie (pool {pool.get('tie_rate', np.nan):.0%}), " + qs("tie"))
    if sig("length").any():
        side = np.where(out["length_slope"] > pool.get("length_slope", 0.0), "longer", "shorter")
        add("length", sig("length"), "prefers the " + pd.Series(side, index=out.index) +
            " response: length slope " + out["length_slope"].map("{:.2f}".format) +
            f" (pool {pool.get('length_slope', np.nan):.2f}), " + qs("length"))
    fast = out["fast"].to_numpy(dtype=bool)
    if fast.any() or sig("speed").any():
        text = ("median " + out["median_seconds"].map("{:.1f}".format) + " s per judgment (pool " +
                f"{pool.get('median_seconds', np.nan):.1f} s")
        rule = np.where(fast, f", below the rule fast_seconds = {pool.get('fast_seconds', np.nan):.1f} s", "")
        add("speed", fast | sig("speed"), text + rule + ")" + np.where(sig("speed"), ", " + qs("speed"), ""))
    runs = out["longest_run"].to_numpy()
    hard = np.zeros(len(out), dtype=bool) if max_run is None else np.nan_to_num(runs) >= max_run
    if sig("run").any() or hard.any():
        rule = np.where(hard, f" (rule max_run = {max_run})", "")
        add("run", sig("run") | hard, "made " + count("longest_run") +
            " identical choices in a row (straight-lining)" + rule + np.where(sig("run"), ", " + qs("run"), ""))
    if sig("gold").any():
        add("gold", sig("gold"), "gets " + pct("gold_accuracy") + " of " + count("n_gold") +
            f" gold judgments right (below min_gold_accuracy {min_gold_accuracy:.0%}), " + qs("gold"))
    if sig("leniency").any():
        add("leniency", sig("leniency"), "scores " + out["leniency"].map("{:+.2f}".format) +
            " points off the other raters of the same responses, " + qs("leniency"))
    text = pd.Series("", index=out.index, dtype="str")
    for name in reasons.columns:  # a handful of test types
        part = reasons[name].astype(str).str.rstrip(", ")
        text = text + np.where((text != "") & (part != ""), "; ", "") + part
    out["reason"] = text
    out["flagged"] = (text != "").to_numpy()
