"""Write a :class:`~prefqa.pairs.PairSet` as training data, with a manifest next to it.

The file type follows the suffix: ``.jsonl`` (or ``.jsonl.gz``) or
``.parquet``. The row layout follows TRL's dataset types (see
``prefqa.export._formats``). Every export writes ``<file name>.manifest.json``
beside the data (for ``train.jsonl``: ``train.jsonl.manifest.json``) that
accounts for every input comparison: kept, or dropped with a reason code.
Both files are written to a temporary file in the same folder and renamed
into place, so a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
import json
import os
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq_parquet

from .._atomic import atomic_path
from ..engine._export import COLUMNS, decisions, stream_export
from ..engine._pairs import engine_source
from ..errors import PrefqaWarning, SchemaError
from ..pairs import PairSet
from ._formats import FORMATS, build_table

__all__ = ["FORMATS", "empty_prompts", "export", "manifest_path"]

_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


def manifest_path(path: str | os.PathLike[str]) -> Path:
    """Return where :func:`export` puts the manifest of ``path``.

    Examples
    --------
    >>> manifest_path("out/train.jsonl").as_posix()
    'out/train.jsonl.manifest.json'
    """
    p = Path(path)
    return p.with_name(p.name + ".manifest.json")


def _validate(pairs: Any, path: Any, fmt: str, margin: bool, tie_label: bool | None) -> tuple[Path, str]:
    if not isinstance(pairs, PairSet):
        raise SchemaError(f"`pairs` must be a PairSet from pq.build_pairs(data); got {type(pairs).__name__}.")
    if fmt not in FORMATS:
        raise SchemaError(f"`format` must be one of {list(FORMATS)}; got {fmt!r}.")
    if not isinstance(path, (str, os.PathLike)):
        raise SchemaError(f"`path` must be a file path; got {type(path).__name__}.")
    p = Path(path)
    kind = next((s for s in _SUFFIXES if p.name.endswith(s)), None)
    if kind is None:
        raise SchemaError(f"`path` must end in one of {list(_SUFFIXES)}; got {p.name!r}.")
    if not p.parent.exists():
        raise SchemaError(f"the folder {str(p.parent)!r} does not exist; create it first "
                          "(the prefqa command line creates it).")
    if margin and fmt != "reward":
        raise SchemaError(f"`margin=True` adds a margin column to format='reward' only; got format={fmt!r}.")
    if fmt == "kto" and len(pairs.ties) and tie_label is None:
        raise SchemaError(
            f"the PairSet holds {len(pairs.ties)} tied comparisons (ties='keep_as_kto'), and a tie says "
            "nothing about which side is desirable: pass tie_label=True (both responses acceptable) or "
            "tie_label=False (both unacceptable), or build with ties='drop'."
        )
    return p, kind


def empty_prompts(frame: pd.DataFrame) -> np.ndarray:
    """Return ``True`` for rows whose prompt is missing or whitespace only (and has no message list).

    Examples
    --------
    >>> empty_prompts(pd.DataFrame({"prompt": ["Q?", " ", None]})).tolist()
    [False, True, True]
    """
    if "prompt" not in frame:
        return np.ones(len(frame), dtype=bool)
    empty = frame["prompt"].astype("str").fillna("").str.strip().eq("").to_numpy(dtype=bool)
    if "prompt_messages" in frame:
        msgs = frame["prompt_messages"].astype("str").fillna("").str.strip()
        empty = empty & msgs.isin(["", "[]"]).to_numpy(dtype=bool)
    return empty


def _check_prompts(pairs: PairSet, fmt: str, allow_empty_prompts: bool,
                   source: dict[str, Any] | None = None) -> tuple[int, int, list[str]]:
    """Count the rows to export whose prompt is empty; refuse when all are, unless allowed.

    dpo, kto, prompts and openai carry the prompt explicitly, so a file whose prompts are all
    empty almost always means the prompt columns were not read (for example PandaLM's
    ``instruction`` + ``input``). ``reward`` is TRL's implicit-prompt layout, where rows
    holding the responses alone are legitimate (data read from such a file has empty
    prompts), so it only warns.
    """
    both = fmt in ("kto", "prompts")
    if source is not None:  # engine data: blank flags kept by build_pairs (prefqa.engine._pairs.linked)
        empty = np.concatenate([source["pairs_blank"], source["ties_blank"]]) if both else source["pairs_blank"]
    else:
        rows = pd.concat([pairs.pairs, pairs.ties], ignore_index=True) if both else pairs.pairs
        empty = empty_prompts(rows)
    n, k = len(empty), int(empty.sum())
    warns: list[str] = []
    if n and k == n and not allow_empty_prompts and fmt != "reward":
        raise SchemaError(
            f"all {n:,} {'pairs' if fmt not in ('kto', 'prompts') else 'pairs and ties'} to export have an "
            f"empty prompt, so format={fmt!r} would train without the question. The prompt column was "
            "probably not read: map it with pq.read(..., mapping={'YOUR_COLUMN': 'prompt'}) or, for the "
            "wide format, prompt_columns=[...]; if the data really has no prompts, pass "
            "allow_empty_prompts=True."
        )
    if k:
        why = ""
        if k == n:
            why = (" (allowed by allow_empty_prompts=True)" if allow_empty_prompts
                   else " (the rows hold the responses alone)")
        warns.append(f"{k:,} of {n:,} exported rows have an empty prompt{why}.")
    return n, k, warns


def _atomic(path: Path, write: Any) -> str:
    """Run ``write(tmp_path)``, then hash the file and rename it to ``path``; return its sha256."""
    with atomic_path(path) as tmp:
        write(str(tmp))
        h = hashlib.sha256()
        with open(tmp, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def _write_jsonl(table: pa.Table, tmp: str, gz: bool) -> None:
    opener = gzip.open if gz else open
    nested = any(pa.types.is_nested(f.type) for f in table.schema)
    with opener(tmp, "wt", encoding="utf-8") as f:
        if not nested:
            frame = table.to_pandas()
            if len(frame):
                text = frame.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
                f.write(text.replace("\\/", "/"))
                if not text.endswith("\n"):
                    f.write("\n")
            return
        for start in range(0, table.num_rows, 50_000):
            rows = table.slice(start, 50_000).to_pylist()
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _version() -> str:
    try:
        return metadata.version("prefqa")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def export(
    pairs: PairSet,
    path: str | os.PathLike[str],
    *,
    format: Literal["dpo", "reward", "kto", "prompts", "openai"] = "dpo",
    margin: bool = False,
    tie_label: bool | None = None,
    allow_empty_prompts: bool = False,
) -> Path:
    """Write pairs as a TRL / OpenAI training file and a manifest beside it.

    Parameters
    ----------
    pairs : PairSet
        From :func:`prefqa.build_pairs`.
    path : str or Path
        Output file; ``.jsonl``, ``.jsonl.gz`` or ``.parquet``.
    format : {'dpo', 'reward', 'kto', 'prompts', 'openai'}
        ``dpo``: ``prompt, chosen, rejected`` (explicit prompt).
        ``reward``: ``chosen, rejected`` with the prompt prepended (implicit
        prompt, RewardTrainer). ``kto``: unpaired ``prompt, completion,
        label`` (two rows per pair; kept ties two rows labelled
        ``tie_label``). ``prompts``: distinct prompts, first-seen order.
        ``openai``: ``input.messages``, ``preferred_output``,
        ``non_preferred_output``. Conversational data is written as lists of
        ``{role, content}``.
    margin : bool
        ``reward`` only: add the ``margin`` column (vote margin or score gap).
    tie_label : bool, optional
        ``kto`` only: the label given to both responses of a kept tie.
    allow_empty_prompts : bool
        Export even when every row's prompt is empty (missing or whitespace
        only); by default that is refused, because it nearly always means the
        prompt column was not read (``reward``, TRL's implicit-prompt layout,
        only warns). When only some prompts are empty the file
        is written, a :class:`~prefqa.errors.PrefqaWarning` says how many, and
        the manifest counts them (``output.n_empty_prompts``).

    Returns
    -------
    Path
        The data file (for a ``PairSet`` built on ``pq.scan`` data the
        engine joins the texts and writes the file: DuckDB's ``COPY``, or
        Spark's result streamed in batches; see :mod:`prefqa.engine._export`).
        The manifest is at :func:`manifest_path` of it: input
        counts, kept and dropped counts by reason, the policy, the prefqa
        version, the output's sha256 and the suggested TRL
        ``label_smoothing``.

    Raises
    ------
    SchemaError
        Unknown format or suffix, a missing folder, ties without ``tie_label``, or
        all prompts empty without ``allow_empty_prompts=True``.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> import pandas as pd
    >>> import prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c1"], "annotator_id": ["x", "y"],
    ...                   "choice": ["a", "a"], "prompt_id": ["p", "p"],
    ...                   "response_a_id": ["r1", "r1"], "response_b_id": ["r2", "r2"]})
    >>> r = pd.DataFrame({"response_id": ["r1", "r2"], "prompt_id": ["p", "p"], "text": ["4", "5"]})
    >>> p = pd.DataFrame({"prompt_id": ["p"], "text": ["2+2="]})
    >>> ps = pq.build_pairs(pq.PreferenceData(j, r, p))
    >>> out = pq.export(ps, pathlib.Path(tempfile.mkdtemp()) / "train.jsonl")
    >>> out.read_text()
    '{"prompt":"2+2=","chosen":"4","rejected":"5"}\\n'
    >>> json.loads(out.with_name("train.jsonl.manifest.json").read_text())["kept"]["n_pairs"]
    1
    """
    p, kind = _validate(pairs, path, format, margin, tie_label)
    source = engine_source(pairs)
    _, n_empty, empty_warnings = _check_prompts(pairs, format, bool(allow_empty_prompts), source)
    for w in empty_warnings:
        warnings.warn(w, PrefqaWarning, stacklevel=2)
    if source is not None:  # built on engine data: texts joined and written by the engine
        n_out: list[int] = []
        decided = decisions(pairs.pairs, pairs.ties)
        sha = _atomic(p, lambda tmp: n_out.append(stream_export(
            source["data"], decided, format, tmp, kind.lstrip("."), margin=margin, tie_label=tie_label)))
        n_rows, columns = n_out[0], [*COLUMNS[format], *(["margin"] if margin else [])]
    else:
        table = build_table(pairs.pairs, pairs.ties, format, conversational=pairs.conversational,
                            margin=margin, tie_label=tie_label)
        if kind == ".parquet":
            sha = _atomic(p, lambda tmp: pq_parquet.write_table(table, tmp))
        else:
            sha = _atomic(p, lambda tmp: _write_jsonl(table, tmp, kind == ".jsonl.gz"))
        n_rows, columns = table.num_rows, table.column_names
    manifest = {
        "prefqa_version": _version(),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "format": format,
        "output": {"file": p.name, "file_type": kind.lstrip("."), "sha256": sha,
                   "n_rows": n_rows, "columns": columns,
                   "n_empty_prompts": n_empty, "allow_empty_prompts": bool(allow_empty_prompts)},
        **pairs.manifest(),
        "trl": {
            "label_smoothing": pairs.manifest()["suggested_label_smoothing"],
            "note": "for DPOConfig(loss_type='robust', label_smoothing=...): the estimated share of flipped labels",
        },
    }
    manifest["warnings"] = [*manifest["warnings"], *empty_warnings]
    text = json.dumps(manifest, indent=2, ensure_ascii=False, default=_json_default)
    _atomic(manifest_path(p), lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    return p


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return str(value)
