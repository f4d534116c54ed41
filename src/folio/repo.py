"""``Repo``: the operations on a folio repository, wiring store, manifests, worktree and lock.

Write order for every command (docs/format.md, "Invariants"): objects, then one syncfs,
then manifests (atomic replace), then the stat cache; snapshots add a git commit and a ref
after that. Readers go the other way, so a crash at any point leaves nothing that names
missing content.
"""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, cast

from folio import layout, quick
from folio import manifest as mf
from folio._fs import atomic_write, list_beneath, read_beneath, remove_beneath, write_beneath
from folio.config import DEFAULT_TEXT, Config, notice
from folio.errors import (
    FolioError,
    ManifestError,
    NotAcceptedError,
    NotARepositoryError,
    OverlapError,
    PathError,
)
from folio.git.discover import find_worktree
from folio.hashing import parallel_map
from folio.lock import RepoLock
from folio.manifest import Entry, Manifest
from folio.objects import ObjectStore
from folio.paths import is_within, repo_relative
from folio.progress import NULL, Progress
from folio.worktree import marks
from folio.worktree.index import StatCache
from folio.worktree.marks import CleanMarks
from folio.worktree.scan import (
    FileState,
    TargetStatus,
    compare,
    compare_entries,
    current_hashes,
    entry_for,
    rehash,
    scan_target,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from folio.archive import ArchiveResult
    from folio.bundle import Folio
    from folio.capture import Capture
    from folio.checkout import CheckoutResult
    from folio.config import PendingSetting
    from folio.diff import DiffResult
    from folio.git.repo import GitRepo
    from folio.maintenance import GcResult, VerifyResult
    from folio.pushpull import TransferResult
    from folio.recovery import RecoveryRecord, Restored
    from folio.remotes import RemoteSpec
    from folio.revisions import Side
    from folio.snapshots import SnapshotInfo

FOLIO_DIR = ".folio"
LOCAL_GITIGNORE = """\
# Local parts of folio: never committed.
/objects/
/index
/lock
/lock.info
/tmp/
/logs/
/cache/
/config.local.toml
# Staging names of atomic writes (left only by a killed process).
.tmp-*
"""
GITATTRIBUTES = "*.folio diff=folio\n"
GITIGNORE_HEADER = "# Data tracked by folio (see .folio/manifests)"


@dataclass
class AddResult:
    """What ``add`` did to one target."""

    target: str
    files: int
    bytes: int
    hashed: int
    changed: bool
    manifest: str
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"target": self.target, "files": self.files, "bytes": self.bytes,
                "hashed": self.hashed, "changed": self.changed, "manifest": self.manifest,
                "added": len(self.added), "modified": len(self.modified),
                "deleted": len(self.deleted)}


class RefusedStore:
    """Stands for a ``core.store`` this clone has not accepted: any use raises the refusal,
    while commands that need no object (accept, remote list, tags) still work."""

    def __init__(self, error: NotAcceptedError) -> None:
        object.__setattr__(self, "_error", error)

    def __getattribute__(self, name: str) -> object:
        if name.startswith("__"):  # repr, isinstance: not a use of the store
            return object.__getattribute__(self, name)
        error = object.__getattribute__(self, "_error")
        raise NotAcceptedError(error.message, path=error.path)


class Repo:
    """A git work tree with folio initialised (or a fresh clone whose config is committed)."""

    def __init__(self, path: str | os.PathLike[str] = ".") -> None:
        self.root = find_worktree(path)
        self.folio_dir = self.root / FOLIO_DIR
        layout.check(self.root)  # before reading a byte: no link under .folio/ is followed
        if not (self.folio_dir / "config.toml").is_file():
            raise NotARepositoryError("folio is not initialised in this repository; "
                                      "run `folio init`", path=self.root)
        self.local_dir = layout.local_dir(self.root)  # .git/folio: no commit writes there
        self.state_dir = layout.state_dir(self.root)
        layout.check_local(self.local_dir, self.state_dir)
        self.config = self._load_config()
        self.manifests_dir = self.folio_dir / "manifests"
        self._migrate_legacy_parts()
        self.store = self._choose_store()
        self.lock = RepoLock(self.local_dir, self.config.lock_timeout)

    def _load_config(self) -> Config:
        """Both files as on disk now; the local one is in the local directory."""
        return Config.load(self.folio_dir, self.local_dir / "config.toml")

    def _migrate_legacy_parts(self) -> None:
        """An older folio kept the store and the recovery log in ``.folio/``, where a
        pulled commit can make git delete them; move them to ``.git/folio`` once."""
        moved = layout.migrate(self.root, self.local_dir)
        if moved:
            notice(f"folio: moved {' and '.join(moved)} to {self.local_dir}: local parts live "
                   "below .git, where no commit can reach them")

    def _choose_store(self) -> ObjectStore:
        """The local store, or ``core.store``: a committed one only once it is accepted
        here (a commit must not choose where this clone writes its objects)."""
        try:
            store_path = self.config.store_path
        except NotAcceptedError as exc:
            return cast(ObjectStore, RefusedStore(exc))
        if store_path:
            store_root = (self.root / os.path.expanduser(store_path)).resolve()
            store = ObjectStore(store_root, store_root / "tmp")
        else:
            store = ObjectStore(self.local_dir / "objects", self.local_dir / "tmp")
        layout.check_store(store.root, store.staging, self.root)
        return store

    # -- set-up -------------------------------------------------------------------------------
    @classmethod
    def init(cls, path: str | os.PathLike[str] = ".") -> Repo:
        """Create ``.folio/`` in the enclosing git work tree; safe to run again."""
        root = find_worktree(path)
        folio_dir = root / FOLIO_DIR
        layout.check(root)
        (folio_dir / "manifests").mkdir(parents=True, exist_ok=True)
        for name, text in (("config.toml", DEFAULT_TEXT), (".gitignore", LOCAL_GITIGNORE),
                           (".gitattributes", GITATTRIBUTES)):
            if not (folio_dir / name).exists():
                write_beneath(folio_dir, folio_dir / name, text.encode())
        from folio.git.repo import GitRepo

        git = GitRepo(root)
        git.set_config("diff.folio.textconv", "folio textconv")
        return cls(root)

    # -- manifests ----------------------------------------------------------------------------
    def manifest_path(self, target: str) -> Path:
        return self.manifests_dir / mf.manifest_relpath(target)

    def _display(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def read_manifest(self, target: str) -> Manifest:
        """A target's working manifest, read lock-free (retried as docs/format.md 4.7 says)."""
        path = self.manifest_path(target)

        def read_main() -> bytes:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                raise FolioError("is not a tracked target", path=target) from None

        return mf.read_lockfree(read_main, lambda data: mf.parse(
            data, self._display(path), lambda rel: (self.manifests_dir / rel).read_bytes(),
            target))

    def targets(self) -> list[str]:
        """Every tracked target, sorted."""
        found: list[str] = []
        if not self.manifests_dir.is_dir():
            return found
        base = len(str(self.manifests_dir)) + 1
        for dirpath, dirnames, filenames in os.walk(self.manifests_dir):
            dirnames[:] = [d for d in dirnames if not d.endswith(mf.SHARD_DIR_SUFFIX)]
            for name in filenames:
                rel = os.path.join(dirpath, name)[base:]
                target = mf.target_of(rel)
                if target is not None:
                    found.append(target)
        found.sort()
        for a, b in itertools.pairwise(found):
            if is_within(b, a):  # sorted order puts a container right before its contents
                raise ManifestError(f"targets {a} and {b} overlap; remove one manifest",
                                    path=self._display(self.manifest_path(b)))
        return found

    def manifests(self, targets: Iterable[str] | None = None) -> dict[str, Manifest]:
        chosen = self.targets() if targets is None else list(targets)
        return {t: self.read_manifest(t) for t in chosen}

    def write_manifest(self, manifest: Manifest) -> bool:
        """Write a manifest's files, touching only those whose bytes change."""
        return self.write_manifest_files(manifest.target, mf.dump_files(manifest))[0]

    def write_manifest_files(self, target: str, files: Iterable[tuple[str, bytes]]
                             ) -> tuple[bool, bytes]:
        """Write encoded manifest files, the shards first and the main file last (as
        :func:`manifest.dump_files` gives them), then delete the shards the main file no
        longer names: a reader always sees a whole manifest.

        Returns whether any file changed, and the main file's bytes.
        """
        main_rel = mf.manifest_relpath(target)
        changed = False
        main = b""
        for rel, data in files:  # shards first, main last
            if rel == main_rel:
                main = data
            path = self.manifests_dir / rel
            try:
                if read_beneath(self.folio_dir, path) == data:
                    continue
            except FileNotFoundError:
                pass
            write_beneath(self.folio_dir, path, data)
            changed = True
        return self._remove_shards(target, main) or changed, main

    def _remove_shards(self, target: str, main: bytes | None = None) -> bool:
        """Delete the shard files that the main file ``main`` does not name (None: all),
        and their directory once empty; whether any went. Never through a link: a
        committed ``x.folio.d -> /elsewhere`` is refused, not emptied."""
        shard_dir = self.manifests_dir / (target + mf.SHARD_DIR_SUFFIX)
        names = list_beneath(self.folio_dir, shard_dir)
        if names is None:
            return False
        keep: set[str] = set()
        if main is not None:
            view = mf.ShardedManifest.read(main, mf.manifest_relpath(target), None, target)
            keep = {ref.name + mf.SUFFIX for ref in view.refs} if view is not None else set()
        stale = [name for name in names if name not in keep]
        for name in stale:
            remove_beneath(self.folio_dir, shard_dir / name)
        if len(stale) == len(names):
            remove_beneath(self.folio_dir, shard_dir, directory=True)
        return bool(stale)

    def stat_cache(self) -> StatCache:
        return StatCache(self.state_dir / "index")

    @property
    def _marks_path(self) -> Path:
        return self.state_dir / "cache" / "marks"

    def clean_marks(self) -> CleanMarks:
        return CleanMarks(self._marks_path)

    def forget_marks(self) -> None:
        """Drop every clean mark: the next status or add compares in full."""
        remove_beneath(self.state_dir, self._marks_path)

    def manifest_fingerprint(self, target: str, data: bytes | None = None) -> bytes | None:
        """See :func:`folio.worktree.marks.fingerprint`; ``data``: the main file, if read."""
        return marks.fingerprint(self.manifest_path(target),
                                 self.manifests_dir / (target + mf.SHARD_DIR_SUFFIX), data)

    # -- resolving user paths -------------------------------------------------------------------
    def resolve_paths(self, paths: Sequence[str | os.PathLike[str]],
                      cwd: Path | None = None) -> list[str]:
        """Repo-relative targets for user arguments; quoted globs are expanded here."""
        cwd = cwd or Path.cwd()
        out: list[str] = []
        for raw in paths:
            text = os.fspath(raw)
            if glob.has_magic(text) and not os.path.lexists(os.path.join(cwd, text)):
                pattern = text if os.path.isabs(text) else os.path.join(cwd, text)
                matches = sorted(glob.glob(pattern, recursive=True))
                if not matches:
                    raise PathError("matches no files", path=text)
                out.extend(repo_relative(self.root, m, cwd) for m in matches)
            else:
                rel = repo_relative(self.root, text, cwd)
                if not os.path.lexists(os.path.join(cwd, text)) and not any(
                        is_within(rel, t) for t in self.targets()):
                    raise PathError("does not exist", path=text)
                out.append(rel)
        return sorted(set(out))

    def _check_overlaps(self, new: list[str], existing: Iterable[str]) -> None:
        existing = list(existing)
        for target in new:
            for other in existing:
                if other == target:
                    continue
                if is_within(target, other):
                    raise OverlapError(f"is inside the tracked target {other}; "
                                       f"run `folio add {other}` instead", path=target)
                if is_within(other, target):
                    raise OverlapError(f"contains the tracked target {other}; "
                                       "track separate directories", path=target)
        for i, a in enumerate(new):
            for b in new[i + 1:]:
                if is_within(b, a):
                    raise OverlapError(f"contains {b}, also given", path=a)

    # -- add ------------------------------------------------------------------------------------
    def add(self, paths: Sequence[str | os.PathLike[str]], *, store_copy: bool = True,
            progress: Progress = NULL, jobs: int | None = None,
            cwd: Path | None = None) -> list[AddResult]:
        """Track files or directories: store their content and write their manifests."""
        targets = self.resolve_paths(paths, cwd)
        with self.lock.hold():
            self._check_overlaps(targets, self.targets())
            results = self._capture(targets, store_copy, progress, jobs)
            self._ignore_in_git(targets)
        return results

    def untrack(self, paths: Sequence[str | os.PathLike[str]],
                cwd: Path | None = None) -> list[str]:
        """Stop tracking targets: remove their manifests and .gitignore lines, keep the data.

        Resumable: each target's main manifest file goes first (untracked from then on),
        then its shards, then the .gitignore lines; naming again a target an untrack killed
        half-way (shards or its line left) finishes it.
        """
        with self.lock.hold():
            tracked = set(self.targets())
            chosen = self._untrack_targets(paths, cwd, tracked)
            for target in chosen:
                if target in tracked:
                    remove_beneath(self.folio_dir, self.manifest_path(target))
                self._remove_shards(target)
            self._unignore_in_git(chosen)
        return chosen

    def _untrack_targets(self, paths: Sequence[str | os.PathLike[str]], cwd: Path | None,
                         tracked: set[str]) -> list[str]:
        """The targets ``paths`` name: tracked ones, or ones an interrupted untrack left."""
        chosen: list[str] = []
        for raw in paths:
            try:
                found = self.resolve_paths([raw], cwd)
            except PathError:  # gone from disk and from the manifests: left half-untracked?
                found = [repo_relative(self.root, os.fspath(raw), cwd or Path.cwd())]
                if not self._untrack_unfinished(found[0]):
                    raise
            for target in found:
                if target not in tracked and not self._untrack_unfinished(target):
                    raise PathError("is not a tracked target", path=target)
            chosen += found
        return sorted(set(chosen))

    def _untrack_unfinished(self, target: str) -> bool:
        """An untracked target whose shards or folio .gitignore line remain."""
        if os.path.lexists(self.manifests_dir / (target + mf.SHARD_DIR_SUFFIX)):
            return True
        try:
            lines = (self.root / ".gitignore").read_text(encoding="utf-8").splitlines()
        except (FileNotFoundError, UnicodeDecodeError):
            return False
        if GITIGNORE_HEADER not in lines:
            return False
        return "/" + _gitignore_escape(target) in lines[lines.index(GITIGNORE_HEADER):]

    def _capture(self, targets: list[str], store_copy: bool | None, progress: Progress,
                 jobs: int | None) -> list[AddResult]:
        """Scan, hash, store and write manifests for ``targets`` (lock held).

        A target whose clean mark still holds is brought up to date directory by directory
        (:mod:`folio.quick`); the others are compared in full, with the stat cache.
        ``store_copy`` None keeps each target as it is: hash-only if any entry is.
        """
        existing = set(self.targets())
        clean_marks = self.clean_marks()
        lazy = quick.LazyCache(self)
        results: dict[str, AddResult] = {}
        rest = []
        for target in targets:
            mark = clean_marks.get(target) if target in existing else None
            copy = store_copy if store_copy is not None or mark is None else mark.stored
            seen = quick.look(self, target, mark) if copy is not None else None
            done = None if seen is None or copy is None else \
                quick.capture(self, seen, copy, lazy, progress, jobs)
            if done is None:
                rest.append(target)
            else:
                results[target] = done[0]
                clean_marks.set(target, done[1])
        if rest:
            cache = lazy.get()
            old = {t: self.read_manifest(t) if t in existing else None for t in rest}
            groups: dict[bool, list[str]] = {}
            for target in rest:
                previous = old[target]
                copy = store_copy if store_copy is not None else (
                    previous is None or mf.all_stored(previous.entries.values()))
                groups.setdefault(copy, []).append(target)
            for copy, group in groups.items():
                for result in self._capture_full(group, old, cache, copy, progress, jobs,
                                                 clean_marks):
                    results[result.target] = result
        if lazy.loaded is not None:
            lazy.loaded.save()
        clean_marks.save(self.targets())
        return [results[t] for t in targets]

    def _capture_full(self, targets: list[str], old: dict[str, Manifest | None],
                      cache: StatCache, store_copy: bool, progress: Progress,
                      jobs: int | None, clean_marks: CleanMarks) -> list[AddResult]:
        """Scan, hash, store and write manifests for ``targets`` in full."""
        scans: dict[str, tuple[Manifest, dict[str, FileState]]] = {}
        work: dict[str, list[str]] = {}  # target -> the files of it to read
        trusted_before = marks.trust_limit()
        for target in targets:
            absolute = self.root / target
            kind = "dir" if absolute.is_dir() and not absolute.is_symlink() else "file"
            shell = Manifest(target, kind)
            files = scan_target(self.root, shell, self.store.root)
            if kind == "file" and not files:
                raise PathError("does not exist", path=target)
            scans[target] = (shell, files)
            previous = old.get(target)
            prefix = shell.root + "/" if shell.root else ""
            todo = work[target] = []
            for rel, state in files.items():
                if state.link is not None or state.oid is not None:
                    continue  # a link, or a symlink into the store: nothing to read
                sha = cache.lookup(prefix + rel, state.st)
                if sha is not None and previous is not None and (
                        not store_copy or self.store.has(sha)):
                    continue
                todo.append(rel)
        hashed = self._put_all(work, cache, scans, store_copy, progress, jobs)
        work.clear()
        self.store.sync()  # durable before any manifest names the objects
        results = []
        for target in targets:
            shell, files = scans.pop(target)
            result, mark = self._write_target(target, shell, files, old.get(target),
                                              hashed.pop(target, {}), cache, store_copy,
                                              trusted_before)
            results.append(result)
            clean_marks.set(target, mark)
        return results

    def _put_all(self, work: dict[str, list[str]], cache: StatCache,
                 scans: dict[str, tuple[Manifest, dict[str, FileState]]], store_copy: bool,
                 progress: Progress, jobs: int | None) -> dict[str, dict[str, str]]:
        progress.start("Storing" if store_copy else "Hashing", sum(map(len, work.values())))
        out: dict[str, dict[str, str]] = {}
        try:
            for target, rels in work.items():
                shell, files = scans[target]
                prefix = f"{self.root}/{shell.root}/" if shell.root else f"{self.root}/"

                def put(rel: str, prefix: str = prefix) -> tuple[str, int, os.stat_result]:
                    result = self.store.put_file_stat(prefix + rel, store_copy=store_copy)
                    progress.advance()
                    return result

                hashed = out[target] = {}
                for rel, (oid, _, st) in zip(rels, parallel_map(put, rels, jobs), strict=True):
                    hashed[rel] = oid
                    cache.record(shell.location(rel), st, oid)
                    files[rel] = FileState.of(rel, st)
        finally:
            progress.finish()
        return out

    def _write_target(self, target: str, shell: Manifest, files: dict[str, FileState],
                      previous: Manifest | None, fresh: dict[str, str], cache: StatCache,
                      store_copy: bool, trusted_before: int
                      ) -> tuple[AddResult, marks.Mark | None]:
        """Write a target's manifest from its scan; returns the result and the clean mark
        (the files now match the manifest just written)."""
        found = marks.digests_of(files, trusted_before)
        count, n_fresh = len(files), len(fresh)
        new = Manifest(target, shell.kind)
        before = previous.entries if previous is not None else {}
        while files:  # each scanned file gives way to its entry: a million of both weigh a GB
            rel, state = files.popitem()
            sha = None if state.link is not None else (
                fresh.pop(rel, None) or state.oid
                or cache.lookup(shell.location(rel), state.st))
            new.entries[rel] = entry_for(state, sha, before.get(rel), store_copy)
        for rel in before.keys() - new.entries.keys():
            cache.forget(shell.location(rel))
        status = compare_entries(previous or Manifest(target, shell.kind), new.entries)
        changed = self.write_manifest(new)
        mark = marks.build(self.manifest_fingerprint(target), found, count,
                           mf.all_stored(new.entries.values()))
        return AddResult(target, len(new.entries), new.total_bytes, n_fresh, changed,
                         self._display(self.manifest_path(target)), status.added,
                         status.modified, status.deleted), mark

    def _ignore_in_git(self, targets: list[str]) -> None:
        """List targets in the top-level .gitignore so git never commits the data itself."""
        path = self.root / ".gitignore"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        lines = set(text.splitlines())
        missing = [p for p in ("/" + _gitignore_escape(t) for t in targets) if p not in lines]
        if not missing:
            return
        block = [] if GITIGNORE_HEADER in lines else [GITIGNORE_HEADER]
        prefix = "" if not text or text.endswith("\n") else "\n"
        atomic_write(path, (text + prefix + "\n".join(block + missing) + "\n").encode("utf-8"),
                     staging=self.local_dir / "tmp")

    def _unignore_in_git(self, targets: list[str]) -> None:
        path = self.root / ".gitignore"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        doomed = {"/" + _gitignore_escape(t) for t in targets}
        kept = [line for line in lines if line not in doomed]
        if kept != lines:
            atomic_write(path, "".join(line + "\n" for line in kept).encode("utf-8"),
                         staging=self.local_dir / "tmp")

    # -- status / ls --------------------------------------------------------------------------
    def status(self, targets: Sequence[str | os.PathLike[str]] | None = None,
               jobs: int | None = None, cwd: Path | None = None) -> list[TargetStatus]:
        """Added / modified / deleted per target; rehashes only what the cache can't vouch for."""
        chosen = self._select_targets(targets, cwd)
        clean_marks = self.clean_marks()
        lazy = quick.LazyCache(self)
        results = []
        for target in chosen:
            seen = quick.look(self, target, clean_marks.get(target))
            done = quick.status(self, seen, lazy, jobs) if seen is not None else None
            if done is not None:
                results.append(done[0])
                clean_marks.set(target, done[1])
                continue
            cache = lazy.get()
            fingerprint = self.manifest_fingerprint(target)
            trusted_before = marks.trust_limit()
            manifest = self.read_manifest(target)
            files = scan_target(self.root, manifest, self.store.root)

            def rehash_rels(rels: list[str], manifest: Manifest = manifest,
                            cache: StatCache = cache) -> dict[str, str]:
                got = rehash(self.store, self.root, [manifest.location(r) for r in rels],
                             cache, jobs=jobs)
                return {rel: got[manifest.location(rel)][0] for rel in rels}

            hashes = current_hashes(self.root, manifest, files, cache.lookup, rehash_rels)
            status = compare(manifest, files, hashes)
            results.append(status)
            if status.clean and fingerprint == self.manifest_fingerprint(target):
                clean_marks.set(target, self._mark(fingerprint, manifest, files,
                                                   trusted_before))
        if (lazy.loaded is not None and lazy.loaded.dirty) or clean_marks.dirty:
            self._save_if_free(lazy.loaded, clean_marks)
        return results

    @staticmethod
    def _mark(fingerprint: bytes | None, manifest: Manifest, files: dict[str, FileState],
              trusted_before: int) -> marks.Mark | None:
        """A mark for a target whose ``files`` were just found to match ``manifest``."""
        found = marks.digests_of(files, trusted_before)
        return marks.build(fingerprint, found, len(files),
                           mf.all_stored(manifest.entries.values()))

    def _save_if_free(self, cache: StatCache | None,
                      clean_marks: CleanMarks | None = None) -> None:
        """Status is a reader: it refreshes the cache and marks only when no writer is busy."""
        quick = RepoLock(self.local_dir, timeout=0)
        try:
            with quick.hold("folio status (cache refresh)"):
                if cache is not None:
                    cache.save()
                if clean_marks is not None:
                    clean_marks.save(self.targets())
        except FolioError:
            pass

    def _select_targets(self, targets: Sequence[str | os.PathLike[str]] | None,
                        cwd: Path | None) -> list[str]:
        tracked = self.targets()
        if not targets:
            return tracked
        chosen = []
        for rel in self.resolve_paths(targets, cwd):
            inside = [t for t in tracked if is_within(rel, t) or is_within(t, rel)]
            if not inside:
                raise PathError("is not tracked by folio", path=rel)
            chosen.extend(inside)
        return sorted(set(chosen))

    def ls(self, paths: Sequence[str | os.PathLike[str]] | None = None,
           cwd: Path | None = None) -> list[tuple[Manifest, Entry]]:
        """Entries recorded in the working manifests, at or below the given paths."""
        wanted = self.resolve_paths(paths, cwd) if paths else None
        out = []
        for target in self._select_targets(paths, cwd):
            manifest = self.read_manifest(target)
            for entry in manifest.sorted_entries():
                loc = manifest.location(entry.path)
                if wanted is None or any(is_within(loc, w) for w in wanted):
                    out.append((manifest, entry))
        return out

    # -- snapshots, checkout, diff, recovery (docs/snapshots.md) ------------------------------
    @cached_property
    def git(self) -> GitRepo:
        """The enclosing git repository (pygit2), opened on first use."""
        from folio.git.repo import GitRepo

        return GitRepo(self.root)

    def snapshot(self, tag: str, message: str | None = None, *, progress: Progress = NULL,
                 jobs: int | None = None) -> SnapshotInfo:
        """Capture every tracked target as ``add`` would and create the immutable tag."""
        from folio import snapshots

        return snapshots.create(self, tag, message, progress, jobs)

    def tags(self) -> list[SnapshotInfo]:
        """Every snapshot, sorted by tag name."""
        from folio import snapshots

        return sorted(snapshots.list_snapshots(self.git), key=lambda i: i.tag)

    def log(self) -> list[SnapshotInfo]:
        """Every snapshot, newest first."""
        from folio import snapshots

        return snapshots.list_snapshots(self.git)

    def show(self, tag: str) -> SnapshotInfo:
        """One snapshot, with per-target file counts and bytes in ``.targets``."""
        from folio import snapshots

        return snapshots.show(self.git, tag)

    def delete_tag(self, tag: str) -> str:
        """Delete snapshot ``tag`` (explicitly: tags are otherwise immutable); return its commit."""
        from folio import snapshots

        return snapshots.delete(self, tag)

    def resolve(self, spec: str) -> Side:
        """The manifests a tag, ``run:<id>`` or git revision names (docs/snapshots.md)."""
        from folio import revisions

        return revisions.resolve(self.git, spec)

    def checkout(self, rev: str | None = None,
                 paths: Sequence[str | os.PathLike[str]] | None = None, *, force: bool = False,
                 link: str | None = None, progress: Progress = NULL, jobs: int | None = None,
                 cwd: Path | None = None, previous: str | None = None) -> CheckoutResult:
        """Make the working data (at or below ``paths``) match ``rev``, or the working manifests.

        ``previous`` (a git revision) names the commit whose manifests a git checkout just
        replaced: data of targets it had and the new manifests lack is removed too.
        """
        from folio import checkout
        from folio.revisions import Side

        side = Side("manifests", None) if rev is None else self.resolve(rev)
        before = self.resolve(previous).manifests if previous else None
        return checkout.checkout(self, side, self._scope(paths, cwd), force=force, link=link,
                                 progress=progress, jobs=jobs, previous=before)

    def diff(self, a: str | None = None, b: str | None = None,
             paths: Sequence[str | os.PathLike[str]] | None = None, *, detail: bool = True,
             progress: Progress = NULL, jobs: int | None = None,
             cwd: Path | None = None) -> DiffResult:
        """Files changed from ``a`` (default HEAD) to ``b`` (default the working tree)."""
        from folio import diff as df
        from folio.revisions import Side

        if b is not None and a is None:
            raise ValueError("diff: give a before b")
        scope = self._scope(paths, cwd)
        if a is None:
            head = self.git.head_commit()
            side_a = self.resolve("HEAD") if head else Side("commit", "HEAD")
        else:
            side_a = self.resolve(a)
        side_b = self.resolve(b) if b is not None else \
            df.worktree_side(self, scope, jobs, progress)
        result = df.DiffResult(side_a, side_b,
                               df.compare(side_a.manifests, side_b.manifests, scope))
        if detail:
            read_b = df.worktree_reader(self) if b is None else df.store_reader(self)
            df.add_details(result, df.store_reader(self), read_b)
        return result

    def recovery_log(self) -> list[RecoveryRecord]:
        """Everything forced checkouts saved, oldest first (``.folio/logs/recovery.jsonl``)."""
        from folio import recovery

        return recovery.read(self.local_dir)

    def recover(self, path: str | os.PathLike[str], *, to: str | os.PathLike[str] | None = None,
                sha: str | None = None, cwd: Path | None = None) -> Restored:
        """Restore the newest saved content of ``path`` (or the one whose sha starts ``sha``)."""
        from folio import recovery

        cwd = cwd or Path.cwd()
        rel = repo_relative(self.root, path, cwd)
        dest = None if to is None else Path(os.path.normpath(os.path.join(cwd, to)))
        return recovery.restore(self, rel, dest, sha)

    def _scope(self, paths: Sequence[str | os.PathLike[str]] | None,
               cwd: Path | None) -> list[str] | None:
        """Repo-relative paths (which need not exist); None means everything."""
        if not paths:
            return None
        cwd = cwd or Path.cwd()
        out = []
        for raw in paths:
            if Path(os.path.normpath(os.path.join(cwd, raw))).resolve() == self.root.resolve():
                return None  # the repository root: everything
            out.append(repo_relative(self.root, raw, cwd))
        return sorted(set(out))

    # -- runs and output capture (docs/runs.md) -------------------------------------------------
    def runs(self, *, status: str | None = None, name: str | None = None) -> pa.Table:
        """Recorded runs as a pyarrow Table, oldest first (filters: status, name glob)."""
        from folio import runs

        return runs.runs_table(runs.list_runs(self.git, status=status, name=name))

    def query(self) -> pa.Table:
        """Every file of every snapshot and run as a pyarrow Table (one row per file)."""
        from folio import runs

        return runs.query_table(self.git)

    def capture(self, patterns: Sequence[str | os.PathLike[str]], store_copy: bool = True,
                name: str | None = None) -> Capture:
        """``with repo.capture(["out.csv", "plots/*.png"]) as run:`` records a run on exit."""
        from folio.capture import Capture

        return Capture(self, patterns, store_copy=store_copy, name=name)

    # -- remotes, gc, verify, export/import (docs/remotes.md) ----------------------------------
    def remotes(self) -> list[RemoteSpec]:
        """The configured remotes, sorted by name (``.default`` marks the default one)."""
        from folio import remotes

        return remotes.list_remotes(self)

    def add_remote(self, name: str, url: str, **options: object) -> RemoteSpec:
        """Record remote ``name`` (``default``, ``endpoint``, ``region``, ``profile``,
        ``allow_http``, ``local``); never a credential."""
        from folio import remotes

        return remotes.add_remote(self, name, url, **options)  # type: ignore[arg-type]

    def remove_remote(self, name: str) -> RemoteSpec:
        from folio import remotes

        return remotes.remove_remote(self, name)

    def pending_settings(self) -> list[PendingSetting]:
        """What the committed config asks for (store, risky link mode, remotes) that this
        clone has not accepted; none of it takes effect until :meth:`accept`."""
        return self._load_config().pending()

    def accept(self, keys: Iterable[str] | None = None) -> list[PendingSetting]:
        """Accept the pending settings (all, or the keys named: ``core.store``,
        ``core.link``, ``remotes.NAME``) in this clone; returns what was accepted."""
        with self.lock.hold("folio accept"):
            self.config = self._load_config()
            accepted = self.config.accept(keys)
        self.store = self._choose_store()
        return accepted

    def default_remote(self) -> str | None:
        """``core.remote``, else the only remote, else None."""
        from folio import remotes

        return remotes.default_remote(self)

    def remote_has(self, oids: Iterable[str], remote: str | None = None) -> set[str]:
        """Which of ``oids`` the remote (default: the default remote) holds."""
        from folio import remotes
        from folio.remote import remote_has

        _, backend = remotes.open_remote(self, remote)
        return remote_has(backend, oids, cache_dir=remotes.cache_dir(self))

    def push(self, revs: Sequence[str] = (), *, all: bool = False, remote: str | None = None,
             jobs: int | None = None, git_remote: str | None = None,
             oids: Sequence[str] | None = None, progress: Progress = NULL) -> TransferResult:
        """Send the objects of the working manifests and every snapshot and run (or of
        ``revs``, or ``all`` history, or exactly ``oids``); then ``refs/folio/*`` to
        ``git_remote`` if given."""
        from folio import pushpull

        return pushpull.push(self, revs, all_versions=all, remote=remote, jobs=jobs,
                             progress=progress, git_remote=git_remote, oids=oids)

    def fetch(self, revs: Sequence[str] = (), *, all: bool = False, remote: str | None = None,
              jobs: int | None = None, git_remote: str | None = None,
              progress: Progress = NULL) -> TransferResult:
        """Bring the objects of ``revs`` (default: the working manifests) into the store."""
        from folio import pushpull

        return pushpull.fetch(self, revs, all_versions=all, remote=remote, jobs=jobs,
                              progress=progress, git_remote=git_remote)

    def pull(self, rev: str | None = None, *, remote: str | None = None, jobs: int | None = None,
             force: bool = False, link: str | None = None, git_remote: str | None = None,
             progress: Progress = NULL) -> TransferResult:
        """Fetch the objects of ``rev`` (default: the working manifests), then check it out."""
        from folio import pushpull

        return pushpull.pull(self, rev, remote=remote, jobs=jobs, progress=progress,
                             git_remote=git_remote, force=force, link=link)

    def gc(self, *, dry_run: bool = False, grace: str | float = "1d",
           allow_shared: bool = False) -> GcResult:
        """Delete objects no root reaches that are older than ``grace`` (docs/remotes.md)."""
        from folio import maintenance

        return maintenance.gc(self, dry_run=dry_run, grace=grace, allow_shared=allow_shared)

    def verify(self, *, remote: str | None = None, repair: bool = False,
               jobs: int | None = None, progress: Progress = NULL) -> VerifyResult:
        """Rehash every object; report corrupt and missing ones; ``repair`` from a remote."""
        from folio import maintenance

        return maintenance.verify(self, remote=remote, repair=repair, jobs=jobs,
                                  progress=progress)

    def export(self, tag: str, path: str | os.PathLike[str]) -> ArchiveResult:
        """Write snapshot ``tag`` and its objects to a .tar, .tar.gz or .zip file."""
        from folio import archive

        return archive.export(self, tag, path)

    def import_archive(self, path: str | os.PathLike[str],
                       tag: str | None = None) -> ArchiveResult:
        """Create a snapshot (the archived tag, or ``tag``) from an exported archive."""
        from folio import archive

        return archive.import_archive(self, path, tag)

    # -- bundles of typed items (docs/api.md) ---------------------------------------------------
    def folio(self, path: str | os.PathLike[str], *, create: bool = True) -> Folio:
        """The bundle in directory ``path`` (relative to the repo root), created if new."""
        from folio.bundle import Folio

        return Folio(path, repo=self, create=create)


def _gitignore_escape(path: str) -> str:
    """A .gitignore pattern (after its leading '/') that matches exactly the literal ``path``.

    Total: any string gives one safe line. Wildcards, '[' and the backslash are escaped
    wherever they stand, a leading '#' or '!' too (unneeded after the '/', kept so that
    lines written by earlier versions are found again), trailing spaces are kept escaped,
    and a control character, which no escape can hold (a newline ends the line, a CR
    before it is dropped, NUL ends the pattern), becomes '?', one character: the line then
    matches that name and never adds a rule of its own. validate_relpath refuses such
    names anyway.
    """
    out = "".join("?" if c < " " or "\x7f" <= c <= "\x9f" else
                  "\\" + c if c in "\\*?[" else c for c in path)
    if out[:1] in ("#", "!"):
        out = "\\" + out
    stripped = out.rstrip(" ")
    return stripped + "\\ " * (len(out) - len(stripped))
