"""Find the git work tree that contains a path, without importing pygit2.

Kept dependency-free so that fast commands (status, ls) start in milliseconds.
"""

from __future__ import annotations

import os
from pathlib import Path

from folio.errors import NotARepositoryError


def find_worktree(start: str | Path = ".") -> Path:
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


def git_common_dir(worktree: Path) -> Path:
    """The directory git shares between all work trees of ``worktree``'s repository.

    ``.git`` is a directory, or a file ``gitdir: PATH`` (linked worktrees, submodules) whose
    git dir may name the shared one in its ``commondir`` file. Nothing a commit carries can
    write here, which is why folio keeps this clone's own settings below it.
    """
    dot_git = worktree / ".git"
    if dot_git.is_file():
        text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
        if not text.startswith("gitdir:"):
            raise NotARepositoryError("is not a `gitdir: PATH` file", path=str(dot_git))
        git_dir = (worktree / text[len("gitdir:"):].strip()).resolve()
    elif dot_git.is_dir():
        git_dir = dot_git
    elif os.environ.get("GIT_DIR"):
        git_dir = Path(os.environ["GIT_DIR"]).resolve()
    else:
        raise NotARepositoryError("has no .git directory or file", path=str(worktree))
    try:
        common = (git_dir / "commondir").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return git_dir
    return (git_dir / common).resolve()
