"""Length, position and style bias of preference judgments.

* :func:`length_bias` -> :class:`LengthBiasResult` (P(longer chosen), ratio
  buckets, clustered logistic slope, per-annotator table, length-controlled
  win rates per model);
* :func:`position_bias` -> :class:`PositionBiasResult` (P(a), per-annotator
  tests with BH q-values, both-order position consistency);
* :func:`style_bias` -> :class:`StyleBiasResult` (Arena-style style-control
  coefficients for length, headers, lists, bold and refusals).
"""

from __future__ import annotations

from .length import LengthBiasResult, length_bias
from .position import PositionBiasResult, position_bias
from .style import StyleBiasResult, style_bias

__all__ = [
    "LengthBiasResult",
    "PositionBiasResult",
    "StyleBiasResult",
    "length_bias",
    "position_bias",
    "style_bias",
]
