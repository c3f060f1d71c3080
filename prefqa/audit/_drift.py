"""The audit's Drift section: ``pq.drift`` by time window or batch, control charts and an agreement heatmap.

:func:`drift_step` is an audit adapter (``(data, config, done) -> (section, result)``): it
runs when the judgments have a time column (``timestamp``) or a batch column (``batch``), or
the ones named in ``[audit.drift]`` (``time = "created"`` / ``window = "vendor_batch"``;
every other key there is a keyword option of ``pq.drift``), and copies the result into the
report dict: the summary, the window x metric table, the annotator x window table, one
control-chart series per metric and an annotator x window agreement matrix. Without such a
column it raises :class:`~prefqa.errors.InsufficientDataError`, which the runner records as
a skip with that reason.

:func:`plot_drift` draws, from that dict only, (1) the control charts: each metric by
window with its confidence interval, the baseline estimate (dashed) and its confidence
interval as a band, the baseline windows shaded, flagged windows (after BH) in red, and the
metric's first CUSUM alarm as a dotted rule; (2) the heatmap of each annotator's agreement
by window, flagged annotator-windows crossed. :func:`drift_findings` turns the flags into
report findings. No statistic is computed here: every number is a column of
``DriftResult`` (``tidy()`` for the charts, ``annotators`` pivoted for the heatmap).

Examples
--------
>>> import prefqa as pq
>>> data, _ = pq.simulate(n_prompts=30, n_annotators=8, rng=1)
>>> drift_step(data, {"audit": {"confidence_level": 0.95, "max_table_rows": 50}}, {})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
prefqa.errors.InsufficientDataError: no time or batch column in this file ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InsufficientDataError
from ..schema import PreferenceData
from ._json import frame_records, jsonable

# ``_steps`` and ``_plots`` are imported inside the functions, so that both can import this module
# (the Drift step in STEPS, its figures in PLOTS) without an import cycle.

__all__ = ["MAX_HEATMAP_ANNOTATORS", "drift_findings", "drift_step", "plot_drift"]

#: Annotators shown in the heatmap: the flagged first, then those with the most judgments.
MAX_HEATMAP_ANNOTATORS = 40


def _window_column(data: PreferenceData, opts: dict[str, Any]) -> dict[str, Any]:
    """``{}`` (the time column, pq.drift's default), ``{"window": "batch"}``, or a skip when neither exists."""
    if opts.get("time") is not None or opts.get("window") is not None:
        return {}
    tables = [t for t in (data.judgments, data.ratings) if t is not None and len(t)]

    def present(column: str) -> bool:
        return any(column in t and t[column].notna().any() for t in tables)

    if present("timestamp"):
        return {}
    if present("batch"):
        return {"window": "batch"}
    raise InsufficientDataError(
        "no time or batch column in this file (no `timestamp` and no `batch` column among the judgments or "
        "ratings), so there are no windows to compare; name one with [audit.drift] time = \"COLUMN\" or "
        "window = \"COLUMN\"")


def drift_step(data: PreferenceData, config: dict[str, Any], done: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Run ``pq.drift`` on the audited data and describe it for the report (an audit adapter)."""
    from ..drift import drift
    from ._steps import describe

    opts = dict(config["audit"].get("drift", {}))
    opts = {**_window_column(data, opts), **opts}
    opts.setdefault("confidence_level", config["audit"]["confidence_level"])
    res = drift(data, **opts)
    max_rows = int(config["audit"].get("max_table_rows", 200))
    section = describe(res, max_rows=max_rows)
    section["control"] = control_series(res)
    section["change_points"] = {str(k): (None if v is None else str(v)) for k, v in res.change_points.items()}
    section["heatmap"] = heatmap(res.annotators)
    section["flagged_windows"] = frame_records(_flagged(res.windows)[
        [c for c in ("window", "metric", "estimate", "baseline", "difference", "q_value", "reason")
         if c in res.windows]], max_rows=max_rows)
    section["flagged_annotators"] = frame_records(_flagged(res.annotators)[
        [c for c in ("window", "annotator_id", "n_judgments", "agreement", "q_value", "reason")
         if c in res.annotators]], max_rows=max_rows)
    return section, res


def _flagged(frame: pd.DataFrame) -> pd.DataFrame:
    if "flagged" not in frame or not len(frame):
        return frame.iloc[:0]
    return frame[frame["flagged"].fillna(False).astype(bool).to_numpy()]


def _windows_in_order(frame: pd.DataFrame) -> list[Any]:
    return list(dict.fromkeys(frame["window"].astype(str).tolist())) if "window" in frame else []


def control_series(res: Any) -> list[dict[str, Any]]:
    """One entry per metric from ``DriftResult.tidy()``: windows in order with estimate, CI, baseline band, flags.

    The band is the baseline's confidence interval (``band_low``, ``band_high`` of ``tidy()``);
    ``first_alarm`` is the metric's first CUSUM alarm (``DriftResult.change_points``).
    """
    t = res.tidy()
    if not len(t):
        return []
    t = t.sort_values(["position"], kind="stable")
    points = getattr(res, "change_points", {}) or {}
    out = []
    for metric, rows in t.groupby("metric", sort=False, observed=True):
        frame = pd.DataFrame({
            "window": rows["window"].astype(str).to_numpy(),
            **{c: rows[c].to_numpy(dtype=float, na_value=np.nan)
               for c in ("estimate", "ci_low", "ci_high", "baseline", "band_low", "band_high")},
            **{c: rows[c].fillna(False).to_numpy(dtype=bool) for c in ("flagged", "alarm", "in_baseline")},
        })
        alarm = points.get(metric)
        out.append({"metric": str(metric), "first_alarm": None if alarm is None else str(alarm),
                    "rows": frame_records(frame)})
    return out


def heatmap(annotators: pd.DataFrame, *, limit: int = MAX_HEATMAP_ANNOTATORS) -> dict[str, Any] | None:
    """The annotator x window agreement matrix (rows: flagged annotators first, then by judgments)."""
    need = {"window", "annotator_id", "agreement"}
    if not len(annotators) or not need <= set(annotators.columns):
        return None
    a = annotators
    windows = [str(w) for w in _windows_in_order(a)]
    ids = a["annotator_id"].astype(str)
    flag = a["flagged"].fillna(False).astype(bool) if "flagged" in a else pd.Series(False, index=a.index)
    n = a["n_judgments"].to_numpy(dtype=float, na_value=0.0) if "n_judgments" in a else np.ones(len(a))
    per = pd.DataFrame({"id": ids.to_numpy(), "flag": flag.to_numpy(), "n": n}).groupby("id", sort=False)
    rank = pd.DataFrame({"flag": per["flag"].any(), "n": per["n"].sum()})
    rank = rank.sort_values(["flag", "n"], ascending=[False, False], kind="stable")
    shown = [str(i) for i in rank.index[:limit]]
    wide = pd.DataFrame({"id": ids.to_numpy(), "w": a["window"].astype(str).to_numpy(),
                         "v": a["agreement"].to_numpy(dtype=float, na_value=np.nan), "f": flag.to_numpy()})
    values = wide.pivot_table(index="id", columns="w", values="v", aggfunc="first", dropna=False)
    flags = wide.pivot_table(index="id", columns="w", values="f", aggfunc="max", dropna=False)
    values = values.reindex(index=shown, columns=windows)
    flags = flags.reindex(index=shown, columns=windows)
    return {"windows": windows, "annotators": shown, "n_annotators": int(len(rank)),
            "agreement": jsonable(values.to_numpy(dtype=float).tolist()),
            "flagged": [[bool(x) if x == x else False for x in row] for row in flags.to_numpy(dtype=object)]}


# ------------------------------------------------------------------ plots
_METRIC_WORDS = {"alpha": "Krippendorff's alpha", "ac1": "Gwet's AC1", "p_first": "P(first shown chosen)",
                 "p_longer": "P(longer chosen)", "tie_rate": "tie rate",
                 "flagged_share": "judgments by flagged annotators", "score_mean": "mean score", "icc": "ICC"}


def _short(window: Any) -> str:
    """A window label for an axis: a period's start ("2026-01-05/2026-01-11" -> "2026-01-05"), clipped."""
    from ._plots import _label

    text = str(window)
    return _label(text.split("/")[0] if "/" in text else text, 14)


def plot_control(series: Sequence[dict[str, Any]]) -> str | None:
    """Small multiples: each metric by window, CI bars, baseline band, flagged windows and the first CUSUM alarm."""
    from ._plots import _BASE, _FLAG, _num, svg_of

    series = [s for s in series if any(r.get("estimate") is not None for r in s["rows"])]
    if not series:
        return None
    n = len(series)
    cols = 2 if n > 1 else 1
    nrows = (n + cols - 1) // cols

    def draw(ax: Any) -> None:
        fig = ax.figure
        ax.remove()
        axes = fig.subplots(nrows, cols, squeeze=False)
        for k, s in enumerate(series):
            a = axes[k // cols][k % cols]
            rows = s["rows"]
            x = np.arange(len(rows), dtype=float)
            est = np.array([_num(r.get("estimate")) for r in rows])
            lo = np.array([_num(r.get("ci_low"), e) for r, e in zip(rows, est)])
            hi = np.array([_num(r.get("ci_high"), e) for r, e in zip(rows, est)])
            base = np.array([_num(r.get("baseline")) for r in rows])
            blo = np.array([_num(r.get("band_low")) for r in rows])
            bhi = np.array([_num(r.get("band_high")) for r in rows])
            flagged = np.array([bool(r.get("flagged")) for r in rows])
            base_w = np.flatnonzero([bool(r.get("in_baseline")) for r in rows])
            if len(base_w):
                a.axvspan(base_w.min() - 0.5, base_w.max() + 0.5, color=_BASE, alpha=0.07, lw=0,
                          label="baseline windows")
            if np.isfinite(blo).any():
                a.fill_between(x, blo, bhi, color="grey", alpha=0.18, lw=0, step="mid", label="baseline CI")
            if np.isfinite(base).any():
                a.plot(x, base, color="grey", lw=1, ls="--", label="baseline")
            err = np.vstack([np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)])
            err = np.nan_to_num(err)
            a.plot(x, est, color=_BASE, lw=1)
            a.errorbar(x[~flagged], est[~flagged], yerr=err[:, ~flagged], fmt="o", color=_BASE, ms=4, capsize=2)
            if flagged.any():
                a.errorbar(x[flagged], est[flagged], yerr=err[:, flagged], fmt="o", color=_FLAG, ms=6, capsize=2,
                           label="flagged (BH)")
            alarm = s.get("first_alarm")
            labels = [str(r["window"]) for r in rows]
            if alarm is not None and alarm in labels:
                a.axvline(labels.index(alarm), color=_FLAG, lw=1, ls=":", label="first CUSUM alarm")
            step = max(1, len(rows) // 8)
            a.set_xticks(x[::step], [_short(w) for w in labels[::step]], rotation=30, ha="right", fontsize=8)
            a.set_title(_METRIC_WORDS.get(s["metric"], s["metric"]), fontsize=10)
            if k == 0:
                a.legend(loc="best", frameon=False, fontsize=7)
        for k in range(n, nrows * cols):
            axes[k // cols][k % cols].set_visible(False)
        fig.suptitle("Control charts: metric by window against the baseline")

    return svg_of(draw, width=9.0, height=min(2.6 * nrows + 0.8, 14.0))


def plot_heatmap(hm: dict[str, Any] | None) -> str | None:
    """Annotator x window agreement; flagged annotator-windows crossed."""
    from ._plots import _label, svg_of

    if not hm or not hm.get("annotators") or not hm.get("windows"):
        return None
    values = np.array([[np.nan if v is None else float(v) for v in row] for row in hm["agreement"]], dtype=float)
    if not np.isfinite(values).any():
        return None
    flags = np.array(hm["flagged"], dtype=bool)
    n_a, n_w = values.shape

    def draw(ax: Any) -> None:
        im = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap="RdYlBu", vmin=0.0, vmax=1.0,
                       interpolation="nearest")
        yy, xx = np.nonzero(flags)
        if len(yy):
            ax.scatter(xx, yy, marker="x", c="black", s=22, lw=1.2, label="flagged")
            ax.legend(loc="upper right", bbox_to_anchor=(1.0, 1.12), frameon=False, fontsize=8)
        step = max(1, n_w // 12)
        ax.set_xticks(np.arange(n_w)[::step], [_short(w) for w in hm["windows"][::step]], rotation=30,
                      ha="right", fontsize=8)
        ax.set_yticks(np.arange(n_a), [_label(a, 24) for a in hm["annotators"]], fontsize=7)
        ax.figure.colorbar(im, ax=ax, label="agreement", fraction=0.04)
        more = hm.get("n_annotators", n_a) - n_a
        ax.set_title("Agreement by annotator and window" + (f" ({more} more not shown)" if more > 0 else ""))

    return svg_of(draw, width=9.0, height=min(max(2.5, 0.22 * n_a + 1.6), 12.0))


def plot_drift(section: dict[str, Any]) -> str | None:
    """Both drift figures (control charts, then the heatmap) as inline SVG, from the section dict only."""
    res = section.get("result") or {}
    figs = [f for f in (plot_control(res.get("control") or []), plot_heatmap(res.get("heatmap"))) if f]
    return "</figure><figure>".join(figs) if figs else None


# ------------------------------------------------------------------ findings
def drift_findings(content: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """Report findings from the Drift section: flagged windows per metric and flagged annotators."""
    s = content["sections"].get("drift")
    if not s or s["status"] != "ok":
        return []
    res = s["result"] or {}
    out: list[dict[str, Any]] = []
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for r in res.get("flagged_windows") or []:
        by_metric.setdefault(str(r.get("metric")), []).append(r)
    for metric, rows in by_metric.items():
        first = rows[0]
        more = f" (and {len(rows) - 1} more window(s))" if len(rows) > 1 else ""
        why = first.get("reason") or f"{metric} differs from the baseline in window {first.get('window')}"
        out.append({"severity": "medium", "code": "drift_window",
                    "message": f"Drift in {_METRIC_WORDS.get(metric, metric)}: {why}{more}; see the Drift "
                               "section's control charts.", "command": None, "value": first.get("difference"),
                    "step": "drift"})
    slow = [(m, w) for m, w in (res.get("change_points") or {}).items() if w is not None and m not in by_metric]
    for metric, window in slow:
        out.append({"severity": "low", "code": "drift_cusum",
                    "message": f"Slow drift in {_METRIC_WORDS.get(metric, metric)}: its CUSUM crossed the decision "
                               f"limit at {window}, although no single window differs from the baseline after the "
                               "BH adjustment; see the Drift section's control charts.", "command": None,
                    "value": None, "step": "drift"})
    ann = res.get("flagged_annotators") or []
    if ann:
        ids = list(dict.fromkeys(str(r.get("annotator_id")) for r in ann))
        first = ann[0]
        out.append({"severity": "medium", "code": "drift_annotators",
                    "message": f"{len(ids)} annotator(s) changed over time, for example {first.get('annotator_id')}: "
                               f"{first.get('reason')}; see the Drift section's heatmap.",
                    "command": None, "value": len(ids), "step": "drift"})
    return out
