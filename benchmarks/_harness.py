"""Shared benchmark harness: time a call and its peak memory in a fresh child process.

Each measurement forks a child (so earlier allocations in the parent do not count),
runs the call once, and reports wall time and the peak resident memory the child
added on top of what it started with. Usage::

    from _harness import measure, report
    m_ours = measure("prefqa", fn_ours, arg)
    m_peer = measure("krippendorff", fn_peer, arg)
    report([m_ours, m_peer], baseline="krippendorff")

Run scripts from the repository root: ``python benchmarks/bench_xxx.py``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Measurement:
    name: str
    seconds: float
    peak_mb: float
    value: Any = None


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(conn: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    start_rss = _rss_mb()
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    try:
        conn.send((seconds, max(peak - start_rss, 0.0), value))
    except Exception:  # value not picklable: send its repr
        conn.send((seconds, max(peak - start_rss, 0.0), repr(value)[:200]))
    conn.close()


def measure(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Measurement:
    """Run ``fn(*args, **kwargs)`` once in a forked child; return time, added peak RSS and value."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args, kwargs))
    proc.start()
    child.close()
    seconds, peak, value = parent.recv()
    proc.join()
    return Measurement(name, seconds, peak, value)


def report(measurements: list[Measurement], *, baseline: str | None = None, title: str = "") -> str:
    """Print (and return) a table of the measurements with ratios to ``baseline``."""
    base = next((m for m in measurements if m.name == baseline), None)
    lines = [title] if title else []
    lines.append(f"{'name':<34}{'seconds':>10}{'peak MB':>10}{'time x':>9}{'mem x':>8}  value")
    for m in measurements:
        tr = f"{base.seconds / m.seconds:8.1f}x" if base and m.seconds > 0 else f"{'':>9}"
        mr = f"{base.peak_mb / m.peak_mb:7.1f}x" if base and m.peak_mb > 0 else f"{'':>8}"
        lines.append(f"{m.name:<34}{m.seconds:>10.3f}{m.peak_mb:>10.0f}{tr}{mr}  {str(m.value)[:60]}")
    if base:
        lines.append(f"(ratios: {baseline} time / this time, {baseline} peak / this peak; > 1 means faster/smaller)")
    text = "\n".join(lines)
    print(text, flush=True)
    return text
