"""JSON helpers for the audit report: safe conversion, provenance, schema checks.

Everything the report holds passes through :func:`jsonable`, which turns
numpy and pandas scalars into plain Python values and NaN/inf into ``null``,
so ``json.dumps(..., allow_nan=False)`` always succeeds and the output is
valid JSON for any consumer.

Examples
--------
>>> import numpy as np
>>> jsonable({"x": np.float64("nan"), "n": np.int64(3), "t": (1.5, "a")})
{'x': None, 'n': 3, 't': [1.5, 'a']}
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib.metadata
import json
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DEPENDENCIES",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "dumps",
    "frame_records",
    "jsonable",
    "load_schema",
    "versions",
]

#: Version of the report layout; bump the minor part for additions, the major for changes.
SCHEMA_VERSION = "1.1"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "report.schema.json"
DEPENDENCIES: tuple[str, ...] = (
    "numpy", "pandas", "scipy", "pyarrow", "statsmodels", "krippendorff", "choix", "matplotlib",
)


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON types (dict, list, str, int, float, bool, None)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, pd.DataFrame):
        return frame_records(value)
    if isinstance(value, pd.Series):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if value is pd.NA or value is pd.NaT:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def frame_records(frame: pd.DataFrame, *, max_rows: int | None = None) -> list[dict[str, Any]]:
    """Return a DataFrame as JSON records, keeping a named index as a column."""
    if max_rows is not None:
        frame = frame.head(max_rows)
    if frame.index.name is not None or isinstance(frame.index, pd.MultiIndex):
        frame = frame.reset_index()
    elif not isinstance(frame.index, pd.RangeIndex):  # row labels (a covariance matrix) are kept
        frame = frame.rename_axis("row").reset_index()
    cols = [str(c) for c in frame.columns]
    out = []
    arrays = [frame.iloc[:, i].to_numpy(dtype=object) for i in range(frame.shape[1])]
    for row in zip(*arrays) if arrays else ():
        out.append({c: jsonable(v) for c, v in zip(cols, row)})
    return out


def versions() -> dict[str, Any]:
    """Return the prefqa, Python and dependency versions (``None`` when not installed)."""
    deps: dict[str, str | None] = {}
    for name in DEPENDENCIES:
        try:
            deps[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            deps[name] = None
    from .. import __version__

    return {"prefqa": __version__, "python": platform.python_version(), "dependencies": deps}


def dumps(report: dict[str, Any], *, indent: int | None = 2) -> str:
    """Serialize a report dict (already :func:`jsonable`) to strict JSON text."""
    return json.dumps(report, indent=indent, allow_nan=False, ensure_ascii=False)


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema the report follows (``schema/report.schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
