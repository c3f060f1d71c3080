"""The Dawid-Skene posterior behind ``ds_accuracy``: from ``pq.consensus``, given or computed here."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..engine import ScannedData
from ..engine.reductions.bias import JudgmentCodes, judgment_codes, labels_of
from ..errors import ConvergenceWarning, SchemaError
from ..schema import PreferenceData

__all__ = ["MAX_DS_JUDGMENTS", "check_consensus", "consensus_posterior"]

#: Above this many judgments, ``pq.consensus`` is fitted on every k-th comparison (see consensus_posterior).
MAX_DS_JUDGMENTS = 100_000
_LABELS = ("1", "2", "tie")


def check_consensus(consensus: Any) -> pd.DataFrame:
    labels = getattr(consensus, "labels", None)
    if not isinstance(labels, pd.DataFrame) or not {"p_1", "p_2", "p_tie"} <= set(labels.columns):
        raise SchemaError(
            f"`consensus` must be a pq.consensus(...) result with labels p_1, p_2, p_tie; got "
            f"{type(consensus).__name__}. Pass consensus=pq.consensus(data, method='dawid_skene')."
        )
    return labels


def _e_step(result: Any, data: PreferenceData | ScannedData | JudgmentCodes) -> np.ndarray:
    """Posterior of every comparison's true label from a fit's confusion matrices and class prior."""
    data = judgment_codes(data)
    comp, comp_labels = data.codes("comparison_id")
    ann, ann_labels = data.codes("annotator_id")
    y = data.oriented_choice().astype(np.int64)
    conf = result.confusion.pivot_table(index="annotator_id", columns=["true_label", "observed_label"],
                                        values="probability", aggfunc="first")
    cols = pd.MultiIndex.from_product([_LABELS, _LABELS])
    conf = conf.reindex(columns=cols)
    pooled = conf.mean(axis=0).to_numpy()
    table = conf.reindex(list(ann_labels) + ["<unknown>"]).to_numpy()
    table = np.where(np.isfinite(table), table, pooled[None, :]).reshape(-1, 3, 3)
    table = table / table.sum(axis=2, keepdims=True)
    a = np.where(ann >= 0, ann, len(ann_labels))
    log_conf = np.log(np.clip(table, 1e-12, None))
    prior = result.class_prior.reindex(list(_LABELS)).to_numpy(dtype=np.float64)
    logp = np.tile(np.log(np.clip(prior, 1e-12, None)), (len(comp_labels), 1))
    for z in range(3):  # three true labels
        logp[:, z] += np.bincount(comp, weights=log_conf[a, z, y], minlength=len(comp_labels))
    logp -= logp.max(axis=1, keepdims=True)
    post = np.exp(logp)
    return post / post.sum(axis=1, keepdims=True)


def _subsample(data: PreferenceData | ScannedData, k: int) -> PreferenceData:
    """The judgments of every k-th comparison (``comparison code % k == 0``), in memory.

    Scanned data: the engine filters on its comparison codes (equal to the
    in-memory ones) and only those judgments are collected (about
    :data:`MAX_DS_JUDGMENTS` rows, without texts), in scan order, so the fit
    is the in-memory one.
    """
    if isinstance(data, ScannedData):
        return _collect_votes(data, f"_cmp % {int(k)} = 0")
    comp, _ = data.codes("comparison_id")
    return data.subset(comp % k == 0)


def _collect_votes(data: ScannedData, where: str | None = None) -> PreferenceData:
    """The id and choice columns Dawid-Skene reads (no texts, no response table), in scan order."""
    cols = [c for c in ("comparison_id", "annotator_id", "choice", "response_a_id", "response_b_id")
            if c in data.columns]
    cond = f"WHERE {where}" if where else ""
    frame = data.frame(f"SELECT {', '.join(cols)} FROM {{j}} {cond} ORDER BY _row").reset_index(drop=True)
    return PreferenceData(frame, order_known=data.order_known)


def _comparison_labels(data: PreferenceData | ScannedData) -> pd.Index:
    if isinstance(data, ScannedData):
        return labels_of(data, "_cmp", "comparison_id")
    return data.codes("comparison_id")[1]


def consensus_posterior(consensus: Any, data: PreferenceData | ScannedData) -> tuple[np.ndarray, bool, str]:
    """The Dawid-Skene posterior (first, second, tie) per comparison code, whether it converged, and a note.

    ``consensus`` given: its ``p_1, p_2, p_tie`` aligned to ``data``. Not
    given: ``pq.consensus(data, method="dawid_skene")`` (scanned data of at
    most :data:`MAX_DS_JUDGMENTS` judgments are collected into memory without
    texts for it); above
    :data:`MAX_DS_JUDGMENTS` judgments it is fitted on every k-th comparison
    (all of their judgments, deterministic), which leaves every annotator
    thousands of judgments at the 1M scale, and the posterior of every
    comparison is one E-step with the fitted confusion matrices and class
    prior (annotators absent from the subsample get the mean confusion).
    """
    note = ""
    ids: pd.Index | None = None
    if consensus is None:
        from ..consensus import consensus as run_consensus

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # reported as attrs['ds_converged']
            if data.n_judgments > MAX_DS_JUDGMENTS:
                k = int(np.ceil(data.n_judgments / MAX_DS_JUDGMENTS))
                fit = run_consensus(_subsample(data, k), method="dawid_skene")
                note = (f"Dawid-Skene was fitted on one comparison in {k} ({data.n_judgments:,} judgments > "
                        f"{MAX_DS_JUDGMENTS:,}); pass consensus=pq.consensus(data, method='dawid_skene') to use "
                        "a full fit.")
                return _e_step(fit, data), bool(fit.converged), note
            # at most MAX_DS_JUDGMENTS judgments: scanned data are collected (no texts) for the same fit
            small = _collect_votes(data) if isinstance(data, ScannedData) else data
            consensus = run_consensus(small, method="dawid_skene")
            ids = small.codes("comparison_id")[1]  # every comparison is in `small`, in code order
    labels = check_consensus(consensus)
    if ids is None:
        ids = _comparison_labels(data)
    post = labels[["p_1", "p_2", "p_tie"]].reindex(ids)
    if post.isna().any().any():
        raise SchemaError(
            f"`consensus` covers {len(labels):,} comparisons but {int(post.isna().any(axis=1).sum()):,} of "
            f"this data's {len(ids):,} are missing from it; compute it on the same data."
        )
    return post.to_numpy(dtype=np.float64), bool(getattr(consensus, "converged", True)), note
