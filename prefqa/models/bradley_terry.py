"""Bradley-Terry scores of models or responses: ties, covariates, CIs.

The model
---------
For a judgment that showed item ``i`` first (``a``) and item ``j`` second
(``b``), the linear predictor is ``d = s_i - s_j + z @ beta`` with ``s`` the
log-strengths and ``z`` the covariates of that judgment (displayed ``a``
minus ``b``). The winner is read from ``choice`` with ``model_a`` /
``model_b`` (or ``response_a_id`` / ``response_b_id`` for
``over="response"``): display labels only say which item was shown where.
Ties follow Davidson (1970) by default (see :mod:`prefqa.models._bt_fit`).

Regularization scale
--------------------
The penalty is ``regularization / 2 * sum(s ** 2)`` on the strengths only,
added to the negative log-likelihood *summed* over judgments;
``covariate_regularization / 2 * sum(beta ** 2)`` (default 0) penalises
covariates. Mapping to other tools:

* choix ``opt_pairwise(..., alpha=a)`` minimises ``a * sum(s ** 2) + NLL``,
  so ``regularization = 2 * a``. (choix's ``ilsr_pairwise`` ``alpha`` is a
  pseudo-count in a Markov chain, not this penalty.)
* FastChat ``fit_contextual_bt(reg=r)`` uses ratings ``r_k = s_k / ln(10)``
  and ``r / 2 * sum(params ** 2)`` on *all* parameters with a summed loss,
  so ``regularization = r / ln(10) ** 2`` (about ``0.0943`` for its default
  ``r = 0.5``) and, to penalise covariates as FastChat does,
  ``covariate_regularization = r``. FastChat's plain ``compute_bt`` is
  unpenalised (``regularization = 0``).

Confidence intervals
--------------------
Judgments are correlated within comparisons and within annotators, so
every interval here respects the design unless asked not to; ``cluster``
says how (:mod:`prefqa.models._bt_cluster` has the rules), and the result
records it in ``cluster`` and ``se_method``.

* ``"sandwich"`` (default): ``H^-1 G H^-1`` with ``H`` the Fisher
  information and ``G`` the outer products of score sums per cluster,
  times ``G / (G - 1)``. With the default ``cluster="auto"`` that is
  two-way (annotator x comparison, Cameron-Gelbach-Miller) when at least
  10 annotators are named, else by comparison. Normal intervals.
* ``"fisher"``: ``H^-1`` only (model-based, judgments independent; what R's
  BradleyTerry2 reports).
* ``"bootstrap"``: percentile intervals from ``n_resamples`` refits on
  clusters resampled with replacement: comparisons (``cluster=
  "comparison"``), annotators (``"annotator"``) or judgments
  (``"none"``); ``"auto"`` resamples the dimension with the larger
  one-way sandwich variance and notes when the two-way sandwich is wider.
  Clusters are compressed into distinct vote patterns (identical
  comparisons are interchangeable), so a resample is a multinomial draw of
  pattern counts, turned into counts of the unique (i, j, outcome) rows
  when every covariate is constant (none, or only ``"position"``); the fit
  never touches raw rows. Each resample is then solved to convergence by
  chord Newton steps from the full-data estimate, all resamples of a block
  at once (:mod:`prefqa.models._bt_boot`). Measured at 1M judgments over
  200 models, 1,000 resamples: about 6 s of CPU (15-19 s wall on a shared
  2-core machine at load average 6). With continuous covariates rows do
  not compress: each resample reweights every judgment and costs a few
  passes over all of them (measured: 0.5 s of CPU per resample at 1M
  judgments with 4 covariates, a quarter of the point fit); prefer the
  sandwich there.

Covariates the data cannot estimate
-----------------------------------
A covariate that is 0 for every used judgment (``"bold"`` when no response
uses bold), or that is a linear combination of the strength differences
and of the covariates listed before it (a duplicate, a constant next to
``"position"``, a per-model attribute difference), is dropped before the
fit: its row in ``coefficients`` is NaN with the ``reason``, the same text
is in ``warnings`` and a :class:`~prefqa.errors.PrefqaWarning` is issued.
The fit is then exactly the fit without that covariate. A singular
information matrix never raises: parameters in its null space get NaN
standard errors and a warning note.

Dense linear algebra (a few hundred parameters) runs with OpenBLAS limited
to one thread, see :mod:`prefqa._blas`.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Sequence
from typing import Literal, TypeAlias, cast

import numpy as np
import pandas as pd

from .._blas import single_threaded_blas
from .._types import RngLike
from ..errors import (
    InsufficientDataError,
    PrefqaWarning,
    SchemaError,
)
from ..engine import ScannedData
from ..schema import PreferenceData
from . import _bt_cluster as clus
from . import _bt_design as build
from ._bt_cells import compressible, fit_cells
from ._bt_pull import judgment_arrays
from . import _bt_ci as ci_mod
from ._bt_result import BradleyTerryResult

__all__ = ["BradleyTerryResult", "fit_bradley_terry"]

OVERS = ("model", "response")
TIES = ("davidson", "half", "drop")
CIS = ("sandwich", "fisher", "bootstrap", None)
MAX_DENSE_PARAMS = ci_mod.MAX_DENSE_PARAMS  # dense covariance beyond this is too slow/large; CIs are skipped

Covariates: TypeAlias = Sequence[str] | pd.DataFrame | np.ndarray


def _validate(data: PreferenceData | ScannedData, over: str, ties: str, covariates: object, regularization: float,
              covariate_regularization: float, ci: str | None, cluster: str, n_resamples: int,
              confidence_level: float, max_iter: int, tol: float) -> None:
    if not isinstance(data, PreferenceData | ScannedData):
        raise SchemaError("`data` must be a PreferenceData (see pq.read) or a ScannedData (pq.scan); got "
                          f"{type(data).__name__}.")
    if over not in OVERS:
        raise SchemaError(f"`over` must be one of {OVERS}; got {over!r}.")
    if ties not in TIES:
        raise SchemaError(f"`ties` must be one of {TIES}; got {ties!r}.")
    if ci not in CIS:
        raise SchemaError(f"`ci` must be one of {CIS}; got {ci!r}.")
    if cluster not in clus.CLUSTERS:
        raise SchemaError(f"`cluster` must be one of {clus.CLUSTERS}; got {cluster!r}.")
    if ci == "bootstrap" and cluster == "two-way":
        raise SchemaError("a bootstrap resamples one dimension (cluster='comparison', 'annotator' or "
                          "'none'); for two-way clustering use ci='sandwich', cluster='two-way'.")
    for name, value in (("regularization", regularization),
                        ("covariate_regularization", covariate_regularization)):
        if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise SchemaError(f"`{name}` must be a finite number >= 0; got {value!r}.")
    if not (isinstance(confidence_level, float) and 0.0 < confidence_level < 1.0):
        raise SchemaError(f"`confidence_level` must be a float in (0, 1); got {confidence_level!r}.")
    if ci == "bootstrap" and (not isinstance(n_resamples, (int, np.integer)) or n_resamples < 2):
        raise SchemaError(f"`n_resamples` must be an integer >= 2 for ci='bootstrap'; got {n_resamples!r}.")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise SchemaError(f"`max_iter` must be a positive integer; got {max_iter!r}.")
    if not tol > 0:
        raise SchemaError(f"`tol` must be > 0; got {tol!r}.")
    if over == "model" and not data.has_models:
        raise SchemaError("over='model' needs `model_a` and `model_b` in the judgments; none are named. "
                          "Map your model columns with pq.read(..., mapping=...) or use over='response'.")
    have = list(data.columns) if isinstance(data, ScannedData) else list(data.judgments.columns)
    if over == "response" and not {"response_a_id", "response_b_id"} <= set(have):
        raise SchemaError("over='response' needs `response_a_id` and `response_b_id` in the judgments; "
                          f"found {have}.")
    if data.n_judgments == 0:
        raise InsufficientDataError("`data` has no judgments; Bradley-Terry needs at least one.")


def fit_bradley_terry(
    data: PreferenceData | ScannedData,
    *,
    over: Literal["model", "response"] = "model",
    ties: Literal["davidson", "half", "drop"] = "davidson",
    covariates: Covariates = (),
    regularization: float = 0.0,
    covariate_regularization: float = 0.0,
    ci: Literal["sandwich", "fisher", "bootstrap"] | None = "sandwich",
    cluster: Literal["auto", "comparison", "annotator", "two-way", "none"] = "auto",
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    rng: RngLike = None,
    max_iter: int = 1000,
    tol: float = 1e-7,
) -> BradleyTerryResult:
    """Fit a Bradley-Terry model with ties and covariates by L-BFGS.

    Parameters
    ----------
    data : PreferenceData
        Judgments naming ``model_a``/``model_b`` (or response ids).
    over : {'model', 'response'}
        Score models, or individual responses.
    ties : {'davidson', 'half', 'drop'}
        Davidson's tie model (a fitted tie parameter), a tie as half a win
        for each side, or drop tied judgments.
    covariates : sequence of str, DataFrame or ndarray
        ``'position'`` (1 for every judgment: the advantage of being shown
        first) and any name of :data:`prefqa.features.FEATURE_NAMES`
        (``'length'``, ``'headers'``, ``'lists'``, ``'bold'``, ...: style
        control with normalised a-minus-b differences), or a table with one
        row per judgment, displayed a minus b. Judgments with a missing
        covariate are left out (counted in ``n_dropped``). Covariates the
        data cannot estimate (all 0, or collinear with the strengths or
        with earlier covariates) are dropped with a reason (module notes).
    regularization : float
        ``regularization / 2 * sum(strength ** 2)``; see the module notes for
        choix's ``alpha`` and FastChat's ``reg``. 0 (default) is the MLE.
    covariate_regularization : float
        The same penalty on covariate coefficients (default 0: unpenalised).
    ci : {'sandwich', 'fisher', 'bootstrap'} or None
        How to get standard errors and intervals (module notes).
    cluster : {'auto', 'comparison', 'annotator', 'two-way', 'none'}
        Which judgments are treated as correlated, for the sandwich and the
        bootstrap (ignored by ``'fisher'``). ``'auto'``: annotator x
        comparison (two-way) with at least 10 named annotators, else by
        comparison (a note says when annotators are treated as fixed); a
        bootstrap resamples one dimension, the one with more variance.
        ``'none'``: judgments independent (the old behaviour).
    n_resamples : int
        Bootstrap resamples.
    confidence_level : float
    rng : int, Generator or None
        Seeds the bootstrap.
    max_iter, tol : int, float
        L-BFGS limit, and the largest absolute gradient (of the penalised
        negative log-likelihood divided by the number of judgments) accepted
        as converged.

    Returns
    -------
    BradleyTerryResult

    Warns
    -----
    PrefqaWarning
        A covariate was dropped (its ``reason`` is in ``coefficients``).
    ConvergenceWarning
        The fit did not converge or the MLE does not exist (``converged``
        is then False).

    Raises
    ------
    SchemaError
        Bad options, no model (or response) ids, unknown covariates.
    InsufficientDataError
        No usable judgments, or a disconnected comparison graph without a
        penalty (the message names the components).

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": [f"c{k}" for k in range(6)], "annotator_id": "x",
    ...                   "choice": ["a", "a", "b", "a", "tie", "b"],
    ...                   "model_a": ["m1", "m1", "m2", "m2", "m3", "m3"],
    ...                   "model_b": ["m2", "m3", "m3", "m1", "m1", "m2"]})
    >>> res = pq.fit_bradley_terry(pq.PreferenceData(j), ties="half", ci="fisher")
    >>> res.scores["estimate"].round(3).to_dict()
    {'m1': 0.343, 'm2': 0.0, 'm3': -0.343}
    >>> round(res.win_probability("m1", "m3"), 3)
    0.665
    """
    _validate(data, over, ties, covariates, regularization, covariate_regularization, ci, cluster,
              n_resamples, confidence_level, max_iter, tol)
    with single_threaded_blas():
        return _fit(data, over, ties, covariates, float(regularization), float(covariate_regularization),
                    ci, cluster, n_resamples, confidence_level, rng, max_iter, tol)


def _fit(data: PreferenceData | ScannedData, over: str, ties: str, covariates: Covariates, regularization: float,
         covariate_regularization: float, ci: str | None, cluster: str, n_resamples: int,
         confidence_level: float, rng: RngLike, max_iter: int, tol: float) -> BradleyTerryResult:
    if compressible(covariates):
        # compressible: names only ('position' or none), never a table
        return fit_cells(data, over, ties, cast("Sequence[str] | str", covariates), regularization,
                         covariate_regularization, ci, cluster, n_resamples, confidence_level, rng, max_iter, tol)
    arrays = judgment_arrays(data, over, covariates)  # pulled as numeric arrays from an engine
    notes: list[str] = []
    ia_all, ib_all, labels = arrays.ia, arrays.ib, arrays.labels
    k = len(labels)
    y_all = arrays.y
    z_all, all_names = arrays.z, arrays.names
    used = (ia_all >= 0) & (ib_all >= 0)
    if (~used).any():
        notes.append(f"{int((~used).sum())} judgment(s) without {over} ids were left out.")
    finite = np.isfinite(z_all).all(axis=1)
    if (used & ~finite).any():
        notes.append(f"{int((used & ~finite).sum())} judgment(s) with missing covariates were left out.")
    used &= finite
    if ties == "drop":
        used &= y_all != 2
    if not used.any():
        raise InsufficientDataError(
            f"no usable judgments: {arrays.n_judgments} in total, none with both {over} ids, finite "
            "covariates and (with ties='drop') a non-tie choice.")
    idx = np.flatnonzero(used)
    ia, ib, y, z = ia_all[idx], ib_all[idx], y_all[idx], z_all[idx]
    dropped = build.screen_covariates(ia, ib, z, k, all_names)
    for name, reason in dropped.items():
        notes.append(f"covariate {name!r} was dropped: {reason}.")
    if dropped:
        _warnings.warn(" ".join(notes[-len(dropped):]), PrefqaWarning, stacklevel=3)
        keep = [c for c, name in enumerate(all_names) if name not in dropped]
        z = z[:, keep]
    names = [name for name in all_names if name not in dropped]
    fit_ties = ties
    if ties == "davidson" and not (y == 2).any():
        fit_ties = "drop"
        notes.append("no ties in the data: the Davidson tie parameter is 0 and the fit is plain "
                     "Bradley-Terry.")
    design, row, outcome, compress = build.build_design(ia, ib, y, z, k, fit_ties)
    plain = design if compress else build.build_design(ia, ib, y, z[:, :0], k, fit_ties)[0]
    codes = clus.cluster_codes_from(arrays.comparison, arrays.annotator, idx)
    clusters = ci_mod.JudgmentClusters(codes, row if compress else None, outcome, ia, ib) \
        if ci in ("sandwich", "bootstrap") else None
    return ci_mod.finish(arrays.n_judgments, len(idx), design, plain, compress, labels, names, all_names, dropped,
                         notes, clusters, over=over, ties=ties, ci=ci, cluster=cluster, regularization=regularization,
                         covariate_regularization=covariate_regularization, n_resamples=n_resamples,
                         confidence_level=confidence_level, rng=rng, max_iter=max_iter, tol=tol)
