"""Shared pieces of the bias analyses: validation, Wilson intervals, binomial
tests, Benjamini-Hochberg, and the prompt-clustered logistic GLM."""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .._stats import bh_qvalues, wilson_interval
from ..errors import ConvergenceWarning, InsufficientDataError, SchemaError
from ..schema import PreferenceData

__all__ = [
    "GlmFit",
    "LogisticDesign",
    "bh_qvalues",
    "binom_two_sided",
    "check_confidence_level",
    "check_data",
    "cluster_codes",
    "fit_logistic",
    "logistic_design",
    "model_difference_matrix",
    "wilson_interval",
]


def check_data(data: object, name: str = "data") -> PreferenceData:
    """Raise SchemaError unless ``data`` is a non-empty PreferenceData."""
    if not isinstance(data, PreferenceData):
        raise SchemaError(
            f"`{name}` must be a PreferenceData; got {type(data).__name__}. "
            "Load it with pq.read(...) or build it with pq.PreferenceData(judgments, responses)."
        )
    if data.n_judgments == 0:
        raise InsufficientDataError("`data` holds no judgments; there is nothing to analyse.")
    return data


def check_confidence_level(confidence_level: float) -> float:
    """Raise SchemaError unless 0 < ``confidence_level`` < 1."""
    if not isinstance(confidence_level, (int, float)) or not 0.0 < float(confidence_level) < 1.0:
        raise SchemaError(f"`confidence_level` must be a number strictly between 0 and 1; got {confidence_level!r}.")
    return float(confidence_level)


def check_fdr(fdr: float) -> float:
    """Raise SchemaError unless 0 < ``fdr`` < 1."""
    if not isinstance(fdr, (int, float)) or not 0.0 < float(fdr) < 1.0:
        raise SchemaError(f"`fdr` must be a number strictly between 0 and 1; got {fdr!r}.")
    return float(fdr)


def binom_two_sided(k: np.ndarray | int, n: np.ndarray | int, p0: np.ndarray | float = 0.5) -> np.ndarray:
    """Two-sided exact binomial p-values, vectorized.

    Uses the "minimum likelihood" rule of ``scipy.stats.binomtest`` when
    ``p0 == 0.5`` (where it equals doubling the smaller tail) and doubling the
    smaller tail otherwise. NaN where ``n == 0``.
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    p0 = np.broadcast_to(np.asarray(p0, dtype=np.float64), np.broadcast(k, n).shape)
    lower = stats.binom.cdf(k, n, p0)
    upper = stats.binom.sf(k - 1.0, n, p0)
    p = np.minimum(1.0, 2.0 * np.minimum(lower, upper))
    return np.where(n > 0, p, np.nan)


def cluster_codes(data: PreferenceData) -> tuple[np.ndarray, str]:
    """Integer cluster codes for clustered SEs: prompts when known, else comparisons."""
    if "prompt_id" in data.judgments and data.n_prompts > 0:
        codes = data.codes("prompt_id")[0].copy()
        missing = codes < 0
        if missing.any():  # a judgment without prompt is its own comparison's cluster
            comp = data.codes("comparison_id")[0]
            codes[missing] = codes.max() + 1 + comp[missing]
        return codes, "prompt"
    return data.codes("comparison_id")[0], "comparison"


#: Above this many models the dense GLM design gets too large; model terms are then left out.
MAX_MODEL_COLUMNS = 60


def model_difference_matrix(data: PreferenceData) -> tuple[np.ndarray | None, pd.Index]:
    """Columns ``+1`` for the model shown as a, ``-1`` for b, the first model dropped.

    Returns ``(None, empty index)`` when the data names no models or more
    than :data:`MAX_MODEL_COLUMNS` of them. Rows with a missing model get zeros.
    """
    if not data.has_models:
        return None, pd.Index([], name="model")
    ca, cb, labels = data.model_codes()
    n, k = len(ca), len(labels)
    if k > MAX_MODEL_COLUMNS:
        return None, pd.Index([], name="model")
    mat = np.zeros((n, k))
    rows = np.arange(n)
    ok_a, ok_b = ca >= 0, cb >= 0
    mat[rows[ok_a], ca[ok_a]] += 1.0
    mat[rows[ok_b], cb[ok_b]] -= 1.0
    return mat[:, 1:], labels


@dataclass(frozen=True, eq=False)
class GlmFit:
    """What the bias analyses keep from a statsmodels GLM fit."""

    params: np.ndarray
    cov: np.ndarray
    converged: bool
    n_iter: int
    n_obs: int
    n_clusters: int
    warnings: tuple[str, ...]


def fit_logistic(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> GlmFit:
    """Binomial GLM (logit link) with cluster-robust covariance by ``groups``.

    Raises InsufficientDataError when there are fewer rows than columns or the
    design is rank deficient (a term that never varies).
    """
    import statsmodels.api as sm

    n, k = X.shape
    if n <= k:
        raise InsufficientDataError(
            f"the logistic fit has {n} usable (non-tie) judgments for {k} parameters; add data."
        )
    if np.linalg.matrix_rank(X[: min(n, 200_000)]) < k and np.linalg.matrix_rank(X) < k:
        raise InsufficientDataError(
            "the logistic fit's design is rank deficient: a covariate never varies or models are "
            "always shown on the same side, so their effects are not separately identified."
        )
    _, groups = np.unique(groups, return_inverse=True)
    caught: list[str] = []
    with _warnings.catch_warnings(record=True) as record:
        _warnings.simplefilter("always")
        res = sm.GLM(y, X, family=sm.families.Binomial()).fit(
            cov_type="cluster", cov_kwds={"groups": groups}, maxiter=100
        )
    for w in record:
        caught.append(f"{w.category.__name__}: {w.message}")
    converged = bool(res.converged) and bool(np.all(np.isfinite(res.params)))
    if not converged:
        msg = "the logistic GLM did not converge (separation or too little data); estimates are unreliable."
        _warnings.warn(msg, ConvergenceWarning, stacklevel=3)
        caught.append(msg)
    n_iter = int(getattr(res, "fit_history", {}).get("iteration", 0))
    return GlmFit(
        params=np.asarray(res.params, dtype=np.float64),
        cov=np.asarray(res.cov_params(), dtype=np.float64),
        converged=converged,
        n_iter=n_iter,
        n_obs=n,
        n_clusters=int(groups.max() + 1) if n else 0,
        warnings=tuple(caught),
    )


@dataclass(frozen=True, eq=False)
class LogisticDesign:
    """The rows of a prompt-clustered logistic fit of "a was chosen" (see :func:`logistic_design`)."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    use: np.ndarray
    controls: tuple[str, ...]
    cluster: str
    model_labels: pd.Index | None

    def fit(self) -> GlmFit:
        """Fit the binomial GLM with SEs clustered by :attr:`groups` (see :func:`fit_logistic`)."""
        return fit_logistic(self.y, self.X, self.groups)


def logistic_design(data: PreferenceData, choice: np.ndarray, columns: list[np.ndarray], use: np.ndarray,
                    *, controls: list[str], control_models: bool) -> LogisticDesign:
    """Design of the bias GLMs: ``columns`` plus model differences, on the judgments in ``use``.

    ``columns`` hold one value per judgment; model-difference columns (see
    :func:`model_difference_matrix`) are appended, and judgments with a
    missing model left out, when ``control_models`` and the data name models.
    The outcome is 1 where ``a`` was chosen; clusters come from
    :func:`cluster_codes`.
    """
    cols = list(columns)
    named = list(controls)
    use = use.copy()
    mdiff, mlabels = model_difference_matrix(data) if control_models else (None, None)
    if mdiff is not None:
        ca, cb, _ = data.model_codes()
        use &= (ca >= 0) & (cb >= 0)
        cols.extend(mdiff.T)
        named.append("model")
    groups, cluster = cluster_codes(data)
    return LogisticDesign(
        X=np.column_stack(cols)[use], y=(choice[use] == 0).astype(np.float64), groups=groups[use], use=use,
        controls=tuple(named), cluster=cluster, model_labels=mlabels if mdiff is not None else None,
    )


def fmt_p(p: float) -> str:
    """Format a p or q value for a reason string."""
    if not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"
