"""The codec contract: how one family of Python values becomes bytes and comes back.

A codec knows nothing of repos or manifests. The bundle layer picks a codec, lets it write
the bytes, records ``codec.name`` as the item's type and the returned metadata beside it,
and later hands the verified bytes back to the codec of that name.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Protocol, runtime_checkable


class CodecWarning(UserWarning):
    """A value was stored, but some part of it will read back differently (see docs/codecs.md).

    Its own class so that users can turn it into an error with ``warnings.simplefilter``.
    """


@runtime_checkable
class Codec(Protocol):
    """Typed values <-> bytes for one family of objects.

    ``name`` is recorded in manifests, so it must never change once released. ``decode``
    receives a bytearray it now owns: wrapping it without a copy is allowed and encouraged.
    A codec may also define ``extensions`` (a tuple) when several file extensions should
    select it from an item name; ``extension`` is always the first of them.

    ``needs_trust`` marks a format whose every item can run code (pickle). A format where
    only some items are dangerous (an .npy of Python objects, Parquet with extension types)
    sets ``checks_trust = True`` instead and takes ``decode(data, meta, *, trusted)``: it
    must raise :class:`~folio.errors.UntrustedDataError` for those items unless trusted.
    """

    name: str
    extension: str
    priority: int
    needs_trust: bool

    def can_encode(self, obj: object) -> bool:
        """True when this codec can store ``obj`` (cheap: looks at types, imports nothing)."""
        ...

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        """Write ``obj`` to ``sink`` (write() and tell() only); return JSON-able metadata."""
        ...

    def decode(self, data: bytearray, meta: dict[str, Any]) -> object:
        """Rebuild the value from the bytes ``encode`` wrote and the metadata it returned."""
        ...


TRUST_HINT = ("if you trust where it came from, pass allow_pickle=True or set "
              "`trust_pickles = true` in this clone's local config (.git/folio/config.toml)")


def extensions_of(codec: Codec) -> tuple[str, ...]:
    """Every extension that selects ``codec`` from an item name, lower case."""
    extra = getattr(codec, "extensions", ())
    return tuple(ext.lower() for ext in (codec.extension, *extra))
