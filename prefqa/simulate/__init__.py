"""Planted-bias simulator (see :mod:`prefqa.simulate._generate` for the generative model and
:mod:`prefqa.simulate._population` for the population values in the truth)."""

from __future__ import annotations

from ._drift import Degrade, Join, Shift
from ._generate import KINDS, SimulationTruth, simulate

__all__ = ["KINDS", "Degrade", "Join", "Shift", "SimulationTruth", "simulate"]
