"""Load a source (CSV, JSONL, JSONL.gz, JSON array, Parquet or DataFrame) into one raw frame.

The fast path hands the whole file to pyarrow's readers. pyarrow does not say
where a file is broken, so when it fails a second, line-by-line pass with the
standard library finds the bad line and either raises a :class:`SchemaError`
naming file, line and fix, or (``on_error="skip"``) lists the line as rejected
and builds the frame from the lines that parsed.

Line numbers (``Source.lines``) are 1-based physical lines of the file: for
JSONL the line of the record, for CSV the line on which the record starts (the
header is line 1), for a JSON array the element number, for Parquet and
DataFrames the row number. They are computed lazily, only when a report or an
error needs them.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as papq

from ..errors import SchemaError

__all__ = ["SOURCE_SUFFIXES", "Source", "empty_rejected", "load_source", "suffix_kind"]

# known id and text columns stay text in CSV ("007" is an id, not the number 7); absent names are ignored
_CSV_STRINGS = {c: pa.string() for c in (
    "comparison_id", "annotator_id", "choice", "prompt_id", "prompt", "response_a_id", "response_a",
    "response_b_id", "response_b", "model_a", "model_b", "response_id", "response", "model", "aspect",
    "chosen", "rejected", "winner", "judge", "prompt_messages", "ranking_id", "annotator_kind")}
_BLOCK = 1 << 22  # 4 MiB pyarrow blocks (fastest here); a record must fit in one block,
_BIG_BLOCK = 1 << 26  # so files with longer records are retried with 64 MiB blocks


def empty_rejected() -> pd.DataFrame:
    """Return an empty rejected-rows table with the LoadReport columns."""
    return pd.DataFrame({"line": pd.Series(dtype="int64"), "column": pd.Series(dtype="str"),
                         "value": pd.Series(dtype="str"), "reason": pd.Series(dtype="str")})


#: File suffixes pq.read accepts (each may end in ``.gz`` except ``.parquet``/``.xlsx``) and their kind.
SOURCE_SUFFIXES: dict[str, str] = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                                   ".json": "json", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel"}


def suffix_kind(path: Path) -> str:
    """Return ``csv``, ``jsonl``, ``json``, ``parquet`` or ``excel`` from a file name (``.gz`` allowed)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    kinds = SOURCE_SUFFIXES
    if last in (".xls", ".xlsm", ".ods"):
        raise SchemaError(
            f"{str(path)!r}: {last} workbooks are not read; save the sheet as .xlsx (or .csv) and read that."
        )
    if last not in kinds:
        raise SchemaError(
            f"cannot tell the file type of {str(path)!r} from its suffix {''.join(path.suffixes)!r}; "
            "use .csv, .tsv, .jsonl, .jsonl.gz, .json, .parquet or .xlsx, or read it with pandas and pass the "
            "DataFrame."
        )
    return kinds[last]


@dataclass
class Source:
    """A raw frame plus what is needed to report on its rows."""

    frame: pd.DataFrame
    name: str
    kind: str  # csv, jsonl, json, parquet, frame
    path: Path | None = None
    n_rows: int = 0  # input rows seen, including malformed ones
    rejected: pd.DataFrame = field(default_factory=empty_rejected)
    line_numbers: np.ndarray | None = None  # per frame row, when known already
    notes: list[str] = field(default_factory=list)
    duplicates: pd.DataFrame | None = None  # line, duplicate_of (set by pq.read)
    duplicates_policy: str = "keep"

    @property
    def unit(self) -> str:
        """What a ``line`` number counts in messages: line, element or row."""
        return {"jsonl": "line", "csv": "line", "json": "element", "excel": "sheet row"}.get(self.kind, "row")

    def where(self, row: int, column: str | None = None) -> str:
        """Return ``"<name>, line 12, column 'choice'"`` for one frame row."""
        text = f"{self.name}, {self.unit} {int(self.lines([row])[0])}"
        return text + (f", column {column!r}" if column is not None else "")

    def lines(self, rows: np.ndarray | list[int]) -> np.ndarray:
        """Return the 1-based source line of the given frame row positions."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.line_numbers is None:
            self.line_numbers = self._compute_lines()
        return self.line_numbers[rows]

    def _compute_lines(self) -> np.ndarray:
        n = len(self.frame)
        if self.kind == "jsonl" and self.path is not None:
            with _open_text(self.path) as f:
                nonblank = [i for i, line in enumerate(f, start=1) if line.strip()]
            return np.asarray(nonblank[:n], dtype=np.int64)
        if self.kind == "csv" and self.path is not None:
            with _open_text(self.path, newline="") as f:
                reader = csv.reader(f)
                starts = []
                start = 1
                for _ in reader:
                    starts.append(start)
                    start = reader.line_num + 1
            return np.asarray(starts[1 : n + 1], dtype=np.int64)  # drop the header record
        return np.arange(1, n + 1, dtype=np.int64)


def _open_text(path: Path, newline: str | None = None) -> io.TextIOBase:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline=newline)
    return open(path, encoding="utf-8", newline=newline)


def load_source(source: Any, *, on_error: str, allow_empty: bool = False) -> Source:
    """Read ``source`` into a :class:`Source`; raise ``SchemaError`` on unusable input.

    ``allow_empty``: a file with no data rows is returned (a ratings-only data set written by
    :func:`prefqa.write` has an empty judgments file beside its ratings file).
    """
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True)
        src = Source(frame, "<DataFrame>", "frame", n_rows=len(frame))
    else:
        path = Path(source)
        if not path.exists():
            raise SchemaError(f"no such file: {str(path)!r}. Check the path (relative to {str(Path.cwd())!r}).")
        if path.is_dir():
            raise SchemaError(f"{str(path)!r} is a directory; pass one data file.")
        kind = suffix_kind(path)
        reader = {"jsonl": _read_jsonl, "csv": _read_csv, "json": _read_json_array,
                  "parquet": _read_parquet, "excel": _read_excel}[kind]
        src = reader(path, on_error)
    names = pd.Index([str(c) for c in src.frame.columns])
    if names.duplicated().any():
        dupes = sorted(set(names[names.duplicated()]))
        raise SchemaError(
            f"{src.name}: column name(s) {dupes} appear more than once; found {list(names)}. Rename the "
            "repeated columns so that each name is used once (or drop the copies)."
        )
    if src.n_rows == 0 and not allow_empty:
        raise SchemaError(
            f"{src.name} is empty: it holds no data rows. Check that the file was written completely."
        )
    return src


# ------------------------------------------------------------------- JSONL
def _read_jsonl(path: Path, on_error: str) -> Source:
    if path.stat().st_size == 0:
        return Source(pd.DataFrame(), str(path), "jsonl", path, n_rows=0)
    table = None
    for block in (_BLOCK, _BIG_BLOCK):
        try:
            table = pajson.read_json(path, read_options=pajson.ReadOptions(block_size=block))
            break
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            if "straddling" not in str(exc):  # a line longer than the block: retry with bigger blocks
                break
    if table is None:
        return _read_jsonl_slow(path, on_error)
    n = table.num_rows
    return Source(_to_pandas(table), str(path), "jsonl", path, n_rows=n)


def _read_jsonl_slow(path: Path, on_error: str) -> Source:
    """Parse line by line: locate malformed lines, or build the frame from Python objects."""
    records: list[dict] = []
    lines: list[int] = []
    bad: list[tuple[int, str, str, str]] = []
    with _open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                reason = f"malformed JSON ({exc.msg} at character {exc.pos + 1})"
                if on_error == "raise":
                    raise SchemaError(
                        f"{path}, line {lineno}: {reason}: {_clip(text)!r}. Fix or delete that line, "
                        "or pass on_error='skip' to list it in data.load_report.rejected."
                    ) from None
                bad.append((lineno, "", _clip(text), reason))
                continue
            if not isinstance(obj, dict):
                reason = f"expected a JSON object per line, found a JSON {type(obj).__name__}"
                if on_error == "raise":
                    raise SchemaError(
                        f"{path}, line {lineno}: {reason}: {_clip(text)!r}. Each line must be one "
                        "object such as {\"comparison_id\": ..., \"choice\": ...}; or pass on_error='skip'."
                    )
                bad.append((lineno, "", _clip(text), reason))
                continue
            records.append(obj)
            lines.append(lineno)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    rejected = _rejected_frame(bad)
    return Source(frame, str(path), "jsonl", path, n_rows=len(records) + len(bad), rejected=rejected,
                  line_numbers=np.asarray(lines, dtype=np.int64))


# --------------------------------------------------------------------- CSV
def _read_csv(path: Path, on_error: str) -> Source:
    if path.stat().st_size == 0:
        return Source(pd.DataFrame(), str(path), "csv", path, n_rows=0)
    delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=_BLOCK),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            # an empty field in a text column is the empty string, not missing
            convert_options=pacsv.ConvertOptions(strings_can_be_null=False, column_types=_CSV_STRINGS),
        )
    except (pa.ArrowInvalid, OSError):
        return _read_csv_slow(path, on_error, delimiter)
    n = table.num_rows
    return Source(_to_pandas(table), str(path), "csv", path, n_rows=n)


def _read_csv_slow(path: Path, on_error: str, delimiter: str) -> Source:
    with _open_text(path, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return Source(pd.DataFrame(), str(path), "csv", path, n_rows=0)
        rows: list[list[str]] = []
        lines: list[int] = []
        bad: list[tuple[int, str, str, str]] = []
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise SchemaError(
                    f"{path}, line {start}: unreadable CSV ({exc}). Fix the quoting on that line.") from None
            if len(row) != len(header):
                reason = f"expected {len(header)} fields like the header, found {len(row)}"
                if on_error == "raise":
                    raise SchemaError(
                        f"{path}, line {start}: {reason}: {_clip(delimiter.join(row))!r}. Quote fields that "
                        "contain the delimiter, or pass on_error='skip'."
                    )
                bad.append((start, "", _clip(delimiter.join(row)), reason))
            else:
                rows.append(row)
                lines.append(start)
            start = reader.line_num + 1
    frame = pd.DataFrame(rows, columns=header, dtype="str") if rows else pd.DataFrame(columns=header)
    for col in frame.columns:  # the fast path infers numbers; do the same here
        if col in _CSV_STRINGS:
            continue
        filled = frame[col] != ""
        num = pd.to_numeric(frame[col].where(filled), errors="coerce")
        if len(frame) and filled.any() and num[filled].notna().all():
            frame[col] = num  # empty fields of a numeric column are missing, as in the fast path
    return Source(frame, str(path), "csv", path, n_rows=len(rows) + len(bad),
                  rejected=_rejected_frame(bad), line_numbers=np.asarray(lines, dtype=np.int64))


# --------------------------------------------------------------- JSON array
def _read_json_array(path: Path, on_error: str) -> Source:
    with _open_text(path) as f:
        text = f.read()
    if not text.strip():
        return Source(pd.DataFrame(), str(path), "json", path, n_rows=0)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"{path}, line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg}). A .json file must "
            "hold one JSON array of objects; use .jsonl for one object per line."
        ) from None
    if isinstance(obj, dict):
        lists = [k for k, v in obj.items() if isinstance(v, list)]
        raise SchemaError(
            f"{path} holds a JSON object, not an array of records (keys {list(obj)[:8]}). "
            f"Extract the records list{' (for example ' + repr(lists[0]) + ')' if lists else ''} and pass a DataFrame."
        )
    if not isinstance(obj, list):
        raise SchemaError(f"{path} holds a JSON {type(obj).__name__}; expected an array of objects.")
    keep = [i for i, rec in enumerate(obj) if isinstance(rec, dict)]
    bad = [(i + 1, "", _clip(json.dumps(obj[i])), f"array element is a JSON {type(obj[i]).__name__}, not an object")
           for i in range(len(obj)) if not isinstance(obj[i], dict)]
    if bad and on_error == "raise":
        line, _, value, reason = bad[0]
        raise SchemaError(f"{path}, element {line}: {reason}: {value!r}. Remove it or pass on_error='skip'.")
    frame = pd.DataFrame.from_records([obj[i] for i in keep]) if keep else pd.DataFrame()
    return Source(frame, str(path), "json", path, n_rows=len(obj), rejected=_rejected_frame(bad),
                  line_numbers=np.asarray(keep, dtype=np.int64) + 1)


def _read_parquet(path: Path, on_error: str) -> Source:
    try:
        table = papq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{path}: not a readable Parquet file ({exc}).") from None
    n = table.num_rows
    return Source(_to_pandas(table), str(path), "parquet", path, n_rows=n)


# ------------------------------------------------------------------- Excel
def _read_excel(path: Path, on_error: str) -> Source:
    """The first sheet of an .xlsx workbook; the header is sheet row 1, data rows start at 2."""
    try:
        import openpyxl  # noqa: F401  (pandas' engine; imported here so the error names the extra)
    except ImportError:
        raise SchemaError(
            f"{path}: reading .xlsx needs the openpyxl package, which is not installed. Install it with "
            "pip install 'prefqa[app]' (or pip install openpyxl), or save the sheet as .csv."
        ) from None
    try:
        sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl", dtype=object)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:  # damaged workbooks
        raise SchemaError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc}).") from None
    names = list(sheets)
    if not names:
        return Source(pd.DataFrame(), str(path), "excel", path, n_rows=0)
    frame = sheets[names[0]]
    notes = []
    if len(names) > 1:
        notes.append(f"read sheet {names[0]!r} of {path.name}; the other sheets {names[1:]} were not read.")
    frame.columns = [str(c) for c in frame.columns]
    unnamed = [c for c in frame.columns if c.startswith("Unnamed: ") and frame[c].isna().all()]
    if unnamed:  # empty columns right of the data: formatting, not data
        frame = frame.drop(columns=unnamed)
    blank = frame.isna().all(axis=1).to_numpy()
    rows = np.flatnonzero(~blank)
    if blank.any():  # blank sheet rows carry no data; they are skipped (counted in a note)
        notes.append(f"{int(blank.sum()):,} blank sheet rows were skipped.")
        frame = frame.iloc[rows].reset_index(drop=True)
    for col in frame.columns:  # numbers stay numbers unless the column is a known id/text column
        if col in _CSV_STRINGS:
            s = frame[col]
            frame[col] = s.where(s.isna(), s.map(_excel_text)).astype("str")
        else:
            num = pd.to_numeric(frame[col], errors="coerce")
            if frame[col].notna().any() and (num.notna() == frame[col].notna()).all():
                frame[col] = num
    return Source(frame, str(path), "excel", path, n_rows=len(frame), line_numbers=rows + 2, notes=notes)


def _excel_text(value: Any) -> str:
    """An id or text cell as text: Excel stores 7 as 7.0; give "7"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ----------------------------------------------------------------- helpers
def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Convert, releasing the Arrow buffers column by column (the table is unusable after)."""
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _rejected_frame(bad: list[tuple[int, str, str, str]]) -> pd.DataFrame:
    if not bad:
        return empty_rejected()
    line, column, value, reason = zip(*bad)
    return pd.DataFrame({"line": np.asarray(line, dtype=np.int64), "column": pd.Series(column, dtype="str"),
                         "value": pd.Series(value, dtype="str"), "reason": pd.Series(reason, dtype="str")})


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."
