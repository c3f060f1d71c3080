"""Shared helpers of the app page tests: one page run on its own, on an upload given as session state."""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "app"
TIMEOUT = 240
sys.path.insert(0, str(APP))
import components as c  # noqa: E402
import state  # noqa: E402


def page(name: str, content: bytes | None = None, file_name: str = "upload.csv") -> AppTest:
    """The page ``app/views/<name>.py`` alone, reading ``content`` as if uploaded as ``file_name``."""
    at = AppTest.from_file(str(APP / "views" / f"{name}.py"), default_timeout=TIMEOUT)
    if content is not None:
        at.session_state[state.SOURCE_KEY] = {
            "name": file_name, "key": c.digest(content),
            "kwargs": state.kwargs_json({"format": "auto", "mapping": None, "options": {}})}
        at.session_state[state.BYTES_KEY] = content
    return at


def metric(at: AppTest, label: str) -> str:
    """The value of the metric labelled ``label`` (fails naming the labels shown)."""
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return found[0]


def clean(at: AppTest) -> None:
    """Assert that the page raised nothing and showed no error."""
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
