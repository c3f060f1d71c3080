"""Cleaning beyond vote counts: label issues, the relabel queue, benchmark contamination and a training lint.

* :func:`label_issues` (:mod:`._labels`, model in :mod:`._label_model`):
  posterior probability that each comparison's consensus label picked the
  worse response, from the votes and, when given, a reward model's scores.
* :func:`relabel_queue` (:mod:`._relabel`): the comparisons where more votes
  reduce the expected label error most, ready to send to a vendor.
* :func:`contamination` (:mod:`._contam`): prompts that overlap benchmark prompts.
* :func:`lint` (:mod:`._lint`): training-readiness problems, one row each.
"""

from __future__ import annotations

from ._contam import ContaminationResult, contamination
from ._labels import LabelIssues, label_issues
from ._lint import LintResult, lint
from ._relabel import QUEUE_COLUMNS, relabel_queue, write_queue

__all__ = ["QUEUE_COLUMNS", "ContaminationResult", "LabelIssues", "LintResult", "contamination", "label_issues",
           "lint", "relabel_queue", "write_queue"]
