"""``folio check``: manifests parse, and every object they name is somewhere.

Run on the manifests a commit stages (the ``folio-check`` pre-commit hook) so that nobody
commits a manifest that points at data no one has. "Somewhere" is the local store, then
whatever ``remote_has`` says (a callable the remote layer plugs in: given object ids, it
returns those the default remote holds). Hash-only entries (``stored: false``) and links
name no stored object and are not checked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from folio import manifest as mf
from folio.errors import FolioError, summarize_paths

if TYPE_CHECKING:
    from folio.workspace import Workspace

RemoteHas = Callable[[list[str]], Iterable[str]]


@dataclass
class CheckProblem:
    """One manifest that fails the check, said in one line."""

    manifest: str  # repo-relative path of the main manifest file
    message: str
    missing: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.manifest}: {self.message}"


def targets_of(ws: Workspace, files: Sequence[str | os.PathLike[str]],
               cwd: Path | None = None) -> tuple[list[str], list[CheckProblem]]:
    """Targets whose manifests (main files or shards) are among ``files``.

    Files that no longer exist are skipped (a staged deletion names no data).
    """
    cwd = cwd or Path.cwd()
    base = ws.manifests_dir.resolve()
    targets: set[str] = set()
    problems = []
    for raw in files:
        path = Path(os.path.normpath(cwd / raw))
        shown = os.fspath(raw)
        try:
            rel = path.parent.resolve().joinpath(path.name).relative_to(base).as_posix()
        except ValueError:
            problems.append(CheckProblem(shown, "is not a folio manifest "
                                         "(not below .folio/manifests)"))
            continue
        if not rel.endswith(mf.SUFFIX):
            problems.append(CheckProblem(shown, f"is not a folio manifest (no {mf.SUFFIX})"))
            continue
        if mf.SHARD_DIR_SUFFIX + "/" in rel:
            target = rel.split(mf.SHARD_DIR_SUFFIX + "/", 1)[0]
        else:
            target = rel[: -len(mf.SUFFIX)]
        if ws.manifest_path(target).exists():
            targets.add(target)
    return sorted(targets), problems


def check_manifests(ws: Workspace, files: Sequence[str | os.PathLike[str]] | None = None, *,
                    remote_has: RemoteHas | None = None,
                    cwd: Path | None = None) -> list[CheckProblem]:
    """Problems with the given manifest files (default: every working manifest)."""
    problems: list[CheckProblem]
    if files is None:
        targets, problems = ws.targets(), []
    else:
        targets, problems = targets_of(ws, files, cwd)
    for target in targets:
        shown = ws.display(ws.manifest_path(target))
        try:
            manifest = ws.read_manifest(target)
        except FolioError as exc:
            where = f"line {exc.line}: " if exc.line else ""
            problems.append(CheckProblem(exc.path or shown, where + exc.message))
            continue
        oids = sorted(manifest.oids(stored_only=True))
        missing = [o for o in oids if not ws.store.has(o)]
        where = "the local store"
        if missing and remote_has is not None:
            have = set(remote_has(missing))
            missing = [o for o in missing if o not in have]
            where = "the local store nor on the remote"
        if missing:
            names = sorted(e.path for e in manifest.entries.values()
                           if e.stored and e.sha256 in set(missing))
            problems.append(CheckProblem(
                shown, f"{len(missing)} of {len(oids)} objects are not in {where} "
                f"({summarize_paths(names)}); run `folio pull`, or `folio add` the data "
                "again", missing))
    return problems
