"""Shared type aliases and small result building blocks."""

from __future__ import annotations

from typing import Literal, NamedTuple, TypeAlias

import numpy as np

__all__ = [
    "Choice",
    "Level",
    "RngLike",
    "ConfidenceInterval",
    "as_generator",
]

Choice: TypeAlias = Literal["a", "b", "tie"]
Level: TypeAlias = Literal["nominal", "ordinal", "interval", "ratio"]
RngLike: TypeAlias = int | np.random.Generator | None


class ConfidenceInterval(NamedTuple):
    """A two-sided confidence interval (same shape as scipy.stats' one)."""

    low: float
    high: float


def as_generator(rng: RngLike) -> np.random.Generator:
    """Return a numpy Generator from a seed, a Generator or ``None``.

    Examples
    --------
    >>> g = as_generator(3)
    >>> as_generator(g) is g
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
