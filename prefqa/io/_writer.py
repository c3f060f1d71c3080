"""``write``: canonical flattened files, written atomically; and ``load_sample``.

File layout (format ``prefqa``), chosen by suffix: ``.csv``, ``.csv.gz``, ``.jsonl``,
``.jsonl.gz`` or ``.parquet``. One row per judgment with the columns ``comparison_id,
annotator_id, choice, prompt_id, prompt, response_a_id, response_a, response_b_id,
response_b, model_a, model_b, strength, seconds, timestamp`` (those present), the extra
columns, ``prompt_messages`` (conversational prompts' JSON message lists) and
``order_known`` (one value for the whole file). Ratings go to a sibling file
``<name>.ratings.<suffix>`` (``response_id, annotator_id, score``, optional ``prompt_id,
model, aspect`` and the response text as ``response``); rankings to ``<name>.rankings.<suffix>``.
Reading the main file back picks the siblings up.

Round trip: ``pq.read(pq.write(data, path))`` gives equal judgments, responses, prompts,
ratings, rankings and ``order_known``, up to this dtype normalization: id and text columns
come back as pandas strings, extra columns (and ``timestamp``) get the types the file
format can hold (CSV and JSONL infer them; Parquet keeps them), and JSONL rounds floats to 15
decimal places (pandas' JSON writer maximum; CSV and Parquet keep them exactly). Responses referenced by no
judgment, rating or ranking are not written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as papq

from .._atomic import atomic_path
from ..errors import PrefqaError, SchemaError
from ..schema import PreferenceData
from ._canonical import sibling_path
from ._source import suffix_kind

__all__ = ["SAMPLE_PATH", "flatten", "load_sample", "write"]

_FIRST = ["comparison_id", "annotator_id", "choice", "prompt_id", "prompt", "response_a_id", "response_a",
          "response_b_id", "response_b", "model_a", "model_b", "strength", "seconds", "timestamp"]


def _sample_path() -> Path:
    """Where the bundled sample lives: package data ``prefqa/sample_data/`` (shipped in the wheel).

    Read through :mod:`importlib.resources`, so it is found in a source checkout, an editable
    install and an installed wheel alike (a zipped install is not supported: prefqa's readers need
    a real file).
    """
    from importlib import resources

    return Path(str(resources.files("prefqa").joinpath("sample_data", "sample.jsonl.gz")))


SAMPLE_PATH = _sample_path()


def flatten(data: PreferenceData) -> pd.DataFrame:
    """Return the judgments with texts inline and ``order_known``: the canonical flat table."""
    j = data.judgments
    out = j.copy()
    prompts = data.prompts
    if "prompt_id" in j and len(prompts):
        ptext = prompts.set_index("prompt_id")["text"]
        out["prompt"] = j["prompt_id"].map(ptext)
        if "messages" in prompts:
            out["prompt_messages"] = j["prompt_id"].map(prompts.set_index("prompt_id")["messages"])
    if len(data.responses):
        texts = data.responses.set_index("response_id")["text"]
        for side in ("a", "b"):
            if f"response_{side}_id" in j:
                out[f"response_{side}"] = j[f"response_{side}_id"].map(texts)
    first = [c for c in _FIRST if c in out]
    last = [c for c in ("prompt_messages",) if c in out]
    out = out[first + [c for c in out.columns if c not in first and c not in last] + last]
    out["order_known"] = bool(data.order_known)
    return out


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    kind = suffix_kind(path)
    gz = path.suffix.lower() == ".gz"
    with atomic_path(path) as tmp:
        if kind == "parquet":
            papq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        elif kind == "csv":
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if gz:
                with pa.CompressedOutputStream(str(tmp), "gzip") as sink:
                    pacsv.write_csv(table, sink)
            else:
                pacsv.write_csv(table, tmp)
        elif kind == "jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False, date_format="iso",
                          double_precision=15, compression="gzip" if gz else None)
        else:
            raise SchemaError(
                f"`path` {str(path)!r}: write() makes canonical .csv, .csv.gz, .jsonl, .jsonl.gz or "
                ".parquet files; a .json array is not written. Change the suffix."
            )


def write(data: PreferenceData, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` as canonical flattened files, atomically; return the path.

    Parameters
    ----------
    data : PreferenceData
        What to write.
    path : str or PathLike
        Target file; the suffix picks the type (``.csv``, ``.csv.gz``, ``.jsonl``,
        ``.jsonl.gz``, ``.parquet``). Ratings and rankings, when present, go to the sibling
        files ``<name>.ratings.<suffix>`` and ``<name>.rankings.<suffix>``. Each file is
        written to a temporary file in the same folder and renamed into place.

    Returns
    -------
    Path
        ``path``, ready for :func:`prefqa.read`.

    Raises
    ------
    SchemaError
        When ``data`` is not a ``PreferenceData`` or the suffix is not supported.

    Examples
    --------
    >>> import tempfile, pandas as pd, prefqa as pq
    >>> j = pd.DataFrame({"comparison_id": ["c1", "c1"], "annotator_id": ["x", "y"],
    ...                   "choice": ["a", "tie"]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = pq.read(pq.write(pq.PreferenceData(j), f"{tmp}/d.jsonl"))
    >>> back.judgments["choice"].tolist(), back.order_known
    (['a', 'tie'], True)
    """
    if not isinstance(data, PreferenceData):
        raise SchemaError(f"`data` must be a PreferenceData (from pq.read or pq.simulate); got {type(data).__name__}.")
    path = Path(path)
    if suffix_kind(path) == "json":
        raise SchemaError(
            f"`path` {str(path)!r}: write() makes canonical .csv, .csv.gz, .jsonl, .jsonl.gz or .parquet files; "
            "a .json array is not written. Change the suffix."
        )
    if not path.parent.exists():
        raise SchemaError(f"`path` {str(path)!r}: the folder {str(path.parent)!r} does not exist; create it first.")
    if data.ratings is not None:
        r = data.ratings.copy()
        if len(data.responses):
            r["response"] = r["response_id"].map(data.responses.set_index("response_id")["text"])
        _write_table(r, sibling_path(path, "ratings"))
    if data.rankings is not None:
        _write_table(data.rankings, sibling_path(path, "rankings"))
    _write_table(flatten(data), path)
    return path


def load_sample() -> PreferenceData:
    """Load the bundled sample data set (package data ``prefqa/sample_data/sample.jsonl.gz``).

    Returns
    -------
    PreferenceData
        About 20k simulated judgments with texts and planted biases (see
        ``prefqa/sample_data/README.md``), with its 1-5 ratings.

    Raises
    ------
    PrefqaError
        When the sample file is not there (an install built without its package data).

    Examples
    --------
    >>> import prefqa as pq
    >>> data = pq.load_sample()
    >>> data.n_judgments > 10_000, data.load_report.format
    (True, 'prefqa')
    """
    path = _sample_path()
    if not path.is_file():
        raise PrefqaError(
            f"the bundled sample is missing: expected {path!s}. It is package data of prefqa "
            "(prefqa/sample_data/); reinstall prefqa from a wheel or the repository (pip install .), "
            "or make a sample with pq.write(pq.simulate()[0], 'sample.jsonl.gz')."
        )
    from . import read

    return read(path, format="prefqa")
