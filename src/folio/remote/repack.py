"""Repack: copy the live objects of partly dead packs into new packs (remote gc's last step).

Each new pack is built in memory from ranged reads of the old packs (every object hashed
on the way through: a corrupt copy is never repacked), then published the way a push
publishes one: data first, index last. Only once every new pack is visible may the caller
unpublish the old ones (index first, then data), so at every instant each live object is
in at least one visible pack, and a rerun after a kill redoes only what is not yet done.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from folio.errors import CorruptObjectError
from folio.remote.base import Backend, idx_key, pack_key
from folio.remote.catalog import Slot, remember_index
from folio.remote.packfile import PackEntry, PackIndex, encode_index
from folio.remote.plan import PACK_MAX, pack_groups, read_spans


def copy_live(backend: Backend, live: list[tuple[str, Slot]], *, cache_dir: Path | None,
              jobs: int = 8, pack_max: int = PACK_MAX) -> list[tuple[str, int]]:
    """Publish new packs holding the objects ``live`` names (in that order); returns
    ``(pack id, size)`` of each. Objects grouped the same way give the same pack ids, so a
    rerun rewrites identical keys."""
    slots = dict(live)
    groups = pack_groups([(oid, slot.length) for oid, slot in live], jobs, pack_max)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(
            lambda g: _publish(backend, [(o, slots[o]) for o in g], cache_dir), groups))


def _publish(backend: Backend, members: list[tuple[str, Slot]],
             cache_dir: Path | None) -> tuple[str, int]:
    pieces: dict[str, bytes] = {}
    for span in read_spans(members):
        data = memoryview(backend.get_range(pack_key(span.pack_id), span.start, span.end))
        for oid, slot in span.members:
            piece = bytes(data[slot.offset - span.start:slot.offset - span.start + slot.length])
            got = hashlib.sha256(piece).hexdigest()
            if got != oid:
                raise CorruptObjectError(
                    f"object {oid} in pack {slot.pack_id[:12]} on remote {backend.describe()} "
                    f"is corrupt (its bytes hash to {got[:12]}); that pack is left as it is",
                    path=f"{pack_key(slot.pack_id)}@{slot.offset}", expected=oid, got=got)
            pieces[oid] = piece
    entries = []
    offset = 0
    for oid, _ in members:
        entries.append(PackEntry(oid, offset, len(pieces[oid])))
        offset += len(pieces[oid])
    body = b"".join(pieces[oid] for oid, _ in members)
    index = PackIndex(hashlib.sha256(body).hexdigest(), offset, entries)
    index_bytes = encode_index(index)
    backend.put_bytes(pack_key(index.pack_id), body)
    backend.put_bytes(idx_key(index.pack_id), index_bytes)  # last: publishes the pack
    remember_index(cache_dir, index_bytes, index.pack_id)
    return index.pack_id, offset
