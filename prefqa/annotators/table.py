"""``annotator_table``: one row per annotator with quality metrics, tests, flags and plain reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._stats import bh_qvalues, wilson_interval
from ..errors import SchemaError
from ..schema import PreferenceData
from ._metrics import (
    agreement_metrics, codes_for, length_covariate, length_slopes, position_metrics, ratio,
)
from ._consensus import check_consensus
from ._consensus import consensus_posterior
from ._model import model_effects
from ._stats import outlier_test, prop_se, run_pvalue

__all__ = ["TESTS", "annotator_table"]

#: Test types of the table, in column order; each gets ``p_<test>`` and ``q_<test>``.
TESTS: tuple[str, ...] = ("agreement", "position", "tie", "length", "speed", "run", "gold", "leniency")
_MIN_GOLD = 5  # gold items an annotator needs before its gold accuracy is tested

_COLUMNS = (
    "n_judgments", "n_scored", "loo_agreement", "loo_kappa", "loo_kappa_se", "n_repeat_units",
    "intra_agreement", "intra_alpha", "ds_accuracy", "p_a", "p_a_ci_low", "p_a_ci_high", "position_logit",
    "position_logit_se", "tie_rate", "length_slope", "length_slope_se", "leniency", "n_ratings",
    "median_seconds", "fast", "longest_run", "n_gold", "gold_accuracy",
)


def _validate(data: Any, confidence_level: float, min_judgments: int, fast_seconds: float | None,
              max_run: int | None, fdr: float, consensus: Any) -> None:
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData; got {type(data).__name__}. Load it with pq.read(...).")
    if not 0 < confidence_level < 1:
        raise SchemaError(f"`confidence_level` must be between 0 and 1 (exclusive); got {confidence_level!r}.")
    if not 0 < fdr < 1:
        raise SchemaError(f"`fdr` is a false discovery rate in (0, 1); got {fdr!r}.")
    if isinstance(min_judgments, bool) or not isinstance(min_judgments, (int, np.integer)) or min_judgments < 2:
        raise SchemaError(f"`min_judgments` must be an integer >= 2; got {min_judgments!r}.")
    if fast_seconds is not None and not (np.isfinite(fast_seconds) and fast_seconds > 0):
        raise SchemaError(f"`fast_seconds` must be a positive number of seconds or None; got {fast_seconds!r}.")
    if max_run is not None and (isinstance(max_run, bool) or not isinstance(max_run, (int, np.integer))
                                or max_run < 2):
        raise SchemaError(f"`max_run` must be an integer >= 2 or None; got {max_run!r}.")
    if consensus is not None:
        check_consensus(consensus)
    if "gold" in data.judgments:
        g = data.judgments["gold"].dropna().astype(str)
        bad = ~g.isin(["a", "b", "tie"])
        if bad.any():
            raise SchemaError(
                f"`gold` must hold the correct displayed choice ('a', 'b', 'tie') or be missing; "
                f"found {g[bad].unique()[:3].tolist()} in {int(bad.sum())} row(s)."
            )


def _q_text(q: float) -> str:
    return "q < 0.001" if q < 0.001 else f"q = {q:.3f}"


def _order_key(data: PreferenceData, mask: np.ndarray) -> tuple[np.ndarray, bool]:
    """Sort key of the judgments and whether it is the annotation (timestamp) order."""
    j = data.judgments
    if "timestamp" in j and j["timestamp"].notna().any():
        ts = pd.to_datetime(j["timestamp"], errors="coerce", utc=True)
        if ts.notna().all():
            return ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)[mask], True
    return np.arange(len(j))[mask], False


def _leniency(data: PreferenceData, index: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean score minus the leave-one-out mean of the same response, per annotator, with its SE."""
    n_ann = len(index)
    nan = np.full(n_ann, np.nan)
    r = data.ratings
    if r is None or not len(r):
        return nan, nan, np.zeros(n_ann)
    ok = r["annotator_id"].notna() & r["score"].notna()
    a = index.get_indexer(r.loc[ok, "annotator_id"])
    resp, _ = pd.factorize(r.loc[ok, "response_id"])
    s = r.loc[ok, "score"].to_numpy(dtype=np.float64)
    tot = np.bincount(resp, weights=s)
    cnt = np.bincount(resp).astype(np.float64)
    use = cnt[resp] >= 2
    resid = s[use] - (tot[resp[use]] - s[use]) / (cnt[resp[use]] - 1)
    au = a[use]
    n = np.bincount(au, minlength=n_ann).astype(np.float64)
    mean = ratio(np.bincount(au, weights=resid, minlength=n_ann), n)
    ss = np.bincount(au, weights=(resid - mean[au]) ** 2, minlength=n_ann)
    se = np.sqrt(ratio(ss, n * np.maximum(n - 1, 1)))
    return mean, se, n


def annotator_table(
    data: PreferenceData,
    *,
    confidence_level: float = 0.95,
    min_judgments: int = 20,
    fast_seconds: float | None = None,
    max_run: int | None = None,
    fdr: float = 0.05,
    consensus: Any = None,
    model: Any = None,
) -> pd.DataFrame:
    """Return one row per annotator: agreement, biases, speed, straight-lining, flags and reasons.

    Parameters
    ----------
    data : PreferenceData
        Judgments with ``annotator_id``. Uses ``seconds``, ``timestamp``,
        a ``gold`` column (the correct displayed choice) and ``ratings``
        when present.
    confidence_level : float
        Level of the Wilson interval on ``p_a``.
    min_judgments : int
        Annotators with fewer judgments get their metrics but no tests
        (their p- and q-values are NaN and they are not in any BH family).
    fast_seconds : float, optional
        Median seconds per judgment below which an annotator is ``fast``
        (and flagged). Default: a quarter of the median annotator's median.
    max_run : int, optional
        Flag any run of this many identical displayed choices outright, in
        addition to the run test.
    fdr : float
        Benjamini-Hochberg false discovery rate for ``flagged``.
    consensus : ConsensusResult, optional
        A ``pq.consensus(data, method="dawid_skene")`` result to reuse for
        ``ds_accuracy`` (its ``p_1``, ``p_2``, ``p_tie`` posteriors). Without
        it, ``pq.consensus(data, method="dawid_skene")`` is run here (above
        100,000 judgments on one comparison in k, then one E-step for all;
        ``attrs['notes']`` says so).
    model : MixedModelResult, optional
        A fitted ``pq.fit_preference_model(data)`` (annotator random
        intercept and length slope). When given, ``position_logit`` and
        ``length_slope`` (and their SEs) are the fixed effect plus the
        annotator's conditional mode, net of model quality and of the other
        covariates, and the length test uses them. Without it they come from
        a per-annotator logistic regression of choosing ``a`` on the length
        covariate (intercept = position log-odds at equal lengths).

    Returns
    -------
    DataFrame
        Indexed by ``annotator_id``. Metrics: ``n_judgments``,
        ``n_scored``, ``loo_agreement``, ``loo_kappa``, ``loo_kappa_se``
        (against the plurality of the other annotators of the same
        comparison, from :func:`prefqa.reliability.annotator_agreement`),
        ``n_repeat_units``, ``intra_agreement``, ``intra_alpha`` (agreement
        with itself on comparisons judged more than once), ``ds_accuracy``
        (Dawid-Skene posterior of its labels, :func:`prefqa.consensus`),
        ``p_a`` (share of non-tie judgments choosing the response shown
        first, with Wilson ``p_a_ci_low``/``p_a_ci_high``),
        ``position_logit`` and ``position_logit_se``, ``tie_rate``,
        ``length_slope`` and ``length_slope_se`` (see ``model``; ties
        dropped; on prefqa's length covariate), ``leniency`` (ratings:
        mean score minus the other raters' mean of the same response),
        ``n_ratings``,
        ``median_seconds``, ``fast``, ``longest_run``, ``n_gold``,
        ``gold_accuracy``. Then ``p_<test>`` and ``q_<test>`` for each test
        in :data:`TESTS`, ``flagged``, ``reason`` and ``notes`` (why empty
        columns are empty). ``attrs`` holds ``notes``, the ``pool`` values
        and the settings.

    Notes
    -----
    Every test asks whether the annotator is an outlier from the annotator
    population: its estimate is compared with the median annotator's, with
    variance = its own sampling variance (binomial at the median for rates)
    plus a between-annotator variance estimated robustly from the MAD
    (see ``prefqa.annotators._stats.outlier_test``). So ordinary spread among
    good annotators is not flagged, and a minority of biased annotators
    cannot move the reference. Tests: ``agreement`` (loo agreement, lower
    side), ``position`` (``p_a``, two-sided), ``tie`` (two-sided),
    ``length`` (slope, two-sided; from ``model`` when given), ``speed``
    (mean log seconds, lower side),
    ``run`` (longest run against i.i.d. choices with the median annotator's
    choice shares, Poisson approximation), ``gold`` (lower side, at least 5
    gold items) and ``leniency`` (two-sided).

    ``loo_agreement`` is agreement with the *plurality* of the other
    annotators of the comparison, the definition of
    :func:`prefqa.reliability.annotator_agreement` (judgments whose others
    are absent or tied are not scored; ``n_scored`` counts the rest).

    **BH is applied within each test type, across the annotators with at
    least** ``min_judgments`` **judgments**: ``q_position`` controls the FDR
    among position flags, and so on. ``flagged`` is true when any
    ``q_<test>`` is below ``fdr``, when ``fast`` is true, or when
    ``longest_run >= max_run``; ``reason`` gives each cause in plain words.

    **Straight-lining is tested only in annotation order**, i.e. when every
    judgment has a ``timestamp``. Row order is often grouped by prompt or
    item (PandaLM's rows are), and consecutive similar items give careful
    annotators long runs of the same answer; so without timestamps
    ``longest_run`` is reported in row order for reference, ``p_run`` is
    empty and ``notes`` says why. ``max_run`` is an explicit rule and
    applies in whichever order is used.

    Display order unknown (``data.order_known`` false): ``p_a`` and
    ``longest_run`` and their tests are NaN, and ``notes`` says so. Judgments
    without an annotator id are left out; with none at all the table is
    empty and ``attrs['notes']`` says why.

    Examples
    --------
    >>> import prefqa as pq
    >>> data, truth = pq.simulate(n_prompts=150, n_annotators=10, n_always_a=1, rng=3)
    >>> table = pq.annotator_table(data)
    >>> table.index[table["flagged"]].tolist() == truth.flagged_annotators().tolist()
    True
    >>> print(table.loc[table["flagged"], "reason"].iloc[0].split(";")[0])
    chooses the first response in 100% of its non-tie judgments (pool 48%), q < 0.001
    """
    _validate(data, confidence_level, min_judgments, fast_seconds, max_run, fdr, consensus)
    index, c = codes_for(data)
    effects = model_effects(model, index) if model is not None else None
    j = data.judgments
    notes: list[str] = []
    n_missing = int((~c.mask).sum())
    if n_missing:
        notes.append(f"{n_missing:,} judgment(s) have no `annotator_id` and are left out of this table.")
    out = pd.DataFrame(index=index)
    for col in _COLUMNS:
        out[col] = np.nan
    for t in TESTS:
        out[f"p_{t}"] = np.nan
        out[f"q_{t}"] = np.nan
    out["fast"] = False
    out["flagged"] = False
    out["reason"] = ""
    if not len(index):
        notes.append("no judgment names its annotator (`annotator_id` is missing everywhere), so there is "
                     "nothing to tabulate; read data that keeps annotator ids.")
        out["notes"] = ""
        out.attrs.update(notes=tuple(notes), pool={}, fdr=fdr, min_judgments=min_judgments)
        return out

    n = c.count()
    out["n_judgments"] = n
    valid = n >= min_judgments
    pool: dict[str, float] = {}
    ps: dict[str, np.ndarray] = {}
    row_notes = np.full(len(index), "", dtype=object)
    few = (n < min_judgments)
    row_notes[few] = np.char.add(np.char.add("too few judgments (", n[few].astype(int).astype(str)),
                                 f" < min_judgments {min_judgments}) to test; ").astype(object)

    # agreement with the other annotators, Dawid-Skene
    posterior, ds_converged, ds_note = consensus_posterior(consensus, data)
    if ds_note:
        notes.append(ds_note)
    agr = agreement_metrics(data, c, posterior)
    for col in ("n_scored", "loo_agreement", "loo_kappa", "loo_kappa_se", "n_repeat_units", "intra_agreement",
                "intra_alpha", "ds_accuracy"):
        out[col] = agr[col]
    n_scored = np.nan_to_num(agr["n_scored"])
    v = valid & (n_scored > 0)
    centre = float(np.nanmedian(agr["loo_agreement"][v])) if v.any() else np.nan
    ps["agreement"], _, pool["loo_agreement"] = outlier_test(
        agr["loo_agreement"], prop_se(centre, n_scored), v, side="less")
    if not (n_scored > 0).any():
        notes.append("no comparison has a leave-one-out consensus (judged by two or more other annotators "
                     "without a tie between them): agreement columns are empty.")
    if not (np.nan_to_num(agr["n_repeat_units"]) > 0).any():
        notes.append("no annotator judged a comparison twice: intra-rater columns are empty.")

    # tie rate
    tie = ratio(c.count(where=c.oriented == 2), n)
    out["tie_rate"] = tie
    centre = float(np.nanmedian(tie[valid])) if valid.any() else np.nan
    ps["tie"], _, pool["tie_rate"] = outlier_test(tie, prop_se(centre, n), valid)

    # display position: P(a) and straight-lining
    order_key, in_time = _order_key(data, c.mask)
    if data.order_known:
        pos = position_metrics(c, order_key)
        out["p_a"] = pos["p_a"]
        lo, hi = wilson_interval(pos["k_a"], pos["n_non_tie"], confidence_level)
        out["p_a_ci_low"], out["p_a_ci_high"] = lo, hi
        vv = valid & (pos["n_non_tie"] > 0)
        centre = float(np.nanmedian(pos["p_a"][vv])) if vv.any() else np.nan
        ps["position"], _, pool["p_a"] = outlier_test(pos["p_a"], prop_se(centre, pos["n_non_tie"]), vv)
        out["longest_run"] = pos["longest_run"]
        shares = np.nanmedian(pos["choice_shares"][valid], axis=0) if valid.any() else np.full(3, np.nan)
        shares = shares / np.nansum(shares)
        if in_time:
            p_run = run_pvalue(pos["longest_run"], n, np.nan_to_num(shares))
            ps["run"] = np.where(valid, p_run, np.nan)
            notes.append("runs of identical choices are counted and tested in timestamp order.")
        else:
            notes.append("no complete `timestamp`: `longest_run` is counted in row order, which need not be the "
                         "annotation order (rows grouped by prompt give careful annotators long runs), so "
                         "straight-lining is not tested; add timestamps to test it.")
    else:
        notes.append("display order unknown (order_known=False): `p_a`, `longest_run` and their tests "
                     "are empty, since a/b were placed by a hash and carry no position signal.")
        row_notes += "display order unknown: no position or run statistics; "

    # length preference
    if effects is not None:
        for col, values in effects.items():
            out[col] = values
        ps["length"], _, pool["length_slope"] = outlier_test(effects["length_slope"], effects["length_slope_se"],
                                                             valid)
        notes.append("`position_logit` and `length_slope` are the crossed model's fixed effect plus each "
                     "annotator's conditional mode.")
    elif data.has_texts:
        x = length_covariate(data)[c.mask]
        b0, b0_se, slope, se = length_slopes(c, x, min_judgments)
        out["position_logit"], out["position_logit_se"] = b0, b0_se
        out["length_slope"], out["length_slope_se"] = slope, se
        ps["length"], _, pool["length_slope"] = outlier_test(slope, se, valid)
    else:
        notes.append("no response texts: `length_slope` and the length test are empty.")
        row_notes += "no response texts: no length slope; "

    # speed
    if "seconds" in j and j["seconds"].notna().any():
        s = j["seconds"].to_numpy(dtype=np.float64)[c.mask]
        ok = np.isfinite(s) & (s > 0)
        med = pd.Series(s[ok]).groupby(c.ann[ok]).median().reindex(range(len(index))).to_numpy()
        out["median_seconds"] = med
        typical = float(np.nanmedian(med[valid] if valid.any() else med))
        threshold = fast_seconds if fast_seconds is not None else 0.25 * typical
        out["fast"] = np.nan_to_num(med, nan=np.inf) < threshold
        logs = np.log(s[ok])
        ns = c.count(where=ok)
        mean = ratio(np.bincount(c.ann[ok], weights=logs, minlength=len(index)), ns)
        ss = np.bincount(c.ann[ok], weights=(logs - mean[c.ann[ok]]) ** 2, minlength=len(index))
        se_s = np.sqrt(ratio(ss, ns * np.maximum(ns - 1, 1)))
        ps["speed"], _, _ = outlier_test(mean, se_s, valid & (ns >= 2), side="less")
        pool["median_seconds"] = float(np.nanmedian(med[valid])) if valid.any() else np.nan
        pool["fast_seconds"] = float(threshold)
    else:
        notes.append("no `seconds` column: speed columns are empty.")

    # gold items
    if "gold" in j:
        g = j["gold"].to_numpy(dtype=object)[c.mask]
        has = pd.notna(g)
        correct = has & (j["choice"].to_numpy(dtype=object)[c.mask] == g)
        ng = c.count(where=has)
        acc = ratio(c.count(where=correct), ng)
        out["n_gold"], out["gold_accuracy"] = ng, acc
        vg = ng >= _MIN_GOLD
        centre = float(np.nanmedian(acc[vg])) if vg.any() else np.nan
        ps["gold"], _, pool["gold_accuracy"] = outlier_test(acc, prop_se(centre, ng), vg, side="less")

    # leniency on ratings
    if data.ratings is not None:
        len_mean, len_se, n_r = _leniency(data, index)
        out["leniency"], out["n_ratings"] = len_mean, n_r
        ps["leniency"], _, pool["leniency"] = outlier_test(len_mean, len_se, n_r >= min_judgments)
    else:
        notes.append("no ratings: `leniency` is empty.")

    for t in TESTS:
        p = ps.get(t)
        if p is not None:
            out[f"p_{t}"] = p
            out[f"q_{t}"] = bh_qvalues(p)
    out["notes"] = row_notes
    out["notes"] = out["notes"].str.rstrip("; ")
    _flag(out, pool, fdr, max_run)
    out.attrs.update(notes=tuple(notes), pool=pool, fdr=fdr, min_judgments=min_judgments,
                     confidence_level=confidence_level, ds_converged=ds_converged)
    return out


def _flag(out: pd.DataFrame, pool: dict[str, float], fdr: float, max_run: int | None) -> None:
    """Set ``flagged`` and ``reason`` from the q-values and the hard rules (a handful of tests)."""
    reasons = pd.DataFrame(index=out.index)
    q = {t: out[f"q_{t}"].to_numpy() for t in TESTS}

    def add(name: str, hit: np.ndarray, text: pd.Series) -> None:
        reasons[name] = np.where(hit, text, "")

    def qs(t: str) -> pd.Series:
        return pd.Series([_q_text(v) if np.isfinite(v) else "" for v in q[t]], index=out.index)

    def pct(col: str) -> pd.Series:
        return (out[col] * 100).round().astype("Int64").astype(str) + "%"

    def sig(t: str) -> np.ndarray:
        return np.nan_to_num(q[t], nan=1.0) < fdr

    if sig("position").any():
        add("position", sig("position"), "chooses the first response in " + pct("p_a") +
            f" of its non-tie judgments (pool {pool.get('p_a', np.nan):.0%}), " + qs("position"))
    if sig("agreement").any():
        add("agreement", sig("agreement"), "agrees with the other annotators of the same comparison " +
            pct("loo_agreement") + f" of the time (pool {pool.get('loo_agreement', np.nan):.0%}), " + qs("agreement"))
    if sig("tie").any():
        add("tie", sig("tie"), "calls " + pct("tie_rate") +
            f" of comparisons a tie (pool {pool.get('tie_rate', np.nan):.0%}), " + qs("tie"))
    if sig("length").any():
        side = np.where(out["length_slope"] > pool.get("length_slope", 0.0), "longer", "shorter")
        add("length", sig("length"), "prefers the " + pd.Series(side, index=out.index) +
            " response: length slope " + out["length_slope"].map("{:.2f}".format) +
            f" (pool {pool.get('length_slope', np.nan):.2f}), " + qs("length"))
    fast = out["fast"].to_numpy(dtype=bool)
    if fast.any() or sig("speed").any():
        text = ("median " + out["median_seconds"].map("{:.1f}".format) + " s per judgment (pool " +
                f"{pool.get('median_seconds', np.nan):.1f} s, fast below {pool.get('fast_seconds', np.nan):.1f} s)")
        add("speed", fast | sig("speed"), text + np.where(sig("speed"), ", " + qs("speed"), ""))
    runs = out["longest_run"].to_numpy()
    hard = np.zeros(len(out), dtype=bool) if max_run is None else np.nan_to_num(runs) >= max_run
    if sig("run").any() or hard.any():
        add("run", sig("run") | hard, "made " + out["longest_run"].fillna(0).astype(int).astype(str) +
            " identical choices in a row (straight-lining), " + qs("run"))
    if sig("gold").any():
        add("gold", sig("gold"), "gets " + pct("gold_accuracy") +
            f" of gold items right (pool {pool.get('gold_accuracy', np.nan):.0%}), " + qs("gold"))
    if sig("leniency").any():
        add("leniency", sig("leniency"), "scores " + out["leniency"].map("{:+.2f}".format) +
            " points off the other raters of the same responses, " + qs("leniency"))
    text = pd.Series("", index=out.index, dtype="str")
    for name in reasons.columns:  # a handful of test types
        part = reasons[name].astype(str).str.rstrip(", ")
        text = text + np.where((text != "") & (part != ""), "; ", "") + part
    out["reason"] = text
    out["flagged"] = (text != "").to_numpy()
