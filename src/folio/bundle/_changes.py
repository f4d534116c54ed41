"""Changing a bundle besides adding: delete, copy, move, track, update_item, lineage, metadata.

Mixed into :class:`folio.Folio`, building on the core primitives that bundle/_view.py
declares (``FolioCore``), so it never imports bundle/core.py. Every change is one
transaction: under the repository lock, re-read the manifest, change files and entries,
write the manifest.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from typing import Any, TypeVar

from folio import codecs
from folio.bundle._io import stage
from folio.bundle._items import BundleMetadata
from folio.bundle._lineage import lineage_fields
from folio.bundle._meta import (
    BundleWarning,
    check_json,
    check_user_metadata,
    now,
    rename_inputs,
    set_or_drop,
)
from folio.bundle._names import (
    METADATA_FILE,
    REFERENCE_TYPE,
    NameIndex,
    check_name,
    file_for,
    is_reserved,
    meta_of,
    reference_file,
)
from folio.bundle._view import FolioCore, ManifestState, MetadataChange
from folio.codecs.summary import KEYS as SUMMARY_KEYS
from folio.codecs.summary import summarize_file
from folio.errors import ArgumentError, FolioError, ItemNameError, ItemNotFoundError
from folio.manifest import Entry
from folio.ops import track
from folio.paths import check_no_symlinked_parent, is_within

FolioT = TypeVar("FolioT", bound="Changes")  # the Folio a chained change returns


class Changes(FolioCore):
    """Mixed into :class:`folio.Folio`."""

    _meta_cache: tuple[str, dict[str, Any]] | None = None  # (sha256, value) of the metadata

    # -- removing, copying, moving ------------------------------------------------------------
    def delete(self: FolioT, name_or_names: str | Iterable[str],
               warn_dependents: bool = True) -> FolioT:
        """Delete items (and their files). Every name is checked before any is deleted.

        Items that list a deleted item in their inputs keep it there (lineage is history);
        ``warn_dependents`` warns about them.
        """
        names = [name_or_names] if isinstance(name_or_names, str) else list(name_or_names)
        self._flush_batch()
        state = self._state()
        self._require_all(state, names)
        doomed = {state.index.name_of(entry) for n in names
                  if (entry := state.index.find(n)) is not None}  # all of them: checked above
        if warn_dependents:
            for gone in sorted(doomed):
                users = [d for d in self._dependents(state, gone) if d not in doomed]
                if users:
                    verb = "lists" if len(users) == 1 else "list"
                    warnings.warn(f"deleting {gone!r}, which {', '.join(map(repr, users))} "
                                  f"{verb} as input", BundleWarning, stacklevel=2)
        with self._transaction("delete") as manifest:
            index = NameIndex(manifest.entries)
            for name in names:
                entry = index.find(name)
                if entry is None or entry.path not in manifest.entries:
                    continue  # deleted meanwhile by someone else: the wish is granted
                self._remove_file(entry, "deleted")
                del manifest.entries[entry.path]
                self._prune(entry.path)
        return self

    def _require_all(self, state: ManifestState, names: list[str]) -> None:
        missing = []
        for name in names:
            if not isinstance(name, str) or state.index.find(name) is None:
                if isinstance(name, str):
                    check_name(name)
                missing.append(repr(name))
        if missing:
            from folio.errors import summarize_paths

            raise ItemNotFoundError(f"{len(missing)} item(s) not found, not in bundle "
                                    f"{self.target}: "
                                    f"{summarize_paths(missing)}; nothing was deleted")

    def copy(self: FolioT, src: str, dst: str, *, overwrite: bool = True) -> FolioT:
        """Copy item ``src`` to ``dst`` (same content object: nothing new is stored)."""
        return self._relocate(src, dst, overwrite=overwrite, keep_source=True)

    def move(self: FolioT, src: str, dst: str, *, overwrite: bool = True) -> FolioT:
        """Rename item ``src`` to ``dst``; items that list it as input follow the rename."""
        return self._relocate(src, dst, overwrite=overwrite, keep_source=False)

    def _relocate(self: FolioT, src: str, dst: str, *, overwrite: bool,
                  keep_source: bool) -> FolioT:
        from folio.worktree.materialize import LinkMode, materialize

        check_name(dst)
        self._flush_batch()
        state = self._state()
        source = self._find(src, state)
        src_name = state.index.name_of(source)
        codec = (codecs.codec_by_name(source.type)
                 if source.type not in (None, REFERENCE_TYPE) else None)
        file = (reference_file(dst) if source.type == REFERENCE_TYPE
                else file_for(dst, codec))
        with self._transaction("copy" if keep_source else "move") as manifest:
            index = NameIndex(manifest.entries)
            source = self._find(src, self._state_of(manifest))
            others = [e for e in self._replaced(index, dst, file) if e is not source]
            if others and not overwrite:
                raise ArgumentError(f"item {dst!r} already exists; pass overwrite=True",
                                    path=self.target)
            for entry in index.by_path.values():
                if entry is source or entry in others:
                    continue
                if is_within(file, entry.path) or is_within(entry.path, file):
                    raise ItemNameError(f"item {dst!r} would be stored as {file}, which clashes "
                                        f"with item {index.name_of(entry)!r}", path=self.target)
            check_no_symlinked_parent(self.repo.root, f"{self.target}/{file}")
            for entry in others:
                if entry.path != file:
                    self._remove_file(entry, f"replaced by {'copy' if keep_source else 'move'}")
                    del manifest.entries[entry.path]
                    self._prune(entry.path)
            meta = dict(meta_of(source))
            meta.pop("item", None)
            if file != dst:
                meta["item"] = dst
            if keep_source:
                meta["created"] = now()
            dest = self.path / file
            if file != source.path:
                self._protect(file, manifest.entries.get(file), "overwritten by copy/move")
                dest.parent.mkdir(parents=True, exist_ok=True)
                if keep_source:
                    assert source.sha256 is not None  # an item is never a link (NameIndex)
                    materialize(self.repo.store, source.sha256, dest, LinkMode.AUTO)
                else:
                    os.replace(self.path / source.path, dest)
                    del manifest.entries[source.path]
                    self._prune(source.path)
            elif keep_source:
                raise FolioError(f"item {src_name!r} is already stored as {file}",
                                 path=self.target)
            manifest.entries[file] = Entry(file, source.size, source.sha256, source.type,
                                           source.stored, uri=source.uri, meta=meta or None)
            if not keep_source:
                rename_inputs(manifest, src_name, dst)
        return self

    # -- files written straight into the bundle ---------------------------------------------------
    def track(self, names: Iterable[str] | None = None) -> list[str]:
        """Record files written directly into the bundle directory as plain-file items.

        With ``names``, those items' files; without, every new or changed file that
        ``folio status`` sees in the bundle. A typed item whose file was edited becomes a
        plain file (its description, inputs and metadata stay). Returns the names recorded.
        """
        self._flush_batch()
        state = self._state()
        if names is None:
            [status] = track.status(self.repo, [self.target], cwd=self.repo.root)
            wanted = [(state.index.name_of(state.index.by_path[rel])
                       if rel in state.index.by_path else rel, rel)
                      for rel in (*status.added, *status.modified) if not is_reserved(rel)]
        else:
            wanted = []
            for name in names:
                check_name(name)
                entry = state.index.find(name)
                wanted.append((state.index.name_of(entry) if entry else name,
                               entry.path if entry else name))
        found = []
        for name, rel in wanted:
            check_name(name)
            path = self.path / rel
            if not path.is_file() or path.is_symlink():
                raise FolioError(f"no file to record for item {name!r}",
                                 path=f"{self.target}/{rel}")
            oid, size, _ = self.repo.store.put_file_stat(path)
            summary = summarize_file(path, rel) if self.repo.config.summaries else None
            found.append((name, rel, oid, size, summary))
        self.repo.store.sync()
        with self._transaction("track") as manifest:
            index = NameIndex(manifest.entries)
            for name, rel, oid, size, summary in found:
                self._check_place(index, name, rel, True)
                old = manifest.entries.get(rel)
                if old is not None and old.sha256 == oid:
                    continue
                kept = meta_of(old) if old is not None else {}
                stale = ("codec", "model", *SUMMARY_KEYS)  # the old content's, not this one's
                meta = {**(summary or {}), **{k: v for k, v in kept.items() if k not in stale}}
                meta["created"] = now()
                if rel != name:
                    meta["item"] = name
                manifest.entries[rel] = Entry(rel, size, oid, None, meta=meta)
        return [name for name, *_ in found]

    # -- lineage --------------------------------------------------------------------------------
    def get_inputs(self, name: str) -> list[str]:
        """The items ``name`` was made from (``inputs=`` when it was added)."""
        inputs = meta_of(self._find(name)).get("inputs")
        return list(inputs) if isinstance(inputs, list) else []

    def get_dependents(self, name: str) -> list[str]:
        """The items that list ``name`` among their inputs."""
        self._flush_batch()
        state = self._state()
        return self._dependents(state, state.index.name_of(self._find(name, state)))

    def _dependents(self, state: ManifestState, name: str) -> list[str]:
        out = []
        for entry in state.index.by_path.values():
            inputs = meta_of(entry).get("inputs")
            if isinstance(inputs, list) and name in inputs:
                out.append(state.index.name_of(entry))
        return out

    def lineage(self) -> dict[str, list[str]]:
        """``{item: inputs}`` for every item."""
        self._flush_batch()
        state = self._state()
        return {state.index.name_of(e): list(meta_of(e).get("inputs") or [])
                for e in state.index.by_path.values()}

    def update_item(self: FolioT, name: str, *, description: str | None = None,
                    inputs: Iterable[str] | str | None = None, **metadata: Any) -> FolioT:
        """Change an item's description, inputs or metadata (``""``/``[]`` clear a field;
        a metadata value of None removes that key). The content is untouched."""
        if metadata:
            check_user_metadata({k: v for k, v in metadata.items() if v is not None}, name)
        with self._transaction("update") as manifest:
            state = self._state_of(manifest)
            entry = self._find(name, state)
            canonical = state.index.name_of(entry)
            meta = dict(meta_of(entry))
            if description is not None:
                set_or_drop(meta, "description", description)
            if inputs is not None:
                lineage = lineage_fields(self._resolve_inputs(state, canonical, inputs),
                                         state.index)
                for key in ("inputs", "external_inputs"):
                    set_or_drop(meta, key, lineage.get(key, []))
            if metadata:
                user = dict(meta.get("user") or {})
                for key, value in metadata.items():
                    if value is None:
                        user.pop(key, None)
                    else:
                        user[key] = value
                set_or_drop(meta, "user", user)
            manifest.entries[entry.path] = Entry(entry.path, entry.size, entry.sha256,
                                                 entry.type, entry.stored, uri=entry.uri,
                                                 meta=meta or None)
        return self

    # -- the bundle's own metadata ----------------------------------------------------------------
    @property
    def metadata(self) -> BundleMetadata:
        """Bundle-level metadata; ``f.metadata[key] = value`` is written at once."""
        return BundleMetadata(self)

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self.update_metadata(lambda current: dict(value))

    def read_metadata(self) -> dict[str, Any]:
        """Internal (for BundleMetadata and describe, not users): the bundle metadata now."""
        entry = self._state().manifest.entries.get(METADATA_FILE)
        if entry is None or entry.sha256 is None:
            return {}
        if self._meta_cache is not None and self._meta_cache[0] == entry.sha256:
            return dict(self._meta_cache[1])
        try:
            value = json.loads(self.read_entry(entry, METADATA_FILE))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            value = None
        if not isinstance(value, dict):
            raise FolioError("bundle metadata is not a JSON object",
                             path=f"{self.target}/{METADATA_FILE}")
        self._meta_cache = (entry.sha256, value)
        return dict(value)

    def update_metadata(self, change: MetadataChange) -> None:
        """Internal (for BundleMetadata, not users): store ``change(current)`` as the metadata.

        Read-modify-write under the lock, so two processes never lose each other's keys.
        """
        with self._locked("metadata"):
            new = change(self.read_metadata())
            check_json(new, "bundle metadata")
            payload = json.dumps(new, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
            staged, _ = stage(self.repo.store, self.staging_dir, lambda sink: sink.write(payload))
            self.record_staged(METADATA_FILE, METADATA_FILE, staged, "json", None)

