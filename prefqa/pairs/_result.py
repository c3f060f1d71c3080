"""The :class:`PairSet` result and the reason codes for dropped comparisons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["REASONS", "PAIR_COLUMNS", "DROPPED_COLUMNS", "PairSet", "check_accounting", "flip_rate"]

# reason code -> words; the order is the order in which build_pairs applies the checks
REASONS: dict[str, str] = {
    "excluded_prompt": "its prompt is listed in `exclude_prompts`",
    "flagged_prompt": "its prompt was flagged by pq.flag_prompts (flagged='drop')",
    "no_judgments": "no judgments left after excluding (or dropping flagged) annotators",
    "too_few_judgments": "fewer judgments than `min_judgments`",
    "tie": "the label is a tie (ties='drop')",
    "no_majority": "the vote is split: no single response has the most votes",
    "low_agreement": "agreement with the label is below `min_agreement`",
    "contaminated": "its prompt overlaps a benchmark prompt (pq.contamination)",
    "suspect_label": "its label is suspect (pq.label_issues flagged it; suspect_action='drop')",
    "missing_text": "a response text is missing",
    "single_response": "the prompt has fewer than two rated responses",
    "equal_scores": "every rated response of the prompt has the same score",
    "within_margin": "no two responses of the prompt differ by more than `margin`",
    "empty": "the chosen or the rejected response is empty or whitespace only",
    "identical": "chosen and rejected are identical after whitespace normalisation",
    "truncation_identical": "chosen and rejected become identical after truncation to `max_tokens`",
    "near_identical": "chosen and rejected are near-identical (word-bigram Jaccard >= threshold)",
    "duplicate": "exact duplicate of an earlier pair (same prompt, chosen and rejected)",
    "near_duplicate": "near-duplicate of an earlier pair of the same prompt (word-bigram Jaccard >= threshold)",
    "prompt_cap": "its prompt already has `max_pairs_per_prompt` pairs",
    "length_balance": "subsampled away to balance the chosen-is-longer share of its length bucket",
}

PAIR_COLUMNS: tuple[str, ...] = (
    "prompt_id", "prompt", "chosen", "rejected", "chosen_id", "rejected_id",
    "chosen_model", "rejected_model", "n_judgments", "agreement", "p_chosen", "margin",
    "weight", "flipped", "comparison_ids",
)
DROPPED_COLUMNS: tuple[str, ...] = (
    "comparison_id", "prompt_id", "chosen_id", "rejected_id", "reason_code", "reason",
)


@dataclass(frozen=True, eq=False)
class PairSet:
    """Training pairs built from preference data, with every dropped comparison.

    Attributes
    ----------
    pairs : DataFrame
        One row per kept pair: ``prompt_id``, ``prompt``, ``chosen``,
        ``rejected``, ``chosen_id``, ``rejected_id``, ``chosen_model``,
        ``rejected_model``, ``n_judgments``, ``agreement`` (share of
        judgments that agree with the label), ``p_chosen`` (soft label:
        probability that ``chosen`` is the better response), ``margin``
        (vote margin in (0, 1] for judged pairs, score difference for rated
        pairs), ``weight`` (1 unless downweighted or length-reweighted),
        ``flipped`` (chosen and rejected were swapped because the label was
        suspect, ``suspect_action='flip'``), ``comparison_ids`` (the source
        comparison; empty for rated pairs).
        Conversational data adds ``prompt_messages`` (a JSON list of
        ``{role, content}``).
    ties : DataFrame
        Tied comparisons kept for KTO (``ties='keep_as_kto'``), in the same
        columns as ``pairs`` (``chosen``/``rejected`` are then just the two
        responses, ordered by response id); empty otherwise.
    dropped : DataFrame
        One row per input unit not kept: ``comparison_id``, ``prompt_id``,
        ``chosen_id``, ``rejected_id``, ``reason_code`` and ``reason``.
    unit : str
        ``"comparison"`` for judged data, ``"candidate"`` for rated data
        (each candidate pair of a policy, plus each prompt without one).
    n_input : int
        Input units; always ``len(pairs) + len(ties) + len(dropped)``.
    n_judgments, n_annotators, n_prompts : int
        Counts of the input data.
    settings : dict
        Every option ``build_pairs`` was called with (JSON-ready).
    flip_rate : float
        Estimated share of kept labels that are wrong: ``pq.consensus``'
        ``p_other + p_tie / 2`` (that is ``1 - p_chosen``) averaged over the
        kept pairs (``nan`` when it cannot be estimated, for example with one
        judgment per comparison under the majority vote, or rated data).
    length_balance : DataFrame
        Per length bucket, the chosen-is-longer share before and after
        balancing (empty unless ``length_balance`` was set).
    source_fingerprint : str
        ``PreferenceData.fingerprint()`` of the input (in the manifest).
    cleaning : dict
        What ``suspect_labels`` and ``contamination`` did: ``suspect_labels``
        (action and counts: flagged, dropped, flipped, downweighted, kept as
        is, ...) and ``contamination`` (flagged prompts, dropped
        comparisons); empty when neither was given.
    warnings : tuple of str
        Plain-language remarks.
    """

    pairs: pd.DataFrame
    ties: pd.DataFrame
    dropped: pd.DataFrame
    unit: str
    n_input: int
    n_judgments: int
    n_annotators: int
    n_prompts: int
    settings: dict[str, Any]
    flip_rate: float
    length_balance: pd.DataFrame = field(default_factory=pd.DataFrame)
    conversational: bool = False
    source_fingerprint: str = ""
    warnings: tuple[str, ...] = ()
    cleaning: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_accounting(self.n_input, len(self.pairs) + len(self.ties), len(self.dropped))

    @property
    def n_pairs(self) -> int:
        """Number of kept pairs."""
        return len(self.pairs)

    @property
    def n_kept(self) -> int:
        """Kept units: pairs plus ties kept for KTO."""
        return len(self.pairs) + len(self.ties)

    @property
    def n_flipped(self) -> int:
        """Kept pairs whose chosen and rejected were swapped (``suspect_action='flip'``)."""
        return int(self.pairs["flipped"].sum()) if "flipped" in self.pairs else 0

    @property
    def n_dropped(self) -> int:
        """Dropped units (one row each in ``dropped``)."""
        return len(self.dropped)

    @property
    def suggested_label_smoothing(self) -> float:
        """TRL ``label_smoothing`` for ``loss_type='robust'``: the flip rate, capped below 0.5.

        ``nan`` when the flip rate cannot be estimated.
        """
        if not np.isfinite(self.flip_rate):
            return float("nan")
        return float(min(max(self.flip_rate, 0.0), 0.499))

    def dropped_counts(self) -> dict[str, int]:
        """Return ``{reason_code: count}`` in the order the checks run, zeros omitted."""
        counts = self.dropped["reason_code"].value_counts()
        return {code: int(counts[code]) for code in REASONS if code in counts.index}

    def manifest(self) -> dict[str, Any]:
        """Return the JSON-ready accounting that :func:`prefqa.export` writes next to a file."""
        return {
            "unit": self.unit,
            "input": {
                "n_units": self.n_input,
                "n_judgments": self.n_judgments,
                "n_annotators": self.n_annotators,
                "n_prompts": self.n_prompts,
                "fingerprint": self.source_fingerprint or None,
            },
            "kept": {"n_pairs": self.n_pairs, "n_ties_for_kto": len(self.ties), "total": self.n_kept,
                     "flipped_suspect_label": self.n_flipped},
            "dropped": {
                "total": self.n_dropped,
                "by_reason": self.dropped_counts(),
                "reasons": {k: REASONS[k] for k in self.dropped_counts()},
            },
            "policy": self.settings,
            "flip_rate": None if not np.isfinite(self.flip_rate) else float(self.flip_rate),
            "suggested_label_smoothing": (
                None if not np.isfinite(self.flip_rate) else self.suggested_label_smoothing
            ),
            "length_balance": self.length_balance.to_dict(orient="records"),
            **({"cleaning": self.cleaning} if self.cleaning else {}),
            "warnings": list(self.warnings),
        }

    def to_frame(self) -> pd.DataFrame:
        """Return the accounting as a tidy table: one row per outcome.

        Columns ``outcome`` (``kept`` / ``kept_tie`` / a reason code),
        ``n``, ``share`` and ``reason``.
        """
        rows = [("kept", self.n_pairs, "kept as a pair"),
                ("kept_tie", len(self.ties), "tie kept for KTO")]
        rows += [(code, n, REASONS[code]) for code, n in self.dropped_counts().items()]
        out = pd.DataFrame(rows, columns=["outcome", "n", "reason"])
        out["share"] = out["n"] / max(self.n_input, 1)
        return out[["outcome", "n", "share", "reason"]]

    def summary(self) -> str:
        """Return a plain-text account of what was kept and dropped, and why."""
        lines = [
            f"{self.n_input:,} input {self.unit}s -> {self.n_pairs:,} pairs kept"
            + (f" (+{len(self.ties):,} ties kept for KTO)" if len(self.ties) else "")
            + f", {self.n_dropped:,} dropped.",
        ]
        if self.n_flipped:
            lines.append(f"  {self.n_flipped:>8,}  kept pairs flipped: their label was suspect (suspect_action='flip')")
        for code, n in self.dropped_counts().items():
            lines.append(f"  {n:>8,}  {code}: {REASONS[code]}")
        if np.isfinite(self.flip_rate):
            lines.append(
                f"Estimated label flip rate {self.flip_rate:.3f}; suggested TRL "
                f"label_smoothing={self.suggested_label_smoothing:.3f} (loss_type='robust')."
            )
        else:
            lines.append("Label flip rate not estimable (needs 2+ judgments per comparison).")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"PairSet({self.n_pairs:,} pairs, {len(self.ties):,} ties, "
                f"{self.n_dropped:,} dropped of {self.n_input:,} {self.unit}s)")


def check_accounting(n_input: int, n_kept: int, n_dropped: int) -> None:
    """Raise RuntimeError unless every input unit is kept or dropped (an internal bug otherwise)."""
    if n_input != n_kept + n_dropped:
        raise RuntimeError(
            f"prefqa internal error: pair accounting is off: {n_input} input units but "
            f"{n_kept} kept + {n_dropped} dropped = {n_kept + n_dropped}. Please report this bug."
        )


def flip_rate(pairs: pd.DataFrame, label: str) -> float:
    """Estimated share of kept pair labels that point at the wrong response (``nan`` if not estimable).

    ``pq.consensus``'s definition (``p_other + p_tie / 2``, i.e. ``1 - p_chosen``)
    averaged over the kept pairs. Majority vote shares of a single judgment
    say nothing about its error, so with ``label='majority'`` only pairs
    with two or more judgments count (``nan`` when there are none).
    Downweighted pairs use their shrunk ``p_chosen``.
    """
    if label == "score" or not len(pairs):
        return float("nan")
    use = pairs["n_judgments"].to_numpy() >= 2 if label == "majority" else np.ones(len(pairs), dtype=bool)
    if not use.any():
        return float("nan")
    return float(np.mean(1.0 - pairs["p_chosen"].to_numpy(dtype=np.float64)[use]))
