"""Annotators: the flag table, agreement against position bias, and one annotator's judgments."""

from __future__ import annotations

import altair as alt
import components as c
import pandas as pd
import state
import streamlit as st

d, rep, label = state.report()
state.sidebar(d, label)
st.title("Annotators")
table = rep.results.get("annotators")
if table is None:
    state.skipped(rep, "annotators")
    st.stop()

flagged = c.flagged_ids(table)
m1, m2, m3 = st.columns(3)
m1.metric("Annotators", f"{len(table):,}")
m2.metric("Flagged", f"{len(flagged):,}")
share = table.loc[flagged, "n_judgments"].sum() / max(table["n_judgments"].sum(), 1) if flagged else 0.0
m3.metric("Judgments by flagged annotators", f"{share:.1%}")

FIRST = ["flagged", "reason", "n_judgments", "n_ratings", "loo_agreement", "loo_kappa", "p_a",
         "position_consistency", "self_consistency", "gold_accuracy", "n_gold", "leniency", "tie_rate",
         "length_slope", "median_seconds", "longest_run"]
shown = table[[col for col in FIRST if col in table] + [col for col in table if col not in FIRST]]
shown = shown.sort_values(["flagged", "n_judgments"], ascending=[False, False], kind="stable")
state.table(shown, height=420, column_config={"reason": st.column_config.TextColumn(width="large")})
state.notes(table)
st.caption("Statistical flags come from q-values (Benjamini-Hochberg within each test family); rule-based "
           "flags name their rule in the reason. Columns that do not apply to this data are left out.")

points = table.reset_index().rename(columns={table.index.name or "index": "annotator_id"})
if {"loo_agreement", "p_a"} <= set(points.columns) and points["p_a"].notna().any():
    st.subheader("Agreement against position bias")
    points["status"] = points["flagged"].map({True: "flagged", False: "not flagged"})
    scatter = alt.Chart(points).mark_circle(opacity=0.8).encode(
        x=alt.X("loo_agreement:Q", title="agreement with the other annotators", scale=alt.Scale(zero=False)),
        y=alt.Y("p_a:Q", title="share choosing the first-shown response", scale=alt.Scale(zero=False)),
        size=alt.Size("n_judgments:Q", title="judgments"),
        color=alt.Color("status:N", scale=alt.Scale(domain=["flagged", "not flagged"], range=["#d62728", "#1f77b4"])),
        tooltip=["annotator_id", "n_judgments", "loo_agreement", "p_a", "reason"])
    st.altair_chart(scatter.properties(height=420), width="stretch")

st.subheader("One annotator's judgments")
ids = flagged + [str(i) for i in table.index if str(i) not in set(flagged)]
who = st.selectbox("Annotator (flagged first)", ids, key="drill_annotator")
if who:
    row = table.loc[table.index.astype(str) == who].iloc[0]
    if bool(row.get("flagged", False)):
        st.text(f"Flagged: {row['reason']}")
    frame = c.annotator_judgments(d, who)
    n_j = row.get("n_judgments")
    st.caption(f"{0 if pd.isna(n_j) else int(n_j):,} judgments; first {len(frame):,} shown.")
    if len(frame):
        state.table(frame, height=360)
