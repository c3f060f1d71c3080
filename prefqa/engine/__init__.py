"""Engines past one machine's memory: ``pq.scan`` over DuckDB (embedded, out of core) and Spark.

The engine layer sits below the analyses (DESIGN.md sections 2 and 7). An
analysis asks for named sufficient statistics (vote patterns, per-cluster
counts and sums, model-pair win counts); the in-memory path computes them with
numpy from a ``PreferenceData``, the engine path with SQL written once in
DuckDB's dialect (sqlglot transpiles it for Spark). The estimators are shared,
so both give the same numbers.
"""

from ._auto import auto_memory_limit, available_memory, choose_engine
from ._backend import Backend, DuckDBBackend, EngineError, SparkBackend, transpile
from ._sample import HashSample, hash_sample
from ._scan import ScanLoadReport, ScannedData, is_scanned, scan

__all__ = ["Backend", "DuckDBBackend", "EngineError", "HashSample", "ScanLoadReport", "ScannedData", "SparkBackend",
           "auto_memory_limit", "available_memory", "choose_engine", "hash_sample", "is_scanned", "scan",
           "transpile"]
