"""Annotator quality: the per-annotator table and LLM judges against humans.

``annotator_table`` gives one row per annotator with agreement, Dawid-Skene
accuracy, position, tie, length, speed, straight-lining, gold and leniency
statistics, each with a BH-adjusted test, a ``flagged`` column and a plain
``reason``. ``judge_report`` sets LLM judges beside the human annotators.
"""

from __future__ import annotations

from .judges import JudgeReport, judge_report
from .table import annotator_table

__all__ = ["JudgeReport", "annotator_table", "judge_report"]
