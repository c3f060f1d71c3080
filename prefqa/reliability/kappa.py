"""Kappa family on long data: Fleiss, Gwet AC1/AC2, Brennan-Prediger, percent agreement.

Conventions (chosen to match the published references):

* Standard errors of the multi-rater family are Gwet's linearised ones
  (irrCAC, no finite-population correction); confidence intervals are
  ``estimate +- t(n - 1) * std_error`` clipped to [-1, 1], with ``n`` the
  number of rated units, as irrCAC reports them.
* Weights of the multi-rater family are Gwet's families on the category
  *values* (positions for labels), over the declared ``value_domain`` or, if
  none, the observed categories (irrCAC's convention).
* Units rated once count in the category shares ``pi_k`` but not in ``pa``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import SchemaError
from ._counts import Ratings, count_matrix, need_pairable, patterns, prepare
from ._family import WEIGHTS, family, weight_matrix

__all__ = ["Coefficient", "brennan_prediger", "fleiss_kappa", "gwet_ac", "percent_agreement"]


@dataclass(frozen=True)
class Coefficient:
    """One agreement coefficient with its standard error and confidence interval.

    Attributes
    ----------
    name : str
        ``fleiss_kappa``, ``gwet_ac1``, ``gwet_ac2``, ``brennan_prediger``,
        ``percent_agreement`` or ``cohen_kappa``.
    estimate, std_error, ci_low, ci_high : float
        ``NaN`` where undefined (see ``warnings``).
    p_observed, p_chance : float
        Observed and chance agreement (``pa``, ``pe``).
    z, p_value : float
        Test of ``estimate = 0`` (two-sided).
    """

    name: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_observed: float
    p_chance: float
    z: float
    p_value: float
    weights: str
    confidence_level: float
    n_units: int
    n_pairable: int
    n_ratings: int
    n_raters: int
    categories: tuple[Any, ...]
    warnings: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """Return one tidy row: coefficient, estimate, std_error, ci_low, ci_high, ..., n."""
        return pd.DataFrame([{
            "coefficient": self.name, "weights": self.weights, "estimate": self.estimate,
            "std_error": self.std_error, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "z": self.z, "p_value": self.p_value, "p_observed": self.p_observed,
            "p_chance": self.p_chance, "n": self.n_pairable,
        }])

    def summary(self) -> str:
        """Return a one-line plain-text summary."""
        pct = round(100 * self.confidence_level)
        text = (f"{self.name} ({self.weights} weights) = {self.estimate:.4f} "
                f"(SE {self.std_error:.4f}, {pct}% CI {self.ci_low:.4f} to {self.ci_high:.4f}; "
                f"pa {self.p_observed:.4f}, pe {self.p_chance:.4f}; {self.n_pairable} units "
                f"with 2+ ratings, {self.n_ratings} ratings, {self.n_raters} raters)")
        return "\n".join([text, *self.warnings])

    def __float__(self) -> float:
        return float(self.estimate)


def check_common(weights: Any, confidence_level: float) -> None:
    if isinstance(weights, str) and weights not in WEIGHTS + ("unweighted",):
        raise SchemaError(f"`weights` must be one of {list(WEIGHTS)} or a V x V array; got {weights!r}.")
    if not (0.0 < float(confidence_level) < 1.0):
        raise SchemaError(f"`confidence_level` must be between 0 and 1 (e.g. 0.95); got {confidence_level!r}.")


def category_values(r: Ratings) -> np.ndarray:
    """Values used for weights: numeric categories, else their positions."""
    return r.numeric if r.numeric is not None else np.arange(r.n_categories, dtype=float)


def undefined_reason(name: str, r: Ratings, n_c: np.ndarray) -> str:
    used = np.flatnonzero(n_c > 0)
    if len(used) <= 1:
        cat = r.categories[used[0]] if len(used) else None
        return (f"{name} is undefined: every rating is {cat!r}, so chance agreement is 1 "
                "(the prevalence problem); percent agreement and Gwet's AC1 stay defined.")
    return f"{name} is undefined: chance agreement is 1."


def _run(kind: str, frame: pd.DataFrame, unit: str, rater: str, value: str, weights: Any,
         value_domain: Sequence[Any] | None, confidence_level: float) -> Coefficient:
    check_common(weights, confidence_level)
    r = prepare(frame, unit=unit, rater=rater, value=value, level="nominal", value_domain=value_domain)
    counts = count_matrix(r.unit, r.value, r.n_units, r.n_categories)
    m_u = np.asarray(counts.sum(axis=1)).ravel()
    need_pairable(m_u, kind.replace("_", " "))
    w = weight_matrix(weights, category_values(r))
    if w.shape != (r.n_categories, r.n_categories):
        raise SchemaError(
            f"`weights` must be {r.n_categories} x {r.n_categories} (one row per category); got {w.shape}.")
    pats, mult, _ = patterns(counts)
    res = family(pats, mult, w, (kind,))[kind]
    name = kind
    wname = weights if isinstance(weights, str) else "custom"
    if kind == "gwet_ac":
        name = "gwet_ac1" if wname in ("identity", "unweighted") else "gwet_ac2"
    return make_coefficient(name, res, wname, confidence_level, r, m_u, np.asarray(counts.sum(axis=0)).ravel())


def make_coefficient(name: str, res: dict, wname: str, confidence_level: float, r: Ratings,
                     m_u: np.ndarray, n_c: np.ndarray) -> Coefficient:
    est = float(res["estimate"])
    se = float(res.get("std_error", np.nan))
    n_units = int((m_u > 0).sum())
    warn: tuple[str, ...] = ()
    if np.isnan(est):
        warn = (undefined_reason(name, r, n_c),)
    tq = stats.t.ppf(0.5 + confidence_level / 2.0, max(n_units - 1, 1))
    lo, hi = max(est - tq * se, -1.0), min(est + tq * se, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = est / se if se > 0 else np.nan
    p = float(2 * stats.t.sf(abs(t), max(n_units - 1, 1))) if np.isfinite(t) else np.nan
    return Coefficient(
        name=name, estimate=est, std_error=se, ci_low=float(lo), ci_high=float(hi),
        p_observed=float(res["pa"]), p_chance=float(res["pe"]), z=float(t), p_value=p,
        weights=wname, confidence_level=float(confidence_level), n_units=n_units,
        n_pairable=int((m_u >= 2).sum()), n_ratings=int(m_u.sum()), n_raters=len(r.rater_labels),
        categories=tuple(r.categories.tolist()), warnings=warn,
    )


_DOC_PARAMS = """
    Parameters
    ----------
    frame : DataFrame
        Long ratings: one row per (unit, rater); the first row is used when a
        rater rated a unit twice; rows with a missing value are ignored.
    unit, rater, value : str
        Column names.
    weights : str or array, default 'identity'
        Agreement weights: 'identity', 'linear', 'quadratic', 'ordinal',
        'ratio', 'radical', 'circular', 'bipolar' (Gwet's families, on the
        category values) or a V x V array.
    value_domain : sequence, optional
        The categories (ordered); default the observed values.
    confidence_level : float, default 0.95

    Returns
    -------
    Coefficient
"""


_EXAMPLE_3X3 = """    >>> import pandas as pd
    >>> f = pd.DataFrame({"u": [1, 1, 1, 2, 2, 2, 3, 3], "r": list("xyzxyzxy"),
    ...                   "v": ["a", "a", "b", "b", "b", "b", "a", "a"]})"""
_EXAMPLE_2X2 = """    >>> import pandas as pd
    >>> f = pd.DataFrame({"u": [1, 1, 2, 2], "r": list("xyxy"), "v": ["a", "a", "a", "b"]})"""


def _coefficient_function(kind: str, headline: str, example: str, call: str, shown: str) -> Any:
    """Build the public function of one family member: same signature, own docstring and example."""

    def coefficient(frame: pd.DataFrame, *, unit: str, rater: str, value: str, weights: Any = "identity",
                    value_domain: Sequence[Any] | None = None, confidence_level: float = 0.95) -> Coefficient:
        return _run(kind, frame, unit, rater, value, weights, value_domain, confidence_level)

    coefficient.__name__ = coefficient.__qualname__ = kind
    coefficient.__doc__ = (f"{headline}\n{_DOC_PARAMS}\n    Examples\n    --------\n{example}\n"
                           f"    >>> {call}\n    {shown}\n    ")
    return coefficient


fleiss_kappa = _coefficient_function(
    "fleiss_kappa", "Compute Fleiss' kappa for any number of raters per unit, with Gwet's standard error.",
    _EXAMPLE_3X3, 'round(fleiss_kappa(f, unit="u", rater="r", value="v").estimate, 4)', "0.55")
gwet_ac = _coefficient_function(
    "gwet_ac", "Compute Gwet's AC1 (identity weights) or AC2 (other weights) with Gwet's variance.",
    _EXAMPLE_3X3, 'round(gwet_ac(f, unit="u", rater="r", value="v").estimate, 4)', "0.561")
brennan_prediger = _coefficient_function(
    "brennan_prediger", "Compute Brennan and Prediger's coefficient (chance agreement ``sum(W) / q^2``).",
    _EXAMPLE_2X2, 'round(brennan_prediger(f, unit="u", rater="r", value="v").estimate, 4)', "0.0")
percent_agreement = _coefficient_function(
    "percent_agreement", "Compute percent agreement: the mean share of agreeing rater pairs per unit.",
    _EXAMPLE_2X2, 'percent_agreement(f, unit="u", rater="r", value="v").estimate', "0.5")
