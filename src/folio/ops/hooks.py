"""Plain git hooks that keep data in step with git, and ``folio install-hooks``.

Each hook is a few lines of POSIX sh that call ``folio hook NAME ARGS...``, so the logic is
here, in Python, and tested:

- ``post-checkout`` (branch checkouts only) and ``post-merge``: ``folio checkout``, so
  ``git checkout`` / ``git switch`` / ``git pull`` bring the matching data. Quiet where folio
  is not initialised; a failure is a one-line warning, never a failed git operation.
- ``pre-commit``: ``folio capture`` (exit 1 if manifests changed: stage them and commit
  again), then ``folio check`` of the staged manifests.
- ``pre-push``: the objects named by the manifests of the pushed commits must be available:
  pushed to the default remote when folio has remotes (``Repo.push``), else in the local store.

No hook accepts anything (``folio accept``): a committed store, link mode or remote this
clone has not accepted is a one-line warning, and git goes on.

Installing never clobbers: a hook already in place is moved to ``NAME.local`` and called
first from ours; ``--uninstall`` removes exactly our files and moves it back.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio import manifest as mf
from folio._fs import atomic_write
from folio.errors import (
    ConfigError,
    FolioError,
    NotAcceptedError,
    NotARepositoryError,
    UnknownRevisionError,
    summarize_paths,
)
from folio.git.drivers import SAFE_PATH_FLAG

if TYPE_CHECKING:
    from folio.git.repo import GitRepo
    from folio.workspace import Workspace

HOOKS = ("post-checkout", "post-merge", "pre-commit", "pre-push")
MARKER = "# folio-hook: 1"
MOVED = "# folio-moved: "  # + "NAME.local": install moved the user's hook there
LOCAL_SUFFIX = ".local"
_GATES = ("pre-commit", "pre-push")  # the user's hook failing stops these
_PRE_COMMIT_CHECKOUT = ("PRE_COMMIT_FROM_REF", "PRE_COMMIT_TO_REF", "PRE_COMMIT_CHECKOUT_TYPE")


def render(name: str, python: str | None = None, moved: bool = False) -> str:
    """The sh script for hook ``name``; with ``python``, that interpreter runs folio first."""
    if name not in HOOKS:
        raise FolioError(f"unknown hook {name!r}; folio has {', '.join(HOOKS)}")
    local = name + LOCAL_SUFFIX
    lines = ["#!/bin/sh", MARKER,
             f"# git {name} hook from folio (`folio install-hooks`); `folio install-hooks",
             "# --uninstall` removes it. A hook of your own goes beside it as",
             f"# {local}: it runs first" + (" and its failure stops here."
                                            if name in _GATES else ".")]
    if moved:
        lines.append(MOVED + local)
    lines += ['hook_dir=$(dirname "$0")', "folio_hook() {"]
    branch = "if"
    if python:
        q = shlex.quote(python)
        # -P (-I before 3.11): git runs hooks at the top of the work tree, which `python -m`
        # would put first on sys.path, so a committed folio/ package would run instead.
        lines += [f"    if [ -x {q} ]; then",
                  f'        {q} {SAFE_PATH_FLAG} -m folio.cli hook "$@"']
        branch = "elif"
    lines += [f"    {branch} command -v folio >/dev/null 2>&1; then",
              '        folio hook "$@"', "    else",
              '        echo "folio: $1 hook skipped: the folio command is not installed" >&2',
              "    fi", "}"]
    call = f'"$hook_dir/{local}" "$@"'
    test = f'if [ -x "$hook_dir/{local}" ]; then'
    if name == "pre-push":  # both hooks read the pushed refs on stdin
        lines += ["input=$(cat)", "feed() {", '    if [ -n "$input" ]; then',
                  "        printf '%s\\n' \"$input\"", "    fi", "}",
                  test, f"    feed | {call} || exit $?", "fi",
                  f'feed | folio_hook {name} "$@"']
    elif name in _GATES:
        lines += [test, f"    {call} || exit $?", "fi", f'folio_hook {name} "$@"']
    else:
        lines += ["status=0", test, f"    {call} || status=$?", "fi",
                  f'folio_hook {name} "$@"', "exit $status"]
    return "\n".join(lines) + "\n"


def is_folio_hook(path: Path) -> bool:
    """True for a hook file that folio wrote (never for a symlink)."""
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(256).decode("utf-8", "replace")
    return head.startswith("#!/bin/sh\n" + MARKER + "\n")


@dataclass
class HookChange:
    """What install or uninstall did to one hook."""

    name: str
    action: str  # installed, updated, chained, removed, restored, absent, foreign
    path: Path

    def __str__(self) -> str:
        says = {
            "installed": "installed",
            "updated": "updated",
            "chained": f"installed; your hook now runs first from {self.name}{LOCAL_SUFFIX}",
            "removed": "removed",
            "restored": "removed; your hook is back in place",
            "absent": "not installed",
            "foreign": "not installed by folio; left alone",
        }
        return f"{self.name}: {says[self.action]} ({self.path})"


def _names(names: Sequence[str] | None) -> list[str]:
    chosen = list(names) if names else list(HOOKS)
    for name in chosen:
        if name not in HOOKS:
            raise FolioError(f"unknown hook {name!r}; folio has {', '.join(HOOKS)}")
    return chosen


def install(workdir: Path, names: Sequence[str] | None = None,
            python: str | None = sys.executable) -> list[HookChange]:
    """Install folio's hooks into git's hooks directory (``core.hooksPath`` respected)."""
    from folio.git.plumbing import hooks_dir

    directory = hooks_dir(workdir)
    plan = []
    for name in _names(names):
        path, local = directory / name, directory / (name + LOCAL_SUFFIX)
        if is_folio_hook(path):
            plan.append((name, path, MOVED + name + LOCAL_SUFFIX in path.read_text(), "updated"))
        elif os.path.lexists(path):
            if os.path.lexists(local):
                raise FolioError(f"cannot chain to your {name} hook: {local.name} exists "
                                 "too; merge them into one, then run this again", path=path)
            plan.append((name, path, True, "chained"))
        else:
            plan.append((name, path, False, "installed"))
    directory.mkdir(parents=True, exist_ok=True)
    changes = []
    for name, path, moved, action in plan:
        if action == "chained":
            os.rename(path, directory / (name + LOCAL_SUFFIX))
        atomic_write(path, render(name, python, moved).encode(), mode=0o755)
        os.chmod(path, 0o755)
        changes.append(HookChange(name, action, path))
    return changes


def uninstall(workdir: Path, names: Sequence[str] | None = None) -> list[HookChange]:
    """Remove exactly the hooks folio installed, and put back the ones it moved aside."""
    from folio.git.plumbing import hooks_dir

    directory = hooks_dir(workdir)
    changes = []
    for name in _names(names):
        path, local = directory / name, directory / (name + LOCAL_SUFFIX)
        if not os.path.lexists(path):
            changes.append(HookChange(name, "absent", path))
            continue
        if not is_folio_hook(path):
            changes.append(HookChange(name, "foreign", path))
            continue
        moved = MOVED + name + LOCAL_SUFFIX in path.read_text()
        path.unlink()
        if moved and os.path.lexists(local):
            os.rename(local, path)
            changes.append(HookChange(name, "restored", path))
        else:
            changes.append(HookChange(name, "removed", path))
    return changes


# -- what the hooks do ------------------------------------------------------------------------

def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _open_repo(hook: str) -> Workspace | None:
    """The folio repo here, or None (quietly) where folio is not set up."""
    from folio.workspace import Workspace

    try:
        return Workspace(".")
    except NotARepositoryError:
        return None
    except ConfigError as exc:
        _say(f"folio: warning: {hook} hook skipped: {exc}")
        return None


def run_hook(name: str, args: Sequence[str], stdin: Iterable[str] = ()) -> int:
    """Entry point of ``folio hook NAME ARGS...``; returns the exit code for git.

    A setting this clone has not accepted stops folio's part, never git's: a hook must not
    accept on the user's behalf, nor fail a commit or push over what a pull brought.
    """
    try:
        return _run_hook(name, args, stdin)
    except NotAcceptedError as exc:
        _say(f"folio: warning: {name} hook skipped: {exc}")
        return 0


def _run_hook(name: str, args: Sequence[str], stdin: Iterable[str]) -> int:
    if name == "post-checkout":
        # post-checkout PREV NEW FLAG: FLAG is 1 for a branch checkout, 0 for files. The
        # pre-commit framework passes them in the environment instead (no arguments).
        args = list(args) or [os.environ.get(k, "") for k in _PRE_COMMIT_CHECKOUT]
        if len(args) < 3 or args[2] != "1":
            return 0
        return sync_data(name, previous=args[0])
    if name == "post-merge":
        return sync_data(name, previous="ORIG_HEAD")
    if name == "pre-commit":
        return pre_commit()
    if name == "pre-push":
        return pre_push(args[0] if args else "origin", stdin)
    raise FolioError(f"unknown hook {name!r}; folio has {', '.join(HOOKS)}")


def sync_data(hook: str, previous: str | None = None) -> int:
    """``folio checkout`` after git moved the manifests; never fails the git operation.

    ``previous`` is the commit git moved away from: targets only it had lose their data.
    """
    from folio.ops import checkout

    ws = _open_repo(hook)
    if ws is None:
        return 0
    try:
        fetch_missing(ws, hook)
        try:
            result = checkout.checkout(ws, previous=previous)
        except UnknownRevisionError:  # first checkout of a clone (null sha), no ORIG_HEAD
            result = checkout.checkout(ws)
    except FolioError as exc:
        _say(f"folio: warning: {hook}: data not checked out: {exc}; "
             "then run `folio checkout`")
    except Exception as exc:  # a bug must not turn a git checkout into a failure either
        _say(f"folio: warning: {hook}: data not checked out ({type(exc).__name__}: {exc}); "
             "run `folio checkout`")
    else:
        written, deleted = len(result.written), len(result.deleted)
        if written or deleted:
            _say(f"folio: {hook}: data checked out ({written} written, {deleted} deleted)")
        for line in result.warnings:
            _say(f"folio: warning: {hook}: {line}")
    return 0


def fetch_missing(ws: Workspace, hook: str) -> None:
    """Fetch the objects the working manifests name that are not here, from the default
    remote when this clone accepted it; a failure is one warning line, never an error
    (the checkout then takes what it can). Nothing is ever accepted here."""
    from folio.ops import remotes, transfer

    if ws.config.get("hooks", "fetch", True) is False:  # `[hooks] fetch = false`: off
        return
    missing = [o for m in ws.manifests().values() for o in m.oids(stored_only=True)
               if not ws.store.has(o)]
    if not missing:
        return
    name = remotes.default_remote(ws)
    if name is None:
        return
    refusal = ws.config.remote_refusal(name)
    if refusal is not None:
        _say(f"folio: warning: {hook}: data not fetched: {refusal.refusal()}")
        return
    try:
        result = transfer.fetch(ws, remote=name)
    except FolioError as exc:
        _say(f"folio: warning: {hook}: data not fetched from {name}: {exc}")
        return
    except Exception as exc:  # a bug, a network library's own error: still only a warning
        _say(f"folio: warning: {hook}: data not fetched from {name} "
             f"({type(exc).__name__}: {exc})")
        return
    fetched = len(set(missing))
    _say(f"folio: {hook}: fetched {fetched} object{'s' if fetched != 1 else ''} from "
         f"{result.remote}")


def pre_commit() -> int:
    """``folio capture``, then ``folio check`` of the staged manifests."""
    from folio.git.plumbing import staged_paths
    from folio.ops.check import check_manifests
    from folio.ops.outputs import capture_configured

    ws = _open_repo("pre-commit")
    if ws is None:
        return 0
    result = capture_configured(ws)
    for line in result.warnings():
        _say(f"folio: capture: {line}")
    message = result.stage_message()
    if message:
        _say(message)
        return 1
    staged = staged_paths(ws.root, ws.display(ws.manifests_dir))
    problems = check_manifests(ws, staged, cwd=ws.root, remote_has=default_remote_has(ws))
    for problem in problems:
        _say(f"folio: {problem}")
    return 1 if problems else 0


def pre_push(remote: str, stdin: Iterable[str]) -> int:
    """The objects of the pushed commits' manifests must be available before git pushes."""
    from folio.git.repo import GitRepo

    ws = _open_repo("pre-push")
    if ws is None:
        return 0
    git = GitRepo(ws.root)
    oids = pushed_objects(ws, git, remote, stdin)
    if not oids:
        return 0
    if push_to_default_remote(ws, oids):
        return 0
    missing = sorted(o for o in oids if not ws.store.has(o))
    if missing:
        _say(f"folio: pre-push: {len(missing)} object(s) named by the pushed manifests are "
             f"not in the local store ({summarize_paths([o[:12] for o in missing])}); "
             "`folio fetch REV` (the branch or tag pushed) brings them, or add the data again "
             "(`git push --no-verify` skips this)")
        return 1
    return 0


def pushed_objects(ws: Workspace, git: GitRepo, remote: str, lines: Iterable[str]) -> set[str]:
    """Stored object ids named by the manifests of every commit the push sends."""
    from folio.git.plumbing import commits_to_push
    from folio.git.repo import FOLIO_REFS, MANIFESTS_PREFIX

    oids: set[str] = set()
    seen: dict[str, set[str]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 4:
            continue
        local_ref, local_sha, _, remote_sha = parts
        prefix = "" if local_ref.startswith(FOLIO_REFS) else MANIFESTS_PREFIX
        for commit in commits_to_push(ws.root, local_sha, remote_sha, remote):
            oids |= _commit_oids(git, commit, prefix, seen)
    return oids


def _commit_oids(git: GitRepo, commit: str, prefix: str, seen: dict[str, set[str]]) -> set[str]:
    """Object ids of one commit's manifests; each distinct manifest is parsed once."""
    files = git.read_tree_files(commit, prefix)
    out: set[str] = set()
    for path, data in files.items():
        target = mf.target_of(path)
        if target is None:
            continue
        shards = sorted(p for p in files if p.startswith(target + mf.SHARD_DIR_SUFFIX + "/"))
        key = hashlib.sha256(data + b"".join(files[p] for p in shards)).hexdigest() + path
        if key not in seen:
            manifest = mf.parse(data, f"{commit[:12]}:{path}", files.__getitem__, target)
            seen[key] = manifest.oids(stored_only=True)
        out |= seen[key]
    return out


# -- seams for the remotes issue --------------------------------------------------------------

def push_to_default_remote(ws: Workspace, oids: set[str]) -> bool:
    """Push ``oids`` to the default remote; False when there is none (check locally then).

    A failed upload raises, which stops the git push.
    """
    from folio.ops import remotes, transfer

    if remotes.default_remote(ws) is None:
        return False
    transfer.push(ws, oids=sorted(oids))
    return True


def default_remote_has(ws: Workspace) -> Any:
    """A ``remote_has(oids)`` for ``folio check`` when a usable default remote exists, else
    None (check against the local store); a default remote not accepted here says so."""
    from folio.ops import remotes

    name = remotes.default_remote(ws)
    if name is None:
        return None
    refusal = ws.config.remote_refusal(name)
    if refusal is not None:
        _say(f"folio: warning: pre-commit: {refusal.refusal()}; checking the local store only")
        return None
    return functools.partial(remotes.remote_has, ws)
