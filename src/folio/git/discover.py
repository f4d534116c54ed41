"""Find the git work tree that contains a path, without importing pygit2.

Kept dependency-free so that fast commands (status, ls) start in milliseconds.
"""

from __future__ import annotations

import os
from pathlib import Path

from folio.errors import NotARepositoryError


def find_worktree(start: str | os.PathLike[str] = ".") -> Path:
    """The top of the git work tree containing ``start`` (which must exist).

    A ``.git`` directory or a ``.git`` file (worktrees, submodules) marks the top.
    ``GIT_WORK_TREE`` is honoured when set, as git does.
    """
    env = os.environ.get("GIT_WORK_TREE")
    if env:
        return Path(env).resolve()
    here = Path(start).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    raise NotARepositoryError(
        "not inside a git work tree; run `git init` first (folio keeps its manifests in git)",
        path=str(Path(start)))


def git_dir(worktree: Path) -> Path:
    """The git directory of the work tree ``worktree`` (its own, for a linked worktree).

    ``.git`` is a directory, or a file ``gitdir: PATH`` (linked worktrees, submodules).
    """
    dot_git = worktree / ".git"
    if dot_git.is_file():
        text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
        if not text.startswith("gitdir:"):
            raise NotARepositoryError("is not a `gitdir: PATH` file", path=str(dot_git))
        return (worktree / text[len("gitdir:"):].strip()).resolve()
    if dot_git.is_dir():
        return dot_git
    if os.environ.get("GIT_DIR"):
        return Path(os.environ["GIT_DIR"]).resolve()
    raise NotARepositoryError("has no .git directory or file", path=str(worktree))


def git_common_dir(worktree: Path) -> Path:
    """The directory git shares between all work trees of ``worktree``'s repository.

    A linked worktree's git dir names the shared one in its ``commondir`` file. Nothing a
    commit carries can write here, which is why folio keeps everything local below it.
    """
    own = git_dir(worktree)
    try:
        common = (own / "commondir").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return own
    return (own / common).resolve()
