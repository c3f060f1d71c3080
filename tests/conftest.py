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


# ---------------------------------------------------------------------------------------------------------------
# Spark: one local[2] session per test session (per xdist worker), created lazily by the first test that asks.


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "spark: needs pyspark and a Java runtime; runs on the session-scoped local[2] `spark` fixture"
    )
    # pyspark warns that it is not yet tested with pandas 3 (prefqa uses Spark SQL and Arrow, not pyspark.pandas)
    config.addinivalue_line("filterwarnings", "ignore:PySpark does not yet fully support pandas:FutureWarning")


def _spark_missing() -> str | None:
    """Return why a local Spark session cannot start here, or None when it can."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'prefqa[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and (Path(java_home) / "bin" / "java").exists()) and shutil.which("java") is None:
        return "no Java runtime found (install OpenJDK 17 or set JAVA_HOME) for pyspark"
    return None


@pytest.fixture(scope="session")
def spark():
    """A ``local[2]`` SparkSession shared by the whole test session; skips when pyspark or Java is missing."""
    reason = _spark_missing()
    if reason:
        pytest.skip(reason)
    import warnings

    with warnings.catch_warnings():  # pyspark warns that it is not yet tested with pandas 3; prefqa uses Spark SQL
        warnings.simplefilter("ignore", FutureWarning)
        from pyspark.sql import SparkSession
        from pyspark.testing import utils  # noqa: F401  (the import that warns)
    try:
        session = (
            SparkSession.builder.master("local[2]")
            .appName("prefqa-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .config("spark.driver.memory", "1g")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
    except Exception as exc:  # noqa: BLE001 - a JVM that will not start is a skip, not a failure
        pytest.skip(f"a local Spark session could not start: {exc}")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
