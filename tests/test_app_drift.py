"""The app's Drift and Compare pages in AppTest: they render, show the library's numbers, and say what is missing.

Numbers are tested in the library (tests/test_drift*.py); here each page must render without an exception
or an error on data with windows, show the counts of ``pq.drift`` / ``pq.compare`` as metrics, explain
itself on data without a time or batch column (the bundled sample), and take an uploaded baseline.
"""

from __future__ import annotations


import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

import prefqa as pq
from prefqa.simulate import Join

from _app_pages import APP, TIMEOUT, c, clean, metric, page, state  # noqa: E402


def _page(name: str, content: bytes | None = None, file_name: str = "weeks.csv") -> AppTest:
    """One page of the app on its own, on an upload given as session state."""
    return page(name, content, file_name)


@pytest.fixture(scope="module")
def weeks(tmp_path_factory) -> tuple[bytes, pq.PreferenceData]:
    """6 weekly windows: a position-biased team joins at window 3 (truth.drift lists it)."""
    data, _ = pq.simulate(n_prompts=90, n_annotators=10, n_windows=6, rng=8,
                          drift=[Join(window=3, n_annotators=3, position_bias=2.0)])
    path = pq.write(data, tmp_path_factory.mktemp("weeks") / "weeks.csv")
    return path.read_bytes(), pq.read(path)


def test_drift_page_explains_data_without_windows() -> None:
    at = _page("drift").run()  # the bundled sample: no timestamp, no batch column
    clean(at)
    assert at.title[0].value == "Drift"
    assert any("no time column" in i.value for i in at.info)
    # a column of the data can still be used as batch labels
    at.selectbox(key="drift_window_pick").set_value("domain").run()
    clean(at)
    assert int(metric(at, "Windows")) == pq.load_sample().judgments["domain"].nunique()


def test_drift_page_shows_the_library_counts(weeks) -> None:
    content, data = weeks
    at = _page("drift", content).run()
    clean(at)
    res = pq.drift(data, time="timestamp", freq="W", fdr=0.05)
    w = res.windows
    assert int(metric(at, "Windows")) == w["window"].nunique() == 6
    assert int(metric(at, "Flagged window x metric")) == int(w["flagged"].sum())
    assert any(t.value == res.summary() for t in at.text)
    at.radio(key="drift_mode").set_value("batch column").run()
    clean(at)
    by_batch = pq.drift(data, window="batch", fdr=0.05)
    assert int(metric(at, "Flagged window x metric")) == int(by_batch.windows["flagged"].sum())
    at.radio(key="drift_mode").set_value("time column").run()
    at.selectbox(key="drift_freq").set_value("QS").run()  # 6 weeks inside one quarter: one window
    assert not at.exception and any("window" in wn.value for wn in at.warning), [wn.value for wn in at.warning]
    at.radio(key="drift_mode").set_value("batch column").run()
    at.number_input(key="drift_baseline").set_value(2).run()
    clean(at)
    two = pq.drift(data, window="batch", baseline=2, fdr=0.05)
    assert int(metric(at, "Annotators flagged")) == two.annotators.loc[
        two.annotators["flagged"].astype(bool), "annotator_id"].nunique()


def test_compare_page_takes_an_uploaded_baseline(weeks, tmp_path) -> None:
    content, data = weeks
    batch = data.judgments["batch"].astype(str).to_numpy()
    new_path = pq.write(data.subset(batch == "batch-005"), tmp_path / "new.csv")
    base_path = pq.write(data.subset(batch == "batch-000"), tmp_path / "base.csv")
    at = _page("compare", new_path.read_bytes(), "new.csv").run()
    clean(at)
    assert any("Upload a baseline" in i.value for i in at.info)
    at.file_uploader(key="compare_baseline").upload("base.csv", base_path.read_bytes(), "text/csv").run()
    clean(at)
    res = pq.compare(pq.read(new_path), pq.read(base_path), fdr=0.05)
    verdicts = res.to_frame()["verdict"].astype(str)
    assert int(metric(at, "Worse")) == int((verdicts == "worse").sum())
    assert int(metric(at, "Baseline judgments").replace(",", "")) == pq.read(base_path).n_judgments
    assert any(t.value == res.summary() for t in at.text)
    # the team that joined at window 3 is new against window 0; the metrics read CompareResult's tuples
    assert int(metric(at, "New")) == len(res.new_annotators) >= 3
    assert int(metric(at, "Changed")) == len(res.changed_annotators)



def test_pages_open_from_the_app_navigation(weeks) -> None:
    content, _ = weeks
    at = AppTest.from_file(str(APP / "main.py"), default_timeout=TIMEOUT)
    at.session_state[state.SOURCE_KEY] = {
        "name": "weeks.csv", "key": c.digest(content),
        "kwargs": state.kwargs_json({"format": "auto", "mapping": None, "options": {}})}
    at.session_state[state.BYTES_KEY] = content
    for view, title in (("drift", "Drift"), ("compare", "Compare")):
        at.switch_page(f"views/{view}.py").run()
        clean(at)
        assert at.title[0].value == title
    assert int(metric(at.switch_page("views/drift.py").run(), "Windows")) == 6
