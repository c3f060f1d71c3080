"""Overview: dataset counts, the headline reliability coefficient with its CI, and the audit's findings."""

from __future__ import annotations

import components as c
import display as disp
import pandas as pd
import state
import streamlit as st

d, rep, label = state.report()
state.sidebar(d, label)
st.title("Overview")
st.caption(f"Audit of the {label}. Every number comes from `pq.audit`; bootstrap CIs use "
           f"{c.APP_AUDIT['n_resamples']} resamples in the app (run `prefqa audit` for the full report).")

head = c.headline(rep)
if not disp.ratings_only(d):  # ratings-only data: the ratings counts below, no zeros for judgments
    for col, (key, title) in zip(st.columns(5), [("n_judgments", "Judgments"), ("n_comparisons", "Comparisons"),
                                                 ("n_annotators", "Annotators"), ("n_prompts", "Prompts"),
                                                 ("n_models", "Models")]):
        col.metric(title, f"{head[key]:,}")
if disp.has_ratings(d):
    r = disp.ratings(d)
    for col, (title, n) in zip(st.columns(5), [("Ratings", len(r)), ("Responses rated", r["response_id"].nunique()),
                                               ("Annotators who rated", r["annotator_id"].nunique())]):
        col.metric(title, f"{n:,}")

coef = head["coefficients"]
if len(coef):
    st.subheader("Headline agreement")
    targets = list(dict.fromkeys(coef["target"].astype(str))) if "target" in coef else [None]
    for target in targets:  # choices first, then each rated aspect (ratings data)
        rows = coef if target is None else coef[(coef["target"].astype(str) == target).to_numpy()]
        if target not in (None, "choice"):
            st.caption(f"Scores: {target.removeprefix('rating:')}")
        for col, (_, row) in zip(st.columns(5), rows.head(5).iterrows()):
            est = row["estimate"]
            col.metric(str(row["coefficient"]).replace("_", " ").capitalize(),
                       "n/a" if pd.isna(est) else f"{est:.3f}")
            if not pd.isna(row["ci_low"]):
                col.caption(f"95% CI {row['ci_low']:.3f} to {row['ci_high']:.3f} "
                            f"({disp.method_words(row.get('se_method'))}) · {int(row['n']):,} units")
else:
    state.skipped(rep, "reliability")

findings = disp.findings(rep)
st.subheader(f"Findings ({len(findings)})")
BADGE = {"high": ":red-badge[high]", "medium": ":orange-badge[medium]", "low": ":blue-badge[low]",
         "info": ":gray-badge[info]"}
if not findings:
    st.success("No findings: nothing in this batch crossed a threshold.")
for f in findings:
    with st.container(border=True):
        st.markdown(f"{BADGE.get(f['severity'], f['severity'])} &nbsp; `{f['code']}`")
        st.text(f["message"])  # library text can quote data ids: shown as text, never markdown
        if f.get("command"):
            st.code(f["command"], language="bash", wrap_lines=True)

with st.expander("Audit steps: status and time"):
    state.table(disp.step_frame(rep), column_config={"seconds": st.column_config.NumberColumn(format="%.2f s")})
