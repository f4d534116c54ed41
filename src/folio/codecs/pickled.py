"""Any picklable object, as a pickle (protocol 5). Reading one back can run code.

This is the fallback of last resort (lowest priority): it keeps what no other format can,
but loading needs trust, so an item from someone else's pull request cannot run code here.
"""

from __future__ import annotations

import io
import pickle
import types
from typing import Any, BinaryIO

from folio.codecs._detect import type_name

PROTOCOL = 5  # fixed, not HIGHEST_PROTOCOL: bytes must not change with the Python version

# Types pickle cannot store: refusing them up front gives "no codec" instead of a pickle error.
_UNPICKLABLE = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType,
                types.ModuleType, types.FrameType, types.TracebackType, io.IOBase)


def dump(obj: object, sink: BinaryIO) -> None:
    """Pickle straight into the sink: large buffers are written without an extra copy."""
    pickle.dump(obj, sink, protocol=PROTOCOL)


def load(data: bytearray) -> object:
    """Unpickle from the buffer itself (pickle reads bytes-like objects without copying)."""
    return pickle.loads(data)


class PickleCodec:
    """Arbitrary Python objects; needs trust to read."""

    name = "pickle"
    extension = ".pkl"
    extensions = (".pickle",)
    priority = 0
    needs_trust = True

    def can_encode(self, obj: object) -> bool:
        return not isinstance(obj, _UNPICKLABLE)

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        dump(obj, sink)
        return {"pytype": type_name(obj)}

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        return load(data)
