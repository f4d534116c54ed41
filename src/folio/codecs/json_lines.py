"""A list of dicts as JSON Lines: one JSON object per line, UTF-8, newline-terminated.

Chosen by a ``.jsonl`` item name or explicitly; a plain JSON document is the default for a
list. Lines are split on "\\n" only: JSON text never holds a raw newline, but it may hold
U+2028 and friends, which ``str.splitlines`` would wrongly split on.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

from folio.codecs import json_value
from folio.codecs._jsonscan import scan
from folio.errors import CodecError

_BATCH = 1024  # rows per write(): few calls, bounded memory


class JsonLinesCodec:
    """Records, logs, events: a list of JSON objects, one per line."""

    name = "jsonl"
    extension = ".jsonl"
    extensions = (".ndjson",)
    priority = 30
    needs_trust = False

    def can_encode(self, obj: object) -> bool:
        return (type(obj) is list and all(type(row) is dict for row in obj)
                and scan(obj).refusal is None)

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        if not isinstance(obj, list | tuple) or not all(isinstance(r, dict) for r in obj):
            raise CodecError("JSON Lines items must be a list of dicts")
        json_value.check(obj, "JSON Lines")
        keys: dict[str, None] = {}
        for start in range(0, len(obj), _BATCH):
            rows = obj[start : start + _BATCH]
            for row in rows:
                if len(keys) < json_value.MAX_KEYS:
                    keys.update(dict.fromkeys(row))
            sink.write(b"".join(json_value.dumps(row) + b"\n" for row in rows))
        return {"rows": len(obj), "keys": list(keys)[: json_value.MAX_KEYS]}

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        rows = []
        for number, line in enumerate(data.split(b"\n"), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise CodecError(f"stored JSON Lines are malformed at line {number}: {exc}"
                                     ) from exc
        return rows
