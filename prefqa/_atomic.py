"""Atomic file writes: write to a temporary file beside the target, then rename it into place.

Permissions: the temporary file is created with ``os.open(..., 0o666)``, so the
kernel applies the process umask exactly as it does for a plain ``open(path,
"w")`` (0644 under umask 022, 0664 under 002). ``tempfile.mkstemp`` would make
it 0600 whatever the umask, and the rename would carry that mode onto the
target. Reading the umask is therefore never needed: ``os.umask`` can only be
read by setting it, which races with other threads creating files, and
``/proc/self/status`` is Linux-only. When the target already exists its mode
is kept, as an in-place write would keep it.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path"]

_MAX_TRIES = 100
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)


def _create_temp(folder: Path, name: str) -> Path:
    """Create an empty, new file ``.<name>.<random>.tmp`` in ``folder`` with mode ``0o666 & ~umask``."""
    for _ in range(_MAX_TRIES):
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, _FLAGS, 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(  # pragma: no cover
        f"could not create a temporary file in {str(folder)!r} after {_MAX_TRIES} tries")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` when the block succeeds.

    A reader never sees a half-written file, and a failed write leaves no
    temporary file behind. Missing folders are created. The file gets the
    mode a plain ``open(path, "w")`` would give it: ``0o666`` less the
    umask for a new file, the old mode for a file that is replaced.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('done', ['out.txt'])
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(target.parent, target.name)
    try:
        yield tmp
        try:
            old = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            old = None
        if old is not None:  # after the write, so that a read-only target's mode cannot block it
            os.chmod(tmp, old)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
