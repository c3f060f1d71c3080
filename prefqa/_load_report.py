"""The load report every reader attaches to the data it returns (no silent loss, no silent change)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["LoadReport", "empty_coerced_table", "empty_duplicates_table", "empty_rows_table"]


def empty_rows_table() -> pd.DataFrame:
    """An empty ``line, column, value, reason`` table."""
    return pd.DataFrame({"line": pd.Series(dtype="int64"), "column": pd.Series(dtype="str"),
                         "value": pd.Series(dtype="str"), "reason": pd.Series(dtype="str")})


def empty_coerced_table() -> pd.DataFrame:
    """An empty ``column, value, to, n`` table of coerced values."""
    return pd.DataFrame({"column": pd.Series(dtype="str"), "value": pd.Series(dtype="str"),
                         "to": pd.Series(dtype="str"), "n": pd.Series(dtype="int64")})


def empty_duplicates_table() -> pd.DataFrame:
    """An empty ``line, duplicate_of`` table of exact duplicate rows."""
    return pd.DataFrame({"line": pd.Series(dtype="int64"), "duplicate_of": pd.Series(dtype="int64")})


@dataclass(frozen=True, eq=False)
class LoadReport:
    """What a reader did with every input row, and every value it changed.

    Invariant: ``n_rows == n_rows_used + n_rejected`` (checked on creation).

    Attributes
    ----------
    source : str
        File path or ``"<DataFrame>"``.
    format : str
        The format that was read (after ``"auto"`` detection).
    n_rows : int
        Input rows (CSV records, JSON lines, array elements or sheet rows) seen.
    n_rows_used : int
        Rows that produced at least one judgment, rating or ranking.
    rejected : DataFrame
        One row per rejected input row: ``line`` (1-based; the header is
        line 1 in CSV), ``column``, ``value`` and ``reason`` (malformed lines,
        missing required ids, unknown choices, conflicting texts, dropped
        duplicates, ...).
    n_judgments, n_ratings : int
        Records produced.
    n_repeats : int
        Judgments that repeat an (annotator, comparison) already seen; kept.
    n_empty_texts : int
        Responses whose text is empty or whitespace only; kept.
    notes : tuple of str
        Plain-language remarks (unknown display order, recognised layouts, ...).
    rejected_values : DataFrame
        Cell-level rejections inside rows that were otherwise used (a wide
        row whose LLM-judge cell says ``"garbage"``): ``line``, ``column``,
        ``value``, ``reason``. These rows count as used; the cells are listed
        here so nothing is dropped silently.
    duplicates : DataFrame
        Input rows equal to an earlier row in every column (timestamps and
        seconds included): ``line`` and ``duplicate_of`` (the line of the
        first copy). Always filled, whatever ``duplicates_policy`` says.
    duplicates_policy : {'keep', 'drop'}
        What ``pq.read(..., duplicates=)`` did with them; dropped rows are
        also listed in ``rejected``.
    coerced : DataFrame
        Values the reader changed: ``column``, ``value`` (as found), ``to``
        (as stored) and ``n`` (cells): normalised choices (``'A '`` ->
        ``'a'``), non-string texts kept as text, numeric text scores.
    unused_columns : tuple of str
        Input columns that reached no table (nested values that are not
        strata, columns a format has no place for).
    """

    source: str
    format: str
    n_rows: int
    n_rows_used: int
    rejected: pd.DataFrame = field(default_factory=empty_rows_table)
    n_judgments: int = 0
    n_ratings: int = 0
    n_repeats: int = 0
    n_empty_texts: int = 0
    notes: tuple[str, ...] = ()
    rejected_values: pd.DataFrame = field(default_factory=empty_rows_table)
    duplicates: pd.DataFrame = field(default_factory=empty_duplicates_table)
    duplicates_policy: str = "keep"
    coerced: pd.DataFrame = field(default_factory=empty_coerced_table)
    unused_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.n_rows != self.n_rows_used + len(self.rejected):
            raise RuntimeError(  # an internal bug, never user input
                f"load report does not account for every row: {self.n_rows} rows in, "
                f"{self.n_rows_used} used + {len(self.rejected)} rejected"
            )

    @property
    def n_rejected(self) -> int:
        """Rows rejected (see ``rejected`` for line numbers and reasons)."""
        return len(self.rejected)

    @property
    def n_rejected_values(self) -> int:
        """Cells rejected inside used rows (see ``rejected_values``)."""
        return len(self.rejected_values)

    @property
    def n_duplicates(self) -> int:
        """Input rows that exactly repeat an earlier row (kept or dropped)."""
        return len(self.duplicates)

    @property
    def n_coerced(self) -> int:
        """Cells whose value the reader changed (see ``coerced``)."""
        return int(self.coerced["n"].sum()) if len(self.coerced) else 0

    def rejected_by_reason(self) -> pd.Series:
        """Return the number of rejected rows per reason, largest first."""
        return self.rejected["reason"].value_counts()

    def to_frame(self) -> pd.DataFrame:
        """Return the counts as a one-row tidy DataFrame."""
        return pd.DataFrame(
            [{
                "source": self.source, "format": self.format, "n_rows": self.n_rows,
                "n_rows_used": self.n_rows_used, "n_rejected": self.n_rejected,
                "n_judgments": self.n_judgments, "n_ratings": self.n_ratings,
                "n_repeats": self.n_repeats, "n_empty_texts": self.n_empty_texts,
                "n_rejected_values": self.n_rejected_values, "n_duplicates": self.n_duplicates,
                "duplicates_policy": self.duplicates_policy, "n_coerced": self.n_coerced,
                "n_unused_columns": len(self.unused_columns),
            }]
        )

    def summary(self) -> str:
        """Return a plain-text account of the load: counts, rejections, duplicates, changes."""
        lines = [
            (f"Read {self.n_rows:,} rows from {self.source} (format {self.format!r}): "
             f"{self.n_rows_used:,} used, {self.n_rejected:,} rejected."),
            (f"Produced {self.n_judgments:,} judgments and {self.n_ratings:,} ratings; "
             f"{self.n_repeats:,} repeated judgments kept; {self.n_empty_texts:,} empty responses kept."),
        ]
        if self.n_rejected:
            lines.append("Rejected rows by reason:")
            for reason, n in self.rejected_by_reason().head(10).items():
                first = self.rejected.loc[self.rejected["reason"] == reason, "line"].head(5).tolist()
                lines.append(f"  {n:,} x {reason} (lines {', '.join(map(str, first))}"
                             f"{', ...' if n > 5 else ''})")
        for row in self.rejected.head(10).itertuples(index=False):
            lines.append(f"  line {row.line}, column {row.column!r}, value {row.value!r}: {row.reason}")
        if self.n_rejected > 10:
            lines.append(f"  ... and {self.n_rejected - 10:,} more rejected rows")
        if self.n_rejected_values:
            lines.append(f"{self.n_rejected_values:,} cells rejected inside used rows:")
            for row in self.rejected_values.head(10).itertuples(index=False):
                lines.append(f"  line {row.line}, column {row.column!r}, value {row.value!r}: {row.reason}")
            if self.n_rejected_values > 10:
                lines.append(f"  ... and {self.n_rejected_values - 10:,} more rejected cells")
        if self.n_duplicates:
            action = "dropped (duplicates='drop')" if self.duplicates_policy == "drop" else \
                "kept (duplicates='keep'; pass duplicates='drop' to remove them)"
            pairs = ", ".join(f"line {a} = line {b}" for a, b in self.duplicates.head(5).itertuples(index=False))
            lines.append(f"{self.n_duplicates:,} rows are exact duplicates of an earlier row, {action}: {pairs}"
                         f"{', ...' if self.n_duplicates > 5 else ''}.")
        if len(self.coerced):
            lines.append(f"{self.n_coerced:,} values were changed on reading:")
            for row in self.coerced.head(10).itertuples(index=False):
                lines.append(f"  column {row.column!r}: {row.value!r} -> {row.to!r} ({row.n:,} cells)")
            if len(self.coerced) > 10:
                lines.append(f"  ... and {len(self.coerced) - 10:,} more kinds of change")
        if self.unused_columns:
            lines.append(f"Columns not used: {list(self.unused_columns)}.")
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines)
