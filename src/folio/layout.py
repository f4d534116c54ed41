"""The fixed layout of ``.folio/``, and the check that nothing in it is a link.

A clone receives ``.folio/`` from other people's commits, and a commit can hold symlinks.
folio never follows one where it keeps its own files (docs/format.md, "No links under
.folio/"): when a repository is opened, ``.folio`` and every path of its fixed layout are
``lstat``-ed, and the committed trees (``manifests/``, ``cache/``) and the store's fan-out
directories are listed without following links. Anything that is a link, or not the kind
of entry folio expects there, is a one-line :class:`UnsafeLinkError` naming it, before any
command reads or writes a byte. The same rule holds later without this check: folio's own
writes and deletes go through :mod:`folio._fs`'s ``*_beneath`` calls, which open every
component with ``O_NOFOLLOW``, so a link made after the check is not followed either.

The cost is a few dozen ``lstat`` calls and one listing per directory of the committed
trees (``scandir`` reports links from the directory entry, without a ``stat`` each).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from folio._fs import unsafe_entry
from folio.objects.store import STAGING_SLOTS

FOLIO_DIR = ".folio"
DIR, FILE = "directory", "regular file"

# Every path folio itself creates or reads under .folio/, and what it must be.
FIXED: dict[str, str] = {
    "config.toml": FILE,
    "config.local.toml": FILE,
    ".gitignore": FILE,
    ".gitattributes": FILE,
    "manifests": DIR,
    "objects": DIR,
    "index": FILE,
    "lock": FILE,
    "lock.info": FILE,
    "tmp": DIR,
    **{f"tmp/t{i}": DIR for i in range(STAGING_SLOTS)},
    "logs": DIR,
    "logs/recovery.jsonl": FILE,
    "cache": DIR,
    "cache/marks": FILE,
    "cache/packs": DIR,
}
# Trees below .folio/ whose every entry is checked: a commit can plant links anywhere in them.
WALKED = ("manifests", "cache")


def check(root: Path) -> None:
    """Refuse a ``.folio/`` (in the work tree ``root``) that holds a link or a wrong entry.

    A missing ``.folio`` or a missing fixed path is fine: they are made on demand.
    """
    folio_dir = root / FOLIO_DIR
    if not _check_entry(folio_dir, FOLIO_DIR, DIR):
        return
    for rel, kind in FIXED.items():
        _check_entry(folio_dir / rel, f"{FOLIO_DIR}/{rel}", kind)
    for rel in WALKED:
        refuse_links_below(folio_dir / rel, f"{FOLIO_DIR}/{rel}")


def check_store(objects: Path, staging: Path, root: Path) -> None:
    """Refuse an object store whose fan-out or staging directories are links (or not
    directories). Objects themselves are opened with ``O_NOFOLLOW`` when read."""
    for i in range(STAGING_SLOTS + 1):
        path = staging / f"t{i}" if i < STAGING_SLOTS else staging
        _check_entry(path, _shown(path, root), DIR)
    try:
        it = os.scandir(objects)
    except (FileNotFoundError, NotADirectoryError):
        return  # made on first write; a non-directory was refused by check()
    with it:
        for entry in it:
            if len(entry.name) == 2 and not entry.is_dir(follow_symlinks=False):
                raise unsafe_entry(_shown(Path(entry.path), root), _lstat(entry.path))


def refuse_links_below(top: Path, shown: str) -> None:
    """Refuse any link, FIFO or device at any depth below ``top`` (no link is entered)."""
    stack = [(str(top), shown)]
    while stack:
        current, label = stack.pop()
        try:
            it = os.scandir(current)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with it:
            for entry in it:
                name = f"{label}/{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, name))
                elif not entry.is_file(follow_symlinks=False):
                    raise unsafe_entry(name, _lstat(entry.path), FILE)


def _check_entry(path: Path, shown: str, kind: str) -> bool:
    """True if ``path`` exists as ``kind``; False if absent; else UnsafeLinkError."""
    st = _lstat(path)
    if st is None:
        return False
    wanted = stat.S_ISDIR if kind == DIR else stat.S_ISREG
    if not wanted(st.st_mode):
        raise unsafe_entry(shown, st, kind)
    return True


def _lstat(path: str | Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
