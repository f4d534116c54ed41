"""bytes, bytearray and memoryview as the raw bytes, read back as the type written.

A bytearray reads back as the very buffer the store handed over (no copy); bytes costs one
copy (bytes are immutable); a memoryview keeps its format and shape when ``memoryview.cast``
can rebuild them, and is otherwise refused rather than flattened silently.
"""

from __future__ import annotations

import warnings
from typing import Any, BinaryIO

from folio.codecs._detect import type_name
from folio.codecs.base import CodecWarning
from folio.errors import CodecError

_TYPES = (bytes, bytearray, memoryview)


class BytesCodec:
    """Opaque binary payloads."""

    name = "bytes"
    extension = ".bin"
    priority = 50
    needs_trust = False

    def can_encode(self, obj: object) -> bool:
        return type(obj) in _TYPES

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        if not isinstance(obj, _TYPES):
            raise CodecError(f"bytes items must be bytes, bytearray or memoryview, not "
                             f"{type_name(obj)}")
        kind = next(base for base in _TYPES if isinstance(obj, base))
        if type(obj) is not kind:
            warnings.warn(f"{type_name(obj)} is stored as bytes and reads back as "
                          f"{kind.__name__}", CodecWarning, stacklevel=3)
        meta: dict[str, Any] = {"pytype": kind.__name__}
        view = memoryview(obj)
        if isinstance(obj, memoryview) and (view.format != "B" or view.ndim != 1):
            _check_castable(view)
            meta.update(format=view.format, shape=list(view.shape or ()))
        meta["length"] = view.nbytes
        sink.write(view if view.c_contiguous else view.tobytes())
        return meta

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        kind = meta.get("pytype", "bytes")
        if kind == "bytearray":
            return data
        if kind == "memoryview":
            view = memoryview(data)
            if "format" in meta:
                shape = [int(n) for n in meta["shape"]]
                return view.cast(str(meta["format"]), shape)  # type: ignore[call-overload]
            return view
        return bytes(data)


def _check_castable(view: memoryview) -> None:
    """Refuse formats that ``memoryview.cast`` cannot rebuild on the way back."""
    try:
        memoryview(bytearray(view.itemsize)).cast(view.format)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise CodecError(
            f"a memoryview of format {view.format!r} cannot be rebuilt from bytes; "
            "store bytes(view), or the numpy array behind it"
        ) from exc
    if view.ndim == 0:
        raise CodecError("a zero-dimensional memoryview cannot be rebuilt from bytes; "
                         "store bytes(view)")
