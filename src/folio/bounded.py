"""Readers that stop at a declared size: what arrives beyond it is refused, not stored.

An archive member or a remote object says how big it is (its manifest entry's ``size``, a
member header, a listing). A hostile or broken source can send more: a zip bomb, a loose
object larger than its entry. Wrapping the source here makes the copy fail at the first
byte past the bound, so staging never holds more than the bound plus one chunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from folio.errors import ManifestError, OversizeError

if TYPE_CHECKING:
    from folio.manifest import Manifest


class BoundedReader:
    """``readinto``/``read`` over ``source`` that raise OversizeError past ``limit`` bytes.

    ``what`` names the input in the one-line error. At most ``limit + 1`` bytes are ever
    asked of ``source``: the one extra byte is how an overlong input is noticed.
    """

    def __init__(self, source: Any, limit: int, what: str) -> None:
        self._source = source
        self._limit = limit
        self._what = what
        self.count = 0

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer).cast("B")
        room = self._limit + 1 - self.count
        n = _readinto(self._source, view[:max(1, min(len(view), room))])
        self._account(n)
        return n

    def read(self, size: int = -1) -> bytes:
        room = self._limit + 1 - self.count
        want = room if size < 0 else max(1, min(size, room))
        data = bytes(self._source.read(want))
        self._account(len(data))
        return data

    def _account(self, n: int) -> None:
        self.count += n
        if self.count > self._limit:
            raise OversizeError(f"{self._what} is larger than the {self._limit} bytes "
                                "expected of it; refused, nothing of it was kept")

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if callable(close):
            close()


def _readinto(source: Any, view: memoryview) -> int:
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        return readinto(view) or 0
    data = source.read(len(view))
    view[:len(data)] = data
    return len(data)


def read_at_most(source: Any, limit: int, what: str) -> bytes:
    """All of a small input, refusing one longer than ``limit`` bytes."""
    reader = BoundedReader(source, limit, what)
    parts = []
    while chunk := reader.read(1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def expected_sizes(manifests: Iterable[Manifest], label: str = "",
                   out: dict[str, int] | None = None) -> dict[str, int]:
    """``oid -> size`` for the stored entries of ``manifests``: the bound of each download.

    In manifest order, as :func:`folio.ops.roots.manifest_oids` lists them. Two entries naming
    one object with different sizes cannot both be right (the sha256 fixes the length), so
    that is refused rather than resolved in the larger one's favour.
    """
    sizes: dict[str, int] = {} if out is None else out
    for manifest in manifests:
        for entry in manifest.sorted_entries():
            if not (entry.sha256 and entry.stored):
                continue
            known = sizes.setdefault(entry.sha256, entry.size)
            if known != entry.size:
                raise ManifestError(
                    f"entry {entry.path!r} gives object {entry.sha256[:12]} size {entry.size}, "
                    f"another entry {known}", path=label + manifest.location(entry.path))
    return sizes
