"""Setting a repository up: ``folio init``, and accepting what a clone's committed config asks.

``init`` writes the committed part of ``.folio/`` and the git config of this clone; the
local parts (store, lock, logs, caches) live below ``.git/folio`` and are made on first use
(docs/format.md 2). ``accept`` is the only way a committed ``core.store``, a risky link mode
or a remote takes effect in a clone: a commit must not choose for the machine that pulls it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from folio import layout
from folio._fs import read_beneath, write_beneath
from folio.config import DEFAULT_TEXT
from folio.git import drivers
from folio.git.discover import find_worktree
from folio.layout import FOLIO_DIR

if TYPE_CHECKING:
    from folio.config import PendingSetting
    from folio.workspace import Workspace

LOCAL_GITIGNORE = """\
# Local parts of folio: never committed.
/objects/
/index
/lock
/lock.info
/tmp/
/logs/
/cache/
/config.local.toml
# Staging names of atomic writes (left only by a killed process).
.tmp-*
"""
GITATTRIBUTES = "*.folio diff=folio merge=folio\n"
# What folio init wrote before the merge driver: replaced whole, as nobody edited it.
OLD_GITATTRIBUTES = "*.folio diff=folio\n"
MERGE_LINE = "*.folio merge=folio\n"


def init(path: str | os.PathLike[str] = ".") -> None:
    """Create ``.folio/`` in the enclosing git work tree; safe to run again."""
    root = find_worktree(path)
    folio_dir = root / FOLIO_DIR
    layout.check(root)
    (folio_dir / "manifests").mkdir(parents=True, exist_ok=True)
    for name, text in (("config.toml", DEFAULT_TEXT), (".gitignore", LOCAL_GITIGNORE)):
        if not (folio_dir / name).exists():
            write_beneath(folio_dir, folio_dir / name, text.encode())
    _write_gitattributes(folio_dir)
    drivers.install(root)


def _write_gitattributes(folio_dir: Path) -> None:
    """Write ``.folio/.gitattributes``, or bring an older one up to the merge driver."""
    path = folio_dir / ".gitattributes"
    try:
        old = read_beneath(folio_dir, path).decode("utf-8")
    except FileNotFoundError:
        old = None
    except UnicodeDecodeError:
        return  # not text folio can edit: leave it as it is
    new = upgraded_gitattributes(old)
    if new != old:
        write_beneath(folio_dir, path, new.encode())


def upgraded_gitattributes(text: str | None) -> str:
    """``.folio/.gitattributes`` as init leaves it: :data:`GITATTRIBUTES` for a missing
    file or the exact one an older folio wrote; any other text is the user's and is kept,
    with :data:`MERGE_LINE` appended when no line for ``*.folio`` says anything about
    ``merge`` (``merge=...``, ``-merge``, ``!merge``, ``merge``): a choice is respected."""
    if text is None or text == OLD_GITATTRIBUTES:
        return GITATTRIBUTES
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["*.folio"] and any(
                w.lstrip("-!").partition("=")[0] == "merge" for w in words[1:]):
            return text
    return text + ("" if not text or text.endswith("\n") else "\n") + MERGE_LINE


def pending_settings(ws: Workspace) -> list[PendingSetting]:
    """What the committed config asks for (store, risky link mode, remotes) that this
    clone has not accepted; none of it takes effect until :func:`accept`."""
    return ws.load_config().pending()


def accept(ws: Workspace, keys: Iterable[str] | None = None) -> list[PendingSetting]:
    """Accept the pending settings (all, or the keys named: ``core.store``,
    ``core.link``, ``remotes.NAME``) in this clone; returns what was accepted."""
    with ws.lock.hold("folio accept"):
        accepted = ws.reload_config().accept(keys)
    ws.store = ws.choose_store()
    return accepted
