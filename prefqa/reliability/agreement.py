"""``pq.agreement``: every reliability coefficient of a PreferenceData, with bootstrap CIs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .._types import RngLike, as_generator
from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from ._boot import block, coincidence_marginals
from .intra import intra_rater

__all__ = ["agreement", "AgreementResult"]

_FAMILY = ("fleiss_kappa", "gwet_ac", "brennan_prediger", "percent_agreement")
_COLUMNS = ["stratum", "target", "coefficient", "level", "estimate", "std_error", "se_method",
            "ci_low", "ci_high", "n", "n_units", "n_ratings", "reason"]


def _headline(coefficient: str, doc: str) -> property:
    """A read-only property giving one coefficient's all-data estimate on the choice."""

    def get(self: AgreementResult) -> float:
        return self._get(coefficient)

    return property(get, doc=doc)


@dataclass(frozen=True, eq=False)
class AgreementResult:
    """Inter- and intra-rater reliability of a preference batch.

    Attributes
    ----------
    coefficients : DataFrame
        Tidy, one row per (stratum, target, coefficient): ``stratum`` ('all'
        or a ``by`` value), ``target`` ('choice', 'strength' or
        'rating:<aspect>'), ``coefficient``, ``level``, ``estimate``,
        ``std_error``, ``se_method``, ``ci_low``, ``ci_high`` (bootstrap
        percentile), ``n`` (units with 2+ judgments), ``n_units``,
        ``n_ratings``, ``reason`` (why an estimate is NaN).
    intra_rater : DataFrame
        Agreement of annotators with themselves on repeated comparisons:
        ``coefficient`` (krippendorff_alpha, percent_agreement), ``estimate``,
        ``n`` (repeated annotator x comparison units).
    level : str
        Level used for ratings (echoed; choices are nominal, strength ordinal).
    """

    coefficients: pd.DataFrame
    intra_rater: pd.DataFrame
    level: str
    n_resamples: int
    confidence_level: float
    by: tuple[str, ...] | None
    n_judgments: int
    n_judgments_used: int
    n_units: int
    n_units_used: int
    n_units_skipped: int
    n_annotators: int
    n_repeats: int
    n_without_annotator: int
    warnings: tuple[str, ...] = field(default=())

    def _get(self, coefficient: str) -> float:
        c = self.coefficients
        row = c[(c["stratum"] == "all") & (c["target"] == "choice") & (c["coefficient"] == coefficient)]
        return float(row["estimate"].iloc[0]) if len(row) else float("nan")

    alpha = _headline("krippendorff_alpha", "Krippendorff's nominal alpha on which response won (all data).")
    ac1 = _headline("gwet_ac1", "Gwet's AC1 on which response won (all data).")
    kappa = _headline("fleiss_kappa", "Fleiss' kappa on which response won (all data).")
    percent_agreement = _headline("percent_agreement", "Percent agreement on which response won (all data).")

    def to_frame(self) -> pd.DataFrame:
        """Return the tidy coefficient table (a copy)."""
        return self.coefficients.copy()

    def summary(self) -> str:
        """Return a plain-text report."""
        pct = round(100 * self.confidence_level)
        lines = [
            f"Agreement: {self.n_judgments_used:,} of {self.n_judgments:,} judgments, "
            f"{self.n_units_used:,} comparisons with 2+ judgments ({self.n_units_skipped:,} skipped), "
            f"{self.n_annotators:,} annotators; {pct}% bootstrap CIs from {self.n_resamples} resamples.",
        ]
        for _, r in self.coefficients.iterrows():
            stratum = "" if r["stratum"] == "all" else f"[{r['stratum']}] "
            lines.append(f"  {stratum}{r['target']:<10} {r['coefficient']:<20} {r['level']:<8} "
                         f"{r['estimate']:7.4f}  [{r['ci_low']:.4f}, {r['ci_high']:.4f}]"
                         + (f"  ({r['reason']})" if isinstance(r["reason"], str) and r["reason"] else ""))
        for _, r in self.intra_rater.iterrows():
            lines.append(f"  intra-rater {r['coefficient']:<20} {r['estimate']:7.4f} (n = {r['n']})")
        return "\n".join([*lines, *self.warnings])


def _validate(data: Any, level: Any, n_resamples: Any, confidence_level: Any, by: Any) -> tuple[str, ...] | None:
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData (see prefqa.read); got {type(data).__name__}.")
    if level is not None and level not in ("ordinal", "interval"):
        raise SchemaError(
            f"`level` sets how ratings are read and must be 'ordinal', 'interval' or None; got {level!r}. "
            "Choices are always nominal and strength ordinal."
        )
    if not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0:
        raise SchemaError(f"`n_resamples` must be a non-negative integer; got {n_resamples!r}.")
    if not (0.0 < float(confidence_level) < 1.0):
        raise SchemaError(f"`confidence_level` must be between 0 and 1 (e.g. 0.95); got {confidence_level!r}.")
    if not data.has_annotators:
        raise InsufficientDataError(
            f"reliability needs annotator ids, but all {data.n_judgments:,} judgments have a missing "
            "`annotator_id` (typical of TRL/HH/OpenAI rows). Load data that names its annotators."
        )
    if by is None:
        return None
    cols = (by,) if isinstance(by, str) else tuple(by)
    missing = [c for c in cols if c not in data.judgments.columns]
    if missing:
        raise SchemaError(f"`by` names column(s) {missing} not in the judgments; found {list(data.judgments.columns)}.")
    return cols


def _reason(row: dict[str, Any], n_used_cats: int) -> str:
    if np.isfinite(row["estimate"]):
        return ""
    if row["n"] == 0:
        return "no unit with 2 or more judgments"
    if n_used_cats <= 1:
        return "a single category in use: chance agreement is total (prevalence); see gwet_ac1 and percent_agreement"
    return "undefined"


def agreement(
    data: PreferenceData,
    *,
    level: str | None = None,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    rng: RngLike = None,
    by: str | Sequence[str] | None = None,
) -> AgreementResult:
    """Compute inter- and intra-rater reliability of preference judgments (and ratings).

    Parameters
    ----------
    data : PreferenceData
        Judgments with annotator ids.
    level : {'ordinal', 'interval'}, optional
        How ratings are read (default 'ordinal'); echoed in the result.
    n_resamples : int, default 1000
        Bootstrap resamples of units (0 skips the CIs).
    confidence_level : float, default 0.95
    rng : int or Generator, optional
    by : str or list of str, optional
        Judgment column(s); every coefficient is also computed per stratum.

    Returns
    -------
    AgreementResult

    Raises
    ------
    InsufficientDataError
        No annotator ids, or no comparison judged by 2 or more annotators.

    Notes
    -----
    * Choices are nominal with three categories (first response won, second
      won, tie) taken from ``data.oriented_choice()``: annotators who saw the
      pair in opposite orders and picked the same response agree.
    * ``strength``, signed toward the comparison's first response, gets an
      ordinal alpha. Ratings (``data.ratings``) get alpha at ``level`` per
      ``aspect`` (never pooled across aspects), units = responses.
    * Inter-rater coefficients use one judgment per annotator and comparison:
      the first row. Repeats feed ``intra_rater``.
    * Standard errors: Gwet's linearised SE for the kappa family, the
      bootstrap SD for alpha; CIs are bootstrap percentiles over comparisons.
    * With ``by``, alpha in a stratum uses the *pooled* expected disagreement
      of all data (stable for small strata and comparable across them); the
      kappa family uses each stratum's own chance agreement.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=60, n_annotators=12, rng=1)
    >>> res = agreement(data, n_resamples=200, rng=0)
    >>> res.n_units_used == data.n_comparisons
    True
    >>> 0.0 < res.alpha < 1.0
    True
    """
    by_cols = _validate(data, level, n_resamples, confidence_level, by)
    level = level or "ordinal"
    gen = as_generator(rng)
    j = data.judgments
    comp, _ = data.codes("comparison_id")
    ann, _ = data.codes("annotator_id")
    choice = data.oriented_choice().astype(np.int64)
    has_ann = ann >= 0
    key = np.where(has_ann, comp * (int(ann.max()) + 1) + ann, -1 - np.arange(len(comp)))
    _, first, group = np.unique(key, return_index=True, return_inverse=True)  # one sort, reused below
    keep = np.zeros(len(j), dtype=bool)
    keep[first] = True
    keep &= has_ann
    n_repeats = int(has_ann.sum() - keep.sum())
    n_per = np.bincount(comp[keep], minlength=int(comp.max()) + 1)
    n_used = int((n_per >= 2).sum())
    if n_used == 0:
        raise InsufficientDataError(
            f"agreement needs at least one comparison judged by 2 or more annotators; got 0 of "
            f"{data.n_comparisons:,} comparisons ({int(keep.sum()):,} judgments with annotator ids). "
            "Collect overlapping judgments."
        )
    rows: list[dict[str, Any]] = []
    warns: list[str] = []
    strata: list[tuple[str, np.ndarray]] = [("all", keep)]
    if by_cols:
        # one label per stratum, built from group codes (no per-row string joins)
        frame = j[list(by_cols)].astype("string").fillna("<NA>")
        code, keys = pd.MultiIndex.from_frame(frame).factorize(sort=True)
        for g, key in enumerate(keys):
            mask = keep & (code == g)
            if mask.any():
                strata.append((" | ".join(map(str, key)), mask))
    strength = data.oriented_strength()
    targets: list[tuple[str, np.ndarray, np.ndarray, Any, Any, tuple[str, ...]]] = [
        ("choice", comp, choice, "nominal", None, _FAMILY)]
    if strength is not None and np.isfinite(strength).any():
        ok = np.isfinite(strength)
        s_codes, s_cats = pd.factorize(pd.Series(strength[ok]), sort=True)
        s_val = np.full(len(strength), -1, dtype=np.int64)
        s_val[ok] = s_codes
        targets.append(("strength", comp, s_val, "ordinal", np.asarray(s_cats, dtype=float), ()))
    for name, unit, val, lv, numeric, kinds in targets:
        n_cat = 3 if name == "choice" else len(numeric)
        pooled = None
        for stratum, mask in strata:
            m = mask & (val >= 0)
            if not m.any():
                continue
            if stratum != "all" and pooled is None:
                pooled = coincidence_marginals(unit[keep & (val >= 0)], val[keep & (val >= 0)], n_cat)
            used_cats = len(np.unique(val[m]))
            for row in block(unit[m], val[m], n_cat, level=lv, numeric=numeric, family_kinds=kinds,
                             n_resamples=int(n_resamples), confidence_level=float(confidence_level),
                             rng=gen, pooled_marginals=pooled):
                row.update(stratum=stratum, target=name, reason=_reason(row, used_cats))
                rows.append(row)
    rows.extend(_rating_rows(data, level, int(n_resamples), float(confidence_level), gen))
    table = pd.DataFrame(rows).reindex(columns=_COLUMNS)
    for r in table.itertuples():
        if r.reason and r.stratum == "all" and r.coefficient == "krippendorff_alpha":
            warns.append(f"{r.target}: Krippendorff's alpha is undefined ({r.reason}).")
    intra, _ = intra_rater(comp[has_ann], ann[has_ann], choice[has_ann], n_cat=3, groups=group[has_ann])
    return AgreementResult(
        coefficients=table, intra_rater=intra, level=level, n_resamples=int(n_resamples),
        confidence_level=float(confidence_level), by=by_cols, n_judgments=data.n_judgments,
        n_judgments_used=int(keep.sum()), n_units=data.n_comparisons, n_units_used=n_used,
        n_units_skipped=int(data.n_comparisons - n_used), n_annotators=data.n_annotators,
        n_repeats=n_repeats, n_without_annotator=int((~has_ann).sum()), warnings=tuple(warns),
    )


def _rating_rows(data: PreferenceData, level: str, n_resamples: int, confidence_level: float,
                 gen: np.random.Generator) -> list[dict[str, Any]]:
    ratings = data.ratings
    if ratings is None or not len(ratings):
        return []
    rows: list[dict[str, Any]] = []
    aspect = ratings["aspect"].astype("string").fillna("overall") if "aspect" in ratings else pd.Series(
        "overall", index=ratings.index)
    for asp in sorted(pd.unique(aspect)):
        sub = ratings[(aspect == asp).to_numpy()]
        sub = sub[sub["annotator_id"].notna() & sub["score"].notna()]
        if not len(sub):
            continue
        unit, _ = pd.factorize(sub["response_id"], sort=True)
        rater, _ = pd.factorize(sub["annotator_id"], sort=True)
        key = unit.astype(np.int64) * (int(rater.max()) + 1) + rater
        _, first = np.unique(key, return_index=True)
        scores = pd.to_numeric(sub["score"], errors="coerce").to_numpy(dtype=float)[first]
        codes, cats = pd.factorize(pd.Series(scores), sort=True)
        for row in block(unit[first].astype(np.int64), codes.astype(np.int64), len(cats), level=level,
                         numeric=np.asarray(cats, dtype=float), family_kinds=(), n_resamples=n_resamples,
                         confidence_level=confidence_level, rng=gen):
            row.update(stratum="all", target=f"rating:{asp}",
                       reason=_reason(row, len(cats)))
            rows.append(row)
    return rows
