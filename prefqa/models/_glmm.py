"""Logistic mixed model with crossed random effects, Laplace approximation (private).

Algorithm
---------
* Penalized IRLS (PIRLS, Bates et al. 2015): for fixed ``theta`` the mode of
  ``u`` minimizes the penalized deviance ``sum dev_i(y, mu) + ||u||^2`` with
  ``logit(mu) = X beta + Z Lambda u``. Each Newton step solves the weighted
  penalized normal equations with the block factorization of ``_design``
  (cross products by ``np.bincount``, ``O(n)`` per step); steps are halved
  when the penalized deviance does not decrease.
* Laplace deviance: ``sum dev_i + ||u||^2 + log|L|^2`` at the mode, with
  ``L L' = Lambda' Z' W Z Lambda + I``. This is glmer's ``nAGQ = 1``
  criterion (identical to lme4's for 0/1 responses).
* Stage 1 (``nAGQ = 0`` in lme4 terms): ``beta`` is estimated jointly with
  ``u`` inside PIRLS and only ``theta`` is optimized outside (bounded
  L-BFGS-B, finite differences).
* Stage 2 (``nAGQ = 1``, the default ``method="laplace"``): starting from
  stage 1, ``(theta, beta)`` are optimized together on the Laplace deviance
  with ``u`` from PIRLS at each point, as glmer's default does.

Fixed-effect standard errors come from ``(R_X' R_X)^{-1}`` of the joint
PIRLS system at the optimum (glmer's ``use.hessian = FALSE`` variant; glmer's
default finite-difference Hessian also accounts for the dependence between
``theta`` and ``beta`` and gives slightly larger SEs when they interact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from ._bt_blas import single_threaded_blas
from ._design import CrossedDesign, Factorization, minimize_with_restart, wald_cov

__all__ = ["GlmmFit", "fit_glmm"]

_EPS = 1e-12


def _deviance(y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> float:
    """Binomial deviance ``2 sum wt [y log(y/mu) + (1-y) log((1-y)/(1-mu))]``."""
    mu = np.clip(mu, _EPS, 1 - _EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
        t2 = np.where(y < 1, (1 - y) * np.log(np.where(y < 1, 1 - y, 1.0) / (1 - mu)), 0.0)
    return float(2.0 * np.sum(wt * (t1 + t2)))


@dataclass(eq=False)
class _State:
    u_big: np.ndarray
    u_small: np.ndarray
    beta: np.ndarray


@dataclass(eq=False)
class GlmmFit:
    theta: np.ndarray
    beta: np.ndarray
    beta_cov: np.ndarray
    u_big: np.ndarray
    u_small: np.ndarray
    deviance: float  # Laplace approximation of -2 log-likelihood
    loglik: float
    converged: bool
    n_iter: int
    message: str
    method: str
    factorization: Factorization
    sd_cov: np.ndarray  # Wald covariance of theta (the SDs); NaN where unavailable


class _Pirls:
    def __init__(self, design: CrossedDesign, y: np.ndarray, wt: np.ndarray, tol: float, max_iter: int) -> None:
        self.d, self.y, self.wt, self.tol, self.max_iter = design, y, wt, tol, max_iter
        self.n_fail = 0

    def eta(self, theta: np.ndarray, st: _State) -> np.ndarray:
        return self.d.x @ st.beta + self.d.z_lambda_u(theta, st.u_big, st.u_small)

    def run(self, theta: np.ndarray, st: _State, *, joint: bool) -> tuple[float, _State, Factorization]:
        """Iterate to the mode; return (Laplace deviance, mode, factorization at the mode)."""
        d, y, wt = self.d, self.y, self.wt
        eta = self.eta(theta, st)
        mu = expit(eta)
        pdev = _deviance(y, mu, wt) + float(st.u_big @ st.u_big + st.u_small @ st.u_small)
        change = np.inf
        for it in range(self.max_iter + 1):
            w = wt * np.clip(mu * (1 - mu), _EPS, None)
            z = eta + (y - mu) * wt / w  # working response
            if not joint:
                z = z - d.x @ st.beta
            fac = d.factorize(d.crossprod(w, z), theta)  # weights at the current point
            if change < self.tol * (1 + abs(pdev)) or it == self.max_iter:
                break  # fac is the factorization at the mode
            ub, us, beta = fac.solve(random_only=not joint)
            new = _State(ub, us, beta if joint else st.beta)
            step = 1.0
            for _half in range(20):
                trial = _State(st.u_big + step * (new.u_big - st.u_big),
                               st.u_small + step * (new.u_small - st.u_small),
                               st.beta + step * (new.beta - st.beta))
                eta_t = self.eta(theta, trial)
                mu_t = expit(eta_t)
                pdev_t = _deviance(y, mu_t, wt) + float(trial.u_big @ trial.u_big + trial.u_small @ trial.u_small)
                if pdev_t <= pdev + 1e-10 * (1 + abs(pdev)):
                    break
                step /= 2
            change = abs(pdev - pdev_t)
            st, eta, mu, pdev = trial, eta_t, mu_t, pdev_t
        if change >= self.tol * (1 + abs(pdev)):
            self.n_fail += 1
        return pdev + fac.logdet_l, st, fac


def fit_glmm(*args, **kwargs) -> GlmmFit:
    """Run :func:`_fit_glmm` with OpenBLAS limited to one thread.

    The dense parts are small (annotator-sized); on a busy 2-core machine
    OpenBLAS worker threads wait for a core far longer than they compute
    (a 606 x 606 Cholesky measured 530 ms threaded against 11 ms single).
    """
    with single_threaded_blas():
        return _fit_glmm(*args, **kwargs)


def _fit_glmm(design: CrossedDesign, y: np.ndarray, wt: np.ndarray | None = None, *, method: str = "laplace",
             max_iter: int = 500, tol: float = 1e-8, pirls_tol: float = 1e-11, sd_ci: bool = True) -> GlmmFit:
    """Fit the logistic crossed model; see the module notes for the two stages."""
    y = np.asarray(y, dtype=np.float64)
    wt = np.ones_like(y) if wt is None else np.asarray(wt, dtype=np.float64)
    pirls = _Pirls(design, y, wt, pirls_tol, 50)
    st = _State(np.zeros(design.q_b), np.zeros(design.q_s), np.zeros(design.p))
    lower = design.theta_lower()
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    cache: dict[str, _State] = {"st": st}

    def obj_theta(theta: np.ndarray) -> float:
        try:
            dev, new, _ = pirls.run(theta, cache["st"], joint=True)
        except np.linalg.LinAlgError:
            return np.inf
        cache["st"] = new
        return dev

    res = minimize_with_restart(obj_theta, design.theta_start(), lower, max_iter=max_iter, tol=tol)
    theta = res.x
    dev, st, fac = pirls.run(theta, cache["st"], joint=True)
    n_iter, converged, message = int(res.nit), bool(res.success), str(res.message)
    if method == "laplace" and design.p:
        nt = design.n_theta
        cache["st"] = st

        def obj_full(par: np.ndarray) -> float:
            s0 = cache["st"]
            try:
                dev_, new, _ = pirls.run(par[:nt], _State(s0.u_big, s0.u_small, par[nt:]), joint=False)
            except np.linalg.LinAlgError:
                return np.inf
            cache["st"] = new
            return dev_

        res2 = minimize(obj_full, np.concatenate([theta, st.beta]), method="L-BFGS-B",
                        bounds=bounds + [(None, None)] * design.p,
                        options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-6})
        if res2.fun <= dev:
            theta = res2.x[:nt]
            s0 = cache["st"]
            dev, st, _ = pirls.run(theta, _State(s0.u_big, s0.u_small, res2.x[nt:]), joint=False)
        n_iter += int(res2.nit)
        converged = converged and bool(res2.success)
        message = str(res2.message)
        # covariance of beta from the joint system at the final point
        w = wt * np.clip(expit(pirls.eta(theta, st)) * (1 - expit(pirls.eta(theta, st))), _EPS, None)
        fac = design.factorize(design.crossprod(w, np.zeros_like(y)), theta)
    theta = np.where((lower == 0) & (np.abs(theta) < 1e-8), 0.0, theta)
    cov = fac.fixed_cov_unscaled() if design.p else np.zeros((0, 0))
    converged = converged and pirls.n_fail == 0
    diagonal = bool(np.all(lower == 0))
    mode = st

    def profiled(th: np.ndarray) -> float:
        if np.any(th < 0):
            return np.inf
        return pirls.run(th, mode, joint=True)[0]

    sd_cov = wald_cov(profiled, theta, (theta > 1e-3) & diagonal) if sd_ci else np.full((len(theta),) * 2, np.nan)
    return GlmmFit(theta, st.beta, cov, st.u_big, st.u_small, float(dev), -0.5 * float(dev), converged,
                   n_iter, message, method, fac, sd_cov)
