"""The one interface every remote backend implements, and the key layout they share.

A backend is a flat key -> bytes store with whole-object atomic writes. It knows nothing of
object ids, packs or verification: those live in :mod:`folio.remote.transfer`, so a new
backend (SFTP, WebDAV writes...) is a few dozen lines that pass tests/test_remote_backends.py.

Keys are relative POSIX paths below the remote's root (``ab/cdef…``, ``packs/<id>.pack``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

PACK_DIR = "packs"
RECORD_DIR = "sets"  # push records (folio.remote.records)
# A LIST page costs this many HEADs: AWS bills a LIST as 12.5 GETs/HEADs, and on moto one
# page took as long as 59-127 sequential HEADs (benchmarks/bench_list_head.py): the lower one.
LIST_PAGE_COST = 12
_KEY_PART = re.compile(r"[A-Za-z0-9._-]+\Z")


class Reader(Protocol):
    """A streaming, read-once byte source (what :meth:`ObjectStore.put_stream` consumes)."""

    def readinto(self, buffer: bytearray | memoryview, /) -> int | None: ...
    def close(self) -> None: ...


class Backend(Protocol):
    """Remote storage. Every write is atomic: a key shows either nothing or all its bytes.

    Missing keys raise :class:`folio.errors.MissingObjectError`; any other failure raises
    :class:`folio.errors.RemoteError` with a one-line message naming the remote.
    """

    def describe(self) -> str:
        """The remote as a user would write it (URL or path), for messages."""
        ...

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """Every complete ``(key, size)`` under ``prefix`` (a directory key, or "" for all)."""
        ...

    def list_dated(self, prefix: str = "") -> Iterator[tuple[str, int, float]]:
        """Like :meth:`list`, with each key's last-modified time (POSIX seconds): what
        remote gc's grace period is measured against."""
        ...

    def put_bytes(self, key: str, data: bytes | memoryview) -> None:
        """Store a small body in one request."""
        ...

    def put_new(self, key: str, data: bytes) -> bool:
        """Store a small body only if ``key`` is absent (create-only); False if it exists."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Upload a local file, streamed (multipart where the backend has it)."""
        ...

    def put_stream(self, key: str, chunks: Iterable[bytes | memoryview]) -> None:
        """Upload chunks as one object; if the iterator raises, nothing becomes visible."""
        ...

    def head(self, key: str) -> int | None:
        """The size of ``key``, or None when it is absent; one request."""
        ...

    def open(self, key: str) -> Reader:
        """Stream a whole object; memory stays bounded whatever its size."""
        ...

    def get_range(self, key: str, start: int, end: int) -> bytes | memoryview:
        """Bytes ``[start, end)`` of an object, in one request."""
        ...

    def delete(self, key: str) -> None:
        """Remove a key; removing an absent key is not an error (as in S3)."""
        ...


def check_key(key: str) -> str:
    """Refuse keys that could escape the remote root; a bad key here is a bug, not user input."""
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") or not _KEY_PART.match(p) for p in parts):
        raise ValueError(f"invalid remote key: {key!r}")
    return key


def loose_key(oid: str) -> str:
    """Where a loose object lives: the same fan-out as the local store."""
    return f"{oid[:2]}/{oid[2:]}"


def pack_key(pack_id: str) -> str:
    return f"{PACK_DIR}/{pack_id}.pack"


def idx_key(pack_id: str) -> str:
    return f"{PACK_DIR}/{pack_id}.idx"


class ChunkReader:
    """Adapt an iterator of byte chunks (an HTTP body) to ``readinto``, one chunk in memory."""

    def __init__(self, chunks: Iterable[bytes | memoryview], size: int | None = None) -> None:
        self._chunks = iter(chunks)
        self.size = size  # what the response's headers announced, when known
        self._current = memoryview(b"")

    def readinto(self, buffer: bytearray | memoryview) -> int:
        while not self._current:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._current = memoryview(chunk).cast("B")
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n

    def read(self, size: int = -1) -> bytes:
        """Whole remaining body (size < 0) or up to ``size`` bytes; for small objects."""
        if size < 0:
            parts = [bytes(self._current), *(bytes(c) for c in self._chunks)]
            self._current = memoryview(b"")
            return b"".join(parts)
        buf = bytearray(size)
        n = self.readinto(buf)
        return bytes(buf[:n])

    def close(self) -> None:
        self._current = memoryview(b"")
        close = getattr(self._chunks, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
