"""Run a job, streaming its stdout and stderr to ours and, in arrival order, into one log file.

The job's streams are pipes (so a program that colours only terminals prints plain text).
Its stdin is ours. Ctrl-C reaches the job through the terminal's process group; folio waits
for the job to end and records it like any other failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 16


def execute(command: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None,
            cwd: Path | None = None, echo: bool = True) -> int:
    """Run ``command``; return its exit code in shell style (126/127 if it cannot start,
    128+N if signal N ended it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(list(command), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=dict(env) if env else None,
                                    cwd=cwd)
        except FileNotFoundError:
            return _cannot_start(log, command, "command not found", 127, echo)
        except PermissionError:
            return _cannot_start(log, command, "permission denied", 126, echo)
        except OSError as exc:
            return _cannot_start(log, command, exc.strerror or str(exc), 126, echo)
        lock = threading.Lock()
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [threading.Thread(target=_pump, args=(src, _sink(dst, echo), log, lock),
                                  daemon=True)
                 for src, dst in ((proc.stdout, sys.stdout), (proc.stderr, sys.stderr))]
        for pump in pumps:
            pump.start()
        code = _wait(proc)
        for pump in pumps:
            pump.join()
    return code if code >= 0 else 128 + (-code)


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the job even through Ctrl-C, which the job receives itself."""
    interrupted = False
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            if interrupted:  # a second Ctrl-C: insist
                proc.send_signal(signal.SIGKILL)
            interrupted = True


def _sink(stream: object, echo: bool) -> BinaryIO | None:
    if not echo:
        return None
    flush = getattr(stream, "flush", None)
    if flush is not None:
        flush()  # what folio printed before the job comes first
    return getattr(stream, "buffer", None)


def _pump(src: BinaryIO, dst: BinaryIO | None, log: BinaryIO, lock: threading.Lock) -> None:
    fd = src.fileno()
    while True:
        chunk = os.read(fd, CHUNK)
        if not chunk:
            break
        with lock:
            log.write(chunk)
        if dst is not None:
            try:
                dst.write(chunk)
                dst.flush()
            except (BrokenPipeError, ValueError, OSError):
                dst = None  # our reader went away; keep logging what the job says
    src.close()


def _cannot_start(log: BinaryIO, command: Sequence[str], why: str, code: int,
                  echo: bool) -> int:
    line = f"folio: cannot run {command[0]!r}: {why}\n"
    log.write(line.encode())
    if echo:
        sys.stderr.write(line)
        sys.stderr.flush()
    return code
