"""Per-annotator metrics on integer codes (no tests, no flags): the raw columns of the table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import PreferenceData
from ._stats import N_LABELS, group_logistic, longest_runs

__all__ = [
    "Codes", "agreement_metrics", "codes_for", "length_covariate", "length_slopes", "position_metrics",
]


class Codes:
    """Judgments with a known annotator, as integer arrays over one annotator index."""

    def __init__(self, data: PreferenceData, index: pd.Index) -> None:
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


def codes_for(data: PreferenceData) -> tuple[pd.Index, Codes]:
    """The annotator index (judgment and rating annotators, sorted) and the judgment codes."""
    labels = list(data.codes("annotator_id")[1])
    if data.ratings is not None and "annotator_id" in data.ratings:
        labels += data.ratings["annotator_id"].dropna().unique().tolist()
    index = pd.Index(sorted(set(labels)), name="annotator_id", dtype="str")
    return index, Codes(data, index)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def agreement_metrics(data: PreferenceData, c: Codes, posterior: np.ndarray) -> dict[str, np.ndarray]:
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


def length_slopes(c: Codes, x: np.ndarray, min_judgments: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-annotator logistic fit of choosing ``a`` on the displayed length covariate (ties dropped).

    Each annotator gets its own intercept (its position log-odds at equal
    lengths) and slope. Returns intercepts, their SEs, slopes and their SEs;
    NaN for annotators with fewer than ``min_judgments`` usable judgments or
    whose non-tie choices are all on one side (not identified).
    """
    use = (c.displayed < 2) & np.isfinite(x)
    y = (c.displayed[use] == 0).astype(np.float64)
    b0, b1, se0, se1, _ok = group_logistic(c.ann[use], x[use], y, c.n_ann)
    n = c.count(where=use)
    k = np.bincount(c.ann[use], weights=y, minlength=c.n_ann)
    identified = (n >= min_judgments) & (k > 0) & (k < n)

    def keep(v: np.ndarray) -> np.ndarray:
        return np.where(identified, v, np.nan)

    return keep(b0), keep(se0), keep(b1), keep(se1)


def length_covariate(data: PreferenceData) -> np.ndarray:
    """prefqa's length covariate per judgment, displayed orientation (NaN where a response is unknown).

    :func:`prefqa.features.judgment_features` with ``names=("length",)``:
    ``tanh((len_a - len_b) / RMS)`` in characters, from the per-response
    features cached on ``data`` (shared with ``length_bias`` and the mixed
    models).
    """
    from ..features import judgment_features

    return judgment_features(data, ["length"])["length"].to_numpy(dtype=np.float64)
