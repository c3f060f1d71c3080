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
from scipy.special import expit

from ._bt_blas import single_threaded_blas
from ._design import CrossedDesign, Factor, Factorization, minimize_with_restart, wald_cov

__all__ = ["GlmmFit", "fit_glmm"]

_EPS = 1e-12
_SUBSAMPLE_ROWS = 100_000  # above twice this, starting values come from a subsample this size


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
        self.n_runs = 0
        self.n_factorizations = 0

    def eta(self, theta: np.ndarray, st: _State) -> np.ndarray:
        return self.d.x @ st.beta + self.d.z_lambda_u(theta, st.u_big, st.u_small)

    def run(self, theta: np.ndarray, st: _State, *, joint: bool) -> tuple[float, _State, Factorization]:
        """Iterate to the mode; return (Laplace deviance, mode, factorization at the mode)."""
        d, y, wt = self.d, self.y, self.wt
        self.n_runs += 1
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
            self.n_factorizations += 1
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


def _subset(design: CrossedDesign, rows: np.ndarray) -> CrossedDesign:
    """The same design on a subset of rows (every level kept, so effects keep their shapes)."""
    factors = [Factor(f.name, f.codes[rows], f.labels, f.terms, f.values[:, rows], f.correlated)
               for f in design.factors]
    return CrossedDesign(design.x[rows], factors)


def _theta_stage(design: CrossedDesign, pirls: _Pirls, theta0: np.ndarray, st0: _State, max_iter: int,
                 tol: float):
    """nAGQ = 0: optimize theta only; beta and u come from the joint PIRLS, warm-started."""
    cache = {"st": st0}

    def obj_theta(theta: np.ndarray) -> float:
        try:
            dev, new, _ = pirls.run(theta, cache["st"], joint=True)
        except np.linalg.LinAlgError:
            return np.inf
        cache["st"] = new
        return dev

    res = minimize_with_restart(obj_theta, theta0, design.theta_lower(), max_iter=max_iter, tol=tol)
    return res, cache["st"]


def _beta_newton(pirls: _Pirls, theta: np.ndarray, st: _State, dev: float, hess: np.ndarray,
                 max_steps: int = 4) -> tuple[float, _State, int]:
    """nAGQ = 1 refinement of beta at fixed theta by Newton steps on the Laplace deviance.

    The Hessian is ``2 R_X' R_X`` (exact for the penalized deviance, which
    dominates; the log-determinant's curvature is ignored). The gradient is
    a forward difference per fixed effect, corrected by ``H_jj h / 2``, each
    point a u-only PIRLS warm-started at the current mode. Steps are halved
    when the deviance does not decrease.
    """
    p = len(st.beta)
    se = np.sqrt(np.clip(np.diag(np.linalg.inv(hess)), 1e-12, None))
    n_steps = 0
    for n_steps in range(1, max_steps + 1):
        h = 1e-3 * se
        grad = np.empty(p)
        for j in range(p):
            beta_j = st.beta.copy()
            beta_j[j] += h[j]
            dev_j = pirls.run(theta, _State(st.u_big, st.u_small, beta_j), joint=False)[0]
            grad[j] = (dev_j - dev) / h[j] - hess[j, j] * h[j] / 2
        delta = -np.linalg.solve(hess, grad)
        step = 1.0
        for _half in range(10):
            trial = _State(st.u_big, st.u_small, st.beta + step * delta)
            dev_t, new, _ = pirls.run(theta, trial, joint=False)
            if dev_t <= dev + 1e-9 * (1 + abs(dev)):
                break
            step /= 2
        else:
            break
        st, dev = new, dev_t
        if np.max(np.abs(step * delta) / se) < 1e-3:
            break
    return dev, st, n_steps


def _fit_glmm(design: CrossedDesign, y: np.ndarray, wt: np.ndarray | None = None, *, method: str = "laplace",
              max_iter: int = 500, tol: float = 1e-8, pirls_tol: float = 1e-11, sd_ci: bool = True,
              subsample: int = _SUBSAMPLE_ROWS) -> GlmmFit:
    """Fit the logistic crossed model; see the module notes for the stages."""
    y = np.asarray(y, dtype=np.float64)
    wt = np.ones_like(y) if wt is None else np.asarray(wt, dtype=np.float64)
    pirls = _Pirls(design, y, wt, pirls_tol, 50)
    st = _State(np.zeros(design.q_b), np.zeros(design.q_s), np.zeros(design.p))
    lower = design.theta_lower()
    theta0 = design.theta_start()
    n_iter = 0
    if subsample and design.n > 2 * subsample:
        # starting values from a random subsample: most outer iterations then run on it
        rows = np.sort(np.random.default_rng(0).choice(design.n, subsample, replace=False))
        sub = _Pirls(_subset(design, rows), y[rows], wt[rows], 1e-9, 50)
        res0, st = _theta_stage(sub.d, sub, theta0, st, max_iter, 1e-6)
        theta0 = np.where(lower == 0, np.maximum(res0.x, 0.05), res0.x)
        n_iter += int(res0.nit)
    res, st = _theta_stage(design, pirls, theta0, st, max_iter, tol)
    theta = res.x
    dev, st, fac = pirls.run(theta, st, joint=True)
    n_iter += int(res.nit)
    converged, message = bool(res.success), str(res.message)
    if method == "laplace" and design.p:
        hess = 2.0 * np.linalg.inv(fac.fixed_cov_unscaled())
        dev_l, st_l, steps = _beta_newton(pirls, theta, st, pirls.run(theta, st, joint=False)[0], hess)
        dev, st = dev_l, st_l
        n_iter += steps
        # covariance of beta from the joint system at the final point
        mu = expit(pirls.eta(theta, st))
        w = wt * np.clip(mu * (1 - mu), _EPS, None)
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
