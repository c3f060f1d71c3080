"""``engine="auto"``: in memory when the data fits comfortably, DuckDB otherwise.

The rule (used by the CLI to choose between :func:`prefqa.read` and
:func:`prefqa.scan`, and recorded in the load report):

* estimated peak of an in-memory audit =
  ``PER_ROW_BYTES * rows + TEXT_FACTOR * uncompressed Parquet bytes``.
  ``PER_ROW_BYTES`` (3,000 bytes per judgment) covers the analyses' working
  arrays: the 1M-judgment audit peaked at 0.8-2.9 GB (issue 13), 3 GB is the
  top of that range. ``TEXT_FACTOR`` (4) covers the texts as Python/Arrow
  strings, their features and the copies pandas makes;
* available memory = ``MemAvailable`` of ``/proc/meminfo`` (or the cgroup
  limit, whichever is smaller; ``os.sysconf`` elsewhere);
* **memory** when the estimate is at most half of the available memory
  (``HEADROOM``), **duckdb** otherwise, with DuckDB's ``memory_limit`` set to
  half of the available memory (:func:`auto_memory_limit`), so the process
  stays well inside the machine even while DuckDB spills.

Files that are not Parquet (CSV, JSONL, ...) go to memory: ``pq.scan`` reads
canonical Parquet only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SchemaError

__all__ = ["HEADROOM", "PER_ROW_BYTES", "TEXT_FACTOR", "auto_memory_limit", "available_memory", "choose_engine",
           "parquet_size"]

PER_ROW_BYTES = 3_000
TEXT_FACTOR = 4
HEADROOM = 0.5


def available_memory() -> int:
    """Bytes of memory available to this process now (``MemAvailable``, capped by a cgroup limit)."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            avail = 8 << 30
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < avail:
            avail = int(text)
    return int(avail)


def auto_memory_limit() -> str:
    """DuckDB's memory limit under ``engine="auto"``: half of the available memory, in MB."""
    return f"{max(int(available_memory() * HEADROOM) >> 20, 256)}MB"


def parquet_size(files: Sequence[str]) -> tuple[int, int]:
    """Rows and uncompressed bytes of Parquet files, from their footers (no data read)."""
    import pyarrow.parquet as papq

    rows = size = 0
    for f in files:
        try:
            meta = papq.ParquetFile(f).metadata
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad footer
            raise SchemaError(f"{f}: not a readable Parquet file ({exc}).") from None
        rows += meta.num_rows
        size += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return rows, size


def _files(paths: Any) -> list[str]:
    from ._scan import _expand

    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files: list[str] = []
    for item in items:
        text = os.fspath(item)
        if not text.endswith(".parquet") and not Path(text).is_dir() and "*" not in text:
            if not Path(text).exists():
                raise SchemaError(f"no file matches {text!r}.")
            return []  # not Parquet: pq.read reads it
        files += _expand(text)
    return files


def choose_engine(paths: Any, *, memory: int | None = None) -> tuple[str, str]:
    """Return ``("memory" | "duckdb", why)`` for the data at ``paths`` under the rule above.

    Parameters
    ----------
    paths : str, Path or list
        The judgments (and optionally the responses / prompts files): a file,
        a glob, a folder or a list of them.
    memory : int, optional
        Available bytes (default :func:`available_memory`); for tests.

    Examples
    --------
    >>> import prefqa as pq, tempfile, os
    >>> data, _ = pq.simulate(n_prompts=10, n_annotators=3, rng=1)
    >>> path = pq.write(data, os.path.join(tempfile.mkdtemp(), "j.parquet"))
    >>> choose_engine(path)[0]
    'memory'
    >>> choose_engine(path, memory=10_000)[0]
    'duckdb'
    """
    files = _files(paths)
    avail = available_memory() if memory is None else int(memory)
    if not files:
        return "memory", "not Parquet: read into memory by pq.read"
    rows, size = parquet_size(files)
    need = PER_ROW_BYTES * rows + TEXT_FACTOR * size
    limit = int(avail * HEADROOM)
    facts = (f"{rows:,} rows, {size / 2**20:,.0f} MB uncompressed: estimated in-memory peak "
             f"{need / 2**30:,.2f} GB ({PER_ROW_BYTES:,} B per row + {TEXT_FACTOR} x data) against "
             f"{avail / 2**30:,.2f} GB available")
    if need <= limit:
        return "memory", f"{facts}; fits in half of it"
    return "duckdb", f"{facts}; more than half of it, so DuckDB with memory_limit {max(limit >> 20, 256)}MB"
