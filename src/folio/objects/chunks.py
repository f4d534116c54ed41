"""Chunked file objects: a large file split by content-defined chunking (FastCDC), each
chunk stored once in block objects, the file named by its chunk list.

Layout below the store root (docs/format.md, "Chunk store"):
- blocks are ordinary objects (``<root>/ab/<rest>``, id = sha256 of the block's bytes),
  so gc, verify and transfers handle them as they handle any object;
- segments (format 2 lists) are ordinary objects too: runs of chunk entries;
- ``chunks/lists/ab/<rest>``: the chunk list of file object ``abrest…``;
- ``chunks/index.sqlite``: the derived chunk index.

Write order (a kill at any instant leaves a store ``folio verify`` finds whole): each
block is staged, flushed (fdatasync) and renamed into place; then its index rows; then
the list's segments; the list last, staged and renamed, made durable with the command's
one syncfs before any manifest names the file.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import os
import stat
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from folio._fs import fsync_dir, pread_into, remove_beneath, start_writeback, write_all
from folio.errors import CorruptObjectError, MissingObjectError
from folio.hashing import update_all
from folio.objects.chunklist import INDEX_NAME, Chunk, ChunkIndex, ChunkList, TopList, parse

if TYPE_CHECKING:
    from pyfastcdc import FastCDC


class ObjectStore(Protocol):
    """What the chunk store uses of the object store that holds it (objects/store.py)."""

    root: Path

    def path(self, oid: str) -> Path: ...
    def has_loose(self, oid: str) -> bool: ...
    def new_staging_file(self) -> tuple[str, int]: ...
    def publish(self, tmp: str | Path, oid: str, durable_fd: int | None = None) -> None: ...
    def touch(self, final: str | Path) -> None: ...
    def mark_dirty(self) -> None: ...

MIN_CHUNK = 16 << 10
AVG_CHUNK = 64 << 10  # FastCDC's parameter; its chunks average about MIN + AVG (80 KiB)
MAX_CHUNK = 256 << 10
BLOCK_LIMIT = 64 << 20  # bytes of new chunks per block object
LISTS_CACHED = 8  # assembled lists kept by a ChunkStore (a 1 GiB file's is about 2 MB)
BATCHES_IN_FLIGHT = 3  # windows of new chunks being written and hashed behind an add
WINDOW = 8 << 20  # read size of the chunking pipeline; memory is a few windows
GAP = MAX_CHUNK  # room before a window for the last chunk of the one before
READ_AHEAD = 2  # windows read ahead of the one being chunked
WINDOWS_HELD = 6  # window buffers in use at once by a chunked add (about 50 MiB)
DEFAULT_THRESHOLD = 4 << 20
MIN_THRESHOLD = 64 << 10


def new_chunker() -> FastCDC:
    # imported on first use: 9 ms that no command storing only small files should pay
    from pyfastcdc import FastCDC

    return FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)


def _cut(window: memoryview, eof: bool
         ) -> tuple[memoryview, list[tuple[int, int, bytes]], memoryview]:
    """Cut ``window`` (the chunk carried over, then the new bytes) and hash each chunk; the
    last chunk is held back (returned as the next carry) unless at EOF, because the
    window's end is not a cut point.

    Runs on a helper thread: the gear hash and sha256 release the GIL on big buffers.
    """
    cuts = [(c.offset, c.length) for c in new_chunker().cut_buf(window)]
    tail = window[:0]
    if not eof and cuts:
        tail = window[cuts.pop()[0]:]
    return window, [(o, n, hashlib.sha256(window[o:o + n]).digest()) for o, n in cuts], tail


class _BlockWriter:
    """New chunks go into the current staging block; a full one is flushed and named.

    Writing a block's bytes and hashing them run on two threads of their own, each in
    order, behind the caller, so neither costs time on the reading thread and neither
    waits for the other; at most BATCHES_IN_FLIGHT batches (a window's new chunks each)
    are held in memory.
    """

    def __init__(self, store: ObjectStore, index: ChunkIndex) -> None:
        self._store = store
        self._index = index
        self._tmp: str | None = None
        self._fd = -1
        self._hash = hashlib.sha256()
        self._size = 0
        self._rows: list[tuple[bytes, int, int]] = []  # (digest, offset, length) in it
        self._batch: list[memoryview] = []
        self._writer: ThreadPoolExecutor | None = None
        self._hasher: ThreadPoolExecutor | None = None
        self._running: deque[tuple[Future[None], Future[None]]] = deque()
        self.named: list[str] = []  # blocks named so far, in order

    def append(self, digest: bytes, data: memoryview) -> tuple[int, int]:
        """Stage a chunk; returns (block number among this writer's blocks, offset)."""
        if self._fd >= 0 and self._size + len(data) > BLOCK_LIMIT:
            self.close_block()
        if self._fd < 0:
            self._tmp, self._fd = self._store.new_staging_file()
            self._hash, self._size, self._rows = hashlib.sha256(), 0, []
        offset = self._size
        self._batch.append(data)
        self._size += len(data)
        self._rows.append((digest, offset, len(data)))
        return len(self.named), offset

    def flush(self) -> list[Future[None]]:
        """Hand the staged chunks to the writing and hashing threads (after the batches
        before them); waits only when BATCHES_IN_FLIGHT are not done yet. Returns the
        futures that use the chunks' bytes (none if nothing was staged)."""
        if not self._batch:
            return []
        if self._writer is None or self._hasher is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="folio-block-write")
            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="folio-block-sha")
        running = (self._writer.submit(_write_out, self._fd, self._batch),
                   self._hasher.submit(update_all, self._hash, self._batch))
        self._running.append(running)
        self._batch = []
        while len(self._running) > BATCHES_IN_FLIGHT:
            self._wait_one()
        return list(running)

    def _wait_one(self) -> None:
        written, hashed = self._running.popleft()
        try:
            written.result()
        finally:
            hashed.result()

    def _wait(self) -> None:
        while self._running:
            self._wait_one()

    def close_block(self) -> None:
        if self._fd < 0:
            return
        self.flush()
        self._wait()
        fd, tmp = self._fd, self._tmp
        self._fd, self._tmp = -1, None
        assert tmp is not None
        try:
            os.fdatasync(fd)  # before the list names it: a block is big, flush it now
        finally:
            os.close(fd)
        oid = self._hash.hexdigest()
        self._store.publish(tmp, oid)
        fsync_dir(self._store.path(oid).parent)  # one per 64 MiB: durable without a syncfs
        self.named.append(oid)
        # rows after the rename: the index never names a block that was not there
        self._index.add((d, oid, o, n) for d, o, n in self._rows)

    def finish(self) -> None:
        try:
            self.close_block()
        finally:
            self._shutdown()

    def abort(self) -> None:
        self._batch = []
        while self._running:
            with contextlib.suppress(Exception):
                self._wait_one()
        self._shutdown()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None

    def _shutdown(self) -> None:
        for pool in (self._writer, self._hasher):
            if pool is not None:
                pool.shutdown()
        self._writer = self._hasher = None


def _write_out(fd: int, pieces: list[memoryview]) -> None:
    start = os.lseek(fd, 0, os.SEEK_CUR)
    for piece in pieces:
        write_all(fd, piece)
    # the disk writes this batch while the next one is cut and hashed: the block's
    # fdatasync then waits for little, and a chunked add runs at the disk's speed
    start_writeback(fd, start, os.lseek(fd, 0, os.SEEK_CUR) - start)


class ChunkStore:
    """The chunk lists and chunk index of one object store."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self.top = store.root / "chunks"
        self.lists_dir = self.top / "lists"
        self.index = ChunkIndex(self.top / INDEX_NAME, _LazyLists(self))
        self._loaded: dict[str, tuple[tuple[int, int, int], ChunkList]] = {}
        self._loaded_lock = threading.Lock()

    # -- lists ----------------------------------------------------------------------------------
    def list_path(self, oid: str) -> Path:
        return self.lists_dir / oid[:2] / oid[2:]

    def has(self, oid: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.list_path(oid)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def complete(self, oid: str) -> bool:
        """Every part of the object is there: the list, its segments and blocks (not
        rehashed). A damaged segment is there too: verify reports it, as a damaged block,
        corrupt rather than missing."""
        return self._there(oid, damaged_segments=True)

    def sound(self, oid: str) -> bool:
        """The list is there, it and its segments are sound, and every block it names is
        there (blocks not rehashed)."""
        return self._there(oid, damaged_segments=False)

    def _there(self, oid: str, *, damaged_segments: bool) -> bool:
        if not self.has(oid):
            return False
        try:
            blocks = self.load(oid).blocks
        except CorruptObjectError:
            return damaged_segments and self._segments_present(oid)
        except (MissingObjectError, OSError):
            return False
        return all(self._store.has_loose(b) for b in blocks)

    def _segments_present(self, oid: str) -> bool:
        """A sound format 2 top list whose segments are all there (damaged or not)."""
        try:
            with open(self.list_path(oid), "rb") as f:
                top = parse(f.read(), oid, str(self.list_path(oid)))
        except (CorruptObjectError, OSError):
            return False
        return isinstance(top, TopList) and all(self._store.has_loose(s) for s in top.segments)

    def load(self, oid: str, where: str | None = None) -> ChunkList:
        path = self.list_path(oid)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise MissingObjectError(f"object {oid[:12]} is not in the local store",
                                     path=where, oids=[oid]) from None
        with open(fd, "rb") as f:
            st = os.fstat(f.fileno())
            seen = (st.st_ino, st.st_size, st.st_mtime_ns)
            cached = self._loaded.get(oid)
            if cached is not None and cached[0] == seen:
                return cached[1]
            data = f.read()
        where = where or str(path)
        top = parse(data, oid, where)
        chunk_list = top if isinstance(top, ChunkList) else top.assemble(
            [self.read_segment(s, oid, where) for s in top.segments], where)
        # a checkout asks for the same list three times (has, plan, read); a list file is
        # replaced, never rewritten, so its inode, size and mtime say it is the same one
        with self._loaded_lock:  # checkouts and adds load lists on several threads
            while len(self._loaded) >= LISTS_CACHED:
                self._loaded.pop(next(iter(self._loaded)))
            self._loaded[oid] = (seen, chunk_list)
        return chunk_list

    def read_segment(self, sid: str, owner: str, where: str) -> bytes:
        """A segment object's bytes (checked against its id by the caller that decodes)."""
        try:
            fd = os.open(self._store.path(sid), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            raise MissingObjectError(
                f"segment {sid[:12]} of chunked object {owner[:12]} is missing; "
                "`folio verify --repair` fetches it", path=where, oids=[sid]) from None
        with open(fd, "rb") as f:
            return f.read()

    def size(self, oid: str) -> int:
        with open(self.list_path(oid), "rb") as f:
            return ChunkList.peek_size(f.read(ChunkList.HEAD_SIZE))

    def iter_oids(self) -> Iterator[str]:
        if not self.lists_dir.is_dir():
            return
        for fan in sorted(os.listdir(self.lists_dir)):
            if len(fan) != 2 or not (self.lists_dir / fan).is_dir():
                continue
            for name in os.listdir(self.lists_dir / fan):
                if len(name) == 62 and not name.startswith("."):
                    yield fan + name

    def write_list(self, chunk_list: ChunkList, *, durable: bool = False) -> None:
        """Stage and rename the list: the last write of a chunked add. ``durable``: fsync
        it and its directory here (a bundle's writes do not wait for the command's syncfs)."""
        final = self.list_path(chunk_list.oid)
        if self.sound(chunk_list.oid):
            self._store.touch(final)
            return
        # (a list whose blocks are gone or damaged is replaced by this sound one)
        segments = chunk_list.split()
        for sid, data in segments:  # before the top list that names them
            self._write_segment(sid, data, durable)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp, fd = self._store.new_staging_file()
        try:
            try:
                write_all(fd, chunk_list.encode_top([sid for sid, _ in segments]))
                if durable:
                    os.fdatasync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if durable:
            fsync_dir(final.parent)
        else:
            self._store.mark_dirty()

    def _write_segment(self, sid: str, data: bytes, durable: bool) -> None:
        path = self._store.path(sid)
        if self._store.has_loose(sid):
            with contextlib.suppress(OSError):
                if hashlib.sha256(path.read_bytes()).hexdigest() == sid:  # a few KiB
                    self._store.touch(path)
                    return
            remove_beneath(self._store.root, path)  # damaged: replaced by these bytes
        tmp, fd = self._store.new_staging_file()
        try:
            write_all(fd, data)
            self._store.publish(tmp, sid, fd if durable else None)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        finally:
            os.close(fd)

    def delete(self, oid: str) -> None:
        remove_beneath(self._store.root, self.list_path(oid))

    def parts_of(self, oid: str) -> tuple[str, ...]:
        """The store objects a list needs: its segments (format 2), then its blocks."""
        chunk_list = self.load(oid)
        return chunk_list.segments + chunk_list.blocks

    # -- reading --------------------------------------------------------------------------------
    def open(self, oid: str, where: str | None = None) -> ChunkedFile:
        return ChunkedFile(self._store, self.load(oid, where), where or oid)

    # -- writing --------------------------------------------------------------------------------
    def put(self, fd: int, *, close: bool = False) -> tuple[str, int, ChunkList]:
        """Chunk what ``fd`` yields from where it stands (closing it after, with ``close``);
        returns (oid, size, list).

        The list is not yet written (the caller first checks that the file did not change
        while it was read). Six stages overlap, each in order: reads and placing chunks
        here; the whole file's sha256 on one helper thread; cutting and chunk hashes on
        another, one window ahead of placing; block writes and block hashes on two more
        (``_BlockWriter``). With three SHA-256 passes (the file's id, each chunk's, each
        new block's) an add is CPU-bound unless both cores stay busy.
        """
        whole = hashlib.sha256()
        builder = self.builder()
        windows = _Windows()
        size = 0
        with contextlib.suppress(OSError, AttributeError):  # a hint; not everywhere
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="folio-read") as reader, \
                    ThreadPoolExecutor(1, thread_name_prefix="folio-cdc") as cutter, \
                    ThreadPoolExecutor(1, thread_name_prefix="folio-sha") as hasher:
                reads = deque(reader.submit(_read_window, fd, windows.take())
                              for _ in range(READ_AHEAD))
                job: Future[tuple[memoryview, list[tuple[int, int, bytes]], memoryview]] \
                    | None = None
                prev: tuple[bytearray, list[Future[Any]]] | None = None
                carry = memoryview(b"")
                eof = False
                while not eof:
                    buf, n = reads.popleft().result()
                    eof = n < WINDOW
                    if not eof:
                        reads.append(reader.submit(_read_window, fd, windows.take()))
                    size += n
                    # the whole file's sha256 (its id) runs beside the chunking, in order
                    uses: list[Future[Any]] = [
                        hasher.submit(whole.update, memoryview(buf)[GAP:GAP + n])]
                    done = job.result() if job is not None else None
                    if done is not None:
                        carry = done[2]
                    # the next window is cut while this one's chunks are placed
                    job = cutter.submit(_cut, _after(carry, buf, n), eof)
                    uses.append(job)
                    if done is not None and prev is not None:
                        windows.release(prev[0], prev[1] + builder.add_cuts(done[0], done[1]))
                    prev = (buf, uses)
                assert job is not None and prev is not None  # the loop ran at least once
                data, cuts, carry = job.result()
                builder.add_cuts(data, cuts)
                for future in [*reads, *prev[1]]:
                    future.result()
            oid = whole.hexdigest()
            return oid, size, builder.finish(oid, size)
        except BaseException:
            builder.abort()
            raise
        finally:
            if close:
                os.close(fd)

    def builder(self) -> ListBuilder:
        return ListBuilder(self._store, self.index)

    def usable(self, digests: Iterable[bytes]) -> dict[bytes, tuple[str, int, int]]:
        """The chunks among ``digests`` stored here, in blocks that are present."""
        found = self.index.lookup(list(dict.fromkeys(digests)))
        present: dict[str, bool] = {}
        for block in {b for b, _, _ in found.values()}:
            present[block] = self._store.has_loose(block)
        return {d: loc for d, loc in found.items() if present[loc[0]]}

    def blocks(self) -> BlockReader:
        return BlockReader(self._store)


class BlockReader:
    """Positional reads of block objects, each block opened once (close when done)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._fds: dict[str, int] = {}

    def fd(self, block: str, owner: str = "", where: str | None = None) -> int:
        fd = self._fds.get(block)
        if fd is None:
            try:
                fd = os.open(self._store.path(block),
                             os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                of = f" of chunked object {owner[:12]}" if owner else ""
                raise MissingObjectError(
                    f"block {block[:12]}{of} is missing; `folio verify --repair` fetches it",
                    path=where, oids=[block]) from None
            self._fds[block] = fd
        return fd

    def read(self, block: str, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``; MissingObjectError or a short read
        (CorruptObjectError) otherwise."""
        data = os.pread(self.fd(block), length, offset)
        if len(data) != length:
            raise CorruptObjectError(f"block {block[:12]} is truncated", expected=block)
        return data

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ListBuilder:
    """Builds one file's chunk list from its chunks in order: a chunk stored before is
    referenced where it is, a new one is staged into a new block. Used by chunked add and
    by pulls of chunked objects."""

    def __init__(self, store: ObjectStore, index: ChunkIndex) -> None:
        self._store = store
        self._index = index
        self._writer = _BlockWriter(store, index)
        self._blocks: list[str] = []  # the list's block table, known blocks first
        self._block_no: dict[str, int] = {}
        # chunks staged by this build: where they went (block as -(new block pos) - 1)
        self._pending: dict[bytes, tuple[int, int, int]] = {}
        self._chunks: list[Chunk] = []
        self._checked: dict[str, bool] = {}

    def add_cuts(self, data: bytes | memoryview, cuts: list[tuple[int, int, bytes]]
                 ) -> list[Future[None]]:
        view = memoryview(data)
        return self.add_all([(d, view[o:o + n]) for o, n, d in cuts])

    def add_all(self, pieces: list[tuple[bytes, memoryview]]) -> list[Future[None]]:
        """Place chunks (digest, bytes) in order; one index lookup for all of them.
        Returns the futures still using the pieces' bytes (their block write and hash):
        the caller may reuse the memory only once they are done."""
        known = self._index.lookup([d for d, _ in pieces if d not in self._pending])
        for digest, view in pieces:
            length = len(view)
            mine = self._pending.get(digest)
            if mine is not None:
                self._chunks.append(Chunk(digest, *mine))
                continue
            found = known.get(digest)
            if found is not None and found[2] == length and self._usable(found[0]):
                self._chunks.append(Chunk(digest, self._number(found[0]), found[1], length))
                continue
            number, at = self._writer.append(digest, view)
            self._pending[digest] = (-number - 1, at, length)
            self._chunks.append(Chunk(digest, -number - 1, at, length))
        return self._writer.flush()

    def finish(self, oid: str, size: int) -> ChunkList:
        """Close the last block; the list, new blocks numbered after the known ones."""
        self._writer.finish()
        chunks = []
        for c in self._chunks:
            if c.block < 0:
                c = Chunk(c.digest, self._number(self._writer.named[-c.block - 1]), c.offset,
                          c.length)
            chunks.append(c)
        return ChunkList(oid, size, tuple(self._blocks), tuple(chunks))

    def abort(self) -> None:
        self._writer.abort()

    def distrust(self, block: str) -> None:
        """Never reference ``block`` (found damaged): its chunks are stored anew."""
        self._checked[block] = False

    def _number(self, block: str) -> int:
        number = self._block_no.get(block)
        if number is None:
            number = self._block_no[block] = len(self._blocks)
            self._blocks.append(block)
        return number

    def _usable(self, block: str) -> bool:
        """The block an index row names is there; refreshed once per build (gc's grace)."""
        ok = self._checked.get(block)
        if ok is None:
            ok = self._checked[block] = self._store.has_loose(block)
            if ok:
                self._store.touch(self._store.path(block))
        return ok


def _after(carry: memoryview, buf: bytearray, n: int) -> memoryview:
    """The carried-over chunk and then the window's ``n`` bytes, as one view: the chunk is
    copied into the gap before them (a chunk is at most MAX_CHUNK = GAP bytes)."""
    if len(carry) > GAP:  # never, with FastCDC's max_size; joined the slow way if so
        return memoryview(bytes(carry) + buf[GAP:GAP + n])
    buf[GAP - len(carry):GAP] = carry
    return memoryview(buf)[GAP - len(carry):GAP + n]


class _Windows:
    """The window buffers of one chunked add, reused once nothing uses their bytes: a new
    8 MiB buffer per window would cost a page fault per 4 KiB (about 2.6 million for
    10 GiB). At most WINDOWS_HELD are in use; asking for more waits for the oldest."""

    def __init__(self) -> None:
        self._free: list[bytearray] = []
        self._held: deque[tuple[bytearray, list[Future[Any]]]] = deque()

    def take(self) -> bytearray:
        while self._held and (len(self._held) >= WINDOWS_HELD
                              or all(f.done() for f in self._held[0][1])):
            buf, uses = self._held.popleft()
            for future in uses:
                future.result()
            self._free.append(buf)
        return self._free.pop() if self._free else bytearray(GAP + WINDOW)

    def release(self, buf: bytearray, uses: list[Future[Any]]) -> None:
        """``buf`` may be reused once ``uses`` are done."""
        self._held.append((buf, uses))


def _read_window(fd: int, buf: bytearray) -> tuple[bytearray, int]:
    """The next WINDOW bytes of ``fd`` (fewer at EOF) at ``GAP`` in ``buf``: the chunk
    carried over from the window before is copied into the gap, not the window appended
    to it."""
    view = memoryview(buf)
    got = GAP
    while got < len(buf) and (n := os.readv(fd, [view[got:]])):
        got += n
    return buf, got - GAP


class _LazyLists:
    """Every readable list, for rebuilding the index (read only when it is needed)."""

    def __init__(self, chunks: ChunkStore) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[ChunkList]:
        for oid in self._chunks.iter_oids():
            with contextlib.suppress(CorruptObjectError, MissingObjectError, OSError):
                yield self._chunks.load(oid)


class ChunkedFile:
    """Sequential and positional reads of a chunked object, block by block (not verified:
    the store's readers hash what it yields)."""

    def __init__(self, store: ObjectStore, chunk_list: ChunkList, where: str) -> None:
        self._store = store
        self.list = chunk_list
        self.size = chunk_list.size
        self._where = where
        self._blocks = BlockReader(store)
        self._pos = 0
        # extents: consecutive chunks contiguous in one block are read as one
        self._starts: list[int] = []
        self._extents: list[tuple[int, int, int]] = []  # (block number, offset, length)
        pos = 0
        for c in chunk_list.chunks:
            if self._extents:
                b, o, n = self._extents[-1]
                if b == c.block and o + n == c.offset:
                    self._extents[-1] = (b, o, n + c.length)
                    pos += c.length
                    continue
            self._starts.append(pos)
            self._extents.append((c.block, c.offset, c.length))
            pos += c.length

    def preadinto(self, view: memoryview, pos: int) -> int:
        """Fill ``view`` from ``pos`` (less only at the end); the one place bytes come from."""
        done = 0
        i = bisect.bisect_right(self._starts, pos) - 1
        while done < len(view) and pos < self.size and i < len(self._extents):
            block, offset, length = self._extents[i]
            inside = pos - self._starts[i]
            want = min(length - inside, len(view) - done)
            fd = self._blocks.fd(self.list.blocks[block], self.list.oid, self._where)
            n = pread_into(fd, view[done:done + want], offset + inside)
            if n < want:
                raise CorruptObjectError(
                    f"block {self.list.blocks[block][:12]} of chunked object "
                    f"{self.list.oid[:12]} is truncated", path=self._where,
                    expected=self.list.oid)
            done += n
            pos += n
            i += 1
        return done

    def readinto(self, buffer: bytearray | memoryview) -> int:
        n = self.preadinto(memoryview(buffer).cast("B"), self._pos)
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        want = self.size - self._pos if size is None or size < 0 else size
        buf = bytearray(max(0, min(want, self.size - self._pos)))
        n = self.readinto(buf)
        return bytes(buf[:n])

    def close(self) -> None:
        self._blocks.close()

    def __enter__(self) -> ChunkedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
