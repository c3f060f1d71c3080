"""The SQL side of :func:`prefqa.engine.reductions.pairs_bt.bt_cells` (DuckDB dialect, transpiled for Spark).

One temporary table holds, per used judgment, its clusters' codes and its
design cell (``row * 3 + outcome``); the design rows, the cluster counts and
each clustering's patterns are ``GROUP BY`` queries over it. Nothing per
judgment leaves the engine.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from .pairs_bt import _SHIFT, PATTERN_MAX_WIDTH, BTCells

__all__ = ["bt_cells_sql"]


def _items(over: str) -> tuple[str, str, str]:
    """(CTE prefix, ia expression, ib expression) for the item codes."""
    if over == "model":
        return "", "_ma", "_mb"
    cte = ("items AS (SELECT m, row_number() OVER (ORDER BY m) - 1 AS code FROM "
           "(SELECT response_a_id AS m FROM {j} WHERE response_a_id IS NOT NULL UNION "
           "SELECT response_b_id AS m FROM {j} WHERE response_b_id IS NOT NULL) d), ")
    return cte, "coalesce(ia_t.code, -1)", "coalesce(ib_t.code, -1)"


def _labels(s: Any, over: str) -> pd.Index:
    a, b = ("model_a", "model_b") if over == "model" else ("response_a_id", "response_b_id")
    t = s.frame(f"SELECT m FROM (SELECT {a} AS m FROM {{j}} WHERE {a} IS NOT NULL UNION "
                f"SELECT {b} AS m FROM {{j}} WHERE {b} IS NOT NULL) d ORDER BY m")
    labels = t["m"].astype(str).to_numpy()
    return pd.Index(labels, name="model" if over == "model" else "response_id")


def bt_cells_sql(s: Any, *, over: str, ties: str, position: bool) -> BTCells:
    """:class:`BTCells` of a ScannedData (see :mod:`prefqa.engine.reductions.pairs_bt`)."""
    cte, ia, ib = _items(over)
    joins = ("" if over == "model" else
             " LEFT JOIN items ia_t ON ia_t.m = jj.response_a_id LEFT JOIN items ib_t ON ib_t.m = jj.response_b_id")
    tie = " AND y <> 2" if ties == "drop" else ""
    if position:
        lo, hi, out = "ia", "ib", "y"
    else:
        lo, hi = "least(ia, ib)", "greatest(ia, ib)"
        out = "CASE WHEN ia > ib AND y < 2 THEN 1 - y ELSE y END"
    table = s.backend.temp_name("btc")
    base = (f"WITH {cte}u AS (SELECT jj._row, jj._cmp, jj._ann, {ia} AS ia, {ib} AS ib, jj._ch AS y "
            f"FROM {{j}} jj{joins}), ")
    s.backend.materialize(table, s._format(base + f"""o AS (SELECT _row, _cmp, _ann, ia, ib, {lo} AS lo,
                    {hi} AS hi, {out} AS y FROM u
                    WHERE ia >= 0 AND ib >= 0{tie}),
        rr AS (SELECT lo, hi, row_number() OVER (ORDER BY lo, hi) - 1 AS r FROM (SELECT DISTINCT lo, hi FROM o) d)
        SELECT o._row, o._cmp, o._ann, o.ia, o.ib, rr.r, o.y, rr.r * 3 + o.y AS cell
        FROM o JOIN rr ON o.lo = rr.lo AND o.hi = rr.hi"""))
    design = s.frame(f"""SELECT r, min(least(ia, ib)) AS plo, min(greatest(ia, ib)) AS phi,
                             min(CASE WHEN {'true' if position else 'false'} THEN ia ELSE least(ia, ib) END) AS i,
                             min(CASE WHEN {'true' if position else 'false'} THEN ib ELSE greatest(ia, ib) END) AS j,
                             sum(CASE WHEN y = 0 THEN 1 ELSE 0 END) AS c0, sum(CASE WHEN y = 1 THEN 1 ELSE 0 END) AS c1,
                             sum(CASE WHEN y = 2 THEN 1 ELSE 0 END) AS c2
                         FROM {table} GROUP BY r ORDER BY r""")
    big = int(s.n_comparisons) + 1
    stats = s.frame(
        base + f"""x AS (SELECT count(*) AS n_used, count(DISTINCT _cmp) AS n_comp,
                   count(DISTINCT CASE WHEN _ann >= 0 THEN _ann END) AS named,
                   sum(CASE WHEN _ann < 0 THEN 1 ELSE 0 END) AS missing,
                   count(DISTINCT CASE WHEN _ann >= 0 THEN _ann * {big} + _cmp END) AS named_cells FROM {table}),
            nest AS (SELECT count(*) AS split FROM (SELECT _cmp FROM {table} GROUP BY _cmp
                     HAVING min(least(ia, ib)) <> max(least(ia, ib))
                         OR min(greatest(ia, ib)) <> max(greatest(ia, ib))) q),
            ids AS (SELECT count(*) AS n_all, sum(CASE WHEN ia >= 0 AND ib >= 0 THEN 0 ELSE 1 END) AS no_ids FROM u)
        SELECT * FROM x, nest, ids""").iloc[0]
    labels = _labels(s, over)
    n_used = int(stats["n_used"])
    missing = int(0 if pd.isna(stats["missing"]) else stats["missing"])
    n_named = int(stats["named"])
    keys = {"comparison": "_cmp", "annotator": "CASE WHEN _ann >= 0 THEN _ann ELSE -1 - _row END",
            "cell": f"CASE WHEN _ann >= 0 THEN _ann * {big} + _cmp ELSE -1 - _row END", "none": "_row"}
    n_cells = len(design) * 3
    clusters = {"comparison": int(stats["n_comp"]), "annotator": n_named + missing, "named": n_named,
                "missing": missing, "cell": int(stats["named_cells"]) + missing}

    widths: dict[str, int] = {}

    def width(name: str) -> int:
        if name not in widths:
            widths[name] = int(s.scalar(f"SELECT max(w) FROM (SELECT count(DISTINCT cell) AS w FROM "
                                        f"(SELECT {keys[name]} AS g, cell FROM {table}) k GROUP BY g) p") or 0)
        return widths[name]

    def source(name: str) -> tuple[sparse.csr_matrix, np.ndarray]:
        return _patterns_sql(s, table, keys[name], n_cells, wide=width(name) > PATTERN_MAX_WIDTH)

    def sums(name: str, scores: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray] | None:
        if width(name) <= PATTERN_MAX_WIDTH:
            return None
        return _score_sums_sql(s, table, keys[name], scores)

    counts = design[["c0", "c1", "c2"]].to_numpy(dtype=np.float64)
    cells = BTCells(s, i=design["i"].to_numpy(np.int64), j=design["j"].to_numpy(np.int64), counts=counts,
                   labels=labels, n_judgments=int(stats["n_all"]), n_used=n_used,
                   n_without_ids=int(0 if pd.isna(stats["no_ids"]) else stats["no_ids"]), clusters=clusters,
                   comp_nest=int(stats["split"]) == 0, source=source, sums=sums)
    weakref.finalize(cells, s.backend.drop, table)  # the patterns are read lazily from the table
    return cells


def _score_sums_sql(s: Any, table: str, key: str, scores: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(clusters x parameters) score sums of a wide clustering, summed in the engine; one weight per cluster."""
    coo = scores.tocoo()
    backend = s.backend
    name = backend.temp_name("cellscore")
    backend.register(name, pd.DataFrame({"cell": coo.row.astype(np.int64), "par": coo.col.astype(np.int64),
                                         "u": coo.data.astype(np.float64)}))
    try:
        t = s.frame(f"""WITH k AS (SELECT {key} AS g, cell FROM {table}),
                        g AS (SELECT g, cell, count(*) AS n FROM k GROUP BY g, cell)
                        SELECT g.g AS g, cs.par AS par, sum(g.n * cs.u) AS v FROM g JOIN {name} cs ON cs.cell = g.cell
                        GROUP BY g.g, cs.par""")
        n_g = int(s.scalar(f"SELECT count(DISTINCT {key}) FROM {table}") or 0)
    finally:
        backend.drop(name)
    codes, cluster = np.unique(t["g"].to_numpy(np.int64), return_inverse=True)
    out = np.zeros((n_g, scores.shape[1]))
    np.add.at(out, (cluster.ravel(), t["par"].to_numpy(np.int64)), t["v"].to_numpy(np.float64))
    return out, np.ones(n_g, dtype=np.int64)


def _patterns_sql(s: Any, table: str, key: str, n_cells: int, *, wide: bool = False
                  ) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Distinct cluster patterns of one clustering, in :func:`cell_patterns`'s order."""
    grouped = (f"WITH k AS (SELECT {key} AS g, cell FROM {table}), "
               "g AS (SELECT g, cell, count(*) AS n FROM k GROUP BY g, cell)")
    if wide:
        t = pd.DataFrame({"width": [PATTERN_MAX_WIDTH + 1]})
    else:
        t = s.frame(grouped + f""", p AS (SELECT g, list_sort(list(cell * {_SHIFT} + n)) AS pat, count(*) AS w
                                       FROM g GROUP BY g)
                       SELECT pat, count(*) AS mult, max(w) AS width FROM p GROUP BY pat""")
    if not len(t):
        return sparse.csr_matrix((0, n_cells)), np.zeros(0, dtype=np.int64)
    if int(t["width"].max()) > PATTERN_MAX_WIDTH:  # not compressed: one row per cluster, in cluster order
        rows = s.frame(grouped + """ SELECT g, cell, n FROM g ORDER BY CASE WHEN g >= 0 THEN 0 ELSE 1 END,
                                       CASE WHEN g >= 0 THEN g ELSE -g END, cell""")
        g = rows["g"].to_numpy(np.int64)
        start = np.r_[True, g[1:] != g[:-1]]
        cluster = np.cumsum(start) - 1
        n_g = int(cluster[-1]) + 1
        q = sparse.csr_matrix((rows["n"].to_numpy(np.float64), (cluster, rows["cell"].to_numpy(np.int64))),
                              shape=(n_g, n_cells))
        return q, np.ones(n_g, dtype=np.int64)
    lists = t["pat"].to_list()
    width = np.array([len(x) for x in lists], dtype=np.int64)
    flat = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])
    cells, n = flat // _SHIFT, flat % _SHIFT
    rows_idx = np.repeat(np.arange(len(lists)), width)
    top = int(n.max()) + 1
    keys = np.full((len(lists), int(width.max())), -1, dtype=np.int64)
    slot = np.arange(len(flat)) - np.repeat(np.cumsum(width) - width, width)
    keys[rows_idx, slot] = cells * top + n
    _, order = np.unique(keys, axis=0, return_index=True)
    pat = sparse.csr_matrix((n.astype(np.float64), (rows_idx, cells)), shape=(len(lists), n_cells))
    return pat[order], t["mult"].to_numpy(np.int64)[order]
