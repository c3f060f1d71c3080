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
:mod:`prefqa.reliability._boot`), floored, as there, at the prompt (unit)
variance: deleting single values of a comparison moves alpha and AC1 more
than sampling comparisons does, so the annotator term can exceed the true
variance and is not used as a floor (with that floor the standardised null
differences of alpha had SD 0.8, of AC1 0.7; with this one 0.95 for both);
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
    #: per deletion kind ("annotators", "prompts", "intersections"): for each (window, group) cell its window,
    #: its group code and the change of the window's totals when the group is deleted (cells x L)
    groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    n_values: np.ndarray        # per window: values counted (judgments or ratings used)

    @classmethod
    def build(cls, unit: np.ndarray, ann: np.ndarray, cluster: np.ndarray, window: np.ndarray, values: np.ndarray,
              unit_fn: Callable[[np.ndarray], np.ndarray], stat: Callable[[np.ndarray], np.ndarray],
              n_windows: int) -> UnitStats:
        """From per-value arrays: unit, annotator and cluster codes, window, the count vectors (n x K)."""
        values = np.asarray(values, dtype=np.float64)
        n_ann = int(ann.max()) + 1 if len(ann) else 0
        _, first, unit = np.unique(unit, return_index=True, return_inverse=True)
        n_units = len(first)
        rows, row_of = np.unique(unit * max(n_ann, 1) + ann, return_inverse=True)
        row_unit, row_ann = rows // max(n_ann, 1), rows % max(n_ann, 1)
        z = _sum_by(row_of, values, len(rows))
        p = _sum_by(row_unit, z, n_units)
        unit_window, unit_cluster = window[first], cluster[first]
        s = unit_fn(p)
        delta = s[row_unit] - unit_fn(p[row_unit] - z)
        n_clu = int(cluster.max()) + 1 if len(cluster) else 1
        inter = row_ann * n_clu + unit_cluster[row_unit]
        row_window = unit_window[row_unit]

        def cells(win: np.ndarray, code: np.ndarray, contrib: np.ndarray):
            width = int(code.max()) + 1 if len(code) else 1
            keys, inv = np.unique(win * width + code, return_inverse=True)
            return keys // width, keys % width, _sum_by(inv, contrib, len(keys))

        groups = {"annotators": cells(row_window, row_ann, delta), "prompts": cells(unit_window, unit_cluster, s),
                  "intersections": cells(row_window, inter, delta)}
        return cls(stat=stat, window_totals=_sum_by(unit_window, s, n_windows), groups=groups,
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

    def side(kind: str) -> tuple[float, int]:
        win, code, contrib = us.groups[kind]
        on_new = np.isin(win, target)
        on_base = np.isin(win, base) if base is not None else None
        return _jackknife(us.stat, t_new, t_base, code[on_new], contrib[on_new],
                          None if on_base is None else code[on_base],
                          None if on_base is None else contrib[on_base], est)

    v_ann, g_ann = side("annotators")
    v_clu, g_clu = side("prompts")
    v_int, _ = side("intersections")
    if not np.isfinite(v_clu):
        return Contrast(est, np.nan, np.nan, g_ann, g_clu)
    if np.isfinite(v_ann) and np.isfinite(v_int):
        var = max(v_ann + v_clu - v_int, v_clu)
        df = float(max(min(g_ann, g_clu) - 1, 1))
    else:  # a single annotator: only the prompts vary
        var, df = v_clu, float(max(g_clu - 1, 1))
    return Contrast(est, float(np.sqrt(var)), df, g_ann, g_clu)


def _own_and_diff(us: UnitStats, kind: str, base: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per window, jackknife variances (and group counts) of its value and of its difference to ``base``.

    The vectorized form of :func:`contrast` over every window at once: each (window, group) cell gives one
    leave-one-out replicate; groups only in the baseline give ``stat(T_w) - stat(T_B - M_Bg)``. Windows in
    ``base`` get NaN for the difference.
    """
    win, code, contrib = us.groups[kind]
    totals = us.window_totals
    n_w = len(totals)
    est_w = us.stat(totals)
    t_base = totals[base].sum(axis=0)
    est_b = float(us.stat(t_base[None, :])[0])
    rep = us.stat(totals[win] - contrib)

    def jack(n: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            v = (n - 1.0) / n * (s2 - s1 * s1 / n)
        return np.where(n >= 2, np.maximum(v, 0.0), np.nan)

    ok = np.isfinite(rep)
    n_own = np.bincount(win[ok], minlength=n_w).astype(float)
    v_own = jack(n_own, np.bincount(win[ok], weights=rep[ok], minlength=n_w),
                 np.bincount(win[ok], weights=rep[ok] ** 2, minlength=n_w))
    g_own = np.bincount(win, minlength=n_w)
    in_b = np.isin(win, base)
    codes_b, inv_b = np.unique(code[in_b], return_inverse=True)
    a = us.stat(t_base[None, :] - _sum_by(inv_b, contrib[in_b], len(codes_b))) if len(codes_b) else np.zeros(0)
    cw, cc, crep = win[~in_b], code[~in_b], rep[~in_b]
    idx = np.minimum(np.searchsorted(codes_b, cc), max(len(codes_b) - 1, 0))
    present = (idx < len(codes_b)) & (codes_b[idx] == cc) if len(codes_b) else np.zeros(len(cc), bool)
    a_c = np.where(present, a[idx] if len(a) else np.nan, est_b)
    d = crep - a_c
    okd = np.isfinite(d)
    n1 = np.bincount(cw[okd], minlength=n_w).astype(float)
    s1 = np.bincount(cw[okd], weights=d[okd], minlength=n_w)
    q1 = np.bincount(cw[okd], weights=d[okd] ** 2, minlength=n_w)
    fa = np.isfinite(a)
    pf = present & fa[idx] if len(a) else present
    k_w = np.bincount(cw[pf], minlength=n_w).astype(float)
    a_in = a[idx[pf]] if len(a) else np.zeros(0)
    sa_in = np.bincount(cw[pf], weights=a_in, minlength=n_w)
    sa2_in = np.bincount(cw[pf], weights=a_in**2, minlength=n_w)
    sa, sa2 = float(a[fa].sum()), float((a[fa] ** 2).sum())
    m = float(fa.sum()) - k_w  # baseline-only groups of window w
    e = np.where(np.isfinite(est_w), est_w, 0.0)
    s2 = m * e - (sa - sa_in)
    q2 = m * e * e - 2.0 * e * (sa - sa_in) + (sa2 - sa2_in)
    v_diff = jack(n1 + m, s1 + s2, q1 + q2)
    g_diff = np.bincount(cw, minlength=n_w) + len(codes_b) - np.bincount(cw[present], minlength=n_w)
    is_base = np.isin(np.arange(n_w), base)
    v_diff = np.where(is_base | ~np.isfinite(est_w) | ~np.isfinite(est_b), np.nan, v_diff)
    v_own = np.where(np.isfinite(est_w), v_own, np.nan)
    return v_own, g_own, v_diff, g_diff


def all_windows(us: UnitStats, base: np.ndarray) -> dict[str, np.ndarray]:
    """Every window's value and its difference to the pooled ``base`` windows, with SEs and df (vectorized).

    The same estimates and standard errors as :func:`contrast` per window (tested), in one pass.
    """
    est = us.stat(us.window_totals)
    est_b = float(us.stat(us.window_totals[base].sum(axis=0)[None, :])[0])
    parts = {k: _own_and_diff(us, k, base) for k in ("annotators", "prompts", "intersections")}
    out: dict[str, np.ndarray] = {"estimate": est, "difference": est - est_b}
    for j, name in ((0, "std_error"), (2, "diff_std_error")):
        va, vc, vi = parts["annotators"][j], parts["prompts"][j], parts["intersections"][j]
        ga, gc = parts["annotators"][j + 1], parts["prompts"][j + 1]
        two = np.isfinite(va) & np.isfinite(vi) & (ga >= 2)
        with np.errstate(invalid="ignore"):
            var = np.where(two, np.fmax(va + vc - vi, vc), vc)
        df = np.where(two, np.maximum(np.minimum(ga, gc) - 1, 1), np.maximum(gc - 1, 1)).astype(float)
        var = np.where(gc >= 2, var, np.nan)
        out[name] = np.sqrt(var)
        out["df" if j == 0 else "diff_df"] = np.where(np.isfinite(var), df, np.nan)
    return out
