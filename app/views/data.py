"""Data: upload a batch, map columns when the format is not detected, and read the load report."""

from __future__ import annotations

import components as c
import display as disp
import state
import streamlit as st

import prefqa as pq

st.title("Data")
st.caption("Upload CSV, JSONL, JSONL.gz, JSON, Parquet or Excel .xlsx (size limit: `server.maxUploadSize` in "
           ".streamlit/config.toml). The format is detected from the columns; if it is not, map your "
           "columns below.")

UPLOAD_TYPES = sorted({s.rsplit(".", 1)[-1] for s in c.UPLOAD_SUFFIXES})  # "gz" for .jsonl.gz
up = st.file_uploader("Preference or ratings data file", type=UPLOAD_TYPES, key="upload")
failed = False
if up is not None:
    content = up.getvalue()
    key = c.digest(content)
    saved = st.session_state.setdefault("read_options", {})
    kwargs = saved.get(key, {"format": "auto", "mapping": None, "options": {}})
    try:
        state.uploaded(key, up.name, state.kwargs_json(kwargs), content)
    except Exception as exc:  # noqa: BLE001 - shown by state.show_error; the page goes on to the mapping form
        failed = True
        state.show_error(exc)
    else:
        st.session_state[state.BYTES_KEY] = content
        st.session_state[state.SOURCE_KEY] = {"name": up.name, "key": key, "kwargs": state.kwargs_json(kwargs)}

    preview = None
    try:
        preview = c.raw_preview(content, up.name)
    except pq.PrefqaError as exc:
        if not failed:  # the read's own error already says what is wrong with the file
            st.caption(f"No preview: {exc}")
    if preview is not None and len(preview.columns):
        with st.expander("Format and column mapping", expanded=failed):
            st.caption("Your columns, first rows:")
            st.dataframe(preview, hide_index=True, width="stretch")
            user_cols = list(preview.columns)
            none = "(not in the file)"
            with st.form("mapping"):
                fmt = st.selectbox("Format", ["auto", *c.READ_FORMATS], key="map_format",
                                   format_func=lambda f: f if f == "auto" else f"{f}: {c.READ_FORMAT_HELP[f]}",
                                   help="`auto` detects the format from your columns.")
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
if st.session_state.get(state.SOURCE_KEY) is not None and st.button("Use the bundled sample instead"):
    st.session_state[state.SOURCE_KEY] = None
    st.rerun()

st.subheader(f"Now auditing: {label}")
counts = [("Judgments", d.n_judgments), ("Comparisons", d.n_comparisons), ("Annotators", d.n_annotators),
          ("Prompts", d.n_prompts), ("Responses", len(d.responses))]
if disp.has_ratings(d):
    counts.append(("Ratings", len(disp.ratings(d))))
for col, (title, n) in zip(st.columns(len(counts)), counts):
    col.metric(title, f"{n:,}")
if not d.order_known and d.n_judgments:
    st.caption("Display order unknown for this format: position analyses are skipped.")
if disp.ratings_only(d):
    st.caption("Ratings only: no pairwise judgments. The Ratings page has this file's analyses.")
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
    st.text(lr.summary())  # library text can quote data values: shown as text, never markdown
    with st.expander("Load report counts"):
        st.dataframe(disp.load_counts(lr), hide_index=True, width="content")
    if len(lr.rejected):
        st.markdown(f"**Rejected rows ({len(lr.rejected):,})**")
        state.table(lr.rejected)
    else:
        st.caption("No rows were rejected.")
    if len(lr.rejected_values):
        st.markdown(f"**Rejected cells ({len(lr.rejected_values):,})**")
        state.table(lr.rejected_values)
