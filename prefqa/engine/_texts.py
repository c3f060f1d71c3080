"""Inline texts of scanned judgments: ids derived as ``pq.read`` derives them, tables kept in the engine.

Judgments with ``prompt``, ``response_a`` and ``response_b`` columns get
``prompt_id`` and ``response_a_id`` / ``response_b_id`` exactly as
:func:`prefqa.io._build.assemble` gives them: ids from the source where every
row has one, else :func:`prefqa._ids.stable_id` (``"p"`` of the prompt text;
``"r"`` of (prompt id, text)) for the rows that lack one. The hash is pandas'
SipHash, which no SQL engine has, so the distinct texts are streamed to Python
in Arrow batches, hashed once each, and written back as an id table that the
engine joins (:meth:`Backend.map_batches`: one batch in this process at a time
on DuckDB, executors on Spark). The ``responses`` and ``prompts`` tables (one row
per id, text of its first appearance: side ``a`` in row order, then side
``b``) stay in the engine; the judgments keep ids only.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from .._ids import stable_id
from ..errors import SchemaError
from ._backend import Backend

__all__ = ["KNOWN_ORDER", "Tables", "build_tables", "check_references", "empty_texts"]

KNOWN_ORDER = ("comparison_id", "annotator_id", "choice", "prompt_id", "response_a_id", "response_b_id", "model_a",
               "model_b", "strength", "seconds", "timestamp")
_TEXTS = ("prompt", "response_a", "response_b")


@dataclass
class Tables:
    """The judgments view (ids, no texts) and the inline responses / prompts tables, if any."""

    judgments: str
    columns: list[str]
    responses: str | None
    prompts: str | None


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _prompt_ids(batch: pa.RecordBatch) -> pa.Table:
    text = batch.column(0).to_pandas().astype("str")
    ids = stable_id("p", text)
    return pa.table({"text": pa.array(text.to_numpy(dtype=object), pa.string()), "id": pa.array(ids, pa.string())})


def _response_ids(batch: pa.RecordBatch) -> pa.Table:
    pid = batch.column(0).to_pandas().astype("str")
    text = batch.column(1).to_pandas().astype("str")
    ids = stable_id("r", pid, text)
    return pa.table({"pid": pa.array(pid.to_numpy(dtype=object), pa.string()),
                     "text": pa.array(text.to_numpy(dtype=object), pa.string()), "id": pa.array(ids, pa.string())})


def build_tables(backend: Backend, good: str, columns: list[str], *, batch_size: int = 1 << 15) -> Tables:
    """Derive ids from inline texts (when present) and return the judgments view without texts."""
    cols = list(columns)
    has = set(cols)
    current = good
    prompts = responses = None
    if "prompt" in has:
        pid = "prompt_id" if "prompt_id" in has else "CAST(NULL AS VARCHAR)"
        complete = "prompt_id" in has and not backend.scalar(f"SELECT count(*) FROM {good} WHERE prompt_id IS NULL")
        if not complete:
            ids = backend.temp_name("pids")
            backend.map_batches(ids, f"SELECT DISTINCT prompt FROM {good} WHERE {pid} IS NULL", _prompt_ids,
                                pa.schema([("text", pa.string()), ("id", pa.string())]), batch_size)
            step = backend.temp_name("jp")
            rest = ", ".join(f"g.{_q(c)}" for c in cols if c != "prompt_id")
            gpid = pid.replace("prompt_id", "g.prompt_id")
            backend.view(step, f"SELECT {rest}, coalesce({gpid}, i.id) AS prompt_id, g._row FROM {good} g "
                               f"LEFT JOIN {ids} i ON i.text = g.prompt")
            current = step
            if "prompt_id" not in has:
                cols.append("prompt_id")
                has.add("prompt_id")
        prompts = backend.temp_name("prompts")
        backend.materialize(prompts, f"SELECT prompt_id, arg_min(prompt, _row) AS text FROM {current} "
                                     f"GROUP BY prompt_id")
    if {"response_a", "response_b"} <= has:
        given = {"response_a_id", "response_b_id"} <= has
        complete = given and not backend.scalar(
            f"SELECT count(*) FROM {current} WHERE response_a_id IS NULL OR response_b_id IS NULL")
        pkey = "coalesce(prompt_id, '')" if "prompt_id" in has else "''"
        if not complete:
            ida = "response_a_id" if given else "CAST(NULL AS VARCHAR)"
            idb = "response_b_id" if given else "CAST(NULL AS VARCHAR)"
            ids = backend.temp_name("rids")
            backend.map_batches(
                ids, f"SELECT DISTINCT pid, text FROM (SELECT {pkey} AS pid, response_a AS text FROM {current} "
                     f"WHERE {ida} IS NULL UNION ALL SELECT {pkey} AS pid, response_b AS text FROM {current} "
                     f"WHERE {idb} IS NULL) u", _response_ids,
                pa.schema([("pid", pa.string()), ("text", pa.string()), ("id", pa.string())]), batch_size)
            step = backend.temp_name("jr")
            rest = ", ".join(f"g.{_q(c)}" for c in cols if c not in ("response_a_id", "response_b_id"))
            backend.view(step, (
                f"SELECT {rest}, coalesce({ida.replace('response', 'g.response')}, ia.id) AS response_a_id, "
                f"coalesce({idb.replace('response', 'g.response')}, ib.id) AS response_b_id, "
                f"g._row FROM {current} g "
                f"LEFT JOIN {ids} ia ON ia.pid = {pkey.replace('prompt_id', 'g.prompt_id')} AND ia.text = g.response_a "
                f"LEFT JOIN {ids} ib ON ib.pid = {pkey.replace('prompt_id', 'g.prompt_id')} AND ib.text = g.response_b"
            ))
            current = step
            for c in ("response_a_id", "response_b_id"):
                if c not in has:
                    cols.append(c)
                    has.add(c)
        responses = backend.temp_name("responses")
        pcol = "prompt_id" if "prompt_id" in has else "CAST(NULL AS VARCHAR)"
        backend.materialize(responses, (
            f"WITH fa AS (SELECT response_a_id AS id, arg_min(response_a, _row) AS t, arg_min({pcol}, _row) AS p "
            f"FROM {current} GROUP BY response_a_id), "
            f"fb AS (SELECT response_b_id AS id, arg_min(response_b, _row) AS t, arg_min({pcol}, _row) AS p "
            f"FROM {current} GROUP BY response_b_id) "
            f"SELECT coalesce(fa.id, fb.id) AS response_id, CASE WHEN fa.id IS NOT NULL THEN fa.p ELSE fb.p END "
            f"AS prompt_id, CASE WHEN fa.id IS NOT NULL THEN fa.t ELSE fb.t END AS text "
            f"FROM fa FULL OUTER JOIN fb ON fa.id = fb.id"
        ))
    keep = [c for c in KNOWN_ORDER if c in has] + [c for c in cols if c not in KNOWN_ORDER and c not in _TEXTS]
    judgments = backend.temp_name("jv")
    backend.view(judgments, f"SELECT {', '.join(_q(c) for c in keep)}, _row FROM {current}")
    return Tables(judgments=judgments, columns=keep, responses=responses, prompts=prompts)


def check_references(backend: Backend, judgments: str, columns: list[str], responses: str | None,
                     prompts: str | None, source: str) -> list[str]:
    """Raise as ``PreferenceData`` does on dangling response ids and on comparisons naming two pairs or
    two prompts; return notes (prompt ids without a prompt text)."""
    has = set(columns)
    notes: list[str] = []
    if responses is not None:
        rcols = backend.columns(responses)
        if "response_id" not in rcols:
            raise SchemaError(f"the responses table needs a `response_id` column; found {rcols}.")
        dup = backend.frame(f"SELECT response_id, count(*) AS n FROM {responses} GROUP BY response_id "
                            f"HAVING count(*) > 1 ORDER BY response_id LIMIT 3")
        if len(dup):
            raise SchemaError(f"`responses.response_id` must be unique; {dup['response_id'].tolist()} appear more "
                              "than once. Keep one row per response.")
        for col in ("response_a_id", "response_b_id"):
            if col in has:
                bad = backend.frame(
                    f"SELECT CAST(j.{col} AS VARCHAR) AS id, count(*) OVER () AS n FROM {judgments} j "
                    f"LEFT JOIN {responses} r ON CAST(r.response_id AS VARCHAR) = CAST(j.{col} AS VARCHAR) "
                    f"WHERE j.{col} IS NOT NULL AND r.response_id IS NULL ORDER BY j._row LIMIT 3")
                if len(bad):
                    raise SchemaError(
                        f"{source}: `judgments.{col}` names response ids not in `responses`: {bad['id'].tolist()} "
                        f"({int(bad['n'].iloc[0])} rows). Pass the response texts, or drop the id columns.")
    if prompts is not None and "prompt_id" in has:
        dup = backend.frame(f"SELECT prompt_id, count(*) AS n FROM {prompts} GROUP BY prompt_id "
                            f"HAVING count(*) > 1 ORDER BY prompt_id LIMIT 3")
        if len(dup):
            raise SchemaError(f"`prompts.prompt_id` must be unique; {dup['prompt_id'].tolist()} appear more than once.")
        n = backend.scalar(f"SELECT count(DISTINCT j.prompt_id) FROM {judgments} j LEFT JOIN {prompts} p "
                           f"ON CAST(p.prompt_id AS VARCHAR) = j.prompt_id WHERE j.prompt_id IS NOT NULL "
                           f"AND p.prompt_id IS NULL")
        if n:
            notes.append(f"{int(n):,} prompt ids of the judgments have no row in the prompts table (no prompt text).")
    checks = []
    if {"response_a_id", "response_b_id"} <= has:
        checks.append(("response pairs", "least(coalesce(response_a_id, ''), coalesce(response_b_id, '')) || chr(1) || "
                       "greatest(coalesce(response_a_id, ''), coalesce(response_b_id, ''))"))
    if "prompt_id" in has:
        checks.append(("prompts", "coalesce(prompt_id, chr(1))"))
    for what, key in checks:
        inner = (f"SELECT comparison_id FROM (SELECT comparison_id, {key} AS k FROM {judgments}) t "
                 f"GROUP BY comparison_id HAVING count(DISTINCT k) > 1")
        n_bad = int(backend.scalar(f"SELECT count(*) FROM ({inner}) b") or 0)
        if n_bad:
            bad = backend.frame(f"{inner} ORDER BY comparison_id LIMIT 3")
            raise SchemaError(
                f"{n_bad} comparison(s) have judgments over different {what}, for example "
                f"comparison_id {bad['comparison_id'].tolist()}. A comparison id must name one prompt and one pair "
                "of responses; give distinct ids to distinct comparisons.")
    return notes


def empty_texts(backend: Backend, responses: str | None) -> int:
    """Responses whose text is empty or whitespace only."""
    if responses is None or "text" not in backend.columns(responses):
        return 0
    return int(backend.scalar(f"SELECT count(*) FROM {responses} WHERE text IS NULL OR "
                              f"regexp_matches(text, '^\\s*$')") or 0)
