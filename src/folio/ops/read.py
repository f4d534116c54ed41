"""Reading any version of a tracked file without touching the working file (issue 14).

One code path for ``folio cat``, ``folio ls REV``, ``folio show REV``, ``Repo.open``,
``Repo.read_bytes`` and the ``folio://`` filesystem (:mod:`folio.fsspec`): :func:`version`
names a set of manifests, :func:`locate` finds one entry in it, :func:`open_entry` opens
that entry's object as a :class:`VerifiedReader` (fetching that one object from a remote
first when the local store lacks it, or, given a :class:`RemoteObjects`, reading a big one
there by byte ranges). What is verified when is in docs/api.md, "Reading any version", and
docs/fsspec.md, "What is verified".
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio import revisions
from folio.errors import (
    CorruptObjectError,
    FolioError,
    MissingObjectError,
    PathError,
    RemoteError,
    UnknownRevisionError,
    UnsafeLinkError,
)
from folio.git.names import is_valid_ref_component
from folio.git.repo import TRAILER_CODE_COMMIT, TRAILER_CODE_DIRTY, TRAILER_KIND
from folio.paths import is_within, repo_relative, validate_relpath
from folio.progress import NULL, Progress
from folio.remote.base import loose_key
from folio.revisions import RUN_PREFIX, Side

if TYPE_CHECKING:
    from folio.git.repo import CommitInfo
    from folio.manifest import Entry, Manifest
    from folio.objects.store import ObjectStore
    from folio.ops.runs import Run
    from folio.ops.snapshots import SnapshotInfo, TargetSummary
    from folio.remote.base import Backend
    from folio.remote.catalog import Catalog, Slot
    from folio.workspace import Workspace

CHUNK = 1 << 20
RANGED_MIN = 1 << 20  # a remote object this big is read by ranges (when a source is given)
RANGE_BUFFER = 64 << 10  # ...through a small buffer: a short read fetches no more than this


# -- naming what to read ------------------------------------------------------------------------
def split_spec(ws: Workspace, spec: str, cwd: Path | None = None) -> tuple[str | None, str]:
    """``REV:PATH``, ``:PATH`` or ``PATH`` -> (rev or None, repo-relative path).

    As ``git show``: after a colon the path is repo-relative, unless it starts with ``./``
    or ``../`` (then it is from ``cwd``); ``run:ID:PATH`` splits after the run id (neither
    ref names nor run ids hold a colon). Without a colon the path is from ``cwd``, as every
    other folio path argument, and names the working manifests' version; so does ``:PATH``
    (the form for a path that holds a colon).
    """
    skip = len(RUN_PREFIX) if spec.startswith(RUN_PREFIX) else 0
    cut = spec.find(":", skip)
    if cut < 0:
        return None, repo_relative(ws.root, spec, cwd)
    rev, path = spec[:cut] or None, spec[cut + 1:]
    if not path:
        raise PathError("name a path after the colon (REV:PATH)", path=spec)
    if path.startswith(("./", "../")) or path in (".", ".."):
        return rev, repo_relative(ws.root, path, cwd)
    return rev, validate_relpath(path)


def spec_label(rev: str | None, path: str) -> str:
    """How messages name a path in a version: ``v1:data/a.csv``, or the bare path."""
    return f"{rev}:{path}" if rev is not None else path


def resolve(ws: Workspace, rev: str, *, lazy: bool = False) -> Side:
    """``ws.resolve(rev, lazy=lazy)``; a name unknown here is looked for in the git remote's
    ``refs/folio/*`` first, as ``folio pull`` does, so a fresh clone reads ``v1:PATH``."""
    try:
        return ws.resolve(rev, lazy=lazy)
    except UnknownRevisionError:
        from folio.ops.transfer import resolve_version

        return resolve_version(ws, rev, lazy=lazy)[0]


def version(ws: Workspace, rev: str | None, near: str | None = None) -> Side:
    """The manifests ``rev`` names, each parsed only when read (so reading one file of a
    revision reads the manifest files that can hold it: :meth:`ManifestTree.locate`), or
    the working manifests when ``rev`` is None (only the target holding ``near`` then)."""
    if rev is not None:
        return resolve(ws, rev, lazy=True)
    targets = ws.targets()
    if near is not None:
        targets = [t for t in targets if is_within(near, t) or is_within(t, near)]
    return Side("manifests", None, manifests=ws.manifests(targets))


def locate(ws: Workspace, rev: str | None, path: str) -> tuple[Entry, Side]:
    """The entry at repo-relative ``path`` in version ``rev`` (None: the working manifests)."""
    path = validate_relpath(path)
    side = version(ws, rev, path)
    found = revisions.locate(side.manifests, path)
    if not isinstance(found, bool):
        return found, side
    where = spec_label(rev, path)
    if found:
        raise PathError(f"is a directory in {side.label}; `folio ls` lists it", path=where)
    raise PathError(f"no manifest of {side.label} names this path", path=where)


# -- opening ------------------------------------------------------------------------------------
def open_entry(ws: Workspace, entry: Entry, where: str, *, remote: str | None = None,
               progress: Progress = NULL, source: RemoteObjects | None = None
               ) -> VerifiedReader:
    """A verified reader of ``entry``'s bytes; the object is fetched first if not local.

    With a ``source`` (the fsspec filesystem passes one), an object of at least
    ``RANGED_MIN`` bytes stored loose on that remote is not fetched: it is read by byte
    ranges as the caller seeks; a packed one is read alone from its pack (one range,
    verified, kept in the store), with no new listing of the remote."""
    if entry.link is not None:
        raise FolioError(f"is a symlink to {entry.link!r}, not a file; read its target",
                         path=where)
    oid = entry.sha256
    if oid is None:  # the manifest parser requires one for a file: a defence only
        raise FolioError("has no sha256 in its manifest", path=where)
    store = ws.store
    if not store.has(oid):
        if not entry.stored:
            raise FolioError("was recorded by hash only (`folio add --no-copy`): its content "
                             "was never stored, so no version of it can be read", path=where)
        ranged = ranged_reader(ws, source, entry, where)
        if ranged is not None:
            return ranged
        if not store.has(oid):
            fetch_one(ws, oid, entry.size, where, remote=remote, progress=progress)
    if store.is_chunked(oid):
        return VerifiedReader(_ChunkedRaw(store, oid, entry.size, where), entry)
    return VerifiedReader(_VerifiedRaw(store.path(oid), oid, entry.size, where), entry)


def ranged_reader(ws: Workspace, source: RemoteObjects | None, entry: Entry, where: str
                  ) -> VerifiedReader | None:
    """A reader by byte ranges of ``entry``'s big loose remote object; or None, after a
    packed one was read alone from its pack (verified, into the store), or when
    :func:`fetch_one` should fetch it instead (no source, or no remote to ask)."""
    from folio.remote.catalog import Slot, read_packed

    oid = entry.sha256
    if source is None or oid is None:
        return None
    try:
        found = source.find(oid)
    except RemoteError:
        return None  # fetch_one names the remote problem in its own words
    if isinstance(found, Slot):
        if found.length == entry.size:  # else fetch_one refuses it, naming both sizes
            label = source.backend().describe()
            ws.store.put_bytes(read_packed(partial(source.get_range, keep=False), oid,
                                           found, label), oid)
        return None
    if found is None or entry.size < RANGED_MIN:
        return None
    size = found
    if size != entry.size:
        raise CorruptObjectError(
            f"object {oid[:12]} on remote {source.backend().describe()} is {size} bytes but "
            f"its manifest entry says {entry.size}; not read", path=where, expected=oid)
    return VerifiedReader(_RemoteRaw(source, oid, size, where), entry, RANGE_BUFFER)


def fetch_one(ws: Workspace, oid: str, size: int, where: str, *, remote: str | None = None,
              progress: Progress = NULL) -> None:
    """Bring one object from ``remote`` (default: the default remote) into the store,
    through the same pull as ``folio fetch`` (size-bounded, verified on arrival)."""
    from folio.ops.remotes import cache_dir, open_remote
    from folio.remote import pull

    try:
        spec, backend = open_remote(ws, remote)
    except RemoteError as exc:
        if remote is not None:
            raise
        raise MissingObjectError(
            f"object {oid[:12]} is not in the local store and there is no remote to fetch "
            f"it from ({exc.message})", path=where, oids=[oid]) from None
    try:
        pull(ws.store, backend, [oid], jobs=1, progress=progress, cache_dir=cache_dir(ws),
             sizes={oid: size})
    except MissingObjectError:
        raise MissingObjectError(
            f"object {oid[:12]} is neither in the local store nor on remote {spec.name} "
            f"({backend.describe()})", path=where, oids=[oid]) from None


def open_path(ws: Workspace, path: str | os.PathLike[str], rev: str | None = None, *,
              remote: str | None = None, progress: Progress = NULL) -> VerifiedReader:
    """``Repo.open``: locate, then open_entry. ``path`` is repo-relative (as in manifests
    and ``git show REV:PATH``, whatever the process's cwd), or absolute inside the repo."""
    text = os.fspath(path)
    rel = repo_relative(ws.root, text) if os.path.isabs(text) else Path(text).as_posix()
    entry, _ = locate(ws, rev, rel)
    return open_entry(ws, entry, spec_label(rev, rel), remote=remote, progress=progress)


def read_bytes(ws: Workspace, path: str | os.PathLike[str], rev: str | None = None, *,
               remote: str | None = None) -> bytes:
    """All bytes of ``path`` at ``rev``, verified before they are returned."""
    with open_path(ws, path, rev, remote=remote) as f:
        return f.read()


def chunks(reader: VerifiedReader, size: int = CHUNK) -> Iterator[bytes]:
    """The reader's bytes in pieces; the last read (EOF) raises if they were corrupt."""
    while True:
        piece = reader.read(size)
        if not piece:
            return
        yield piece


class _VerifiedRaw(io.RawIOBase):
    """Raw, seekable, read-only access to one object, hashing the bytes read from offset 0
    onwards. The hash covers a contiguous prefix: a read that starts at or before its end
    extends it (so re-reading after a seek back is fine), a read beyond it does not."""

    def __init__(self, path: Path, oid: str, size: int, where: str) -> None:
        self._setup(oid, size, where)
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:  # gc took it meanwhile, or a racing delete
            raise MissingObjectError(f"object {oid[:12]} is not in the local store",
                                     path=where, oids=[oid]) from None
        except OSError as exc:
            if not os.path.islink(path):
                raise
            raise UnsafeLinkError(f"object {oid[:12]} is a symlink in the store",
                                  path=where) from exc
        st = os.fstat(self._fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            os.close(self._fd)
            raise CorruptObjectError(
                f"object {oid[:12]} is corrupt (it holds {st.st_size} bytes, the manifest "
                f"says {size}); `folio verify --repair` brings a sound copy from the remote",
                path=where, expected=oid)
        if size == 0:
            self._finish()

    def _setup(self, oid: str, size: int, where: str) -> None:
        super().__init__()
        self.name = where
        self.oid = oid
        self.size = size
        self._pos = 0
        self._hash = hashlib.sha256()
        self._hashed = 0
        self._failure: CorruptObjectError | None = None
        self.verified = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._checkClosed()
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence ({whence})")
        if base + offset < 0:
            raise OSError(22, "negative seek position")
        self._pos = base + offset
        return self._pos

    def refuse_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    def readinto(self, buffer: Any) -> int:
        self._checkClosed()
        self.refuse_if_failed()
        view = memoryview(buffer).cast("B")
        n = self._preadinto(view, self._pos) if len(view) else 0
        start = self._pos
        if n == 0 and len(view) and start < self.size:  # shrank under us: not the object
            self._fail(f"object {self.oid[:12]} ended at byte {start} of {self.size}")
        self._account(view[:n])
        return n

    def readall(self) -> bytes:
        """The rest, read as one bytes object (io's default grows a buffer 8 KiB at a time)."""
        self._checkClosed()
        self.refuse_if_failed()
        want = self.size - self._pos
        data = self._pread(want, self._pos) if want > 0 else b""
        if len(data) < want:  # a short read: finish it piece by piece, as readinto does
            pieces = [data]
            self._account(data)
            while piece := self.read(CHUNK):
                pieces.append(piece)
            return b"".join(pieces)
        self._account(data)
        self.readinto(bytearray(1))  # at the end: a grown or shrunken object is an error
        return data

    def _preadinto(self, view: Any, pos: int) -> int:
        """Read into ``view`` at ``pos`` without moving; the one place bytes come from."""
        return os.preadv(self._fd, [view], pos)

    def _pread(self, n: int, pos: int) -> bytes:
        return os.pread(self._fd, n, pos)

    def _account(self, data: bytes | memoryview) -> None:
        """Hash ``data``, just read at the current position, and move past it."""
        start, n = self._pos, len(data)
        if start <= self._hashed < start + n:
            self._hash.update(memoryview(data)[self._hashed - start:])
            self._hashed = start + n
            if self._hashed >= self.size:
                self._finish()
        self._pos = start + n

    def verify(self) -> None:
        """Hash the bytes not read yet (without moving the position); raise if corrupt."""
        self._checkClosed()
        self.refuse_if_failed()
        buffer = bytearray(CHUNK)
        while not self.verified:
            n = self._preadinto(buffer, self._hashed)
            if n == 0:
                self._fail(f"object {self.oid[:12]} ended at byte {self._hashed} of "
                           f"{self.size}")
            self._hash.update(memoryview(buffer)[:n])
            self._hashed += n
            if self._hashed >= self.size:
                self._finish()

    def _finish(self) -> None:
        got = self._hash.hexdigest()
        if self._hashed != self.size or got != self.oid:
            self._fail(f"object {self.oid[:12]} is corrupt (its bytes hash to {got[:12]}); "
                       "`folio verify --repair` brings a sound copy from the remote", got)
        self.verified = True

    def _fail(self, message: str, got: str | None = None) -> None:
        self._failure = CorruptObjectError(message, path=self.name, expected=self.oid,
                                           got=got)
        raise self._failure

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class _ChunkedRaw(_VerifiedRaw):
    """A chunked object in the local store, read from its blocks; hashed as
    :class:`_VerifiedRaw` hashes."""

    def __init__(self, store: ObjectStore, oid: str, size: int, where: str) -> None:
        self._setup(oid, size, where)
        self._file = store.chunks.open(oid, where)
        if self._file.size != size:
            self._file.close()
            raise CorruptObjectError(
                f"object {oid[:12]} is corrupt (its chunk list holds {self._file.size} bytes, "
                f"the manifest says {size})", path=where, expected=oid)
        if size == 0:
            self._finish()

    def _preadinto(self, view: Any, pos: int) -> int:
        return self._file.preadinto(memoryview(view).cast("B"), pos)

    def _pread(self, n: int, pos: int) -> bytes:
        buffer = bytearray(min(n, max(0, self.size - pos)))
        got = self._preadinto(buffer, pos)
        return bytes(buffer[:got])

    def close(self) -> None:
        self._file.close()
        io.RawIOBase.close(self)


class _RemoteRaw(_VerifiedRaw):
    """A loose object on a remote, read by byte ranges (one request per raw read), hashed
    as :class:`_VerifiedRaw` hashes: a read from byte 0 to the end is verified, a range
    alone cannot be (docs/fsspec.md, "What is verified")."""

    def __init__(self, source: RemoteObjects, oid: str, size: int, where: str) -> None:
        self._setup(oid, size, where)
        self._source = source
        self._key = loose_key(oid)
        self._ahead: tuple[int, bytes] = (0, b"")  # bytes fetched past the last big read
        if size == 0:
            self._finish()

    def _preadinto(self, view: Any, pos: int) -> int:
        """One request per read. A big read is asked for in whole buffers by
        io.BufferedReader, which then fills its buffer for the tail: the bytes just past a
        big read come in the same request, so that fill costs none."""
        n = min(len(view), self.size - pos)
        if n <= 0:
            return 0
        start, ahead = self._ahead
        if start <= pos and pos + n <= start + len(ahead):
            view[:n] = ahead[pos - start:pos - start + n]
            return n
        extra = min(RANGE_BUFFER, self.size - pos - n) if n >= RANGE_BUFFER else 0
        data = memoryview(self._source.get_range(self._key, pos, pos + n + extra))
        got = min(n, len(data))
        view[:got] = data[:got]
        self._ahead = (pos + got, bytes(data[got:]))
        return got

    def _pread(self, n: int, pos: int) -> bytes:
        buffer = bytearray(min(n, max(0, self.size - pos)))
        got = self._preadinto(buffer, pos)
        return bytes(buffer[:got])

    def close(self) -> None:
        io.RawIOBase.close(self)  # no descriptor: nothing else to release


class RemoteObjects:
    """One remote's catalog, listed once and reused for many reads (an fsspec filesystem
    holds one); an object missing from it reloads it once, as a push may have come since.

    Small ranges are kept (an LRU of ``CACHE_RANGES``), so a Parquet footer read twice,
    by a schema probe and then the read, costs one request. ``requests`` and
    ``fetched_bytes`` count the ranged reads, for figures and tests.
    """

    CACHE_RANGES = 32

    def __init__(self, ws: Workspace, remote: str | None = None) -> None:
        self.ws = ws
        self.remote = remote
        self._backend: Backend | None = None
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()
        self._ranges: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self.requests = 0
        self.fetched_bytes = 0

    def backend(self) -> Backend:
        if self._backend is None:
            from folio.ops.remotes import open_remote

            self._backend = open_remote(self.ws, self.remote)[1]
        return self._backend

    def find(self, oid: str) -> int | Slot | None:
        """Where the remote holds ``oid``: its size if loose, its pack slot, or None."""
        from folio.ops.remotes import cache_dir
        from folio.remote.catalog import load_catalog

        backend = self.backend()
        with self._lock:
            if self._catalog is None or oid not in self._catalog:
                self._catalog = load_catalog(backend, cache_dir(self.ws), jobs=4)
            size = self._catalog.loose.get(oid)
            return size if size is not None else self._catalog.packed.get(oid)

    def get_range(self, key: str, start: int, end: int, *, keep: bool = True
                  ) -> bytes | memoryview:
        small = keep and end - start <= RANGE_BUFFER * 16
        with self._lock:
            hit = self._ranges.get((key, start, end)) if small else None
            if hit is not None:
                self._ranges.move_to_end((key, start, end))
                return hit
        data = self.backend().get_range(key, start, end)
        with self._lock:
            self.requests += 1
            self.fetched_bytes += len(data)
            if small:
                self._ranges[(key, start, end)] = bytes(data)
                while len(self._ranges) > self.CACHE_RANGES:
                    self._ranges.popitem(last=False)
        return data


class VerifiedReader(io.BufferedReader):
    """A binary, seekable, read-only file object over one stored object (``Repo.open``).

    Every byte is hashed as it is first read, from offset 0 on; once all ``size`` bytes have
    been read (in any number of reads, seeking back allowed) the sha256 is compared and a
    mismatch raises CorruptObjectError naming the object and the path, on that read and
    every later one. A read that skips ahead (a seek past what was read, as a Parquet reader
    does for the footer) is not verified: :meth:`verify` hashes the rest on demand.
    """

    raw: _VerifiedRaw

    def __init__(self, raw: _VerifiedRaw, entry: Entry, buffer_size: int = CHUNK) -> None:
        super().__init__(raw, buffer_size)
        self.entry = entry

    @property
    def oid(self) -> str:
        return self.raw.oid

    @property
    def size(self) -> int:
        return self.raw.size

    @property
    def verified(self) -> bool:
        """True once every byte has been hashed and matched the sha256."""
        return self.raw.verified

    @property
    def mode(self) -> str:
        return "rb"

    def verify(self) -> None:
        """Check the whole object now (reads what was not read yet); raise if corrupt."""
        self.raw.verify()

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    # Bytes already buffered are served without the raw reader: once it found the object
    # corrupt, every read says so, buffered or not.
    def read(self, size: int | None = -1) -> bytes:
        self.raw.refuse_if_failed()
        return super().read(size)

    def read1(self, size: int = -1) -> bytes:
        self.raw.refuse_if_failed()
        return super().read1(size)

    def readinto(self, buffer: Any) -> int:
        self.raw.refuse_if_failed()
        return super().readinto(buffer)

    def readinto1(self, buffer: Any) -> int:
        self.raw.refuse_if_failed()
        return super().readinto1(buffer)

    def peek(self, size: int = 0) -> bytes:
        self.raw.refuse_if_failed()
        return super().peek(size)

    def readline(self, size: int | None = -1) -> bytes:
        self.raw.refuse_if_failed()
        return super().readline(size)


# -- listing a version --------------------------------------------------------------------------
def ls(ws: Workspace, rev: str, paths: Sequence[str | os.PathLike[str]] | None = None,
       cwd: Path | None = None) -> list[tuple[Manifest, Entry]]:
    """Entries of version ``rev`` at or below ``paths`` (which need not exist here):
    only the targets, and of a sharded one the shards, that can hold them are read."""
    side = resolve(ws, rev, lazy=True)
    wanted = ws.scope(paths, cwd) if paths else None
    manifests = side.manifests
    if wanted is not None and isinstance(manifests, revisions.ManifestTree):
        manifests = manifests.under(wanted)
    rows = [(m, e) for _, m in sorted(manifests.items()) for e in m.sorted_entries()
            if wanted is None or any(is_within(m.location(e.path), w) for w in wanted)]
    for w in wanted or ():
        if not any(is_within(m.location(e.path), w) for m, e in rows):
            raise PathError(f"no entry of {side.label} is at or below this path", path=w)
    return rows


def rev_and_paths(ws: Workspace, args: Sequence[str], cwd: Path | None = None
                  ) -> tuple[str | None, list[str]]:
    """``folio ls ARG...`` without ``--``: all paths (today's meaning) when every argument
    is a path here (it exists, or lies inside a tracked target); else REV then paths."""
    if not args:
        return None, []
    cwd = cwd or Path.cwd()
    targets = ws.targets()

    def is_path(arg: str) -> bool:
        if os.path.lexists(os.path.join(cwd, arg)):
            return True
        try:
            rel = repo_relative(ws.root, arg, cwd)
        except PathError:
            return False
        return any(is_within(rel, t) for t in targets)

    if all(is_path(a) for a in args):
        return None, list(args)
    return args[0], list(args[1:])


# -- describing a version (folio show) ----------------------------------------------------------
@dataclass
class VersionInfo:
    """What ``folio show REV`` shows: a snapshot, a run, a git commit or the working
    manifests, with per-target counts. Attribute names follow SnapshotInfo's."""

    kind: str  # Side.kind: "snapshot", "run", "commit" or "manifests"
    name: str | None
    commit: str | None
    targets: list[TargetSummary]
    info: CommitInfo | None = None
    snapshot: SnapshotInfo | None = None
    run: Run | None = None
    label: str = ""

    @property
    def tag(self) -> str | None:
        return self.snapshot.tag if self.snapshot is not None else None

    @property
    def files(self) -> int:
        return sum(t.files for t in self.targets)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.targets)

    @property
    def message(self) -> str | None:
        return self.info.message if self.info is not None else None

    @property
    def author(self) -> str | None:
        return self.info.author if self.info is not None else None

    @property
    def date(self) -> str | None:
        if self.info is None:
            return None
        zone = timezone(timedelta(minutes=self.info.offset))
        return datetime.fromtimestamp(self.info.time, zone).isoformat()

    @property
    def code_commit(self) -> str | None:
        """The code commit the data was recorded with; a plain git commit is its own."""
        if self.info is None:
            return None
        if TRAILER_KIND not in self.info.trailers:
            return self.info.sha
        return self.info.trailers.get(TRAILER_CODE_COMMIT) or None

    @property
    def code_dirty(self) -> bool:
        return self.info is not None and self.info.trailers.get(TRAILER_CODE_DIRTY) == "true"

    @property
    def code_label(self) -> str:
        code = self.code_commit
        return "-" if code is None else code[:7] + ("-dirty" if self.code_dirty else "")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "commit": self.commit}
        if self.snapshot is not None:
            out.update(self.snapshot.to_json())
        elif self.info is not None:
            out.update({"date": self.date, "time": self.info.time,
                        "code_commit": self.code_commit, "code_dirty": self.code_dirty,
                        "message": self.message, "author": self.author,
                        "parent": self.info.parents[0] if self.info.parents else None})
        if self.run is not None:
            out["run"] = self.run.to_json()
        out.update({"files": self.files, "bytes": self.bytes,
                    "targets": [t.to_json() for t in self.targets]})
        return out


def show(ws: Workspace, rev: str | None = None) -> VersionInfo:
    """Any version as ``folio show`` describes it (None: the working manifests)."""
    from folio.ops import snapshots

    if rev is None:
        side = version(ws, None)
        return VersionInfo("manifests", None, None, snapshots.summarize(side.manifests),
                           label=side.label)
    try:
        side = resolve(ws, rev)
    except UnknownRevisionError as exc:
        if not is_valid_ref_component(rev):
            raise
        # `folio show` took only tags until issue 14: keep naming the tag first
        cuts = [i for i in (exc.message.find("; git remote "),
                            exc.message.find("; fetching refs/folio/")) if i >= 0]
        remote_note = exc.message[min(cuts):] if cuts else ""  # what the git remote said
        raise UnknownRevisionError(f"no snapshot tag {rev!r}, run or git revision of that "
                                   f"name (`folio tags` lists the tags){remote_note}") from exc
    assert side.commit is not None  # every resolved revision is a commit
    targets = snapshots.summarize(side.manifests)
    out = VersionInfo(side.kind, side.name, side.commit, targets,
                      info=ws.git.read_commit(side.commit), label=side.label)
    if side.kind == "snapshot" and side.name is not None:
        out.snapshot = snapshots.info_from_commit(side.name, out.info)  # type: ignore[arg-type]
        out.snapshot.targets = targets
    elif side.kind == "run" and side.name is not None and out.info is not None:
        from folio.ops.runs import Run

        out.run = Run.from_commit(side.name, out.info)
    return out
