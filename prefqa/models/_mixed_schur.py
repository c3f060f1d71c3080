"""The dense Schur-complement product ``B' D^{-1} B`` of the crossed design, fast (private).

``B`` is the (big levels x small random columns) block of the penalized
normal equations (see ``_design``). When the big factor has one random column
per level (a random intercept, the usual case: prompts or responses), ``D``
is diagonal and ``B' D^{-1} B = sum_l g_l g_l'`` with ``g_l`` row ``l`` of
``B`` divided by ``sqrt(d_l)``. Only products of two entries of the same row
are non-zero, and which entries meet depends only on the design, not on the
weights or ``theta``. The index pairs are therefore built once and every
factorization is a few gathers, multiplications and ``np.bincount`` calls
(scipy's general sparse product was 4x slower on a million rows, and
OpenBLAS-free).

Two plans:

* one small grouping factor with ``k`` terms (annotators with an intercept
  and a length slope): pairs of (big level, small level) cells of one big
  level, ``k^2`` bincounts into ``levels^2`` bins;
* anything else: pairs of stored entries of one row of ``B``, one bincount
  into ``q_s^2`` bins.

Memory is 16 bytes per pair; pairs are processed in chunks.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SchurPlan"]

_PAIR_CHUNK = 4_000_000  # pairs per chunk


def _within_group_pairs(starts: np.ndarray, sizes: np.ndarray, strict: bool) -> tuple[np.ndarray, np.ndarray]:
    """All ``(e1, e2)`` with ``e1 < e2`` (``<=`` unless ``strict``) inside consecutive groups."""
    first = np.repeat(starts, sizes)
    ent = np.arange(int(starts[0]) if len(starts) else 0, int(starts[-1] + sizes[-1]) if len(starts) else 0,
                    dtype=np.int64)
    pos = ent - first
    reps = np.repeat(sizes, sizes) - pos - (1 if strict else 0)
    e1 = np.repeat(ent, reps)
    offs = np.arange(len(e1), dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
    return e1, e1 + offs + (1 if strict else 0)


def _chunks(sizes: np.ndarray, strict: bool):
    """Split consecutive groups so each chunk holds about ``_PAIR_CHUNK`` pairs."""
    per = sizes * (sizes - 1) // 2 if strict else sizes * (sizes + 1) // 2
    cum = np.cumsum(per)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    lo = 0
    while lo < len(sizes):
        base = cum[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(cum, base + _PAIR_CHUNK, side="right")), lo + 1)
        yield starts[lo:hi], sizes[lo:hi]
        lo = hi


class SchurPlan:
    """Precomputed index pairs for ``B' D^{-1} B``; see the module notes.

    Parameters
    ----------
    indptr, indices : ndarray
        CSR structure of ``B`` (one row per big level, sorted columns).
    q_s : int
        Columns of ``B``.
    cell_small : ndarray or None
        For the one-small-factor plan: the small level of each (big, small)
        cell in CSR order (cells sorted by big then small level), with
        ``k`` stored entries per cell.
    n_small, k : int
        Levels and terms of the single small factor.
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, q_s: int, cell_small: np.ndarray | None = None,
                 n_small: int = 0, k: int = 0) -> None:
        self.q_s = q_s
        self.k = k
        self.cell_small: np.ndarray | None
        self.n_small = n_small
        self.chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if cell_small is not None:
            cells_per_row = np.diff(indptr) // k
            self.cell_small = cell_small
            bins = n_small * n_small
            for starts, sizes in _chunks(cells_per_row.astype(np.int64), strict=True):
                if not np.any(sizes > 1):
                    continue
                e1, e2 = _within_group_pairs(starts, sizes, strict=True)
                target = cell_small[e1].astype(np.int64) * n_small + cell_small[e2]
                self.chunks.append(_compact(e1, e2, target, len(cell_small), bins))
        else:
            self.cell_small = None
            sizes = np.diff(indptr).astype(np.int64)
            for starts, sz in _chunks(sizes, strict=False):
                e1, e2 = _within_group_pairs(starts, sz, strict=False)
                target = indices[e1].astype(np.int64) * q_s + indices[e2]
                self.chunks.append(_compact(e1, e2, target, len(indices), q_s * q_s))

    def product(self, g: np.ndarray) -> np.ndarray:
        """Return ``sum_l g_l g_l'`` (dense ``q_s x q_s``) for the scaled CSR data ``g``."""
        q_s = self.q_s
        if self.cell_small is None:
            upper: np.ndarray = np.zeros(q_s * q_s)  # reshaped to 2-D below
            for e1, e2, target in self.chunks:
                upper += np.bincount(target, g[e1] * g[e2], minlength=q_s * q_s)
            upper = upper.reshape(q_s, q_s)
            return upper + upper.T - np.diag(np.diag(upper))
        k, m = self.k, self.n_small
        gm = g.reshape(-1, k)
        cols = [np.ascontiguousarray(gm[:, t]) for t in range(k)]  # 1-D gathers are much faster
        off: np.ndarray = np.zeros((k, k, m * m))  # reshaped to 4-D below
        for e1, e2, target in self.chunks:
            a = [c[e1] for c in cols]
            b = [c[e2] for c in cols]
            for t in range(k):
                for s in range(k):
                    off[t, s] += np.bincount(target, a[t] * b[s], minlength=m * m)
        off = off.reshape(k, k, m, m)
        # cell pairs (e1 < e2) give [a, t, a', s] and, mirrored, [a', s, a, t]
        full = off.transpose(2, 0, 3, 1) + off.transpose(3, 1, 2, 0)
        for t in range(k):
            for s in range(k):
                full[np.arange(m), t, np.arange(m), s] += np.bincount(self.cell_small, gm[:, t] * gm[:, s],
                                                                      minlength=m)
        return full.reshape(m * k, m * k)


def _compact(e1: np.ndarray, e2: np.ndarray, target: np.ndarray, n_entries: int, bins: int):
    # gathers take 32-bit indices at full speed; bincount converts non-intp targets on every call (4x slower)
    itype = np.int32 if n_entries < 2**31 else np.int64
    return e1.astype(itype), e2.astype(itype), target.astype(np.intp)
