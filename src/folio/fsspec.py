"""``folio://REV/PATH``: any version of tracked data as a read-only fsspec filesystem (issue 18).

pandas, polars, DuckDB and pyarrow read folio data by URL through this class, registered
for the ``folio`` protocol by the ``fsspec.specs`` entry point. It is a thin adapter: a
path names a version and an entry (:mod:`folio.ops.read` resolves both, as for
``folio cat`` and ``Repo.open``) and ``open`` is :func:`folio.ops.read.open_entry`, so the
filesystem and ``Repo.open`` share one code path, local store first, then the remote, by
byte ranges for a big loose object. Paths, caching and what is verified: docs/fsspec.md.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fsspec import AbstractFileSystem

from folio import revisions
from folio.errors import NotARepositoryError, PathError, UnknownRevisionError
from folio.git.discover import find_worktree
from folio.manifest import Entry
from folio.ops import read
from folio.revisions import Side
from folio.workspace import Workspace

WORKING = ":"  # folio://:/PATH names the working manifests, as `folio cat :PATH` does
_IMMUTABLE = ("snapshot", "run")  # versions whose manifests are cached per filesystem


class FolioFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """Read-only files of any folio version: ``folio://REV/PATH``.

    ``REV`` is the first path segment: a snapshot tag, ``run:ID``, any git revision, or
    ``:`` for the working manifests; a ``/`` inside it is written ``%2F``
    (``folio://feature%2Fx/data/a.csv``). ``repo`` is the repository (default: the one
    holding the current directory, found on each call); ``remote`` the remote to read
    missing objects from (default: the default remote).
    """

    protocol = "folio"
    root_marker = ""

    def __init__(self, repo: str | os.PathLike[str] | None = None, remote: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.repo = None if repo is None else os.fspath(repo)
        self.remote = remote
        self._root = None if repo is None else find_worktree(repo)
        self._lock = threading.Lock()
        self._workspaces: dict[Path, Workspace] = {}
        self._sources: dict[Path, read.RemoteObjects] = {}
        self._files: dict[tuple[Path, str], tuple[Side, dict[str, Entry]]] = {}
        self._sides: dict[tuple[Path, str], Side] = {}  # snapshots and runs, read lazily

    # -- paths ------------------------------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = os.fspath(path)
        if text.startswith("folio://"):
            text = text[len("folio://"):]
        elif text.startswith("folio:"):
            text = text[len("folio:"):]
        return text.strip("/")

    @staticmethod
    def split(path: str) -> tuple[str | None, str]:
        """``REV/PATH`` (protocol stripped) -> (rev, or None for ``:``; repo-relative path)."""
        head, _, rest = path.partition("/")
        if not head:
            raise FileNotFoundError(f"folio://{path}: name a version first, as in "
                                    "folio://v1/data/a.csv (`:` for the working manifests)")
        return (None if head == WORKING else unquote(head)), rest.strip("/")

    @staticmethod
    def join(rev: str | None, rel: str) -> str:
        head = WORKING if rev is None else quote(rev, safe=":@")
        return f"{head}/{rel}" if rel else head

    # -- the repository and its versions ----------------------------------------------------
    def workspace(self) -> Workspace:
        """The repository: ``repo`` if given, else the one holding the current directory."""
        root = self._root or find_worktree(".")
        with self._lock:
            ws = self._workspaces.get(root)
            if ws is None:
                ws = self._workspaces[root] = Workspace(root)
            return ws

    def source(self, ws: Workspace) -> read.RemoteObjects:
        with self._lock:
            src = self._sources.get(ws.root)
            if src is None:
                src = self._sources[ws.root] = read.RemoteObjects(ws, self.remote)
            return src

    def files(self, rev: str | None) -> tuple[Workspace, Side, dict[str, Entry]]:
        """Every file location of version ``rev`` and its entry. Snapshots and runs are
        cached for the filesystem's life (``invalidate_cache`` forgets them); branches,
        ``HEAD`` and the working manifests are read again on each call, as they move."""
        ws = self.workspace()
        key = (ws.root, rev or WORKING)
        cached = self._files.get(key)
        if cached is not None:
            return ws, *cached
        ws, side = self.side(rev)
        table = {m.location(e.path): e for m in side.manifests.values()
                 for e in m.entries.values()}
        if side.kind in _IMMUTABLE:
            self._files[key] = (side, table)
        return ws, side, table

    def side(self, rev: str | None, near: str | None = None) -> tuple[Workspace, Side]:
        """Version ``rev`` with its manifests read lazily, so one path costs the manifest
        files that can hold it; cached as :meth:`files` caches. Of the working manifests,
        only the targets at or above ``near`` (as :func:`folio.ops.read.version`)."""
        ws = self.workspace()
        key = (ws.root, rev or WORKING)
        cached = self._files.get(key)
        side = cached[0] if cached is not None else self._sides.get(key)
        if side is None:
            with _not_found(self.join(rev, "")):
                side = read.version(ws, rev, near)
            if side.kind in _IMMUTABLE:
                self._sides[key] = side
        return ws, side

    def locate(self, rev: str | None, rel: str) -> tuple[Workspace, Side, Entry | bool]:
        """The entry at ``rel`` in ``rev``, else whether it is a directory: from the table
        when :meth:`files` holds one, else reading only what can hold ``rel``."""
        ws = self.workspace()
        cached = self._files.get((ws.root, rev or WORKING))
        if cached is not None:
            side, table = cached
            entry = table.get(rel)
            prefix = rel + "/" if rel else ""
            return ws, side, entry if entry is not None else \
                any(loc.startswith(prefix) for loc in table)
        ws, side = self.side(rev, rel or None)
        if not rel:
            return ws, side, bool(side.manifests)
        return ws, side, revisions.locate(side.manifests, rel)

    def table_at(self, rev: str | None, rel: str
                 ) -> tuple[Workspace, Side, dict[str, Entry]]:
        """:meth:`files`, or, while it holds no table for ``rev``, the entries at or below
        ``rel`` alone: of a revision, read from the targets and shards that can hold them."""
        ws = self.workspace()
        if rel and (ws.root, rev or WORKING) not in self._files:
            ws, side = self.side(rev, rel)
            if isinstance(side.manifests, revisions.ManifestTree):
                return ws, side, {m.location(e.path): e
                                  for m in side.manifests.under([rel]).values()
                                  for e in m.entries.values()}
        return self.files(rev)

    def invalidate_cache(self, path: str | None = None) -> None:
        self._files.clear()
        self._sides.clear()
        super().invalidate_cache(path)

    # -- listing ----------------------------------------------------------------------------
    def _file_info(self, rev: str | None, loc: str, entry: Entry) -> dict[str, Any]:
        return {"name": self.join(rev, loc), "size": entry.size,
                "type": "other" if entry.link is not None else "file",
                "sha256": entry.sha256, "link": entry.link}

    def _dir_info(self, rev: str | None, loc: str) -> dict[str, Any]:
        return {"name": self.join(rev, loc), "size": 0, "type": "directory"}

    def _below(self, path: str, maxdepth: int | None = None, withdirs: bool = False
               ) -> tuple[dict[str, dict[str, Any]], bool]:
        """Everything below ``path`` up to ``maxdepth`` levels, and whether ``path`` is a
        file: one pass over the version's entries at or below it, whatever the depth."""
        rev, rel = self.split(self._strip_protocol(path))
        _, side, table = self.table_at(rev, rel)
        if rel in table:
            return {rel: self._file_info(rev, rel, table[rel])}, True
        prefix = rel + "/" if rel else ""
        out: dict[str, dict[str, Any]] = {}
        for loc, entry in table.items():
            if not loc.startswith(prefix):
                continue
            parts = loc[len(prefix):].split("/")
            if maxdepth is None or len(parts) <= maxdepth:
                out[loc] = self._file_info(rev, loc, entry)
            if withdirs:
                for i in range(1, min(len(parts) - 1, maxdepth or len(parts)) + 1):
                    d = prefix + "/".join(parts[:i])
                    out.setdefault(d, self._dir_info(rev, d))
        if not out and rel:
            raise FileNotFoundError(f"folio://{self.join(rev, rel)}: no file of "
                                    f"{side.label} is at or below this path")
        return out, False

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        found, _ = self._below(path, maxdepth=1, withdirs=True)
        rows = [found[k] for k in sorted(found)]
        return rows if detail else [r["name"] for r in rows]

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False,
             detail: bool = False, **kwargs: Any) -> Any:
        try:
            found, is_file = self._below(path, maxdepth, withdirs)
        except FileNotFoundError:
            found, is_file = {}, False
        rows = {v["name"]: v for _, v in sorted(found.items())}
        if withdirs and not is_file:
            try:
                top = self.info(path)
                rows = {top["name"]: top, **rows}
            except FileNotFoundError:
                pass
        return rows if detail else list(rows)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        rev, rel = self.split(self._strip_protocol(path))
        _, side, found = self.locate(rev, rel)
        if not isinstance(found, bool):
            return self._file_info(rev, rel, found)
        if found or not rel:
            return self._dir_info(rev, rel)
        raise FileNotFoundError(f"folio://{self.join(rev, rel)}: no manifest of "
                                f"{side.label} names this path")

    def ukey(self, path: str) -> str:
        """The object id: a path's content key, the same in every version holding it."""
        return str(self.info(path).get("sha256") or self.join(*self.split(
            self._strip_protocol(path))))

    def modified(self, path: str) -> datetime:
        """The version's commit time (DuckDB asks); the working manifests' is now, as
        they can change at any moment."""
        rev, _ = self.split(self._strip_protocol(path))
        self.info(path)  # FileNotFoundError for what is not there
        ws, side = self.side(rev)
        if side.commit is None:
            return datetime.now(timezone.utc)
        return datetime.fromtimestamp(ws.git.read_commit(side.commit).time, timezone.utc)

    # -- reading ----------------------------------------------------------------------------
    def _open(self, path: str, mode: str = "rb", block_size: int | None = None,
              autocommit: bool = True, cache_options: dict[str, Any] | None = None,
              **kwargs: Any) -> read.VerifiedReader:
        if mode != "rb":
            raise PermissionError(f"folio://{self._strip_protocol(path)}: folio:// is "
                                  "read-only; write the working file and `folio add` it")
        rev, rel = self.split(self._strip_protocol(path))
        where = read.spec_label(rev, rel)
        ws, side, found = self.locate(rev, rel)
        if isinstance(found, bool):
            if found or not rel:
                raise IsADirectoryError(f"folio://{self.join(rev, rel)}: is a directory "
                                        f"in {side.label}")
            raise FileNotFoundError(f"folio://{self.join(rev, rel)}: no manifest of "
                                    f"{side.label} names this path")
        return read.open_entry(ws, found, where, remote=self.remote, source=self.source(ws))

    # read-only: every writing method says so in one line
    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise PermissionError("folio:// is read-only; write the working file and "
                              "`folio add` it")

    mkdir = makedirs = rm = rm_file = rmdir = mv = cp_file = put_file = touch = pipe_file = (
        _refuse)


@contextmanager
def _not_found(where: str) -> Iterator[None]:
    """folio's "no such version" and "no such path" as the FileNotFoundError readers expect."""
    try:
        yield
    except (UnknownRevisionError, PathError, NotARepositoryError) as exc:
        raise FileNotFoundError(f"folio://{where}: {exc}") from None
