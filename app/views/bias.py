"""Bias: length curve by bucket, per-annotator length effects, position and style, raw vs length-controlled win rates."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import state

d, rep, label = state.report()
state.sidebar(d, label)
st.title("Bias")

lb = rep.results.get("length_bias")
st.subheader("Length")
if lb is None:
    st.info(rep.sections["length_bias"]["reason"] or "Length bias was not computed for this data.")
else:
    m1, m2, m3 = st.columns(3)
    m1.metric("Longer response chosen", f"{lb.estimate:.1%}")
    m1.caption(f"95% CI {lb.confidence_interval.low:.1%} to {lb.confidence_interval.high:.1%} · "
               f"{lb.n_trials:,} non-tie judgments")
    m2.metric("Length slope (logit)", f"{lb.slope:+.3f}")
    m2.caption(f"95% CI {lb.slope_confidence_interval.low:+.3f} to {lb.slope_confidence_interval.high:+.3f}")
    m3.metric("p-value", f"{lb.p_value:.2g}")
    b = lb.buckets.reset_index()
    st.markdown("**Share choosing the longer response, by length ratio**")
    base = alt.Chart(b).encode(x=alt.X("bucket:N", sort=None, title="length ratio (longer / shorter, characters)"),
                               tooltip=["bucket", "n", "n_longer_won", "estimate", "ci_low", "ci_high"])
    half = alt.Chart().mark_rule(strokeDash=[4, 4], color="grey").encode(y=alt.datum(0.5))
    st.altair_chart(alt.layer(base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title="share longer chosen",
                                                                    scale=alt.Scale(zero=False)), y2="ci_high:Q"),
                              base.mark_line(point=True).encode(y="estimate:Q"), half, data=b), width="stretch")
    a = lb.annotators.reset_index()
    idcol = a.columns[0]
    st.markdown("**Per annotator: share choosing the longer response** (red: flagged)")
    ab = alt.Chart(a).encode(y=alt.Y(f"{idcol}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
                             color=alt.condition("datum.flagged", alt.value("#d62728"), alt.value("#1f77b4")),
                             tooltip=[idcol, "n", "estimate", "ci_low", "ci_high", "slope", "q_value", "reason"])
    st.altair_chart((ab.mark_rule().encode(x=alt.X("ci_low:Q", title="share longer chosen"), x2="ci_high:Q")
                     + ab.mark_point(filled=True).encode(x="estimate:Q")).properties(height=max(220, 18 * min(len(a), 80))),
                    width="stretch")
    with st.expander("Per-annotator length table (with slopes)"):
        state.table(lb.annotators)

st.subheader("Position")
pb = rep.results.get("position_bias")
if pb is None:
    st.info(rep.sections["position_bias"]["reason"] or "Position bias was not computed for this data.")
else:
    p1, p2, p3 = st.columns(3)
    p1.metric("First-shown response chosen", f"{pb.estimate:.1%}")
    p1.caption(f"95% CI {pb.confidence_interval.low:.1%} to {pb.confidence_interval.high:.1%}")
    p2.metric("Position logit", f"{pb.logit:+.3f}")
    p3.metric("Consistency when shown both orders",
              "n/a" if pb.consistency != pb.consistency else f"{pb.consistency:.1%}")
    state.table(pb.to_frame())
    with st.expander("Per-annotator position table"):
        state.table(pb.annotators)

st.subheader("Style")
sb = rep.results.get("style_bias")
if sb is None:
    st.info(rep.sections["style_bias"]["reason"] or "Style bias was not computed for this data.")
else:
    t = sb.table.reset_index()
    fcol = t.columns[0]
    sc = alt.Chart(t).encode(y=alt.Y(f"{fcol}:N", title=None),
                             tooltip=[fcol, "estimate", "ci_low", "ci_high", "q_value", "n_differ"])
    zero = alt.Chart().mark_rule(color="grey").encode(x=alt.datum(0))
    st.altair_chart(alt.layer(sc.mark_rule(strokeWidth=2).encode(x=alt.X("ci_low:Q", title="coefficient (logit)"),
                                                                   x2="ci_high:Q"),
                              sc.mark_point(filled=True, size=80).encode(x="estimate:Q"), zero, data=t),
                    width="stretch")
    state.table(sb.table)

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
    wc = alt.Chart(long).encode(y=alt.Y(f"{mcol}:N", title=None), yOffset="kind:N", color="kind:N",
                                tooltip=[mcol, "kind", "rate", "low", "high"])
    st.altair_chart((wc.mark_rule().encode(x=alt.X("low:Q", title="win rate"), x2="high:Q")
                     + wc.mark_point(filled=True, size=70).encode(x="rate:Q")), width="stretch")
    state.table(lb.win_rates)
