"""Run a block with BLAS limited to one thread (restored afterwards).

The model fits call BLAS/LAPACK only on small dense matrices (information
matrices of a few hundred parameters). On a busy 2-core machine OpenBLAS's
worker threads then spend far longer waiting for a core than computing: a
205 x 205 product was measured at 43 ms with two threads against 5 ms with
one. ``threadpoolctl`` finds every loaded BLAS (numpy's and scipy's) and
limits it for the duration of the block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

__all__ = ["single_threaded_blas"]


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit every loaded BLAS to one thread inside the block."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield
