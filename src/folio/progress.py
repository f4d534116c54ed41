"""Progress reporting for long operations, decoupled from any UI.

Lower layers call a :class:`Progress`; the CLI passes one that draws on a terminal, and
everything else gets :data:`NULL` (quiet when piped, silent in the API).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def start(self, label: str, total: int | None = None, unit: str = "files") -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing."""

    def start(self, label: str, total: int | None = None, unit: str = "files") -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


NULL = NullProgress()


class TerminalProgress:
    """A one-line counter on a terminal, redrawn at most ten times a second (thread-safe)."""

    def __init__(self, stream: TextIO | None = None, delay: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.delay = delay  # stay invisible for work that finishes quickly
        self._lock = threading.Lock()
        self._label = ""
        self._total: int | None = None
        self._unit = ""
        self._done = 0
        self._t0 = 0.0
        self._last = 0.0
        self._drawn = False

    def start(self, label: str, total: int | None = None, unit: str = "files") -> None:
        with self._lock:
            self._label, self._total, self._unit = label, total, unit
            self._done = 0
            self._t0 = self._last = time.monotonic()
            self._drawn = False

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self._done += n
            now = time.monotonic()
            if now - self._t0 >= self.delay and now - self._last >= 0.1:
                self._last = now
                self._draw()

    def _draw(self) -> None:
        if self._total:
            pct = 100.0 * self._done / self._total
            text = f"{self._label}: {pct:5.1f}% ({self._done}/{self._total} {self._unit})"
        else:
            text = f"{self._label}: {self._done} {self._unit}"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        with self._lock:
            if self._drawn:
                self._draw()
                self.stream.write("\n")
                self.stream.flush()
            self._drawn = False


def for_stream(stream: TextIO | None = None) -> Progress:
    """Terminal progress when ``stream`` is a tty, otherwise nothing."""
    stream = stream or sys.stderr
    return TerminalProgress(stream) if stream.isatty() else NULL
