"""Questions for the git binary that hooks ask: where hooks live, what is staged, what is pushed.

These go through ``git`` itself rather than pygit2 because git's own answer is the one that
matters inside a hook: ``core.hooksPath``, linked worktrees and the ``GIT_INDEX_FILE`` that
git exports to a pre-commit hook are all honoured exactly as git honours them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from folio.errors import RefError

ZERO_SHA = "0" * 40


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise RefError(f"git {args[0]} failed: {lines[-1] if lines else 'no message'}")
    return done.stdout


def hooks_dir(workdir: Path) -> Path:
    """The directory git runs hooks from (``core.hooksPath`` if set, worktrees included)."""
    found = Path(_git(workdir, "rev-parse", "--git-path", "hooks").strip())
    return found if found.is_absolute() else (workdir / found)


def staged_paths(workdir: Path, prefix: str) -> list[str]:
    """Paths under ``prefix`` that the index adds, copies, modifies or renames (not deletes)."""
    out = _git(workdir, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR",
               "--", prefix)
    return [p for p in out.split("\0") if p]


def commits_to_push(workdir: Path, local_sha: str, remote_sha: str, remote: str) -> list[str]:
    """Commits that ``git push`` sends for one ref: reachable from ``local_sha`` but not
    from what the remote is known to have (its tracking refs and ``remote_sha``)."""
    if local_sha == ZERO_SHA:
        return []  # a deletion sends nothing
    args = ["rev-list", local_sha, "--not", f"--remotes={remote}"]
    if remote_sha != ZERO_SHA and _exists(workdir, remote_sha):
        args.append(remote_sha)
    return _git(workdir, *args).split()


def _exists(workdir: Path, sha: str) -> bool:
    done = subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=workdir,
                          capture_output=True, check=False)
    return done.returncode == 0


def is_tracked(workdir: Path, path: str) -> bool:
    """True when ``path`` (relative to ``workdir``) is in the index or in HEAD's tree: a
    file that a commit, a merge or a checkout can write."""
    return bool(tracked_below(workdir, [path]))


def tracked_below(workdir: Path, paths: list[str], *, head: bool = True) -> list[str]:
    """Which of ``paths`` (files or directories, relative to ``workdir``) have anything in
    the index or (``head``) in HEAD's tree, in the order given. Paths are literal: a ``*``
    in a name is that character, never a pattern."""
    found: set[str] = set()
    queries = [["ls-files", "-z", "--"]]
    if head:
        queries.append(["ls-tree", "-r", "-z", "--name-only", "HEAD", "--"])
    for args in queries:
        done = subprocess.run(["git", "--literal-pathspecs", *args, *paths], cwd=workdir,
                              capture_output=True, check=False)
        if done.returncode == 0:  # (ls-tree fails on an unborn HEAD: nothing committed yet)
            found.update(p.decode("utf-8", "replace") for p in done.stdout.split(b"\0") if p)
    return [p for p in paths if any(f == p or f.startswith(p + "/") for f in found)]


def unmerged_below(workdir: Path, path: str) -> list[str]:
    """Paths at or below ``path`` that git's index holds unmerged (a conflict not resolved
    and staged yet), sorted; empty outside a merge or where git cannot tell."""
    done = subprocess.run(["git", "--literal-pathspecs", "ls-files", "-u", "-z", "--", path],
                          cwd=workdir, capture_output=True, check=False)
    if done.returncode != 0:
        return []
    found = {line.split(b"\t", 1)[1].decode("utf-8", "replace")
             for line in done.stdout.split(b"\0") if b"\t" in line}
    return sorted(found)
