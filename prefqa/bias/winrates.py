"""Length-controlled win rates per model, read off a joint length-controlled BT fit.

The joint fit is :func:`prefqa.models.bradley_terry.fit_bradley_terry` over
every non-tie judgment (``ties="drop"``) with two covariates::

    logit P(a chosen) = gamma + (s[model_a] - s[model_b]) + beta * x

with ``x`` the tanh length covariate (see :mod:`prefqa.features`, in the
``unit`` of :func:`prefqa.length_bias`) and ``gamma`` the position term (a
constant intercept when the display order is unknown). A model's
length-controlled (LC) win rate is the average, over the judgments it took
part in, of ``BradleyTerryResult.win_probability(m, opponent) =
sigmoid(s[m] - s[opponent])``: the length term and the position term are set
to zero, the opponents are the ones it actually met. No baseline model and no
per-instruction difficulty are needed (AlpacaEval's GLM needs both). Its
standard error comes from the BT fit's sandwich covariance of the strengths
by the delta method, clustered as :func:`prefqa.length_bias`'s ``cluster=``
asks, mapped by :data:`BT_CLUSTER` (by default the BT fit's own ``'auto'``:
two-way annotator x comparison with at least 10 annotators, else by
comparison; see :mod:`prefqa.models.bradley_terry`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..models.bradley_terry import BradleyTerryResult, fit_bradley_terry
from ..schema import PreferenceData
from ._common import wilson_interval

__all__ = ["WIN_RATE_COLUMNS", "empty_win_rates", "fit_joint_bt", "length_controlled_win_rates"]

WIN_RATE_COLUMNS = (
    "n", "raw_win_rate", "raw_ci_low", "raw_ci_high", "lc_win_rate", "lc_std_error",
    "lc_ci_low", "lc_ci_high", "divergence", "flagged", "reason",
)


def empty_win_rates() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in WIN_RATE_COLUMNS})
    frame["flagged"] = frame["flagged"].astype(bool)
    frame["reason"] = frame["reason"].astype("str")
    frame.index = pd.Index([], name="model", dtype="str")
    return frame


#: ``cluster=`` of the bias analyses -> ``cluster=`` of :func:`fit_bradley_terry` (whose two-way is
#: annotator x comparison, and which has no prompt clusters: comparisons are the closest it offers).
BT_CLUSTER: dict[str, Literal["auto", "comparison", "annotator", "two-way", "none"]] = {
    "auto": "auto", "none": "none", "comparison": "comparison", "prompt": "comparison",
    "annotator": "annotator", "annotator+comparison": "two-way", "annotator+prompt": "two-way"}


def fit_joint_bt(data: PreferenceData, x: np.ndarray, use: np.ndarray, constant: str,
                 confidence_level: float, cluster: str = "auto") -> BradleyTerryResult:
    """The joint length-controlled BT fit on the judgments in ``use`` (others get NaN and drop out).

    ``cluster`` is the bias analyses' option, mapped by :data:`BT_CLUSTER`.
    """
    covariates = pd.DataFrame({constant: np.where(use, 1.0, np.nan), "length": np.where(use, x, np.nan)})
    return fit_bradley_terry(data, ties="drop", covariates=covariates, confidence_level=confidence_level,
                             cluster=BT_CLUSTER.get(cluster, "auto"))


def length_controlled_win_rates(
    bt: BradleyTerryResult,
    model_a: np.ndarray,
    model_b: np.ndarray,
    a_won: np.ndarray,
    labels: pd.Index,
    *,
    confidence_level: float,
    divergence_threshold: float,
) -> pd.DataFrame:
    """Raw and LC win rate per model from the joint BT fit ``bt``.

    ``model_a``/``model_b`` are model codes (into ``labels``) of the judgments
    ``bt`` was fitted on and ``a_won`` their 0/1 outcome.
    """
    k = len(labels)
    names = labels.to_numpy()
    # k x k table of win probabilities with every covariate at zero, read off the fit
    win = np.full((k, k), np.nan)
    fitted = np.isin(names, bt.scores.index.to_numpy())
    idx = np.flatnonzero(fitted)
    ii, jj = np.meshgrid(idx, idx, indexing="ij")
    if len(idx):
        win[ii.ravel(), jj.ravel()] = bt.win_probability(names[ii.ravel()], names[jj.ravel()])
    ok = (model_a >= 0) & (model_b >= 0)
    me = np.concatenate([model_a[ok], model_b[ok]])
    opp = np.concatenate([model_b[ok], model_a[ok]])
    won = np.concatenate([a_won[ok], 1.0 - a_won[ok]])
    n = np.bincount(me, minlength=k).astype(np.float64)
    wins = np.bincount(me, weights=won, minlength=k)
    p = win[me, opp]
    dp = p * (1.0 - p)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = wins / n
        lc = np.bincount(me, weights=p, minlength=k) / n
        # gradient of each model's LC rate with respect to the strengths s
        grad: np.ndarray = -np.bincount(me * k + opp, weights=dp, minlength=k * k).reshape(k, k)
        grad[np.arange(k), np.arange(k)] += np.bincount(me, weights=dp, minlength=k)
        grad /= n[:, None]
    if bt.covariance is not None:
        cov_s = bt.covariance.loc[names[idx], names[idx]].to_numpy()
        g = grad[:, idx]
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", g, cov_s, g), 0.0))
    else:
        se = np.full(k, np.nan)
    z = stats.norm.ppf(0.5 + confidence_level / 2.0)
    raw_low, raw_high = wilson_interval(wins, n, confidence_level)
    divergence = lc - raw
    flagged = np.abs(divergence) > divergence_threshold
    reason = np.where(
        flagged,
        [f"length-controlled win rate {l_:.1%} vs raw {r_:.1%}: length explains "
         f"{abs(d_) * 100:.1f} points" for l_, r_, d_ in zip(lc, raw, divergence)],
        "",
    )
    frame = pd.DataFrame(
        {
            "n": n.astype(np.int64), "raw_win_rate": raw, "raw_ci_low": raw_low, "raw_ci_high": raw_high,
            "lc_win_rate": lc, "lc_std_error": se, "lc_ci_low": np.clip(lc - z * se, 0.0, 1.0),
            "lc_ci_high": np.clip(lc + z * se, 0.0, 1.0), "divergence": divergence,
            "flagged": flagged, "reason": reason,
        },
        index=pd.Index(names, name="model"),
    )
    return frame[n > 0]
