"""A tiny progress reporter on stderr (layer 0, standard library only).

It draws one self-overwriting line such as
``prefqa [#######.............]  7/19 bradley_terry (3.2 s)`` and stays
silent when it is disabled or when stderr is not a terminal, so logs and
pipelines never receive carriage-return noise.

Examples
--------
>>> import io
>>> bar = Progress(3, label="audit", stream=io.StringIO())  # not a TTY: silent
>>> bar.enabled
False
>>> with bar:
...     bar.advance("reading")
...     bar.advance("fits")
>>> bar.done
2
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]

_WIDTH = 24


class Progress:
    """Report the steps of a long task on one stderr line.

    Parameters
    ----------
    total : int
        Number of steps expected (the bar is full at ``total``).
    label : str
        Printed before the bar.
    enabled : bool
        ``False`` silences the reporter whatever the stream.
    stream : file-like, optional
        Where to draw; defaults to ``sys.stderr``. Drawing happens only when
        ``stream.isatty()`` is true.
    """

    def __init__(self, total: int, *, label: str = "prefqa", enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.total = max(int(total), 1)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(enabled) and callable(isatty) and bool(isatty())
        self.done = 0
        self._current = ""
        self._t0 = time.perf_counter()
        self._width = 0

    def __enter__(self) -> Progress:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, name: str) -> None:
        """Show that step ``name`` is running (without counting it as done)."""
        self._current = name
        self._draw()

    def advance(self, name: str | None = None) -> None:
        """Count one step as done; ``name`` (optional) is the step just finished."""
        self.done = min(self.done + 1, self.total)
        if name is not None:
            self._current = name
        self._draw()

    def close(self) -> None:
        """Clear the line (when drawing) so later output starts clean."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def _draw(self) -> None:
        if not self.enabled:
            return
        filled = int(_WIDTH * self.done / self.total)
        elapsed = time.perf_counter() - self._t0
        text = (f"{self.label} [{'#' * filled}{'.' * (_WIDTH - filled)}] "
                f"{self.done}/{self.total} {self._current} ({elapsed:.1f} s)")
        pad = max(self._width - len(text), 0)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)
