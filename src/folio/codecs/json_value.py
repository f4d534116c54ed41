"""JSON values (dict, list, str, int, float, bool, None) as one UTF-8 JSON document.

Decisions (docs/codecs.md): dict order is kept (no key sorting, since order is part of the
value in Python); NaN and ±Infinity are written as Python's json module does (``NaN``,
``Infinity``), so they round-trip through folio although strict JSON parsers reject them;
tuples and subclasses are stored and warned about; text that UTF-8 cannot hold (lone
surrogates) is written with \\u escapes, which JSON allows.
"""

from __future__ import annotations

import json
import warnings
from typing import Any, BinaryIO

from folio.codecs._jsonscan import scan
from folio.codecs.base import CodecWarning
from folio.errors import CodecError

MAX_KEYS = 100  # metadata lands in manifests: keep it a glance, not a copy


def dumps(value: object) -> bytes:
    """UTF-8 JSON text, readable where possible, escaped only where UTF-8 cannot say it."""
    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True).encode("ascii")


def check(value: object, what: str) -> None:
    """Refuse what JSON cannot hold; warn about what it will read back as another type."""
    found = scan(value)
    if found.refusal is not None:
        raise CodecError(f"cannot store as {what}: {found.refusal} (pickle keeps any value)")
    message = found.warning()
    if message is not None:
        warnings.warn(message, CodecWarning, stacklevel=4)


def describe(value: object) -> dict[str, Any]:
    """Shape of a JSON value for describe(): kind, length, the first keys."""
    if isinstance(value, dict):
        keys = list(value)
        meta: dict[str, Any] = {"kind": "object", "length": len(keys), "keys": keys[:MAX_KEYS]}
        return meta
    if isinstance(value, list | tuple):
        return {"kind": "array", "length": len(value)}
    if isinstance(value, str):
        return {"kind": "string", "length": len(value)}
    if isinstance(value, bool):
        return {"kind": "boolean"}
    if value is None:
        return {"kind": "null"}
    return {"kind": "number"}


class JsonCodec:
    """Configs, metrics, small results: anything made of JSON types."""

    name = "json"
    extension = ".json"
    priority = 40
    needs_trust = False

    def can_encode(self, obj: object) -> bool:
        return scan(obj).refusal is None

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        check(obj, "JSON")
        sink.write(dumps(obj) + b"\n")
        return describe(obj)

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CodecError(f"stored JSON is malformed: {exc}") from exc
