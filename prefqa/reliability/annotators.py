"""Per-annotator reliability: leave-one-out agreement and kappa against the others' consensus."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from .cohen import kappa_from_tables
from .intra import intra_rater

__all__ = ["annotator_agreement"]


def _validate(data: Any) -> None:
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData (see prefqa.read); got {type(data).__name__}.")
    if not data.has_annotators:
        raise InsufficientDataError(
            f"per-annotator reliability needs annotator ids, but all {data.n_judgments:,} judgments "
            "have a missing `annotator_id`. Load data that names its annotators."
        )


def annotator_agreement(data: PreferenceData, *, orientation: str = "symmetric") -> pd.DataFrame:
    """Return one row per annotator: agreement with the consensus of the other annotators.

    For each judgment (the first per annotator and comparison), the
    consensus of the *other* annotators of that comparison is the plurality
    of their choices (which response won, or tie; ``data.oriented_choice()``).
    Judgments whose others are absent or split evenly have no consensus and
    are not scored.

    Parameters
    ----------
    data : PreferenceData
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
    comp, _ = data.codes("comparison_id")
    ann, labels = data.codes("annotator_id")
    choice = data.oriented_choice().astype(np.int64)
    has = ann >= 0
    n_ann = len(labels)
    key = comp * n_ann + ann
    _, first = np.unique(np.where(has, key, -1 - np.arange(len(key))), return_index=True)
    keep = np.zeros(len(comp), dtype=bool)
    keep[first] = True
    keep &= has
    c, a, v = comp[keep], ann[keep], choice[keep]
    n_comp = int(comp.max()) + 1
    counts = np.zeros((n_comp, 3))
    np.add.at(counts, (c, v), 1.0)
    others = counts[c].copy()
    others[np.arange(len(v)), v] -= 1.0
    top = others.max(axis=1)
    n_top = (others == top[:, None]).sum(axis=1)
    scored = (others.sum(axis=1) > 0) & (n_top == 1)
    cons = others.argmax(axis=1)
    n = np.bincount(a, minlength=n_ann)
    n_scored = np.bincount(a[scored], minlength=n_ann)
    hits = np.bincount(a[scored], weights=(v[scored] == cons[scored]).astype(float), minlength=n_ann)
    tables: np.ndarray = np.bincount(a[scored] * 9 + v[scored] * 3 + cons[scored],
                                     minlength=n_ann * 9).reshape(n_ann, 3, 3)
    if orientation == "symmetric":  # labels 0/1 (first/second response) swap, tie stays: (T + P T P') / 2
        swap = [1, 0, 2]
        tables = (tables + tables[:, swap][:, :, swap]) / 2.0
    kap = kappa_from_tables(tables, "unweighted", observed_levels=False)
    _, per = intra_rater(comp[has], ann[has], choice[has], n_cat=3)
    per = per.reindex(range(n_ann))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame({
            "n": n, "n_scored": n_scored, "loo_agreement": hits / n_scored,
            "loo_kappa": kap["estimate"], "loo_kappa_se": kap["std_error"],
            "n_repeat_units": per["n_repeat_units"].fillna(0).astype(np.int64).to_numpy(),
            "intra_agreement": per["intra_agreement"].to_numpy(),
            "intra_alpha": per["intra_alpha"].to_numpy(),
        }, index=pd.Index(labels, name="annotator_id"))
    return out
