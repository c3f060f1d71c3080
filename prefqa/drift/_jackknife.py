"""Two-way (annotators x prompts) jackknife of a window's metric and of its difference to the baseline.

Every drift metric is a smooth function ``stat(T)`` of a window's totals
``T = sum_u s(P_u)``: ``P_u`` is unit ``u``'s vector of counts (a comparison's
choice counts, or the sum and number of a per-judgment value), ``s`` maps it
to the unit's contribution (the identity for means; the unit's coincidences
for Krippendorff's alpha; its observed agreement and category shares for
Gwet's AC1). A unit (a comparison, or a rated response) lies in one window.

The difference ``d = stat(T_w) - stat(T_B)`` between a window ``w`` and the
pooled baseline ``B`` is estimated *jointly*: the same annotators and prompts
appear on both sides, and deleting one of them changes both totals at once.

* annotators: deleting annotator ``g`` removes its values from every unit it
  worked on; the change of unit ``u`` is ``s(P_u) - s(P_u - Z_ug)`` (exact,
  no refit), summed over ``g``'s units on each side;
* prompts (the clusters of :func:`prefqa.bias._per_annotator.within_annotator_clusters`:
  prompts when they group comparisons, else comparisons): deleting one
  removes whole units;
* the intersections (annotator ``g`` within prompt ``h``).

The variance is the two-way combination of the three delete-one jackknife
variances, ``V = V_annotators + V_prompts - V_intersections`` (Cameron,
Gelbach and Miller 2011, the same combination as alpha's interval in
:mod:`prefqa.reliability._boot`), floored at the larger one-way variance;
tests and intervals use t with ``min(G_annotators, G_prompts) - 1`` degrees
of freedom, as :mod:`prefqa._cluster` does. For a ratio of means the
delete-one-cluster jackknife is the CR3 relative of the CR1 sandwich of
:mod:`prefqa._cluster`; it is used for every metric here so that alpha and
AC1, which are not means of per-judgment scores, get the same treatment.
Deleting one annotator or prompt that leaves a side undefined (NaN) drops
that replicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Contrast", "UnitStats", "contrast"]


def _sum_by(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Column-wise ``np.bincount`` of the rows of ``values`` (n_rows x L) into ``n`` groups."""
    if values.shape[1] == 0:
        return np.zeros((n, 0))
    return np.column_stack([np.bincount(codes, weights=values[:, c], minlength=n) for c in range(values.shape[1])])


@dataclass(frozen=True, eq=False)
class UnitStats:
    """Sufficient statistics of one metric and the leave-one-out changes they imply.

    Build with :meth:`build`; rows are (unit, annotator) pairs.
    """

    stat: Callable[[np.ndarray], np.ndarray]
    window_totals: np.ndarray   # W x L
    row_window: np.ndarray
    row_ann: np.ndarray
    row_inter: np.ndarray       # (annotator, cluster) code per row
    row_delta: np.ndarray       # rows x L: change of the unit's contribution without the row's annotator
    unit_window: np.ndarray
    unit_cluster: np.ndarray
    unit_contrib: np.ndarray    # U x L
    n_values: np.ndarray        # per window: values counted (judgments or ratings used)

    @classmethod
    def build(cls, unit: np.ndarray, ann: np.ndarray, cluster: np.ndarray, window: np.ndarray, values: np.ndarray,
              unit_fn: Callable[[np.ndarray], np.ndarray], stat: Callable[[np.ndarray], np.ndarray],
              n_windows: int) -> UnitStats:
        """From per-value arrays: unit, annotator and cluster codes, window, the count vectors (n x K)."""
        values = np.asarray(values, dtype=np.float64)
        n_ann = int(ann.max()) + 1 if len(ann) else 0
        _, unit = np.unique(unit, return_inverse=True)
        n_units = int(unit.max()) + 1 if len(unit) else 0
        rows, row_of = np.unique(unit * max(n_ann, 1) + ann, return_inverse=True)
        row_unit, row_ann = rows // max(n_ann, 1), rows % max(n_ann, 1)
        z = _sum_by(row_of, values, len(rows))
        p = _sum_by(row_unit, z, n_units)
        first = np.zeros(n_units, dtype=np.int64)
        first[unit[::-1]] = np.arange(len(unit))[::-1]
        unit_window, unit_cluster = window[first], cluster[first]
        s = unit_fn(p)
        delta = s[row_unit] - unit_fn(p[row_unit] - z)
        _, inter = np.unique(row_ann * (int(cluster.max()) + 1 if len(cluster) else 1) + unit_cluster[row_unit],
                             return_inverse=True)
        return cls(stat=stat, window_totals=_sum_by(unit_window, s, n_windows),
                   row_window=unit_window[row_unit], row_ann=row_ann, row_inter=inter, row_delta=delta,
                   unit_window=unit_window, unit_cluster=unit_cluster, unit_contrib=s,
                   n_values=np.bincount(window, minlength=n_windows))


@dataclass(frozen=True)
class Contrast:
    """An estimate (a window's value, or its difference to the baseline) with its jackknife SE."""

    estimate: float
    std_error: float
    df: float
    n_annotators: int
    n_clusters: int


def _jackknife(stat: Callable[[np.ndarray], np.ndarray], t_new: np.ndarray, t_base: np.ndarray | None,
               codes_new: np.ndarray, contrib_new: np.ndarray, codes_base: np.ndarray | None,
               contrib_base: np.ndarray | None, full: float) -> tuple[float, int]:
    both = codes_new if codes_base is None else np.concatenate([codes_new, codes_base])
    uniq, inv = np.unique(both, return_inverse=True)
    g = len(uniq)
    if g < 2:
        return np.nan, g
    m_new = _sum_by(inv[:len(codes_new)], contrib_new, g)
    reps = stat(t_new[None, :] - m_new)
    if t_base is not None and codes_base is not None and contrib_base is not None:
        m_base = _sum_by(inv[len(codes_new):], contrib_base, g)
        reps = reps - stat(t_base[None, :] - m_base)
    ok = np.isfinite(reps)
    if ok.sum() < 2 or not np.isfinite(full):
        return np.nan, g
    reps = reps[ok]
    n = len(reps)
    return float((n - 1.0) / n * ((reps - reps.mean()) ** 2).sum()), g


def contrast(us: UnitStats, target: np.ndarray, base: np.ndarray | None) -> Contrast:
    """``stat`` of the windows ``target`` pooled, minus that of the windows ``base`` pooled (if given)."""
    t_new = us.window_totals[target].sum(axis=0)
    t_base = us.window_totals[base].sum(axis=0) if base is not None else None
    est = float(us.stat(t_new[None, :])[0])
    if t_base is not None:
        est -= float(us.stat(t_base[None, :])[0])
    rn = np.isin(us.row_window, target)
    un = np.isin(us.unit_window, target)
    rb = np.isin(us.row_window, base) if base is not None else None
    ub = np.isin(us.unit_window, base) if base is not None else None

    def side(codes: np.ndarray, contrib: np.ndarray, rows_new: np.ndarray,
             rows_base: np.ndarray | None) -> tuple[float, int]:
        return _jackknife(us.stat, t_new, t_base, codes[rows_new], contrib[rows_new],
                          None if rows_base is None else codes[rows_base],
                          None if rows_base is None else contrib[rows_base], est)

    v_ann, g_ann = side(us.row_ann, us.row_delta, rn, rb)
    v_clu, g_clu = side(us.unit_cluster, us.unit_contrib, un, ub)
    v_int, _ = side(us.row_inter, us.row_delta, rn, rb)
    if not np.isfinite(v_clu):
        return Contrast(est, np.nan, np.nan, g_ann, g_clu)
    if np.isfinite(v_ann) and np.isfinite(v_int):
        var = max(v_ann + v_clu - v_int, v_ann, v_clu)
        df = float(max(min(g_ann, g_clu) - 1, 1))
    else:  # a single annotator: only the prompts vary
        var, df = v_clu, float(max(g_clu - 1, 1))
    return Contrast(est, float(np.sqrt(var)), df, g_ann, g_clu)
