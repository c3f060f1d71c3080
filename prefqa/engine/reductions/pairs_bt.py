"""Bradley-Terry reductions: item-pair win/tie counts and per-cluster vote patterns.

A Bradley-Terry fit without per-judgment covariates (none, or only the
constant ``position``) depends on the judgments only through

* the **design rows**: one row per distinct item pair ``(i, j)`` (sorted by
  ``i * n_items + j``) with its counts ``(i won, j won, tie)``. Without
  covariates a pair is stored in canonical order (``i < j``); with
  ``position`` in display order (``i`` shown first);
* the **cluster patterns**: each cluster (a comparison, an annotator, an
  annotator x comparison cell, or a single judgment) is the multiset of
  design *cells* (``row * 3 + outcome``) of its judgments; clusters with the
  same multiset are interchangeable, so a clustering is a sparse
  (patterns x cells) count matrix plus how many clusters share each
  pattern. Per-cluster score sums (the cluster-robust sandwich) and the
  cluster bootstrap (a multinomial draw of pattern counts) read only these.

:func:`bt_cells` returns both for a :class:`~prefqa.schema.PreferenceData`
(numpy) or a :class:`~prefqa.engine.ScannedData` (SQL: a ``GROUP BY`` of the
judgments on their item codes, and per clustering a sorted list of
``cell * 2**32 + count`` per cluster grouped by that list); the patterns are
put in one canonical order (:func:`cell_patterns`'s), so bootstraps draw the
same resamples from either. Memory: the design rows and the distinct
patterns; clusterings whose clusters span more than
:data:`PATTERN_MAX_WIDTH` cells (annotators, typically) are not compressed
and come back as one row per cluster (annotators x cells).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from ..._cluster import dense_singletons
from ...errors import SchemaError
from ...schema import PreferenceData

__all__ = ["CLUSTERINGS", "PATTERN_MAX_WIDTH", "BTCells", "bt_cells", "cell_patterns"]

PATTERN_MAX_WIDTH = 32   # clusters with more distinct cells are not compressed into patterns
CLUSTERINGS = ("comparison", "annotator", "cell", "none")
_SHIFT = 1 << 32         # a pattern element is cell * 2**32 + count in SQL


def cell_patterns(cells: np.ndarray, cluster: np.ndarray, n_clusters: int, n_cells: int
                  ) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """Compress clusters into distinct vote patterns (vectorized).

    ``cells[r]`` is the (design row, outcome) cell of judgment ``r``. Two
    clusters with the same multiset of cells are interchangeable in a
    resample. Returns the (n_patterns, n_cells) count matrix ``P``, the
    number of clusters with each pattern, and the pattern of each cluster.
    Patterns are sorted by their (cell, count) sequences; clusters wider
    than :data:`PATTERN_MAX_WIDTH` cells are not compressed (one pattern per
    cluster, in cluster order).
    """
    if len(cells) == n_clusters and (np.bincount(cluster, minlength=n_clusters) == 1).all():
        # one judgment per cluster: the pattern is its cell (no sparse matrix over the judgments)
        present = np.bincount(cells, minlength=n_cells)
        uniq = np.flatnonzero(present)
        remap = np.cumsum(present > 0) - 1
        p = sparse.csr_matrix((np.ones(len(uniq)), uniq, np.arange(len(uniq) + 1)), shape=(len(uniq), n_cells))
        inverse = np.empty(n_clusters, dtype=np.int64)
        inverse[cluster] = remap[cells]
        return p, present[uniq].astype(np.int64), inverse
    q = sparse.coo_matrix((np.ones(len(cells)), (cluster, cells)), shape=(n_clusters, n_cells)).tocsr()
    q.sum_duplicates()
    q.sort_indices()
    deg = np.diff(q.indptr)
    width = int(deg.max()) if n_clusters else 0
    if width == 1 and (q.data == 1).all():        # one judgment per cluster: the pattern is its cell
        present = np.bincount(q.indices, minlength=n_cells)
        uniq = np.flatnonzero(present)
        remap = np.cumsum(present > 0) - 1
        p = sparse.csr_matrix((np.ones(len(uniq)), (np.arange(len(uniq)), uniq)), shape=(len(uniq), n_cells))
        return p, present[uniq].astype(np.int64), remap[q.indices]
    if width > PATTERN_MAX_WIDTH:                # large clusters (annotators): no compression
        return q, np.ones(n_clusters, dtype=np.int64), np.arange(n_clusters)
    return _compress(q, deg, width)


def _compress(q: sparse.csr_matrix, deg: np.ndarray, width: int) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    n = q.shape[0]
    top = int(q.data.max()) + 1
    keys = np.full((n, width), -1, dtype=np.int64)
    slot = np.arange(len(q.indices)) - np.repeat(q.indptr[:-1], deg)
    keys[np.repeat(np.arange(n), deg), slot] = q.indices.astype(np.int64) * top + q.data.astype(np.int64)
    _, first, inverse, mult = np.unique(keys, axis=0, return_index=True, return_inverse=True, return_counts=True)
    return q[first], mult.astype(np.int64), inverse.ravel()


class BTCells:
    """Design rows and cluster patterns of a Bradley-Terry fit (see the module notes).

    Attributes
    ----------
    i, j : ndarray of int64
        Item codes of the design rows.
    counts : ndarray of float64, shape (n_rows, 3)
        ``(i won, j won, tie)`` per row.
    labels : Index
        Item labels (model or response ids) in code order.
    n_judgments, n_used, n_without_ids : int
        All judgments, those used, those without both item ids.
    n_comparisons, n_annotator_clusters, n_annotators, n_missing_annotator : int
        Clusters among the used judgments (a missing annotator is its own cluster).
    comp_nest : bool
        Every comparison's used judgments name one unordered item pair.
    """

    def __init__(self, data: Any, *, i: np.ndarray, j: np.ndarray, counts: np.ndarray, labels: pd.Index,
                 n_judgments: int, n_used: int, n_without_ids: int, clusters: dict[str, int], comp_nest: bool,
                 source: Any, sums: Any = None) -> None:
        self.i, self.j, self.counts, self.labels = i, j, counts, labels
        self.n_judgments, self.n_used, self.n_without_ids = n_judgments, n_used, n_without_ids
        self.n_comparisons = clusters["comparison"]
        self.n_annotator_clusters = clusters["annotator"]
        self.n_annotators = clusters["named"]
        self.n_missing_annotator = clusters["missing"]
        self.n_cells_clusters = clusters["cell"]
        self.comp_nest = comp_nest
        self._source = source
        self._sums = sums
        self._patterns: dict[str, tuple[sparse.csr_matrix, np.ndarray]] = {}

    @property
    def n_rows(self) -> int:
        return len(self.i)

    def n_clusters(self, clustering: str) -> int:
        """Number of clusters of ``clustering`` among the used judgments."""
        return {"comparison": self.n_comparisons, "annotator": self.n_annotator_clusters,
                "cell": self.n_cells_clusters, "none": self.n_used}[clustering]

    def patterns(self, clustering: str) -> tuple[sparse.csr_matrix, np.ndarray]:
        """(patterns x cells count matrix, clusters per pattern) of ``clustering``, in canonical order."""
        if clustering not in CLUSTERINGS:
            raise SchemaError(f"clustering must be one of {CLUSTERINGS}; got {clustering!r}.")
        if clustering not in self._patterns:
            self._patterns[clustering] = self._source(clustering)
        return self._patterns[clustering]

    def score_sums(self, clustering: str, scores: sparse.csr_matrix) -> tuple[Any, np.ndarray]:
        """Per-pattern score sums ``pat @ scores`` and clusters per pattern (for the sandwich's meat).

        ``scores`` is the (cells x parameters) score of one judgment per
        design cell. In an engine, a clustering whose clusters are too wide to
        compress (annotators) is summed there: the cell scores are joined to
        the (cluster, cell, count) groups and summed per cluster and
        parameter, so only clusters x parameters numbers come back.
        """
        if self._sums is not None and clustering not in self._patterns:
            out = self._sums(clustering, scores)
            if out is not None:
                return out
        pat, mult = self.patterns(clustering)
        return pat @ scores, mult


def _is_scanned(data: object) -> bool:
    from .._scan import ScannedData

    return isinstance(data, ScannedData)


def bt_cells(data: PreferenceData | Any, *, over: str = "model", ties: str = "davidson",
             position: bool = False) -> BTCells:
    """Design rows and (lazily) cluster patterns of a Bradley-Terry fit without per-judgment covariates.

    Parameters
    ----------
    data : PreferenceData or ScannedData
    over : {'model', 'response'}
    ties : str
        ``'drop'`` leaves tied judgments out; anything else keeps them.
    position : bool
        Keep display orientation (the constant ``position`` covariate).

    Returns
    -------
    BTCells

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c1", "c2"], "annotator_id": ["x", "y", "x"],
    ...                   "choice": ["a", "b", "tie"], "model_a": ["m1", "m1", "m2"], "model_b": ["m2", "m2", "m1"]})
    >>> c = bt_cells(pq.PreferenceData(j))
    >>> c.i.tolist(), c.j.tolist(), c.counts.tolist()
    ([0], [1], [[1.0, 1.0, 1.0]])
    >>> pat, mult = c.patterns("comparison")
    >>> pat.toarray().tolist(), mult.tolist()
    ([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [1, 1])
    """
    if _is_scanned(data):
        from ._bt_sql import bt_cells_sql

        return bt_cells_sql(data, over=over, ties=ties, position=position)
    return _bt_cells_numpy(data, over=over, ties=ties, position=position)


def items(data: PreferenceData, over: str) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Item codes of the displayed ``a`` and ``b`` (-1 when missing) and the item labels."""
    if over == "model":
        return data.model_codes()
    j = data.judgments
    both = pd.concat([j["response_a_id"], j["response_b_id"]], ignore_index=True)
    codes, labels = pd.factorize(both, sort=True, use_na_sentinel=True)
    n = len(j)
    return codes[:n].astype(np.int64), codes[n:].astype(np.int64), pd.Index(labels, name="response_id")


def _bt_cells_numpy(data: PreferenceData, *, over: str, ties: str, position: bool) -> BTCells:
    ia_all, ib_all, labels = items(data, over)
    k = len(labels)
    y_all = data.choice_codes().astype(np.int64)
    has_ids = (ia_all >= 0) & (ib_all >= 0)
    used = has_ids & (y_all != 2) if ties == "drop" else has_ids
    idx = np.flatnonzero(used)
    ia, ib, y = ia_all[idx], ib_all[idx], y_all[idx]
    if position:
        lo, hi = ia, ib
    else:
        flip = ia > ib
        lo, hi = np.where(flip, ib, ia), np.where(flip, ia, ib)
        y = np.where(flip & (y < 2), 1 - y, y)
    key = lo * k + hi
    uniq, row = np.unique(key, return_inverse=True)
    row = row.ravel()
    counts = np.bincount(row * 3 + y, minlength=len(uniq) * 3).reshape(-1, 3).astype(np.float64)
    comp, n_comp = dense_singletons(data.codes("comparison_id")[0][idx])
    raw_ann = data.codes("annotator_id")[0][idx] if "annotator_id" in data.judgments else np.full(len(idx), -1)
    ann, n_ann = dense_singletons(raw_ann)
    missing = int((raw_ann < 0).sum())
    cell_key = ann * np.int64(max(n_comp, 1)) + comp
    _, cell = np.unique(cell_key, return_inverse=True)
    cell = cell.ravel().astype(np.int64)
    n_cells_clusters = int(cell.max()) + 1 if len(cell) else 0
    pair = np.minimum(ia, ib) * k + np.maximum(ia, ib)
    first = np.empty(n_comp, dtype=np.int64)
    first[comp[::-1]] = np.arange(len(comp) - 1, -1, -1)
    comp_nest = bool((pair == pair[first[comp]]).all()) if len(comp) else True
    cells = row * 3 + y
    n_cells = len(uniq) * 3
    groups = {"comparison": (comp, n_comp), "annotator": (ann, n_ann), "cell": (cell, n_cells_clusters),
              "none": (np.arange(len(idx)), len(idx))}

    def source(name: str) -> tuple[sparse.csr_matrix, np.ndarray]:
        g, n_g = groups[name]
        pat, mult, _ = cell_patterns(cells, g, n_g, n_cells)
        return pat, mult

    return BTCells(data, i=uniq // max(k, 1), j=uniq % max(k, 1), counts=counts, labels=labels,
                   n_judgments=data.n_judgments, n_used=len(idx), n_without_ids=int((~has_ids).sum()),
                   clusters={"comparison": n_comp, "annotator": n_ann, "named": n_ann - missing, "missing": missing,
                             "cell": n_cells_clusters},
                   comp_nest=comp_nest, source=source)
