"""The drift metrics as unit statistics (see :mod:`prefqa.drift._jackknife`), and the per-judgment inputs.

Metric names are short and stable (they are gate names of ``prefqa check``):

``alpha``
    Krippendorff's alpha (nominal) of which response won (or a tie), every
    comparison counted in both orientations, one value per annotator and
    comparison (the first): ``pq.agreement``'s default alpha on the window.
``ac1``
    Gwet's AC1 on the same values, category shares symmetrised
    (``pq.agreement``'s ``gwet_ac1``), with the categories of the whole data.
``p_first``
    P(response shown first chosen) over non-tie judgments (needs a known
    display order): ``pq.position_bias``'s estimate.
``p_longer``
    P(longer response chosen) over non-tie judgments whose lengths
    (characters) differ by more than 10%: ``pq.length_bias``'s estimate.
``tie_rate``
    Share of tied judgments.
``flagged_share``
    Share of the window's judgments made by annotators that
    ``pq.annotator_table`` flags on that window's judgments.
``score_mean``
    Mean rating score (leniency drift).
``icc``
    ICC(A,1) of the ratings (``pq.icc``'s ``ICC2``), per window.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..bias._lengths import clear_difference, judgment_lengths
from ..bias._per_annotator import within_annotator_clusters
from ..errors import PrefqaError, PrefqaWarning
from ..reliability._boot import pattern_coincidences
from ..reliability.alpha import alpha_from_coincidences
from ..schema import PreferenceData

__all__ = ["JUDGMENT_METRICS", "METRICS", "RATING_METRICS", "JudgmentInputs", "judgment_inputs", "unit_stats"]

JUDGMENT_METRICS = ("alpha", "ac1", "p_first", "p_longer", "tie_rate", "flagged_share")
RATING_METRICS = ("score_mean", "icc")
METRICS = JUDGMENT_METRICS + RATING_METRICS
#: Whether a rise of the metric is good (+1), bad (-1), or a move away from 1/2 is bad (0), or any change (None).
DIRECTION: dict[str, int | None] = {"alpha": 1, "ac1": 1, "p_first": 0, "p_longer": 0, "tie_rate": -1,
                                    "flagged_share": -1, "score_mean": None, "icc": 1}
_MIRROR = np.array([1, 0, 2])  # swap "first won" and "second won"
MIN_LENGTH_DIFFERENCE = 0.1


@dataclass(frozen=True, eq=False)
class JudgmentInputs:
    """Per-judgment arrays of one dataset (codes are local; :func:`concat_inputs` aligns them)."""

    comparison: np.ndarray   # str ids
    annotator: np.ndarray    # str ids (missing: one pseudo-annotator per comparison)
    cluster: np.ndarray      # str ids: prompts when they group comparisons, else comparisons
    window: np.ndarray       # window code, -1 = none
    oriented: np.ndarray     # 0 first won, 1 second won, 2 tie
    displayed: np.ndarray    # 0 a, 1 b, 2 tie
    longer: np.ndarray       # 1 chose the longer, 0 the shorter, NaN not a trial
    gold: np.ndarray         # 1 correct, 0 wrong, NaN no gold or a tie
    flagged: np.ndarray      # annotator flagged in its window
    order_known: bool
    has_lengths: bool

    @functools.cached_property
    def codes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Integer codes of the comparisons, annotators and clusters (computed once)."""
        return _codes(self.comparison), _codes(self.annotator), _codes(self.cluster)

    @functools.cached_property
    def pseudo_annotator(self) -> np.ndarray:
        """Judgments without an annotator id (one pseudo-annotator per comparison)."""
        return pd.Series(self.annotator, dtype=object).astype(str).str.startswith("\x00").to_numpy()


def judgment_inputs(data: PreferenceData, window: np.ndarray, flagged: np.ndarray, prefix: str) -> JudgmentInputs:
    """The per-judgment arrays of ``data`` (ids prefixed by ``prefix`` so two datasets never collide)."""
    j = data.judgments
    comp = (prefix + j["comparison_id"].astype(str)).to_numpy(dtype=object)
    ann_raw = j["annotator_id"]
    ann = np.where(ann_raw.isna().to_numpy(), ("\x00no-annotator:" + comp).astype(object),
                   ann_raw.astype(str).to_numpy(dtype=object))
    clus_codes = within_annotator_clusters(data)
    cluster = np.char.add(prefix + "c", clus_codes.astype(str)).astype(object)
    displayed = data.choice_codes().astype(np.int64)
    longer = np.full(len(j), np.nan)
    has_lengths = bool(data.has_texts)
    if has_lengths:
        try:
            lens = judgment_lengths(data, "chars", None)
        except PrefqaError:
            has_lengths = False
        else:
            trial = clear_difference(lens.a, lens.b, MIN_LENGTH_DIFFERENCE) & (displayed < 2)
            a_longer = lens.a > lens.b
            longer = np.where(trial, ((displayed == 0) == a_longer).astype(float), np.nan)
    gold = np.full(len(j), np.nan)
    if "gold" in j.columns:
        g = j["gold"].astype("string").str.lower().fillna("").to_numpy(dtype=object)
        shown = np.array(["a", "b", "tie"], dtype=object)[displayed]
        known = np.isin(g, ["a", "b"]) & (displayed < 2)
        gold = np.where(known, (shown == g).astype(float), np.nan)
    return JudgmentInputs(comp, ann, cluster, window, data.oriented_choice().astype(np.int64), displayed, longer,
                          gold, flagged.astype(bool), bool(data.order_known), has_lengths)


def concat_inputs(parts: list[JudgmentInputs]) -> JudgmentInputs:
    if len(parts) == 1:
        return parts[0]
    cat = {f: np.concatenate([getattr(p, f) for p in parts]) for f in
           ("comparison", "annotator", "cluster", "window", "oriented", "displayed", "longer", "gold", "flagged")}
    return JudgmentInputs(**cat, order_known=all(p.order_known for p in parts),
                          has_lengths=all(p.has_lengths for p in parts))


def _codes(values: np.ndarray) -> np.ndarray:
    return pd.factorize(pd.Series(values, dtype=object))[0].astype(np.int64)


def _ratio(t: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(t[:, 1] > 0, t[:, 0] / np.where(t[:, 1] > 0, t[:, 1], 1.0), np.nan)


def _identity(p: np.ndarray) -> np.ndarray:
    return p


def _coincidences(p: np.ndarray) -> np.ndarray:
    q = pattern_coincidences(p)
    q3 = q.reshape(len(p), 3, 3)
    return (q3 + q3[:, _MIRROR][:, :, _MIRROR]).reshape(len(p), 9)


def _alpha(t: np.ndarray) -> np.ndarray:
    return alpha_from_coincidences(t.reshape(t.shape[:-1] + (3, 3)), "nominal", None)


def _ac1_unit(p: np.ndarray) -> np.ndarray:
    r = p.sum(axis=1)
    two = r >= 2
    pa = np.where(two, (p * (p - 1.0)).sum(axis=1) / np.where(two, r * (r - 1.0), 1.0), 0.0)
    share = p / np.where(r > 0, r, 1.0)[:, None]
    share = (share + share[:, _MIRROR]) / 2.0
    return np.column_stack([pa, two.astype(float), share, (r > 0).astype(float)])


def _ac1_stat(q: int) -> Callable[[np.ndarray], np.ndarray]:
    def stat(t: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            pa = t[:, 0] / t[:, 1]
            pi = t[:, 2:5] / t[:, 5:6]
            pe = (pi * (1.0 - pi)).sum(axis=1) / (q - 1.0) if q >= 2 else np.zeros(len(t))
            return np.where((t[:, 1] > 0) & (pe < 1.0 - 1e-12), (pa - pe) / (1.0 - pe), np.nan)
    return stat


def unit_stats(name: str, x: JudgmentInputs, n_windows: int):
    """The :class:`~prefqa.drift._jackknife.UnitStats` of a judgment metric, or a reason it is not computed."""
    from ._jackknife import UnitStats

    use = x.window >= 0
    comp, ann, clus = x.codes
    if name in ("alpha", "ac1"):
        if x.pseudo_annotator[use].all():
            return "needs annotator ids (agreement is between annotators)"
        _, first = np.unique(comp * (int(ann.max()) + 1) + ann, return_index=True)
        once = np.zeros(len(comp), dtype=bool)
        once[first] = True
        use = use & once  # one value per annotator and comparison (the first)
        values = np.eye(3)[x.oriented[use]]
        stat: Callable[[np.ndarray], np.ndarray]
        if name == "alpha":
            unit_fn, stat = _coincidences, _alpha
        else:
            present = np.bincount(x.oriented, minlength=3) > 0
            q = int(present[2]) + (2 if present[:2].any() else 0)
            unit_fn, stat = _ac1_unit, _ac1_stat(q)
    else:
        if name == "p_first":
            if not x.order_known:
                return "the display order is unknown, so P(first shown chosen) carries no signal"
            y, n = (x.displayed == 0).astype(float), (x.displayed < 2).astype(float)
        elif name == "p_longer":
            if not x.has_lengths:
                return "needs response texts (lengths)"
            n = np.isfinite(x.longer).astype(float)
            y = np.nan_to_num(x.longer)
        elif name == "tie_rate":
            y, n = (x.displayed == 2).astype(float), np.ones(len(x.displayed))
        elif name == "flagged_share":
            y, n = x.flagged.astype(float), np.ones(len(x.displayed))
        else:  # pragma: no cover - names are validated by the caller
            raise ValueError(name)
        use = use & (n > 0)
        values = np.column_stack([y, n])[use]
        unit_fn, stat = _identity, _ratio
    if not use.any():
        return "no usable judgments"
    return UnitStats.build(comp[use], ann[use], clus[use], x.window[use], values, unit_fn, stat, n_windows)


def rating_stats(ratings: pd.DataFrame, window: np.ndarray, clusters: np.ndarray, n_windows: int):
    """UnitStats of ``score_mean``: units are (response, window), clusters the responses' prompts."""
    from ._jackknife import UnitStats

    score = pd.to_numeric(ratings["score"], errors="coerce").to_numpy(dtype=np.float64)
    use = (window >= 0) & np.isfinite(score)
    if not use.any():
        return "no ratings with a window and a numeric score"
    resp = ratings["response_id"].astype(str).to_numpy(dtype=object)
    unit = _codes(resp[use]) * n_windows + window[use]
    ann = _codes(ratings["annotator_id"].astype(str).to_numpy(dtype=object)[use])
    values = np.column_stack([score[use], np.ones(int(use.sum()))])
    return UnitStats.build(unit, ann, _codes(clusters[use]), window[use], values, _identity, _ratio, n_windows)


def window_icc(ratings: pd.DataFrame, confidence_level: float, rng: np.random.Generator) -> tuple[float, float, str]:
    """ICC(A,1) of one window's ratings and its SE, or NaN with the reason."""
    from ..reliability import icc

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrefqaWarning)
            res = icc(ratings, unit="response_id", rater="annotator_id", value="score",
                      confidence_level=confidence_level, n_resamples=200, rng=rng)
    except PrefqaError as exc:
        return np.nan, np.nan, f"not estimable: {exc}"
    row = res.table.loc["ICC2"]
    return float(row["estimate"]), float(row["std_error"]), res.se_method
