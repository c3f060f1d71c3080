"""Suspect labels and contaminated prompts in ``build_pairs`` (issue 15).

``suspect_labels`` is a precomputed ``pq.label_issues`` result (or its
``.to_frame()``: indexed by ``comparison_id`` with a boolean ``flagged``
column, optionally ``p_label_wrong`` and ``consensus``; or the flagged ids
themselves). For each flagged comparison that is still a pair:

``drop``
    dropped with the reason code ``suspect_label``;
``flip``
    chosen and rejected are swapped (``flipped`` is true in the pairs);
    ``p_chosen`` becomes ``p_label_wrong`` when given (the posterior that the
    new chosen response is the better one), else ``1 - p_chosen``, and
    ``margin`` becomes ``2 * p_chosen - 1``. When ``consensus`` names the
    side (``'1'`` / ``'2'``, ``pq.consensus``' codes, matched by
    ``response_1_id`` / ``response_2_id`` when the table has them) and
    ``build_pairs``' own label already picked the other response, nothing is
    swapped: the label already agrees with the correction (counted as
    ``label_already_changed``);
``downweight``
    ``weight`` times 0.5 and ``p_chosen`` shrunk halfway to 0.5 (as
    ``flagged='downweight'`` treats flagged prompts): the pair stays but
    counts half, and a soft-label loss sees a weaker preference;
``keep``
    left as is, only counted.

``contamination`` is a ``pq.contamination`` result (or a table with a
``prompt_id`` column, or prompt ids): their comparisons are dropped with the
reason ``contaminated``, naming the benchmark and row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ._assemble import take

__all__ = ["SUSPECT_ACTIONS", "suspect_table", "contaminated_prompts", "apply_suspects", "apply_contamination",
           "cleaning_inputs", "apply_cleaning"]

SUSPECT_ACTIONS: tuple[str, ...] = ("drop", "flip", "downweight", "keep")
DOWNWEIGHT = 0.5


def suspect_table(suspect_labels: Any) -> pd.DataFrame:
    """The flagged comparisons as a frame indexed by ``comparison_id`` (``p_label_wrong``, ``consensus``).

    Examples
    --------
    >>> t = pd.DataFrame({"flagged": [True, False], "p_label_wrong": [0.9, 0.1]}, index=["c1", "c2"])
    >>> suspect_table(t).index.tolist(), suspect_table(["c7"]).index.tolist()
    (['c1'], ['c7'])
    """
    table = suspect_labels.to_frame() if callable(getattr(suspect_labels, "to_frame", None)) else suspect_labels
    if isinstance(table, pd.DataFrame):
        if "comparison_id" in table.columns:
            table = table.set_index("comparison_id")
        if "flagged" not in table.columns:
            raise SchemaError("`suspect_labels` must be a pq.label_issues result or its table (indexed by "
                              "comparison_id, with a boolean `flagged` column); got columns "
                              f"{list(table.columns)[:8]}.")
        flagged = table["flagged"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        out = table.loc[flagged]
        out.index = out.index.astype("str")
        keep = ("p_label_wrong", "consensus", "response_1_id", "response_2_id")
        return out[[c for c in keep if c in out.columns]]
    if isinstance(table, str):
        table = [table]
    try:
        ids = [str(x) for x in table]
    except TypeError as exc:
        raise SchemaError("`suspect_labels` must be a pq.label_issues result, its table, or a sequence of "
                          f"comparison ids; got {type(suspect_labels).__name__}.") from exc
    return pd.DataFrame(index=pd.Index(ids, dtype="str", name="comparison_id"))


def contaminated_prompts(contamination: Any) -> pd.Series:
    """Flagged prompt id -> note naming the benchmark match (``""`` when unknown).

    Examples
    --------
    >>> contaminated_prompts(["p1"]).to_dict()
    {'p1': ''}
    """
    matches = None if isinstance(contamination, pd.DataFrame) else getattr(contamination, "matches", None)
    table = matches if isinstance(matches, pd.DataFrame) else contamination
    if isinstance(table, pd.DataFrame):
        if "prompt_id" in table.columns:
            ids = table["prompt_id"].astype("str")
        else:
            ids = pd.Series(table.index.astype("str"), index=table.index)
        note = pd.Series("", index=table.index, dtype="str")
        if {"benchmark", "benchmark_row"} <= set(table.columns):
            kind = table["kind"].astype("str") + " match" if "kind" in table.columns else "match"
            note = (" (" + kind + " with " + table["benchmark"].astype("str") + " row "
                    + table["benchmark_row"].astype("str") + ")")
        out = pd.Series(note.to_numpy(dtype=object), index=ids.to_numpy(dtype=object), dtype="str")
        return out[~out.index.duplicated()]
    if isinstance(table, str):
        table = [table]
    try:
        ids = [str(x) for x in table]
    except TypeError as exc:
        raise SchemaError("`contamination` must be a pq.contamination result, a table with a `prompt_id` "
                          f"column, or a sequence of prompt ids; got {type(contamination).__name__}.") from exc
    return pd.Series("", index=pd.Index(ids, dtype=object), dtype="str").loc[lambda s: ~s.index.duplicated()]


def apply_contamination(u: dict, reason: np.ndarray, detail: np.ndarray, notes: pd.Series) -> int:
    """Drop the units of contaminated prompts (``contaminated``); return how many."""
    if not len(notes):
        return 0
    pid = u["prompt_id"].astype("str")
    hit = pid.isin(notes.index).to_numpy(dtype=bool) & (reason == None)  # noqa: E711
    rows = np.flatnonzero(hit)
    reason[rows] = "contaminated"
    detail[rows] = notes.reindex(take(pid, rows)).fillna("").to_numpy(dtype=object)
    return len(rows)


def apply_suspects(u: dict, reason: np.ndarray, detail: np.ndarray, table: pd.DataFrame, action: str,
                   n_comparisons_known: pd.Series) -> dict[str, Any]:
    """Apply ``action`` to the flagged comparisons still kept; return the counts for the manifest."""
    cid = u["comparison_id"].astype("str")
    known = table.index.isin(n_comparisons_known.astype("str"))
    counts: dict[str, Any] = {"action": action, "n_flagged": int(known.sum()), "n_unknown_ids": int((~known).sum()),
                              "dropped": 0, "flipped": 0, "downweighted": 0, "kept_as_is": 0,
                              "label_already_changed": 0, "not_a_pair": 0}
    flagged = cid.isin(table.index).to_numpy(dtype=bool)
    live = flagged & (reason == None) & ~u["is_tie"]  # noqa: E711
    counts["not_a_pair"] = int((flagged & ~live).sum())
    rows = np.flatnonzero(live)
    if not len(rows):
        return counts
    look = table.reindex(take(cid, rows))
    p_wrong = (look["p_label_wrong"].to_numpy(dtype=np.float64, na_value=np.nan) if "p_label_wrong" in look
               else np.full(len(rows), np.nan))
    if action == "drop":
        reason[rows] = "suspect_label"
        note = pd.Series(p_wrong).map(lambda v: "" if not np.isfinite(v) else f" (p_label_wrong={v:.3f})")
        detail[rows] = note.to_numpy(dtype=object)
        counts["dropped"] = len(rows)
    elif action == "flip":
        doubted = _doubted_side(u, rows, look)
        if doubted is not None:  # flip only where our label is the response label_issues doubts
            already = ~doubted
            counts["label_already_changed"] = int(already.sum())
            rows, p_wrong = rows[~already], p_wrong[~already]
        u["swap"][rows] = ~u["swap"][rows]
        new_p = np.where(np.isfinite(p_wrong), p_wrong, 1.0 - u["p_chosen"][rows])
        u["p_chosen"][rows] = new_p
        u["margin"][rows] = 2.0 * new_p - 1.0
        u["flipped"][rows] = True
        counts["flipped"] = len(rows)
    elif action == "downweight":
        u["weight"][rows] = u["weight"][rows] * DOWNWEIGHT
        u["p_chosen"][rows] = 0.5 + DOWNWEIGHT * (u["p_chosen"][rows] - 0.5)
        counts["downweighted"] = len(rows)
    else:
        counts["kept_as_is"] = len(rows)
    return counts


def _doubted_side(u: dict, rows: np.ndarray, look: pd.DataFrame) -> np.ndarray | None:
    """``True`` where ``build_pairs``' chosen response is the one ``label_issues``' consensus picked.

    By response id when the table has ``response_1_id`` / ``response_2_id``,
    else by ``pq.consensus``' side codes; ``None`` without a ``consensus``
    column (then every flagged pair is flipped). Rows whose consensus names no
    side count as doubted.
    """
    if "consensus" not in look:
        return None
    cons = look["consensus"].astype("str").to_numpy(dtype=object)
    named = np.isin(cons, ["1", "2"])
    if {"response_1_id", "response_2_id"} <= set(look.columns):
        picked = np.where(cons == "1", look["response_1_id"].astype("str").to_numpy(dtype=object),
                          look["response_2_id"].astype("str").to_numpy(dtype=object))
        chosen = np.where(u["swap"][rows], take(u["id_2"], rows).astype("str").to_numpy(dtype=object),
                          take(u["id_1"], rows).astype("str").to_numpy(dtype=object))
        return ~named | (picked == chosen)
    side = np.where(u["swap"][rows], "2", "1")
    return ~named | (cons == side)


def cleaning_inputs(suspect_labels: Any, suspect_action: str, contamination: Any,
                    policy: str | None) -> tuple[pd.DataFrame | None, pd.Series | None]:
    """Check the options; return (flagged comparisons table or None, contaminated prompt notes or None)."""
    if suspect_action not in SUSPECT_ACTIONS:
        raise SchemaError(f"`suspect_action` must be one of {list(SUSPECT_ACTIONS)}; got {suspect_action!r}.")
    if suspect_labels is None and suspect_action != "drop":
        raise SchemaError(f"suspect_action={suspect_action!r} acts on `suspect_labels`, which is None; pass "
                          "suspect_labels=pq.label_issues(data, ...).")
    if suspect_labels is not None and policy is not None:
        raise SchemaError(f"`suspect_labels` applies to judged comparisons; rated pairs (policy={policy!r}) come "
                          "from scores, not labels. Drop suspect_labels or use policy=None.")
    suspects = suspect_table(suspect_labels) if suspect_labels is not None else None
    contaminated = contaminated_prompts(contamination) if contamination is not None else None
    return suspects, contaminated


def apply_cleaning(u: dict, reason: np.ndarray, detail: np.ndarray, suspects: pd.DataFrame | None, action: str,
                   contaminated: pd.Series | None, comparison_ids: pd.Series) -> dict[str, Any]:
    """Contaminated prompts first, then suspect labels; return the manifest's ``cleaning`` block."""
    out: dict[str, Any] = {}
    if contaminated is not None:
        n_c = apply_contamination(u, reason, detail, contaminated)
        out["contamination"] = {"n_flagged_prompts": len(contaminated), "dropped": n_c}
    if suspects is not None:
        out["suspect_labels"] = apply_suspects(u, reason, detail, suspects, action, comparison_ids)
    return out
