"""Push records: what a remote holds, known without listing it (docs/format.md, "Push records").

A push that has made every object of a set present writes, last, one small record
``sets/<set id>/<UTC stamp>-<random>``: the set id is the sha256 of the set's sorted object
ids, so a later push of the same set asks one question (a LIST of that one prefix) instead
of listing the whole remote. Records are written create-only and never rewritten.

A record vouches for its objects for :data:`TRUST` seconds after its stamp: remote gc
spares every object a record younger than its grace period names, so a push that trusts
a record at most TRUST old is never robbed by a gc whose grace is at least 2 x TRUST
(the default grace, a week, is).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterable
from typing import NamedTuple

from folio.errors import CorruptObjectError
from folio.objects.store import is_oid
from folio.remote.base import RECORD_DIR, Backend

RECORD_VERSION = 1
TRUST = 86400.0  # a push trusts a record this young (a day)
MAX_RECORD_BYTES = 64 << 20  # a million ids and their newlines, with room
_NAME = re.compile(r"(\d{8}T\d{6}Z)-[0-9a-f]{8}\Z")


class Record(NamedTuple):
    key: str
    set_id: str
    stamp: float  # POSIX seconds the writer put in the name


def set_id(oids: Iterable[str]) -> str:
    """The sha256 of the sorted, de-duplicated ids, one per line."""
    body = "".join(o + "\n" for o in sorted(set(oids)))
    return hashlib.sha256(body.encode()).hexdigest()


def encode(oids: Iterable[str]) -> bytes:
    ids = sorted(set(oids))
    header = json.dumps({"folio-set": RECORD_VERSION, "objects": len(ids)}, sort_keys=True)
    return (header + "\n" + "".join(o + "\n" for o in ids)).encode()


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
    if version != RECORD_VERSION:
        raise CorruptObjectError(f"push record {label} is version {version!r}; this folio "
                                 f"reads version {RECORD_VERSION}", path=label)
    ids = rest.decode("ascii", "replace").splitlines()
    if len(ids) != count or not all(is_oid(o) for o in ids):
        raise CorruptObjectError(f"push record {label} is truncated or damaged", path=label)
    return ids


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
        if record is not None and -300 <= now - record.stamp <= trust:  # 5 min clock skew
            return True
    return False


def write(backend: Backend, oids: Iterable[str], now: float | None = None) -> str:
    """Publish a record of ``oids`` (call only once every one is on the remote)."""
    ids = sorted(set(oids))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    key = f"{RECORD_DIR}/{set_id(ids)}/{stamp}-{secrets.token_hex(4)}"
    backend.put_new(key, encode(ids))  # False only on a 1-in-4-billion name clash: harmless
    return key
