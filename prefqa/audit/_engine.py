"""The audit on data kept in an engine (``pq.scan``): facts, the prompt subsample, texts for display.

The audit's steps call the public analyses, which accept a
:class:`~prefqa.engine.ScannedData` as they accept a ``PreferenceData``. What
the audit itself needs from the data (counts for the skip rules, the input
block, prompt texts for the flagged-prompt table) is answered here for both
kinds, so no step branches on the engine.

The crossed preference model is fitted in memory on a subsample of whole
prompts above ``[audit] preference_model_max_judgments``. The subsample rule
is a seeded hash of the prompt ids, so it is the same in memory and in every
engine, independent of row order: prompts are ordered by
``md5("<seed>:<prompt_id>")`` (hex digest, ties by prompt id) and taken while
the running judgment count stays within the cap (at least one prompt).

Examples
--------
>>> import prefqa as pq
>>> data, _ = pq.simulate(n_prompts=30, n_annotators=6, rng=3)
>>> ids = subsample_prompts(data, 200, 0)
>>> bool(ids is not None and 0 < len(ids) < data.n_prompts)
True
>>> bool((ids == subsample_prompts(pq.scan(data), 200, 0)).all())
True
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from ..engine import ScannedData
from ..schema import PreferenceData

__all__ = ["columns", "engine_block", "fingerprint", "max_judgments_per_comparison", "n_models", "n_ratings",
           "n_responses", "prompt_texts", "response_texts", "seed_of", "subsample_prompts"]

AnyData = PreferenceData | ScannedData


def columns(data: AnyData) -> list[str]:
    """The judgment columns (without the engine's code columns)."""
    return list(data.columns) if isinstance(data, ScannedData) else [str(c) for c in data.judgments.columns]


def n_ratings(data: AnyData) -> int:
    """Ratings (absolute scores); ``pq.scan`` reads pairwise judgments only."""
    return 0 if isinstance(data, ScannedData) else int(data.n_ratings)


def n_responses(data: AnyData) -> int:
    """Rows of the responses table."""
    if isinstance(data, ScannedData):
        return int(data.scalar("SELECT count(*) FROM {r}")) if data.responses_table is not None else 0
    return len(data.responses)


def n_models(data: AnyData) -> int:
    """Distinct model ids over ``model_a`` and ``model_b``."""
    if not data.has_models:
        return 0
    if isinstance(data, ScannedData):
        return int(data.scalar("SELECT count(*) FROM (SELECT model_a AS m FROM {j} WHERE model_a IS NOT NULL "
                               "UNION SELECT model_b AS m FROM {j} WHERE model_b IS NOT NULL) d"))
    return len(data.model_codes()[2])


def max_judgments_per_comparison(data: AnyData) -> int:
    """The largest number of judgments of one comparison (0 without judgments)."""
    if isinstance(data, ScannedData):
        value = data.scalar("SELECT max(n) FROM (SELECT count(*) AS n FROM {j} GROUP BY _cmp) d")
        return int(value or 0)
    return int(data.comparisons()["n_judgments"].to_numpy().max(initial=0))


def fingerprint(data: AnyData) -> str:
    """sha256 hex digest of the data.

    In memory: ``PreferenceData.fingerprint()``. In an engine: a digest of the
    engine's own content hash of the judgments (count and the sum of a row
    hash of ids and choices), so it changes with the data but is not equal to
    the in-memory fingerprint of the same rows, nor across engines.
    """
    if not isinstance(data, ScannedData):
        return data.fingerprint()
    cols = [c for c in ("comparison_id", "annotator_id", "choice", "prompt_id", "response_a_id",
                        "response_b_id", "model_a", "model_b") if c in data.columns]
    row = data.frame(f"SELECT count(*) AS n, sum(CAST(hash({', '.join(cols)}) AS DOUBLE)) AS h FROM {{j}}").iloc[0]
    text = f"{data.engine}:{int(row['n'])}:{float(row['h'] or 0.0)!r}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def engine_block(data: AnyData) -> dict[str, Any]:
    """Which engine ran the audit, with its memory limit and threads (``memory`` for a PreferenceData)."""
    if not isinstance(data, ScannedData):
        return {"engine": "memory", "memory_limit": None, "threads": None}
    b = data.backend
    return {"engine": data.engine, "memory_limit": b.memory_limit, "threads": b.threads}


def seed_of(rng: Any) -> int:
    """The integer seed of the hash subsample: ``rng`` itself, 0 for ``None``.

    A ``numpy.random.Generator`` has no stable integer form, so it draws one
    (the subsample is then reproducible from the generator's state only).
    """
    if rng is None:
        return 0
    if isinstance(rng, bool):
        return int(rng)
    if isinstance(rng, int | np.integer):
        return int(rng)
    from .._types import as_generator

    return int(as_generator(rng).integers(0, 2**31 - 1))


def _md5_keys(ids: pd.Index | np.ndarray, seed: int) -> np.ndarray:
    return np.array([hashlib.md5(f"{seed}:{i}".encode()).hexdigest() for i in map(str, ids)], dtype=object)


def subsample_prompts(data: AnyData, max_judgments: int, rng: Any) -> np.ndarray | None:
    """Sorted prompt ids of the hash subsample of whole prompts (``None``: the data is within the cap).

    Prompts ordered by ``md5("<seed>:<prompt_id>")`` are taken while the
    running judgment count stays within ``max_judgments`` (at least one
    prompt); judgments without a prompt id are never taken. ``0`` means no cap.

    The key order and the selection query are
    :func:`prefqa.engine._sample.hash_sample`'s (one SQL text for memory,
    DuckDB and Spark), which takes prompts until *at least* the cap is
    reached; the audit's cap is an upper bound, so the prompt that crossed it
    (the last one in key order) is left out again unless it is the only one.
    """
    if max_judgments <= 0 or data.n_judgments <= max_judgments or not data.n_prompts:
        return None
    from ..engine._sample import hash_sample

    seed = seed_of(rng)
    sample = hash_sample(data, "prompt_id", max_judgments=int(max_judgments), seed=seed)
    ids = np.asarray(sample.ids, dtype=object)
    if sample.n_judgments <= max_judgments or len(ids) == 1:
        return np.sort(ids)
    last = np.lexsort((ids, _md5_keys(ids, seed)))[-1]
    return np.sort(np.delete(ids, last))


def prompt_texts(data: AnyData, ids: pd.Index) -> pd.Series:
    """The prompt texts of ``ids`` (only those), indexed by prompt id; empty without a prompts table."""
    ids = pd.Index(ids.astype("str"))
    if not isinstance(data, ScannedData):
        if not len(data.prompts):
            return pd.Series(dtype="str")
        return data.prompts.set_index("prompt_id")["text"].reindex(ids)
    if data.prompts_table is None or not len(ids):
        return pd.Series(dtype="str")
    values = ", ".join("'" + str(i).replace("'", "''") + "'" for i in ids)
    frame = data.frame(f"SELECT CAST(prompt_id AS VARCHAR) AS prompt_id, text FROM {{p}} "
                       f"WHERE CAST(prompt_id AS VARCHAR) IN ({values})")
    return frame.set_index("prompt_id")["text"].reindex(ids)


def response_texts(data: AnyData, ids: list[str]) -> pd.Series:
    """The response texts of ``ids`` (a few, for examples), indexed by response id."""
    index = pd.Index([str(i) for i in ids])
    if not isinstance(data, ScannedData):
        return data.responses.set_index("response_id")["text"].reindex(index)
    if data.responses_table is None or not len(index):
        return pd.Series(index=index, dtype="str")
    values = ", ".join("'" + i.replace("'", "''") + "'" for i in index.unique())
    frame = data.frame(f"SELECT CAST(response_id AS VARCHAR) AS response_id, text FROM {{r}} "
                       f"WHERE CAST(response_id AS VARCHAR) IN ({values})")
    return frame.drop_duplicates("response_id").set_index("response_id")["text"].reindex(index)
