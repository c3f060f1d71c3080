"""The choice and strength rows of ``pq.agreement``, from vote reductions (in memory or in an engine).

Choices reach the estimators only through
:func:`prefqa.engine.reductions.votes.first_votes` (one row per stratum,
annotator, vote pattern and own vote) and
:func:`~prefqa.engine.reductions.votes.repeat_votes` (intra-rater repeats),
so a :class:`~prefqa.schema.PreferenceData` and a
:class:`~prefqa.engine.ScannedData` of the same judgments give the same
table and the same numbers. The strength (a continuous value) is pulled as
numeric arrays of first judgments
(:func:`~prefqa.engine.reductions.votes.first_strength`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..engine.reductions import votes
from ..errors import InsufficientDataError, SchemaError
from ._boot import MIN_JACKKNIFE_RATERS, block_table, marginals_from_table
from .intra import intra_from_table

__all__ = ["pair_rows"]

_FAMILY = ("fleiss_kappa", "gwet_ac", "brennan_prediger", "percent_agreement")
_CHOICE_LABELS = ("a", "b", "tie")


def reason(row: dict[str, Any], n_used_cats: int) -> str:
    """Why an estimate is NaN ('' when it is finite)."""
    if np.isfinite(row["estimate"]):
        return ""
    if row["n"] == 0:
        return "no unit with 2 or more judgments"
    if n_used_cats <= 1:
        return "a single category in use: chance agreement is total (prevalence); see gwet_ac1 and percent_agreement"
    return "undefined"


def _choice_categories(n_per_choice: np.ndarray, orientation: str, categories: Sequence[str] | None
                       ) -> tuple[np.ndarray, tuple[str, ...], np.ndarray | None]:
    """Map oriented choice codes (0 first won, 1 second won, 2 tie) onto the category set in use.

    ``n_per_choice`` counts the used judgments per oriented choice. Returns
    the re-coding of 0, 1, 2 (-1 = not a category), the category labels and
    the mirror permutation (swap of 'a' and 'b') for ``orientation="symmetric"``.
    """
    present = np.asarray(n_per_choice)[:3] > 0
    if categories is not None:
        cats = [categories] if isinstance(categories, str) else list(categories)
        bad = [c for c in cats if c not in _CHOICE_LABELS]
        if bad or len(set(cats)) != len(cats) or not cats:
            raise SchemaError(
                f"`categories` lists choice categories, a subset of {list(_CHOICE_LABELS)} without repeats "
                f"('a' = the comparison's first response won); got {categories!r}."
            )
        idx = sorted(_CHOICE_LABELS.index(c) for c in cats)
        unused = [(_CHOICE_LABELS[i], int(n_per_choice[i])) for i in range(3) if present[i] and i not in idx]
        if unused:
            raise SchemaError(
                f"`categories`={cats!r} leaves out choices that occur: "
                + ", ".join(f"{n} x {lab!r}" for lab, n in unused) + ". Add them, or pass categories=None "
                "to take the categories from the data."
            )
        if orientation == "symmetric" and (0 in idx) != (1 in idx):
            raise SchemaError(
                "orientation='symmetric' counts every comparison in both orientations, so `categories` must "
                f"hold both 'a' and 'b' or neither; got {cats!r}. Use orientation='as_stored' otherwise."
            )
    else:
        if orientation == "symmetric" and (present[0] or present[1]):
            present[:2] = True
        idx = [int(i) for i in np.flatnonzero(present)]
    remap = np.full(3, -1, dtype=np.int64)
    remap[idx] = np.arange(len(idx))
    perm = None
    if orientation == "symmetric":
        perm = np.arange(len(idx))
        if 0 in idx and 1 in idx:
            perm[[remap[0], remap[1]]] = perm[[remap[1], remap[0]]]
    return remap, tuple(_CHOICE_LABELS[i] for i in idx), perm


def _strength_target(strength: np.ndarray, orientation: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    vals = strength
    cats = np.unique(np.r_[vals, -vals]) if orientation == "symmetric" else np.unique(vals)
    out = np.searchsorted(cats, vals).astype(np.int64)
    perm = np.searchsorted(cats, -cats) if orientation == "symmetric" else None
    return out, cats.astype(float), perm


def no_pairs(data: Any, ratings_ok: bool, message: str, warns: list[str]) -> dict[str, Any]:
    """The pair part of the result when no comparison has 2+ annotators (ratings may still be reported)."""
    if not ratings_ok:
        n_ratings = getattr(data, "n_ratings", 0)
        if n_ratings:
            message += (" The ratings table has no response rated by 2 or more annotators either, so no "
                        "reliability can be computed; collect overlapping ratings.")
        raise InsufficientDataError(message)
    if data.n_judgments:
        warns.append(message.split(". ")[0] + ": only the ratings' reliability is reported.")
    n_named = int((data.codes("annotator_id")[0] >= 0).sum()) if data.n_judgments else 0
    intra = pd.DataFrame({"coefficient": ["krippendorff_alpha", "percent_agreement"],
                          "level": ["nominal", "nominal"], "estimate": [np.nan, np.nan], "n": [0, 0]})
    return {"rows": [], "intra": intra, "n_used": 0, "n_used_judgments": 0, "n_repeats": 0,
            "n_without": int(data.n_judgments - n_named), "categories": ()}


def _pairable_units(t: pd.DataFrame, cols: list[str]) -> int:
    size = t[cols].to_numpy().sum(axis=1)
    two = size >= 2
    return int(np.rint((t["count"].to_numpy()[two] / size[two]).sum()))


def _split(t: pd.DataFrame, strata: tuple[str, ...]) -> list[tuple[str, pd.DataFrame]]:
    if not len(t):
        return []
    codes = t["stratum"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
    return [(strata[codes[a]], t.iloc[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def pair_rows(data: Any, by_cols: tuple[str, ...] | None, expected: str, orientation: str,
              categories: Sequence[str] | None, n_resamples: int, confidence_level: float,
              gen: np.random.Generator, ratings_ok: bool, warns: list[str]) -> dict[str, Any]:
    """Coefficients of the choices (and strength), overall and per stratum."""
    if not data.n_judgments or not data.has_annotators:
        return no_pairs(data, ratings_ok, (
            f"reliability needs annotator ids, but all {data.n_judgments:,} judgments have a "
            "missing `annotator_id` (typical of TRL/HH/OpenAI rows). Load data that names its annotators, "
            "or ratings with annotator ids (pq.icc for their intraclass correlations)."), warns)
    vt = votes.first_votes(data)
    t = vt.table
    raw = ["n0", "n1", "n2"]
    n_repeats = vt.n_named - vt.n_first
    n_used = _pairable_units(t, raw)
    if n_used == 0:
        return no_pairs(data, ratings_ok, (
            f"agreement needs at least one comparison judged by 2 or more annotators; got 0 of "
            f"{data.n_comparisons:,} comparisons ({vt.n_first:,} judgments with annotator ids). "
            "Collect overlapping judgments."), warns)
    n_choice = np.bincount(t["value"].to_numpy(), weights=t["count"].to_numpy(), minlength=3)
    remap, cats, perm = _choice_categories(n_choice, orientation, categories)
    n_raters = int(t["rater"].nunique())
    if n_raters < MIN_JACKKNIFE_RATERS:
        warns.append(f"only {n_raters} annotators: alpha's interval resamples comparisons and treats these "
                     f"annotators as fixed (annotator sampling variance needs about {MIN_JACKKNIFE_RATERS}).")
    idx = np.flatnonzero(remap >= 0)

    def recode(tab: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (tab[[raw[i] for i in idx]].to_numpy(), tab["rater"].to_numpy(), remap[tab["value"].to_numpy()],
                tab["count"].to_numpy())

    by_tab = votes.first_votes(data, by=by_cols) if by_cols else None
    targets: list[tuple[str, Any, Any, str, Any, tuple[str, ...], Any, int]] = [
        ("choice", recode(t), None if by_tab is None else [(lab, recode(sub)) for lab, sub in
                                                             _split(by_tab.table, by_tab.strata)],
         "nominal", None, _FAMILY, perm, len(cats))]
    strength, s_labels = votes.first_strength(data)
    if len(strength):
        s_val, s_cats, s_perm = _strength_target(strength["value"].to_numpy(), orientation)
        n_s = len(s_cats)

        def s_table(frame: pd.DataFrame, codes: np.ndarray, strat: np.ndarray | None) -> pd.DataFrame:
            return votes.table_from_arrays(frame["unit"].to_numpy(), frame["rater"].to_numpy(), codes, strat, n_s)

        def unpack(tab: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            return (tab[[f"n{c}" for c in range(n_s)]].to_numpy(), tab["rater"].to_numpy(), tab["value"].to_numpy(),
                    tab["count"].to_numpy())

        s_strata = None
        if by_cols:
            s_by, s_labels = votes.first_strength(data, by=by_cols)
            codes = np.searchsorted(s_cats, s_by["value"].to_numpy())
            st = s_table(s_by, codes, s_by["stratum"].to_numpy())
            s_strata = [(lab, unpack(sub)) for lab, sub in _split(st, s_labels)]
        targets.append(("strength", unpack(s_table(strength, s_val, None)), s_strata, "ordinal", s_cats, (),
                        s_perm, n_s))
    rows: list[dict[str, Any]] = []
    for name, whole, strata, lv, numeric, kinds, tperm, n_cat in targets:
        pooled = None
        if expected == "pooled" and strata:
            pooled = marginals_from_table(whole[0], whole[2], whole[3], n_cat, tperm)
        for stratum, (pats, rater, value, count) in [("all", whole), *(strata or [])]:
            ok = value >= 0
            if not ok.any():
                continue
            used = np.bincount(value[ok], minlength=n_cat) > 0
            if tperm is not None:
                used |= used[tperm]
            for row in block_table(pats[ok], rater[ok], value[ok], count[ok], n_cat, level=lv, numeric=numeric,
                                   family_kinds=kinds, n_resamples=n_resamples, confidence_level=confidence_level,
                                   rng=gen, pooled_marginals=None if stratum == "all" else pooled, perm=tperm):
                row.update(stratum=stratum, target=name, reason=reason(row, int(used.sum())))
                rows.append(row)
    n_ann = int(t["rater"].max()) + 1
    rep = votes.repeat_votes(data)
    n_ann = max(n_ann, int(rep["rater"].max()) + 1 if len(rep) else 0)
    intra, _ = intra_from_table(rep, n_ann, perm=np.array([1, 0, 2]) if orientation == "symmetric" else None)
    return {"rows": rows, "intra": intra, "n_used": n_used, "n_used_judgments": vt.n_first,
            "n_repeats": n_repeats, "n_without": vt.n_judgments - vt.n_named, "categories": cats}
