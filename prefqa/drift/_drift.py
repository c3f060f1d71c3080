"""``pq.drift``: metrics by window against a baseline, with CUSUM alarms and annotator x window changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._types import RngLike
from ..bias._common import check_data
from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from ._core import analyse, check_metrics
from ._cusum import DEFAULT_H, DEFAULT_K, check_cusum, cusum
from ._result import DriftResult, WINDOW_COLUMNS
from ._windows import assign_windows, resolve_baseline

__all__ = ["drift"]


def as_memory(data: Any, name: str = "data") -> tuple[PreferenceData, tuple[str, ...]]:
    """Check ``data``; a ``pq.scan`` result is collected into memory (drift needs the judgment rows)."""
    check_data(data, name)
    from ..engine import ScannedData

    if isinstance(data, ScannedData):
        return data.collect(), (f"`{name}` (a pq.scan result) was collected into memory: drift works on the "
                                "judgment rows.",)
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`{name}` must be a PreferenceData or a pq.scan(...) result; got {type(data).__name__}.")
    return data, ()


def _check_min(min_judgments: Any) -> int:
    if isinstance(min_judgments, bool) or not isinstance(min_judgments, (int, np.integer)) or min_judgments < 2:
        raise SchemaError(f"`min_judgments` must be an integer >= 2; got {min_judgments!r}.")
    return int(min_judgments)


def drift(
    data: PreferenceData,
    *,
    time: str | None = None,
    freq: str = "W",
    window: str | None = None,
    baseline: int | Sequence[str] | PreferenceData | None = None,
    metrics: Sequence[str] | None = None,
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    cusum_k: float = DEFAULT_K,
    cusum_h: float = DEFAULT_H,
    min_judgments: int = 10,
    rng: RngLike = 0,
) -> DriftResult:
    """Compare every window of the data with a baseline: metrics, CUSUM alarms, annotator changes.

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Judgments (and optionally ratings) with a time column or a column
        of batch labels (a ``pq.scan`` result is collected into memory).
    time : str, optional
        Time column (default ``timestamp``), cut into periods of ``freq``.
    freq : str
        Any pandas offset alias (``"D"``, ``"W"``, ``"MS"``, ...).
    window : str, optional
        A column of batch labels to use as windows instead of a time
        column; ordered by their earliest timestamp when there is a
        ``timestamp`` column, else in order of appearance.
    baseline : int, list of str or PreferenceData, optional
        The first ``k`` windows, a list of window labels, or another
        dataset. Default: the first quarter of the windows (at least one).
    metrics : list of str, optional
        Subset of ``alpha, ac1, p_first, p_longer, tie_rate, flagged_share,
        score_mean, icc`` (default all that the data supports).
    confidence_level : float
        Level of every interval.
    fdr : float
        Benjamini-Hochberg level, within each metric across the monitored
        windows (and within each annotator metric across annotator-windows).
    cusum_k, cusum_h : float
        CUSUM reference value and decision limit, in standard errors
        (defaults 0.5 and 4: in-control average run length about 168
        windows; see :mod:`prefqa.drift._cusum`).
    min_judgments : int
        Fewest values for an annotator-window test (on each side).
    rng : int, Generator or None
        Seed for the ICC bootstrap.

    Returns
    -------
    DriftResult
        ``.windows`` (window x metric), ``.annotators`` (annotator x
        window), ``.change_points``, ``.tidy()``, ``.summary()``.

    Raises
    ------
    SchemaError
        No time or window column, bad options, baseline labels not found.
    InsufficientDataError
        Fewer than two windows (and no baseline dataset).

    Notes
    -----
    Each comparison lies in the window of its first judgment. The estimate
    of a window and its difference to the (pooled) baseline are smooth
    functions of unit totals; their standard errors come from a two-way
    (annotators x prompts) delete-one jackknife that deletes each annotator
    or prompt from both sides at once, so the correlation of a window with
    the baseline through shared annotators is accounted for (see
    :mod:`prefqa.drift._jackknife`). ``p_value`` tests a zero difference
    (t with ``min(G) - 1`` degrees of freedom); ``flagged`` is
    ``q_value < fdr``. Baseline windows show their difference to the pooled
    baseline but no SE or test. On null simulations (12 heterogeneous
    annotators, 8 windows, 40 seeds) the standardised differences have SD
    0.95-1.02 for every metric, and 2-4% of the p-values fall below 0.05
    (t with 11 degrees of freedom is conservative there). ``alarm`` marks windows where the two-sided CUSUM of
    the standardised differences exceeds ``cusum_h``. The annotator table
    measures agreement against the reliable baseline annotators, so that a
    bad new team cannot make the others look worse (see
    :mod:`prefqa.drift._annotators`).

    Examples
    --------
    >>> import prefqa as pq
    >>> from prefqa.simulate import Shift
    >>> data, truth = pq.simulate(n_prompts=240, n_annotators=12, n_windows=6, rng=3,
    ...                           drift=[Shift(window=4, position=1.5)])
    >>> res = pq.drift(data, baseline=2, metrics=["p_first", "tie_rate"])
    >>> res.windows.loc[res.windows["flagged"], ["window", "metric"]].values.tolist()
    [['2026-02-02/2026-02-08', 'p_first'], ['2026-02-09/2026-02-15', 'p_first']]
    >>> res.change_points["p_first"]
    '2026-02-02/2026-02-08'
    """
    data, collected = as_memory(data)
    metrics_t = check_metrics(metrics)
    check_cusum(cusum_k, cusum_h)
    min_n = _check_min(min_judgments)
    win = assign_windows(data, time=time, freq=freq if window is None else None, window=window)
    labels = win.labels
    base_data = None
    from ..engine import ScannedData

    if isinstance(baseline, (PreferenceData, ScannedData)):
        base_data, more = as_memory(baseline, "baseline")
        collected += more
        base_idx, rule = None, "a separate baseline dataset"
        base_labels: tuple[str, ...] = ("baseline",)
    else:
        if len(labels) < 2:
            raise InsufficientDataError(
                f"drift needs at least two windows to compare; {win.source} gives one ({labels[0]!r}). Use a "
                "shorter `freq`, a batch column (window=...), or pass a baseline dataset (baseline=...).")
        base_idx, rule = resolve_baseline(labels, baseline)
        base_labels = tuple(labels[i] for i in base_idx)
    res = analyse(data, win.judgment_window, win.rating_window, labels, base_idx, base_data, metrics_t,
                  confidence_level=confidence_level, fdr=fdr, min_judgments=min_n, rng=rng)
    frame = res.windows
    notes = list(collected) + list(res.warnings)
    if win.n_dropped:
        notes.append(f"{win.n_dropped:,} judgments have no time or window label and are left out.")
    change: dict[str, str | None] = {}
    if len(frame):
        metric = frame["metric"].to_numpy(dtype=object)
        in_base = frame["in_baseline"].to_numpy(dtype=bool)
        with np.errstate(invalid="ignore", divide="ignore"):
            z_all = frame["difference"].to_numpy(dtype=float) / frame["diff_std_error"].to_numpy(dtype=float)
        upper, lower = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
        alarm_all = np.zeros(len(frame), dtype=bool)
        window_col = frame["window"].to_numpy(dtype=object)
        for name in dict.fromkeys(metric):  # rows are in window order within each metric
            mon = np.flatnonzero((metric == name) & ~in_base)
            up, down = cusum(z_all[mon], cusum_k, cusum_h)
            upper[mon], lower[mon] = up, down
            alarm = (up > cusum_h) | (down > cusum_h)
            alarm_all[mon] = alarm
            change[name] = str(window_col[mon[np.argmax(alarm)]]) if alarm.any() else None
        frame["cusum_upper"], frame["cusum_lower"], frame["alarm"] = upper, lower, alarm_all
        frame = frame[WINDOW_COLUMNS]
    else:
        frame = frame.reindex(columns=WINDOW_COLUMNS)
    frame.attrs["baseline_ci"] = res.baseline_ci
    n_r = int((win.rating_window >= 0).sum()) if win.rating_window is not None else 0
    return DriftResult(
        windows=frame.reset_index(drop=True), annotators=res.annotators, labels=labels,
        baseline_windows=base_labels, baseline_rule=rule, window_source=win.source,
        metrics=tuple(dict.fromkeys(frame["metric"])) if len(frame) else (), change_points=change,
        confidence_level=float(confidence_level), fdr=float(fdr), cusum_k=float(cusum_k), cusum_h=float(cusum_h),
        n_judgments=int(data.n_judgments - win.n_dropped), n_ratings=n_r, n_annotators=res.n_annotators,
        n_windows=len(labels), warnings=tuple(notes),
        time=None if window is not None else (time or "timestamp"), freq=None if window is not None else freq,
        window=window,
    )
