"""Clean marks (``.folio/marks``): proof, checkable by ``stat`` alone, that a target still
matches its manifest.

When a scan finds a target exactly as its manifest says, folio records a fingerprint of the
manifest's files and, for each directory that holds files, a digest of every file's name,
size, mtime, ctime, inode and mode. A later status that sees the same fingerprint and the
same digests knows the target is clean without parsing the manifest or loading the stat
cache, which at a million files is most of the cost. Anything a mark cannot describe
(symlinks, staging debris, odd names, files changed too recently to trust) means no mark;
any difference means the full comparison runs. A mark can make status faster, never wrong.

The file is small (16 bytes per directory) and is written atomically without fsync:
losing it only costs one full comparison.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import stat as statmod
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

import msgpack

from folio._fs import read_beneath, write_beneath
from folio.paths import link_stays_inside
from folio.worktree import _walk
from folio.worktree._walk import DIGEST_SIZE, digest, digest_dirs
from folio.worktree.index import RACY_NS, StatLike

VERSION = 3  # 2: digests use marshal version 2, whose bytes depend on values alone;
# 3: a mark holds the target's byte total beside its file count
PARALLEL_FILES = 100_000  # below this a walk is quicker than starting a helper process


class Mark:
    """What a target looked like when last found clean.

    ``dirs``: relative directory -> digest of its files. ``unsettled``: directories whose
    files were changed too recently to trust their stat (the racy-clean rule): they are
    compared in full until they settle. ``stored``: every file's content is in the store
    (no hash-only entries), so a capture may skip the unchanged ones. ``files`` and
    ``size``: the target's entries and their bytes, so an update under the mark reports its
    totals without reading every shard of a big target (-1: unknown).
    """

    __slots__ = ("dirs", "files", "manifest", "size", "stored", "unsettled")

    def __init__(self, manifest: bytes, dirs: dict[str, bytes], files: int,
                 unsettled: set[str] | frozenset[str] = frozenset(), stored: bool = True,
                 size: int = -1) -> None:
        self.manifest = manifest
        self.dirs = dirs
        self.files = files
        self.unsettled = frozenset(unsettled)
        self.stored = stored
        self.size = size

    def _key(self) -> tuple[object, ...]:
        return self.manifest, self.dirs, self.files, self.unsettled, self.stored, self.size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mark) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def pending(self, now: dict[str, bytes]) -> set[str]:
        """Directories to compare in full, given the digests a walk found ``now``."""
        dirs = self.dirs
        out = {d for d in now.keys() | dirs.keys() if now.get(d) != dirs.get(d)}
        out.update(d for d in self.unsettled if d in now)
        return out


class CleanMarks:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.marks: dict[str, Mark] = {}
        self.dirty = False
        self._load()

    def _load(self) -> None:
        """Read the marks; a malformed file counts as none (a mark only saves time). The
        file is read beneath ``.folio`` without following a link (one is refused)."""
        try:
            raw = read_beneath(self.path.parent.parent, self.path)
        except FileNotFoundError:
            return
        try:
            data = msgpack.unpackb(raw, raw=False)
        except (ValueError, TypeError, RecursionError, msgpack.UnpackException):
            return
        targets = data.get("targets") if isinstance(data, dict) and \
            data.get("v") == VERSION else None
        if not isinstance(targets, dict):
            return
        for target, row in targets.items():
            mark = _mark_of(row)
            if mark is None or not isinstance(target, str):
                self.marks.clear()  # garbage somewhere: trust none of it
                return
            self.marks[target] = mark

    def get(self, target: str) -> Mark | None:
        return self.marks.get(target)

    def set(self, target: str, mark: Mark | None) -> None:
        """Record (or, with None, drop) a target's mark."""
        old = self.marks.get(target)
        if mark is None:
            if old is not None:
                del self.marks[target]
                self.dirty = True
        elif old != mark:
            self.marks[target] = mark
            self.dirty = True

    def save(self, tracked: Iterable[str]) -> None:
        """Write the marks of still-tracked targets (atomic, not fsynced)."""
        keep = set(tracked)
        for target in [t for t in self.marks if t not in keep]:
            del self.marks[target]
            self.dirty = True
        if not self.dirty:
            return
        data = msgpack.packb({"v": VERSION, "targets": {
            t: [m.manifest, m.dirs, m.files, sorted(m.unsettled), m.stored, m.size]
            for t, m in self.marks.items()}}, use_bin_type=True)
        with contextlib.suppress(OSError):
            write_beneath(self.path.parent.parent, self.path, data, durable=False)
            self.dirty = False


def _mark_of(row: object) -> Mark | None:
    """A mark from its stored form, or None if any field has the wrong shape."""
    if not isinstance(row, list | tuple) or len(row) != 6:
        return None
    fp, dirs, files, unsettled, stored, size = row
    if not (isinstance(fp, bytes) and isinstance(dirs, dict) and type(files) is int
            and isinstance(unsettled, list) and isinstance(stored, bool)
            and type(size) is int):
        return None
    if not all(isinstance(k, str) and isinstance(v, bytes) for k, v in dirs.items()) or \
            not all(isinstance(d, str) for d in unsettled):
        return None
    return Mark(fp, dirs, files, set(unsettled), stored, size)


def fingerprint(main: Path, shard_dir: Path, data: bytes | None = None) -> bytes | None:
    """The manifest's main file bytes (``data`` if already read) plus the stat of every
    shard file, hashed.

    Shards are named by their content, so the main file names the whole manifest; the shard
    stats catch a shard edited in place. None when the manifest cannot be read.
    """
    if data is None:
        try:
            data = main.read_bytes()
        except OSError:
            return None
    shards = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), \
            os.scandir(shard_dir) as it:
        for entry in it:
            st = entry.stat(follow_symlinks=False)
            shards.append((entry.name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    shards.sort()
    return hashlib.blake2b(data + marshal.dumps(shards, 2), digest_size=DIGEST_SIZE).digest()


def trust_limit() -> int:
    """Files modified at or after this instant may change again within the same clock tick
    without their stat showing it: their directories are marked unsettled."""
    return time.time_ns() - RACY_NS


class _Scanned(Protocol):
    @property
    def st(self) -> StatLike: ...


def digests_of(files: Mapping[str, _Scanned], trusted_before: int
               ) -> tuple[dict[str, bytes], set[str]] | None:
    """Per-directory digests of scanned files (keyed by path relative to the target root),
    and the directories holding a file changed at or after ``trusted_before`` (unsettled).

    None when any file is not a regular file. A scan lists each directory's files together,
    so one directory is gathered at a time: at a million files, grouping them all first
    cost more memory than the scan itself.
    """
    out: dict[str, bytes] = {}
    young = set()
    head: str | None = None
    listing: list[tuple[str, StatLike]] = []
    for rel, state in files.items():
        st = state.st
        if not statmod.S_ISREG(st.st_mode):
            return None
        at, _, name = rel.rpartition("/")
        if at != head:
            if head is not None:
                out[head] = _sorted_digest(listing)
            if at in out:  # not grouped by directory after all: group, then start again
                return digests_of(dict(sorted(files.items(), key=_directory)), trusted_before)
            head, listing = at, []
        listing.append((name, st))
        if st.st_mtime_ns >= trusted_before:
            young.add(at)
    if head is not None:
        out[head] = _sorted_digest(listing)
    return out, young


def _directory(item: tuple[str, object]) -> str:
    return item[0].rpartition("/")[0]


def _sorted_digest(listing: list[tuple[str, StatLike]]) -> bytes:
    listing.sort(key=lambda pair: pair[0])
    return digest(listing)


def build(fingerprint: bytes | None,
          found: tuple[dict[str, bytes], set[str]] | None, files: int, stored: bool,
          kept: dict[str, bytes] | None = None, kept_unsettled: Iterable[str] = (),
          size: int = -1) -> Mark | None:
    """A mark from what :func:`digests_of` ``found`` in files just seen to match the
    manifest ``fingerprint`` names; None if either is missing.

    ``kept``: digests of directories proven unchanged without being listed, which keep
    their ``kept_unsettled`` state.
    """
    if fingerprint is None or found is None:
        return None
    digests, young = found
    dirs = dict(kept or {})
    dirs.update(digests)
    return Mark(fingerprint, dirs, files, set(kept_unsettled) | young, stored, size)


def walk_digests(repo_root: Path, target: str, mark: Mark | None = None,
                 jobs: int | None = None) -> dict[str, bytes] | None:
    """Digests of a target's files as they are now, by ``stat`` alone.

    None at anything a mark cannot vouch for (a symlink, a special file, staging debris, a
    name that is not UTF-8): the caller then compares in full, which reports those
    properly. Mirrors :func:`folio.worktree.scan.scan_target`. With a ``mark`` of a big
    target, the directories it names are split over helper processes.
    """
    base = os.path.join(repo_root, target)
    try:
        top = os.lstat(base)
    except OSError:
        return None
    if not link_stays_inside(repo_root, Path(base).parent):
        return None
    if statmod.S_ISREG(top.st_mode):  # a file target
        return {"": digest([(os.path.basename(base), top)])}
    if not statmod.S_ISDIR(top.st_mode):
        return None
    workers = min(jobs or os.cpu_count() or 1, 8)
    if mark is None or mark.files < PARALLEL_FILES or workers < 2:
        return digest_dirs(base, [""], frozenset())
    return _parallel(base, mark, workers)


def _parallel(base: str, mark: Mark, workers: int) -> dict[str, bytes] | None:
    """Every directory the mark names, and each of their ancestors, split round-robin
    between this process and ``workers - 1`` helpers; a directory the mark does not know
    is walked whole by whoever finds it."""
    known = {""}
    for rel in mark.dirs:
        while rel and rel not in known:
            known.add(rel)
            rel = rel.rpartition("/")[0]
    order = sorted(known)
    frozen = frozenset(known)
    helpers: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(1, workers):
            proc = subprocess.Popen([sys.executable, "-I", "-S", _walk.__file__],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            helpers.append(proc)
            assert proc.stdin is not None
            proc.stdin.write(marshal.dumps((base, order[i::workers], frozen)))
            proc.stdin.close()
        out = digest_dirs(base, order[0::workers], frozen)
        for proc in helpers:
            assert proc.stdout is not None
            part = marshal.loads(proc.stdout.read())
            if proc.wait() != 0 or part is None:
                out = None
            elif out is not None:
                out.update(part)
        return out
    except (OSError, ValueError, EOFError, TypeError):
        return None  # no helper, or a garbled answer: the full comparison decides
    finally:
        for proc in helpers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
