"""The recovery log: content that a forced checkout overwrote or deleted, kept forever.

``.git/folio/logs/recovery.jsonl`` is local (below the git dir, where no commit writes), one JSON
object per line: ``{"time", "path", "sha256", "size", "reason"}``. The content itself is an ordinary
object in the store. Its line is appended just before it is put (and synced), and the working file
is touched only after both: content stored but named by no line would be gc's to delete. A checkout
killed in between leaves a line naming content not stored, whose file it never touched; running it
again logs and stores that content anew. gc treats every sha256 listed here as a root
(:func:`oids`). A line cut short by a crash is skipped on reading and the next append starts on a
fresh line.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio._fs import open_beneath, read_beneath, write_all
from folio.errors import FolioError, PathError, UnsavedChangesError
from folio.objects.store import is_oid
from folio.paths import check_no_symlinked_parent, repo_relative

if TYPE_CHECKING:
    from folio.workspace import Workspace

LOG_RELPATH = "logs/recovery.jsonl"


@dataclass(frozen=True)
class RecoveryRecord:
    """One saved file: where it was, what it held, when and why it was saved."""

    time: str  # ISO 8601, local time with offset
    path: str  # repo-relative location of the working file
    sha256: str
    size: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "path": self.path, "sha256": self.sha256,
                "size": self.size, "reason": self.reason}


def log_path(folio_dir: Path) -> Path:
    return folio_dir / LOG_RELPATH


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def append(folio_dir: Path, records: Iterable[RecoveryRecord]) -> None:
    """Append records durably (fsync): the content they name is already synced in the store."""
    lines = b"".join(json.dumps(r.to_json(), ensure_ascii=False).encode("utf-8") + b"\n"
                     for r in records)
    if not lines:
        return
    fd = open_beneath(folio_dir, log_path(folio_dir), os.O_RDWR | os.O_CREAT | os.O_APPEND,
                      create_dirs=True)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            lines = b"\n" + lines  # a previous append was cut short: start a fresh line
        write_all(fd, lines)
        os.fsync(fd)
    finally:
        os.close(fd)


def read(folio_dir: Path) -> list[RecoveryRecord]:
    """Every well-formed record, oldest first; a damaged line is skipped, never fatal.

    The log is never followed through a link (it is appended to by checkouts, and read as
    gc roots): one under ``.folio/`` is an :class:`~folio.errors.UnsafeLinkError`.
    """
    try:
        data = read_beneath(folio_dir, log_path(folio_dir))
    except FileNotFoundError:
        return []
    out = []
    for raw in data.split(b"\n"):
        record = _record(raw)
        if record is not None:
            out.append(record)
    return out


def _record(raw: bytes) -> RecoveryRecord | None:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not is_oid(obj.get("sha256")):
        return None
    path, size = obj.get("path"), obj.get("size")
    if not isinstance(path, str) or not isinstance(size, int):
        return None
    return RecoveryRecord(str(obj.get("time", "")), path, obj["sha256"], size,
                          str(obj.get("reason", "")))


def oids(folio_dir: Path) -> Iterator[str]:
    """Every object the recovery log names, each once: gc roots."""
    seen: set[str] = set()
    for record in read(folio_dir):
        if record.sha256 not in seen:
            seen.add(record.sha256)
            yield record.sha256


def find(records: list[RecoveryRecord], path: str, sha: str | None = None) -> RecoveryRecord:
    """The newest record for ``path`` (whose sha256 starts with ``sha``, if given)."""
    matches = [r for r in records if r.path == path and (sha is None or
                                                           r.sha256.startswith(sha.lower()))]
    if not matches:
        what = f" with sha256 {sha}…" if sha else ""
        raise FolioError(f"no saved content{what} in the recovery log; "
                         "`folio recover` lists what was saved", path=path)
    return matches[-1]


@dataclass(frozen=True)
class Restored:
    """What ``folio recover PATH`` did."""

    record: RecoveryRecord
    dest: Path
    unchanged: bool  # the destination already held exactly these bytes


def recover(ws: Workspace, path: str | os.PathLike[str], *,
            to: str | os.PathLike[str] | None = None, sha: str | None = None,
            cwd: Path | None = None) -> Restored:
    """Restore the newest saved content of ``path`` (or the one whose sha starts ``sha``),
    both given as a user would, relative to ``cwd``."""
    cwd = cwd or Path.cwd()
    rel = repo_relative(ws.root, path, cwd)
    dest = None if to is None else Path(os.path.normpath(os.path.join(cwd, to)))
    return restore(ws, rel, dest, sha)


def restore(ws: Workspace, path: str, to: Path | None = None, sha: str | None = None) -> Restored:
    """Copy saved content back to its path (or to ``to``), never losing what is there now.

    An existing destination is replaced only if its content is in the store already;
    otherwise this refuses, as checkout does, and the file stays.
    """
    from folio.worktree.materialize import LinkMode, materialize

    record = find(read(ws.local_dir), path, sha)
    if to is None:
        dest = ws.root / record.path
        check_no_symlinked_parent(ws.root, record.path)
    else:
        dest = to / record.path.rsplit("/", 1)[-1] if to.is_dir() and not to.is_symlink() \
            else to
    with ws.lock.hold():
        if not ws.store.has(record.sha256):
            raise ws.store.missing([record.sha256], record.path)
        try:
            st = os.lstat(dest)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise PathError("is a directory; restore elsewhere with --to DEST", path=dest)
        if st is not None and stat.S_ISREG(st.st_mode):
            now, _, _ = ws.store.put_file_stat(dest, store_copy=False)
            if now == record.sha256:
                return Restored(record, dest, True)
            if not ws.store.has(now):
                raise UnsavedChangesError(f"{dest}: has unsaved changes; move it away or "
                                          "restore elsewhere with --to DEST", paths=[str(dest)])
        materialize(ws.store, record.sha256, dest, LinkMode.COPY)
    return Restored(record, dest, False)
