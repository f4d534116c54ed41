"""``folio diff``: which files changed between two versions of the data, and how.

A side is a set of manifests (revisions.py) or the working tree: the tracked targets'
current files, hashed as ``status`` hashes them (stat cache first). Files are compared by
repo-relative location: added, removed, modified (same path, new content) and renamed
(same content, new path; a removed and an added file with one sha256 are paired in path
order). Data-aware detail (diffdetail.py) is added where the bytes of every present side
are at hand (verified store objects, working files) and the format is known; a Parquet file
too large to read gets its footer's schema and row count, and content not at hand what the
manifest entries' summaries (``meta``) say. ``A..B`` and ``A...B`` (merge base) are ranges
(revisions.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio import diffdetail
from folio.diffdetail import NOT_COMPARABLE, Detail, detail, format_of
from folio.errors import UnknownRevisionError
from folio.manifest import Entry, Manifest
from folio.paths import is_within
from folio.progress import NULL, Progress
from folio.revisions import Side, parse_range, resolve_range
from folio.units import human_bytes
from folio.worktree.scan import is_executable, rehash, scan_target

if TYPE_CHECKING:
    from folio.workspace import Workspace

STATUSES = ("added", "removed", "modified", "renamed")
MAX_DETAILS = 100  # files given data-aware detail per diff; the rest are only listed

Reader = Callable[[str, Entry], "bytes | None"]
Locator = Callable[[str, Entry], "Path | None"]


@dataclass(frozen=True)
class Source:
    """Where one side's bytes are: ``read`` them whole (verified), or the ``file`` itself."""

    read: Reader
    file: Locator  # for a Parquet footer: None unless the file has the entry's size
    rev: str = ""  # what `folio fetch` names to bring this side's objects here


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
    """Files changed from ``a`` (default HEAD) to ``b`` (default the working tree).

    ``a`` may be a range instead: ``A..B`` is ``a=A, b=B``; ``A...B`` compares the merge
    base of A and B with B (what B changed since it forked from A), as ``git diff A...B``.
    """
    if b is not None and a is None:
        raise ValueError("diff: give a before b")
    rng = parse_range(a) if a is not None else None
    if b is not None and (rng is not None or parse_range(b) is not None):
        raise ValueError("diff: a range (A..B, A...B) is the only version to give")
    scope = ws.scope(paths, cwd)
    worktree = b is None and rng is None
    if rng is not None:
        try:
            side_a, side_b = resolve_range(ws.git, rng)
        except UnknownRevisionError as exc:
            if a is not None and os.path.lexists(a):  # `folio diff ../data` from a subdirectory
                raise UnknownRevisionError(f"{exc}; to name paths, put them after --") from None
            raise
    else:
        if a is None:
            side_a = ws.resolve("HEAD") if ws.git.head_commit() else Side("commit", "HEAD")
        else:
            side_a = ws.resolve(a)
        side_b = worktree_side(ws, scope, jobs, progress) if b is None else ws.resolve(b)
    result = DiffResult(side_a, side_b, compare(side_a.manifests, side_b.manifests, scope))
    if detail:
        add_details(result, store_source(ws, side_a), worktree_source(ws) if worktree else
                    store_source(ws, side_b))
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


def fetch_rev(side: Side) -> str:
    """How ``folio fetch`` names ``side`` ("" for the working manifests: a bare fetch)."""
    if side.kind == "run":
        return f"run:{side.name}"
    if side.kind in ("snapshot", "commit") and side.name:
        return shlex.quote(side.name)
    return side.commit[:12] if side.commit else ""


def store_source(ws: Workspace, side: Side | None = None) -> Source:
    """A committed side: the verified object, or None if the store lacks it."""
    def read(loc: str, entry: Entry) -> bytes | None:
        sha = entry.sha256
        if sha is None or not ws.store.has(sha):
            return None
        return ws.store.read_bytes(sha, loc)

    def file(loc: str, entry: Entry) -> Path | None:
        return None if entry.sha256 is None else _sized(ws.store.path(entry.sha256), entry)
    return Source(read, file, fetch_rev(side) if side is not None else "")


def worktree_source(ws: Workspace) -> Source:
    """A working file, if it still hashes to what the diff reported (its size, for a file)."""
    def read(loc: str, entry: Entry) -> bytes | None:
        try:
            with open(ws.root / loc, "rb") as f:
                data = f.read()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == entry.sha256 else None
    return Source(read, lambda loc, entry: _sized(ws.root / loc, entry))


def _sized(path: Path, entry: Entry) -> Path | None:
    """``path`` if it is a regular file of the entry's size (a footer read hashes nothing)."""
    try:
        st = path.lstat()
    except OSError:
        return None
    return path if stat.S_ISREG(st.st_mode) and st.st_size == entry.size else None


# -- comparing ------------------------------------------------------------------------------

def compare(a: Mapping[str, Manifest], b: Mapping[str, Manifest],
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


def _locations(side: Mapping[str, Manifest],
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


def _group(changes: list[FileChange], a: Mapping[str, Manifest], b: Mapping[str, Manifest],
           paths: Sequence[str] | None) -> list[TargetDiff]:
    def total(side: Mapping[str, Manifest], target: str) -> int:
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

def add_details(result: DiffResult, a: Source, b: Source,
                max_files: int = MAX_DETAILS) -> None:
    """Attach data-aware detail to added, removed and modified files of known formats."""
    done = 0
    for change in result.changes():
        if change.status == "renamed" or any(e is not None and e.is_link
                                             for e in (change.old, change.new)):
            continue
        fmt = format_of(change.path, _head(change, a, b))
        if fmt is None:
            continue
        if done >= max_files:
            result.detail_omitted += 1
            continue
        done += 1
        change.detail = _detail(change, fmt, a, b)


def _detail(change: FileChange, fmt: str, a: Source, b: Source) -> Detail | None:
    """The best detail at hand: the bytes; a large Parquet's footer; else the summaries."""
    sides = ((change.old, a), (change.new, b))
    largest = max(e.size for e, _ in sides if e is not None)
    if largest > diffdetail.MAX_BYTES:
        if fmt in diffdetail.FOOTER_FORMATS:
            files = [None if e is None else src.file(change.path, e) for e, src in sides]
            if all(f is not None for f, (e, _) in zip(files, sides, strict=True)
                   if e is not None):
                return diffdetail.footer_detail(change.path, files[0], files[1])
        why = f"too large to compare ({largest >> 20} MiB)"
    else:
        data = [None if e is None else src.read(change.path, e) for e, src in sides]
        if all(d is not None for d, (e, _) in zip(data, sides, strict=True) if e is not None):
            return detail(change.path, data[0], data[1])
        revs = [src.rev for d, (e, src) in zip(data, sides, strict=True)
                if e is not None and d is None and src.rev]
        fetch = " ".join(["folio fetch", *dict.fromkeys(revs)])
        why = f"content not in the local store (`{fetch}`)"
    summary = diffdetail.meta_detail(change.path, fmt, _meta(change.old), _meta(change.new))
    return summary or Detail(change.path, NOT_COMPARABLE, {"format": fmt, "reason": why})


def _meta(entry: Entry | None) -> dict[str, Any] | None:
    return None if entry is None else entry.meta or {}


def _head(change: FileChange, a: Source, b: Source) -> bytes | None:
    """Nothing is read for a known extension; otherwise the first bytes, to sniff a format."""
    if format_of(change.path) is not None:
        return None
    entry, src = (change.new, b) if change.new is not None else (change.old, a)
    if entry is None or entry.size > diffdetail.MAX_BYTES:
        return None
    data = src.read(change.path, entry)
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


# -- markdown (a pull-request comment) ------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~<])")
_MD_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def render_markdown(result: DiffResult, stat: bool = False) -> list[str]:
    """A compact GitHub-flavoured markdown report (docs/cli.md, "--format markdown").

    A heading naming both sides; a table with one row per changed target (counts and total
    sizes); then, unless ``stat``, a table per target with one row per file and its detail.
    Every cell is escaped: a ``|`` in a path cannot break a table, nor a column name of
    someone's data become markup.
    """
    lines = [f"### folio diff: {_md(result.a.label)} → {_md(result.b.label)}", ""]
    if not result.changed:
        return [*lines, _md(summary(result))]
    lines += ["| target | added | removed | modified | renamed | size |",
              "|:--|--:|--:|--:|--:|:--|"]
    for t in result.targets:
        n = t.counts()
        lines.append(f"| {_code(t.target)} | {n['added']} | {n['removed']} | {n['modified']} "
                     f"| {n['renamed']} | {_md(human_bytes(t.old_bytes))} → "
                     f"{_md(human_bytes(t.new_bytes))} |")
    lines += ["", _md(summary(result))]
    if stat:
        return lines
    for t in result.targets:
        lines += ["", f"#### {_code(t.target)}", "", "| change | path | size | detail |",
                  "|:--|:--|:--|:--|"]
        for c in t.changes:
            path = _code(c.path) if c.old_path is None else \
                f"{_code(c.old_path)} → {_code(c.path)}"
            size = _md(_what(c.new)) if c.status == "renamed" else \
                " → ".join(_md(_what(e)) for e in (c.old, c.new) if e is not None)
            info = "<br>".join(_md(line) for line in c.detail.render()) if c.detail else ""
            lines.append(f"| {c.status} | {path} | {size} | {info} |")
    if result.detail_omitted:
        lines += ["", _md(f"(detail shown for the first {MAX_DETAILS} files; "
                          f"{result.detail_omitted} more not examined)")]
    return lines


def _md(text: str) -> str:
    """Plain text for a markdown table cell: markup characters escaped, controls shown."""
    escaped = _MD_SPECIAL.sub(r"\\\1", text.replace("&", "&amp;"))
    return _MD_CONTROL.sub(lambda m: f"\\\\x{ord(m.group()):02x}", escaped)


def _code(text: str) -> str:
    """``text`` as a code span that survives any backticks, pipes or controls in it."""
    shown = _MD_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text).replace("|", "\\|")
    fence = "`" * (max((len(r) for r in re.findall("`+", shown)), default=0) + 1)
    pad = " " if shown.startswith(("`", " ")) or shown.endswith(("`", " ")) else ""
    return f"{fence}{pad}{shown}{pad}{fence}"
