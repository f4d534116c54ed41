"""``Workspace``: the kernel every operation takes as its first parameter.

It holds what an operation needs and nothing that is an operation: the work tree's root and
folio's directories, the config, the object store, the lock, the git repository, manifest
reading and writing, the stat cache and clean marks, and the upkeep of folio's ``.gitignore``
lines. The verbs live in :mod:`folio.ops`, one module per family; :class:`folio.Repo` is the
facade that calls them. Nothing here imports an operation, so the layers stay one-way
(docs/architecture.md).

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
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, cast

from folio import layout
from folio import manifest as mf
from folio._fs import atomic_write, list_beneath, read_beneath, remove_beneath, write_beneath
from folio.config import Config, notice
from folio.errors import (
    FolioError,
    LockTimeoutError,
    ManifestError,
    NotAcceptedError,
    NotARepositoryError,
    OverlapError,
    PathError,
)
from folio.git import drivers
from folio.git.discover import find_worktree
from folio.layout import FOLIO_DIR
from folio.lock import RepoLock
from folio.manifest import Manifest
from folio.objects import ObjectStore
from folio.paths import is_within, repo_relative
from folio.worktree import marks
from folio.worktree.index import StatCache
from folio.worktree.journal import Journal
from folio.worktree.marks import CleanMarks
from folio.worktree.synced import SyncedState, main_digest

if TYPE_CHECKING:
    from folio.git.repo import GitRepo
    from folio.revisions import Side

GITIGNORE_HEADER = "# Data tracked by folio (see .folio/manifests)"
READ_AGAIN = 3  # a lock-free read that overlapped an update is done again, this many times


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


class Workspace:
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
        drivers.ensure(self.root)  # a fresh clone's diffs and merges work from here on
        self.config = self.load_config()
        self.manifests_dir = self.folio_dir / "manifests"
        self._migrate_legacy_parts()
        self.store = self.choose_store()
        self.journal = Journal(self.folio_dir, self.manifests_dir, self.state_dir)
        self.lock = RepoLock(self.local_dir, self.config.lock_timeout,
                             on_acquire=self.finish_manifest_update)

    def load_config(self) -> Config:
        """Both files as on disk now; the local one is in the local directory."""
        return Config.load(self.folio_dir, self.local_dir / "config.toml")

    def reload_config(self) -> Config:
        """Read the config again: another process may have changed it since this workspace
        was opened (a notebook's long-lived Repo, a test driving the CLI)."""
        self.config = self.load_config()
        return self.config

    def _migrate_legacy_parts(self) -> None:
        """An older folio kept the store and the recovery log in ``.folio/``, where a
        pulled commit can make git delete them; move them to ``.git/folio`` once."""
        moved = layout.migrate(self.root, self.local_dir)
        if moved:
            notice(f"folio: moved {' and '.join(moved)} to {self.local_dir}: local parts live "
                   "below .git, where no commit can reach them")

    def choose_store(self) -> ObjectStore:
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
        store.chunk_threshold = self._chunk_threshold
        return store

    def _chunk_threshold(self) -> int:
        """``core.chunk_threshold`` of the config as loaded now, parsed once per load (asked
        for every file put: 11 us a parse, 0.2 s for 20,000 small files)."""
        config = self.config
        cached = getattr(self, "_threshold_of", None)
        if cached is None or cached[0] is not config:
            cached = self._threshold_of = (config, config.chunk_threshold)
        return cached[1]

    @cached_property
    def git(self) -> GitRepo:
        """The enclosing git repository (pygit2), opened on first use."""
        from folio.git.repo import GitRepo

        return GitRepo(self.root)

    def resolve(self, spec: str, *, lazy: bool = False) -> Side:
        """The manifests a tag, ``run:<id>`` or git revision names (docs/snapshots.md);
        ``lazy``: each parsed only when read (:class:`folio.revisions.ManifestTree`)."""
        from folio import revisions

        return revisions.resolve(self.git, spec, lazy=lazy)

    def display(self, path: Path) -> str:
        """``path`` as messages show it: relative to the work tree's root."""
        return path.relative_to(self.root).as_posix()

    # -- manifests ----------------------------------------------------------------------------
    def manifest_path(self, target: str) -> Path:
        return self.manifests_dir / mf.manifest_relpath(target)

    def read_manifest(self, target: str) -> Manifest:
        """A target's working manifest, read lock-free: retried as docs/format.md 4.7 says,
        and read again when an update of several files (4.7.2) was under way meanwhile."""
        path = self.manifest_path(target)

        def read_main() -> bytes:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                raise FolioError("is not a tracked target", path=target) from None

        def read() -> Manifest:
            return mf.read_lockfree(read_main, lambda data: mf.parse(
                data, self.display(path), self.read_manifest_file, target))

        if self.lock.held:  # this process is the writer: nothing changes under it
            return read()
        for _ in range(READ_AGAIN):
            token = self.journal.wait_settled(self._finish_if_free, self.config.lock_timeout)
            manifest = read()
            if self.journal.token() == token and not self.journal.pending():
                return manifest
        with self.lock.hold("folio (reading a manifest under updates)"):
            return read()  # updates kept overlapping: read between two of them

    def finish_manifest_update(self) -> None:
        """Roll forward an update of several manifest files that a killed process left
        (folio.worktree.journal); run each time the lock is taken."""
        self.journal.roll_forward(lambda target: self.remove_shards(
            target, self._main_or_none(target)))

    def _main_or_none(self, target: str) -> bytes | None:
        try:
            return read_beneath(self.folio_dir, self.manifest_path(target))
        except FileNotFoundError:
            return None

    def _finish_if_free(self) -> bool:
        """For a reader that found an update under way: True once there is nothing to wait
        for (this process is the writer, or the lock was free and the update finished)."""
        if self.lock.held:
            return True
        try:
            with RepoLock(self.local_dir, timeout=0).hold("folio (finishing an update)"):
                self.finish_manifest_update()
        except LockTimeoutError:
            return False
        return True

    def read_manifest_file(self, rel: str) -> bytes:
        """One file below ``.folio/manifests`` (a shard, say), by its relative path."""
        return (self.manifests_dir / rel).read_bytes()

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
                                    path=self.display(self.manifest_path(b)))
        return found

    def manifests(self, targets: Iterable[str] | None = None) -> dict[str, Manifest]:
        chosen = self.targets() if targets is None else list(targets)
        return {t: self.read_manifest(t) for t in chosen}

    def write_manifest(self, manifest: Manifest, *, synced: bool = False) -> bool:
        """Write a manifest's files, touching only those whose bytes change; ``synced``:
        the working data matches it now (see :meth:`write_manifest_files`)."""
        return self.write_manifest_files(manifest.target, mf.dump_files(manifest),
                                         synced=synced)[0]

    def write_manifest_files(self, target: str, files: Iterable[tuple[str, bytes]], *,
                             synced: bool = False, before: bytes | None = None
                             ) -> tuple[bool, bytes]:
        """Write encoded manifest files, the shards first and the main file last (as
        :func:`manifest.dump_files` gives them), then delete the shards the main file no
        longer names: a reader always sees a whole manifest.

        ``synced``: the working data matches the manifest written, which becomes the
        target's synced manifest (:mod:`folio.worktree.synced`); ``before`` is then the
        main file this incremental write (``files`` holding only what changed) started
        from. Without ``synced`` the synced record is dropped: a manifest folio wrote
        without knowing the data is never taken for what the data matches.

        Returns whether any file changed, and the main file's bytes.
        """
        main_rel = mf.manifest_relpath(target)
        main = b""
        passed: dict[str, bytes] = {}
        changes: list[tuple[str, bytes]] = []
        for rel, data in files:  # shards first, main last
            if rel == main_rel:
                main = data
            if synced:
                passed[rel] = data
            try:
                if read_beneath(self.folio_dir, self.manifests_dir / rel) == data:
                    continue
            except FileNotFoundError:
                pass
            changes.append((rel, data))
        if len(changes) > 1:  # as one change: a crash leaves it wholly old or new (4.7.2)
            self.journal.commit(target, changes, lambda: self.remove_shards(target, main))
            changed = True
        else:
            for rel, data in changes:
                write_beneath(self.folio_dir, self.manifests_dir / rel, data)
            changed = self.remove_shards(target, main) or bool(changes)
        if not synced:
            self.synced().drop(target)
        elif before is None:
            self.synced().put(target, passed.items())
        else:
            self.synced().update(target, before, passed, main)
        return changed, main

    def remove_manifest(self, target: str) -> None:
        """Delete a target's manifest: the main file first (untracked from then on), then
        its shards, so that a process killed half-way leaves a state a rerun finishes."""
        remove_beneath(self.folio_dir, self.manifest_path(target))
        self.remove_shards(target)
        self.synced().drop(target)

    # -- the synced manifests (three states: data, working manifests, what the data matches)
    def synced(self) -> SyncedState:
        return SyncedState.of(self.state_dir)

    def synced_base(self, target: str) -> tuple[bool, Manifest | None]:
        """What the target's data was last made to match, against its working manifest:
        ``(False, None)`` unknown; ``(True, None)`` the working manifest itself (nothing is
        out of date); ``(True, base)`` another manifest, which git put there since."""
        record = self.synced().get(target)
        if record is None:
            return False, None
        if record.files == self.manifest_digests(target):
            return True, None
        base = record.manifest(self.synced())
        return (base is not None), base

    def manifest_digests(self, target: str) -> dict[str, str] | None:
        """The sha256 of each file of the working manifest (main and the shards it names),
        by path below ``.folio/manifests``; None if it cannot be read whole."""
        main_rel = mf.manifest_relpath(target)
        try:
            main = read_beneath(self.folio_dir, self.manifests_dir / main_rel)
            out = {main_rel: main_digest(main)}
            view = mf.ShardedManifest.read(main, main_rel, None, target)
            for rel in view.shard_relpaths() if view is not None else ():
                out[rel] = main_digest(read_beneath(self.folio_dir, self.manifests_dir / rel))
        except (OSError, FolioError):
            return None
        return out

    def refresh_synced(self, manifest: Manifest) -> None:
        """A reader found the data matching ``manifest`` (status, clean): make it the
        synced manifest if it is not, when no writer is busy (as :meth:`save_if_free`)."""
        record = self.synced().get(manifest.target)
        if record is not None and record.files == self.manifest_digests(manifest.target):
            return
        quick = RepoLock(self.local_dir, timeout=0)
        try:
            with quick.hold("folio status (synced refresh)"):
                self.synced().put_manifest(manifest)
        except FolioError:
            pass

    def set_synced(self, manifest: Manifest, scope: Sequence[str] | None = None,
                   before: Manifest | None = None) -> None:
        """The working data of ``manifest``'s target matches it now (a checkout wrote it);
        with ``scope``, only at or below those paths: elsewhere the data is as ``before``
        (the synced manifest until now, or the working manifest if none was known)."""
        if scope is None:
            self.synced().put_manifest(manifest)
            return
        if before is None:
            self.synced().drop(manifest.target)
            return
        entries = {rel: e for rel, e in before.entries.items()
                   if not any(is_within(before.location(rel), p) for p in scope)}
        entries.update((rel, e) for rel, e in manifest.entries.items()
                       if any(is_within(manifest.location(rel), p) for p in scope))
        self.synced().put_manifest(Manifest(manifest.target, manifest.kind, entries))

    def remove_shards(self, target: str, main: bytes | None = None) -> bool:
        """Delete the shard files that the main file ``main`` does not name (None: all),
        and their directory once empty; whether any went. Never through a link: a
        committed ``x.folio.d -> /elsewhere`` is refused, not emptied."""
        shard_dir = self.shard_dir(target)
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

    def shard_dir(self, target: str) -> Path:
        return self.manifests_dir / (target + mf.SHARD_DIR_SUFFIX)

    # -- the stat cache and the clean marks -----------------------------------------------------
    def stat_cache(self) -> StatCache:
        return StatCache(self.state_dir / "index")

    @property
    def marks_path(self) -> Path:
        return self.state_dir / "cache" / "marks"

    def clean_marks(self) -> CleanMarks:
        return CleanMarks(self.marks_path)

    def forget_marks(self) -> None:
        """Drop every clean mark: the next status or add compares in full."""
        remove_beneath(self.state_dir, self.marks_path)

    def manifest_fingerprint(self, target: str, data: bytes | None = None) -> bytes | None:
        """See :func:`folio.worktree.marks.fingerprint`; ``data``: the main file, if read."""
        return marks.fingerprint(self.manifest_path(target), self.shard_dir(target), data)

    def save_if_free(self, cache: StatCache | None,
                     clean_marks: CleanMarks | None = None) -> None:
        """A reader (status, diff) refreshes the cache and marks only when no writer is busy."""
        quick = RepoLock(self.local_dir, timeout=0)
        try:
            with quick.hold("folio status (cache refresh)"):
                if cache is not None:
                    cache.save()
                if clean_marks is not None:
                    clean_marks.save(self.targets())
        except FolioError:
            pass

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

    def select_targets(self, paths: Sequence[str | os.PathLike[str]] | None,
                       cwd: Path | None) -> list[str]:
        """The tracked targets at, inside or containing ``paths`` (all of them if none)."""
        tracked = self.targets()
        if not paths:
            return tracked
        chosen = []
        for rel in self.resolve_paths(paths, cwd):
            inside = [t for t in tracked if is_within(rel, t) or is_within(t, rel)]
            if not inside:
                raise PathError("is not tracked by folio", path=rel)
            chosen.extend(inside)
        return sorted(set(chosen))

    def scope(self, paths: Sequence[str | os.PathLike[str]] | None,
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

    def check_overlaps(self, new: list[str], existing: Iterable[str]) -> None:
        """Refuse new targets inside, or around, tracked ones (or one another)."""
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

    # -- .gitignore upkeep ----------------------------------------------------------------------
    @property
    def gitignore_path(self) -> Path:
        return self.root / ".gitignore"

    def ignore_in_git(self, targets: Iterable[str]) -> bool:
        """List targets in the top-level .gitignore so git never commits the data itself;
        whether the file changed."""
        path = self.gitignore_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        lines = set(text.splitlines())
        missing = [p for p in (gitignore_line(t) for t in targets) if p not in lines]
        if not missing:
            return False
        block = [] if GITIGNORE_HEADER in lines else [GITIGNORE_HEADER]
        prefix = "" if not text or text.endswith("\n") else "\n"
        atomic_write(path, (text + prefix + "\n".join(block + missing) + "\n").encode("utf-8"),
                     staging=self.local_dir / "tmp")
        return True

    def unignore_in_git(self, targets: Iterable[str]) -> None:
        """Remove the lines :meth:`ignore_in_git` wrote for ``targets`` (untrack)."""
        path = self.gitignore_path
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        doomed = {gitignore_line(t) for t in targets}
        kept = [line for line in lines if line not in doomed]
        if kept != lines:
            atomic_write(path, "".join(line + "\n" for line in kept).encode("utf-8"),
                         staging=self.local_dir / "tmp")

    def ignored_by_folio(self, target: str) -> bool:
        """Whether folio's block of the top-level .gitignore lists ``target``."""
        try:
            lines = self.gitignore_path.read_text(encoding="utf-8").splitlines()
        except (FileNotFoundError, UnicodeDecodeError):
            return False
        if GITIGNORE_HEADER not in lines:
            return False
        return gitignore_line(target) in lines[lines.index(GITIGNORE_HEADER):]


def gitignore_line(target: str) -> str:
    """The .gitignore line that ignores exactly ``target`` (from the top of the work tree)."""
    return "/" + _gitignore_escape(target)


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
