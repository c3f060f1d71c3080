"""README's library example runs as written (on a small simulated file of the same shape)."""

from __future__ import annotations

import re
from pathlib import Path

import prefqa as pq

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_library_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    data, _ = pq.simulate(n_prompts=60, n_annotators=8, n_spammers=1, rng=3)
    pq.write(data, tmp_path / "judgments.jsonl")
    monkeypatch.chdir(tmp_path)
    code = blocks[0].replace("pq.agreement(data, n_resamples=1000)", "pq.agreement(data, n_resamples=50)")
    code = code.replace("pq.audit(data)", "pq.audit(data, progress=False, config={'audit': {'n_resamples': 20}})")
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert (tmp_path / "dpo.jsonl").exists()
    assert (tmp_path / "dpo.jsonl.manifest.json").exists()
    assert "<html" in (tmp_path / "report.html").read_text().lower()


def test_readme_commands_match_ci():
    text = README.read_text()
    assert 'pip install -e ".[app]" && streamlit run app/main.py' in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev]" && pytest' in text and 'pip install -e ".[dev]" && pytest' in ci
