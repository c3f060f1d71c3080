"""``pq.compare``: a new batch against a baseline batch, metric by metric, with verdicts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._types import RngLike
from ..schema import PreferenceData
from ._core import analyse, check_metrics, verdicts
from ._result import COMPARE_COLUMNS, CompareResult

__all__ = ["compare"]


def compare(
    data: PreferenceData,
    baseline: PreferenceData,
    *,
    metrics: Sequence[str] | None = None,
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    min_judgments: int = 10,
    rng: RngLike = 0,
) -> CompareResult:
    """Compare every metric of a new batch with a baseline batch, and its annotators with theirs.

    Parameters
    ----------
    data : PreferenceData
        The new batch.
    baseline : PreferenceData
        The baseline batch (for example last month's delivery).
    metrics : list of str, optional
        As in :func:`prefqa.drift` (default all that the data supports).
    confidence_level, fdr : float
        Interval level, and the Benjamini-Hochberg level across metrics.
    min_judgments : int
        Fewest values for an annotator test (on each side).
    rng : int, Generator or None
        Seed for the ICC bootstrap.

    Returns
    -------
    CompareResult
        ``.metrics`` (one row per metric with ``verdict``), ``.annotators``
        (status ``new``, ``gone``, ``changed``, ``same``, ``not tested``).

    Notes
    -----
    The difference of each metric (new minus baseline) and its SE are those
    of :func:`prefqa.drift` with the baseline dataset as the baseline
    window: a two-way (annotators x prompts) jackknife that deletes an
    annotator from both batches at once where annotators overlap. Verdicts
    come from the BH-adjusted tests across the metrics: ``not estimable``
    when the test cannot be computed, ``same`` when ``q_value >= fdr``,
    otherwise ``better`` or ``worse`` by the metric's direction: higher is
    better for ``alpha``, ``ac1`` and ``icc``; lower is better for
    ``tie_rate`` and ``flagged_share``; for ``p_first`` and ``p_longer`` a
    move away from 1/2 (more position or length bias) is worse; any
    significant change of ``score_mean`` (leniency drift) is ``worse``.
    Annotators are ``new`` (not in the baseline), ``gone`` (only in the
    baseline), ``changed`` (flagged by the annotator tests of
    :func:`prefqa.drift`; new annotators are tested against the baseline
    pool and keep the status ``new``), else ``same`` or ``not tested``
    (too few values).

    Examples
    --------
    >>> import prefqa as pq
    >>> old, truth = pq.simulate(n_prompts=150, n_annotators=10, rng=1)
    >>> new, _ = pq.simulate(n_prompts=150, annotators=truth.annotators, position_effect=1.0, rng=2)
    >>> res = pq.compare(new, old, metrics=["p_first", "alpha"])
    >>> res.verdicts
    {'p_first': 'worse', 'alpha': 'same'}
    """
    from ._drift import _check_min, as_memory

    data, notes = as_memory(data)
    baseline, more = as_memory(baseline, "baseline")
    metrics_t = check_metrics(metrics)

    min_n = _check_min(min_judgments)
    jw = np.zeros(data.n_judgments, dtype=np.int64)
    rw = np.zeros(len(data.ratings), dtype=np.int64) if data.ratings is not None else None
    res = analyse(data, jw, rw, ("new",), None, baseline, metrics_t, confidence_level=confidence_level, fdr=fdr,
                  min_judgments=min_n, rng=rng)
    w = res.windows
    done = set(w["metric"]) if len(w) else set()
    missing = [m for m in metrics_t if m not in done]
    if missing:  # requested but not computable: one row each, 'not estimable' with the reason
        why = {n.split(":", 1)[0]: n.split(":", 1)[1].strip() for n in res.warnings if ": not computed" in n}
        extra = pd.DataFrame({"window": "new", "metric": missing, "n_judgments": 0, "p_value": np.nan,
                              "estimate": np.nan, "baseline": np.nan, "difference": np.nan,
                              "reason": [why.get(m, "not computed").removeprefix("not computed (").removesuffix(").")
                                         for m in missing]})
        w = pd.concat([w, extra], ignore_index=True) if len(w) else extra
        w = w.set_index("metric").reindex(list(metrics_t)).reset_index()
    if len(w):
        w = w.copy()
        w["q_value"] = _bh(w["p_value"].to_numpy(dtype=float))
        w["n_baseline"] = w["metric"].map(_baseline_counts(data, baseline))
        w["baseline_ci_low"] = w["metric"].map(lambda m: res.baseline_ci.get(m, (np.nan, np.nan))[0])
        w["baseline_ci_high"] = w["metric"].map(lambda m: res.baseline_ci.get(m, (np.nan, np.nan))[1])
        w["verdict"] = verdicts(w, fdr)
        w.loc[w["verdict"] == "same", "reason"] = ""
        table = w[COMPARE_COLUMNS].reset_index(drop=True)
    else:
        table = pd.DataFrame(columns=COMPARE_COLUMNS)
    a = res.annotators
    new_side = a[a["window"] == "new"].set_index("annotator_id")
    base_side = a[a["window"] == "baseline"].set_index("annotator_id")
    ids = list(dict.fromkeys(list(new_side.index) + list(base_side.index)))
    status = []
    for i in ids:
        if i not in base_side.index:
            status.append("new")
        elif i not in new_side.index:
            status.append("gone")
        elif bool(new_side.loc[i, "flagged"]):
            status.append("changed")
        elif np.isfinite(new_side.loc[i, "p_value"]):
            status.append("same")
        else:
            status.append("not tested")
    ann = new_side.reindex(ids).drop(columns=["window", "in_baseline", "new"], errors="ignore")
    ann.insert(0, "status", status)
    ann.insert(2, "n_baseline", base_side["n_judgments"].reindex(ids).fillna(0).astype("int64").to_numpy())
    ann["n_judgments"] = ann["n_judgments"].fillna(0).astype("int64")
    ann["flagged"] = ann["flagged"].fillna(False).astype(bool)
    ann["reason"] = ann["reason"].fillna("").astype(str)
    ann.loc[ann["status"] == "gone", "reason"] = "only in the baseline"
    ann = ann.rename_axis("annotator_id").reset_index()
    st = ann["status"]
    return CompareResult(
        metrics=table, annotators=ann, new_annotators=tuple(ann.loc[st == "new", "annotator_id"]),
        gone_annotators=tuple(ann.loc[st == "gone", "annotator_id"]),
        changed_annotators=tuple(ann.loc[st == "changed", "annotator_id"]),
        confidence_level=float(confidence_level), fdr=float(fdr), n_judgments=int(data.n_judgments),
        n_baseline=int(baseline.n_judgments), warnings=notes + more + res.warnings,
    )


def _bh(p: np.ndarray) -> np.ndarray:
    from .._stats import bh_qvalues

    return bh_qvalues(p)


def _baseline_counts(data: PreferenceData, baseline: PreferenceData) -> dict[str, int]:
    n_r = len(baseline.ratings) if baseline.ratings is not None else 0
    return {m: (n_r if m in ("score_mean", "icc") else baseline.n_judgments) for m in
            ("alpha", "ac1", "p_first", "p_longer", "tie_rate", "flagged_share", "score_mean", "icc")}
