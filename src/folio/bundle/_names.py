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


def strip_extension(name: str) -> str:
    """``name`` without the extension of its last part (``a/config.json`` -> ``a/config``)."""
    head, _, base = name.rpartition("/")
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    return f"{head}/{stem}" if head else stem


def without_extensions(index: NameIndex, names: list[str]) -> list[str]:
    """``names`` with extensions dropped where the shorter name finds the same item."""
    out = []
    for name in names:
        stem = strip_extension(name)
        out.append(stem if stem != name and index.find(stem) is index.find(name) else name)
    return out


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
        stems: dict[str, list[Entry]] = {}
        for path in sorted(entries):
            entry = entries[path]
            if entry.is_link or is_reserved(path):
                continue
            self.by_path[path] = entry
            self.by_name.setdefault(item_name(entry), entry)  # a duplicate claim: first wins
            stem = strip_extension(item_name(entry))
            if stem != item_name(entry):
                stems.setdefault(stem, []).append(entry)
        # AutoStore: "config" finds item "config.json", when no other item has that stem.
        self.by_stem = {stem: found[0] for stem, found in stems.items() if len(found) == 1}

    def find(self, name: str) -> Entry | None:
        """The item called ``name``, or whose file is ``name``, or else (AutoStore) the one
        item whose name is ``name`` plus an extension."""
        return self.by_name.get(name) or self.by_path.get(name) or self.by_stem.get(name)

    def name_of(self, entry: Entry) -> str:
        name = item_name(entry)
        return name if self.by_name.get(name) is entry else entry.path
