"""Cleaning: label issues (both texts side by side with every vote) and the relabel queue with downloads.

Every number comes from ``pq.label_issues`` (the posterior probability that the consensus picked the
worse response, from the votes and optionally a reward model's scores) and ``pq.relabel_queue``
(the comparisons where more votes reduce the expected label error most). The page picks the
options, lists the flagged comparisons with the library's reasons, shows one comparison's texts and
votes, and offers the queue as CSV / JSONL.
"""

from __future__ import annotations

import json

import components as c
import display as disp
import pandas as pd
import state
import streamlit as st

import prefqa as pq

NONE = "(none: votes only)"
SHOWN = ("consensus", "p_label_wrong", "model_prefers", "votes_1", "votes_2", "votes_tie", "score_diff", "reason")
QUEUE_SHOWN = ("rank", "comparison_id", "consensus", "votes_a", "votes_b", "votes_tie", "p_label_wrong",
               "error_before", "error_after", "expected_error_reduction", "reason")


@st.cache_resource(show_spinner="Estimating label errors (pq.label_issues)...", max_entries=8)
def run_issues(fingerprint: str, options: str, _data: pq.PreferenceData):
    return pq.label_issues(_data, **json.loads(options))


@st.cache_resource(show_spinner="Ranking comparisons for relabelling (pq.relabel_queue)...", max_entries=8)
def run_queue(fingerprint: str, options: str, queue_options: str, _data: pq.PreferenceData, _issues):
    return pq.relabel_queue(_data, issues=_issues, **json.loads(queue_options))


def score_sources(d: pq.PreferenceData) -> list[str]:
    """Score stems the data offers: numeric judgment columns STEM_a / STEM_b, numeric responses columns."""
    j = d.judgments
    stems = [str(col)[:-2] for col in j.columns
             if str(col).endswith("_a") and f"{str(col)[:-2]}_b" in j and str(col) not in ("model_a",)
             and pd.api.types.is_numeric_dtype(j[col]) and pd.api.types.is_numeric_dtype(j[f"{str(col)[:-2]}_b"])]
    r = d.responses
    stems += [str(col) for col in r.columns if col not in ("response_id", "prompt_id", "text")
              and pd.api.types.is_numeric_dtype(r[col]) and str(col) not in stems]
    return [s for s in stems if s != "score"]


def comparison_votes(d: pq.PreferenceData, comparison_id: str) -> pd.DataFrame:
    """One comparison's judgments with both texts (every vote, as displayed to its annotator)."""
    mask = (d.judgments["comparison_id"].astype("string") == str(comparison_id)).fillna(False).to_numpy(dtype=bool)
    sub = d.subset(mask)
    return sub.judgments_with_text() if sub.has_texts else sub.judgments.copy()


d, label = state.data()
state.sidebar(d, label)
st.title("Cleaning")
if disp.ratings_only(d):
    st.info("The Cleaning page needs pairwise judgments; this file has ratings only. See the Ratings page.")
    st.stop()
st.caption("`pq.label_issues`: the probability that each comparison's consensus label picked the worse "
           "response, from the votes and the annotators' estimated reliability, and from a reward model's "
           "scores when you pick them (calibrated by cross-fitting over prompts). `pq.relabel_queue`: where "
           "more votes reduce the expected label error most.")

sources = score_sources(d)
left, mid, right = st.columns(3)
scores = left.selectbox("Reward-model scores", [NONE, *sources], key="clean_scores",
                        help="A judgment column pair STEM_a / STEM_b or a numeric responses column.")
method = mid.radio("Consensus under audit", ["majority", "dawid_skene"], horizontal=True, key="clean_consensus")
threshold = right.slider("Flag when p_label_wrong >", 0.05, 0.95, 0.5, 0.05, key="clean_threshold")
options = {"scores": None if scores == NONE else scores, "consensus": method, "threshold": threshold}
fp = d.fingerprint()
issues = run_issues(fp, state.kwargs_json(options), d)
table = issues.to_frame()

m1, m2, m3, m4 = st.columns(4)
m1.metric("Comparisons", f"{issues.n_comparisons:,}")
m2.metric("Label error estimated", f"{issues.n_estimable:,}")
m3.metric("Flagged labels", f"{issues.n_flagged:,}")
m4.metric("Expected share of wrong labels", "n/a" if issues.flip_rate != issues.flip_rate
          else f"{issues.flip_rate:.1%}")
st.text(issues.summary())
state.notes(issues)

st.subheader("Label issues")
flagged = table[table["flagged"]]
if len(flagged):
    shown = flagged.sort_values("p_label_wrong", ascending=False)
    pick_label = "Flagged comparison"
else:
    st.info("No label is flagged at this threshold. The comparisons most likely to be wrong are listed instead.")
    shown = table[table["p_label_wrong"].notna()].sort_values("p_label_wrong", ascending=False).head(50)
    pick_label = "Comparison (most likely wrong first)"
cols = [col for col in SHOWN if col in shown]
state.table(shown[cols].reset_index(), rates=("p_label_wrong",), height=300,
            column_config={"reason": st.column_config.TextColumn(width="large")})
candidates = [str(i) for i in shown.index[:500]]
cid = st.selectbox(pick_label, candidates, key="clean_pick") if candidates else None
if cid:
    row = table.loc[cid]
    votes = comparison_votes(d, cid)
    with st.container(border=True):
        st.markdown(f"**Comparison** `{cid}` · consensus prefers response {row['consensus']} · "
                    f"p_label_wrong {row['p_label_wrong']:.1%}"
                    + (f" · the score prefers response {row['model_prefers']}"
                       if isinstance(row["model_prefers"], str) else ""))
        if "prompt" in votes and votes["prompt"].notna().any():
            st.code(str(votes["prompt"].iloc[0]), language=None, wrap_lines=True)
        first = votes.iloc[0]
        a, b = st.columns(2)
        for col, side, title in ((a, "a", "Response 1 (left)"), (b, "b", "Response 2 (right)")):
            col.caption(title + (f" · {first[f'response_{side}_id']}" if f"response_{side}_id" in votes else ""))
            col.code(str(first.get(f"response_{side}", "(no text)")), language=None, wrap_lines=True)
        each = votes[[k for k in ("annotator_id", "choice") if k in votes]].copy()
        each["preferred"] = c.vote_sides(votes)
        state.table(each.rename(columns={"choice": "choice_as_displayed"}))

st.subheader("Relabel queue")
q1, q2 = st.columns(2)
budget = int(q1.number_input("Budget (comparisons)", min_value=1, max_value=max(1, issues.n_comparisons),
                             value=min(100, max(1, issues.n_estimable)), step=10, key="clean_budget"))
per_item = int(q2.number_input("New votes per comparison", min_value=1, max_value=15, value=3, key="clean_votes"))
if issues.method == "none":
    st.info("Every comparison has one vote and no scores were picked, so what a new vote is worth cannot be "
            "estimated. Pick reward-model scores above, or collect repeat votes.")
    st.stop()
queue = run_queue(fp, state.kwargs_json(options), state.kwargs_json({"budget": budget, "votes_per_item": per_item,
                                                                      "rng": 0}), d, issues)
st.metric("Queued comparisons", f"{len(queue):,}")
state.table(queue[[col for col in QUEUE_SHOWN if col in queue]], height=300,
            rates=("p_label_wrong", "error_before", "error_after", "expected_error_reduction"),
            column_config={"reason": st.column_config.TextColumn(width="large")})
st.caption("Sides are freshly randomised: `response_a` is shown first, and `response_a_id` / `response_b_id` "
           "record that order. Filled in (`annotator_id`, `choice`) and appended to the data, the rows are ordinary "
           "judgments of the same comparisons.")
d1, d2 = st.columns(2)
d1.download_button("relabel_queue.csv", data=queue.to_csv(index=False).encode(), file_name="relabel_queue.csv",
                   mime="text/csv", key="clean_dl_csv", on_click="ignore", icon=":material/download:")
d2.download_button("relabel_queue.jsonl", data=queue.to_json(orient="records", lines=True, force_ascii=False).encode(),
                   file_name="relabel_queue.jsonl", mime="application/jsonl", key="clean_dl_jsonl", on_click="ignore",
                   icon=":material/download:")
