"""Position bias: do annotators prefer the response shown first?

What can be identified
----------------------
* With display order randomised per judgment (independently of the
  responses), ``P(a)`` among non-tie judgments estimates ``0.5 +`` the
  position effect averaged over items, and the logit of the model-controlled
  fit estimates the simulator's ``position_effect``.
* If the display order never varies (every comparison shown in one fixed
  order to everyone), position and content are confounded item by item: a
  high ``P(a)`` may mean the better response was put first. Only the
  aggregate is readable, and only if the fixed order was assigned at random.
  When models are known, the model-controlled logit still separates
  position from model strength as long as each model appears on both sides;
  the fit reports a rank-deficient design otherwise.
* Position consistency (the same annotator choosing the same *response* in
  both display orders) needs same-annotator repeats in both orders, as LLM
  judges are usually run; ``n_both_orders`` is 0 without them.
* Data whose display order is unknown (``order_known=False``: readers put
  chosen/rejected into a/b by a hash) carry no position information at all:
  :func:`position_bias` raises :class:`~prefqa.errors.InsufficientDataError`
  rather than read the hash order as bias.
* Side balance: when one model of a pair is (nearly) always the one shown
  first, P(a) mixes position with model quality. ``side_balance`` gives,
  per model pair, the share of judgments showing each model first;
  ``side_confounded`` is True when at least :data:`CONFOUNDED_JUDGMENT_SHARE`
  (80%) of the judgments belong to pairs shown at least
  :data:`CONFOUNDED_PAIR_SHARE` (90%) of the time in one order (an effect
  size, not a test). The headline then is the model-controlled position
  logit (as a probability at equal strengths), or NaN with the reason when
  that fit is rank-deficient (for example only two models, always in one
  order): position and model cannot be separated.

Inference
---------
Every headline interval and test is cluster-robust (``cluster="auto"``,
see :func:`prefqa.bias._common.cluster_plan`): two-way annotator x prompt
(or x comparison) CR1 sandwich with a t reference on ``min(G) - 1`` df;
P(a) is an intercept-only estimating equation with the same sandwich (see
:func:`prefqa.bias._common.rate_inference`). ``cluster="none"`` restores
the iid Wilson interval and binomial test. ``se_method`` says which was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from .._types import ConfidenceInterval
from ..engine import ScannedData
from ..engine.reductions.bias import JudgmentCodes, judgment_codes
from ..errors import InsufficientDataError
from ..schema import PreferenceData
from ._common import (
    check_confidence_level,
    check_data,
    check_fdr,
    cluster_plan,
    fmt_p,
    logistic_design,
    rate_inference,
)
from ._per_annotator import POSITION_COLUMNS, annotator_position_tests, both_orders

__all__ = [
    "CONFOUNDED_JUDGMENT_SHARE",
    "CONFOUNDED_PAIR_SHARE",
    "PositionBiasResult",
    "position_bias",
    "side_balance",
]

#: A model pair is one-sided when one order holds at least this share of its judgments.
CONFOUNDED_PAIR_SHARE = 0.9
#: Side and model are confounded when one-sided pairs hold at least this share of the judgments.
CONFOUNDED_JUDGMENT_SHARE = 0.8



@dataclass(frozen=True, eq=False)
class PositionBiasResult:
    """Result of :func:`position_bias`.

    Attributes
    ----------
    estimate : float
        The headline: P(choose a) among non-tie judgments, or, when
        ``side_confounded``, the model-controlled position effect as a
        probability (``expit(logit)``), NaN when not identifiable.
    std_error : float
        Cluster-robust SE of ``estimate`` (delta method from the logit scale;
        NaN where the estimate is 0, 1 or not identifiable).
    confidence_interval : ConfidenceInterval
        Cluster-robust interval of ``estimate`` (see ``se_method``).
    p_value : float
        Test of ``estimate == 0.5`` (t reference on the cluster count).
    raw_estimate, raw_confidence_interval
        P(a) and its interval whatever ``side_confounded`` says.
    logit, logit_std_error, logit_confidence_interval : float
        Position term of a logistic fit with model strengths (when models
        are known), covariance by ``cluster``; NaN when not identified.
    cluster, se_method : str
        The clusters used (``'annotator+prompt'``, ``'comparison'``,
        ``'none'``, ...) and how the SEs were obtained.
    side_balance : DataFrame
        One row per unordered model pair (``model_1`` < ``model_2``): ``n``,
        ``n_model_1_first``, ``share_model_1_first``, ``one_sided``. Empty
        without models.
    side_confounded : bool
        See the module notes (80% of judgments in pairs shown >= 90% in one order).
    identifiable : bool
        False when the headline could not be estimated (reason in ``skipped``).
    n_trials, n_a, n_ties : int
        Non-tie judgments, those choosing a, and ties.
    n_both_orders, n_inconsistent, n_inconsistent_first : int
        (annotator, comparison) groups judged in both display orders; those
        whose chosen response changed with the order; and those among them
        that chose ``a`` in both orders (position-driven).
    consistency : float
        ``1 - n_inconsistent / n_both_orders`` (NaN without repeats).
    annotators : DataFrame
        :func:`prefqa.bias._per_annotator.annotator_position_tests` plus
        ``flagged`` (position or consistency flag) and ``reason``. Empty,
        with the reason in ``skipped``, when annotator ids are missing.
    """

    confidence_level: float
    fdr: float
    n_judgments: int
    n_annotators: int
    n_trials: int
    n_a: int
    n_ties: int
    estimate: float
    std_error: float
    confidence_interval: ConfidenceInterval
    p_value: float
    raw_estimate: float
    raw_confidence_interval: ConfidenceInterval
    raw_p_value: float
    logit: float
    logit_std_error: float
    logit_confidence_interval: ConfidenceInterval
    logit_p_value: float
    controls: tuple[str, ...]
    cluster: str
    se_method: str
    side_balance: pd.DataFrame
    side_confounded: bool
    identifiable: bool
    n_both_orders: int
    n_inconsistent: int
    n_inconsistent_first: int
    consistency: float
    annotators: pd.DataFrame
    converged: bool
    n_iter: int
    skipped: tuple[str, ...]
    warnings: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """Return the headline estimates as a tidy frame indexed by ``term``."""
        rows = [
            {"term": "p_choose_a", "estimate": self.estimate, "std_error": self.std_error,
             "ci_low": self.confidence_interval.low, "ci_high": self.confidence_interval.high,
             "p_value": self.p_value, "n": self.n_trials},
            {"term": "position_logit", "estimate": self.logit, "std_error": self.logit_std_error,
             "ci_low": self.logit_confidence_interval.low, "ci_high": self.logit_confidence_interval.high,
             "p_value": self.logit_p_value, "n": self.n_trials},
            {"term": "position_consistency", "estimate": self.consistency, "std_error": np.nan,
             "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "n": self.n_both_orders},
        ]
        frame = pd.DataFrame(rows).set_index("term")
        frame["se_method"] = [self.se_method, self.se_method, ""]
        return frame

    def summary(self) -> str:
        """Return a plain-text summary."""
        lo, hi = self.raw_confidence_interval
        lines = ["Position bias:"]
        if self.side_confounded:
            lines.append("  display side is confounded with model (most model pairs are shown in one order): "
                         "position and model cannot be separated from P(a); the headline is the "
                         "model-controlled estimate")
            if not self.identifiable:
                lines.append("  model-controlled position effect: not identifiable (see skipped)")
            else:
                lines.append(f"  model-controlled P(a) at equal strengths {self.estimate:.1%} (CI "
                             f"{self.confidence_interval.low:.1%} to {self.confidence_interval.high:.1%})")
        lines += [
            f"  first response chosen in {self.n_a:,} of {self.n_trials:,} non-tie judgments = "
            f"{self.raw_estimate:.1%} ({self.confidence_level:.0%} CI {lo:.1%} to {hi:.1%}), "
            f"p {fmt_p(self.raw_p_value)}",
            f"  position logit ({', '.join(self.controls) or 'no controls'}): {self.logit:.3f} "
            f"(CI {self.logit_confidence_interval.low:.3f} to {self.logit_confidence_interval.high:.3f})",
            f"  clusters: {self.cluster}; SEs: {self.se_method}",
        ]
        if self.n_both_orders:
            lines.append(
                f"  position consistency {self.consistency:.1%}: {self.n_inconsistent:,} of "
                f"{self.n_both_orders:,} both-order repeats changed the chosen response "
                f"({self.n_inconsistent_first:,} chose the first shown both times)")
        if len(self.annotators):
            lines.append(f"  {int(self.annotators['flagged'].sum())} of {len(self.annotators)} annotators "
                         f"flagged (BH q < {self.fdr:g})")
        lines.extend(f"  skipped: {s}" for s in self.skipped)
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _validate(data: Any, confidence_level: float, fdr: float) -> Any:
    check_data(data)
    check_confidence_level(confidence_level)
    check_fdr(fdr)
    if not data.order_known:
        raise InsufficientDataError(
            "the display order of these judgments is unknown (`order_known=False`: the reader placed "
            "chosen and rejected into a/b by a hash), so position bias cannot be measured. Load data "
            "that records which response was shown first."
        )
    return data


def side_balance(data: PreferenceData | ScannedData | JudgmentCodes) -> tuple[pd.DataFrame, bool]:
    """Per unordered model pair, the share of judgments showing each model first; and the
    ``side_confounded`` rule of the module notes.

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": list("pqrs"), "annotator_id": "x", "choice": list("abab"),
    ...                   "model_a": ["m1", "m1", "m1", "m2"], "model_b": ["m2", "m2", "m2", "m1"]})
    >>> frame, confounded = side_balance(pq.PreferenceData(j))
    >>> frame["share_model_1_first"].tolist(), confounded
    ([0.75], False)
    """
    columns = {"model_1": pd.Series(dtype=object), "model_2": pd.Series(dtype=object),
               "n": pd.Series(dtype=np.int64), "n_model_1_first": pd.Series(dtype=np.int64),
               "share_model_1_first": pd.Series(dtype=float), "one_sided": pd.Series(dtype=bool)}
    data = judgment_codes(data)
    if not data.has_models:
        return pd.DataFrame(columns), False
    ca, cb, labels = data.model_codes()
    ok = (ca >= 0) & (cb >= 0) & (ca != cb)
    if not ok.any():
        return pd.DataFrame(columns), False
    lo, hi = np.minimum(ca[ok], cb[ok]), np.maximum(ca[ok], cb[ok])
    k = len(labels)
    pair, inv = np.unique(lo * k + hi, return_inverse=True)
    n = np.bincount(inv)
    first = np.bincount(inv, weights=(ca[ok] == lo).astype(np.float64)).astype(np.int64)
    share = first / n
    one_sided = np.maximum(share, 1 - share) >= CONFOUNDED_PAIR_SHARE
    names = labels.to_numpy()
    frame = pd.DataFrame({"model_1": names[pair // k], "model_2": names[pair % k], "n": n.astype(np.int64),
                          "n_model_1_first": first, "share_model_1_first": share, "one_sided": one_sided})
    confounded = bool(n[one_sided].sum() >= CONFOUNDED_JUDGMENT_SHARE * n.sum())
    return frame, confounded


def position_bias(
    data: PreferenceData | ScannedData,
    *,
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    control_models: bool = True,
    cluster: str = "auto",
) -> PositionBiasResult:
    """Measure the preference for the response shown first.

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Judgments with a known display order. Scanned data (``pq.scan``) is
        reduced to its integer codes in the engine
        (:func:`prefqa.engine.reductions.bias.judgment_codes`: numeric code
        columns pulled in scan order, about 50 bytes per judgment, no
        strings); every estimate equals the in-memory one.
    confidence_level : float
        For every interval.
    fdr : float
        Benjamini-Hochberg level for flagging annotators.
    control_models : bool
        Fit the position logit with model strengths when models are known.
    cluster : {'auto', 'annotator+comparison', 'annotator+prompt', 'annotator', 'comparison', 'prompt', 'none'}
        Clusters of the headline SEs (see the module notes; ``'auto'``
        treats fewer than 10 annotators as fixed and says so in ``warnings``).

    Returns
    -------
    PositionBiasResult

    Raises
    ------
    InsufficientDataError
        When ``data.order_known`` is false (see the module notes), or no
        judgment is a non-tie.

    Notes
    -----
    The per-annotator tests are those of
    :func:`prefqa.bias._per_annotator.annotator_position_tests` (absolute,
    against the randomised-order reference, and a both-order consistency
    test), with BH across annotators within each family.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=150, n_always_a=1, both_orders=0.3, rng=2)
    >>> res = pq.position_bias(data)
    >>> res.n_both_orders > 0, list(res.annotators.index[res.annotators["flagged"]]) == list(
    ...     truth.annotators.index[truth.annotators["kind"] == "always_a"])
    (True, True)
    >>> res.cluster
    'annotator+prompt'
    """
    _validate(data, confidence_level, fdr)
    codes = judgment_codes(data)
    skipped: list[str] = []
    choice = codes.choice_codes()
    decided = choice < 2
    n_trials = int(decided.sum())
    if n_trials == 0:
        raise InsufficientDataError(f"all {codes.n_judgments} judgments are ties; P(choose a) is undefined.")
    n_a = int((choice == 0).sum())
    plan = cluster_plan(codes, cluster, decided)
    warn: list[str] = list(plan.warnings)
    rate = rate_inference((choice == 0).astype(np.float64), plan, decided, confidence_level)

    # position logit, controlling for model strengths when known
    design = logistic_design(codes, choice, [np.ones(codes.n_judgments)], decided, controls=[],
                             control_models=control_models, cluster=cluster)
    controls = design.controls
    logit = logit_se = logit_p = np.nan
    converged, n_iter, tq = False, 0, np.nan
    try:
        fit = design.fit(pattern=_design_pattern(codes, design.controls))
        logit, logit_se = float(fit.params[0]), float(np.sqrt(fit.cov[0, 0]))
        logit_p = float(fit.p_values()[0])
        tq = fit.t_quantile(confidence_level)
        converged, n_iter = fit.converged, fit.n_iter
        warn.extend(w for w in fit.warnings if w not in warn)
    except InsufficientDataError as exc:
        skipped.append(f"position logit: {exc}")
    logit_ci = ConfidenceInterval(float(logit - tq * logit_se), float(logit + tq * logit_se))

    balance, confounded = side_balance(codes)
    estimate, ci, p_value, identifiable = rate.estimate, rate.ci, rate.p_value, True
    std_error = rate.std_error
    if confounded:
        msg = ("display side is confounded with model: at least 80% of judgments belong to model pairs "
               "shown at least 90% of the time in one order, so P(a) mixes position with model strength")
        if control_models and "model" in controls and np.isfinite(logit_se):
            estimate = float(expit(logit))
            std_error = float(estimate * (1 - estimate) * logit_se)
            ci = ConfidenceInterval(float(expit(logit_ci.low)), float(expit(logit_ci.high)))
            p_value = logit_p
            warn.append(msg + "; the headline is the model-controlled position logit")
        else:
            identifiable = False
            estimate, ci, p_value, std_error = np.nan, ConfidenceInterval(np.nan, np.nan), np.nan, np.nan
            skipped.append("position effect not identifiable: " + msg + " and the model-controlled fit "
                           "cannot separate them (rank-deficient design, for example only two models, or "
                           "`control_models=False`)")

    annotators = annotator_position_tests(codes, confidence_level=confidence_level, fdr=fdr)
    warn.extend(w for w in annotators.attrs.get("warnings", ()) if w not in warn)
    if len(annotators):
        annotators = _with_reasons(annotators, rate.estimate, fdr)
    else:
        skipped.append("per-annotator table: the judgments have no annotator ids")
        annotators = annotators.assign(flagged=pd.Series(dtype=bool), reason=pd.Series(dtype=object))
    n_both, n_inc = int(annotators["n_both_orders"].sum()), int(annotators["n_inconsistent"].sum())
    if n_both == 0:
        skipped.append("position consistency: no annotator judged a comparison in both display orders")
    n_first = int(both_orders(codes)["n_first"].sum()) if n_both else 0
    return PositionBiasResult(
        confidence_level=confidence_level, fdr=fdr, n_judgments=codes.n_judgments,
        n_annotators=codes.n_annotators, n_trials=n_trials, n_a=n_a, n_ties=int((choice == 2).sum()),
        estimate=estimate, std_error=std_error, confidence_interval=ci, p_value=p_value, raw_estimate=rate.estimate,
        raw_confidence_interval=rate.ci, raw_p_value=rate.p_value, logit=logit, logit_std_error=logit_se,
        logit_confidence_interval=logit_ci, logit_p_value=logit_p, controls=tuple(controls), cluster=plan.name,
        se_method=rate.se_method, side_balance=balance, side_confounded=confounded, identifiable=identifiable,
        n_both_orders=n_both, n_inconsistent=n_inc, n_inconsistent_first=n_first,
        consistency=(1.0 - n_inc / n_both) if n_both else np.nan, annotators=annotators,
        converged=converged, n_iter=n_iter, skipped=tuple(skipped), warnings=tuple(warn),
    )


def _design_pattern(codes: JudgmentCodes, controls: tuple[str, ...]) -> np.ndarray:
    """One code per judgment for the position logit's design row: (model_a, model_b) with model terms, else 0."""
    if "model" not in controls:
        return np.zeros(codes.n_judgments, dtype=np.int64)
    ca, cb, labels = codes.model_codes()
    k = len(labels) + 1
    return (ca + 1) * k + (cb + 1)


def _with_reasons(table: pd.DataFrame, pool: float, fdr: float) -> pd.DataFrame:
    """Add ``flagged`` (position or consistency) and a plain-words ``reason``."""
    fp = table["flagged_position"].to_numpy(dtype=bool)
    fc = table["flagged_consistency"].to_numpy(dtype=bool)
    reasons = []
    for p_a, n, q, flag_p, cons, nb, qc, flag_c in zip(
            table["p_a"], table["n_position"], table["q_position"], fp, table["self_consistency"],
            table["n_both_orders"], table["q_consistency"], fc):
        parts = []
        if flag_p:
            parts.append(f"chooses the first response {p_a:.0%} of the time (pool {pool:.0%}, n={int(n)}), "
                         f"q {fmt_p(q)}")
        if flag_c:
            parts.append(f"changes its answer with the display order in a position-driven way "
                         f"(consistency {cons:.0%} over {int(nb)} both-order items), q {fmt_p(qc)}")
        reasons.append("; ".join(parts))
    return table[POSITION_COLUMNS].assign(flagged=fp | fc, reason=reasons)
