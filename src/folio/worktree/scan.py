"""Walk a target's files and compare them with its manifest.

Only files whose size matches but whose stat differs from the cache are rehashed; new
files are "added" and size changes are "modified" without reading a byte.
"""

from __future__ import annotations

import os
import stat as statmod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from folio.errors import FolioError, PathError
from folio.manifest import Manifest
from folio.paths import link_stays_inside


@dataclass(frozen=True)
class FileState:
    """What a working file is now; ``link`` is set for symlinks (never followed)."""

    path: str  # relative to the target's root
    st: os.stat_result
    link: str | None = None


@dataclass
class TargetStatus:
    target: str
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    missing_target: bool = False

    @property
    def clean(self) -> bool:
        return not (self.added or self.modified or self.deleted)

    def to_json(self) -> dict[str, object]:
        return {"target": self.target, "added": self.added, "modified": self.modified,
                "deleted": self.deleted}


def scan_target(repo_root: Path, manifest: Manifest) -> dict[str, FileState]:
    """Current files of a target, keyed by entry path; empty if the target is gone."""
    root_dir = repo_root / manifest.root if manifest.root else repo_root
    if manifest.kind == "file":
        name = manifest.target.rsplit("/", 1)[-1]
        state = _state(repo_root, root_dir / name, name)
        return {name: state} if state else {}
    out: dict[str, FileState] = {}
    base = str(root_dir)
    if not os.path.isdir(base) or os.path.islink(base):
        return out
    cut = len(base) + 1
    stack = [base]
    while stack:
        current = stack.pop()
        with os.scandir(current) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != ".git":
                        stack.append(entry.path)
                    continue
                rel = entry.path[cut:]
                if not rel.isascii():
                    _check_utf8(rel, manifest.target)
                st = entry.stat(follow_symlinks=False)
                if statmod.S_ISREG(st.st_mode):
                    out[rel] = FileState(rel, st)
                elif statmod.S_ISLNK(st.st_mode):
                    out[rel] = _link_state(repo_root, Path(entry.path), rel, st)
    return out


def _state(repo_root: Path, path: Path, rel: str) -> FileState | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if statmod.S_ISLNK(st.st_mode):
        return _link_state(repo_root, path, rel, st)
    if not statmod.S_ISREG(st.st_mode):
        raise PathError("is not a regular file or directory", path=path)
    return FileState(rel, st)


def _link_state(repo_root: Path, path: Path, rel: str, st: os.stat_result) -> FileState:
    if not link_stays_inside(repo_root, path):
        raise PathError("is a symlink that leads outside the repository",
                        path=path.relative_to(repo_root).as_posix())
    return FileState(rel, st, link=os.readlink(path))


def _check_utf8(rel: str, target: str) -> None:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise FolioError("file name is not valid UTF-8; rename it to track it",
                         path=f"{target}/{shown}") from None


def current_hashes(repo_root: Path, manifest: Manifest, files: dict[str, FileState],
                   cache_lookup: Callable[[str, os.stat_result], str | None],
                   hash_missing: Callable[[list[str]], dict[str, str]]) -> dict[str, str]:
    """sha256 of every regular file that matches its manifest entry in size.

    Cache hits cost nothing; the rest go to ``hash_missing`` in one batch.
    """
    known: dict[str, str] = {}
    todo: list[str] = []
    for rel, state in files.items():
        entry = manifest.entries.get(rel)
        if state.link is not None or entry is None or entry.is_link:
            continue
        if entry.size != state.st.st_size:
            continue
        sha = cache_lookup(manifest.location(rel), state.st)
        if sha is None:
            todo.append(rel)
        else:
            known[rel] = sha
    if todo:
        known.update(hash_missing(todo))
    return known


def compare(manifest: Manifest, files: dict[str, FileState],
            hashes: dict[str, str]) -> TargetStatus:
    """Classify every path as added, modified or deleted (unchanged ones are omitted)."""
    status = TargetStatus(manifest.target)
    for rel in sorted(files):
        state = files[rel]
        entry = manifest.entries.get(rel)
        if entry is None:
            status.added.append(rel)
        elif state.link is not None or entry.is_link:
            if state.link != entry.link:
                status.modified.append(rel)
        elif entry.size != state.st.st_size or hashes.get(rel) != entry.sha256:
            status.modified.append(rel)
    status.deleted = sorted(set(manifest.entries) - set(files))
    return status

