"""Simpson-style reversals: does a pooled direction hold inside each stratum?

Three kinds of direction are checked, pooled over all judgments and inside
every stratum of ``by`` (any judgment column: language, domain, vendor):

* ``win_rate``: for each pair of models, which has the higher win rate
  against the field it met (ties left out). Pooled rates mix strata in
  different proportions per model, so a model can win more often in every
  stratum and still less often overall: the classic Simpson paradox.
* ``head_to_head``: for each pair of models, who wins their direct
  comparisons. A pooled head-to-head rate is an average of the strata's, so
  it can be reversed in some strata but never in all of them.
* ``length``: whether the longer response is chosen more often than not
  (per judgment, ties left out, unequal lengths; needs texts).

Each direction is tested against "no difference" (two-proportion z test for
win rates, exact binomial test of 0.5 otherwise). Many cells are tested at
once (every model pair x stratum, plus length per stratum), so a direction
counts only when its Benjamini-Hochberg q-value is below ``fdr``: the
stratum cells form one family (all kinds together), the pooled directions
another. ``reversals`` lists (1) every stratum cell whose significant
direction opposes a significant pooled one, and (2) every *paradox*: a
significant pooled direction that every stratum with at least ``min_n``
trials opposes, significant or not. On data without reversals the expected
share of reported false reversals is then at most ``fdr``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._stats import bh_qvalues
from .bias._common import (
    binom_two_sided,
    check_confidence_level,
    check_data,
    check_fdr,
    fmt_p,
)
from .bias._lengths import judgment_lengths
from .engine import ScannedData
from .engine.reductions.bias import JudgmentCodes, judgment_codes, stratum_codes
from .errors import InsufficientDataError, SchemaError
from .schema import JUDGMENT_OPTIONAL, JUDGMENT_REQUIRED, PreferenceData

__all__ = ["SimpsonResult", "simpson_check"]

_COLUMNS = ["kind", "subject", "stratum", "pooled_estimate", "pooled_n", "pooled_p_value", "pooled_q_value",
            "estimate", "n", "p_value", "q_value", "reversed", "significant", "paradox", "reason"]


@dataclass(frozen=True, eq=False)
class SimpsonResult:
    """Result of :func:`simpson_check`.

    Attributes
    ----------
    by : tuple of str
        Stratum columns.
    strata : DataFrame
        One row per (kind, subject, stratum) with at least ``min_n`` trials:
        ``kind``, ``subject``, ``stratum``, ``pooled_estimate``, ``pooled_n``,
        ``pooled_p_value``, ``pooled_q_value`` (BH over the pooled
        directions), ``estimate``, ``n``, ``p_value``, ``q_value`` (BH over
        every stratum cell of every kind), ``reversed`` (direction opposes
        the pooled one), ``significant`` (reversed, and both q-values below
        ``fdr``), ``paradox`` and ``reason``. Estimates are rates for
        ``head_to_head`` and ``length`` (null 0.5) and differences of win
        rates for ``win_rate`` (null 0).
    reversals : DataFrame
        The rows of ``strata`` reported as reversals (see the module notes).
    """

    by: tuple[str, ...]
    confidence_level: float
    fdr: float
    min_n: int
    n_judgments: int
    n_strata: int
    strata: pd.DataFrame
    reversals: pd.DataFrame
    skipped: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def n_reversals(self) -> int:
        """Number of reported reversals."""
        return len(self.reversals)

    def to_frame(self) -> pd.DataFrame:
        """Return the reported reversals (tidy: estimate, n, p_value, flagged, reason)."""
        out = self.reversals.copy()
        out["flagged"] = True
        return out

    def summary(self) -> str:
        """Return a plain-text summary."""
        head = (f"Simpson check by {', '.join(self.by)} ({self.n_strata} strata): "
                f"{self.n_reversals} reversal(s) reported (BH q < {self.fdr:g} over "
                f"{len(self.strata):,} stratum cells).")
        lines = [head]
        lines.extend(f"  {r}" for r in self.reversals["reason"].head(20))
        lines.extend(f"  skipped: {s}" for s in self.skipped)
        return "\n".join(lines)


def _validate(data: Any, by: str | Sequence[str], confidence_level: float, fdr: float, min_n: int) -> list[str]:
    check_data(data)
    check_confidence_level(confidence_level)
    check_fdr(fdr)
    cols = [by] if isinstance(by, str) else list(by)
    have = list(data.columns) if isinstance(data, ScannedData) else list(data.judgments.columns)
    if not cols:
        raise SchemaError("`by` must name at least one judgment column, for example by='domain'.")
    missing = [c for c in cols if c not in have]
    if missing:
        extra = [c for c in have if c not in JUDGMENT_REQUIRED + JUDGMENT_OPTIONAL]
        raise SchemaError(f"`by` names column(s) {missing} not in the judgments; stratum columns found: {extra}.")
    if not isinstance(min_n, (int, np.integer)) or min_n < 1:
        raise SchemaError(f"`min_n` must be a positive integer; got {min_n!r}.")
    return cols


def simpson_check(
    data: PreferenceData | ScannedData,
    *,
    by: str | Sequence[str],
    confidence_level: float = 0.95,
    fdr: float = 0.05,
    min_n: int = 20,
) -> SimpsonResult:
    """Compare pooled win-rate and length directions with those inside each stratum.

    Parameters
    ----------
    data : PreferenceData or ScannedData
        Judgments; models are needed for win rates and texts for length.
        Scanned data (``pq.scan``): the stratum labels are computed in the
        engine and only integer codes (and the two displayed lengths) are
        pulled per judgment (:mod:`prefqa.engine.reductions.bias`); the
        result equals the in-memory one.
    by : str or sequence of str
        Judgment column(s) defining the strata; missing values form no stratum.
    confidence_level : float
        Recorded in the result; the marking uses ``fdr`` (earlier versions
        marked a direction at raw ``p < 1 - confidence_level``).
    fdr : float
        Benjamini-Hochberg level: a direction counts when its q-value is
        below ``fdr`` (module notes).
    min_n : int
        Strata with fewer trials for a subject are not compared.

    Returns
    -------
    SimpsonResult

    Raises
    ------
    SchemaError
        Unknown ``by`` columns or bad options.
    InsufficientDataError
        Neither models nor texts: there is nothing to compare.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=120, n_domains=3, rng=5)
    >>> res = pq.simpson_check(data, by="domain")
    >>> res.n_reversals, bool(res.strata["q_value"].ge(res.strata["p_value"]).all())
    (0, True)
    """
    cols = _validate(data, by, confidence_level, fdr, min_n)
    s_code, s_labels = stratum_codes(data, cols)
    given, codes = data, judgment_codes(data)
    choice = codes.choice_codes()
    parts: list[tuple[pd.DataFrame, Any]] = []
    skipped: list[str] = []
    if codes.has_models:
        parts.extend(_model_parts(codes, choice, s_code, s_labels, min_n))
    else:
        skipped.append("win rates: the judgments name no models")
    if codes.has_texts:
        lengths = judgment_lengths(given, "chars", None)
        la, lb = lengths.a, lengths.b
        ok = (choice < 2) & lengths.known & (la != lb)
        won = ((choice == 0) & (la > lb)) | ((choice == 1) & (lb > la))
        parts.append(_rate_part("length", "longer response chosen", ok, won, s_code, s_labels, min_n))
    else:
        skipped.append("length: the judgments carry no response texts")
    if not parts:
        raise InsufficientDataError(
            "the judgments name no models and carry no texts: nothing to compare across strata.")
    strata = _mark(parts, float(fdr))
    report = strata["paradox"] | (strata["reversed"] & strata["significant"])
    return SimpsonResult(
        by=tuple(cols), confidence_level=confidence_level, fdr=float(fdr), min_n=int(min_n),
        n_judgments=codes.n_judgments,
        n_strata=len(s_labels), strata=strata, reversals=strata[report].reset_index(drop=True),
        skipped=tuple(skipped), warnings=(),
    )


def _finish(kind: str, subject: np.ndarray, s_labels: pd.Index, pooled: np.ndarray,
            pooled_n: np.ndarray, pooled_p: np.ndarray, est: np.ndarray, n: np.ndarray, p: np.ndarray,
            null: float, min_n: int, describe: Any) -> tuple[pd.DataFrame, Any]:
    """Rows (one per subject x eligible stratum, flattened) with directions; marking is :func:`_mark`'s."""
    eligible = n >= min_n
    pooled_dir = np.sign(pooled - null)
    reversed_ = eligible & (np.sign(est - null) == -pooled_dir[:, None]) & (pooled_dir[:, None] != 0)
    n_elig = eligible.sum(axis=1)
    all_reversed = (n_elig >= 2) & (reversed_.sum(axis=1) == n_elig)
    rows, cols_ = np.nonzero(eligible)
    frame = pd.DataFrame({
        "kind": kind, "subject": subject[rows], "stratum": s_labels.to_numpy()[cols_].astype(str),
        "pooled_estimate": pooled[rows], "pooled_n": pooled_n[rows].astype(np.int64),
        "pooled_p_value": pooled_p[rows], "estimate": est[rows, cols_], "n": n[rows, cols_].astype(np.int64),
        "p_value": p[rows, cols_], "reversed": reversed_[rows, cols_], "_all_reversed": all_reversed[rows],
        "_pooled_key": rows,
    })
    return frame, describe


def _mark(parts: list[tuple[pd.DataFrame, Any]], fdr: float) -> pd.DataFrame:
    """BH q-values over all stratum cells and over all pooled directions; mark reversals and paradoxes."""
    frames = [f for f, _ in parts]
    strata = pd.concat(frames, ignore_index=True)
    strata["q_value"] = bh_qvalues(strata["p_value"].to_numpy(dtype=np.float64))
    # pooled family: one p-value per (kind, subject), each kind's subjects numbered by _pooled_key
    part_of = np.repeat(np.arange(len(frames)), [len(f) for f in frames])
    key = part_of * (int(strata["_pooled_key"].max()) + 1 if len(strata) else 1) + strata["_pooled_key"].to_numpy()
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    pooled_q = bh_qvalues(strata["pooled_p_value"].to_numpy(dtype=np.float64)[first])
    strata["pooled_q_value"] = pooled_q[inverse] if len(uniq) else np.zeros(0)
    pooled_sig = np.nan_to_num(strata["pooled_q_value"].to_numpy(dtype=np.float64), nan=1.0) < fdr
    cell_sig = np.nan_to_num(strata["q_value"].to_numpy(dtype=np.float64), nan=1.0) < fdr
    reversed_ = strata["reversed"].to_numpy(dtype=bool)
    strata["significant"] = reversed_ & cell_sig & pooled_sig
    strata["paradox"] = reversed_ & pooled_sig & strata["_all_reversed"].to_numpy(dtype=bool)
    report = (strata["significant"] | strata["paradox"]).to_numpy()
    strata["reason"] = ""
    for i, (_, describe) in enumerate(parts):
        rows = np.flatnonzero(report & (part_of == i))
        if len(rows):
            strata.loc[rows, "reason"] = [
                f"{describe(r)} (q {fmt_p(r.q_value)}, pooled q {fmt_p(r.pooled_q_value)})"
                for r in strata.iloc[rows].itertuples(index=False)]
    return strata[_COLUMNS]


def _rate_part(kind: str, subject: str, ok: np.ndarray, won: np.ndarray, s_code: np.ndarray,
               s_labels: pd.Index, min_n: int) -> tuple[pd.DataFrame, Any]:
    ns = len(s_labels)
    use = ok & (s_code >= 0)
    n = np.bincount(s_code[use], minlength=ns).astype(np.float64)[None, :]
    k = np.bincount(s_code[use], weights=won[use].astype(np.float64), minlength=ns)[None, :]
    pooled_n = np.array([ok.sum()], dtype=np.float64)
    pooled_k = np.array([won[ok].sum()], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        est, pooled = k / n, pooled_k / pooled_n

    def describe(r: Any) -> str:
        tag = "Simpson paradox: " if r.paradox else ""
        return (f"{tag}{r.subject}: pooled {r.pooled_estimate:.1%} of {r.pooled_n:,}, but "
                f"{r.estimate:.1%} of {r.n:,} in stratum {r.stratum!r}")

    return _finish(kind, np.array([subject], dtype=object), s_labels, pooled, pooled_n,
                   binom_two_sided(pooled_k, pooled_n), est, n, binom_two_sided(k, n), 0.5, min_n, describe)


def _model_parts(data: JudgmentCodes, choice: np.ndarray, s_code: np.ndarray, s_labels: pd.Index,
                 min_n: int) -> list[tuple[pd.DataFrame, Any]]:
    ca, cb, labels = data.model_codes()
    km, ns = len(labels), len(s_labels)
    ok = (choice < 2) & (ca >= 0) & (cb >= 0) & (ca != cb)
    a_won = (choice == 0).astype(np.float64)
    names = labels.astype(str).to_numpy()
    iu, ju = np.triu_indices(km, 1)
    subjects = np.array([f"{names[i]} vs {names[j]}" for i, j in zip(iu, ju)], dtype=object)

    # head to head: rate at which the lower-coded model of the pair wins
    lo, hi = np.minimum(ca, cb), np.maximum(ca, cb)
    lo_won = np.where(ca < cb, a_won, 1.0 - a_won)
    pair = lo * km + hi
    pair_index = np.full(km * km, -1)
    pair_index[iu * km + ju] = np.arange(len(iu))
    pidx = pair_index[np.where(ok, pair, 0)]
    use = ok & (pidx >= 0)
    npairs = len(iu)
    pooled_n = np.bincount(pidx[use], minlength=npairs).astype(np.float64)
    pooled_k = np.bincount(pidx[use], weights=lo_won[use], minlength=npairs)
    su = use & (s_code >= 0)
    flat = pidx[su] * ns + s_code[su]
    n = np.bincount(flat, minlength=npairs * ns).reshape(npairs, ns).astype(np.float64)
    k = np.bincount(flat, weights=lo_won[su], minlength=npairs * ns).reshape(npairs, ns)
    with np.errstate(invalid="ignore", divide="ignore"):
        h2h = _finish("head_to_head", subjects, s_labels, pooled_k / pooled_n, pooled_n,
                      binom_two_sided(pooled_k, pooled_n), k / n, n, binom_two_sided(k, n), 0.5, min_n,
                      lambda r: (f"{'Simpson paradox: ' if r.paradox else ''}{r.subject.split(' vs ')[0]} beats "
                                 f"{r.subject.split(' vs ')[1]} in {r.pooled_estimate:.1%} of {r.pooled_n:,} pooled "
                                 f"head-to-head judgments, but {r.estimate:.1%} of {r.n:,} in stratum {r.stratum!r}"))

    # win rate against the field: per model, pooled and per stratum
    me = np.concatenate([ca[ok], cb[ok]])
    won = np.concatenate([a_won[ok], 1.0 - a_won[ok]])
    st = np.concatenate([s_code[ok], s_code[ok]])
    gm = np.bincount(me, minlength=km).astype(np.float64)
    gw = np.bincount(me, weights=won, minlength=km)
    sv = st >= 0
    sm = np.bincount(me[sv] * ns + st[sv], minlength=km * ns).reshape(km, ns).astype(np.float64)
    sw = np.bincount(me[sv] * ns + st[sv], weights=won[sv], minlength=km * ns).reshape(km, ns)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled_d, pooled_p = _two_prop(gw[iu], gm[iu], gw[ju], gm[ju])
        est_d, p_d = _two_prop(sw[iu], sm[iu], sw[ju], sm[ju])
    n_min = np.minimum(sm[iu], sm[ju])

    def describe(r: Any) -> str:
        a, b = r.subject.split(" vs ")
        tag = "Simpson paradox: " if r.paradox else ""
        return (f"{tag}{a}'s win rate minus {b}'s is {r.pooled_estimate:+.1%} pooled, but {r.estimate:+.1%} "
                f"in stratum {r.stratum!r} (smaller model count {r.n:,})")

    wr = _finish("win_rate", subjects, s_labels, pooled_d, np.minimum(gm[iu], gm[ju]), pooled_p,
                 est_d, n_min, p_d, 0.0, min_n, describe)
    return [wr, h2h]


def _two_prop(k1: np.ndarray, n1: np.ndarray, k2: np.ndarray, n2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Difference of two proportions and its two-sided pooled-variance z-test p-value."""
    p1, p2 = k1 / n1, k2 / n2
    pp = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pp * (1.0 - pp) * (1.0 / n1 + 1.0 / n2))
    z = np.where(se > 0, (p1 - p2) / np.where(se > 0, se, 1.0), 0.0)
    return p1 - p2, 2.0 * stats.norm.sf(np.abs(z))
