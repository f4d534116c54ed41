"""What the parts of the bundle package see of a ``Folio``, without importing bundle/core.py.

``Folio`` (core.py) is put together from mixins (``TypedItems`` in _api.py, ``Changes`` in
_changes.py) and hands itself to helpers (``ItemPath``, ``ItemProxy``, ``DataAccessor``,
``BundleMetadata``, describe()). Those modules would need ``Folio`` for their annotations,
and core.py imports them: an import circle. So they name one of two protocols instead, and
core.py, the only module that knows every part, sits above them all:

- :class:`FolioView`, what the helpers use: public members only (ruff's SLF001 keeps
  outsiders off a Folio's underscore members). A few of them exist for these helpers alone
  and say "Internal" in their docstrings; they are not in docs/api.md.
- :class:`FolioCore`, the view plus the private primitives (manifest state, transactions,
  staging, decoding) that core.py implements and the mixins build on.

The mixins *inherit* ``FolioCore`` (PEP 544 allows a protocol as an ordinary base) rather
than annotating ``self: FolioCore`` method by method: that way a mixin's methods see both the
core's members and the mixin's own helpers, and mypy checks that ``Folio`` implements every
member declared here (a missing one makes ``Folio(...)`` "abstract"). A declared member is
never what runs: ``Folio`` or a mixin defines each one, and they come first in the MRO.
Data members are declared as bare annotations, so they add no class attribute that could
shadow an instance's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from folio.bundle._names import NameIndex
from folio.manifest import Entry, Manifest

if TYPE_CHECKING:
    from folio import codecs
    from folio.bundle._info import ItemInfo
    from folio.bundle._io import Staged
    from folio.workspace import Workspace

MetadataChange = Callable[[dict[str, Any]], dict[str, Any]]  # the current -> the new


@dataclass
class ManifestState:
    """One reading of a bundle's manifest, as the core caches it (reloaded when it changes)."""

    key: tuple[int, int, int, int]  # the file's stat identity when read (0s: not from disk)
    data: bytes  # the main manifest file as read
    manifest: Manifest
    index: NameIndex


class FolioView(Protocol):
    """The members of a Folio that the helper modules (_handles, _items, _describe) use."""

    repo: Workspace
    target: str  # the bundle directory, relative to the repo root
    path: Path  # the bundle directory

    def __contains__(self, name: object) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def keys(self) -> list[str]: ...
    def get_data(self, name: str, allow_pickle: bool = False) -> Any: ...
    def get_dependents(self, name: str) -> list[str]: ...
    def info(self, name: str) -> ItemInfo: ...
    def items_info(self) -> list[ItemInfo]: ...
    def track(self, names: Iterable[str] | None = None) -> list[str]: ...

    # -- internal: for the helpers only (each says so in its docstring in core or a mixin) ---
    @property
    def staging_dir(self) -> Path: ...
    def record_staged(self, name: str, file: str, staged: Staged, kind: str | None,
                      meta: dict[str, Any] | None, *, uri: str | None = None,
                      overwrite: bool = True) -> Entry: ...
    def recorded_item(self, name: str) -> tuple[str, Entry] | None: ...
    def read_entry(self, entry: Entry, name: str) -> bytearray: ...
    def read_metadata(self) -> dict[str, Any]: ...
    def update_metadata(self, change: MetadataChange) -> None: ...


class FolioCore(FolioView, Protocol):
    """The view plus the core's private primitives: what the mixins of Folio build on."""

    # -- manifest state and transactions -----------------------------------------------------
    def _state(self) -> ManifestState: ...
    def _state_of(self, manifest: Manifest) -> ManifestState: ...
    def _locked(self, what: str) -> AbstractContextManager[None]: ...
    def _transaction(self, what: str) -> AbstractContextManager[Manifest]: ...
    def _flush_batch(self) -> None: ...

    # -- names ---------------------------------------------------------------------------------
    def _find(self, name: str, state: ManifestState | None = None) -> Entry: ...
    def _check_place(self, index: NameIndex, name: str, file: str, overwrite: bool) -> None: ...
    @staticmethod
    def _replaced(index: NameIndex, name: str, file: str) -> list[Entry]: ...

    # -- writing ---------------------------------------------------------------------------------
    def _put(self, name: str, obj: object, codec: str | codecs.Codec | None,
             description: str | None, inputs: Iterable[str] | str | None, overwrite: bool,
             metadata: dict[str, Any], extra: dict[str, Any] | None = None) -> Entry: ...
    def _fields(self, state: ManifestState, name: str, description: str | None,
                inputs: Iterable[str] | str | None,
                metadata: dict[str, Any]) -> dict[str, Any]: ...
    def _resolve_inputs(self, state: ManifestState, name: str,
                        inputs: Iterable[str] | str) -> list[str]: ...
    def _remove_file(self, entry: Entry, reason: str) -> None: ...
    def _protect(self, rel: str, entry: Entry | None, reason: str) -> None: ...
    def _prune(self, rel: str) -> None: ...

    # -- reading ---------------------------------------------------------------------------------
    def _trusted(self, allow_pickle: bool) -> bool: ...
    def _decode(self, entry: Entry, name: str, allow_pickle: bool) -> Any: ...
