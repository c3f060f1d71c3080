"""Stable string ids hashed from text columns (response and prompt ids), and value hashing for fingerprints."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["hash_arrow_values", "stable_id"]


def stable_id(prefix: str, *parts: pd.Series | np.ndarray) -> np.ndarray:
    """Return stable string ids hashed from one or more aligned text columns.

    The hash is pandas' vectorized SipHash with its fixed default key, so the
    same inputs give the same ids on every machine and run.

    Parameters
    ----------
    prefix : str
        Put in front of each id, for example ``"r"`` for responses.
    *parts : Series or ndarray
        Aligned columns; missing values hash as the empty string.

    Returns
    -------
    ndarray of str
        ``prefix`` followed by 16 hex digits.

    Examples
    --------
    >>> ids = stable_id("p", pd.Series(["hello", "hello", "bye"]))
    >>> ids[0] == ids[1], ids[0] != ids[2], len(ids[0])
    (True, True, 17)
    >>> len(stable_id("c", pd.Series([], dtype="str")))
    0
    """
    if not parts:
        raise ValueError("stable_id needs at least one column")
    if not len(parts[0]):  # numpy's zfill cannot size an empty array
        return np.zeros(0, dtype=object)
    total = np.zeros(len(parts[0]), dtype=np.uint64)
    for i, part in enumerate(parts):
        values = pd.Series(part, copy=False).astype("str").fillna("").to_numpy(dtype=object)
        h = pd.util.hash_array(values, categorize=True)
        # mix the position in so that ("x", "y") and ("y", "x") differ; uint64 wraps on purpose
        with np.errstate(over="ignore"):
            total = total * np.uint64(1_000_003) ^ (h + np.uint64(i + 1) * np.uint64(0x9E3779B97F4A7C15))
    hex_digits = np.char.zfill(np.char.mod("%x", total.astype(np.uint64)), 16)
    return np.char.add(prefix, hex_digits).astype(object)


def hash_arrow_values(h: Any, arr: Any) -> None:
    """Feed an Arrow array's values (not its physical buffers) into ``h``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(arr)
    h.update(f"n={n};nulls={arr.null_count};".encode())
    if arr.null_count:
        h.update(np.packbits(arr.is_null().to_numpy(zero_copy_only=False)).tobytes())
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        if arr.null_count:
            arr = pc.fill_null(arr, "" if pa.types.is_string(t) or pa.types.is_large_string(t) else b"")
        width = np.int64 if (pa.types.is_large_string(t) or pa.types.is_large_binary(t)) else np.int32
        bufs = arr.buffers()
        offsets = np.frombuffer(bufs[1], dtype=width)[arr.offset: arr.offset + n + 1]
        h.update((offsets - offsets[0]).astype(np.int64).tobytes())
        if bufs[2] is not None and n:
            h.update(memoryview(bufs[2])[int(offsets[0]): int(offsets[-1])])
    elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_temporal(t):
        values = arr.fill_null(0) if arr.null_count and not pa.types.is_boolean(t) else arr
        if pa.types.is_boolean(t) and arr.null_count:
            values = arr.fill_null(False)
        out = values.to_numpy(zero_copy_only=False)
        h.update(np.ascontiguousarray(out).tobytes() if out.dtype != object else repr(out.tolist()).encode())
    else:  # nested or unusual types: their text form
        h.update(repr(arr.to_pylist()).encode())

