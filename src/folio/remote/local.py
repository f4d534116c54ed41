"""A remote that is a plain directory: a NAS mount, a USB disk, another path on this machine.

Writes go to a ``.tmp-*`` file beside the final key, are fsynced, then renamed: a killed
push leaves at most hidden temp files, never a partial object under its real name. Listing
skips dot-files, so those leftovers stay invisible. Files are read-only, as in the local store.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from folio._fs import fsync_dir, remove_readonly, temp_name, write_all
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
        return self.root / check_key(key)

    # -- reading --------------------------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
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
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    key = Path(entry.path).relative_to(self.root).as_posix()
                    yield key, entry.stat(follow_symlinks=False).st_size

    def open(self, key: str) -> io.FileIO:
        try:
            return open(self._path(key), "rb", buffering=0)  # the caller closes it
        except FileNotFoundError:
            raise self._missing(key) from None
        except OSError as exc:
            raise self._error(f"cannot read {key}", exc) from None

    def get_range(self, key: str, start: int, end: int) -> bytes:
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except FileNotFoundError:
            raise self._missing(key) from None
        except OSError as exc:
            raise self._error(f"cannot read {key}", exc) from None
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

    def put_file(self, key: str, path: Path) -> None:
        with open(path, "rb", buffering=0) as f:
            self.put_stream(key, iter(lambda: f.read(CHUNK), b""))

    def put_stream(self, key: str, chunks: Iterable[bytes | memoryview]) -> None:
        final = self._path(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_name(final.parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except OSError as exc:
            raise self._error(f"cannot write {key}", exc) from None
        try:
            try:
                for chunk in chunks:
                    write_all(fd, chunk)
                # A remote is a backup: the bytes must be on disk before the name appears.
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            fsync_dir(final.parent)
        except OSError as exc:
            remove_readonly(tmp)
            raise self._error(f"cannot write {key}", exc) from None
        except BaseException:
            remove_readonly(tmp)
            raise

    def delete(self, key: str) -> None:
        try:
            remove_readonly(self._path(key))
        except OSError as exc:
            raise self._error(f"cannot delete {key}", exc) from None

    # -- errors ---------------------------------------------------------------------------
    def _missing(self, key: str) -> MissingObjectError:
        return MissingObjectError(f"{key} is not on the remote", path=self.describe())

    def _error(self, what: str, exc: OSError) -> RemoteError:
        return RemoteError(f"{what}: {exc.strerror or exc}", path=self.describe())

