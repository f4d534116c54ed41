"""The fixed layout of ``.folio/`` and of the local directory, and the check that nothing
in them is a link.

Everything that is this clone's own (the object store, its staging, the recovery log, the
lock, the stat cache and the caches) lives below the git directory, in ``.git/folio/``,
where no commit can write: git treats ignored files in the work tree as expendable, so a
pulled commit that puts a file or a link at ``.folio/objects`` makes git delete the whole
store without a word (docs/format.md 2.6). ``.folio/`` holds only what is committed.
A repository made by an older folio has its local parts moved there once (``migrate``).

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

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

from folio._fs import unsafe_entry, walk_beneath
from folio.errors import FolioError
from folio.objects.store import STAGING_SLOTS

FOLIO_DIR = ".folio"
LOCAL_DIR = "folio"  # below the git dir: .git/folio
DIR, FILE = "directory", "regular file"

# Every path folio creates or reads under .folio/ (or did, before local parts moved to
# .git/folio), and what it must be: a link at a legacy name is refused like any other.
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
    "cache/synced": DIR,
    "cache/synced/blobs": DIR,
}
# Trees below .folio/ whose every entry is checked: a commit can plant links anywhere in them.
WALKED = ("manifests", "cache")
# The local parts: below .git/folio now, in .folio/ in repositories of an older folio.
LOCAL_NAMES = ("objects", "logs", "index", "cache", "tmp", "lock", "lock.info")
# What lives below .git/folio (the local directory), and what it must be.
LOCAL_FIXED: dict[str, str] = {name: kind for name, kind in FIXED.items()
                               if name.split("/")[0] in LOCAL_NAMES}
# The legacy names that hold something worth keeping; the rest are caches and staging.
KEPT = ("objects", "logs/recovery.jsonl")


def local_dir(root: Path) -> Path:
    """``<git common dir>/folio``: this clone's store, log, lock and settings (shared by its
    linked worktrees, which share one object database too)."""
    from folio.git.discover import git_common_dir

    return git_common_dir(root) / LOCAL_DIR


def state_dir(root: Path) -> Path:
    """``<git dir>/folio``: what belongs to one work tree (the stat cache, the clean marks);
    the same directory as :func:`local_dir` except in a linked worktree."""
    from folio.git.discover import git_dir

    return git_dir(root) / LOCAL_DIR


def check_local(local: Path, state: Path) -> None:
    """No commit writes below the git dir, but a link there would still be followed: the
    same rule holds (and costs a few lstat calls)."""
    state_names = ("index", "cache", "cache/marks", "cache/synced", "cache/synced/blobs")
    for top, names in ((local, LOCAL_FIXED), (state, state_names)):
        if not _check_entry(top, str(top), DIR):
            continue
        for rel in names:
            _check_entry(top / rel, str(top / rel), LOCAL_FIXED[rel])


def migrate(root: Path, local: Path) -> list[str]:
    """Move the local parts an older folio kept in ``.folio/`` to ``local`` (once).

    The store and the recovery log are renamed (merged object by object if both places
    have some); the stat cache, caches, lock and staging are dropped (they are rebuilt).
    ``check`` has already refused links, so every legacy path is a real file or directory.
    Returns what moved, for one line on stderr. A rename across filesystems is refused with
    what to do: nothing is deleted before it is safe. A legacy path that git tracks came
    from a commit, not from this clone: it is refused by name and nothing moves.
    """
    folio_dir = root / FOLIO_DIR
    present = [name for name in LOCAL_NAMES if _lstat(folio_dir / name) is not None]
    if not present:
        return []
    from folio.git.plumbing import tracked_below

    committed = tracked_below(root, [f"{FOLIO_DIR}/{name}" for name in present])
    if committed:  # a commit put it there: it is nobody's local store, and never moved
        raise FolioError(
            f"is tracked by git, but folio's local parts are never committed (they live in "
            f"{local}); remove it: git rm -r --cached {' '.join(committed)}, then delete it",
            path=committed[0])
    moved = []
    for rel in KEPT:
        if _lstat(folio_dir / rel) is not None:
            _move(folio_dir / rel, local, rel)
            moved.append(f"{FOLIO_DIR}/{rel}")
    for name in present:
        _drop(folio_dir / name)
    return moved


def _move(old: Path, local: Path, rel: str) -> None:
    new = local / rel
    new.parent.mkdir(parents=True, exist_ok=True)
    try:
        if rel == "objects":
            _merge_store(old, new)
        elif _lstat(new) is None:
            os.rename(old, new)
        else:  # both logs: the old records first, then the new ones
            new.write_bytes(old.read_bytes() + new.read_bytes())
            os.unlink(old)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        raise FolioError(
            f"cannot move it to {new}: another filesystem; move it there yourself (`mv`), "
            f"or name it as the store in {local / 'config.toml'} ([core] store)",
            path=f"{FOLIO_DIR}/{rel}") from None


def _merge_store(old: Path, new: Path) -> None:
    """Rename the old store whole, or each object the new one lacks (concurrent openers
    of an old repository may race here: a vanished source is someone else's move)."""
    if _lstat(new) is None:
        with contextlib.suppress(FileNotFoundError):
            os.rename(old, new)
        return
    for path, st in walk_beneath(old.parent, old):
        if not stat.S_ISREG(st.st_mode) or not _is_object_name(path):
            continue  # (what is not named like an object is no object: dropped with the rest)
        target = new / path.relative_to(old)
        target.parent.mkdir(parents=True, exist_ok=True)
        if _lstat(target) is None:
            with contextlib.suppress(FileNotFoundError):
                os.rename(path, target)


def _is_object_name(path: Path) -> bool:
    fan, rest = path.parent.name, path.name
    return len(fan) == 2 and len(rest) == 62 and all(c in "0123456789abcdef"
                                                      for c in fan + rest)


def _drop(path: Path) -> None:
    """Delete a legacy local path. ``shutil.rmtree`` works through directory descriptors and
    never follows a link (and ``check`` refused links at these names already)."""
    st = _lstat(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


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
