"""Validation of scanned judgments in the engine, with a load report like ``pq.read``'s.

The checks are ``pq.read``'s for the canonical format (:mod:`prefqa.io._build`),
written as SQL and run in stages so that each row gets the reason of the first
check it fails, exactly as in memory:

1. exact duplicates (equal to an earlier row in every column): always reported,
   rejected with ``duplicates='drop'``;
2. the choice (blank; not in :data:`prefqa.io._checks.CHOICE_TABLE` after
   trimming spaces and tabs and ignoring case), a missing comparison id, a
   missing annotator id while other rows name theirs, a ``strength`` or
   ``seconds`` that is not a number;
3. a response id seen before with a different text (inline texts);
4. a prompt id seen before with a different prompt text.

With ``on_error='raise'`` the first failing check raises a
:class:`~prefqa.errors.SchemaError` naming file, row, column, the values found
and the fix; with ``'skip'`` the rows are excluded from ``{j}`` and listed in
the report. Counts come from the engine; only the first
:data:`MAX_LISTED` rejected rows and duplicates are pulled into the report's
tables (the totals are exact, see :class:`ScanLoadReport`).

Row numbers: ``line`` is the 1-based position in scan order (files in the order
given, rows within each file); ``file`` and ``file_line`` name the file and
its 1-based row. For one file ``line == file_line``, as ``pq.read`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .._load_report import LoadReport
from ..errors import SchemaError
from ..io._checks import CHOICE_TABLE, choice_fix, order_known_value
from ._backend import Backend

__all__ = ["FILE_STRIDE", "MAX_LISTED", "ScanLoadReport", "Validated", "validate"]

#: ``_row = file_index * FILE_STRIDE + row_within_file`` for Parquet sources.
FILE_STRIDE = 4294967296 * 1024
#: Rejected rows (and duplicates) listed in the report's tables; the counts cover all of them.
MAX_LISTED = 10_000

ID_COLUMNS = ("comparison_id", "annotator_id", "prompt_id", "response_a_id", "response_b_id", "model_a", "model_b")
TEXT_COLUMNS = ("prompt", "response_a", "response_b")
_TIME_COLUMNS = ("timestamp", "tstamp", "time", "created_at", "submitted_at", "datetime", "date")
_UNKNOWN = ("unknown choice value (allowed: 'a', 'b', 'tie' and the spellings listed in the reader docs, such as "
            "'A', 'left', 'first', 'draw')")
_OPTION = " Or pass on_error='skip' to list such rows in data.load_report.rejected."


@dataclass(frozen=True, eq=False)
class ScanLoadReport(LoadReport):
    """A :class:`~prefqa.LoadReport` whose counts come from the engine.

    ``rejected`` and ``duplicates`` list at most :data:`MAX_LISTED` rows each
    (the first in scan order; ``rejected`` also names ``file`` and ``file_line``); ``n_rejected``
    and ``n_duplicates`` are the exact totals and ``rejected_counts`` the
    exact number of rejected rows per reason. Invariant:
    ``n_rows == n_rows_used + n_rejected``.
    """

    n_rejected_total: int = 0
    n_duplicates_total: int = 0
    rejected_counts: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64", name="count"))
    engine: str = ""
    memory_limit: str | None = None

    def __post_init__(self) -> None:
        if self.n_rows != self.n_rows_used + self.n_rejected_total or len(self.rejected) > self.n_rejected_total:
            raise RuntimeError(  # an internal bug, never user input
                f"scan load report does not account for every row: {self.n_rows} rows in, {self.n_rows_used} "
                f"used + {self.n_rejected_total} rejected ({len(self.rejected)} listed)"
            )

    @property
    def n_rejected(self) -> int:
        """Rows rejected (all of them; ``rejected`` lists the first :data:`MAX_LISTED`)."""
        return self.n_rejected_total

    @property
    def n_duplicates(self) -> int:
        """Rows that exactly repeat an earlier row (all of them)."""
        return self.n_duplicates_total

    def rejected_by_reason(self) -> pd.Series:
        """Return the exact number of rejected rows per reason, largest first."""
        return self.rejected_counts.sort_values(ascending=False, kind="stable")

    def to_frame(self) -> pd.DataFrame:
        """Return the counts as a one-row tidy DataFrame (with the engine and its memory limit)."""
        return super().to_frame().assign(engine=self.engine, memory_limit=self.memory_limit)

    def summary(self) -> str:
        """Return :meth:`LoadReport.summary` plus the engine line."""
        text = super().summary()
        listed = ""
        if self.n_rejected > len(self.rejected):
            listed = f"\nThe first {len(self.rejected):,} of {self.n_rejected:,} rejected rows are listed."
        return text + listed + f"\nEngine: {self.engine} (memory limit {self.memory_limit})."


@dataclass
class Validated:
    """What :func:`validate` leaves in the engine: the good rows and the report's parts."""

    good: str
    columns: list[str]
    n_rows: int
    n_used: int
    rejected: pd.DataFrame
    rejected_counts: pd.Series
    n_rejected: int
    duplicates: pd.DataFrame
    n_duplicates: int
    coerced: pd.DataFrame
    notes: list[str]
    order_known: bool | None
    unused: list[str]


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _trim_tabs(expr: str) -> str:
    return f"regexp_replace(regexp_replace({expr}, '^[ \t]+', ''), '[ \t]+$', '')"


def _choice_sql(raw: str) -> str:
    cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in CHOICE_TABLE.items())
    return (f"CASE WHEN {raw} IN ('a', 'b', 'tie') THEN {raw} "
            f"ELSE (CASE lower({_trim_tabs(raw)}) {cases} ELSE NULL END) END")


def _normalized_view(backend: Backend, raw: str, columns: list[str], types: dict[str, str]) -> str:
    """A view of ``raw`` with ids as text (empty -> missing, 3.0 -> '3'), texts as text ('' when missing)."""
    sel = []
    for c in columns:
        if c in ID_COLUMNS:
            expr = f"CAST({_q(c)} AS VARCHAR)"
            if types.get(c) == "float":
                integral = backend.scalar(f"SELECT count(*) FROM {raw} WHERE {_q(c)} <> floor({_q(c)})") == 0
                if integral:
                    expr = f"CAST(CAST({_q(c)} AS BIGINT) AS VARCHAR)"
            sel.append(f"NULLIF({expr}, '') AS {_q(c)}")
        elif c in TEXT_COLUMNS:
            sel.append(f"coalesce(CAST({_q(c)} AS VARCHAR), '') AS {_q(c)}")
        elif c == "choice":
            sel.append(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}")
        else:
            sel.append(_q(c))
    name = backend.temp_name("norm")
    backend.view(name, f"SELECT {', '.join(sel)}, _row FROM {raw}")
    return name


def _kind(t: Any) -> str:
    import pyarrow as pa

    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        return "int"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "str"
    return "other"


def validate(backend: Backend, raw: str, *, files: list[str] | None, source_name: str, on_error: str,
             duplicates: str) -> Validated:
    """Run the checks on the registered source ``raw`` (with ``_row``) and return the good rows' view."""
    if on_error not in ("raise", "skip"):
        raise SchemaError(f"`on_error` must be 'raise' or 'skip'; got {on_error!r}.")
    if duplicates not in ("keep", "drop"):
        raise SchemaError(f"`duplicates` must be 'keep' or 'drop'; got {duplicates!r}.")
    schema = backend.sql(f"SELECT * FROM {raw} LIMIT 0").schema
    columns = [c for c in schema.names if c != "_row"]
    types = {f.name: _kind(f.type) for f in schema}
    notes: list[str] = []
    where = _Where(backend, raw, files, source_name)
    n_rows = int(backend.scalar(f"SELECT count(*) FROM {raw}") or 0)
    order_known: bool | None = None
    unused: list[str] = []
    if "order_known" in columns:
        values = backend.frame(f"SELECT DISTINCT lower(CAST(order_known AS VARCHAR)) AS v FROM {raw}")["v"]
        order_known = order_known_value(values.dropna().astype(str).tolist(), source_name)
    if "prompt_messages" in columns:
        unused.append("prompt_messages")
        notes.append("the 'prompt_messages' column is not read by pq.scan (prompts keep their text); "
                     "use pq.read for conversational prompts.")
    keep_cols = [c for c in columns if c not in ("order_known", "prompt_messages")]
    rejects: list[str] = []  # tables of (_row, _col, _val, _reason, _code) per stage

    # -- 1. exact duplicates (every source column, as pq.read compares them)
    part = ", ".join(_q(c) for c in columns)
    dups = backend.temp_name("dups")
    # a 64-bit hash of every column finds the candidate rows (few) with an aggregate over integers;
    # their columns are then compared exactly, so a hash collision can never make a duplicate
    same = " AND ".join(f"r.{_q(c)} IS NOT DISTINCT FROM g.{_q(c)}" for c in columns)
    hashed = f"{'xxhash64' if backend.name == 'spark' else 'hash'}({part})"
    backend.materialize(dups, (
        f"WITH h AS (SELECT _row, {hashed} AS _h FROM {raw}), "
        f"c AS (SELECT _h FROM h GROUP BY _h HAVING count(*) > 1), "
        f"cand AS (SELECT s.* FROM {raw} s WHERE s._row IN (SELECT h._row FROM h JOIN c ON c._h = h._h)), "
        f"g AS (SELECT {part}, min(_row) AS _first FROM cand GROUP BY {part} HAVING count(*) > 1) "
        f"SELECT r._row, g._first FROM cand r JOIN g ON {same} WHERE r._row <> g._first"))
    n_dup = int(backend.scalar(f"SELECT count(*) FROM {dups}") or 0)
    dup_frame = where.duplicates(dups) if n_dup else _empty_dups()
    if n_dup:
        cols = {c.lower() for c in columns}
        what = ("they are equal in every column, timestamps included, so they are most likely copies made by an "
                "export or a merge") if cols & set(_TIME_COLUMNS) else (
                "the files have no timestamp column, so a duplicate cannot be told apart from the same annotator "
                "judging the same item twice in the same display order")
        action = ("dropped (duplicates='drop')" if duplicates == "drop"
                  else "kept (pass duplicates='drop' to remove them)")
        notes.append(f"{n_dup:,} rows are exact duplicates of an earlier row ({what}); {action}.")
        if duplicates == "drop":
            t = backend.temp_name("rej")
            backend.materialize(t, f"SELECT _row, '' AS _col, CAST(_first AS VARCHAR) AS _val, "
                                   f"'exact duplicate of an earlier row (duplicates=''drop'')' AS _reason, 0 AS _code "
                                   f"FROM {dups}")
            rejects.append(t)
    norm = _normalized_view(backend, raw, keep_cols, types)

    def alive() -> str:
        """``norm`` without the rows rejected so far (one anti join: Spark plans NOT IN as a nested loop)."""
        if not rejects:
            return f"(SELECT * FROM {norm})"
        gone = " UNION ALL ".join(f"SELECT _row FROM {t}" for t in rejects)
        return f"(SELECT n.* FROM {norm} n LEFT JOIN ({gone}) x ON x._row = n._row WHERE x._row IS NULL)"

    mapped = _choice_sql("choice")
    coerced = _coerced(backend, alive(), mapped)  # as pq.read: every row past the duplicates

    # -- 2. choice, ids, numbers
    # the regular expression runs only on the rare rows that are not already 'a', 'b' or 'tie'
    blank = ("(CASE WHEN choice IN ('a', 'b', 'tie') THEN FALSE WHEN choice IS NULL THEN TRUE "
             "ELSE regexp_matches(choice, '^\\s*$') END)")
    any_ann = bool(backend.scalar(
        f"SELECT count(*) FROM {alive()} a WHERE annotator_id IS NOT NULL AND NOT {blank} AND {mapped} IS NOT NULL"
    )) if "annotator_id" in keep_cols else False
    cases = [(blank, "choice", "choice", "choice is missing"),
             (f"{mapped} IS NULL", "choice", "choice", _UNKNOWN),
             ("comparison_id IS NULL", "comparison_id", "comparison_id", "comparison id is missing")]
    if any_ann:
        cases.append(("annotator_id IS NULL", "annotator_id", "annotator_id",
                      "annotator id is missing while other rows name their annotator"))
    for col in ("strength", "seconds"):
        if col in keep_cols and types.get(col) not in ("float", "int"):
            text = f"CAST({col} AS VARCHAR)"
            cases.append((f"({col} IS NOT NULL AND NOT regexp_matches({text}, '^\\s*$') AND "
                          f"TRY_CAST(trim({text}) AS DOUBLE) IS NULL)", col, col, f"{col} is not a number"))
    code = "CASE " + " ".join(f"WHEN {cond} THEN {i + 1}" for i, (cond, *_r) in enumerate(cases)) + " END"
    col_of = "CASE _code " + " ".join(f"WHEN {i + 1} THEN {_lit(c[1])}" for i, c in enumerate(cases)) + " END"
    val_of = "CASE _code " + " ".join(f"WHEN {i + 1} THEN CAST({c[2]} AS VARCHAR)"
                                      for i, c in enumerate(cases)) + " END"
    why = "CASE _code " + " ".join(f"WHEN {i + 1} THEN {_lit(c[3])}" for i, c in enumerate(cases)) + " END"
    t2 = backend.temp_name("rej")
    backend.materialize(t2, f"SELECT _row, {col_of} AS _col, {val_of} AS _val, {why} AS _reason, 10 + _code AS _code "
                            f"FROM (SELECT *, {code} AS _code FROM {alive()} a) s "
                            f"WHERE _code IS NOT NULL")
    _maybe_raise(backend, t2, where, on_error, cases)
    rejects.append(t2)

    # -- 3. a response id with two texts (first text: side a in row order, then side b)
    if {"response_a", "response_b", "response_a_id", "response_b_id"} <= set(keep_cols):
        ok = alive()
        t3 = backend.temp_name("rej")
        backend.materialize(t3, (
            f"WITH ok AS {ok}, "
            f"fa AS (SELECT response_a_id AS id, arg_min(response_a, _row) AS t FROM ok "
            f"WHERE response_a_id IS NOT NULL "
            f"GROUP BY response_a_id), "
            f"fb AS (SELECT response_b_id AS id, arg_min(response_b, _row) AS t FROM ok "
            f"WHERE response_b_id IS NOT NULL "
            f"GROUP BY response_b_id), "
            f"f AS (SELECT coalesce(fa.id, fb.id) AS id, CASE WHEN fa.id IS NOT NULL THEN fa.t ELSE fb.t END AS t "
            f"FROM fa FULL OUTER JOIN fb ON fa.id = fb.id), "
            f"bad AS (SELECT ok._row, ok.response_a_id, ok.response_b_id, (ok.response_a <> f1.t) AS _sa, "
            f"(ok.response_b <> f2.t) AS _sb FROM ok LEFT JOIN f f1 ON f1.id = ok.response_a_id "
            f"LEFT JOIN f f2 ON f2.id = ok.response_b_id WHERE ok.response_a <> f1.t OR ok.response_b <> f2.t), "
            f"side AS (SELECT arg_min(_sa, _row) AS first_a FROM bad) "
            f"SELECT _row, CASE WHEN side.first_a THEN 'response_a_id' ELSE 'response_b_id' END AS _col, "
            f"CASE WHEN _sa THEN response_a_id ELSE response_b_id END AS _val, "
            f"'response id seen before with a different text' AS _reason, 30 AS _code FROM bad CROSS JOIN side"
        ))
        _maybe_raise(backend, t3, where, on_error, None)
        rejects.append(t3)
    # -- 4. a prompt id with two prompt texts
    if {"prompt", "prompt_id"} <= set(keep_cols):
        ok = alive()
        t4 = backend.temp_name("rej")
        backend.materialize(t4, (
            f"WITH ok AS {ok}, f AS (SELECT prompt_id AS id, arg_min(prompt, _row) AS t FROM ok "
            f"WHERE prompt_id IS NOT NULL GROUP BY prompt_id) "
            f"SELECT ok._row, 'prompt_id' AS _col, ok.prompt_id AS _val, "
            f"'prompt id seen before with a different prompt text' AS _reason, 40 AS _code "
            f"FROM ok JOIN f ON f.id = ok.prompt_id WHERE ok.prompt <> f.t"
        ))
        _maybe_raise(backend, t4, where, on_error, None)
        rejects.append(t4)

    rej = backend.temp_name("rejected")
    backend.view(rej, " UNION ALL ".join(f"SELECT _row, _col, _val, _reason, _code FROM {t}" for t in rejects)
                 if rejects else "SELECT CAST(0 AS BIGINT) AS _row, '' AS _col, '' AS _val, '' AS _reason, "
                                 "0 AS _code WHERE FALSE")
    counts = backend.frame(f"SELECT _reason, count(*) AS n FROM {rej} GROUP BY _reason")
    rejected_counts = pd.Series(counts["n"].to_numpy(dtype="int64"), index=pd.Index(counts["_reason"].astype(str),
                                name="reason"), name="count")
    n_rejected = int(rejected_counts.sum())
    rejected = where.rejected(rej) if n_rejected else _empty_rejected()

    # -- the good rows: mapped choices, numbers as DOUBLE
    sel = []
    for c in keep_cols:
        if c == "choice":
            sel.append(f"{mapped} AS choice")
        elif c in ("strength", "seconds"):
            inner = f"TRY_CAST(trim(CAST({c} AS VARCHAR)) AS DOUBLE)" if types.get(c) not in ("float", "int") \
                else f"CAST({c} AS DOUBLE)"
            sel.append(f"{inner} AS {c}")
        else:
            sel.append(_q(c))
    good = backend.temp_name("good")
    backend.view(good, f"SELECT {', '.join(sel)}, _row FROM {alive()} a")
    for c in ("strength", "seconds"):
        if c in keep_cols and types.get(c) not in ("float", "int"):
            n = int(backend.scalar(f"SELECT count({c}) FROM {good}") or 0)
            if n:
                coerced = pd.concat([coerced, pd.DataFrame({"column": [c], "value": ["<number as text>"],
                                                            "to": ["<number>"], "n": [n]})], ignore_index=True)
    return Validated(good=good, columns=keep_cols, n_rows=n_rows, n_used=n_rows - n_rejected, rejected=rejected,
                     rejected_counts=rejected_counts, n_rejected=n_rejected, duplicates=dup_frame,
                     n_duplicates=n_dup, coerced=coerced, notes=notes, order_known=order_known, unused=unused)


def _coerced(backend: Backend, rows: str, mapped: str) -> pd.DataFrame:
    f = backend.frame(f"SELECT choice AS value, to_, count(*) AS n FROM (SELECT choice, {mapped} AS to_ "
                      f"FROM {rows} r) c WHERE choice NOT IN ('a', 'b', 'tie') AND to_ IS NOT NULL "
                      f"GROUP BY choice, to_ ORDER BY choice")
    return pd.DataFrame({"column": pd.Series(["choice"] * len(f), dtype="str"),
                         "value": f["value"].astype("str"), "to": f["to_"].astype("str"),
                         "n": f["n"].astype("int64")})


def _maybe_raise(backend: Backend, table: str, where: _Where, on_error: str, cases: list[tuple] | None) -> None:
    if on_error != "raise":
        return
    first = backend.frame(f"SELECT _code, _col, _reason FROM {table} ORDER BY _code, _row LIMIT 1")
    if not len(first):
        return
    code, col, reason = int(first["_code"].iloc[0]), str(first["_col"].iloc[0]), str(first["_reason"].iloc[0])
    rows = backend.frame(f"SELECT _row, _val FROM {table} WHERE _code = {code} ORDER BY _row LIMIT 5")
    counts = backend.frame(f"SELECT coalesce(_val, '<missing>') AS v, count(*) AS n FROM {table} WHERE _code = {code} "
                           f"GROUP BY 1 ORDER BY n DESC, min(_row) LIMIT 6")  # pandas' value_counts order
    total = int(backend.scalar(f"SELECT count(*) FROM {table} WHERE _code = {code}") or 0)
    found = ", ".join(f"{v!r} ({n} rows)" for v, n in zip(counts["v"], counts["n"]))
    located = where.locate(rows["_row"].tolist())
    more = f" (rows {', '.join(x[2] for x in located)}{', ...' if total > 5 else ''})" if total > 1 else ""
    fix, fix_data = _fix(reason, col, backend, table, code)
    err = SchemaError(f"{located[0][0]}, row {located[0][1]}, column {col!r}: {reason}; found {found}{more}. "
                      f"{fix}{_OPTION}")
    err.fix = fix_data  # type: ignore[attr-defined]
    raise err


def _fix(reason: str, col: str, backend: Backend, table: str, code: int) -> tuple[str, dict[str, Any] | None]:
    if reason == _UNKNOWN:
        values = backend.frame(f"SELECT DISTINCT _val AS v FROM {table} WHERE _code = {code} ORDER BY 1 LIMIT 50")
        return choice_fix(values["v"], "choice")
    fixes = {"choice is missing": "Fill in the choice ('a', 'b' or 'tie').",
             "comparison id is missing": "Fill in the comparison id.",
             "annotator id is missing while other rows name their annotator":
                 "Fill in the annotator id (or remove the column if the files have no annotators).",
             "response id seen before with a different text":
                 "Give each distinct text its own response id, or correct the texts.",
             "prompt id seen before with a different prompt text":
                 "Give each distinct prompt its own prompt id, or correct the texts."}
    return fixes.get(reason, f"Fix the {col} value, or drop the column."), None


def _empty_rejected() -> pd.DataFrame:
    return pd.DataFrame({"line": pd.Series(dtype="int64"), "column": pd.Series(dtype="str"),
                         "value": pd.Series(dtype="str"), "reason": pd.Series(dtype="str"),
                         "file": pd.Series(dtype="str"), "file_line": pd.Series(dtype="int64")})


def _empty_dups() -> pd.DataFrame:
    return pd.DataFrame({"line": pd.Series(dtype="int64"), "duplicate_of": pd.Series(dtype="int64")})


class _Where:
    """Turn ``_row`` values into (file, file_line, line) for messages and the report."""

    def __init__(self, backend: Backend, raw: str, files: list[str] | None, source_name: str) -> None:
        self.files = files
        self.name = source_name
        self.offsets: dict[int, int] = {0: 0}
        if files and len(files) > 1:
            f = backend.frame(f"SELECT _row // {FILE_STRIDE} AS f, count(*) AS n FROM {raw} GROUP BY 1 ORDER BY 1")
            sizes = dict(zip(f["f"].astype(int), f["n"].astype(int)))
            total = 0
            for i in range(len(files)):
                self.offsets[i] = total
                total += sizes.get(i, 0)
        self.backend = backend

    def _split(self, rows: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
        r = rows.astype("int64")
        if self.files:
            fidx = r // FILE_STRIDE
            fline = r % FILE_STRIDE + 1
            names = fidx.map(lambda i: self.files[int(i)] if self.files else self.name).astype("str")
            line = fline + fidx.map(self.offsets).astype("int64")
        else:
            fline = r + 1
            names = pd.Series(self.name, index=r.index, dtype="str")
            line = fline
        return line, names, fline

    def locate(self, rows: list[int]) -> list[tuple[str, int, str]]:
        line, names, fline = self._split(pd.Series(rows, dtype="int64"))
        return [(n, int(fl), str(fl) if not self.files or len(self.files) == 1 else f"{n}:{fl}")
                for n, fl in zip(names, fline)]

    def rejected(self, table: str) -> pd.DataFrame:
        f = self.backend.frame(f"SELECT _row, _col, _val, _reason, _code FROM {table} ORDER BY _row LIMIT {MAX_LISTED}")
        line, names, fline = self._split(f["_row"])
        dup = f["_code"] == 0  # a dropped duplicate names the line it repeats
        value = f["_val"].astype("str").fillna("<missing>").str.slice(0, 200)
        if dup.any():
            first, _, _ = self._split(pd.to_numeric(value[dup]).astype("int64"))
            value = value.where(~dup, "= line " + first.astype(str))
        return pd.DataFrame({"line": line.to_numpy(dtype="int64"), "column": f["_col"].astype("str"),
                             "value": value, "reason": f["_reason"].astype("str"), "file": names,
                             "file_line": fline.to_numpy(dtype="int64")})

    def duplicates(self, table: str) -> pd.DataFrame:
        f = self.backend.frame(f"SELECT _row, _first FROM {table} ORDER BY _row LIMIT {MAX_LISTED}")
        line, names, fline = self._split(f["_row"])
        first, _, _ = self._split(f["_first"])
        return pd.DataFrame({"line": line.to_numpy(dtype="int64"), "duplicate_of": first.to_numpy(dtype="int64")})
