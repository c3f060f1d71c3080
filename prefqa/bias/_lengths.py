"""Per-judgment and per-comparison length tables shared by the length, style and Simpson analyses.

In memory the per-response features come from :mod:`prefqa.features`
(cached on the data). For scanned data they come from
``prefqa.features.response_feature_table`` (computed once per response in
the engine, or read from precomputed columns), joined to the judgments in
the engine; only the two float columns per feature (response a, response
b) are pulled, in scan order (:func:`prefqa.engine.reductions.bias.side_values`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import ScannedData
from ..engine.reductions.bias import JudgmentCodes, judgment_codes, side_values
from ..errors import SchemaError
from ..features import (
    FEATURE_NAMES,
    _side_positions,
    feature_column,
    judgment_features,
    response_features,
    side_differences,
)
from ..schema import PreferenceData

__all__ = ["JudgmentLengths", "clear_difference", "comparison_majority", "judgment_covariates", "judgment_lengths",
           "response_sides"]


def _scanned_feature_table(data: ScannedData, unit: str, tokenizer: Callable[[str], Any] | None) -> str:
    from ..features import response_feature_table

    if "response_a_id" not in data.columns or data.responses_table is None:
        raise SchemaError("these judgments carry no responses (`response_a_id`, `response_b_id` and a responses "
                          "table with texts or precomputed features); pass responses= to pq.scan.")
    # `unit` is a str here; response_feature_table checks it against features.Unit and names the choices
    return str(response_feature_table(data, unit=unit, tokenizer=tokenizer))  # type: ignore[arg-type]


def response_sides(data: PreferenceData | ScannedData, columns: Sequence[str], unit: str,
                   tokenizer: Callable[[str], Any] | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per judgment, the values of response a and response b for each per-response feature column
    (``length``, ``chars``, ``headers``, ``list_items``, ``bold``, ``code_blocks``, ``refusal``); NaN
    where a response is unknown."""
    if isinstance(data, ScannedData):
        table = _scanned_feature_table(data, unit, tokenizer)
        return side_values(data, table, columns)
    # the bias API takes `unit` as str; response_features checks it against features.Unit and names the choices
    feats = response_features(data, unit=unit, tokenizer=tokenizer)  # type: ignore[arg-type]
    pa, pb = _side_positions(data)
    known = (pa >= 0) & (pb >= 0)
    pa0, pb0 = np.where(known, pa, 0), np.where(known, pb, 0)
    out = {}
    for c in columns:  # a few feature columns
        values = feats[c].to_numpy(dtype=np.float64)
        out[c] = (np.where(known, values[pa0], np.nan), np.where(known, values[pb0], np.nan))
    return out


def judgment_covariates(data: PreferenceData | ScannedData, names: Sequence[str], *, unit: str = "chars",
                        tokenizer: Callable[[str], Any] | None = None) -> dict[str, np.ndarray]:
    """:func:`prefqa.features.judgment_features` (displayed orientation, one value per judgment) for in-memory
    or scanned data.

    In memory this *is* ``judgment_features``; scanned data gets the same
    formulas applied to the engine-joined response values of
    :func:`response_sides` (tested equal to 1e-12).
    """
    names = list(names)
    if not isinstance(data, ScannedData):
        frame = judgment_features(data, names, unit=unit, tokenizer=tokenizer)  # type: ignore[arg-type]
        return {n: frame[n].to_numpy(dtype=np.float64) for n in names}
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        raise SchemaError(f"unknown feature name(s) {unknown}; choose from {FEATURE_NAMES}.")
    need = sorted({feature_column(n) for n in names})
    sides = response_sides(data, need, unit, tokenizer)
    return side_differences(names, sides.__getitem__)


@dataclass(frozen=True)
class JudgmentLengths:
    """Displayed lengths per judgment (NaN where a response is unknown)."""

    a: np.ndarray
    b: np.ndarray

    @property
    def known(self) -> np.ndarray:
        return np.isfinite(self.a) & np.isfinite(self.b)


def judgment_lengths(data: PreferenceData | ScannedData, unit: str,
                     tokenizer: Callable[[str], Any] | None) -> JudgmentLengths:
    """Displayed lengths (response a, response b) per judgment, in ``unit``."""
    a, b = response_sides(data, ["length"], unit, tokenizer)["length"]
    return JudgmentLengths(a, b)


def clear_difference(a: np.ndarray, b: np.ndarray, min_difference: float) -> np.ndarray:
    """``True`` where ``|a - b| / max(a, b) > min_difference`` (and a != b)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        longest = np.maximum(a, b)
        rel = np.abs(a - b) / np.where(longest > 0, longest, 1.0)
    return np.isfinite(rel) & (a != b) & (rel > min_difference)


def comparison_majority(data: PreferenceData | ScannedData | JudgmentCodes) -> np.ndarray:
    """Majority oriented label per comparison: 0 first won, 1 second, 2 tie, -1 no majority.

    The majority is the strict plurality of the comparison's judgments; a
    draw between labels (for example one vote each way) gives -1.
    """
    data = judgment_codes(data)
    comp, labels = data.codes("comparison_id")
    oc = data.oriented_choice().astype(np.int64)
    n = len(labels)
    counts = np.bincount(comp * 3 + oc, minlength=3 * n).reshape(n, 3)
    top = counts.max(axis=1)
    winner = counts.argmax(axis=1)
    unique = (counts == top[:, None]).sum(axis=1) == 1
    return np.where(unique & (top > 0), winner, -1)


def validate_length_options(unit: str, min_difference: float, per: str) -> None:
    if per not in ("judgment", "comparison"):
        raise SchemaError(f"`per` must be 'judgment' or 'comparison'; got {per!r}.")
    if not isinstance(min_difference, (int, float)) or not 0.0 <= float(min_difference) < 1.0:
        raise SchemaError(
            f"`min_difference` is a relative length difference |a - b| / max(a, b) and must be in "
            f"[0, 1); got {min_difference!r}. Use 0 to keep every pair of unequal length."
        )
