"""Per-annotator metrics on integer codes (no tests, no flags): the raw columns of the table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..schema import PreferenceData
from ._stats import N_LABELS, fit_em, group_logistic, leave_one_out, longest_runs

__all__ = [
    "Codes", "agreement_metrics", "codes_for", "length_covariate", "length_slopes", "position_metrics", "wilson",
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
        self.row = np.flatnonzero(keep)

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


def wilson(k: np.ndarray, n: np.ndarray, confidence_level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` successes in ``n`` trials (NaN where ``n == 0``).

    Examples
    --------
    >>> lo, hi = wilson(np.array([81.0]), np.array([100.0]), 0.95)
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.7222, 0.8749)
    """
    z = stats.norm.ppf(0.5 + confidence_level / 2)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    bad = n <= 0
    return np.where(bad, np.nan, centre - half), np.where(bad, np.nan, centre + half)


def agreement_metrics(c: Codes, posterior: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Leave-one-out agreement and kappa against the other annotators, and Dawid-Skene accuracy.

    ``loo_agreement`` is the mean, over the annotator's judgments that share
    a comparison with other annotators, of the share of those others who
    chose the same response (or tie). ``loo_kappa`` corrects it for chance:
    ``(po - pe) / (1 - pe)`` with ``pe = sum_l p_i(l) q_i(l)``, ``p_i`` the
    annotator's label shares and ``q_i`` the others' label shares on the
    same judgments. ``ds_accuracy`` is the Dawid-Skene posterior probability
    that the annotator's label is the true one, averaged over its judgments
    (``posterior``: one row per comparison code, columns first/second/tie;
    fitted here when not given).
    """
    L = N_LABELS
    n_others, same, others = leave_one_out(c.ann, c.comp, c.oriented, c.n_comp)
    has = n_others > 0
    frac = ratio(same, n_others)
    n_with = c.count(where=has)
    po = ratio(c.count(np.where(has, frac, 0.0)), n_with)
    pe = np.zeros(c.n_ann)
    for lab in range(L):  # three labels
        p_i = ratio(c.count(where=has & (c.oriented == lab)), n_with)
        q_i = ratio(c.count(np.where(has, others[:, lab] / np.maximum(n_others, 1), 0.0)), n_with)
        pe += np.nan_to_num(p_i) * np.nan_to_num(q_i)
    kappa = np.where(n_with > 0, ratio(po - pe, 1.0 - pe), np.nan)
    converged = True
    if posterior is None:
        ds = fit_em("dawid_skene", c.ann, c.comp, c.oriented, c.n_ann, c.n_comp)
        posterior, converged = ds.posterior, ds.converged
    ds_acc = ratio(c.count(posterior[c.comp, c.oriented]), c.count())
    return {"loo_agreement": po, "loo_kappa": kappa, "ds_accuracy": ds_acc, "n_with_others": n_with,
            "ds_converged": np.array(converged)}


def position_metrics(c: Codes, order_key: np.ndarray) -> dict[str, np.ndarray]:
    """P(first shown chosen | not tie), the non-tie counts and the longest run of one displayed choice."""
    nt = c.displayed < 2
    n_nt = c.count(where=nt)
    k_a = c.count(where=nt & (c.displayed == 0))
    runs = longest_runs(c.ann, c.displayed, order_key, c.n_ann)
    shares = np.vstack([ratio(c.count(where=c.displayed == lab), c.count()) for lab in range(N_LABELS)]).T
    return {"p_a": ratio(k_a, n_nt), "k_a": k_a, "n_non_tie": n_nt, "longest_run": runs.astype(float),
            "choice_shares": shares}


def length_slopes(c: Codes, x: np.ndarray, min_judgments: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per-annotator logistic slope of choosing ``a`` on the displayed length covariate (ties dropped).

    Each annotator gets its own intercept (which absorbs its position bias)
    and slope. Slopes are NaN for annotators with fewer than
    ``min_judgments`` usable judgments or whose non-tie choices are all on
    one side (the slope is not identified).
    """
    use = (c.displayed < 2) & np.isfinite(x)
    y = (c.displayed[use] == 0).astype(np.float64)
    b0, b1, se, ok = group_logistic(c.ann[use], x[use], y, c.n_ann)
    n = c.count(where=use)
    k = np.bincount(c.ann[use], weights=y, minlength=c.n_ann)
    identified = (n >= min_judgments) & (k > 0) & (k < n)
    return np.where(identified, b1, np.nan), np.where(identified, se, np.nan), ok


def length_covariate(data: PreferenceData) -> np.ndarray:
    """prefqa's length covariate per judgment, displayed orientation: tanh((len_a - len_b) / RMS).

    Lengths are in characters. When the text features are already cached
    on ``data`` (for example by ``length_bias``) they are reused; otherwise
    only the character counts are computed (the regex style counts of
    :func:`prefqa.features.judgment_features` are not needed here). NaN
    where a response is unknown.
    """
    from ..features import judgment_features, length_scale

    if "features:chars" in data._cache:
        return judgment_features(data, ["length"])["length"].to_numpy(dtype=np.float64)
    responses = data.responses
    chars = responses["text"].str.len().to_numpy(dtype=np.float64)
    ids = pd.Index(responses["response_id"].to_numpy())
    j = data.judgments
    pa = ids.get_indexer(j["response_a_id"].to_numpy(dtype=object))
    pb = ids.get_indexer(j["response_b_id"].to_numpy(dtype=object))
    known = (pa >= 0) & (pb >= 0)
    diff = np.where(known, chars[np.maximum(pa, 0)] - chars[np.maximum(pb, 0)], np.nan)
    scale = length_scale(diff)
    return np.tanh(diff / scale) if scale > 0 else np.where(known, 0.0, np.nan)
