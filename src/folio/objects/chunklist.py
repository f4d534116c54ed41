"""The chunk list of a chunked file object, and the chunk index that finds chunks again.

A chunked file object keeps its id (the sha256 of the whole file); its bytes live in
block objects (ordinary store objects holding concatenated chunks) and its chunk list
says, chunk by chunk, which block holds it where (docs/format.md, "Chunk store").

The list is binary, because a 1 GiB file has about 13,000 chunks (44 bytes each), and in
two levels (format 2): the top list names segments, ordinary store objects each holding a
run of about 256 chunk entries with its own block table, cut where a chunk's digest ends in
a zero byte. Two versions of a file then share every segment away from an edit, so an edit
stores and moves one or two segments and a top list of a few KiB, not 0.6 MiB of entries.
Format 1 (one flat list) is still read.
The index (sqlite3, derived from the lists, rebuilt when lost or unreadable) maps a
chunk's sha256 to where one copy of it is stored, so an add stores each chunk once.
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import sqlite3

from folio.errors import CorruptObjectError

MAGIC = b"FOLIOCL\n"
VERSION = 2  # written; version 1 (one flat list, no segments) is still read
_HEAD = struct.Struct(">8sHIIQ32s")  # v1: magic, version, blocks, chunks, file size, file oid
_TOP = struct.Struct(">8sHIQ32s")  # v2: magic, version, segments, file size, file oid
SEGMENT_MAGIC = b"FOLIOSG\n"
SEGMENT_VERSION = 1
_SEGMENT = struct.Struct(">8sHII")  # magic, version, blocks, chunks
SEGMENT_MAX = 1024  # chunks; a segment also ends after a chunk whose digest ends in 0x00
_CHUNK = struct.Struct(">32sIII")  # chunk sha256, block number, offset in block, length
_DIGEST = 32
INDEX_NAME = "index.sqlite"
_LOOKUP_BATCH = 500  # sqlite's default limit on bound parameters is 999


class Chunk(NamedTuple):
    """One chunk of a file (a tuple: a 1 GiB file's list makes about 13,000 of them, and a
    frozen dataclass costs three times as much to build)."""

    digest: bytes  # sha256 of the chunk's bytes
    block: int  # position in ChunkList.blocks
    offset: int  # in the block
    length: int


@dataclass(frozen=True)
class ChunkList:
    """Which bytes of which blocks, in order, make up the file ``oid`` of ``size`` bytes."""

    oid: str
    size: int
    blocks: tuple[str, ...]
    chunks: tuple[Chunk, ...]
    segments: tuple[str, ...] = ()  # the segment objects it was read from (format 2)

    def split(self) -> list[tuple[str, bytes]]:
        """The list cut into segments (id, bytes), boundaries set by the chunk digests
        alone, so two versions of a file share every segment away from an edit."""
        out = []
        start = 0
        for i, c in enumerate(self.chunks):
            if c.digest[-1] == 0 or i + 1 - start >= SEGMENT_MAX or i + 1 == len(self.chunks):
                data = _encode_segment(self.blocks, self.chunks[start:i + 1])
                out.append((hashlib.sha256(data).hexdigest(), data))
                start = i + 1
        return out

    def encode_top(self, segments: list[str]) -> bytes:
        """Format 2: the file's size and id and its segments' ids, with a trailing sha256."""
        body = _TOP.pack(MAGIC, VERSION, len(segments), self.size, bytes.fromhex(self.oid))
        body += b"".join(bytes.fromhex(s) for s in segments)
        return body + hashlib.sha256(body).digest()

    def encode(self) -> bytes:
        """Format 1 (one flat list): no longer written by folio, kept for old-store tests."""
        parts = [_HEAD.pack(MAGIC, 1, len(self.blocks), len(self.chunks), self.size,
                            bytes.fromhex(self.oid))]
        parts += (bytes.fromhex(b) for b in self.blocks)
        parts += (_CHUNK.pack(c.digest, c.block, c.offset, c.length) for c in self.chunks)
        body = b"".join(parts)
        return body + hashlib.sha256(body).digest()

    @classmethod
    def decode(cls, data: bytes, oid: str, where: str) -> ChunkList:
        """A format 1 list, checked; a sound format 2 list needs its segments (:func:`parse`)."""
        top = parse(data, oid, where)
        if isinstance(top, TopList):
            raise CorruptObjectError(f"chunk list of {oid[:12]} is format 2: read it with "
                                     "its segments", path=where, expected=oid)
        return top

    @classmethod
    def decode_v1(cls, body: bytes, oid: str, where: str) -> ChunkList:
        bad = _bad(oid, where)
        if len(body) < _HEAD.size:
            raise bad("truncated")
        _, _, nblocks, nchunks, size, file_id = _HEAD.unpack_from(body)
        if file_id.hex() != oid:
            raise bad(f"it names {file_id.hex()[:12]}")
        if len(body) != _HEAD.size + nblocks * _DIGEST + nchunks * _CHUNK.size:
            raise bad("wrong length")
        pos = _HEAD.size
        blocks = tuple(body[pos + i * _DIGEST:pos + (i + 1) * _DIGEST].hex()
                       for i in range(nblocks))
        pos += nblocks * _DIGEST
        chunks = tuple(map(Chunk._make, _CHUNK.iter_unpack(body[pos:])))
        if sum(c.length for c in chunks) != size or any(c.block >= nblocks for c in chunks):
            raise bad("its chunks do not make up the file")
        return cls(oid, size, blocks, chunks)

    @staticmethod
    def peek_size(head: bytes) -> int:
        """The file size from the first bytes of an encoded list (no checksum: a hint)."""
        if struct.unpack_from(">H", head, 8)[0] == 1:
            return int(_HEAD.unpack_from(head)[4])
        return int(_TOP.unpack_from(head)[3])

    HEAD_SIZE = _HEAD.size
    CHUNK_SIZE = _CHUNK.size


@dataclass(frozen=True)
class TopList:
    """A format 2 list as stored: the file's size and the ids of its segments, in order."""

    oid: str
    size: int
    segments: tuple[str, ...]

    def assemble(self, segments: list[bytes], where: str) -> ChunkList:
        """The whole list from its segments' bytes (each checked against its id)."""
        blocks: list[str] = []
        numbers: dict[str, int] = {}
        chunks: list[Chunk] = []
        for sid, data in zip(self.segments, segments, strict=True):
            seg_blocks, seg_chunks = decode_segment(data, sid, self.oid, where)
            local = []
            for block in seg_blocks:
                if block not in numbers:
                    numbers[block] = len(blocks)
                    blocks.append(block)
                local.append(numbers[block])
            chunks += [Chunk(d, local[b], o, n) for d, b, o, n in seg_chunks]
        if sum(c.length for c in chunks) != self.size:
            raise _bad(self.oid, where)("its chunks do not make up the file")
        return ChunkList(self.oid, self.size, tuple(blocks), tuple(chunks), self.segments)


def parse(data: bytes, oid: str, where: str) -> ChunkList | TopList:
    """Check a stored list (trailing sha256, magic, file id, lengths) and read it: format 1
    whole, format 2 as the segments it names."""
    bad = _bad(oid, where)
    if len(data) < _TOP.size + _DIGEST:
        raise bad("truncated")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise bad("its checksum does not match")
    magic, version = struct.unpack_from(">8sH", body)
    if magic != MAGIC:
        raise bad("not a chunk list")
    if version == 1:
        return ChunkList.decode_v1(body, oid, where)
    if version != VERSION:
        raise CorruptObjectError(f"chunk list of {oid[:12]} has version {version}; this "
                                 f"folio reads versions 1 and {VERSION}: upgrade folio",
                                 path=where, expected=oid)
    _, _, nsegments, size, file_id = _TOP.unpack_from(body)
    if file_id.hex() != oid:
        raise bad(f"it names {file_id.hex()[:12]}")
    if len(body) != _TOP.size + nsegments * _DIGEST:
        raise bad("wrong length")
    segments = tuple(body[_TOP.size + i * _DIGEST:_TOP.size + (i + 1) * _DIGEST].hex()
                     for i in range(nsegments))
    return TopList(oid, size, segments)


def _encode_segment(blocks: tuple[str, ...], chunks: tuple[Chunk, ...]) -> bytes:
    """A run of chunk entries with its own block table, so it is the same bytes in every
    list that holds the same run."""
    numbers: dict[int, int] = {}
    for c in chunks:
        numbers.setdefault(c.block, len(numbers))
    parts = [_SEGMENT.pack(SEGMENT_MAGIC, SEGMENT_VERSION, len(numbers), len(chunks))]
    parts += (bytes.fromhex(blocks[b]) for b in numbers)
    parts += (_CHUNK.pack(c.digest, numbers[c.block], c.offset, c.length) for c in chunks)
    return b"".join(parts)


def decode_segment(data: bytes, sid: str, owner: str, where: str
                   ) -> tuple[list[str], list[Chunk]]:
    """(block table, chunks) of one segment, checked against its id ``sid``."""
    def bad(why: str) -> CorruptObjectError:
        return CorruptObjectError(f"segment {sid[:12]} of chunked object {owner[:12]} is "
                                  f"corrupt ({why})", path=where, expected=owner)

    if hashlib.sha256(data).hexdigest() != sid:
        raise bad("it does not hash to its id")
    if len(data) < _SEGMENT.size:
        raise bad("truncated")
    magic, version, nblocks, nchunks = _SEGMENT.unpack_from(data)
    if magic != SEGMENT_MAGIC or version != SEGMENT_VERSION:
        raise bad("not a segment this folio reads")
    if len(data) != _SEGMENT.size + nblocks * _DIGEST + nchunks * _CHUNK.size:
        raise bad("wrong length")
    pos = _SEGMENT.size
    blocks = [data[pos + i * _DIGEST:pos + (i + 1) * _DIGEST].hex() for i in range(nblocks)]
    pos += nblocks * _DIGEST
    chunks = list(map(Chunk._make, _CHUNK.iter_unpack(data[pos:])))
    if any(c.block >= nblocks for c in chunks):
        raise bad("a chunk names no block")
    return blocks, chunks


def _bad(oid: str, where: str) -> Callable[[str], CorruptObjectError]:
    def bad(why: str) -> CorruptObjectError:
        return CorruptObjectError(f"chunk list of {oid[:12]} is corrupt ({why})",
                                  path=where, expected=oid)
    return bad


class ChunkIndex:
    """chunk sha256 -> (block, offset, length): derived from the lists, so it is written
    without fsync and rebuilt from them whenever it is missing or unreadable.

    A row may outlive its block (gc deletes blocks, a crash loses a rename): users check
    that the block is there before they rely on a row.
    """

    def __init__(self, path: Path, lists: Iterable[ChunkList] | None = None) -> None:
        self.path = path
        self._local = threading.local()
        self._lists = lists

    def _db(self) -> sqlite3.Connection:
        import sqlite3  # on first use: most commands never open the index

        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            fresh = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                db.execute("PRAGMA synchronous = OFF")
                db.execute("CREATE TABLE IF NOT EXISTS chunks (digest BLOB PRIMARY KEY, "
                           "block BLOB NOT NULL, offset INTEGER NOT NULL, "
                           "length INTEGER NOT NULL) WITHOUT ROWID")
                db.execute("CREATE INDEX IF NOT EXISTS by_block ON chunks (block)")
            except sqlite3.DatabaseError:
                db.close()
                self.path.unlink(missing_ok=True)  # derived data: start again from the lists
                return self._db()
            self._local.db = db
            if fresh and self._lists is not None:
                self.rebuild(self._lists)
        return db

    def lookup(self, digests: list[bytes]) -> dict[bytes, tuple[str, int, int]]:
        found: dict[bytes, tuple[str, int, int]] = {}
        db = self._db()
        for i in range(0, len(digests), _LOOKUP_BATCH):
            batch = digests[i:i + _LOOKUP_BATCH]
            marks = ",".join("?" * len(batch))
            for digest, block, offset, length in db.execute(
                    f"SELECT digest, block, offset, length FROM chunks WHERE digest IN ({marks})",
                    batch):
                found[digest] = (bytes(block).hex(), offset, length)
        return found

    def add(self, rows: Iterable[tuple[bytes, str, int, int]]) -> None:
        db = self._db()
        with _transaction(db):
            db.executemany("INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?)",
                           ((d, bytes.fromhex(b), o, n) for d, b, o, n in rows))

    def add_list(self, chunk_list: ChunkList) -> None:
        self.add((c.digest, chunk_list.blocks[c.block], c.offset, c.length)
                 for c in chunk_list.chunks)

    def forget_blocks(self, blocks: Iterable[str]) -> None:
        db = self._db()
        with _transaction(db):
            db.executemany("DELETE FROM chunks WHERE block = ?",
                           ((bytes.fromhex(b),) for b in blocks))

    def rebuild(self, lists: Iterable[ChunkList]) -> None:
        db = self._db()
        with _transaction(db):
            db.execute("DELETE FROM chunks")
        for chunk_list in lists:
            self.add_list(chunk_list)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
