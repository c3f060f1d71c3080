"""Bias: length curve by bucket, per-annotator length effects, position and style.

Also raw vs length-controlled win rates.
"""

from __future__ import annotations

import altair as alt
import display as disp
import pandas as pd
import state
import streamlit as st


def tips(frame: pd.DataFrame, columns: list) -> list[str]:
    """Tooltip fields that this result's table has (tables gain and lose columns across versions)."""
    return [col for col in columns if col and col in frame.columns]


d, rep, label = state.pairwise_report("Bias")
st.title("Bias")

lb = rep.results.get("length_bias")
st.subheader("Length")
if lb is None:
    state.skipped(rep, "length_bias")
else:
    how = disp.method_words(getattr(lb, "se_method", None), lb.cluster)
    m1, m2, m3 = st.columns(3)
    m1.metric("Longer response chosen", f"{lb.estimate:.1%}")
    m1.caption(f"{lb.confidence_level:.0%} CI {lb.confidence_interval.low:.1%} to "
               f"{lb.confidence_interval.high:.1%} ({how}) · {lb.n_trials:,} non-tie judgments")
    m2.metric("Length slope (logit)", f"{lb.slope:+.3f}")
    m2.caption(f"{lb.confidence_level:.0%} CI {lb.slope_confidence_interval.low:+.3f} to "
               f"{lb.slope_confidence_interval.high:+.3f} ({how})")
    m3.metric("p-value", f"{lb.p_value:.2g}")
    state.notes(lb)
    b = lb.buckets.reset_index()
    st.markdown("**Share choosing the longer response, by length ratio**")
    base = alt.Chart(b).encode(x=alt.X("bucket:N", sort=None, title="length ratio (longer / shorter, characters)"),
                               tooltip=tips(b, ["bucket", "n", "n_longer_won", "estimate", "ci_low", "ci_high"]))
    half = alt.Chart().mark_rule(strokeDash=[4, 4], color="grey").encode(y=alt.datum(0.5))
    st.altair_chart(alt.layer(base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title="share longer chosen",
                                                                    scale=alt.Scale(zero=False)), y2="ci_high:Q"),
                              base.mark_line(point=True).encode(y="estimate:Q"), half, data=b), width="stretch")
    a = lb.annotators.reset_index()
    idcol = a.columns[0]
    lo: str | None = None
    hi: str | None = None
    if {"estimate", "ci_low", "ci_high"} <= set(a.columns):
        x, x_title, lo, hi = "estimate", "share longer chosen", "ci_low", "ci_high"
    else:  # per-annotator slopes relative to the pool (the one per-annotator length test)
        x, x_title = "length_slope", "length slope (logit)"
    if x in a and a[x].notna().any():
        flag = "flagged_length" if "flagged_length" in a else "flagged"
        st.markdown(f"**Per annotator: {x_title}** (red: flagged for length)")
        ab = alt.Chart(a).encode(y=alt.Y(f"{idcol}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
                                 color=alt.condition(f"datum.{flag}", alt.value("#d62728"), alt.value("#1f77b4")),
                                 tooltip=tips(a, [idcol, "n", "n_length", x, lo, hi, "length_slope_se", "q_value",
                                                  "q_length", "reason"]))
        layer = ab.mark_point(filled=True).encode(x=alt.X(f"{x}:Q", title=x_title))
        if lo:
            layer = ab.mark_rule().encode(x=alt.X(f"{lo}:Q", title=x_title), x2=f"{hi}:Q") + layer
        st.altair_chart(layer.properties(height=max(220, 18 * min(len(a), 80))), width="stretch")
    with st.expander("Per-annotator length table (with slopes)"):
        state.table(lb.annotators, rates=("estimate", "ci_low", "ci_high"))

st.subheader("Position")
pb = rep.results.get("position_bias")
if pb is None:
    state.skipped(rep, "position_bias")
else:
    how = disp.method_words(getattr(pb, "se_method", None), pb.cluster)
    if bool(getattr(pb, "side_confounded", False)):
        st.warning("Position and model cannot be told apart: most judgments belong to model pairs shown in "
                   "(almost) one order only (`side_confounded`). Read the model-controlled logit, not the raw "
                   "share; the side balance per model pair is below.")
    p1, p2, p3 = st.columns(3)
    p1.metric("First-shown response chosen", f"{pb.estimate:.1%}")
    p1.caption(f"{pb.confidence_level:.0%} CI {pb.confidence_interval.low:.1%} to "
               f"{pb.confidence_interval.high:.1%} ({how})")
    identifiable = bool(getattr(pb, "identifiable", True)) and not pd.isna(pb.logit)
    p2.metric("Position logit (model-controlled)", f"{pb.logit:+.3f}" if identifiable else "not identifiable")
    lci = getattr(pb, "logit_confidence_interval", None)
    if identifiable and lci is not None and not pd.isna(lci.low):
        p2.caption(f"{pb.confidence_level:.0%} CI {lci.low:+.3f} to {lci.high:+.3f} ({how})"
                   + (f" · controls: {', '.join(map(str, pb.controls))}" if getattr(pb, "controls", None) else ""))
    p3.metric("Consistency when shown both orders",
              "n/a" if pd.isna(pb.consistency) else f"{pb.consistency:.1%}")
    state.notes(pb)
    state.table(pb.to_frame())
    balance = getattr(pb, "side_balance", None)
    if isinstance(balance, pd.DataFrame) and len(balance):
        with st.expander("Side balance per model pair (share of judgments with each model shown first)",
                         expanded=bool(getattr(pb, "side_confounded", False))):
            state.table(balance, rates=[col for col in balance.columns if "share" in str(col)])
    with st.expander("Per-annotator position table"):
        state.table(pb.annotators, rates=("estimate", "ci_low", "ci_high"))

st.subheader("Style")
sb = rep.results.get("style_bias")
if sb is None:
    state.skipped(rep, "style_bias")
else:
    t = sb.table.reset_index()
    fcol = t.columns[0]
    t = t.dropna(subset=["estimate", "ci_low", "ci_high"])  # "not estimable" features: in the table, not the chart
    sc = alt.Chart(t).encode(y=alt.Y(f"{fcol}:N", title=None),
                             tooltip=tips(t, [fcol, "estimate", "ci_low", "ci_high", "q_value", "n_differ"]))
    zero = alt.Chart().mark_rule(color="grey").encode(x=alt.datum(0))
    st.altair_chart(alt.layer(sc.mark_rule(strokeWidth=2).encode(x=alt.X("ci_low:Q", title="coefficient (logit)"),
                                                                   x2="ci_high:Q"),
                              sc.mark_point(filled=True, size=80).encode(x="estimate:Q"), zero, data=t),
                    width="stretch")
    st.caption(f"Coefficients (logit), {disp.interval_note(sb)}.")
    missing = sb.table["estimate"].isna() if "estimate" in sb.table else pd.Series(False, index=sb.table.index)
    if "estimable" in sb.table:
        missing = missing | ~sb.table["estimable"].fillna(False).astype(bool)
    not_est = sb.table[missing.to_numpy()]
    for feature, row in not_est.iterrows():
        why = row.get("reason") if isinstance(row.get("reason"), str) and row.get("reason") else "no reason given"
        st.caption(f"Not estimable: {feature}: {why}")
    state.notes(sb)
    state.table(sb.table, rates=("rate_more_chosen", "rate_ci_low", "rate_ci_high"))

st.subheader("Win rates: raw and length-controlled")
if lb is None or lb.win_rates is None or not len(lb.win_rates):
    st.info("Length-controlled win rates need model ids and response texts.")
else:
    w = lb.win_rates.reset_index()
    mcol = w.columns[0]
    raw = w[[mcol, "raw_win_rate", "raw_ci_low", "raw_ci_high"]].set_axis([mcol, "rate", "low", "high"], axis=1)
    raw["kind"] = "raw"
    lc = w[[mcol, "lc_win_rate", "lc_ci_low", "lc_ci_high"]].set_axis([mcol, "rate", "low", "high"], axis=1)
    lc["kind"] = "length-controlled"
    long = pd.concat([raw, lc], ignore_index=True)
    method = disp.method_words(getattr(lb, "se_method", None), lb.cluster)
    st.caption(f"Win rates with {lb.confidence_level:.0%} CIs ({method}).")
    wc = alt.Chart(long).encode(y=alt.Y(f"{mcol}:N", title=None), yOffset="kind:N", color="kind:N",
                                tooltip=[mcol, "kind", "rate", "low", "high"])
    st.altair_chart((wc.mark_rule().encode(x=alt.X("low:Q", title="win rate"), x2="high:Q")
                     + wc.mark_point(filled=True, size=70).encode(x="rate:Q")), width="stretch")
    state.table(lb.win_rates)

judge = rep.results.get("judge")
st.subheader("LLM judges")
if judge is None:
    state.skipped(rep, "judge")
else:
    st.caption("`pq.judge_report`: accuracy on gold, position consistency, P(first shown) and length preference "
               f"per judge ({getattr(judge, 'confidence_level', 0.95):.0%} CIs); with or without human annotators.")
    state.notes(judge)
    state.table(judge.table)
