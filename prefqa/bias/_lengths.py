"""Per-judgment and per-comparison length tables shared by the length and Simpson analyses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SchemaError
from ..features import _side_positions, response_features
from ..schema import PreferenceData

__all__ = ["JudgmentLengths", "clear_difference", "comparison_majority", "judgment_lengths"]


@dataclass(frozen=True)
class JudgmentLengths:
    """Displayed lengths per judgment (NaN where a response is unknown)."""

    a: np.ndarray
    b: np.ndarray

    @property
    def known(self) -> np.ndarray:
        return np.isfinite(self.a) & np.isfinite(self.b)


def judgment_lengths(data: PreferenceData, unit: str, tokenizer: Callable[[str], Any] | None) -> JudgmentLengths:
    # the bias API takes `unit` as str; response_features checks it against features.Unit and names the choices
    feats = response_features(data, unit=unit, tokenizer=tokenizer)  # type: ignore[arg-type]
    pa, pb = _side_positions(data)
    values = feats["length"].to_numpy(dtype=np.float64)
    known = (pa >= 0) & (pb >= 0)
    a = np.where(known, values[np.where(known, pa, 0)], np.nan)
    b = np.where(known, values[np.where(known, pb, 0)], np.nan)
    return JudgmentLengths(a, b)


def clear_difference(a: np.ndarray, b: np.ndarray, min_difference: float) -> np.ndarray:
    """``True`` where ``|a - b| / max(a, b) > min_difference`` (and a != b)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        longest = np.maximum(a, b)
        rel = np.abs(a - b) / np.where(longest > 0, longest, 1.0)
    return np.isfinite(rel) & (a != b) & (rel > min_difference)


def comparison_majority(data: PreferenceData) -> np.ndarray:
    """Majority oriented label per comparison: 0 first won, 1 second, 2 tie, -1 no majority.

    The majority is the strict plurality of the comparison's judgments; a
    draw between labels (for example one vote each way) gives -1.
    """
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
