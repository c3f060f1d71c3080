"""Row layouts of the export formats, as pyarrow tables (TRL's documented dataset types).

==========  ====================================================  =====================
format      columns                                               TRL trainer
==========  ====================================================  =====================
dpo         prompt, chosen, rejected (explicit prompt)            DPO, CPO, ORPO
reward      chosen, rejected (implicit prompt) [, margin]         RewardTrainer (PPO RM)
kto         prompt, completion, label (bool, unpaired)            KTO, BCO
prompts     prompt (deduplicated)                                 GRPO, RLOO, PPO, ...
openai      input.messages, preferred_output, non_preferred_output  OpenAI/Together DPO
==========  ====================================================  =====================

Standard data holds strings. Conversational data (``PairSet.conversational``
with ``prompt_messages``) holds lists of ``{role, content}``: the prompt's
messages, and one assistant message per completion.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["FORMATS", "build_table"]

FORMATS: tuple[str, ...] = ("dpo", "reward", "kto", "prompts", "openai")
_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


def _str(col: pd.Series) -> pa.Array:
    return pa.array(col.astype("str"), type=pa.large_string()).cast(pa.string())


def _assistant(texts: pd.Series) -> pa.ListArray:
    """One ``[{"role": "assistant", "content": text}]`` list per text."""
    n = len(texts)
    content = _str(texts)
    role = pa.array(np.full(n, "assistant", dtype=object), type=pa.string())
    return pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)),
                                    pa.StructArray.from_arrays([role, content], fields=list(_MESSAGE)))


def _messages(prompt_messages: pd.Series, prompts: pd.Series) -> pa.ListArray:
    """Parse each distinct prompt's JSON message list once; a missing list becomes one user turn."""
    msgs = prompt_messages.astype("str").fillna("")
    keys = msgs.where(msgs != "", "\x00" + prompts.astype("str").fillna(""))
    codes, uniques = pd.factorize(keys)
    parsed = []
    for k in uniques.tolist():
        turns = [{"role": "user", "content": k[1:]}] if k.startswith("\x00") else json.loads(k)
        parsed.append([{"role": str(m["role"]), "content": str(m["content"])} for m in turns])
    table = pa.array(parsed, type=pa.list_(_MESSAGE))
    return table.take(pa.array(codes))


def _concat_messages(a: pa.ListArray, b: pa.ListArray) -> pa.ListArray:
    """Row-wise concatenation of two list arrays of messages."""
    la = np.diff(a.offsets.to_numpy())
    lb = np.diff(b.offsets.to_numpy())
    n = len(la)
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[1:] = np.cumsum(la + lb)
    src = np.concatenate([np.repeat(np.arange(n), la), np.repeat(np.arange(n), lb)])
    which = np.concatenate([np.zeros(la.sum(), bool), np.ones(lb.sum(), bool)])
    pos = np.concatenate([np.arange(la.sum()), np.arange(lb.sum())])
    order = np.lexsort((which, src))
    values = pa.concat_arrays([a.flatten(), b.flatten()])
    base = np.where(which, la.sum() + pos, pos)[order]
    return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(base)))


def build_table(pairs: pd.DataFrame, ties: pd.DataFrame, fmt: str, *, conversational: bool,
                margin: bool, tie_label: bool | None) -> pa.Table:
    """Return the rows of ``fmt`` for the kept pairs (and, for KTO, kept ties)."""
    conv = conversational and "prompt_messages" in pairs
    if fmt == "dpo":
        if conv:
            return pa.table({"prompt": _messages(pairs["prompt_messages"], pairs["prompt"]),
                             "chosen": _assistant(pairs["chosen"]), "rejected": _assistant(pairs["rejected"])})
        return pa.table({"prompt": _str(pairs["prompt"]), "chosen": _str(pairs["chosen"]),
                         "rejected": _str(pairs["rejected"])})
    if fmt == "reward":
        if conv:
            p = _messages(pairs["prompt_messages"], pairs["prompt"])
            cols = {"chosen": _concat_messages(p, _assistant(pairs["chosen"])),
                    "rejected": _concat_messages(p, _assistant(pairs["rejected"]))}
        else:
            cols = {"chosen": _str(pairs["prompt"] + pairs["chosen"]),
                    "rejected": _str(pairs["prompt"] + pairs["rejected"])}
        if margin:
            cols["margin"] = pa.array(pairs["margin"].to_numpy(dtype=np.float64))
        return pa.table(cols)
    if fmt == "kto":
        both = pd.concat([pairs, ties], ignore_index=True)
        n_p = len(pairs)
        # chosen then rejected of each pair, interleaved: 2 rows per pair (as TRL's unpair_preference_dataset)
        idx = np.repeat(np.arange(len(both)), 2)
        first = np.tile([True, False], len(both))
        completion = np.where(first, both["chosen"].to_numpy(dtype=object)[idx],
                              both["rejected"].to_numpy(dtype=object)[idx])
        label = np.where(idx < n_p, first, bool(tie_label))
        prompt_src = both.iloc[idx].reset_index(drop=True)
        comp = pd.Series(completion, dtype="str")
        if conv:
            return pa.table({"prompt": _messages(prompt_src["prompt_messages"], prompt_src["prompt"]),
                             "completion": _assistant(comp), "label": pa.array(label, type=pa.bool_())})
        return pa.table({"prompt": _str(prompt_src["prompt"]), "completion": _str(comp),
                         "label": pa.array(label, type=pa.bool_())})
    if fmt == "prompts":
        both = pd.concat([pairs, ties], ignore_index=True)
        key = both["prompt_messages"] if conv else both["prompt"]
        rows = both.loc[~key.astype("str").duplicated()].reset_index(drop=True)
        if conv:
            return pa.table({"prompt": _messages(rows["prompt_messages"], rows["prompt"])})
        return pa.table({"prompt": _str(rows["prompt"])})
    # openai: input.messages / preferred_output / non_preferred_output
    msgs = (_messages(pairs["prompt_messages"], pairs["prompt"]) if conv
            else _messages(pd.Series([""] * len(pairs), dtype="str"), pairs["prompt"]))
    inp = pa.StructArray.from_arrays([msgs], names=["messages"])
    return pa.table({"input": inp, "preferred_output": _assistant(pairs["chosen"]),
                     "non_preferred_output": _assistant(pairs["rejected"])})
