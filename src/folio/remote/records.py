"""Push records: what a remote holds, known without listing it (docs/format.md, "Push records").

A push that has made every object of a set present writes, last, one small record
``sets/<set id>/<UTC stamp>-<random>``: the set id is the sha256 of the set's sorted object
ids, so a later push of the same set asks one question (a LIST of that one prefix) instead
of listing the whole remote. Records are written create-only and never rewritten.

A record vouches for its objects for :data:`TRUST` seconds after its stamp: remote gc
spares every object a record younger than its grace period names, so a push that trusts
a record at most TRUST old is never robbed by a gc whose grace is at least 2 x TRUST
(the default grace, a week, is). A push of a *new* set uses the union of every fresh
record (:func:`survey`): one LIST of ``sets/`` and the bodies, which are immutable and so
read once into this clone's cache (:class:`RecordCache`).

Format 2 (written): a JSON header line, then the sorted ids as 32 raw bytes each, then the
sha256 of everything before it. Format 1 (one hex id per line) is still read.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from folio._fs import read_beneath, write_beneath
from folio.bounded import read_at_most
from folio.errors import CorruptObjectError, FolioError, MissingObjectError, UnsafeLinkError
from folio.objects.store import is_oid
from folio.remote.base import RECORD_DIR, Backend

RECORD_VERSION = 2  # written; READABLE are read
READABLE = (1, 2)
TRUST = 86400.0  # a push trusts a record this young (a day)
SKEW = 300.0  # a record stamped up to this far in the future still counts (clock skew)
ID_BYTES = 32
MAX_RECORD_BYTES = 512 << 20  # 16 M ids in format 2 (8 M in format 1), with room
_NAME = re.compile(r"(\d{8}T\d{6}Z)-[0-9a-f]{8}\Z")


class Record(NamedTuple):
    key: str
    set_id: str
    stamp: float  # POSIX seconds the writer put in the name

    def fresh(self, now: float, trust: float = TRUST) -> bool:
        return -SKEW <= now - self.stamp <= trust


def set_id(oids: Iterable[str]) -> str:
    """The sha256 of the sorted, de-duplicated ids, one per line (the same in every format)."""
    body = "".join(o + "\n" for o in sorted(set(oids)))
    return hashlib.sha256(body.encode()).hexdigest()


def encode(oids: Iterable[str]) -> bytes:
    """A format 2 body: header line, raw ids, sha256 trailer. (Ids are random bytes: zlib
    would not shrink them, so there is none.)"""
    ids = sorted(set(oids))
    header = json.dumps({"folio-set": RECORD_VERSION, "objects": len(ids)}, sort_keys=True)
    data = header.encode() + b"\n" + bytes.fromhex("".join(ids))
    return data + hashlib.sha256(data).digest()


def decode(data: bytes, label: str) -> list[str]:
    """The ids a record names; a record this version cannot read is an error naming it."""
    head, _, rest = data.partition(b"\n")
    try:
        header = json.loads(head)
        version = header["folio-set"]
        count = int(header["objects"])
    except (ValueError, KeyError, TypeError):
        raise CorruptObjectError(f"push record {label} has no valid header",
                                 path=label) from None
    if version not in READABLE:
        raise CorruptObjectError(f"push record {label} is version {version!r}; this folio "
                                 f"reads versions {', '.join(map(str, READABLE))}", path=label)
    if version == 1:
        ids = rest.decode("ascii", "replace").splitlines()
        if len(ids) != count or not all(is_oid(o) for o in ids):
            raise CorruptObjectError(f"push record {label} is truncated or damaged",
                                     path=label)
        return ids
    if (len(rest) != count * ID_BYTES + 32
            or hashlib.sha256(data[:-32]).digest() != data[-32:]):
        raise CorruptObjectError(f"push record {label} is truncated or damaged", path=label)
    raw = rest[:-32].hex()
    return [raw[i:i + 2 * ID_BYTES] for i in range(0, len(raw), 2 * ID_BYTES)]


def parse(key: str) -> Record | None:
    """``sets/<id>/<stamp>-<rand>`` as a Record; None for any other key."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != RECORD_DIR or not is_oid(parts[1]):
        return None
    match = _NAME.match(parts[2])
    if match is None:
        return None
    stamp = calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%SZ"))
    return Record(key, parts[1], float(stamp))


def has_fresh(backend: Backend, sid: str, now: float | None = None,
              trust: float = TRUST) -> bool:
    """Whether a record of set ``sid`` at most ``trust`` old is there: one LIST request."""
    now = time.time() if now is None else now
    for key, _ in backend.list(f"{RECORD_DIR}/{sid}"):
        record = parse(key)
        if record is not None and record.fresh(now, trust):
            return True
    return False


class RecordCache:
    """Record bodies this clone wrote or read, by key (``<dir>/<set id>/<name>``).

    Bodies are immutable, so a cached one is as good as the remote's; but the cache says
    nothing about what the remote holds *now*: a record vouches only while it is listed.
    A damaged entry is read again from the remote; a link in the cache is refused.
    """

    def __init__(self, base: Path | None = None, directory: Path | None = None) -> None:
        self.base = base  # a trusted directory above ``directory`` (no link below it)
        self.directory = directory

    def _path(self, key: str) -> Path | None:
        if self.directory is None or self.base is None:
            return None
        return self.directory.joinpath(*key.split("/")[1:])

    def get(self, key: str) -> list[str] | None:
        path = self._path(key)
        if path is None:
            return None
        assert self.base is not None
        try:
            return decode(read_beneath(self.base, path), str(path))
        except OSError:
            return None
        except UnsafeLinkError:
            raise
        except FolioError:
            return None

    def put(self, key: str, body: bytes) -> None:
        path = self._path(key)
        if path is not None:
            assert self.base is not None
            write_beneath(self.base, path, body, durable=False)


def read(backend: Backend, key: str, cache: RecordCache) -> list[str]:
    """A record's ids: from the cache, else one GET (then cached)."""
    ids = cache.get(key)
    if ids is not None:
        return ids
    reader = backend.open(key)
    label = f"{backend.describe()}/{key}"
    try:
        body = read_at_most(reader, MAX_RECORD_BYTES, label)
    finally:
        reader.close()
    ids = decode(body, label)
    cache.put(key, body)
    return ids


@dataclass
class Survey:
    """What the records on a remote say, as of one LIST of ``sets/``.

    ``fresh``: ids some record at most TRUST old names (a push may skip them); ``stale``:
    ids only older records name (probably there: worth a HEAD, not a blind skip).
    ``records`` is how many records were listed: none means a remote written before
    records existed (or swept clean), whose content only a listing can tell.
    """

    fresh: set[str] = field(default_factory=set)
    stale: set[str] = field(default_factory=set)
    records: int = 0


def survey(backend: Backend, cache: RecordCache, *, now: float | None = None,
           trust: float = TRUST, jobs: int = 8,
           read_stale: bool = True) -> Survey:
    """One LIST of ``sets/``, then every record's body (cached ones cost nothing).

    A record that vanished between the LIST and its GET (a gc) vouches for nothing.
    """
    now = time.time() if now is None else now
    listed = [r for key, _ in backend.list(RECORD_DIR) if (r := parse(key)) is not None]
    result = Survey(records=len(listed))
    wanted = [r for r in listed if read_stale or r.fresh(now, trust)]

    def body(record: Record) -> list[str]:
        try:
            return read(backend, record.key, cache)
        except MissingObjectError:
            return []

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        bodies = list(pool.map(body, wanted))
    for record, ids in zip(wanted, bodies, strict=True):
        (result.fresh if record.fresh(now, trust) else result.stale).update(ids)
    result.stale -= result.fresh
    return result


def write(backend: Backend, oids: Iterable[str], now: float | None = None,
          cache: RecordCache | None = None) -> str:
    """Publish a record of ``oids`` (call only once every one is on the remote)."""
    ids = sorted(set(oids))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    key = f"{RECORD_DIR}/{set_id(ids)}/{stamp}-{secrets.token_hex(4)}"
    body = encode(ids)
    backend.put_new(key, body)  # False only on a 1-in-4-billion name clash: harmless
    if cache is not None:
        cache.put(key, body)
    return key

