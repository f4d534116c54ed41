"""A remote that is a plain directory: a NAS mount, a USB disk, another path on this machine.

Writes go to a ``.tmp-*`` file beside the final key, are fsynced, then renamed: a killed
push leaves at most hidden temp files, never a partial object under its real name. Listing
skips dot-files, so those leftovers stay invisible. Files are read-only, as in the local store.

No symlink inside the remote's tree is ever followed (docs/format.md, "No links under
.folio/"): writes and deletes open every directory below the root with ``O_NOFOLLOW``, and
a listing or read that meets a link refuses with one line naming it. The root itself is
the user's choice and may be a link (a mount point, say).
"""

from __future__ import annotations

import io
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from folio._fs import remove_beneath, unsafe_entry, write_beneath
from folio.errors import MissingObjectError, RemoteError
from folio.hashing import CHUNK
from folio.remote.base import check_key


class DirectoryBackend:
    """Keys are files below ``root``; ``root`` is created by the first write."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        """Where ``key`` lives; refused if any part of it below the root is a link."""
        path = self.root / check_key(key)
        for i in range(key.count("/") + 1):
            part = self.root.joinpath(*key.split("/")[:i + 1])
            try:
                st = os.lstat(part)
            except FileNotFoundError:
                break
            if stat.S_ISLNK(st.st_mode):
                raise unsafe_entry(part, st)
        return path

    def _base(self) -> Path:
        """The root with the links in its own path resolved: what lies below is not."""
        return Path(os.path.realpath(self.root))

    # -- reading --------------------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        for key, size, _ in self.list_dated(prefix):
            yield key, size

    def list_dated(self, prefix: str = "") -> Iterator[tuple[str, int, float]]:
        top = self._path(prefix) if prefix else self.root
        stack = [top]
        while stack:
            current = stack.pop()
            try:
                with os.scandir(current) as it:
                    entries = list(it)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                raise self._error("cannot list", exc) from None
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_symlink():
                    raise unsafe_entry(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    key = Path(entry.path).relative_to(self.root).as_posix()
                    st = entry.stat(follow_symlinks=False)
                    yield key, st.st_size, st.st_mtime

    def head(self, key: str) -> int | None:
        """The size of ``key`` if it is a regular file; None when absent (or a temp name)."""
        try:
            st = os.lstat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._error(f"cannot read {key}", exc) from None
        if not stat.S_ISREG(st.st_mode):
            raise RemoteError(f"{key} is not a regular file; refused", path=self.describe())
        return st.st_size

    def open(self, key: str) -> io.FileIO:
        fd = self._open_regular(key)
        return open(fd, "rb", buffering=0)  # the caller closes it

    def _open_regular(self, key: str) -> int:
        """A descriptor on ``key``, only if it is a regular file. Opened non-blocking and
        checked on the descriptor: a FIFO or device put at a key must not hang a pull."""
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise self._missing(key) from None
        except OSError as exc:
            raise self._error(f"cannot read {key}", exc) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RemoteError(f"{key} is not a regular file; refused", path=self.describe())
        os.set_blocking(fd, True)
        return fd

    def get_range(self, key: str, start: int, end: int) -> bytes:
        fd = self._open_regular(key)
        try:
            parts = []
            pos = start
            while pos < end:
                data = os.pread(fd, min(end - pos, 64 * CHUNK), pos)
                if not data:
                    break  # short object: the caller's hash check reports it
                parts.append(data)
                pos += len(data)
            return b"".join(parts)
        finally:
            os.close(fd)

    # -- writing --------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes | memoryview) -> None:
        self.put_stream(key, [data])

    def put_new(self, key: str, data: bytes) -> bool:
        """Create-only: the bytes are written beside the key, then hard-linked to it (which
        fails if the key exists), so of two racing writers exactly one wins."""
        base = self._base()
        final = base / check_key(key)
        staging = final.parent / f".tmp-new-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.makedirs(base, exist_ok=True)
            write_beneath(base, staging, [data], mode=0o444)
            try:
                os.link(staging, final, follow_symlinks=False)
            except FileExistsError:
                return False
            finally:
                remove_beneath(base, staging)
        except OSError as exc:
            raise self._error(f"cannot write {key}", exc) from None
        return True

    def put_file(self, key: str, path: Path) -> None:
        with open(path, "rb", buffering=0) as f:
            self.put_stream(key, iter(lambda: f.read(CHUNK), b""))

    def put_stream(self, key: str, chunks: Iterable[bytes | memoryview]) -> None:
        """Write beside the final name, fsync, rename, fsync the directory: a remote is a
        backup, the bytes are on disk before the name appears. Directories below the root
        are opened without following a link, so a planted ``ab -> /elsewhere`` is refused."""
        base = self._base()
        try:
            os.makedirs(base, exist_ok=True)
            write_beneath(base, base / check_key(key), chunks, mode=0o444)
        except OSError as exc:
            raise self._error(f"cannot write {key}", exc) from None

    def delete(self, key: str) -> None:
        base = self._base()
        try:
            remove_beneath(base, base / check_key(key))
        except OSError as exc:
            raise self._error(f"cannot delete {key}", exc) from None

    # -- errors ---------------------------------------------------------------------------
    def _missing(self, key: str) -> MissingObjectError:
        return MissingObjectError(f"{key} is not on the remote", path=self.describe())

    def _error(self, what: str, exc: OSError) -> RemoteError:
        return RemoteError(f"{what}: {exc.strerror or exc}", path=self.describe())

