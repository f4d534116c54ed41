"""Bundle snapshots (DataFolio): folio snapshots named for one bundle (docs/api.md).

A bundle snapshot ``v1`` of bundle ``experiments/exp1`` is the folio snapshot tagged
``experiments/exp1@v1``: an ordinary commit under refs/folio/snapshots holding the working
manifests as recorded (the bundle's manifest is its truth, so nothing is re-captured), and
marked with the trailers ``Folio-Bundle`` and ``Folio-Bundle-Snapshot``. No data is
copied; ``folio tags``, ``folio diff``, ``folio checkout`` and ``folio push`` see it like
any snapshot, and two bundles can each have a ``v1``.

A mixin of :class:`folio.Folio`, building on the core primitives that bundle/_view.py
declares (``FolioCore``), so it never imports bundle/core.py.
"""

from __future__ import annotations

import warnings
from typing import Any

from folio.bundle._io import read_object
from folio.bundle._meta import BundleWarning
from folio.bundle._names import NameIndex
from folio.bundle._view import FolioCore
from folio.errors import (
    ArgumentTypeError,
    ManifestError,
    UnknownRevisionError,
    UnsavedChangesError,
)
from folio.git.names import validate_ref_component
from folio.manifest import Entry, Manifest

TRAILER_BUNDLE = "Folio-Bundle"  # the bundle's target
TRAILER_BUNDLE_SNAPSHOT = "Folio-Bundle-Snapshot"  # the snapshot's name within the bundle
TRAILER_BUNDLE_ITEMS = "Folio-Bundle-Items"  # its item count: listing parses no manifest
SEPARATOR = "@"  # tag = <bundle target>@<name>


class Snapshots(FolioCore):
    """Mixed into :class:`folio.Folio`."""

    def snapshot_tag(self, name: str) -> str:
        """The repository-wide tag of this bundle's snapshot ``name`` (``<target>@<name>``)."""
        if not isinstance(name, str):
            raise ArgumentTypeError(f"snapshot names are strings, not {type(name).__name__}")
        validate_ref_component(name, "snapshot")
        return validate_ref_component(f"{self.target}{SEPARATOR}{name}", "snapshot")

    def create_snapshot(self, name: str, description: str | None = None) -> dict[str, Any]:
        """Name the bundle's current state ``name`` (immutable: a second ``v1`` fails).

        Commits the working manifests as they are recorded (no copy of the data, no
        re-capture of other targets); returns what ``list_snapshots`` shows for it.
        """
        from folio.ops import snapshots

        tag = self.snapshot_tag(name)
        if description is not None and not isinstance(description, str):
            raise ArgumentTypeError(
                f"description must be a str, not {type(description).__name__}")
        self._flush_batch()
        with self._locked("snapshot"):  # refuses on a read-only bundle
            text = description if description and description.strip() else \
                f"bundle {self.target}: snapshot {name}"
            items = len(self._state().index.by_path)
            info = snapshots.create(self.repo, tag, text, capture=False, extra_trailers={
                TRAILER_BUNDLE: self.target, TRAILER_BUNDLE_SNAPSHOT: name,
                TRAILER_BUNDLE_ITEMS: str(items)})
        return self._snapshot_row(name, info, items)

    def list_snapshots(self) -> list[dict[str, Any]]:
        """This bundle's snapshots, oldest first: name, tag, description, created, items..."""
        from folio.git.repo import SNAPSHOTS_PREFIX
        from folio.ops import snapshots

        git = self.repo.git
        prefix = f"{self.target}{SEPARATOR}"
        rows = []
        for tag, sha in git.list_refs(SNAPSHOTS_PREFIX + prefix):
            commit = git.read_commit(sha)
            if commit.trailers.get(TRAILER_BUNDLE) != self.target:
                continue  # a repository-wide tag that merely looks like one of ours
            name = commit.trailers.get(TRAILER_BUNDLE_SNAPSHOT) or tag[len(prefix):]
            count = commit.trailers.get(TRAILER_BUNDLE_ITEMS, "")
            rows.append(self._snapshot_row(name, snapshots.info_from_commit(prefix + tag, commit),
                                           int(count) if count.isdigit() else None))
        return sorted(rows, key=lambda row: (row["time"], row["name"]))

    def _snapshot_row(self, name: str, info: Any, items: int | None) -> dict[str, Any]:
        if items is None:  # no count trailer (a commit made otherwise): count the items
            items = len(NameIndex(self._snapshot_manifest(info.commit, info.tag).entries)
                        .by_path)
        return {"name": name, "tag": info.tag, "description": info.message,
                "created": info.date, "time": info.time, "code_commit": info.code_commit,
                "code_dirty": info.code_dirty, "items": items, "commit": info.commit}

    def bundle_snapshot(self, name: str) -> tuple[str, Manifest]:
        """Internal (for Folio.at, not users): the tag of snapshot ``name`` and the bundle's
        manifest in it; UnknownRevisionError if this bundle has no such snapshot."""
        tag = self.snapshot_tag(name)
        from folio.git.repo import SNAPSHOTS_PREFIX

        git = self.repo.git
        sha = git.ref_target(SNAPSHOTS_PREFIX + tag)
        if sha is None or git.read_commit(sha).trailers.get(TRAILER_BUNDLE) != self.target:
            raise UnknownRevisionError(f"bundle {self.target} has no snapshot {name!r} "
                                       "(list_snapshots() lists them)")
        return tag, self._snapshot_manifest(sha, tag)

    def _snapshot_manifest(self, sha: str, tag: str) -> Manifest:
        from folio import manifest as mf

        git = self.repo.git
        rel = mf.manifest_relpath(self.target)

        def read(path: str) -> bytes:
            data = git.read_file(sha, path)
            if data is None:
                raise ManifestError(f"snapshot {tag} has no manifest file {path}")
            return data

        return mf.parse(read(rel), f"{tag}:{rel}", read, self.target)

    def restore_snapshot(self, name: str, *, force: bool = False) -> Any:
        """Make this bundle (and nothing else) what snapshot ``name`` recorded.

        As ``folio checkout TAG -- <bundle>``, with the bundle's own rule for versions: an
        item version added since (stored, in no commit) is replaced as ``add_data`` would
        replace it, after being listed in the recovery log (``folio recover``), with a
        BundleWarning. Working-file edits the store lacks are refused (UnsavedChangesError)
        unless ``force``, which saves them in the recovery log first. Returns the checkout's
        result.
        """
        from folio.ops import checkout

        tag, _ = self.bundle_snapshot(name)
        self._flush_batch()
        with self._locked("restore"):
            try:
                result = checkout.checkout(self.repo, tag, [self.target], force=force,
                                           cwd=self.repo.root)
            except UnsavedChangesError as exc:
                if "never committed" not in exc.message:  # unsaved edits: say it in API words
                    raise UnsavedChangesError(
                        f"restore_snapshot({name!r}): " + exc.message.replace(
                            "use --force", "pass force=True"), paths=exc.paths) from None
                # Checkout found no unsaved edit (it checks those first), only versions that
                # are stored: forced, it logs them before replacing them, and loses nothing.
                result = checkout.checkout(self.repo, tag, [self.target], force=True,
                                           cwd=self.repo.root)
        for line in result.warnings:
            warnings.warn(f"restore_snapshot({name!r}): {line}", BundleWarning, stacklevel=2)
        return result  # the next read reloads the manifest (its file changed)

    def delete_snapshot(self, name: str) -> None:
        """Delete the tag of snapshot ``name`` (its commit stays in git's object database)."""
        from folio.ops import snapshots

        tag, _ = self.bundle_snapshot(name)
        with self._locked("delete snapshot"):
            snapshots.delete(self.repo, tag)

    def compare_snapshots(self, a: str, b: str | None = None, *,
                          detail: bool = True) -> dict[str, Any]:
        """Items added, removed and changed from snapshot ``a`` to ``b`` (None: now).

        A changed item lists both sides' type, size and sha256 and, with ``detail``, what
        changed inside it (rows and columns, shape and dtype, JSON keys) as ``folio diff``
        computes it, for items up to diffdetail's size bound.
        """
        _, old = self.bundle_snapshot(a)
        new = self._state().manifest if b is None else self.bundle_snapshot(b)[1]
        before, after = _by_name(old), _by_name(new)
        changed = []
        for name in sorted(set(before) & set(after)):
            x, y = before[name], after[name]
            if (x.sha256, x.type, x.meta) == (y.sha256, y.type, y.meta):
                continue
            row: dict[str, Any] = {"name": name, "content_changed": x.sha256 != y.sha256,
                                   "before": _side(x), "after": _side(y)}
            if detail and x.sha256 != y.sha256:
                found = self._detail(name, x, y)
                if found is not None:
                    row["detail"] = found
            changed.append(row)
        return {"a": a, "b": b, "added": sorted(set(after) - set(before)),
                "removed": sorted(set(before) - set(after)), "changed": changed,
                "unchanged": sum(1 for n in set(before) & set(after)
                                 if n not in {c["name"] for c in changed})}

    def _detail(self, name: str, old: Entry, new: Entry) -> dict[str, Any] | None:
        from folio import diffdetail

        if old.sha256 is None or new.sha256 is None:
            return None
        store = self.repo.store
        limit = diffdetail.MAX_BYTES
        if max(old.size, new.size) > limit:
            return {"kind": "not comparable", "reason": "too large to compare"}
        sides = []
        for entry, oid in ((old, old.sha256), (new, new.sha256)):
            try:  # from the store, verified; not the working file (either side may be old)
                sides.append(bytes(read_object(
                    store, oid, item=name, label=f"{self.target}/{entry.path}",
                    size=entry.size)))
            except FileNotFoundError:
                return {"kind": "not comparable", "reason": "content not in the local store"}
        found = diffdetail.detail(new.path, sides[0], sides[1])
        return None if found is None else found.to_dict()


def _by_name(manifest: Manifest) -> dict[str, Entry]:
    index = NameIndex(manifest.entries)
    return {index.name_of(e): e for e in index.by_path.values()}


def _side(entry: Entry) -> dict[str, Any]:
    codec = (entry.meta or {}).get("codec")
    out: dict[str, Any] = {"type": entry.type, "size": entry.size, "sha256": entry.sha256}
    if isinstance(codec, dict):
        out.update({k: codec[k] for k in ("shape", "dtype", "rows", "columns") if k in codec})
    return out
