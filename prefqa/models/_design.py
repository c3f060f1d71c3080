"""Sparse crossed random-effects designs and their block factorization (private).

Notation follows lme4 (Bates et al. 2015, *J. Stat. Softw.* 67(1)): the
linear predictor is ``X beta + Z Lambda u`` with spherical ``u ~ N(0, s^2 I)``
and ``Lambda`` block diagonal, one lower-triangular ``k x k`` template
``T_f`` per grouping factor ``f`` repeated over its levels (``k`` = number of
terms of the factor, for example intercept and a length slope). Uncorrelated
terms (lme4's ``||``) make ``T_f`` diagonal.

Every fit here needs the factorization of the penalized normal equations::

    M = [[Lambda' Z' W Z Lambda + I,  Lambda' Z' W X],
         [X' W Z Lambda,              X' W X        ]]

There is no sparse Cholesky in scipy, so the structure is used instead. The
grouping factor with the most random columns ("big", e.g. prompts or responses) gets
its own block, which is block diagonal with ``k x k`` blocks (each row of data
touches one level of each factor) and is inverted level by level. The other
random columns (e.g. annotator intercepts and slopes) and the fixed effects
form a dense Schur complement ``S = C - B' D^{-1} B``, factored by dense
Cholesky. Log-determinants are exact: ``log|D| + log|S|``; the leading block
of the Cholesky factor of ``S`` is the Cholesky factor of the random-only
Schur complement, which gives ``log|L|^2`` (random part) and ``log|R_X|^2``
(fixed part) separately, as lme4 reports them. Cost per factorization is
``O(n)`` for the cross products (``np.bincount``) plus
``O((q_small + p)^3)`` for the dense part, where ``q_small`` counts the random
columns outside the big factor (the big one is chosen to make it smallest).
When the big factor has one column per level, ``B' D^{-1} B`` is accumulated
from index pairs precomputed once (``_mixed_schur.SchurPlan``) instead of a
general sparse product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp

from ._mixed_schur import SchurPlan

_DENSE_SCHUR_LIMIT = 20_000_000  # q_b * q_s^2 below this: dense product beats sparse overhead

__all__ = ["Blocks", "CrossedDesign", "Factor", "Factorization", "minimize_with_restart", "wald_cov"]


def wald_cov(deviance, x: np.ndarray, active: np.ndarray, rel_step: float = 0.01) -> np.ndarray:
    """Covariance ``2 H^{-1}`` of the ``active`` entries of ``x`` from a finite-difference Hessian.

    ``deviance`` is ``-2 log L``. Entries not active (on a boundary) get NaN
    rows and columns. Diagonal second derivatives are central differences,
    off-diagonal ones forward differences that reuse the diagonal points, so
    ``m`` active entries cost ``1 + 2 m + m (m - 1) / 2`` evaluations (10 for
    three SDs; the full central scheme needs ``1 + 2 m^2``).
    """
    x = np.asarray(x, dtype=np.float64)
    idx = np.flatnonzero(active)
    m = len(idx)
    out = np.full((len(x), len(x)), np.nan)
    if m == 0:
        return out
    h = rel_step * np.maximum(np.abs(x[idx]), 0.05)
    f0 = deviance(x)

    def f(steps: dict[int, float]) -> float:
        trial = x.copy()
        for i, s in steps.items():
            trial[idx[i]] += s
        return deviance(trial)

    plus = np.array([f({a: h[a]}) for a in range(m)])
    minus = np.array([f({a: -h[a]}) for a in range(m)])
    hess = np.diag((plus - 2 * f0 + minus) / h**2)
    for a in range(m):
        for b in range(a):
            v = (f({a: h[a], b: h[b]}) - plus[a] - plus[b] + f0) / (h[a] * h[b])
            hess[a, b] = hess[b, a] = v
    if not np.all(np.isfinite(hess)):
        return out
    try:
        cov = 2.0 * np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return out
    if np.any(np.diag(cov) <= 0):
        return out
    out[np.ix_(idx, idx)] = cov
    return out


def minimize_with_restart(fun, x0: np.ndarray, lower: np.ndarray, *, max_iter: int, tol: float,
                          scan_upper: float = 3.0, gtol: float = 1e-7, jac: str | None = None):
    """Bounded L-BFGS-B, with a line scan for SDs that end on the zero bound.

    The profiled criteria are even functions of each diagonal theta entry, so
    ``theta_j = 0`` is always a stationary point and a gradient method can stop
    there (its line search may jump to the bound) although a small positive
    variance fits better; lme4's derivative-free bobyqa escapes it. Each
    component that ends at zero is therefore scanned on ``[0, scan_upper]``
    with bounded Brent minimization (others fixed); if that improves the
    criterion, L-BFGS-B restarts from there.
    """
    from scipy.optimize import minimize, minimize_scalar

    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    opts = {"maxiter": max_iter, "ftol": tol, "gtol": gtol}
    res = minimize(fun, x0, method="L-BFGS-B", jac=jac, bounds=bounds, options=opts)
    n_iter = int(res.nit)
    x, best = res.x.copy(), float(res.fun)
    for j in np.flatnonzero((lower == 0) & (np.abs(res.x) < 1e-3)):
        def along(t: float, j: int = int(j)) -> float:
            trial = x.copy()
            trial[j] = t
            return fun(trial)

        scan = minimize_scalar(along, bounds=(0.0, scan_upper), method="bounded", options={"xatol": 1e-3})
        if scan.fun < best - 1e-8:
            x[j], best = scan.x, float(scan.fun)
    if best < res.fun:
        res2 = minimize(fun, x, method="L-BFGS-B", jac=jac, bounds=bounds, options=opts)
        n_iter += int(res2.nit)
        res = res2 if res2.fun <= best else res
    res.nit = n_iter
    return res


@dataclass(frozen=True, eq=False)
class Factor:
    """One grouping factor: level codes, labels, and the values of its terms."""

    name: str
    codes: np.ndarray  # (n,) int64 in [0, n_levels)
    labels: pd.Index
    terms: tuple[str, ...]  # "intercept" or a covariate name
    values: np.ndarray  # (k, n) float64, one row per term
    correlated: bool = False

    @property
    def n_levels(self) -> int:
        return len(self.labels)

    @property
    def k(self) -> int:
        return len(self.terms)

    @property
    def n_theta(self) -> int:
        return self.k * (self.k + 1) // 2 if self.correlated else self.k

    def theta_lower(self) -> np.ndarray:
        """Lower bounds of this factor's theta entries (0 on diagonals)."""
        if not self.correlated:
            return np.zeros(self.k)
        rows, cols = np.tril_indices(self.k)
        return np.where(rows == cols, 0.0, -np.inf)

    def theta_start(self) -> np.ndarray:
        if not self.correlated:
            return np.ones(self.k)
        rows, cols = np.tril_indices(self.k)
        return np.where(rows == cols, 1.0, 0.0)

    def template(self, theta: np.ndarray) -> np.ndarray:
        """Return the lower-triangular ``k x k`` template ``T`` from theta."""
        if not self.correlated:
            return np.diag(np.asarray(theta, dtype=np.float64))
        t = np.zeros((self.k, self.k))
        t[np.tril_indices(self.k)] = theta
        return t


@dataclass(eq=False)
class Blocks:
    """Weighted cross products ``[Z X]' W [Z X]`` and ``[Z X]' W z`` in block form."""

    d: np.ndarray  # (L, k, k) big-factor diagonal blocks
    bs: sp.csr_matrix  # (L*k, q_s) big x small random
    bx: np.ndarray  # (L*k, p) big x fixed
    c: np.ndarray  # (q_s + p, q_s + p) small random and fixed, dense
    rb: np.ndarray  # (L*k,)
    rr: np.ndarray  # (q_s + p,)


class CrossedDesign:
    """Fixed-effects matrix plus crossed grouping factors, with fast cross products.

    Parameters
    ----------
    x : ndarray, shape (n, p)
        Fixed-effects design.
    factors : list of Factor
        Grouping factors; the one with the most random columns becomes the big block.
    """

    def __init__(self, x: np.ndarray, factors: list[Factor]) -> None:
        self.x = np.ascontiguousarray(x, dtype=np.float64)
        self.n, self.p = self.x.shape
        self._xt = np.ascontiguousarray(self.x.T)  # fixed-effect columns, contiguous for the bincounts
        order = sorted(range(len(factors)), key=lambda i: -factors[i].n_levels * factors[i].k)
        self.factors = [factors[i] for i in order]
        self.big = self.factors[0]
        self.small = self.factors[1:]
        offsets, q = [], 0
        for f in self.small:
            offsets.append(q)
            q += f.n_levels * f.k
        self.small_offsets = offsets
        self.q_s = q
        self.q_b = self.big.n_levels * self.big.k
        # unique (level_i, level_j) pairs between factors, computed once
        self._pairs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for i in range(len(self.factors)):
            for j in range(i + 1, len(self.factors)):
                fi, fj = self.factors[i], self.factors[j]
                key = fi.codes * np.int64(fj.n_levels) + fj.codes
                uniq, inv = np.unique(key, return_inverse=True)
                self._pairs[(i, j)] = (uniq // fj.n_levels, uniq % fj.n_levels, inv.ravel())
        # fixed CSR pattern of the big x small block: COO entries in crossprod order -> CSR slots
        rows, cols = [], []
        for i_small, (f, off) in enumerate(zip(self.small, self.small_offsets), start=1):
            lb, lf, _ = self._pairs[(0, i_small)]
            for t in range(self.big.k):
                for s in range(f.k):
                    rows.append(lb * self.big.k + t)
                    cols.append(off + lf * f.k + s)
        if rows:
            r, c = np.concatenate(rows), np.concatenate(cols)
            pattern = sp.csr_matrix((np.arange(1, len(r) + 1, dtype=np.float64), (r, c)), shape=(self.q_b, self.q_s))
            pattern.sort_indices()
            self._bs_perm = pattern.data.astype(np.int64) - 1  # CSR slot -> COO entry
            self._bs_indices, self._bs_indptr = pattern.indices, pattern.indptr
            self._bs_rows = np.repeat(np.arange(self.q_b), np.diff(pattern.indptr))
        else:
            self._bs_perm = np.zeros(0, dtype=np.int64)
            self._bs_indices = np.zeros(0, dtype=np.int32)
            self._bs_indptr = np.zeros(self.q_b + 1, dtype=np.int32)
            self._bs_rows = np.zeros(0, dtype=np.int64)
        self._schur_plan: SchurPlan | None = None
        theta_sizes = [f.n_theta for f in self.factors]
        self.theta_slices = np.split(np.arange(sum(theta_sizes)), np.cumsum(theta_sizes)[:-1])

    # ------------------------------------------------------------ theta helpers
    @property
    def n_theta(self) -> int:
        return sum(f.n_theta for f in self.factors)

    def theta_lower(self) -> np.ndarray:
        return np.concatenate([f.theta_lower() for f in self.factors])

    def theta_start(self) -> np.ndarray:
        return np.concatenate([f.theta_start() for f in self.factors])

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        return [f.template(theta[s]) for f, s in zip(self.factors, self.theta_slices)]

    def _lambda_small(self, temps: list[np.ndarray]) -> sp.csr_matrix:
        mats = [sp.kron(sp.identity(f.n_levels, format="csr"), sp.csr_matrix(t), format="csr")
                for f, t in zip(self.small, temps[1:])]
        if not mats:
            return sp.csr_matrix((0, 0))
        return sp.block_diag(mats, format="csr")

    # ------------------------------------------------------------ linear predictor
    def z_lambda_u(self, theta: np.ndarray, u_big: np.ndarray, u_small: np.ndarray) -> np.ndarray:
        """Return ``Z Lambda u`` (length n) for spherical effects ``u``."""
        b_big, b_small = self.conditional_effects(theta, u_big, u_small)
        out = np.zeros(self.n)
        for f, b in zip(self.factors, [b_big, *b_small]):
            bl = b[f.codes]  # (n, k)
            for t in range(f.k):
                out += f.values[t] * bl[:, t]
        return out

    def conditional_effects(
        self, theta: np.ndarray, u_big: np.ndarray, u_small: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Return ``b = Lambda u`` per factor as ``(n_levels, k)`` arrays."""
        temps = self.templates(theta)
        b_big = u_big.reshape(self.big.n_levels, self.big.k) @ temps[0].T
        b_small = []
        for f, off, t in zip(self.small, self.small_offsets, temps[1:]):
            uf = u_small[off: off + f.n_levels * f.k].reshape(f.n_levels, f.k)
            b_small.append(uf @ t.T)
        return b_big, b_small

    # ------------------------------------------------------------ cross products
    def crossprod(self, w: np.ndarray, z: np.ndarray) -> Blocks:
        """Return the unscaled blocks of ``[Z X]' W [Z X]`` and ``[Z X]' W z``."""
        big, n_b, k_b = self.big, self.big.n_levels, self.big.k
        wv = [[w * v for v in f.values] for f in self.factors]  # weighted term values
        wz = w * z
        d = np.empty((n_b, k_b, k_b))
        for t in range(k_b):
            for s in range(t, k_b):
                d[:, t, s] = d[:, s, t] = np.bincount(big.codes, wv[0][t] * big.values[s], minlength=n_b)
        rb = np.empty(n_b * k_b)
        bx = np.empty((n_b * k_b, self.p))
        for t in range(k_b):
            rb[t::k_b] = np.bincount(big.codes, big.values[t] * wz, minlength=n_b)
            for j in range(self.p):
                bx[t::k_b, j] = np.bincount(big.codes, wv[0][t] * self._xt[j], minlength=n_b)
        m = self.q_s + self.p
        c = np.zeros((m, m))
        rr = np.empty(m)
        data_bs = []
        for fi, (f, off) in enumerate(zip(self.small, self.small_offsets), start=1):
            # big x small (sparse)
            lb, lf, inv = self._pairs[(0, fi)]
            for t in range(k_b):
                for s in range(f.k):
                    data_bs.append(np.bincount(inv, wv[0][t] * f.values[s], minlength=len(lb)))
            # within small factor, small x fixed, rhs
            base = off + np.arange(f.n_levels) * f.k
            for t in range(f.k):
                rr[base + t] = np.bincount(f.codes, f.values[t] * wz, minlength=f.n_levels)
                for s in range(t, f.k):
                    v = np.bincount(f.codes, wv[fi][t] * f.values[s], minlength=f.n_levels)
                    c[base + t, base + s] = v
                    c[base + s, base + t] = v
                for j in range(self.p):
                    v = np.bincount(f.codes, wv[fi][t] * self._xt[j], minlength=f.n_levels)
                    c[base + t, self.q_s + j] = v
                    c[self.q_s + j, base + t] = v
            # small x other small
            for fj in range(fi + 1, len(self.factors)):
                g, offg = self.factors[fj], self.small_offsets[fj - 1]
                li, lj, inv = self._pairs[(fi, fj)]
                for t in range(f.k):
                    for s in range(g.k):
                        v = np.bincount(inv, wv[fi][t] * g.values[s], minlength=len(li))
                        c[off + li * f.k + t, offg + lj * g.k + s] = v
                        c[offg + lj * g.k + s, off + li * f.k + t] = v
        xw = self.x * w[:, None]
        c[self.q_s:, self.q_s:] = xw.T @ self.x
        rr[self.q_s:] = self.x.T @ wz
        bs_data = np.concatenate(data_bs)[self._bs_perm] if data_bs else np.zeros(0)
        bs = self._csr(bs_data)
        return Blocks(d, bs, bx, c, rb, rr)

    def _csr(self, data: np.ndarray) -> sp.csr_matrix:
        """A big x small matrix on the fixed pattern (no index checks, no copies)."""
        m = sp.csr_matrix((self.q_b, self.q_s))
        m.data, m.indices, m.indptr = data, self._bs_indices, self._bs_indptr
        return m

    # ------------------------------------------------------------ factorization
    def factorize(self, blocks: Blocks, theta: np.ndarray) -> Factorization:
        """Scale the blocks by ``Lambda(theta)``, add ``I`` and factor ``M``."""
        temps = self.templates(theta)
        tb = temps[0]
        k_b, n_b = self.big.k, self.big.n_levels
        d = np.einsum("ts,lsu,uv->ltv", tb.T, blocks.d, tb) + np.eye(k_b)
        diagonal = all(not f.correlated for f in self.factors)
        if diagonal:
            lam_b_vec = np.tile(np.diag(tb), n_b)
            lam_s_vec = np.concatenate([np.tile(np.diag(t), f.n_levels) for f, t in zip(self.small, temps[1:])]
                                       or [np.zeros(0)])
            bs = self._csr(blocks.bs.data * lam_b_vec[self._bs_rows] * lam_s_vec[self._bs_indices])
        else:
            lam_b = sp.kron(sp.identity(n_b, format="csr"), sp.csr_matrix(tb), format="csr")
            lam_s = self._lambda_small(temps)
            bs = (lam_b.T @ blocks.bs @ lam_s).tocsr() if self.q_s else sp.csr_matrix((self.q_b, 0))
        bx = (blocks.bx.reshape(n_b, k_b, self.p).transpose(0, 2, 1) @ tb).transpose(0, 2, 1).reshape(-1, self.p)
        rb = (blocks.rb.reshape(n_b, k_b) @ tb).ravel()
        q_s = self.q_s
        c = blocks.c.copy()
        rr = blocks.rr.copy()
        if q_s and diagonal:
            c[:q_s, :] *= lam_s_vec[:, None]
            c[:, :q_s] *= lam_s_vec[None, :]
            c[np.arange(q_s), np.arange(q_s)] += 1.0
            rr[:q_s] *= lam_s_vec
        elif q_s:
            top = np.asarray(lam_s.T @ c[:q_s, :])  # (q_s, m)
            c[:q_s, :] = top
            c[:, :q_s] = np.asarray((lam_s.T @ c[:, :q_s].T).T)
            c[:q_s, :q_s] += np.eye(q_s)
            rr[:q_s] = lam_s.T @ rr[:q_s]
        fast = self.big.k == 1 and diagonal
        return Factorization(d, bs, bx, c, rb, rr, q_s, self.p, self._bs_rows if fast else None,
                             self.schur_plan() if fast and self.q_b * q_s * q_s > _DENSE_SCHUR_LIMIT else None)

    def schur_plan(self) -> SchurPlan:
        """Index pairs for the fast ``B' D^{-1} B`` (``_mixed_schur``), built once on first use."""
        if self._schur_plan is None:
            if len(self.small) == 1:
                f = self.small[0]
                _, cell_small, _ = self._pairs[(0, 1)]
                self._schur_plan = SchurPlan(self._bs_indptr, self._bs_indices, self.q_s, cell_small,
                                             f.n_levels, f.k)
            else:
                self._schur_plan = SchurPlan(self._bs_indptr, self._bs_indices, self.q_s)
        return self._schur_plan


def _block_diag_csr(blocks: np.ndarray) -> sp.csr_matrix:
    """CSR matrix with the ``(L, k, k)`` array ``blocks`` on its diagonal (vectorized)."""
    n, k, _ = blocks.shape
    indptr = np.arange(0, n * k * k + 1, k, dtype=np.int64)
    indices = (np.arange(n)[:, None, None] * k + np.zeros((1, k, 1), dtype=np.int64)
               + np.arange(k)[None, None, :]).ravel()
    return sp.csr_matrix((blocks.reshape(-1).astype(np.float64), indices, indptr), shape=(n * k, n * k))


class Factorization:
    """Block factorization of ``M`` (see the module notes) with solves and log-determinants."""

    def __init__(self, d: np.ndarray, bs: sp.csr_matrix, bx: np.ndarray, c: np.ndarray,
                 rb: np.ndarray, rr: np.ndarray, q_s: int, p: int, bs_rows: np.ndarray | None = None,
                 schur_plan: SchurPlan | None = None) -> None:
        self.k = d.shape[1]
        self.rb, self.rr = rb, rr
        self.q_s, self.p = q_s, p
        if self.k == 1:
            self.dinv = 1.0 / d
            self.logdet_d = float(np.sum(np.log(d)))
        else:
            self.dinv = np.linalg.inv(d)
            self.logdet_d = float(np.sum(np.linalg.slogdet(d)[1]))
        n_b = d.shape[0]
        self._dinv_mat: sp.csr_matrix | None = None
        self.bs, self.bx = bs, bx
        if bs_rows is not None:  # k == 1 on a fixed pattern: D^{-1} B is a row scaling of the data
            self.gs = sp.csr_matrix(bs.shape)
            self.gs.data = bs.data * self.dinv.ravel()[bs_rows]
            self.gs.indices, self.gs.indptr = bs.indices, bs.indptr
        else:
            self.gs = (self.dinv_mat @ bs).tocsr()
        self.gx = self.dinv.reshape(n_b, 1) * bx if self.k == 1 else np.asarray(self.dinv_mat @ bx)
        s = c.copy()
        if q_s and schur_plan is not None:
            s[:q_s, :q_s] -= schur_plan.product(bs.data * np.sqrt(self.dinv.ravel())[bs_rows])
        elif q_s and bs.shape[0] * q_s * q_s <= _DENSE_SCHUR_LIMIT:
            s[:q_s, :q_s] -= bs.T @ self.gs.toarray()
        elif q_s:
            s[:q_s, :q_s] -= (bs.T @ self.gs).toarray()
        if q_s:
            cross = np.asarray(bs.T @ self.gx)
            s[:q_s, q_s:] -= cross
            s[q_s:, :q_s] -= cross.T
        s[q_s:, q_s:] -= bx.T @ self.gx
        self.n_big = n_b
        if s.shape[0]:
            self.chol = sla.cholesky(s, lower=True, check_finite=False)
            diag = np.log(np.diag(self.chol))
        else:
            self.chol = np.zeros((0, 0))
            diag = np.zeros(0)
        self.logdet_s_random = 2.0 * float(np.sum(diag[:q_s]))
        self.logdet_rx = 2.0 * float(np.sum(diag[q_s:]))

    @property
    def dinv_mat(self) -> sp.csr_matrix:
        """``D^{-1}`` as a sparse block-diagonal matrix (built on first use)."""
        if self._dinv_mat is None:
            self._dinv_mat = _block_diag_csr(self.dinv)
        return self._dinv_mat

    @property
    def logdet_l(self) -> float:
        """``log|L|^2``: log-determinant of ``Lambda' Z' W Z Lambda + I``."""
        return self.logdet_d + self.logdet_s_random

    def solve(self, rb: np.ndarray | None = None, rr: np.ndarray | None = None, *,
              random_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Solve ``M x = r`` (or its random-only block); return ``(u_big, u_small, beta)``."""
        rb = self.rb if rb is None else rb
        rr = self.rr if rr is None else rr
        q_s = self.q_s
        m = q_s if random_only else q_s + self.p
        rr = rr[:m]
        dinv_rb = self.dinv.ravel() * rb if self.k == 1 else self.dinv_mat @ rb
        rhs = rr.copy()
        rhs[:q_s] -= self.bs.T @ dinv_rb
        if not random_only:
            rhs[q_s:] -= self.bx.T @ dinv_rb
        if m:
            ch = self.chol[:m, :m]
            y = sla.solve_triangular(ch, rhs, lower=True, check_finite=False)
            sol = sla.solve_triangular(ch, y, lower=True, trans="T", check_finite=False)
        else:
            sol = np.zeros(0)
        ub = dinv_rb - self.gs @ sol[:q_s]
        if not random_only:
            ub = ub - self.gx @ sol[q_s:]
        beta = sol[q_s:] if not random_only else np.zeros(0)
        return ub, sol[:q_s], beta

    def fixed_cov_unscaled(self) -> np.ndarray:
        """``(R_X' R_X)^{-1}``: unscaled covariance of the fixed effects."""
        rx = self.chol[self.q_s:, self.q_s:]
        inv = sla.solve_triangular(rx, np.eye(self.p), lower=True, check_finite=False)
        return inv.T @ inv

    def random_cov_blocks(self, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Per-level ``k x k`` blocks of ``A^{-1}`` (random part only, ``beta`` known).

        Returns ``(big_blocks (L, k, k), small_inverse (q_s, q_s))``; the blocks of
        the conditional covariance of ``b`` are ``T A^{-1} T'`` (times ``s^2``).
        """
        q_s, k = self.q_s, self.k
        if q_s:
            ch = self.chol[:q_s, :q_s]
            inv_l = sla.solve_triangular(ch, np.eye(q_s), lower=True, check_finite=False)
            s_inv = inv_l.T @ inv_l
        else:
            s_inv = np.zeros((0, 0))
        blocks = np.array(self.dinv, dtype=np.float64).reshape(self.n_big, k, k).copy()
        if q_s:
            gs = self.gs
            rows_per = max(1, chunk // k) * k
            for start in range(0, gs.shape[0], rows_per):
                g = gs[start: start + rows_per]
                h = np.asarray(g @ s_inv)  # dense (rows, q_s)
                gd = g.toarray()
                lv = np.arange(start, start + g.shape[0]) // k
                for t in range(k):
                    for s in range(k):
                        vals = np.einsum("ij,ij->i", h[t::k], gd[s::k])
                        blocks[lv[t::k], t, s] += vals
        return blocks, s_inv
