"""Consensus labels per comparison: majority vote and Dawid-Skene.

Labels say *which response* won, not which display slot: they use
:meth:`PreferenceData.oriented_choice`, so two annotators who saw a pair in
opposite orders and picked the same response agree. In ``.labels``:

* ``label = '1'``: the comparison's canonical first response
  (``response_1_id`` of :meth:`PreferenceData.comparisons`) is preferred;
* ``label = '2'``: the canonical second response is preferred;
* ``label = 'tie'``: neither.

``p_1``, ``p_2``, ``p_tie`` are the matching probabilities (vote shares for
the majority vote, posteriors for Dawid-Skene).

Flip rate and TRL's ``label_smoothing``
---------------------------------------
``flip_rate`` estimates the share of non-tie consensus labels that point
at the wrong response: the mean, over comparisons labelled '1' or '2', of
``p_other + p_tie / 2`` (a true tie makes either direction right half of the
time). It is what TRL's ``DPOConfig(loss_type="robust", label_smoothing=...)``
expects (the probability that a preference label is flipped, in [0, 0.5)):
pass ``min(result.flip_rate, 0.49)``. Dawid-Skene's posterior gives a
model-based estimate; the majority vote's vote shares give only a rough one
(with 3 votes a 2-1 split reads as a 1/3 flip chance).
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from .engine import ScannedData
from .engine.reductions import labels as lab
from .engine.reductions import votes as red
from .errors import ConvergenceWarning, InsufficientDataError, SchemaError
from .schema import PreferenceData

__all__ = ["ConsensusResult", "consensus", "LABELS", "DS_FIT_MAX_COMPARISONS", "DS_SEED"]

LABELS: tuple[str, ...] = ("1", "2", "tie")
METHODS = ("majority", "dawid_skene")
_UNKNOWN = "<unknown>"
#: Dawid-Skene fits its parameters on a seeded hash subsample of about this many comparisons above it
DS_FIT_MAX_COMPARISONS = 200_000
#: seed of that subsample (:func:`prefqa.engine.reductions.votes.hash_sample`)
DS_SEED = "prefqa-dawid-skene"


@dataclass(frozen=True, eq=False)
class ConsensusResult:
    """Consensus labels and per-annotator confusion matrices.

    Attributes
    ----------
    labels : DataFrame
        One row per comparison, indexed by ``comparison_id``: ``label``
        ('1', '2' or 'tie', see the module notes), ``p_1``, ``p_2``,
        ``p_tie``, ``n_judgments``, ``agreement`` (share of the comparison's
        judgments that match ``label``), ``tied_vote`` (the top probability
        was shared, so the label is 'tie' by rule), plus ``prompt_id``,
        ``response_1_id``, ``response_2_id``, ``model_1``, ``model_2`` when
        known.
    confusion : DataFrame
        Tidy per-annotator confusion matrices: ``annotator_id``,
        ``true_label``, ``observed_label``, ``probability`` (P(observed |
        true), rows sum to 1 per annotator and true label) and ``n``
        (expected count of such judgments). For the majority vote, "true" is
        the majority label; judgments without annotator id are pooled under
        ``'<unknown>'``.
    class_prior : Series
        Share of comparisons per true label ('1', '2', 'tie').
    method : str
    flip_rate : float
        Estimated share of wrong non-tie labels (module notes).
    judgment_error_rate : float
        Expected share of judgments that disagree with the true label.
    n_judgments, n_comparisons, n_annotators : int
    converged : bool
    n_iter : int
        EM iterations (0 for the majority vote).
    log_likelihood : float
        Dawid-Skene marginal log-likelihood (NaN for the majority vote).
    warnings : tuple of str
    """

    labels: pd.DataFrame
    confusion: pd.DataFrame
    class_prior: pd.Series
    method: str
    flip_rate: float
    judgment_error_rate: float
    n_judgments: int
    n_comparisons: int
    n_annotators: int
    converged: bool
    n_iter: int
    log_likelihood: float
    warnings: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """Return the labels as a tidy table (``comparison_id`` a column, ``n`` judgments)."""
        out = self.labels.reset_index().rename(columns={"n_judgments": "n"})
        return out

    def summary(self) -> str:
        """Return a short plain-text summary."""
        counts = self.labels["label"].value_counts().reindex(list(LABELS), fill_value=0)
        lines = [
            f"Consensus by {self.method}: {self.n_comparisons:,} comparisons, {self.n_judgments:,} "
            f"judgments, {self.n_annotators:,} annotators; converged={self.converged} "
            f"({self.n_iter} iterations).",
            f"Labels: first response {counts['1']:,}, second {counts['2']:,}, tie {counts['tie']:,}; "
            f"{int(self.labels['tied_vote'].sum()):,} tied votes.",
            f"Mean agreement with the label {self.labels['agreement'].mean():.3f}; estimated flip "
            f"rate {self.flip_rate:.3f} (TRL label_smoothing); judgment error rate "
            f"{self.judgment_error_rate:.3f}.",
        ]
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _validate(data: PreferenceData | ScannedData, method: str, max_iter: int, tol: float, smoothing: float,
              weights: object, max_fit: object) -> np.ndarray | None:
    if not isinstance(data, PreferenceData | ScannedData):
        raise SchemaError("`data` must be a PreferenceData (see pq.read) or a ScannedData (pq.scan); got "
                          f"{type(data).__name__}.")
    if max_fit is not None and (isinstance(max_fit, bool) or not isinstance(max_fit, (int, np.integer))
                                or max_fit < 1):
        raise SchemaError(f"`max_fit_comparisons` must be a positive integer or None; got {max_fit!r}.")
    if method not in METHODS:
        raise SchemaError(f"`method` must be one of {METHODS}; got {method!r}.")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise SchemaError(f"`max_iter` must be a positive integer; got {max_iter!r}.")
    if not tol > 0:
        raise SchemaError(f"`tol` must be > 0; got {tol!r}.")
    if not (np.isfinite(smoothing) and smoothing >= 0):
        raise SchemaError(f"`smoothing` must be a finite number >= 0; got {smoothing!r}.")
    if data.n_judgments == 0:
        raise InsufficientDataError("`data` has no judgments; consensus needs at least one.")
    if method == "dawid_skene" and not data.has_annotators:
        raise InsufficientDataError(
            "Dawid-Skene needs annotator ids to learn each annotator's confusion matrix, but every "
            "`annotator_id` is missing. Use method='majority' (each judgment is one vote).")
    if weights is None:
        return None
    if isinstance(data, ScannedData):
        raise SchemaError("per-judgment `weights` need the judgments in memory; for a ScannedData pass "
                          "weights=None, or consensus(scanned.collect(texts=False), weights=...).")
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise SchemaError(f"`weights` must be numbers, one per judgment; got {type(weights).__name__}.") from None
    if w.shape != (data.n_judgments,):
        raise SchemaError(f"`weights` must hold one number per judgment ({data.n_judgments}); got shape "
                          f"{w.shape}.")
    bad = ~(np.isfinite(w) & (w > 0))
    if bad.any():
        raise SchemaError(f"`weights` must be finite and > 0; {int(bad.sum())} are not (first: "
                          f"{float(w[bad][0])!r}). Leave judgments out with data.subset(mask) instead.")
    return w


def _annotator_labels(data: PreferenceData | ScannedData) -> tuple[pd.Index, int]:
    """Annotator labels in code order, plus ``'<unknown>'`` last when some judgments have none; and that count."""
    if isinstance(data, PreferenceData):
        codes, labels = data.codes("annotator_id")
        missing = int((codes < 0).sum())
    else:
        t = data.frame("SELECT _ann, min(annotator_id) AS annotator_id, count(*) AS n FROM {j} GROUP BY _ann "
                       "ORDER BY _ann")
        named = (t["_ann"] >= 0).to_numpy()
        labels = pd.Index(t.loc[named, "annotator_id"].astype(str).to_numpy(), name="annotator_id")
        missing = int(t.loc[~named, "n"].sum())
    if missing:
        labels = pd.Index([*labels, _UNKNOWN], name="annotator_id")
    return labels, missing


def _pick(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return label codes (argmax; 'tie' when the top value is shared) and the tie flags."""
    top = probs.max(axis=1, keepdims=True)
    shared = (np.isclose(probs, top, rtol=0.0, atol=1e-12)).sum(axis=1) > 1
    return np.where(shared, 2, probs.argmax(axis=1)), shared


def _confusion_counts(post: np.ndarray, comp: np.ndarray, ann: np.ndarray, y: np.ndarray,
                      n_ann: int, w: np.ndarray | None = None) -> np.ndarray:
    """Return expected (weighted) counts (n_ann, true 3, observed 3) given soft labels ``post``."""
    out = np.empty((n_ann, 3, 3))
    for t in range(3):
        soft = post[comp, t] if w is None else post[comp, t] * w
        out[:, t, :] = np.bincount(ann * 3 + y, soft, n_ann * 3).reshape(n_ann, 3)
    return out


def _dawid_skene(comp: np.ndarray, ann: np.ndarray, y: np.ndarray, n_comp: int, n_ann: int,
                 init: np.ndarray, max_iter: int, tol: float, smoothing: float,
                 w: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, int, float]:
    post = init
    ll_old = -np.inf
    converged = False
    n_obs = len(y) if w is None else float(w.sum())
    for it in range(1, max_iter + 1):  # noqa: B007 - the iteration count is returned after the loop
        # M-step: class prior and confusion matrices from the soft labels
        prior = (post.sum(axis=0) + smoothing) / (n_comp + 3 * smoothing)
        counts = _confusion_counts(post, comp, ann, y, n_ann, w) + smoothing
        conf = counts / counts.sum(axis=2, keepdims=True)
        log_conf = np.log(conf)
        # E-step: posterior over the true label of every comparison
        logp = np.tile(np.log(prior), (n_comp, 1))
        for t in range(3):
            logp[:, t] += np.bincount(comp, log_conf[ann, t, y] if w is None else log_conf[ann, t, y] * w,
                                      n_comp)
        norm = np.logaddexp.reduce(logp, axis=1)
        post = np.exp(logp - norm[:, None])
        ll = float(norm.sum())
        if abs(ll - ll_old) / n_obs < tol:
            converged = True
            break
        ll_old = ll
    return post, conf, prior, converged, it, ll


def consensus(
    data: PreferenceData | ScannedData,
    *,
    method: Literal["majority", "dawid_skene"] = "majority",
    weights: np.ndarray | None = None,
    max_iter: int = 500,
    tol: float = 1e-6,
    smoothing: float = 0.01,
    max_fit_comparisons: int | None = DS_FIT_MAX_COMPARISONS,
) -> ConsensusResult:
    """Return one consensus label per comparison, with per-annotator confusion.

    Parameters
    ----------
    data : PreferenceData or ScannedData
        In memory, or kept in an engine (:func:`prefqa.scan`): the same
        labels and numbers, from the vote reductions of
        :mod:`prefqa.engine.reductions.votes` (module notes there say what
        is pulled: one row of votes and ids per comparison for ``labels``;
        Dawid-Skene's EM pulls the integer codes of the judgments it fits on).
    method : {'majority', 'dawid_skene'}
        ``'majority'``: every judgment is one vote (repeats included; data
        without annotator ids works). When the top vote count is shared (a
        1-1 split, or 1 vote each for a side and 'tie'), the label is
        ``'tie'`` and ``tied_vote`` is true: no response has a majority.
        ``'dawid_skene'`` (Dawid and Skene 1979): EM over the true label
        ('1', '2', 'tie') with one 3x3 confusion matrix per annotator,
        started from the majority vote shares; the E and M steps are
        vectorized with ``np.bincount``. Judgments without annotator id share
        one pooled confusion matrix (with a warning).
    weights : array of float, optional
        One positive weight per judgment (in ``data.judgments`` order): a
        judgment counts as ``weight`` votes in the majority vote and enters
        the Dawid-Skene likelihood ``weight`` times (integer weights equal
        repeating the judgment). ``p_*`` and ``agreement`` are then weighted
        shares; ``n_judgments`` still counts judgments. ``pq.build_pairs``
        uses it to downweight flagged annotators. Default: every judgment 1.
    max_iter, tol : int, float
        EM stops when the change in log-likelihood per judgment is below
        ``tol``; hitting ``max_iter`` warns :class:`ConvergenceWarning`.
    smoothing : float
        Pseudo-count added to every confusion cell and class count in the
        M-step (keeps logs finite for annotators with few judgments).
    max_fit_comparisons : int or None, default 200,000
        Dawid-Skene only: with more comparisons than this, the EM fits the
        class prior and confusion matrices on a seeded hash subsample of
        about this many comparisons (an id is kept when the md5 of
        ``"prefqa-dawid-skene:" + comparison_id`` falls below the share;
        :func:`prefqa.engine.reductions.votes.hash_sample`, identical in
        memory and in SQL), then labels every comparison with them in one
        E-step pass (``warnings`` says so). Below it, or with None, EM runs
        on all comparisons. ``log_likelihood`` is always the marginal
        log-likelihood of all judgments at the fitted parameters.

    Returns
    -------
    ConsensusResult

    Raises
    ------
    SchemaError
        Bad options.
    InsufficientDataError
        No judgments, or ``'dawid_skene'`` without any annotator id.

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c1", "c1", "c2", "c2"],
    ...                   "annotator_id": ["x", "y", "z", "x", "y"],
    ...                   "choice": ["a", "a", "b", "b", "tie"]})
    >>> res = pq.consensus(pq.PreferenceData(j))
    >>> res.labels["label"].tolist(), res.labels["p_1"].round(3).tolist()
    (['1', 'tie'], [0.667, 0.0])
    >>> res.labels["agreement"].round(3).tolist(), res.labels["tied_vote"].tolist()
    ([0.667, 0.5], [False, True])
    """
    w = _validate(data, method, max_iter, tol, smoothing, weights, max_fit_comparisons)
    notes: list[str] = []
    ann_labels, n_missing = _annotator_labels(data)
    n_ann = len(ann_labels)
    if w is None:
        ctab = lab.comparison_table(data, votes=True)  # ids and votes per comparison, one query
        votes = ctab[["n0", "n1", "n2"]].to_numpy(dtype=np.float64)
        ctab = ctab.drop(columns=["n0", "n1", "n2"])
        n_j = votes.sum(axis=1)
    else:  # weights are in memory only (validated)
        assert isinstance(data, PreferenceData)
        comp = data.codes("comparison_id")[0]
        y = data.oriented_choice().astype(np.int64)
        n_comp = data.n_comparisons
        votes = np.bincount(comp * 3 + y, w, minlength=n_comp * 3).reshape(n_comp, 3).astype(np.float64)
        ctab = lab.comparison_table(data)
        n_j = np.bincount(comp, minlength=n_comp).astype(np.float64)
    n_comp = len(votes)
    shares = votes / votes.sum(axis=1)[:, None]
    if method == "majority":
        probs = shares
        label, shared = _pick(probs)
        if w is None:
            counts = _majority_counts(lab.all_votes(data), n_ann)
        else:
            hard = np.zeros((n_comp, 3))
            hard[np.arange(n_comp), label] = 1.0
            counts = lab.soft_confusion(data, hard, n_ann, weights=w)
        prior = np.bincount(label, minlength=3) / n_comp
        converged, n_iter, ll = True, 0, float("nan")
    else:
        if n_missing:
            notes.append(f"{n_missing} judgment(s) have no annotator id; they share one pooled "
                         f"confusion matrix labelled {_UNKNOWN!r}.")
        fit_codes = None
        if max_fit_comparisons is not None and n_comp > max_fit_comparisons:
            fit_codes = red.hash_sample(data, "comparison_id", max_fit_comparisons / n_comp, seed=DS_SEED)
            notes.append(f"Dawid-Skene parameters (class prior, confusion matrices) were fitted on a seeded "
                         f"hash subsample of {len(fit_codes):,} of {n_comp:,} comparisons (md5 of "
                         f"'{DS_SEED}:' + comparison_id, max_fit_comparisons={max_fit_comparisons:,}); every "
                         "comparison was then labelled with them in one pass.")
        codes = lab.judgment_codes(data, ("_cmp", "_ann", "_och"), comparisons=fit_codes)
        comp_f, y_f = codes["_cmp"], codes["_och"]
        ann_f = np.where(codes["_ann"] < 0, n_ann - 1, codes["_ann"])
        w_f = w
        if fit_codes is None:
            init = shares
        else:
            if w is not None:  # in memory only (validated)
                assert isinstance(data, PreferenceData)
                w_f = w[np.isin(data.codes("comparison_id")[0], fit_codes)]
            comp_f = np.searchsorted(fit_codes, comp_f)
            init = shares[fit_codes]
        post, conf, prior, converged, n_iter, ll = _dawid_skene(
            comp_f, ann_f, y_f, len(init), n_ann, init, max_iter, tol, smoothing, w_f)
        if fit_codes is None:
            probs = post
            counts = _confusion_counts(probs, comp_f, ann_f, y_f, n_ann, w)
        else:  # label every comparison with the fitted parameters: one E-step over all judgments
            logp = np.log(prior)[None, :] + lab.log_vote_sums(data, np.log(conf), weights=w)
            norm = np.logaddexp.reduce(logp, axis=1)
            probs = np.exp(logp - norm[:, None])
            ll = float(norm.sum())
            counts = lab.soft_confusion(data, probs, n_ann, weights=w)
        label, shared = _pick(probs)
        if not converged:
            msg = (f"Dawid-Skene EM did not converge in {max_iter} iterations (tol={tol:g}); raise "
                   "`max_iter` or check for annotators with very few judgments.")
            notes.append(msg)
            _warnings.warn(msg, ConvergenceWarning, stacklevel=2)
    return _result(data, ctab, method, probs, label, shared, votes, n_j, counts, prior, ann_labels,
                   converged, n_iter, ll, notes)


def _majority_counts(table: pd.DataFrame, n_ann: int) -> np.ndarray:
    """(annotator, majority label, vote) counts from the (annotator, pattern, vote) table."""
    pats = table[["n0", "n1", "n2"]].to_numpy(dtype=np.float64)
    lab, _ = _pick(pats / pats.sum(axis=1)[:, None]) if len(pats) else (np.zeros(0, dtype=np.int64), None)
    ann = table["rater"].to_numpy()
    ann = np.where(ann < 0, n_ann - 1, ann)
    key = (ann * 3 + lab) * 3 + table["value"].to_numpy()
    return np.bincount(key, table["count"].to_numpy(dtype=np.float64), n_ann * 9).reshape(n_ann, 3, 3)


def _result(data, ctab, method, probs, label, shared, votes, n_j, counts, prior, ann_labels,
            converged, n_iter, ll, notes) -> ConsensusResult:
    n_comp = len(n_j)
    agree = votes[np.arange(n_comp), label] / votes.sum(axis=1)
    labels = pd.DataFrame({
        "label": np.asarray(LABELS, dtype=object)[label],
        "p_1": probs[:, 0], "p_2": probs[:, 1], "p_tie": probs[:, 2],
        "n_judgments": n_j.astype(np.int64), "agreement": agree, "tied_vote": shared,
    }, index=pd.Index(ctab["comparison_id"].to_numpy(), name="comparison_id"))
    extra = ctab.drop(columns=["comparison_id", "n_judgments"])
    for col in extra.columns:
        labels[col] = extra[col].to_numpy()
    sided = label < 2
    other = np.where(label == 0, probs[:, 1], probs[:, 0])
    flip = float(np.mean((other + 0.5 * probs[:, 2])[sided])) if sided.any() else float("nan")
    err = float((votes * (1.0 - probs)).sum() / votes.sum())
    totals = counts.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cond = np.where(totals > 0, counts / totals, np.nan)
    n_ann = len(ann_labels)
    grid = np.indices((n_ann, 3, 3)).reshape(3, -1)
    confusion = pd.DataFrame({
        "annotator_id": np.asarray(ann_labels, dtype=object)[grid[0]],
        "true_label": np.asarray(LABELS, dtype=object)[grid[1]],
        "observed_label": np.asarray(LABELS, dtype=object)[grid[2]],
        "probability": cond.reshape(-1), "n": counts.reshape(-1),
    })
    return ConsensusResult(
        labels=labels, confusion=confusion,
        class_prior=pd.Series(prior, index=pd.Index(LABELS, name="label"), name="share"),
        method=method, flip_rate=flip, judgment_error_rate=err, n_judgments=int(data.n_judgments),
        n_comparisons=n_comp, n_annotators=data.n_annotators, converged=bool(converged),
        n_iter=int(n_iter), log_likelihood=ll, warnings=tuple(notes),
    )
