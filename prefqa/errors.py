"""Exceptions and warnings raised by prefqa.

Every message says what is wrong, with the actual values, and how to fix it.
``SchemaError`` and ``InsufficientDataError`` subclass ``ValueError`` so that
``except ValueError`` keeps working in user code.
"""

from __future__ import annotations

__all__ = [
    "PrefqaError",
    "SchemaError",
    "InsufficientDataError",
    "PrefqaWarning",
    "ConvergenceWarning",
]


class PrefqaError(Exception):
    """Base class of every error prefqa raises on purpose."""


class SchemaError(PrefqaError, ValueError):
    """Bad or missing columns or values in the input."""


class InsufficientDataError(PrefqaError, ValueError):
    """Valid input that is too small to estimate what was asked for."""


class PrefqaWarning(UserWarning):
    """Base class of prefqa's warnings."""


class ConvergenceWarning(PrefqaWarning, RuntimeWarning):
    """A fit stopped before its convergence criterion, or sits on a boundary."""
