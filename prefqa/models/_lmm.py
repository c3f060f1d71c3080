"""Gaussian linear mixed model with crossed random effects, profiled REML (private).

Algorithm (lme4's, Bates et al. 2015, section 3): for relative covariance
parameters ``theta`` the penalized least-squares problem
``min ||y - X beta - Z Lambda u||^2 + ||u||^2`` is solved exactly from the
cross products ``[Z X]'[Z X]``, which are computed once (they do not depend
on ``theta``); the penalized residual sum of squares is
``r^2 = y'y - c' M^{-1} c``. The profiled REML criterion

    d(theta) = log|L|^2 + log|R_X|^2 + (n - p) (1 + log(2 pi r^2 / (n - p)))

(or the ML criterion ``log|L|^2 + n (1 + log(2 pi r^2 / n))``) is minimized over
``theta >= 0`` with scipy's bounded L-BFGS-B (finite-difference gradients).
Each evaluation costs a block factorization (see ``_design``), independent of
the number of rows. Then ``sigma^2 = r^2 / (n - p)`` (REML), fixed-effect
covariance ``sigma^2 (R_X' R_X)^{-1}`` and conditional modes ``b = Lambda u``
with conditional variances ``sigma^2 T A^{-1} T'`` (lme4's ``condVar``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._blas import single_threaded_blas
from ._design import CrossedDesign, Factorization, minimize_with_restart, wald_cov

__all__ = ["LmmFit", "fit_lmm"]

_GTOL_PER_ROW = 1e-8  # L-BFGS-B projected-gradient tolerance, scaled by the number of rows


@dataclass(eq=False)
class LmmFit:
    theta: np.ndarray
    beta: np.ndarray
    beta_cov: np.ndarray
    sigma: float
    u_big: np.ndarray
    u_small: np.ndarray
    objective: float  # REML or ML deviance (-2 log-likelihood)
    loglik: float
    converged: bool
    n_iter: int
    message: str
    factorization: Factorization
    sd_cov: np.ndarray  # Wald covariance of (theta * sigma..., sigma); NaN where unavailable


@single_threaded_blas()  # dense parts are annotator-sized: threads only wait
def fit_lmm(design: CrossedDesign, y: np.ndarray, *, reml: bool = True, max_iter: int = 500,
            tol: float = 1e-10) -> LmmFit:
    """Fit the Gaussian crossed model by profiled (RE)ML; see the module notes."""
    y = np.asarray(y, dtype=np.float64)
    n, p = design.n, design.p
    ones = np.ones(n)
    blocks = design.crossprod(ones, y)
    yty = float(y @ y)
    nu = n - p if reml else n

    def parts(theta: np.ndarray) -> tuple[float, Factorization, tuple]:
        fac = design.factorize(blocks, theta)
        ub, us, beta = fac.solve()
        r2 = yty - float(fac.rb @ ub) - float(fac.rr @ np.concatenate([us, beta]))
        r2 = max(r2, 1e-300)
        dev = fac.logdet_l + nu * (1.0 + np.log(2.0 * np.pi * r2 / nu))
        if reml:
            dev += fac.logdet_rx
        return dev, fac, (ub, us, beta, r2)

    def objective(theta: np.ndarray) -> float:
        try:
            return parts(theta)[0]
        except np.linalg.LinAlgError:
            return np.inf

    lower = design.theta_lower()
    # the criterion has size ~n and rounding noise ~1e-14 n: forward differences (step 1e-8) then
    # carry gradient noise of order 1e-6 n, and L-BFGS-B burned 140 evaluations in failing line
    # searches at 1M rows; central differences (step ~6e-6) and a gradient test scaled by n do not
    res = minimize_with_restart(objective, design.theta_start(), lower, max_iter=max_iter, tol=tol,
                                gtol=_GTOL_PER_ROW * n, jac="3-point")
    theta = np.where((lower == 0) & (np.abs(res.x) < 1e-8), 0.0, res.x)
    dev, fac, (ub, us, beta, r2) = parts(theta)
    sigma2 = r2 / nu
    # log-likelihood at the optimum (REML or ML criterion)
    loglik = -0.5 * dev
    cov = sigma2 * fac.fixed_cov_unscaled() if p else np.zeros((0, 0))
    sigma = float(np.sqrt(sigma2))

    def unprofiled(phi: np.ndarray) -> float:
        # -2 log L as a function of (sd_1, ..., sd_m, sigma), not profiled
        s = phi[-1]
        if s <= 0 or np.any(phi[:-1] < 0):
            return np.inf
        try:
            fac_ = design.factorize(blocks, phi[:-1] / s)
        except np.linalg.LinAlgError:
            return np.inf
        ub_, us_, beta_ = fac_.solve()
        r2_ = yty - float(fac_.rb @ ub_) - float(fac_.rr @ np.concatenate([us_, beta_]))
        out = fac_.logdet_l + nu * np.log(2 * np.pi * s * s) + r2_ / (s * s)
        return out + fac_.logdet_rx if reml else out

    phi = np.append(theta * sigma, sigma)
    diagonal = np.all(np.isfinite(lower)) and np.all(lower == 0)
    active = np.append((theta > 1e-3) & diagonal, True)
    sd_cov = wald_cov(unprofiled, phi, active) if sigma > 0 else np.full((len(phi),) * 2, np.nan)
    return LmmFit(theta, beta, cov, sigma, ub, us, float(dev), float(loglik),
                  bool(res.success), int(res.nit), str(res.message), fac, sd_cov)
