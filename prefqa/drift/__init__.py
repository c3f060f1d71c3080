"""Batch monitoring: metrics over time windows against a baseline (:func:`drift`), and a batch against a
baseline batch (:func:`compare`).

See :mod:`prefqa.drift._windows` (windows), :mod:`prefqa.drift._metrics` (the metrics),
:mod:`prefqa.drift._jackknife` (the joint, clustered differences), :mod:`prefqa.drift._cusum` (the
CUSUM) and :mod:`prefqa.drift._annotators` (the annotator x window table).
"""

from __future__ import annotations

from ._compare import compare
from ._cusum import DEFAULT_H, DEFAULT_K, average_run_length
from ._drift import drift
from ._metrics import METRICS
from ._result import ANNOTATOR_COLUMNS, COMPARE_COLUMNS, WINDOW_COLUMNS, CompareResult, DriftResult

__all__ = ["ANNOTATOR_COLUMNS", "COMPARE_COLUMNS", "DEFAULT_H", "DEFAULT_K", "METRICS", "WINDOW_COLUMNS",
           "CompareResult", "DriftResult", "average_run_length", "compare", "drift"]
