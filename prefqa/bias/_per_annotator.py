"""Per-annotator position, self-consistency and length tests: the one implementation.

Every table that shows a per-annotator position, consistency or length
result (``position_bias(...).annotators``, ``length_bias(...).annotators``,
``pq.annotator_table``, the audit, the app) reads the frames built here.

Position (absolute)
    The null is the randomised-order reference: an annotator without
    position bias chooses the first-shown response with probability 1/2
    (when models are unknown) or with the probability implied by the two
    models' pooled strengths (when they are known: the model-controlled
    position logit is 0). The test is a cluster-robust *score* test
    evaluated at the null, with the annotator's judgments clustered by
    prompt when prompts group several comparisons, else by comparison
    (both-order repeats of one item are correlated). A score test stays
    defined when an annotator always chooses ``a`` (where the Wald logit
    is infinite), so such an annotator is flagged, not skipped. Reference
    distribution: t with ``G - 1`` degrees of freedom, ``G`` the
    annotator's clusters; intervals for ``p_a`` invert the same t on the
    logit scale (Wilson where ``p_a`` is 0 or 1). BH over annotators.
    Annotators with fewer than :data:`MIN_POSITION_JUDGMENTS` non-tie
    judgments or fewer than two clusters get NaN and no flag; so does every
    annotator when the models are known but position cannot be separated
    from them (a model always shown on the same side, e.g. two models in a
    fixed order): ``p_a`` is then reported, the test is not.

Self-consistency (absolute)
    A (annotator, comparison) group judged in both display orders is
    inconsistent when its chosen response changed. Without position bias an
    inconsistent group is as likely to have picked the first-shown response
    both times as the second-shown both times (each pattern has probability
    ``q (1 - q)`` whatever the annotator's accuracy ``q`` on that item), so
    the test is an exact two-sided binomial test of ``n_first`` against
    ``n_first + n_second`` with p = 1/2. It does not flag annotators who are
    merely noisy (noise is not position bias; see their agreement instead).

Length (relative to the pool)
    A global length preference makes every annotator's slope non-zero, so
    each annotator's slope is tested against the annotator population:
    per-annotator logistic fits ``logit P(a) = b0 + b1 * length + offset``
    (``offset`` the pooled model strengths of :func:`pooled_model_offset`, so
    model quality does not blur the slopes; ties dropped; ``length`` the tanh
    covariate of :func:`prefqa.features.judgment_features`),
    sandwich SEs clustered within the annotator as above, and the
    median/MAD random-slope null of :func:`prefqa.annotators._stats.outlier_test`
    (one-sided: flags annotators who reward length more than the pool).
    Fewer than ``min_judgments`` usable judgments, no length variation, a
    fit that did not converge or separated (``|slope| > 10``): NaN, no flag.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from .._stats import bh_qvalues, wilson_interval
from ..annotators._stats import outlier_test
from ..engine import ScannedData
from ..engine.reductions.bias import JudgmentCodes, judgment_codes
from ..errors import ConvergenceWarning
from ..schema import PreferenceData
from ._common import (
    binom_two_sided,
    check_confidence_level,
    check_data,
    check_fdr,
    has_prompt_ids,
    model_difference_matrix,
    n_distinct,
)
from ._lengths import judgment_covariates

#: What the per-annotator functions accept: in-memory data, scanned data, or their codes.
AnyData = PreferenceData | ScannedData | JudgmentCodes

__all__ = [
    "LENGTH_COLUMNS",
    "MIN_POSITION_JUDGMENTS",
    "POSITION_COLUMNS",
    "annotator_length_tests",
    "annotator_position_tests",
    "both_orders",
    "pooled_model_offset",
    "within_annotator_clusters",
]

#: Fewest non-tie judgments for a per-annotator position test.
MIN_POSITION_JUDGMENTS = 10
#: A per-annotator length slope beyond this (logit per unit of the tanh covariate) is a separated fit.
MAX_SLOPE = 10.0

POSITION_COLUMNS = [
    "n_position", "p_a", "p_a_ci_low", "p_a_ci_high", "position_logit", "position_logit_se", "p_position",
    "q_position", "flagged_position", "n_both_orders", "n_inconsistent", "self_consistency", "p_consistency",
    "q_consistency", "flagged_consistency",
]
LENGTH_COLUMNS = ["n_length", "length_slope", "length_slope_se", "p_length", "q_length", "flagged_length"]


def within_annotator_clusters(data: AnyData) -> np.ndarray:
    """Cluster codes for within-annotator SEs: prompts when they group comparisons, else comparisons."""
    data = judgment_codes(data)
    comp = data.codes("comparison_id")[0]
    if has_prompt_ids(data) and data.n_prompts > 0:
        prompt = data.codes("prompt_id")[0]
        ok = prompt >= 0
        if ok.any() and n_distinct(comp[ok]) > n_distinct(prompt[ok]):
            out = prompt.copy()
            out[~ok] = prompt.max() + 1 + comp[~ok]
            return out
    return comp


def _group_index(ann: np.ndarray, clus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of (annotator, cluster) groups, and each group's annotator."""
    key = ann * (int(clus.max()) + 1) + clus
    uniq, g = np.unique(key, return_inverse=True)
    return g, (uniq // (int(clus.max()) + 1)).astype(np.int64)


def both_orders(data: AnyData) -> dict[str, np.ndarray]:
    """Per annotator: (annotator, comparison) groups seen in both orders, inconsistent ones,
    those that chose the first-shown response every time (``n_first``) and the second-shown
    every time (``n_second``)."""
    data = judgment_codes(data)
    ann, labels = data.codes("annotator_id")
    m = len(labels)
    keys = ("n_both", "n_inconsistent", "n_first", "n_second")
    out = {k: np.zeros(m, np.int64) for k in keys}
    ok = ann >= 0
    if not ok.any():
        return out
    comp = data.codes("comparison_id")[0][ok]
    g, group_ann = _group_index(ann[ok], comp)
    ng = len(group_ann)

    def span(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = np.full(ng, np.iinfo(np.int64).max)
        hi = np.full(ng, np.iinfo(np.int64).min)
        np.minimum.at(lo, g, v)
        np.maximum.at(hi, g, v)
        return lo, hi

    flo, fhi = span(data.flipped()[ok].astype(np.int64))
    olo, ohi = span(data.oriented_choice()[ok].astype(np.int64))
    dlo, dhi = span(data.choice_codes()[ok].astype(np.int64))
    both = flo != fhi
    inconsistent = both & (olo != ohi)
    flags = {"n_both": both, "n_inconsistent": inconsistent,
             "n_first": inconsistent & (dhi == 0), "n_second": inconsistent & (dlo == 1) & (dhi == 1)}
    return {k: np.bincount(group_ann, weights=v, minlength=m).astype(np.int64) for k, v in flags.items()}


def pooled_model_offset(data: AnyData, extra: np.ndarray | None = None) -> np.ndarray:
    """Pooled model-strength difference ``s[model_a] - s[model_b]`` per judgment.

    From the pooled logistic fit ``logit P(a) = position [+ slope * extra] +
    s[model_a] - s[model_b]`` over non-tie judgments with annotator ids (and
    finite ``extra``); 0 without models, where a model is missing, or when the
    fit is not identified. The per-annotator position test uses it as its
    offset (``extra=None``), the length test with ``extra`` the length covariate.
    """
    return _pooled_fit(judgment_codes(data), extra)[0]


def _pooled_fit(data: JudgmentCodes, extra: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """:func:`pooled_model_offset` and whether position is separable from the models.

    Position is not separable when the constant lies in the span of the model
    differences (a model always shown on the same side, as with two models in
    a fixed order): the per-annotator position tests are then not estimable.
    """
    choice = data.choice_codes()
    use = (choice < 2) & (data.codes("annotator_id")[0] >= 0)
    if extra is not None:
        use &= np.isfinite(extra)
    y = (choice == 0).astype(np.float64)
    offset = np.zeros(data.n_judgments)
    mdiff, _ = model_difference_matrix(data)
    if mdiff is None or mdiff.shape[1] == 0:
        return offset, True
    ca, cb, _ = data.model_codes()
    rows = use & (ca >= 0) & (cb >= 0)
    if not rows.any():
        return offset, True
    lead = [np.ones(int(rows.sum()))] + ([extra[rows]] if extra is not None else [])
    X = np.column_stack([*lead, mdiff[rows]])
    rank = np.linalg.matrix_rank(X)
    separable = rank > np.linalg.matrix_rank(X[:, 1:])
    if len(X) <= X.shape[1] or rank < X.shape[1]:
        return offset, bool(separable)
    beta = np.zeros(X.shape[1])
    yy = y[rows]
    ridge = 1e-6 * np.eye(X.shape[1])
    try:
        for _ in range(50):  # Newton on a small dense design (at most MAX_MODEL_COLUMNS columns)
            mu = expit(X @ beta)
            step = np.linalg.solve(X.T @ (X * (mu * (1 - mu))[:, None]) + ridge, X.T @ (yy - mu))
            beta += np.clip(step, -5.0, 5.0)
            if np.max(np.abs(step)) < 1e-10:
                break
    except np.linalg.LinAlgError:
        return offset, True
    if not np.all(np.isfinite(beta)):
        return offset, True
    offset[rows] = mdiff[rows] @ beta[len(lead):]
    return offset, True


def _not_converged_note(unconverged: np.ndarray, index: pd.Index, what: str, steps: int) -> tuple[str, ...]:
    """Warn (ConvergenceWarning) and return the note for annotators whose fit did not converge."""
    if not unconverged.any():
        return ()
    names = ", ".join(map(str, index[unconverged][:5])) + (" ..." if unconverged.sum() > 5 else "")
    note = (f"the {what} of {int(unconverged.sum())} annotator(s) did not converge in {steps} Newton steps "
            f"({names}); they are reported as not estimable and are not tested")
    _warnings.warn(note, ConvergenceWarning, stacklevel=3)
    return (note,)


def _group_logistic_offset(group: np.ndarray, x: np.ndarray, y: np.ndarray, off: np.ndarray, m: int,
                           ridge: float = 1e-3, max_iter: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``logit P(y) = b0_g + b1_g * x + off`` for every group at once (vectorized Newton, tiny ridge).

    Returns the intercepts, the slopes and, per group, whether its Newton steps converged.
    """
    b0, b1 = np.zeros(m), np.zeros(m)
    for _ in range(max_iter):
        mu = expit(b0[group] + b1[group] * x + off)
        w, r = mu * (1 - mu), y - mu
        g0 = np.bincount(group, weights=r, minlength=m) - ridge * b0
        g1 = np.bincount(group, weights=r * x, minlength=m) - ridge * b1
        h00 = np.bincount(group, weights=w, minlength=m) + ridge
        h01 = np.bincount(group, weights=w * x, minlength=m)
        h11 = np.bincount(group, weights=w * x * x, minlength=m) + ridge
        det = h00 * h11 - h01 ** 2
        d0, d1 = (h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det
        step = np.maximum(np.abs(d0), np.abs(d1))
        scale = np.minimum(1.0, 5.0 / np.maximum(step, 1e-300))
        b0, b1 = b0 + scale * d0, b1 + scale * d1
        if float(np.max(step, initial=0.0)) < 1e-8:
            return b0, b1, np.ones(m, dtype=bool)
    return b0, b1, ~(step >= 1e-6)  # per group: False where the last Newton step was still large


def annotator_position_tests(
    data: AnyData, *, confidence_level: float = 0.95, fdr: float = 0.05
) -> pd.DataFrame:
    """Per-annotator position and self-consistency tests (see the module notes for both nulls).

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Judgments with a known display order and annotator ids. Scanned data
        is reduced to its integer codes (:func:`prefqa.engine.reductions.bias.judgment_codes`,
        numeric columns pulled in scan order); the estimator is the same.
    confidence_level : float
        For ``p_a_ci_low`` / ``p_a_ci_high``.
    fdr : float
        Benjamini-Hochberg level of ``flagged_position`` and ``flagged_consistency``.

    Returns
    -------
    DataFrame
        Indexed by ``annotator_id`` (every annotator with judgments), with
        :data:`POSITION_COLUMNS`. Empty without annotator ids.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=150, n_always_a=1, both_orders=0.3, rng=2)
    >>> t = annotator_position_tests(data)
    >>> list(t.index[t["flagged_position"]]) == list(truth.annotators.index[truth.annotators["kind"] == "always_a"])
    True
    """
    check_data(data)
    check_confidence_level(confidence_level)
    check_fdr(fdr)
    data = judgment_codes(data)
    ann, labels = data.codes("annotator_id")
    m = len(labels)
    index = pd.Index(labels.to_numpy(), name="annotator_id")
    if m == 0:
        return pd.DataFrame({c: pd.Series(dtype=bool if c.startswith("flagged") else float) for c in POSITION_COLUMNS},
                            index=index)
    choice = data.choice_codes()
    use = (choice < 2) & (ann >= 0)
    y = (choice == 0).astype(np.float64)
    offset, separable = _pooled_fit(data, None)
    n = np.bincount(ann[use], minlength=m).astype(np.float64)
    k = np.bincount(ann[use], weights=y[use], minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_a = k / n
    a, yy, off = ann[use], y[use], offset[use]
    g, group_ann = _group_index(a, within_annotator_clusters(data)[use]) if use.any() else (
        np.zeros(0, np.int64), np.zeros(0, np.int64))
    n_groups = np.bincount(group_ann, minlength=m).astype(np.float64)
    corr = np.where(n_groups > 1, n_groups / np.maximum(n_groups - 1, 1), np.nan)
    df = np.maximum(n_groups - 1, 1)

    # score test at the null (logit = 0 beside the model offset), clustered within the annotator
    r0 = yy - expit(off)
    u = np.bincount(a, weights=r0, minlength=m)
    v = corr * np.bincount(group_ann, weights=np.bincount(g, weights=r0) ** 2, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        tstat = u / np.sqrt(v)
    tstat = np.where(v > 0, tstat, np.where(u == 0, 0.0, np.nan))
    ok = (n >= MIN_POSITION_JUDGMENTS) & (n_groups >= 2) & np.isfinite(tstat) & separable
    p_pos = np.where(ok, 2.0 * stats.t.sf(np.abs(np.where(ok, tstat, 0.0)), df), np.nan)

    # position logit: per-annotator intercept beside the offset (vectorized Newton), sandwich SE
    interior = (k > 0) & (k < n)
    b = np.where(interior, logit(np.clip(p_a, 1e-6, 1 - 1e-6)), 0.0)
    for _ in range(30):
        mu = expit(b[a] + off)
        grad = np.bincount(a, weights=yy - mu, minlength=m)
        hess = np.bincount(a, weights=mu * (1 - mu), minlength=m)
        step = np.where(interior & (hess > 0), grad / np.where(hess > 0, hess, 1.0), 0.0)
        b += np.clip(step, -5.0, 5.0)
        if np.max(np.abs(step), initial=0.0) < 1e-10:
            break
    unconverged = ok & interior & (np.abs(step) >= 1e-6)
    notes = _not_converged_note(unconverged, index, "model-controlled position logit", 30)
    mu = expit(b[a] + off)
    hess = np.bincount(a, weights=mu * (1 - mu), minlength=m)
    meat = corr * np.bincount(group_ann, weights=np.bincount(g, weights=yy - mu) ** 2, minlength=m)
    est_ok = ok & interior & (hess > 0) & ~unconverged
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(meat) / hess
    pos_logit = np.where(est_ok, b, np.nan)
    pos_se = np.where(est_ok, se, np.nan)
    tq = stats.t.ppf(0.5 + confidence_level / 2.0, df)
    # interval for P(a): the raw-rate logit with the same clustered SE (delta method on the proportion)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw_lo = np.log(p_a / (1 - p_a))
        raw_se = np.sqrt(corr * np.bincount(group_ann, weights=np.bincount(g, weights=yy - p_a[a]) ** 2,
                                            minlength=m)) / (n * p_a * (1 - p_a))
    w_lo, w_hi = wilson_interval(k, n, confidence_level)
    inner = interior & (n_groups >= 2) & np.isfinite(raw_se)
    ci_lo = np.where(inner, expit(raw_lo - tq * raw_se), w_lo)
    ci_hi = np.where(inner, expit(raw_lo + tq * raw_se), w_hi)
    q_pos = bh_qvalues(p_pos)

    both = both_orders(data)
    n_both, n_inc = both["n_both"], both["n_inconsistent"]
    n_side = both["n_first"] + both["n_second"]
    with np.errstate(invalid="ignore", divide="ignore"):
        consistency = np.where(n_both > 0, 1.0 - n_inc / n_both, np.nan)
    p_cons = np.where(n_side > 0, binom_two_sided(both["n_first"], n_side, 0.5), np.nan)
    q_cons = bh_qvalues(p_cons)
    out = pd.DataFrame(
        {"n_position": n.astype(np.int64), "p_a": p_a, "p_a_ci_low": ci_lo, "p_a_ci_high": ci_hi,
         "position_logit": pos_logit, "position_logit_se": pos_se, "p_position": p_pos, "q_position": q_pos,
         "flagged_position": np.nan_to_num(q_pos, nan=1.0) < fdr, "n_both_orders": n_both,
         "n_inconsistent": n_inc, "self_consistency": consistency, "p_consistency": p_cons,
         "q_consistency": q_cons, "flagged_consistency": np.nan_to_num(q_cons, nan=1.0) < fdr},
        index=index,
    )
    out.attrs["warnings"] = notes
    return out


def annotator_length_tests(
    data: PreferenceData | ScannedData,
    *,
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    min_judgments: int = 20,
    unit: str = "chars",
    tokenizer: Callable[[str], Any] | None = None,
) -> pd.DataFrame:
    """Per-annotator length slopes tested against the annotator pool (see the module notes).

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Judgments with response texts (or precomputed response lengths) and
        annotator ids. Scanned data: integer codes and the length covariate
        are pulled as numeric arrays in scan order; the estimator is the same.
    confidence_level : float
        Accepted for a uniform signature (the frame holds SEs, not intervals).
    fdr : float
        Benjamini-Hochberg level of ``flagged_length``.
    min_judgments : int
        Fewest usable (non-tie, known lengths) judgments for a slope.
    unit, tokenizer
        Length unit, as in :func:`prefqa.features.judgment_features`.

    Returns
    -------
    DataFrame
        Indexed by ``annotator_id``, with :data:`LENGTH_COLUMNS`; the slope
        is the logistic coefficient of the tanh length covariate.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=200, n_length_biased=1, length_slope=3.0, rng=5)
    >>> t = annotator_length_tests(data)
    >>> list(t.index[t["flagged_length"]]) == list(truth.annotators.index[truth.annotators["kind"] == "length"])
    True
    """
    from ..errors import SchemaError

    check_data(data)
    check_confidence_level(confidence_level)
    check_fdr(fdr)
    if not isinstance(min_judgments, (int, np.integer)) or min_judgments < 3:
        raise SchemaError(f"`min_judgments` must be an integer >= 3; got {min_judgments!r}.")
    source, codes = data, judgment_codes(data)
    ann, labels = codes.codes("annotator_id")
    m = len(labels)
    index = pd.Index(labels.to_numpy(), name="annotator_id")
    if m == 0 or not codes.has_texts:
        return pd.DataFrame({c: pd.Series(dtype=bool if c.startswith("flagged") else float) for c in LENGTH_COLUMNS},
                            index=index)
    x_all = judgment_covariates(source, ["length"], unit=unit, tokenizer=tokenizer)["length"]
    choice = codes.choice_codes()
    use = (choice < 2) & (ann >= 0) & np.isfinite(x_all)
    a, x, y = ann[use], x_all[use], (choice[use] == 0).astype(np.float64)
    n = np.bincount(a, minlength=m).astype(np.float64)
    if not use.any():
        nan = np.full(m, np.nan)
        return pd.DataFrame({"n_length": n.astype(np.int64), "length_slope": nan, "length_slope_se": nan,
                             "p_length": nan, "q_length": nan, "flagged_length": np.zeros(m, bool)}, index=index)
    offset = pooled_model_offset(codes, x_all)[use]
    b0, b1, converged = _group_logistic_offset(a, x, y, offset, m)
    mu = expit(b0[a] + b1[a] * x + offset)
    w, r = mu * (1 - mu), y - mu
    h00 = np.bincount(a, weights=w, minlength=m)
    h01 = np.bincount(a, weights=w * x, minlength=m)
    h11 = np.bincount(a, weights=w * x * x, minlength=m)
    g, group_ann = _group_index(a, within_annotator_clusters(codes)[use])
    s0, s1 = np.bincount(g, weights=r), np.bincount(g, weights=r * x)
    n_groups = np.bincount(group_ann, minlength=m).astype(np.float64)
    corr = np.where(n_groups > 1, n_groups / np.maximum(n_groups - 1, 1), np.nan)
    m00 = corr * np.bincount(group_ann, weights=s0 * s0, minlength=m)
    m01 = corr * np.bincount(group_ann, weights=s0 * s1, minlength=m)
    m11 = corr * np.bincount(group_ann, weights=s1 * s1, minlength=m)
    det = h00 * h11 - h01 ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        # row 2 of H^-1 is (-h01, h00) / det; V11 = row M row'
        var1 = (h01 * h01 * m00 - 2 * h01 * h00 * m01 + h00 * h00 * m11) / det ** 2
        se = np.sqrt(var1)
        xvar = np.bincount(a, weights=x * x, minlength=m) / n - (np.bincount(a, weights=x, minlength=m) / n) ** 2
    valid = ((n >= min_judgments) & (n_groups >= 2) & (det > 0) & np.isfinite(se) & (se > 0)
             & (np.abs(b1) <= MAX_SLOPE) & (np.nan_to_num(xvar) > 1e-8))
    unconverged = valid & ~converged
    valid &= converged
    notes = _not_converged_note(unconverged, index, "length slope", 50)
    p, _, _ = outlier_test(np.where(valid, b1, np.nan), np.where(valid, se, np.nan), valid, side="greater")
    q = bh_qvalues(p)
    out = pd.DataFrame(
        {"n_length": n.astype(np.int64), "length_slope": np.where(valid, b1, np.nan),
         "length_slope_se": np.where(valid, se, np.nan), "p_length": p, "q_length": q,
         "flagged_length": np.nan_to_num(q, nan=1.0) < fdr},
        index=index,
    )
    out.attrs["warnings"] = notes
    return out
