"""Walk a target's files and compare them with its manifest.

Only files whose size matches but whose stat differs from the cache are rehashed; new
files are "added" and size changes are "modified" without reading a byte.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat as statmod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from folio.errors import FolioError, PathError
from folio.hashing import parallel_map
from folio.manifest import Entry, Manifest
from folio.objects.store import ObjectStore, is_oid
from folio.paths import link_problem, link_stays_inside, validate_relpath
from folio.progress import NULL, Progress
from folio.worktree.index import StatCache, StatLike, stat_fields

# The staging name of an atomic replace (folio._fs.temp_name, ``.tmp-<name>.<16 hex>``): a
# killed checkout leaves one beside the file it was writing. Never data: status, add and
# snapshot skip it, so it can never be stored and named; checkout deletes it.
DEBRIS = re.compile(r"\.tmp-.+\.[0-9a-f]{16}\Z", re.DOTALL)
# The names whose files get a summary in ``meta`` (folio.codecs.summary.SUFFIXES, which
# decides): tested here without importing the codecs, which an add of other files never needs.
SUMMARIZED = (".parquet", ".pq", ".csv", ".tsv", ".npy", ".json")


class FileState(NamedTuple):
    """What a working file is now: its stat fields, and ``link`` for a symlink (never
    followed).

    One flat tuple per file, not a dataclass nor a tuple holding a stat tuple: scans build
    one per file, and at a million files each extra object costs tens of megabytes.
    """

    path: str  # relative to the target's root
    st_mode: int
    st_ino: int
    st_nlink: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int
    link: str | None = None
    # A symlink into the object store (``checkout --link symlink``) is that object's content:
    # ``oid`` names it, the stat fields are the object's and ``link`` stays None.
    oid: str | None = None

    @property
    def st(self) -> FileState:
        """The stat fields (the state itself)."""
        return self

    @classmethod
    def of(cls, path: str, st: StatLike, link: str | None = None,
           oid: str | None = None) -> FileState:
        return cls(path, *stat_fields(st), link, oid)


@dataclass
class TargetStatus:
    """How a target's files differ from its working manifest.

    ``out_of_date``: files that still match what the data was last made to match while git
    changed their manifest entry (a merge, a pull, a branch switch without the hooks), and
    entries whose data never arrived in this clone: ``folio checkout`` (or ``folio pull``)
    brings them, and ``add`` never records them back (docs/concepts.md, "Out of date").
    """

    target: str
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    out_of_date: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.added or self.modified or self.deleted or self.out_of_date)

    def to_json(self) -> dict[str, object]:
        return {"target": self.target, "added": self.added, "modified": self.modified,
                "deleted": self.deleted, "out_of_date": self.out_of_date}


def same_content(a: Entry, b: Entry) -> bool:
    """Two entries name the same file: link, or size, content and executable bit."""
    if a.link is not None or b.link is not None:
        return a.link == b.link
    return a.size == b.size and a.sha256 == b.sha256 and a.executable == b.executable


def scan_target(repo_root: Path, manifest: Manifest, store_root: Path | None = None,
                debris: list[str] | None = None,
                dirs: Iterable[str] | None = None) -> dict[str, FileState]:
    """Current files of a target, keyed by entry path; empty if the target is gone.

    With ``store_root``, a symlink to an object in that store is reported as the object.
    Staging files of killed writes (:data:`DEBRIS`) are left out, and listed in ``debris``.
    With ``dirs`` (relative to the target root, "" for the root), only the files directly
    in those directories are listed; one that is gone has none.
    """
    root_dir = repo_root / manifest.root if manifest.root else repo_root
    if manifest.kind == "file":
        name = manifest.target.rsplit("/", 1)[-1]
        state = _state(repo_root, root_dir / name, name, store_root)
        if debris is not None:
            debris += _debris_of(root_dir, name)
        return {name: state} if state else {}
    out: dict[str, FileState] = {}
    base = str(root_dir)
    if not os.path.isdir(base) or os.path.islink(base):
        return out
    if not link_stays_inside(repo_root, root_dir):
        raise PathError("lies under a symlink that leads outside the repository",
                        path=manifest.target)
    cut = len(base) + 1
    recursive = dirs is None
    stack = [base] if dirs is None else [os.path.join(base, d) if d else base for d in dirs]
    while stack:
        current = stack.pop()
        try:
            it = os.scandir(current)
        except (FileNotFoundError, NotADirectoryError):
            if recursive:
                raise
            continue
        with it:
            for entry in it:
                if entry.name.lower() == ".git":
                    continue  # a nested repo or submodule marker is never data
                if entry.is_dir(follow_symlinks=False):
                    if recursive:
                        stack.append(entry.path)
                    continue
                rel = entry.path[cut:]
                if entry.name.startswith(".tmp-") and DEBRIS.match(entry.name):
                    if debris is not None:
                        debris.append(rel)
                    continue
                if not (rel.isascii() and rel.isprintable()):
                    _check_utf8(rel, manifest.target)
                st = entry.stat(follow_symlinks=False)
                if statmod.S_ISREG(st.st_mode):
                    out[rel] = FileState(rel, *stat_fields(st))
                elif statmod.S_ISLNK(st.st_mode):
                    out[rel] = _link_state(repo_root, Path(entry.path), rel, st, store_root)
    return out


def _debris_of(directory: Path, name: str) -> list[str]:
    """Staging files a killed write of ``name`` left beside it in ``directory``."""
    prefix = f".tmp-{name}."
    try:
        with os.scandir(directory) as it:
            return [e.name for e in it if e.name.startswith(prefix)
                    and len(e.name) == len(prefix) + 16 and DEBRIS.match(e.name)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _state(repo_root: Path, path: Path, rel: str,
           store_root: Path | None = None) -> FileState | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if statmod.S_ISLNK(st.st_mode):
        return _link_state(repo_root, path, rel, st, store_root)
    if statmod.S_ISDIR(st.st_mode):
        raise PathError("was tracked as a file but is now a directory; "
                        "`folio untrack` it, then add the directory",
                        path=path.relative_to(repo_root).as_posix())
    if not statmod.S_ISREG(st.st_mode):
        raise PathError("is not a regular file", path=path.relative_to(repo_root).as_posix())
    if not link_stays_inside(repo_root, path.parent):
        raise PathError("lies under a symlink that leads outside the repository",
                        path=path.relative_to(repo_root).as_posix())
    return FileState.of(rel, st)


def _link_state(repo_root: Path, path: Path, rel: str, st: os.stat_result,
                store_root: Path | None = None) -> FileState:
    if store_root is not None:
        target = os.readlink(path)
        fan_dir, name = os.path.split(target)
        if (os.path.dirname(fan_dir) == os.path.abspath(store_root)
                and is_oid(os.path.basename(fan_dir) + name)):
            try:
                object_st = os.stat(path)
            except OSError:
                object_st = None  # dangling: the object is gone; report it as a link
            if object_st is not None and statmod.S_ISREG(object_st.st_mode):
                return FileState.of(rel, object_st, oid=os.path.basename(fan_dir) + name)
    link = os.readlink(path)
    where = path.relative_to(repo_root).as_posix()
    problem = link_problem(repo_root, where)
    if problem is not None:
        raise PathError(f"is a symlink that {problem} (target {link!r})", path=where)
    return FileState.of(rel, st, link=link)


def entry_for(state: FileState, sha: str | None, before: Entry | None,
              store_copy: bool) -> Entry:
    """A file's manifest entry now: its link, or its content, which keeps the type and
    metadata ``before`` had when the bytes are the same (a bundle item stays typed)."""
    if state.link is not None:
        return Entry(state.path, link=state.link)
    assert sha is not None
    same = before is not None and before.sha256 == sha
    stored = store_copy or (same and before.stored)  # type: ignore[union-attr]
    executable = is_executable(state.st)
    if same:
        assert before is not None
        return Entry(state.path, state.st.st_size, sha, before.type, stored, uri=before.uri,
                     meta=before.meta, executable=executable)
    return Entry(state.path, state.st.st_size, sha, stored=stored, executable=executable)


def wants_summary(entry: Entry, before: Entry | None) -> bool:
    """Whether ``entry`` (just made by :func:`entry_for`) should get a summary: a file of a
    summarized kind whose content is new. An unchanged file keeps its meta and is not read."""
    return (entry.sha256 is not None and entry.link is None
            and (before is None or before.sha256 != entry.sha256)
            and entry.path.lower().endswith(SUMMARIZED))


def with_summaries(base: Path, todo: list[tuple[FileState, Entry]], jobs: int | None = None
                   ) -> Iterator[Entry]:
    """The entries of ``todo`` that got a summary (docs/format.md 4.3), read in parallel
    from the files under ``base``, merged under the entry's own ``meta`` (a key it already
    has wins). A file no longer as it was hashed (another stat) gets none, as does one that
    is not what its name says: a summary never fails a record."""
    if not todo:
        return
    from folio.codecs.summary import summarize_file

    def one(item: tuple[FileState, Entry]) -> Entry | None:
        state, entry = item
        found = summarize_file(base / state.path, state.path, lambda st: (
            st.st_ino, st.st_size, st.st_mtime_ns) == (state.st_ino, state.st_size,
                                                       state.st_mtime_ns))
        if not found:
            return None
        return dataclasses.replace(entry, meta={**found, **(entry.meta or {})})

    for got in parallel_map(one, todo, jobs):
        if got is not None:
            yield got


def is_executable(st: StatLike) -> bool:
    """The one permission bit folio records, as git does."""
    return bool(st.st_mode & statmod.S_IXUSR)


def _check_utf8(rel: str, target: str) -> None:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise FolioError("file name is not valid UTF-8; rename it to track it",
                         path=f"{target}/{shown}") from None
    try:  # a control character could rewrite a terminal or a .gitignore line
        validate_relpath(rel, what="file name")
    except PathError as exc:
        raise FolioError(f"{exc.message}; rename it to track it", path=target) from None


def current_hashes(repo_root: Path, manifest: Manifest, files: dict[str, FileState],
                   cache_lookup: Callable[[str, StatLike], str | None],
                   hash_missing: Callable[[list[str]], dict[str, str]]) -> dict[str, str]:
    """sha256 of every regular file that matches its manifest entry in size.

    Cache hits cost nothing; the rest go to ``hash_missing`` in one batch.
    """
    known: dict[str, str] = {}
    todo: list[str] = []
    entries = manifest.entries
    prefix = manifest.root + "/" if manifest.root else ""
    for rel, state in files.items():
        entry = entries.get(rel)
        if state.link is not None or entry is None or entry.link is not None:
            continue
        if entry.size != state.st.st_size:
            continue
        sha = state.oid or cache_lookup(prefix + rel, state.st)
        if sha is None:
            todo.append(rel)
        else:
            known[rel] = sha
    if todo:
        known.update(hash_missing(todo))
    return known


def compare(manifest: Manifest, files: dict[str, FileState],
            hashes: dict[str, str]) -> TargetStatus:
    """Classify every path as added, modified or deleted (unchanged ones are omitted)."""
    return _classify(manifest, files, ((rel, state.link, state.st.st_size, hashes.get(rel),
                                        is_executable(state.st))
                                       for rel, state in files.items()))


def compare_entries(manifest: Manifest, entries: Mapping[str, Entry],
                    present: Mapping[str, object] | None = None) -> TargetStatus:
    """:func:`compare` against the entries a target now has, rather than its files.

    ``present``: every path the target now has, when ``entries`` holds only some of them
    (the others unchanged); by default the paths of ``entries``.
    """
    return _classify(manifest, entries if present is None else present,
                     ((rel, e.link, e.size, e.sha256, e.executable)
                      for rel, e in entries.items()))


def _classify(manifest: Manifest, present: Mapping[str, object],
              now: Iterable[tuple[str, str | None, int, str | None, bool]]) -> TargetStatus:
    """Each (path, link, size, sha256, executable) of the ``present`` paths against the
    manifest's entries."""
    status = TargetStatus(manifest.target)
    entries = manifest.entries
    added, modified = status.added, status.modified
    matched = 0
    for rel, link, size, sha, executable in now:  # one pass, no sort: only results are sorted
        entry = entries.get(rel)
        if entry is None:
            added.append(rel)
            continue
        matched += 1
        if link is not None or entry.link is not None:
            if link != entry.link:
                modified.append(rel)
        elif entry.size != size or sha != entry.sha256 or entry.executable != executable:
            modified.append(rel)
    added.sort()
    modified.sort()
    if matched != len(entries):
        status.deleted = sorted(entries.keys() - present.keys())
    return status


def put_files(store: ObjectStore, base: Path, rels: list[str], *, store_copy: bool,
              progress: Progress = NULL, jobs: int | None = None, label: str | None = None
              ) -> Iterator[tuple[str, tuple[str, int, os.stat_result]]]:
    """Hash ``base / rel`` for each of ``rels`` in parallel (and, with ``store_copy``, store
    it), yielding ``(rel, (sha256, size, stat the bytes belong to))`` in input order.

    The one loop every pipeline reads files with: add in full and under a clean mark,
    status, diff.
    """
    def one(rel: str) -> tuple[str, int, os.stat_result]:
        result = store.put_file_stat(base / rel, store_copy=store_copy)
        progress.advance()
        return result

    progress.start(label or ("Storing" if store_copy else "Hashing"), len(rels))
    try:
        yield from zip(rels, parallel_map(one, rels, jobs), strict=True)
    finally:
        progress.finish()


def rehash(store: ObjectStore, repo_root: Path, locations: list[str], cache: StatCache,
           progress: Progress = NULL, jobs: int | None = None,
           label: str = "Hashing") -> dict[str, tuple[str, int, os.stat_result]]:
    """Hash working files the stat cache cannot vouch for, in parallel, and record them.

    Returns location -> (sha256, size, stat the bytes belong to). Nothing is stored.
    """
    out: dict[str, tuple[str, int, os.stat_result]] = {}
    for loc, result in put_files(store, repo_root, locations, store_copy=False,
                                 progress=progress, jobs=jobs, label=label):
        cache.record(loc, result[2], result[0])
        out[loc] = result
    return out
