"""Format ``wide``: one row per comparison, one column per annotator (PandaLM, spreadsheets).

Options (keyword arguments of :func:`prefqa.read`, also settable from a TOML ``[read]`` table):

annotator_columns : list of str, optional
    The annotator columns; each column's name becomes the ``annotator_id``. Default: columns
    named like ``annotator1``, ``rater_2``, ``worker3`` or ``judge1``.
codes : dict, optional
    Cell value -> ``'a'`` / ``'b'`` / ``'tie'``. Keys are compared as text, so ``1`` and
    ``"1"`` are the same key. Default ``{1: 'a', 2: 'b', 0: 'tie', 'a': 'a', 'b': 'b',
    'tie': 'tie'}`` (PandaLM's 1 = response1, 2 = response2, 0 = tie).
annotator_codes : dict of column -> dict, optional
    Per-column codes that replace ``codes`` for that column (an LLM judge answering
    ``"1"``, ``"2"``, ``"Tie"``).
annotator_kinds : dict of column -> str, optional
    Marks columns as a kind of annotator (``{"gpt35": "llm"}``); adds an ``annotator_kind``
    judgments column, ``"human"`` for the columns not named.
prompt_columns : list of str, optional
    Columns joined into the prompt text with ``prompt_separator`` (default ``"\\n\\n"``);
    empty parts are skipped, so an empty PandaLM ``input`` leaves the instruction alone.
    Default ``["prompt"]`` when that column exists.
response_columns : pair of str, optional
    The two response text columns, displayed first and second. Default ``response_a,
    response_b`` or ``response1, response2`` when present.
model_columns : pair of str, optional
    Columns naming the model of each response (default ``model_a, model_b`` when present).
model_key : str, optional
    One column holding both models, split on ``model_key_separator`` (default ``"_"``): PandaLM's
    ``cmp_key = "bloom-7b_llama-7b"``. A key that does not split into exactly two names
    rejects its row.
id_column : str, optional
    The comparison id column (PandaLM: ``"idx"``); default ``comparison_id``, else ``row<line>``.

Known layouts are recognised from their columns, so ``format="auto"`` needs no options:
PandaLM (``instruction``, ``response1``, ``response2``, ``cmp_key``, with ``annotator1..3``)
defaults to ``prompt_columns=["instruction", "input"]``, ``model_key="cmp_key"`` and
``id_column="idx"``; a note in the load report says so, and explicit options win.

A cell that is empty is no judgment (that annotator did not see the item). A cell whose value
has no code is an error naming line, column and value; with ``on_error="skip"`` it is listed
in ``load_report.rejected_values`` (the row still counts as used when another cell parsed)
and a row left with no judgment at all is listed in ``load_report.rejected``. Non-string
response values (PandaLM has 6 JSON booleans) are kept as text: ``True`` -> ``"True"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ..schema import CHOICES, PreferenceData
from ._build import Collector, as_text, assemble, comparison_ids

DEFAULT_CODES: dict[Any, str] = {1: "a", 2: "b", 0: "tie", "a": "a", "b": "b", "tie": "tie"}
ANNOTATOR_PATTERN = re.compile(r"^(annotator|rater|worker|judge|labeler|labeller)[ _-]?\d+$", re.IGNORECASE)
WIDE_OPTIONS = ("annotator_columns", "codes", "annotator_codes", "annotator_kinds", "prompt_columns",
                "prompt_separator", "response_columns", "model_columns", "model_key",
                "model_key_separator", "order_known")


def default_annotator_columns(columns: Sequence[Any]) -> list[str]:
    return [str(c) for c in columns if ANNOTATOR_PATTERN.match(str(c))]


PANDALM_COLUMNS = ("instruction", "response1", "response2", "cmp_key")


def known_layout(frame: pd.DataFrame) -> str | None:
    """Name a wide layout recognised from its columns (``'pandalm'``), else ``None``."""
    cols = set(map(str, frame.columns))
    return "pandalm" if set(PANDALM_COLUMNS) <= cols else None


def _key(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _cell_keys(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("str")
    if pd.api.types.is_float_dtype(s):
        nn = s.dropna()
        if (nn == np.floor(nn)).all():
            s = s.astype("Int64")
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("str")
    return s.astype("str").str.strip()


def _check_codes(codes: Any, name: str) -> dict[str, str]:
    if not isinstance(codes, dict) or not codes:
        raise SchemaError(f"`{name}` must be a non-empty dict of cell value -> 'a'/'b'/'tie'; got {codes!r}.")
    bad = {k: v for k, v in codes.items() if v not in CHOICES}
    if bad:
        raise SchemaError(f"`{name}` maps to values other than 'a', 'b', 'tie': {bad}. Fix those entries.")
    return {_key(k): v for k, v in codes.items()}


def _need(frame: pd.DataFrame, cols: Sequence[str], option: str, src_name: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{src_name}: `{option}` names column(s) {missing} that are not in the data; "
            f"found {list(map(str, frame.columns))}."
        )


def read_wide(
    src: Any, rej: Collector, *, id_column: str | None = None,
    annotator_columns: Sequence[str] | None = None, codes: dict | None = None,
    annotator_codes: dict[str, dict] | None = None, annotator_kinds: dict[str, str] | None = None,
    prompt_columns: Sequence[str] | None = None, prompt_separator: str = "\n\n",
    response_columns: Sequence[str] | None = None, model_columns: Sequence[str] | None = None,
    model_key: str | None = None, model_key_separator: str = "_", order_known: bool = True,
) -> PreferenceData:
    f: pd.DataFrame = src.frame
    cols = list(annotator_columns) if annotator_columns is not None else default_annotator_columns(f.columns)
    if not cols:
        raise SchemaError(
            f"{src.name}: format 'wide' needs annotator columns; none are named like 'annotator1' among "
            f"{list(map(str, f.columns))}. Pass annotator_columns=['col1', 'col2', ...]."
        )
    _need(f, cols, "annotator_columns", src.name)
    base_codes = _check_codes(DEFAULT_CODES if codes is None else codes, "codes")
    per_col = {c: _check_codes(v, f"annotator_codes[{c!r}]") for c, v in (annotator_codes or {}).items()}
    _need(f, list(per_col), "annotator_codes", src.name)
    _need(f, list(annotator_kinds or {}), "annotator_kinds", src.name)
    n = len(f)
    notes: list[str] = []
    layout = known_layout(f)
    if layout == "pandalm":  # recognised by its columns; explicit options still win
        given = []
        if prompt_columns is None and "prompt" not in f:
            prompt_columns = ["instruction"] + (["input"] if "input" in f else [])
            given.append(f"prompt = {' + '.join(prompt_columns)}")
        if model_key is None and model_columns is None and not ("model_a" in f and "model_b" in f):
            model_key = "cmp_key"
            given.append("models from cmp_key (response1 = the first model)")
        if id_column is None and "comparison_id" not in f and "idx" in f:
            id_column = "idx"
            given.append("comparison ids from idx")
        if given:
            notes.append("recognised PandaLM's layout: " + "; ".join(given) + ".")

    # per-row columns shared by the row's judgments
    base = pd.DataFrame(index=pd.RangeIndex(n))
    used_cols = set(cols) | {id_column or "comparison_id"}
    if prompt_columns is None and "prompt" in f:
        prompt_columns = ["prompt"]
    if prompt_columns:
        _need(f, prompt_columns, "prompt_columns", src.name)
        prompt, _ = as_text(f[prompt_columns[0]])
        for col in prompt_columns[1:]:
            part, _ = as_text(f[col])
            prompt = pd.Series(np.where(prompt == "", part, np.where(part == "", prompt,
                                                                      prompt + prompt_separator + part)), dtype="str")
        base["prompt"] = prompt.to_numpy()
        used_cols |= set(prompt_columns)
    if response_columns is None:
        for pair in (("response_a", "response_b"), ("response1", "response2")):
            if all(c in f for c in pair):
                response_columns = pair
                break
    if response_columns is not None:
        if len(response_columns) != 2:
            raise SchemaError("`response_columns` must name two columns (first shown, second shown); "
                              f"got {response_columns!r}.")
        _need(f, response_columns, "response_columns", src.name)
        n_coerced = 0
        for side, col in zip("ab", response_columns):
            text, k = as_text(f[col])
            n_coerced += k
            rej.coerced_texts(col, f[col], k)
            base[f"response_{side}"] = text.to_numpy()
        if n_coerced:
            notes.append(f"{n_coerced:,} non-string responses (for example JSON booleans) were kept as text "
                         "(true -> 'True').")
        used_cols |= set(response_columns)
    row_ok = np.ones(n, dtype=bool)
    if model_key is not None:
        _need(f, [model_key], "model_key", src.name)
        key = f[model_key].astype("str")
        parts = key.str.split(model_key_separator, regex=False)
        good = (parts.str.len() == 2).fillna(False).to_numpy(dtype=bool)
        if not good.all():
            rej.reject_rows(np.flatnonzero(~good), model_key, key[~good],
                            f"model key does not split into two model names on {model_key_separator!r}",
                            "Pass another `model_key_separator`, or give `model_columns`.")
            row_ok &= good
        base["model_a"] = parts.str[0].where(good, None).to_numpy()
        base["model_b"] = parts.str[1].where(good, None).to_numpy()
        used_cols.add(model_key)
    elif model_columns is not None or ("model_a" in f and "model_b" in f):
        mcols = list(model_columns or ("model_a", "model_b"))
        _need(f, mcols, "model_columns", src.name)
        base["model_a"] = f[mcols[0]].to_numpy()
        base["model_b"] = f[mcols[1]].to_numpy()
        used_cols |= set(mcols)
    for col in f.columns:
        if col in used_cols or col in base:
            continue
        first = f[col].dropna().head(1)
        if len(first) and isinstance(first.iloc[0], (list, dict, np.ndarray)):
            rej.unused([col])
            continue
        base[str(col)] = f[col].to_numpy()

    # one judgment per (row, annotator column) with a parseable cell
    rows_parts, ann_parts, choice_parts = [], [], []
    n_missing = 0
    for col in cols:
        table = per_col.get(col, base_codes)
        raw = f[col]
        present = raw.notna().to_numpy() & row_ok
        keys = _cell_keys(raw)
        choice = keys.map(table)
        parsed = choice.notna().to_numpy() & present
        bad = present & ~parsed
        n_missing += int((raw.isna().to_numpy() & row_ok).sum())
        if bad.any():
            bad_rows = np.flatnonzero(bad)
            if rej.on_error == "raise":
                found = raw[bad].astype("str").value_counts()
                found_txt = ", ".join(f"{v!r} ({k} cells)" for v, k in found.head(6).items())
                renamed = "" if rej.column(col) == col else f" (source column {rej.column(col)!r})"
                raise SchemaError(
                    f"{src.where(int(bad_rows[0]), col)}{renamed}: value(s) with no code: {found_txt}; codes "
                    f"known for this column: {sorted(table)}. Add them with annotator_codes={{{col!r}: "
                    "{...}}, or pass on_error='skip' to list such cells in data.load_report.rejected_values."
                )
            rej.reject_cells(bad_rows, col, raw[bad], f"value has no code (known: {sorted(table)})")
        idx = np.flatnonzero(parsed)
        rows_parts.append(idx)
        ann_parts.append(np.full(len(idx), col, dtype=object))
        choice_parts.append(choice.to_numpy(dtype=object)[idx])
    rows = np.concatenate(rows_parts)
    produced = np.zeros(n, dtype=bool)
    produced[rows] = True
    empty_rows = np.flatnonzero(row_ok & ~produced)
    if len(empty_rows):
        rej.reject_rows(empty_rows, cols[0], f[cols[0]].iloc[empty_rows],
                        "no annotator cell of this row holds a usable judgment",
                        "Fill at least one annotator cell with a known code.")
    if n_missing:
        notes.append(f"{n_missing:,} empty annotator cells: those annotators did not judge those items.")
    order = np.argsort(rows, kind="stable")  # keep the source row order, annotators within a row
    rows = rows[order]
    long = base.iloc[rows].reset_index(drop=True)
    long.insert(0, "_row", rows)
    long.insert(1, "comparison_id", comparison_ids(src, f, id_column, rows).to_numpy())
    long.insert(2, "annotator_id", np.concatenate(ann_parts)[order])
    long.insert(3, "choice", np.concatenate(choice_parts)[order])
    if annotator_kinds:
        long["annotator_kind"] = pd.Series(long["annotator_id"]).map(dict(annotator_kinds)).fillna(
            "human").astype("str")
    meta = {"source_format": "wide", "conversational": False, "annotator_columns": cols}
    if annotator_kinds:
        meta["annotator_kinds"] = dict(annotator_kinds)
    return assemble(long, src, "wide", rej, order_known=order_known, meta=meta, notes=notes)
