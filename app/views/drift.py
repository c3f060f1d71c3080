"""Drift: the data's metrics by time window or batch against the baseline windows, and who changed.

Every number comes from ``pq.drift`` (windows, differences clustered by annotator, BH flags, CUSUM
alarms, annotator-window change tests). The page picks the windowing and the baseline, draws the
result's own columns (the control chart's band is the library's difference interval moved onto the
baseline) and lists the flags with the library's reasons.
"""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd
import state
import streamlit as st

import prefqa as pq

FREQS = {"W": "weeks", "D": "days", "MS": "months", "QS": "quarters"}
METRIC_WORDS = {"alpha": "Krippendorff's alpha", "ac1": "Gwet's AC1", "p_first": "P(first shown chosen)",
                "p_longer": "P(longer chosen)", "tie_rate": "Tie rate",
                "flagged_share": "Judgments by flagged annotators", "score_mean": "Mean score", "icc": "ICC"}
_KNOWN = {"comparison_id", "annotator_id", "choice", "prompt_id", "response_a_id", "response_b_id", "model_a",
          "model_b", "strength", "seconds"}


@st.cache_resource(show_spinner="Computing metrics by window (pq.drift)...", max_entries=8)
def run_drift(fingerprint: str, options: str, _data: pq.PreferenceData):
    return pq.drift(_data, **json.loads(options))


def time_columns(d: pq.PreferenceData) -> list[str]:
    j = d.judgments
    return [str(c) for c in j.columns if c not in _KNOWN and pd.api.types.is_datetime64_any_dtype(j[c])
            and j[c].notna().any()]


def window_columns(d: pq.PreferenceData) -> list[str]:
    j = d.judgments
    out = [str(c) for c in j.columns if c not in _KNOWN and not pd.api.types.is_datetime64_any_dtype(j[c])
           and 2 <= j[c].nunique(dropna=True) <= 200 and not pd.api.types.is_float_dtype(j[c])]
    return sorted(out, key=lambda c: (c != "batch", c))


d, label = state.data()
state.sidebar(d, label)
st.title("Drift")
st.caption("Metrics by time window or batch against the baseline windows (`pq.drift`): differences are "
           "estimated jointly and clustered by annotator, flags are Benjamini-Hochberg adjusted across windows, "
           "and a CUSUM marks slow drift.")
times, batches = time_columns(d), window_columns(d)
if not times and "batch" not in batches:
    st.info("This data has no time column (`timestamp`) and no `batch` column, so there are no windows to "
            "compare. Upload a file with one on the Data page, compare two files on the Compare page, or use "
            "one of this data's columns as batch labels.")
    pick = st.selectbox("Column of batch labels", ["(none)", *batches], key="drift_window_pick")
    if pick == "(none)":
        st.stop()
    batches = [pick]

modes = (["time column"] if times else []) + (["batch column"] if batches else [])
c1, c2, c3, c4 = st.columns(4)
mode = c1.radio("Windows from", modes, key="drift_mode")
opts: dict[str, object] = {}
if mode == "time column":
    opts["time"] = c2.selectbox("Time column", times, key="drift_time")
    opts["freq"] = c3.selectbox("Window length", list(FREQS), format_func=lambda f: f"{FREQS[f]} ({f})",
                                key="drift_freq")
else:
    opts["window"] = c2.selectbox("Batch column", batches, key="drift_window")
k = c4.number_input("Baseline: first windows (0 = the library's default, the first quarter)", min_value=0,
                    value=0, step=1, key="drift_baseline")
if k:
    opts["baseline"] = int(k)
opts["fdr"] = st.select_slider("False discovery rate of the flags", [0.01, 0.05, 0.1, 0.2], value=0.05,
                               key="drift_fdr")

try:
    res = run_drift(d.fingerprint(), json.dumps(opts, sort_keys=True), d)
except pq.PrefqaError as exc:  # one window, a baseline that leaves nothing to monitor, ...: the library says why
    st.warning(str(exc))
    st.stop()
w = res.windows
flag_w = w[w["flagged"].fillna(False).astype(bool).to_numpy()] if "flagged" in w else w.iloc[:0]
a = res.annotators
flag_a = a[a["flagged"].fillna(False).astype(bool).to_numpy()] if len(a) and "flagged" in a else a.iloc[:0]
m1, m2, m3, m4 = st.columns(4)
m1.metric("Windows", f"{res.n_windows:,}")
m2.metric("Metrics", f"{w['metric'].nunique():,}")
m3.metric("Flagged window x metric", f"{len(flag_w):,}")
m4.metric("Annotators flagged", f"{flag_a['annotator_id'].nunique() if len(flag_a) else 0:,}")
with st.expander("Summary (as `DriftResult.summary()` prints it)"):
    st.text(res.summary())
state.notes(res)

# ------------------------------------------------------------------ control charts
st.subheader("Control charts")
st.caption("Each metric by window with its confidence interval; dashed: the baseline estimate; grey band: its "
           "confidence interval; red: windows flagged after the BH adjustment; dotted rule: the first CUSUM alarm "
           "(`DriftResult.tidy()` and `change_points`).")
tidy = res.tidy()
tidy = tidy.assign(window=tidy["window"].astype(str),
                   status=np.where(tidy["flagged"].fillna(False).astype(bool), "flagged", "not flagged"))
info = w.assign(window=w["window"].astype(str))[["window", "metric", "n_judgments", "difference", "q_value", "reason"]]
tidy = tidy.merge(info, on=["window", "metric"], how="left")
order = [str(x) for x in res.labels]
# a period label "2026-01-05/2026-01-11" is shown by its start; the tooltip keeps the whole label
x = alt.X("window:N", sort=order, title=None,
          axis=alt.Axis(labelAngle=-30, labelExpr="split(datum.label, '/')[0]", labelLimit=120))
free = alt.Scale(zero=False)
for metric, rows in tidy.groupby("metric", sort=False, observed=True):
    rows = rows.dropna(subset=["estimate"])
    if not len(rows):
        continue
    base = alt.Chart(rows)
    layers = [
        base.mark_area(opacity=0.18, color="grey").encode(x=x, y=alt.Y("band_low:Q", title=None, scale=free),
                                                          y2="band_high:Q"),
        base.mark_line(strokeDash=[4, 3], color="grey").encode(x=x, y=alt.Y("baseline:Q", scale=free)),
        base.mark_rule(color="#1f77b4").encode(x=x, y=alt.Y("ci_low:Q", scale=free), y2="ci_high:Q"),
        base.mark_line(color="#1f77b4").encode(x=x, y=alt.Y("estimate:Q", scale=free)),
        base.mark_point(filled=True, size=60).encode(
            x=x, y=alt.Y("estimate:Q", scale=free),
            color=alt.Color("status:N", scale=alt.Scale(domain=["flagged", "not flagged"],
                                                        range=["#d62728", "#1f77b4"]), legend=None),
            tooltip=["window", "n_judgments", "estimate", "ci_low", "ci_high", "baseline", "difference",
                     "q_value", "reason"]),
    ]
    alarm = res.change_points.get(metric)
    if alarm is not None:
        rule = pd.DataFrame({"window": [str(alarm)]})
        layers.append(alt.Chart(rule).mark_rule(color="#d62728", strokeDash=[4, 2], strokeWidth=2).encode(x=x))
    st.markdown(f"**{METRIC_WORDS.get(str(metric), str(metric))}**"
                + (f" · first CUSUM alarm: {alarm}" if alarm is not None else ""))
    st.altair_chart(alt.layer(*layers).properties(height=220), width="stretch")

st.subheader("Flagged windows")
if len(flag_w):
    cols = [col for col in ("window", "metric", "n_judgments", "estimate", "baseline", "difference", "diff_ci_low",
                            "diff_ci_high", "q_value", "reason") if col in flag_w]
    state.table(flag_w[cols].reset_index(drop=True),
                column_config={"reason": st.column_config.TextColumn(width="large")})
else:
    st.success("No window differs from the baseline after the BH adjustment.")
with st.expander("Every window x metric row"):
    state.table(w)

# ------------------------------------------------------------------ annotators
st.subheader("Annotators by window")
if not len(a):
    st.info("No annotator-window table: this data has no annotator ids.")
else:
    if len(flag_a):
        cols = [col for col in ("annotator_id", "window", "n_judgments", "agreement", "p_a", "q_value", "reason")
                if col in flag_a]
        state.table(flag_a[cols].reset_index(drop=True),
                    column_config={"reason": st.column_config.TextColumn(width="large")})
    else:
        st.success("No annotator changed against their own baseline windows (or, for new annotators, against "
                   "the baseline pool) after the BH adjustment.")
    if "agreement" in a and a["agreement"].notna().any():
        heat = a.assign(window=a["window"].astype(str), annotator_id=a["annotator_id"].astype(str))
        heat["status"] = np.where(heat["flagged"].fillna(False).astype(bool), "flagged", "")
        per = heat.groupby("annotator_id", sort=False)
        ranking = pd.DataFrame({"flagged": per["flagged"].any(), "n": per["n_judgments"].sum()})
        shown = ranking.sort_values(["flagged", "n"], ascending=False, kind="stable").index[:60].tolist()
        heat = heat[heat["annotator_id"].isin(shown)]
        st.caption("Agreement of each annotator by window (flagged annotators first; at most 60 shown); "
                   "flagged annotator-windows are marked with a cross.")
        y = alt.Y("annotator_id:N", sort=shown, title=None, axis=alt.Axis(labelOverlap=False))
        rect = alt.Chart(heat).mark_rect().encode(
            x=x, y=y, color=alt.Color("agreement:Q", scale=alt.Scale(scheme="redyellowblue", domain=[0, 1])),
            tooltip=["annotator_id", "window", "n_judgments", "agreement", "q_value", "reason"])
        marks = alt.Chart(heat[heat["status"] == "flagged"]).mark_text(text="x", color="black").encode(x=x, y=y)
        st.altair_chart((rect + marks).properties(height=max(200, 24 * len(shown))), width="stretch")
    with st.expander("Every annotator x window row"):
        state.table(a)
