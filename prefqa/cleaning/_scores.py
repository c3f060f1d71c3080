"""Per-response scores (a reward model's or a judge's) turned into one score pair per comparison.

``scores`` may be

* a column stem such as ``"rm_score"``: the judgment columns ``rm_score_a`` /
  ``rm_score_b`` (scores of the responses as displayed), or else an
  ``rm_score`` column of the responses table;
* a pair of judgment column names ``("col_a", "col_b")`` (the CLI's
  ``--scores COL,COL``);
* a Series indexed by response id.

The ratings table's ``score`` column holds annotators' absolute ratings, not a
model's scores, and is refused.

Reward-model scores have an arbitrary scale and often heavy tails, so the
label model reads the score difference ``s_1 - s_2`` as a *normal score*:
its sign, with ``|s_1 - s_2|`` ranked over the comparisons (mid-ranks for
ties) and mapped to the quantiles of a half-normal distribution. Any
increasing transformation of ``|s_1 - s_2|`` gives the same values; on
simulated data a reward model reported as ``exp(1.5 * score)`` keeps its
ranking power (AUC 0.904 against 0.871 when the raw difference is scaled by
its root mean square).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri
from scipy.stats import rankdata

from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData

__all__ = ["ComparisonScores", "comparison_scores"]


class ComparisonScores:
    """Scores of each comparison's canonical responses 1 and 2 (NaN where unknown) and their source."""

    def __init__(self, s1: np.ndarray, s2: np.ndarray, source: str) -> None:
        self.s1, self.s2, self.source = s1, s2, source
        diff = s1 - s2
        self.known = np.isfinite(diff)
        if not self.known.any():
            raise InsufficientDataError(
                f"no comparison has a score for both responses ({source}); check the score column(s).")
        self.scale = float(np.sqrt(np.mean(diff[self.known] ** 2)))
        if self.scale == 0:
            raise InsufficientDataError(
                f"the scores ({source}) never differ between the two responses of a comparison, so they say "
                "nothing about which is better; pass other scores or scores=None.")
        #: the score difference as a normal score (module notes); 0 where unknown (the score is then silent)
        self.d = np.zeros(len(diff))
        size = np.abs(diff[self.known])
        ranks = rankdata(size)  # mid-ranks: equal |differences| get equal values
        self.d[self.known] = np.sign(diff[self.known]) * ndtri(0.5 + 0.5 * ranks / (len(size) + 1))

    def prefers(self) -> np.ndarray:
        """Return '1', '2', 'tie' (equal scores) or None (unknown) per comparison."""
        diff = self.s1 - self.s2
        out = np.where(diff > 0, "1", np.where(diff < 0, "2", "tie")).astype(object)
        out[~self.known] = None
        return out


def _numeric(values: pd.Series, what: str) -> np.ndarray:
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna() & values.notna()
    if bad.any():
        raise SchemaError(f"{what} must be numbers; found {int(bad.sum())} that are not (first: "
                          f"{values[bad].iloc[0]!r}). Convert the scores to floats first.")
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


def _per_comparison(data: PreferenceData, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean oriented score of responses 1 and 2 over each comparison's judgments (NaN-aware)."""
    flipped = data.flipped()
    s1, s2 = np.where(flipped, b, a), np.where(flipped, a, b)
    comp, labels = data.codes("comparison_id")
    n = len(labels)
    out = []
    for s in (s1, s2):
        ok = np.isfinite(s)
        total = np.bincount(comp[ok], s[ok], n)
        count = np.bincount(comp[ok], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(count > 0, total / np.maximum(count, 1), np.nan))
    return out[0], out[1]


def _from_response_ids(data: PreferenceData, by_id: pd.Series, what: str) -> tuple[np.ndarray, np.ndarray]:
    if "response_a_id" not in data.judgments or "response_b_id" not in data.judgments:
        raise SchemaError(f"{what} gives scores by response id, but the judgments have no response ids "
                          "(`response_a_id`, `response_b_id`); pass judgment score columns instead "
                          "(scores='STEM' for STEM_a / STEM_b).")
    if by_id.index.has_duplicates:
        dup = by_id.index[by_id.index.duplicated()]
        raise SchemaError(f"{what} has {len(dup)} duplicated response id(s) (first: {dup[0]!r}); give one "
                          "score per response.")
    comps = data.comparisons()
    ids = pd.concat([comps["response_1_id"], comps["response_2_id"]], ignore_index=True)
    missing = ~ids.isin(by_id.index)
    if missing.any():
        absent = pd.unique(ids[missing])
        raise SchemaError(f"{what} has no score for {len(absent)} response id(s) of the judgments (first: "
                          f"{list(absent[:3])}); give a score (NaN if unknown) for every response.")
    values = _numeric(by_id, what)
    pos = by_id.index.get_indexer(ids)
    got = values[pos]
    n = len(comps)
    return got[:n], got[n:]


def comparison_scores(data: PreferenceData, scores: object) -> ComparisonScores:
    """Resolve ``scores`` (module notes) to the scores of each comparison's responses 1 and 2.

    Examples
    --------
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c1", "c2"], "annotator_id": ["x", "y", "x"],
    ...                   "choice": ["a", "b", "a"], "response_a_id": ["r1", "r2", "r3"],
    ...                   "response_b_id": ["r2", "r1", "r4"], "rm_a": [0.5, 2.0, 1.0], "rm_b": [2.0, 0.5, 1.5]})
    >>> cs = comparison_scores(PreferenceData(j), "rm")
    >>> cs.s1.tolist(), cs.s2.tolist(), cs.prefers().tolist()
    ([0.5, 1.0], [2.0, 1.5], ['2', '2'])
    """
    j = data.judgments
    if isinstance(scores, pd.Series):
        s1, s2 = _from_response_ids(data, scores, "`scores` (a Series indexed by response id)")
        name = "a Series" if scores.name is None else f"Series {scores.name!r}"
        return ComparisonScores(s1, s2, f"{name} by response id")
    if isinstance(scores, str):
        if scores == "score":
            raise SchemaError("`scores='score'` names the ratings' `score` column, which holds annotators' "
                              "ratings, not a reward model's scores; pass the stem of your model-score columns "
                              "(for example scores='rm_score' for rm_score_a / rm_score_b).")
        cols = (f"{scores}_a", f"{scores}_b")
        if cols[0] in j and cols[1] in j:
            a, b = _numeric(j[cols[0]], f"`{cols[0]}`"), _numeric(j[cols[1]], f"`{cols[1]}`")
            s1, s2 = _per_comparison(data, a, b)
            return ComparisonScores(s1, s2, f"judgment columns {cols[0]}, {cols[1]}")
        if scores in data.responses.columns and scores not in ("response_id", "prompt_id", "text"):
            by_id = pd.Series(data.responses[scores].to_numpy(), index=data.responses["response_id"].to_numpy())
            s1, s2 = _from_response_ids(data, by_id, f"the responses column `{scores}`")
            return ComparisonScores(s1, s2, f"responses column {scores}")
        paired = sorted(c[:-2] for c in j.columns if str(c).endswith("_a") and f"{str(c)[:-2]}_b" in j)
        raise SchemaError(f"`scores={scores!r}`: found neither judgment columns {cols[0]!r} / {cols[1]!r} nor "
                          f"a responses column {scores!r}. Judgment column stems with _a/_b: {paired}; "
                          f"responses columns: {list(data.responses.columns)}.")
    if isinstance(scores, Sequence) and len(scores) == 2 and all(isinstance(c, str) for c in scores):
        col_a, col_b = scores
        missing = [c for c in (col_a, col_b) if c not in j]
        if missing:
            raise SchemaError(f"`scores={tuple(scores)!r}`: the judgments have no column(s) {missing}; found "
                              f"{list(j.columns)}.")
        s1, s2 = _per_comparison(data, _numeric(j[col_a], f"`{col_a}`"), _numeric(j[col_b], f"`{col_b}`"))
        return ComparisonScores(s1, s2, f"judgment columns {col_a}, {col_b}")
    raise SchemaError("`scores` must be None, a column stem such as 'rm_score', a pair of judgment columns "
                      f"('col_a', 'col_b') or a Series indexed by response id; got {type(scores).__name__}.")
