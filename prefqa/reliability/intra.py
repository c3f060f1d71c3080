"""Intra-rater reliability: each annotator's agreement with itself on repeated comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..engine.reductions.votes import unique_rows

__all__ = ["intra_from_table", "intra_rater"]


def intra_from_table(table: pd.DataFrame, n_ann: int, *, n_cat: int = 3,
                     perm: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (overall, per-annotator) intra-rater agreement from repeated-unit patterns.

    ``table`` has one row per (``rater``, pattern ``n0 .. n{n_cat-1}``) with
    ``count`` units: a unit is one (annotator, comparison) judged 2+ times
    by that annotator, its pattern the counts of its repeated values
    (:func:`prefqa.engine.reductions.votes.repeat_votes`). Overall: nominal
    Krippendorff's alpha over these units and percent agreement (mean share
    of agreeing pairs of repeats). Per annotator (integer code index, length
    ``n_ann``): ``n_repeat_units``, ``intra_agreement`` and ``intra_alpha``,
    the latter using the pooled expected disagreement of all repeated units
    (one annotator rarely has enough repeats for its own).

    ``perm`` (a permutation of the categories) takes the expected
    disagreement from the doubled data, every unit counted once more with
    its categories permuted (both orientations of a comparison); the
    observed disagreement is unchanged.
    """
    c = table[[f"n{k}" for k in range(n_cat)]].to_numpy(dtype=float).reshape(-1, n_cat)
    wt = table["count"].to_numpy(dtype=float)
    unit_ann = table["rater"].to_numpy(dtype=np.int64)
    mu = c.sum(axis=1)
    same = (c * (c - 1.0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pa_u = same / (mu * (mu - 1.0))
        d_u = (mu**2 - (c**2).sum(axis=1)) / (mu - 1.0)  # off-diagonal coincidences of the unit
    n_c = (wt[:, None] * c).sum(axis=0)
    if perm is not None:
        n_c = n_c + n_c[perm]
    n = n_c.sum()
    d_e = (n**2 - (n_c**2).sum()) / (n * (n - 1.0)) if n > 1 else np.nan
    n_units = int(wt.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = 1.0 - ((wt * d_u).sum() / (wt * mu).sum()) / d_e if n_units and d_e > 0 else np.nan
    overall = pd.DataFrame({
        "coefficient": ["krippendorff_alpha", "percent_agreement"],
        "level": ["nominal", "nominal"],
        "estimate": [float(alpha), float((wt * pa_u).sum() / wt.sum()) if n_units else np.nan],
        "n": [n_units, n_units],
    })
    cnt = np.rint(np.bincount(unit_ann, weights=wt, minlength=n_ann)).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.bincount(unit_ann, weights=wt * pa_u, minlength=n_ann) / cnt
        do = (np.bincount(unit_ann, weights=wt * d_u, minlength=n_ann)
              / np.bincount(unit_ann, weights=wt * mu, minlength=n_ann))
        a_alpha = np.where(d_e > 0, 1.0 - do / d_e, np.nan) if np.isfinite(d_e) else np.full(n_ann, np.nan)
    per = pd.DataFrame({"n_repeat_units": cnt, "intra_agreement": agree, "intra_alpha": a_alpha})
    return overall, per


def intra_rater(comp: np.ndarray, ann: np.ndarray, value: np.ndarray, *, n_cat: int,
                groups: np.ndarray | None = None,
                perm: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (overall, per-annotator) intra-rater agreement from every judgment row.

    The arrays are integer codes of every judgment row of named annotators;
    ``groups`` (optional) is the (comparison, annotator) group of each row.
    See :func:`intra_from_table` for the statistics.
    """
    if groups is None:  # (comparison, annotator) group of each row
        key = comp.astype(np.int64) * (int(ann.max()) + 1 if len(ann) else 1) + ann
        _, groups = np.unique(key, return_inverse=True)
    groups = np.asarray(groups).ravel()
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    counts = np.bincount(groups * n_cat + value, minlength=n_groups * n_cat).reshape(n_groups, n_cat)
    group_ann = np.zeros(n_groups, dtype=np.int64)
    group_ann[groups] = ann
    rep = counts.sum(axis=1) >= 2
    cols = ["rater", *(f"n{k}" for k in range(n_cat))]
    rows = np.column_stack([group_ann[rep], counts[rep]]).reshape(-1, n_cat + 1)
    uniq, mult = unique_rows(rows)
    table = pd.DataFrame(uniq.reshape(-1, n_cat + 1), columns=cols)
    table["count"] = mult.astype(np.int64)
    n_ann = int(ann.max()) + 1 if len(ann) else 0
    return intra_from_table(table, n_ann, n_cat=n_cat, perm=perm)
