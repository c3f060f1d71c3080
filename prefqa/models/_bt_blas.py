"""Run a block with OpenBLAS limited to one thread (restored afterwards).

The Bradley-Terry fit calls BLAS/LAPACK only on small dense matrices (the
information matrix of a few hundred parameters, a few RHS). On a busy
2-core machine OpenBLAS's worker threads then spend far longer waiting for
a core than computing: a 205 x 205 product was measured at 43 ms with two
threads against 5 ms with one, a Cholesky factorisation at up to 400 ms.
numpy and scipy each load their own OpenBLAS; both are limited here. When
no OpenBLAS is loaded (MKL, Accelerate) this does nothing.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["single_threaded_blas"]

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_LOCK = threading.Lock()
_controls: list[tuple] | None = None


def _find() -> list[tuple]:
    found: list[tuple] = []
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return found
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            getter = name.replace("_set_", "_get_")
            if hasattr(lib, name) and hasattr(lib, getter):
                setter, get = getattr(lib, name), getattr(lib, getter)
                setter.argtypes, setter.restype = [ctypes.c_int], None
                get.argtypes, get.restype = [], ctypes.c_int
                found.append((setter, get))
                break
    return found


_depth = 0
_saved: list[int] = []


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit every loaded OpenBLAS to one thread inside the block (re-entrant, thread-safe).

    The first entry saves the thread counts and the last exit restores them,
    so overlapping calls from several threads do not leave BLAS limited.
    """
    global _controls, _depth, _saved
    with _LOCK:
        if _controls is None:
            import numpy  # noqa: F401  (make sure both BLAS copies are loaded before looking)
            import scipy.linalg  # noqa: F401

            _controls = _find()
        if _depth == 0:
            _saved = [get() for _, get in _controls]
            for setter, _ in _controls:
                setter(1)
        _depth += 1
    try:
        yield
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0:
                for (setter, _), n in zip(_controls, _saved):
                    setter(n)
