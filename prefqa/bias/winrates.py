"""Length-controlled win rates per model, read off a joint length-controlled BT fit.

The joint fit is a Bradley-Terry logistic model over every non-tie judgment::

    logit P(a chosen) = gamma + (s[model_a] - s[model_b]) + beta * x

with ``x`` the tanh length covariate (see :mod:`prefqa.features`) and
``gamma`` the position term. A model's length-controlled (LC) win rate is the
average, over the judgments it took part in, of ``sigmoid(s[m] - s[opponent])``:
the length term and the position term are set to zero, the opponents are the
ones it actually met. No baseline model and no per-instruction difficulty are
needed (AlpacaEval's GLM needs both). Its standard error comes from the
prompt-clustered covariance of the fit by the delta method.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from ._common import GlmFit, wilson_interval

__all__ = ["WIN_RATE_COLUMNS", "length_controlled_win_rates"]

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


def length_controlled_win_rates(
    fit: GlmFit,
    model_a: np.ndarray,
    model_b: np.ndarray,
    a_won: np.ndarray,
    labels: pd.Index,
    *,
    first_model_column: int,
    confidence_level: float,
    divergence_threshold: float,
) -> pd.DataFrame:
    """Raw and LC win rate per model from a fitted joint BT GLM.

    ``model_a``/``model_b`` are model codes (into ``labels``) of the rows the
    GLM was fitted on, ``a_won`` its 0/1 outcome; model ``j >= 1`` has its
    strength at ``fit.params[first_model_column + j - 1]`` (model 0 is the
    reference at 0).
    """
    k = len(labels)
    s = np.zeros(k)
    s[1:] = fit.params[first_model_column:first_model_column + k - 1]
    ok = (model_a >= 0) & (model_b >= 0)
    me = np.concatenate([model_a[ok], model_b[ok]])
    opp = np.concatenate([model_b[ok], model_a[ok]])
    won = np.concatenate([a_won[ok], 1.0 - a_won[ok]])
    n = np.bincount(me, minlength=k).astype(np.float64)
    wins = np.bincount(me, weights=won, minlength=k)
    p = expit(s[me] - s[opp])
    dp = p * (1.0 - p)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = wins / n
        lc = np.bincount(me, weights=p, minlength=k) / n
        # gradient of each model's LC rate with respect to the strengths s
        grad = -np.bincount(me * k + opp, weights=dp, minlength=k * k).reshape(k, k)
        grad[np.arange(k), np.arange(k)] += np.bincount(me, weights=dp, minlength=k)
        grad /= n[:, None]
    cov_s = fit.cov[first_model_column:first_model_column + k - 1, first_model_column:first_model_column + k - 1]
    g = grad[:, 1:]
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", g, cov_s, g), 0.0))
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
        index=pd.Index(labels.to_numpy(), name="model"),
    )
    return frame[n > 0]
