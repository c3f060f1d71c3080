"""The app's data source and cached library calls (Streamlit caches keyed on the data's fingerprint).

Expensive calls run once per dataset: the data object is passed as an
underscore-prefixed argument (not hashed) next to its fingerprint (the key).
``st.cache_resource`` returns the same object on every rerun (no copy), which
is safe because no view mutates a result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import components as c
import display as disp
import streamlit as st

import prefqa as pq

SOURCE_KEY = "source"      # None: the bundled sample; else {"name", "key", "kwargs"}
BYTES_KEY = "upload_bytes"
BY_KEY = "stratum"


@st.cache_resource(show_spinner="Reading the bundled sample...")
def sample() -> pq.PreferenceData:
    return pq.load_sample()


@st.cache_resource(show_spinner="Reading the upload...", max_entries=4)
def uploaded(key: str, name: str, kwargs_json: str, _content: bytes) -> pq.PreferenceData:
    kw = json.loads(kwargs_json)
    return c.read_upload(_content, name, format=kw["format"], mapping=kw["mapping"], options=kw["options"])


@st.cache_resource(show_spinner=False, max_entries=4)
def audit(fingerprint: str, by: str | None, source: str, _data: pq.PreferenceData) -> Any:
    # ``source`` is in the key: the same bytes uploaded under another name get commands with that name
    return c.run_audit(_data, by=by)


@st.cache_resource(show_spinner="Computing Cohen's kappa for every annotator pair...", max_entries=4)
def pairwise_kappa(fingerprint: str, _data: pq.PreferenceData):
    return pq.pairwise_kappa(c.kappa_input(_data), unit="unit", rater="rater", value="value")


@st.cache_resource(show_spinner="Reliability per stratum...", max_entries=8)
def strata_reliability(fingerprint: str, column: str, expected: str, _data: pq.PreferenceData):
    return c.strata_reliability(_data, column, expected=expected, n_resamples=c.APP_AUDIT["n_resamples"])


@st.cache_resource(show_spinner="Reliability of the scores...", max_entries=4)
def score_agreement(fingerprint: str, level: str, _data: pq.PreferenceData):
    return c.score_agreement(_data, level=level, n_resamples=c.APP_AUDIT["n_resamples"])


@st.cache_resource(show_spinner="Intraclass correlations for one aspect...", max_entries=8)
def icc(fingerprint: str, aspect: str, _data: pq.PreferenceData):
    return pq.icc(_data, aspect=aspect, n_resamples=c.APP_AUDIT["n_resamples"], rng=0)


@st.cache_resource(show_spinner="Fitting the rating model for one aspect...", max_entries=8)
def rating_model(fingerprint: str, aspect: str, _data: pq.PreferenceData):
    return pq.fit_rating_model(_data, aspect=aspect)


@st.cache_resource(show_spinner="Building pairs...", max_entries=16)
def pairs(fingerprint: str, policy_json: str, _data: pq.PreferenceData):
    return pq.build_pairs(_data, **json.loads(policy_json))


@st.cache_data(show_spinner=False, max_entries=32)
def export_files(fingerprint: str, policy_json: str, fmt: str, tie_label: bool | None,
                 _pairs: Any) -> tuple[bytes, bytes]:
    return c.export_bytes(_pairs, fmt, tie_label=tie_label)


def kwargs_json(kwargs: dict[str, Any]) -> str:
    return json.dumps(kwargs, sort_keys=True, default=str)


def data() -> tuple[pq.PreferenceData, str]:
    """Return the current dataset and a label for it (the bundled sample unless an upload was read)."""
    src = st.session_state.get(SOURCE_KEY)
    if src is not None and BYTES_KEY in st.session_state:
        try:
            return uploaded(src["key"], src["name"], src["kwargs"], st.session_state[BYTES_KEY]), src["name"]
        except Exception as exc:  # noqa: BLE001 - never a traceback; fall back to the sample
            st.error(disp.error_message(exc))
            st.session_state[SOURCE_KEY] = None
    return sample(), "bundled sample"


def stratum(d: pq.PreferenceData) -> str | None:
    """The stratum column chosen on the Data page (default: the first one the data has)."""
    options = c.stratum_columns(d)
    chosen = st.session_state.get(BY_KEY, "auto")
    if chosen == "auto":
        return options[0] if options else None
    return chosen if chosen in options else None


def report() -> tuple[pq.PreferenceData, Any, str]:
    """Return (data, audit report, label); the audit runs once per dataset, with a spinner."""
    d, label = data()
    by = stratum(d)
    with st.spinner(f"Auditing {d.n_judgments:,} judgments (once per dataset; later pages are instant)...",
                    show_time=True):
        rep = audit(d.fingerprint(), by, label, d)
    return d, rep, label


def pairwise_report(page: str) -> tuple[pq.PreferenceData, Any, str]:
    """:func:`report` for a page that needs pairwise judgments: on ratings-only data, say so and stop."""
    d, label = data()
    if disp.ratings_only(d):
        sidebar(d, label)
        st.title(page)
        st.info(f"The {page} page needs pairwise judgments; this file has ratings only: no pairwise "
                "judgments (and no prompt ids to derive them from). See the Ratings page.")
        st.stop()
    d, rep, label = report()
    sidebar(d, label)
    return d, rep, label


def show_error(exc: BaseException) -> None:
    """Show an exception as ``st.error``: the library's message, never a traceback (one place for the app)."""
    st.error(disp.error_message(exc))


@contextmanager
def errors_shown() -> Iterator[None]:
    """Run a block; an exception in it is shown by :func:`show_error` and the page goes on.

    ``main.py`` wraps every page in this; a page uses it only around a part it can survive without.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the app's one wrapper; st.stop / st.rerun are BaseExceptions
        show_error(exc)


def skipped(rep: Any, step: str) -> None:
    """Say why an audit step has no result (the library's reason, or the app's for steps it leaves out)."""
    reason = disp.skip_reason(rep, step)
    st.info(reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else "."))


def notes(result: Any) -> None:
    """Show a result's warnings and approximation notes under it."""
    for line in disp.notes(result):
        st.caption(f"Note: {line}")


def sidebar(d: pq.PreferenceData, label: str) -> None:
    """Dataset summary in the sidebar (shown on every page)."""
    with st.sidebar:
        st.caption("Dataset")
        st.text(label)
        st.caption(f"{d.n_judgments:,} judgments · {d.n_comparisons:,} comparisons · "
                   f"{d.n_annotators:,} annotators · {d.n_prompts:,} prompts"
                   + (f" · {len(disp.ratings(d)):,} ratings" if disp.has_ratings(d) else ""))


def table(frame, *, rates: Any = (), **kwargs: Any) -> None:
    """``st.dataframe`` with readable headers and one precision per kind (:func:`display.readable`).

    Rates show as %, coefficients with 3 decimals, counts with thousands separators, p- and
    q-values in scientific notation. ``column_config`` keys are the library's column names.
    """
    shown, formats = disp.readable(frame, rates=rates)
    config: dict[str, Any] = {h: st.column_config.NumberColumn(format=f) for h, f in formats.items()}
    for col, cfg in (kwargs.pop("column_config", {}) or {}).items():
        config[disp.label(col)] = cfg
    kwargs.setdefault("hide_index", True)
    st.dataframe(shown, width="stretch", column_config=config, **kwargs)
