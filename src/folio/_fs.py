"""Filesystem primitives every writer in folio shares: atomic replace, batched sync.

Readers never see a half-written file: content goes to a temporary file in the same
filesystem and is renamed over the final name (POSIX rename is atomic).

folio's own files (under ``.folio/``, in the object store, on a directory remote) are
reached "beneath" a trusted base directory: each component is opened relative to the one
above it with ``O_NOFOLLOW`` (openat), so a symlink there is never followed, even one made
after :mod:`folio.layout` checked the tree (docs/format.md, "No links under .folio/").
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from folio.errors import UnsafeLinkError

_libc: Any = None  # ctypes.CDLL, loaded on first use (ctypes costs start-up time)
FICLONE = 0x40049409  # linux/fs.h: share extents instead of copying (btrfs, xfs)
# errnos meaning "this filesystem (pair) cannot share extents", as opposed to real I/O errors.
_NO_REFLINK = frozenset({errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL,
                         errno.ENOSYS, errno.EPERM, errno.EBADF})


def temp_name(directory: Path, hint: str = "") -> Path:
    """A fresh, unguessable name in ``directory`` for staging a write."""
    return directory / f".tmp-{hint}{secrets.token_hex(8)}"


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte: ``os.write`` may write less than it was given."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def pread_into(fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``offset``; fewer bytes only at the end of the file (a read may
    return less than asked without being at the end, on network and FUSE filesystems)."""
    got = 0
    while got < len(view) and (n := os.preadv(fd, [view[got:]], offset + got)):
        got += n
    return got


def reflink(src_fd: int, dst_fd: int) -> int:
    """Make ``dst_fd`` share ``src_fd``'s extents: 0 when done, else the errno that says
    this filesystem (or pair of them) cannot. Any other error raises."""
    try:
        fcntl.ioctl(dst_fd, FICLONE, src_fd)
    except OSError as exc:
        if exc.errno in _NO_REFLINK:
            return exc.errno
        raise
    return 0


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | Iterable[bytes], *, durable: bool = True,
                 mode: int = 0o644, staging: Path | None = None) -> None:
    """Replace ``path`` with ``data`` so readers see either the old or the new content.

    ``data`` may come in pieces, so that a large file is never whole in memory. The
    temporary file is made beside ``path``, or in ``staging`` (same filesystem), where one
    left by a killed process is out of the user's sight (``git status``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if staging is not None:  # folio's own directory (.folio/tmp): never one behind a link
        make_real_dirs(str(staging))
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sfd = dfd if staging is None else os.open(staging, _DIR_FLAGS)
    except BaseException:
        os.close(dfd)
        raise
    _write_at(dfd, sfd, path.name, data, durable, mode)


# -- beneath a trusted base: no link followed ------------------------------------------------
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def unsafe_entry(path: str | Path, st: os.stat_result | None = None,
                 want: str = "directory") -> UnsafeLinkError:
    """The one-line refusal for ``path``: a symlink, or not the ``want`` folio expects."""
    if st is None:
        try:
            st = os.lstat(path)
        except OSError:
            st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        return UnsafeLinkError("is a symbolic link; folio never follows links where it keeps "
                               "its own files: remove it", path=path)
    return UnsafeLinkError(f"is not a {want} as folio expects; move it away", path=path)


def make_real_dirs(top: str, *below: str) -> None:
    """Make ``top`` (and its parents), then each of ``below`` in turn, refusing any that
    is a link: each is checked before anything is made inside it."""
    if parent := os.path.dirname(top):
        os.makedirs(parent, exist_ok=True)
    for path in (top, *below):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise unsafe_entry(path, st)


def relative_to(base: Path, path: Path) -> str:
    """``path`` below ``base`` as POSIX text ("" for ``base`` itself)."""
    rel = path.relative_to(base).as_posix()
    return "" if rel == "." else rel


def open_dir(base: Path, rel: str = "", *, create: bool = False) -> int:
    """A descriptor of directory ``base/rel``, reached without following any link.

    ``base`` itself is not followed either (only the directories above it are trusted).
    ``create`` makes missing directories (mkdir does not follow links). The caller closes
    the descriptor.
    """
    fd = _open_component(None, str(base), str(base), create)
    try:
        shown = str(base)
        for part in rel.split("/") if rel else ():
            shown = f"{shown}/{part}"
            nxt = _open_component(fd, part, shown, create)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_component(dir_fd: int | None, name: str, shown: str, create: bool) -> int:
    for attempt in range(2):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            if not create or attempt:
                raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            raise unsafe_entry(shown, _lstat_at(dir_fd, name)) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _lstat_at(dir_fd: int | None, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None


def open_beneath(base: Path, path: Path, flags: int, mode: int = 0o644, *,
                 create_dirs: bool = False) -> int:
    """Open the regular file ``path`` below ``base`` with no link followed on the way.

    A FIFO or device there is refused too (opened non-blocking, then checked), so a
    planted one cannot hang a reader.
    """
    dfd = open_dir(base, relative_to(base, path.parent), create=create_dirs)
    try:
        try:
            fd = os.open(path.name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode,
                         dir_fd=dfd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise
            raise unsafe_entry(path, _lstat_at(dfd, path.name), "regular file") from None
    finally:
        os.close(dfd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise unsafe_entry(path, st, "regular file")
    os.set_blocking(fd, True)
    return fd


def read_beneath(base: Path, path: Path) -> bytes:
    """All bytes of the regular file ``path`` below ``base``, no link followed."""
    fd = open_beneath(base, path, os.O_RDONLY)
    try:
        parts = []
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def write_beneath(base: Path, path: Path, data: bytes | Iterable[bytes | memoryview], *,
                  durable: bool = True, mode: int = 0o644, staging: Path | None = None) -> None:
    """:func:`atomic_write` for a file of folio's own below ``base``: the directories are
    opened (and made) without following a link, the temporary file is created and renamed
    relative to them, so no link at or above ``path`` is ever written through."""
    dfd = open_dir(base, relative_to(base, path.parent), create=True)
    try:
        sfd = dfd if staging is None else open_dir(base, relative_to(base, staging),
                                                   create=True)
    except BaseException:
        os.close(dfd)
        raise
    _write_at(dfd, sfd, path.name, data, durable, mode)


def _write_at(dfd: int, sfd: int, name: str, data: bytes | Iterable[bytes | memoryview],
              durable: bool, mode: int) -> None:
    """Stage ``data`` in directory ``sfd``, rename it to ``name`` in ``dfd`` (then sync
    that directory if ``durable``); closes both descriptors. The temporary file is removed
    on any failure."""
    try:
        tmp = _stage_at(sfd, name, data, durable, mode)
        try:
            os.replace(tmp, name, src_dir_fd=sfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=sfd)
            raise
        if durable:
            os.fsync(dfd)
    finally:
        if sfd != dfd:
            os.close(sfd)
        os.close(dfd)


def _stage_at(sfd: int, name: str, data: bytes | Iterable[bytes | memoryview],
              durable: bool, mode: int) -> str:
    """Write ``data`` to a fresh ``.tmp-<name>.<hex>`` in directory ``sfd``; its name.
    The file is removed again on any failure."""
    tmp = temp_name(Path(), name + ".").name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode, dir_fd=sfd)
    try:
        try:
            for piece in (data,) if isinstance(data, bytes | bytearray | memoryview) else data:
                write_all(fd, piece)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=sfd)
        raise
    return tmp


def stage_beneath(base: Path, path: Path, data: bytes, *, mode: int = 0o644) -> str:
    """Write ``data`` durably to a staging name beside ``path`` (below ``base``, no link
    followed) and return that name; :func:`rename_beneath` later puts it in place. For a
    writer that must make several files change together (folio.worktree.journal)."""
    dfd = open_dir(base, relative_to(base, path.parent), create=True)
    try:
        return _stage_at(dfd, path.name, data, True, mode)
    finally:
        os.close(dfd)


def rename_beneath(base: Path, path: Path, staged: str, *, durable: bool = True) -> bool:
    """Rename the staging file ``staged`` (a bare name beside ``path``) to ``path``; False
    if it is not there (already renamed). ``durable`` syncs the directory after."""
    if "/" in staged or not staged.startswith(".tmp-"):
        raise ValueError(f"not a staging name: {staged!r}")
    dfd = open_dir(base, relative_to(base, path.parent))
    try:
        try:
            os.replace(staged, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except FileNotFoundError:
            return False
        if durable:
            os.fsync(dfd)
        return True
    finally:
        os.close(dfd)


def remove_beneath(base: Path, path: Path, *, directory: bool = False) -> bool:
    """Unlink (``directory``: rmdir) ``path`` below ``base``, through no link; False if it
    was not there. Unlinking a link removes the link, never what it points to."""
    try:
        dfd = open_dir(base, relative_to(base, path.parent))
    except FileNotFoundError:
        return False
    try:
        (os.rmdir if directory else os.unlink)(path.name, dir_fd=dfd)
    except FileNotFoundError:
        return False
    finally:
        os.close(dfd)
    return True


def list_beneath(base: Path, directory: Path) -> list[str] | None:
    """Names in ``directory`` below ``base`` (reached through no link); None if absent."""
    try:
        fd = open_dir(base, relative_to(base, directory))
    except FileNotFoundError:
        return None
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def walk_beneath(base: Path, top: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every entry that is not a directory at any depth below ``top`` (itself below
    ``base``), with its lstat; linked directories are never entered (``os.fwalk``)."""
    try:
        pfd = open_dir(base, relative_to(base, top.parent))
    except FileNotFoundError:
        return
    try:
        if _lstat_at(pfd, top.name) is None:
            return
        for dirpath, _, names, dfd in os.fwalk(top.name, dir_fd=pfd, follow_symlinks=False):
            for name in names:
                st = _lstat_at(dfd, name)
                if st is not None:
                    yield top.parent / dirpath / name, st
    finally:
        os.close(pfd)


def _load_libc() -> Any:
    global _libc
    if _libc is None:
        import ctypes
        import ctypes.util

        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = getattr(_libc, "sync_file_range", None)
        if fn is not None:
            fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    return _libc


_SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writeback of dirty pages, do not wait


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` to disk, now.

    A big file written into the page cache otherwise sits there until the final fsync or
    syncfs, which then waits for the whole file while the CPU idles; started range by range
    as it is written, the disk works while the CPU hashes, and the final flush finds little
    left. Only a hint: durability still comes from the fsync or syncfs that follows (Linux
    only; elsewhere a no-op).
    """
    fn = getattr(_load_libc(), "sync_file_range", None)
    if fn is not None and length > 0:
        fn(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # ctypes releases the GIL


def syncfs(path: Path) -> None:
    """Flush every dirty page of the filesystem holding ``path`` in one call.

    One syncfs per command replaces an fsync per object, as git's batch fsync mode does:
    20,000 fsyncs of small files cost seconds, one syncfs costs milliseconds.
    """
    fn = getattr(_load_libc(), "syncfs", None)
    if fn is None:  # not Linux: fall back to a global sync
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if fn(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def remove_readonly(path: str | os.PathLike[str]) -> None:
    """Unlink a file even if it is read-only (objects are 0o444)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)

