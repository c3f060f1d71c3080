"""prefqa's Streamlit app: ``streamlit run app/main.py`` (from the repository root).

It opens on the bundled sample, already audited. The Data page reads an
upload; every other page arranges results of ``prefqa``'s public API (no
statistics live in ``app/``). Every page runs inside one error wrapper
(``state.errors_shown``): an exception reaches ``st.error`` with the library's
message, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR) not in sys.path:  # views import the helpers next to this file
    sys.path.insert(0, str(APP_DIR))

st.set_page_config(page_title="prefqa", page_icon=":material/fact_check:", layout="wide")

PAGES = [
    st.Page(APP_DIR / "views" / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page(APP_DIR / "views" / "data.py", title="Data", icon=":material/upload_file:"),
    st.Page(APP_DIR / "views" / "reliability.py", title="Reliability", icon=":material/handshake:"),
    st.Page(APP_DIR / "views" / "ratings.py", title="Ratings", icon=":material/star_rate:"),
    st.Page(APP_DIR / "views" / "annotators.py", title="Annotators", icon=":material/group:"),
    st.Page(APP_DIR / "views" / "bias.py", title="Bias", icon=":material/balance:"),
    st.Page(APP_DIR / "views" / "models.py", title="Models", icon=":material/leaderboard:"),
    st.Page(APP_DIR / "views" / "prompts.py", title="Prompts", icon=":material/chat:"),
    st.Page(APP_DIR / "views" / "drift.py", title="Drift", icon=":material/timeline:"),
    st.Page(APP_DIR / "views" / "compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page(APP_DIR / "views" / "cleaning.py", title="Cleaning", icon=":material/cleaning_services:"),
    st.Page(APP_DIR / "views" / "export.py", title="Export", icon=":material/download:"),
]

import state

page = st.navigation(PAGES)
with state.errors_shown():
    page.run()
