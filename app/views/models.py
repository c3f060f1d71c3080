"""Models: Bradley-Terry leaderboard (plain and style-controlled) and the pairwise win-probability matrix."""

from __future__ import annotations

import altair as alt
import components as c
import display as disp
import pandas as pd
import state
import streamlit as st

d, rep, label = state.pairwise_report("Models")
st.title("Models")
plain = rep.results.get("bradley_terry")
styled = rep.results.get("bradley_terry_style")
if plain is None:
    state.skipped(rep, "bradley_terry")
    st.stop()

plain_method = disp.method_words(getattr(plain, "se_method", None) or plain.ci, getattr(plain, "cluster", None))
st.caption(f"Bradley-Terry over {plain.n_items:,} {plain.over}s, ties `{plain.ties}`, "
           f"{plain.confidence_level:.0%} CIs ({plain_method}); "
           "style control adds length, headers, lists and bold.")
state.notes(plain)
if styled is None:
    st.warning(f"Style-controlled fit {rep.sections['bradley_terry_style']['status']}: "
               f"{disp.skip_reason(rep, 'bradley_terry_style')}")
board = c.leaderboard(plain, styled)
state.table(board)

frames = [plain.scores[["estimate", "ci_low", "ci_high"]].assign(fit="plain")]
if styled is not None:
    frames.append(styled.scores[["estimate", "ci_low", "ci_high"]].assign(fit="style-controlled"))
long = pd.concat(frames).rename_axis("model").reset_index()
long["model"] = long["model"].astype(str)
order = list(board.index)
ch = alt.Chart(long).encode(y=alt.Y("model:N", sort=order, title=None), yOffset="fit:N", color="fit:N",
                            tooltip=["model", "fit", "estimate", "ci_low", "ci_high"])
st.altair_chart(ch.mark_rule(strokeWidth=2).encode(x=alt.X("ci_low:Q", title="log-strength"), x2="ci_high:Q")
                + ch.mark_point(filled=True, size=80).encode(x="estimate:Q"), width="stretch")

if styled is not None and len(styled.coefficients):
    st.markdown("**Style coefficients** (style-controlled fit)")
    state.table(styled.coefficients)

st.subheader("Win probability (row beats column; ties count half)")
m = c.win_matrix(plain)
heat = alt.Chart(m).encode(x=alt.X("column:N", sort=order, title=None), y=alt.Y("row:N", sort=order, title=None))
st.altair_chart(
    (heat.mark_rect().encode(color=alt.Color("win_probability:Q", scale=alt.Scale(scheme="redblue", domain=[0, 1]),
                                             title="P(row wins)"),
                             tooltip=["row", "column", alt.Tooltip("win_probability:Q", format=".3f")])
     + heat.mark_text(fontSize=13).encode(text=alt.Text("win_probability:Q", format=".2f"))
     ).properties(height=max(240, 48 * len(order))), width="stretch")
