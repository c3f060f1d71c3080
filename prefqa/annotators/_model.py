"""Per-annotator position and length effects read off a fitted crossed model (``pq.fit_preference_model``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import SchemaError

__all__ = ["model_effects"]


def model_effects(model: Any, index: pd.Index) -> dict[str, np.ndarray]:
    """Return per-annotator ``position_logit``, ``length_slope`` and their conditional SDs from ``model``.

    ``position_logit`` is the fixed ``position`` (or ``intercept``) plus the
    annotator's conditional mode (lme4's ``ranef``); ``length_slope`` is the
    fixed ``length`` plus the annotator's ``annotator:length`` mode. The SEs
    are the conditional SDs of the modes (lme4's ``condVar``): they treat the
    fixed effect as known, which it nearly is next to one annotator's own
    uncertainty. Annotators absent from the fit get NaN; a term the model
    did not fit gives all-NaN columns.
    """
    effects = getattr(model, "random_effects", None)
    fixed = getattr(model, "fixed_effects", None)
    if getattr(model, "family", None) != "binomial" or not isinstance(effects, dict) or fixed is None:
        raise SchemaError(
            f"`model` must be a pq.fit_preference_model(...) result (a binomial MixedModelResult); got "
            f"{type(model).__name__}. Fit it with pq.fit_preference_model(data) or leave model=None."
        )
    nan = np.full(len(index), np.nan)
    out = {"position_logit": nan, "position_logit_se": nan, "length_slope": nan, "length_slope_se": nan}
    if "annotator" not in effects:
        raise SchemaError(
            "`model` has no annotator random effects (random=" f"{tuple(model.settings.get('random', ()))}); "
            "fit it with random=('annotator', 'prompt') to read per-annotator effects from it."
        )
    intercept = next((t for t in ("position", "intercept") if t in fixed.index), None)
    pairs = (("position_logit", "annotator", intercept), ("length_slope", "annotator:length", "length"))
    for col, group, term in pairs:  # two effect types
        if group not in effects or term is None or term not in fixed.index:
            continue
        modes = effects[group].reindex(index)
        out[col] = float(fixed.loc[term, "estimate"]) + modes["estimate"].to_numpy(dtype=np.float64)
        out[f"{col}_se"] = modes["std_error"].to_numpy(dtype=np.float64)
    return out
