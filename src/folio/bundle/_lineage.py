"""Lineage to sources outside the bundle (``inputs=["raw_data"]`` naming no item).

DataFolio records any name as an input. folio resolves names of items to their canonical
names and keeps any other name as given, as an *external* source; ``meta.external_inputs``
lists the inputs that named no item when they were recorded, so ``describe()`` can tell
"raw_data (external)" from an input item deleted since ("(deleted)").
"""

from __future__ import annotations

from typing import Any

from folio.bundle._names import NameIndex
from folio.errors import ItemNameError

MAX_EXTERNAL = 1024  # characters: a name or URI, not a document


def check_external(raw: object, name: str) -> str:
    """An external input as given: a non-empty, one-line string."""
    if not isinstance(raw, str) or not raw.strip() or "\n" in raw or "\x00" in raw \
            or len(raw) > MAX_EXTERNAL:
        raise ItemNameError(f"inputs of {name!r}: {str(raw)[:80]!r} is neither an item nor "
                            f"an external name (a one-line string of at most {MAX_EXTERNAL} "
                            "characters)")
    return raw


def lineage_fields(inputs: list[str], index: NameIndex, pending: Any = None) -> dict[str, Any]:
    """``inputs``, and ``external_inputs`` for the ones no item (or pending item) has."""
    waiting = {key for item in pending or () for key in (item.name, item.file)}
    external = [n for n in inputs if index.find(n) is None and n not in waiting]
    fields: dict[str, Any] = {"inputs": inputs}
    if external:
        fields["external_inputs"] = external
    return fields
