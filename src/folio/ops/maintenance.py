"""``folio gc`` and ``folio verify``: keep the store small and whole.

gc deletes an object only if no root reaches it (:func:`folio.ops.roots.gc_roots`) AND its
mtime is older than the grace period. gc holds the repository lock while it computes the
roots and deletes, so no manifest or ref of this clone changes while it decides. Objects
written before a writer takes the lock (bundle items, which are encoded lock-free) are
safe even with ``--grace 0``: the writer, holding the lock, checks that each object its new
manifest names is still stored, and stores it again if gc took it (bundle/core.py);
other writers store objects with the lock held, or (fetch, pull) objects that a manifest or
ref already names. The grace period (a re-put refreshes an object's mtime) is a second
guard. A store shared by several clones (``core.store``) has roots gc cannot see, so it is
swept only when the caller says so (``allow_shared``).

verify rehashes every object on all cores and lists the objects that the working manifests,
snapshots, runs and run logs name but the store lacks; ``repair`` fetches both kinds from a
remote (the corrupt copy is deleted only once the remote is known to hold the object).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio._fs import list_beneath, remove_beneath, walk_beneath
from folio.errors import FolioError
from folio.hashing import parallel_map
from folio.ops import roots
from folio.progress import NULL, Progress

if TYPE_CHECKING:
    from folio.objects.store import ObjectStore
    from folio.workspace import Workspace

DEFAULT_GRACE = 86400.0  # one day
TEMP_MIN_AGE = 3600.0  # staging files younger than this are never removed
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``"1d"``, ``"12h"``, ``"30m"``, ``"45s"``, ``"2w"``, ``"1h30m"`` or ``0``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return float(text)
    raw = str(text).strip().lower()
    if raw == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not raw or pos != len(raw):
        raise ValueError(f"invalid duration {text!r}: use e.g. 1d, 12h, 30m, 45s, 2w or 1h30m")
    return total


# -- gc -----------------------------------------------------------------------------------------
@dataclass
class GcResult:
    dry_run: bool
    grace: float
    removed: list[tuple[str, int]] = field(default_factory=list)  # (oid, size)
    kept: int = 0  # reachable
    kept_bytes: int = 0
    young: int = 0  # unreachable but within the grace period
    young_bytes: int = 0
    temp_files: list[tuple[str, int]] = field(default_factory=list)  # (path, size)

    @property
    def removed_bytes(self) -> int:
        return sum(size for _, size in self.removed)

    @property
    def freed_bytes(self) -> int:
        return self.removed_bytes + sum(size for _, size in self.temp_files)

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "grace_seconds": self.grace,
                "removed": [{"oid": o, "size": s} for o, s in self.removed],
                "removed_bytes": self.removed_bytes, "kept": self.kept,
                "kept_bytes": self.kept_bytes, "young": self.young,
                "young_bytes": self.young_bytes,
                "temp_files": [{"path": p, "size": s} for p, s in self.temp_files],
                "freed_bytes": self.freed_bytes}


def gc(ws: Workspace, *, dry_run: bool = False, grace: str | float = DEFAULT_GRACE,
       allow_shared: bool = False, now: float | None = None) -> GcResult:
    """Delete unreachable objects older than ``grace`` and stale staging files."""
    seconds = parse_duration(grace)
    if ws.config.store_path and not allow_shared:
        raise FolioError(
            f"the object store is shared (core.store = {ws.config.store_path}): other "
            "clones' snapshots are invisible from here, so gc would delete their data; pass "
            "--allow-shared only if every clone using it is this one or has pushed everything")
    result = GcResult(dry_run, seconds)
    store = ws.store
    with ws.lock.hold("folio gc"):
        keep = roots.gc_roots(ws)
        cutoff = (time.time() if now is None else now) - seconds
        # Chunk lists first: every list that stays keeps the blocks it names.
        keep |= _sweep_lists(store, keep, cutoff, dry_run, result)
        deleted_blocks = []
        for oid in store.iter_loose():
            path = store.path(oid)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            if _count(result, oid in keep, st, cutoff):
                if not dry_run:
                    remove_beneath(store.root, path)
                    deleted_blocks.append(oid)
                result.removed.append((oid, st.st_size))
        if deleted_blocks and store.chunks.index.path.exists():
            store.chunks.index.forget_blocks(deleted_blocks)
        # A staging file may belong to a writer at work (object writes take no lock): even
        # with --grace 0, only files untouched for an hour are debris.
        temp_cutoff = min(cutoff, (time.time() if now is None else now) - TEMP_MIN_AGE)
        for base, path, size in _stale_temp_files(ws, temp_cutoff):
            if not dry_run and not remove_beneath(base, path):
                continue
            result.temp_files.append((os.path.relpath(path, ws.root), size))
    return result


def _count(result: GcResult, reachable: bool, st: os.stat_result, cutoff: float) -> bool:
    """Count one stored file as kept or young; True if it is to go."""
    if reachable:
        result.kept += 1
        result.kept_bytes += st.st_size
    elif st.st_mtime > cutoff:
        result.young += 1
        result.young_bytes += st.st_size
    else:
        return True
    return False


def _sweep_lists(store: ObjectStore, keep: set[str], cutoff: float, dry_run: bool,
                 result: GcResult) -> set[str]:
    """Delete unreachable old chunk lists; return the blocks the others name. A list that
    cannot be read keeps nothing: `folio verify` reports its object as corrupt."""
    blocks: set[str] = set()
    for oid in store.chunks.iter_oids():
        try:
            st = os.lstat(store.chunks.list_path(oid))
        except FileNotFoundError:
            continue
        if _count(result, oid in keep, st, cutoff):
            if not dry_run:
                store.chunks.delete(oid)
            result.removed.append((oid, st.st_size))
            continue
        with contextlib.suppress(FolioError, OSError):
            blocks.update(store.chunks.parts_of(oid))
    return blocks


def _stale_temp_files(ws: Workspace, cutoff: float) -> list[tuple[Path, Path, int]]:
    """Staging leftovers of killed writers: every file in the store's staging directory
    (and its per-thread subdirectories), and ``.tmp-*`` files (atomic writes) below
    ``.folio`` and the local directories, older than ``cutoff``; as (base, path, size),
    ``path`` being reached from ``base`` through no link. Found, and then deleted, without
    following a link: a planted ``tmp -> /home/you`` must not make gc delete below it."""
    staging, folio_dir = ws.store.staging, ws.folio_dir
    candidates = [(staging.parent, path, st) for path, st in walk_beneath(staging.parent,
                                                                            staging)]
    for name in list_beneath(folio_dir, folio_dir) or ():
        if name.startswith(".tmp-"):
            with contextlib.suppress(FileNotFoundError):
                candidates.append((folio_dir, folio_dir / name, os.lstat(folio_dir / name)))
    for base, top in ((folio_dir, ws.manifests_dir), (ws.local_dir, ws.local_dir / "cache"),
                      (ws.state_dir, ws.state_dir / "cache")):
        candidates += ((base, path, st) for path, st in walk_beneath(base, top)
                       if path.name.startswith(".tmp-"))
    return sorted({(base, path, st.st_size) for base, path, st in candidates
                   if stat.S_ISREG(st.st_mode) and st.st_mtime <= cutoff})


# -- verify -------------------------------------------------------------------------------------
@dataclass
class VerifyResult:
    objects: int = 0
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # oid -> where it is named
    # Named only by snapshots or runs and not fetched here: normal after a bare `pull`,
    # which fetches the working data only. Reported, not a failure.
    not_local: dict[str, str] = field(default_factory=dict)
    not_on_remote: dict[str, str] = field(default_factory=dict)  # --remote without --repair
    repaired: list[str] = field(default_factory=list)
    unrepaired: dict[str, str] = field(default_factory=dict)  # oid -> why
    remote: str | None = None

    @property
    def ok(self) -> bool:
        broken = set(self.corrupt) | set(self.missing)
        return broken <= set(self.repaired) and not self.not_on_remote

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "objects": self.objects, "bytes": self.bytes,
                "corrupt": self.corrupt,
                "missing": [{"oid": o, "where": w} for o, w in self.missing.items()],
                "not_local": [{"oid": o, "where": w} for o, w in self.not_local.items()],
                "not_on_remote": [{"oid": o, "where": w} for o, w in self.not_on_remote.items()],
                "repaired": self.repaired, "remote": self.remote,
                "unrepaired": [{"oid": o, "reason": r} for o, r in self.unrepaired.items()]}


def verify(ws: Workspace, *, remote: str | None = None, repair: bool = False,
           jobs: int | None = None, progress: Progress = NULL) -> VerifyResult:
    """Rehash every object; list corrupt and missing ones; optionally repair from a remote."""
    store = ws.store
    result = VerifyResult()
    oids = list(store.iter_oids())
    progress.start("Verifying", len(oids), "objects")

    def check(oid: str) -> tuple[str, bool, int]:
        try:
            size = store.size(oid)
        except FileNotFoundError:  # deleted meanwhile (a concurrent gc): not corruption
            progress.advance()
            return oid, True, 0
        ok = store.verify(oid)
        progress.advance()
        return oid, ok, size

    try:
        for oid, ok, size in parallel_map(check, oids, jobs):
            result.objects += 1
            result.bytes += size
            if not ok:
                result.corrupt.append(oid)
    finally:
        progress.finish()
    named = roots.named_objects(ws)
    working = roots.named_objects(ws, refs=False)
    absent = {o: w for o, w in named.items() if not store.has(o)}
    result.missing = {o: w for o, w in absent.items() if o in working}
    result.not_local = {o: w for o, w in absent.items() if o not in working}
    if result.corrupt or result.missing:
        # add trusts the marks that unchanged files' objects are stored: not any more
        ws.forget_marks()
    if repair and (result.corrupt or result.missing):
        _repair(ws, result, remote, jobs, progress)
    elif remote is not None and not repair:
        _check_remote(ws, result, named, remote)
    return result


def _check_remote(ws: Workspace, result: VerifyResult, named: dict[str, str], remote: str) -> None:
    from folio.ops.remotes import cache_dir, open_remote
    from folio.remote import remote_has

    spec, backend = open_remote(ws, remote)
    result.remote = spec.name
    there = remote_has(backend, named, cache_dir=cache_dir(ws))
    result.not_on_remote = {o: w for o, w in named.items() if o not in there}


def _repair(ws: Workspace, result: VerifyResult, remote: str | None, jobs: int | None,
            progress: Progress) -> None:
    """Fetch corrupt and missing objects: one batched pull, then one by one if that fails."""
    from folio.bounded import expected_sizes
    from folio.ops.remotes import DEFAULT_JOBS, cache_dir, open_remote
    from folio.remote import fetch_object, pull, remote_has

    spec, backend = open_remote(ws, remote)
    result.remote = spec.name
    store, cache = ws.store, cache_dir(ws)
    sizes = expected_sizes(ws.manifests().values())  # bounds the downloads (docs/remotes.md)
    broken = [*result.corrupt, *(o for o in result.missing if o not in result.corrupt)]
    there = remote_has(backend, broken, cache_dir=cache)
    for oid in broken:
        if oid not in there:
            result.unrepaired[oid] = f"not on remote {spec.name}"
    todo = [o for o in broken if o in there]
    for oid in result.corrupt:
        if oid in there:
            store.delete(oid)  # the remote holds it: the bad copy can go
    try:
        pull(store, backend, todo, jobs=jobs or DEFAULT_JOBS, progress=progress,
             cache_dir=cache, sizes=sizes)
    except FolioError:
        for oid in todo:  # find out which ones fail, and why
            if store.has(oid) and store.verify(oid):
                continue
            try:
                fetch_object(backend, oid, store, cache_dir=cache, size=sizes.get(oid))
            except FolioError as exc:
                result.unrepaired[oid] = str(exc)
    result.repaired = [o for o in todo if o not in result.unrepaired]
