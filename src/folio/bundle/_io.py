"""Item bytes in and out: encoded once into the work tree and the store, read back verified.

Writing (:func:`stage`): the codec writes into an :class:`ItemSink`, which hashes every byte
once and writes it, at the same offsets, to a temporary work file (renamed to the item's path
when the bundle commits) and to a staging file of the object store. No byte is encoded, held
or hashed twice. Large items pipeline on two cores: a helper thread hashes (and writes the
buffered small pieces) while the codec goes on encoding, or, for one large piece such as an
array's memory, while this thread writes it. The object file's writeback starts as it is
written, so the fdatasync that makes it durable before any manifest names it waits for little.
That per-object fdatasync (plus one directory fsync) replaces ``ObjectStore.sync``'s syncfs
here, which would also flush the work file's copy of the same bytes for nothing.

Reading (:func:`read_verified`): one pass into one bytearray, each chunk hashed while it is
in cache; the codec then owns the bytearray and may wrap it without copying. A mismatch is a
CorruptObjectError naming the item: never a wrong answer.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import stat
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from folio._fs import open_beneath, remove_readonly, temp_name
from folio.errors import CorruptObjectError, FolioError, PathError
from folio.objects.store import ObjectStore

T = TypeVar("T")

BUFFER = 4 << 20  # small writes are gathered into buffers of this size
DIRECT = 1 << 20  # writes at least this large go straight through (no copy)
IN_FLIGHT = 3  # buffers queued for the helper thread at most
PIECE = 8 << 20  # large writes are written (and their writeback started) in pieces
READ_CHUNK = 1 << 20  # hashed while still in cache
PIPELINE_MIN = 8 << 20  # reads at least this large hash on a helper thread
PIPELINE_CHUNK = 4 << 20
HUGE_MIN = 8 << 20  # reads at least this large get an uninitialised, huge-page buffer
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC
_SYNC_FILE_RANGE_WRITE = 2
_MADV_HUGEPAGE = 14


@dataclass
class Staged:
    """A complete, durable object and a work file with the same bytes, not yet in place."""

    work_tmp: Path
    oid: str
    size: int


def stage(store: ObjectStore, tmp_dir: Path, write: Callable[[ItemSink], T]
          ) -> tuple[Staged, T]:
    """Let ``write`` fill a sink; return the staged item and what ``write`` returned.

    On any failure (the codec refusing the value included) both temporary files are removed
    and nothing enters the store.
    """
    stager = Stager(store, tmp_dir)
    try:
        result = write(stager.sink)
        return stager.finish(), result
    except BaseException:
        stager.abort()
        raise


class Stager:
    """An item being written: a sink now, a :class:`Staged` at :meth:`finish`."""

    def __init__(self, store: ObjectStore, tmp_dir: Path) -> None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        store.staging.mkdir(parents=True, exist_ok=True)
        self._store = store
        self._work_tmp = temp_name(tmp_dir, "folio-item.")
        self._obj_tmp = temp_name(store.staging, "item.")
        self._fds: list[int] = []
        try:
            self._fds.append(os.open(self._work_tmp, _CREATE, 0o644))
            # Read-only from birth: the object is never visible at its final name writable.
            self._fds.append(os.open(self._obj_tmp, _CREATE, 0o444))
        except BaseException:
            self.abort()
            raise
        self.sink = ItemSink(self._fds[0], self._fds[1])

    def finish(self) -> Staged:
        """Wait for the last bytes, make the object durable; the work file stays staged."""
        try:
            try:
                oid, size = self.sink.finish()
            finally:
                self.sink.close()
            with _write_errors():
                self._store.publish_item(self._obj_tmp, oid, size, durable_fd=self._fds[1])
        except BaseException:
            self.abort()
            raise
        self._close_fds()
        return Staged(self._work_tmp, oid, size)

    def abort(self) -> None:
        """Remove both temporary files; nothing enters the store."""
        if hasattr(self, "sink"):
            self.sink.close()
        self._close_fds()
        remove_readonly(self._work_tmp)
        remove_readonly(self._obj_tmp)

    def _close_fds(self) -> None:
        while self._fds:
            with contextlib.suppress(OSError):
                os.close(self._fds.pop())


class ItemSink:
    """The ``write()``/``tell()`` sink codecs write into: hashed once, written to two files."""

    def __init__(self, work_fd: int, object_fd: int) -> None:
        self._fds = (work_fd, object_fd)
        self._object_fd = object_fd
        self._hash = hashlib.sha256()
        self._offset = 0  # bytes handed on (to the helper or written directly)
        self._buffer = bytearray(min(BUFFER, 64 << 10))  # grows to BUFFER when needed
        self._fill = 0
        self._spare: list[bytearray] = []
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[Future[None], bytearray | None]] = deque()

    # -- the codec side ---------------------------------------------------------------------
    def write(self, data: Any) -> int:
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        size = view.nbytes
        if size >= DIRECT:
            self._hand_on_buffer()
            self._write_direct(view)
            return size
        if self._fill + size > len(self._buffer):
            if self._fill + size <= BUFFER and len(self._buffer) < BUFFER:
                self._buffer.extend(bytes(BUFFER - len(self._buffer)))
            else:
                self._hand_on_buffer()
        self._buffer[self._fill:self._fill + size] = view
        self._fill += size
        return size

    def tell(self) -> int:
        return self._offset + self._fill

    def flush(self) -> None:
        """Nothing to do: bytes are handed on in buffers (here for file-like callers)."""

    # -- finishing --------------------------------------------------------------------------
    def finish(self) -> tuple[str, int]:
        """Write what is buffered, wait for the helper; return (sha256, size)."""
        if self._fill:
            if self._pool is None:  # a small item: no thread at all
                self._job(memoryview(self._buffer)[:self._fill], self._offset, True)
                self._offset += self._fill
                self._fill = 0
            else:
                self._hand_on_buffer()
        self._drain()
        return self._hash.hexdigest(), self._offset

    def close(self) -> None:
        """Stop the helper thread (after waiting for it: it may be using our buffers)."""
        if self._pool is not None:
            for future, _ in self._pending:
                with contextlib.suppress(BaseException):
                    future.result()
            self._pending.clear()
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- the work ---------------------------------------------------------------------------
    def _job(self, view: memoryview, offset: int, write: bool) -> None:
        self._hash.update(view)
        if write:
            with _write_errors():
                for fd in self._fds:
                    _pwrite_all(fd, view, offset)
                _start_writeback(self._object_fd, offset, view.nbytes)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="folio-item")
        return self._pool

    def _hand_on_buffer(self) -> None:
        if not self._fill:
            return
        buffer, size, offset = self._buffer, self._fill, self._offset
        self._offset += size
        self._fill = 0
        future = self._executor().submit(self._job, memoryview(buffer)[:size], offset, True)
        self._pending.append((future, buffer))
        self._buffer = self._free_buffer()

    def _free_buffer(self) -> bytearray:
        while self._pending and self._pending[0][0].done():
            self._reclaim(*self._pending.popleft())
        if self._spare:
            return self._spare.pop()
        if len(self._pending) < IN_FLIGHT:
            return bytearray(BUFFER)
        future, buffer = self._pending.popleft()
        self._reclaim(future, buffer)
        return self._spare.pop()

    def _reclaim(self, future: Future[None], buffer: bytearray | None) -> None:
        future.result()  # re-raises a write error (a full disk) here
        if buffer is not None:
            self._spare.append(buffer)

    def _write_direct(self, view: memoryview) -> None:
        """A large piece: the helper hashes it and writes the work file while this thread
        writes the object file and starts its writeback, piece by piece. Returns only when
        both are done, since the caller may reuse its memory as soon as write() returns."""
        offset = self._offset
        self._offset += view.nbytes
        work_fd = self._fds[0]
        try:
            with _write_errors():
                for start in range(0, view.nbytes, PIECE):
                    piece = view[start:start + PIECE]
                    self._pending.append((self._executor().submit(
                        self._hash_and_write, piece, work_fd, offset + start), None))
                    _pwrite_all(self._object_fd, piece, offset + start)
                    _start_writeback(self._object_fd, offset + start, piece.nbytes)
        finally:
            self._drain()

    def _hash_and_write(self, piece: memoryview, fd: int, offset: int) -> None:
        self._hash.update(piece)
        with _write_errors():
            _pwrite_all(fd, piece, offset)

    def _drain(self) -> None:
        while self._pending:
            self._reclaim(*self._pending.popleft())


@contextlib.contextmanager
def _write_errors() -> Iterator[None]:
    """A full disk (or any I/O error) is the user's to fix: one line, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise FolioError(f"cannot write the item: {exc.strerror or exc}") from exc


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


# -- reading ----------------------------------------------------------------------------------

def read_verified(path: Path, oid: str, *, item: str, label: str, size: int | None = None,
                  base: Path | None = None) -> bytearray:
    """All bytes of ``path``, which must hash to ``oid``; FileNotFoundError passes through.

    Large files are read in pieces while a helper thread hashes the previous piece (both
    release the GIL), so the read costs about one sha256 pass in all. Only a regular file
    is read, never through a link (none at all below ``base``, when given), and nothing is
    allocated for a file whose size is not the recorded ``size``: a planted FIFO, device
    or link cannot hang the reader, feed it endless bytes or point it elsewhere.
    """
    fd = open_beneath(base, path, os.O_RDONLY) if base is not None else _open_regular(path)
    try:
        size_now = os.fstat(fd).st_size
        if size is not None and size_now != size:
            raise CorruptObjectError(
                f"item {item!r} is corrupt: its content has {size_now} bytes, the manifest "
                f"records {size}; run `folio verify`", path=label, expected=oid, got=None)
        size = size_now
        buffer = allocate(size)
        digest = hashlib.sha256()
        view = memoryview(buffer)
        try:
            if size >= PIPELINE_MIN:
                with ThreadPoolExecutor(1, thread_name_prefix="folio-hash") as pool:
                    done = _read_hashing(fd, view, size, digest, pool)
            else:
                done = _read_hashing(fd, view, size, digest, None)
            grew = os.read(fd, 1)  # a file that grew while read is not what we hashed
            digest.update(grew)
            done += len(grew)
        finally:
            view.release()
    finally:
        os.close(fd)
    got_oid = digest.hexdigest()
    if got_oid != oid or done != size:
        raise CorruptObjectError(
            f"item {item!r} is corrupt: object {oid[:12]} holds bytes that hash to "
            f"{got_oid[:12]}; run `folio verify`", path=label, expected=oid, got=got_oid)
    return buffer


def read_object(store: ObjectStore, oid: str, *, item: str, label: str,
                size: int | None = None) -> bytearray:
    """:func:`read_verified` of object ``oid`` of ``store``, stored whole or chunked;
    FileNotFoundError when the store has neither."""
    if not store.is_chunked(oid):
        return read_verified(store.path(oid), oid, item=item, label=label, size=size,
                             base=store.root)
    stored = store.size(oid)
    if size is not None and stored != size:
        raise CorruptObjectError(
            f"item {item!r} is corrupt: its content has {stored} bytes, the manifest "
            f"records {size}; run `folio verify`", path=label, expected=oid, got=None)
    buffer = allocate(stored)
    with memoryview(buffer) as view, store.open_verified(oid, label) as reader:
        done = 0
        while done < stored and (n := reader.readinto(view[done:])):
            done += n
        reader.read(1)  # at the end: raises if the bytes do not hash to the id
    return buffer


def read_regular(path: Path) -> bytearray:
    """The bytes of the regular file ``path``, as large as it was when opened.

    For references, which name the user's own files: links are followed, but a FIFO or a
    device (``/dev/zero``) is refused rather than read without end.
    """
    fd = _open_regular(path, follow=True)
    try:
        buffer = allocate(os.fstat(fd).st_size)
        with memoryview(buffer) as view:
            done = 0
            while done < len(view) and (count := os.readv(fd, [view[done:]])):
                done += count
        return buffer[:done] if done < len(buffer) else buffer
    finally:
        os.close(fd)


def _open_regular(path: Path, *, follow: bool = False) -> int:
    """Open a regular file for reading: a link at ``path`` is not followed (unless
    ``follow``), a FIFO is not waited on, a device is not read."""
    flags = os.O_RDONLY | os.O_NONBLOCK | _O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise
        raise PathError("is a symbolic link or not a regular file; folio reads an item only "
                        "from a regular file", path=path) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PathError("is not a regular file; folio reads an item only from a regular file",
                        path=path)
    os.set_blocking(fd, True)
    return fd


def _read_hashing(fd: int, view: memoryview, size: int, digest: Any,
                  pool: ThreadPoolExecutor | None) -> int:
    done = 0
    pending: Future[None] | None = None
    chunk = PIPELINE_CHUNK if pool is not None else READ_CHUNK
    try:
        while done < size:
            got = os.readv(fd, [view[done:done + chunk]])
            if not got:
                break
            piece = view[done:done + got]
            if pool is None:
                digest.update(piece)
            else:
                if pending is not None:
                    pending.result()
                pending = pool.submit(digest.update, piece)
            done += got
    finally:
        if pending is not None:
            pending.result()
    return done


def allocate(size: int) -> bytearray:
    """A bytearray of ``size`` bytes to read into.

    ``bytearray(n)`` zero-fills, faulting in every 4 KiB page first: for 100 MB that costs
    four times the read itself. Large buffers are therefore made uninitialised (CPython's
    ``PyByteArray_FromStringAndSize(NULL, n)``) and advised onto huge pages, as numpy does
    for its arrays; every byte is overwritten by the read before anyone sees it.
    """
    if size < HUGE_MIN or _native is None:
        return bytearray(size)
    try:
        buffer = _native.new_bytearray(None, size)
    except (MemoryError, OSError, ctypes.ArgumentError):
        return bytearray(size)
    if type(buffer) is not bytearray or len(buffer) != size:  # pragma: no cover - defensive
        return bytearray(size)
    _native.advise_huge(buffer)
    return buffer


class _Native:
    """The few C calls this module makes, looked up once (Linux/glibc; absent elsewhere)."""

    def __init__(self) -> None:
        api = ctypes.pythonapi
        self.new_bytearray = api.PyByteArray_FromStringAndSize
        self.new_bytearray.restype = ctypes.py_object
        self.new_bytearray.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self._madvise = getattr(libc, "madvise", None)
        if self._madvise is not None:
            self._madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.sync_file_range = getattr(libc, "sync_file_range", None)
        if self.sync_file_range is not None:
            self.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
                                             ctypes.c_uint]

    def advise_huge(self, buffer: bytearray) -> None:
        if self._madvise is None:
            return
        anchor = ctypes.c_char.from_buffer(buffer)
        try:
            start = ctypes.addressof(anchor)
        finally:
            del anchor  # release the buffer export
        huge = 1 << 21
        first = (start + huge - 1) & ~(huge - 1)
        last = (start + len(buffer)) & ~(huge - 1)
        if last > first:
            self._madvise(first, last - first, _MADV_HUGEPAGE)


def _load_native() -> _Native | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return _Native()
    except (OSError, AttributeError):
        return None


_native = _load_native()


def _start_writeback(fd: int, offset: int, size: int) -> None:
    """Ask the kernel to start writing these pages now (sync_file_range; no waiting)."""
    if _native is not None and _native.sync_file_range is not None and size:
        _native.sync_file_range(fd, offset, size, _SYNC_FILE_RANGE_WRITE)
