"""prefqa: audit RLHF preference data before you train on it.

Examples
--------
>>> import prefqa as pq
>>> data = pq.load_sample()
>>> data.n_judgments > 10_000
True

The public names below load their modules on first use, so ``import prefqa``
stays fast for the CLI.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it (relative to this package)
_EXPORTS: dict[str, str] = {
    # data model and errors
    "PreferenceData": ".schema",
    "LoadReport": ".schema",
    "PrefqaError": ".errors",
    "SchemaError": ".errors",
    "InsufficientDataError": ".errors",
    "PrefqaWarning": ".errors",
    "ConvergenceWarning": ".errors",
    "ConfidenceInterval": "._types",
    # input / output
    "read": ".io",
    "write": ".io",
    "load_sample": ".io",
    "simulate": ".simulate",
    # engines: DuckDB (embedded, out of core) and Spark
    "scan": ".engine",
    "ScannedData": ".engine",
    "SimulationTruth": ".simulate",
    # text features
    "text_features": ".features",
    # reliability
    "agreement": ".reliability",
    "AgreementResult": ".reliability",
    "krippendorff_alpha": ".reliability",
    "fleiss_kappa": ".reliability",
    "cohen_kappa": ".reliability",
    "pairwise_kappa": ".reliability",
    "gwet_ac": ".reliability",
    "icc": ".reliability",
    # consensus and models
    "consensus": ".consensus",
    "ConsensusResult": ".consensus",
    "fit_bradley_terry": ".models.bradley_terry",
    "BradleyTerryResult": ".models.bradley_terry",
    "fit_preference_model": ".models.mixed",
    "fit_rating_model": ".models.mixed",
    "MixedModelResult": ".models.mixed",
    # bias, prompts, annotators
    "length_bias": ".bias",
    "LengthBiasResult": ".bias",
    "position_bias": ".bias",
    "PositionBiasResult": ".bias",
    "style_bias": ".bias",
    "StyleBiasResult": ".bias",
    "simpson_check": ".simpson",
    "SimpsonResult": ".simpson",
    "annotator_table": ".annotators",
    "judge_report": ".annotators",
    "JudgeReport": ".annotators",
    "flag_prompts": ".prompts",
    "plan_annotations": ".planning",
    "AnnotationPlan": ".planning",
    # monitoring
    "drift": ".drift",
    "DriftResult": ".drift",
    "compare": ".drift",
    "CompareResult": ".drift",
    # cleaning
    "label_issues": ".cleaning",
    "LabelIssues": ".cleaning",
    "relabel_queue": ".cleaning",
    "contamination": ".cleaning",
    "lint": ".cleaning",
    "ContaminationResult": ".cleaning",
    "LintResult": ".cleaning",
    # training data
    "build_pairs": ".pairs",
    "PairSet": ".pairs",
    "export": ".export",
    # report
    "audit": ".audit",
    "AuditReport": ".audit",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prefqa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(types.ModuleType):
    """Keep public functions from being shadowed by same-named submodules.

    Importing ``prefqa.simulate`` makes Python bind the *module* as the
    package attribute ``simulate``; with eager ``from .simulate import
    simulate`` the function would win, and this class gives the lazy package
    the same behaviour.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _EXPORTS:
            self.__dict__.pop(name, None)  # resolved again, to the function, by __getattr__
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._types import ConfidenceInterval
    from .annotators import JudgeReport, annotator_table, judge_report
    from .audit import AuditReport, audit
    from .bias import (
        LengthBiasResult, PositionBiasResult, StyleBiasResult, length_bias, position_bias, style_bias,
    )
    from .cleaning import ContaminationResult, LabelIssues, LintResult, contamination, label_issues, lint, relabel_queue
    from .consensus import ConsensusResult, consensus
    from .drift import CompareResult, DriftResult, compare, drift
    from .engine import ScannedData, scan
    from .errors import (
        ConvergenceWarning, InsufficientDataError, PrefqaError, PrefqaWarning, SchemaError,
    )
    from .export import export
    from .features import text_features
    from .io import load_sample, read, write
    from .models.bradley_terry import BradleyTerryResult, fit_bradley_terry
    from .models.mixed import MixedModelResult, fit_preference_model, fit_rating_model
    from .pairs import PairSet, build_pairs
    from .planning import AnnotationPlan, plan_annotations
    from .prompts import flag_prompts
    from .reliability import (
        AgreementResult, agreement, cohen_kappa, fleiss_kappa, gwet_ac, icc, krippendorff_alpha,
        pairwise_kappa,
    )
    from .schema import LoadReport, PreferenceData
    from .simpson import SimpsonResult, simpson_check
    from .simulate import SimulationTruth, simulate
