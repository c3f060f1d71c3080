"""Result objects of :func:`prefqa.drift` and :func:`prefqa.compare`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["ANNOTATOR_COLUMNS", "COMPARE_COLUMNS", "CompareResult", "DriftResult", "WINDOW_COLUMNS"]

#: Columns of ``DriftResult.windows`` (stable: the CLI, the report and the app read them).
WINDOW_COLUMNS = [
    "window", "metric", "n_judgments", "estimate", "std_error", "ci_low", "ci_high", "baseline", "difference",
    "diff_std_error", "diff_ci_low", "diff_ci_high", "df", "p_value", "q_value", "flagged", "reason",
    "in_baseline", "cusum_upper", "cusum_lower", "alarm",
]
#: Leading columns of ``DriftResult.annotators``; per-metric columns follow (``agreement``,
#: ``agreement_baseline``, ``p_agreement``, ``q_agreement``, then ``p_a``/``position``, ``gold_accuracy``/``gold``,
#: ``score_mean``/``score`` when they exist).
ANNOTATOR_COLUMNS = ["window", "annotator_id", "n_judgments", "in_baseline", "new", "p_value", "q_value",
                     "flagged", "reason"]
#: Columns of ``CompareResult.metrics``.
COMPARE_COLUMNS = ["metric", "n_judgments", "n_baseline", "estimate", "ci_low", "ci_high", "baseline",
                   "baseline_ci_low", "baseline_ci_high", "difference", "diff_std_error", "diff_ci_low",
                   "diff_ci_high", "p_value", "q_value", "verdict", "reason"]


@dataclass(frozen=True, eq=False)
class DriftResult:
    """Metrics by window against a baseline, CUSUM alarms, and annotator x window changes.

    Attributes
    ----------
    windows : DataFrame
        One row per window x metric (:data:`WINDOW_COLUMNS`): the window's
        estimate with CI; the baseline estimate; the difference to it with
        CI, test (``p_value``), BH ``q_value`` within the metric over the
        monitored windows, ``flagged`` (``q_value < fdr``) and ``reason``;
        ``in_baseline``; the CUSUM sums and ``alarm`` (limit crossed).
    annotators : DataFrame
        One row per annotator x window (:data:`ANNOTATOR_COLUMNS` plus the
        per-metric columns).
    labels : tuple of str
        The windows in time order.
    baseline_windows : tuple of str
        The baseline windows (``("baseline",)`` for a baseline dataset).
    baseline_rule : str
        How the baseline was chosen.
    change_points : dict
        Per metric, the first window where the CUSUM crossed its limit (or None).
    time, freq, window : str or None
        The settings that formed the windows (``time`` and ``freq``, or ``window``).
    """

    windows: pd.DataFrame
    annotators: pd.DataFrame
    labels: tuple[str, ...]
    baseline_windows: tuple[str, ...]
    baseline_rule: str
    window_source: str
    metrics: tuple[str, ...]
    change_points: dict[str, str | None]
    confidence_level: float
    fdr: float
    cusum_k: float
    cusum_h: float
    n_judgments: int
    n_ratings: int
    n_annotators: int
    n_windows: int
    se_method: str = "two_way_jackknife"
    warnings: tuple[str, ...] = field(default=())
    time: str | None = None
    freq: str | None = None
    window: str | None = None

    def to_frame(self) -> pd.DataFrame:
        """Return :attr:`windows` (one row per window x metric)."""
        return self.windows.copy()

    def tidy(self) -> pd.DataFrame:
        """Plotting frame: one row per window x metric with its position, band and markers.

        Columns ``window, position`` (0, 1, ... in time order), ``metric,
        estimate, ci_low, ci_high, baseline`` (the baseline estimate),
        ``band_low, band_high`` (the baseline's CI), ``in_baseline,
        flagged, alarm``.
        """
        w = self.windows
        pos = {lab: i for i, lab in enumerate(self.labels)}
        band = w.attrs.get("baseline_ci", {})
        out = pd.DataFrame({
            "window": w["window"], "position": w["window"].map(pos).astype("int64"), "metric": w["metric"],
            "estimate": w["estimate"], "ci_low": w["ci_low"], "ci_high": w["ci_high"], "baseline": w["baseline"],
            "band_low": w["metric"].map(lambda m: band.get(m, (np.nan, np.nan))[0]).astype(float),
            "band_high": w["metric"].map(lambda m: band.get(m, (np.nan, np.nan))[1]).astype(float),
            "in_baseline": w["in_baseline"], "flagged": w["flagged"], "alarm": w["alarm"],
        })
        return out.reset_index(drop=True)

    @property
    def flagged_windows(self) -> pd.DataFrame:
        """The flagged window x metric rows."""
        return self.windows[self.windows["flagged"]].reset_index(drop=True)

    def summary(self) -> str:
        """Return a plain-text account: windows, baseline, flagged windows, alarms, flagged annotators."""
        lines = [f"Drift over {self.n_windows} windows ({self.window_source}); baseline: {self.baseline_rule}.",
                 f"{self.n_judgments:,} judgments, {self.n_ratings:,} ratings, {self.n_annotators} annotators; "
                 f"differences to the baseline by a {self.se_method.replace('_', ' ')} (annotators x prompts), "
                 f"BH at {self.fdr:g} within each metric; CUSUM k = {self.cusum_k:g}, h = {self.cusum_h:g}."]
        flagged = self.flagged_windows
        if len(flagged):
            lines.append("Flagged windows:")
            lines += [f"  {r.metric} in {r.window}: {r.reason}" for r in flagged.itertuples()]
        else:
            lines.append("No window differs from the baseline at the FDR level.")
        alarms = {m: w for m, w in self.change_points.items() if w is not None}
        if alarms:
            lines.append("CUSUM alarms (first window): " + ", ".join(f"{m} at {w}" for m, w in alarms.items()))
        a = self.annotators
        if len(a) and a["flagged"].any():
            lines.append(f"Flagged annotator-windows ({int(a['flagged'].sum())}):")
            lines += [f"  {r.annotator_id}: {r.reason}" for r in a[a["flagged"]].head(10).itertuples()]
        lines += [f"Note: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class CompareResult:
    """A new batch against a baseline batch: metric differences with verdicts, annotators new, gone, changed.

    Attributes
    ----------
    metrics : DataFrame
        One row per metric (:data:`COMPARE_COLUMNS`); ``verdict`` is
        ``worse``, ``better``, ``same`` or ``not estimable``.
    annotators : DataFrame
        One row per annotator of either batch: ``annotator_id, status``
        (``new``, ``gone``, ``changed``, ``same``, ``not tested``),
        ``n_judgments, n_baseline``, the per-metric values and tests of
        ``drift``'s annotator table, ``flagged, reason``.
    """

    metrics: pd.DataFrame
    annotators: pd.DataFrame
    new_annotators: tuple[str, ...]
    gone_annotators: tuple[str, ...]
    changed_annotators: tuple[str, ...]
    confidence_level: float
    fdr: float
    n_judgments: int
    n_baseline: int
    se_method: str = "two_way_jackknife"
    warnings: tuple[str, ...] = field(default=())

    @property
    def verdicts(self) -> dict[str, str]:
        """Metric -> verdict."""
        return dict(zip(self.metrics["metric"], self.metrics["verdict"]))

    @property
    def worse(self) -> bool:
        """Whether any metric is ``worse`` or any new or changed annotator is flagged (the ``drift`` gate)."""
        a = self.annotators
        return bool((self.metrics["verdict"] == "worse").any()
                    or (a["flagged"] & a["status"].isin(["new", "changed"])).any())

    def to_frame(self) -> pd.DataFrame:
        """Return :attr:`metrics` (one row per metric)."""
        return self.metrics.copy()

    def summary(self) -> str:
        """Return a plain-text account of the verdicts and the annotator changes."""
        lines = [f"New batch ({self.n_judgments:,} judgments) against the baseline ({self.n_baseline:,}); "
                 f"verdicts by BH-adjusted tests at {self.fdr:g}:"]
        for r in self.metrics.itertuples():
            est = "n/a" if not np.isfinite(r.estimate) else f"{r.estimate:.3f}"
            base = "n/a" if not np.isfinite(r.baseline) else f"{r.baseline:.3f}"
            lines.append(f"  {r.metric}: {est} vs {base} -> {r.verdict}" + (f" ({r.reason})" if r.reason else ""))
        lines.append(f"Annotators: {len(self.new_annotators)} new, {len(self.gone_annotators)} gone, "
                     f"{len(self.changed_annotators)} changed.")
        a = self.annotators
        lines += [f"  {r.annotator_id} ({r.status}): {r.reason}" for r in a[a["flagged"]].head(10).itertuples()]
        lines += [f"Note: {w}" for w in self.warnings]
        return "\n".join(lines)
