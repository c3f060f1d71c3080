"""Shared steps of the Bradley-Terry fit: the graph check, the intervals from a design, the result.

Both fits of :func:`prefqa.fit_bradley_terry` end here: the per-judgment one
(continuous covariates) and the one on design cells and cluster patterns
(:mod:`prefqa.models._bt_cells`), which runs unchanged on engine data.
"""

from __future__ import annotations

import warnings as _warnings

import numpy as np
import pandas as pd
from scipy import stats

from .._types import RngLike, as_generator
from ..errors import ConvergenceWarning, InsufficientDataError
from . import _bt_boot as boot
from . import _bt_cluster as clus
from . import _bt_fit as core
from ._bt_result import BradleyTerryResult, rank_table

__all__ = ["MAX_DENSE_PARAMS", "CellClusters", "JudgmentClusters", "build_result", "finish", "graph_check"]


def graph_check(design: core.Design, labels: pd.Index, regularization: float) -> list[str]:
    weak, strong = core.components(design.i, design.j, design.n_items, design.counts, design.ties)
    if regularization > 0:
        return []
    if weak.max() > 0:
        sizes = np.bincount(weak)
        order = np.argsort(-sizes)[:5]
        parts = "; ".join(
            f"component {n + 1} ({sizes[c]} items): {list(labels[weak == c][:5])}"
            + (" ..." if sizes[c] > 5 else "") for n, c in enumerate(order))
        raise InsufficientDataError(
            f"the comparison graph is disconnected into {len(sizes)} components, so their scores are "
            f"not comparable: {parts}. Fix: add comparisons that link the components, fit each "
            "component separately with data.subset(...), or pass `regularization` > 0 (e.g. 0.01).")
    if strong.max() > 0:
        sizes = np.bincount(strong)
        small = np.argsort(sizes)[:3]
        examples = "; ".join(str(list(labels[strong == c][:5])) for c in small)
        return [f"the maximum-likelihood estimate does not exist: the items split into {len(sizes)} "
                f"groups where one group never lost to another (for example {examples}); their scores "
                "drift to +/- infinity. Pass `regularization` > 0 (e.g. 0.01) or collect more comparisons."]
    return []



def build_result(n_judgments, design, fit, labels, names, cov, draws, over, ties, ci, reg, cov_reg,
            level, n_resamples, converged, notes, n_used, dropped,
            all_names, cluster) -> BradleyTerryResult:
    k, p = design.n_items, design.n_cov
    theta = fit.theta
    zq = stats.norm.ppf(0.5 + level / 2.0)
    n_par = design.n_params
    if cov is not None:
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        if draws is not None:
            tail = (1.0 - level) / 2.0
            low, high = np.quantile(draws, [tail, 1.0 - tail], axis=0)
        else:
            low, high = theta - zq * se, theta + zq * se
    else:
        se = low = high = np.full(n_par, np.nan)
    est = theta[:k]
    rank, rank_low, rank_high = rank_table(est, low[:k], high[:k])
    # per-item counts from the design rows (each row: i won, j won, tie), the same for compressed rows
    c0, c1, c2 = design.counts[:, 0], design.counts[:, 1], design.counts[:, 2]
    tot = c0 + c1 + c2

    def per_item(on_i: np.ndarray, on_j: np.ndarray) -> np.ndarray:
        return np.rint(np.bincount(design.i, on_i, k) + np.bincount(design.j, on_j, k)).astype(np.int64)
    scores = pd.DataFrame({
        "estimate": est, "std_error": se[:k], "ci_low": low[:k], "ci_high": high[:k],
        "rank": rank, "rank_low": rank_low, "rank_high": rank_high,
        "n": per_item(tot, tot), "wins": per_item(c0, c1), "losses": per_item(c1, c0), "ties": per_item(c2, c2),
    }, index=labels).sort_values(["rank", "estimate"], kind="stable")
    b = slice(k, k + p)
    zval = theta[b] / se[b]
    coefficients = pd.DataFrame({
        "estimate": theta[b], "std_error": se[b], "ci_low": low[b], "ci_high": high[b],
        "p_value": 2.0 * stats.norm.sf(np.abs(zval)), "reason": "",
    }, index=pd.Index(names, name="term")).reindex(pd.Index(all_names, name="term"))
    coefficients["reason"] = [dropped.get(name, "") for name in all_names]
    davidson = design.davidson
    tie_parameter = float(np.exp(theta[-1])) if davidson else (0.0 if ties == "davidson" else np.nan)
    cov_frame = None
    if cov is not None:
        idx = list(labels) + names + (["log_tie_parameter"] if davidson else [])
        cov_frame = pd.DataFrame(cov, index=idx, columns=idx)
    return BradleyTerryResult(
        scores=scores, coefficients=coefficients, tie_parameter=tie_parameter, covariance=cov_frame,
        over=over, ties=ties, ci=ci, cluster=cluster, se_method=clus.se_method(ci, cluster),
        regularization=reg, covariate_regularization=cov_reg,
        confidence_level=level, n_resamples=n_resamples, n_judgments=int(n_used), n_items=k,
        n_dropped=int(n_judgments - n_used), log_likelihood=fit.log_likelihood,
        converged=bool(converged), n_iter=fit.n_iter, warnings=tuple(notes),
    )


MAX_DENSE_PARAMS = 3000  # dense covariance beyond this is too slow/large; CIs are skipped


class JudgmentClusters:
    """Cluster-robust pieces from per-judgment cluster codes (the per-judgment fit)."""

    def __init__(self, codes: clus.ClusterCodes, rows: np.ndarray | None, outcome: np.ndarray, ia: np.ndarray,
                 ib: np.ndarray) -> None:
        self.codes, self.rows, self.outcome, self.ia, self.ib = codes, rows, outcome, ia, ib

    @property
    def counts(self) -> clus.ClusterCodes:
        return self.codes

    def meat(self, design: core.Design, theta: np.ndarray, cluster: str) -> tuple[np.ndarray, list[str]]:
        return clus.meat(design, theta, self.rows, self.outcome, self.codes, cluster, self.ia, self.ib)

    def choose(self, design: core.Design, theta: np.ndarray, h: np.ndarray, identified: bool
               ) -> tuple[str, list[str]]:
        return clus.choose_bootstrap(design, theta, self.rows, self.outcome, self.codes, self.ia, self.ib, h,
                                     identified)

    def bootstrap(self, design: core.Design, theta: np.ndarray, cluster: str, n_resamples: int,
                  rng: np.random.Generator, **options: float) -> tuple[np.ndarray, int, int]:
        c = self.codes
        groups, n_groups = {"comparison": (c.comparison, c.n_comparisons),
                            "annotator": (c.annotator, c.n_annotator_clusters),
                            "none": (np.arange(len(self.outcome)), len(self.outcome))}[cluster]
        return boot.cluster_bootstrap(design, theta, self.rows, self.outcome, groups, n_groups, n_resamples, rng,
                                      **options)  # type: ignore[arg-type]


class CellClusters:
    """Cluster-robust pieces from design cells and cluster patterns.

    The cells come from :func:`~prefqa.engine.reductions.pairs_bt.bt_cells`.
    """

    def __init__(self, cells: object) -> None:
        self.cells = cells

    @property
    def counts(self) -> object:
        return self.cells

    def meat(self, design: core.Design, theta: np.ndarray, cluster: str) -> tuple[np.ndarray, list[str]]:
        return clus.meat_from_cells(design, theta, self.cells, cluster)

    def choose(self, design: core.Design, theta: np.ndarray, h: np.ndarray, identified: bool
               ) -> tuple[str, list[str]]:
        return clus.choose_bootstrap_cells(design, theta, self.cells, h, identified)

    def bootstrap(self, design: core.Design, theta: np.ndarray, cluster: str, n_resamples: int,
                  rng: np.random.Generator, **options: float) -> tuple[np.ndarray, int, int]:
        pat, mult = self.cells.patterns(cluster)  # type: ignore[attr-defined]
        n_clusters = self.cells.n_clusters(cluster)  # type: ignore[attr-defined]
        return boot.pattern_bootstrap(design, theta, pat, mult, n_clusters, n_resamples, rng,
                                      **options)  # type: ignore[arg-type]


def finish(n_judgments: int, n_used: int, design: core.Design, plain: core.Design, compress: bool,
           labels: pd.Index, names: list[str], all_names: list[str], dropped: dict[str, str], notes: list[str],
           clusters: JudgmentClusters | CellClusters | None, *, over: str, ties: str, ci: str | None, cluster: str,
           regularization: float, covariate_regularization: float, n_resamples: int, confidence_level: float,
           rng: RngLike, max_iter: int, tol: float) -> BradleyTerryResult:
    """Fit the design, compute the intervals the options ask for, and build the result."""
    k = design.n_items
    mle_warning = graph_check(plain, labels, regularization)
    x0 = None
    if not compress and not mle_warning:
        # warm start: strengths (and tie parameter) from the compressed fit without covariates
        pre = core.fit_design(plain, regularization=regularization, covariate_regularization=0.0,
                              max_iter=max_iter, tol=tol)
        x0 = np.concatenate([pre.theta[:k], np.zeros(design.n_cov), pre.theta[k:]])
    fit = core.fit_design(design, regularization=regularization,
                          covariate_regularization=covariate_regularization, max_iter=max_iter, tol=tol,
                          x0=x0)
    converged = fit.converged and not mle_warning
    if mle_warning:
        notes.extend(mle_warning)
    if not fit.converged:
        notes.append(f"L-BFGS stopped after {fit.n_iter} iterations with largest gradient "
                     f"{fit.max_gradient:.2e} > tol={tol:g} ({fit.message}); raise `max_iter` or add "
                     "`regularization`.")
    if not converged:
        _warnings.warn(" ".join(notes[-1:]), ConvergenceWarning, stacklevel=4)
    identified = regularization > 0
    cov = draws = None
    used_cluster: str | None = None
    if ci is not None and design.n_params > MAX_DENSE_PARAMS:
        notes.append(f"confidence intervals skipped: {design.n_params} parameters exceed the dense "
                     f"limit of {MAX_DENSE_PARAMS}; use over='model' or ci=None.")
        ci = None
    elif ci == "fisher":
        used_cluster = "none"
        h = core.information(design, fit.theta, regularization=regularization,
                             covariate_regularization=covariate_regularization)
        cov, extra = core.covariance(h, k, identified)
        notes.extend(extra)
    elif ci in ("sandwich", "bootstrap"):
        assert clusters is not None  # for mypy: built whenever ci needs clusters
        used_cluster, extra = clus.resolve(cluster, ci, clusters.counts)  # type: ignore[arg-type]
        notes.extend(extra)
        if ci == "sandwich" or used_cluster == "auto":
            h = core.information(design, fit.theta, regularization=regularization,
                                 covariate_regularization=covariate_regularization)
        if ci == "sandwich":
            meat, extra = clusters.meat(design, fit.theta, used_cluster)
            notes.extend(extra)
            cov, extra = core.covariance(h, k, identified, meat)
            notes.extend(extra)
        else:
            if used_cluster == "auto":
                used_cluster, extra = clusters.choose(design, fit.theta, h, identified)
                notes.extend(extra)
            draws, failed, _ = clusters.bootstrap(
                design, fit.theta, used_cluster, n_resamples, as_generator(rng),
                regularization=regularization, covariate_regularization=covariate_regularization,
                max_iter=max_iter, tol=tol)
            if not identified:
                draws[:, :k] -= draws[:, :k].mean(axis=1, keepdims=True)
            if failed:
                notes.append(f"{failed} of {n_resamples} bootstrap refits did not converge.")
            finite = np.isfinite(draws).all(axis=1)
            if not finite.all():
                notes.append(f"{int((~finite).sum())} of {n_resamples} bootstrap refits gave non-finite "
                             "estimates (a resample in which an item never lost or never won) and were "
                             "left out of the intervals.")
                draws = draws[finite]
            if len(draws) >= 2:
                cov = np.cov(draws, rowvar=False).reshape(design.n_params, design.n_params)
            else:
                notes.append("too few usable bootstrap refits for intervals.")
                draws = None
    return build_result(n_judgments, design, fit, labels, names, cov, draws, over, ties, ci,
                        regularization, covariate_regularization, confidence_level,
                        n_resamples if ci == "bootstrap" else 0, converged, notes, n_used, dropped,
                        all_names, used_cluster)
