"""Intra-rater reliability: each annotator's agreement with itself on repeated comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._counts import count_matrix

__all__ = ["intra_rater"]


def intra_rater(comp: np.ndarray, ann: np.ndarray, value: np.ndarray, *, n_cat: int,
                groups: np.ndarray | None = None,
                perm: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (overall, per-annotator) intra-rater agreement from every judgment row.

    A unit is one (annotator, comparison) judged 2+ times by that annotator;
    its values are the repeated judgments. Overall: nominal Krippendorff's
    alpha over these units and percent agreement (mean share of agreeing
    pairs of repeats). Per annotator (integer code index): ``n_repeat_units``,
    ``intra_agreement`` and ``intra_alpha``, the latter using the pooled
    expected disagreement of all repeated units (one annotator rarely has
    enough repeats for its own).

    ``perm`` (a permutation of the categories) takes the expected
    disagreement from the doubled data, every unit counted once more with
    its categories permuted (both orientations of a comparison); the
    observed disagreement is unchanged.
    """
    if groups is None:  # (comparison, annotator) group of each row
        key = comp.astype(np.int64) * (int(ann.max()) + 1 if len(ann) else 1) + ann
        _, groups = np.unique(key, return_inverse=True)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    m_all = np.bincount(groups, minlength=n_groups)
    rep_rows = m_all[groups] >= 2
    rep_groups, unit = np.unique(groups[rep_rows], return_inverse=True)
    counts = count_matrix(unit, value[rep_rows], len(rep_groups), n_cat).toarray()
    c, mu = counts, counts.sum(axis=1)
    rep = np.ones(len(mu), dtype=bool)
    group_ann = np.zeros(n_groups, dtype=np.int64)
    group_ann[groups] = ann
    unit_ann = group_ann[rep_groups]
    same = (c * (c - 1.0)).sum(axis=1)
    pa_u = same / (mu * (mu - 1.0))
    d_u = (mu**2 - (c**2).sum(axis=1)) / (mu - 1.0)  # off-diagonal coincidences of the unit
    n_c = c.sum(axis=0).astype(float)
    if perm is not None:
        n_c = n_c + n_c[perm]
    n = n_c.sum()
    d_e = (n**2 - (n_c**2).sum()) / (n * (n - 1.0)) if n > 1 else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = 1.0 - (d_u.sum() / mu.sum()) / d_e if len(mu) and d_e > 0 else np.nan
    overall = pd.DataFrame({
        "coefficient": ["krippendorff_alpha", "percent_agreement"],
        "level": ["nominal", "nominal"],
        "estimate": [float(alpha), float(pa_u.mean()) if len(mu) else np.nan],
        "n": [int(rep.sum()), int(rep.sum())],
    })
    n_ann = int(ann.max()) + 1 if len(ann) else 0
    cnt = np.bincount(unit_ann, minlength=n_ann)
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.bincount(unit_ann, weights=pa_u, minlength=n_ann) / cnt
        do = np.bincount(unit_ann, weights=d_u, minlength=n_ann) / np.bincount(unit_ann, weights=mu, minlength=n_ann)
        a_alpha = np.where(d_e > 0, 1.0 - do / d_e, np.nan) if np.isfinite(d_e) else np.full(n_ann, np.nan)
    per = pd.DataFrame({"n_repeat_units": cnt, "intra_agreement": agree, "intra_alpha": a_alpha})
    return overall, per
