"""``folio gc --remote NAME``: delete what no ref and no recent push reaches on a remote.

Roots: everything this clone's gc keeps (:func:`folio.ops.roots.gc_roots`) after the git
remote's ``refs/folio/*`` were fetched (refused if that fetch fails: a ref only the git
remote has would be invisible), plus every object a push record younger than the grace
names. Only keys whose LastModified is older than the grace go.

Order, so that every step is safe to kill and rerun: old (and false) records first (they
vouch for objects); then the repack: the live objects of each pack whose live share is
below ``repack_below`` percent (and that is older than the grace) are copied into new
packs, published (data, then index), and only then the old packs are unpublished (index
first) and deleted; then each wholly dead pack's index (which unpublishes it) and its
data, then dead loose objects and debris (a pack without index left by a killed push or
repack). Other partly live packs stay whole and are reported.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from folio.errors import RemoteError
from folio.objects.store import is_oid
from folio.ops import roots
from folio.ops.maintenance import parse_duration
from folio.ops.remotes import DEFAULT_JOBS, cache_dir, open_remote, remote_cache
from folio.remote import chunked, records
from folio.remote.base import PACK_DIR, idx_key, loose_key, pack_key
from folio.remote.catalog import Catalog, Slot, load_catalog
from folio.remote.repack import copy_live

if TYPE_CHECKING:
    from folio.workspace import Workspace

DEFAULT_REMOTE_GRACE = 7 * 86400.0  # a week: at least twice records.TRUST
DEFAULT_REPACK_BELOW = 50.0  # percent of a pack's objects live, under which it is repacked


@dataclass
class RemoteGcResult:
    remote: str
    url: str
    dry_run: bool
    grace: float
    records: list[str] = field(default_factory=list)  # record keys removed (older than grace)
    false_records: list[str] = field(default_factory=list)  # young ones naming absent objects
    loose: list[tuple[str, int]] = field(default_factory=list)  # (oid, size) removed
    packs: list[tuple[str, int]] = field(default_factory=list)  # wholly dead packs removed
    debris: list[tuple[str, int]] = field(default_factory=list)  # orphan pack parts removed
    lists: list[tuple[str, int]] = field(default_factory=list)  # chunk lists removed (key, size)
    partial: list[tuple[str, int, int, int]] = field(default_factory=list)  # id, live, all, size
    repacked: list[tuple[str, int, int, int]] = field(default_factory=list)  # as partial
    new_packs: list[tuple[str, int]] = field(default_factory=list)  # what the repack wrote
    repack_below: float = DEFAULT_REPACK_BELOW
    kept: int = 0  # live objects
    young: int = 0  # dead keys within the grace period
    young_bytes: int = 0

    @property
    def freed_bytes(self) -> int:
        repacked = sum(s for _, _, _, s in self.repacked) - sum(s for _, s in self.new_packs)
        return sum(s for _, s in self.loose + self.packs + self.debris + self.lists) + repacked

    def to_json(self) -> dict[str, Any]:
        return {"remote": self.remote, "url": self.url, "dry_run": self.dry_run,
                "grace_seconds": self.grace, "records": self.records,
                "false_records": self.false_records,
                "loose": [{"oid": o, "size": s} for o, s in self.loose],
                "packs": [{"pack": p, "size": s} for p, s in self.packs],
                "debris": [{"key": k, "size": s} for k, s in self.debris],
                "lists": [{"key": k, "size": s} for k, s in self.lists],
                "partial_packs": [{"pack": p, "live": lv, "objects": n, "size": s}
                                  for p, lv, n, s in self.partial],
                "repack_below": self.repack_below,
                "repacked": [{"pack": p, "live": lv, "objects": n, "size": s}
                             for p, lv, n, s in self.repacked],
                "new_packs": [{"pack": p, "size": s} for p, s in self.new_packs],
                "kept": self.kept, "young": self.young, "young_bytes": self.young_bytes,
                "freed_bytes": self.freed_bytes}


def remote_gc(ws: Workspace, remote: str | None, *, dry_run: bool = False,
              grace: str | float = DEFAULT_REMOTE_GRACE, git_remote: str | None = None,
              jobs: int | None = None, now: float | None = None,
              repack_below: float = DEFAULT_REPACK_BELOW) -> RemoteGcResult:
    """Sweep ``remote`` (see the module doc); ``dry_run`` lists and deletes nothing.

    ``repack_below`` (0-100; 0 never repacks): a pack with a smaller percentage of live
    objects is rewritten with only those."""
    if not 0 <= repack_below <= 100:
        raise ValueError(f"repack_below is a percentage (0-100), not {repack_below}")
    from folio.ops.transfer import sync_refs

    seconds = parse_duration(grace)
    spec, backend = open_remote(ws, remote, writing="gc --remote")
    sync = sync_refs(ws, git_remote)
    if sync is not None and sync.error is not None:
        raise RemoteError(f"remote gc needs the git remote's refs/folio/*, and fetching them "
                          f"from {sync.remote} failed: {sync.error}", path=backend.describe())
    result = RemoteGcResult(spec.name, backend.describe(), dry_run, seconds,
                            repack_below=repack_below)
    jobs = jobs or DEFAULT_JOBS
    with ws.lock.hold("folio gc --remote"):
        keep = roots.gc_roots(ws)
        listing = list(backend.list_dated())
        cutoff = (time.time() if now is None else now) - seconds
        dated = {key: (size, mtime) for key, size, mtime in listing}
        record_cache = records.RecordCache(ws.local_dir,
                                           remote_cache(ws, spec.name) / "records")
        old_records = []
        young_records: list[tuple[str, list[str]]] = []
        for key in dated:
            record = records.parse(key)
            if record is None:
                continue
            if max(record.stamp, dated[key][1]) > cutoff:
                ids = records.read(backend, key, record_cache)  # cached bodies: no GET
                keep.update(ids)
                young_records.append((key, ids))
            else:
                old_records.append(key)
        catalog = load_catalog(backend, cache_dir(ws), jobs,
                               [(k, s) for k, s, _ in listing])
        # A listed record was written after its objects were visible, so one naming an
        # absent object is false (another gc took it meanwhile): it goes, or pushes would
        # trust it and never send that object again.
        listed = chunked.listed_keys(dated)  # chunked objects are there as their lists
        result.false_records = sorted(
            key for key, ids in young_records
            if any(o not in catalog and o not in listed for o in ids))

        def old(key: str) -> bool:
            if dated[key][1] > cutoff:
                result.young += 1
                result.young_bytes += dated[key][0]
                return False
            return True

        # chunk lists: a kept one keeps its blocks; an old unreached one goes
        blocks, dead_lists, young_lists = chunked.gc_plan(ws.store, backend, catalog, keep, dated,
                                                          cutoff)
        keep |= blocks
        result.young += young_lists
        result.lists = dead_lists
        dead_packs: list[str] = []
        for pack_id, members in sorted(catalog.pack_members.items()):
            live = sum(1 for o in members if o in keep)
            result.kept += live
            size = catalog.pack_sizes[pack_id]
            if live:
                if live < len(members):
                    row = (pack_id, live, len(members), size)
                    below = live * 100 < repack_below * len(members)
                    aged = all(dated[k][1] <= cutoff for k in (pack_key(pack_id),
                                                               idx_key(pack_id)))
                    (result.repacked if below and aged else result.partial).append(row)
            elif old(pack_key(pack_id)) and old(idx_key(pack_id)):
                dead_packs.append(pack_id)
                result.packs.append((pack_id, size))
        for oid, size in sorted(catalog.loose.items()):
            if oid in keep:
                result.kept += 1
            elif old(loose_key(oid)):
                result.loose.append((oid, size))
        indexed = {key for p in catalog.pack_members for key in (pack_key(p), idx_key(p))}
        for key, (size, _) in sorted(dated.items()):
            folder, _, name = key.rpartition("/")
            stem, _, ext = name.partition(".")
            if folder != PACK_DIR or not is_oid(stem) or key in indexed:
                continue
            mate = idx_key(stem) if ext == "pack" else pack_key(stem)
            if mate in dated:
                continue  # whole but unread (damaged index, size mismatch): left for a human
            if old(key):
                result.debris.append((key, size))
        result.records = sorted(old_records)
        if not dry_run:
            _delete(backend, result.records + result.false_records, jobs)
            # a dead list before the blocks only it names: no list ever names a lost block
            _delete(backend, [k for k, _ in result.lists], jobs)
            if result.repacked:
                sparse = [p for p, _, _, _ in result.repacked]
                result.new_packs = copy_live(backend, _to_copy(catalog, sparse, keep),
                                             cache_dir=cache_dir(ws), jobs=jobs)
                # A killed earlier run may have left a new pack's data without its index:
                # listed as debris above, but the copy just published it whole again.
                published = {key for p, _ in result.new_packs
                             for key in (pack_key(p), idx_key(p))}
                result.debris = [(k, s) for k, s in result.debris if k not in published]
                _delete(backend, [idx_key(p) for p in sparse], jobs)  # every copy is visible
                _delete(backend, [pack_key(p) for p in sparse], jobs)
            _delete(backend, [idx_key(p) for p in dead_packs], jobs)
            _delete(backend, [pack_key(p) for p in dead_packs], jobs)
            _delete(backend, [loose_key(o) for o, _ in result.loose], jobs)
            _delete(backend, [k for k, _ in result.debris], jobs)
    return result


def _to_copy(catalog: Catalog, old: list[str], keep: set[str]) -> list[tuple[str, Slot]]:
    """The live objects of the packs ``old``, in pack order, that no other visible pack or
    loose key holds (so a rerun after a kill, which finds the first copies published,
    copies nothing twice)."""
    leaving = set(old)
    elsewhere = set(catalog.loose)
    for pack_id, members in catalog.pack_members.items():
        if pack_id not in leaving:
            elsewhere.update(members)
    out: dict[str, Slot] = {}
    for pack_id in old:
        for oid in catalog.pack_members[pack_id]:
            if oid in keep and oid not in elsewhere:
                out.setdefault(oid, catalog.packed[oid])  # a copy in one of the old packs
    return list(out.items())


def _delete(backend: Any, keys: list[str], jobs: int) -> None:
    """Delete ``keys`` in parallel; this step is over before the next begins."""
    if keys:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(backend.delete, keys))
