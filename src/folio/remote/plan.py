"""How objects are grouped into requests: packs on the way out, ranged reads on the way in.

Pure functions over sizes and offsets, so the request count of a push or pull can be
reasoned about (and tested) without a network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from folio.remote.catalog import Slot

LOOSE_MIN = 1 << 20  # objects this big travel alone: one request is cheap next to their bytes
PACK_MIN = 1 << 20  # ...smaller ones share packs of at least this (unless there is less)
# ...and at most this: one plain PUT (no multipart), little lost work if a push is killed,
# and on moto twice the throughput of 32 MiB multipart packs (measured, docs/remotes.md).
PACK_MAX = 8 << 20
PACK_MAX_OBJECTS = 50_000  # keeps an index under 2.5 MB
MERGE_GAP = 1 << 20  # pull: fetching a gap this small costs less than another request
SPAN_MAX = 16 << 20  # ...but one ranged GET holds at most this in memory


def pack_groups(small: list[tuple[str, int]], jobs: int,
                pack_max: int = PACK_MAX) -> list[list[str]]:
    """Split ``(oid, size)`` pairs, in order, into packs; about ``jobs`` packs when few bytes.

    Order is kept because callers list objects in manifest order, and objects pushed
    together are usually pulled together: they stay adjacent for coalesced reads.
    """
    total = sum(size for _, size in small)
    target = min(pack_max, max(min(PACK_MIN, pack_max), -(-total // max(1, jobs))))
    groups: list[list[str]] = []
    current: list[str] = []
    current_bytes = 0
    for oid, size in small:
        if current and (current_bytes + size > target or len(current) >= PACK_MAX_OBJECTS):
            groups.append(current)
            current, current_bytes = [], 0
        current.append(oid)
        current_bytes += size
    if current:
        groups.append(current)
    return groups


@dataclass
class Span:
    """One ranged GET of a pack, and the objects it carries."""

    pack_id: str
    start: int
    end: int
    members: list[tuple[str, Slot]] = field(default_factory=list)


def read_spans(wanted: list[tuple[str, Slot]], gap: int = MERGE_GAP,
               span_max: int = SPAN_MAX) -> list[Span]:
    """Coalesce the wanted slots of each pack into few ranged reads.

    Neighbours closer than ``gap`` share a read; when most of a pack is wanted this
    degenerates into reading the whole pack in ``span_max`` pieces.
    """
    spans: list[Span] = []
    by_pack: dict[str, list[tuple[str, Slot]]] = {}
    for oid, slot in wanted:
        by_pack.setdefault(slot.pack_id, []).append((oid, slot))
    for pack_id, members in by_pack.items():
        members.sort(key=lambda m: m[1].offset)
        span: Span | None = None
        for oid, slot in members:
            end = slot.offset + slot.length
            if span is not None and slot.offset - span.end <= gap and end - span.start <= span_max:
                span.end = max(span.end, end)
            else:
                span = Span(pack_id, slot.offset, end)
                spans.append(span)
            span.members.append((oid, slot))
    return spans
