"""Local content-addressed store: ``<root>/ab/<62 hex>`` holds the bytes whose sha256 is abab….

Invariants (docs/format.md, "Object store"):
- An object's name is the sha256 of its raw bytes; the file is read-only and never modified.
- Bytes are staged in a temporary file on the same filesystem and renamed into place, so a
  name never points at partial content. A killed writer leaves at most a stray temp file.
- An existing object is never rewritten; putting it again refreshes its mtime, which keeps a
  concurrent ``gc`` (which spares young objects) from deleting it under a new reference.
- Durable before named: callers run :meth:`ObjectStore.sync` (one syncfs) before any
  manifest or ref names the objects they put.
- A file of at least ``chunk_threshold`` bytes is stored chunked (objects/chunks.py): its
  bytes in block objects, its id naming a chunk list. ``has``, ``size``, ``open_verified``,
  ``read_bytes``, ``verify``, ``iter_oids`` and ``delete`` take either kind; ``path`` is
  the loose file only (see :meth:`ObjectStore.expand` for callers that need one).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from io import FileIO
from pathlib import Path
from typing import Protocol, TypeGuard

from folio._fs import (
    fsync_dir,
    make_real_dirs,
    pread_into,
    reflink,
    remove_beneath,
    remove_readonly,
    syncfs,
    temp_name,
    unsafe_entry,
    write_all,
)
from folio.errors import (
    CorruptObjectError,
    FolioError,
    MissingObjectError,
    ObjectError,
    UnsafeLinkError,
)
from folio.hashing import Readable, hash_positional, hash_stream
from folio.objects.chunks import DEFAULT_THRESHOLD, ChunkStore

OID_PATTERN = re.compile(r"[0-9a-f]{64}\Z")
EARLY_FLUSH = 64 << 20  # objects this big are flushed as soon as written
SMALL_FILE = 4 << 20  # read whole: hash first, then write only if the object is new
_CHANGE_RETRIES = 3
# A write during a read changes the file's mtime, so comparing the stat before and after
# catches it, unless the file had already been modified within the same timestamp tick
# (a clock tick on Linux, a whole second or two on some file systems). A file modified
# more recently than this is read a second time and must read the same.
_SETTLE_NS = 2_000_000_000


def is_oid(value: object) -> TypeGuard[str]:
    """True for a well-formed object id: 64 lowercase hex digits."""
    return isinstance(value, str) and OID_PATTERN.match(value) is not None


class _Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def readinto(self, buffer: bytearray | memoryview, /) -> int | None: ...
    def close(self) -> None: ...


class VerifyingReader:
    """A read-only file object that hashes what it reads and fails at EOF on a mismatch.

    Only a reader that reaches the end can vouch for the bytes; partial readers must
    use :meth:`ObjectStore.read_bytes` instead.
    """

    def __init__(self, source: Path | _Source, oid: str, label: str) -> None:
        self._file: _Source = (open(_open_object(source), "rb")  # noqa: SIM115 - close()
                               if isinstance(source, Path) else source)
        self._hash = hashlib.sha256()
        self._oid = oid
        self._label = label
        self._checked = False

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        if data:
            self._hash.update(data)
        elif size != 0:
            self._check()
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        n = self._file.readinto(buffer)
        if n:
            self._hash.update(memoryview(buffer)[:n])
        else:
            self._check()
        return n or 0

    def _check(self) -> None:
        if self._checked:
            return
        self._checked = True
        _check_digest(self._oid, self._hash.hexdigest(), self._label)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ObjectStore:
    """Objects under ``root``; staging files under ``staging`` (same filesystem)."""

    def __init__(self, root: Path, staging: Path) -> None:
        self.root = root
        self.staging = staging
        self._made_dirs: set[str] = set()
        self._thread = threading.local()  # .staging: this thread's staging directory
        self._dirty = False
        # bytes from which put_file chunks, 0 never; a callable is asked at each put
        # (Workspace passes its config's, so a bad setting fails the add, not every command)
        self.chunk_threshold: int | Callable[[], int] = DEFAULT_THRESHOLD

    @cached_property
    def chunks(self) -> ChunkStore:
        """The chunk lists and index below ``root`` (made on first use)."""
        return ChunkStore(self)

    # -- naming ---------------------------------------------------------------------------
    def path(self, oid: str) -> Path:
        if not is_oid(oid):
            raise ObjectError(f"not an object id: {oid!r}")
        return self.root / oid[:2] / oid[2:]

    def has(self, oid: str) -> bool:
        """True if the object is there as a regular file (a link in its place is not it),
        or as a chunk list whose blocks are all there: a writer that checks, holding the
        lock, that what its manifest names is stored (bundles) must not trust a list whose
        blocks a gc took."""
        return _present(self.path(oid)) or self.chunks.complete(oid)

    def has_loose(self, oid: str) -> bool:
        """True if the object is there as one whole file (what ``path`` names)."""
        return _present(self.path(oid))

    def is_chunked(self, oid: str) -> bool:
        """Stored as a chunk list only: no whole file at ``path``."""
        return not _present(self.path(oid)) and self.chunks.has(oid)

    def size(self, oid: str) -> int:
        try:
            return os.lstat(self.path(oid)).st_size
        except FileNotFoundError:
            if not self.chunks.has(oid):
                raise
            return self.chunks.size(oid)

    def describe(self, oid: str) -> str:
        """Where the object lives, for messages: its file, or its chunk list."""
        if self.is_chunked(oid):
            return f"chunked, list {self.chunks.list_path(oid)}"
        return str(self.path(oid))


    def iter_oids(self) -> Iterator[str]:
        """Every object id present, loose or chunked (ignores staging and foreign files)."""
        yield from self.iter_loose()
        for oid in self.chunks.iter_oids():
            if is_oid(oid) and not _present(self.path(oid)):
                yield oid

    def iter_loose(self) -> Iterator[str]:
        """Every object stored as one file (block objects among them)."""
        if not self.root.is_dir():
            return
        with os.scandir(self.root) as top:
            fans = sorted(e.name for e in top
                          if len(e.name) == 2 and e.is_dir(follow_symlinks=False))
        for fan in fans:  # a linked fan-out directory is never entered
            with os.scandir(self.root / fan) as it:
                for entry in it:
                    oid = fan + entry.name
                    if is_oid(oid):
                        yield oid

    # -- writing --------------------------------------------------------------------------
    # Hot path for many small files: plain strings instead of Path objects, fan-out and
    # staging directories made once, staging names from a counter instead of the kernel's
    # random source. Each saves a syscall or a few microseconds per object.
    def _prepare(self, oid: str) -> str:
        fan = oid[:2]
        if fan not in self._made_dirs:
            # once per process and directory: objects are never written through a link
            make_real_dirs(str(self.root), os.path.join(self.root, fan))
            self._made_dirs.add(fan)
        return f"{self.root}/{fan}/{oid[2:]}"

    def _staging_dir(self) -> str:
        """This thread's own staging directory. Two threads creating and renaming files in
        one directory contend for its lock in the kernel: measured here, 20,000 small
        objects on two threads took 6.3 s through one directory and 1.4-4.8 s through two."""
        directory = getattr(self._thread, "staging", None)
        if directory is None:
            directory = f"{self.staging}/t{next(_slots) % STAGING_SLOTS}"
            make_real_dirs(str(self.staging), directory)
            self._thread.staging = directory
        return directory

    def new_staging_file(self) -> tuple[str, int]:
        """A fresh read-only staging file (path, descriptor open for writing)."""
        return self._new_staging_file()

    def _new_staging_file(self) -> tuple[str, int]:
        directory = self._staging_dir()
        for _ in range(3):
            tmp = f"{directory}/.tmp-{os.getpid()}-{next(_counter)}"
            try:
                # Read-only from birth: the object is never visible at its final name writable.
                return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            except FileExistsError:  # debris of a killed process that had our pid
                continue
            except FileNotFoundError:  # someone removed the staging directory meanwhile
                make_real_dirs(str(self.staging), directory)
        tmp = str(temp_name(Path(directory)))
        return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)

    def publish(self, tmp: str | Path, oid: str, durable_fd: int | None = None) -> None:
        """Rename a complete staging file to its object name, or drop it if already there.

        With ``durable_fd`` (the staging file, still open), the object is made durable here,
        file and directory, so :meth:`sync`'s syncfs is not needed for it: for a writer that
        also wrote the same bytes elsewhere, which a syncfs would flush for nothing.
        """
        final = self._prepare(oid)
        if _present(final):
            remove_readonly(tmp)
            if durable_fd is None:
                self._touch(final)
                return
            # Refresh mtime (gc's grace period) and make sure it is on disk: another
            # process may have written it and not synced yet.
            with contextlib.suppress(OSError):
                os.utime(final, follow_symlinks=False)
                existing = os.open(final, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    os.fdatasync(existing)
                finally:
                    os.close(existing)
            return
        if durable_fd is None:
            _replace(tmp, final)
            self._dirty = True
            return
        os.fdatasync(durable_fd)
        _replace(tmp, final)  # a concurrent writer of the same object: identical bytes
        fsync_dir(Path(final).parent)

    def touch(self, final: str | Path) -> None:
        """Refresh an existing file's mtime (gc's grace) and sync it before naming it."""
        self._touch(final)

    def mark_dirty(self) -> None:
        """Something was renamed into the store: the next :meth:`sync` must flush."""
        self._dirty = True

    def publish_item(self, tmp: str | Path, oid: str, size: int, durable_fd: int) -> None:
        """:meth:`publish` with ``durable_fd`` for a staged file of ``size`` bytes hashing to
        ``oid`` (a bundle item), chunked instead when it is at least ``chunk_threshold``:
        every way into the store chunks alike. The staging file goes either way."""
        threshold = self.chunk_threshold
        limit = threshold() if callable(threshold) else threshold
        if not 0 < limit <= size or _present(self.path(oid)):
            self.publish(tmp, oid, durable_fd)
            return
        try:
            got, _, chunk_list = self.chunks.put(os.open(tmp, os.O_RDONLY | os.O_CLOEXEC),
                                                 close=True)
            if got != oid:  # written and hashed by the caller a moment ago: a bug or a disk
                raise CorruptObjectError(
                    f"staged bytes hash to {got[:12]}, not {oid[:12]}", path=str(tmp),
                    expected=oid, got=got)
            self.chunks.write_list(chunk_list, durable=True)  # blocks are flushed already
        finally:
            remove_readonly(tmp)

    def _touch(self, final: str | Path) -> None:
        # Refresh mtime so gc's grace period protects an object that is referenced anew.
        with contextlib.suppress(OSError):
            os.utime(final, follow_symlinks=False)
        # Another process may have written it and not synced yet: sync before naming it.
        self._dirty = True

    def put_bytes(self, data: bytes | memoryview, oid: str | None = None) -> str:
        """Store ``data``; return its object id."""
        oid = oid or hashlib.sha256(data).hexdigest()
        final = self._prepare(oid)
        if _present(final):
            self._touch(final)
            return oid
        tmp, fd = self._new_staging_file()
        try:
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
            # Checked for existence just above; a concurrent writer of the same object
            # renames identical bytes over it, which is harmless.
            _replace(tmp, final)
            self._dirty = True
        except BaseException:
            remove_readonly(tmp)
            raise
        return oid

    def put_file(self, src: str | Path, *, store_copy: bool = True) -> tuple[str, int]:
        """Hash ``src`` in one pass and, with ``store_copy``, store it. Returns (oid, size)."""
        oid, size, _ = self.put_file_stat(src, store_copy=store_copy)
        return oid, size

    def put_file_stat(self, src: str | Path, *,
                      store_copy: bool = True) -> tuple[str, int, os.stat_result]:
        """Like :meth:`put_file`, also returning the stat the bytes belong to.

        A file that changes while it is read is read again (a few times), so an object is
        never recorded for bytes that were not the file's content at one moment, and the
        returned stat is the one taken before reading (safe to cache).
        """
        for _ in range(_CHANGE_RETRIES):
            result = self._put_file_once(src, store_copy)
            if result is not None:
                return result
        raise FolioError("file keeps changing while folio reads it; try again when it is quiet",
                         path=src)

    def _put_file_once(self, src: str | Path,
                       store_copy: bool) -> tuple[str, int, os.stat_result] | None:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            before = os.fstat(fd)
            threshold = self.chunk_threshold
            if store_copy and 0 < (threshold() if callable(threshold) else threshold
                                   ) <= before.st_size:
                result = self._put_chunked(fd, before)
                return None if result is None else (*result, before)
            if before.st_size <= SMALL_FILE:
                # os-level calls: for many small files the io stack costs more than the I/O
                data = os.read(fd, before.st_size + 1)
                if not _unchanged(before, os.fstat(fd), len(data)):
                    return None
                if _recent(before) and os.pread(fd, len(data) + 1, 0) != data:
                    return None
                oid = hashlib.sha256(data).hexdigest()
                if store_copy:
                    self.put_bytes(data, oid)
                return oid, len(data), before
            with open(fd, "rb", buffering=0, closefd=False) as f:
                if not store_copy:
                    oid, size = hash_stream(f)
                    if not _unchanged(before, os.fstat(fd), size) or (
                            _recent(before) and _rehash(f) != (oid, size)):
                        return None
                    return oid, size, before
                result = self._put_large(f, before)
                return None if result is None else (*result, before)
        finally:
            os.close(fd)

    def _put_chunked(self, fd: int, before: os.stat_result) -> tuple[str, int] | None:
        """Store a big file as chunks; None if it changed while read (blocks already
        stored stay for gc: their chunks are sound, only no list names them)."""
        oid, size, chunk_list = self.chunks.put(fd)
        if not _unchanged(before, os.fstat(fd), size):
            return None
        if _recent(before):
            with open(fd, "rb", buffering=0, closefd=False) as f:
                if _rehash(f) != (oid, size):
                    return None
        # Written even when the file is stored whole too (an all-new file of up to 64 MiB
        # is one block whose id is its own): the list is what lets a later version, here
        # or in a clone that pulls both, share its chunks.
        self.chunks.write_list(chunk_list)
        return oid, size

    def _put_large(self, f: FileIO, before: os.stat_result) -> tuple[str, int] | None:
        src_fd = f.fileno()
        tmp, fd = self._new_staging_file()
        try:
            try:
                cloned = reflink(src_fd, fd) == 0
                if not cloned:
                    oid, size = hash_stream(f, fd)
                    if size >= EARLY_FLUSH:
                        # Flush a big object now, while other threads still hash: the
                        # command's final syncfs then finds little left to write.
                        os.fdatasync(fd)
            finally:
                os.close(fd)
            if cloned:  # the clone is the file at one instant: name it by its own bytes
                with open(tmp, "rb", buffering=0) as staged:
                    oid, size = hash_stream(staged)
            if not _unchanged(before, os.fstat(src_fd), size) or (
                    not cloned and _recent(before) and _rehash(f) != (oid, size)):
                remove_readonly(tmp)
                return None
            self.publish(tmp, oid)
        except BaseException:
            remove_readonly(tmp)
            raise
        return oid, size

    def put_stream(self, reader: Readable, expected_oid: str, label: str | None = None) -> None:
        """Store bytes read from ``reader`` (``readinto``) that must hash to ``expected_oid``.

        Used for downloads: a mismatch raises CorruptObjectError and nothing enters the store.
        """
        if self.has(expected_oid):
            self._touch(self.path(expected_oid) if self.has_loose(expected_oid)
                        else self.chunks.list_path(expected_oid))
            return
        self._stage_verified(reader, expected_oid, label)

    def _stage_verified(self, reader: Readable, expected_oid: str, label: str | None) -> None:
        tmp, fd = self._new_staging_file()
        try:
            try:
                got, _ = hash_stream(reader, fd)
            finally:
                os.close(fd)
            if got != expected_oid:
                raise CorruptObjectError(
                    f"received bytes hash to {got[:12]}, not {expected_oid[:12]}",
                    path=label or expected_oid, expected=expected_oid, got=got)
            self.publish(tmp, expected_oid)
        except BaseException:
            remove_readonly(tmp)
            raise

    def sync(self) -> None:
        """Make every object put so far durable (one syncfs), before anything names them."""
        if self._dirty:
            syncfs(self.root)
            self._dirty = False

    # -- reading --------------------------------------------------------------------------
    def open_verified(self, oid: str, label: str | None = None) -> VerifyingReader:
        """Open for a streaming read that raises CorruptObjectError at EOF on a mismatch."""
        path = self.path(oid)
        try:
            return VerifyingReader(path, oid, label or str(path))
        except FileNotFoundError:
            if not self.chunks.has(oid):
                raise self.missing([oid], label) from None
        return VerifyingReader(self.chunks.open(oid, label), oid, label or oid)

    def copy_into(self, oid: str, fd: int, label: str | None = None) -> None:
        """Write the object's bytes to ``fd`` (a new file), checked against its sha256 in
        the same pass; CorruptObjectError on a mismatch, and the caller drops the file.

        Reads, hashing and writes overlap (``hash_positional``): a big checkout costs
        about the sha256 of its bytes, not reads, hash and writes in turn."""
        got, _ = self._hash_object(oid, label, fd)
        _check_digest(oid, got, label or oid)

    def _hash_object(self, oid: str, label: str | None, fd: int | None = None
                     ) -> tuple[str, int]:
        """(sha256, size) of the object's stored bytes, loose or chunked, optionally
        copied to ``fd`` as they are hashed."""
        try:
            src = _open_object(self.path(oid))
        except FileNotFoundError:
            src = -1
        if src < 0:
            if not self.chunks.has(oid):
                raise self.missing([oid], label)
            with self.chunks.open(oid, label) as chunked:
                got, n = hash_positional(chunked.preadinto, chunked.size, fd)
            if n != chunked.size:
                raise CorruptObjectError(f"chunked object {oid[:12]} is truncated",
                                         path=label or oid, expected=oid)
            return got, n
        try:
            return hash_positional(lambda view, at: pread_into(src, view, at),
                                   os.fstat(src).st_size, fd)
        finally:
            os.close(src)

    def read_bytes(self, oid: str, label: str | None = None) -> bytes:
        """All bytes of an object, checked against its id in the same pass."""
        with self.open_verified(oid, label) as reader:
            data = reader.read()
            reader.read()  # EOF: triggers the check
        return data

    def verify(self, oid: str) -> bool:
        """Rehash one object; False if corrupt or missing (a link in its place is none)."""
        try:
            got, _ = self._hash_object(oid, None)
        except (CorruptObjectError, MissingObjectError, UnsafeLinkError, OSError):
            return False
        return got == oid

    def missing(self, oids: list[str], label: str | None = None,
                fetch: str = "folio pull") -> MissingObjectError:
        """The error for ``oids`` absent here; ``fetch`` is the command that brings them."""
        from folio.errors import summarize_paths

        shown = summarize_paths([o[:12] for o in oids])
        return MissingObjectError(
            f"{len(oids)} object(s) not in the local store ({shown}); "
            f"run `{fetch}` to fetch them",
            path=label, oids=oids)

    def delete(self, oid: str) -> None:
        """Remove the object, whole file and chunk list (its blocks are objects of their own)."""
        remove_beneath(self.root, self.path(oid))
        if self.chunks.has(oid):
            self.chunks.delete(oid)

    def expand(self, oid: str, label: str | None = None) -> Path:
        """The object as one loose file (reassembled, verified) for callers that need a
        path: hardlink and symlink checkouts. The whole file then stays beside the list."""
        if not _present(self.path(oid)):
            with self.open_verified(oid, label) as reader:
                self._stage_verified(reader, oid, label)
        return self.path(oid)


def _present(path: str | Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _check_digest(oid: str, got: str, label: str) -> None:
    if got != oid:
        raise CorruptObjectError(f"object {oid[:12]} is corrupt (its bytes hash to {got[:12]})",
                                 path=label, expected=oid, got=got)


def _open_object(path: Path) -> int:
    """A descriptor of an object file, refusing a link in its place (O_NOFOLLOW)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise unsafe_entry(path, want="regular file") from None


def _replace(tmp: str | Path, final: str) -> None:
    """Rename into place, re-making the fan-out directory if gc pruned it meanwhile."""
    try:
        os.replace(tmp, final)
    except FileNotFoundError:
        fan = os.path.dirname(final)
        make_real_dirs(os.path.dirname(fan), fan)
        os.replace(tmp, final)


def _unchanged(before: os.stat_result, after: os.stat_result, size_read: int) -> bool:
    return (before.st_size == after.st_size == size_read
            and before.st_mtime_ns == after.st_mtime_ns)


def _recent(st: os.stat_result) -> bool:
    """Modified so lately that a write during our read may have left the mtime as it was."""
    return time.time_ns() - st.st_mtime_ns < _SETTLE_NS


def _rehash(f: FileIO) -> tuple[str, int]:
    os.lseek(f.fileno(), 0, os.SEEK_SET)
    return hash_stream(f)


_counter = itertools.count()  # thread-safe in CPython: next() on count holds the GIL
_slots = itertools.count()
STAGING_SLOTS = 8  # staging subdirectories, handed to threads in turn
