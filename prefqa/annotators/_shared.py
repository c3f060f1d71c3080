"""The per-annotator position, self-consistency and length tests, read from their one implementation.

``prefqa.bias._per_annotator`` computes them (``position_bias(...).annotators``
and ``length_bias(...).annotators`` read the same functions); this module only
aligns their columns to the annotator table's index and collects their
warnings. Nothing is re-estimated here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..engine import ScannedData
from ..schema import PreferenceData

__all__ = ["LENGTH_COLUMNS", "POSITION_COLUMNS", "shared_tests"]

POSITION_COLUMNS: tuple[str, ...] = (
    "n_position", "p_a", "p_a_ci_low", "p_a_ci_high", "position_logit", "position_logit_se", "p_position",
    "q_position", "n_both_orders", "n_inconsistent", "self_consistency", "p_consistency", "q_consistency",
)
LENGTH_COLUMNS: tuple[str, ...] = ("n_length", "length_slope", "length_slope_se", "p_length", "q_length")


def _warnings_of(frame: pd.DataFrame) -> list[str]:
    return [str(w) for w in frame.attrs.get("warnings", ())]


def _call(fn: Callable[..., pd.DataFrame], *args: Any, **kwargs: Any) -> tuple[pd.DataFrame, list[str]]:
    """Call ``fn`` and return its frame with its ``attrs['warnings']`` and any prefqa warning it raised."""
    from ..errors import PrefqaWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = fn(*args, **kwargs)
    msgs = _warnings_of(frame)
    for w in caught:
        if issubclass(w.category, PrefqaWarning):
            msgs.append(f"{w.category.__name__}: {w.message}")
        else:  # not ours to swallow: pass it on
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return frame, msgs


def shared_tests(data: PreferenceData | ScannedData, index: pd.Index, *, confidence_level: float, fdr: float,
                 min_judgments: int, position: bool = True, length: bool = True
                 ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Return the position/consistency and length columns on ``index``, and the functions' warnings.

    ``position=False`` (display order unknown) or ``length=False`` (no texts)
    leaves those columns NaN without calling the function.
    """
    from ..bias._per_annotator import annotator_length_tests, annotator_position_tests

    out: dict[str, np.ndarray] = {col: np.full(len(index), np.nan)
                                  for col in POSITION_COLUMNS + LENGTH_COLUMNS}
    warn: list[str] = []
    if not data.n_judgments:
        return out, warn
    if position:
        pos, msgs = _call(annotator_position_tests, data, confidence_level=confidence_level, fdr=fdr)
        warn += msgs
        pos = pos.reindex(index)
        for col in POSITION_COLUMNS:
            if col in pos:
                out[col] = pos[col].to_numpy(dtype=np.float64, na_value=np.nan)
    if length:
        ln, msgs = _call(annotator_length_tests, data, confidence_level=confidence_level, fdr=fdr,
                         min_judgments=max(int(min_judgments), 3))
        warn += msgs
        ln = ln.reindex(index)
        for col in LENGTH_COLUMNS:
            if col in ln:
                out[col] = ln[col].to_numpy(dtype=np.float64, na_value=np.nan)
    return out, warn
