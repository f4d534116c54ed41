"""The stat cache (``.folio/index``): path -> size, mtime_ns, inode, sha256, ctime_ns.

It lets status and add skip rehashing files that did not change. Git's racy-clean rule
applies: a file whose mtime is not strictly older than the cache's own write time may have
changed within the same clock tick, so it is rehashed rather than trusted. As git does by
default, the ctime is compared too: an edit whose old mtime was put back still shows there.
The cache is only ever an optimisation: a missing or unreadable one means "rehash".
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import NamedTuple

import msgpack

from folio._fs import atomic_write

VERSION = 2


class Stat(NamedTuple):
    """The stat fields folio uses. Scans keep one per file: an ``os.stat_result`` takes
    about 610 bytes, this about 250, which is 360 MB at a million files."""

    st_mode: int
    st_ino: int
    st_nlink: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int


def slim(st: os.stat_result) -> Stat:
    return Stat(st.st_mode, st.st_ino, st.st_nlink, st.st_size, st.st_mtime_ns,
                st.st_ctime_ns)


StatLike = os.stat_result | Stat
RACY_NS = 1_000_000_000  # a file modified this recently when hashed may still be changing


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list] = {}  # path -> [size, mtime_ns, ino, sha256, ctime_ns]
        self.written_ns = 0
        self.dirty = False
        self._load()

    def _load(self) -> None:
        try:
            st = os.stat(self.path)
            with open(self.path, "rb") as f:
                data = msgpack.unpackb(f.read(), use_list=True, raw=False)
        except (OSError, ValueError, msgpack.UnpackException):
            return
        if not isinstance(data, dict) or data.get("v") != VERSION:
            return
        paths, rows = data.get("paths", []), data.get("rows", [])
        if isinstance(paths, list) and isinstance(rows, list) and len(paths) == len(rows):
            self.entries = dict(zip(paths, rows, strict=True))
            self.written_ns = st.st_mtime_ns

    def lookup(self, path: str, st: StatLike) -> str | None:
        """The cached sha256 when the file provably did not change since it was hashed."""
        row = self.entries.get(path)
        if (row is not None and row[0] == st.st_size and row[1] == st.st_mtime_ns
                and row[2] == st.st_ino and row[4] == st.st_ctime_ns
                and st.st_mtime_ns < self.written_ns):
            return row[3]
        return None

    def record(self, path: str, st: StatLike, sha256: str) -> None:
        """Remember a hash; files modified within the last second are not trusted yet."""
        if time.time_ns() - st.st_mtime_ns < RACY_NS:
            return
        row = [st.st_size, st.st_mtime_ns, st.st_ino, sha256, st.st_ctime_ns]
        if self.entries.get(path) != row:
            self.entries[path] = row
            self.dirty = True

    def forget(self, path: str) -> None:
        if self.entries.pop(path, None) is not None:
            self.dirty = True

    def forget_under(self, prefix: str) -> None:
        """Drop entries at or below a repo-relative path."""
        doomed = [p for p in self.entries if p == prefix or p.startswith(prefix + "/")]
        for p in doomed:
            del self.entries[p]
        self.dirty = self.dirty or bool(doomed)

    def save(self) -> None:
        """Write the cache atomically (not fsynced: losing it only costs a rehash)."""
        if not self.dirty:
            return
        paths = list(self.entries)
        data = msgpack.packb({"v": VERSION, "paths": paths,
                              "rows": [self.entries[p] for p in paths]}, use_bin_type=True)
        with contextlib.suppress(OSError):
            atomic_write(self.path, data, durable=False)
            self.written_ns = os.stat(self.path).st_mtime_ns
            self.dirty = False
