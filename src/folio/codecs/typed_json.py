"""Plain Python values JSON cannot keep, as tagged JSON that reads back exactly.

``datetime`` (naive or aware), ``date``, ``time``, ``timedelta``, ``Decimal``, ``complex``,
``UUID``, ``bytes``/``bytearray``, tuples, sets, frozensets and dicts with keys that are
not strings (int, float, bool, None, tuples...), at any depth inside lists and dicts: a
value of such a type is written as ``{"$type": NAME, "v": ...}`` (docs/format.md 4.11),
everything else as plain JSON. Reading gives back the same types and values (time zones
included), so none of them becomes a pickle that a teammate may not load.

Exact types only: a subclass (``pandas.Timestamp``, an ``IntEnum``, a ``namedtuple``) is not
a plain value and goes to the codec after this one, as before. A dict of string keys is
written as a JSON object, unless one of its keys is ``"$type"`` (then it is tagged).
"""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, BinaryIO, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from folio.codecs.base import CodecWarning
from folio.codecs.json_value import dumps
from folio.errors import CodecError

TAG = "$type"
_JSON_EXACT = (str, int, float, bool, type(None))
_SCALARS = (datetime, date, time, timedelta, Decimal, complex, uuid.UUID, bytes, bytearray)
_CONTAINERS = (list, dict, tuple, set, frozenset)
_EXACT_SET = frozenset(_JSON_EXACT)  # sets: one hash per value, not five comparisons
_SCALAR_SET = frozenset(_SCALARS)
_CONTAINER_SET = frozenset(_CONTAINERS)


def needs_tags(value: object) -> bool | None:
    """True when ``value`` holds something plain JSON cannot keep and tags can; False when
    plain JSON keeps all of it; None when some part is no plain value at all (or the value
    contains itself). Iterative: deep values do not hit the recursion limit here. Every
    dict add walks this first, so scalars are checked inline, never pushed."""
    top = type(value)
    if top in _EXACT_SET:
        return False
    if top in _SCALAR_SET:
        return True
    if top not in _CONTAINER_SET:
        return None
    tagged = False
    stack: list[tuple[object, bool]] = [(value, False)]
    open_ids: set[int] = set()  # the containers being walked: meeting one again is a cycle
    while stack:
        item, leaving = stack.pop()
        if leaving:
            open_ids.discard(id(item))
            continue
        if id(item) in open_ids:
            return None
        open_ids.add(id(item))
        stack.append((item, True))
        children: Iterable[object]
        if type(item) is dict:
            assert isinstance(item, dict)
            if TAG in item or not all(type(k) is str for k in item):
                tagged = True
                children = [*item, *item.values()]
            else:
                children = item.values()
        else:
            tagged = tagged or type(item) is not list
            children = cast("Iterable[object]", item)
        for child in children:
            kind = type(child)
            if kind in _EXACT_SET:
                continue
            if kind in _SCALAR_SET:
                tagged = True
            elif kind in _CONTAINER_SET:
                stack.append((child, False))
            else:
                return None
    return tagged


def encode_value(value: Any) -> Any:
    """The JSON-able form of ``value`` (tags where JSON alone would change it)."""
    kind = type(value)
    if kind in _JSON_EXACT:
        return value
    if kind is list:
        return [encode_value(v) for v in value]
    if kind is dict:
        if all(type(k) is str and k != TAG for k in value):
            return {k: encode_value(v) for k, v in value.items()}
        return {TAG: "dict", "v": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    if kind is tuple:
        return {TAG: "tuple", "v": [encode_value(v) for v in value]}
    if kind in (set, frozenset):
        members = [encode_value(v) for v in value]
        members.sort(key=lambda m: json.dumps(m, sort_keys=True))  # one canonical order
        return {TAG: kind.__name__, "v": members}
    if kind is datetime:
        return _with_zone({TAG: "datetime", "v": value.isoformat()}, value)
    if kind is date:
        return {TAG: "date", "v": value.isoformat()}
    if kind is time:
        return _with_zone({TAG: "time", "v": value.isoformat()}, value)
    if kind is timedelta:
        return {TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if kind is Decimal:
        return {TAG: "decimal", "v": str(value)}
    if kind is complex:
        return {TAG: "complex", "v": [value.real, value.imag]}
    if kind is uuid.UUID:
        return {TAG: "uuid", "v": str(value)}
    if kind in (bytes, bytearray):
        return {TAG: kind.__name__, "v": base64.b64encode(value).decode("ascii")}
    raise CodecError(f"{kind.__name__} is not a plain value")


def _with_zone(tagged: dict[str, Any], value: datetime | time) -> dict[str, Any]:
    """Name the zone when the offset alone would not bring it back (``Europe/Paris``), and
    the fold when it is 1 (the second 01:30 of a night that turns the clocks back)."""
    zone = value.tzinfo
    if value.fold:
        tagged["fold"] = 1
    if zone is None or type(zone) is timezone:
        return tagged  # naive, or a fixed offset: the ISO text keeps it exactly
    if type(zone) is ZoneInfo and zone.key:
        return {**tagged, "tz": zone.key}
    warnings.warn(f"time zone {zone!r} ({type(zone).__name__}) is kept as its UTC offset "
                  "only; use zoneinfo.ZoneInfo to keep the zone", CodecWarning, stacklevel=6)
    return tagged


def decode_value(value: Any) -> Any:
    """Inverse of :func:`encode_value`; an unknown or malformed tag is a CodecError."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if TAG not in value:
        return {k: decode_value(v) for k, v in value.items()}
    name = value[TAG]
    reader = _READERS.get(name) if isinstance(name, str) else None
    if reader is None or "v" not in value or set(value) - {TAG, "v", "tz", "fold"}:
        raise CodecError(f"unknown or malformed tagged value {ascii(name)[:40]} (written by a "
                         "newer folio?)")
    try:
        return reader(value["v"], value)
    except CodecError:
        raise
    except (TypeError, ValueError, KeyError, ZoneInfoNotFoundError) as exc:
        raise CodecError(f"malformed {name} value: {exc}") from None


def _zoned(parsed: Any, tagged: dict[str, Any]) -> Any:
    """The wall time as written, in the named zone if any, with its fold: exactly the
    value written, even a wall time the zone skips (the ISO offset is for readers)."""
    fold = tagged.get("fold", 0)
    if fold not in (0, 1):
        raise CodecError(f"malformed fold {fold!r}")
    key = tagged.get("tz")
    if key is not None:
        parsed = parsed.replace(tzinfo=ZoneInfo(str(key)))
    return parsed.replace(fold=fold)


def _pairs(v: Any) -> dict[Any, Any]:
    return {_hashable(decode_value(k)): decode_value(x) for k, x in v}


def _hashable(key: Any) -> Any:
    if isinstance(key, list | dict | set | bytearray):
        raise CodecError(f"a dict key decodes to an unhashable {type(key).__name__}")
    return key


def _members(v: Any) -> list[Any]:
    return [_hashable(decode_value(m)) for m in v]


_READERS: dict[str, Any] = {
    "dict": lambda v, _: _pairs(v),
    "tuple": lambda v, _: tuple(decode_value(x) for x in v),
    "set": lambda v, _: set(_members(v)),
    "frozenset": lambda v, _: frozenset(_members(v)),
    "datetime": lambda v, t: _zoned(datetime.fromisoformat(v), t),
    "date": lambda v, _: date.fromisoformat(v),
    "time": lambda v, t: _zoned(time.fromisoformat(v), t),
    "timedelta": lambda v, _: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "decimal": lambda v, _: Decimal(str(v)),
    "complex": lambda v, _: complex(float(v[0]), float(v[1])),
    "uuid": lambda v, _: uuid.UUID(str(v)),
    "bytes": lambda v, _: base64.b64decode(v, validate=True),
    "bytearray": lambda v, _: bytearray(base64.b64decode(v, validate=True)),
}


def describe(value: object) -> dict[str, Any]:
    """What describe() shows: the Python type, and a length for containers."""
    meta: dict[str, Any] = {"pytype": type(value).__name__}
    if isinstance(value, _CONTAINERS):
        meta["length"] = len(value)
    if type(value) is dict and all(type(k) is str for k in value):
        meta["keys"] = list(value)[:100]
    return meta


class TypedJsonCodec:
    """Timestamps, decimals, tuples, sets, int-keyed dicts...: typed plain values."""

    name = "typed-json"
    extension = ".json"
    priority = 45  # above plain JSON (which would turn a tuple into a list), below bytes/text
    needs_trust = False

    def can_encode(self, obj: object) -> bool:
        return bool(needs_tags(obj))

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        if needs_tags(obj) is None:
            raise CodecError("holds a value that is no plain value (see docs/codecs.md)")
        sink.write(dumps(encode_value(obj)) + b"\n")
        return describe(obj)

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        try:
            loaded = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CodecError(f"stored typed JSON is malformed: {exc}") from exc
        return decode_value(loaded)
