"""Estimability checks of the crossed mixed models, on every row (private).

* :func:`_check_fixed_rank`: the fixed-effect columns must be linearly
  independent. ``X'X`` is accumulated over all rows and pivoted in column
  order, so the check is exact and costs ``O(n p^2)`` (it used to look at
  the first 200k rows only, which could raise a false error).
* :func:`_check_groups`: a random-effect group needs at least two levels;
  in the Gaussian model it cannot have a level per row (it would be the
  residual); two groups that partition the rows identically (one response
  per prompt) cannot both be fitted.
"""

from __future__ import annotations

import numpy as np

from ..errors import InsufficientDataError, SchemaError
from ._design import Factor

__all__ = ["COLLINEAR_RTOL", "_check_fixed_rank", "_check_groups"]

COLLINEAR_RTOL = 1e-9  # a column is collinear when less than this share of its sum of squares is left


def _check_fixed_rank(x: np.ndarray, names: list[str]) -> None:
    """Raise when the fixed-effect columns are linearly dependent, checked on every row.

    The Gram matrix ``X'X`` is accumulated over all rows (``O(n p^2)``) and
    the columns are pivoted in order: a column whose residual sum of
    squares, after the columns kept before it, is below
    :data:`COLLINEAR_RTOL` of its own is collinear with them (the same
    criterion as the Bradley-Terry covariate screen).
    """
    p = x.shape[1]
    if p == 0:
        return
    gram = x.T @ x
    kept: list[int] = []
    for c in range(p):
        rest, coef = float(gram[c, c]), np.zeros(0)
        if kept:
            block = gram[np.ix_(kept, kept)]
            coef = np.linalg.lstsq(block, gram[kept, c], rcond=None)[0]
            rest -= float(gram[c, kept] @ coef)
        if gram[c, c] > 0 and rest > COLLINEAR_RTOL * gram[c, c]:
            kept.append(c)
            continue
        if gram[c, c] == 0:
            why = "it is 0 in every used judgment"
        else:
            partners = [names[kept[m]] for m in np.flatnonzero(np.abs(coef) > 1e-6)]
            why = f"it is a linear combination of {partners}"
        hint = (" (for example one model always shown first: position and model cannot be told apart)"
                if names[c].startswith("quality:") else "")
        raise SchemaError(f"the fixed-effect column {names[c]!r} cannot be estimated: {why}{hint}. "
                          f"Columns: {names}. Remove it from `fixed` (or pass quality=None).")


def _check_groups(factors: list[Factor], n: int, *, gaussian: bool) -> None:
    """Raise when a random-effect group cannot be estimated from these rows."""
    for f in factors:
        if f.n_levels < 2:
            raise InsufficientDataError(
                f"the random-effect group {f.name!r} has {f.n_levels} level(s) in the {n} used row(s), so "
                f"its variance cannot be estimated; drop it from `random` (for example "
                f"random={tuple(g.name for g in factors if g is not f)}).")
        if gaussian and f.n_levels >= n:
            raise InsufficientDataError(
                f"the random-effect group {f.name!r} has a level for every one of the {n} used rating(s), "
                "so its variance cannot be told apart from the residual variance; drop it from `random` or "
                f"use data with repeated ratings per {f.name}.")
    for a in range(len(factors)):
        for b in range(a + 1, len(factors)):
            fa, fb = factors[a], factors[b]
            if fa.n_levels != fb.n_levels:
                continue
            pairs = np.unique(fa.codes * np.int64(fb.n_levels) + fb.codes).size
            if pairs == fa.n_levels:
                raise InsufficientDataError(
                    f"the random-effect groups {fa.name!r} and {fb.name!r} group the rows identically "
                    f"({fa.n_levels} levels each, for example one response per prompt), so their variances "
                    f"cannot be told apart; keep one of them in `random`.")
