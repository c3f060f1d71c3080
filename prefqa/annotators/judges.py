"""``judge_report``: LLM judges against the human consensus, beside the humans themselves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InsufficientDataError, SchemaError
from ..schema import PreferenceData
from ._metrics import codes_for, length_covariate, length_slopes, position_metrics, ratio
from ._stats import N_LABELS

__all__ = ["JudgeReport", "judge_report"]


@dataclass(frozen=True, eq=False)
class JudgeReport:
    """LLM judges against the human consensus.

    Attributes
    ----------
    table : DataFrame
        One row per annotator (judges first, then humans), indexed by
        ``annotator_id``: ``kind`` ('judge' or 'human'), ``n_judgments``,
        ``n_with_consensus``, ``agreement`` and ``kappa`` (Cohen's, three
        labels: first response, second response, tie) against the human
        consensus with ``kappa_ci_low``/``kappa_ci_high``, ``n_both_orders``,
        ``n_inconsistent``, ``position_consistency``, ``p_a``, ``tie_rate``,
        ``length_slope``, ``length_slope_se``. A human is compared with the
        consensus of the *other* humans.
    judges, humans : tuple of str
        The annotator ids in each group.
    n_judgments : int
        Judgments used.
    n_consensus : int
        Comparisons with a human consensus (a strict plurality of the
        humans' votes).
    n_rejected : int
        Input rows and wide-format cells the reader rejected (for example
        unparseable judge verdicts); they are listed in
        ``data.load_report.rejected`` and ``data.load_report.rejected_values``.
    confidence_level : float
        Level of the kappa intervals.
    warnings : tuple of str
        Plain-language remarks, including what the reader rejected.
    """

    table: pd.DataFrame
    judges: tuple[str, ...]
    humans: tuple[str, ...]
    n_judgments: int
    n_consensus: int
    n_rejected: int
    confidence_level: float
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Return the table in tidy long form: ``annotator_id, kind, metric, estimate, ci_low, ci_high, n``."""
        t = self.table.reset_index()
        rows = []
        for metric, n_col in (("kappa", "n_with_consensus"), ("agreement", "n_with_consensus"),
                              ("position_consistency", "n_both_orders"), ("p_a", "n_judgments"),
                              ("tie_rate", "n_judgments"), ("length_slope", "n_judgments")):
            part = pd.DataFrame({"annotator_id": t["annotator_id"], "kind": t["kind"], "metric": metric,
                                 "estimate": t[metric], "ci_low": np.nan, "ci_high": np.nan, "n": t[n_col]})
            if metric == "kappa":
                part["ci_low"], part["ci_high"] = t["kappa_ci_low"], t["kappa_ci_high"]
            if metric == "length_slope":
                z = stats.norm.ppf(0.5 + self.confidence_level / 2)
                part["ci_low"] = t["length_slope"] - z * t["length_slope_se"]
                part["ci_high"] = t["length_slope"] + z * t["length_slope_se"]
            rows.append(part)
        return pd.concat(rows, ignore_index=True)

    def summary(self) -> str:
        """Return a plain-text comparison of each judge with the humans."""
        t = self.table
        h = t[t["kind"] == "human"]
        lines = [f"LLM judges vs human consensus ({self.n_consensus:,} comparisons with a consensus; "
                 f"{len(self.humans)} humans, {len(self.judges)} judges)."]
        lines.append(f"Humans (median): kappa {h['kappa'].median():.3f}, P(first shown) "
                     f"{h['p_a'].median():.1%}, length slope {h['length_slope'].median():.2f}.")
        for jid, row in t[t["kind"] == "judge"].iterrows():  # one line per judge (a handful)
            cons = ("never judged in both orders" if row["n_both_orders"] == 0 else
                    f"position-consistent on {row['position_consistency']:.1%} of {int(row['n_both_orders'])} "
                    "comparisons judged in both orders")
            lines.append(f"  {jid}: kappa {row['kappa']:.3f} [{row['kappa_ci_low']:.3f}, {row['kappa_ci_high']:.3f}] "
                         f"on {int(row['n_with_consensus']):,} items; P(first shown) {row['p_a']:.1%}; "
                         f"length slope {row['length_slope']:.2f}; {cons}.")
        lines.extend(f"Note: {w}" for w in self.warnings)
        return "\n".join(lines)


def _validate(data: Any, judges: Sequence[str] | None, kind_column: str, confidence_level: float) -> None:
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData; got {type(data).__name__}. Load it with pq.read(...).")
    if not 0 < confidence_level < 1:
        raise SchemaError(f"`confidence_level` must be between 0 and 1 (exclusive); got {confidence_level!r}.")
    if not data.has_annotators:
        raise SchemaError("judge_report needs annotator ids, and every `annotator_id` is missing.")
    if judges is None and kind_column not in data.judgments:
        raise SchemaError(
            f"no column {kind_column!r} marks the LLM judges and `judges` was not given; pass "
            "judges=['gpt-4', ...] or add a column such as annotator_kind with 'human' for people."
        )
    if judges is not None:
        if isinstance(judges, str):
            raise SchemaError(f"`judges` must be a sequence of annotator ids, not one string; use judges=[{judges!r}].")
        known = set(data.codes("annotator_id")[1])
        unknown = [j for j in judges if j not in known]
        if unknown:
            raise SchemaError(f"`judges` names annotators not in the data: {unknown[:5]}; "
                              f"known annotators include {sorted(known)[:5]}.")


def _kappa(judge_lab: np.ndarray, cons_lab: np.ndarray, who: np.ndarray, n_ann: int,
           z: float) -> dict[str, np.ndarray]:
    """Per-annotator Cohen's kappa from a 3 x 3 table of (own label, consensus label)."""
    L = N_LABELS
    tab = np.bincount((who * L + judge_lab) * L + cons_lab, minlength=n_ann * L * L).reshape(n_ann, L, L)
    n = tab.sum(axis=(1, 2)).astype(np.float64)
    po = ratio(np.trace(tab, axis1=1, axis2=2).astype(np.float64), n)
    pe = ratio((tab.sum(axis=2) * tab.sum(axis=1)).sum(axis=1).astype(np.float64), n * n)
    kappa = ratio(po - pe, 1.0 - pe)
    # large-sample SE of kappa, Cohen (1960): sqrt(po (1 - po) / (n (1 - pe)^2))
    se = np.sqrt(ratio(po * (1 - po), n * (1 - pe) ** 2))
    return {"n_with_consensus": n, "agreement": po, "kappa": kappa,
            "kappa_ci_low": kappa - z * se, "kappa_ci_high": kappa + z * se}


def judge_report(
    data: PreferenceData,
    *,
    judges: Sequence[str] | None = None,
    kind_column: str = "annotator_kind",
    confidence_level: float = 0.95,
) -> JudgeReport:
    """Compare LLM judges with the human consensus and with the humans' own biases.

    Parameters
    ----------
    data : PreferenceData
        Judgments by humans and LLM judges on shared comparisons.
    judges : sequence of str, optional
        Annotator ids of the LLM judges. Default: every annotator whose
        ``kind_column`` value is not ``'human'`` (case-insensitive).
    kind_column : str
        Judgment column marking each annotator's kind ('human', 'llm', ...).
    confidence_level : float
        Level of the kappa intervals (large-sample SE of Cohen, 1960).

    Returns
    -------
    JudgeReport

    Notes
    -----
    The human consensus of a comparison is the strict plurality of the
    humans' oriented votes (first response, second response, tie); a
    comparison whose top count is shared has none. Kappa is Cohen's over
    those three labels. Position consistency counts (annotator, comparison)
    pairs judged in both display orders; a pair is inconsistent when the
    two verdicts name different responses (or one is a tie). ``p_a`` and
    ``length_slope`` are as in :func:`prefqa.annotator_table`. Rows the
    reader rejected (for example unparseable verdicts) are counted in
    ``n_rejected`` and described in ``warnings``: they are not silently lost.

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> data, _ = pq.simulate(n_prompts=60, n_annotators=4, judgments_per_comparison=4,
    ...                       n_always_a=1, rng=2)
    >>> j = data.judgments.assign(annotator_kind=lambda d: d["annotator_id"].map(
    ...     lambda a: "llm" if a == "ann-000" else "human"))
    >>> rep = pq.judge_report(pq.PreferenceData(j, data.responses, data.prompts))
    >>> rep.judges, rep.table.loc["ann-000", "kind"]
    (('ann-000',), 'judge')
    """
    _validate(data, judges, kind_column, confidence_level)
    index, c = codes_for(data)
    labels = index.to_numpy()
    if judges is None:
        kinds = data.judgments[kind_column].astype("str").str.lower().to_numpy(dtype=object)[c.mask]
        is_judge_row = kinds != "human"
        judge_set = set(labels[np.unique(c.ann[is_judge_row])])
    else:
        judge_set = set(judges)
    is_judge = np.isin(labels, list(judge_set))
    if is_judge.all() or not is_judge.any():
        raise InsufficientDataError(
            f"judge_report needs both humans and judges; found {int(is_judge.sum())} judge(s) and "
            f"{int((~is_judge).sum())} human(s). Mark people with {kind_column}='human' or pass `judges`."
        )
    L = N_LABELS
    z = stats.norm.ppf(0.5 + confidence_level / 2)
    human_row = ~is_judge[c.ann]
    hc = np.bincount(c.comp[human_row] * L + c.oriented[human_row],
                     minlength=c.n_comp * L).reshape(c.n_comp, L)

    def plurality(counts: np.ndarray) -> np.ndarray:
        top = counts.max(axis=1)
        unique_top = (counts == top[:, None]).sum(axis=1) == 1
        return np.where((top > 0) & unique_top, counts.argmax(axis=1), -1)

    consensus = plurality(hc)
    # judges against the full human consensus
    cons_j = consensus[c.comp]
    use_j = ~human_row & (cons_j >= 0)
    kj = _kappa(c.oriented[use_j], cons_j[use_j], c.ann[use_j], c.n_ann, z)
    # humans against the consensus of the other humans (leave their own votes out)
    key = c.comp * c.n_ann + c.ann
    uniq, grp = np.unique(key, return_inverse=True)
    own = np.bincount(grp * L + c.oriented, weights=human_row.astype(float),
                      minlength=len(uniq) * L).reshape(-1, L)
    loo = plurality(hc[c.comp] - own[grp])
    use_h = human_row & (loo >= 0)
    kh = _kappa(c.oriented[use_h], loo[use_h], c.ann[use_h], c.n_ann, z)
    table = pd.DataFrame(index=index)
    table["kind"] = np.where(is_judge, "judge", "human")
    table["n_judgments"] = c.count().astype(np.int64)
    for col in kj:
        table[col] = np.where(is_judge, kj[col], kh[col])
    table["n_with_consensus"] = table["n_with_consensus"].astype(np.int64)
    # position consistency: first verdict per (annotator, comparison, display order)
    flipped = data.flipped()[c.mask].astype(np.int64)
    k2 = grp * 2 + flipped
    _, first = np.unique(k2, return_index=True)
    verdict = np.full(len(uniq) * 2, -1, dtype=np.int64)
    verdict[k2[first]] = c.oriented[first]
    v = verdict.reshape(-1, 2)
    both = (v >= 0).all(axis=1)
    grp_ann = (uniq % c.n_ann).astype(np.int64)
    n_both = np.bincount(grp_ann[both], minlength=c.n_ann)
    n_inc = np.bincount(grp_ann[both & (v[:, 0] != v[:, 1])], minlength=c.n_ann)
    table["n_both_orders"] = n_both
    table["n_inconsistent"] = n_inc
    table["position_consistency"] = ratio(n_both - n_inc, n_both)
    order_key = np.arange(int(c.mask.sum()))
    pos = position_metrics(c, order_key)
    table["p_a"] = pos["p_a"] if data.order_known else np.nan
    table["tie_rate"] = ratio(c.count(where=c.oriented == 2), c.count())
    warn: list[str] = []
    if data.has_texts:
        x = length_covariate(data)[c.mask]
        _, _, slope, se = length_slopes(c, x, 2)
        table["length_slope"], table["length_slope_se"] = slope, se
    else:
        table["length_slope"] = table["length_slope_se"] = np.nan
        warn.append("no response texts: length slopes are empty.")
    if not data.order_known:
        warn.append("display order unknown: P(first shown) and position consistency carry no signal.")
    n_rejected = 0
    report = data.load_report
    if report is not None:
        # whole rows, and single verdict cells inside rows that were kept (wide format)
        for rej, what in ((report.rejected, "input row(s)"), (report.rejected_values, "judgment cell(s)")):
            if len(rej):
                n_rejected += len(rej)
                reasons = rej["reason"].astype(str).value_counts()
                listed = "; ".join(f"{r} ({n})" for r, n in reasons.head(5).items())
                warn.append(f"the reader rejected {len(rej)} {what}, not counted here: {listed}.")
    table = pd.concat([table[is_judge], table[~is_judge]])
    return JudgeReport(
        table=table, judges=tuple(labels[is_judge]), humans=tuple(labels[~is_judge]),
        n_judgments=int(c.mask.sum()), n_consensus=int((consensus >= 0).sum()), n_rejected=n_rejected,
        confidence_level=confidence_level, warnings=tuple(warn),
    )
