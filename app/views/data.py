"""Data: upload a batch, map columns when the format is not detected, and read the load report."""

from __future__ import annotations

import streamlit as st

import components as c
import prefqa as pq
import state

st.title("Data")
st.caption("Upload CSV, JSONL, JSONL.gz, JSON or Parquet (size limit: `server.maxUploadSize` in "
           ".streamlit/config.toml). The format is detected from the columns; if it is not, map your "
           "columns below.")

up = st.file_uploader("Preference data file", type=["csv", "jsonl", "gz", "json", "parquet"], key="upload")
failed = False
if up is not None:
    content = up.getvalue()
    key = c.digest(content)
    saved = st.session_state.setdefault("read_options", {})
    kwargs = saved.get(key, {"format": "auto", "mapping": None, "options": {}})
    try:
        state.uploaded(key, up.name, state.kwargs_json(kwargs), content)
    except pq.PrefqaError as exc:
        failed = True
        st.error(str(exc))
    else:
        st.session_state[state.BYTES_KEY] = content
        st.session_state[state.SOURCE_KEY] = {"name": up.name, "key": key, "kwargs": state.kwargs_json(kwargs)}

    preview = None
    try:
        preview = c.raw_preview(content, up.name)
    except pq.PrefqaError as exc:
        st.error(str(exc))
    if preview is not None and len(preview.columns):
        with st.expander("Format and column mapping", expanded=failed):
            st.caption("Your columns, first rows:")
            st.dataframe(preview, hide_index=True, width="stretch")
            user_cols = list(preview.columns)
            none = "(not in the file)"
            with st.form("mapping"):
                fmt = st.selectbox("Format", ["auto", *c.READ_FORMATS], key="map_format",
                                   help="`wide`: one row per comparison, one column per annotator (PandaLM).")
                st.markdown("**Canonical columns** (pick the column of yours that holds each)")
                picks = {}
                grid = st.columns(3)
                for i, canonical in enumerate(c.CANONICAL_COLUMNS):
                    default = user_cols.index(canonical) + 1 if canonical in user_cols else 0
                    picks[canonical] = grid[i % 3].selectbox(
                        canonical, [none, *user_cols], index=default, key=f"map_{canonical}",
                        format_func=lambda u: u if u == none else c.column_examples(preview, u))
                st.markdown("**Wide format** (one column per annotator)")
                w1, w2 = st.columns(2)
                annotators = w1.multiselect("Annotator columns", user_cols, key="map_annotators")
                prompt_cols = w2.multiselect("Prompt columns, joined in this order", user_cols, key="map_prompts")
                model_key = w1.selectbox("Column naming both models (`modelA_modelB`)", [none, *user_cols],
                                         key="map_model_key")
                codes = w2.text_input("Choice codes", placeholder="1=a, 2=b, 0=tie", key="map_codes")
                submitted = st.form_submit_button("Read with these settings", type="primary", key="map_submit")
            if submitted:
                try:
                    new = c.read_kwargs(format=fmt, columns={k: (None if v == none else v) for k, v in picks.items()},
                                        prompt_columns=prompt_cols, annotator_columns=annotators,
                                        model_key=None if model_key == none else model_key, codes=codes)
                except pq.PrefqaError as exc:
                    st.error(str(exc))
                else:
                    saved[key] = new
                    st.rerun()

d, label = state.data()
state.sidebar(d, label)
if st.session_state.get(state.SOURCE_KEY) is not None:
    if st.button("Use the bundled sample instead"):
        st.session_state[state.SOURCE_KEY] = None
        st.rerun()

st.subheader(f"Now auditing: {label}")
st.text(repr(d))
options = c.stratum_columns(d)
choices = ["auto", *options]
current = st.session_state.get(state.BY_KEY, "auto")


def _keep_stratum() -> None:  # widget state is dropped on other pages; keep the choice in a plain key
    st.session_state[state.BY_KEY] = st.session_state["stratum_widget"]


st.selectbox("Stratum column for per-stratum comparisons", choices,
             index=choices.index(current) if current in choices else 0, key="stratum_widget",
             on_change=_keep_stratum, help="Extra judgment columns with 2 to 20 values (for example a domain).")

lr = d.load_report
st.subheader("Load report")
if lr is None:
    st.info("This data was built in memory, so there is no load report.")
else:
    st.text(lr.summary())
    st.dataframe(lr.to_frame(), hide_index=True, width="stretch")
    if len(lr.rejected):
        st.markdown(f"**Rejected rows ({len(lr.rejected):,})**")
        st.dataframe(lr.rejected, hide_index=True, width="stretch")
    else:
        st.caption("No rows were rejected.")
    if len(lr.rejected_values):
        st.markdown(f"**Rejected cells ({len(lr.rejected_values):,})**")
        st.dataframe(lr.rejected_values, hide_index=True, width="stretch")
