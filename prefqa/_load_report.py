"""The load report every reader attaches to the data it returns (no silent loss)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["LoadReport"]


@dataclass(frozen=True, eq=False)
class LoadReport:
    """What a reader did with every input row.

    Invariant: ``n_rows == n_rows_used + n_rejected`` (checked on creation).

    Attributes
    ----------
    source : str
        File path or ``"<DataFrame>"``.
    format : str
        The format that was read (after ``"auto"`` detection).
    n_rows : int
        Input rows (CSV records, JSON lines or array elements) seen.
    n_rows_used : int
        Rows that produced at least one judgment, rating or ranking.
    rejected : DataFrame
        One row per rejected input row: ``line`` (1-based; the header is
        line 1 in CSV), ``column``, ``value`` and ``reason``.
    n_judgments, n_ratings : int
        Records produced.
    n_repeats : int
        Judgments that repeat an (annotator, comparison) already seen; kept.
    n_empty_texts : int
        Responses whose text is empty or whitespace only; kept.
    notes : tuple of str
        Plain-language remarks (unknown display order, coerced values, ...).
    rejected_values : DataFrame
        Cell-level rejections inside rows that were otherwise used (a wide
        row whose LLM-judge cell says ``"garbage"``): ``line``, ``column``,
        ``value``, ``reason``. These rows count as used; the cells are listed
        here so nothing is dropped silently.
    """

    source: str
    format: str
    n_rows: int
    n_rows_used: int
    rejected: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"line": pd.Series(dtype="int64"), "column": pd.Series(dtype="str"),
             "value": pd.Series(dtype="str"), "reason": pd.Series(dtype="str")}
        )
    )
    n_judgments: int = 0
    n_ratings: int = 0
    n_repeats: int = 0
    n_empty_texts: int = 0
    notes: tuple[str, ...] = ()
    rejected_values: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"line": pd.Series(dtype="int64"), "column": pd.Series(dtype="str"),
             "value": pd.Series(dtype="str"), "reason": pd.Series(dtype="str")}
        )
    )

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

    def to_frame(self) -> pd.DataFrame:
        """Return the counts as a one-row tidy DataFrame."""
        return pd.DataFrame(
            [{
                "source": self.source, "format": self.format, "n_rows": self.n_rows,
                "n_rows_used": self.n_rows_used, "n_rejected": self.n_rejected,
                "n_judgments": self.n_judgments, "n_ratings": self.n_ratings,
                "n_repeats": self.n_repeats, "n_empty_texts": self.n_empty_texts,
                "n_rejected_values": self.n_rejected_values,
            }]
        )

    def summary(self) -> str:
        """Return a short plain-text account of the load."""
        lines = [
            f"Read {self.n_rows:,} rows from {self.source} (format {self.format!r}): "
            f"{self.n_rows_used:,} used, {self.n_rejected:,} rejected.",
            f"Produced {self.n_judgments:,} judgments and {self.n_ratings:,} ratings; "
            f"{self.n_repeats:,} repeated judgments kept; {self.n_empty_texts:,} empty responses kept.",
        ]
        for row in self.rejected.head(10).itertuples(index=False):
            lines.append(f"  line {row.line}, column {row.column!r}: {row.reason}")
        if self.n_rejected > 10:
            lines.append(f"  ... and {self.n_rejected - 10:,} more rejected rows")
        if self.n_rejected_values:
            lines.append(f"{self.n_rejected_values:,} cells rejected inside used rows:")
            for row in self.rejected_values.head(10).itertuples(index=False):
                lines.append(f"  line {row.line}, column {row.column!r}, value {row.value!r}: {row.reason}")
            if self.n_rejected_values > 10:
                lines.append(f"  ... and {self.n_rejected_values - 10:,} more rejected cells")
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines)
