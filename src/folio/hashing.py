"""The sha256 file loop, its read size, and a bounded parallel map for hashing many files.

hashlib releases the GIL on large updates, and file reads release it too, so a thread
pool keeps both cores busy without the cost of starting processes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Protocol, TypeVar

from folio._fs import write_all

CHUNK = 1 << 20  # 1 MiB: large enough that hashing, not Python, dominates
T = TypeVar("T")
R = TypeVar("R")

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class Readable(Protocol):
    def readinto(self, buffer: bytearray, /) -> int | None: ...


_buffers = threading.local()


def _buffer() -> tuple[bytearray, memoryview]:
    """A per-thread reusable chunk buffer: allocating 1 MiB per file costs an mmap."""
    buf = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = bytearray(CHUNK)
    return buf, memoryview(buf)


def hash_stream(f: Readable, fd: int | None = None) -> tuple[str, int]:
    """(sha256, size) of what ``f`` yields from where it stands to its end.

    With ``fd``, each chunk is also written there as it is hashed: read, hash and write
    once, so memory stays at one chunk for any file size.
    """
    h = hashlib.sha256()
    size = 0
    buf, view = _buffer()
    while n := f.readinto(buf):
        chunk = view[:n]
        h.update(chunk)
        if fd is not None:
            write_all(fd, chunk)
        size += n
    return h.hexdigest(), size


def default_jobs() -> int:
    """Worker threads for hashing and I/O: one per core, at least two."""
    return max(2, os.cpu_count() or 2)


def parallel_map(fn: Callable[[T], R], items: Iterable[T], jobs: int | None = None) -> Iterator[R]:
    """Apply ``fn`` to ``items`` on a thread pool, yielding results in input order.

    Items go to the pool in batches: one future per file would cost more than hashing a
    small file. A single item runs inline; two large files already keep two cores busy.
    """
    items = list(items)
    jobs = jobs or default_jobs()
    if jobs <= 1 or len(items) < 2:
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor  # imported late: it costs start-up time

    size = max(1, min(256, len(items) // (jobs * 8)))
    batches = (items[i:i + size] for i in range(0, len(items), size))

    def run(batch: list[T]) -> list[R]:
        return [fn(x) for x in batch]

    # A few batches in flight, not all of them: results wait in memory until the caller
    # takes them, and a caller that stops early should not wait for a million files.
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        pending = deque(pool.submit(run, b) for b in islice(batches, jobs * 4))
        try:
            while pending:
                results = pending.popleft().result()
                batch = next(batches, None)
                if batch is not None:
                    pending.append(pool.submit(run, batch))
                yield from results
        finally:
            for future in pending:
                future.cancel()
