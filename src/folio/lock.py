"""The repository writer lock: one writer at a time for manifests, index and refs.

Built on ``filelock`` (``flock``), so the kernel releases the lock of a process that dies,
even by ``kill -9``: a stale lock recovers by itself. A small ``lock.info`` beside it names
the holder, so a waiter that times out can say who it waited for.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from folio.errors import LockTimeoutError


class RepoLock:
    def __init__(self, folio_dir: Path, timeout: float = 60.0) -> None:
        self.path = folio_dir / "lock"
        self.info_path = folio_dir / "lock.info"
        self.timeout = timeout
        self._lock: Any = None  # a filelock.FileLock, made on first use (lazy import)
        self._depth = 0

    @contextlib.contextmanager
    def hold(self, command: str | None = None) -> Iterator[None]:
        """Hold the lock for the duration of the block (re-entrant within a process)."""
        if self._depth == 0:
            from filelock import FileLock, Timeout

            if self._lock is None:
                self._lock = FileLock(str(self.path), thread_local=False)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._lock.acquire(timeout=self.timeout)
            except Timeout:
                raise LockTimeoutError(
                    f"timed out after {self.timeout:g}s waiting for the repository lock, "
                    f"held by {self.describe_holder()}", path=self.path) from None
            self._write_info(command)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._lock.release()

    def _write_info(self, command: str | None) -> None:
        info = {"pid": os.getpid(), "host": os.uname().nodename, "since": time.time(),
                "command": command or " ".join(["folio", *sys.argv[1:]])}
        with contextlib.suppress(OSError):
            self.info_path.write_text(json.dumps(info))

    def describe_holder(self) -> str:
        """Who holds the lock, as far as lock.info tells (it may lag behind)."""
        try:
            info = json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            return "an unknown process"
        since = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
        return (f"pid {info.get('pid')} on {info.get('host')} running "
                f"`{info.get('command')}` since {since}")
