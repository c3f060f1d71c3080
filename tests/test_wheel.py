"""The built wheel works outside the checkout: package data (the sample) ships, nothing is downloaded.

The wheel is built from a copy of the sources (so the checkout gets no ``build/`` folder) with
``pip wheel --no-deps --no-build-isolation`` (the installed setuptools and wheel, no index),
installed with ``pip install --no-deps --target DIR``, and run with ``PYTHONPATH=DIR`` from a
folder outside the checkout, where ``import prefqa`` can only find the installed copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_FILES = ("sample.jsonl.gz", "sample.ratings.jsonl.gz", "planted_annotators.csv",
                "planted_ambiguous_prompts.csv", "README.md")
# prefqa/sample_data/README.md: 19,869 judgments of 6,000 comparisons, 36,000 ratings
SAMPLE_JUDGMENTS, SAMPLE_COMPARISONS, SAMPLE_RATINGS = 19_869, 6_000, 36_000

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("wheel", reason="building the wheel offline needs the `wheel` package (in the dev extra)")
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "prefqa", src / "prefqa",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis"))
    dist = root / "dist"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), "."],
         cwd=src, env=env)
    wheels = list(dist.glob("prefqa-*.whl"))
    assert len(wheels) == 1, wheels
    target = root / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheels[0])],
         cwd=root, env=env)
    return wheels[0], target


def test_wheel_holds_the_sample_and_no_generator(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in SAMPLE_FILES:
        assert f"prefqa/sample_data/{f}" in names
    assert not any("make_sample" in n for n in names)
    assert "prefqa/py.typed" in names and "prefqa/audit/schema/report.schema.json" in names
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in zipfile.ZipFile(wheel).read(meta).decode().splitlines()
                if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    # GPL-3.0-or-later (krippendorff) and unused-at-run-time (choix) packages are test extras only
    assert not any(k in r for r in core for k in ("krippendorff", "choix", "openpyxl")), core
    assert any("krippendorff" in r and "extra == \"dev\"" in r for r in requires), requires
    assert any("openpyxl" in r and "extra == \"app\"" in r for r in requires), requires


def test_installed_wheel_loads_the_sample_outside_the_checkout(installed, tmp_path):
    _, target = installed
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import json, prefqa as pq; d = pq.load_sample(); "
            "print(json.dumps([pq.__file__, d.n_judgments, d.n_comparisons, len(d.ratings)]))")
    out = _run([sys.executable, "-c", code], cwd=tmp_path, env=env).stdout
    where, n_j, n_c, n_r = json.loads(out.strip().splitlines()[-1])
    assert Path(where).resolve().is_relative_to(target.resolve()), where  # the installed copy, not the checkout
    assert (n_j, n_c, n_r) == (SAMPLE_JUDGMENTS, SAMPLE_COMPARISONS, SAMPLE_RATINGS)
    # `prefqa sample` (python -m prefqa) writes it where asked, 0644 under umask 022
    out_file = tmp_path / "sub" / "sample.jsonl.gz"
    run_cli = ("import os, sys, runpy; os.umask(0o022); "
               f"sys.argv = ['prefqa', 'sample', '--out', {str(out_file)!r}]; "
               "runpy.run_module('prefqa', run_name='__main__')")
    done = _run([sys.executable, "-c", run_cli], cwd=tmp_path, env=env)
    assert str(out_file) in done.stdout
    assert out_file.stat().st_mode & 0o777 == 0o644
    check = ("import json, sys, prefqa as pq; d = pq.read(sys.argv[1]); "
             "print(json.dumps([d.n_judgments, len(d.ratings)]))")
    back = _run([sys.executable, "-c", check, str(out_file)], cwd=tmp_path, env=env).stdout
    assert json.loads(back.strip().splitlines()[-1]) == [SAMPLE_JUDGMENTS, SAMPLE_RATINGS]
