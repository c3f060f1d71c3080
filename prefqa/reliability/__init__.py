"""Inter-rater reliability on sparse long data: alpha, kappa family, AC1/AC2, ICC, with CIs.

Low-level functions take a long DataFrame and the names of its ``unit``,
``rater`` and ``value`` columns; :func:`agreement` works on a
:class:`~prefqa.schema.PreferenceData`; :func:`annotator_agreement` gives the
per-annotator table (leave-one-out consensus agreement, kappa, intra-rater).
"""

from __future__ import annotations

from .agreement import AgreementResult, agreement
from .alpha import krippendorff_alpha
from .annotators import annotator_agreement
from .cohen import cohen_kappa, pairwise_kappa
from .icc import ICCResult, icc
from .kappa import (
    Coefficient,
    brennan_prediger,
    fleiss_kappa,
    gwet_ac,
    percent_agreement,
)

__all__ = [
    "AgreementResult",
    "Coefficient",
    "ICCResult",
    "agreement",
    "annotator_agreement",
    "brennan_prediger",
    "cohen_kappa",
    "fleiss_kappa",
    "gwet_ac",
    "icc",
    "krippendorff_alpha",
    "pairwise_kappa",
    "percent_agreement",
]
