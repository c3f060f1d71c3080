"""Stream training files from the engine: texts joined to the pair decisions in SQL, written by the engine.

``pq.export`` of a ``PairSet`` built on engine data (``pq.build_pairs(scanned)``,
see :mod:`prefqa.engine._pairs`) registers the per-pair decisions (order,
prompt id, chosen and rejected response ids, margin; a few ids per pair) in
the engine and runs one query per format that joins the prompt and response
texts. DuckDB writes the result itself (``COPY ... TO``: Parquet, or
newline-delimited JSON, gzip for ``.jsonl.gz``) under its memory limit;
Spark's result is streamed to the driver one partition at a time and written
batch by batch. The texts are never all in Python memory at once. The caller
writes to a temporary file and renames it (``prefqa._atomic``).

The rows, their order and their values are those of the in-memory export
(:mod:`prefqa.export._formats`): ``dpo`` (prompt, chosen, rejected),
``reward`` (prompt prepended; ``margin``), ``kto`` (chosen then rejected row
of each pair, then the kept ties labelled ``tie_label``), ``prompts``
(distinct prompt texts in first-seen order), ``openai`` (message lists).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq_parquet

from ._scan import ScannedData

__all__ = ["COLUMNS", "decisions", "stream_export"]

COLUMNS: dict[str, tuple[str, ...]] = {
    "dpo": ("prompt", "chosen", "rejected"), "reward": ("chosen", "rejected"),
    "kto": ("prompt", "completion", "label"), "prompts": ("prompt",),
    "openai": ("input", "preferred_output", "non_preferred_output"),
}


def _query(fmt: str, d: str, r: str, p: str | None, *, margin: bool, tie_label: bool | None) -> str:
    prompt = "coalesce(pt.text, '')" if p else "''"
    joins = (f"FROM {d} d LEFT JOIN (SELECT CAST(response_id AS VARCHAR) AS rid, CAST(text AS VARCHAR) AS text "
             f"FROM {r}) ct ON ct.rid = d.chosen_id LEFT JOIN (SELECT CAST(response_id AS VARCHAR) AS rid, "
             f"CAST(text AS VARCHAR) AS text FROM {r}) rt ON rt.rid = d.rejected_id")
    if p:
        joins += (f" LEFT JOIN (SELECT CAST(prompt_id AS VARCHAR) AS pid, CAST(text AS VARCHAR) AS text FROM {p}) pt "
                  "ON pt.pid = d.prompt_id")
    chosen, rejected = "coalesce(ct.text, '')", "coalesce(rt.text, '')"
    pairs_only = "WHERE NOT d.is_tie"
    if fmt == "dpo":
        return (f"SELECT {prompt} AS prompt, {chosen} AS chosen, {rejected} AS rejected {joins} {pairs_only} "
                "ORDER BY d.k")
    if fmt == "reward":
        extra = ", CAST(d.margin AS DOUBLE) AS margin" if margin else ""
        return (f"SELECT {prompt} || {chosen} AS chosen, {prompt} || {rejected} AS rejected{extra} {joins} "
                f"{pairs_only} ORDER BY d.k")
    if fmt == "kto":
        tie = "true" if tie_label else "false"
        return (f"SELECT prompt, completion, label FROM ("
                f"SELECT d.k, 0 AS side, {prompt} AS prompt, {chosen} AS completion, "
                f"CASE WHEN d.is_tie THEN {tie} ELSE true END AS label {joins} UNION ALL "
                f"SELECT d.k, 1 AS side, {prompt} AS prompt, {rejected} AS completion, "
                f"CASE WHEN d.is_tie THEN {tie} ELSE false END AS label {joins}) u ORDER BY k, side")
    if fmt == "prompts":
        return f"SELECT prompt FROM (SELECT {prompt} AS prompt, min(d.k) AS k {joins} GROUP BY 1) u ORDER BY k"
    # openai
    return (f"SELECT struct_pack(messages := [struct_pack(role := 'user', content := {prompt})]) AS input, "
            f"[struct_pack(role := 'assistant', content := {chosen})] AS preferred_output, "
            f"[struct_pack(role := 'assistant', content := {rejected})] AS non_preferred_output "
            f"{joins} {pairs_only} ORDER BY d.k")


def _ids(values: pd.Series) -> pa.Array:
    return pa.array(values.astype("str"), type=pa.string(), from_pandas=True)


def decisions(pairs: pd.DataFrame, ties: pd.DataFrame) -> pa.Table:
    """The per-pair decisions the export joins texts to: pairs first, then the kept ties, in order."""
    both = pd.concat([pairs.assign(is_tie=False), ties.assign(is_tie=True)], ignore_index=True)
    margin = both["margin"].to_numpy(dtype="float64") if "margin" in both else [float("nan")] * len(both)
    return pa.table({
        "k": pa.array(range(len(both)), type=pa.int64()),
        "prompt_id": _ids(both["prompt_id"]),
        "chosen_id": _ids(both["chosen_id"]),
        "rejected_id": _ids(both["rejected_id"]),
        "margin": pa.array(margin, type=pa.float64()),
        "is_tie": pa.array(both["is_tie"].to_numpy(dtype=bool)),
    })


def stream_export(data: ScannedData, table: pa.Table, fmt: str, tmp: str | Path, file_type: str, *,
                  margin: bool = False, tie_label: bool | None = None) -> int:
    """Write ``fmt`` rows for the decisions ``table`` to ``tmp`` from the engine; return the row count.

    ``file_type`` is ``"parquet"``, ``"jsonl"`` or ``"jsonl.gz"``.
    """
    backend = data.backend
    name = backend.temp_name("export")
    backend.register(name, table)
    try:
        query = _query(fmt, name, data.responses_table or "__no_responses__", data.prompts_table,
                       margin=margin, tie_label=tie_label)
        n_pairs = int(pc.sum(pc.invert(table.column("is_tie"))).as_py() or 0)
        n_rows = {"kto": 2 * table.num_rows, "prompts": -1}.get(fmt, n_pairs)
        if n_rows < 0:
            n_rows = int(backend.scalar(f"SELECT count(*) FROM ({query}) c"))
        if backend.name == "duckdb":
            opts = "FORMAT parquet" if file_type == "parquet" else "FORMAT json" + (
                ", COMPRESSION gzip" if file_type == "jsonl.gz" else "")
            target = str(tmp).replace("'", "''")
            backend.con.execute(f"COPY ({query}) TO '{target}' ({opts})").fetchall()  # type: ignore[attr-defined]
        else:
            _write_batches(_spark_batches(backend, query), str(tmp), file_type, COLUMNS[fmt])
    finally:
        backend.drop(name)
    return n_rows


def _spark_batches(backend: Any, query: str, batch_size: int = 1 << 14) -> Any:
    """Spark's rows one partition at a time (``toLocalIterator``), nested values as dicts, in Arrow batches."""
    from ._backend import EngineError, transpile

    try:
        rows_iter = backend.spark.sql(transpile(query, "spark")).toLocalIterator()
    except Exception as exc:
        raise EngineError(f"Spark refused the export query prefqa generated: {exc}") from exc
    rows: list[dict[str, Any]] = []
    for row in rows_iter:
        rows.append(row.asDict(recursive=True))
        if len(rows) >= batch_size:
            yield pa.RecordBatch.from_pylist(rows)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows)


def _write_batches(batches: Any, tmp: str, file_type: str, columns: tuple[str, ...]) -> None:
    """Write Arrow record batches to Parquet or JSON lines, one batch in memory at a time."""
    if file_type == "parquet":
        writer = None
        try:
            for b in batches:
                if writer is None:
                    writer = pq_parquet.ParquetWriter(tmp, b.schema)
                writer.write_batch(b)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # no rows: an empty file with the format's columns
            pq_parquet.write_table(pa.table({c: pa.array([], type=pa.string()) for c in columns}), tmp)
        return
    opener: Any = gzip.open if file_type == "jsonl.gz" else open
    with opener(tmp, "wt", encoding="utf-8") as f:
        for b in batches:
            f.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in b.to_pylist()))
