"""``Repo``: the public facade, one method per verb, each one call into :mod:`folio.ops`.

``Repo`` is a :class:`~folio.workspace.Workspace` (the kernel: root, config, store, lock,
git, manifests, stat cache, .gitignore upkeep) with the verbs on top. The operations take a
``Workspace`` and never import this module; only the CLI and ``folio/__init__.py`` do
(docs/architecture.md). Operations that load the network backends, pyarrow or the codecs
are imported inside the method that uses them, so ``import folio`` and every CLI command
start without loading the rest.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from folio.manifest import Entry, Manifest
from folio.ops.track import AddResult
from folio.progress import NULL, Progress
from folio.workspace import Workspace
from folio.worktree.scan import TargetStatus

if TYPE_CHECKING:
    import pyarrow as pa

    from folio.bundle import Folio
    from folio.config import PendingSetting
    from folio.ops.archive import ArchiveResult
    from folio.ops.checkout import CheckoutResult
    from folio.ops.diff import DiffResult
    from folio.ops.maintenance import GcResult, VerifyResult
    from folio.ops.outputs import Capture
    from folio.ops.read import VerifiedReader, VersionInfo
    from folio.ops.recovery import RecoveryRecord, Restored
    from folio.ops.remote_gc import RemoteGcResult
    from folio.ops.remotes import RemoteSpec
    from folio.ops.snapshots import SnapshotInfo
    from folio.ops.transfer import TransferResult

__all__ = ["AddResult", "Repo"]


class Repo(Workspace):
    """A git work tree with folio initialised (or a fresh clone whose config is committed)."""

    # -- set-up (folio.ops.setup) ------------------------------------------------------------
    @classmethod
    def init(cls, path: str | os.PathLike[str] = ".") -> Repo:
        """Create ``.folio/`` in the enclosing git work tree; safe to run again."""
        from folio.ops import setup

        setup.init(path)
        return cls(path)

    def pending_settings(self) -> list[PendingSetting]:
        """What the committed config asks for (store, risky link mode, remotes) that this
        clone has not accepted; none of it takes effect until :meth:`accept`."""
        from folio.ops import setup

        return setup.pending_settings(self)

    def accept(self, keys: Iterable[str] | None = None) -> list[PendingSetting]:
        """Accept the pending settings (all, or the keys named: ``core.store``,
        ``core.link``, ``remotes.NAME``) in this clone; returns what was accepted."""
        from folio.ops import setup

        return setup.accept(self, keys)

    # -- tracking (folio.ops.track) -----------------------------------------------------------
    def add(self, paths: Sequence[str | os.PathLike[str]], *, store_copy: bool = True,
            progress: Progress = NULL, jobs: int | None = None,
            cwd: Path | None = None) -> list[AddResult]:
        """Track files or directories: store their content and write their manifests."""
        from folio.ops import track

        return track.add(self, paths, store_copy=store_copy, progress=progress, jobs=jobs,
                         cwd=cwd)

    def untrack(self, paths: Sequence[str | os.PathLike[str]],
                cwd: Path | None = None) -> list[str]:
        """Stop tracking targets: remove their manifests and .gitignore lines, keep the data."""
        from folio.ops import track

        return track.untrack(self, paths, cwd)

    def status(self, targets: Sequence[str | os.PathLike[str]] | None = None,
               jobs: int | None = None, cwd: Path | None = None) -> list[TargetStatus]:
        """Added / modified / deleted per target; rehashes only what the cache can't vouch for."""
        from folio.ops import track

        return track.status(self, targets, jobs, cwd)

    def ls(self, paths: Sequence[str | os.PathLike[str]] | None = None,
           cwd: Path | None = None, *, rev: str | None = None) -> list[tuple[Manifest, Entry]]:
        """Entries recorded in the working manifests (or in version ``rev``: a tag,
        ``run:ID``, git revision or sha), at or below the given paths."""
        if rev is not None:
            from folio.ops import read

            return read.ls(self, rev, paths, cwd)
        from folio.ops import track

        return track.ls(self, paths, cwd)

    def open(self, path: str | os.PathLike[str], rev: str | None = None, *,
             remote: str | None = None, progress: Progress = NULL) -> VerifiedReader:
        """A binary, seekable, read-only file of ``path`` (repo-relative) at ``rev`` (None:
        the working manifests' version), never touching the working file. Verified as read
        (docs/api.md, "Reading any version"); fetched from ``remote`` (default: the default
        remote) first when the local store lacks it."""
        from folio.ops import read

        return read.open_path(self, path, rev, remote=remote, progress=progress)

    def read_bytes(self, path: str | os.PathLike[str], rev: str | None = None, *,
                   remote: str | None = None) -> bytes:
        """All bytes of ``path`` at ``rev``, checked against their sha256 before returning."""
        from folio.ops import read

        return read.read_bytes(self, path, rev, remote=remote)

    # -- snapshots, checkout, diff, recovery (docs/snapshots.md) ------------------------------
    def snapshot(self, tag: str, message: str | None = None, *, progress: Progress = NULL,
                 jobs: int | None = None) -> SnapshotInfo:
        """Capture every tracked target as ``add`` would and create the immutable tag."""
        from folio.ops import snapshots

        return snapshots.create(self, tag, message, progress, jobs)

    def tags(self) -> list[SnapshotInfo]:
        """Every snapshot, sorted by tag name."""
        from folio.ops import snapshots

        return snapshots.by_tag(self.git)

    def log(self) -> list[SnapshotInfo]:
        """Every snapshot, newest first."""
        from folio.ops import snapshots

        return snapshots.list_snapshots(self.git)

    def show(self, rev: str | None = None) -> VersionInfo:
        """One version (a tag, ``run:ID``, git revision or sha; None: the working manifests)
        with per-target file counts and bytes in ``.targets``; ``.snapshot`` / ``.run`` hold
        a snapshot's or run's record."""
        from folio.ops import read

        return read.show(self, rev)

    def delete_tag(self, tag: str, *, push: str | None = None) -> str:
        """Delete snapshot ``tag`` (explicitly: tags are otherwise immutable); return its commit.

        ``push`` (a git remote, e.g. ``"origin"``) deletes it there too, if it names the same
        commit there; deleted only here, it comes back on the next fetch while origin has it.
        """
        from folio.ops import snapshots

        return snapshots.delete(self, tag, push)

    def rename_tag(self, old: str, new: str) -> str:
        """Name snapshot ``old`` ``new`` instead (same commit); return the commit."""
        from folio.ops import snapshots

        return snapshots.rename(self, old, new)

    def checkout(self, rev: str | None = None,
                 paths: Sequence[str | os.PathLike[str]] | None = None, *, force: bool = False,
                 link: str | None = None, progress: Progress = NULL, jobs: int | None = None,
                 cwd: Path | None = None, previous: str | None = None) -> CheckoutResult:
        """Make the working data (at or below ``paths``) match ``rev``, or the working manifests.

        ``previous`` (a git revision) names the commit whose manifests a git checkout just
        replaced: data of targets it had and the new manifests lack is removed too.
        """
        from folio.ops import checkout

        return checkout.checkout(self, rev, paths, force=force, link=link, progress=progress,
                                 jobs=jobs, cwd=cwd, previous=previous)

    def diff(self, a: str | None = None, b: str | None = None,
             paths: Sequence[str | os.PathLike[str]] | None = None, *, detail: bool = True,
             progress: Progress = NULL, jobs: int | None = None,
             cwd: Path | None = None) -> DiffResult:
        """Files changed from ``a`` (default HEAD) to ``b`` (default the working tree).

        ``a`` may be a range: ``"A..B"`` (A to B) or ``"A...B"`` (merge base of A and B to B).
        """
        from folio.ops import diff

        return diff.diff(self, a, b, paths, detail=detail, progress=progress, jobs=jobs,
                         cwd=cwd)

    def recovery_log(self) -> list[RecoveryRecord]:
        """Everything forced checkouts saved, oldest first (``.git/folio/logs/recovery.jsonl``)."""
        from folio.ops import recovery

        return recovery.read(self.local_dir)

    def recover(self, path: str | os.PathLike[str], *, to: str | os.PathLike[str] | None = None,
                sha: str | None = None, cwd: Path | None = None) -> Restored:
        """Restore the newest saved content of ``path`` (or the one whose sha starts ``sha``)."""
        from folio.ops import recovery

        return recovery.recover(self, path, to=to, sha=sha, cwd=cwd)

    # -- runs and output capture (docs/runs.md) -------------------------------------------------
    def runs(self, *, status: str | None = None, name: str | None = None,
             where: Sequence[str] = (), sort: str | None = None) -> pa.Table:
        """Recorded runs as a pyarrow Table, oldest first (or by ``sort``, ``-auc`` for
        descending); filters: status, name glob, ``where`` conditions like ``"lr<0.1"``.
        Params and metrics are typed columns ``param.NAME`` and ``metric.NAME``."""
        from folio.ops import runs

        found = runs.filter_runs(runs.list_runs(self.git, status=status, name=name), where)
        return runs.runs_table(runs.sort_runs(found, sort) if sort else found)

    def delete_runs(self, run_ids: Sequence[str], *,
                    push: str | None = None) -> list[tuple[str, str | None]]:
        """Delete runs (their refs; ``folio gc`` then takes what only they named); ``push``
        (a git remote) deletes them there too. Returns (id, commit here or None)."""
        from folio.ops import runs

        return runs.delete_runs(self, run_ids, push)

    def compare_runs(self, a: str, b: str) -> dict[str, object]:
        """Params, metrics and outputs that differ between runs ``a`` and ``b``."""
        from folio.ops import runs

        return runs.compare(self, self.git, a, b)

    def query(self) -> pa.Table:
        """Every file of every snapshot and run as a pyarrow Table (one row per file)."""
        from folio.ops import runs

        return runs.query_table(self.git)

    def capture(self, patterns: Sequence[str | os.PathLike[str]], store_copy: bool = True,
                name: str | None = None, *, params: Mapping[str, object] | None = None,
                metrics: Sequence[str | os.PathLike[str]] = ()) -> Capture:
        """``with repo.capture(["out.csv", "plots/*.png"]) as run:`` records a run on exit.

        Patterns and ``metrics`` files are relative to the repository root."""
        from folio.ops import outputs

        return outputs.Capture(self, patterns, store_copy=store_copy, name=name,
                               params=params, metrics=metrics)

    # -- remotes, gc, verify, export/import (docs/remotes.md) ----------------------------------
    def remotes(self) -> list[RemoteSpec]:
        """The configured remotes, sorted by name (``.default`` marks the default one)."""
        from folio.ops import remotes

        return remotes.list_remotes(self)

    def add_remote(self, name: str, url: str, **options: object) -> RemoteSpec:
        """Record remote ``name`` (``default``, ``endpoint``, ``region``, ``profile``,
        ``account``, ``emulator``, ``allow_http``, ``local``); never a credential."""
        from folio.ops import remotes

        return remotes.add_remote(self, name, url, **options)  # type: ignore[arg-type]

    def remove_remote(self, name: str) -> RemoteSpec:
        from folio.ops import remotes

        return remotes.remove_remote(self, name)

    def default_remote(self) -> str | None:
        """``core.remote``, else the only remote, else None."""
        from folio.ops import remotes

        return remotes.default_remote(self)

    def remote_has(self, oids: Iterable[str], remote: str | None = None) -> set[str]:
        """Which of ``oids`` the remote (default: the default remote) holds."""
        from folio.ops import remotes

        return remotes.remote_has(self, oids, remote)

    def push(self, revs: Sequence[str] = (), *, all: bool = False, remote: str | None = None,
             jobs: int | None = None, git_remote: str | None = None,
             oids: Sequence[str] | None = None, progress: Progress = NULL) -> TransferResult:
        """Send the objects of the working manifests and every snapshot and run (or of
        ``revs``, or ``all`` history, or exactly ``oids``); then ``refs/folio/*`` to
        ``git_remote`` if given."""
        from folio.ops import transfer

        return transfer.push(self, revs, all_versions=all, remote=remote, jobs=jobs,
                             progress=progress, git_remote=git_remote, oids=oids)

    def fetch(self, revs: Sequence[str] = (), *, all: bool = False, remote: str | None = None,
              jobs: int | None = None, git_remote: str | None = None,
              paths: Sequence[str | os.PathLike[str]] | None = None, refs: bool = True,
              cwd: Path | None = None, progress: Progress = NULL) -> TransferResult:
        """Bring the objects of ``revs`` (default: the working manifests; only those at or
        below ``paths`` if given) into the store; first the git remote's ``refs/folio/*``
        unless ``refs`` is False (docs/remotes.md, "Refs travel with the data")."""
        from folio.ops import transfer

        return transfer.fetch(self, revs, all_versions=all, remote=remote, jobs=jobs,
                              progress=progress, git_remote=git_remote, paths=paths, cwd=cwd,
                              refs=refs)

    def pull(self, rev: str | None = None, *, remote: str | None = None, jobs: int | None = None,
             force: bool = False, link: str | None = None, git_remote: str | None = None,
             paths: Sequence[str | os.PathLike[str]] | None = None, refs: bool = True,
             cwd: Path | None = None, progress: Progress = NULL) -> TransferResult:
        """Fetch the objects of ``rev`` (default: the working manifests), then check it out;
        with ``paths``, only those paths move and change (the rest stays as it was)."""
        from folio.ops import transfer

        return transfer.pull(self, rev, remote=remote, jobs=jobs, progress=progress,
                             git_remote=git_remote, force=force, link=link, paths=paths,
                             cwd=cwd, refs=refs)

    def gc(self, *, dry_run: bool = False, grace: str | float = "1d",
           allow_shared: bool = False) -> GcResult:
        """Delete objects no root reaches that are older than ``grace`` (docs/remotes.md)."""
        from folio.ops import maintenance

        return maintenance.gc(self, dry_run=dry_run, grace=grace, allow_shared=allow_shared)

    def gc_remote(self, remote: str | None = None, *, dry_run: bool = False,
                  grace: str | float = "7d", git_remote: str | None = None,
                  jobs: int | None = None, repack_below: float = 50.0) -> RemoteGcResult:
        """Delete remote objects and packs no ref and no recent push reaches, and repack
        packs less than ``repack_below`` percent live (docs/remotes.md)."""
        from folio.ops import remote_gc

        return remote_gc.remote_gc(self, remote, dry_run=dry_run, grace=grace,
                                   git_remote=git_remote, jobs=jobs,
                                   repack_below=repack_below)

    def verify(self, *, remote: str | None = None, repair: bool = False,
               jobs: int | None = None, progress: Progress = NULL) -> VerifyResult:
        """Rehash every object; report corrupt and missing ones; ``repair`` from a remote."""
        from folio.ops import maintenance

        return maintenance.verify(self, remote=remote, repair=repair, jobs=jobs,
                                  progress=progress)

    def export(self, tag: str, path: str | os.PathLike[str]) -> ArchiveResult:
        """Write snapshot ``tag`` and its objects to a .tar, .tar.gz or .zip file."""
        from folio.ops import archive

        return archive.export(self, tag, path)

    def import_archive(self, path: str | os.PathLike[str],
                       tag: str | None = None) -> ArchiveResult:
        """Create a snapshot (the archived tag, or ``tag``) from an exported archive."""
        from folio.ops import archive

        return archive.import_archive(self, path, tag)

    # -- bundles of typed items (docs/api.md) ---------------------------------------------------
    def folio(self, path: str | os.PathLike[str], *, create: bool = True,
              read_only: bool = False, snapshot: str | None = None) -> Folio:
        """The bundle in directory ``path`` (relative to the repo root), created if new;
        ``read_only`` / ``snapshot`` as for ``Folio``."""
        from folio.bundle import Folio

        return Folio(path, repo=self, create=create, read_only=read_only, snapshot=snapshot)
