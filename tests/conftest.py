"""Shared fixtures: the optional ../shared/data folder and hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("PREFQA_SHARED_DATA")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; tests that need it skip cleanly when it is absent."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path} (set PREFQA_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def pandalm_dir(shared_data: Path) -> Path:
    path = shared_data / "pandalm_testset"
    if not (path / "testset-v1.json").exists():
        pytest.skip(f"PandaLM test set not found under {path}")
    return path


@pytest.fixture(scope="session")
def hh_path(shared_data: Path) -> Path:
    path = shared_data / "hh_rlhf_harmless_base_test" / "harmless-base-test.jsonl.gz"
    if not path.exists():
        pytest.skip(f"HH-RLHF harmless-base test not found at {path}")
    return path
