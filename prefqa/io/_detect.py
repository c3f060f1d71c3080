"""Format detection from column names, and the options each format accepts (from the registry)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import SchemaError
from ._registry import FORMATS, REGISTRY, get_format
from ._wide import WIDE_OPTIONS

__all__ = ["FORMATS", "OPTIONS", "SIGNATURES", "candidates", "check_options", "detect"]

OPTIONS: dict[str, tuple[str, ...]] = {f.name: f.options for f in REGISTRY}
SIGNATURES: dict[str, str] = {f.name: f.signature for f in REGISTRY}


def candidates(frame: pd.DataFrame, options: dict[str, Any]) -> list[str]:
    """Return every format whose signature columns are present."""
    return [f.name for f in REGISTRY if f.matches(frame, options)]


def detect(frame: pd.DataFrame, name: str, options: dict[str, Any]) -> str:
    """Return the one format the columns fit; raise a SchemaError listing candidates otherwise."""
    found = candidates(frame, options)
    if len(found) == 1:
        return found[0]
    cols = list(map(str, frame.columns))
    if not found:
        known = "; ".join(f"{f}: {s}" for f, s in SIGNATURES.items())
        raise SchemaError(
            f"{name}: cannot detect the format from the columns {cols}. Known formats and the columns "
            f"they need: {known}. Pass format='...', or rename columns with mapping={{...}}."
        )
    raise SchemaError(
        f"{name}: the columns {cols} fit more than one format: {found}. Pass format= one of {found}."
    )


def check_options(fmt: str, options: dict[str, Any]) -> None:
    """Raise when an option does not apply to ``fmt``."""
    allowed = get_format(fmt).options
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise SchemaError(
            f"option(s) {unknown} do not apply to format {fmt!r}; it accepts {list(allowed) or 'no options'}. "
            + ("Wide-format options need format='wide'." if any(k in WIDE_OPTIONS for k in unknown) else "")
        )
