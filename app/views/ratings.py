"""Ratings: absolute scores, with or without prompts: distributions, leniency, ICC, score reliability, rating model.

Every number comes from prefqa: the audit's ``annotator_table`` (leniency), ``icc`` and
``fit_rating_model`` steps (the same results as the other pages and the report), and
``pq.agreement`` at the level chosen here. The charts only count the raw scores as read.
"""

from __future__ import annotations

import altair as alt
import display as disp
import state
import streamlit as st

d, label = state.data()
st.title("Ratings")
if not disp.has_ratings(d):
    state.sidebar(d, label)
    st.info("This data has no ratings (absolute scores per response). Upload a ratings file "
            "(`response_id` or `response`, `annotator_id`, `score`; prompts optional) on the Data page.")
    st.stop()

d, rep, label = state.report()
state.sidebar(d, label)
r = disp.ratings(d)
fp = d.fingerprint()
n_resp = r["response_id"].nunique()
k1, k2, k3, k4 = st.columns(4)
k1.metric("Ratings", f"{len(r):,}")
k2.metric("Responses rated", f"{n_resp:,}")
k3.metric("Annotators", f"{r['annotator_id'].nunique():,}")
k4.metric("Ratings per response", f"{len(r) / max(n_resp, 1):.1f}")
if disp.ratings_only(d):
    st.caption("Ratings only: no pairwise judgments (no prompt ids to pair responses within), so the "
               "preference pages (bias, models, prompts, export) do not apply to this file.")
elif d.n_judgments:
    st.caption(f"Pairwise judgments derived from the scores within each prompt: {d.n_judgments:,}; "
               "the other pages analyse those.")

aspects = sorted(r["aspect"].dropna().astype(str).unique()) if "aspect" in r else []

# ------------------------------------------------------------------ distributions
st.subheader("Score distribution")
view = r[["annotator_id", "score"] + (["aspect"] if aspects else [])].copy()
view["annotator_id"] = view["annotator_id"].astype(str)
bars = alt.Chart(view).mark_bar().encode(
    x=alt.X("score:O", title="score"), y=alt.Y("count():Q", title="ratings"),
    tooltip=["score:O", "count():Q"])
if aspects:
    bars = bars.encode(column=alt.Column("aspect:N", title=None))
st.altair_chart(bars.properties(height=220), width="content" if aspects else "stretch")
st.markdown("**Scores by annotator** (box: quartiles; the annotators most lenient first)")
box = alt.Chart(view).mark_boxplot(extent="min-max").encode(
    y=alt.Y("annotator_id:N", title=None, sort=alt.EncodingSortField("score", op="mean", order="descending")),
    x=alt.X("score:Q", title="score"))
st.altair_chart(box.properties(height=max(200, 16 * min(view["annotator_id"].nunique(), 80))), width="stretch")

# ------------------------------------------------------------------ leniency
st.subheader("Leniency per annotator")
table = rep.results.get("annotators")
if table is None:
    state.skipped(rep, "annotators")
elif "leniency" not in table:
    st.info("This prefqa version's annotator table has no leniency column.")
else:
    st.caption("Leniency: the annotator's score offset from the others on the same responses "
               "(`pq.annotator_table`, as on the Annotators page); flags come from BH q-values.")
    cols = [c for c in ("flagged", "reason", "n_ratings", "leniency", "p_leniency", "q_leniency", "notes")
            if c in table]
    shown = table[cols].sort_values("leniency", ascending=False)
    state.table(shown, height=320, column_config={"reason": st.column_config.TextColumn(width="large")})

# ------------------------------------------------------------------ reliability of scores
st.subheader("Reliability of the scores")
level = st.radio("Scores are read as", ["interval", "ordinal"], horizontal=True, key="score_level")
with state.errors_shown():  # a failure here leaves ICC and the rating model on the page
    alpha = state.score_agreement(fp, level, d)
    if len(alpha):
        state.table(alpha)
        se = alpha["se_method"].iloc[0] if "se_method" in alpha else None
        st.caption(f"Krippendorff's alpha ({level}); units are responses, one row per aspect; SE: "
                   f"{disp.method_words(se)}, CIs over responses.")
    else:
        st.info("No response was rated by two or more annotators, so score reliability is not defined.")

# One aspect at a time: scores of different aspects are not one scale (the audit skips ICC and the
# rating model on several aspects and says so); here the user picks the aspect.
aspect = None
if len(aspects) > 1:
    aspect = st.selectbox("Aspect for the ICC and the rating model", aspects, key="rating_aspect")
st.markdown("**Intraclass correlation** (`pq.icc`: responses as units, annotators as raters)"
            + (f" · aspect `{aspect}`" if aspect else ""))
ic = state.icc(fp, aspect, d) if aspect else rep.results.get("icc")
if ic is None:
    state.skipped(rep, "icc")
else:
    state.table(ic.to_frame(), column_config={"description": st.column_config.TextColumn(width="large")})
    design = "balanced" if getattr(ic, "balanced", False) else "incomplete (not every annotator rated every response)"
    st.caption(f"{ic.n_units:,} responses, {ic.n_raters:,} annotators, {ic.n_ratings:,} ratings; design {design}; "
               f"{disp.interval_note(ic)}.")
    state.notes(ic)

# ------------------------------------------------------------------ rating model
st.subheader("Rating model")
model = state.rating_model(fp, aspect, d) if aspect else rep.results.get("rating_model")
if model is None:
    state.skipped(rep, "rating_model")
else:
    st.caption("`pq.fit_rating_model`: Gaussian crossed random effects (response and annotator), REML.")
    state.table(model.to_frame(), column_config={"reason": st.column_config.TextColumn(width="large")})
    st.text(model.summary())
    state.notes(model)
