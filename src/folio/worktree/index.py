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
import struct
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Protocol

import msgpack

from folio._fs import open_beneath, write_beneath

VERSION = 3
# One row: size, mtime_ns, inode, ctime_ns, then the raw sha256. Rows are kept packed in
# memory as well as on disk: a million rows as Python lists of ints and a hex string took
# about 500 MB, as 64-byte strings they take about 220 MB with their keys.
_ROW = struct.Struct("<QqQq32s")
_KEY = struct.Struct("<QqQq")
ROW_SIZE = _ROW.size


class StatLike(Protocol):
    """The stat fields folio uses: an ``os.stat_result`` or a scan's compact copy."""

    @property
    def st_mode(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_nlink(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...
    @property
    def st_ctime_ns(self) -> int: ...


def stat_fields(st: StatLike) -> tuple[int, int, int, int, int, int]:
    """mode, inode, links, size, mtime_ns and ctime_ns, sharing the int objects that repeat.

    Scans keep these for every file: an ``os.stat_result`` takes about 610 bytes, the six
    fields about 250, which is 360 MB at a million files.
    """
    mode = _MODES.setdefault(st.st_mode, st.st_mode)  # a handful of values
    mtime = st.st_mtime_ns
    ctime = st.st_ctime_ns
    return (mode, st.st_ino, st.st_nlink, st.st_size, mtime,
            mtime if ctime == mtime else ctime)


_MODES: dict[int, int] = {}
RACY_NS = 1_000_000_000  # a file modified this recently when hashed may still be changing


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, bytes] = {}  # path -> packed row (_ROW)
        self.written_ns = 0
        self.dirty = False
        self._load()

    def _load(self) -> None:
        """Read the cache; anything unreadable or malformed counts as no cache at all
        (it is only an optimisation). A link in its place is refused, never followed."""
        try:
            fd = open_beneath(self.path.parent, self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            with open(fd, "rb") as f:
                st = os.fstat(f.fileno())
                data = msgpack.unpackb(f.read(), use_list=True, raw=False)
        except (OSError, ValueError, TypeError, RecursionError, msgpack.UnpackException):
            return
        if not isinstance(data, dict) or data.get("v") != VERSION:
            return
        paths, rows = data.get("paths", []), data.get("rows", b"")
        if (isinstance(paths, list) and isinstance(rows, bytes)
                and len(rows) == len(paths) * ROW_SIZE):
            try:
                self.entries = dict(zip(paths, (rows[i:i + ROW_SIZE]
                                                for i in range(0, len(rows), ROW_SIZE)),
                                        strict=True))
            except TypeError:  # a path that is a list or a map: garbage
                return
            self.written_ns = st.st_mtime_ns

    def lookup(self, path: str, st: StatLike) -> str | None:
        """The cached sha256 when the file provably did not change since it was hashed."""
        row = self.entries.get(path)
        if (row is not None and st.st_mtime_ns < self.written_ns
                and row[:_KEY.size] == _key(st)):
            return row[_KEY.size:].hex()
        return None

    def record(self, path: str, st: StatLike, sha256: str) -> None:
        """Remember a hash; files modified within the last second are not trusted yet."""
        if time.time_ns() - st.st_mtime_ns < RACY_NS:
            return
        key = _key(st)
        if not key:
            return
        row = key + bytes.fromhex(sha256)
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
        with contextlib.suppress(OSError):
            write_beneath(self.path.parent, self.path, _encode(self.entries), durable=False)
            self.written_ns = os.stat(self.path).st_mtime_ns
            self.dirty = False


def _encode(entries: dict[str, bytes], batch: int = 8192) -> Iterator[bytes]:
    """The cache file in pieces: the same bytes as one ``msgpack.packb`` of the whole map,
    without a second copy of a million rows in memory."""
    packer = msgpack.Packer(use_bin_type=True)
    yield packer.pack_map_header(3) + packer.pack("v") + packer.pack(VERSION)
    yield packer.pack("paths") + packer.pack_array_header(len(entries))
    paths: list[str] = []
    for path in entries:
        paths.append(path)
        if len(paths) == batch:
            yield _items(packer, paths)
            paths.clear()
    if paths:
        yield _items(packer, paths)
    yield packer.pack("rows") + _bin_header(len(entries) * ROW_SIZE)
    rows = iter(entries.values())
    while piece := b"".join(islice(rows, batch)):
        yield piece


def _bin_header(size: int) -> bytes:
    """msgpack's bin 8 / 16 / 32 header (the Packer has no call for it)."""
    if size < 1 << 8:
        return struct.pack(">BB", 0xC4, size)
    if size < 1 << 16:
        return struct.pack(">BH", 0xC5, size)
    return struct.pack(">BI", 0xC6, size)


def _items(packer: msgpack.Packer, items: list[str]) -> bytes:
    """Packed items back to back: a packed list without its array header."""
    return packer.pack(items)[len(packer.pack_array_header(len(items))):]


def _key(st: StatLike) -> bytes:
    """The stat part of a row: what must match for a cached hash to be trusted."""
    try:
        return _KEY.pack(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    except struct.error:  # out of range (a negative size or inode cannot occur): never match
        return b""
