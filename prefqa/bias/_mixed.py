"""Optional use of the crossed mixed model (``prefqa.models.mixed``) for the length slope.

This module only fits (or reuses) :func:`prefqa.models.mixed.fit_preference_model`
and reads its ``length`` fixed effect; it estimates nothing itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._types import ConfidenceInterval
from ..engine import ScannedData
from ..errors import SchemaError
from ..models.mixed import fit_preference_model
from ..schema import PreferenceData

__all__ = ["mixed_length_slope"]


def _length_row(result: Any) -> pd.Series | None:
    """The ``length`` fixed-effect row of ``MixedModelResult.to_frame()`` (term column or index)."""
    to_frame = getattr(result, "to_frame", None)
    if to_frame is None:
        return None
    frame = to_frame()
    if not isinstance(frame, pd.DataFrame) or "estimate" not in frame:
        return None
    names = frame["term"] if "term" in frame else pd.Series(frame.index.astype(str), index=frame.index)
    names = names.astype(str)
    hit = frame[(names == "length").to_numpy()]
    if "component" in hit:
        hit = hit[hit["component"].astype(str) == "fixed"]
    return hit.iloc[0] if len(hit) else None


def mixed_length_slope(
    data: PreferenceData | ScannedData, model: Any, fit_now: bool, confidence_level: float
) -> tuple[tuple[float, float, ConfidenceInterval] | None, str]:
    """Return ``((slope, se, ci), note)`` from ``model`` or a fresh crossed fit.

    ``None`` with a plain-words note when the model is unavailable or has no
    length term; the caller then keeps the GLM slope.
    """
    if model is None:
        if not isinstance(data, PreferenceData):  # length_bias refuses this case before calling
            raise SchemaError("the crossed model is fitted in memory; pass a fitted `model` for scanned data.")
        model = fit_preference_model(data, fixed=("length", "position"), random_slopes={"annotator": ("length",)})
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
