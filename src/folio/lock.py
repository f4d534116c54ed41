"""The repository writer lock: one writer at a time for manifests, index and refs.

Built on ``filelock`` (``flock``), so the kernel releases the lock of a process that dies,
even by ``kill -9``: a stale lock recovers by itself. A small ``lock.info`` beside it names
the holder, so a waiter that times out can say who it waited for.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from folio._fs import read_beneath, unsafe_entry, write_beneath
from folio.errors import FolioError, LockTimeoutError


class RepoLock:
    def __init__(self, folio_dir: Path, timeout: float = 60.0,
                 on_acquire: Callable[[], object] | None = None) -> None:
        self.path = folio_dir / "lock"
        self.info_path = folio_dir / "lock.info"
        self.timeout = timeout
        # Run each time the lock is taken (not re-entered): finishing what a killed holder
        # left half done (folio.worktree.journal) before anything else is written.
        self.on_acquire = on_acquire
        self._lock: Any = None  # a filelock.FileLock, made on first use (lazy import)
        self._depth = 0

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now (in this process)."""
        return self._depth > 0

    @contextlib.contextmanager
    def hold(self, command: str | None = None) -> Iterator[None]:
        """Hold the lock for the duration of the block (re-entrant within a process)."""
        if self._depth == 0:
            from filelock import FileLock, Timeout

            if self._lock is None:
                self._lock = FileLock(str(self.path), thread_local=False)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _refuse_link(self.path)  # filelock opens with O_TRUNC and follows links
            try:
                self._lock.acquire(timeout=self.timeout)
            except Timeout:
                raise LockTimeoutError(
                    f"timed out after {self.timeout:g}s waiting for the repository lock, "
                    f"held by {self.describe_holder()}", path=self.path) from None
            self._depth = 1  # held from here: on_acquire may re-enter
            try:
                self._write_info(command)
                if self.on_acquire is not None:
                    self.on_acquire()
            except BaseException:  # a link planted at lock.info, a failed recovery: let go
                self._depth = 0
                self._lock.release()
                raise
        else:
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
        folio_dir = self.info_path.parent
        with contextlib.suppress(OSError):
            write_beneath(folio_dir, self.info_path, json.dumps(info).encode(), durable=False,
                          staging=folio_dir / "tmp")

    def describe_holder(self) -> str:
        """Who holds the lock, as far as lock.info tells (it may lag behind, or be garbage:
        it is only a hint, so anything unreadable means "unknown")."""
        try:
            info = json.loads(read_beneath(self.info_path.parent, self.info_path))
        except (OSError, ValueError, RecursionError, FolioError):
            return "an unknown process"
        if not isinstance(info, dict):
            return "an unknown process"
        since = info.get("since")
        when = time.strftime("%H:%M:%S", time.localtime(since)) \
            if isinstance(since, int | float) and 0 <= since < 1e11 else "an unknown time"
        return (f"pid {_plain(info.get('pid'))} on {_plain(info.get('host'))} running "
                f"`{_plain(info.get('command'))}` since {when}")


def _plain(value: object, limit: int = 200) -> str:
    """A field of lock.info fit for a one-line message: no control characters, short."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= limit else text[:limit] + "…"


def _refuse_link(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise unsafe_entry(path, st, "regular file")
