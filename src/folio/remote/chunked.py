"""Chunked objects on remotes (remote layout 2, docs/format.md "Remote chunk lists").

A chunked object travels as its chunk list, at ``lists/<ab>/<rest>``, and its segments and
blocks, which are ordinary objects (loose or in packs, as the plan puts them). Push sends
only the segments and blocks the remote lacks and the list last, after them, so a list is
never visible before what it names. Pull fetches the list, then the segments it lacks,
reuses every chunk the local chunk index knows, and
reads only the other chunks, by byte ranges of the remote's blocks; each chunk is checked
against its sha256 and the whole file against its id before the local list is written.

The hooks in remote/transfer.py are :func:`plan_push` / :func:`push_lists` and
:func:`pull_chunked`; a remote without ``lists/`` (layout 1) costs one empty listing.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from folio.errors import CorruptObjectError, MissingObjectError, OversizeError
from folio.hashing import update_all
from folio.objects.chunklist import SEGMENT_MAX, Chunk, ChunkList, TopList, parse
from folio.objects.chunks import MIN_CHUNK, MIN_THRESHOLD, BlockReader
from folio.objects.store import ObjectStore, is_oid
from folio.remote.base import LIST_PAGE_COST, Backend, loose_key, pack_key
from folio.remote.catalog import Catalog, read_all, read_packed

LISTS_DIR = "lists"
RUN_MAX = 16 << 20  # bytes per range request (a run of adjacent missing chunks)


def list_key(oid: str) -> str:
    return f"{LISTS_DIR}/{oid[:2]}/{oid[2:]}"


def remote_lists(backend: Backend) -> dict[str, int]:
    """file oid -> list size, for every chunk list on the remote (one listing)."""
    return listed_keys(backend.list(LISTS_DIR))


def listed_keys(listing: Iterable[tuple[str, int]] | Mapping[str, tuple[int, float]]
                ) -> dict[str, int]:
    """file oid -> list size, from a listing of ``(key, size)`` or ``key -> (size, mtime)``."""
    pairs = ((k, v[0]) for k, v in listing.items()) if isinstance(listing, Mapping) \
        else listing
    found: dict[str, int] = {}
    for key, size in pairs:
        oid = list_oid(key)
        if oid is not None:
            found[oid] = size
    return found


def list_oid(key: str) -> str | None:
    """The file id a ``lists/ab/<rest>`` key names, or None for any other key."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == LISTS_DIR and is_oid(parts[1] + parts[2]):
        return parts[1] + parts[2]
    return None


def listed(backend: Backend, oids: Iterable[str]) -> set[str]:
    """Which of ``oids`` the remote holds as chunk lists: a HEAD each for up to a LIST
    page's worth of them, one listing of ``lists/`` for more (a remote's lists grow with
    every chunked file ever pushed; a push of one new version of one big file should not
    read them all)."""
    wanted = list(dict.fromkeys(oids))
    if len(wanted) <= LIST_PAGE_COST:
        return {o for o in wanted if backend.head(list_key(o)) is not None}
    there = remote_lists(backend)
    return {o for o in wanted if o in there}


def gc_plan(store: ObjectStore, backend: Backend, catalog: Catalog, keep: set[str],
            dated: dict[str, tuple[int, float]], cutoff: float
            ) -> tuple[set[str], list[tuple[str, int]], int]:
    """For remote gc: (segments and blocks that kept lists name, list keys to delete, young
    lists). A
    list stays if its object is kept or it is younger than ``cutoff``; a list that cannot
    be read keeps nothing (it is not deleted either: left for a human)."""
    blocks: set[str] = set()
    dead: list[tuple[str, int]] = []
    young = 0
    for key, (size, mtime) in sorted(dated.items()):
        oid = list_oid(key)
        if oid is None:
            continue
        if oid not in keep and mtime <= cutoff:
            dead.append((key, size))
            continue
        young += oid not in keep
        try:
            if store.chunks.has(oid):
                blocks.update(store.chunks.parts_of(oid))
            else:
                found, _ = remote_list(store, backend, catalog, oid,
                                       read_all(backend, key, size + 1),
                                       f"{backend.describe()}/{key}")
                blocks.update(found.segments + found.blocks)
        except (CorruptObjectError, MissingObjectError, OSError):
            continue
    return blocks, dead, young


def remote_list(store: ObjectStore, backend: Backend, catalog: Catalog, oid: str,
                data: bytes, where: str) -> tuple[ChunkList, int]:
    """The whole list from a remote list's bytes, and the segment bytes fetched for it: a
    segment the local store holds is read here, the others from the remote (loose or in a
    pack), each checked against its id."""
    top = parse(data, oid, where)
    if not isinstance(top, TopList):
        return top, 0
    pieces = []
    fetched = 0
    for sid in top.segments:
        try:
            pieces.append(store.chunks.read_segment(sid, oid, where))
            continue
        except MissingObjectError:
            pass
        piece = _fetch_segment(backend, catalog, sid, where)
        fetched += len(piece)
        pieces.append(piece)
    try:
        return top.assemble(pieces, where), fetched
    except CorruptObjectError:
        if not fetched and len(pieces) == len(top.segments):
            # a damaged local copy: read every segment from the remote instead
            fresh = [_fetch_segment(backend, catalog, s, where) for s in top.segments]
            return top.assemble(fresh, where), sum(len(p) for p in fresh)
        raise


def _fetch_segment(backend: Backend, catalog: Catalog, sid: str, where: str) -> bytes:
    slot = catalog.packed.get(sid)
    if slot is not None:
        return read_packed(backend.get_range, sid, slot, backend.describe())
    try:
        return read_all(backend, loose_key(sid), _SEGMENT_LIMIT)
    except MissingObjectError:
        raise MissingObjectError(f"segment {sid[:12]} named by a chunk list is not on "
                                 f"remote {backend.describe()}", path=where,
                                 oids=[sid]) from None


_SEGMENT_LIMIT = 64 + SEGMENT_MAX * (32 + ChunkList.CHUNK_SIZE)


def list_limit(size: int) -> int:
    """The most bytes a sound list of a ``size``-byte file can have (bounds the download)."""
    most_chunks = size // MIN_CHUNK + 2
    return ChunkList.HEAD_SIZE + most_chunks * (32 + ChunkList.CHUNK_SIZE) + 32


# -- push -----------------------------------------------------------------------------------------
@dataclass
class PushPlan:
    oids: list[str]  # what the ordinary push sends: other objects, and the blocks needed
    lists: list[str]  # chunked objects whose list goes once those are sent
    chunked: frozenset[str] = frozenset()  # every chunked object asked for (sent or not)
    skipped: int = 0
    skipped_bytes: int = 0


def plan_push(store: ObjectStore, backend: Backend, wanted: list[str]) -> PushPlan:
    """Replace each chunked object the remote lacks (it has no list of it) by its blocks;
    the push then skips the blocks the remote already holds, as any other object."""
    chunked = [o for o in wanted if store.chunks.has(o)]
    if not chunked:
        return PushPlan(wanted, [])
    there = listed(backend, chunked)
    held = frozenset(chunked)
    plan = PushPlan([o for o in wanted if o not in held], [], held)
    for oid in chunked:
        if oid in there:
            plan.skipped += 1
            plan.skipped_bytes += store.size(oid)
            continue
        # (held whole there, by an older folio: the list still goes, so clones share chunks)
        plan.lists.append(oid)
        plan.oids += store.chunks.parts_of(oid)
    plan.oids = list(dict.fromkeys(plan.oids))
    return plan


def push_lists(store: ObjectStore, backend: Backend, oids: Iterable[str]) -> tuple[int, int]:
    """Upload each list (after its blocks); returns (lists, bytes)."""
    count = sent = 0
    for oid in oids:
        data = store.chunks.list_path(oid).read_bytes()
        parse(data, oid, str(store.chunks.list_path(oid)))  # never send a bad one
        backend.put_bytes(list_key(oid), data)
        count += 1
        sent += len(data)
    return count, sent


# -- pull -----------------------------------------------------------------------------------------
@dataclass
class PullStats:
    objects: int = 0
    fetched_bytes: int = 0  # list and chunk bytes that came over the wire
    reused_bytes: int = 0  # chunk bytes found in the local store
    requests: int = 0


@dataclass
class Listed:
    """A chunk list read from the remote, checked, waiting for its chunks."""

    list: ChunkList
    where: str
    list_bytes: int


def plan_pull(store: ObjectStore, backend: Backend, need: list[str], catalog: Catalog,
              sizes: Mapping[str, int]) -> list[Listed]:
    """The chunk lists (read and size-checked before any chunk moves) of the objects of
    ``need`` that the remote holds as lists, even if it holds them whole too. ``catalog``
    holds the remote's packs (loose objects are not listed)."""
    # Only an object of at least MIN_THRESHOLD can have a list: smaller ones (most of a
    # pull of many files) cost no request. With every size known (the manifests give
    # them), each candidate's list is read by its key (a chunked object needs that GET
    # anyway; one held whole costs a 404), so lists/ is never listed; else it is.
    maybe = [o for o in need if (size := _known_size(catalog, sizes, o)) is None
             or size >= MIN_THRESHOLD]
    direct = all(o in sizes for o in maybe)
    there: Mapping[str, int] = (dict.fromkeys(maybe, 0) if direct
                                else remote_lists(backend) if maybe else {})
    found = []
    for oid in maybe:
        if oid not in there:
            continue
        where = f"{backend.describe()}/{list_key(oid)}"
        expected = sizes.get(oid)
        try:
            data = read_all(backend, list_key(oid),
                            list_limit(expected) if expected is not None else there[oid])
        except MissingObjectError:
            if direct:
                continue  # not held as a list: whole, or not at all
            raise
        remote, segment_bytes = remote_list(store, backend, catalog, oid, data, where)
        if expected is not None and remote.size != expected:
            message = (f"object {oid} on remote {backend.describe()} is {remote.size} bytes "
                       f"but its manifest entry says {expected}; it was not fetched")
            raise (OversizeError(message, path=where) if remote.size > expected
                   else CorruptObjectError(message, path=where, expected=oid))
        found.append(Listed(remote, where, len(data) + segment_bytes))
    return found


def _known_size(catalog: Catalog, sizes: Mapping[str, int], oid: str) -> int | None:
    if oid in sizes:
        return sizes[oid]
    slot = catalog.packed.get(oid)
    return catalog.loose.get(oid, slot.length if slot is not None else None)


def pull_one(store: ObjectStore, backend: Backend, listed: Listed, catalog: Catalog,
             tick: Callable[[int], None]) -> PullStats:
    """Reassemble one object from local chunks and ranges of the remote's blocks; its list
    is written only once the whole file hashed to its id. ``tick(n)``: n more bytes of the
    file are done (fetched or found here); it raises to cancel."""
    remote, where = listed.list, listed.where
    oid = remote.oid
    stats = PullStats(requests=1, fetched_bytes=listed.list_bytes)
    local = store.chunks.usable(c.digest for c in remote.chunks)
    whole = hashlib.sha256()
    builder = store.chunks.builder()
    blocks = store.chunks.blocks()
    try:
        # the whole file's sha256 runs on its own thread, in order, beside the reads and
        # the per-chunk checks (at most two runs behind, so memory stays a few runs)
        with ThreadPoolExecutor(1, thread_name_prefix="folio-sha") as hasher:
            hashing: deque[Future[None]] = deque()
            for run in _runs(remote, local):
                tick(0)
                bad: set[str] = set()
                pieces = list(_read_run(backend, catalog, remote, run, local, blocks, stats,
                                        where, bad))
                for block in bad:  # what it held was fetched: store that, not references
                    builder.distrust(block)
                hashing.append(hasher.submit(update_all, whole, [v for _, v in pieces]))
                while len(hashing) > 2:
                    hashing.popleft().result()
                builder.add_all(pieces)
                tick(sum(len(view) for _, view in pieces))
            while hashing:
                hashing.popleft().result()
        got = whole.hexdigest()
        if got != oid:
            raise CorruptObjectError(
                f"object {oid} on remote {backend.describe()} is corrupt (its chunks "
                f"reassemble to {got[:12]}); it was not stored", path=where, expected=oid,
                got=got)
        store.chunks.write_list(builder.finish(oid, remote.size))
    except BaseException:
        builder.abort()
        raise
    finally:
        blocks.close()
    stats.objects = 1
    return stats


@dataclass
class _Run:
    """Adjacent chunks read together (at most RUN_MAX bytes): from one remote block with
    one request, or from the local store."""

    local: bool
    block: str  # the remote block (unused for local runs)
    first: int  # chunk positions [first, last)
    last: int
    start: int  # byte range in the remote block
    end: int
    size: int


def _runs(remote: ChunkList, local: dict[bytes, tuple[str, int, int]]) -> Iterator[_Run]:
    run: _Run | None = None
    for i, c in enumerate(remote.chunks):
        is_local = c.digest in local
        block = remote.blocks[c.block]
        joins = (run is not None and run.local == is_local
                 and run.size + c.length <= RUN_MAX
                 and (is_local or (run.block == block and run.end == c.offset)))
        if run is not None and joins:
            run.last = i + 1
            run.end += c.length
            run.size += c.length
            continue
        if run is not None:
            yield run
        run = _Run(is_local, block, i, i + 1, c.offset, c.offset + c.length, c.length)
    if run is not None:
        yield run


def _read_run(backend: Backend, catalog: Catalog, remote: ChunkList, run: _Run,
              local: dict[bytes, tuple[str, int, int]], blocks: BlockReader,
              stats: PullStats, where: str, bad: set[str]
              ) -> Iterator[tuple[bytes, memoryview]]:
    """The run's chunks, each checked; local blocks found missing or damaged go to
    ``bad`` (their chunks are fetched instead)."""
    chunks = remote.chunks[run.first:run.last]
    if run.local:
        # neighbours stored side by side here are read with one pread
        i = 0
        while i < len(chunks):
            block, offset, _ = local[chunks[i].digest]
            j, end = i + 1, offset + chunks[i].length
            while j < len(chunks) and local[chunks[j].digest][:2] == (block, end):
                end += chunks[j].length
                j += 1
            try:
                data = _check_all(memoryview(blocks.read(block, offset, end - offset)),
                                  chunks[i:j], where)  # a damaged local block: fetch
            except (MissingObjectError, CorruptObjectError):  # gone or bad: fetch instead
                bad.add(block)
                data = _check_all(memoryview(b"".join(bytes(_fetch(
                    backend, catalog, remote.blocks[c.block], c.offset, c.offset + c.length,
                    where)) for c in chunks[i:j])), chunks[i:j], where)
                stats.requests += j - i
                stats.fetched_bytes += len(data)
            else:
                stats.reused_bytes += len(data)
            at = 0
            for c in chunks[i:j]:  # every piece was checked above
                yield c.digest, data[at:at + c.length]
                at += c.length
            i = j
        return
    ranged = memoryview(_fetch(backend, catalog, run.block, run.start, run.end, where))
    stats.requests += 1
    stats.fetched_bytes += len(ranged)
    if len(ranged) != run.end - run.start:
        raise CorruptObjectError(f"block {run.block[:12]} on remote {backend.describe()} is "
                                 "shorter than its chunk list says", path=where)
    for c in chunks:
        yield c.digest, _checked(ranged[c.offset - run.start:c.offset - run.start + c.length],
                                 c.digest, where)


def _fetch(backend: Backend, catalog: Catalog, block: str, start: int, end: int,
           where: str) -> bytes | memoryview:
    slot = catalog.packed.get(block)
    if slot is None:  # not in a listed pack: loose, read by the key its id gives
        try:
            return backend.get_range(loose_key(block), start, end)
        except MissingObjectError:
            raise MissingObjectError(f"block {block[:12]} named by a chunk list is not on "
                                     f"remote {backend.describe()}", path=where,
                                     oids=[block]) from None
    if end > slot.length:
        raise CorruptObjectError(f"block {block[:12]} on remote {backend.describe()} is "
                                 "shorter than its chunk list says", path=where)
    return backend.get_range(pack_key(slot.pack_id), slot.offset + start, slot.offset + end)


def _check_all(data: memoryview, chunks: Iterable[Chunk], where: str) -> memoryview:
    """``data``, the chunks' bytes back to back, each checked against its sha256."""
    at = 0
    for c in chunks:
        _checked(data[at:at + c.length], c.digest, where)
        at += c.length
    return data


def _checked(view: memoryview, digest: bytes, where: str) -> memoryview:
    got = hashlib.sha256(view).digest()
    if got != digest:
        raise CorruptObjectError(f"a chunk ({digest.hex()[:12]}) arrived corrupt (it hashes "
                                 f"to {got.hex()[:12]}); nothing was stored", path=where)
    return view

