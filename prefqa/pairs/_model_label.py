"""``label='model'``: soft labels with annotator, position and length effects removed.

Step 1 fits :func:`prefqa.fit_preference_model` (glmer ``nAGQ = 0``, i.e.
``method='pirls'``) with fixed effects ``position`` and ``length`` (when
texts are known), model-quality columns (when models are known), and per
annotator a random side bias and a random length slope. For judgment ``j``
of annotator ``i`` the fitted *nuisance* logit toward the response shown
first is::

    o_j = position + beta_len * x_j + u_i + b_i * x_j

with ``x_j`` prefqa's length covariate (``tanh`` of the RMS-scaled character
difference). Step 2 gives every comparison ``c`` its own quality difference
``d_c`` (canonical first response minus second) with the judgments as
``logit P(a chosen) = o_j + s_j d_c`` (``s_j = +1`` when the canonical first
response was shown first, else ``-1``; a tie counts as half a win each) and
the prior ``d_c ~ N(q_model_1 - q_model_2, tau^2)`` from the fitted model
qualities (0 without models). ``tau`` is chosen on a grid by the
leave-one-judgment-out predictive log-likelihood (each judgment predicted from
its comparison's other judgments and the prior; Gaussian cavity, probit
approximation), which keeps ``p_1`` calibrated; each ``d_c`` is its posterior
mode, found by vectorised Newton steps.

The label is the sign of ``d_c``, and ``p_1 = Phi(d_c * sqrt(H_c))`` (``H_c``
the posterior curvature) is the posterior probability that the canonical
first response is better. A comparison whose judgments are all ties is a
tie. Because a vote *with* an annotator's known bias carries little
information and a vote *against* it carries much, these labels beat the
majority vote when biased annotators are common.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit, ndtr

from ..errors import InsufficientDataError
from ..features import judgment_features
from ..models.mixed import fit_preference_model
from ..schema import PreferenceData

__all__ = ["model_labels", "TAU_GRID"]

TAU_GRID: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
_NEWTON_STEPS = 30
_MAX_STEP = 2.0


def _offsets(data: PreferenceData, fit, has_length: bool) -> np.ndarray:
    fe = fit.fixed_effects["estimate"]
    n = data.n_judgments
    off = np.full(n, float(fe.iloc[0]) if fit.fixed_effects.index[0] in ("position", "intercept") else 0.0)
    ann = data.judgments["annotator_id"]
    re = fit.random_effects
    u = (ann.map(re["annotator"]["estimate"]).to_numpy(dtype=np.float64, na_value=np.nan) if "annotator" in re
         else np.zeros(n))
    off += np.nan_to_num(u)
    if has_length:
        x = np.nan_to_num(judgment_features(data, ["length"])["length"].to_numpy(dtype=np.float64))
        slope = float(fe.get("length", 0.0))
        if "annotator:length" in re:
            slope_ann = ann.map(re["annotator:length"]["estimate"]).to_numpy(dtype=np.float64, na_value=np.nan)
            slope = slope + np.nan_to_num(slope_ann)
        off += slope * x
    return off


def _prior_mean(data: PreferenceData, fit) -> np.ndarray:
    c = data.comparisons()
    if "model_1" not in c:
        return np.zeros(len(c))
    fe = fit.fixed_effects["estimate"]
    q = {k.removeprefix("quality:"): float(v) for k, v in fe.items() if k.startswith("quality:")}
    q1 = c["model_1"].map(q).to_numpy(dtype=np.float64, na_value=np.nan)
    q2 = c["model_2"].map(q).to_numpy(dtype=np.float64, na_value=np.nan)
    # the reference model (first in sorted order) has quality 0; an unknown model contributes 0
    return np.nan_to_num(q1) - np.nan_to_num(q2)


def _posterior_modes(comp, off, s, y, w, mu, tau, n_comp):
    """Newton iterations for every comparison at once.

    Returns (mode, curvature, leave-one-judgment-out predictive log-likelihood).
    """
    d = mu.copy()
    prec = 1.0 / tau**2
    for _ in range(_NEWTON_STEPS):
        p = expit(off + s * d[comp])
        grad = np.bincount(comp, w * s * (y - p), n_comp) - prec * (d - mu)
        hess = np.bincount(comp, w * p * (1.0 - p), n_comp) + prec
        step = np.clip(grad / hess, -_MAX_STEP, _MAX_STEP)
        d += step
        if np.max(np.abs(step), initial=0.0) < 1e-10:
            break
    p = expit(off + s * d[comp])
    h_j = w * p * (1.0 - p)
    hess = np.bincount(comp, h_j, n_comp) + prec
    # cavity (judgment j left out): one Newton step back from the mode, Gaussian with precision H - h_j
    cav_prec = hess[comp] - h_j
    cav_mean = d[comp] - w * s * (y - p) / cav_prec
    eta = (off + s * cav_mean) / np.sqrt(1.0 + np.pi / 8.0 / cav_prec)
    loo = float(np.sum(w * (y * log_expit(eta) + (1.0 - y) * log_expit(-eta))))
    return d, hess, loo


def model_labels(data: PreferenceData, weights: np.ndarray | None = None) -> tuple[pd.DataFrame, float]:
    """Return a ``pq.consensus``-shaped label table (by comparison_id) and the chosen ``tau``.

    Columns ``label`` ('1', '2', 'tie'), ``p_1``, ``p_2``, ``p_tie`` (0),
    ``n_judgments``, ``agreement`` (weighted share of judgments picking the
    label), ``tied_vote``, ``response_1_id``, ``response_2_id`` (and
    ``model_1``, ``model_2`` when known). See the module notes.
    """
    if not data.has_annotators:
        raise InsufficientDataError(
            "label='model' removes each annotator's side and length bias, so it needs annotator ids; "
            "these judgments have none. Use label='majority'.")
    has_length = data.has_texts and "response_b_id" in data.judgments
    fixed = ("position", "length") if has_length else ("position",)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary fits (no side bias at all) are expected and harmless here
        fit = fit_preference_model(
            data, fixed=fixed, random=("annotator",),
            random_slopes={"annotator": ("length",)} if has_length else {}, method="pirls")
    comp, labels = data.codes("comparison_id")
    n_comp = len(labels)
    w = np.ones(data.n_judgments) if weights is None else np.asarray(weights, dtype=np.float64)
    choice = data.choice_codes()
    y = np.where(choice == 0, 1.0, np.where(choice == 1, 0.0, 0.5))
    s = np.where(data.flipped(), -1.0, 1.0)
    off = _offsets(data, fit, has_length)
    mu = _prior_mean(data, fit)
    best: tuple[np.ndarray, np.ndarray, float, float] | None = None
    for tau in TAU_GRID:
        d, hess, lm = _posterior_modes(comp, off, s, y, w, mu, tau, n_comp)
        if best is None or lm > best[2]:
            best = (d, hess, lm, tau)
    assert best is not None  # for mypy: TAU_GRID is a non-empty constant
    d, hess, _, tau = best
    oriented = data.oriented_choice().astype(np.int64)
    votes = np.bincount(comp * 3 + oriented, w, 3 * n_comp).reshape(n_comp, 3)
    all_tie = votes[:, :2].sum(axis=1) <= 0
    p1 = ndtr(d * np.sqrt(hess))
    code = np.where(all_tie, 2, np.where(d > 0, 0, 1))
    out = pd.DataFrame({
        "label": np.asarray(["1", "2", "tie"], dtype=object)[code],
        "p_1": np.where(all_tie, 0.5, p1), "p_2": np.where(all_tie, 0.5, 1.0 - p1), "p_tie": 0.0,
        "n_judgments": np.bincount(comp, minlength=n_comp).astype(np.int64),
        "agreement": votes[np.arange(n_comp), code] / votes.sum(axis=1),
        "tied_vote": ~all_tie & (d == 0),
    }, index=pd.Index(labels, name="comparison_id"))
    extra = data.comparisons().drop(columns=["comparison_id", "n_judgments"])
    for col in extra.columns:
        out[col] = extra[col].to_numpy()
    return out, float(tau)
