"""Engine backends: one small interface over DuckDB and Spark.

Every query prefqa sends is written once in DuckDB's SQL dialect. The DuckDB
backend runs it as written; the Spark backend transpiles it with sqlglot
(``read="duckdb", write="spark"``) and runs it through ``spark.sql``. Results
come back as Arrow tables (small reductions) or as a stream of record batches
(exports), never as Python rows.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import PrefqaError, SchemaError

__all__ = ["Backend", "DuckDBBackend", "EngineError", "SparkBackend", "transpile"]

_names = itertools.count()


class EngineError(PrefqaError, RuntimeError):
    """The engine (DuckDB or Spark) refused a query prefqa generated, or is not installed."""


def transpile(query: str, dialect: str) -> str:
    """Return ``query`` (DuckDB dialect) in ``dialect`` ("duckdb" returns it unchanged).

    Examples
    --------
    >>> transpile("SELECT list(x) FROM t", "spark")
    'SELECT COLLECT_LIST(x) FROM t'
    """
    if dialect == "duckdb":
        return query
    import sqlglot

    return ";\n".join(sqlglot.transpile(query, read="duckdb", write=dialect))


class Backend:
    """What every engine answers: SQL in DuckDB's dialect, Arrow out.

    Subclasses set ``name`` ("duckdb" or "spark"), ``memory_limit`` and
    ``threads`` (as the engine reports them, for the load report).
    """

    name: str = ""
    memory_limit: str | None = None
    threads: int | None = None

    def sql(self, query: str) -> pa.Table:  # pragma: no cover - abstract
        """Run a query and return its whole result as an Arrow table."""
        raise NotImplementedError

    def frame(self, query: str) -> pd.DataFrame:
        """Run a query and return a pandas frame (numbers as numpy dtypes, strings as ``str``)."""
        return self.sql(query).to_pandas()

    def batches(self, query: str, batch_size: int = 1 << 17) -> Iterator[pa.RecordBatch]:  # pragma: no cover
        """Stream a query's result as Arrow record batches."""
        raise NotImplementedError

    def materialize(self, name: str, query: str) -> None:  # pragma: no cover - abstract
        """Store a query's result under ``name`` (a temporary table or a cached view)."""
        raise NotImplementedError

    def view(self, name: str, query: str) -> None:  # pragma: no cover - abstract
        """Name a query (a lazy view: run again by every query that reads it)."""
        raise NotImplementedError

    def register(self, name: str, table: pa.Table | pd.DataFrame) -> None:  # pragma: no cover - abstract
        """Make an in-memory table queryable as ``name``."""
        raise NotImplementedError

    def drop(self, name: str) -> None:  # pragma: no cover - abstract
        """Forget ``name`` (no error when it does not exist)."""
        raise NotImplementedError

    def map_batches(self, name: str, query: str, func: Callable[[pa.RecordBatch], pa.Table], schema: pa.Schema,
                    batch_size: int = 1 << 15) -> None:
        """Store ``func`` applied to each Arrow batch of ``query``'s result as table ``name``.

        DuckDB streams the batches through this process (one batch in memory
        at a time); Spark runs ``func`` on its executors (``mapInArrow``), so
        nothing passes through the driver.
        """
        self.store(name, (func(b) for b in self.batches(query, batch_size)), schema)

    def store(self, name: str, tables: Iterable[pa.Table], schema: pa.Schema) -> None:  # pragma: no cover
        """Store Arrow tables produced one batch at a time (from Python) as one engine table ``name``."""
        raise NotImplementedError

    def columns(self, name: str) -> list[str]:
        """Return the column names of a table or view."""
        return list(self.sql(f"SELECT * FROM {name} LIMIT 0").schema.names)

    def scalar(self, query: str) -> Any:
        """Run a query returning one value."""
        t = self.sql(query)
        return t.column(0)[0].as_py() if t.num_rows else None

    def temp_name(self, stem: str) -> str:
        """Return a fresh table name ``pq_<stem>_<n>``."""
        return f"pq_{stem}_{next(_names)}"


class DuckDBBackend(Backend):
    """DuckDB, embedded: out of core under ``memory_limit`` (spills to its temp directory)."""

    name = "duckdb"

    def __init__(self, connection: Any = None, *, memory_limit: str | int | None = None,
                 threads: int | None = None) -> None:
        try:
            import duckdb
        except ImportError as exc:  # pragma: no cover - duckdb is a core dependency
            raise EngineError("engine='duckdb' needs the duckdb package: pip install duckdb") from exc
        self._duckdb = duckdb
        self.con = connection if connection is not None else duckdb.connect()
        if connection is None:  # spill under the system temp folder, never into the working directory
            import tempfile

            spill = os.path.join(tempfile.gettempdir(), "prefqa-duckdb-spill")
            self._run(f"SET temp_directory = '{spill}'").fetchall()
        if memory_limit is not None:
            self._run(f"SET memory_limit = '{_memory(memory_limit)}'").fetchall()
            # every prefqa query orders its results explicitly (ORDER BY, _row), so DuckDB may drop the
            # insertion-order bookkeeping that costs memory under a tight limit
            self._run("SET preserve_insertion_order = false").fetchall()
        if threads is not None:
            self._run(f"SET threads = {int(threads)}").fetchall()
        self.memory_limit = str(self.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
        self.threads = int(self.con.execute("SELECT current_setting('threads')").fetchall()[0][0])

    def _run(self, query: str) -> Any:
        try:
            return self.con.execute(query)
        except self._duckdb.Error as exc:
            raise EngineError(f"DuckDB refused a query prefqa generated: {exc}\nquery: {query[:2000]}") from exc

    def sql(self, query: str) -> pa.Table:
        try:
            return self.con.sql(query).to_arrow_table()
        except self._duckdb.Error as exc:
            raise EngineError(f"DuckDB refused a query prefqa generated: {exc}\nquery: {query[:2000]}") from exc

    def batches(self, query: str, batch_size: int = 1 << 17) -> Iterator[pa.RecordBatch]:
        try:
            reader = self.con.sql(query).to_arrow_reader(batch_size)
        except self._duckdb.Error as exc:
            raise EngineError(f"DuckDB refused a query prefqa generated: {exc}\nquery: {query[:2000]}") from exc
        yield from reader

    def materialize(self, name: str, query: str) -> None:
        self._run(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}").fetchall()

    def view(self, name: str, query: str) -> None:
        self._run(f"CREATE OR REPLACE TEMP VIEW {name} AS {query}").fetchall()

    def register(self, name: str, table: pa.Table | pd.DataFrame) -> None:
        self.con.register(name, table)

    def store(self, name: str, tables: Iterable[pa.Table], schema: pa.Schema) -> None:
        # the producer may be streaming from this same connection (which allows one open result), so
        # the batches go to a temporary Parquet file, one row group each, and DuckDB reads it once
        import tempfile

        import pyarrow.parquet as papq

        with tempfile.TemporaryDirectory(prefix="prefqa-") as tmp:
            path = os.path.join(tmp, "part.parquet")
            with papq.ParquetWriter(path, schema) as writer:
                writer.write_table(schema.empty_table())
                for table in tables:
                    writer.write_table(table)
            self._run(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM read_parquet('{path}')").fetchall()

    def drop(self, name: str) -> None:
        for kind in ("TABLE", "VIEW"):
            try:
                self.con.execute(f"DROP {kind} IF EXISTS {name}").fetchall()
            except self._duckdb.Error:
                pass
        try:
            self.con.unregister(name)
        except self._duckdb.Error:  # pragma: no cover - nothing registered under that name
            pass


class SparkBackend(Backend):
    """Spark SQL on the user's ``SparkSession`` (queries transpiled from DuckDB's dialect by sqlglot)."""

    name = "spark"

    def __init__(self, session: Any) -> None:
        self.spark = session
        conf = session.conf
        self.memory_limit = conf.get("spark.executor.memory", None)
        try:
            self.threads = int(session.sparkContext.defaultParallelism)
        except Exception:  # noqa: BLE001 - Spark Connect sessions have no SparkContext
            self.threads = None

    def _df(self, query: str) -> Any:
        text = transpile(query, "spark")
        try:
            return self.spark.sql(text)
        except Exception as exc:
            raise EngineError(f"Spark refused a query prefqa generated: {exc}\nquery: {text[:2000]}") from exc

    def sql(self, query: str) -> pa.Table:
        df = self._df(query)
        try:
            return df.toArrow()
        except Exception as exc:
            raise EngineError(f"Spark failed running a query prefqa generated: {exc}") from exc

    def batches(self, query: str, batch_size: int = 1 << 17) -> Iterator[pa.RecordBatch]:
        # Spark has no Arrow stream to the driver; toLocalIterator keeps one partition at a time
        rows: list[Any] = []
        for row in self._df(query).toLocalIterator():
            rows.append(row.asDict())
            if len(rows) >= batch_size:
                yield pa.RecordBatch.from_pylist(rows)
                rows = []
        if rows:
            yield pa.RecordBatch.from_pylist(rows)

    def map_batches(self, name: str, query: str, func: Callable[[pa.RecordBatch], pa.Table], schema: pa.Schema,
                    batch_size: int = 1 << 15) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                yield from func(batch).to_batches()

        self.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(int(batch_size)))
        df = self._df(query).mapInArrow(run, from_arrow_schema(schema)).localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)

    def materialize(self, name: str, query: str) -> None:
        # cached eagerly: later queries read the stored rows instead of re-running a growing lineage
        df = self._df(query).localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)

    def view(self, name: str, query: str) -> None:
        self._df(query).createOrReplaceTempView(name)

    def register(self, name: str, table: pa.Table | pd.DataFrame) -> None:
        if isinstance(table, pd.DataFrame):
            table = pa.Table.from_pandas(table, preserve_index=False)
        self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def store(self, name: str, tables: Iterable[pa.Table], schema: pa.Schema) -> None:
        # Spark has no cheap append from the driver: the (numeric, small) batches are joined once
        parts = list(tables)
        table = pa.concat_tables(parts) if parts else schema.empty_table()
        df = self.spark.createDataFrame(table).cache()
        df.createOrReplaceTempView(name)

    def drop(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)


def _memory(limit: str | int | float) -> str:
    """Normalise a memory limit: bytes as a number, or a string like ``"4GB"``."""
    if isinstance(limit, int | float):
        if limit <= 0:
            raise SchemaError(f"memory_limit must be positive; got {limit!r}.")
        return f"{int(limit)}B"
    text = str(limit).strip().upper().replace(" ", "")
    import re

    if not re.fullmatch(r"\d+(\.\d+)?(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)", text):
        raise SchemaError(
            f"memory_limit {limit!r} is not a size; give a number of bytes or a string such as '4GB' or '512MB'."
        )
    return text
