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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._types import ConfidenceInterval
from ..errors import InsufficientDataError
from ..schema import PreferenceData
from ._common import (
    bh_qvalues, binom_two_sided, check_confidence_level, check_data, check_fdr, fmt_p, logistic_design,
    wilson_interval,
)

__all__ = ["PositionBiasResult", "position_bias"]


@dataclass(frozen=True, eq=False)
class PositionBiasResult:
    """Result of :func:`position_bias`.

    Attributes
    ----------
    estimate : float
        P(choose a) among non-tie judgments.
    confidence_interval : ConfidenceInterval
        Wilson interval of ``estimate``.
    p_value : float
        Exact two-sided binomial test of ``estimate == 0.5``.
    logit, logit_std_error, logit_confidence_interval : float
        Position term of a logistic fit with model strengths (when models
        are known), SEs clustered by ``cluster``; NaN when not identified.
    n_trials, n_a, n_ties : int
        Non-tie judgments, those choosing a, and ties.
    n_both_orders, n_inconsistent, n_inconsistent_first : int
        (annotator, comparison) groups judged in both display orders; those
        whose chosen response changed with the order; and those among them
        that chose ``a`` in both orders (position-driven).
    consistency : float
        ``1 - n_inconsistent / n_both_orders`` (NaN without repeats).
    annotators : DataFrame
        One row per annotator: ``n``, ``n_a``, ``estimate``, ``ci_low``,
        ``ci_high``, ``p_value`` (binomial test of 0.5), ``q_value`` (BH
        across annotators), ``n_both_orders``, ``n_inconsistent``,
        ``consistency``, ``flagged`` and ``reason``. Empty, with the reason in
        ``skipped``, when annotator ids are missing.
    """

    confidence_level: float
    fdr: float
    n_judgments: int
    n_annotators: int
    n_trials: int
    n_a: int
    n_ties: int
    estimate: float
    confidence_interval: ConfidenceInterval
    p_value: float
    logit: float
    logit_std_error: float
    logit_confidence_interval: ConfidenceInterval
    controls: tuple[str, ...]
    cluster: str
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
        logit_p = 2 * stats.norm.sf(abs(self.logit / self.logit_std_error)) if self.logit_std_error > 0 else np.nan
        rows = [
            {"term": "p_choose_a", "estimate": self.estimate, "std_error": np.nan,
             "ci_low": self.confidence_interval.low, "ci_high": self.confidence_interval.high,
             "p_value": self.p_value, "n": self.n_trials},
            {"term": "position_logit", "estimate": self.logit, "std_error": self.logit_std_error,
             "ci_low": self.logit_confidence_interval.low, "ci_high": self.logit_confidence_interval.high,
             "p_value": logit_p, "n": self.n_trials},
            {"term": "position_consistency", "estimate": self.consistency, "std_error": np.nan,
             "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "n": self.n_both_orders},
        ]
        return pd.DataFrame(rows).set_index("term")

    def summary(self) -> str:
        """Return a plain-text summary."""
        lo, hi = self.confidence_interval
        lines = [
            "Position bias:",
            f"  first response chosen in {self.n_a:,} of {self.n_trials:,} non-tie judgments = {self.estimate:.1%} "
            f"({self.confidence_level:.0%} CI {lo:.1%} to {hi:.1%}), binomial p {fmt_p(self.p_value)}",
            f"  position logit ({', '.join(self.controls) or 'no controls'}): {self.logit:.3f} "
            f"(CI {self.logit_confidence_interval.low:.3f} to {self.logit_confidence_interval.high:.3f})",
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


def _validate(data: Any, confidence_level: float, fdr: float) -> PreferenceData:
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


def position_bias(
    data: PreferenceData,
    *,
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    control_models: bool = True,
) -> PositionBiasResult:
    """Measure the preference for the response shown first.

    Parameters
    ----------
    data : PreferenceData
        Judgments with a known display order.
    confidence_level : float
        For every interval.
    fdr : float
        Benjamini-Hochberg level for flagging annotators.
    control_models : bool
        Fit the position logit with model strengths when models are known.

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
    Per-annotator tests compare each annotator's P(a) with 0.5, the value
    without position bias under randomised display order; q-values are BH
    across annotators. Position consistency groups judgments by (annotator,
    comparison); a group counts in ``n_both_orders`` when it holds both
    display orders, and is inconsistent when its chosen responses (ties
    included as a label) are not all the same.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=150, n_always_a=1, both_orders=0.3, rng=2)
    >>> res = pq.position_bias(data)
    >>> res.n_both_orders > 0, list(res.annotators.index[res.annotators["flagged"]]) == list(
    ...     truth.annotators.index[truth.annotators["kind"] == "always_a"])
    (True, True)
    """
    _validate(data, confidence_level, fdr)
    warn: list[str] = []
    skipped: list[str] = []
    choice = data.choice_codes()
    decided = choice < 2
    n_trials = int(decided.sum())
    if n_trials == 0:
        raise InsufficientDataError(f"all {data.n_judgments} judgments are ties; P(choose a) is undefined.")
    n_a = int((choice == 0).sum())
    low, high = wilson_interval(n_a, n_trials, confidence_level)
    p_value = float(binom_two_sided(n_a, n_trials))

    # position logit, controlling for model strengths when known
    design = logistic_design(data, choice, [np.ones(data.n_judgments)], decided, controls=[],
                             control_models=control_models)
    controls, cluster = design.controls, design.cluster
    z = stats.norm.ppf(0.5 + confidence_level / 2.0)
    try:
        fit = design.fit()
        logit, logit_se = float(fit.params[0]), float(np.sqrt(fit.cov[0, 0]))
        converged, n_iter = fit.converged, fit.n_iter
        warn.extend(fit.warnings)
    except InsufficientDataError as exc:
        logit, logit_se, converged, n_iter = np.nan, np.nan, False, 0
        skipped.append(f"position logit: {exc}")
    logit_ci = ConfidenceInterval(float(logit - z * logit_se), float(logit + z * logit_se))

    both = _both_orders(data)
    annotators = _annotator_table(data, choice, both, confidence_level, fdr, skipped)
    if both["n_both"].sum() == 0:
        skipped.append("position consistency: no annotator judged a comparison in both display orders")
    n_both, n_inc = int(both["n_both"].sum()), int(both["n_inconsistent"].sum())
    return PositionBiasResult(
        confidence_level=confidence_level, fdr=fdr, n_judgments=data.n_judgments,
        n_annotators=data.n_annotators, n_trials=n_trials, n_a=n_a, n_ties=int((choice == 2).sum()),
        estimate=n_a / n_trials, confidence_interval=ConfidenceInterval(float(low), float(high)),
        p_value=p_value, logit=logit, logit_std_error=logit_se, logit_confidence_interval=logit_ci,
        controls=tuple(controls), cluster=cluster, n_both_orders=n_both, n_inconsistent=n_inc,
        n_inconsistent_first=int(both["n_first"].sum()),
        consistency=(1.0 - n_inc / n_both) if n_both else np.nan, annotators=annotators,
        converged=converged, n_iter=n_iter, skipped=tuple(skipped), warnings=tuple(warn),
    )


def _both_orders(data: PreferenceData) -> dict[str, np.ndarray]:
    """Per annotator: groups seen in both orders, inconsistent ones, and 'a both times' ones."""
    ann, labels = data.codes("annotator_id")
    m = len(labels)
    empty = {"n_both": np.zeros(m, np.int64), "n_inconsistent": np.zeros(m, np.int64), "n_first": np.zeros(m, np.int64)}
    ok = ann >= 0
    if not ok.any():
        return empty
    comp = data.codes("comparison_id")[0][ok]
    a = ann[ok]
    flip = data.flipped()[ok].astype(np.int64)
    oc = data.oriented_choice()[ok].astype(np.int64)
    disp = data.choice_codes()[ok].astype(np.int64)
    _, g = np.unique(a * (comp.max() + 1) + comp, return_inverse=True)
    ng = int(g.max()) + 1

    def span(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = np.full(ng, np.iinfo(np.int64).max)
        hi = np.full(ng, np.iinfo(np.int64).min)
        np.minimum.at(lo, g, v)
        np.maximum.at(hi, g, v)
        return lo, hi

    flo, fhi = span(flip)
    olo, ohi = span(oc)
    dlo, dhi = span(disp)
    both = flo != fhi
    inconsistent = both & (olo != ohi)
    first = inconsistent & (dlo == 0) & (dhi == 0)
    group_ann = np.zeros(ng, np.int64)
    group_ann[g] = a
    return {
        "n_both": np.bincount(group_ann, weights=both, minlength=m).astype(np.int64),
        "n_inconsistent": np.bincount(group_ann, weights=inconsistent, minlength=m).astype(np.int64),
        "n_first": np.bincount(group_ann, weights=first, minlength=m).astype(np.int64),
    }


def _annotator_table(data: PreferenceData, choice: np.ndarray, both: dict[str, np.ndarray],
                     confidence_level: float, fdr: float, skipped: list[str]) -> pd.DataFrame:
    columns = ["n", "n_a", "estimate", "ci_low", "ci_high", "p_value", "q_value", "n_both_orders",
               "n_inconsistent", "consistency", "flagged", "reason"]
    ann, labels = data.codes("annotator_id")
    if not len(labels):
        skipped.append("per-annotator table: the judgments have no annotator ids")
        return pd.DataFrame(columns=columns, index=pd.Index([], name="annotator_id"))
    m = len(labels)
    use = (choice < 2) & (ann >= 0)
    n = np.bincount(ann[use], minlength=m).astype(np.float64)
    k = np.bincount(ann[use], weights=(choice[use] == 0).astype(np.float64), minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = k / n
        consistency = 1.0 - both["n_inconsistent"] / both["n_both"]
    low, high = wilson_interval(k, n, confidence_level)
    p = binom_two_sided(k, n, 0.5)
    q = bh_qvalues(p)
    flagged = np.nan_to_num(q, nan=1.0) < fdr
    pool = k.sum() / n.sum() if n.sum() else np.nan
    reason = [
        f"chooses the first response {e:.0%} of the time (pool {pool:.0%}, n={int(nn)}), q {fmt_p(qq)}"
        if f else "" for e, nn, qq, f in zip(est, n, q, flagged)
    ]
    return pd.DataFrame(
        {"n": n.astype(np.int64), "n_a": k.astype(np.int64), "estimate": est, "ci_low": low, "ci_high": high,
         "p_value": p, "q_value": q, "n_both_orders": both["n_both"], "n_inconsistent": both["n_inconsistent"],
         "consistency": consistency, "flagged": flagged, "reason": reason},
        index=pd.Index(labels.to_numpy(), name="annotator_id"),
    )
