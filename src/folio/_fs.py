"""Filesystem primitives every writer in folio shares: atomic replace, batched sync.

Readers never see a half-written file: content goes to a temporary file in the same
filesystem and is renamed over the final name (POSIX rename is atomic).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_libc: Any = None  # ctypes.CDLL, loaded on first use (ctypes costs start-up time)


def temp_name(directory: Path, hint: str = "") -> Path:
    """A fresh, unguessable name in ``directory`` for staging a write."""
    return directory / f".tmp-{hint}{secrets.token_hex(8)}"


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte: ``os.write`` may write less than it was given."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


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
    if staging is not None:
        staging.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(staging or path.parent, path.name + ".")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            for piece in (data,) if isinstance(data, bytes | bytearray | memoryview) else data:
                write_all(fd, piece)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def syncfs(path: Path) -> None:
    """Flush every dirty page of the filesystem holding ``path`` in one call.

    One syncfs per command replaces an fsync per object, as git's batch fsync mode does:
    20,000 fsyncs of small files cost seconds, one syncfs costs milliseconds.
    """
    global _libc
    if _libc is None:
        import ctypes
        import ctypes.util

        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    fn = getattr(_libc, "syncfs", None)
    if fn is None:  # not Linux: fall back to a global sync
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if fn(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def remove_readonly(path: Path) -> None:
    """Unlink a file even if it is read-only (objects are 0o444)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def walk_files(root: Path) -> Iterator[os.DirEntry[str]]:
    """Yield every non-directory entry below ``root`` (symlinks not followed)."""
    stack = [str(root)]
    while stack:
        current = stack.pop()
        with os.scandir(current) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    yield entry
