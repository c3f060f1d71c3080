"""Stable string ids hashed from text columns (response and prompt ids)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["stable_id"]


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
