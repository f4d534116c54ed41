"""Push and pull: move only what the other side lacks, in parallel, verified on arrival.

Ordering invariants (docs/remotes.md):
- push: a pack's data is uploaded before its index, so a pack is visible only when whole;
  loose objects are single atomic PUTs or multipart uploads completed only after the last
  byte. A killed push leaves complete objects plus invisible garbage; a rerun sends the rest.
- pull: every object is hashed before it enters the store (loose ones by put_stream while
  they stream to staging, pack slices in memory); one syncfs at the end makes them durable.
- pull reads no object further than the size its manifest entry gives (``sizes``; else
  the remote's listing): a loose object or pack slot listed larger is refused before any
  byte moves, and one that streams longer is cut off at the first extra byte, its staging
  file removed. A remote cannot fill the disk past what the manifests name.
- Nothing pushed is unverified either: local objects are re-hashed as they are read.

Progress is in bytes, advanced as they move (a streamed object chunk by chunk). Ctrl-C:
every task checks a cancel event between chunks (through the same ``tick`` that reports
bytes); the main thread waits with a timeout, so the interrupt is seen at once, gives
running tasks :data:`INTERRUPT_GRACE` seconds to abort cleanly (a multipart upload whose
source raises is aborted; a staging file is removed), then raises :class:`Interrupted`.
What a task had not finished is invisible (the ordering above), so a rerun completes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from folio.bounded import BoundedReader
from folio.errors import (
    CorruptObjectError,
    MissingObjectError,
    ObjectError,
    OversizeError,
    summarize_paths,
)
from folio.hashing import EMPTY_SHA256
from folio.objects.store import ObjectStore, VerifyingReader, is_oid
from folio.progress import NULL, Progress
from folio.remote import chunked
from folio.remote.base import LIST_PAGE_COST, Backend, Reader, idx_key, loose_key, pack_key
from folio.remote.catalog import Catalog, Slot, load_catalog, load_packs, remember_index
from folio.remote.packfile import build_pack, discard
from folio.remote.plan import LOOSE_MIN, PACK_MAX, Span, pack_groups, read_spans
from folio.remote.records import Survey

SINGLE_PUT_MAX = 8 << 20  # loose objects up to this are sent in one PUT, above it multipart
STREAM_CHUNK = 8 << 20
INTERRUPT_GRACE = 0.5  # seconds running tasks get to abort cleanly after Ctrl-C
Tick = Callable[[int], None]  # "n more bytes moved"; raises _Cancelled once cancelled


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a transfer; ``str()`` says what was done (the CLI prints it, exit 130)."""


class _Cancelled(Exception):
    """Raised inside a task that noticed the cancel event; never leaves :func:`_run`."""


def _no_tick(n: int) -> None:
    pass


@dataclass
class TransferStats:
    """What a push or pull did.

    ``requests`` counts data uploads and downloads (a multipart upload counts once), not the
    listing or index reads; ``packs`` counts packs written (push).
    """

    moved: int = 0
    moved_bytes: int = 0
    skipped: int = 0
    skipped_bytes: int = 0
    packs: int = 0
    requests: int = 0

    def add(self, other: TransferStats) -> None:
        self.moved += other.moved
        self.moved_bytes += other.moved_bytes
        self.packs += other.packs
        self.requests += other.requests


# -- push ---------------------------------------------------------------------------------
LIST_PAGE = 1000  # keys per LIST page (S3's maximum)


def push(store: ObjectStore, backend: Backend, oids: Iterable[str], *, jobs: int = 8,
         progress: Progress = NULL, cache_dir: Path, loose_min: int = LOOSE_MIN,
         pack_max: int = PACK_MAX, known: Survey | None = None) -> TransferStats:
    """Send the objects among ``oids`` that the remote lacks; small ones in packs.

    ``known`` (what the push records say, :func:`folio.remote.records.survey`) replaces the
    full listing: objects a fresh record names or a listed pack holds are skipped; of the
    rest, large ones a stale record names get a HEAD, everything else is sent (small ones
    in packs, where one more object costs no request). Without ``known``: one full listing.
    """
    wanted = _unique(oids)
    absent = [o for o in wanted if not store.has(o)]
    if absent:
        raise store.missing(absent)
    stats = TransferStats()
    # chunked objects go as their blocks (those the remote lacks, found below like any
    # other object), then their lists (remote/chunked.py)
    plan = chunked.plan_push(store, backend, wanted)
    stats.skipped, stats.skipped_bytes = plan.skipped, plan.skipped_bytes
    sizes = {oid: store.size(oid) for oid in plan.oids}
    present = _present(backend, sizes, cache_dir, jobs, known,
                       lambda oid, size: size is not None and size >= loose_min)
    small: list[tuple[str, int]] = []
    large: list[tuple[str, int]] = []
    # blocks already there are not counted as skipped objects (chunked ones: by the plan)
    asked = set(wanted) - plan.chunked
    for oid, size in sizes.items():
        if oid in present:
            if oid in asked:
                stats.skipped += 1
                stats.skipped_bytes += size
        else:
            (large if size >= loose_min else small).append((oid, size))
    tasks: list[tuple[int, Task]] = [
        (size, _task(_push_loose, store, backend, oid, size)) for oid, size in large]
    for group in pack_groups(small, jobs, pack_max):
        tasks.append((sum(sizes[o] for o in group),
                      _task(_push_pack, store, backend, group, cache_dir)))
    _run(tasks, jobs, progress, "push", stats, "sent")
    lists, list_bytes = chunked.push_lists(store, backend, plan.lists)  # after their blocks
    stats.add(TransferStats(moved=lists, moved_bytes=list_bytes, requests=lists))
    return stats


def _present(backend: Backend, sizes: Mapping[str, int | None], cache_dir: Path | None,
             jobs: int, known: Survey | None,
             worth_head: Callable[[str, int | None], bool]) -> set[str]:
    """Which of ``sizes``' ids the remote holds, as far as a push needs to know.

    Without ``known``: one full listing. With it: fresh records, the ``packs/`` listing,
    and a HEAD for each id ``worth_head`` picks among those still unknown; when those
    HEADs would cost more than listing everything (estimated from the records), the
    listing instead.
    """
    if known is None or not known.records:
        return load_catalog(backend, cache_dir, jobs).present(sizes)
    catalog = load_packs(backend, cache_dir, jobs)
    present = {o for o in sizes if o in known.fresh or o in catalog.packed}
    ask = [o for o in sizes if o not in present and worth_head(o, sizes[o])]
    estimate = len(known.fresh) + len(known.stale) + len(catalog.packed)
    if len(ask) > max(LIST_PAGE_COST, -(-estimate // LIST_PAGE) * LIST_PAGE_COST):
        return present | load_catalog(backend, cache_dir, jobs).present(ask)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        heads = list(pool.map(lambda o: backend.head(loose_key(o)), ask))
    return present | {o for o, size in zip(ask, heads, strict=True)
                      if size is not None and (sizes[o] is None or size == sizes[o])}


def _push_pack(store: ObjectStore, backend: Backend, group: list[str],
               cache_dir: Path | None, tick: Tick = _no_tick) -> TransferStats:
    pack = build_pack(store, group, store.staging)
    pack_id = pack.index.pack_id
    try:
        tick(0)  # cancelled while the pack was built: upload nothing
        backend.put_file(pack_key(pack_id), pack.path)
        backend.put_bytes(idx_key(pack_id), pack.index_bytes)  # last: publishes the pack
    finally:
        discard(pack)
    remember_index(cache_dir, pack.index_bytes, pack_id)
    tick(pack.index.pack_size)
    return TransferStats(moved=len(group), moved_bytes=pack.index.pack_size, packs=1, requests=2)


def _push_loose(store: ObjectStore, backend: Backend, oid: str, size: int,
                tick: Tick = _no_tick) -> TransferStats:
    key = loose_key(oid)
    if size <= SINGLE_PUT_MAX:
        data = store.read_bytes(oid)  # read_bytes verifies the hash
        tick(0)
        backend.put_bytes(key, data)
        tick(size)
    else:
        with store.open_verified(oid) as reader:
            # The reader raises at EOF on a hash mismatch, and tick once cancelled: either
            # aborts the multipart upload, so the key never appears.
            backend.put_stream(key, _chunks(reader, tick))
    return TransferStats(moved=1, moved_bytes=size, requests=1)


def _chunks(reader: VerifyingReader, tick: Tick) -> Iterator[bytes]:
    """The object in STREAM_CHUNK pieces; each is counted when the uploader takes the next
    (it has been handed on by then), and cancellation is checked before every read."""
    pending = 0
    while True:
        tick(pending)
        chunk = reader.read(STREAM_CHUNK)
        if not chunk:
            return
        pending = len(chunk)
        yield chunk


# -- pull ---------------------------------------------------------------------------------
def pull(store: ObjectStore, backend: Backend, oids: Iterable[str], *, jobs: int = 8,
         progress: Progress = NULL, cache_dir: Path,
         sizes: Mapping[str, int] | None = None) -> TransferStats:
    """Fetch the objects among ``oids`` that the local store lacks, verifying each one.

    ``sizes`` (``oid -> size`` from the manifest entries) bounds each download; an object
    the remote holds at another size is refused, naming it, before its body is read.
    Nothing is listed but ``packs/``: a loose object is read by its key (an object
    without a known size gets a HEAD first, for a bound).
    Everything the remote has is fetched even when some objects are missing there; then
    MissingObjectError names the first few missing ones.
    """
    sizes = sizes or {}
    stats = TransferStats()
    need = []
    for oid in _unique(oids):
        if store.has(oid):
            stats.skipped += 1
            stats.skipped_bytes += store.size(oid)
        elif oid == EMPTY_SHA256:
            store.put_bytes(b"", oid)  # nothing to download
            stats.moved += 1
        else:
            need.append(oid)
    if not need:
        store.sync()
        return stats
    # No full listing: packed objects are found from the packs/ listing and the (cached)
    # indexes; any other is GET by its key, which its id gives (absent: a 404).
    catalog = load_packs(backend, cache_dir, jobs)
    # objects the remote holds as chunk lists (remote/chunked.py): their lists now
    try:
        listed = chunked.plan_pull(store, backend, need, catalog, sizes)
    except KeyboardInterrupt:
        raise Interrupted("0 objects were fetched, rerun to finish") from None
    as_lists = {item.list.oid for item in listed}
    need = [o for o in need if o not in as_lists]
    packed = [(o, catalog.packed[o]) for o in need if o in catalog.packed]
    for oid, slot in packed:  # every pack slot checked before the first download starts
        _check_size(backend, oid, f"{pack_key(slot.pack_id)}@{slot.offset}", slot.length,
                    sizes.get(oid))
    loose = [o for o in need if o not in catalog.packed]
    unsized = [o for o in loose if sizes.get(o) is None]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # a bound for each download
        bounds = dict(zip(unsized, pool.map(lambda o: backend.head(loose_key(o)), unsized),
                          strict=True))
    missing = [o for o in unsized if bounds[o] is None]
    absent: list[str] = []  # loose GETs that found nothing (filled by the tasks)
    tasks: list[tuple[int, Task]] = [
        (item.list.size, _task(_pull_chunked, store, backend, item, catalog))
        for item in listed]
    for oid in loose:
        size = sizes.get(oid, bounds.get(oid))
        if size is not None:
            tasks.append((size, _task(_pull_loose, store, backend, oid, size, sizes.get(oid),
                                      absent)))
    for span in read_spans(packed):
        tasks.append((span.end - span.start, _task(_pull_span, store, backend, span)))
    try:
        _run(tasks, jobs, progress, "pull", stats, "fetched")
    finally:
        store.sync()
    missing += absent
    if missing:
        raise _missing_error(backend, catalog, missing)
    return stats


def _pull_loose(store: ObjectStore, backend: Backend, oid: str, size: int,
                expected: int | None = None, absent: list[str] | None = None,
                tick: Tick = _no_tick) -> TransferStats:
    """One loose object, read no further than ``expected`` (else its listed ``size``).

    With ``absent``, a missing key is noted there instead of raised (a pull fetches all
    it can first). The size the GET's headers give is checked before the body is read.
    """
    key = loose_key(oid)
    limit = size if expected is None else expected
    _check_size(backend, oid, key, size, expected)
    try:
        reader = backend.open(key)
    except MissingObjectError:
        if absent is None:
            raise
        absent.append(oid)  # list.append is atomic: tasks on several threads share it
        return TransferStats()
    try:
        announced = _announced_size(reader)
        if announced is not None:
            _check_size(backend, oid, key, announced, expected)
        with _named(backend, oid, key):
            bounded = BoundedReader(_Counting(reader, tick), limit, f"object {oid} on remote "
                                    f"{backend.describe()} ({key})")
            store.put_stream(bounded, oid, f"{backend.describe()}/{key}")
    finally:
        reader.close()
    size = bounded.count
    return TransferStats(moved=1, moved_bytes=size, requests=1)


def _pull_chunked(store: ObjectStore, backend: Backend, listed: chunked.Listed,
                  catalog: Catalog, tick: Tick = _no_tick) -> TransferStats:
    got = chunked.pull_one(store, backend, listed, catalog, tick)
    return TransferStats(moved=1, moved_bytes=got.fetched_bytes, requests=got.requests)


def _announced_size(reader: Reader) -> int | None:
    """The size an opened object says it has (S3: Content-Length; a file: fstat), if any."""
    size = getattr(reader, "size", None)
    if isinstance(size, int):
        return size
    fileno = getattr(reader, "fileno", None)
    if callable(fileno):
        return os.fstat(fileno()).st_size
    return None


def _check_size(backend: Backend, oid: str, where: str, size: int,
                expected: int | None) -> None:
    """Refuse, before any byte moves, an object the remote holds at another size than its
    entry's: larger would fill the disk, smaller cannot hash right."""
    if expected is None or size == expected:
        return
    message = (f"object {oid} on remote {backend.describe()} is {size} bytes but its "
               f"manifest entry says {expected}; it was not fetched")
    if size > expected:
        raise OversizeError(message, path=where)
    raise CorruptObjectError(message, path=where, expected=oid)


class _Counting:
    """A reader that reports each read to ``tick`` (bytes, and the chance to cancel)."""

    def __init__(self, reader: Reader, tick: Tick) -> None:
        self._reader = reader
        self._tick = tick

    def readinto(self, buffer: bytearray | memoryview, /) -> int | None:
        self._tick(0)
        n = self._reader.readinto(buffer)
        if n:
            self._tick(n)
        return n

    def close(self) -> None:
        self._reader.close()


def _pull_span(store: ObjectStore, backend: Backend, span: Span,
               tick: Tick = _no_tick) -> TransferStats:
    key = pack_key(span.pack_id)
    tick(0)
    data = memoryview(backend.get_range(key, span.start, span.end))
    tick(len(data))
    moved_bytes = 0
    for oid, slot in span.members:
        piece = data[slot.offset - span.start:slot.offset - span.start + slot.length]
        got = hashlib.sha256(piece).hexdigest()
        if got != oid:
            raise _corrupt(backend, oid, f"{key}@{slot.offset}", got)
        # Verified just above, so put_bytes may trust the id. (put_stream would verify too,
        # but allocates a 1 MiB buffer per object: 8 threads x 20,000 objects spent most
        # of a pull in mmap/munmap.)
        store.put_bytes(piece, oid)
        moved_bytes += slot.length
    return TransferStats(moved=len(span.members), moved_bytes=moved_bytes, requests=1)


@contextlib.contextmanager
def _named(backend: Backend, oid: str, where: str) -> Iterator[None]:
    """Re-raise the store's hash mismatch naming the full object id and its remote key."""
    try:
        yield
    except CorruptObjectError as exc:
        raise _corrupt(backend, oid, where, exc.got) from None


def _corrupt(backend: Backend, oid: str, where: str, got: str | None) -> CorruptObjectError:
    return CorruptObjectError(
        f"object {oid} on remote {backend.describe()} is corrupt (its bytes hash to "
        f"{(got or '?')[:12]}); it was not stored", path=where, expected=oid, got=got)


def _missing_error(backend: Backend, catalog: Catalog, missing: list[str]) -> ObjectError:
    if catalog.bad_indexes:
        return catalog.bad_indexes[0]  # the likely reason those objects cannot be found
    return MissingObjectError(
        f"{len(missing)} object(s) are not on the remote "
        f"({summarize_paths([o[:12] for o in missing])}); the others were fetched",
        path=backend.describe(), oids=missing)


# -- single objects and queries -----------------------------------------------------------
def remote_has(backend: Backend, oids: Iterable[str], *, cache_dir: Path | None = None,
               jobs: int = 8, known: Survey | None = None) -> set[str]:
    """Which of ``oids`` the remote holds: one listing plus cached indexes; with ``known``
    (the push records), fresh records, the packs and a HEAD for each id still unknown;
    chunked objects, held as chunk lists, in one LIST of ``lists/`` more."""
    wanted: dict[str, int | None] = dict.fromkeys(_unique(oids))
    found = _present(backend, wanted, cache_dir, jobs, known, lambda oid, size: True)
    rest = [o for o in wanted if o not in found]
    return found | (chunked.listed(backend, rest) if rest else set())


def fetch_object(backend: Backend, oid: str, store: ObjectStore, *,
                 cache_dir: Path | None = None, size: int | None = None) -> bool:
    """Replace a missing or corrupt local copy of ``oid`` with the remote one (verify --repair).

    Returns False when the local copy was already sound. The corrupt copy is deleted only
    once the remote is known to hold the object (at ``size``, when given).
    """
    if store.has(oid) and store.verify(oid):
        return False
    catalog = load_catalog(backend, cache_dir, 1)
    if oid not in catalog:
        raise _missing_error(backend, catalog, [oid])
    slot: Slot | None = catalog.packed.get(oid)
    if oid in catalog.loose:
        _check_size(backend, oid, loose_key(oid), catalog.loose[oid], size)
    elif slot is not None:
        _check_size(backend, oid, pack_key(slot.pack_id), slot.length, size)
    if store.has(oid):
        store.delete(oid)
    if oid in catalog.loose:
        _pull_loose(store, backend, oid, catalog.loose[oid], size)
    else:
        assert slot is not None
        _pull_span(store, backend, Span(slot.pack_id, slot.offset, slot.offset + slot.length,
                                        [(oid, slot)]))
    store.sync()
    return True


# -- running ------------------------------------------------------------------------------
Task = Callable[[Tick], TransferStats]


def _task(fn: Callable[..., TransferStats], *args: object) -> Task:
    return lambda tick: fn(*args, tick=tick)


def _run(tasks: list[tuple[int, Task]], jobs: int, progress: Progress, label: str,
         stats: TransferStats, verb: str) -> None:
    """Run tasks biggest first on ``jobs`` threads; stop at the first failure and raise it.

    Progress counts bytes (each task's size is its share of the total), reported from this
    thread about ten times a second as the workers move them. The first failure
    or a Ctrl-C cancels the rest: queued tasks are dropped, running ones stop at their next
    chunk. Work already finished stays valid (each task publishes atomically), which is
    what makes a rerun after a failure send only the remainder.
    """
    progress.start(label, total=sum(size for size, _ in tasks), unit="bytes")
    tasks = sorted(tasks, key=lambda t: -t[0])
    cancel = threading.Event()
    moved = [0]  # bytes the workers moved since the main thread last reported them
    guard = threading.Lock()

    def tick(n: int) -> None:
        if cancel.is_set():
            raise _Cancelled
        if n:
            with guard:
                moved[0] += n

    def report() -> None:
        # Progress is called from the caller's thread only (it need not be thread-safe).
        with guard:
            n, moved[0] = moved[0], 0
        if n:
            progress.advance(n)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="folio-" + label)
    futures = [pool.submit(fn, tick) for _, fn in tasks]
    pending: set[Future[TransferStats]] = set(futures)
    counted: set[Future[TransferStats]] = set()
    try:
        while pending:
            # A timeout, so that the main thread is back in Python often and a Ctrl-C
            # (delivered to it alone) is raised here at once.
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            report()
            for future in done:
                stats.add(future.result())  # re-raises the task's error
                counted.add(future)
    except BaseException as exc:
        cancel.set()
        for other in pending:
            other.cancel()
        interrupted = isinstance(exc, KeyboardInterrupt)
        # Let running tasks abort cleanly; after a Ctrl-C only briefly (a request in
        # flight may take long, and what it leaves is invisible: see the module doc).
        wait(pending, timeout=INTERRUPT_GRACE if interrupted else None)
        pool.shutdown(wait=not interrupted, cancel_futures=True)
        for future in futures:  # tasks that finished meanwhile did publish their work
            if future not in counted and future.done() and not future.cancelled() \
                    and future.exception() is None:
                stats.add(future.result())
        if interrupted:
            n = stats.moved
            raise Interrupted(f"{n} {'object was' if n == 1 else 'objects were'} {verb}, "
                              "rerun to finish") from None
        raise
    finally:
        report()
        progress.finish()
    pool.shutdown()


def _unique(oids: Iterable[str]) -> list[str]:
    unique = list(dict.fromkeys(oids))
    bad = [o for o in unique if not is_oid(o)]
    if bad:
        raise ObjectError(f"not object ids: {summarize_paths([repr(o) for o in bad])}")
    return unique
