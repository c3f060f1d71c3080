"""Which judgments of a Bradley-Terry fit are correlated, and the cluster-robust meat.

Judgments are correlated within comparisons (the judges of one comparison
see the same two texts: a close call is close for all of them) and within
annotators (a noisy or idiosyncratic annotator moves every score they
give the same way). :func:`resolve` turns the ``cluster`` option into the
clustering used:

* ``"comparison"``: one cluster per comparison (judgments with a missing
  comparison id are their own cluster);
* ``"annotator"``: one cluster per annotator (a judgment with a missing
  annotator id is its own cluster);
* ``"two-way"``: annotator and comparison, Cameron, Gelbach and Miller
  (2011, *J. Bus. Econ. Stat.* 29(2)): ``M = M_annotator + M_comparison -
  M_cell`` with cells the (annotator, comparison) intersections, each term
  with its own ``G / (G - 1)`` factor; a meat that is not positive
  semi-definite has its negative eigenvalues set to 0 (their remedy), with
  a note;
* ``"none"``: every judgment independent;
* ``"auto"`` (default): ``"two-way"`` when at least
  :data:`MIN_ANNOTATOR_CLUSTERS` annotators are named, since both
  correlations are then present and estimable; ``"comparison"`` when fewer
  or no annotators are named (data without annotator ids, as HH or TRL
  rows; with a handful of annotators, annotator-clustered SEs are biased
  down, so the interval treats annotators as fixed and says so).

A bootstrap can resample one dimension only (a product of annotator and
comparison weights counts the judgment-level variance three times), so for
``ci="bootstrap"`` the automatic choice is the dimension whose one-way
sandwich variance of the strengths is larger, with a note when the two-way
sandwich is noticeably wider (see :func:`choose_bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .._cluster import dense_singletons
from ..errors import InsufficientDataError
from ..schema import PreferenceData
from . import _bt_fit as core

__all__ = [
    "CLUSTERS",
    "MIN_ANNOTATOR_CLUSTERS",
    "ClusterCodes",
    "cell_scores",
    "choose_bootstrap",
    "choose_bootstrap_cells",
    "cluster_codes",
    "cluster_codes_from",
    "meat",
    "meat_from_cells",
    "pattern_meat",
    "resolve",
    "se_method",
]

CLUSTERS = ("auto", "comparison", "annotator", "two-way", "none")
MIN_ANNOTATOR_CLUSTERS = 10   # fewer annotator clusters: annotator-robust SEs are biased downward
TWO_WAY_WIDER = 1.05          # bootstrap note when the two-way SEs exceed the resampled dimension's by this


@dataclass(frozen=True)
class ClusterCodes:
    """Cluster codes of the used judgments."""

    comparison: np.ndarray
    n_comparisons: int
    annotator: np.ndarray
    n_annotator_clusters: int
    n_annotators: int          # named annotators among the used judgments
    n_missing_annotator: int


def cluster_codes(data: PreferenceData, idx: np.ndarray) -> ClusterCodes:
    """Return the comparison and annotator clusters of the judgments ``idx``."""
    if "annotator_id" in data.judgments:
        raw = data.codes("annotator_id")[0]
    else:
        raw = np.full(data.n_judgments, -1, dtype=np.int64)
    return cluster_codes_from(data.codes("comparison_id")[0], raw, idx)


def cluster_codes_from(comparison: np.ndarray, annotator: np.ndarray, idx: np.ndarray) -> ClusterCodes:
    """:func:`cluster_codes` from integer codes of every judgment (``-1`` = missing annotator)."""
    comp, n_comp = dense_singletons(comparison[idx])
    raw = annotator[idx]
    ann, n_ann = dense_singletons(raw)
    missing = int((raw < 0).sum())
    return ClusterCodes(comp, n_comp, ann, n_ann, n_ann - missing, missing)


def resolve(cluster: str, ci: str | None, codes: ClusterCodes) -> tuple[str, list[str]]:
    """Return the clustering to use (``"auto"`` kept for a bootstrap to decide later) and notes."""
    notes: list[str] = []
    g = codes.n_annotators
    if cluster == "auto":
        if g >= MIN_ANNOTATOR_CLUSTERS:
            if codes.n_missing_annotator:
                notes.append(f"{codes.n_missing_annotator} judgment(s) without an annotator id are each their "
                             "own annotator cluster.")
            return ("auto" if ci == "bootstrap" else "two-way"), notes
        if g >= 2:
            notes.append(f"only {g} annotators are named, too few to cluster on (annotator-robust SEs "
                         f"need about {MIN_ANNOTATOR_CLUSTERS}): the intervals cluster by comparison and "
                         "treat the annotators as fixed; they do not cover annotator-to-annotator "
                         "variation. Pass cluster='two-way' to cluster on annotators anyway.")
        return "comparison", notes
    if cluster in ("annotator", "two-way"):
        if g < 2:
            raise InsufficientDataError(
                f"cluster={cluster!r} needs at least 2 named annotators; the used judgments name {g}. "
                "Use cluster='comparison' (or the default 'auto').")
        if g < MIN_ANNOTATOR_CLUSTERS:
            notes.append(f"cluster={cluster!r} with only {g} annotators: cluster-robust standard errors "
                         "from so few clusters are biased downward; read the intervals as too narrow.")
        if codes.n_missing_annotator:
            notes.append(f"{codes.n_missing_annotator} judgment(s) without an annotator id are each their "
                         "own annotator cluster.")
    return cluster, notes


def _scores_sparse(design: core.Design, theta: np.ndarray, row: np.ndarray | None, outcome: np.ndarray,
                   cluster: np.ndarray, n_clusters: int) -> sparse.csr_matrix:
    """Return the (n_clusters, n_params) sums of the judgments' score vectors."""
    k, p = design.n_items, design.n_cov
    u_d, u_l = core.judgment_scores(design, theta, row, outcome)
    i_r, j_r = (design.i, design.j) if row is None else (design.i[row], design.j[row])
    z = design.z if row is None else design.z[row]
    rows = [cluster, cluster]
    cols = [i_r, j_r]
    vals = [u_d, -u_d]
    for c in range(p):
        rows.append(cluster)
        cols.append(np.full(len(cluster), k + c))
        vals.append(u_d * z[:, c])
    if u_l is not None:
        rows.append(cluster)
        cols.append(np.full(len(cluster), design.n_params - 1))
        vals.append(u_l)
    return sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n_clusters, design.n_params)).tocsr()


def _one_way(design: core.Design, theta: np.ndarray, row: np.ndarray | None, outcome: np.ndarray,
             cluster: np.ndarray, n_clusters: int, same_pair: bool) -> np.ndarray:
    """Meat of one clustering times ``G / (G - 1)``."""
    if same_pair:   # every cluster lies within one item pair: the fast pair-table assembly
        m = core.cluster_meat(design, theta, row, outcome, cluster, n_clusters)
    else:
        s = _scores_sparse(design, theta, row, outcome, cluster, n_clusters)
        m = np.asarray((s.T @ s).todense())
    return m * (n_clusters / max(n_clusters - 1, 1))


def _pairs_nest(ia: np.ndarray, ib: np.ndarray, k: int, cluster: np.ndarray, n_clusters: int) -> bool:
    """True when every cluster's judgments name one unordered item pair."""
    pair = np.minimum(ia, ib) * k + np.maximum(ia, ib)
    first = np.empty(n_clusters, dtype=np.int64)
    first[cluster[::-1]] = np.arange(len(cluster) - 1, -1, -1)
    return bool((pair == pair[first[cluster]]).all())


def meat(design: core.Design, theta: np.ndarray, row: np.ndarray | None, outcome: np.ndarray,
         codes: ClusterCodes, cluster: str, ia: np.ndarray, ib: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Return the cluster-robust meat for ``cluster`` and notes (module notes)."""
    k = design.n_items
    n = len(outcome)
    notes: list[str] = []
    comp_nest = _pairs_nest(ia, ib, k, codes.comparison, codes.n_comparisons)
    if cluster in ("comparison", "two-way") and not comp_nest:
        notes.append("some comparisons name different item pairs across their judgments; their "
                     "clusters are still summed over all their judgments.")
    if cluster == "none":
        return _one_way(design, theta, row, outcome, np.arange(n), n, True), notes
    if cluster == "comparison":
        return _one_way(design, theta, row, outcome, codes.comparison, codes.n_comparisons, comp_nest), notes
    m_ann = _one_way(design, theta, row, outcome, codes.annotator, codes.n_annotator_clusters, False)
    if cluster == "annotator":
        return m_ann, notes
    m_comp = _one_way(design, theta, row, outcome, codes.comparison, codes.n_comparisons, comp_nest)
    _, cell = np.unique(codes.annotator * np.int64(codes.n_comparisons) + codes.comparison,
                        return_inverse=True)
    cell = cell.ravel().astype(np.int64)
    n_cells = int(cell.max()) + 1 if n else 0
    m_cell = _one_way(design, theta, row, outcome, cell, n_cells, comp_nest)
    m = m_ann + m_comp - m_cell
    return _clip_two_way(m, notes), notes


def choose_bootstrap(design: core.Design, theta: np.ndarray, row: np.ndarray | None, outcome: np.ndarray,
                     codes: ClusterCodes, ia: np.ndarray, ib: np.ndarray, h: np.ndarray, identified: bool
                     ) -> tuple[str, list[str]]:
    """Pick the dimension a bootstrap resamples under ``cluster="auto"`` (module notes)."""
    k = design.n_items
    traces = {}
    for name in ("comparison", "annotator", "two-way"):
        m, _ = meat(design, theta, row, outcome, codes, name, ia, ib)
        cov, _ = core.covariance(h, k, identified, m)
        traces[name] = float(np.nansum(np.diag(cov)[:k]))
    return _pick_dimension(traces)


def se_method(ci: str | None, cluster: str | None) -> str:
    """Describe how the standard errors were obtained."""
    if ci is None:
        return "none"
    if ci == "fisher":
        return "model-based (inverse Fisher information; judgments independent)"
    if ci == "sandwich":
        if cluster == "two-way":
            return "two-way cluster-robust sandwich (annotator x comparison, Cameron-Gelbach-Miller)"
        if cluster == "none":
            return "robust sandwich (judgments independent)"
        return f"cluster-robust sandwich by {cluster}"
    if cluster == "none":
        return "bootstrap over judgments (SD of refits; percentile intervals)"
    return f"cluster bootstrap over {cluster}s (SD of refits; percentile intervals)"


# ------------------------------------------------------------ from cluster patterns
def cell_scores(design: core.Design, theta: np.ndarray) -> sparse.csr_matrix:
    """Return the (n_rows * 3, n_params) score vector of one judgment in each design cell (row, outcome)."""
    k, p = design.n_items, design.n_cov
    n_rows = len(design.i)
    row = np.repeat(np.arange(n_rows), 3)
    outcome = np.tile(np.arange(3), n_rows)
    u_d, u_l = core.judgment_scores(design, theta, row, outcome)
    cell = np.arange(n_rows * 3)
    rows = [cell, cell]
    cols = [design.i[row], design.j[row]]
    vals = [u_d, -u_d]
    for c in range(p):
        rows.append(cell)
        cols.append(np.full(len(cell), k + c))
        vals.append(u_d * design.z[row, c])
    if u_l is not None:
        rows.append(cell)
        cols.append(np.full(len(cell), design.n_params - 1))
        vals.append(u_l)
    return sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n_rows * 3, design.n_params)).tocsr()


def pattern_meat(sums: sparse.csr_matrix | np.ndarray, mult: np.ndarray) -> np.ndarray:
    """Meat of one clustering from per-pattern score sums: ``sum_p mult_p s_p s_p'`` times ``G / (G - 1)``.

    ``sums[p]`` is the score sum of a cluster with pattern ``p``
    (``pat_p @ cell scores``); ``G = sum(mult)`` clusters.
    """
    g = float(np.sum(mult))
    w = np.asarray(mult, dtype=np.float64)
    if sparse.issparse(sums):
        m = np.asarray((sums.T @ sparse.diags(w) @ sums).todense())
    else:
        m = (sums * w[:, None]).T @ sums
    return m * (g / max(g - 1.0, 1.0))


def meat_from_cells(design: core.Design, theta: np.ndarray, cells: object, cluster: str
                    ) -> tuple[np.ndarray, list[str]]:
    """:func:`meat` from the design cells and cluster patterns of
    :func:`prefqa.engine.reductions.pairs_bt.bt_cells` (same rules, same notes)."""
    notes: list[str] = []
    scores = cell_scores(design, theta)

    def one(name: str) -> np.ndarray:
        sums, mult = cells.score_sums(name, scores)  # type: ignore[attr-defined]
        return pattern_meat(sums, mult)

    if cluster in ("comparison", "two-way") and not cells.comp_nest:  # type: ignore[attr-defined]
        notes.append("some comparisons name different item pairs across their judgments; their "
                     "clusters are still summed over all their judgments.")
    if cluster in ("none", "comparison", "annotator"):
        return one(cluster), notes
    m = one("annotator") + one("comparison") - one("cell")
    return _clip_two_way(m, notes), notes


def _clip_two_way(m: np.ndarray, notes: list[str]) -> np.ndarray:
    m = 0.5 * (m + m.T)
    vals, vecs = np.linalg.eigh(m)
    top = max(float(vals.max()), 0.0)
    neg = vals < -1e-12 * max(top, 1e-300)
    if neg.any():
        notes.append(f"the two-way meat had {int(neg.sum())} negative eigenvalue(s) (the most negative "
                     f"{float(vals.min()) / max(top, 1e-300):.2g} of the largest); they were set to 0 "
                     "(Cameron, Gelbach and Miller 2011).")
        m = (vecs * np.clip(vals, 0.0, None)) @ vecs.T
    return m


def choose_bootstrap_cells(design: core.Design, theta: np.ndarray, cells: object, h: np.ndarray,
                           identified: bool) -> tuple[str, list[str]]:
    """:func:`choose_bootstrap` from cluster patterns."""
    k = design.n_items
    traces = {}
    for name in ("comparison", "annotator", "two-way"):
        m, _ = meat_from_cells(design, theta, cells, name)
        cov, _ = core.covariance(h, k, identified, m)
        traces[name] = float(np.nansum(np.diag(cov)[:k]))
    return _pick_dimension(traces)


def _pick_dimension(traces: dict[str, float]) -> tuple[str, list[str]]:
    pick = "annotator" if traces["annotator"] > traces["comparison"] else "comparison"
    notes: list[str] = []
    ratio = np.sqrt(traces["two-way"] / traces[pick]) if traces[pick] > 0 else 1.0
    if ratio > TWO_WAY_WIDER:
        notes.append(f"the bootstrap resamples {pick}s, the dimension with more variance; the two-way "
                     f"sandwich (annotator x comparison) gives strength SEs about {ratio:.2f} times as "
                     "wide, because both correlations matter here: prefer ci='sandwich' "
                     "(cluster='two-way').")
    return pick, notes
