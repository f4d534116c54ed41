"""Files, artifacts, views by kind, per-item metadata and sub-bundles (DataFolio, AutoStore).

A mixin of :class:`folio.Folio` (built on ``FolioCore``, bundle/_view.py). A file copied in
by ``add_file`` or ``add_artifact`` is an ordinary plain-file item (no ``type``), exactly as
if it had been written through a path handle: its name keeps its extension and ``get_data``
reads it by that extension. ``category`` is kept with the item's keyword metadata.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, MutableMapping
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from folio.bundle import _typed
from folio.bundle._io import read_object, stage
from folio.bundle._meta import build_meta
from folio.bundle._names import REFERENCE_TYPE, check_name, meta_of
from folio.bundle._view import FolioCore, FolioView
from folio.errors import ArgumentError, FolioError
from folio.hashing import hash_stream
from folio.manifest import Entry

FolioT = TypeVar("FolioT", bound="Artifacts")
COPY_CHUNK = 1 << 20

# list_contents(): DataFolio 1's keys first (so its users' code keeps working), then
# folio's other families. Each key lists item names, sorted.
CONTENT_KEYS = ("referenced_tables", "included_tables", "numpy_arrays", "json_data",
                "timestamps", "models", "pytorch_models", "artifacts", "references", "text",
                "objects", "bytes", "other")
_TORCH = ("torch-state-dict", "torch-model")


def content_key(entry: Entry) -> str:
    """The list_contents() key an item is listed under."""
    if entry.type == REFERENCE_TYPE:
        return "referenced_tables" if "table_format" in meta_of(entry) else "references"
    if entry.type in _TORCH:
        return "pytorch_models"
    codec = meta_of(entry).get("codec")
    if entry.type == "typed-json" and isinstance(codec, dict) \
            and codec.get("pytype") == "datetime":  # add_timestamp()
        return "timestamps"
    family = _typed.family(entry)
    return {"table": "included_tables", "array": "numpy_arrays", "json": "json_data",
            "model": "models", "file": "artifacts", "object": "objects", "text": "text",
            "bytes": "bytes"}.get(family, "other")


class Artifacts(FolioCore):
    """Mixed into :class:`folio.Folio`."""

    # -- files and artifacts ------------------------------------------------------------------
    def add_file(self: FolioT, path_or_name: str | os.PathLike[str],
                 src: str | os.PathLike[str] | None = None, *, name: str | None = None,
                 category: str | None = None, description: str | None = None,
                 inputs: Any = None, overwrite: bool = True, **metadata: Any) -> FolioT:
        """Copy a file into the bundle as a plain-file item.

        ``add_file("plots/loss.png")`` copies that file as item ``loss.png`` (or ``name=``);
        ``add_file("figures/loss.png", src="/tmp/x.png")`` names the item and copies ``src``.
        """
        if src is None:
            source = Path(os.fspath(path_or_name))
            item = name if name is not None else source.name
        else:
            if name is not None:
                raise ArgumentError("add_file: give the item's name once (as the first "
                                 "argument with src=, or as name=)")
            source, item = Path(os.fspath(src)), os.fspath(path_or_name)
        self._copy_in(item, source, category, description, inputs, overwrite, metadata)
        return self

    def add_artifact(self: FolioT, name: str, path: str | os.PathLike[str] | None = None,
                     category: str | None = None, description: str | None = None, *,
                     inputs: Any = None, overwrite: bool = True, **metadata: Any) -> FolioT:
        """DataFolio 1's ``add_artifact(name, path, category=)``: ``add_file`` whose
        category defaults to ``"artifact"``; ``add_artifact(path)`` names it by the file."""
        if path is None:
            path, name = name, Path(name).name
        self._copy_in(name, Path(os.fspath(path)), category or "artifact", description,
                      inputs, overwrite, metadata)
        return self

    def _copy_in(self, name: str, source: Path, category: str | None,
                 description: str | None, inputs: Any, overwrite: bool,
                 metadata: dict[str, Any]) -> None:
        check_name(name)
        if category is not None:
            if not isinstance(category, str) or not category:
                raise ArgumentError(f"category of {name!r} must be a non-empty str")
            metadata = {**metadata, "category": category}
        try:
            if not stat.S_ISREG(os.stat(source).st_mode):  # a FIFO would block the open
                raise FolioError(f"cannot copy {name!r} into the bundle: not a regular file",
                                 path=str(source))
            src = open(source, "rb")  # noqa: SIM115 - closed below, after staging
        except OSError as exc:
            raise FolioError(f"cannot copy {name!r} into the bundle: {exc.strerror or exc}",
                             path=str(source)) from None
        with src:
            state = self._state()
            fields = self._fields(state, name, description, inputs, metadata)
            self._check_place(state.index, name, name, overwrite)

            def copy(sink: Any) -> None:
                while chunk := src.read(COPY_CHUNK):
                    sink.write(chunk)

            staged, _ = stage(self.repo.store, self.staging_dir, copy)
        meta = build_meta(name, name, {}, fields, None)
        self.record_staged(name, name, staged, None, meta, overwrite=overwrite)

    def get_file(self, name: str) -> Path:
        """The working file of item ``name``, checked to hold the recorded bytes.

        A missing working file is restored from the store first (as ``folio checkout``
        would); one edited since it was recorded is refused, never returned as the item.
        """
        state = self._state()
        entry = self._find(name, state)
        canonical = state.index.name_of(entry)
        if entry.type == REFERENCE_TYPE:
            raise FolioError(f"item {canonical!r} is a reference to {entry.uri}; it has no "
                             "file here (data[name].path is its URI)", path=self.target)
        if entry.sha256 is None:
            raise FolioError(f"item {canonical!r} is a symlink, not content", path=self.target)
        work = self.path / entry.path
        if not os.path.lexists(work):
            self._restore(entry, canonical, work)
        elif _hash(work) != (entry.size, entry.sha256):
            raise FolioError(f"item {canonical!r}: the working file was changed since it was "
                             "recorded; f.track() records the change, `folio checkout` "
                             "restores the recorded file", path=f"{self.target}/{entry.path}")
        return work

    get_artifact_path = get_file  # DataFolio 1's name

    def _restore(self, entry: Entry, name: str, work: Path) -> None:
        from folio.worktree.materialize import LinkMode, materialize

        assert entry.sha256 is not None  # checked by get_file
        store = self.repo.store
        label = f"{self.target}/{entry.path}"
        try:  # verify before placing: a corrupt object must not become the working file
            read_object(store, entry.sha256, item=name, label=label, size=entry.size)
        except FileNotFoundError:
            raise store.missing([entry.sha256], label) from None
        work.parent.mkdir(parents=True, exist_ok=True)
        materialize(store, entry.sha256, work, LinkMode.AUTO)

    # -- views by kind --------------------------------------------------------------------------
    def list_contents(self) -> dict[str, list[str]]:
        """``{kind: [names]}`` for every kind (DataFolio's keys first), names sorted."""
        self._flush_batch()
        state = self._state()
        out: dict[str, list[str]] = {key: [] for key in CONTENT_KEYS}
        for entry in state.index.by_path.values():
            out[content_key(entry)].append(state.index.name_of(entry))
        return {key: sorted(names) for key, names in out.items()}

    @property
    def tables(self) -> list[str]:
        """Names of table items and referenced tables."""
        contents = self.list_contents()
        return sorted(contents["included_tables"] + contents["referenced_tables"])

    @property
    def arrays(self) -> list[str]:
        return self.list_contents()["numpy_arrays"]

    @property
    def models(self) -> list[str]:
        """Names of every model: scikit-learn, custom (joblib) and PyTorch."""
        contents = self.list_contents()
        return sorted(contents["models"] + contents["pytorch_models"])

    @property
    def pytorch_models(self) -> list[str]:
        return self.list_contents()["pytorch_models"]

    @property
    def artifacts(self) -> list[str]:
        """Names of plain-file items (add_file, add_artifact, path handles, track())."""
        return self.list_contents()["artifacts"]

    @property
    def references(self) -> list[str]:
        """Names of every external reference (tables and others)."""
        contents = self.list_contents()
        return sorted(contents["references"] + contents["referenced_tables"])

    @property
    def timestamps(self) -> list[str]:
        return self.list_contents()["timestamps"]

    # -- AutoStore ------------------------------------------------------------------------------
    def get_metadata(self, key: str) -> dict[str, Any]:
        """AutoStore's per-item metadata: size, created/modified times, type, format...

        ``created_at`` is when this content was recorded; ``modified_at`` the working
        file's modification time (None when it is missing), both UTC ISO 8601.
        """
        info = self.info(key)
        try:
            mtime = os.stat(info.path).st_mtime
        except OSError:
            modified = None
        else:
            modified = datetime.fromtimestamp(mtime, timezone.utc).isoformat(
                timespec="seconds").replace("+00:00", "Z")
        suffix = PurePosixPath(info.file).suffix.lstrip(".").lower()
        out = {**info.metadata, "file": info.file, "format": suffix or None,
               "kind": info.family, "created_at": info.created, "modified_at": modified}
        table_format = meta_of(self._find(key)).get("table_format")
        if table_format is not None:  # a referenced table: the format it is read as
            out["table_format"] = out["format"] = table_format
        return out

    def __truediv__(self, sub: str) -> SubBundle:
        """``f / "sub"``: the items under ``sub/`` as a bundle of their own names."""
        return SubBundle(self, sub)

    def __enter__(self: FolioT) -> FolioT:
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing stays open; a pending batch() is the batch's own business."""


class SubBundle(MutableMapping[str, Any]):
    """``f / "runs"``: a view of the items whose names start with ``runs/``.

    Every name given to it is joined to the prefix, so ``(f / "runs")["a"] = x`` is
    ``f["runs/a"] = x``. It is the same bundle (one manifest, one transaction each), not
    a tracked directory of its own: folio refuses a target inside another.
    """

    def __init__(self, parent: FolioView | SubBundle, prefix: str) -> None:
        base = getattr(parent, "prefix", "")
        self.root: Any = getattr(parent, "root", parent)  # the Folio (views of views too)
        self.prefix = check_name(f"{base}{prefix.strip('/')}") + "/"

    def _full(self, name: str) -> str:
        return self.prefix + check_name(name)

    @property
    def path(self) -> Path:
        return self.root.path / self.prefix.rstrip("/")

    def __getitem__(self, name: str) -> Any:
        return self.root[self._full(name)]

    def __setitem__(self, name: str, value: Any) -> None:
        self.root[self._full(name)] = value

    def __delitem__(self, name: str) -> None:
        del self.root[self._full(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._full(name) in self.root

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def keys(self) -> list[str]:  # type: ignore[override]
        """The names under the prefix, without it."""
        return [k[len(self.prefix):] for k in self.root if k.startswith(self.prefix)]

    def get_data(self, name: str, allow_pickle: bool = False) -> Any:
        return self.root.get_data(self._full(name), allow_pickle=allow_pickle)

    def add_data(self, name: str, obj: object, *args: Any, **kwargs: Any) -> SubBundle:
        self.root.add_data(self._full(name), obj, *args, **kwargs)
        return self

    def copy(self, src: str, dst: str, **kwargs: Any) -> SubBundle:
        self.root.copy(self._full(src), self._full(dst), **kwargs)
        return self

    def move(self, src: str, dst: str, **kwargs: Any) -> SubBundle:
        self.root.move(self._full(src), self._full(dst), **kwargs)
        return self

    def get_metadata(self, name: str) -> dict[str, Any]:
        return self.root.get_metadata(self._full(name))

    def __truediv__(self, sub: str) -> SubBundle:
        return SubBundle(self, sub)

    def __repr__(self) -> str:
        return f"SubBundle({self.root.target!r}, {self.prefix!r}, items={len(self)})"


def _hash(path: Path) -> tuple[int, str] | None:
    """(size, sha256) of a regular file, None if it is not one."""
    try:
        with open(path, "rb") as f:
            if not os.path.isfile(path):
                return None
            oid, size = hash_stream(f)
    except OSError:
        return None
    return size, oid

