"""Item names and the files that hold them (docs/api.md, "Item names and files").

An item's file is its name, plus the codec's extension unless the name already ends with
one the codec claims: item ``df`` holding a DataFrame is ``df.parquet``, ``events.jsonl``
stays ``events.jsonl``. When the two differ, the manifest entry records the name in
``meta.item``; otherwise the entry path is the name. Either spelling finds the item.
Names whose parts start with ``.folio`` are reserved (bundle metadata, temporary files).
"""

from __future__ import annotations

from typing import Any

from folio.codecs.base import Codec, extensions_of
from folio.errors import ItemNameError
from folio.manifest import Entry
from folio.paths import validate_item_name

RESERVED_PREFIX = ".folio"
METADATA_FILE = ".folio-bundle.json"  # the bundle's own metadata (f.metadata)
REFERENCE_TYPE = "reference"
REFERENCE_EXTENSION = ".ref.json"


def check_name(name: object) -> str:
    """A valid, unreserved item name, or ItemNameError saying what is wrong."""
    if not isinstance(name, str):
        raise ItemNameError(f"item names are strings, not {type(name).__name__}")
    validate_item_name(name)
    if any(part.startswith(RESERVED_PREFIX) for part in name.split("/")):
        raise ItemNameError(f"invalid item name {name!r}: names starting with "
                            f"{RESERVED_PREFIX!r} are reserved for folio")
    return name


def is_reserved(path: str) -> bool:
    return any(part.startswith(RESERVED_PREFIX) for part in path.split("/"))


def has_extension(name: str, extensions: tuple[str, ...]) -> bool:
    lowered = name.lower()
    base = lowered.rsplit("/", 1)[-1]
    return any(base.endswith(ext) and len(base) > len(ext) for ext in extensions)


def file_for(name: str, codec: Codec | None) -> str:
    """The bundle-relative file that holds item ``name`` written by ``codec``."""
    if codec is None:
        return name
    return name if has_extension(name, extensions_of(codec)) else name + codec.extension


def reference_file(name: str) -> str:
    return name if has_extension(name, (REFERENCE_EXTENSION,)) else name + REFERENCE_EXTENSION


def item_name(entry: Entry) -> str:
    """The name an entry is known by (``meta.item`` when set, else its path)."""
    meta = entry.meta or {}
    name = meta.get("item")
    return name if isinstance(name, str) and name else entry.path


def meta_of(entry: Entry) -> dict[str, Any]:
    return entry.meta if isinstance(entry.meta, dict) else {}


class NameIndex:
    """Names -> entries of one manifest state; reserved files are not items."""

    def __init__(self, entries: dict[str, Entry]) -> None:
        self.by_name: dict[str, Entry] = {}
        self.by_path: dict[str, Entry] = {}
        for path in sorted(entries):
            entry = entries[path]
            if entry.is_link or is_reserved(path):
                continue
            self.by_path[path] = entry
            self.by_name.setdefault(item_name(entry), entry)  # a duplicate claim: first wins

    def find(self, name: str) -> Entry | None:
        """The item called ``name``, or whose file is ``name``."""
        return self.by_name.get(name) or self.by_path.get(name)

    def name_of(self, entry: Entry) -> str:
        name = item_name(entry)
        return name if self.by_name.get(name) is entry else entry.path
