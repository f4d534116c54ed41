"""Put an object's bytes at a working path: the primitive under ``folio checkout``.

Every mode stages the new entry under a temporary name in the destination's directory
(same filesystem) and renames it over the destination, so a killed checkout leaves each
file wholly old or wholly new, and a reader never sees a half-written file. The rename
replaces a symlink at the destination instead of following it, so nothing is ever written
through a link. Parent directories are trusted: the caller has already refused paths that
leave the repo or pass through a symlink (it knows the repo root). No fsync here: the
caller syncs once per command (``folio._fs.syncfs``).

Link modes and their risks are described in docs/linking.md.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from folio._fs import reflink, remove_readonly, temp_name
from folio.errors import ChangedMeanwhileError, CorruptObjectError, FolioError, PathError
from folio.hashing import hash_stream
from folio.objects.store import ObjectStore
from folio.worktree.index import StatLike

__all__ = ["LINK", "NOTHING", "Checked", "LinkMode", "check_mode", "detect_reflink",
           "materialize", "materialize_symlink", "unchanged_since"]

# (store device, work tree device) -> can reflink; AUTO probes each pair once per process.
_reflink_cache: dict[tuple[int, int], bool] = {}


class LinkMode(str, Enum):
    """How a working file relates to its object (``--link``)."""

    AUTO = "auto"
    REFLINK = "reflink"
    COPY = "copy"
    HARDLINK = "hardlink"
    SYMLINK = "symlink"


class Checked(NamedTuple):
    """What a command found at a working path when it decided to replace it: a regular
    file with these stat fields, :data:`NOTHING` or a symlink (:data:`LINK`).

    ``ctime_ns`` is 0 (not compared) for a file with several links: a work file hardlinked
    to an object changes ctime whenever another of its names is replaced.
    """

    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: StatLike | None) -> Checked:
        """A stat as checked (``lstat``; None: nothing there)."""
        if st is None:
            return NOTHING
        if not stat.S_ISREG(st.st_mode):
            return LINK
        return cls(st.st_ino, st.st_size, st.st_mtime_ns,
                   st.st_ctime_ns if st.st_nlink == 1 else 0)


NOTHING = Checked(0, -1, 0, 0)
LINK = Checked(0, -2, 0, 0)


def unchanged_since(dest: Path, checked: Checked) -> bool:
    """True if replacing or deleting ``dest`` now loses nothing its check did not see.

    Nothing there, or a symlink (it holds no content), loses nothing; a regular file must
    be the very file checked (inode, size, mtime and, see :class:`Checked`, ctime):
    anything else is an edit saved since, which may be the only copy of someone's work.
    """
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return True
    if not stat.S_ISREG(st.st_mode):
        return True
    return ((st.st_ino, st.st_size, st.st_mtime_ns) == checked[:3]
            and checked.ctime_ns in (0, st.st_ctime_ns))


def materialize(store: ObjectStore, oid: str, dest: Path, mode: LinkMode, *,
                executable: bool = False, verify: bool = True,
                checked: Checked | None = None) -> None:
    """Replace ``dest`` atomically with the content of object ``oid``.

    COPY always checks the sha256 in the same pass that copies. REFLINK, HARDLINK and
    SYMLINK read nothing to do their job; with ``verify`` (the default) they hash the
    object once so a corrupt object never reaches the work tree; ``verify=False`` trusts
    the store (``folio verify`` checks it) and keeps these modes O(1) per file.
    HARDLINK and SYMLINK share the object's read-only inode, which cannot carry a
    per-file execute bit, so an ``executable`` entry is copied instead.
    ``checked``: what the caller found at ``dest`` when it decided to replace it; if
    ``dest`` changed since (:func:`unchanged_since`), nothing is replaced and
    ChangedMeanwhileError is raised.
    """
    mode = LinkMode(mode)
    src = store.path(oid)
    if not store.has(oid):  # a link in the object's place is not it
        raise store.missing([oid], str(dest))
    if executable and mode in (LinkMode.HARDLINK, LinkMode.SYMLINK):
        mode = LinkMode.COPY
    if store.is_chunked(oid):
        # No one file holds a chunked object's bytes: reflink and auto copy them from
        # the blocks (streaming, verified); hardlink and symlink need a file to share, so
        # the object is first expanded into a loose one (docs/concepts.md, "Chunking").
        if mode in (LinkMode.HARDLINK, LinkMode.SYMLINK):
            store.expand(oid, str(dest))
        else:
            mode = LinkMode.COPY
    if mode is LinkMode.AUTO:
        mode = LinkMode.REFLINK if _auto_reflink(src, dest) else LinkMode.COPY
    if verify and mode in (LinkMode.HARDLINK, LinkMode.SYMLINK):
        _check_file(src, oid, dest)
    perm = 0o755 if executable else 0o644
    check = oid if verify else None
    if mode is LinkMode.COPY:
        _stage_and_replace(dest, lambda tmp: _copy_verified(store, oid, tmp, perm, dest),
                           checked)
    elif mode is LinkMode.REFLINK:
        _stage_and_replace(dest, lambda tmp: _reflink(src, tmp, perm, check, dest), checked)
    elif mode is LinkMode.HARDLINK:
        _stage_and_replace(dest, lambda tmp: _hardlink(src, tmp, dest), checked)
    else:
        _stage_and_replace(dest, lambda tmp: os.symlink(os.path.abspath(src), tmp), checked)


def materialize_symlink(dest: Path, target: str, *, checked: Checked | None = None) -> None:
    """Replace ``dest`` atomically with a symlink to ``target`` (a link recorded as a link).

    The target is written as recorded; checking that it stays inside the repo is the
    manifest reader's job, which knows the repo root. ``checked``: as for materialize.
    """
    if not target or "\0" in target:
        raise PathError(f"invalid symlink target {target!r}", path=dest)
    _stage_and_replace(dest, lambda tmp: os.symlink(target, tmp), checked)


def check_mode(store: ObjectStore, work_dir: Path, mode: LinkMode) -> None:
    """Fail before anything is touched if ``mode`` cannot work from the store to ``work_dir``.

    A checkout writes its manifests before its files, so a mode that would fail on the
    first file must fail here instead, with the message materialize would give. AUTO,
    COPY and SYMLINK work anywhere; REFLINK and HARDLINK need one filesystem, and REFLINK
    one that can clone (probed in the store's staging directory, not the work tree).
    """
    mode = LinkMode(mode)
    if mode not in (LinkMode.REFLINK, LinkMode.HARDLINK):
        return
    store.root.mkdir(parents=True, exist_ok=True)
    if os.stat(store.root).st_dev != os.stat(work_dir).st_dev:
        raise FolioError(f"{mode.value} needs the store and the work tree on one filesystem;"
                         " use --link copy", path=work_dir)
    if mode is LinkMode.REFLINK:
        store.staging.mkdir(parents=True, exist_ok=True)
        if not detect_reflink(store.staging):
            raise FolioError("reflink is not supported on this filesystem "
                             f"({_filesystem_type(work_dir)}); use --link copy", path=work_dir)


def detect_reflink(path: Path) -> bool:
    """True if the filesystem holding ``path`` (a directory, or a file's directory) can reflink.

    Probes with two scratch files, because statfs names the filesystem but not whether
    this kernel and mount support cloning.
    """
    directory = path if path.is_dir() else path.parent
    src, dst = temp_name(directory, "probe."), temp_name(directory, "probe.")
    try:
        with open(src, "xb") as f:
            f.write(b"\0")
        with open(src, "rb") as s, open(dst, "xb") as d:
            return reflink(s.fileno(), d.fileno()) == 0
    finally:
        remove_readonly(src)
        remove_readonly(dst)


# -- staging and replacing ---------------------------------------------------------------

def _stage_and_replace(dest: Path, build: Callable[[Path], object],
                       checked: Checked | None = None) -> None:
    """Build the new entry at a temp name beside ``dest``, then rename it over ``dest``.

    The temp is complete (and verified) before ``dest`` is touched, so any failure leaves
    ``dest`` as it was and no temp file behind. With ``checked``, ``dest`` is looked at
    again just before the rename: building a large file takes long enough for someone
    to save an edit meanwhile. (The look and the rename are two system calls: an edit
    saved in the microseconds between them is not seen.)
    """
    _make_parent(dest)
    tmp = temp_name(dest.parent, dest.name + ".")
    try:
        build(tmp)
        if checked is not None and not unchanged_since(dest, checked):
            raise ChangedMeanwhileError("changed after it was checked; left as it is",
                                        path=dest)
        _clear_directory(dest)
        os.replace(tmp, dest)
    except BaseException:
        remove_readonly(tmp)
        raise


def _make_parent(dest: Path) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise PathError("cannot create the parent directory: a file is in the way",
                        path=dest) from None


def _clear_directory(dest: Path) -> None:
    """Remove a directory at ``dest`` if it holds only empty directories; refuse otherwise.

    rename(2) cannot put a file over a directory; deleting files in it could lose data
    that no object holds, so only a tree of empty directories is removed.
    """
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        return  # a file or a symlink (even to a directory): rename replaces the entry itself
    dirs: list[str] = []
    for top, subdirs, files in os.walk(dest, topdown=False):
        if files or any(os.path.islink(os.path.join(top, d)) for d in subdirs):
            raise PathError("a non-empty directory is in the way; move it or remove it",
                            path=dest)
        dirs.append(top)
    for directory in dirs:  # bottom-up, so each is empty when removed
        os.rmdir(directory)


def _new_file(tmp: Path) -> int:
    # O_EXCL + O_NOFOLLOW: never open something planted at the temp name.
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)


# -- modes --------------------------------------------------------------------------------

def _copy_verified(store: ObjectStore, oid: str, tmp: Path, perm: int, dest: Path) -> None:
    """Read, hash and write each chunk once; the reader raises at EOF on a mismatch, so
    the staged copy of a corrupt object is never renamed into place.

    An in-kernel copy (copy_file_range) never shows us the bytes, so verifying it would
    need a second read. Measured on ext4 for 256 MiB: 0.66 s unverified in-kernel, 0.77 s
    for this verified pass; a corrupt object reaching the work tree is worth more than 15%.
    Reading, hashing and writing a big file overlap (``ObjectStore.copy_into``).
    """
    fd = _new_file(tmp)
    try:
        store.copy_into(oid, fd, str(dest))
        # Adjust before the rename, so the file is never visible with the wrong permissions.
        os.fchmod(fd, perm)
    finally:
        os.close(fd)


def _reflink(src: Path, tmp: Path, perm: int, oid: str | None, dest: Path) -> None:
    fd = _new_file(tmp)
    try:
        with open(src, "rb") as s:
            if err := reflink(s.fileno(), fd):
                raise _reflink_error(err, dest)
        os.fchmod(fd, perm)
    finally:
        os.close(fd)
    if oid is not None:
        _check_file(tmp, oid, dest)  # hash the clone: what the work tree will hold


def _hardlink(src: Path, tmp: Path, dest: Path) -> None:
    try:
        os.link(src, tmp)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise FolioError("hardlink needs the store and the work tree on one filesystem;"
                             " use --link copy", path=dest) from None
        if exc.errno in (errno.EMLINK, errno.EPERM, errno.EOPNOTSUPP):
            raise FolioError(f"cannot hardlink the object ({os.strerror(exc.errno)});"
                             " use --link copy", path=dest) from None
        raise


def _check_file(path: Path, oid: str, dest: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        got, _ = hash_stream(f)
    if got != oid:
        raise CorruptObjectError(f"object {oid[:12]} is corrupt (its bytes hash to {got[:12]})",
                                 path=dest, expected=oid, got=got)


# -- reflink support ------------------------------------------------------------------------

def _auto_reflink(src: Path, dest: Path) -> bool:
    _make_parent(dest)
    key = (os.stat(src).st_dev, os.stat(dest.parent).st_dev)
    if key not in _reflink_cache:
        _reflink_cache[key] = key[0] == key[1] and detect_reflink(dest.parent)
    return _reflink_cache[key]


def _reflink_error(err: int, dest: Path) -> FolioError:
    if err == errno.EXDEV:
        return FolioError("reflink needs the store and the work tree on one filesystem;"
                          " use --link copy", path=dest)
    fs = _filesystem_type(dest.parent)
    return FolioError(f"reflink is not supported on this filesystem ({fs}); use --link copy",
                      path=dest)


def _filesystem_type(path: Path) -> str:
    """The filesystem type (ext4, xfs, btrfs, overlay…) holding ``path``, for messages."""
    try:
        dev = os.stat(path).st_dev
        wanted = f"{os.major(dev)}:{os.minor(dev)}"
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            found = "unknown"
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[2] == wanted and "-" in fields:
                    found = fields[fields.index("-") + 1]  # the last mount of that device wins
            return found
    except OSError:
        return "unknown"
