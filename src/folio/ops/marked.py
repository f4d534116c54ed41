"""Status and record directory by directory, under a clean mark: the shortcut of ops.track.

While a target's clean mark (:mod:`folio.worktree.marks`) still matches its manifest, a walk
by ``lstat`` tells which directories differ from it. Only those are listed, hashed and
compared, and only the manifest shards that hold them are read and rewritten. At a million
files this turns a status after one edit, or a snapshot of it, from half a minute into about
two seconds. Whenever the shortcut does not apply (no mark, another manifest, too much to
look at) these functions return None and the caller compares in full.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from folio import manifest as mf
from folio.errors import ShardMissingError
from folio.manifest import Entry, Manifest, ShardedManifest
from folio.progress import NULL, Progress
from folio.worktree import marks
from folio.worktree.index import StatCache, StatLike
from folio.worktree.marks import Mark
from folio.worktree.scan import (
    FileState,
    TargetStatus,
    compare,
    compare_entries,
    entry_for,
    put_files,
    scan_target,
    wants_summary,
    with_summaries,
)

if TYPE_CHECKING:
    from folio.workspace import Workspace

# More than this to compare and the full comparison, with its stat cache, is the better way.
MAX_FILES = 20_000
MAX_BYTES = 256 << 20
# Loading the stat cache costs about as much per row as hashing a small file costs /
# CACHE_RATIO: below that share of files to read, hashing them is quicker.
CACHE_RATIO = 25


@dataclass
class Look:
    """A target seen through its mark: the manifest as read, and what differs."""

    target: str
    mark: Mark
    main: bytes  # the main manifest file, as fingerprinted
    view: ShardedManifest | None  # None: an unsharded manifest (small), parsed whole
    manifest: Manifest | None
    now: dict[str, bytes]  # directory digests as walked
    pending: set[str]  # directories to compare in full

    @property
    def kind(self) -> str:
        return self.manifest.kind if self.manifest is not None else "dir"


def look(ws: Workspace, target: str, mark: Mark | None) -> Look | None:
    """Walk a target against its mark; None when the mark does not apply."""
    if mark is None:
        return None
    path = ws.manifest_path(target)
    try:
        main = path.read_bytes()
    except OSError:
        return None
    if ws.manifest_fingerprint(target, main) != mark.manifest:
        return None
    now = marks.walk_digests(ws.root, target, mark)
    if now is None:
        return None
    pending = mark.pending(now)
    source = ws.display(path)

    def read_shard(rel: str) -> bytes:
        return (ws.manifests_dir / rel).read_bytes()

    view = ShardedManifest.read(main, source, read_shard, target)
    manifest = None if view is not None or not pending else \
        mf.parse(main, source, read_shard, target)
    if view is not None and "" in pending:
        return None  # files at the root of a sharded target: every shard would be read
    return Look(target, mark, main, view, manifest, now, pending)


def _old_entries(seen: Look) -> dict[str, Entry]:
    """The manifest's entries for the files directly in the pending directories."""
    pending = seen.pending
    if seen.view is not None:
        found = seen.view.entries_under([d + "/" for d in pending])
    else:
        assert seen.manifest is not None
        found = seen.manifest.entries
    return {p: e for p, e in found.items() if p.rpartition("/")[0] in pending}


class LazyCache:
    """The stat cache, loaded on first use: at a million rows loading it costs more than
    hashing a few directories of small files, at a few thousand much less."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws
        self.loaded: StatCache | None = None

    def get(self) -> StatCache:
        if self.loaded is None:
            self.loaded = self._ws.stat_cache()
        return self.loaded


class _Pending(NamedTuple):
    """The pending directories as scanned: their files (less those proven unchanged), their
    digests, and the hashes the stat cache vouched for."""

    files: dict[str, FileState]
    found: tuple[dict[str, bytes], set[str]] | None  # None: something a mark cannot hold
    known: dict[str, str]


def _scan_pending(ws: Workspace, seen: Look, old: dict[str, Entry], cache: LazyCache,
                  store_copy: bool, trusted_before: int) -> _Pending:
    """List the pending directories one at a time and take their digests.

    When they hold many files for the size of the target (a change spread over most
    directories), the stat cache is consulted as each directory is listed: a file it
    proves unchanged (its entry would stay as it is) is dropped at once from the scan and
    from ``old``. After a change spread over a million files those are nearly all of them,
    and holding them all first cost more than a gigabyte.
    """
    shell = Manifest(seen.target, seen.kind)
    stat_cache = cache.get() if len(old) * CACHE_RATIO > seen.mark.files else None
    files: dict[str, FileState] = {}
    found: tuple[dict[str, bytes], set[str]] | None = ({}, set())
    known: dict[str, str] = {}
    groups: list[list[str] | None] = (
        [None] if seen.kind == "file" else [[d] for d in sorted(seen.pending)])
    for dirs in groups:
        part = scan_target(ws.root, shell, ws.store.root, dirs=dirs)
        digests = marks.digests_of(part, trusted_before)
        if digests is None or found is None:
            found = None
        else:
            found[0].update(digests[0])
            found[1].update(digests[1])
        if stat_cache is not None:
            for rel, state in list(part.items()):
                if state.link is not None or state.oid is not None:
                    continue
                sha = stat_cache.lookup(shell.location(rel), state)
                if sha is None or (store_copy and not ws.store.has(sha)):
                    continue
                before = old.get(rel)
                if before is not None and entry_for(state, sha, before, store_copy) == before:
                    del part[rel], old[rel]
                else:
                    known[rel] = sha
        files.update(part)
    return _Pending(files, found, known)


def _within_limits(files: dict[str, FileState], todo: list[str]) -> bool:
    """Few enough files and bytes left to read for this shortcut to pay."""
    return len(todo) <= MAX_FILES and sum(files[r].st_size for r in todo) <= MAX_BYTES


def _record(cache: LazyCache, seen: Look, hashed: dict[str, tuple[str, StatLike]]) -> None:
    if cache.loaded is not None:
        shell = Manifest(seen.target, seen.kind)
        for rel, (sha, st) in hashed.items():
            cache.loaded.record(shell.location(rel), st, sha)


def status(ws: Workspace, seen: Look, cache: LazyCache, jobs: int | None = None
           ) -> tuple[TargetStatus, Mark | None] | None:
    """The target's status from its pending directories alone (the rest is proven clean),
    and the mark to keep: renewed when the pending directories turn out clean."""
    if not seen.pending:
        return TargetStatus(seen.target), seen.mark
    trusted_before = marks.trust_limit()
    try:
        old = _old_entries(seen)
    except ShardMissingError:
        # A writer replaced the manifest since look() read its main file, so the mark no
        # longer applies: the full comparison reads it again from the top (read_lockfree).
        return None
    files, found, hashes = _scan_pending(ws, seen, old, cache, False, trusted_before)
    todo = [rel for rel, state in files.items()
            if state.link is None and state.oid is None and rel in old and rel not in hashes
            and old[rel].link is None and old[rel].size == state.st_size]
    if not _within_limits(files, todo):
        return None
    sub = Manifest(seen.target, seen.kind, old)
    root = ws.root / sub.root if sub.root else ws.root
    hashes.update((rel, state.oid) for rel, state in files.items() if state.oid is not None)
    hashed: dict[str, tuple[str, StatLike]] = {
        rel: (sha, st) for rel, (sha, _, st) in put_files(ws.store, root, todo,
                                                            store_copy=False, jobs=jobs)}
    _record(cache, seen, hashed)
    hashes.update((rel, sha) for rel, (sha, _) in hashed.items())
    result = compare(sub, files, hashes)
    if not result.clean:
        return result, seen.mark
    fingerprint = ws.manifest_fingerprint(seen.target)
    if fingerprint != seen.mark.manifest:
        return result, seen.mark  # the manifest moved under us: leave the mark to the next look
    return result, remark(seen, found, fingerprint, seen.mark.files, seen.mark.stored,
                          seen.mark.size)


def remark(seen: Look, found: tuple[dict[str, bytes], set[str]] | None,
           fingerprint: bytes | None, files_total: int, stored: bool,
           bytes_total: int) -> Mark | None:
    """The target's mark once its pending directories, whose digests the scan ``found``,
    match the manifest that ``fingerprint`` names.

    The digests are taken from the scan, before any file is read: a file that changed
    since has a newer ctime, so the next look finds its directory pending, never clean.
    """
    kept = {d: v for d, v in seen.now.items() if d not in seen.pending}
    return marks.build(fingerprint, found, files_total, stored, kept,
                       seen.mark.unsettled - seen.pending, size=bytes_total)


class Recorded(NamedTuple):
    """What :func:`record` did to a target: its totals, how many files it read, whether
    the manifest changed, and the entries added, modified and deleted."""

    files: int
    bytes: int
    hashed: int
    changed: bool
    manifest: str  # the main manifest file, as messages show it
    status: TargetStatus


def record(ws: Workspace, seen: Look, store_copy: bool, cache: LazyCache,
           progress: Progress = NULL, jobs: int | None = None
           ) -> tuple[Recorded, Mark | None] | None:
    """Bring one target's manifest up to date from its pending directories (lock held).

    Returns what was done and the target's new mark, or None to have the caller record it
    in full (too much changed, or the store must take content the mark says it lacks).
    """
    if store_copy and not seen.mark.stored:
        return None  # hash-only entries to fill in: only a full record finds them all
    trusted_before = marks.trust_limit()
    display = ws.display(ws.manifest_path(seen.target))
    if not seen.pending:
        files_total, bytes_total = _totals(ws, seen, seen.main, {}, {})
        return Recorded(files_total, bytes_total, 0, False, display,
                        TargetStatus(seen.target)), seen.mark
    old = _old_entries(seen)
    files, found, hashes = _scan_pending(ws, seen, old, cache, store_copy, trusted_before)
    todo = [rel for rel, state in files.items()
            if state.link is None and state.oid is None and rel not in hashes]
    if not _within_limits(files, todo):
        return None
    shell = Manifest(seen.target, seen.kind)
    root = ws.root / shell.root if shell.root else ws.root
    hashed: dict[str, tuple[str, StatLike]] = {}
    for rel, (oid, _, st) in put_files(ws.store, root, todo, store_copy=store_copy,
                                       progress=progress, jobs=jobs):
        hashes[rel] = oid
        files[rel] = FileState.of(rel, st)
        hashed[rel] = (oid, files[rel].st)
    _record(cache, seen, hashed)
    ws.store.sync()  # durable before the manifest names the objects
    changes: dict[str, Entry | None] = {}
    summaries = ws.config.summaries
    summarize: list[tuple[FileState, Entry]] = []  # new content of the summarized kinds
    for rel, state in files.items():  # an entry kept only where it changed: after a change
        before = old.get(rel)  # spread over every directory, that is not a million of them
        entry = entry_for(state, hashes.get(rel) or state.oid, before, store_copy)
        if entry != before:
            changes[rel] = entry
            if summaries and wants_summary(entry, before):
                summarize.append((state, entry))
    changes.update((e.path, e) for e in with_summaries(root, summarize, jobs))
    deleted = [p for p in old if p not in files]
    changes.update((p, None) for p in deleted)
    if deleted:  # a deleted file's row goes with its entry, as in a full record
        rows = cache.get()
        for rel in deleted:
            rows.forget(shell.location(rel))
    main = seen.main
    if changes:
        main = _write(ws, seen, changes)
    changed = {p: e for p, e in changes.items() if e is not None}
    status = compare_entries(Manifest(seen.target, seen.kind, old), changed, present=files)
    files_total, bytes_total = _totals(ws, seen, main, old, changes)
    result = Recorded(files_total, bytes_total, len(todo), bool(changes), display, status)
    # the unchanged entries are the marked manifest's, all stored if it was
    stored = seen.mark.stored and mf.all_stored(changed.values())
    try:  # only the manifest just written gets a mark
        written = ws.manifest_path(seen.target).read_bytes()
    except OSError:
        written = None
    fingerprint = ws.manifest_fingerprint(seen.target, main) if written == main else None
    return result, remark(seen, found, fingerprint, files_total, stored, bytes_total)


def _totals(ws: Workspace, seen: Look, main: bytes, old: dict[str, Entry],
            changes: dict[str, Entry | None]) -> tuple[int, int]:
    """The target's files and bytes after ``changes`` to the ``old`` entries: the mark's
    totals moved by the changes, without reading a shard; read from the manifest when the
    mark does not know its bytes."""
    if seen.mark.size < 0:
        return mf.totals(main, ws.display(ws.manifest_path(seen.target)), seen.target,
                         ws.read_manifest_file)
    files, size = seen.mark.files, seen.mark.size
    for rel, entry in changes.items():
        before = old.get(rel)
        files += (entry is not None) - (before is not None)
        size += (entry.size if entry is not None else 0) - \
            (before.size if before is not None else 0)
    return files, size


def _write(ws: Workspace, seen: Look, changes: dict[str, Entry | None]) -> bytes:
    """Write the manifest with ``changes`` applied; returns the new main file."""
    files: Iterable[tuple[str, bytes]]
    if seen.view is not None:
        files = seen.view.updated_files(changes)  # shard by shard, main file last
    else:
        assert seen.manifest is not None
        manifest = seen.manifest
        for path, entry in changes.items():
            if entry is None:
                manifest.entries.pop(path, None)
            else:
                manifest.entries[path] = entry
        files = mf.dump_files(manifest)
    return ws.write_manifest_files(seen.target, files, synced=True, before=seen.main)[1]
