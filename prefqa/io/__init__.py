"""Readers and writers: ``read``, ``write`` and ``load_sample``.

Formats read by :func:`read` (module docstrings give each one's rules): ``prefqa`` (canonical,
:mod:`._canonical`), ``trl``, ``hh`` and ``openai`` (:mod:`._pairs`), ``wide``
(:mod:`._wide`), ``ratings`` and ``rankings`` (:mod:`._derived`), ``arena``
(:mod:`._arena`). Every format is one entry of the registry in :mod:`._registry`
(:func:`reader_formats`: name, reader, detection signature, options, description); ``FORMATS``,
detection and option checks are derived from it. Sources: CSV/TSV, JSONL (plain or ``.gz``),
a JSON array, Parquet, Excel ``.xlsx`` (first sheet, openpyxl) or a DataFrame (:mod:`._source`).
Row checks shared by all readers (choice spellings, missing ids, conflicting texts, exact
duplicates) and the structured fixes errors carry are in :mod:`._checks`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ..schema import PreferenceData
from ._build import Collector
from ._canonical import sibling_path
from ._checks import (
    CHOICE_TABLE,
    duplicates_table,
    error_text,
    exact_duplicates,
    format_fix,
)
from ._detect import check_options, detect
from ._registry import FORMATS, ReaderFormat, get_format, reader_formats
from ._source import SOURCE_SUFFIXES, Source, load_source
from ._wide import _cell_keys, _key
from ._writer import load_sample, write

__all__ = [
    "CHOICE_TABLE",
    "FORMATS",
    "SOURCE_SUFFIXES",
    "ReaderFormat",
    "error_text",
    "format_fix",
    "load_sample",
    "read",
    "reader_formats",
    "write",
]

_TIME_COLUMNS = ("timestamp", "tstamp", "time", "created_at", "submitted_at", "datetime", "date")


def _check_read_args(source: Any, format: str, mapping: Any, on_error: str, duplicates: str = "keep") -> None:
    if duplicates not in ("keep", "drop"):
        raise SchemaError(f"`duplicates` must be 'keep' or 'drop'; got {duplicates!r}.")
    if not isinstance(source, (str, os.PathLike, pd.DataFrame)):
        raise SchemaError(
            f"`source` must be a file path or a pandas DataFrame; got {type(source).__name__}. "
            "For a Hugging Face dataset pass dataset.to_pandas()."
        )
    if format != "auto" and format not in FORMATS:
        raise SchemaError(f"unknown `format` {format!r}; use 'auto' or one of {list(FORMATS)}.")
    if on_error not in ("raise", "skip"):
        raise SchemaError(f"`on_error` must be 'raise' or 'skip'; got {on_error!r}.")
    if mapping is not None:
        if not isinstance(mapping, dict):
            raise SchemaError(
                f"`mapping` must be a dict such as {{'rater': 'annotator_id', 'choice': {{'A': 'a'}}}}; "
                f"got {type(mapping).__name__}."
            )
        for key, value in mapping.items():
            if not isinstance(key, str) or not isinstance(value, (str, dict)):
                raise SchemaError(
                    f"`mapping` entry {key!r}: {value!r} is not valid; each key is a column name and each "
                    "value a new column name (str) or a dict of old value -> new value."
                )


def _apply_mapping(frame: pd.DataFrame, mapping: dict[str, Any] | None, name: str
                   ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename columns and map values; return the frame and canonical -> source column names."""
    if not mapping:
        return frame, {}
    renames = {k: v for k, v in mapping.items() if isinstance(v, str)}
    cols = list(map(str, frame.columns))
    missing = [k for k in renames if k not in cols]
    if missing:
        raise SchemaError(
            f"{name}: `mapping` renames column(s) {missing} that are not in the data; found {cols}."
        )
    after = [renames.get(c, c) for c in cols]
    dupes = sorted({c for c in after if after.count(c) > 1})
    if dupes:
        raise SchemaError(
            f"{name}: `mapping` would give two columns the name(s) {dupes}; found {cols}. Rename or drop "
            "the existing column first."
        )
    out = frame.rename(columns=renames) if renames else frame
    for key, table in ((k, v) for k, v in mapping.items() if isinstance(v, dict)):
        col = renames.get(key, key)
        if col not in out.columns:
            raise SchemaError(
                f"{name}: `mapping` maps values of column {key!r}, which is not in the data; found {cols}."
            )
        s = out[col]
        hit = np.array(s.isin(list(table)).to_numpy(dtype=bool), copy=True)
        mapped = s[hit].map(table) if hit.any() else None
        # keys also match as text, so {"1": "a"} (CLI, TOML) maps the integer 1 and the text "1 "
        text_table = {_key(k): v for k, v in table.items()}
        rest = ~hit & s.notna().to_numpy()
        if rest.any():
            keys = _cell_keys(s[rest])
            more = keys.isin(list(text_table)).to_numpy()
            if more.any():
                idx = np.flatnonzero(rest)[more]
                hit[idx] = True
                full = pd.Series(pd.NA, index=s.index, dtype=object)
                if mapped is not None:
                    full[mapped.index] = mapped.to_numpy()
                full.iloc[idx] = keys[more].map(text_table).to_numpy()
                mapped = full[hit]
        if hit.any() and mapped is not None:
            if out is frame:
                out = frame.copy()
            new = s.astype(object).copy()
            new[hit] = mapped.to_numpy()
            out[col] = new
    return out, {v: k for k, v in renames.items()}


def _has_sibling_ratings(source: Any) -> bool:
    """``True`` for a file path with a ``<name>.ratings.<suffix>`` file beside it (written by pq.write)."""
    if isinstance(source, pd.DataFrame):
        return False
    try:
        return sibling_path(Path(source), "ratings").exists()
    except SchemaError:
        return False


def _find_duplicates(src: Source, policy: str) -> None:
    """Report rows equal to an earlier row in every column; with ``policy='drop'`` reject them."""
    dup, first = exact_duplicates(src.frame)
    if not len(dup):
        return
    lines = src.lines(np.concatenate([dup, first]))
    src.duplicates = duplicates_table(lines[: len(dup)], lines[len(dup):])
    src.duplicates_policy = policy
    n = len(dup)
    cols = {str(c).lower() for c in src.frame.columns}
    if cols & set(_TIME_COLUMNS):
        what = ("they are equal in every column, timestamps included, so they are most likely copies made "
                "by an export or a merge")
    else:
        what = ("the file has no timestamp column, so a duplicate cannot be told apart from the same "
                "annotator judging the same item twice in the same display order")
    action = "dropped (duplicates='drop')" if policy == "drop" else \
        "kept (pass duplicates='drop' to remove them)"
    src.notes.append(f"{n:,} rows are exact duplicates of an earlier row ({what}); {action}.")
    if policy == "drop":
        keep = np.ones(len(src.frame), dtype=bool)
        keep[dup] = False
        all_lines = src.lines(np.arange(len(src.frame)))
        dropped = pd.DataFrame({"line": lines[:n], "column": "", "value": [f"= line {x}" for x in lines[n:]],
                                "reason": "exact duplicate of an earlier row (duplicates='drop')"})
        src.rejected = pd.concat([src.rejected, dropped], ignore_index=True).astype(
            {"line": "int64", "column": "str", "value": "str", "reason": "str"})
        src.frame = src.frame.loc[keep].reset_index(drop=True)
        src.line_numbers = all_lines[keep]


def read(
    source: str | os.PathLike[str] | pd.DataFrame,
    format: str = "auto",
    mapping: dict[str, Any] | None = None,
    on_error: str = "raise",
    duplicates: str = "keep",
    **options: Any,
) -> PreferenceData:
    """Read preference data from a file or DataFrame into :class:`PreferenceData`.

    Parameters
    ----------
    source : str, PathLike or DataFrame
        ``.csv``, ``.tsv``, ``.jsonl``, ``.jsonl.gz``, ``.json`` (an array of objects),
        ``.parquet``, ``.xlsx`` (first sheet; needs openpyxl, ``pip install 'prefqa[app]'``),
        or a DataFrame. CSV and JSONL go through pyarrow's readers; when they fail, a
        line-by-line pass finds the bad line. In CSV an empty *text* field is the empty
        string (a valid empty response), an empty *id* field is missing.
    format : str
        ``'auto'`` (from the columns, see :func:`reader_formats` for each signature) or one
        of ``'prefqa'``, ``'trl'``, ``'hh'``, ``'wide'``, ``'ratings'``, ``'rankings'``,
        ``'arena'``, ``'openai'``. Choice values of long formats are normalised through
        :data:`CHOICE_TABLE` (``'A'``, ``'B '``, ``'Tie'``, ``'left'``, ``'first'``,
        ``'draw'``, ...; counted in ``load_report.coerced``); numeric codes need a mapping.
    mapping : dict, optional
        Applied before detection. ``{"rater": "annotator_id"}`` renames a column;
        ``{"choice": {"A": "a", "B": "b"}}`` maps values of a column (keyed by its name
        before or after renaming; values not listed are left as they are). Both kinds may be
        mixed: ``{"rater": "annotator_id", "verdict": "choice", "choice": {"A": "a"}}``.
    on_error : {'raise', 'skip'}
        ``'raise'``: a malformed line, a bad value, a missing required id (a blank annotator
        id among named ones, a blank comparison id) or an id carrying two different texts
        raises :class:`SchemaError` naming the file, line, column, the values found and the
        fix (``err.fix`` holds a structured fix where one exists; see :func:`format_fix`).
        ``'skip'``: such rows are listed with their reason in ``data.load_report.rejected``
        (and bad wide-format cells in ``rejected_values``).
    duplicates : {'keep', 'drop'}
        Rows equal to an earlier row in every column (timestamps and seconds included) are
        always reported (``load_report.duplicates``, a note saying whether they can be told
        from genuine repeats); ``'drop'`` also removes them (listed in ``rejected``).
    **options
        Format options: ``id_column`` (trl, hh, openai, arena, wide, rankings), the wide
        options (``annotator_columns``, ``codes``, ``annotator_codes``, ``annotator_kinds``,
        ``prompt_columns``, ``prompt_separator``, ``response_columns``, ``model_columns``,
        ``model_key``, ``model_key_separator``, ``order_known``), ``aspect`` (ratings),
        ``ranking_items`` (rankings). See ``prefqa.io.config`` to set them from TOML.

    Returns
    -------
    PreferenceData
        With ``load_report`` accounting for every input row, ``meta["source_format"]`` and
        ``meta["conversational"]``.

    Raises
    ------
    SchemaError
        Unknown format or option, ambiguous detection, empty file, malformed line, missing
        columns, unknown choice values (with ``on_error='raise'``).

    Examples
    --------
    >>> import pandas as pd, prefqa as pq
    >>> rows = pd.DataFrame({"prompt": ["2+2?", "Capital of France?"],
    ...                      "chosen": ["4", "Paris"], "rejected": ["5", "Lyon"]})
    >>> data = pq.read(rows)
    >>> data.load_report.format, data.n_judgments, data.order_known, data.has_annotators
    ('trl', 2, False, False)
    >>> wide = pd.DataFrame({"idx": [0, 1], "prompt": ["Say hi", "Count"],
    ...                      "response1": ["hi", "1 2 3"], "response2": ["hello", ""],
    ...                      "annotator1": [1, 2], "annotator2": [1, 0]})
    >>> d = pq.read(wide, id_column="idx")
    >>> d.judgments["choice"].tolist(), d.load_report.n_empty_texts
    (['a', 'a', 'b', 'tie'], 1)
    """
    _check_read_args(source, format, mapping, on_error, duplicates)
    ratings_beside = _has_sibling_ratings(source)
    src = load_source(source, on_error=on_error, allow_empty=ratings_beside)
    if ratings_beside and not len(src.frame.columns):  # ratings only: an empty judgments file
        src.frame = pd.DataFrame({c: pd.Series(dtype="str") for c in ("comparison_id", "annotator_id", "choice")})
    _find_duplicates(src, duplicates)
    src.frame, names = _apply_mapping(src.frame, mapping, src.name)
    fmt = detect(src.frame, src.name, options) if format == "auto" else format
    check_options(fmt, options)
    rej = Collector(src, on_error, names)
    data = get_format(fmt).reader(src, rej, **options)
    data.meta["mapping"] = dict(mapping or {})
    return data
