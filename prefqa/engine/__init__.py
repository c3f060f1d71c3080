"""Engines past one machine's memory: ``pq.scan`` over DuckDB (embedded, out of core) and Spark.

The engine layer sits below the analyses (DESIGN.md sections 2 and 7). An
analysis asks for named sufficient statistics (vote patterns, per-cluster
counts and sums, model-pair win counts); the in-memory path computes them with
numpy from a ``PreferenceData``, the engine path with SQL written once in
DuckDB's dialect (sqlglot transpiles it for Spark). The estimators are shared,
so both give the same numbers.
"""

from ._backend import Backend, DuckDBBackend, EngineError, SparkBackend, transpile
from ._scan import ScannedData, is_scanned, scan

__all__ = ["Backend", "DuckDBBackend", "EngineError", "ScannedData", "SparkBackend", "is_scanned", "scan",
           "transpile"]
