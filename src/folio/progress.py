"""Progress reporting for long operations, decoupled from any UI.

Lower layers call a :class:`Progress`; the CLI passes one that draws on a terminal, and
everything else gets :data:`NULL` (quiet when piped, silent in the API).

A progress in ``unit="bytes"`` (push, pull) shows sizes, the rate over the last few
seconds and an ETA: ``push:  41.0% 1.2 GiB/2.9 GiB 38.0 MiB/s ETA 0:45``. In a Jupyter
notebook stderr is no terminal (``\\r`` and escape codes render badly in a cell and pile up
in a saved notebook), so there it is a plain line every :data:`NOTEBOOK_EVERY` seconds
and one at the end; piped elsewhere, nothing (docs/remotes.md, "Progress").
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol, TextIO

from folio.units import human_bytes

NOTEBOOK_EVERY = 10.0  # seconds between plain lines in a notebook
RATE_WINDOW = 5.0  # seconds of history behind the rate (and so the ETA)


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
    """A one-line counter on a terminal, redrawn at most ten times a second (thread-safe).

    ``plain`` writes whole lines (no ``\\r``, no escape codes) at most every ``every``
    seconds instead: for a notebook cell or a log.
    """

    def __init__(self, stream: TextIO | None = None, delay: float = 0.5, *,
                 plain: bool = False, every: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.delay = delay  # stay invisible for work that finishes quickly
        self.plain = plain
        self.every = every
        self._now = clock  # injectable, so a test can render a rate without sleeping
        self._lock = threading.Lock()
        self._label = ""
        self._total: int | None = None
        self._unit = ""
        self._done = 0
        self._t0 = 0.0
        self._last = 0.0
        self._samples: deque[tuple[float, int]] = deque()
        self._drawn = False

    def start(self, label: str, total: int | None = None, unit: str = "files") -> None:
        with self._lock:
            self._label, self._total, self._unit = label, total, unit
            self._done = 0
            self._t0 = self._last = self._now()
            self._samples = deque([(self._t0, 0)])
            self._drawn = False

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self._done += n
            now = self._now()
            self._samples.append((now, self._done))
            while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW:
                self._samples.popleft()
            if now - self._t0 >= self.delay and now - self._last >= self.every:
                self._last = now
                self._draw(now)

    def render(self, now: float | None = None) -> str:
        """The line as it would be drawn now (for tests and for :meth:`_draw`)."""
        now = self._now() if now is None else now
        if self._unit == "bytes":
            return self._render_bytes(now)
        if self._total:
            pct = 100.0 * self._done / self._total
            return f"{self._label}: {pct:5.1f}% ({self._done}/{self._total} {self._unit})"
        return f"{self._label}: {self._done} {self._unit}"

    def _render_bytes(self, now: float) -> str:
        rate = self._rate(now)
        speed = f" {human_bytes(rate)}/s" if rate else ""
        if not self._total:
            return f"{self._label}: {human_bytes(self._done)}{speed}"
        pct = 100.0 * self._done / self._total
        left = max(0, self._total - self._done)
        eta = f" ETA {_clock(left / rate)}" if rate and left else ""
        return (f"{self._label}: {pct:5.1f}% {human_bytes(self._done)}/"
                f"{human_bytes(self._total)}{speed}{eta}")

    def _rate(self, now: float) -> float:
        """Bytes per second over the last RATE_WINDOW seconds (0 until there is a span)."""
        t_first, d_first = self._samples[0]
        span = now - t_first
        return (self._done - d_first) / span if span > 0.05 else 0.0

    def _draw(self, now: float) -> None:
        text = self.render(now)
        self.stream.write(text + "\n" if self.plain else "\r" + text + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        with self._lock:
            if self._drawn:
                self._draw(self._now())
                if not self.plain:
                    self.stream.write("\n")
                self.stream.flush()
            self._drawn = False


def _clock(seconds: float) -> str:
    """``45`` -> ``0:45``, ``3725`` -> ``1:02:05``."""
    s = int(seconds + 0.5)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def in_notebook() -> bool:
    """A Jupyter kernel runs us, or started the shell we run in (``!folio push``)."""
    return "ipykernel" in sys.modules or bool(os.environ.get("JPY_PARENT_PID"))


def for_stream(stream: TextIO | None = None) -> Progress:
    """Terminal progress when ``stream`` is a tty; plain lines every few seconds in a
    notebook; otherwise nothing."""
    stream = stream or sys.stderr
    if stream.isatty():
        return TerminalProgress(stream)
    if in_notebook():
        return TerminalProgress(stream, delay=NOTEBOOK_EVERY, plain=True, every=NOTEBOOK_EVERY)
    return NULL
