"""What a remote holds, learned from a listing plus its pack indexes.

A pack counts only when both its ``.pack`` and ``.idx`` are listed and the listed pack size
matches the index: packs are written data first, index last, so a push killed in between
leaves an invisible pack that a later push simply replaces. Indexes are immutable (named by
their pack's hash), so each is fetched once and then read from the local cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from folio._fs import read_beneath, write_beneath
from folio.bounded import read_at_most
from folio.errors import CorruptObjectError, FolioError, UnsafeLinkError
from folio.objects.store import is_oid
from folio.remote.base import PACK_DIR, Backend, idx_key, pack_key
from folio.remote.packfile import MAX_INDEX_BYTES, PackIndex, decode_index


class Slot(NamedTuple):
    """Where one packed object's bytes are: ``[offset, offset + length)`` of a pack."""

    pack_id: str
    offset: int
    length: int


@dataclass
class Catalog:
    loose: dict[str, int] = field(default_factory=dict)  # oid -> size
    packed: dict[str, Slot] = field(default_factory=dict)
    pack_sizes: dict[str, int] = field(default_factory=dict)
    pack_members: dict[str, list[str]] = field(default_factory=dict)  # every id in each pack
    # Indexes that failed their checksum: pushes route around them, pulls report them.
    bad_indexes: list[CorruptObjectError] = field(default_factory=list)

    def __contains__(self, oid: object) -> bool:
        return oid in self.loose or oid in self.packed

    def present(self, oids: Iterable[str]) -> set[str]:
        return {o for o in oids if o in self}


def load_catalog(backend: Backend, cache_dir: Path | None, jobs: int = 8,
                 listing: Iterable[tuple[str, int]] | None = None) -> Catalog:
    """List the remote once (or take ``listing``), then read every complete pack's index
    (cached)."""
    catalog = Catalog()
    listed_packs: dict[str, int] = {}
    listed_idx: set[str] = set()
    for key, size in backend.list() if listing is None else listing:
        folder, _, name = key.rpartition("/")
        if folder == PACK_DIR:
            stem, _, ext = name.partition(".")
            if is_oid(stem) and ext == "pack":
                listed_packs[stem] = size
            elif is_oid(stem) and ext == "idx":
                listed_idx.add(stem)
        elif len(key) == 65 and key[2] == "/" and is_oid(key[:2] + name):
            catalog.loose[key[:2] + name] = size
    complete = sorted(listed_idx & set(listed_packs))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda p: _index(backend, p, cache_dir), complete))
    for pack_id, result in zip(complete, results, strict=True):
        if isinstance(result, CorruptObjectError):
            catalog.bad_indexes.append(result)
            continue
        if result.pack_size != listed_packs[pack_id]:
            continue  # truncated or replaced pack: treat as absent
        catalog.pack_sizes[pack_id] = result.pack_size
        catalog.pack_members[pack_id] = [entry.oid for entry in result.entries]
        for entry in result.entries:
            catalog.packed.setdefault(entry.oid, Slot(pack_id, entry.offset, entry.length))
    return catalog


def load_packs(backend: Backend, cache_dir: Path | None, jobs: int = 8) -> Catalog:
    """The packs alone: a LIST of ``packs/`` (a few pages whatever the number of objects
    packed) plus their cached indexes; loose objects are not listed."""
    return load_catalog(backend, cache_dir, jobs, backend.list(PACK_DIR))


def remember_index(cache_dir: Path | None, index_bytes: bytes, pack_id: str) -> None:
    """Cache an index we just uploaded, so the next catalog needs no download for it."""
    if cache_dir is not None:
        write_beneath(cache_dir.parent, cache_dir / f"{pack_id}.idx", index_bytes,
                      durable=False)


def _index(backend: Backend, pack_id: str,
           cache_dir: Path | None) -> PackIndex | CorruptObjectError:
    key = idx_key(pack_id)
    label = f"{backend.describe()}/{key}"
    cached = cache_dir / f"{pack_id}.idx" if cache_dir is not None else None
    if cached is not None:
        try:  # beneath .folio/cache: a link in the cache is refused, never followed
            return decode_index(read_beneath(cached.parent.parent, cached), pack_id,
                                str(cached))
        except OSError:
            pass  # absent (or unreadable): fetch it
        except UnsafeLinkError:
            raise
        except FolioError:
            pass  # a damaged cache entry: fetch it again
    data = read_all(backend, key)
    try:
        index = decode_index(data, pack_id, label)
    except CorruptObjectError as exc:
        return exc
    remember_index(cache_dir, data, pack_id)
    return index


def read_all(backend: Backend, key: str, limit: int = MAX_INDEX_BYTES) -> bytes:
    """A whole small object (an index) in memory, refused past ``limit`` bytes."""
    reader = backend.open(key)
    try:
        return read_at_most(reader, limit, f"{backend.describe()}/{key}")
    finally:
        reader.close()


def read_packed(get_range: Callable[[str, int, int], bytes | memoryview], oid: str,
                slot: Slot, label: str) -> bytes:
    """One packed object, read alone: a range of its pack, checked against its id (an
    entry read whole is verifiable, a part of one is not). ``label`` names the remote."""
    key = pack_key(slot.pack_id)
    data = bytes(get_range(key, slot.offset, slot.offset + slot.length))
    got = hashlib.sha256(data).hexdigest()
    if got != oid:
        raise CorruptObjectError(
            f"object {oid} on remote {label} is corrupt (its bytes hash to {got[:12]}); it "
            "was not stored", path=f"{key}@{slot.offset}", expected=oid, got=got)
    return data
