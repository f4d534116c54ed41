"""``f["artifacts/config.json"]``: a path-like handle to a plain-file item (notata's paths).

Writing through the handle (``write_text``, ``write_bytes``, ``open("w")``) stages the bytes
as ``add_data`` does and records the file as an item when the write ends (or the file is
closed). Tools that want a real path get one from ``os.fspath(handle)``; what they write
there is recorded by ``handle.track()``, on leaving ``with handle:``, or by ``f.track()``.
Reads of a recorded item come from the store, verified.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from folio.bundle._io import Stager
from folio.bundle._meta import now
from folio.bundle._names import check_name
from folio.bundle._view import FolioView
from folio.errors import FolioError
from folio.paths import check_no_symlinked_parent

_WRITE_MODES = {"w", "wb", "x", "xb", "a", "ab", "wt", "xt", "at"}
_READ_MODES = {"r", "rb", "rt"}


class ItemPath(os.PathLike[str]):
    """A plain-file item of a bundle, recorded or about to be."""

    def __init__(self, folio: FolioView, name: str) -> None:
        self._folio = folio
        self.name = name

    # -- where ------------------------------------------------------------------------------
    @property
    def file(self) -> str:
        """The bundle-relative file: the item's, or the name for a new one."""
        recorded = self._folio.recorded_item(self.name)
        return recorded[1].path if recorded is not None else self.name

    @property
    def path(self) -> Path:
        return self._folio.path / self.file

    def __fspath__(self) -> str:
        """The working file's path; its directory is created, so any tool can write there."""
        path = self.path
        check_no_symlinked_parent(self._folio.repo.root, f"{self._folio.target}/{self.file}")
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        state = "recorded" if self.exists() else "new"
        return f"ItemPath({self.name!r} in {self._folio.target}, {state})"

    def __truediv__(self, other: str) -> ItemPath:
        """``f.path_of(f"{name}/{other}")``."""
        return ItemPath(self._folio, check_name(f"{self.name}/{other}"))

    @property
    def parent(self) -> Path:
        return self.path.parent

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    def exists(self) -> bool:
        """True once the item is recorded (a file merely written there is not, yet)."""
        return self.name in self._folio

    # -- reading ----------------------------------------------------------------------------
    def read_bytes(self) -> bytes:
        """The recorded content, verified; an unrecorded file on disk is read as it is."""
        recorded = self._folio.recorded_item(self.name)
        if recorded is None:
            try:
                return self.path.read_bytes()
            except FileNotFoundError:
                raise FolioError(f"no item {self.name!r} and no file there yet",
                                 path=f"{self._folio.target}/{self.name}") from None
        name, entry = recorded
        return bytes(self._folio.read_entry(entry, name))

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes().decode(encoding, errors)

    # -- writing ----------------------------------------------------------------------------
    def write_bytes(self, data: Any) -> int:
        """Record ``data`` as this item's content; return the number of bytes."""
        with self.open("wb") as f:
            return f.write(data)

    def write_text(self, text: str, encoding: str = "utf-8", errors: str = "strict",
                   newline: str | None = None) -> int:
        with self.open("w", encoding=encoding, errors=errors, newline=newline) as f:
            return f.write(text)

    def open(self, mode: str = "r", buffering: int = -1, encoding: str | None = None,
             errors: str | None = None, newline: str | None = None) -> Any:
        """Read (the recorded content) or write (recorded when the file is closed)."""
        if mode in _READ_MODES:
            data = io.BytesIO(self.read_bytes())
            if "b" in mode:
                return data
            return io.TextIOWrapper(data, encoding=encoding or "utf-8", errors=errors,
                                    newline=newline)
        if mode not in _WRITE_MODES:
            raise ValueError(f"ItemPath.open: mode {mode!r} is not supported "
                             "(use r, rb, w, wb, x, xb, a or ab)")
        if mode.startswith("x") and (self.exists() or os.path.lexists(self.path)):
            raise FileExistsError(f"{self._folio.target}/{self.name} exists")
        raw = _ItemWriter(self._folio, self.name, self.file)
        if mode.startswith("a") and (self.exists() or os.path.lexists(self.path)):
            raw.write(self.read_bytes())
        buffered = io.BufferedWriter(raw, buffer_size=buffering if buffering > 1 else 1 << 16)
        if "b" in mode:
            return buffered
        return io.TextIOWrapper(buffered, encoding=encoding or "utf-8", errors=errors,
                                newline=newline, write_through=True)

    def track(self) -> ItemPath:
        """Record what a tool wrote at ``os.fspath(self)`` as this item."""
        self._folio.track([self.name])
        return self

    def __enter__(self) -> ItemPath:
        return self

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if kind is None and os.path.lexists(self.path):
            self._folio.track([self.name])


class _ItemWriter(io.RawIOBase):
    """The raw file behind ``open("w")``: bytes go to a stager; close() records the item."""

    def __init__(self, folio: FolioView, name: str, file: str) -> None:
        super().__init__()
        self._folio = folio
        self._name = name
        self._file = file
        self._stager: Stager | None = Stager(folio.repo.store, folio.staging_dir)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._stager is None:
            raise ValueError("write to a closed item file")
        return self._stager.sink.write(data)

    def close(self) -> None:
        if self.closed:
            return
        stager, self._stager = self._stager, None
        try:
            if stager is not None:
                staged = stager.finish()
                self._folio.record_staged(self._name, self._file, staged, None,
                                          {"created": now()})
        finally:
            super().close()

    def __del__(self) -> None:  # an abandoned writer leaves no temporary files
        stager = getattr(self, "_stager", None)
        if stager is not None:
            stager.abort()
            self._stager = None
