"""Pack files: many small objects in one remote object, so a push costs a few requests.

A pack is the raw bytes of its objects, concatenated, named by the sha256 of those bytes.
Its index (``.idx``, format 1, specified in docs/remotes.md "Remote layout") lists each
object's id, offset and length. All integers are big-endian::

    header   56 bytes  b"FOLIOIDX", u32 version (1), u32 count, u64 pack size, 32-byte pack id
    entries  48 bytes  32-byte object id, u64 offset, u64 length  (in pack order, contiguous)
    trailer  32 bytes  sha256 of everything before it

Readers refuse another version and any index whose checksum, pack id or offsets disagree.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from folio._fs import remove_readonly, temp_name
from folio.errors import CorruptObjectError, RemoteError
from folio.objects.store import ObjectStore

MAGIC = b"FOLIOIDX"
VERSION = 1
_HEADER = struct.Struct(">8sIIQ32s")
_ENTRY = struct.Struct(">32sQQ")
_TRAILER = 32
# A pull reads an index whole, so its size is bounded: folio writes at most 50,000 entries
# (remote/plan.py); this leaves room for other writers and refuses a hostile giant.
MAX_INDEX_ENTRIES = 1 << 20
MAX_INDEX_BYTES = _HEADER.size + MAX_INDEX_ENTRIES * _ENTRY.size + _TRAILER


class PackEntry(NamedTuple):
    oid: str
    offset: int
    length: int


@dataclass(frozen=True)
class PackIndex:
    pack_id: str
    pack_size: int
    entries: list[PackEntry]


@dataclass(frozen=True)
class BuiltPack:
    """A pack staged in a local temporary file, ready to upload, with its encoded index."""

    path: Path
    index: PackIndex
    index_bytes: bytes


def encode_index(index: PackIndex) -> bytes:
    head = _HEADER.pack(MAGIC, VERSION, len(index.entries), index.pack_size,
                        bytes.fromhex(index.pack_id))
    body = b"".join(_ENTRY.pack(bytes.fromhex(e.oid), e.offset, e.length)
                    for e in index.entries)
    data = head + body
    return data + hashlib.sha256(data).digest()


def decode_index(data: bytes, pack_id: str, label: str) -> PackIndex:
    """Parse and check an index; ``label`` (remote and key) names it in errors."""
    if len(data) < _HEADER.size + _TRAILER or data[:8] != MAGIC:
        raise _corrupt(label, pack_id, "not a folio pack index")
    _, version, count, pack_size, raw_id = _HEADER.unpack_from(data)
    if count > MAX_INDEX_ENTRIES:
        raise _corrupt(label, pack_id, f"pack index lists more than {MAX_INDEX_ENTRIES} objects")
    if version != VERSION:
        raise RemoteError(f"pack index format {version} is not one this folio understands "
                          f"({VERSION}); upgrade folio", path=label)
    if hashlib.sha256(data[:-_TRAILER]).digest() != data[-_TRAILER:]:
        raise _corrupt(label, pack_id, "pack index checksum mismatch")
    if raw_id.hex() != pack_id or len(data) != _HEADER.size + count * _ENTRY.size + _TRAILER:
        raise _corrupt(label, pack_id, "pack index does not match its name or length")
    entries = []
    offset = 0
    body = memoryview(data)[_HEADER.size:-_TRAILER]
    for raw_oid, start, length in _ENTRY.iter_unpack(body):
        if start != offset:
            raise _corrupt(label, pack_id, "pack index offsets are not contiguous")
        entries.append(PackEntry(raw_oid.hex(), start, length))
        offset += length
    if offset != pack_size:
        raise _corrupt(label, pack_id, "pack index lengths do not add up to the pack size")
    return PackIndex(pack_id, pack_size, entries)


def build_pack(store: ObjectStore, oids: list[str], staging: Path) -> BuiltPack:
    """Concatenate objects (each verified as read) into a temporary file under ``staging``."""
    staging.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(staging, "pack-")
    pack_hash = hashlib.sha256()
    entries = []
    offset = 0
    try:
        with open(tmp, "wb") as f:
            for oid in oids:
                # read_bytes checks the sha256: a corrupt local object is never pushed.
                data = store.read_bytes(oid)
                pack_hash.update(data)
                f.write(data)
                entries.append(PackEntry(oid, offset, len(data)))
                offset += len(data)
    except BaseException:
        remove_readonly(tmp)
        raise
    index = PackIndex(pack_hash.hexdigest(), offset, entries)
    return BuiltPack(tmp, index, encode_index(index))


def discard(pack: BuiltPack) -> None:
    """Remove the staged pack file (after upload, or on failure)."""
    if os.path.exists(pack.path):
        remove_readonly(pack.path)


def _corrupt(label: str, pack_id: str, why: str) -> CorruptObjectError:
    return CorruptObjectError(f"{why} (pack {pack_id[:12]})", path=label)
