"""What folio last made the working data agree with: the synced manifest of each target.

Three states are kept apart (docs/concepts.md, "Out of date"): the working data, the working
manifests, and the manifest the data was last made to match, by ``add`` (the data was
recorded) or ``checkout`` (the data was written). When git changes a manifest under data
that stayed as it was (a merge, a pull or a branch switch without the hooks), the working
file still matches the synced entry: it is *out of date*, not modified, and ``add`` must
not record it back over the teammate's change.

A record per target, ``<state dir>/synced/<16 hex of sha256(target)>.json``:
``{"target": T, "main": sha256 of the main manifest file, "files": {relpath: sha256}}``,
where each manifest file's bytes (main and shards) are kept by their sha256 in
``synced/blobs/<16 hex>/``, so an unchanged shard is not written twice. They are not objects
of the store: nothing the user versions, and never gc's business (writing or dropping a
target's record removes the blobs of that target it no longer names). A record whose
``files`` equal the working manifest's (every file, compared by sha256: a format 2 edit
leaves the main file alone) means "the same as the working manifest": nothing is out of
date. ``main`` repeats ``files``' entry for the main file. A missing or unreadable
record means "unknown" and status and add behave as they always did, except that a file
missing here whose object is not in the local store is never taken for a deletion (it was
never checked out in this clone).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from folio import manifest as mf
from folio._fs import list_beneath, read_beneath, remove_beneath, write_beneath
from folio.errors import FolioError
from folio.manifest import Manifest
from folio.objects.store import is_oid


def _key(target: str) -> str:
    return hashlib.sha256(target.encode("utf-8")).hexdigest()[:16]


def _record_path(directory: Path, target: str) -> Path:
    return directory / (_key(target) + ".json")


class SyncedRecord:
    """One target's synced manifest: its main file's sha256 and the objects of its files."""

    def __init__(self, target: str, main: str, files: dict[str, str]) -> None:
        self.target = target
        self.main = main
        self.files = files

    def manifest(self, state: SyncedState) -> Manifest | None:
        """The synced manifest, or None when a blob of it is gone or damaged."""
        main_rel = mf.manifest_relpath(self.target)
        try:
            main = state.blob(self.target, self.files[main_rel])

            def read_shard(rel: str) -> bytes:
                return state.blob(self.target, self.files[rel])

            return mf.parse(main, f"synced {main_rel}", read_shard, self.target)
        except (KeyError, OSError, FolioError):
            return None


class SyncedState:
    """The synced records of one work tree (they live in its state directory)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.blobs = directory / "blobs"

    @classmethod
    def of(cls, state_dir: Path) -> SyncedState:
        """The records of the work tree whose state directory is ``state_dir``."""
        return cls(state_dir / "cache" / "synced")

    def blob(self, target: str, digest: str) -> bytes:
        """A manifest file's bytes by their sha256, checked (a damaged one is none)."""
        data = read_beneath(self.directory.parent, self.blobs / _key(target) / digest)
        if hashlib.sha256(data).hexdigest() != digest:
            raise OSError(f"synced blob {digest[:12]} is damaged")
        return data

    def _put_blob(self, target: str, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.blobs / _key(target) / digest
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_beneath(self.directory.parent, path, data, durable=False)
        return digest

    def get(self, target: str) -> SyncedRecord | None:
        path = _record_path(self.directory, target)
        try:
            data = json.loads(read_beneath(self.directory.parent, path))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("target") != target:
            return None
        main, files = data.get("main"), data.get("files")
        if not isinstance(main, str) or not isinstance(files, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and is_oid(v)
                for k, v in files.items()):
            return None
        return SyncedRecord(target, main, files)

    def put(self, target: str, files: Iterable[tuple[str, bytes]]) -> SyncedRecord:
        """Record encoded manifest files (as :func:`folio.manifest.dump_files` gives them)
        as the target's synced manifest: their bytes go to the store first."""
        main_rel = mf.manifest_relpath(target)
        oids: dict[str, str] = {}
        main = ""
        for rel, data in files:
            oids[rel] = self._put_blob(target, data)
            if rel == main_rel:
                main = hashlib.sha256(data).hexdigest()
        record = SyncedRecord(target, main, oids)
        self._write(record)
        return record

    def put_manifest(self, manifest: Manifest) -> SyncedRecord:
        return self.put(manifest.target, mf.dump_files(manifest))

    def update(self, target: str, before_main: bytes, written: Mapping[str, bytes],
               main: bytes) -> None:
        """After an incremental write of ``written`` files (the main file ``main`` among
        them) over a manifest whose main file was ``before_main``: carry the record over
        if it stood for that manifest, else drop it (unknown beats wrong)."""
        record = self.get(target)
        main_rel = mf.manifest_relpath(target)
        if record is None or record.files.get(main_rel) != main_digest(before_main):
            self.drop(target)
            return
        view = mf.ShardedManifest.read(main, mf.manifest_relpath(target), None, target)
        keep = {mf.manifest_relpath(target)} | (set(view.shard_relpaths()) if view else set())
        files = {rel: oid for rel, oid in record.files.items() if rel in keep}
        for rel, data in written.items():
            files[rel] = self._put_blob(target, data)
        self._write(SyncedRecord(target, hashlib.sha256(main).hexdigest(), files))

    def drop(self, target: str) -> None:
        if remove_beneath(self.directory.parent, _record_path(self.directory, target)):
            self._prune(target, set())

    def records(self) -> Iterator[SyncedRecord]:
        """Every readable record."""
        try:
            names = sorted(p.name for p in self.directory.iterdir() if p.name.endswith(".json"))
        except OSError:
            return
        for name in names:
            try:
                data = json.loads(read_beneath(self.directory.parent, self.directory / name))
                target = data["target"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if isinstance(target, str):
                record = self.get(target)
                if record is not None:
                    yield record

    def _write(self, record: SyncedRecord) -> None:
        data = json.dumps({"target": record.target, "main": record.main,
                           "files": record.files}, sort_keys=True).encode()
        self.directory.mkdir(parents=True, exist_ok=True)
        write_beneath(self.directory.parent, _record_path(self.directory, record.target),
                      data, durable=False)
        self._prune(record.target, set(record.files.values()))

    def _prune(self, target: str, named: set[str]) -> None:
        """Remove the target's blobs its record does not name (a record is written after
        its blobs, so a crash leaves at worst an unnamed blob, which the next write
        removes)."""
        top = self.blobs / _key(target)
        for name in list_beneath(self.directory.parent, top) or []:
            if name not in named:
                remove_beneath(self.directory.parent, top / name)
        if not named:
            remove_beneath(self.directory.parent, top, directory=True)


def main_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
