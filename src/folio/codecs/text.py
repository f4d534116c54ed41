"""A str as UTF-8 text, byte for byte: no newline translation, no BOM, nothing appended."""

from __future__ import annotations

import warnings
from typing import Any, BinaryIO

from folio.codecs._detect import type_name
from folio.codecs.base import CodecWarning
from folio.errors import CodecError


class TextCodec:
    """Notes, logs, reports, source: a str read back equal to the one written."""

    name = "text"
    extension = ".txt"
    extensions = (".md", ".log", ".csv", ".tsv", ".html", ".yaml", ".yml", ".toml", ".py")
    priority = 50
    needs_trust = False

    def can_encode(self, obj: object) -> bool:
        return type(obj) is str

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        if not isinstance(obj, str):
            raise CodecError(f"text items must be str, not {type_name(obj)}")
        if type(obj) is not str:
            warnings.warn(f"{type_name(obj)} is stored as text and reads back as str",
                          CodecWarning, stacklevel=3)
        try:
            data = obj.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CodecError(
                f"text holds {obj[exc.start]!r} at index {exc.start}, which UTF-8 cannot encode "
                "(a lone surrogate); store it as JSON, which escapes it"
            ) from exc
        sink.write(data)
        lines = obj.count("\n") + (1 if obj and not obj.endswith("\n") else 0)
        return {"chars": len(obj), "lines": lines}

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"stored text is not valid UTF-8 at byte {exc.start}") from exc
