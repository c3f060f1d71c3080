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
from scipy.optimize import minimize

from ._design import CrossedDesign, Factorization

__all__ = ["LmmFit", "fit_lmm"]


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
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    res = minimize(objective, design.theta_start(), method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-7})
    theta = np.where(np.abs(res.x) < 1e-8, 0.0, res.x) if np.all(lower == 0) else res.x
    dev, fac, (ub, us, beta, r2) = parts(theta)
    sigma2 = r2 / nu
    # log-likelihood at the optimum (REML or ML criterion)
    loglik = -0.5 * dev
    cov = sigma2 * fac.fixed_cov_unscaled() if p else np.zeros((0, 0))
    return LmmFit(theta, beta, cov, float(np.sqrt(sigma2)), ub, us, float(dev), float(loglik),
                  bool(res.success), int(res.nit), str(res.message), fac)
