"""Cleaning flags of ``prefqa export``: suspect labels, reward-model scores, benchmarks, a tokenizer file.

``add_cleaning_options(parser)`` adds the flags; ``cleaning_kwargs(args,
data)`` turns them into ``pq.build_pairs`` keyword arguments:

``--suspect-labels FILE``
    A ``pq.label_issues(...).to_frame()`` written as CSV / JSONL / Parquet
    (a ``comparison_id`` column, or the index, and a boolean ``flagged``
    column) -> ``suspect_labels=``. What happens to them is
    ``--suspect-action`` (a ``build_pairs`` flag: drop, flip, downweight, keep).
``--scores COL[,COL]``
    Compute the label issues here with reward-model / judge scores:
    one stem (``rm_score``: the judgment columns ``rm_score_a`` /
    ``rm_score_b`` or a responses column) or two judgment columns, the
    score of the response shown first and second -> ``suspect_labels=
    pq.label_issues(data, scores=...)``.
``--benchmarks FILE...`` (with ``--benchmark-column COL``)
    ``contamination=pq.contamination(data, FILES, text_column=COL)``.
``--tokenizer FILE``
    A local ``tokenizer.json`` for ``--guards ...,truncation`` with ``--max-tokens``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SchemaError

__all__ = ["add_cleaning_options", "cleaning_kwargs", "read_table"]


def add_cleaning_options(parser: argparse.ArgumentParser) -> None:
    """Add the cleaning flags (``--suspect-labels``, ``--scores``, ``--benchmarks``, ...) to ``parser``.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_cleaning_options(p)
    >>> p.parse_args(["--benchmarks", "a.jsonl", "b.csv", "--scores", "rm_a,rm_b"]).benchmarks
    ['a.jsonl', 'b.csv']
    """
    g = parser.add_argument_group("cleaning (pq.label_issues, pq.contamination)")
    g.add_argument("--suspect-labels", default=None, metavar="FILE",
                   help="label issues table (CSV/JSONL/Parquet of pq.label_issues(...).to_frame(): comparison_id, "
                        "flagged); its flagged comparisons get --suspect-action (default drop)")
    g.add_argument("--scores", default=None, metavar="COL,COL",
                   help="compute the label issues from reward-model scores: a column stem (rm_score -> rm_score_a, "
                        "rm_score_b) or the judgment columns of the first and second response")
    g.add_argument("--benchmarks", nargs="+", default=None, metavar="FILE",
                   help="benchmark prompt files (JSONL/CSV/Parquet); overlapping prompts are dropped as contaminated")
    g.add_argument("--benchmark-column", default=None, metavar="COL",
                   help="the benchmarks' prompt column (default: their only string column)")
    g.add_argument("--tokenizer", default=None, metavar="FILE",
                   help="local tokenizer.json for the truncation guard (--guards ...,truncation --max-tokens N)")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV / TSV / JSONL / JSON / Parquet table, with a one-line error naming the file.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = pd.DataFrame({"comparison_id": ["c1"], "flagged": [True]}).to_csv(f, index=False)
    >>> read_table(f).to_dict("records")
    [{'comparison_id': 'c1', 'flagged': True}]
    """
    p = Path(path)
    name = p.name.lower()
    if not p.is_file():
        raise SchemaError(f"{str(p)!r} does not exist.")
    try:
        if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
            frame = pd.read_json(p, lines=True, dtype=False)
        elif name.endswith((".json", ".json.gz")):
            frame = pd.read_json(p, dtype=False)
        elif name.endswith((".csv", ".csv.gz", ".tsv")):
            frame = pd.read_csv(p, sep="\t" if name.endswith(".tsv") else ",", dtype={"comparison_id": str})
        elif name.endswith(".parquet"):
            frame = pd.read_parquet(p)
        else:
            raise SchemaError(f"{str(p)!r}: unknown table type; use .csv, .tsv, .jsonl, .json or .parquet.")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"could not read {str(p)!r}: {exc}") from exc
    if "flagged" in frame and frame["flagged"].dtype == object:  # "true"/"false" text
        frame["flagged"] = frame["flagged"].astype("str").str.strip().str.lower().map(
            {"true": True, "1": True, "false": False, "0": False})
    return frame


def _scores(data: Any, text: str) -> Any:
    """The ``scores=`` argument of ``pq.label_issues``: a stem, or a Series by response id from two columns."""
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if len(cols) == 1:
        return cols[0]
    if len(cols) != 2:
        raise SchemaError(f"--scores takes one column stem or two judgment columns COL_A,COL_B; got {text!r}.")
    j = data.judgments
    missing = [c for c in cols if c not in j]
    if missing or "response_a_id" not in j:
        raise SchemaError(f"--scores: the judgments have no column {missing or ['response_a_id']}; found "
                          f"{list(map(str, j.columns))}.")
    ids = np.concatenate([j["response_a_id"].astype("str").to_numpy(dtype=object),
                          j["response_b_id"].astype("str").to_numpy(dtype=object)])
    vals = np.concatenate([pd.to_numeric(j[cols[0]], errors="coerce").to_numpy(dtype=np.float64),
                           pd.to_numeric(j[cols[1]], errors="coerce").to_numpy(dtype=np.float64)])
    s = pd.Series(vals, index=pd.Index(ids, name="response_id")).dropna()
    return s[~s.index.duplicated()]


def cleaning_kwargs(args: argparse.Namespace, data: Any) -> dict[str, Any]:
    """Return the ``pq.build_pairs`` keyword arguments the cleaning flags ask for (empty when none is given).

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_cleaning_options(p)
    >>> cleaning_kwargs(p.parse_args([]), None)
    {}
    """
    out: dict[str, Any] = {}
    labels_file, scores = getattr(args, "suspect_labels", None), getattr(args, "scores", None)
    if labels_file is not None and scores is not None:
        raise SchemaError("pass --suspect-labels FILE (precomputed) or --scores COL,COL (computed here), not both.")
    if labels_file is not None:
        out["suspect_labels"] = read_table(labels_file)
    elif scores is not None:
        from ..cleaning import label_issues

        out["suspect_labels"] = label_issues(data, scores=_scores(data, scores))
    benchmarks = getattr(args, "benchmarks", None)
    if benchmarks:
        from ..cleaning._contam import contamination

        out["contamination"] = contamination(data, list(benchmarks),
                                             text_column=getattr(args, "benchmark_column", None))
    elif getattr(args, "benchmark_column", None) is not None:
        raise SchemaError("--benchmark-column names the prompt column of --benchmarks FILE...; pass the files.")
    if getattr(args, "tokenizer", None) is not None:
        out["tokenizer"] = args.tokenizer
    return out
