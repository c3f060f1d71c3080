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

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import stats

from .._types import RngLike, as_generator
from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from ._counts import prepare
from ._icc_boot import bootstrap_icc, rater_jackknife

__all__ = ["ICCResult", "icc", "variance_components"]

_TYPES = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
_DESC = ("single rater, one-way random (1,1)", "single rater, absolute agreement (A,1)",
         "single rater, consistency (C,1)", "mean of k raters, one-way random (1,k)",
         "mean of k raters, absolute agreement (A,k)", "mean of k raters, consistency (C,k)")


@dataclass(frozen=True, eq=False)
class ICCResult:
    """ICC(1), ICC(A,1), ICC(C,1) and their k-rater versions, with the variance components.

    ``table`` is indexed by ``type`` (ICC1, ICC2 = (A,1), ICC3 = (C,1), ICC1k,
    ICC2k, ICC3k) with columns ``description, estimate, std_error, f, df1,
    df2, p_value, ci_low, ci_high``. ``components`` holds ``unit``,
    ``rater``, ``residual`` (crossed model) and ``unit_oneway``,
    ``residual_oneway``. ``se_method`` is how the intervals were obtained:
    ``f_exact`` (Shrout & Fleiss / McGraw & Wong, balanced designs),
    ``bootstrap_units`` or ``bootstrap_units_raters`` (percentile intervals,
    ``std_error`` = bootstrap SD), or ``none``.
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
    se_method: str = "f_exact"
    n_resamples: int = 0

    def to_frame(self) -> pd.DataFrame:
        """Return the ICC table with ``type`` as a column."""
        return self.table.reset_index()

    def summary(self) -> str:
        """Return a plain-text table of the six ICCs."""
        lines = [f"ICC ({self.method}; {self.n_units} units, {self.n_raters} raters, "
                 f"{self.n_ratings} ratings, {'balanced' if self.balanced else 'incomplete'} design, k = {self.k:.3g}; "
                 f"{round(100 * self.confidence_level)}% CIs: {self.se_method}"
                 + (f", {self.n_resamples} resamples" if self.n_resamples else "") + ")"]
        for t, row in self.table.iterrows():
            lines.append(f"  {t:<6} {row['estimate']:8.4f}  [{row['ci_low']:.3f}, {row['ci_high']:.3f}]  "
                         f"{row['description']}")
        return "\n".join([*lines, *self.warnings])


_DENSE_MAX = 2000      # raters up to which the rater system is solved densely; CG above
_CG_MAXITER = 10_000


def _absorb_solve(unit: np.ndarray, rater: np.ndarray, y: np.ndarray, n_u: int, n_r: int) -> tuple[float, str]:
    """Reduction R(raters | mu, units) of the two-way fit, by absorbing the unit effects.

    Returns the reduction and a warning ('' when the solve is exact or converged).
    """
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
    note = ""
    if n_r - 1 <= _DENSE_MAX:
        beta = np.linalg.lstsq(sub.toarray(), rhs[1:], rcond=None)[0]
    else:
        maxiter = _CG_MAXITER
        beta, info = spla.cg(sub, rhs[1:], rtol=1e-12, maxiter=maxiter)
        if info != 0:
            resid = float(np.linalg.norm(sub @ beta - rhs[1:]) / max(float(np.linalg.norm(rhs[1:])), 1e-300))
            note = (f"the conjugate-gradient solve for the rater effects ({n_r:,} raters) stopped after "
                    f"{maxiter:,} iterations without reaching its tolerance (relative residual {resid:.2e}); "
                    "the rater sum of squares, and so the ICCs, are approximate.")
    return float(beta @ rhs[1:]), note


def variance_components(unit: np.ndarray, rater: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Henderson III moment estimates of the crossed and one-way variance components."""
    _, unit = np.unique(unit, return_inverse=True)
    _, rater = np.unique(rater, return_inverse=True)
    n_u, n_r, n = int(unit.max()) + 1, int(rater.max()) + 1, len(y)
    nu = np.bincount(unit, minlength=n_u).astype(float)
    nr = np.bincount(rater, minlength=n_r).astype(float)
    su = np.bincount(unit, weights=y, minlength=n_u)
    sr = np.bincount(rater, weights=y, minlength=n_r)
    r_mu = y.sum() ** 2 / np.float64(n)
    r_units = float((su**2 / nu).sum())           # R(mu, units)
    r_raters = float((sr**2 / nr).sum())          # R(mu, raters)
    r_b_given_a, solve_note = _absorb_solve(unit, rater, y, n_u, n_r)
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
    tr_b = np.float64(n) - float((np.asarray(sq.sum(axis=1)).ravel() / nu).sum())
    tr_a = np.float64(n) - float((np.asarray(sq.sum(axis=0)).ravel() / nr).sum())
    r_a_given_b = r_full - r_raters
    s2b = (r_b_given_a - (n_r - 1) * s2e) / tr_b if tr_b > 0 else np.nan
    s2a = (r_a_given_b - (n_u - 1) * s2e) / tr_a
    # one-way: between / within units
    ssw = total - r_units
    msw = ssw / np.float64(n - n_u)
    msb = (r_units - r_mu) / (n_u - 1)
    n0 = (n - (nu**2).sum() / n) / np.float64(n_u - 1)
    s2a1 = (msb - msw) / n0
    balanced = bool(pair.nnz == n and (nu == nu[0]).all() and pair.nnz == n_u * n_r)
    out = {"unit": s2a, "rater": s2b, "residual": s2e, "unit_oneway": s2a1, "residual_oneway": msw,
            "msb": msb, "msw": msw, "n0": n0, "df_e": df_e, "n_u": n_u, "n_r": n_r, "n": n,
            "ms_units": r_a_given_b / (n_u - 1), "ms_raters": r_b_given_a / max(n_r - 1, 1),
            "balanced": balanced, "k": n / n_u, "solve_note": solve_note}
    # numpy scalars: a zero variance gives inf/NaN (under np.errstate), never ZeroDivisionError
    return {key: np.float64(x) if isinstance(x, float) else x for key, x in out.items()}


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
_CIS = ("auto", "f", "bootstrap_units", "bootstrap_units_raters")


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


def _estimates(comps: dict[str, float], k: float) -> np.ndarray:
    s2a, s2b, s2e, s2a1, s2w, k = (np.float64(x) for x in (
        comps["unit"], comps["rater"], comps["residual"], comps["unit_oneway"], comps["residual_oneway"], k))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.array([
            s2a1 / (s2a1 + s2w), s2a / (s2a + s2b + s2e), s2a / (s2a + s2e),
            s2a1 / (s2a1 + s2w / k), s2a / (s2a + (s2b + s2e) / k), s2a / (s2a + s2e / k),
        ])


def _frame_from_data(data: PreferenceData, unit: str | None, rater: str | None, value: str | None,
                     aspect: Any) -> tuple[pd.DataFrame, str, str, str]:
    """The ratings table of a PreferenceData (one aspect) as a long frame."""
    r = data.ratings
    if r is None or not len(r):
        raise InsufficientDataError(
            f"icc needs absolute ratings, but this PreferenceData has no ratings table ({data.n_judgments:,} "
            "pairwise judgments). Read a ratings file (pq.read(path, format='ratings')); for the reliability "
            "of pairwise choices use pq.agreement."
        )
    if "aspect" in r:
        aspects = r["aspect"].dropna().unique()
        if aspect is None and len(aspects) > 1:
            raise SchemaError(
                f"the ratings hold {len(aspects)} aspects ({sorted(map(str, aspects))[:5]}); an ICC mixes no "
                "aspects: pass `aspect=` with one of them."
            )
        if aspect is not None:
            if aspect not in set(aspects):
                raise SchemaError(f"`aspect`={aspect!r} is not in the ratings; found {sorted(map(str, aspects))[:10]}.")
            r = r[(r["aspect"] == aspect).to_numpy()]
    elif aspect is not None:
        raise SchemaError(f"`aspect`={aspect!r} given, but the ratings have no `aspect` column.")
    return r, unit or "response_id", rater or "annotator_id", value or "score"


def icc(data: pd.DataFrame | PreferenceData, *, unit: str | None = None, rater: str | None = None,
        value: str | None = None, confidence_level: float = 0.95, method: str = "moments",
        aspect: Any = None, ci: str = "auto", n_resamples: int = 1000, rng: RngLike = None) -> ICCResult:
    """Compute ICC(1), ICC(A,1), ICC(C,1) and their k-rater versions from long ratings.

    Parameters
    ----------
    data : DataFrame or PreferenceData
        One numeric rating per row (the first row per (unit, rater) is used),
        or a PreferenceData whose ``ratings`` table is used (units =
        ``response_id``, raters = ``annotator_id``, values = ``score``; no
        prompt ids needed). Incomplete and unbalanced designs are allowed (no
        unit is dropped).
    unit, rater, value : str
        Column names (``unit`` = target rated, e.g. a response); required for
        a DataFrame, defaults above for a PreferenceData.
    confidence_level : float, default 0.95
    method : {'moments', 'reml'}, default 'moments'
        Variance components by Henderson III moments (exact Shrout & Fleiss
        values on balanced data, fast at any size) or by REML through
        :func:`prefqa.models.mixed.fit_rating_model` (see the module notes).
    aspect : optional
        With a PreferenceData whose ratings hold several aspects: the one to use.
    ci : {'auto', 'f', 'bootstrap_units', 'bootstrap_units_raters'}, default 'auto'
        Confidence intervals. 'f': the exact F-based intervals of Shrout &
        Fleiss (1979) / McGraw & Wong (1996), balanced designs only.
        'bootstrap_units': percentile bootstrap over units, raters held fixed
        (the ICCs of these raters). 'bootstrap_units_raters': raters are a
        sample too; SE from the unit bootstrap plus a jackknife over raters,
        normal interval, conservative (see ``prefqa.reliability._icc_boot``).
        'auto' = 'f' on balanced designs, 'bootstrap_units_raters' otherwise.
    n_resamples : int, default 1000
        Bootstrap resamples (bootstraps only).
    rng : int or Generator, optional

    Returns
    -------
    ICCResult
        ``se_method`` says how the intervals were obtained. F tests and
        p-values are exact on balanced data and come from the Henderson III
        reductions on incomplete designs.

    Raises
    ------
    SchemaError
        Missing columns, non-numeric values, bad options.
    InsufficientDataError
        Fewer than 2 units or raters, no residual degrees of freedom, or no
        ratings table.

    Examples
    --------
    >>> import pandas as pd
    >>> wide = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> f = pd.DataFrame([(t, j, s) for t, row in enumerate(wide) for j, s in enumerate(row)],
    ...                  columns=["target", "judge", "score"])
    >>> res = icc(f, unit="target", rater="judge", value="score")
    >>> res.table["estimate"].round(2).tolist()
    [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    >>> res.se_method
    'f_exact'
    >>> f = f.drop(index=[0, 5, 10, 15, 20])          # incomplete: bootstrap over units and raters
    >>> icc(f, unit="target", rater="judge", value="score", n_resamples=200, rng=0).se_method
    'bootstrap_units_raters'
    """
    if isinstance(data, PreferenceData):
        frame, unit, rater, value = _frame_from_data(data, unit, rater, value, aspect)
    elif isinstance(data, pd.DataFrame):
        missing = [n for n, v in (("unit", unit), ("rater", rater), ("value", value)) if v is None]
        if missing:
            raise SchemaError(f"icc on a DataFrame needs the column names {missing} (e.g. unit='item', "
                              "rater='annotator', value='score'); or pass a PreferenceData with ratings.")
        frame = data
    else:
        raise SchemaError(f"`data` must be a DataFrame of long ratings or a PreferenceData; got {type(data).__name__}.")
    if isinstance(confidence_level, bool) or not isinstance(confidence_level, (int, float)) \
            or not (0.0 < float(confidence_level) < 1.0):
        raise SchemaError(f"`confidence_level` must be between 0 and 1 (e.g. 0.95); got {confidence_level!r}.")
    if method not in _METHODS:
        raise SchemaError(f"`method` must be one of {_METHODS}; got {method!r}.")
    if ci not in _CIS:
        raise SchemaError(f"`ci` must be one of {list(_CIS)}; got {ci!r}.")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0:
        raise SchemaError(f"`n_resamples` must be a non-negative integer; got {n_resamples!r}.")
    # for mypy: _frame_from_data returns the three names, and the DataFrame branch refused any that is None
    assert unit is not None and rater is not None and value is not None
    r = prepare(frame, unit=unit, rater=rater, value=value, level="interval")
    if r.n_units < 2 or len(r.rater_labels) < 2:
        raise InsufficientDataError(
            f"ICC needs at least 2 units and 2 raters; got {r.n_units} units and {len(r.rater_labels)} raters."
        )
    assert r.numeric is not None  # for mypy: prepare(level="interval") refuses non-numeric values
    y = r.numeric[r.value]
    with np.errstate(invalid="ignore", divide="ignore"):
        return _icc(r, y, confidence_level=float(confidence_level), method=method, ci=ci,
                    n_resamples=int(n_resamples), rng=rng)


def _icc(r: Any, y: np.ndarray, *, confidence_level: float, method: str, ci: str, n_resamples: int,
         rng: RngLike) -> ICCResult:
    c = variance_components(r.unit, r.rater, y)
    warn: list[str] = [c["solve_note"]] if c["solve_note"] else []
    if np.ptp(y) == 0:
        warn.append(f"every rating is {y[0]:g}: there is no variance to share out, so the ICCs are undefined (NaN).")
    if r.n_repeats:
        warn.append(f"{r.n_repeats} repeated rating(s) of a unit by the same rater: the first of each is used.")
    comps = {key: c[key] for key in ("unit", "rater", "residual", "unit_oneway", "residual_oneway")}
    if method == "reml":
        comps, notes = _reml_components(r.unit, r.rater, y)
        warn.extend(notes)
    k = c["k"]
    est = _estimates(comps, k)
    if ci == "auto":
        ci = "f" if c["balanced"] else "bootstrap_units_raters"
    se = np.full(6, np.nan)
    if c["balanced"]:
        fval, df1, df2, bounds = _balanced_cis(c, float(confidence_level))
    else:
        f1 = c["msb"] / c["msw"]
        f3 = c["ms_units"] / c["residual"]
        fval = np.array([f1, f3, f3, f1, f3, f3])
        df1 = np.full(6, float(c["n_u"] - 1))
        d1, d3 = float(c["n"] - c["n_u"]), float(c["df_e"])
        df2 = np.array([d1, d3, d3, d1, d3, d3])
        bounds = np.full((2, 6), np.nan)
        warn.append("Incomplete design: ICCs come from Henderson III variance components (no unit dropped)"
                    if method == "moments" else "Incomplete design: variance components by REML")
    se_method = ci if ci != "f" else "f_exact"
    if ci == "f" and not c["balanced"]:
        se_method = "none"
        warn.append("ci='f': the exact F-based intervals exist for balanced designs only, so none are given; "
                    "use ci='bootstrap_units' or 'bootstrap_units_raters'.")
    elif ci.startswith("bootstrap"):
        if method == "reml":
            se_method = "none"
            bounds = np.full((2, 6), np.nan)
            warn.append("no bootstrap intervals for method='reml' (a REML fit per resample is too slow); "
                        "use method='moments' for bootstrap intervals.")
        elif n_resamples < 2:
            se_method = "none"
            bounds = np.full((2, 6), np.nan)
            warn.append(f"n_resamples={n_resamples}: no bootstrap intervals.")
        else:
            draws, failed = bootstrap_icc(r.unit, r.rater, y, n_resamples=int(n_resamples),
                                          rng=as_generator(rng))
            a = (1.0 - float(confidence_level)) / 2.0
            ok = np.isfinite(draws).sum(axis=0) >= 2
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                q = np.nanquantile(draws, [a, 1.0 - a], axis=0) if ok.any() else np.full((2, 6), np.nan)
                sd = np.nanstd(draws, axis=0, ddof=1)
            se = np.where(ok, sd, np.nan)
            if ci == "bootstrap_units":
                bounds = np.where(ok, q, np.nan)
            else:
                se = np.sqrt(se**2 + rater_jackknife(r.unit, r.rater, y))
                z = stats.norm.ppf(1.0 - a)
                bounds = np.vstack([np.clip(est - z * se, -1.0, 1.0), np.clip(est + z * se, -1.0, 1.0)])
            if failed:
                warn.append(f"{failed} of {n_resamples} bootstrap resamples were degenerate (no residual "
                            "degrees of freedom or a single rater) and were left out.")
            if ci == "bootstrap_units":
                warn.append("bootstrap over units: the raters are held fixed, so intervals of ICC(1) and "
                            "ICC(A,1) leave out the variation from sampling raters; use "
                            "ci='bootstrap_units_raters' when the raters are a sample.")
    p = stats.f.sf(fval, df1, df2)
    table = pd.DataFrame({"description": _DESC, "estimate": est, "std_error": se, "f": fval, "df1": df1,
                          "df2": df2, "p_value": p, "ci_low": bounds[0], "ci_high": bounds[1]},
                         index=pd.Index(_TYPES, name="type"))
    label = ("reml (fit_rating_model)" if method == "reml" else
             "anova (balanced)" if c["balanced"] else "moments (Henderson III)")
    return ICCResult(table=table, components=pd.Series(comps, name="variance"), method=label,
                     balanced=c["balanced"], k=float(k),
                     confidence_level=float(confidence_level), n_units=r.n_units,
                     n_raters=len(r.rater_labels), n_ratings=len(y), warnings=tuple(warn),
                     se_method=se_method, n_resamples=int(n_resamples) if se_method.startswith("bootstrap") else 0)
