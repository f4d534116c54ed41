"""Look at each working file again just before checkout replaces or deletes it.

Checkout decides what may be overwritten while planning (unsaved changes are refused, or
saved with ``--force``); writing thousands of files takes long enough for someone to save
an edit meanwhile. So every file is compared, right before it is touched, with what the
plan found there (:func:`folio.worktree.materialize.unchanged_since`). A file that changed
is an edit nobody has checked: without ``--force`` it is left as it is and the checkout ends
with a one-line error naming it; with ``--force`` its content is stored and logged in the
recovery log first, as every other content a forced checkout overwrites (no data loss,
ever).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from folio.errors import ChangedMeanwhileError, UnsavedChangesError, summarize_paths
from folio.ops import recovery
from folio.ops.recovery import RecoveryRecord
from folio.worktree.materialize import LINK, NOTHING, Checked, unchanged_since
from folio.worktree.scan import FileState

if TYPE_CHECKING:
    from folio.workspace import Workspace

ATTEMPTS = 3  # a file that keeps changing under a forced checkout is left as it is


class Recheck:
    """What checkout found at each path it touches, and what changed since."""

    def __init__(self, ws: Workspace, checked: dict[str, Checked], *, force: bool,
                 label: str) -> None:
        self._repo = ws
        self._checked = checked
        self._force = force
        self._label = label
        self._lock = threading.Lock()  # files are written on several threads
        self.changed: list[str] = []
        self.saved: list[RecoveryRecord] = []

    def touch(self, loc: str, do: Callable[[Checked], object]) -> bool:
        """Run ``do(checked)``, which raises ChangedMeanwhileError if the file changed since
        ``checked``; whether it ran to the end (else the file is listed in ``changed``)."""
        checked = self._checked.get(loc, NOTHING)
        for _ in range(ATTEMPTS):
            try:
                do(checked)
                return True
            except ChangedMeanwhileError:
                if not self._force:
                    break
                checked = self._save(loc)
        with self._lock:
            self.changed.append(loc)
        return False

    def delete(self, loc: str) -> bool:
        """Unlink a working file unless it changed since it was checked (see :meth:`touch`)."""
        path = self._repo.root / loc
        if loc not in self._checked:  # staging debris of a killed checkout: never content
            path.unlink(missing_ok=True)
            return True

        def unlink(checked: Checked) -> None:
            if not unchanged_since(path, checked):
                raise ChangedMeanwhileError("changed after it was checked", path=loc)
            path.unlink(missing_ok=True)

        return self.touch(loc, unlink)

    def _save(self, loc: str) -> Checked:
        """Store and log the content found now (``--force``); what it was, as checked."""
        store = self._repo.store
        try:
            oid, size, st = store.put_file_stat(self._repo.root / loc, store_copy=True)
        except FileNotFoundError:
            return NOTHING
        except OSError:  # replaced by a link meanwhile (opened without following it)
            return LINK
        store.sync()  # durable before the log names it and before the file is replaced
        record = RecoveryRecord(recovery.now(), loc, oid, size,
                                f"checkout {self._label}: changed while checking out")
        with self._lock:
            recovery.append(self._repo.local_dir, [record])
            self.saved.append(record)
        return Checked.of(st)

    def raise_if_changed(self) -> None:
        """The one-line error naming the files left as they are (non-forced checkout)."""
        if not self.changed:
            return
        changed = sorted(self.changed)
        n = len(changed)
        hint = ("when they are quiet" if self._force else
                "(--force overwrites them, keeping their content in the recovery log)")
        raise UnsavedChangesError(
            f"{n} file{'s' if n > 1 else ''} "
            f"{'kept changing' if self._force else 'changed'} while checkout ran and "
            f"{'were' if n > 1 else 'was'} left as {'they are' if n > 1 else 'it is'}: "
            f"{summarize_paths(changed)}; run the checkout again {hint}", paths=changed)


def checked_of(state: FileState | None) -> Checked:
    """What a scan found at a path: a regular file's stat, a link (to the store, too: it
    holds no content of its own) or nothing."""
    if state is not None and (state.link is not None or state.oid is not None):
        return LINK
    return Checked.of(state)
