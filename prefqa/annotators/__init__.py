"""Annotator quality: the per-annotator table and LLM judges against humans.

``annotator_table`` gives one row per annotator with agreement, Dawid-Skene
accuracy, position, self-consistency, tie, length, speed, straight-lining,
gold and leniency statistics (and, for ratings, agreement on scores), each
test BH-adjusted within its type, a ``flagged`` column and a plain ``reason``.
Position, self-consistency and gold are absolute tests, the others relative
to the annotator pool; position, consistency and length are read from their
one implementation in :mod:`prefqa.bias._per_annotator` and gold from
:mod:`prefqa.annotators._gold`. ``judge_report`` sets LLM judges beside the
human annotators, or, without humans, against gold labels.
"""

from __future__ import annotations

from .judges import JudgeReport, judge_report
from .table import annotator_table

__all__ = ["JudgeReport", "annotator_table", "judge_report"]
