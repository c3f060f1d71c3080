"""Per-prompt inputs of ``flag_prompts`` that are not judgment codes: the prompt texts.

The vote codes themselves come from :func:`prefqa.engine.reductions.bias.judgment_codes`.
:func:`prompt_texts` returns one text per prompt id, for the near-duplicate
(MinHash) groups: in memory from ``data.prompts``; in an engine from the
prompts table ``{p}``, restricted to prompts the judgments name. It pulls one
string per *prompt* (never per judgment): at 1M prompts of 500 characters,
about 0.5 GB.
"""

from __future__ import annotations

import pandas as pd

from ...schema import PreferenceData
from .._scan import ScannedData

__all__ = ["prompt_texts"]


def prompt_texts(data: PreferenceData | ScannedData) -> pd.Series:
    """Prompt texts indexed by ``prompt_id`` (empty when there is no prompts table with texts).

    Examples
    --------
    >>> import prefqa as pq
    >>> data = pq.load_sample()
    >>> mem, eng = prompt_texts(data), prompt_texts(pq.scan(data))
    >>> bool(mem.sort_index().equals(eng.sort_index()))
    True
    """
    empty = pd.Series([], dtype="str", index=pd.Index([], name="prompt_id", dtype="str"), name="text")
    if isinstance(data, PreferenceData):
        p = data.prompts
        if p is None or not len(p) or "text" not in p:
            return empty
        return p.set_index("prompt_id")["text"]
    if data.prompts_table is None or "prompt_id" not in data.columns:
        return empty
    if "text" not in data.backend.columns(data.prompts_table):
        return empty
    frame = data.frame("SELECT CAST(prompt_id AS VARCHAR) AS prompt_id, text FROM {p} "
                       "WHERE prompt_id IN (SELECT prompt_id FROM {j}) ORDER BY prompt_id")
    return pd.Series(frame["text"].to_numpy(dtype=object), dtype="str",
                     index=pd.Index(frame["prompt_id"].astype(str).to_numpy(dtype=object), name="prompt_id",
                                    dtype="str"), name="text")
