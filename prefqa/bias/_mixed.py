"""Optional use of the crossed mixed model (``prefqa.models.mixed``) for the length slope."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._types import ConfidenceInterval
from ..schema import PreferenceData

__all__ = ["mixed_length_slope"]


def _length_row(result: Any) -> pd.Series | None:
    """Find the fixed-effect row of the length term in a fitted model's tidy frame."""
    to_frame = getattr(result, "to_frame", None)
    if to_frame is None:
        return None
    frame = to_frame()
    if not isinstance(frame, pd.DataFrame) or "estimate" not in frame:
        return None
    names = frame["term"] if "term" in frame else pd.Series(frame.index.astype(str), index=frame.index)
    names = names.astype(str)
    exact = names.isin(["length", "fixed:length", "beta:length"])
    hit = frame[exact] if exact.any() else frame[names.str.contains("length", regex=False)]
    if "component" in hit:
        hit = hit[hit["component"].astype(str) == "fixed"]
    return hit.iloc[0] if len(hit) else None


def mixed_length_slope(
    data: PreferenceData, model: Any, fit_now: bool, confidence_level: float
) -> tuple[tuple[float, float, ConfidenceInterval] | None, str]:
    """Return ``((slope, se, ci), note)`` from ``model`` or a fresh crossed fit.

    ``None`` with a plain-words note when the model is unavailable or has no
    length term; the caller then keeps the GLM slope.
    """
    if model is None:
        try:
            mixed = importlib.import_module("prefqa.models.mixed")
            fit = mixed.fit_preference_model
        except (ImportError, AttributeError):
            return None, ("crossed-model slope: prefqa.models.mixed.fit_preference_model is not "
                          "available in this installation; the GLM slope is reported")
        model = fit(data, fixed=("length", "position"), random_slopes={"annotator": ("length",)})
    row = _length_row(model)
    if row is None:
        return None, "crossed-model slope: the fitted model has no `length` term; the GLM slope is reported"
    est = float(row["estimate"])
    se = float(row.get("std_error", np.nan))
    z = stats.norm.ppf(0.5 + confidence_level / 2.0)
    if "ci_low" in row and "ci_high" in row and np.isfinite(row["ci_low"]):
        ci = ConfidenceInterval(float(row["ci_low"]), float(row["ci_high"]))
    else:
        ci = ConfidenceInterval(float(est - z * se), float(est + z * se))
    return (est, se, ci), ""
