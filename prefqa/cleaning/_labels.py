"""``pq.label_issues``: the probability that each comparison's consensus label picked the worse response.

Which model (``LabelIssues.method``)
------------------------------------
* ``'latent_gap'``, with scores and at least one comparison judged twice:
  the latent quality-gap model of :mod:`prefqa.cleaning._label_model` (the
  score and every annotator read the same gap; fitted jointly by EM),
  cross-fitted over prompt folds.
* ``'flip'``, with scores and one vote per comparison (HH, TRL rows): the
  flip model ``P(vote = 1) = e + (1 - 2e) sigmoid(g * d)`` for the pool of
  votes (``e`` is identified as the curve's floor at large score gaps),
  cross-fitted the same way.
* ``'dawid_skene'``, without scores: the Dawid-Skene posteriors of
  :func:`prefqa.consensus` (judgments without annotator id pooled as one
  annotator). ``p_label_wrong`` is ``p_other + p_tie / 2``, the
  definition of ``ConsensusResult.flip_rate``.
* ``'none'``, without scores and with no comparison judged twice: nothing
  identifies how often a vote is wrong, so ``p_label_wrong`` is NaN with that
  reason.

A comparison whose consensus is a tie, or whose votes are all ties, has
``p_label_wrong`` NaN with the reason in every case.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._types import RngLike, as_generator
from ..consensus import LABELS, ConsensusResult, consensus as _consensus
from ..engine import ScannedData
from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from . import _label_model as _lm
from ._label_model import JointFit, cross_fit as _cross_fit, fit_flip, flip_posterior, folds_of
from ._scores import ComparisonScores, comparison_scores

__all__ = ["LabelIssues", "label_issues"]

_POOL = "<pool>"


@dataclass(frozen=True, eq=False)
class LabelIssues:
    """Per-comparison label-error probabilities (:func:`label_issues`).

    Attributes
    ----------
    table : DataFrame
        One row per comparison, indexed by ``comparison_id``: ``consensus``
        ('1', '2' or 'tie': the canonical response the label prefers, as in
        :func:`prefqa.consensus`), ``p_label_wrong``, ``model_prefers`` ('1',
        '2', 'tie' or missing), ``flagged``, ``reason``, then ``p_first_better``
        (posterior that response 1 is truly better), ``votes_1``, ``votes_2``,
        ``votes_tie``, ``n_judgments``, ``score_diff`` (the score difference as
        the normal score the model uses; NaN without a score), ``fold`` (cross-fitting
        fold, -1 when not cross-fitted) and ``prompt_id``, ``response_1_id``,
        ``response_2_id`` when known.
    method : str
        ``'latent_gap'``, ``'flip'``, ``'dawid_skene'`` or ``'none'`` (module notes).
    scores : str or None
        Where the scores came from.
    consensus_method : str
    cross_fit, threshold : int, float
    calibration : DataFrame
        One row per fold: the score calibration fitted on the other folds
        (``beta`` for the latent-gap model; ``g`` and the flip rate ``e`` for
        the flip model), ``converged``, ``n_iter``. Empty otherwise.
    flip_rate : float
        Mean ``p_label_wrong`` over the comparisons where it is defined.
    n_flagged, n_estimable, n_comparisons, n_judgments, n_annotators : int
    converged : bool
    warnings : tuple of str
    fits : tuple
        The latent-gap model's fit per fold (read by :func:`relabel_queue`).
    pooled_confusion : ndarray or None
        Dawid-Skene's pooled (3, 3) ``P(vote | true label)`` (rows and columns
        '1', '2', 'tie'), for :func:`relabel_queue`.
    """

    table: pd.DataFrame
    method: str
    scores: str | None
    consensus_method: str
    cross_fit: int
    threshold: float
    calibration: pd.DataFrame
    flip_rate: float
    n_flagged: int
    n_estimable: int
    n_comparisons: int
    n_judgments: int
    n_annotators: int
    converged: bool
    warnings: tuple[str, ...]
    fits: tuple[JointFit, ...] = field(default=(), repr=False)
    pooled_confusion: np.ndarray | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Return :attr:`table` (indexed by ``comparison_id``)."""
        return self.table

    def summary(self) -> str:
        """Return a short plain-text summary."""
        src = f"votes and scores ({self.scores})" if self.scores else "votes only"
        lines = [
            f"Label issues by {self.method} from {src}: {self.n_comparisons:,} comparisons, "
            f"{self.n_judgments:,} judgments; consensus by {self.consensus_method}.",
            f"p_label_wrong defined for {self.n_estimable:,}; mean {self.flip_rate:.3f} (expected share of "
            f"wrong labels); {self.n_flagged:,} flagged (p_label_wrong > {self.threshold:g}).",
        ]
        if len(self.calibration):
            col = "beta" if "beta" in self.calibration else "g"
            lines.append(f"Score calibration ({col}) over {self.cross_fit} cross-fitting folds: "
                         + ", ".join(f"{v:.3f}" for v in self.calibration[col]))
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


#: the note a result carries when its input was a pq.scan result
COLLECTED = ("`data` (a pq.scan result) was collected into memory: the label model reads every vote of every "
             "comparison.")


def as_memory(data: object) -> PreferenceData:
    """Return ``data`` as a PreferenceData (a ScannedData is collected: the label model needs every vote)."""
    if isinstance(data, ScannedData):
        # with texts: the relabel queue hands them to the vendor
        return data.collect()
    if not isinstance(data, PreferenceData):
        raise SchemaError("`data` must be a PreferenceData (see pq.read) or a ScannedData (pq.scan); got "
                          f"{type(data).__name__}.")
    return data


def _check(data: PreferenceData, cross_fit: object, threshold: object) -> None:
    if data.n_judgments == 0:
        raise InsufficientDataError("`data` has no judgments; label_issues needs at least one.")
    if isinstance(cross_fit, bool) or not isinstance(cross_fit, (int, np.integer)) or cross_fit < 2:
        raise SchemaError(f"`cross_fit` is a number of folds and must be an integer >= 2; got {cross_fit!r}.")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise SchemaError(f"`threshold` must be a probability in (0, 1); got {threshold!r}.")


def _labels(data: PreferenceData, consensus: object) -> tuple[np.ndarray, str]:
    """Return the consensus label per comparison (codes order) and the method's name."""
    if consensus is None or isinstance(consensus, str):
        res = _consensus(data, method=consensus or "majority")  # type: ignore[arg-type]
    elif isinstance(consensus, ConsensusResult):
        res = consensus
    else:
        raise SchemaError("`consensus` must be None, 'majority', 'dawid_skene' or a pq.consensus result; got "
                          f"{type(consensus).__name__}.")
    ids = data.codes("comparison_id")[1]
    if len(res.labels) != len(ids) or not res.labels.index.equals(pd.Index(ids)):
        raise SchemaError(f"`consensus` labels {len(res.labels)} comparisons that are not this data's "
                          f"{len(ids)}; compute it with pq.consensus(data) on the same data.")
    return res.labels["label"].to_numpy(dtype=object), res.method


def _groups(data: PreferenceData) -> np.ndarray:
    """Cross-fitting groups: the comparison's prompt (each comparison alone where unknown)."""
    comps = data.comparisons()
    n = len(comps)
    if "prompt_id" not in comps:
        return np.arange(n)
    codes = pd.factorize(comps["prompt_id"], use_na_sentinel=True)[0]
    alone = codes < 0
    codes[alone] = codes.max() + 1 + np.arange(int(alone.sum()))
    return codes


def _votes_only(data: PreferenceData, votes: np.ndarray) -> tuple[np.ndarray, str, list[str], np.ndarray | None]:
    notes: list[str] = []
    if not (votes.sum(axis=1) >= 2).any():
        return np.full((len(votes), 2), np.nan), "none", notes, None
    use = data
    if not data.has_annotators:
        notes.append("no annotator ids: every judgment is treated as from one pooled annotator.")
        use = PreferenceData(data.judgments.assign(annotator_id=_POOL), order_known=data.order_known)
    res = _consensus(use, method="dawid_skene")
    notes.extend(res.warnings)
    lab = res.labels
    half = lab["p_tie"].to_numpy(dtype=np.float64) / 2
    p = np.column_stack([lab["p_1"].to_numpy(dtype=np.float64) + half, lab["p_2"].to_numpy(dtype=np.float64) + half])
    n = res.confusion.pivot_table(index="true_label", columns="observed_label", values="n", aggfunc="sum")
    n = n.reindex(index=list(LABELS), columns=list(LABELS)).to_numpy(dtype=np.float64) + 0.01
    return p, "dawid_skene", notes, n / n.sum(axis=1, keepdims=True)


def _with_scores(data: PreferenceData, sc: ComparisonScores, votes: np.ndarray, k: int, rng: RngLike
                 ) -> tuple[np.ndarray, str, np.ndarray, pd.DataFrame, list[JointFit], bool]:
    groups = _groups(data)
    n_groups = int(groups.max()) + 1
    if n_groups < k:
        raise InsufficientDataError(f"cross-fitting over prompts needs at least `cross_fit` = {k} prompts; the "
                                    f"data has {n_groups}. Lower `cross_fit` (>= 2).")
    gen = as_generator(rng)
    fold = folds_of(groups, k, gen)
    comp, _ = data.codes("comparison_id")
    y = data.oriented_choice().astype(np.int64)
    if (votes.sum(axis=1) >= 2).any():
        ann, labels = data.codes("annotator_id")
        ann = np.where(ann < 0, len(labels), ann)
        pb, fits = _cross_fit(comp, ann, y, sc.d, fold, k, n_ann=len(labels) + 1, rng=gen)
        cal = pd.DataFrame({"fold": np.arange(k), "beta": [f.beta for f in fits],
                            "converged": [f.converged for f in fits], "n_iter": [f.n_iter for f in fits]})
        return pb, "latent_gap", fold, cal, fits, all(f.converged for f in fits)
    # one vote per comparison: the flip model on the decisive votes
    decisive = votes[:, 2] == 0
    first = votes[:, 0] > 0
    pb = np.full((len(votes), 2), np.nan)
    rows = []
    for f in range(k):
        train, test = (fold != f) & decisive & sc.known, (fold == f) & decisive
        if train.sum() < 2:
            raise InsufficientDataError(f"cross-fitting fold {f} leaves {int(train.sum())} decisive votes with "
                                        "scores to fit the flip model on; lower cross_fit.")
        g, e, ok = fit_flip(sc.d[train], first[train])
        pb[test] = flip_posterior(g, e, sc.d[test], first[test])
        rows.append({"fold": f, "g": g, "e": e, "converged": ok, "n_iter": 0})
    cal = pd.DataFrame(rows)
    return pb, "flip", fold, cal, [], bool(cal["converged"].all())


def label_issues(
    data: PreferenceData | ScannedData,
    *,
    scores: str | tuple[str, str] | pd.Series | None = None,
    consensus: str | ConsensusResult | None = None,
    cross_fit: int = 5,
    threshold: float = 0.5,
    rng: RngLike = 0,
) -> LabelIssues:
    """Return the posterior probability that each comparison's consensus label is wrong.

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Scanned data is collected into memory (with a note): the label
        model reads every vote.
    scores : str, (str, str), Series or None
        Per-response scores of a reward model or judge: a column stem
        (``"rm_score"`` for the judgment columns ``rm_score_a`` /
        ``rm_score_b``, or an ``rm_score`` column of the responses table), a
        pair of judgment columns, or a Series indexed by response id. Never
        the ratings' ``score`` column. ``None``: the votes alone.
    consensus : {'majority', 'dawid_skene'}, ConsensusResult or None
        The labels under audit; default the majority vote (as
        ``pq.build_pairs``).
    cross_fit : int
        Folds over prompts for calibrating the scores (module notes).
    threshold : float
        ``flagged`` is ``p_label_wrong > threshold``.
    rng : int, Generator or None
        Seed for the fold assignment.

    Returns
    -------
    LabelIssues

    Raises
    ------
    SchemaError
        Bad options, score columns or ids that are missing, non-numeric scores.
    InsufficientDataError
        No judgments, scores that never differ, fewer prompts than folds.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=40, n_annotators=8, rng=3)
    >>> res = pq.label_issues(data)
    >>> res.method, list(res.to_frame().columns[:5])
    ('dawid_skene', ['consensus', 'p_label_wrong', 'model_prefers', 'flagged', 'reason'])
    >>> bool(res.to_frame()["p_label_wrong"].dropna().between(0, 1).all())
    True
    """
    scanned = isinstance(data, ScannedData)
    data = as_memory(data)
    _check(data, cross_fit, threshold)
    label, cons_method = _labels(data, consensus)
    comp, ids = data.codes("comparison_id")
    n = len(ids)
    votes = np.bincount(comp * 3 + data.oriented_choice(), minlength=3 * n).reshape(n, 3)
    notes: list[str] = [COLLECTED] if scanned else []
    sc = None if scores is None else comparison_scores(data, scores)
    fold = np.full(n, -1, dtype=np.int64)
    cal = pd.DataFrame()
    fits: list[JointFit] = []
    converged = True
    pooled = None
    if sc is None:
        pb, method, more, pooled = _votes_only(data, votes)
        notes.extend(more)
    else:
        pb, method, fold, cal, fits, converged = _with_scores(data, sc, votes, int(cross_fit), rng)
        n_missing = int((~sc.known).sum())
        if n_missing:
            notes.append(f"{n_missing} comparison(s) lack a score for one or both responses; their "
                         "p_label_wrong rests on the votes alone.")
        if not converged:
            notes.append("the label model's EM did not converge in every fold; p_label_wrong is approximate.")
        n_train = np.bincount(fold[fold >= 0], minlength=int(cross_fit))
        biggest = int(n - n_train.min()) if len(n_train) else 0
        if method == "latent_gap" and biggest > _lm.MAX_FIT:
            notes.append(f"each fold's fit used a random {_lm.MAX_FIT:,} of up to {biggest:,} training comparisons "
                         "(posteriors are computed for all).")
    p_wrong = np.where(label == "1", pb[:, 1], np.where(label == "2", pb[:, 0], np.nan))
    decisive = votes[:, :2].sum(axis=1) > 0
    p_wrong = np.where(decisive, p_wrong, np.nan)
    table = _table(data, label, p_wrong, pb, votes, sc, fold, threshold, method)
    defined = np.isfinite(p_wrong)
    return LabelIssues(
        table=table, method=method, scores=None if sc is None else sc.source, consensus_method=cons_method,
        cross_fit=int(cross_fit), threshold=float(threshold), calibration=cal,
        flip_rate=float(np.mean(p_wrong[defined])) if defined.any() else float("nan"),
        n_flagged=int(table["flagged"].sum()), n_estimable=int(defined.sum()), n_comparisons=n,
        n_judgments=data.n_judgments, n_annotators=data.n_annotators, converged=converged,
        warnings=tuple(notes), fits=tuple(fits), pooled_confusion=pooled,
    )


def _table(data: PreferenceData, label: np.ndarray, p_wrong: np.ndarray, pb: np.ndarray, votes: np.ndarray,
           sc: ComparisonScores | None, fold: np.ndarray, threshold: float, method: str) -> pd.DataFrame:
    n = len(label)
    flagged = np.isfinite(p_wrong) & (p_wrong > threshold)
    prefers = np.full(n, None, dtype=object) if sc is None else sc.prefers()
    diff = np.full(n, np.nan) if sc is None else np.where(sc.known, sc.d, np.nan)
    vote_text = pd.Series(votes[:, 0]).astype(str) + "-" + pd.Series(votes[:, 1]).astype(str) + "-" + \
        pd.Series(votes[:, 2]).astype(str) + " (response 1-2-tie)"
    score_text = pd.Series(np.where(np.isfinite(diff), "; the score favours response "
                                    + pd.Series(prefers).fillna("?").astype(str)
                                    + " (normal score of the difference "
                                    + pd.Series(diff).map("{:+.2f}".format) + ")", ""))
    flag_text = ("p_label_wrong " + pd.Series(p_wrong).map("{:.2f}".format) + f" > {threshold:g}: label '"
                 + pd.Series(label).astype(str) + "' from votes " + vote_text + score_text)
    reason = np.where(flagged, flag_text, "")
    no_decisive = votes[:, :2].sum(axis=1) == 0
    reason = np.where(label == "tie", "consensus is a tie (votes " + vote_text + "): no response to be wrong about",
                      reason)
    reason = np.where(no_decisive, "no decisive votes: every vote is a tie", reason)
    if method == "none":
        reason = np.where(np.isnan(p_wrong) & (label != "tie") & ~no_decisive,
                          "one vote per comparison and no scores: how often a vote is wrong cannot be estimated; "
                          "pass scores= (a reward model) or collect repeat votes", reason)
    ids = data.codes("comparison_id")[1]
    out = pd.DataFrame({
        "consensus": label, "p_label_wrong": p_wrong, "model_prefers": prefers, "flagged": flagged,
        "reason": reason, "p_first_better": pb[:, 0], "votes_1": votes[:, 0], "votes_2": votes[:, 1],
        "votes_tie": votes[:, 2], "n_judgments": votes.sum(axis=1), "score_diff": diff, "fold": fold,
    }, index=pd.Index(ids.to_numpy(), name="comparison_id"))
    comps = data.comparisons()
    for col in ("prompt_id", "response_1_id", "response_2_id"):
        if col in comps:
            out[col] = comps[col].to_numpy()
    return out
