"""Reader options from a TOML file, so pipelines (and ``prefqa --config``) can pin them.

The ``[read]`` table holds the keyword arguments of :func:`prefqa.read`; other tables
(policy, thresholds, ...) are returned untouched for their owners to validate. PandaLM::

    [read]
    format = "wide"
    on_error = "skip"
    id_column = "idx"
    annotator_columns = ["annotator1", "annotator2", "annotator3", "gpt35"]
    codes = { "1" = "a", "2" = "b", "0" = "tie" }
    annotator_codes = { gpt35 = { "1" = "a", "2" = "b", "Tie" = "tie" } }
    annotator_kinds = { gpt35 = "llm" }
    prompt_columns = ["instruction", "input"]
    response_columns = ["response1", "response2"]
    model_key = "cmp_key"

    [read.mapping]
    gpt_result = "gpt35"

TOML keys are text, so codes are written ``"1" = "a"``; the wide reader compares cell values
as text, so they match the integer cells.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from ..errors import SchemaError
from ..schema import CHOICES
from ._detect import FORMATS

__all__ = ["READ_KEYS", "check_read_options", "load_config"]

_LIST = "a list of column names"
_PAIR = "a list of two column names"
_CODES = "a table of cell value -> 'a' / 'b' / 'tie'"
READ_KEYS: dict[str, str] = {
    "format": f"one of {['auto', *FORMATS]}",
    "on_error": "'raise' or 'skip'",
    "duplicates": "'keep' or 'drop'",
    "mapping": "a table of column -> new name, or column -> table of old value -> new value",
    "id_column": "a column name",
    "annotator_columns": _LIST,
    "codes": _CODES,
    "annotator_codes": "a table of column -> codes table",
    "annotator_kinds": "a table of column -> kind (for example 'llm')",
    "prompt_columns": _LIST,
    "prompt_separator": "a string",
    "response_columns": _PAIR,
    "model_columns": _PAIR,
    "model_key": "a column name",
    "model_key_separator": "a string",
    "order_known": "true or false",
    "aspect": "an aspect name",
    "ranking_items": "'text' or 'id'",
}


def _is_str_list(v: Any, n: int | None = None) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v) and (n is None or len(v) == n)


def _is_codes(v: Any) -> bool:
    return isinstance(v, dict) and bool(v) and all(x in CHOICES for x in v.values())


def _valid(key: str, value: Any) -> bool:
    if key == "format":
        return value == "auto" or value in FORMATS
    if key == "on_error":
        return value in ("raise", "skip")
    if key == "duplicates":
        return value in ("keep", "drop")
    if key == "mapping":
        return isinstance(value, dict) and all(
            isinstance(v, (str, dict)) for v in value.values())
    if key in ("annotator_columns", "prompt_columns"):
        return _is_str_list(value)
    if key in ("response_columns", "model_columns"):
        return _is_str_list(value, 2)
    if key == "codes":
        return _is_codes(value)
    if key == "annotator_codes":
        return isinstance(value, dict) and all(_is_codes(v) for v in value.values())
    if key == "annotator_kinds":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if key == "order_known":
        return isinstance(value, bool)
    if key == "ranking_items":
        return value in ("text", "id")
    return isinstance(value, str)


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML config and validate its ``[read]`` table.

    Parameters
    ----------
    path : str or PathLike
        A TOML file.

    Returns
    -------
    dict
        The whole file as a dict; ``config["read"]`` (``{}`` when absent) can be passed as
        ``pq.read(source, **config["read"])``.

    Raises
    ------
    SchemaError
        Missing file, TOML syntax error, or a ``[read]`` key that is unknown or has a value of
        the wrong kind (the message names the key and what it accepts).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp, "prefqa.toml")
    ...     _ = p.write_text('[read]\\nformat = "wide"\\nid_column = "idx"\\n')
    ...     load_config(p)["read"]
    {'format': 'wide', 'id_column': 'idx'}
    """
    path = Path(path)
    if not path.is_file():
        raise SchemaError(f"config file not found: {str(path)!r}.")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"{path}: not valid TOML ({exc}). Fix the syntax at that line.") from None
    config["read"] = check_read_options(config.get("read", {}), where=str(path))
    return config


def check_read_options(read: Any, *, where: str = "config") -> dict[str, Any]:
    """Validate a ``[read]`` table (from TOML or a dict) and return it.

    Raises
    ------
    SchemaError
        Naming ``where``, the key, what it accepts and the value found.

    Examples
    --------
    >>> check_read_options({"format": "hh"})
    {'format': 'hh'}
    """
    if not isinstance(read, dict):
        raise SchemaError(f"{where}: `read` must be a table ([read]); got {type(read).__name__}.")
    for key, value in read.items():
        if key not in READ_KEYS:
            raise SchemaError(f"{where}: unknown key `read.{key}`; known keys: {sorted(READ_KEYS)}.")
        if not _valid(key, value):
            raise SchemaError(f"{where}: `read.{key}` must be {READ_KEYS[key]}; got {value!r}.")
    return read
