"""Read-side views of a bundle: ``f.data.<name>`` proxies and ``f.metadata`` (``ItemInfo``,
what ``f.info()`` returns, is in bundle/_info.py)."""

from __future__ import annotations

import keyword
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

from folio.bundle._info import ItemInfo
from folio.bundle._names import REFERENCE_TYPE
from folio.bundle._view import FolioView
from folio.errors import ItemNotFoundError


class ItemProxy:
    """``f.data.<name>``: one item's content and facts, each read when asked for."""

    def __init__(self, folio: FolioView, name: str) -> None:
        self._folio = folio
        self._name = name

    def _info(self) -> ItemInfo:
        return self._folio.info(self._name)

    @property
    def name(self) -> str:
        return self._info().name

    @property
    def content(self) -> Any:
        """The value (``get_data``; pickles need ``get(allow_pickle=True)``)."""
        return self._folio.get_data(self._name)

    def get(self, allow_pickle: bool = False) -> Any:
        return self._folio.get_data(self._name, allow_pickle=allow_pickle)

    @property
    def description(self) -> str | None:
        return self._info().description

    @property
    def type(self) -> str | None:
        return self._info().type

    @property
    def path(self) -> Path | str:
        """The working file; for an external reference, its URI."""
        info = self._info()
        return info.uri if info.type == REFERENCE_TYPE and info.uri else info.path

    @property
    def inputs(self) -> list[str]:
        return self._info().inputs

    @property
    def dependents(self) -> list[str]:
        return self._folio.get_dependents(self._name)

    @property
    def metadata(self) -> dict[str, Any]:
        return self._info().metadata

    @property
    def size(self) -> int:
        return self._info().size

    @property
    def sha256(self) -> str | None:
        return self._info().sha256

    @property
    def created(self) -> str | None:
        return self._info().created

    def __repr__(self) -> str:
        info = self._info()
        return f"<item {info.name!r} {info.type or 'file'}, {info.size} bytes>"


class DataAccessor:
    """``f.data``: attribute access to items, for tab completion; ``f.data["a/b.json"]``."""

    _folio: FolioView

    def __init__(self, folio: FolioView) -> None:
        object.__setattr__(self, "_folio", folio)

    def __getattr__(self, name: str) -> ItemProxy:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self._folio:
            raise AttributeError(f"item {name!r} not found in bundle {self._folio.target}")
        return ItemProxy(self._folio, name)

    def __getitem__(self, name: str) -> ItemProxy:
        if name not in self._folio:
            raise ItemNotFoundError(f"item {name!r} not found in bundle {self._folio.target}")
        return ItemProxy(self._folio, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("items are added with add_data() or f[name] = value")

    def __dir__(self) -> list[str]:
        return sorted(n for n in self._folio
                      if n.isidentifier() and not keyword.iskeyword(n))

    def __iter__(self) -> Iterator[ItemProxy]:
        return (ItemProxy(self._folio, n) for n in self._folio)

    def __len__(self) -> int:
        return len(self._folio)

    def __contains__(self, name: object) -> bool:
        return name in self._folio

    def __repr__(self) -> str:
        names = self._folio.keys()
        if not names:
            return f"<no items in bundle {self._folio.target}>"
        return f"<{len(names)} item{'s' if len(names) > 1 else ''} in bundle " \
               f"{self._folio.target}: {', '.join(names)}>"


DERIVED = ("created_at", "updated_at")  # bundle times read from the items, not stored


class BundleMetadata(MutableMapping[str, Any]):
    """``f.metadata``: a dict whose every change is written at once (JSON values only).

    Kept as ``.folio-bundle.json`` in the bundle directory, an ordinary tracked file, so
    snapshots, checkout and diff carry it like any item. ``created_at`` and ``updated_at``
    read, unless set, as the oldest and newest ``created`` of the items: derived, never
    stored (nor listed by ``keys()``), so adding items on two branches still merges.
    """

    def __init__(self, folio: FolioView) -> None:
        self._folio = folio

    def _current(self) -> dict[str, Any]:
        return self._folio.read_metadata()

    def __getitem__(self, key: str) -> Any:
        current = self._current()
        if key not in current and key in DERIVED:
            times = sorted(i.created for i in self._folio.items_info() if i.created)
            if times:
                return times[0] if key == "created_at" else times[-1]
        return current[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._folio.update_metadata(lambda current: {**current, key: value})

    def __delitem__(self, key: str) -> None:
        if key not in self._current():
            raise KeyError(key)
        self._folio.update_metadata(
            lambda current: {k: v for k, v in current.items() if k != key})

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Set several keys in one write."""
        changes = dict(other, **kwargs)
        self._folio.update_metadata(lambda current: {**current, **changes})

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def to_dict(self) -> dict[str, Any]:
        return self._current()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MutableMapping | dict):
            return self._current() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._current())
