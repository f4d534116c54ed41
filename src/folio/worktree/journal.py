"""Manifest writes of several files that a crash leaves wholly old or wholly new.

An update of a sharded target may rewrite several shard files in place (docs/format.md
4.7). Each rename is atomic, but a process killed between two of them would leave the
target half updated: every shard valid, the whole neither the old state nor the new. So a
write that changes more than one file goes through an intent record, as a database's redo
log does (docs/format.md 4.7.2):

1. every new file is staged beside its final name (``.tmp-<name>.<hex>``) and synced;
2. the **plan**, naming each staged file and where it goes, is written atomically and
   synced: the commit point;
3. the staged files are renamed into place in the order given (shards, then the main
   file), and the caller deletes the shards the main file no longer names;
4. the **done marker** is replaced (a new inode every time), then the plan is deleted.

Killed before 2, the manifest is the old one and the staged files are debris the next
write of the target deletes. Killed after, the plan is rolled forward, under the lock, by
the next folio process that takes the lock or reads a manifest. A reader without the lock
reads again when it saw a plan, or saw the done marker change while it read; so it never
sees a mix of one update's two states either.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from folio._fs import read_beneath, remove_beneath, rename_beneath, stage_beneath, write_beneath
from folio.errors import ManifestError

PLAN = "manifest-journal.json"
DONE = "manifest-journal.done"

Token = tuple[int, int] | None  # the done marker's (inode, mtime_ns); None: no marker yet


class Journal:
    """The plan and done marker of one work tree's manifests (in its state directory)."""

    def __init__(self, folio_dir: Path, manifests_dir: Path, state_dir: Path) -> None:
        self.folio_dir = folio_dir  # no link below it is followed
        self.manifests_dir = manifests_dir
        self.state_dir = state_dir
        self.plan_path = state_dir / PLAN
        self.done_path = state_dir / DONE

    # -- writing ------------------------------------------------------------------------
    def commit(self, target: str, files: Sequence[tuple[str, bytes]],
               finish: Callable[[], object]) -> None:
        """Make ``files`` (path below the manifests directory, bytes) replace what is there
        as one change; ``finish`` (deleting stale shards) runs after the renames. The
        caller holds the repository lock."""
        staged = [(rel, stage_beneath(self.folio_dir, self.manifests_dir / rel, data))
                  for rel, data in files]
        plan = {"target": target, "files": [list(pair) for pair in staged]}
        write_beneath(self.state_dir, self.plan_path,
                      json.dumps(plan, sort_keys=True).encode())
        self._apply(staged)
        finish()
        self._settle()

    def _apply(self, staged: Sequence[tuple[str, str]]) -> None:
        last = len(staged) - 1
        for n, (rel, name) in enumerate(staged):
            # One directory sync per directory is enough: each rename is made durable by
            # the sync of its directory, and the shards share one.
            next_dir = os.path.dirname(staged[n + 1][0]) if n < last else None
            rename_beneath(self.folio_dir, self.manifests_dir / rel, name,
                           durable=next_dir != os.path.dirname(rel))

    def _settle(self) -> None:
        """The update is whole: say so to readers (a new inode), then drop the plan."""
        write_beneath(self.state_dir, self.done_path, secrets.token_hex(8).encode(),
                      durable=False)
        remove_beneath(self.state_dir, self.plan_path)

    # -- recovery -----------------------------------------------------------------------
    def pending(self) -> bool:
        """Whether a plan is there: an update in progress, or one a killed process left."""
        return os.path.lexists(self.plan_path)

    def roll_forward(self, finish: Callable[[str], object]) -> str | None:
        """Finish a plan a killed process left (the caller holds the lock); the target it
        was for, or None if there was none. ``finish(target)`` deletes stale shards."""
        try:
            raw = read_beneath(self.state_dir, self.plan_path)
        except FileNotFoundError:
            return None
        try:
            plan = json.loads(raw)
            target = plan["target"]
            staged = [(str(rel), str(name)) for rel, name in plan["files"]]
            if not isinstance(target, str):
                raise TypeError(target)
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"unreadable manifest journal ({exc}); the manifests may be "
                                "half updated: check them with `folio status`, then delete it",
                                path=str(self.plan_path)) from None
        for rel, _ in staged:
            if rel.startswith("/") or ".." in rel.split("/"):
                raise ManifestError(f"manifest journal names {rel!r}, outside the manifests",
                                    path=str(self.plan_path))
        self._apply(staged)  # a staged file already renamed is skipped
        finish(target)
        self._settle()
        return target

    # -- lock-free readers --------------------------------------------------------------
    def token(self) -> Token:
        try:
            st = os.lstat(self.done_path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def wait_settled(self, try_roll_forward: Callable[[], bool], timeout: float) -> Token:
        """Wait until no plan is pending (rolling forward a dead writer's plan when the lock
        is free); the done marker's token then. After ``timeout`` seconds, give up waiting
        and return the token as it is (the read may then see a mix, as folio 0.2 could)."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if try_roll_forward() or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        return self.token()
