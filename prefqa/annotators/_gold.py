"""The per-annotator gold-accuracy test: one implementation, read by ``annotator_table`` and ``judge_report``.

The test is *absolute*: is this annotator's accuracy on gold items below
``min_gold_accuracy``? (A pool-relative test cannot fire when every judge
shares the problem.) It is one-sided, and Benjamini-Hochberg is applied
within its family (the annotators with at least ``min_gold`` gold items).

Design: a judgment is correct when its displayed ``choice`` equals the
row's ``gold`` (the correct displayed choice). When no annotator judged a
gold comparison more than once, judgments are independent trials and the
test is the exact binomial lower tail with a Wilson interval. When an
annotator judged gold comparisons more than once (LLM judges run in both
display orders), its judgments of one comparison are correlated, so its
accuracy gets a cluster-robust (by comparison) standard error with the
``G / (G - 1)`` small-sample factor and a t reference with ``G - 1``
degrees of freedom (``G`` = gold comparisons of that annotator); a
Wald interval on the same SE. ``gold_se_method`` says which was used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .._stats import bh_qvalues, wilson_interval
from ..engine import ScannedData
from ..engine.reductions.annotators import gold_codes, gold_problems
from ..engine.reductions.bias import judgment_codes
from ..errors import SchemaError
from ..schema import PreferenceData
from ._metrics import Codes, ratio

__all__ = ["MIN_GOLD", "check_min_gold_accuracy", "gold_accuracy_test"]

#: Gold items an annotator needs before its gold accuracy is tested.
MIN_GOLD = 5
_GOLD_COLUMNS = ("n_gold", "gold_accuracy", "gold_ci_low", "gold_ci_high", "p_gold", "q_gold", "flagged_gold")


def check_min_gold_accuracy(min_gold_accuracy: float) -> float:
    """Validate ``min_gold_accuracy`` (a proportion strictly between 0 and 1)."""
    if isinstance(min_gold_accuracy, bool) or not isinstance(min_gold_accuracy, (int, float, np.floating)) \
            or not 0 < float(min_gold_accuracy) < 1:
        raise SchemaError(f"`min_gold_accuracy` is the accuracy on gold items below which an annotator is "
                          f"flagged, a number in (0, 1); got {min_gold_accuracy!r}. The default is 0.6.")
    return float(min_gold_accuracy)


def check_gold_column(data: PreferenceData | ScannedData) -> None:
    """Raise SchemaError when a ``gold`` column holds something other than 'a', 'b', 'tie' or missing."""
    values, n_bad = gold_problems(data)
    if n_bad:
        raise SchemaError(
            f"`gold` must hold the correct displayed choice ('a', 'b', 'tie') or be missing; "
            f"found {values} in {n_bad} row(s)."
        )


def gold_accuracy_test(
    data: PreferenceData | ScannedData,
    c: Codes,
    *,
    min_gold_accuracy: float = 0.6,
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    min_gold: int = MIN_GOLD,
) -> pd.DataFrame:
    """Return the gold-accuracy columns per annotator of ``c.index`` (all NaN without a ``gold`` column).

    Columns: ``n_gold`` (gold judgments), ``n_gold_items`` (distinct gold
    comparisons), ``gold_accuracy`` with ``gold_ci_low``/``gold_ci_high``,
    ``gold_se_method`` ('exact binomial' or 'cluster-robust by
    comparison'), ``p_gold`` (one-sided, H1: accuracy < ``min_gold_accuracy``),
    ``q_gold`` (BH over the annotators with at least ``min_gold`` gold
    comparisons) and ``flagged_gold`` (``q_gold < fdr``).

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> from prefqa.annotators._metrics import codes_for
    >>> j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(40)] * 2,
    ...                   "annotator_id": ["good"] * 40 + ["bad"] * 40,
    ...                   "choice": ["a"] * 36 + ["b"] * 4 + ["a"] * 16 + ["b"] * 24, "gold": "a"})
    >>> data = pq.PreferenceData(j)
    >>> t = gold_accuracy_test(data, codes_for(data)[1])
    >>> t[["gold_accuracy", "flagged_gold"]].to_dict("index")
    {'bad': {'gold_accuracy': 0.4, 'flagged_gold': True}, 'good': {'gold_accuracy': 0.9, 'flagged_gold': False}}
    """
    m = c.n_ann
    out = pd.DataFrame(index=c.index)
    for col in _GOLD_COLUMNS:
        out[col] = np.nan
    out.insert(1, "n_gold_items", np.nan)
    out["gold_se_method"] = ""
    out["flagged_gold"] = False
    codes = gold_codes(data)
    if codes is None:
        return out
    check_gold_column(data)
    g = codes[c.mask]
    has = g >= 0
    if not has.any():
        return out
    choice = judgment_codes(data).choice_codes()[c.mask]
    y = (choice[has] == g[has]).astype(np.float64)
    ann = c.ann[has]
    n = np.bincount(ann, minlength=m).astype(np.float64)
    k = np.bincount(ann, weights=y, minlength=m)
    acc = ratio(k, n)
    # clusters: (annotator, comparison)
    _, grp, size = np.unique(ann * np.int64(c.n_comp) + c.comp[has], return_inverse=True, return_counts=True)
    grp_ann = np.zeros(len(size), dtype=np.int64)
    grp_ann[grp] = ann
    n_items = np.bincount(grp_ann, minlength=m).astype(np.float64)
    repeats = np.bincount(grp_ann, weights=(size > 1).astype(np.float64), minlength=m) > 0
    # exact binomial (no repeats)
    p0 = min_gold_accuracy
    p_exact = stats.binom.cdf(k, n, p0)
    lo_w, hi_w = wilson_interval(k, n, confidence_level)
    # cluster-robust (repeats): residual sums per cluster
    resid = y - acc[ann]
    r_g = np.bincount(grp, weights=resid, minlength=len(size))
    G = n_items
    ss = np.bincount(grp_ann, weights=r_g**2, minlength=m)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(ratio(G, G - 1) * ss) / n
        t = (acc - p0) / se
    df = np.maximum(G - 1, 1)
    p_cluster = np.where(se > 0, stats.t.cdf(t, df), np.nan)
    # a zero SE means every judgment was right or every one wrong: the exact binomial on comparisons
    p_degenerate = stats.binom.cdf(np.round(acc * G), G, p0)
    p_cluster = np.where(np.isfinite(p_cluster), p_cluster, p_degenerate)
    tq = stats.t.ppf(0.5 + confidence_level / 2, df)
    lo_c = np.clip(acc - tq * se, 0.0, 1.0)
    hi_c = np.clip(acc + tq * se, 0.0, 1.0)
    p = np.where(repeats, p_cluster, p_exact)
    testable = n_items >= min_gold
    p = np.where(testable, p, np.nan)
    q = bh_qvalues(p)
    out["n_gold"], out["n_gold_items"], out["gold_accuracy"] = n, n_items, acc
    out["gold_ci_low"] = np.where(n > 0, np.where(repeats, lo_c, lo_w), np.nan)
    out["gold_ci_high"] = np.where(n > 0, np.where(repeats, hi_c, hi_w), np.nan)
    out["gold_se_method"] = np.where(n == 0, "", np.where(repeats, "cluster-robust by comparison", "exact binomial"))
    out["p_gold"], out["q_gold"] = p, q
    out["flagged_gold"] = np.nan_to_num(q, nan=1.0) < fdr
    return out
