"""The app's Cleaning page in AppTest: label issues with texts and votes, the relabel queue and its downloads.

Numbers are tested in the library (tests/test_label_issues.py, tests/test_relabel.py); here the page must
render without an exception or an error, show the library's counts, offer the data's score columns, show a
comparison's two texts and every vote, and say why the queue is unavailable on one-vote data without scores.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

import prefqa as pq

from _app_pages import clean, metric, page  # noqa: E402


def _page(content: bytes | None = None, file_name: str = "scored.csv") -> AppTest:
    """The Cleaning page on its own, on an upload given as session state."""
    return page("cleaning", content, file_name)


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> tuple[bytes, pq.PreferenceData]:
    """Simulated judgments with reward-model score columns rm_a / rm_b (quality plus noise)."""
    data, truth = pq.simulate(n_prompts=60, n_annotators=10, n_spammers=1, rng=4)
    tc = truth.comparisons
    q = pd.Series(np.concatenate([tc["quality_1"], tc["quality_2"]]),
                  index=np.concatenate([tc["response_1_id"], tc["response_2_id"]]))
    q = q + np.random.default_rng(0).normal(0.0, 0.5, len(q))
    j = data.judgments.assign(rm_a=q.reindex(data.judgments["response_a_id"]).to_numpy(),
                              rm_b=q.reindex(data.judgments["response_b_id"]).to_numpy())
    path = pq.write(pq.PreferenceData(j, data.responses, data.prompts), tmp_path_factory.mktemp("scored") / "s.csv")
    return path.read_bytes(), pq.read(path)


def test_cleaning_page_on_the_sample_shows_the_library_counts() -> None:
    at = _page().run()
    clean(at)
    assert at.title[0].value == "Cleaning"
    res = pq.label_issues(pq.load_sample())
    assert metric(at, "Flagged labels") == f"{res.n_flagged:,}"
    assert metric(at, "Comparisons") == f"{res.n_comparisons:,}"
    assert any(t.value == res.summary() for t in at.text)
    assert metric(at, "Queued comparisons") == "100"
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["relabel_queue.csv", "relabel_queue.jsonl"]


def test_scores_texts_and_votes(scored) -> None:
    content, data = scored
    at = _page(content).run()
    clean(at)
    assert "rm" in at.selectbox(key="clean_scores").options
    at.selectbox(key="clean_scores").set_value("rm").run()
    clean(at)
    res = pq.label_issues(data, scores="rm")
    assert metric(at, "Flagged labels") == f"{res.n_flagged:,}"
    cid = at.selectbox(key="clean_pick").value
    assert cid in res.to_frame().index
    # both texts side by side, then one row per vote
    texts = data.responses.set_index("response_id")["text"]
    sub = data.judgments[data.judgments["comparison_id"] == cid]
    shown = [code.value for code in at.code]
    assert texts[sub["response_a_id"].iloc[0]] in shown and texts[sub["response_b_id"].iloc[0]] in shown
    votes = at.dataframe[-2].value  # the votes table precedes the queue table
    assert len(votes) == len(sub)
    at.number_input(key="clean_budget").set_value(7).run()
    clean(at)
    assert metric(at, "Queued comparisons") == "7"


def test_one_vote_data_without_scores_explains_the_queue(tmp_path) -> None:
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(30)], "annotator_id": None,
                      "choice": ["a", "b", "a"] * 10, "prompt_id": [f"p{i}" for i in range(30)]})
    path = pq.write(pq.PreferenceData(j), tmp_path / "one.csv")
    at = _page(path.read_bytes(), "one.csv").run()
    clean(at)
    assert any("cannot be estimated" in i.value for i in at.info)
