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
from ._gold import check_gold_column, check_min_gold_accuracy, gold_accuracy_test
from ._metrics import codes_for, ratio
from ._shared import shared_tests
from ._stats import N_LABELS

__all__ = ["JudgeReport", "judge_report"]


@dataclass(frozen=True, eq=False)
class JudgeReport:
    """LLM judges against the human consensus and against gold labels.

    Attributes
    ----------
    table : DataFrame
        One row per annotator (judges first, then humans), indexed by
        ``annotator_id``: ``kind`` ('judge' or 'human'), ``n_judgments``,
        ``n_with_consensus``, ``agreement`` and ``kappa`` (Cohen's, three
        labels: first response, second response, tie) against the human
        consensus with ``kappa_ci_low``/``kappa_ci_high`` (NaN without
        humans; a human is compared with the consensus of the *other*
        humans); gold ``n_gold``, ``gold_accuracy``, ``gold_ci_low``,
        ``gold_ci_high``, ``p_gold``, ``q_gold``, ``flagged_gold`` (NaN
        without a ``gold`` column); position ``n_both_orders``,
        ``n_inconsistent``, ``position_consistency``, ``q_consistency``,
        ``p_a``, ``p_a_ci_low``, ``p_a_ci_high``, ``q_position``; ``tie_rate``;
        length ``length_slope``, ``length_slope_se``, ``q_length``. The
        gold, position and length columns are those of
        :func:`prefqa.annotator_table` (one implementation each).
    judges, humans : tuple of str
        The annotator ids in each group.
    n_judgments : int
        Judgments used.
    n_consensus : int
        Comparisons with a human consensus (a strict plurality of the
        humans' votes); 0 without humans.
    n_gold : int
        Judgments with a gold label.
    min_gold_accuracy : float
        Reference of the one-sided gold test.
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
    n_gold: int = 0
    min_gold_accuracy: float = 0.6
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Return the table in tidy long form: ``annotator_id, kind, metric, estimate, ci_low, ci_high, n``."""
        t = self.table.reset_index()
        z = stats.norm.ppf(0.5 + self.confidence_level / 2)
        rows = []
        specs = (("kappa", "n_with_consensus", "kappa_ci_low", "kappa_ci_high"),
                 ("agreement", "n_with_consensus", None, None),
                 ("gold_accuracy", "n_gold", "gold_ci_low", "gold_ci_high"),
                 ("position_consistency", "n_both_orders", None, None),
                 ("p_a", "n_judgments", "p_a_ci_low", "p_a_ci_high"),
                 ("tie_rate", "n_judgments", None, None), ("length_slope", "n_judgments", None, None))
        for metric, n_col, lo, hi in specs:
            part = pd.DataFrame({"annotator_id": t["annotator_id"], "kind": t["kind"], "metric": metric,
                                 "estimate": t[metric], "ci_low": t[lo] if lo else np.nan,
                                 "ci_high": t[hi] if hi else np.nan, "n": t[n_col]})
            if metric == "length_slope":
                part["ci_low"] = t["length_slope"] - z * t["length_slope_se"]
                part["ci_high"] = t["length_slope"] + z * t["length_slope_se"]
            rows.append(part)
        return pd.concat(rows, ignore_index=True)

    def summary(self) -> str:
        """Return a plain-text comparison of each judge with the humans and with gold."""
        t = self.table
        h = t[t["kind"] == "human"]
        if self.humans:
            lines = [(f"LLM judges vs human consensus ({self.n_consensus:,} comparisons with a consensus; "
                      f"{len(self.humans)} humans, {len(self.judges)} judges).")]
            lines.append(f"Humans (median): kappa {h['kappa'].median():.3f}, P(first shown) "
                         f"{h['p_a'].median():.1%}, length slope {h['length_slope'].median():.2f}.")
        else:
            lines = [(f"LLM judges on gold labels ({self.n_gold:,} gold judgments; no human judgments; "
                      f"{len(self.judges)} judges).")]
        for jid, row in t[t["kind"] == "judge"].iterrows():  # one line per judge (a handful)
            parts = []
            if self.humans:
                parts.append(f"kappa {row['kappa']:.3f} [{row['kappa_ci_low']:.3f}, {row['kappa_ci_high']:.3f}] "
                             f"on {int(row['n_with_consensus']):,} items")
            if np.isfinite(row["gold_accuracy"]):
                below = " (below min_gold_accuracy)" if row["flagged_gold"] else ""
                parts.append(f"gold accuracy {row['gold_accuracy']:.1%} [{row['gold_ci_low']:.1%}, "
                             f"{row['gold_ci_high']:.1%}] on {int(row['n_gold']):,} judgments{below}")
            parts.append(f"P(first shown) {row['p_a']:.1%}")
            parts.append(f"length slope {row['length_slope']:.2f}")
            parts.append("never judged in both orders" if not row["n_both_orders"] else
                         f"position-consistent on {row['position_consistency']:.1%} of "
                         f"{int(row['n_both_orders'])} comparisons judged in both orders")
            lines.append(f"  {jid}: " + "; ".join(parts) + ".")
        lines.extend(f"Note: {w}" for w in self.warnings)
        return "\n".join(lines)


def _validate(data: Any, judges: Sequence[str] | None, kind_column: str, confidence_level: float,
              fdr: float, min_gold_accuracy: float) -> None:
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData; got {type(data).__name__}. Load it with pq.read(...).")
    if isinstance(confidence_level, bool) or not isinstance(confidence_level, (int, float)) \
            or not 0 < confidence_level < 1:
        raise SchemaError(f"`confidence_level` must be between 0 and 1 (exclusive); got {confidence_level!r}.")
    if isinstance(fdr, bool) or not isinstance(fdr, (int, float)) or not 0 < fdr < 1:
        raise SchemaError(f"`fdr` is a false discovery rate in (0, 1); got {fdr!r}.")
    check_min_gold_accuracy(min_gold_accuracy)
    check_gold_column(data)
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
    fdr: float = 0.05,
    min_gold_accuracy: float = 0.6,
    min_judgments: int = 20,
) -> JudgeReport:
    """Compare LLM judges with the human consensus, with gold labels and with the humans' own biases.

    Parameters
    ----------
    data : PreferenceData
        Judgments by LLM judges, with humans on shared comparisons and/or a
        ``gold`` column (the correct displayed choice).
    judges : sequence of str, optional
        Annotator ids of the LLM judges. Default: every annotator whose
        ``kind_column`` value is not ``'human'`` (case-insensitive).
    kind_column : str
        Judgment column marking each annotator's kind ('human', 'llm', ...).
    confidence_level : float
        Level of the kappa, gold-accuracy and P(first shown) intervals.
    fdr : float
        Benjamini-Hochberg level of the gold, position and consistency flags.
    min_gold_accuracy : float
        Reference of the one-sided gold-accuracy test (as in
        :func:`prefqa.annotator_table`).
    min_judgments : int
        Fewest usable judgments for a length slope (as in the table).

    Returns
    -------
    JudgeReport

    Raises
    ------
    InsufficientDataError
        No judge, or judges only with neither humans nor gold labels.

    Notes
    -----
    The human consensus of a comparison is the strict plurality of the
    humans' oriented votes (first response, second response, tie); a
    comparison whose top count is shared has none. Kappa is Cohen's over
    those three labels, with the large-sample SE of Cohen (1960). Without
    humans, the report rests on gold: accuracy with its interval and the
    absolute one-sided test of :func:`prefqa.annotators._gold.gold_accuracy_test`.
    Position consistency, ``p_a`` and the length slope are read from the
    per-annotator functions of :mod:`prefqa.bias._per_annotator`, as in
    :func:`prefqa.annotator_table`. Rows the reader rejected (for example
    unparseable verdicts) are counted in ``n_rejected`` and described in
    ``warnings``: they are not silently lost.

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
    _validate(data, judges, kind_column, confidence_level, fdr, min_gold_accuracy)
    index, c = codes_for(data)
    labels = index.to_numpy()
    if judges is None:
        kinds = data.judgments[kind_column].astype("str").str.lower().to_numpy(dtype=object)[c.mask]
        is_judge_row = kinds != "human"
        judge_set = set(labels[np.unique(c.ann[is_judge_row])])
    else:
        judge_set = set(judges)
    is_judge = np.isin(labels, list(judge_set))
    judged = c.count() > 0
    is_judge &= judged
    has_gold = "gold" in data.judgments and bool(data.judgments["gold"].notna().any())
    n_humans = int((~is_judge & judged).sum())
    if not is_judge.any() or (not n_humans and not has_gold):
        raise InsufficientDataError(
            f"judge_report needs judges and either humans or gold labels; found {int(is_judge.sum())} judge(s), "
            f"{n_humans} human(s) and {'a' if has_gold else 'no'} `gold` column. Mark people with "
            f"{kind_column}='human' or pass `judges`, or add a `gold` column with the correct displayed choice."
        )
    L = N_LABELS
    z = stats.norm.ppf(0.5 + confidence_level / 2)
    human_row = ~is_judge[c.ann]
    hc = np.bincount(c.comp[human_row] * L + c.oriented[human_row],
                     minlength=c.n_comp * L).reshape(c.n_comp, L)

    def plurality(counts: np.ndarray) -> np.ndarray:
        top = counts.max(axis=1, initial=0)
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
    # gold: the annotator table's test
    gold = gold_accuracy_test(data, c, min_gold_accuracy=min_gold_accuracy, confidence_level=confidence_level,
                              fdr=fdr)
    for col in ("n_gold", "gold_accuracy", "gold_ci_low", "gold_ci_high", "p_gold", "q_gold", "flagged_gold"):
        table[col] = gold[col]
    # position and length: their one implementation
    shared, warn = shared_tests(data, index, confidence_level=confidence_level, fdr=fdr,
                                min_judgments=min_judgments, position=data.order_known, length=data.has_texts)
    table["n_both_orders"] = np.nan_to_num(shared["n_both_orders"]).astype(np.int64)
    table["n_inconsistent"] = np.nan_to_num(shared["n_inconsistent"]).astype(np.int64)
    table["position_consistency"] = shared["self_consistency"]
    table["q_consistency"] = shared["q_consistency"]
    for col in ("p_a", "p_a_ci_low", "p_a_ci_high", "q_position"):
        table[col] = shared[col]
    table["tie_rate"] = ratio(c.count(where=c.oriented == 2), c.count())
    for col in ("length_slope", "length_slope_se", "q_length"):
        table[col] = shared[col]
    if not n_humans:
        warn.append("no human judgments: the judges are assessed on gold labels only (kappa columns are empty).")
    if not data.has_texts:
        warn.append("no response texts: length slopes are empty.")
    if not data.order_known:
        warn.append("display order unknown: P(first shown) and position consistency are empty.")
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
    keep = judged
    table = pd.concat([table[is_judge], table[~is_judge & keep]])
    return JudgeReport(
        table=table, judges=tuple(labels[is_judge]), humans=tuple(labels[~is_judge & keep]),
        n_judgments=int(c.mask.sum()), n_consensus=int((consensus >= 0).sum()), n_rejected=n_rejected,
        confidence_level=confidence_level, n_gold=int(np.nansum(gold["n_gold"].to_numpy(dtype=float))),
        min_gold_accuracy=float(min_gold_accuracy), warnings=tuple(dict.fromkeys(warn)),
    )
