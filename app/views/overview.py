"""Overview: dataset counts, the headline reliability coefficient with its CI, and the audit's findings."""

from __future__ import annotations

import streamlit as st

import components as c
import state

d, rep, label = state.report()
state.sidebar(d, label)
st.title("Overview")
st.caption(f"Audit of the {label}. Every number comes from `pq.audit`; bootstrap CIs use "
           f"{c.APP_AUDIT['n_resamples']} resamples in the app (run `prefqa audit` for the full report).")

head = c.headline(rep)
cols = st.columns(5)
for col, (key, title) in zip(cols, [("n_judgments", "Judgments"), ("n_comparisons", "Comparisons"),
                                    ("n_annotators", "Annotators"), ("n_prompts", "Prompts"),
                                    ("n_models", "Models")]):
    col.metric(title, f"{head[key]:,}")

coef = head["coefficients"]
if len(coef):
    st.subheader("Headline agreement")
    mcols = st.columns(min(len(coef), 5))
    for col, (_, row) in zip(mcols, coef.head(5).iterrows()):
        name = str(row["coefficient"]).replace("_", " ")
        est = row["estimate"]
        col.metric(name.capitalize(), "n/a" if est != est else f"{est:.3f}")
        if row["ci_low"] == row["ci_low"]:
            col.caption(f"95% CI {row['ci_low']:.3f} to {row['ci_high']:.3f} · {int(row['n']):,} units")
else:
    st.info(rep.sections["reliability"]["reason"] or "Reliability was not computed.")

st.subheader(f"Findings ({len(rep.findings)})")
BADGE = {"high": ":red-badge[high]", "medium": ":orange-badge[medium]", "low": ":blue-badge[low]",
         "info": ":gray-badge[info]"}
if not rep.findings:
    st.success("No findings: nothing in this batch crossed a threshold.")
for f in rep.findings:
    with st.container(border=True):
        st.markdown(f"{BADGE.get(f['severity'], f['severity'])} &nbsp; `{f['code']}`")
        st.text(f["message"])  # library text can quote data ids: shown as text, never markdown
        if f.get("command"):
            st.code(f["command"], language="bash", wrap_lines=True)

with st.expander("Audit steps: status and time"):
    st.dataframe(c.step_table(rep), hide_index=True, width="stretch",
                 column_config={"seconds": st.column_config.NumberColumn(format="%.2f s")})
