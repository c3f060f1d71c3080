"""Reliability: the coefficients table, the per-stratum comparison and the annotator-pair kappa heatmap."""

from __future__ import annotations

import altair as alt
import components as c
import display as disp
import state
import streamlit as st

MAX_HEATMAP_ANNOTATORS = 50

d, rep, label = state.report()
state.sidebar(d, label)
st.title("Reliability")
res = rep.results.get("reliability")
if res is None:
    state.skipped(rep, "reliability")
    st.stop()

coef = res.coefficients
st.caption(f"{res.n_units_used:,} units (comparisons or rated responses) judged by at least two annotators · "
           f"{res.n_judgments_used:,} judgments · level `{res.level}` · {res.n_resamples} bootstrap resamples. "
           "CIs: bootstrap percentiles over units; the SE method of each row is in the table.")
state.notes(res)
plot = coef.dropna(subset=["estimate"]).assign(
    label=lambda f: f["target"].astype(str) + " · " + f["coefficient"].astype(str))
chart = alt.Chart(plot).encode(
    y=alt.Y("label:N", sort=None, title=None, axis=alt.Axis(labelLimit=260)),
    tooltip=["coefficient", "target", "estimate", "ci_low", "ci_high", "n"]
    + (["se_method"] if "se_method" in plot else []),
)
st.altair_chart(
    chart.mark_rule(strokeWidth=2).encode(x=alt.X("ci_low:Q", title="estimate with CI"), x2="ci_high:Q")
    + chart.mark_point(filled=True, size=80).encode(x="estimate:Q"),
    width="stretch")
state.table(coef)
intra = res.intra_rater
if len(intra) and ("n" not in intra or (intra["n"].fillna(0) > 0).any()):
    st.markdown("**Intra-rater consistency** (the same annotator judging the same comparison again)")
    state.table(intra)

if disp.ratings_only(d):
    st.info("Per-stratum and annotator-pair kappas need pairwise judgments; this file has ratings only "
            "(no pairwise judgments). The Ratings page has ICC, leniency and the rating model.")
    st.stop()

st.subheader("Per stratum")
by = state.stratum(d)
if by is None:
    st.info("The data has no stratum column with 2 to 20 values (choose one on the Data page).")
else:
    expected = st.radio("Chance disagreement of alpha", ["pooled", "within"], horizontal=True, key="expected",
                        format_func={"pooled": "pooled (all data; comparable across strata)",
                                     "within": "within (each stratum alone)"}.get)
    strata = state.strata_reliability(d.fingerprint(), by, expected, d)
    st.caption(f"Stratum column `{by}`: `pq.agreement(data, by={by!r}, expected={expected!r})`.")
    if "estimate" in strata:
        s = strata.dropna(subset=["estimate"])
        s = s[s["target"].astype(str) == "choice"]
        st.caption("Chart: agreement on the choice; the table below also has the other targets.")
        base = alt.Chart(s).encode(
            y=alt.Y("stratum:N", title=by), color=alt.Color("coefficient:N"),
            yOffset="coefficient:N", tooltip=["stratum", "coefficient", "estimate", "ci_low", "ci_high", "n"])
        layered = (base.mark_rule().encode(x=alt.X("ci_low:Q", title="estimate with CI"), x2="ci_high:Q")
                   + base.mark_point(filled=True, size=60).encode(x="estimate:Q"))
        st.altair_chart(layered.properties(height=110 * max(s["stratum"].nunique(), 1)), width="stretch")
    state.table(strata)

st.subheader("Annotator pairs: Cohen's kappa")
kappas = state.pairwise_kappa(d.fingerprint(), d)
if kappas.empty:
    st.info("No two annotators share at least 10 comparisons, so no pairwise kappa is reported.")
else:
    counts = d.judgments["annotator_id"].astype("string").value_counts()
    top = set(counts.index[:MAX_HEATMAP_ANNOTATORS].astype(str))
    sym = c.symmetric_pairs(kappas)
    sym = sym[sym["rater_1"].isin(top) & sym["rater_2"].isin(top)]
    if len(counts) > MAX_HEATMAP_ANNOTATORS:
        st.caption(f"Showing the {MAX_HEATMAP_ANNOTATORS} annotators with most judgments.")
    heat = alt.Chart(sym).mark_rect().encode(
        x=alt.X("rater_1:N", title=None), y=alt.Y("rater_2:N", title=None),
        color=alt.Color("estimate:Q", title="kappa", scale=alt.Scale(scheme="redblue", domain=[-1, 1])),
        tooltip=["rater_1", "rater_2", "n", "estimate", "ci_low", "ci_high"])
    st.altair_chart(heat.properties(height=620), width="stretch")
    st.caption(f"{len(kappas):,} pairs sharing at least 10 comparisons; grey cells share fewer.")
    with st.expander("Pairwise kappa table"):
        state.table(kappas)
