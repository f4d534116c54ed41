"""``Folio``: a bundle of typed items in one tracked directory (docs/api.md).

A bundle is an ordinary directory target: each item is a file in it, and its manifest entry
carries the item's ``type`` (the codec's name) and ``meta``. So status, snapshot, checkout,
diff and push work on bundles unchanged, and ``git diff`` of the manifest shows items change.

Writes: the value is encoded once, straight into a temporary work file and the object store
(bundle/_io.py); only then is the repository lock taken, briefly, to re-read the manifest,
rename the work file into place, set the entry and write the manifest (objects, then the
manifest, as every folio writer does). Reads: the manifest is reloaded whenever its file
changed (another process, a checkout), and the bytes come from the object the manifest
names, verified while read, so a reader never sees a torn item or someone's half-edit.

Parts: this module implements the primitives (manifest state, transactions, staging,
decoding) and the mapping API; the mixins add the typed adders (_api.py) and the other
changes (_changes.py). They and the helpers (_handles.py, _items.py, _describe.py) know a
Folio only through the protocols in _view.py, so none of them imports this module.
"""

from __future__ import annotations

import contextlib
import copy
import os
import stat
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from folio import codecs
from folio._fs import remove_readonly, temp_name
from folio.bundle import _typed
from folio.bundle._api import TypedItems
from folio.bundle._artifacts import Artifacts
from folio.bundle._changes import Changes
from folio.bundle._handles import ItemPath
from folio.bundle._info import ItemInfo
from folio.bundle._io import Staged, read_object, read_verified, stage
from folio.bundle._items import DataAccessor
from folio.bundle._lineage import check_external, lineage_fields
from folio.bundle._meta import BundleWarning, build_meta, check_user_metadata, keep_created
from folio.bundle._names import (
    REFERENCE_TYPE,
    NameIndex,
    check_name,
    file_for,
    meta_of,
    without_extensions,
)
from folio.bundle._snapshots import Snapshots
from folio.bundle._values import PlainValues
from folio.bundle._view import ManifestState
from folio.codecs.summary import summarize_file
from folio.errors import (
    ArgumentError,
    ArgumentTypeError,
    CorruptObjectError,
    FolioError,
    ItemNameError,
    ItemNotFoundError,
    PathError,
    ReadOnlyError,
)
from folio.manifest import Entry, Manifest
from folio.ops import track
from folio.paths import check_no_symlinked_parent, is_within, repo_relative

if TYPE_CHECKING:
    from folio.workspace import Workspace

# Keys of an entry's meta that the bundle owns; codec metadata is under "codec", the
# caller's keyword metadata under "user" (so neither can shadow the other).
PROTECT_HASH_LIMIT = 16 << 20  # larger same-size working files are assumed unedited
RACY_NS = 2_000_000_000  # a manifest younger than this is compared by content, not stat
# One writer thread at a time per process: RepoLock counts re-entry per instance, not thread.
_PROCESS_LOCK = threading.RLock()


@dataclass
class _Pending:
    """An item staged and waiting to be recorded (at once, or at the end of a batch)."""

    name: str
    file: str
    staged: Staged
    kind: str | None
    meta: dict[str, Any] | None
    uri: str | None
    overwrite: bool


class Folio(TypedItems, Changes, Snapshots, PlainValues, Artifacts, MutableMapping[str, Any]):
    """A bundle of named, typed items in the tracked directory ``path``.

    ``Folio("experiments/exp1")`` finds the repository from ``path`` (relative to the
    current directory); ``repo.folio("experiments/exp1")`` takes it relative to the repo
    root. A directory that is not tracked yet is created and tracked (``create=False``
    refuses instead); one inside or around another tracked target is refused.
    ``read_only=True`` opens an existing bundle for reading: every write raises
    ReadOnlyError. ``snapshot="v1"`` opens the read-only view of that bundle snapshot, even
    of a bundle no longer tracked (``at()``).
    """

    def __init__(self, path: str | os.PathLike[str], *, repo: Workspace | None = None,
                 create: bool = True, read_only: bool = False,
                 snapshot: str | None = None) -> None:
        from folio.workspace import Workspace

        raw = os.fspath(path)
        if isinstance(raw, str) and "://" in raw:
            raise ArgumentError("is a URL; a bundle is a directory in a git repository. To "
                                "keep its data in object storage, add a remote (`folio remote "
                                "add NAME s3://bucket/prefix`) and `folio push`", path=raw)
        self.read_only = bool(read_only)
        self._pinned: ManifestState | None = None  # a snapshot view's fixed manifest
        self._pinned_label: str | None = None
        if repo is None:
            absolute = Path(os.path.abspath(raw))
            repo = Workspace(_existing_ancestor(absolute))
        else:
            absolute = Path(os.path.normpath(os.path.join(repo.root, raw)))
        self.repo = repo
        self.target = repo_relative(repo.root, absolute)
        self.path = repo.root / self.target
        self._manifest_path = repo.manifest_path(self.target)
        self._cached: ManifestState | None = None
        self._batch: list[_Pending] | None = None
        self._trash: list[Path] = []
        self._staging: Path | None = None
        if snapshot is not None:
            self.read_only = True
            self._pinned_label, manifest = self.bundle_snapshot(snapshot)
            self._pinned = self._state_of(manifest)
        elif self.target in repo.targets():
            if repo.read_manifest(self.target).kind != "dir":
                raise PathError("is a tracked file, not a bundle (a directory)",
                                path=self.target)
        elif create and not read_only:
            self._create()
        else:
            raise FolioError("is not a bundle (no tracked directory there)", path=self.target)

    @property
    def staging_dir(self) -> Path:
        """Internal (for the bundle's parts, not users): where work files are staged.

        The store's staging directory, where no scan of the bundle sees them; beside the
        items if the bundle is on another filesystem (a rename needs one). Every write
        stages first, so a read-only bundle refuses here, before any byte is written.
        """
        self._check_writable()
        if self._staging is None:
            self.path.mkdir(parents=True, exist_ok=True)  # a fresh clone may lack it
            staging = self.repo.store.staging
            staging.mkdir(parents=True, exist_ok=True)
            same = os.stat(self.path).st_dev == os.stat(staging).st_dev
            self._staging = staging if same else self.path
        return self._staging

    def _create(self) -> None:
        if os.path.lexists(self.path) and not self.path.is_dir():
            raise PathError("exists and is not a directory", path=self.target)
        made = _make_dirs(self.path, self.repo.root)
        try:
            track.add(self.repo, [self.target], cwd=self.repo.root)
        except BaseException:
            for directory in reversed(made):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise

    def _check_writable(self) -> None:
        if self._pinned_label is not None:
            raise ReadOnlyError(f"is a read-only view of snapshot {self._pinned_label}; write to "
                                "the bundle itself (restore_snapshot() brings the snapshot back)",
                                path=self.target)
        if self.read_only:
            raise ReadOnlyError("was opened read-only (read_only=True); open it without to "
                                "write", path=self.target)

    # -- manifest state (reloaded when the file changes) --------------------------------------
    def _state(self) -> ManifestState:
        if self._pinned is not None:
            return self._pinned
        try:
            st = os.stat(self._manifest_path)
        except FileNotFoundError:
            raise FolioError("is no longer tracked (its manifest is gone)",
                             path=self.target) from None
        cached = self._cached
        if cached is None or cached.key != _key(st) or (
                time.time_ns() - st.st_mtime_ns < RACY_NS
                and _read(self._manifest_path) != cached.data):
            # The second test is for racy rewrites: within one timestamp tick, reusing the
            # freed inode number and keeping the size, a change looks like none to stat
            # (git's racy-clean problem), so a young manifest is compared by content.
            cached = self._cached = self._load()
        return cached

    def _load(self) -> ManifestState:
        from folio import manifest as mf

        source = self.repo.display(self._manifest_path)
        keys: dict[bytes, tuple[int, int, int, int]] = {}

        def read_main() -> bytes:
            try:
                with open(self._manifest_path, "rb") as f:
                    key = _key(os.fstat(f.fileno()))
                    data = f.read()
            except FileNotFoundError:
                raise FolioError("is no longer tracked (its manifest is gone)",
                                 path=self.target) from None
            keys[data] = key
            return data

        def use(data: bytes) -> ManifestState:
            manifest = _parse(self.repo, data, source, self.target)
            return ManifestState(keys[data], data, manifest, NameIndex(manifest.entries))

        state = mf.read_lockfree(read_main, use)
        if state.manifest.kind != "dir":
            raise PathError("is a tracked file, not a bundle (a directory)", path=self.target)
        return state

    def _state_of(self, manifest: Manifest) -> ManifestState:
        """A state over a manifest being changed in a transaction (not cached)."""
        return ManifestState((0, 0, 0, 0), b"", manifest, NameIndex(manifest.entries))

    @contextlib.contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        self._check_writable()
        with _PROCESS_LOCK, self.repo.lock.hold(f"folio bundle {what} ({self.target})"):
            yield

    def refresh(self) -> Folio:
        """Forget the cached manifest (reads reload it by themselves when it changes)."""
        self._cached = None
        return self

    # -- snapshot views (the snapshots themselves: bundle/_snapshots.py) ----------------------
    def at(self, snapshot: str) -> Folio:
        """A read-only view of this bundle as its snapshot ``snapshot`` recorded it.

        Every read works as on the bundle (``get_data``, ``f[name]``, ``keys()``,
        ``describe()``, ``metadata``); every write raises ReadOnlyError.
        """
        tag, manifest = self.bundle_snapshot(snapshot)
        view = copy.copy(self)  # the same bundle, with its own (fixed) state
        vars(view).update(read_only=True, _cached=None, _batch=None, _meta_cache=None,
                          _pinned=self._state_of(manifest), _pinned_label=tag)
        return view

    @classmethod
    def load_snapshot(cls, path: str | os.PathLike[str], snapshot: str, *,
                      repo: Workspace | None = None) -> Folio:
        """``Folio(path, snapshot=snapshot)`` (DataFolio's spelling): the read-only view of
        bundle snapshot ``snapshot``, also of a bundle that is no longer tracked."""
        return cls(path, repo=repo, snapshot=snapshot)

    @property
    def created_at(self) -> str | None:
        """When the bundle got its first item still recorded (ISO 8601, UTC).

        Derived from the items' ``created`` times, not stored: a stored, ever-changing
        time would make every two branches that add items conflict in git.
        """
        return self.metadata.get("created_at")

    @property
    def updated_at(self) -> str | None:
        """When an item was last written (ISO 8601, UTC); derived, as ``created_at``."""
        return self.metadata.get("updated_at")

    @contextlib.contextmanager
    def _transaction(self, what: str) -> Iterator[Manifest]:
        """The current manifest, under the repo lock; written back when the block ends."""
        self._check_writable()
        with _PROCESS_LOCK:
            self._trash = []
            try:
                with self.repo.lock.hold(f"folio bundle {what} ({self.target})"):
                    current = self._state().manifest
                    work = Manifest(current.target, current.kind, dict(current.entries))
                    while self._batch:  # items added in a batch() go first, in order
                        self._apply(work, self._batch[0])
                        self._batch.pop(0)
                    yield work
                    self._keep_new_objects(current, work)
                    self.repo.write_manifest(work)
                    # Read back under the lock: no other writer can have replaced it since.
                    with open(self._manifest_path, "rb") as f:
                        key = _key(os.fstat(f.fileno()))
                        data = f.read()
                    self._cached = ManifestState(key, data, work, NameIndex(work.entries))
            finally:
                trash, self._trash = self._trash, []
                _discard_later(trash)

    def _keep_new_objects(self, before: Manifest, after: Manifest) -> None:
        """Make sure, under the lock, that every object ``after`` names anew is stored.

        Items reach the store before the lock is taken (bundle/_io.py), so a ``folio gc``
        with a short grace that held the lock meanwhile may have deleted one as named by
        nothing. gc deletes only under the lock: what is present now stays until the
        manifest written next names it. A deleted object is stored again from the item's
        file, which holds the same bytes (checked by hash).
        """
        store = self.repo.store
        named = {e.sha256 for e in before.entries.values()}
        restored = False
        for path, entry in after.entries.items():
            oid = entry.sha256
            if oid is None or not entry.stored or oid in named or store.has(oid):
                continue
            loc = f"{self.target}/{path}"
            try:
                got = store.put_file_stat(self.path / path)[0]
            except FileNotFoundError:
                got = None
            if got != oid:
                raise store.missing([oid], loc)
            restored = True
        if restored:
            store.sync()  # durable before the manifest names it

    # -- names -------------------------------------------------------------------------------
    def _lookup(self, name: object,
                state: ManifestState | None = None) -> tuple[ManifestState, Entry | None]:
        state = state or self._state()
        entry = state.index.find(name) if isinstance(name, str) else None
        if entry is None and self._batch:  # read-your-writes inside a batch
            self._flush_batch()
            state = self._state()
            entry = state.index.find(name) if isinstance(name, str) else None
        return state, entry

    def _find(self, name: str, state: ManifestState | None = None) -> Entry:
        state, entry = self._lookup(name, state)
        if entry is None:
            check_name(name)
            raise ItemNotFoundError(f"item {name!r} not found in bundle {self.target}")
        return entry

    def recorded_item(self, name: str) -> tuple[str, Entry] | None:
        """Internal (for ItemPath, not users): item ``name``'s own name and entry as recorded.

        None if there is none. Unlike the user-facing reads, a pending batch() is not
        recorded first.
        """
        state = self._state()
        entry = state.index.find(name)
        return None if entry is None else (state.index.name_of(entry), entry)

    def _flush_batch(self) -> None:
        if self._batch:
            with self._transaction("batch"):
                pass

    def keys(self, extensions: bool = True) -> list[str]:  # type: ignore[override]
        """Item names, sorted; ``extensions=False`` drops each name's extension (AutoStore)
        where that still names one item only (docs/api.md, "AutoStore surface")."""
        self._flush_batch()
        state = self._state()
        names = sorted(state.index.name_of(e) for e in state.index.by_path.values())
        return names if extensions else sorted(without_extensions(state.index, names))

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        self._flush_batch()
        return len(self._state().index.by_path)

    def __contains__(self, name: object) -> bool:
        return self._lookup(name)[1] is not None

    # -- writing -------------------------------------------------------------------------------
    def add_data(self, name: str, obj: object, description: str | None = None,
                 inputs: Iterable[str] | str | None = None, *, overwrite: bool = True,
                 codec: str | codecs.Codec | None = None, **metadata: Any) -> Folio:
        """Store ``obj`` as item ``name``, in the format its type calls for (docs/codecs.md).

        ``inputs`` names the items it was made from (lineage); keyword ``metadata`` (JSON
        values) is kept with it. ``codec`` forces a codec or family by name ("table",
        "model", "json", "pickle"...). Replaces an existing item unless ``overwrite=False``.
        """
        self._put(name, obj, codec, description, inputs, overwrite, metadata)
        return self

    add = add_data  # DataFolio 2 spelling

    def _put(self, name: str, obj: object, codec: str | codecs.Codec | None,
             description: str | None, inputs: Iterable[str] | str | None, overwrite: bool,
             metadata: dict[str, Any], extra: dict[str, Any] | None = None) -> Entry:
        check_name(name)
        state = self._state()
        fields = self._fields(state, name, description, inputs, metadata)
        if isinstance(codec, str):
            chosen = codecs.explicit(codec, obj)
        elif codec is None:
            chosen = codecs.codec_for_object(obj, name_hint=name)
        else:
            chosen = codec
        file = file_for(name, chosen)
        self._check_place(state.index, name, file, overwrite)
        staged, (used, codec_meta) = stage(
            self.repo.store, self.staging_dir,
            lambda sink: codecs.encode(obj, cast(BinaryIO, sink), codec=chosen))
        meta = build_meta(name, file, codec_meta, fields, extra)
        return self.record_staged(name, file, staged, used.name, meta, overwrite=overwrite)

    def _fields(self, state: ManifestState, name: str, description: str | None,
                inputs: Iterable[str] | str | None, metadata: dict[str, Any]) -> dict[str, Any]:
        """Validate the bundle-level fields of a new item (before anything is written)."""
        fields: dict[str, Any] = {}
        if description is not None:
            if not isinstance(description, str):
                raise ArgumentTypeError(
                    f"description must be a str, not {type(description).__name__}")
            fields["description"] = description
        if inputs is not None:
            fields.update(lineage_fields(self._resolve_inputs(state, name, inputs),
                                         state.index, self._batch))
        if metadata:
            check_user_metadata(metadata, name)
            fields["user"] = dict(metadata)
        return fields

    def _resolve_inputs(self, state: ManifestState, name: str,
                        inputs: Iterable[str] | str) -> list[str]:
        """Canonical names of the inputs; a name no item has is an external source, kept
        as given (``external_inputs`` tells which were external when recorded)."""
        names = [inputs] if isinstance(inputs, str) else list(inputs)
        pending = {key: item.name for item in self._batch or () for key in (item.name, item.file)}
        resolved = []
        for raw in names:
            entry = state.index.find(raw) if isinstance(raw, str) else None
            if entry is None and raw in pending:
                canonical = pending[raw]
            elif entry is None:
                canonical = check_external(raw, name)
            else:
                canonical = state.index.name_of(entry)
            if canonical == name:
                raise ArgumentError(f"item {name!r} cannot be its own input")
            if canonical not in resolved:
                resolved.append(canonical)
        return resolved

    def _check_place(self, index: NameIndex, name: str, file: str, overwrite: bool) -> None:
        """Refuse a file that would sit inside another item's file, or contain one."""
        existing = index.find(name)
        if existing is not None and not overwrite:
            raise ArgumentError(f"item {name!r} already exists; pass overwrite=True to "
                                "replace it", path=self.target)
        replaced = self._replaced(index, name, file)
        for entry in index.by_path.values():
            if entry in replaced:
                continue
            if is_within(file, entry.path) or is_within(entry.path, file):
                raise ItemNameError(
                    f"item {name!r} would be stored as {file}, which clashes with item "
                    f"{index.name_of(entry)!r} ({entry.path})", path=self.target)

    @staticmethod
    def _replaced(index: NameIndex, name: str, file: str) -> list[Entry]:
        out = [e for e in (index.by_name.get(name), index.by_path.get(file)) if e is not None]
        return list({id(e): e for e in out}.values())

    def record_staged(self, name: str, file: str, staged: Staged, kind: str | None,
                      meta: dict[str, Any] | None, *, uri: str | None = None,
                      overwrite: bool = True) -> Entry:
        """Internal (for the bundle's parts, not users): record a staged item.

        Puts the work file staged by bundle/_io.py in place as item ``name`` and records its
        entry: at once (the lock held briefly), or at the end of the current batch().
        """
        item = _Pending(name, file, staged, kind, meta, uri, overwrite)
        if self._batch is not None:
            self._batch.append(item)
            return Entry(file, staged.size, staged.oid, kind, uri=uri, meta=meta or None)
        try:
            with self._transaction("add") as manifest:
                entry = self._apply(manifest, item)
        except BaseException:
            remove_readonly(staged.work_tmp)
            raise
        return entry

    def _apply(self, manifest: Manifest, item: _Pending) -> Entry:
        name, file, staged = item.name, item.file, item.staged
        index = NameIndex(manifest.entries)
        self._check_place(index, name, file, item.overwrite)
        replaced = self._replaced(index, name, file)
        meta = item.meta
        if meta is not None and file != name:
            meta = {**meta, "item": name}
        if item.kind != "reference" and self.repo.config.summaries:  # docs/format.md 4.3
            found = summarize_file(staged.work_tmp, file)
            meta = {**found, **(meta or {})} if found else meta
        meta = keep_created(replaced, staged.oid, item.kind, meta)
        dest = self.path / file
        check_no_symlinked_parent(self.repo.root, f"{self.target}/{file}")
        moved_away = [e for e in replaced if e.path != file]
        for entry in moved_away:
            self._remove_file(entry, "replaced by add_data")
            del manifest.entries[entry.path]
        self._protect(file, manifest.entries.get(file), "overwritten by add_data")
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._move_aside(dest)
        os.replace(staged.work_tmp, dest)
        entry = Entry(file, staged.size, staged.oid, item.kind, uri=item.uri, meta=meta or None)
        manifest.entries[file] = entry
        for old in moved_away:
            self._prune(old.path)
        return entry

    @contextlib.contextmanager
    def batch(self) -> Iterator[Folio]:
        """Record every item added in the block with one manifest write, at its end.

        Values are still encoded and stored as they are added; only the bookkeeping waits.
        Reading an item added in the block records the batch so far first. If the block
        raises, its items are not recorded (their objects are left for ``folio gc``).
        """
        if self._batch is not None:  # nested: the outer batch records
            yield self
            return
        self._batch = []
        try:
            yield self
            if self._batch:
                with self._transaction("batch"):
                    pass
        finally:
            pending, self._batch = self._batch, None
            for item in pending:
                remove_readonly(item.staged.work_tmp)

    def _remove_file(self, entry: Entry, reason: str) -> None:
        self._protect(entry.path, entry, reason)
        self._move_aside(self.path / entry.path)

    def _move_aside(self, path: Path) -> None:
        """Take a file out of the work tree now; unlink it after the lock is released.

        Unlinking a large file (dropping its cached pages) takes tens of milliseconds that
        no one needs to wait for, and renaming a new file over an old one makes ext4 flush
        the new file's data at once (its replace-via-rename safeguard); both are avoided.
        """
        if self.staging_dir == self.path:  # staging beside the items: no hidden place for it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        trash = temp_name(self.staging_dir, "folio-trash.")
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        self._trash.append(trash)

    def _protect(self, rel: str, entry: Entry | None, reason: str) -> None:
        """Keep content about to be replaced or deleted, unless the store already has it.

        A file whose bytes the store already holds (its recorded content, say) is safe to
        drop. Other content (an edit nobody recorded, an untracked file in the way) is
        stored and listed in the recovery log, as a forced checkout does: `folio recover`
        brings it back. Same-size files above
        PROTECT_HASH_LIMIT are assumed unedited rather than hashed (docs/api.md).
        """
        path = self.path / rel
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise ItemNameError(f"{self.target}/{rel} is a directory; move it out of the way "
                                "first", path=self.target)
        if not stat.S_ISREG(st.st_mode):
            return  # a symlink holds no content of its own
        store = self.repo.store
        if (entry is not None and entry.sha256 and st.st_size == entry.size
                and st.st_size > PROTECT_HASH_LIMIT):
            return
        oid = store.put_file_stat(path, store_copy=False)[0]
        if (entry is not None and oid == entry.sha256) or store.has(oid):
            return  # nothing unsaved: the store holds these bytes
        from folio.ops import recovery

        oid, size, _ = store.put_file_stat(path)
        store.sync()
        loc = f"{self.target}/{rel}"
        recovery.append(self.repo.local_dir, [recovery.RecoveryRecord(
            recovery.now(), loc, oid, size, f"bundle: {reason}")])
        warnings.warn(f"{loc} held unrecorded changes; they are saved: `folio recover {loc}`",
                      BundleWarning, stacklevel=4)

    def _prune(self, rel: str) -> None:
        """Remove directories left empty inside the bundle (never the bundle itself)."""
        parts = rel.split("/")[:-1]
        while parts:
            try:
                (self.path / "/".join(parts)).rmdir()
            except OSError:
                return
            parts.pop()

    # -- reading -------------------------------------------------------------------------------
    def get_data(self, name: str, allow_pickle: bool = False, *,
                 snapshot: str | None = None) -> Any:
        """The value of item ``name``, read from the store and verified while read.

        The manifest is the truth: a working file edited since it was added is not what
        is returned (a BundleWarning says so). Pickles and full models need
        ``allow_pickle=True`` or ``trust_pickles = true`` in the local config
        (.git/folio/config.toml). ``snapshot`` reads the item as bundle snapshot
        ``snapshot`` holds it (``create_snapshot``).
        """
        if snapshot is not None:
            return self.at(snapshot).get_data(name, allow_pickle)
        state = self._state()
        entry = self._find(name, state)
        return self._decode(entry, state.index.name_of(entry), allow_pickle)

    def _trusted(self, allow_pickle: bool) -> bool:
        return bool(allow_pickle) or self.repo.config.trust_pickles

    def _decode(self, entry: Entry, name: str, allow_pickle: bool) -> Any:
        """Read and decode one item; every refusal or reader failure names it (registry)."""
        trusted = self._trusted(allow_pickle)
        label = f"{self.target}/{entry.path}"
        if entry.type == REFERENCE_TYPE:
            return self._read_reference(entry, name, trusted, label)
        codec = codecs.codec_by_name(entry.type, item=label) if entry.type else \
            _typed.codec_for_file(entry.path)
        if codec.needs_trust and not trusted:  # refuse before reading a byte
            return codecs.decode(codec.name, bytearray(), {}, allow_pickle=False, item=label)
        data = self.read_entry(entry, name)
        meta = meta_of(entry).get("codec") if entry.type else None
        return codecs.decode(codec.name, data, meta if isinstance(meta, dict) else {},
                             allow_pickle=trusted, item=label)

    def read_entry(self, entry: Entry, name: str) -> bytearray:
        """Internal (for the bundle's parts, not users): the bytes ``entry`` records.

        Verified while read, from the store, or else from a working file that still holds
        exactly those bytes; errors name item ``name``.
        """
        if entry.sha256 is None:
            raise FolioError(f"item {name!r} is a symlink, not content", path=self.target)
        label = f"{self.target}/{entry.path}"
        work = self.path / entry.path
        if self._pinned is None:  # a snapshot's view does not describe the working files
            self._warn_if_edited(work, entry, label)
        store = self.repo.store
        try:
            return read_object(store, entry.sha256, item=name, label=label, size=entry.size)
        except FileNotFoundError:
            pass
        # Not in this store (a --no-copy entry, or not pulled yet): the working file will do
        # if it still holds exactly the recorded bytes.
        try:
            return read_verified(work, entry.sha256, item=name, label=label, size=entry.size)
        except (FileNotFoundError, CorruptObjectError):
            raise self.repo.store.missing([entry.sha256], label) from None

    def _warn_if_edited(self, work: Path, entry: Entry, label: str) -> None:
        try:
            size = os.stat(work).st_size
        except FileNotFoundError:
            warnings.warn(f"{label}: the working file is missing; returning the recorded "
                          "content (`folio checkout` restores the file)", BundleWarning,
                          stacklevel=5)
            return
        except OSError:
            return
        if size != entry.size:
            warnings.warn(f"{label}: the working file was changed since it was recorded; "
                          "returning the recorded content (add it again to record the change)",
                          BundleWarning, stacklevel=5)

    # -- the mapping protocol (AutoStore) -------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        """A typed item's value; a plain file's path handle; a handle for a new file name.

        ``f["df"]`` is the DataFrame; ``f["artifacts/config.json"]`` is a path-like handle
        when that item is a plain file or does not exist yet (``write_text``, ``open``...).
        A missing name without an extension raises KeyError (ItemNotFoundError).
        """
        state, entry = self._lookup(name)
        if entry is not None:
            if entry.type is None:
                return self.path_of(name)
            return self._decode(entry, state.index.name_of(entry), False)
        check_name(name)
        if "." in name.rsplit("/", 1)[-1].lstrip("."):
            return self.path_of(name)
        raise ItemNotFoundError(f"item {name!r} not found in bundle {self.target}")

    def __setitem__(self, name: str, obj: object) -> None:
        self._put(name, obj, None, None, None, True, {})

    def __delitem__(self, name: str) -> None:
        self.delete(name, warn_dependents=True)

    def get(self, name: str, default: Any = None) -> Any:
        """``f[name]`` if the item exists, else ``default`` (never a new path handle)."""
        return self[name] if name in self else default  # noqa: SIM401 - this *is* get

    # -- views ------------------------------------------------------------------------------------
    @property
    def data(self) -> DataAccessor:
        """``f.data.<name>`` item proxies (``.content``, ``.description``, ...), tab-completable."""
        return DataAccessor(self)

    def info(self, name: str) -> ItemInfo:
        """Everything recorded about one item (size, sha256, type, created, lineage...)."""
        state = self._state()
        entry = self._find(name, state)
        return ItemInfo.of(self.path, state.index.name_of(entry), entry)

    def items_info(self) -> list[ItemInfo]:
        """``info()`` of every item, sorted by name."""
        self._flush_batch()
        state = self._state()
        infos = [ItemInfo.of(self.path, state.index.name_of(e), e)
                 for e in state.index.by_path.values()]
        return sorted(infos, key=lambda info: info.name)

    def path_of(self, name: str) -> ItemPath:
        """A path-like handle for item ``name`` (notata): ``write_text``, ``open``, ``track``."""
        check_name(name)
        return ItemPath(self, name)

    def __repr__(self) -> str:
        view = f", snapshot={self._pinned_label!r}" if self._pinned_label else ""
        mode = ", read_only=True" if self.read_only and not view else ""
        return f"Folio({self.target!r}, items={len(self)}{view}{mode})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Folio) and other.repo.root == self.repo.root
                and other.target == self.target)

    def __hash__(self) -> int:
        return hash((str(self.repo.root), self.target))


# -- helpers ------------------------------------------------------------------------------------

_unlinker: tuple[int, ThreadPoolExecutor] | None = None


def _discard_later(paths: list[Path]) -> None:
    """Unlink files moved aside, on a helper thread (joined at interpreter exit).

    A forked child gets its own thread (the parent's does not exist there); a file left by
    a process killed first is a stale ``.tmp-*`` that ``folio gc`` removes.
    """
    global _unlinker
    if not paths:
        return
    if _unlinker is None or _unlinker[0] != os.getpid():
        _unlinker = (os.getpid(), ThreadPoolExecutor(max_workers=1,
                                                     thread_name_prefix="folio-discard"))
    for path in paths:
        _unlinker[1].submit(remove_readonly, path)


def _key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns)


def _read(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _parse(ws: Workspace, data: bytes, source: str, target: str) -> Manifest:
    from folio import manifest as mf

    return mf.parse(data, source, ws.read_manifest_file, target)


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")  # pragma: no cover


def _make_dirs(path: Path, stop: Path) -> list[Path]:
    """mkdir -p, returning the directories it created (outermost first)."""
    missing = []
    current = path
    while not current.exists() and current != stop:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
    return list(reversed(missing))

