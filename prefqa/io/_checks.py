"""Row checks shared by the readers: choice normalisation, missing ids, conflicting texts,
exact duplicates, and the structured fixes that errors carry.

Choice values (long formats: ``prefqa``, ``arena`` after its own winner table) are compared
after removing surrounding spaces and tabs and ignoring case, through :data:`CHOICE_TABLE`
(a newline inside a choice cell is left alone: it usually means a broken quote):

==========  ==================================================================
stored      accepted spellings
==========  ==================================================================
``a``       ``a``, ``left``, ``first``, ``response_a``, ``response a``, ``model_a``
``b``       ``b``, ``right``, ``second``, ``response_b``, ``response b``, ``model_b``
``tie``     ``tie``, ``draw``, ``equal``, ``tied``, ``same``
==========  ==================================================================

Every changed value is counted in ``load_report.coerced``. Numeric codes (``1``/``2``,
``0``/``1``) are *not* guessed: whether ``1`` means the first response or "b wins" differs
between sources, so they need an explicit ``mapping={"choice": {...}}``; the error names the
codes found and suggests a mapping for exactly those codes (``SchemaError.fix`` holds it as
data, and :func:`format_fix` phrases it for Python or for the CLI).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .._load_report import empty_coerced_table, empty_duplicates_table
from ..errors import SchemaError

__all__ = [
    "CHOICE_TABLE",
    "choice_fix",
    "coerced_frame",
    "error_text",
    "exact_duplicates",
    "format_fix",
    "nested_columns",
    "normalize_choices",
    "order_known_value",
    "text_conflicts",
]

CHOICE_TABLE: dict[str, str] = {
    "a": "a", "left": "a", "first": "a", "response_a": "a", "response a": "a", "model_a": "a",
    "b": "b", "right": "b", "second": "b", "response_b": "b", "response b": "b", "model_b": "b",
    "tie": "tie", "draw": "tie", "equal": "tie", "tied": "tie", "same": "tie",
}
_NUMBER = re.compile(r"^[+-]?\d+(\.0*)?$")


def coerced_frame(column: str, counts: pd.Series, to: dict[str, str] | str) -> pd.DataFrame:
    """Rows ``column, value, to, n`` from value counts of the original values."""
    if not len(counts):
        return empty_coerced_table()
    values = [str(v) for v in counts.index]
    targets = [to if isinstance(to, str) else to[v] for v in values]
    return pd.DataFrame({"column": column, "value": pd.Series(values, dtype="str"),
                         "to": pd.Series(targets, dtype="str"), "n": counts.to_numpy(dtype=np.int64)})


def normalize_choices(choice: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """Return choices mapped through :data:`CHOICE_TABLE` (unknown values missing) and the changes.

    >>> c, changed = normalize_choices(pd.Series(["a", "B ", "Tie", "left", "7"]))
    >>> c.tolist(), changed[["value", "to", "n"]].values.tolist()
    (['a', 'b', 'tie', 'a', nan], [['B ', 'b', 1], ['Tie', 'tie', 1], ['left', 'a', 1]])
    """
    s = pd.Series(choice, copy=False)
    text = s.astype("str")
    ok = text.isin(("a", "b", "tie")).to_numpy(dtype=bool, na_value=False)
    if ok.all():
        return text, empty_coerced_table()
    rest = text[~ok]
    mapped = rest.str.strip(" \t").str.lower().map(CHOICE_TABLE)  # a newline in a cell is not padding
    out = text.copy()
    out[~ok] = mapped.to_numpy()
    changed = mapped.notna().to_numpy()
    counts = rest[changed].value_counts(sort=False)
    table = dict(zip(rest[changed].tolist(), mapped[changed].tolist()))
    return out, coerced_frame("choice", counts, {str(k): v for k, v in table.items()})


def _code_text(value: Any) -> str:
    text = str(value).strip()
    if _NUMBER.match(text):
        return str(int(float(text)))
    return text


def choice_fix(values: pd.Series, column: str) -> tuple[str, dict[str, Any]]:
    """Explain unknown choice values and suggest a mapping for exactly those values.

    Returns the sentence for the error message and the ``fix`` data
    (``{"map_value": {column: {value: target}}}``).

    >>> text, fix = choice_fix(pd.Series([1, 2, 2, 0]), "choice")
    >>> fix
    {'map_value': {'choice': {'0': 'tie', '1': 'a', '2': 'b'}}}
    """
    found = sorted({_code_text(v) for v in pd.Series(values).dropna().tolist()})
    numeric = [v for v in found if _NUMBER.match(v)]
    suggestion: dict[str, str] = {}
    if numeric and len(numeric) == len(found):
        ints = sorted(int(v) for v in numeric)
        if set(ints) <= {0, 1, 2} and 2 in ints:  # PandaLM's convention: 1 = first, 2 = second, 0 = tie
            suggestion = {"0": "tie", "1": "a", "2": "b"}
        elif set(ints) <= {0, 1}:  # a 0/1 label: 0 = first, 1 = second
            suggestion = {"0": "a", "1": "b"}
        else:
            suggestion = {str(v): "<a|b|tie>" for v in ints}
        suggestion = {k: v for k, v in suggestion.items() if k in found}
        why = (f"numeric choice codes {found} are ambiguous (does 1 mean the response shown first, or "
               "'b wins'?), so they are not guessed; say what they mean")
    else:
        suggestion = {v: "<a|b|tie>" for v in found[:8]}
        why = "say which of 'a', 'b', 'tie' each value means"
    fix = {"map_value": {column: suggestion}}
    return f"{why}: {format_fix(fix, 'python')} (check the direction before using it).", fix


def format_fix(fix: Any, style: str = "python") -> str:
    """Phrase a structured fix (``SchemaError.fix`` or its dict) for Python or the CLI.

    Parameters
    ----------
    fix : dict or exception
        ``{"map_value": {column: {from: to}}}``; an exception's ``fix`` attribute is used.
    style : {'python', 'cli'}
        ``mapping={...}`` for :func:`prefqa.read`, or ``--map-value COL:FROM=TO`` flags.

    Examples
    --------
    >>> fix = {"map_value": {"choice": {"1": "a", "2": "b"}}}
    >>> format_fix(fix, "python")
    "mapping={'choice': {'1': 'a', '2': 'b'}}"
    >>> format_fix(fix, "cli")
    '--map-value choice:1=a --map-value choice:2=b'
    """
    data = getattr(fix, "fix", fix) or {}
    maps = data.get("map_value", {})
    renames = data.get("rename", {})
    if style == "cli":
        flags = [f"--map {k}={v}" for k, v in renames.items()]
        flags += [f"--map-value {col}:{k}={v}" for col, table in maps.items() for k, v in table.items()]
        return " ".join(flags)
    if style != "python":
        raise ValueError(f"style must be 'python' or 'cli'; got {style!r}")
    return f"mapping={({**renames, **maps})!r}"


# option phrases of reader errors, in Python and in CLI terms
_PHRASES = (("pass on_error='skip'", "pass --on-error skip"), ("on_error='skip'", "--on-error skip"),
            ("duplicates='drop'", "--duplicates drop"), ("duplicates='keep'", "--duplicates keep"))


def error_text(error: BaseException, style: str = "python") -> str:
    """Return an error's message with its fix phrased for Python (as raised) or for the CLI.

    >>> err = ValueError("unknown choice; say what they mean: mapping={'choice': {'1': 'a'}}. "
    ...                  "Or pass on_error='skip' to list such rows.")
    >>> err.fix = {"map_value": {"choice": {"1": "a"}}}
    >>> error_text(err, "cli")
    'unknown choice; say what they mean: --map-value choice:1=a. Or pass --on-error skip to list such rows.'
    """
    text = str(error)
    if style == "python":
        return text
    fix = getattr(error, "fix", None)
    if fix:
        text = text.replace(format_fix(fix, "python"), format_fix(fix, "cli"))
        if fix.get("rename"):
            text = text.replace(f"pq.read(source, {format_fix(fix, 'cli')})", format_fix(fix, "cli"))
    for python, cli in _PHRASES:
        text = text.replace(python, cli)
    return text


def text_conflicts(ids: pd.Series, texts: pd.Series) -> np.ndarray:
    """Return ``True`` for rows whose text differs from the first text seen for their id.

    Missing ids never conflict. Texts are compared exactly through dictionary codes
    (pyarrow's hash table compares the strings themselves, so no hash collision can hide
    a conflict).

    >>> text_conflicts(pd.Series(["r1", "r1", "r2", "r1"]), pd.Series(["x", "x", "y", "z"])).tolist()
    [False, False, False, True]
    """
    icodes, iuniq = pd.factorize(pd.Series(ids, copy=False), use_na_sentinel=True)
    n = len(icodes)
    if len(iuniq) == n:  # every id once: nothing to compare
        return np.zeros(n, dtype=bool)
    tcodes, _ = pd.factorize(pd.Series(texts, copy=False), use_na_sentinel=False)
    rows = np.flatnonzero(icodes >= 0)
    first = np.full(len(iuniq), -1, dtype=np.int64)
    first[icodes[rows][::-1]] = rows[::-1]
    out = np.zeros(n, dtype=bool)
    out[rows] = tcodes[rows] != tcodes[first[icodes[rows]]]
    return out


def nested_columns(frame: pd.DataFrame, columns: Any = None) -> list[str]:
    """Columns (of ``columns``, default all) whose first non-missing value is a list, dict or array."""
    out = []
    for col in (frame.columns if columns is None else columns):
        if frame[col].dtype != object:
            continue
        first = frame[col].dropna().head(1)
        if len(first) and isinstance(first.iloc[0], (list, dict, np.ndarray, tuple)):
            out.append(str(col))
    return out


_CHEAP_FIRST = ("comparison_id", "annotator_id", "response_id", "idx", "id", "prompt_id", "choice", "score",
                "timestamp", "seconds", "model_a", "model_b")


def exact_duplicates(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return (rows, first_rows): each row equal to an earlier row in every column, and that row.

    Columns are compared one at a time, short id columns first; rows that are already
    unique are dropped from the comparison, so long text columns are only read for the
    few candidate rows. Nested values (message lists) are compared by their text form.

    >>> rows, first = exact_duplicates(pd.DataFrame({"x": [1, 2, 1, 1], "y": ["a", "b", "a", "c"]}))
    >>> rows.tolist(), first.tolist()
    ([2], [0])
    """
    n = len(frame)
    empty = np.zeros(0, dtype=np.int64)
    if n < 2 or frame.shape[1] == 0:
        return empty, empty
    names = [str(c) for c in frame.columns]
    order = sorted(range(len(names)), key=lambda i: (names[i] not in _CHEAP_FIRST, i))
    nested = set(nested_columns(frame))
    cand = np.arange(n, dtype=np.int64)
    group = np.zeros(n, dtype=np.int64)
    for i in order:
        s = frame.iloc[:, i]
        if len(cand) < n:
            s = s.iloc[cand]
        if names[i] in nested:
            s = s.map(repr)
        try:
            codes, uniq = pd.factorize(s, use_na_sentinel=False)
        except TypeError:  # unhashable values further down a column (a list among strings)
            codes, uniq = pd.factorize(s.map(repr), use_na_sentinel=False)
        group, guniq = pd.factorize(group * (len(uniq) + 1) + codes)
        counts = np.bincount(group, minlength=len(guniq))
        multi = counts[group] > 1
        if not multi.all():
            cand, group = cand[multi], group[multi]
            group, _ = pd.factorize(group)
        if not len(cand):
            return empty, empty
    first = np.full(group.max() + 1, -1, dtype=np.int64)
    first[group[::-1]] = cand[::-1]
    dup = first[group] != cand
    return cand[dup], first[group[dup]]


def duplicates_table(lines_dup: np.ndarray, lines_first: np.ndarray) -> pd.DataFrame:
    if not len(lines_dup):
        return empty_duplicates_table()
    return pd.DataFrame({"line": np.asarray(lines_dup, dtype=np.int64),
                         "duplicate_of": np.asarray(lines_first, dtype=np.int64)})


def order_known_value(values: list[str], where: str) -> bool:
    """Return the one ``order_known`` value of a source from its distinct lower-cased spellings.

    Examples
    --------
    >>> order_known_value(["true", "1"], "x.csv"), order_known_value(["false"], "x.csv")
    (True, False)
    """
    if set(values) <= {"true", "1"}:
        return True
    if set(values) <= {"false", "0"}:
        return False
    raise SchemaError(
        f"{where}: column 'order_known' must hold one value for all judgments (true or false); "
        f"found {sorted(values)}. Split the data by display-order knowledge, or drop the column."
    )
