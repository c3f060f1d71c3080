"""Bradley-Terry on design cells: the fit without per-judgment covariates, for memory and engines alike.

Without covariates, or with only the constant ``position``, the likelihood,
the information, the cluster-robust meat and the cluster bootstrap depend
on the judgments only through the design rows (item-pair win/tie counts)
and the cluster patterns of :func:`prefqa.engine.reductions.pairs_bt.bt_cells`.
That reduction runs in numpy for a ``PreferenceData`` and in SQL for a
``ScannedData`` (nothing per judgment leaves the engine), so both give the
same estimates, standard errors, intervals and bootstrap draws.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine.reductions.pairs_bt import bt_cells
from ..errors import InsufficientDataError, PrefqaWarning, SchemaError
from . import _bt_ci as ci_mod
from . import _bt_design as build
from . import _bt_fit as core
from ._bt_result import BradleyTerryResult

__all__ = ["compressible", "fit_cells"]


def compressible(covariates: object) -> bool:
    """True for no covariates or only ``'position'`` (names, not a table)."""
    if isinstance(covariates, str):
        return covariates == "position"
    if not isinstance(covariates, Sequence) or isinstance(covariates, (bytes, bytearray)):
        return False
    names = list(covariates)
    return all(isinstance(n, str) and n == "position" for n in names) and len(names) <= 1


def fit_cells(data: Any, over: str, ties: str, covariates: Sequence[str] | str, regularization: float,
              covariate_regularization: float, ci: str | None, cluster: str, n_resamples: int,
              confidence_level: float, rng: Any, max_iter: int, tol: float) -> BradleyTerryResult:
    """:func:`prefqa.fit_bradley_terry` for :func:`compressible` covariates, from the cell reduction."""
    names = [covariates] if isinstance(covariates, str) else list(covariates)
    if names and not data.order_known:
        raise SchemaError("covariate 'position' needs the display order, but this data's order is "
                          "unknown (`order_known=False`); drop 'position' from `covariates`.")
    notes: list[str] = []
    cells = bt_cells(data, over=over, ties=ties, position=bool(names))
    labels = cells.labels
    k = len(labels)
    if cells.n_without_ids:
        notes.append(f"{cells.n_without_ids} judgment(s) without {over} ids were left out.")
    if cells.n_used == 0:
        raise InsufficientDataError(
            f"no usable judgments: {cells.n_judgments} in total, none with both {over} ids, finite "
            "covariates and (with ties='drop') a non-tie choice.")
    all_names = list(names)
    z = np.ones((cells.n_rows, len(names)))
    dropped = build.screen_covariates(cells.i, cells.j, z, k, all_names, weights=cells.counts.sum(axis=1))
    for name, reason in dropped.items():
        notes.append(f"covariate {name!r} was dropped: {reason}.")
    if dropped:
        _warnings.warn(" ".join(notes[-len(dropped):]), PrefqaWarning, stacklevel=4)
        # without its only covariate the fit is the plain one, on rows in canonical order
        cells = bt_cells(data, over=over, ties=ties, position=False)
        z = np.ones((cells.n_rows, 0))
    kept = [n for n in all_names if n not in dropped]
    fit_ties = ties
    if ties == "davidson" and not (cells.counts[:, 2] > 0).any():
        fit_ties = "drop"
        notes.append("no ties in the data: the Davidson tie parameter is 0 and the fit is plain "
                     "Bradley-Terry.")
    design = core.Design(cells.i, cells.j, z, cells.counts, k, fit_ties)
    clusters = ci_mod.CellClusters(cells) if ci in ("sandwich", "bootstrap") else None
    return ci_mod.finish(cells.n_judgments, cells.n_used, design, design, True, labels, kept, all_names, dropped,
                         notes, clusters, over=over, ties=ties, ci=ci, cluster=cluster, regularization=regularization,
                         covariate_regularization=covariate_regularization, n_resamples=n_resamples,
                         confidence_level=confidence_level, rng=rng, max_iter=max_iter, tol=tol)
