"""``pq.agreement``: every reliability coefficient of a PreferenceData, with bootstrap CIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._types import RngLike, as_generator
from ..errors import SchemaError
from ..engine import ScannedData
from ..schema import PreferenceData
from ._boot import block
from ._choice import pair_rows, reason

__all__ = ["AgreementResult", "agreement"]

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
        ``std_error``, ``se_method``, ``ci_low``, ``ci_high`` (see the
        notes of :func:`agreement`), ``n`` (units with 2+ judgments), ``n_units``,
        ``n_ratings``, ``reason`` (why an estimate is NaN).
    intra_rater : DataFrame
        Agreement of annotators with themselves on repeated comparisons:
        ``coefficient`` (krippendorff_alpha, percent_agreement), ``estimate``,
        ``n`` (repeated annotator x comparison units).
    level : str
        Level used for ratings (echoed; choices are nominal, strength ordinal).
    orientation, expected : str
        The options used (see :func:`agreement`).
    categories : tuple of str
        The choice categories in use ('a' = the comparison's first response
        won, 'b', 'tie'); empty for ratings-only data.
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
    orientation: str = "symmetric"
    expected: str = "pooled"
    categories: tuple[str, ...] = ()

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
            f"{self.n_annotators:,} annotators; {pct}% bootstrap CIs from {self.n_resamples} resamples"
            + ("; alpha: two-way (comparisons x annotators) jackknife SE, normal interval"
               if (self.coefficients.get("se_method") == "two_way_jackknife").any() else "") + "; "
            f"chance agreement {'over both orientations' if self.orientation == 'symmetric' else 'as stored'}"
            + (f", categories {', '.join(self.categories)}" if self.categories else "")
            + (f"; per-stratum alpha with {self.expected} expected disagreement" if self.by else "") + ".",
        ]
        for _, r in self.coefficients.iterrows():
            stratum = "" if r["stratum"] == "all" else f"[{r['stratum']}] "
            lines.append(f"  {stratum}{r['target']:<10} {r['coefficient']:<20} {r['level']:<8} "
                         f"{r['estimate']:7.4f}  [{r['ci_low']:.4f}, {r['ci_high']:.4f}]"
                         + (f"  ({r['reason']})" if isinstance(r["reason"], str) and r["reason"] else ""))
        for _, r in self.intra_rater.iterrows():
            lines.append(f"  intra-rater {r['coefficient']:<20} {r['estimate']:7.4f} (n = {r['n']})")
        return "\n".join([*lines, *self.warnings])


_ORIENTATIONS = ("symmetric", "as_stored")
_EXPECTED = ("pooled", "within")


def _validate(data: Any, level: Any, n_resamples: Any, confidence_level: Any, by: Any, orientation: Any,
              expected: Any) -> tuple[str, ...] | None:
    if not isinstance(data, PreferenceData | ScannedData):
        raise SchemaError("`data` must be a PreferenceData (see prefqa.read) or a ScannedData (pq.scan); got "
                          f"{type(data).__name__}.")
    if level is not None and level not in ("ordinal", "interval"):
        raise SchemaError(
            f"`level` sets how ratings are read and must be 'ordinal', 'interval' or None; got {level!r}. "
            "Choices are always nominal and strength ordinal."
        )
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0:
        raise SchemaError(f"`n_resamples` must be a non-negative integer; got {n_resamples!r}.")
    if not isinstance(confidence_level, (int, float)) or not (0.0 < float(confidence_level) < 1.0):
        raise SchemaError(f"`confidence_level` must be between 0 and 1 (e.g. 0.95); got {confidence_level!r}.")
    if orientation not in _ORIENTATIONS:
        raise SchemaError(f"`orientation` must be one of {list(_ORIENTATIONS)}; got {orientation!r}.")
    if expected not in _EXPECTED:
        raise SchemaError(f"`expected` must be one of {list(_EXPECTED)}; got {expected!r}.")
    if by is None:
        return None
    cols = (by,) if isinstance(by, str) else tuple(by)
    have = list(data.columns) if isinstance(data, ScannedData) else list(data.judgments.columns)
    missing = [c for c in cols if c not in have]
    if missing:
        raise SchemaError(f"`by` names column(s) {missing} not in the judgments; found {have}.")
    return cols


def _has_rating_pairs(data: PreferenceData | ScannedData) -> bool:
    if isinstance(data, ScannedData):
        return False
    r = data.ratings
    if r is None or not len(r):
        return False
    ok = r["annotator_id"].notna() & r["score"].notna()
    return bool(ok.any()) and bool(r.loc[ok, "response_id"].duplicated().any())


def agreement(
    data: PreferenceData | ScannedData,
    *,
    level: str | None = None,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    rng: RngLike = None,
    by: str | Sequence[str] | None = None,
    expected: str = "pooled",
    orientation: str = "symmetric",
    categories: Sequence[str] | None = None,
) -> AgreementResult:
    """Compute inter- and intra-rater reliability of preference judgments (and ratings).

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Judgments with annotator ids (in memory, or kept in an engine by
        :func:`prefqa.scan`: the same numbers, from vote-pattern reductions
        computed in SQL), and/or ratings (``data.ratings``) with
        annotator ids: ratings-only data (no pairs) gets the reliability of
        the scores.
    level : {'ordinal', 'interval'}, optional
        How ratings are read (default 'ordinal'); echoed in the result.
    n_resamples : int, default 1000
        Bootstrap resamples of units (0 skips the CIs).
    confidence_level : float, default 0.95
    rng : int or Generator, optional
    by : str or list of str, optional
        Judgment column(s); every coefficient is also computed per stratum.
    expected : {'pooled', 'within'}, default 'pooled'
        Per-stratum alpha: 'pooled' uses the expected disagreement of all
        data (stable for small strata, comparable across them); 'within' uses
        each stratum's own, i.e. alpha computed on the stratum alone. The
        kappa family always uses the stratum's own chance agreement. The
        category set (and so the ``q`` of AC1 and Brennan-Prediger) is that of
        all data in every stratum.
    orientation : {'symmetric', 'as_stored'}, default 'symmetric'
        'symmetric' computes chance agreement from marginals counted over
        both orientations of every comparison (which response is "first" is
        an arbitrary label), so swapping the sides of any comparisons changes
        no coefficient. 'as_stored' uses the canonical orientation of
        ``data.oriented_choice()`` (the display order of a comparison's first
        judgment), as coefficients published on stored labels do.
    categories : sequence of {'a', 'b', 'tie'}, optional
        The choice categories; default those that occur (ties only when a
        tie occurs; with 'symmetric', 'a' and 'b' go together).

    Returns
    -------
    AgreementResult

    Raises
    ------
    InsufficientDataError
        Neither a comparison judged by 2 or more annotators nor a response
        rated by 2 or more annotators.

    Notes
    -----
    * Choices are nominal (first response won, second won, tie) taken from
      ``data.oriented_choice()``: annotators who saw the pair in opposite
      orders and picked the same response agree. With 'symmetric', alpha is
      Krippendorff's alpha of the doubled data (each comparison once as stored
      and once mirrored); observed agreement is that of the data as given.
    * ``strength``, signed toward the comparison's first response, gets an
      ordinal alpha (mirrored as ``-strength`` under 'symmetric'). Ratings
      (``data.ratings``) get alpha at ``level`` per ``aspect`` (never pooled
      across aspects), units = responses; ratings have no orientation.
    * Inter-rater coefficients use one judgment per annotator and comparison:
      the first row. Repeats feed ``intra_rater``.
    * Standard errors: Gwet's linearised SE for the kappa family (CIs:
      bootstrap percentiles over comparisons). Alpha of the choices and of
      the strength: with at least 10 annotators, a two-way (comparisons x
      annotators) jackknife SE and a normal interval, because annotators
      are a sample too and a bootstrap over comparisons alone treats them
      as fixed (95% CIs covered 0.885 of the population alpha with 40
      heterogeneous annotators, 0.94 with the two-way jackknife;
      ``benchmarks/calibration.py``); with fewer annotators the bootstrap
      SD and percentile interval over comparisons, which describe these
      annotators (``warnings`` says so). ``se_method`` names which.

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
    by_cols = _validate(data, level, n_resamples, confidence_level, by, orientation, expected)
    level = level or "ordinal"
    gen = as_generator(rng)
    rows: list[dict[str, Any]] = []
    warns: list[str] = []
    ratings_ok = _has_rating_pairs(data)
    pairs = pair_rows(data, by_cols, expected, orientation, categories, int(n_resamples), float(confidence_level),
                       gen, ratings_ok, warns)
    rows.extend(pairs["rows"])
    if isinstance(data, PreferenceData):
        rows.extend(_rating_rows(data, level, int(n_resamples), float(confidence_level), gen))
    table = pd.DataFrame(rows).reindex(columns=_COLUMNS)
    for r in table.itertuples():
        if r.reason and r.stratum == "all" and r.coefficient == "krippendorff_alpha":
            warns.append(f"{r.target}: Krippendorff's alpha is undefined ({r.reason}).")
    return AgreementResult(
        coefficients=table, intra_rater=pairs["intra"], level=level, n_resamples=int(n_resamples),
        confidence_level=float(confidence_level), by=by_cols, n_judgments=data.n_judgments,
        n_judgments_used=pairs["n_used_judgments"], n_units=data.n_comparisons, n_units_used=pairs["n_used"],
        n_units_skipped=int(data.n_comparisons - pairs["n_used"]), n_annotators=data.n_annotators,
        n_repeats=pairs["n_repeats"], n_without_annotator=pairs["n_without"], warnings=tuple(warns),
        orientation=orientation, expected=expected, categories=pairs["categories"],
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
                       reason=reason(row, len(cats)))
            rows.append(row)
    return rows
