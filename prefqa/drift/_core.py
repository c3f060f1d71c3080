"""The shared engine of :func:`prefqa.drift` and :func:`prefqa.compare`: metrics per window vs a baseline."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from .._stats import bh_qvalues
from .._types import RngLike, as_generator
from ..bias._common import check_confidence_level, check_fdr
from ..errors import PrefqaError, PrefqaWarning, SchemaError
from ..schema import PreferenceData
from ._annotators import annotator_windows
from ._jackknife import UnitStats, all_windows, contrast
from ._metrics import (
    DIRECTION,
    JUDGMENT_METRICS,
    METRICS,
    RATING_METRICS,
    _codes,
    concat_inputs,
    judgment_inputs,
    rating_stats,
    window_icc,
)

__all__ = ["Analysis", "analyse", "check_metrics"]


def check_metrics(metrics: Any) -> tuple[str, ...]:
    if metrics is None:
        return METRICS
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    try:
        metrics = [str(m) for m in metrics]
    except TypeError:
        raise SchemaError(f"`metrics` must be a list of metric names from {list(METRICS)}; got {metrics!r}.") from None
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise SchemaError(f"unknown drift metric(s) {bad}; choose from {list(METRICS)}.")
    return tuple(dict.fromkeys(metrics))


@dataclass(frozen=True, eq=False)
class Analysis:
    windows: pd.DataFrame
    annotators: pd.DataFrame
    baseline_ci: dict[str, tuple[float, float]]
    warnings: tuple[str, ...]
    n_annotators: int


def _flags(data: PreferenceData, window: np.ndarray, n_windows: int, notes: list[str]) -> np.ndarray:
    """Per judgment: its annotator is flagged by ``annotator_table`` on the judgments of its window."""
    from ..annotators import annotator_table

    out = np.zeros(data.n_judgments, dtype=bool)
    ann = data.judgments["annotator_id"].astype(str).to_numpy(dtype=object)
    for w in range(n_windows):  # one annotator table per window
        mask = window == w
        if not mask.any():
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PrefqaWarning)
                tab = annotator_table(data.subset(mask))
        except PrefqaError as exc:
            notes.append(f"flagged_share: annotator_table failed on a window ({exc}).")
            continue
        ids = set(tab.index[tab["flagged"].to_numpy(dtype=bool)].astype(str))
        out[mask] = np.isin(ann[mask], list(ids))
    return out


def _rating_clusters(data: PreferenceData) -> np.ndarray:
    r = cast(pd.DataFrame, data.ratings)  # called only when data has ratings
    if "prompt_id" in r.columns and r["prompt_id"].notna().any():
        pid = r["prompt_id"].astype(str)
    elif data.responses is not None and "prompt_id" in data.responses.columns:
        pid = r["response_id"].map(data.responses.set_index("response_id")["prompt_id"]).astype(str)
    else:
        pid = r["response_id"].astype(str)
    return ("p:" + pid.fillna("<NA>")).to_numpy(dtype=object)


@functools.lru_cache(maxsize=256)
def _z(level: float, df: float) -> float:
    return float(stats.t.ppf(0.5 + level / 2.0, df)) if np.isfinite(df) else np.nan


def analyse(data: PreferenceData, jw: np.ndarray, rw: np.ndarray | None, labels: Sequence[str],
            base_idx: np.ndarray | None, base_data: PreferenceData | None, metrics: tuple[str, ...], *,
            confidence_level: float, fdr: float, min_judgments: int, rng: RngLike) -> Analysis:
    """Every metric for every window of ``data`` against the baseline windows or the baseline dataset."""
    check_confidence_level(confidence_level)
    check_fdr(fdr)
    notes: list[str] = []
    gen = as_generator(rng)
    n_data_w = len(labels)
    n_all = n_data_w + (1 if base_data is not None else 0)
    base = np.array([n_data_w]) if base_data is not None else np.asarray(base_idx)
    all_labels = tuple(labels) + (("baseline",) if base_data is not None else ())
    sources: list[tuple[PreferenceData, np.ndarray, np.ndarray | None, str]] = [(data, jw, rw, "n:")]
    if base_data is not None:
        b_rw = np.full(len(base_data.ratings), n_data_w) if base_data.ratings is not None else None
        sources.append((base_data, np.full(base_data.n_judgments, n_data_w), b_rw, "b:"))
    want_j = [m for m in metrics if m in JUDGMENT_METRICS]
    inputs = None
    if want_j and (jw >= 0).any():
        parts = []
        for d, d_win, _, prefix in sources:
            flagged = _flags(d, d_win, n_all, notes) if "flagged_share" in want_j else np.zeros(d.n_judgments, bool)
            parts.append(judgment_inputs(d, d_win, flagged, prefix))
        inputs = concat_inputs(parts)
    ratings = None
    if any(m in RATING_METRICS for m in metrics) and all(
            d.ratings is not None and r is not None for d, _, r, _ in sources):
        frame = pd.concat([cast(pd.DataFrame, d.ratings)[["response_id", "annotator_id", "score"]].assign(
            response_id=lambda f, p=p: p + f["response_id"].astype(str), annotator_id=lambda f: f["annotator_id"]
            .astype(str)) for d, _, _, p in sources], ignore_index=True)
        r_win = np.concatenate([r for _, _, r, _ in sources])
        r_clu = np.concatenate([np.char.add(p, _rating_clusters(d).astype(str)).astype(object)
                                for d, _, _, p in sources])
        ratings = (frame, r_win, r_clu)
    rows: list[dict[str, Any]] = []
    band: dict[str, tuple[float, float]] = {}
    for name in metrics:
        if name in JUDGMENT_METRICS:
            from ._metrics import unit_stats

            us = unit_stats(name, inputs, n_all) if inputs is not None else "no judgments with a window"
        elif ratings is None:
            us = "needs a ratings table windowed like the judgments"
        elif name == "score_mean":
            us = rating_stats(ratings[0], ratings[1], ratings[2], n_all)
        else:
            us = None
        if isinstance(us, str):
            notes.append(f"{name}: not computed ({us}).")
            continue
        if name == "icc":
            ratings = cast("tuple[pd.DataFrame, np.ndarray, np.ndarray]", ratings)  # icc without ratings: skipped
            per = {w: window_icc(ratings[0][ratings[1] == w], confidence_level, gen)
                   for w in list(range(n_data_w)) + ([n_data_w] if base_data is not None else [])}
            base_frame = ratings[0][np.isin(ratings[1], base)]
            b_est, b_se, _ = window_icc(base_frame, confidence_level, gen)
            n_per = np.bincount(ratings[1][ratings[1] >= 0], minlength=n_all)
        else:
            us = cast(UnitStats, us)  # None only for icc
            bc = contrast(us, base, None)
            b_est, b_se = bc.estimate, bc.std_error
            n_per = us.n_values
            vec = all_windows(us, base)
        zb = _z(confidence_level, bc.df) if name != "icc" else stats.norm.ppf(0.5 + confidence_level / 2)
        band[name] = (b_est - zb * b_se, b_est + zb * b_se)
        for w in range(n_data_w):
            row: dict[str, Any] = {"window": labels[w], "metric": name, "n_judgments": int(n_per[w]),
                                   "baseline": b_est, "in_baseline": bool(np.isin(w, base))}
            if n_per[w] == 0:
                row.update(estimate=np.nan, std_error=np.nan, difference=np.nan, diff_std_error=np.nan, df=np.nan,
                           reason="no data in this window")
            elif name == "icc":
                est, se, how = per[w]
                d_se = float(np.hypot(se, b_se))
                row.update(estimate=est, std_error=se, difference=est - b_est, diff_std_error=d_se, df=np.inf,
                           reason="" if np.isfinite(est) else how)
            else:
                est, se = float(vec["estimate"][w]), float(vec["std_error"][w])
                d_se = float(vec["diff_std_error"][w])
                row.update(estimate=est, std_error=se, df=float(vec["diff_df"][w]),
                           difference=float(vec["difference"][w]), diff_std_error=d_se,
                           reason="" if np.isfinite(d_se) or np.isin(w, base) else "not estimable: the window or the "
                           "baseline has too few annotators or prompts for a clustered SE")
                zo = _z(confidence_level, float(vec["df"][w]))
                row.update(ci_low=est - zo * se, ci_high=est + zo * se)
            if name == "icc" or "ci_low" not in row:
                zz = stats.norm.ppf(0.5 + confidence_level / 2)
                row.update(ci_low=row["estimate"] - zz * row["std_error"],
                           ci_high=row["estimate"] + zz * row["std_error"])
            zd = _z(confidence_level, row["df"]) if np.isfinite(row["df"]) and row["df"] != np.inf else \
                stats.norm.ppf(0.5 + confidence_level / 2)
            row["diff_ci_low"] = row["difference"] - zd * row["diff_std_error"]
            row["diff_ci_high"] = row["difference"] + zd * row["diff_std_error"]
            with np.errstate(invalid="ignore", divide="ignore"):
                tstat: float = np.float64(row["difference"]) / np.float64(row["diff_std_error"])
            if row["difference"] == 0 and row["diff_std_error"] == 0:
                tstat = 0.0  # the same constant on both sides (e.g. no flagged annotator anywhere)
            normal = not np.isfinite(row["df"]) or row["df"] == np.inf
            sf = stats.norm.sf(abs(tstat)) if normal else stats.t.sf(abs(tstat), row["df"])
            row["p_value"] = float(2.0 * sf) if np.isfinite(tstat) and not row["in_baseline"] else np.nan
            if row["in_baseline"]:
                row["reason"] = "baseline window"
            rows.append(row)
        if name == "icc":
            notes.append("icc: the difference's SE combines the window's and the baseline's SEs as if independent "
                         "(conservative when the same annotators rate in both).")
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["q_value"] = np.nan
        for idx in frame.groupby("metric", sort=False).groups.values():
            frame.loc[idx, "q_value"] = bh_qvalues(frame.loc[idx, "p_value"].to_numpy(dtype=float))
        frame["flagged"] = np.nan_to_num(frame["q_value"].to_numpy(dtype=float), nan=1.0) < fdr
        for i in np.flatnonzero(frame["flagged"].to_numpy()):
            r = frame.iloc[i]
            verb = "rose" if r["difference"] > 0 else "fell"
            frame.iat[i, frame.columns.get_loc("reason")] = (
                f"{r['metric']} {verb} from {r['baseline']:.3f} (baseline) to {r['estimate']:.3f} "
                f"(difference {r['difference']:+.3f}, {100 * confidence_level:g}% CI {r['diff_ci_low']:+.3f} to "
                f"{r['diff_ci_high']:+.3f}, q = {r['q_value']:.2g})")
    ann_table, ann_notes = _annotators(data, base_data, sources, inputs, ratings, all_labels, base, jw, fdr,
                                       min_judgments)
    n_ann = int(ann_table["annotator_id"].nunique()) if len(ann_table) else 0
    return Analysis(frame, ann_table, band, tuple(notes) + ann_notes, n_ann)


def _annotators(data, base_data, sources, inputs, ratings, all_labels, base, jw, fdr, min_judgments):
    if inputs is None:
        from ._metrics import judgment_inputs as ji

        parts = [ji(d, w, np.zeros(d.n_judgments, bool), p) for d, w, _, p in sources]
        inputs = concat_inputs(parts)
    rat = None
    if ratings is not None:
        frame, r_win, _ = ratings
        ok = r_win >= 0
        rat = (frame["annotator_id"].to_numpy(dtype=object)[ok], r_win[ok],
               _codes(frame["response_id"].to_numpy(dtype=object)[ok]),
               pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)[ok])
    return annotator_windows(inputs, all_labels, base, rat, fdr, min_judgments)


def verdicts(frame: pd.DataFrame, fdr: float) -> np.ndarray:
    """``worse``, ``better``, ``same`` or ``not estimable`` per row (see :func:`prefqa.compare`)."""
    out = []
    for r in frame.itertuples():
        if not np.isfinite(r.p_value):
            out.append("not estimable")
        elif not r.q_value < fdr:
            out.append("same")
        else:
            sign = DIRECTION[r.metric]
            if sign is None:
                out.append("worse")
            elif sign == 0:
                out.append("worse" if abs(r.estimate - 0.5) > abs(r.baseline - 0.5) else "better")
            else:
                out.append("better" if sign * r.difference > 0 else "worse")
    return np.asarray(out, dtype=object)
