"""Prompts: flagged prompts by kind, with the prompt, both responses and every annotator's vote as text."""

from __future__ import annotations

import components as c
import state
import streamlit as st

MAX_COMPARISONS = 10

d, rep, label = state.pairwise_report("Prompts")
st.title("Prompts")
table = rep.results.get("prompts")
if table is None:
    state.skipped(rep, "prompts")
    st.stop()

state.notes(table)
flagged = table[table["flagged"].fillna(False).astype(bool)]
kinds = sorted(flagged["kind"].astype(str).unique()) if "kind" in flagged and len(flagged) else []
m1, m2 = st.columns(2)
m1.metric("Prompts checked", f"{len(table):,}")
m2.metric("Flagged", f"{len(flagged):,}")

if len(flagged):
    kind = st.radio("Kind", ["all", *kinds], horizontal=True, key="prompt_kind")
    shown = flagged if kind == "all" else flagged[flagged["kind"].astype(str) == kind]
    state.table(shown, height=300, column_config={"reason": st.column_config.TextColumn(width="large")})
    candidates = [str(i) for i in shown.index]
    pick_label = "Flagged prompt"
else:
    st.info("No prompt was flagged. Browse the prompts with the most divided votes below.")
    sort_col = next((col for col in ("vote_entropy", "split_rate") if col in table), None)
    top = table.sort_values(sort_col, ascending=False).head(50) if sort_col else table.head(50)
    state.table(top, height=300)
    candidates = [str(i) for i in top.index]
    pick_label = "Prompt (most divided votes first)"

pid = st.selectbox(pick_label, candidates, key="prompt_pick")
if pid:
    text, votes = c.prompt_votes(d, pid)
    st.markdown("**Prompt**")
    st.code(text or "(no prompt text)", language=None, wrap_lines=True)
    comps = list(dict.fromkeys(votes["comparison_id"].astype(str)))
    if len(comps) > MAX_COMPARISONS:
        st.caption(f"Showing {MAX_COMPARISONS} of {len(comps)} comparisons.")
    for cid in comps[:MAX_COMPARISONS]:
        sub = votes[votes["comparison_id"].astype(str) == cid]
        first = sub.iloc[0]
        with st.container(border=True):
            st.markdown(f"**Comparison** `{cid}`")
            left, right = st.columns(2)
            for col, side, title in ((left, "a", "Left"), (right, "b", "Right")):
                model = first.get(f"model_{side}")
                col.caption(title + (f" · model {model}" if isinstance(model, str) else ""))
                col.code(str(first.get(f"response_{side}", "")), language=None, wrap_lines=True)
            table = sub[[k for k in ("annotator_id", "choice") if k in sub]].copy()
            table["preferred"] = c.vote_sides(sub)
            table = table.rename(columns={"choice": "choice_as_displayed"})
            state.table(table)
