"""Shared pieces of the bias analyses: validation, the ``cluster=`` plans, cluster-robust
rates and logistic GLMs, binomial tests and Benjamini-Hochberg."""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from .._cluster import sandwich
from .._stats import bh_qvalues, wilson_interval
from .._types import ConfidenceInterval
from ..engine import ScannedData
from ..engine.reductions.bias import JudgmentCodes
from ..errors import ConvergenceWarning, InsufficientDataError, SchemaError
from ..schema import PreferenceData

__all__ = [
    "CLUSTER_OPTIONS",
    "ClusterPlan",
    "GlmFit",
    "LogisticDesign",
    "RateInference",
    "bh_qvalues",
    "binom_two_sided",
    "check_confidence_level",
    "check_data",
    "cluster_codes",
    "cluster_plan",
    "fit_logistic",
    "logistic_design",
    "model_difference_matrix",
    "rate_inference",
    "wilson_interval",
]


def check_data(data: Any, name: str = "data") -> Any:
    """Raise SchemaError unless ``data`` is a non-empty PreferenceData, ScannedData (``pq.scan``)
    or :class:`~prefqa.engine.reductions.bias.JudgmentCodes`; return it."""
    if not isinstance(data, PreferenceData | ScannedData | JudgmentCodes):
        raise SchemaError(
            f"`{name}` must be a PreferenceData; got {type(data).__name__}. "
            "Load it with pq.read(...) (pq.scan(...) out of core), or build it with "
            "pq.PreferenceData(judgments, responses)."
        )
    if data.n_judgments == 0:
        raise InsufficientDataError("`data` holds no judgments; there is nothing to analyse.")
    return data


def n_distinct(codes: np.ndarray) -> int:
    """Number of distinct values of non-negative integer codes (a bincount, not a sort).

    Examples
    --------
    >>> n_distinct(np.array([3, 0, 3, 7]))
    3
    """
    codes = np.asarray(codes)
    return int(np.count_nonzero(np.bincount(codes))) if len(codes) else 0


def has_prompt_ids(data: Any) -> bool:
    """``True`` when the judgments (PreferenceData or JudgmentCodes) have a ``prompt_id`` column."""
    if isinstance(data, JudgmentCodes):
        return data.has_prompt_ids
    return "prompt_id" in data.judgments


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


#: Values of the ``cluster=`` option of the bias analyses.
CLUSTER_OPTIONS: tuple[str, ...] = (
    "auto", "annotator+comparison", "annotator+prompt", "annotator", "comparison", "prompt", "none",
)
#: With fewer annotators than this, ``cluster="auto"`` treats annotators as fixed (see :func:`cluster_plan`).
MIN_ANNOTATOR_CLUSTERS = 10


def cluster_codes(data: PreferenceData | JudgmentCodes) -> tuple[np.ndarray, str]:
    """Integer cluster codes of the non-annotator dimension: prompts when they group
    comparisons (comparisons nest in prompts), else comparisons."""
    comp = data.codes("comparison_id")[0]
    if has_prompt_ids(data) and data.n_prompts > 0:
        codes = data.codes("prompt_id")[0].copy()
        missing = codes < 0
        if n_distinct(comp[~missing]) > n_distinct(codes[~missing]):
            if missing.any():  # a judgment without prompt is its own comparison's cluster
                codes[missing] = codes.max() + 1 + comp[missing]
            return codes, "prompt"
    return comp, "comparison"


def _annotator_codes(data: PreferenceData | JudgmentCodes) -> np.ndarray:
    """Annotator codes with each judgment lacking an id in a cluster of its own."""
    ann = data.codes("annotator_id")[0].copy()
    missing = ann < 0
    ann[missing] = ann.max(initial=-1) + 1 + np.arange(int(missing.sum()))
    return ann


@dataclass(frozen=True, eq=False)
class ClusterPlan:
    """Which clusters an analysis uses: ``name`` (e.g. ``'annotator+prompt'``), one code
    array per dimension over all judgments (none for ``'none'``), and notes for ``warnings``."""

    name: str
    groups: tuple[np.ndarray, ...]
    warnings: tuple[str, ...]

    def describe(self, df: float, clipped: bool = False) -> str:
        """The ``se_method`` text for a fit with ``df`` reference degrees of freedom."""
        if not self.groups:
            return "iid (model-based; no clustering)"
        kind = ("two-way cluster-robust (Cameron-Gelbach-Miller)" if len(self.groups) == 2
                else "cluster-robust")
        text = f"{kind} CR1 sandwich by {self.name.replace('+', ' x ')}, t reference with {df:g} df"
        return text + ("; non-PSD two-way covariance eigenvalue-clipped" if clipped else "")


def cluster_plan(data: PreferenceData | JudgmentCodes, cluster: str, use: np.ndarray | None = None) -> ClusterPlan:
    """Resolve ``cluster=`` for the judgments in ``use``.

    ``'auto'``: two-way annotator x prompt when prompts group several
    comparisons (comparisons nest in prompts, so prompt clusters also absorb
    the correlation within a comparison), annotator x comparison otherwise;
    only the prompt/comparison dimension when the data has no annotator ids
    (HH, TRL rows) or fewer than :data:`MIN_ANNOTATOR_CLUSTERS` annotators,
    in which case the interval treats the annotators as fixed (it describes
    these annotators, not a population of them) and a warning says so.
    ``'none'``: iid, the model-based (or Wilson) interval.
    """
    if cluster not in CLUSTER_OPTIONS:
        raise SchemaError(f"`cluster` must be one of {CLUSTER_OPTIONS}; got {cluster!r}.")
    if cluster == "none":
        return ClusterPlan("none", (), ("intervals treat judgments as independent (`cluster='none'`); "
                                        "judgments of one annotator or comparison are correlated",))
    second, second_name = cluster_codes(data)
    if cluster == "comparison":
        return ClusterPlan("comparison", (data.codes("comparison_id")[0],), ())
    if cluster == "prompt":
        if second_name != "prompt":
            second = data.codes("prompt_id")[0] if has_prompt_ids(data) else second
        return ClusterPlan("prompt", (second,), ())
    ann_raw = data.codes("annotator_id")[0]
    sel = ann_raw if use is None else ann_raw[use]
    n_ann = n_distinct(sel[sel >= 0])
    if cluster == "auto":
        if n_ann == 0:
            return ClusterPlan(second_name, (second,), ())
        if n_ann < MIN_ANNOTATOR_CLUSTERS:
            return ClusterPlan(second_name, (second,), (
                f"only {n_ann} annotators: intervals cluster by {second_name} and treat the annotators as "
                f"fixed (they describe these {n_ann}, not a population of annotators); annotator-clustered "
                f"SEs need at least {MIN_ANNOTATOR_CLUSTERS} annotators",))
        return ClusterPlan(f"annotator+{second_name}", (_annotator_codes(data), second), ())
    if n_ann == 0:
        raise InsufficientDataError(f"`cluster={cluster!r}` needs annotator ids; these judgments have none. "
                                    "Use cluster='auto' or 'comparison'.")
    note: tuple[str, ...] = ()
    if n_ann < MIN_ANNOTATOR_CLUSTERS:
        note = (f"only {n_ann} annotator clusters: the CR1 sandwich with a t reference ({n_ann - 1} df) is "
                "approximate; cluster='auto' treats so few annotators as fixed instead",)
    ann = _annotator_codes(data)
    if cluster == "annotator":
        return ClusterPlan("annotator", (ann,), note)
    if cluster == "annotator+comparison":
        return ClusterPlan("annotator+comparison", (ann, data.codes("comparison_id")[0]), note)
    prompt = data.codes("prompt_id")[0] if has_prompt_ids(data) else second
    return ClusterPlan("annotator+prompt", (ann, np.where(prompt >= 0, prompt, prompt.max() + 1 + second)), note)


@dataclass(frozen=True, eq=False)
class RateInference:
    """A proportion with its interval and test (see :func:`rate_inference`)."""

    estimate: float
    std_error: float
    ci: ConfidenceInterval
    p_value: float
    se_method: str
    n_clusters: tuple[int, ...]


def rate_inference(y: np.ndarray, plan: ClusterPlan, use: np.ndarray, confidence_level: float,
                   p0: float = 0.5) -> RateInference:
    """Cluster-robust inference on the proportion of ``y[use]`` (0/1 per judgment).

    The proportion is the intercept-only logistic GLM (estimating equation
    ``sum (y_i - p) = 0``); its logit gets the sandwich variance of
    :func:`prefqa._cluster.sandwich` over ``plan.groups``, the interval is
    ``expit(logit(p) +- t * se)`` with t on ``min(G) - 1`` df, and the test of
    ``p = p0`` is the Wald t on the logit. Where ``p`` is 0 or 1 (the logit is
    infinite) the test is the cluster-robust score test at ``p0`` and the
    interval is Wilson. ``plan.name == 'none'``: Wilson interval and exact
    binomial test over judgments (the iid answer).
    """
    yy = np.asarray(y, dtype=np.float64)[use]
    n = len(yy)
    k = float(yy.sum())
    p = k / n
    if not plan.groups:
        lo, hi = wilson_interval(k, n, confidence_level)
        return RateInference(p, float(np.sqrt(p * (1 - p) / n)), ConfidenceInterval(float(lo), float(hi)),
                             float(binom_two_sided(int(k), n)), "iid: Wilson interval, exact binomial test", ())
    groups = [g[use] for g in plan.groups]
    if 0.0 < p < 1.0:
        h = n * p * (1 - p)
        cc = sandwich(yy - p, np.array([[1.0 / h]]), groups)
        se_logit = float(np.sqrt(cc.cov[0, 0]))
        tq = float(stats.t.ppf(0.5 + confidence_level / 2.0, cc.df))
        beta = float(np.log(p / (1 - p)))
        if np.isfinite(se_logit) and se_logit > 0:
            ci = ConfidenceInterval(float(expit(beta - tq * se_logit)), float(expit(beta + tq * se_logit)))
            pv = float(2 * stats.t.sf(abs((beta - np.log(p0 / (1 - p0))) / se_logit), cc.df))
            return RateInference(p, se_logit * p * (1 - p), ci, pv, plan.describe(cc.df, cc.clipped),
                                 cc.n_clusters)
    cc = sandwich(yy - p0, np.array([[1.0]]), groups)
    lo, hi = wilson_interval(k, n, confidence_level)
    v = float(cc.cov[0, 0])
    pv = float(2 * stats.t.sf(abs(yy.sum() - n * p0) / np.sqrt(v), cc.df)) if v > 0 else np.nan
    why = ("all trials agree" if p in (0.0, 1.0) else "the clustered variance of the rate is 0 (after clipping)")
    return RateInference(p, np.nan, ConfidenceInterval(float(lo), float(hi)), pv,
                         plan.describe(cc.df, cc.clipped) + f"; {why}, so score test at {p0:g} and Wilson interval",
                         cc.n_clusters)


#: Above this many models the dense GLM design gets too large; model terms are then left out.
MAX_MODEL_COLUMNS = 60


def model_difference_matrix(data: PreferenceData | JudgmentCodes) -> tuple[np.ndarray | None, pd.Index]:
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
    """What the bias analyses keep from a logistic fit: estimates, the cluster-robust
    covariance (see :func:`fit_logistic`), its t reference ``df`` and ``se_method``."""

    params: np.ndarray
    cov: np.ndarray
    converged: bool
    n_iter: int
    n_obs: int
    n_clusters: int
    warnings: tuple[str, ...]
    df: float = np.inf
    se_method: str = ""
    clusters: tuple[int, ...] = ()

    def t_quantile(self, confidence_level: float) -> float:
        """Two-sided critical value of the reference distribution."""
        return float(stats.t.ppf(0.5 + confidence_level / 2.0, self.df))

    def p_values(self) -> np.ndarray:
        """Two-sided Wald p-values of every coefficient against 0 (t reference)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            t = self.params / np.sqrt(np.diag(self.cov))
        return 2.0 * stats.t.sf(np.abs(t), self.df)


def fit_logistic(y: np.ndarray, X: np.ndarray, plan: ClusterPlan | np.ndarray, *,
                 pattern: np.ndarray | None = None) -> GlmFit:
    """Binomial GLM (logit link): statsmodels point estimates, covariance by ``plan``.

    The covariance is the one- or two-way CR1 sandwich of
    :func:`prefqa._cluster.sandwich` on the GLM scores ``x_i (y_i - mu_i)``
    and the inverse Fisher information (equal to statsmodels'
    ``cov_type='cluster'``, tested), or the model-based inverse information
    for ``cluster='none'``. A plain array of groups is one-way clustering.

    ``pattern`` (for designs with few distinct rows, such as an intercept
    and model differences): non-negative integer codes, equal for rows with
    equal ``X``. statsmodels then fits the distinct ``(pattern, y)`` rows with
    their counts as frequency weights: the same likelihood and the same IRLS
    steps as the row-level fit, in a fraction of the time; the sandwich still
    sums the row-level scores per cluster.

    Raises InsufficientDataError when there are fewer rows than columns or the
    design is rank deficient (a term that never varies).
    """
    import statsmodels.api as sm

    if not isinstance(plan, ClusterPlan):
        plan = ClusterPlan("cluster", (np.asarray(plan),), ())
    n, k = X.shape
    Xf, yf, wf = X, y, None
    if pattern is not None and n:
        key = np.asarray(pattern, dtype=np.int64) * 2 + (y > 0.5)
        counts = np.bincount(key)
        present = np.flatnonzero(counts)
        first = np.zeros(len(counts), dtype=np.int64)
        first[key[::-1]] = np.arange(n)[::-1]  # the first row of each (pattern, y)
        Xf, yf, wf = X[first[present]], (present % 2).astype(np.float64), counts[present].astype(np.float64)
    if n <= k:
        raise InsufficientDataError(
            f"the logistic fit has {n} usable (non-tie) judgments for {k} parameters; add data."
        )
    if np.linalg.matrix_rank(Xf) < k:
        raise InsufficientDataError(
            "the logistic fit's design is rank deficient: a covariate never varies or models are "
            "always shown on the same side, so their effects are not separately identified."
        )
    if np.all(y == y[0]):
        raise InsufficientDataError(
            f"every one of the {n} judgments in the fit chose {'a' if y[0] == 1 else 'b'}: the logistic fit "
            "separates and its coefficients are not estimable."
        )
    caught: list[str] = []
    with _warnings.catch_warnings(record=True) as record:
        _warnings.simplefilter("always")
        try:
            res = sm.GLM(yf, Xf, family=sm.families.Binomial(), freq_weights=wf).fit(maxiter=100)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            raise InsufficientDataError(f"the logistic fit failed on this design ({exc}); add data.") from exc
    caught.extend(f"{w.category.__name__}: {w.message}" for w in record)
    params = np.asarray(res.params, dtype=np.float64)
    converged = bool(res.converged) and bool(np.all(np.isfinite(params)))
    if not converged:
        msg = "the logistic GLM did not converge (separation or too little data); estimates are unreliable."
        _warnings.warn(msg, ConvergenceWarning, stacklevel=3)
        caught.append(msg)
    mu = expit(X @ params)
    if wf is None:
        info = X.T @ (X * (mu * (1.0 - mu))[:, None])
    else:  # the same sum over the distinct rows
        mu_f = expit(Xf @ params)
        info = Xf.T @ (Xf * (wf * mu_f * (1.0 - mu_f))[:, None])
    try:
        bread = np.linalg.inv(info)
    except np.linalg.LinAlgError as exc:
        raise InsufficientDataError("the logistic fit's information matrix is singular (separation); "
                                    "its coefficients are not estimable.") from exc
    if plan.groups:
        cc = sandwich(X * (y - mu)[:, None], bread, list(plan.groups))
        cov, df, clusters, clipped = cc.cov, cc.df, cc.n_clusters, cc.clipped
    else:
        cov, df, clusters, clipped = bread, np.inf, (), False
    if clipped:
        caught.append("the two-way cluster-robust covariance was not positive semi-definite; negative "
                      "eigenvalues were set to 0 (Cameron-Gelbach-Miller 2011)")
    n_iter = int(getattr(res, "fit_history", {}).get("iteration", 0))
    return GlmFit(
        params=params, cov=np.asarray(cov, dtype=np.float64), converged=converged, n_iter=n_iter, n_obs=n,
        n_clusters=int(min(clusters)) if clusters else n, warnings=tuple(caught), df=float(df),
        se_method=plan.describe(df, clipped), clusters=tuple(clusters),
    )


@dataclass(frozen=True, eq=False)
class LogisticDesign:
    """The rows of a clustered logistic fit of "a was chosen" (see :func:`logistic_design`)."""

    X: np.ndarray
    y: np.ndarray
    plan: ClusterPlan
    use: np.ndarray
    controls: tuple[str, ...]
    cluster: str
    model_labels: pd.Index | None

    def fit(self, *, pattern: np.ndarray | None = None) -> GlmFit:
        """Fit the binomial GLM with the covariance of :attr:`plan` (see :func:`fit_logistic`);
        ``pattern`` (one code per judgment, equal for equal design rows) fits the distinct rows."""
        rows = ClusterPlan(self.plan.name, tuple(g[self.use] for g in self.plan.groups), self.plan.warnings)
        return fit_logistic(self.y, self.X, rows, pattern=None if pattern is None else pattern[self.use])


def logistic_design(data: PreferenceData | JudgmentCodes, choice: np.ndarray, columns: list[np.ndarray],
                    use: np.ndarray, *, controls: list[str], control_models: bool,
                    cluster: str = "auto") -> LogisticDesign:
    """Design of the bias GLMs: ``columns`` plus model differences, on the judgments in ``use``.

    ``columns`` hold one value per judgment; model-difference columns (see
    :func:`model_difference_matrix`) are appended, and judgments with a
    missing model left out, when ``control_models`` and the data name models.
    The outcome is 1 where ``a`` was chosen; clusters come from
    :func:`cluster_plan`.
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
    plan = cluster_plan(data, cluster, use)
    return LogisticDesign(
        X=np.column_stack(cols)[use], y=(choice[use] == 0).astype(np.float64), plan=plan, use=use,
        controls=tuple(named), cluster=plan.name, model_labels=mlabels if mdiff is not None else None,
    )


def fmt_p(p: float) -> str:
    """Format a p or q value for a reason string."""
    if not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"
