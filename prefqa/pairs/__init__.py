"""Training pairs from preference data: labels, rating policies, guards and balancing.

``build_pairs`` returns a :class:`PairSet`: the kept pairs and one row per
comparison (or rated candidate) that was not kept, with a reason code.
Labels come from :func:`prefqa.consensus` (majority vote, Dawid-Skene) or,
with ``label='model'``, from ``_model_label`` (the crossed preference model
with annotator, position and length effects removed).
See ``_guards`` for the degenerate-pair checks, ``_policies`` for the rated
multi-completion policies and ``_balance`` for length balancing.
"""

from __future__ import annotations

from ._build import build_pairs
from ._guards import DEFAULT_GUARDS, OPTIONAL_GUARDS
from ._policies import POLICIES
from ._result import REASONS, PairSet

__all__ = ["build_pairs", "PairSet", "REASONS", "POLICIES", "DEFAULT_GUARDS", "OPTIONAL_GUARDS"]
