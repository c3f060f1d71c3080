"""``pq.relabel_queue``: the comparisons where more votes reduce the expected label error most.

The value of relabelling a comparison
-------------------------------------
Under the label model of :func:`prefqa.label_issues` a comparison has a
posterior over its hidden state (the latent quality gap on the model's grid;
the true label for Dawid-Skene; the true label for the flip model) and, for
each state, the probabilities of a new vote for response 1, response 2 or a
tie from a typical annotator of the pool (the pooled reliability ``(a, t)``,
the pooled confusion matrix, or the flip rate ``e``). For every outcome of
``m = votes_per_item`` new votes (the vote counts ``(k_1, k_2, k_tie)``, a
multinomial given the state) the label is decided again by the rule in use:
the majority of the old and new votes together (a shared top count is a tie)
for a majority consensus, the posterior's side otherwise. Its error is the
posterior probability that it names the worse response (a tie counts 1/2, as
in ``flip_rate``). The *expected reduction in label error* is the current
error (``p_label_wrong``; 1/2 for a tie) minus the error after, averaged over
the outcomes; the queue takes the ``budget`` comparisons where it is largest.

The queue for a vendor
----------------------
Each row has the texts with the sides freshly randomised (``response_a`` is
shown first; ``swapped`` says whether that is the comparison's canonical
second response), the current votes *as shown* (``votes_a``, ``votes_b``,
``votes_tie``), the consensus as shown, ``p_label_wrong``, the expected
errors before and after, the reason, and empty ``annotator_id`` / ``choice``
columns. Filled in and appended to the judgments, the rows are ordinary
judgments: the same ``comparison_id``, and ``response_a_id`` /
``response_b_id`` record the order shown.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import gammaln

from .._atomic import atomic_path
from .._types import RngLike, as_generator
from ..consensus import ConsensusResult
from ..engine import ScannedData
from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from ._label_model import chunks, grid_posterior, share_above_zero, vote_probabilities
from ._labels import LabelIssues, as_memory, label_issues

__all__ = ["QUEUE_COLUMNS", "relabel_queue", "write_queue"]

#: Columns of the queue, in order.
QUEUE_COLUMNS: tuple[str, ...] = (
    "rank", "comparison_id", "prompt_id", "prompt", "response_a_id", "response_b_id", "response_a", "response_b",
    "swapped", "votes_a", "votes_b", "votes_tie", "consensus", "p_label_wrong", "error_before", "error_after",
    "expected_error_reduction", "reason", "annotator_id", "choice",
)
_CHUNK = 20_000


def _patterns(m: int) -> tuple[np.ndarray, np.ndarray]:
    """All vote counts (k_1, k_2, k_tie) summing to ``m`` and their log multinomial coefficients."""
    k = np.array([(i, j, m - i - j) for i in range(m + 1) for j in range(m + 1 - i)], dtype=np.int64)
    return k, gammaln(m + 1) - gammaln(k + 1).sum(axis=1)


def _label_error(p1: np.ndarray, p2: np.ndarray, counts: np.ndarray, rule: str) -> np.ndarray:
    """Error of the label chosen by ``rule`` from ``counts`` (..., 3) given P(1 / 2 truly better)."""
    if rule == "majority":
        top = counts.max(axis=-1, keepdims=True)
        shared = (counts == top).sum(axis=-1) > 1
        pick = np.where(shared, 2, counts.argmax(axis=-1))
        return np.where(pick == 0, p2, np.where(pick == 1, p1, 0.5 * (p1 + p2)))
    return np.minimum(p1, p2)


def _expected_after(w: np.ndarray, better1: np.ndarray, v: np.ndarray, old: np.ndarray, m: int,
                    rule: str) -> np.ndarray:
    """Expected label error after ``m`` votes: states ``w`` (n, S), P(1 better | state) (n, S), votes (n, S, 3)."""
    k, log_coef = _patterns(m)
    logv = np.log(np.clip(v, 1e-300, None))
    out = np.empty(len(w))
    for lo in range(0, len(w), _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        like = np.exp(logv[sl] @ k.T.astype(np.float64) + log_coef)            # (n, S, P)
        joint = w[sl, :, None] * like
        p1 = (joint * better1[sl, :, None]).sum(axis=1)                          # P(pattern, 1 better)
        p2 = (joint * (1.0 - better1[sl, :, None])).sum(axis=1)
        counts = old[sl, None, :] + k[None, :, :]
        out[sl] = _label_error(p1, p2, counts, rule).sum(axis=1)
    return out


def _after_latent(data: PreferenceData, issues: LabelIssues, old: np.ndarray, m: int, rule: str) -> np.ndarray:
    """Expected error after ``m`` votes under the latent-gap model, fold by fold and chunk by chunk."""
    t = issues.table
    comp, _ = data.codes("comparison_id")
    ann, labels = data.codes("annotator_id")
    ann = np.where(ann < 0, len(labels), ann)
    y = data.oriented_choice().astype(np.int64)
    d = t["score_diff"].fillna(0.0).to_numpy(dtype=np.float64)
    fold = t["fold"].to_numpy()
    out = np.full(len(t), np.nan)
    for f, fit in enumerate(issues.fits):
        for rows, js, local in chunks(comp, np.flatnonzero(fold == f)):
            q, gap = grid_posterior(fit, local, ann[js], y[js], d[rows], len(rows))
            probs = vote_probabilities(fit.pool_a * gap, np.full_like(gap, fit.pool_t))
            out[rows] = _expected_after(q, share_above_zero(gap), probs, old[rows], m, rule)
    return out


def _two_states(issues: LabelIssues) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior over the true label ('1', '2'), P(1 better | state) and new-vote probabilities (module notes)."""
    t = issues.table
    n = len(t)
    pb = t["p_first_better"].to_numpy(dtype=np.float64)
    w = np.column_stack([pb, 1.0 - pb])
    better1 = np.tile([1.0, 0.0], (n, 1))
    if issues.method == "flip":
        e = issues.calibration.set_index("fold")["e"].reindex(t["fold"]).to_numpy(dtype=np.float64)
        one = np.column_stack([1.0 - e, e, np.zeros(n)])
        two = np.column_stack([e, 1.0 - e, np.zeros(n)])
    else:  # dawid_skene: the pool's confusion rows for true '1' and '2'
        conf = issues.pooled_confusion
        if conf is None:
            raise SchemaError("`issues` has no pooled confusion matrix; recompute it with pq.label_issues.")
        one, two = np.tile(conf[0], (n, 1)), np.tile(conf[1], (n, 1))
    return w, better1, np.stack([one, two], axis=1)


def relabel_queue(
    data: PreferenceData | ScannedData,
    *,
    budget: int,
    scores: str | tuple[str, str] | pd.Series | None = None,
    votes_per_item: int = 3,
    consensus: str | ConsensusResult | None = None,
    cross_fit: int = 5,
    issues: LabelIssues | None = None,
    rng: RngLike = None,
) -> pd.DataFrame:
    """Return the ``budget`` comparisons where ``votes_per_item`` more votes reduce label error most.

    Parameters
    ----------
    data : PreferenceData or ScannedData
    budget : int
        Number of comparisons in the queue (at most the number of
        comparisons whose label error can be estimated).
    scores, consensus, cross_fit
        As for :func:`label_issues` (ignored when ``issues`` is given).
    votes_per_item : int
        New votes each queued comparison will get.
    issues : LabelIssues, optional
        A precomputed ``pq.label_issues(data, ...)`` of the same data.
    rng : int, Generator or None
        Seed for the fresh display order.

    Returns
    -------
    DataFrame
        One row per queued comparison, best first, with :data:`QUEUE_COLUMNS`
        (module notes).

    Raises
    ------
    SchemaError
        Bad ``budget`` / ``votes_per_item``, or ``issues`` of other data.
    InsufficientDataError
        No comparison's label error can be estimated (one vote each and no scores).

    Examples
    --------
    >>> import prefqa as pq
    >>> data, _ = pq.simulate(n_prompts=40, n_annotators=8, rng=3)
    >>> queue = pq.relabel_queue(data, budget=5, rng=0)
    >>> len(queue), bool(queue["expected_error_reduction"].is_monotonic_decreasing)
    (5, True)
    >>> bool((queue["error_after"] <= queue["error_before"]).all())
    True
    """
    data = as_memory(data)
    for name, value in (("budget", budget), ("votes_per_item", votes_per_item)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise SchemaError(f"`{name}` must be a positive integer; got {value!r}.")
    if issues is None:
        issues = label_issues(data, scores=scores, consensus=consensus, cross_fit=cross_fit)
    elif not isinstance(issues, LabelIssues) or not issues.table.index.equals(
            pd.Index(data.codes("comparison_id")[1])):
        raise SchemaError("`issues` must be pq.label_issues(data, ...) of this same data.")
    if issues.method == "none":
        raise InsufficientDataError(
            "every comparison has one vote and no scores were given, so how often a vote is wrong (and what "
            "a new vote is worth) cannot be estimated; pass scores= (a reward model) or collect repeat votes.")
    t = issues.table
    old = t[["votes_1", "votes_2", "votes_tie"]].to_numpy(dtype=np.int64)
    before = np.where(t["consensus"].to_numpy() == "tie", 0.5, t["p_label_wrong"].to_numpy(dtype=np.float64))
    rule: Literal["majority", "bayes"] = "majority" if issues.consensus_method == "majority" else "bayes"
    if issues.method == "latent_gap":
        after = _after_latent(data, issues, old, int(votes_per_item), rule)
    else:
        w, better1, v = _two_states(issues)
        after = _expected_after(w, better1, v, old, int(votes_per_item), rule)
    usable = np.isfinite(after)
    before = np.where(np.isnan(before), 0.5, before)  # no decisive votes: a coin flip today
    gain = before - after
    order = np.lexsort((t.index.to_numpy(dtype=str), -gain))
    order = order[usable[order]][: int(budget)]
    return _queue(data, t.iloc[order], before[order], after[order], gain[order], int(votes_per_item), rng)


def _queue(data: PreferenceData, t: pd.DataFrame, before: np.ndarray, after: np.ndarray, gain: np.ndarray,
           m: int, rng: RngLike) -> pd.DataFrame:
    n = len(t)
    swap = as_generator(rng).random(n) < 0.5
    r1 = t["response_1_id"].to_numpy(dtype=object) if "response_1_id" in t else np.full(n, None, dtype=object)
    r2 = t["response_2_id"].to_numpy(dtype=object) if "response_2_id" in t else np.full(n, None, dtype=object)
    ra, rb = np.where(swap, r2, r1), np.where(swap, r1, r2)
    texts = data.responses.set_index("response_id")["text"] if len(data.responses) else pd.Series(dtype=object)
    prompts = data.prompts.set_index("prompt_id")["text"] if len(data.prompts) else pd.Series(dtype=object)
    pid = t["prompt_id"].to_numpy(dtype=object) if "prompt_id" in t else np.full(n, None, dtype=object)
    v1, v2 = t["votes_1"].to_numpy(), t["votes_2"].to_numpy()
    label = t["consensus"].to_numpy(dtype=object)
    shown = np.where(label == "tie", "tie", np.where((label == "1") != swap, "a", "b"))
    reason = (pd.Series(before).map("{:.2f}".format) + " -> " + pd.Series(after).map("{:.2f}".format)
              + f" expected label error with {m} more votes; ").to_numpy(dtype=object)
    why = np.where(label == "tie", "the consensus is a tie",
                   np.where(t["flagged"].to_numpy(), "the label is probably wrong", "the label is uncertain"))
    out = pd.DataFrame({
        "rank": np.arange(1, n + 1), "comparison_id": t.index.to_numpy(dtype=object), "prompt_id": pid,
        "prompt": pd.Series(pid).map(prompts).to_numpy(dtype=object),
        "response_a_id": ra, "response_b_id": rb,
        "response_a": pd.Series(ra).map(texts).to_numpy(dtype=object),
        "response_b": pd.Series(rb).map(texts).to_numpy(dtype=object),
        "swapped": swap, "votes_a": np.where(swap, v2, v1), "votes_b": np.where(swap, v1, v2),
        "votes_tie": t["votes_tie"].to_numpy(), "consensus": shown,
        "p_label_wrong": t["p_label_wrong"].to_numpy(dtype=np.float64),
        "error_before": before, "error_after": after, "expected_error_reduction": gain,
        "reason": reason + why, "annotator_id": pd.Series([None] * n, dtype=object),
        "choice": pd.Series([None] * n, dtype=object),
    })
    return out.loc[:, list(QUEUE_COLUMNS)]


def write_queue(queue: pd.DataFrame, path: str | os.PathLike[str]) -> str:
    """Write a relabel queue atomically as CSV (``.csv``) or JSON lines (``.jsonl``); return the path.

    Examples
    --------
    >>> import tempfile, pathlib, prefqa as pq
    >>> data, _ = pq.simulate(n_prompts=30, n_annotators=8, rng=2)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "queue.csv"
    >>> _ = write_queue(pq.relabel_queue(data, budget=3, rng=0), out)
    >>> len(pd.read_csv(out))
    3
    """
    if not isinstance(queue, pd.DataFrame) or "comparison_id" not in queue:
        raise SchemaError("`queue` must be the DataFrame returned by pq.relabel_queue.")
    name = os.fspath(path)
    if name.endswith(".csv"):
        with atomic_path(name) as tmp:
            queue.to_csv(tmp, index=False)
    elif name.endswith(".jsonl"):
        with atomic_path(name) as tmp:
            queue.to_json(tmp, orient="records", lines=True, force_ascii=False)
    else:
        raise SchemaError(f"the relabel queue is written as .csv or .jsonl; got {name!r}.")
    return name
