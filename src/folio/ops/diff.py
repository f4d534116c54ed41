"""``folio diff``: which files changed between two versions of the data, and how.

A side is a set of manifests (revisions.py) or the working tree: the tracked targets'
current files, hashed as ``status`` hashes them (stat cache first). Files are compared by
repo-relative location: added, removed, modified (same path, new content) and renamed
(same content, new path; a removed and an added file with one sha256 are paired in path
order). Data-aware detail (diffdetail.py) is added where the bytes of every present side
are at hand (verified store objects, working files) and the format is known.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio.diffdetail import MAX_BYTES, NOT_COMPARABLE, Detail, detail, format_of
from folio.manifest import Entry, Manifest
from folio.paths import is_within
from folio.progress import NULL, Progress
from folio.revisions import Side
from folio.units import human_bytes
from folio.worktree.scan import is_executable, rehash, scan_target

if TYPE_CHECKING:
    from folio.workspace import Workspace

STATUSES = ("added", "removed", "modified", "renamed")
MAX_DETAILS = 100  # files given data-aware detail per diff; the rest are only listed

Reader = Callable[[str, Entry], "bytes | None"]


@dataclass
class FileChange:
    """One file that differs; ``path`` is its location on side B (side A when removed)."""

    status: str  # one of STATUSES
    path: str
    target: str
    old: Entry | None
    new: Entry | None
    old_path: str | None = None  # renamed only
    detail: Detail | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "path": self.path, "old_path": self.old_path,
                "old": _entry_json(self.old), "new": _entry_json(self.new),
                "detail": self.detail.to_dict() if self.detail else None}


def _entry_json(entry: Entry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    if entry.is_link:
        return {"link": entry.link}
    return {"size": entry.size, "sha256": entry.sha256, "executable": entry.executable}


@dataclass
class TargetDiff:
    """The changes inside one target, and its total size on each side."""

    target: str
    old_bytes: int
    new_bytes: int
    changes: list[FileChange] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.changes if c.status == s) for s in STATUSES}

    def to_json(self, stat: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, **self.counts(),
                               "old_bytes": self.old_bytes, "new_bytes": self.new_bytes}
        if not stat:
            out["changes"] = [c.to_json() for c in self.changes]
        return out


@dataclass
class DiffResult:
    a: Side
    b: Side
    targets: list[TargetDiff]  # only targets with changes, sorted
    detail_omitted: int = 0  # files that would have had detail past MAX_DETAILS

    @property
    def changed(self) -> bool:
        return bool(self.targets)

    def changes(self) -> list[FileChange]:
        return [c for t in self.targets for c in t.changes]

    def to_json(self, stat: bool = False) -> dict[str, Any]:
        return {"a": self.a.to_json(), "b": self.b.to_json(), "changed": self.changed,
                "targets": [t.to_json(stat) for t in self.targets],
                "detail_omitted": self.detail_omitted}


def diff(ws: Workspace, a: str | None = None, b: str | None = None,
         paths: Sequence[str | os.PathLike[str]] | None = None, *, detail: bool = True,
         progress: Progress = NULL, jobs: int | None = None,
         cwd: Path | None = None) -> DiffResult:
    """Files changed from ``a`` (default HEAD) to ``b`` (default the working tree)."""
    if b is not None and a is None:
        raise ValueError("diff: give a before b")
    scope = ws.scope(paths, cwd)
    if a is None:
        side_a = ws.resolve("HEAD") if ws.git.head_commit() else Side("commit", "HEAD")
    else:
        side_a = ws.resolve(a)
    side_b = ws.resolve(b) if b is not None else worktree_side(ws, scope, jobs, progress)
    result = DiffResult(side_a, side_b, compare(side_a.manifests, side_b.manifests, scope))
    if detail:
        read_b = worktree_reader(ws) if b is None else store_reader(ws)
        add_details(result, store_reader(ws), read_b)
    return result


# -- sides ----------------------------------------------------------------------------------

def worktree_side(ws: Workspace, paths: Sequence[str] | None, jobs: int | None,
                  progress: Progress = NULL) -> Side:
    """The tracked targets as their files are now: the working manifests' targets, rescanned."""
    cache = ws.stat_cache()
    out: dict[str, Manifest] = {}
    todo: list[tuple[Manifest, str, str]] = []
    for target in ws.targets():
        if paths is not None and not any(is_within(target, p) or is_within(p, target)
                                         for p in paths):
            continue
        manifest = ws.read_manifest(target)
        now = out[target] = Manifest(target, manifest.kind)
        for rel, state in scan_target(ws.root, manifest, ws.store.root).items():
            loc = manifest.location(rel)
            if not _in_scope(loc, paths):
                continue
            if state.link is not None:
                now.entries[rel] = Entry(rel, link=state.link)
                continue
            sha = state.oid or cache.lookup(loc, state.st)
            if sha is None:
                todo.append((now, rel, loc))
            else:
                now.entries[rel] = Entry(rel, state.st.st_size, sha,
                                         executable=is_executable(state.st))

    got = rehash(ws.store, ws.root, [loc for _, _, loc in todo], cache, progress, jobs)
    for now, rel, loc in todo:
        sha, size, st = got[loc]
        now.entries[rel] = Entry(rel, size, sha, executable=is_executable(st))
    if cache.dirty:
        ws.save_if_free(cache)
    return Side("worktree", None, None, out)


def _in_scope(loc: str, paths: Sequence[str] | None) -> bool:
    return paths is None or any(is_within(loc, p) for p in paths)


def store_reader(ws: Workspace) -> Reader:
    """Bytes of a committed side: the verified object, or None if the store lacks it."""
    def read(loc: str, entry: Entry) -> bytes | None:
        sha = entry.sha256
        if sha is None or not ws.store.has(sha):
            return None
        return ws.store.read_bytes(sha, loc)
    return read


def worktree_reader(ws: Workspace) -> Reader:
    """Bytes of a working file, if it still hashes to what the diff reported."""
    def read(loc: str, entry: Entry) -> bytes | None:
        try:
            with open(ws.root / loc, "rb") as f:
                data = f.read()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == entry.sha256 else None
    return read


# -- comparing ------------------------------------------------------------------------------

def compare(a: dict[str, Manifest], b: dict[str, Manifest],
            paths: Sequence[str] | None = None) -> list[TargetDiff]:
    """Changes from ``a`` to ``b`` per target (only targets that changed), sorted by path."""
    old, new = _locations(a, paths), _locations(b, paths)
    changes: list[FileChange] = []
    removed: list[str] = []
    added: list[str] = []
    for loc in sorted(old.keys() | new.keys()):
        if loc in old and loc in new:
            (_, eo), (tn, en) = old[loc], new[loc]
            if _differs(eo, en):
                changes.append(FileChange("modified", loc, tn, eo, en))
        elif loc in old:
            removed.append(loc)
        else:
            added.append(loc)
    by_sha: dict[str, list[str]] = {}
    for loc in removed:
        entry = old[loc][1]
        if entry.sha256 is not None:
            by_sha.setdefault(entry.sha256, []).append(loc)
    gone = set(removed)
    for loc in added:
        target, entry = new[loc]
        source = by_sha.get(entry.sha256 or "")
        if source:
            old_loc = source.pop(0)
            gone.discard(old_loc)
            changes.append(FileChange("renamed", loc, target, old[old_loc][1], entry, old_loc))
        else:
            changes.append(FileChange("added", loc, target, None, entry))
    for loc in sorted(gone):
        target, entry = old[loc]
        changes.append(FileChange("removed", loc, target, entry, None))
    return _group(changes, a, b, paths)


def _locations(side: dict[str, Manifest],
               paths: Sequence[str] | None) -> dict[str, tuple[str, Entry]]:
    out = {}
    for target, manifest in side.items():
        for entry in manifest.entries.values():
            loc = manifest.location(entry.path)
            if _in_scope(loc, paths):
                out[loc] = (target, entry)
    return out


def _differs(a: Entry, b: Entry) -> bool:
    if a.is_link or b.is_link:
        return a.link != b.link
    return a.sha256 != b.sha256 or a.executable != b.executable


def _group(changes: list[FileChange], a: dict[str, Manifest], b: dict[str, Manifest],
           paths: Sequence[str] | None) -> list[TargetDiff]:
    def total(side: dict[str, Manifest], target: str) -> int:
        m = side.get(target)
        if m is None:
            return 0
        return sum(e.size for e in m.entries.values() if _in_scope(m.location(e.path), paths))

    targets: dict[str, TargetDiff] = {}
    for change in changes:
        if change.target not in targets:
            targets[change.target] = TargetDiff(change.target, total(a, change.target),
                                                total(b, change.target))
        targets[change.target].changes.append(change)
    order = {s: i for i, s in enumerate(STATUSES)}
    for t in targets.values():
        t.changes.sort(key=lambda c: (c.path, order[c.status]))
    return [targets[t] for t in sorted(targets)]


# -- detail -----------------------------------------------------------------------------------

def add_details(result: DiffResult, read_a: Reader, read_b: Reader,
                max_files: int = MAX_DETAILS) -> None:
    """Attach data-aware detail to added, removed and modified files of known formats."""
    done = 0
    for change in result.changes():
        if change.status == "renamed" or any(e is not None and e.is_link
                                             for e in (change.old, change.new)):
            continue
        old_loc = change.path
        fmt = format_of(change.path, _head(change, read_a, read_b))
        if fmt is None:
            continue
        if done >= max_files:
            result.detail_omitted += 1
            continue
        done += 1
        largest = max(e.size for e in (change.old, change.new) if e is not None)
        if largest > MAX_BYTES:
            change.detail = Detail(change.path, NOT_COMPARABLE, {
                "format": fmt, "reason": f"too large to compare ({largest >> 20} MiB)"})
            continue
        old = read_a(old_loc, change.old) if change.old is not None else None
        new = read_b(change.path, change.new) if change.new is not None else None
        if (change.old is not None and old is None) or (change.new is not None and new is None):
            change.detail = Detail(change.path, NOT_COMPARABLE, {
                "format": fmt, "reason": "content not in the local store (`folio pull`)"})
            continue
        change.detail = detail(change.path, old, new)


def _head(change: FileChange, read_a: Reader, read_b: Reader) -> bytes | None:
    """Nothing is read for a known extension; otherwise the first bytes, to sniff a format."""
    if format_of(change.path) is not None:
        return None
    entry, read = (change.new, read_b) if change.new is not None else (change.old, read_a)
    if entry is None or entry.size > MAX_BYTES:
        return None
    data = read(change.path, entry)
    return data[:8] if data is not None else None


# -- text -------------------------------------------------------------------------------------

def _what(entry: Entry | None) -> str:
    if entry is None:
        return ""
    if entry.is_link:
        return f"-> {entry.link}"
    text = f"{human_bytes(entry.size)} {entry.sha256[:8] if entry.sha256 else ''}".rstrip()
    return text + " (executable)" if entry.executable else text


def render(result: DiffResult) -> list[str]:
    """Human lines: a header per target, one line per file, indented detail lines."""
    lines: list[str] = []
    for t in result.targets:
        lines.append(f"{t.target}:")
        for c in t.changes:
            if c.status == "modified":
                lines.append(f"  modified  {c.path}  {_what(c.old)} -> {_what(c.new)}")
            elif c.status == "renamed":
                lines.append(f"  renamed   {c.old_path} -> {c.path}  {_what(c.new)}")
            else:
                lines.append(f"  {c.status:<9} {c.path}  {_what(c.old or c.new)}")
            if c.detail is not None:
                lines += [f"      {line}" for line in c.detail.render()]
    lines.append(summary(result))
    if result.detail_omitted:
        lines.append(f"(detail shown for the first {MAX_DETAILS} files; "
                     f"{result.detail_omitted} more not examined)")
    return lines


def render_stat(result: DiffResult) -> list[str]:
    width = max((len(t.target) for t in result.targets), default=0)
    lines = []
    for t in result.targets:
        n = t.counts()
        lines.append(f" {t.target:<{width}}  +{n['added']} -{n['removed']} ~{n['modified']} "
                     f">{n['renamed']}  {human_bytes(t.old_bytes)} -> {human_bytes(t.new_bytes)}")
    lines.append(summary(result))
    return lines


def summary(result: DiffResult) -> str:
    if not result.changed:
        return f"No data differences between {result.a.label} and {result.b.label}."
    counts = {s: sum(t.counts()[s] for t in result.targets) for s in STATUSES}
    files = sum(counts.values())
    n = len(result.targets)
    parts = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    return (f"{files} file{'s' if files > 1 else ''} changed in {n} "
            f"target{'s' if n > 1 else ''} ({parts})")
