"""``Repo``: the operations on a folio repository, wiring store, manifests, worktree and lock.

Write order for every command (docs/format.md, "Invariants"): objects, then one syncfs,
then manifests (atomic replace), then the stat cache; snapshots add a git commit and a ref
after that. Readers go the other way, so a crash at any point leaves nothing that names
missing content.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from folio import manifest as mf
from folio._fs import atomic_write
from folio.config import DEFAULT_TEXT, Config
from folio.errors import FolioError, NotARepositoryError, OverlapError, PathError
from folio.git.discover import find_worktree
from folio.hashing import parallel_map
from folio.lock import RepoLock
from folio.manifest import Entry, Manifest
from folio.objects import ObjectStore
from folio.paths import is_within, repo_relative
from folio.progress import NULL, Progress
from folio.worktree.index import StatCache
from folio.worktree.scan import FileState, TargetStatus, compare, current_hashes, scan_target

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


class Repo:
    """A git work tree with folio initialised (or a fresh clone whose config is committed)."""

    def __init__(self, path: str | os.PathLike[str] = ".") -> None:
        self.root = find_worktree(path)
        self.folio_dir = self.root / FOLIO_DIR
        if not (self.folio_dir / "config.toml").is_file():
            raise NotARepositoryError("folio is not initialised in this repository; "
                                      "run `folio init`", path=self.root)
        self.config = Config.load(self.folio_dir)
        self.manifests_dir = self.folio_dir / "manifests"
        store_path = self.config.store_path
        if store_path:
            store_root = (self.root / os.path.expanduser(store_path)).resolve()
            self.store = ObjectStore(store_root, store_root / "tmp")
        else:
            self.store = ObjectStore(self.folio_dir / "objects", self.folio_dir / "tmp")
        self.lock = RepoLock(self.folio_dir, self.config.lock_timeout)

    # -- set-up -------------------------------------------------------------------------------
    @classmethod
    def init(cls, path: str | os.PathLike[str] = ".") -> Repo:
        """Create ``.folio/`` in the enclosing git work tree; safe to run again."""
        root = find_worktree(path)
        folio_dir = root / FOLIO_DIR
        (folio_dir / "manifests").mkdir(parents=True, exist_ok=True)
        for name, text in (("config.toml", DEFAULT_TEXT), (".gitignore", LOCAL_GITIGNORE),
                           (".gitattributes", GITATTRIBUTES)):
            if not (folio_dir / name).exists():
                atomic_write(folio_dir / name, text.encode())
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
        path = self.manifest_path(target)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FolioError("is not a tracked target", path=target) from None
        return mf.parse(data, self._display(path),
                        lambda rel: (self.manifests_dir / rel).read_bytes(), target)

    def targets(self) -> list[str]:
        """Every tracked target, sorted."""
        found = []
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
        return sorted(found)

    def manifests(self, targets: Iterable[str] | None = None) -> dict[str, Manifest]:
        chosen = self.targets() if targets is None else list(targets)
        return {t: self.read_manifest(t) for t in chosen}

    def write_manifest(self, manifest: Manifest) -> bool:
        """Write a manifest's files, touching only those whose bytes change."""
        files = mf.dump(manifest)
        changed = False
        for rel, data in files.items():
            path = self.manifests_dir / rel
            try:
                if path.read_bytes() == data:
                    continue
            except FileNotFoundError:
                pass
            atomic_write(path, data)
            changed = True
        shard_dir = self.manifests_dir / (manifest.target + mf.SHARD_DIR_SUFFIX)
        if shard_dir.is_dir():
            keep = {self.manifests_dir / rel for rel in files}
            for stale in shard_dir.iterdir():
                if stale not in keep:
                    stale.unlink()
                    changed = True
            if not any(shard_dir.iterdir()):
                shard_dir.rmdir()
        return changed

    def stat_cache(self) -> StatCache:
        return StatCache(self.folio_dir / "index")

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
                if not os.path.lexists(os.path.join(cwd, text)):
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
            existing = self.targets()
            self._check_overlaps(targets, existing)
            cache = self.stat_cache()
            old = {t: self.read_manifest(t) if t in existing else None for t in targets}
            results = self._capture(targets, old, cache, store_copy, progress, jobs)
            self._ignore_in_git(targets)
            cache.save()
        return results

    def _capture(self, targets: list[str], old: dict[str, Manifest | None], cache: StatCache,
                 store_copy: bool, progress: Progress, jobs: int | None) -> list[AddResult]:
        """Scan, hash, store and write manifests for ``targets`` (lock held)."""
        scans: dict[str, tuple[Manifest, dict[str, FileState]]] = {}
        work: list[tuple[str, str, Path]] = []  # (target, rel, absolute path) to read
        for target in targets:
            absolute = self.root / target
            kind = "dir" if absolute.is_dir() and not absolute.is_symlink() else "file"
            shell = Manifest(target, kind)
            files = scan_target(self.root, shell)
            if kind == "file" and not files:
                raise PathError("does not exist", path=target)
            scans[target] = (shell, files)
            previous = old.get(target)
            for rel, state in files.items():
                if state.link is not None:
                    continue
                sha = cache.lookup(shell.location(rel), state.st)
                if sha is not None and previous is not None:
                    entry = previous.entries.get(rel)
                    stored_before = entry is not None and entry.sha256 == sha and entry.stored
                    if not store_copy or stored_before or self.store.has(sha):
                        continue
                work.append((target, rel, self.root / shell.location(rel)))
        hashed = self._put_all(work, cache, scans, store_copy, progress, jobs)
        self.store.sync()  # durable before any manifest names the objects
        results = []
        for target in targets:
            shell, files = scans[target]
            results.append(self._write_target(target, shell, files, old.get(target),
                                              hashed.get(target, {}), cache, store_copy))
        return results

    def _put_all(self, work: list[tuple[str, str, Path]], cache: StatCache,
                 scans: dict[str, tuple[Manifest, dict[str, FileState]]], store_copy: bool,
                 progress: Progress, jobs: int | None) -> dict[str, dict[str, str]]:
        progress.start("Storing" if store_copy else "Hashing", len(work))

        def put(item: tuple[str, str, Path]) -> tuple[str, int, os.stat_result]:
            result = self.store.put_file_stat(item[2], store_copy=store_copy)
            progress.advance()
            return result

        out: dict[str, dict[str, str]] = {}
        try:
            for (target, rel, _), (oid, _, st) in zip(work, parallel_map(put, work, jobs),
                                                      strict=True):
                out.setdefault(target, {})[rel] = oid
                shell = scans[target][0]
                cache.record(shell.location(rel), st, oid)
                scans[target][1][rel] = FileState(rel, st)
        finally:
            progress.finish()
        return out

    def _write_target(self, target: str, shell: Manifest, files: dict[str, FileState],
                      previous: Manifest | None, fresh: dict[str, str], cache: StatCache,
                      store_copy: bool) -> AddResult:
        new = Manifest(target, shell.kind)
        for rel, state in files.items():
            before = previous.entries.get(rel) if previous else None
            if state.link is not None:
                new.entries[rel] = Entry(rel, link=state.link)
                continue
            sha = fresh.get(rel) or cache.lookup(shell.location(rel), state.st)
            assert sha is not None
            stored = store_copy or (before is not None and before.sha256 == sha and before.stored)
            if before is not None and before.sha256 == sha:
                new.entries[rel] = Entry(rel, state.st.st_size, sha, before.type, stored,
                                         uri=before.uri, meta=before.meta)
            else:
                new.entries[rel] = Entry(rel, state.st.st_size, sha, stored=stored)
        changed = self.write_manifest(new)
        status = compare(previous or Manifest(target, shell.kind), files,
                         {r: e.sha256 for r, e in new.entries.items() if e.sha256})
        return AddResult(target, len(new.entries), new.total_bytes, len(fresh), changed,
                         self._display(self.manifest_path(target)), status.added,
                         status.modified, status.deleted)

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
        atomic_write(path, (text + prefix + "\n".join(block + missing) + "\n").encode("utf-8"))

    # -- status / ls --------------------------------------------------------------------------
    def status(self, targets: Sequence[str | os.PathLike[str]] | None = None,
               jobs: int | None = None, cwd: Path | None = None) -> list[TargetStatus]:
        """Added / modified / deleted per target; rehashes only what the cache can't vouch for."""
        chosen = self._select_targets(targets, cwd)
        cache = self.stat_cache()
        results = []
        for target in chosen:
            manifest = self.read_manifest(target)
            files = scan_target(self.root, manifest)

            def rehash(rels: list[str], manifest: Manifest = manifest) -> dict[str, str]:
                locs = [manifest.location(r) for r in rels]
                got = parallel_map(
                    lambda loc: self.store.put_file_stat(self.root / loc, store_copy=False),
                    locs, jobs)
                out = {}
                for rel, loc, (oid, _, st) in zip(rels, locs, got, strict=True):
                    cache.record(loc, st, oid)
                    out[rel] = oid
                return out

            hashes = current_hashes(self.root, manifest, files, cache.lookup, rehash)
            status = compare(manifest, files, hashes)
            status.missing_target = not files and bool(manifest.entries)
            results.append(status)
        if cache.dirty:
            self._save_cache_if_free(cache)
        return results

    def _save_cache_if_free(self, cache: StatCache) -> None:
        """Status is a reader: it refreshes the cache only when no writer is busy."""
        quick = RepoLock(self.folio_dir, timeout=0)
        try:
            with quick.hold("folio status (cache refresh)"):
                cache.save()
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


def _gitignore_escape(path: str) -> str:
    """Escape a literal path for .gitignore (wildcards, leading #/!, trailing spaces)."""
    out = "".join("\\" + c if c in "\\*?[" else c for c in path)
    if out[:1] in ("#", "!"):
        out = "\\" + out
    stripped = out.rstrip(" ")
    return stripped + "\\ " * (len(out) - len(stripped))
