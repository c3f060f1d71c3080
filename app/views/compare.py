"""Compare: the current data (the new batch) against an uploaded baseline batch, metric by metric.

Every number comes from ``pq.compare``: each metric's difference to the baseline with its interval
(clustered by annotator where annotators overlap), the BH-adjusted test and the verdict (``worse``,
``better``, ``same``, ``not estimable``), and the annotators new, gone and changed.
"""

from __future__ import annotations

import altair as alt
import components as c
import pandas as pd
import state
import streamlit as st

import prefqa as pq

BASELINE_KEY = "compare_baseline"
VERDICT_BADGE = {"worse": ":red-badge[worse]", "better": ":green-badge[better]", "same": ":gray-badge[same]",
                 "not estimable": ":orange-badge[not estimable]"}
METRIC_WORDS = {"alpha": "Krippendorff's alpha", "ac1": "Gwet's AC1", "p_first": "P(first shown chosen)",
                "p_longer": "P(longer chosen)", "tie_rate": "Tie rate",
                "flagged_share": "Judgments by flagged annotators", "score_mean": "Mean score", "icc": "ICC"}


@st.cache_resource(show_spinner="Reading the baseline...", max_entries=4)
def read_baseline(key: str, name: str, _content: bytes) -> pq.PreferenceData:
    return c.read_upload(_content, name)


@st.cache_resource(show_spinner="Comparing with the baseline (pq.compare)...", max_entries=8)
def run_compare(fingerprint: str, baseline_fingerprint: str, fdr: float, _data: pq.PreferenceData,
                _baseline: pq.PreferenceData):
    return pq.compare(_data, _baseline, fdr=fdr)


d, label = state.data()
state.sidebar(d, label)
st.title("Compare")
st.caption(f"The current data ({label}) as the new batch against a baseline batch you upload: `pq.compare`, "
           "differences clustered by annotator where the same annotators work in both, verdicts from the "
           "Benjamini-Hochberg adjusted tests.")
upload = st.file_uploader("Baseline batch (the same kinds of files as on the Data page)",
                          type=[s.lstrip(".") for s in c.UPLOAD_SUFFIXES], key=BASELINE_KEY)
if upload is None:
    st.info("Upload a baseline batch (for example last month's delivery) to compare the current data with it. "
            "The current data is chosen on the Data page.")
    st.stop()
content = upload.getvalue()
base = read_baseline(c.digest(content), upload.name, content)
fdr = st.select_slider("False discovery rate of the verdicts", [0.01, 0.05, 0.1, 0.2], value=0.05,
                       key="compare_fdr")
try:
    res = run_compare(d.fingerprint(), base.fingerprint(), fdr, d, base)
except pq.PrefqaError as exc:  # nothing comparable between the two files: the library says why
    st.warning(str(exc))
    st.stop()

frame = res.to_frame()
counts = frame["verdict"].astype(str).value_counts() if "verdict" in frame else pd.Series(dtype="int64")
m1, m2, m3, m4 = st.columns(4)
m1.metric("Baseline judgments", f"{base.n_judgments:,}")
m2.metric("Worse", f"{int(counts.get('worse', 0)):,}")
m3.metric("Better", f"{int(counts.get('better', 0)):,}")
m4.metric("Not estimable", f"{int(counts.get('not estimable', 0)):,}")
with st.expander("Summary (as `CompareResult.summary()` prints it)"):
    st.text(res.summary())
state.notes(res)

st.subheader("Metrics against the baseline")
for _, row in frame.iterrows():
    verdict = str(row.get("verdict", ""))
    reason = row.get("reason")
    words = METRIC_WORDS.get(str(row["metric"]), str(row["metric"]))
    st.markdown(f"{VERDICT_BADGE.get(verdict, verdict)} &nbsp; **{words}**")
    if isinstance(reason, str) and reason:
        st.text(reason)  # library text: shown as text, never markdown
state.table(frame, column_config={"reason": st.column_config.TextColumn(width="large")})

shown = frame.dropna(subset=["difference"]) if "difference" in frame else frame.iloc[:0]
if len(shown):
    st.caption("Difference (new batch minus baseline) with its confidence interval; red: worse, green: better.")
    shown = shown.assign(metric_name=shown["metric"].map(lambda m: METRIC_WORDS.get(str(m), str(m))))
    y = alt.Y("metric_name:N", title=None, sort=list(shown["metric_name"]))
    color = alt.Color("verdict:N", scale=alt.Scale(domain=["worse", "better", "same", "not estimable"],
                                                   range=["#d62728", "#2ca02c", "#7f7f7f", "#ff7f0e"]))
    bars = alt.Chart(shown).mark_rule(strokeWidth=2).encode(y=y, x=alt.X("diff_ci_low:Q", title="difference"),
                                                            x2="diff_ci_high:Q", color=color)
    dots = alt.Chart(shown).mark_point(filled=True, size=70).encode(
        y=y, x="difference:Q", color=color, tooltip=["metric", "estimate", "baseline", "difference", "diff_ci_low",
                                                     "diff_ci_high", "q_value", "verdict"])
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="grey", strokeDash=[4, 3]).encode(x="x:Q")
    st.altair_chart((zero + bars + dots).properties(height=max(120, 34 * len(shown))), width="stretch")

st.subheader("Annotators: new, gone and changed")
ann = getattr(res, "annotators", None)
if ann is None or not len(ann):
    st.info("No annotator table: one of the batches has no annotator ids.")
else:
    cols = st.columns(3)
    for col, (name, ids) in zip(cols, (("New", res.new_annotators), ("Gone", res.gone_annotators),
                                       ("Changed", res.changed_annotators))):
        col.metric(name, f"{len(ids):,}")
        if ids:
            col.caption(", ".join(map(str, ids[:12])) + (" ..." if len(ids) > 12 else ""))
    flagged = ann[ann["flagged"].fillna(False).astype(bool).to_numpy()] if "flagged" in ann else ann.iloc[:0]
    if len(flagged):
        st.markdown("**Flagged annotators**")
        state.table(flagged.reset_index(drop=True),
                    column_config={"reason": st.column_config.TextColumn(width="large")})
    with st.expander("Every annotator"):
        state.table(ann, column_config={"reason": st.column_config.TextColumn(width="large")})
