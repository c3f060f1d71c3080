"""Audit configuration: defaults, the ``[read]``/``[pairs]``/``[audit]`` TOML tables, validation.

A configuration is three tables, so a pipeline can pin every option in one
``prefqa.toml``::

    [read]                      # options for pq.read (format, mapping, wide-format settings)
    format = "auto"

    [pairs]                     # options for pq.build_pairs (the export policy)

    [audit]                     # the audit's own settings
    n_resamples = 200
    confidence_level = 0.95
    by = "domain"               # stratum column for per-stratum reliability and Simpson check
    skip = ["preference_model"] # steps not to run
    [audit.annotators]          # keyword options passed to one analysis (here pq.annotator_table)
    ...

Examples
--------
>>> cfg = resolve_config({"audit": {"n_resamples": 50}})
>>> cfg["audit"]["n_resamples"], cfg["audit"]["confidence_level"]
(50, 0.95)
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from ..errors import SchemaError
from ..io.config import check_read_options, load_config

__all__ = ["AUDIT_DEFAULTS", "STEP_NAMES", "read_toml", "resolve_config"]

#: Step names, in run order (also the keys of ``report["sections"]``).
STEP_NAMES: tuple[str, ...] = (
    "load_report", "reliability", "icc", "annotators", "judge", "consensus", "bradley_terry",
    "bradley_terry_style", "preference_model", "rating_model", "length_bias", "position_bias", "style_bias",
    "prompts", "simpson", "drift", "readiness", "cleaning", "pairs",
)

# Defaults chosen so that a 1M-judgment audit stays in minutes on two cores (see the Notes of
# prefqa.audit.audit): bootstrap CIs use 200 resamples (the Monte Carlo error of a 95% percentile
# bound is then small next to the interval itself); the crossed preference model, whose cost grows
# with annotators and prompts, is fitted on a stated random subsample of whole prompts above
# 20,000 judgments.
AUDIT_DEFAULTS: dict[str, Any] = {
    "n_resamples": 200,
    "confidence_level": 0.95,
    "rng": 0,
    "by": None,
    "skip": [],
    "max_table_rows": 200,
    # the crossed preference model is fitted on a random subsample of whole prompts holding at
    # most this many judgments (0 = always all); see prefqa.audit.audit's Notes
    "preference_model_max_judgments": 20_000,
    "max_examples": 5,
    # finding thresholds
    "alpha_good": 0.8,         # Krippendorff (2004): alpha >= .800 for reliable conclusions
    "alpha_tentative": 0.667,  # ... and >= .667 for tentative ones
    "drop_share": 0.3,         # warn when pair building drops more than this share
}
_NUMERIC = {"n_resamples": int, "preference_model_max_judgments": int, "max_table_rows": int, "max_examples": int,
            "confidence_level": float, "alpha_good": float, "alpha_tentative": float,
            "drop_share": float}
_TABLES = ("read", "pairs", "audit")


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML configuration file; its ``[read]`` table is validated by :mod:`prefqa.io.config`.

    The reader options have one parser, :func:`prefqa.io.config.load_config`, shared with
    ``pq.read`` users; the ``[pairs]`` and ``[audit]`` tables are validated by
    :func:`resolve_config`.
    """
    return load_config(path)


def resolve_config(config: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict[str, Any]:
    """Return a full config dict: the given tables over the defaults, validated.

    Parameters
    ----------
    config : mapping, path or None
        ``{"read": {...}, "pairs": {...}, "audit": {...}}`` or a TOML file path.

    Raises
    ------
    SchemaError
        Unknown top-level tables, unknown or ill-typed ``[read]`` keys (checked by
        :func:`prefqa.io.config.check_read_options`, the message names the key) or
        unknown or ill-typed ``[audit]`` keys.
    """
    if config is None:
        raw: dict[str, Any] = {}
    elif isinstance(config, (str, os.PathLike)):
        raw = read_toml(config)  # validates [read]
    elif isinstance(config, Mapping):
        raw = copy.deepcopy(dict(config))
    else:
        raise SchemaError(f"`config` must be a dict, a TOML file path or None; got {type(config).__name__}.")
    # [check] and [drift] belong to `prefqa check` / `prefqa drift` (validated there), so one file serves all
    unknown = sorted(set(raw) - set(_TABLES) - {"check", "drift"})
    if unknown:
        allowed = [*_TABLES, "check", "drift"]
        raise SchemaError(f"`config` has unknown table(s) {unknown}; allowed tables are {allowed}.")
    for name in _TABLES:
        if not isinstance(raw.get(name, {}), Mapping):
            raise SchemaError(f"`config[{name!r}]` must be a table (dict); got {type(raw[name]).__name__}.")
    read = check_read_options(dict(raw.get("read", {})), where="`config`")
    _check_pairs(dict(raw.get("pairs", {})))
    audit = dict(AUDIT_DEFAULTS)
    given = dict(raw.get("audit", {}))
    allowed_keys = set(AUDIT_DEFAULTS) | set(STEP_NAMES)
    bad = sorted(set(given) - allowed_keys)
    if bad:
        raise SchemaError(
            f"`[audit]` has unknown key(s) {bad}; allowed keys are {sorted(AUDIT_DEFAULTS)} and one "
            f"table of keyword options per step {list(STEP_NAMES)}."
        )
    audit.update(given)
    for key, kind in _NUMERIC.items():
        value = audit[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or (kind is int and not float(value).is_integer()):
            raise SchemaError(f"`[audit] {key}` must be a number ({kind.__name__}); got {value!r}.")
        audit[key] = kind(value)
    if not 0 < audit["confidence_level"] < 1:
        raise SchemaError(f"`[audit] confidence_level` must be between 0 and 1; got {audit['confidence_level']}.")
    for key in ("n_resamples", "preference_model_max_judgments"):
        if audit[key] < 0:
            raise SchemaError(f"`[audit] {key}` must be >= 0; got {audit[key]}.")
    skip = audit["skip"]
    if isinstance(skip, str):
        skip = [skip]
    if not isinstance(skip, (list, tuple)) or any(s not in STEP_NAMES for s in skip):
        raise SchemaError(f"`[audit] skip` must list step names from {list(STEP_NAMES)}; got {skip!r}.")
    audit["skip"] = list(skip)
    if audit["by"] is not None and not isinstance(audit["by"], str):
        raise SchemaError(f"`[audit] by` must be a column name; got {audit['by']!r}.")
    for step in STEP_NAMES:
        if step in audit and not isinstance(audit[step], Mapping):
            raise SchemaError(f"`[audit.{step}]` must be a table of keyword options; got {audit[step]!r}.")
    return {"read": dict(read), "pairs": dict(raw.get("pairs", {})), "audit": audit}


def _check_pairs(pairs: dict[str, Any]) -> None:
    """Check that ``[pairs]`` names only keyword options of :func:`prefqa.build_pairs`.

    Values are validated by ``build_pairs`` itself when the pair preview or the export runs.
    """
    import inspect

    from ..pairs import build_pairs

    allowed = sorted(p.name for p in inspect.signature(build_pairs).parameters.values()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "tokenizer")
    bad = sorted(set(pairs) - set(allowed))
    if bad:
        raise SchemaError(f"`[pairs]` has unknown key(s) {bad}; allowed keys are the options of "
                          f"pq.build_pairs: {allowed}.")
