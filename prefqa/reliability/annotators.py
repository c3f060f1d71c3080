"""Per-annotator reliability: leave-one-out agreement and kappa against the others' consensus."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InsufficientDataError, SchemaError
from ..engine import ScannedData
from ..engine.reductions.votes import first_votes, repeat_votes
from ..schema import PreferenceData
from .cohen import kappa_from_tables
from .intra import intra_from_table

__all__ = ["annotator_agreement"]


def _validate(data: Any) -> None:
    if not isinstance(data, PreferenceData | ScannedData):
        raise SchemaError("`data` must be a PreferenceData (see prefqa.read) or a ScannedData (pq.scan); got "
                          f"{type(data).__name__}.")
    if not data.has_annotators:
        raise InsufficientDataError(
            f"per-annotator reliability needs annotator ids, but all {data.n_judgments:,} judgments "
            "have a missing `annotator_id`. Load data that names its annotators."
        )


def _annotator_labels(data: PreferenceData | ScannedData) -> pd.Index:
    if isinstance(data, PreferenceData):
        return pd.Index(data.codes("annotator_id")[1])
    t = data.frame("SELECT DISTINCT _ann, annotator_id FROM {j} WHERE _ann >= 0 ORDER BY _ann")
    return pd.Index(t["annotator_id"].astype(str).to_numpy(), dtype="str")


def annotator_agreement(data: PreferenceData | ScannedData, *, orientation: str = "symmetric") -> pd.DataFrame:
    """Return one row per annotator: agreement with the consensus of the other annotators.

    For each judgment (the first per annotator and comparison), the
    consensus of the *other* annotators of that comparison is the plurality
    of their choices (which response won, or tie; ``data.oriented_choice()``).
    Judgments whose others are absent or split evenly have no consensus and
    are not scored.

    Everything comes from the vote reductions of
    :mod:`prefqa.engine.reductions.votes` (each annotator's vote against
    its comparison's vote pattern; repeated units), so a ScannedData gives
    the in-memory table, computed in SQL.

    Parameters
    ----------
    data : PreferenceData or ScannedData
    orientation : {'symmetric', 'as_stored'}, default 'symmetric'
        As in :func:`prefqa.agreement`: with ``'symmetric'`` each annotator's
        annotator-by-consensus table is counted half as stored and half with
        the two responses swapped, so ``loo_kappa`` does not depend on which
        response of a comparison was stored first (agreement is unchanged).

    Returns
    -------
    DataFrame
        Indexed by ``annotator_id``, columns:

        * ``n``: judgments (first per comparison);
        * ``n_scored``: judgments with a leave-one-out consensus;
        * ``loo_agreement``: share of scored judgments equal to the consensus;
        * ``loo_kappa``: Cohen's kappa (unweighted) between the annotator and
          the consensus over the scored judgments (NaN when undefined);
        * ``loo_kappa_se``: its asymptotic standard error;
        * ``n_repeat_units``, ``intra_agreement``, ``intra_alpha``: agreement
          with itself on comparisons it judged more than once (NaN without
          repeats; alpha uses the pooled expected disagreement of all repeats).

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=80, n_annotators=10, n_spammers=2, rng=3)
    >>> table = annotator_agreement(data)
    >>> spam = truth.annotators.index[truth.annotators["kind"] == "spammer"]
    >>> bool(table.loc[spam, "loo_agreement"].max() < table.drop(spam)["loo_agreement"].min())
    True
    """
    _validate(data)
    if orientation not in ("symmetric", "as_stored"):
        raise SchemaError(f"`orientation` must be 'symmetric' or 'as_stored'; got {orientation!r}.")
    labels = _annotator_labels(data)
    n_ann = len(labels)
    t = first_votes(data).table
    pats = t[["n0", "n1", "n2"]].to_numpy(dtype=float)
    a, v, w = t["rater"].to_numpy(), t["value"].to_numpy(), t["count"].to_numpy(dtype=float)
    others = pats.copy()
    others[np.arange(len(v)), v] -= 1.0
    top = others.max(axis=1) if len(v) else np.zeros(0)
    n_top = (others == top[:, None]).sum(axis=1)
    scored = (others.sum(axis=1) > 0) & (n_top == 1)
    cons = others.argmax(axis=1) if len(v) else np.zeros(0, dtype=np.int64)
    n = np.rint(np.bincount(a, weights=w, minlength=n_ann)).astype(np.int64)
    n_scored = np.rint(np.bincount(a[scored], weights=w[scored], minlength=n_ann)).astype(np.int64)
    hits = np.bincount(a[scored], weights=w[scored] * (v[scored] == cons[scored]), minlength=n_ann)
    tables: np.ndarray = np.bincount(a[scored] * 9 + v[scored] * 3 + cons[scored], weights=w[scored],
                                     minlength=n_ann * 9).reshape(n_ann, 3, 3)
    if orientation == "symmetric":  # labels 0/1 (first/second response) swap, tie stays: (T + P T P') / 2
        swap = [1, 0, 2]
        tables = (tables + tables[:, swap][:, :, swap]) / 2.0
    kap = kappa_from_tables(tables, "unweighted", observed_levels=False)
    _, per = intra_from_table(repeat_votes(data), n_ann)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame({
            "n": n, "n_scored": n_scored, "loo_agreement": hits / n_scored,
            "loo_kappa": kap["estimate"], "loo_kappa_se": kap["std_error"],
            "n_repeat_units": per["n_repeat_units"].fillna(0).astype(np.int64).to_numpy(),
            "intra_agreement": per["intra_agreement"].to_numpy(),
            "intra_alpha": per["intra_alpha"].to_numpy(),
        }, index=pd.Index(labels, name="annotator_id"))
    return out
