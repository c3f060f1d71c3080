"""prefqa's Streamlit app: ``streamlit run app/main.py`` (interim page until the app issue lands)."""

import streamlit as st

import prefqa as pq

st.set_page_config(page_title="prefqa", layout="wide")
st.title("prefqa")
data = pq.load_sample()
st.metric("Judgments in the bundled sample", f"{data.n_judgments:,}")
st.write(f"{data.n_comparisons:,} comparisons, {data.n_annotators:,} annotators, {data.n_prompts:,} prompts.")
