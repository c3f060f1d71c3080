"""Intraclass correlations for absolute ratings, on complete or incomplete designs.

The ICCs are ratios of variance components of the crossed model
``y = mu + a_unit + b_rater + e`` (and the one-way model ``y = mu + a_unit + e``
for ICC(1)). The components come from Henderson's method III (method of
moments): the sums of squares are reductions in sums of squares of sparse
least-squares fits, whose expectations are linear in the components:

* ``E[SSE] = (N - n_u - n_r + 1) s2_e`` (units and raters fitted);
* ``E[R(raters | units)] = (n_r - 1) s2_e + (N - sum_u sum_r n_ur^2 / n_u) s2_b``;
* ``E[R(units | raters)] = (n_u - 1) s2_e + (N - sum_r sum_u n_ur^2 / n_r) s2_a``.

On a balanced design these equal the ANOVA mean-square estimators, so the
ICCs equal Shrout & Fleiss (1979) / McGraw & Wong (1996); incomplete units are
never dropped. Negative component estimates are kept (not truncated), as the
ANOVA formulas do. ``k`` for the average-measure ICCs is the mean number of
ratings per unit.

``method="reml"`` takes the components from the Gaussian crossed model of
:func:`prefqa.models.mixed.fit_rating_model` instead (REML, as lme4's
``lmer(value ~ 1 + (1 | rater) + (1 | unit))``; ICC(1) from the one-way
``lmer(value ~ 1 + (1 | unit))``). REML components are never negative and,
on an incomplete design, use the data more efficiently than the moment
estimates; on a balanced design with positive ANOVA components the two are
equal. The F tests, p-values and (balanced) confidence intervals come from the
sums of squares under both methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import stats

from ..errors import InsufficientDataError, SchemaError
from ._counts import prepare

__all__ = ["icc", "ICCResult", "variance_components"]

_TYPES = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
_DESC = ("single rater, one-way random (1,1)", "single rater, absolute agreement (A,1)",
         "single rater, consistency (C,1)", "mean of k raters, one-way random (1,k)",
         "mean of k raters, absolute agreement (A,k)", "mean of k raters, consistency (C,k)")


@dataclass(frozen=True, eq=False)
class ICCResult:
    """ICC(1), ICC(A,1), ICC(C,1) and their k-rater versions, with the variance components.

    ``table`` is indexed by ``type`` (ICC1, ICC2 = (A,1), ICC3 = (C,1), ICC1k,
    ICC2k, ICC3k) with columns ``description, estimate, f, df1, df2, p_value,
    ci_low, ci_high``. ``components`` holds ``unit``, ``rater``, ``residual``
    (crossed model) and ``unit_oneway``, ``residual_oneway``.
    """

    table: pd.DataFrame
    components: pd.Series
    method: str
    balanced: bool
    k: float
    confidence_level: float
    n_units: int
    n_raters: int
    n_ratings: int
    warnings: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """Return the ICC table with ``type`` as a column."""
        return self.table.reset_index()

    def summary(self) -> str:
        """Return a plain-text table of the six ICCs."""
        lines = [f"ICC ({self.method}; {self.n_units} units, {self.n_raters} raters, "
                 f"{self.n_ratings} ratings, {'balanced' if self.balanced else 'incomplete'} design, k = {self.k:.3g})"]
        for t, row in self.table.iterrows():
            lines.append(f"  {t:<6} {row['estimate']:8.4f}  [{row['ci_low']:.3f}, {row['ci_high']:.3f}]  {row['description']}")
        return "\n".join([*lines, *self.warnings])


def _absorb_solve(unit: np.ndarray, rater: np.ndarray, y: np.ndarray, n_u: int, n_r: int) -> float:
    """Reduction R(raters | mu, units) of the two-way fit, by absorbing the unit effects."""
    ones = np.ones(len(y))
    a = sp.csr_matrix((ones, (unit, rater)), shape=(n_u, n_r))       # n_ur counts
    nu = np.asarray(a.sum(axis=1)).ravel()
    nr = np.asarray(a.sum(axis=0)).ravel()
    inv_nu = sp.diags(1.0 / nu)
    lap = (sp.diags(nr) - a.T @ inv_nu @ a).tocsr()                   # Z_b' M_a Z_b
    ybar_u = np.bincount(unit, weights=y, minlength=n_u) / nu
    rhs = np.bincount(rater, weights=y - ybar_u[unit], minlength=n_r)  # Z_b' M_a y
    # fix the first rater's effect at 0 (the Laplacian has rank n_r - 1 on a connected design)
    sub = lap[1:, 1:]
    if n_r - 1 <= 2000:
        beta = np.linalg.lstsq(sub.toarray(), rhs[1:], rcond=None)[0]
    else:
        beta, info = spla.cg(sub, rhs[1:], rtol=1e-12, maxiter=10_000)
    return float(beta @ rhs[1:])


def variance_components(unit: np.ndarray, rater: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Henderson III moment estimates of the crossed and one-way variance components."""
    _, unit = np.unique(unit, return_inverse=True)
    _, rater = np.unique(rater, return_inverse=True)
    n_u, n_r, n = int(unit.max()) + 1, int(rater.max()) + 1, len(y)
    nu = np.bincount(unit, minlength=n_u).astype(float)
    nr = np.bincount(rater, minlength=n_r).astype(float)
    su = np.bincount(unit, weights=y, minlength=n_u)
    sr = np.bincount(rater, weights=y, minlength=n_r)
    r_mu = y.sum() ** 2 / n
    r_units = float((su**2 / nu).sum())           # R(mu, units)
    r_raters = float((sr**2 / nr).sum())          # R(mu, raters)
    r_b_given_a = _absorb_solve(unit, rater, y, n_u, n_r)
    r_full = r_units + r_b_given_a
    total = float(y @ y)
    sse = total - r_full
    df_e = n - n_u - n_r + 1
    if df_e <= 0:
        raise InsufficientDataError(
            f"ICC needs more ratings than units + raters - 1 to estimate the residual; got {n} "
            f"ratings, {n_u} units and {n_r} raters. Collect more overlapping ratings."
        )
    s2e = sse / df_e
    pair = sp.csr_matrix((np.ones(n), (unit, rater)), shape=(n_u, n_r))
    sq = pair.multiply(pair)
    tr_b = n - float((np.asarray(sq.sum(axis=1)).ravel() / nu).sum())
    tr_a = n - float((np.asarray(sq.sum(axis=0)).ravel() / nr).sum())
    r_a_given_b = r_full - r_raters
    s2b = (r_b_given_a - (n_r - 1) * s2e) / tr_b if tr_b > 0 else np.nan
    s2a = (r_a_given_b - (n_u - 1) * s2e) / tr_a
    # one-way: between / within units
    ssw = total - r_units
    msw = ssw / (n - n_u)
    msb = (r_units - r_mu) / (n_u - 1)
    n0 = (n - (nu**2).sum() / n) / (n_u - 1)
    s2a1 = (msb - msw) / n0
    balanced = bool(pair.nnz == n and (nu == nu[0]).all() and pair.nnz == n_u * n_r)
    return {"unit": s2a, "rater": s2b, "residual": s2e, "unit_oneway": s2a1, "residual_oneway": msw,
            "msb": msb, "msw": msw, "n0": n0, "df_e": df_e, "n_u": n_u, "n_r": n_r, "n": n,
            "ms_units": r_a_given_b / (n_u - 1), "ms_raters": r_b_given_a / max(n_r - 1, 1),
            "balanced": balanced, "k": n / n_u}


def _balanced_cis(c: dict, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """F tests and CIs of Shrout & Fleiss (1979) / McGraw & Wong (1996) for a balanced design."""
    n, k = c["n_u"], c["n_r"]
    msr, msw, mse, msc = c["msb"], c["msw"], c["residual"], c["ms_raters"]
    a = 1.0 - level
    f1, df1, df2_1 = msr / msw, n - 1, n * (k - 1)
    f3, df2_3 = msr / mse, (n - 1) * (k - 1)
    fu1 = f1 * stats.f.ppf(1 - a / 2, df2_1, df1)
    fl1 = f1 / stats.f.ppf(1 - a / 2, df1, df2_1)
    fu3 = f3 * stats.f.ppf(1 - a / 2, df2_3, df1)
    fl3 = f3 / stats.f.ppf(1 - a / 2, df1, df2_3)
    icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    fj = msc / mse
    vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    fs = stats.f.ppf(1 - a / 2, n - 1, v)
    fi = stats.f.ppf(1 - a / 2, v, n - 1)
    l2 = n * (msr - fs * mse) / (fs * (k * msc + (k * n - k - n) * mse) + n * msr)
    u2 = n * (fi * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fi * msr)
    lo = np.array([(fl1 - 1) / (fl1 + k - 1), l2, (fl3 - 1) / (fl3 + k - 1),
                   1 - 1 / fl1, l2 * k / (1 + l2 * (k - 1)), 1 - 1 / fl3])
    hi = np.array([(fu1 - 1) / (fu1 + k - 1), u2, (fu3 - 1) / (fu3 + k - 1),
                   1 - 1 / fu1, u2 * k / (1 + u2 * (k - 1)), 1 - 1 / fu3])
    fval = np.array([f1, f3, f3, f1, f3, f3])
    df1s = np.full(6, float(df1))
    df2s = np.array([df2_1, df2_3, df2_3, df2_1, df2_3, df2_3], dtype=float)
    return fval, df1s, df2s, np.vstack([lo, hi])


_METHODS = ("moments", "reml")


def _reml_components(unit: np.ndarray, rater: np.ndarray, y: np.ndarray) -> tuple[dict[str, float], list[str]]:
    """Crossed and one-way variance components from ``fit_rating_model`` (REML)."""
    from ..models.mixed import fit_rating_model
    from ..schema import PreferenceData

    ratings = pd.DataFrame({"response_id": pd.Series(unit).astype(str).radd("u"),
                            "annotator_id": pd.Series(rater).astype(str).radd("r"), "score": y})
    empty = pd.DataFrame({c: pd.Series([], dtype="str") for c in ("comparison_id", "annotator_id", "choice")})
    data = PreferenceData(empty, ratings=ratings)
    crossed = fit_rating_model(data, random=("annotator", "response"))
    oneway = fit_rating_model(data, random=("response",))
    notes = [f"REML fit ({name}) did not converge; its variance components are unreliable."
             for name, fit in (("crossed", crossed), ("one-way", oneway)) if not fit.converged]
    notes.extend(f"REML fit ({name}): {w}" for name, fit in (("crossed", crossed), ("one-way", oneway))
                 for w in fit.warnings)
    v, v1 = crossed.variance_components["variance"], oneway.variance_components["variance"]
    comps = {"unit": float(v["response"]), "rater": float(v["annotator"]), "residual": float(v["residual"]),
             "unit_oneway": float(v1["response"]), "residual_oneway": float(v1["residual"])}
    return comps, notes


def icc(frame: pd.DataFrame, *, unit: str, rater: str, value: str, confidence_level: float = 0.95,
        method: str = "moments") -> ICCResult:
    """Compute ICC(1), ICC(A,1), ICC(C,1) and their k-rater versions from long ratings.

    Parameters
    ----------
    frame : DataFrame
        One numeric rating per row; the first row per (unit, rater) is used.
        Incomplete and unbalanced designs are allowed (no unit is dropped).
    unit, rater, value : str
        Column names (``unit`` = target rated, e.g. a response).
    confidence_level : float, default 0.95
    method : {'moments', 'reml'}, default 'moments'
        Variance components by Henderson III moments (exact Shrout & Fleiss
        values on balanced data, fast at any size) or by REML through
        :func:`prefqa.models.mixed.fit_rating_model` (see the module notes).

    Returns
    -------
    ICCResult
        F tests and CIs are the exact ones of Shrout & Fleiss (1979) and
        McGraw & Wong (1996) on balanced data; on incomplete designs F and
        p-values come from the Henderson III reductions and CIs are NaN (see
        ``warnings``).

    Raises
    ------
    SchemaError
        Missing columns, non-numeric values.
    InsufficientDataError
        Fewer than 2 units or raters, or no residual degrees of freedom.

    Examples
    --------
    >>> import pandas as pd
    >>> wide = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> f = pd.DataFrame([(t, j, s) for t, row in enumerate(wide) for j, s in enumerate(row)],
    ...                  columns=["target", "judge", "score"])
    >>> res = icc(f, unit="target", rater="judge", value="score")
    >>> res.table["estimate"].round(2).tolist()
    [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    """
    if not (0.0 < float(confidence_level) < 1.0):
        raise SchemaError(f"`confidence_level` must be between 0 and 1 (e.g. 0.95); got {confidence_level!r}.")
    if method not in _METHODS:
        raise SchemaError(f"`method` must be one of {_METHODS}; got {method!r}.")
    r = prepare(frame, unit=unit, rater=rater, value=value, level="interval")
    if r.n_units < 2 or len(r.rater_labels) < 2:
        raise InsufficientDataError(
            f"ICC needs at least 2 units and 2 raters; got {r.n_units} units and {len(r.rater_labels)} raters."
        )
    y = r.numeric[r.value]
    c = variance_components(r.unit, r.rater, y)
    warn: list[str] = []
    comps = {key: c[key] for key in ("unit", "rater", "residual", "unit_oneway", "residual_oneway")}
    if method == "reml":
        comps, notes = _reml_components(r.unit, r.rater, y)
        warn.extend(notes)
    s2a, s2b, s2e, k = comps["unit"], comps["rater"], comps["residual"], c["k"]
    s2a1, s2w = comps["unit_oneway"], comps["residual_oneway"]
    est = np.array([
        s2a1 / (s2a1 + s2w), s2a / (s2a + s2b + s2e), s2a / (s2a + s2e),
        s2a1 / (s2a1 + s2w / k), s2a / (s2a + (s2b + s2e) / k), s2a / (s2a + s2e / k),
    ])
    if c["balanced"]:
        fval, df1, df2, ci = _balanced_cis(c, float(confidence_level))
        label = "anova (balanced)"
    else:
        f1 = c["msb"] / c["msw"]
        f3 = c["ms_units"] / s2e
        fval = np.array([f1, f3, f3, f1, f3, f3])
        df1 = np.full(6, float(c["n_u"] - 1))
        d1, d3 = float(c["n"] - c["n_u"]), float(c["df_e"])
        df2 = np.array([d1, d3, d3, d1, d3, d3])
        ci = np.full((2, 6), np.nan)
        label = "moments (Henderson III)"
        warn.append("Incomplete design: ICCs come from Henderson III variance components (no unit "
                    "dropped); confidence intervals are not computed for incomplete designs."
                    if method == "moments" else
                    "Incomplete design: confidence intervals are not computed for incomplete designs.")
    if method == "reml":
        label = "reml (fit_rating_model)"
    p = stats.f.sf(fval, df1, df2)
    table = pd.DataFrame({"description": _DESC, "estimate": est, "f": fval, "df1": df1, "df2": df2,
                          "p_value": p, "ci_low": ci[0], "ci_high": ci[1]}, index=pd.Index(_TYPES, name="type"))
    return ICCResult(table=table, components=pd.Series(comps, name="variance"), method=label,
                     balanced=c["balanced"], k=float(k),
                     confidence_level=float(confidence_level), n_units=r.n_units,
                     n_raters=len(r.rater_labels), n_ratings=len(y), warnings=tuple(warn))
