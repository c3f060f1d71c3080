"""Shared reader machinery: the rejection collector, text coercion, hash placement, and the
assembly of a long judgment frame into :class:`PreferenceData` with its load report.

Every adapter turns its raw frame into one *long* frame with one row per judgment and the
columns ``_row`` (position of the source row), ``comparison_id``, ``annotator_id``,
``choice`` and, when known, ``prompt`` / ``response_a`` / ``response_b`` (texts),
``_messages`` (JSON of the prompt's message list), ids, models and extras. :func:`assemble`
then derives prompt and response ids (hashes of texts, computed once per unique text), the
``prompts`` and ``responses`` tables, the repeat and empty-text counts, and the report.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from .._load_report import empty_coerced_table, empty_duplicates_table
from ..errors import SchemaError
from ..schema import LoadReport, PreferenceData, stable_id
from ._checks import choice_fix, normalize_choices, text_conflicts
from ._source import Source, empty_rejected

__all__ = [
    "Collector",
    "as_text",
    "assemble",
    "comparison_ids",
    "hash_swap",
    "messages_json",
    "normalize_ids",
    "render_messages",
]

TEXT_COLUMNS = ("prompt", "response_a", "response_b")


class Collector:
    """Gather rejected rows and rejected cells with their source lines."""

    def __init__(self, src: Source, on_error: str, source_names: dict[str, str]) -> None:
        self.src = src
        self.on_error = on_error
        self.names = source_names  # canonical column -> column name in the user's file
        self._rows: list[pd.DataFrame] = []
        self._cells: list[pd.DataFrame] = []
        self._coerced: list[pd.DataFrame] = []
        self._unused: list[str] = []

    def coerced(self, table: pd.DataFrame) -> None:
        """Record changed values (``column, value, to, n`` rows) for the load report."""
        if len(table):
            self._coerced.append(table)

    def count_coerced(self, column: str, value: str, to: str, n: int) -> None:
        """Record ``n`` cells of ``column`` changed from ``value`` to ``to`` (kinds, not values)."""
        if n:
            self.coerced(pd.DataFrame({"column": [self.column(column)], "value": [value], "to": [to], "n": [int(n)]}))

    def coerced_texts(self, column: str, raw: Any, n: int) -> None:
        """Record the non-string values of a text column that were kept as text (called when n > 0)."""
        if not n:
            return
        obj = pd.Series(raw, copy=False).astype(object)
        values = obj.to_numpy()
        other = np.fromiter((v is not None and not isinstance(v, str) for v in values), dtype=bool,
                            count=len(values)) & obj.notna().to_numpy()
        found = pd.Series([f"{v!r} ({type(v).__name__})" for v in values[other]], dtype="str")
        counts = found.value_counts(sort=False)
        text = {f"{v!r} ({type(v).__name__})": str(v) for v in values[other][:1000]}
        self.coerced(pd.DataFrame({"column": self.column(column), "value": counts.index.astype("str"),
                                   "to": [text.get(k, "<text>") for k in counts.index],
                                   "n": counts.to_numpy(dtype=np.int64)}))

    def coerced_table(self) -> pd.DataFrame:
        if not self._coerced:
            return empty_coerced_table()
        return pd.concat(self._coerced, ignore_index=True).astype(
            {"column": "str", "value": "str", "to": "str", "n": "int64"})

    def unused(self, columns: Any) -> None:
        """Record input columns that reach no table."""
        self._unused.extend(str(c) for c in columns if str(c) not in self._unused)

    def unused_columns(self) -> tuple[str, ...]:
        return tuple(self._unused)

    def column(self, canonical: str) -> str:
        return self.names.get(canonical, canonical)

    def reject_rows(self, rows: np.ndarray, column: str, values: Any, reason: str, fix: str,
                    fix_data: dict[str, Any] | None = None) -> None:
        """Raise (on_error='raise') or record rows that cannot be used.

        ``fix_data`` (for example ``{"map_value": {"choice": {"1": "a"}}}``) is attached to
        the raised error as ``SchemaError.fix`` so that the CLI can phrase the fix as flags.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        values = pd.Series(values).astype("str").fillna("<missing>").to_numpy(dtype=object)
        col = self.column(column)
        if self.on_error == "raise":
            counts = pd.Series(values).value_counts()
            found = ", ".join(f"{v!r} ({n} rows)" for v, n in counts.head(6).items())
            lines = self.src.lines(rows[:5]).tolist()
            tail = ", ..." if len(rows) > 5 else ""
            more = f" ({self.src.unit}s {', '.join(map(str, lines))}{tail})" if len(rows) > 1 else ""
            err = SchemaError(
                f"{self.src.where(int(rows[0]), col)}: {reason}; found {found}{more}. {fix} "
                "Or pass on_error='skip' to list such rows in data.load_report.rejected."
            )
            err.fix = fix_data  # type: ignore[attr-defined]
            raise err
        self._rows.append(self._frame(rows, col, values, reason))

    def reject_cells(self, rows: np.ndarray, column: str, values: Any, reason: str) -> None:
        """Record cells rejected inside rows that are otherwise used."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows):
            values = pd.Series(values).astype("str").fillna("<missing>").to_numpy(dtype=object)
            self._cells.append(self._frame(rows, column, values, reason))

    def _frame(self, rows: np.ndarray, column: str, values: np.ndarray, reason: str) -> pd.DataFrame:
        return pd.DataFrame({"_row": rows, "line": self.src.lines(rows), "column": column,
                             "value": pd.Series(values, dtype="str").str.slice(0, 200), "reason": reason})

    def rejected_rows(self) -> np.ndarray:
        if not self._rows:
            return np.zeros(0, dtype=np.int64)
        return pd.unique(np.concatenate([f["_row"].to_numpy() for f in self._rows]))

    def rows_table(self) -> pd.DataFrame:
        parts = [self.src.rejected]
        if self._rows:
            parts.append(pd.concat(self._rows, ignore_index=True).drop_duplicates("_row").drop(columns="_row"))
        parts = [p for p in parts if len(p)]
        if not parts:
            return empty_rejected()
        out = pd.concat(parts, ignore_index=True).sort_values("line", kind="stable").reset_index(drop=True)
        return out.astype({"line": "int64", "column": "str", "value": "str", "reason": "str"})

    def cells_table(self) -> pd.DataFrame:
        if not self._cells:
            return empty_rejected()
        out = pd.concat(self._cells, ignore_index=True).drop(columns="_row")
        return out.sort_values("line", kind="stable").reset_index(drop=True).astype(
            {"line": "int64", "column": "str", "value": "str", "reason": "str"})


# ------------------------------------------------------------------ helpers
def as_text(values: Any) -> tuple[pd.Series, int]:
    """Return texts as a string Series and how many non-string values were converted.

    Missing becomes ``""``. JSON booleans become ``"True"``/``"False"`` (Python spelling,
    which is what a model that answered "True" most likely wrote before a loader parsed it);
    numbers become their decimal text.
    """
    s = pd.Series(values, copy=False)
    if isinstance(s.dtype, pd.StringDtype):
        return (s.fillna("") if s.hasnans else s), 0
    obj = s.astype(object)
    is_str = np.fromiter((isinstance(v, str) for v in obj.to_numpy()), dtype=bool, count=len(obj))
    n_coerced = int((~is_str & obj.notna().to_numpy()).sum())
    out = obj.where(obj.notna(), "").astype("str")
    return out, n_coerced


def normalize_ids(values: Any) -> pd.Series:
    """Return an id column as strings, with missing and ``""`` as missing; 1.0 -> "1"."""
    s = pd.Series(values, copy=False)
    if pd.api.types.is_float_dtype(s):
        nn = s.dropna()
        if len(nn) and (nn == np.floor(nn)).all():
            s = s.astype("Int64")
    out = s.astype("str")
    empty = (out == "").to_numpy(dtype=bool, na_value=False)
    return out.where(~empty, pd.NA) if empty.any() else out


def hash_swap(comparison_ids: Any) -> np.ndarray:
    """Return a stable pseudo-random bit per comparison id: ``True`` puts the loser first."""
    ids = pd.Series(comparison_ids, copy=False).astype("str").to_numpy(dtype=object)
    return (pd.util.hash_array(ids, categorize=True) >> np.uint64(7)) & np.uint64(1) == 1


def comparison_ids(src: Source, frame: pd.DataFrame, id_column: str | None, rows: np.ndarray) -> pd.Series:
    """Comparison ids from ``id_column`` when given (or a ``comparison_id`` column), else ``row<line>``."""
    col = id_column or ("comparison_id" if "comparison_id" in frame else None)
    if col is not None:
        if col not in frame:
            raise SchemaError(
                f"{src.name}: `id_column` {col!r} is not a column; found {list(map(str, frame.columns))}."
            )
        return normalize_ids(frame[col].iloc[rows].reset_index(drop=True))  # missing: rejected later
    return pd.Series(np.char.add("row", src.lines(rows).astype(str)).astype(object), dtype="str")


def _plain(messages: Any) -> list[dict]:
    out = []
    for m in list(messages):
        if isinstance(m, dict):
            out.append({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in m.items()
                        if v is not None})
        else:
            out.append({"role": "user", "content": str(m)})
    return out


def messages_json(messages: Any) -> str:
    """Return a message list as compact JSON text (kept in ``prompts.messages``)."""
    return json.dumps(_plain(messages), ensure_ascii=False)


def render_messages(messages: Any) -> str:
    """Return a message list as plain text: ``role: content`` blocks joined by blank lines."""
    return "\n\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in _plain(messages))


def is_message_list(value: Any) -> bool:
    return isinstance(value, (list, np.ndarray)) and (len(value) == 0 or isinstance(value[0], dict))



def _drop(long: pd.DataFrame, bad: np.ndarray) -> pd.DataFrame:
    return long.loc[~bad].reset_index(drop=True) if bad.any() else long


def _checked_rows(long: pd.DataFrame, rej: Collector) -> pd.DataFrame:
    """Normalise choices and ids; reject rows with unknown choices, missing ids or conflicting texts."""
    rows = long["_row"].to_numpy()
    choice, changed = normalize_choices(long["choice"])
    rej.coerced(changed.assign(column=rej.column("choice")))
    blank = long["choice"].isna().to_numpy() | (long["choice"].astype("str").str.strip() == "").to_numpy(
        dtype=bool, na_value=False)
    if blank.any():
        rej.reject_rows(rows[blank], "choice", long["choice"][blank], "choice is missing",
                        "Fill in the choice ('a', 'b' or 'tie').")
    bad = choice.isna().to_numpy() & ~blank
    if bad.any():
        text, fix = choice_fix(long["choice"][bad], rej.column("choice"))
        rej.reject_rows(rows[bad], "choice", long["choice"][bad],
                        "unknown choice value (allowed: 'a', 'b', 'tie' and the spellings listed in the "
                        "reader docs, such as 'A', 'left', 'first', 'draw')", text, fix_data=fix)
    long["choice"] = choice
    long = _drop(long, bad | blank)
    for col in ("comparison_id", "annotator_id", "prompt_id", "response_a_id", "response_b_id",
                "model_a", "model_b"):
        if col in long:
            long[col] = normalize_ids(long[col])
    # a missing required id: the row cannot be placed (an all-missing annotator column means
    # "no annotator ids", as in TRL/HH rows, and is kept)
    checks = [("comparison_id", "comparison id is missing", "Fill in the comparison id.")]
    if "annotator_id" in long and long["annotator_id"].notna().any():
        checks.append(("annotator_id", "annotator id is missing while other rows name their annotator",
                       "Fill in the annotator id (or remove the column if the file has no annotators)."))
    for col, reason, how in checks:
        if col in long:
            bad = long[col].isna().to_numpy()
            if bad.any():
                rej.reject_rows(long["_row"].to_numpy()[bad], col, long[col][bad], reason, how)
                long = _drop(long, bad)
    for col in ("strength", "seconds"):  # numeric columns: a text such as "fast" is an error on its line
        if col in long and not pd.api.types.is_numeric_dtype(long[col]):
            num = pd.to_numeric(long[col], errors="coerce")
            blank = (long[col].astype("str").str.strip() == "").to_numpy(dtype=bool, na_value=False)
            bad = (num.isna() & long[col].notna()).to_numpy(dtype=bool) & ~blank
            if bad.any():
                rej.reject_rows(long["_row"].to_numpy()[bad], col, long[col][bad], f"{col} is not a number",
                                f"Fix the {col} value, or drop the column.")
                long = _drop(long, bad)
                num = num[~bad].reset_index(drop=True)
            rej.count_coerced(col, "<number as text>", "<number>", int(num.notna().sum()))
            long[col] = num.to_numpy(dtype=float)
    # one id, one text: ids given by the source are never merged or overwritten by texts
    n = len(long)
    if {"response_a", "response_b", "response_a_id", "response_b_id"} <= set(long.columns):
        ids = pd.concat([long["response_a_id"], long["response_b_id"]], ignore_index=True)
        texts = pd.concat([long["response_a"], long["response_b"]], ignore_index=True)
        both = text_conflicts(ids, texts)
        bad = both[:n] | both[n:]
        if bad.any():
            side_a = both[:n][bad]
            shown = np.where(side_a, long["response_a_id"].to_numpy(dtype=object)[bad],
                             long["response_b_id"].to_numpy(dtype=object)[bad])
            rej.reject_rows(long["_row"].to_numpy()[bad], "response_a_id" if side_a[0] else "response_b_id",
                            shown, "response id seen before with a different text",
                            "Give each distinct text its own response id, or correct the texts.")
            long = _drop(long, bad)
    if "prompt" in long and "prompt_id" in long:
        bad = text_conflicts(long["prompt_id"], long["prompt"])
        if bad.any():
            rej.reject_rows(long["_row"].to_numpy()[bad], "prompt_id", long["prompt_id"][bad],
                            "prompt id seen before with a different prompt text",
                            "Give each distinct prompt its own prompt id, or correct the texts.")
            long = _drop(long, bad)
    return long

# ----------------------------------------------------------------- assemble
def assemble(
    long: pd.DataFrame,
    src: Source,
    fmt: str,
    rej: Collector,
    *,
    order_known: bool,
    meta: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    ratings: pd.DataFrame | None = None,
    rankings: pd.DataFrame | None = None,
    extra_used_rows: np.ndarray | None = None,
    extra_responses: pd.DataFrame | None = None,
    prompts_table: pd.DataFrame | None = None,
) -> PreferenceData:
    """Turn a long judgment frame into PreferenceData with a complete load report."""
    notes = list(src.notes) + list(notes or [])
    long = long.reset_index(drop=True)
    long = _checked_rows(long, rej)
    j = long.drop(columns=[c for c in (*TEXT_COLUMNS, "_messages", "_row") if c in long])
    if "annotator_id" not in j:
        j["annotator_id"] = pd.Series(pd.NA, index=j.index, dtype="str")

    prompts = prompts_table
    if "prompt" in long:
        j["prompt_id"], prompts = _prompt_table(long, j.get("prompt_id"))
    responses = None
    if "response_a" in long and "response_b" in long:
        rid_a, rid_b, responses = _response_table(long, j)
        j["response_a_id"], j["response_b_id"] = rid_a, rid_b
    if extra_responses is not None and len(extra_responses):
        responses = extra_responses if responses is None else pd.concat(
            [responses, extra_responses], ignore_index=True).drop_duplicates("response_id")
    # canonical column order: required, known optional, then extras (strata)
    known = ["comparison_id", "annotator_id", "choice", "prompt_id", "response_a_id", "response_b_id",
             "model_a", "model_b", "strength", "seconds", "timestamp"]
    j = j[[c for c in known if c in j] + [c for c in j.columns if c not in known]]

    n_empty = 0 if responses is None else int((responses["text"].astype("str").str.strip() == "").sum())
    has_ann = j["annotator_id"].notna().to_numpy()
    if n_empty:
        notes.append(f"{n_empty:,} responses have empty text; they are kept as valid data.")
    if not order_known and len(j):
        notes.append("display order unknown: a/b were placed by a stable hash of the comparison id, "
                     "so a/b carries no position signal.")
    if not has_ann.any() and len(j):
        notes.append("no annotator ids: `annotator_id` is missing, not one shared annotator.")

    used = np.zeros(len(src.frame), dtype=bool)  # masks, not np.unique: much faster on 1M rows
    used[long["_row"].to_numpy()] = True
    if extra_used_rows is not None:
        used[np.asarray(extra_used_rows, dtype=np.int64)] = True
    used[rej.rejected_rows()] = False
    n_used = int(used.sum())
    meta = dict(meta or {})
    meta.setdefault("source_format", fmt)
    meta.setdefault("conversational", False)
    try:
        data = PreferenceData(j, responses, prompts, ratings, rankings=rankings, order_known=order_known,
                              meta=meta)
    except SchemaError as exc:
        raise SchemaError(f"{src.name}: {exc}") from None
    n_repeats = 0
    if has_ann.any():  # codes are cached by the schema's own checks: no second factorize
        acodes, _ = data.codes("annotator_id")
        ccodes, clabels = data.codes("comparison_id")
        key = pd.Series(acodes[has_ann] * (len(clabels) + 1) + ccodes[has_ann])
        n_repeats = int(key.duplicated().sum())
    if n_repeats:
        notes.insert(len(src.notes), f"{n_repeats:,} judgments repeat an (annotator, comparison) pair already "
                     "seen; they are kept (position consistency and intra-rater reliability use them).")
    data.load_report = LoadReport(
        source=src.name, format=fmt, n_rows=src.n_rows, n_rows_used=n_used, rejected=rej.rows_table(),
        n_judgments=len(j), n_ratings=0 if ratings is None else len(ratings), n_repeats=n_repeats,
        n_empty_texts=n_empty, notes=tuple(notes), rejected_values=rej.cells_table(),
        duplicates=src.duplicates if src.duplicates is not None else empty_duplicates_table(),
        duplicates_policy=src.duplicates_policy, coerced=rej.coerced_table(),
        unused_columns=rej.unused_columns(),
    )
    return data


def _pick(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """Rows at increasing positions, by a mask: pyarrow filters chunk by chunk, while a take
    over a many-chunk column first concatenates it (several times slower on 1M rows)."""
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    return values[mask].reset_index(drop=True)


def _first_index(codes: np.ndarray, n_labels: int) -> np.ndarray:
    """Position of the first row of each code (codes in 0..n_labels-1)."""
    first = np.full(n_labels, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes), dtype=np.int64)[::-1]
    return first


def _prompt_table(long: pd.DataFrame, given: pd.Series | None) -> tuple[pd.Series, pd.DataFrame]:
    """Return judgment prompt ids and the prompts table (one row per prompt id, first text kept)."""
    ptext = long["prompt"]
    if given is not None and not given.isna().any():
        pid = given  # ids from the source: no hashing, texts looked up once per id
    else:
        codes, uniq = pd.factorize(ptext, use_na_sentinel=False)
        derived = pd.Series(stable_id("p", pd.Series(uniq, dtype="str"))[codes], dtype="str")
        pid = derived if given is None else given.fillna(derived)
    codes, uniq = pd.factorize(pid, use_na_sentinel=False)
    first = _first_index(codes, len(uniq))  # increasing: factorize numbers labels by first appearance
    table = {"prompt_id": pd.Series(uniq, dtype="str"), "text": _pick(ptext, first)}
    if "_messages" in long:
        table["messages"] = _pick(long["_messages"], first)
    return pid, pd.DataFrame(table)


def _response_table(long: pd.DataFrame, j: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Return response ids of sides a and b and the responses table.

    Ids given by the source are kept; missing ones are ``stable_id("r", prompt_id, text)``,
    hashed once per unique (prompt, text) pair.
    """
    n = len(long)
    texts = pd.concat([long["response_a"], long["response_b"]], ignore_index=True)
    pid2 = (pd.concat([j["prompt_id"], j["prompt_id"]], ignore_index=True) if "prompt_id" in j
            else pd.Series(pd.NA, index=range(2 * n), dtype="str"))
    given = None
    if "response_a_id" in j and "response_b_id" in j:
        given = pd.concat([j["response_a_id"], j["response_b_id"]], ignore_index=True)
    if given is not None and not given.isna().any():
        rid = given
    else:
        tcodes, tuniq = pd.factorize(texts, use_na_sentinel=False)
        pcodes, puniq = pd.factorize(pid2, use_na_sentinel=False)
        width = max(len(tuniq), 1)
        rcodes, runiq = pd.factorize(pcodes.astype(np.int64) * width + tcodes)
        r_pid = pd.Series(puniq, dtype="str").iloc[runiq // width].reset_index(drop=True)
        r_text = pd.Series(tuniq, dtype="str").iloc[runiq % width].reset_index(drop=True)
        derived = pd.Series(stable_id("r", r_pid, r_text)[rcodes], dtype="str")
        rid = derived if given is None else given.fillna(derived)
    codes, uniq = pd.factorize(rid, use_na_sentinel=False)
    first = _first_index(codes, len(uniq))
    # take texts from each side's own column: a take over the concatenation would copy it whole
    from_a = first < n
    order = np.concatenate([np.flatnonzero(from_a), np.flatnonzero(~from_a)])
    text = pd.concat([_pick(long["response_a"], first[from_a]), _pick(long["response_b"], first[~from_a] - n)],
                     ignore_index=True)
    pid_first = pid2.iloc[: n].iloc[first[order] % n] if n else pid2.iloc[:0]  # short ids: a take is cheap
    responses = pd.DataFrame({"response_id": pd.Series(uniq, dtype="str").iloc[order].reset_index(drop=True),
                              "prompt_id": pid_first.reset_index(drop=True), "text": text})
    return (rid.iloc[:n].reset_index(drop=True).astype("str"),
            rid.iloc[n:].reset_index(drop=True).astype("str"), responses)
