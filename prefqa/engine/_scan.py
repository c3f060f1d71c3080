"""``pq.scan``: judgments kept in an engine (DuckDB or Spark), coded once, queried lazily.

``scan`` registers the source (Parquet files, a DuckDB relation, a Spark
DataFrame, or a ``PreferenceData`` for tests) and stores one coded judgments
table ``pq_j_<n>`` holding the source columns plus integer codes that equal
the in-memory ones (``PreferenceData.codes``: sorted ids, ``-1`` for missing):

==========  ============================================================
``_row``    global row order (files in the order given, rows within a file)
``_cmp``    code of ``comparison_id``
``_ann``    code of ``annotator_id`` (``-1`` when missing)
``_prm``    code of ``prompt_id`` (``-1`` when missing), if present
``_ch``     displayed choice: 0 = a, 1 = b, 2 = tie
``_flip``   the comparison was shown in the other order than its first row
``_och``    oriented choice: 0 = first response of the comparison won
``_ma``     ``_mb``: codes of ``model_a`` / ``model_b`` over one shared index
==========  ============================================================

Analyses never see which engine ran: they ask the reductions in
:mod:`prefqa.engine` for named statistics, and those run SQL written once in
DuckDB's dialect (transpiled for Spark).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

import pandas as pd
import pyarrow as pa

from ..errors import SchemaError
from ..schema import PreferenceData
from ._backend import Backend, DuckDBBackend, EngineError, SparkBackend
from ._texts import build_tables, check_references, empty_texts
from ._validate import FILE_STRIDE, ScanLoadReport, validate

__all__ = ["ScanLoadReport", "ScannedData", "is_scanned", "scan"]

ENGINES = ("duckdb", "spark", "auto")
_REQUIRED = ("comparison_id", "annotator_id", "choice")
_ID_COLUMNS = ("comparison_id", "annotator_id", "prompt_id", "response_a_id", "response_b_id", "model_a", "model_b")


class ScannedData:
    """Preference judgments that stay in an engine; every public analysis accepts them.

    Build it with :func:`scan`. Queries use the placeholders ``{j}`` (coded
    judgments), ``{r}`` (responses) and ``{p}`` (prompts).

    Attributes
    ----------
    engine : str
        ``"duckdb"`` or ``"spark"``.
    backend : Backend
        Runs SQL (DuckDB dialect) and returns Arrow.
    columns : tuple of str
        The judgment columns of the source (without the code columns).
    """

    def __init__(self, backend: Backend, *, judgments: str, responses: str | None, prompts: str | None,
                 columns: Sequence[str], order_known: bool = True, load_report: Any = None,
                 meta: dict[str, Any] | None = None) -> None:
        self.backend = backend
        self.engine = backend.name
        self.judgments_table = judgments
        self.responses_table = responses
        self.prompts_table = prompts
        self.columns = tuple(columns)
        self.order_known = order_known
        self.load_report = load_report
        self.meta: dict[str, Any] = dict(meta or {})
        self._cache: dict[str, Any] = {}

    # -------------------------------------------------------------- queries
    def _format(self, query: str) -> str:
        return query.format(j=self.judgments_table, r=self.responses_table or "__no_responses__",
                            p=self.prompts_table or "__no_prompts__")

    def sql(self, query: str) -> pa.Table:
        """Run ``query`` (DuckDB dialect; ``{j}``, ``{r}``, ``{p}`` placeholders) and return Arrow."""
        return self.backend.sql(self._format(query))

    def frame(self, query: str) -> pd.DataFrame:
        """Run ``query`` and return a pandas frame."""
        return self.backend.frame(self._format(query))

    def scalar(self, query: str) -> Any:
        """Run ``query`` returning one value."""
        return self.backend.scalar(self._format(query))

    def cached(self, key: str, query: str) -> pd.DataFrame:
        """Run ``query`` once per ``key`` and keep its (small) result."""
        if key not in self._cache:
            self._cache[key] = self.frame(query)
        return self._cache[key]

    # --------------------------------------------------------------- counts
    def _counts(self) -> dict[str, int]:
        if "counts" not in self._cache:
            prm = "count(DISTINCT prompt_id)" if "prompt_id" in self.columns else "0"
            t = self.frame(
                f"SELECT count(*) AS j, count(DISTINCT _cmp) AS c, count(DISTINCT annotator_id) AS a, "
                f"{prm} AS p FROM {{j}}"
            )
            row = t.iloc[0]
            self._cache["counts"] = {k: int(row[k]) for k in ("j", "c", "a", "p")}
        return self._cache["counts"]

    @property
    def n_judgments(self) -> int:
        """Number of judgments."""
        return self._counts()["j"]

    @property
    def n_comparisons(self) -> int:
        """Number of comparisons."""
        return self._counts()["c"]

    @property
    def n_annotators(self) -> int:
        """Number of distinct named annotators."""
        return self._counts()["a"]

    @property
    def n_prompts(self) -> int:
        """Number of distinct prompt ids in the judgments."""
        return self._counts()["p"]

    @property
    def has_annotators(self) -> bool:
        """``True`` when at least one judgment names its annotator."""
        return self.n_annotators > 0

    @property
    def has_models(self) -> bool:
        """``True`` when the judgments carry ``model_a`` and ``model_b``."""
        return "model_a" in self.columns and "model_b" in self.columns

    @property
    def has_texts(self) -> bool:
        """``True`` when a responses table with a ``text`` column is attached."""
        return self.responses_table is not None and "text" in self.backend.columns(self.responses_table)

    # -------------------------------------------------------------- to memory
    def collect(self, *, where: str | None = None, texts: bool = True) -> PreferenceData:
        """Pull the judgments (optionally only rows matching ``where``) into a ``PreferenceData``.

        Rows keep their scan order (``_row``), so the canonical orientation of
        each comparison is the one the engine used. Responses and prompts are
        restricted to the ids the selected judgments name; with ``texts=False``
        their ``text`` columns are missing values (ids and precomputed features
        only), for analyses that need the votes but not the words.
        """
        cond = f"WHERE {where}" if where else ""
        cols = ", ".join(_quote(c) for c in self.columns)
        j = self.frame(f"SELECT {cols} FROM {{j}} {cond} ORDER BY _row").reset_index(drop=True)
        responses = prompts = None
        if self.responses_table is not None:
            rcols = self.backend.columns(self.responses_table)
            keep = ", ".join(_quote(c) if texts or c != "text" else "CAST(NULL AS VARCHAR) AS text" for c in rcols)
            if "response_a_id" in self.columns:
                responses = self.frame(
                    f"SELECT {keep} FROM {{r}} WHERE response_id IN (SELECT response_a_id FROM {{j}} {cond} "
                    f"UNION SELECT response_b_id FROM {{j}} {cond}) ORDER BY response_id"
                )
        if self.prompts_table is not None and "prompt_id" in self.columns:
            pcols = self.backend.columns(self.prompts_table)
            keep = ", ".join(_quote(c) if texts or c != "text" else "CAST(NULL AS VARCHAR) AS text" for c in pcols)
            prompts = self.frame(
                f"SELECT {keep} FROM {{p}} WHERE prompt_id IN (SELECT prompt_id FROM {{j}} {cond}) ORDER BY prompt_id"
            )
        return PreferenceData(j, responses=responses, prompts=prompts, order_known=self.order_known,
                              load_report=self.load_report, meta=dict(self.meta))

    def __repr__(self) -> str:
        return (f"ScannedData(engine={self.engine!r}, memory_limit={self.backend.memory_limit!r}, "
                f"judgments={self.judgments_table!r})")


def is_scanned(data: object) -> TypeGuard[ScannedData]:
    """``True`` for a :class:`ScannedData`."""
    return isinstance(data, ScannedData)


# ------------------------------------------------------------------ scan()
def scan(source: Any, *, engine: str = "duckdb", responses: Any = None, prompts: Any = None,
         memory_limit: str | int | None = None, threads: int | None = None,
         connection: Any = None, on_error: str = "raise", duplicates: str = "keep") -> ScannedData:
    """Open preference judgments in an engine, without loading them into memory.

    The judgments are checked in the engine as :func:`prefqa.read` checks
    canonical files (choices through the same spelling table, missing ids,
    numbers, an id carrying two texts, exact duplicates, dangling response
    ids, a comparison naming two response pairs or two prompts), and
    ``load_report`` accounts for every row (:class:`ScanLoadReport`: exact
    counts, the first rejected rows named with file and row). Inline texts
    (``prompt``, ``response_a``, ``response_b``) get the ids ``pq.read``
    gives them and move to the responses / prompts tables.

    Parameters
    ----------
    source : str, Path, list of paths, DuckDB relation, Spark DataFrame or PreferenceData
        Canonical judgments (DESIGN.md section 1): Parquet file(s) or a glob.
        A ``PreferenceData`` (handy in tests) is registered as it is.
    engine : {"duckdb", "spark", "auto"}
        DuckDB (embedded, spills to disk under ``memory_limit``) or Spark on
        ``connection`` (a ``SparkSession``; the active one when omitted).
        ``"auto"`` is DuckDB here (``pq.scan`` always returns
        ``ScannedData``); :func:`choose_engine` says when memory would do.
    responses, prompts : optional
        The responses (``response_id``, ``text`` and/or precomputed features
        such as ``n_chars``, see :data:`prefqa.features.PRECOMPUTED_COLUMNS`)
        and prompts (``prompt_id``, ``text``) tables, in the same forms.
    memory_limit : str or int, optional
        DuckDB's memory limit, such as ``"4GB"``.
    threads : int, optional
        DuckDB's thread count.
    connection : duckdb connection or SparkSession, optional
        Reuse an existing connection / session.
    on_error : {"raise", "skip"}
        As in :func:`prefqa.read`: raise on the first bad row (naming file,
        row, column, values and fix), or exclude bad rows and list them in
        ``load_report.rejected``.
    duplicates : {"keep", "drop"}
        Rows equal to an earlier row in every column are always reported;
        ``"drop"`` also excludes them.

    Returns
    -------
    ScannedData

    Examples
    --------
    >>> import prefqa as pq
    >>> data, _ = pq.simulate(n_prompts=10, n_annotators=4, rng=1)
    >>> s = pq.scan(data)
    >>> s.engine, s.n_judgments == data.n_judgments, s.n_comparisons == data.n_comparisons
    ('duckdb', True, True)
    >>> rows = data.judgments.assign(choice=["A "] + ["??"] + data.judgments["choice"].tolist()[2:])
    >>> s = pq.scan(rows, on_error="skip")
    >>> rep = s.load_report
    >>> rep.n_rows == data.n_judgments, rep.n_rows - rep.n_rows_used, rep.rejected["line"].tolist()
    (True, 1, [2])
    >>> bool(rep.rejected["reason"].str.startswith("unknown choice").all())
    True
    >>> rep.coerced[["value", "to", "n"]].values.tolist()
    [['A ', 'a', 1]]
    """
    if engine not in ENGINES:
        raise SchemaError(f"engine must be one of {list(ENGINES)}; got {engine!r}.")
    requested = engine
    if engine == "auto":  # pq.scan always runs on an engine; choose_engine tells the CLI when memory would do
        engine = "duckdb"
        if memory_limit is None and connection is None:
            from ._auto import auto_memory_limit

            memory_limit = auto_memory_limit()
    backend: Backend
    if engine == "spark":
        session = connection if connection is not None else _active_spark()
        backend = SparkBackend(session)
    else:
        con = connection
        if con is None and _is_duckdb_relation(source):
            import duckdb

            con = duckdb.default_connection()
        backend = DuckDBBackend(con, memory_limit=memory_limit, threads=threads)
    meta: dict[str, Any] = {"engine": backend.name, "engine_requested": requested,
                            "memory_limit": backend.memory_limit, "threads": backend.threads}
    if isinstance(source, PreferenceData):
        return _scan_data(backend, source, responses, prompts, meta)
    files = None if _is_frame_like(source) else _expand(source)
    if requested == "auto" and files:
        from ._auto import choose_engine

        meta["engine_rule"] = choose_engine(files)[1]  # what memory would have needed (the CLI's choice)
    raw = _register(backend, files if files is not None else source, "judgments_src", with_row=True)
    columns = [c for c in backend.columns(raw) if c != "_row"]
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise SchemaError(
            f"the judgments in {_describe(source)} are missing required column(s) {missing}; found {columns}. "
            "Write canonical judgments (comparison_id, annotator_id, choice, ...) or read the file with "
            "pq.read(source, mapping=...)."
        )
    name = files[0] if files and len(files) == 1 else (f"{len(files)} Parquet files" if files else
                                                        f"<{type(source).__name__}>")
    checked = validate(backend, raw, files=files, source_name=name, on_error=on_error, duplicates=duplicates)
    tables = build_tables(backend, checked.good, checked.columns)
    rtab = _register(backend, responses, "responses") if responses is not None else tables.responses
    ptab = _register(backend, prompts, "prompts") if prompts is not None else tables.prompts
    notes = list(checked.notes)
    # the validated rows once as a table: the checks and the coding read them several times, and each read
    # of the view would run the validation's joins again
    good = backend.temp_name("valid")
    backend.materialize(good, f"SELECT * FROM {tables.judgments}")
    notes += check_references(backend, good, tables.columns, rtab, ptab, name)
    jtab = backend.temp_name("j")
    backend.materialize(jtab, _coded_query(good, tables.columns))
    backend.drop(good)
    order_known = True if checked.order_known is None else checked.order_known
    data = ScannedData(backend, judgments=jtab, responses=rtab, prompts=ptab, columns=tables.columns,
                       order_known=order_known, meta=meta)
    n_j = data.n_judgments
    n_empty = empty_texts(backend, rtab)
    n_repeats = int(data.scalar("SELECT coalesce(sum(n - 1), 0) FROM (SELECT _ann, _cmp, count(*) AS n FROM {j} "
                                "WHERE _ann >= 0 GROUP BY _ann, _cmp) t") or 0)
    if n_repeats:
        notes.append(f"{n_repeats:,} judgments repeat an (annotator, comparison) pair already seen; they are kept "
                     "(position consistency and intra-rater reliability use them).")
    if n_empty:
        notes.append(f"{n_empty:,} responses have empty text; they are kept as valid data.")
    if not order_known and n_j:
        notes.append("display order unknown: a/b carries no position signal.")
    if n_j and not data.has_annotators:
        notes.append("no annotator ids: `annotator_id` is missing, not one shared annotator.")
    data.load_report = ScanLoadReport(
        source=name, format="prefqa", n_rows=checked.n_rows, n_rows_used=checked.n_used,
        rejected=checked.rejected, n_judgments=n_j, n_repeats=n_repeats, n_empty_texts=n_empty,
        notes=tuple(notes), duplicates=checked.duplicates, duplicates_policy=duplicates, coerced=checked.coerced,
        unused_columns=tuple(checked.unused), n_rejected_total=checked.n_rejected,
        n_duplicates_total=checked.n_duplicates, rejected_counts=checked.rejected_counts, engine=backend.name,
        memory_limit=backend.memory_limit,
    )
    return data


def _scan_data(backend: Backend, source: PreferenceData, responses: Any, prompts: Any,
               meta: dict[str, Any]) -> ScannedData:
    """Register a ``PreferenceData`` (already valid) as it is."""
    meta = {**source.meta, **meta}
    responses = source.responses if responses is None and len(source.responses) else responses
    prompts = source.prompts if prompts is None and len(source.prompts) else prompts
    raw = _register(backend, source.judgments, "judgments_src", with_row=True)
    rtab = _register(backend, responses, "responses") if responses is not None else None
    ptab = _register(backend, prompts, "prompts") if prompts is not None else None
    columns = [c for c in backend.columns(raw) if c != "_row"]
    jtab = backend.temp_name("j")
    backend.materialize(jtab, _coded_query(raw, columns))
    return ScannedData(backend, judgments=jtab, responses=rtab, prompts=ptab, columns=columns,
                       order_known=source.order_known, load_report=source.load_report, meta=meta)


def _is_frame_like(source: Any) -> bool:
    return isinstance(source, pd.DataFrame | pa.Table) or _is_duckdb_relation(source) or _is_spark_frame(source)


def _coded_query(raw: str, columns: list[str]) -> str:
    """SQL of the coded judgments table (see the module docstring)."""
    has = set(columns)
    casts = ", ".join(
        f"NULLIF(CAST({_quote(c)} AS VARCHAR), '') AS {_quote(c)}" if c in _ID_COLUMNS else _quote(c) for c in columns
    )
    parts = [f"src AS (SELECT {casts}, _row FROM {raw})"]
    sel = ["src.*"]
    joins = []

    def code(col: str, alias: str) -> None:
        parts.append(
            f"{alias}_codes AS (SELECT {col}, row_number() OVER (ORDER BY {col}) - 1 AS {alias} "
            f"FROM (SELECT DISTINCT {col} FROM src WHERE {col} IS NOT NULL) d)"
        )
        joins.append(f"LEFT JOIN {alias}_codes USING ({col})")
        sel.append(f"coalesce({alias}_codes.{alias}, -1) AS {alias}")

    code("comparison_id", "_cmp")
    code("annotator_id", "_ann")
    if "prompt_id" in has:
        code("prompt_id", "_prm")
    ch = "CASE WHEN src.choice = 'a' THEN 0 WHEN src.choice = 'b' THEN 1 ELSE 2 END"
    sel.append(f"{ch} AS _ch")
    if "response_a_id" in has:
        parts.append("first_rows AS (SELECT comparison_id, arg_min(response_a_id, _row) AS _first_a "
                     "FROM src GROUP BY comparison_id)")
        joins.append("LEFT JOIN first_rows USING (comparison_id)")
        flip = "(src.response_a_id IS DISTINCT FROM first_rows._first_a)"
    else:
        flip = "false"
    sel.append(f"{flip} AS _flip")
    sel.append(f"CASE WHEN {flip} AND {ch} < 2 THEN 1 - {ch} ELSE {ch} END AS _och")
    if "model_a" in has and "model_b" in has:
        parts.append(
            "model_codes AS (SELECT m, row_number() OVER (ORDER BY m) - 1 AS code FROM "
            "(SELECT model_a AS m FROM src WHERE model_a IS NOT NULL UNION "
            "SELECT model_b AS m FROM src WHERE model_b IS NOT NULL) d)"
        )
        joins.append("LEFT JOIN model_codes ma ON ma.m = src.model_a LEFT JOIN model_codes mb ON mb.m = src.model_b")
        sel += ["coalesce(ma.code, -1) AS _ma", "coalesce(mb.code, -1) AS _mb"]
    return "WITH " + ",\n".join(parts) + f"\nSELECT {', '.join(sel)} FROM src {' '.join(joins)}"


# ------------------------------------------------------------ registration
def _register(backend: Backend, source: Any, stem: str, *, with_row: bool = False) -> str:
    """Make ``source`` queryable in ``backend`` and return its table name (with ``_row`` if asked)."""
    name = backend.temp_name(stem)
    if isinstance(source, PreferenceData):
        raise SchemaError("pass a PreferenceData as the first argument of pq.scan, not as responses/prompts.")
    if isinstance(source, pd.DataFrame | pa.Table):
        table = source if isinstance(source, pa.Table) else pa.Table.from_pandas(source, preserve_index=False)
        if with_row:
            table = table.append_column("_row", pa.array(range(table.num_rows), type=pa.int64()))
        backend.register(name, table)
        return name
    if _is_duckdb_relation(source):
        if backend.name != "duckdb":
            raise SchemaError("a DuckDB relation needs engine='duckdb'.")
        inner = backend.temp_name(stem + "_rel")
        source.create_view(inner)
        row = ", row_number() OVER () - 1 AS _row" if with_row else ""
        backend.materialize(name, f"SELECT *{row} FROM {inner}")
        return name
    if _is_spark_frame(source):
        if backend.name != "spark":
            raise SchemaError("a Spark DataFrame needs engine='spark'.")
        df = source
        if with_row:
            from pyspark.sql import functions as F

            df = df.withColumn("_row", F.monotonically_increasing_id())
        df.createOrReplaceTempView(name)
        return name
    files = _expand(source)
    if backend.name == "duckdb":
        listing = "[" + ", ".join(_literal(f) for f in files) + "]"
        if with_row:
            # rows in the order of the files given, then within each file
            order = "CASE filename " + " ".join(f"WHEN {_literal(f)} THEN {i}" for i, f in enumerate(files)) + " END"
            query = (f"SELECT * EXCLUDE (filename, file_row_number), "
                     f"(({order}) * CAST({FILE_STRIDE} AS BIGINT) + file_row_number) AS _row "
                     f"FROM read_parquet({listing}, filename = true, file_row_number = true, union_by_name = true)")
            backend.view(name, query)  # read from the files by each query: nothing is copied
        else:
            backend.view(name, f"SELECT * FROM read_parquet({listing}, union_by_name = true)")
        return name
    spark = backend.spark  # type: ignore[attr-defined]
    df = spark.read.option("mergeSchema", "true").parquet(*files)
    if with_row:
        from pyspark.sql import functions as F

        index = {f: i for i, f in enumerate(files)}
        file_order = F.lit(None).cast("long")
        for f, i in index.items():
            file_order = F.when(F.col("_metadata.file_path").endswith(f), F.lit(i)).otherwise(file_order)
        df = df.withColumn("_row", file_order * F.lit(FILE_STRIDE) + F.col("_metadata.row_index"))
    df.createOrReplaceTempView(name)
    return name


def _expand(source: Any) -> list[str]:
    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    files: list[str] = []
    for item in items:
        text = os.fspath(item)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else ([text] if Path(text).exists() else [])
        if not matches:
            raise SchemaError(f"no file matches {text!r}; give a Parquet file, a list of files or a glob "
                              "such as 'data/*.parquet'.")
        for m in matches:
            if Path(m).is_dir():
                inner = sorted(str(p) for p in Path(m).rglob("*.parquet"))
                if not inner:
                    raise SchemaError(f"the folder {m!r} holds no .parquet files.")
                files += inner
            elif not m.endswith(".parquet"):
                raise SchemaError(f"{m!r} is not a Parquet file; pq.scan reads canonical Parquet (convert with "
                                  "pq.write(pq.read(path), 'out.parquet')) or use pq.read for CSV / JSONL.")
            else:
                files.append(str(Path(m).resolve()))
    return files


def _describe(source: Any) -> str:
    if isinstance(source, str | os.PathLike):
        return repr(os.fspath(source))
    return type(source).__name__


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _is_duckdb_relation(obj: Any) -> bool:
    return type(obj).__name__ == "DuckDBPyRelation"


def _is_spark_frame(obj: Any) -> bool:
    return type(obj).__module__.startswith("pyspark.sql") and type(obj).__name__ == "DataFrame"


def _active_spark() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise EngineError("engine='spark' needs pyspark: pip install 'prefqa[spark]' (and a Java runtime).") from exc
    session = SparkSession.getActiveSession()
    if session is None:
        raise SchemaError("engine='spark' needs a SparkSession: pass connection=spark, or build one first "
                          "(SparkSession.builder.master('local[2]').getOrCreate()).")
    return session
