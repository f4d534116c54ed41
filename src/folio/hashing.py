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

from folio._fs import start_writeback, write_all

CHUNK = 1 << 20  # 1 MiB: large enough that hashing, not Python, dominates
WRITEBACK_EVERY = 8 << 20  # a streamed write sets the disk writing after this many bytes
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
    once, so memory stays at one chunk for any file size; the disk is set writing every
    few MiB (``start_writeback``) so a later flush does not wait for the whole file.
    """
    h = hashlib.sha256()
    size = flushed = 0
    buf, view = _buffer()
    while n := f.readinto(buf):
        chunk = view[:n]
        h.update(chunk)
        if fd is not None:
            write_all(fd, chunk)
        size += n
        if fd is not None and size - flushed >= WRITEBACK_EVERY:
            start_writeback(fd, flushed, size - flushed)
            flushed = size
    return h.hexdigest(), size


PIPE_CHUNK = 4 << 20  # read size of hash_positional: big enough that Python's share is nothing
PIPE_BUFFERS = 4  # in flight at once: being read, being hashed, being written
PIPE_MIN = 16 << 20  # below this a file is read on the calling thread: threads cost more


def hash_positional(read_at: Callable[[memoryview, int], int], size: int,
                    fd: int | None = None) -> tuple[str, int]:
    """(sha256, bytes read) of the ``size`` bytes that ``read_at(view, pos)`` yields,
    each piece also written to ``fd`` (a new file) when one is given.

    One pass over the bytes, in three stages on three threads: a reader fills buffers
    ahead, this thread hashes them in order, a writer writes them behind and sets the disk
    writing (``start_writeback``). hashlib, reads and writes all release the GIL, so a big
    file costs about its slowest stage, not the sum, and a final flush finds little left.
    A short read ends it early (the caller's size or digest check then fails).
    """
    h = hashlib.sha256()
    if size < PIPE_MIN:
        buf, view = _buffer()
        done = 0
        while done < size and (n := read_at(view[:min(CHUNK, size - done)], done)):
            h.update(view[:n])
            if fd is not None:
                write_all(fd, view[:n])
            done += n
        return h.hexdigest(), done
    from concurrent.futures import Future, ThreadPoolExecutor

    def write(view: memoryview, at: int) -> None:
        assert fd is not None
        write_all(fd, view)
        start_writeback(fd, at, len(view))

    free = deque(bytearray(PIPE_CHUNK) for _ in range(PIPE_BUFFERS))
    reads: deque[tuple[bytearray, int, Future[int]]] = deque()
    writes: deque[tuple[bytearray, Future[None]]] = deque()
    asked = done = 0
    reader = ThreadPoolExecutor(1, thread_name_prefix="folio-read")
    writer = ThreadPoolExecutor(1, thread_name_prefix="folio-write")
    try:
        while True:
            while free and asked < size:
                buf = free.popleft()
                want = min(PIPE_CHUNK, size - asked)
                reads.append((buf, want, reader.submit(read_at, memoryview(buf)[:want], asked)))
                asked += want
            if not reads:
                break
            buf, want, read = reads.popleft()
            n = read.result()
            view = memoryview(buf)[:n]
            h.update(view)
            if fd is not None and n:
                writes.append((buf, writer.submit(write, view, done)))
            else:
                free.append(buf)
            done += n
            if n < want:
                break
            # buffers come back as their writes finish; wait only when nothing else to do
            while writes and (writes[0][1].done() or not (free or reads)):
                buf, written = writes.popleft()
                written.result()
                free.append(buf)
        for _, written in writes:
            written.result()
    finally:
        reader.shutdown(cancel_futures=True)
        writer.shutdown(cancel_futures=True)
    return h.hexdigest(), done


def update_all(digest: hashlib._Hash, pieces: list[memoryview]) -> None:
    """Feed ``pieces`` to ``digest`` in order (a helper thread's job: the GIL is released)."""
    for piece in pieces:
        digest.update(piece)


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
