"""Per-annotator metrics on integer codes (no tests, no flags): the raw columns of the table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..engine import ScannedData
from ..engine.reductions.bias import JudgmentCodes, judgment_codes
from ..schema import PreferenceData
from ._stats import N_LABELS, longest_runs

__all__ = [
    "Codes", "agreement_metrics", "codes_for", "length_covariate", "position_metrics",
    "score_agreement",
]


class Codes:
    """Judgments with a known annotator, as integer arrays over one annotator index."""

    def __init__(self, data: PreferenceData | ScannedData | JudgmentCodes, index: pd.Index) -> None:
        data = judgment_codes(data)
        a_codes, a_labels = data.codes("annotator_id")
        remap = index.get_indexer(a_labels) if len(a_labels) else np.zeros(0, dtype=np.int64)
        keep = a_codes >= 0
        self.mask = keep
        self.ann = remap[a_codes[keep]].astype(np.int64)
        comp, comp_labels = data.codes("comparison_id")
        self.comp = comp[keep]
        self.n_comp = len(comp_labels)
        self.oriented = data.oriented_choice()[keep].astype(np.int64)
        self.displayed = data.choice_codes()[keep].astype(np.int64)
        self.n_ann = len(index)
        self.index = index

    def count(self, weights: np.ndarray | None = None, where: np.ndarray | None = None) -> np.ndarray:
        """Per-annotator sum of ``weights`` (or count) over rows where ``where``."""
        a = self.ann if where is None else self.ann[where]
        w = None if weights is None else (weights if where is None else weights[where])
        return np.bincount(a, weights=w, minlength=self.n_ann).astype(np.float64)


def codes_for(data: PreferenceData | ScannedData) -> tuple[pd.Index, Codes]:
    """The annotator index (judgment and rating annotators, sorted) and the judgment codes."""
    labels = list(judgment_codes(data).codes("annotator_id")[1])
    ratings = getattr(data, "ratings", None)  # scanned data carry no ratings
    if ratings is not None and "annotator_id" in ratings:
        labels += ratings["annotator_id"].dropna().unique().tolist()
    index = pd.Index(sorted({str(x) for x in labels}), name="annotator_id", dtype="str")
    return index, Codes(data, index)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def agreement_metrics(data: PreferenceData | ScannedData, c: Codes, posterior: np.ndarray) -> dict[str, np.ndarray]:
    """Leave-one-out agreement, kappa and intra-rater columns, and Dawid-Skene accuracy, per annotator.

    ``loo_agreement``, ``loo_kappa`` (with ``loo_kappa_se``), ``n_scored``
    and the intra-rater columns come from
    :func:`prefqa.reliability.annotator_agreement`: each judgment (the first
    per annotator and comparison) is compared with the plurality of the
    *other* annotators of that comparison, and judgments whose others are
    absent or tied are not scored. ``ds_accuracy`` is the Dawid-Skene
    posterior probability that the annotator's label is the true one,
    averaged over its judgments (``posterior``: one row per comparison code,
    columns first/second/tie, from :func:`prefqa.consensus`).
    """
    from ..reliability.annotators import annotator_agreement

    out: dict[str, np.ndarray] = {}
    cols = ("n_scored", "loo_agreement", "loo_kappa", "loo_kappa_se", "n_repeat_units", "intra_agreement",
            "intra_alpha")
    if c.mask.any():
        agr = annotator_agreement(data).reindex(c.index)
        for col in cols:
            out[col] = agr[col].to_numpy(dtype=np.float64)
    else:
        for col in cols:
            out[col] = np.full(c.n_ann, np.nan)
    out["ds_accuracy"] = ratio(c.count(posterior[c.comp, c.oriented]), c.count())
    return out


def position_metrics(c: Codes, order_key: np.ndarray) -> dict[str, np.ndarray]:
    """P(first shown chosen | not tie), the non-tie counts and the longest run of one displayed choice."""
    nt = c.displayed < 2
    n_nt = c.count(where=nt)
    k_a = c.count(where=nt & (c.displayed == 0))
    runs = longest_runs(c.ann, c.displayed, order_key, c.n_ann)
    shares = np.vstack([ratio(c.count(where=c.displayed == lab), c.count()) for lab in range(N_LABELS)]).T
    return {"p_a": ratio(k_a, n_nt), "k_a": k_a, "n_non_tie": n_nt, "longest_run": runs.astype(float),
            "choice_shares": shares}


def rating_loo(data: PreferenceData | ScannedData,
               index: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The ratings of responses rated at least twice, beside the mean of the *other* ratings of the same response.

    Returns ``(a, score, loo_mean, n_all)``: the annotator's position in
    ``index`` and the score of each such rating, the leave-one-out mean of
    its response (ratings of one response by one annotator count separately:
    only the rating itself is left out), and each annotator's count of all
    its ratings. None when there are no ratings.
    """
    r = getattr(data, "ratings", None)
    if r is None or not len(r):
        return None
    ok = (r["annotator_id"].notna() & r["score"].notna()).to_numpy()
    a = index.get_indexer(r.loc[ok, "annotator_id"].astype(str))
    resp, _ = pd.factorize(r.loc[ok, "response_id"])
    s = r.loc[ok, "score"].to_numpy(dtype=np.float64)
    tot = np.bincount(resp, weights=s)
    cnt = np.bincount(resp).astype(np.float64)
    use = (cnt[resp] >= 2) & (a >= 0)
    n_all = np.bincount(a[a >= 0], minlength=len(index)).astype(np.float64)
    return a[use], s[use], (tot[resp[use]] - s[use]) / (cnt[resp[use]] - 1), n_all


def score_agreement(data: PreferenceData | ScannedData, index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Per annotator: Pearson correlation of its scores with the other raters' mean score of the same response.

    Only responses rated by at least two annotators enter (``n`` counts the
    annotator's ratings of such responses); NaN with fewer than 3 of them or
    no variance (see :func:`rating_loo`).
    """
    n_ann = len(index)
    loo = rating_loo(data, index)
    if loo is None:
        return np.full(n_ann, np.nan), np.zeros(n_ann)
    g, x, y, _ = loo

    def sums(w: np.ndarray) -> np.ndarray:
        return np.bincount(g, weights=w, minlength=n_ann)

    n = np.bincount(g, minlength=n_ann).astype(np.float64)
    mx, my = ratio(sums(x), n), ratio(sums(y), n)
    dx, dy = x - mx[g], y - my[g]
    sxy, sxx, syy = sums(dx * dy), sums(dx * dx), sums(dy * dy)
    corr = ratio(sxy, np.sqrt(sxx * syy))
    return np.where(n >= 3, corr, np.nan), n


def length_covariate(data: PreferenceData) -> np.ndarray:
    """prefqa's length covariate per judgment, displayed orientation (NaN where a response is unknown).

    :func:`prefqa.features.judgment_features` with ``names=("length",)``:
    ``tanh((len_a - len_b) / RMS)`` in characters, from the per-response
    features cached on ``data`` (shared with ``length_bias`` and the mixed
    models).
    """
    from ..features import judgment_features

    return judgment_features(data, ["length"])["length"].to_numpy(dtype=np.float64)
