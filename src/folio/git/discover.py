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
