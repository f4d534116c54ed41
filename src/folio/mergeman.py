"""Three-way merge of manifest files, entry by entry: what git's merge driver for ``*.folio``
runs (docs/format.md 4.10).

git merges text line by line, so two branches that change different files whose entry lines
are adjacent conflict, and a shard's header line (its counts) conflicts whenever both change
the shard. This merge works on entries instead, keyed by path: a path changed on one side
takes that side, the same change on both is taken once, different changes on both sides are
conflicts. It merges plain manifests, format 2 shard files and format 2 sharded main files
(their lists of cuts), each file on its own, as git hands them over one at a time. A clean
result is the canonical encoding, so the next ``folio add`` does not rewrite it; a conflicted
one keeps git's conflict markers around the lines in question, which ``git diff`` shows and
folio's parser reports (``has unresolved merge conflicts``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from folio import manifest as mf
from folio.errors import ManifestError
from folio.manifest import Entry, ShardHeader, ShardRef

START, MIDDLE, END = b"<<<<<<< ours\n", b"=======\n", b">>>>>>> theirs\n"


@dataclass
class MergeResult:
    """A merged manifest file: ``data`` (with conflicts, marked as git marks them), the
    entry paths changed on both sides to different content, and for a conflict that is not
    one path's (a shard list, files of different shapes) the ``reason``."""

    data: bytes
    conflicts: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def clean(self) -> bool:
        return not self.conflicts and self.reason is None


@dataclass(frozen=True)
class _Plain:
    """An unsharded main file (a file target or a small directory target)."""

    kind: str
    target: str
    entries: dict[str, Entry]


@dataclass(frozen=True)
class _Shard:
    """A format 2 shard file."""

    header: ShardHeader
    entries: dict[str, Entry]


@dataclass(frozen=True)
class _Index:
    """A sharded main file: its shard list."""

    target: str
    version: int
    refs: list[ShardRef]


_Doc = _Plain | _Shard | _Index


def merge(base: bytes | None, ours: bytes, theirs: bytes, path: str) -> MergeResult:
    """Merge two changed versions of the manifest file ``path`` (as git names it; used in
    messages) from their common ancestor ``base`` (None or empty: added on both sides)."""
    base = base or None
    if ours == theirs:
        return MergeResult(ours)
    if base is not None and base == ours:
        return MergeResult(theirs)
    if base is not None and base == theirs:
        return MergeResult(ours)
    try:
        old = _read(base, path) if base is not None else None
        mine, other = _read(ours, path), _read(theirs, path)
    except ManifestError as exc:
        return _whole(ours, theirs, f"not a manifest folio can merge ({exc})")
    if isinstance(mine, _Plain) and isinstance(other, _Plain):
        return _merge_plain(old, mine, other, ours, theirs)
    if isinstance(mine, _Shard) and isinstance(other, _Shard):
        return _merge_shard(old, mine, other, ours, theirs, path)
    if isinstance(mine, _Index) and isinstance(other, _Index):
        return _merge_index(old, mine, other, ours, theirs)
    return _whole(ours, theirs, f"{path}: one branch sharded the target and the other did not "
                                "(or changed another kind of file): its manifest cannot be "
                                "merged without every shard")


def _read(data: bytes, path: str) -> _Doc:
    """What a manifest file is, parsed and checked (no other file is read)."""
    first = data.split(b"\n", 1)[0]
    try:
        header = json.loads(first)
    except (ValueError, RecursionError):
        header = None
    if isinstance(header, dict) and "shard" in header and "kind" not in header:
        shard_header, entries = mf.read_shard_file(data, path)
        return _Shard(shard_header, entries)
    view = mf.ShardedManifest.read(data, path, None)
    if view is not None:
        return _Index(view.target, view.version, view.refs)
    manifest = mf.parse(data, path)
    return _Plain(manifest.kind, manifest.target, manifest.entries)


def _line(entry: Entry | None) -> bytes | None:
    return mf.entry_line(entry) if entry is not None else None


def _three_way(base: dict[str, Entry] | None, ours: dict[str, Entry],
               theirs: dict[str, Entry]
               ) -> tuple[dict[str, Entry], dict[str, tuple[Entry | None, Entry | None]]]:
    """Entries merged by path, in order, and the paths both sides changed differently."""
    base = base or {}
    merged: dict[str, Entry] = {}
    conflicts: dict[str, tuple[Entry | None, Entry | None]] = {}
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        line_b, line_o, line_t = _line(b), _line(o), _line(t)
        if line_o == line_t or line_t == line_b:
            pick = o
        elif line_o == line_b:
            pick = t
        else:
            conflicts[path] = (o, t)
            continue
        if pick is not None:
            merged[path] = pick
    return merged, conflicts


def _marked(merged: dict[str, Entry],
            conflicts: dict[str, tuple[Entry | None, Entry | None]]) -> bytes:
    """Entry lines in order, each conflicting path's two sides between git's markers."""
    out: list[bytes] = []
    for path in sorted(merged.keys() | conflicts.keys()):
        if path in merged:
            out.append(mf.entry_line(merged[path]))
            continue
        mine, other = conflicts[path]
        out += [START, _line(mine) or b"", MIDDLE, _line(other) or b"", END]
    return b"".join(out)


def _merge_plain(base: _Doc | None, ours: _Plain, theirs: _Plain, ours_data: bytes,
                 theirs_data: bytes) -> MergeResult:
    if (ours.kind, ours.target) != (theirs.kind, theirs.target) or not (
            base is None or (isinstance(base, _Plain)
                             and (base.kind, base.target) == (ours.kind, ours.target))):
        return _whole(ours_data, theirs_data, f"{ours.target}: the manifests cannot be "
                                              "merged entry by entry (of different targets or "
                                              "kinds, or the ancestor's was sharded)")
    merged, conflicts = _three_way(base.entries if isinstance(base, _Plain) else None,
                                   ours.entries, theirs.entries)
    if conflicts:
        header = mf.encode_plain(ours.kind, ours.target, [])
        return MergeResult(header + _marked(merged, conflicts), list(conflicts))
    return MergeResult(mf.encode_plain(ours.kind, ours.target, merged.values()))


def _merge_shard(base: _Doc | None, ours: _Shard, theirs: _Shard, ours_data: bytes,
                 theirs_data: bytes, path: str) -> MergeResult:
    mine = ours.header
    where = (mine.name, mine.target, mine.after, mine.last)
    other = theirs.header
    if (where != (other.name, other.target, other.after, other.last) or not (
            base is None or (isinstance(base, _Shard) and where == (
                base.header.name, base.header.target, base.header.after, base.header.last)))):
        return _whole(ours_data, theirs_data, f"{path}: the two branches' files hold "
                                              "different shards")
    merged, conflicts = _three_way(base.entries if isinstance(base, _Shard) else None,
                                   ours.entries, theirs.entries)
    if conflicts:
        return MergeResult(mine.line() + _marked(merged, conflicts), list(conflicts))
    entries = list(merged.values())
    if not _fits(entries, mine):
        return _whole(ours_data, theirs_data,
                      f"{path}: the merged shard no longer ends where its range does (one "
                      "branch added or removed the path that ends it, or it outgrew a shard): "
                      f"the target {mine.target!r} must be re-sharded; pick a side for its "
                      "manifest files and `folio add` the other side's changes")
    _, data = mf.encode_shard(mine.target, entries, mine.after, mine.last is not None)
    return MergeResult(data)


def _fits(entries: list[Entry], header: ShardHeader) -> bool:
    """Whether merged entries are still exactly the chunk the shard's range names."""
    if not entries or (header.after is not None and entries[0].path <= header.after):
        return False
    if header.last is not None and entries[-1].path != header.last:
        return False
    return mf.is_chunk(entries, header.last is not None)


def _ranges(refs: list[ShardRef]) -> list[tuple[str | None, str | None]]:
    """Each shard's range ``(after, last]``, in order."""
    out: list[tuple[str | None, str | None]] = []
    after: str | None = None
    for ref in refs:
        out.append((after, ref.last))
        after = ref.last
    return out


def _merge_index(base: _Doc | None, ours: _Index, theirs: _Index, ours_data: bytes,
                 theirs_data: bytes) -> MergeResult:
    """Merge two shard lists as sets of cuts (the paths that end a shard), plus whether
    the last shard runs open to the end; safe only when every merged shard is one that a
    side holds as a file, which git merged (or took) on its own."""
    target = ours.target
    if base is not None and not isinstance(base, _Index):
        base = None  # the ancestor was unsharded: both sides' shard lists are new
    if mf.FORMAT_VERSION in (ours.version, theirs.version) or (
            base is not None and base.version == mf.FORMAT_VERSION) or theirs.target != target:
        return _whole(ours_data, theirs_data,
                      f"{target}: a format 1 shard list (written by folio 0.1, shards named by "
                      "their content) cannot be merged; pick a side and `folio add` the "
                      "other side's changes")
    sides = [_cuts(ours.refs), _cuts(theirs.refs)]
    old = _cuts(base.refs) if base is not None else (set(), False)
    cuts = {c for c in sides[0][0] | sides[1][0] | old[0]
            if _pick(c in old[0], c in sides[0][0], c in sides[1][0])}
    is_open = _pick(old[1], sides[0][1], sides[1][1])
    refs: list[ShardRef] = [ShardRef(mf.range_name(after, last), last=last)
                            for after, last in _from_cuts(sorted(cuts), is_open)]
    unsafe = _unsafe(_ranges(refs), set(_ranges(base.refs)) if base is not None else set(),
                     set(_ranges(ours.refs)), set(_ranges(theirs.refs)))
    if unsafe is not None:
        after, last = unsafe
        around = last if last is not None else after
        return _whole(ours_data, theirs_data,
                      f"{target}: both branches changed where its shards split (near "
                      f"{around!r}): the shard list cannot be merged without the shards; pick "
                      "a side for its manifest files and `folio add` the other side's changes")
    return MergeResult(mf.encode_sharded_main(target, refs))


Range = tuple[str | None, str | None]


def _unsafe(merged: list[Range], base: set[Range], ours: set[Range], theirs: set[Range]
            ) -> Range | None:
    """The first merged shard that the files git merges on their own would get wrong: one
    that neither side holds, or one only a side holds whose range the other side re-cut
    (that side's edits there are in a shard file the merged list does not name)."""
    for r in merged:
        if r not in ours and r not in theirs:
            return r
        for side in (ours, theirs):
            if r not in side and any(q not in base and _overlap(q, r) for q in side):
                return r
    return None


def _overlap(one: Range, two: Range) -> bool:
    """Whether two ranges ``(after, last]`` (None: unbounded) share a path."""
    low = max((x for x in (one[0], two[0]) if x is not None), default=None)
    ends = [x for x in (one[1], two[1]) if x is not None]
    return low is None or not ends or low < min(ends)


def _cuts(refs: list[ShardRef]) -> tuple[set[str], bool]:
    """A shard list as its cuts and whether its last shard runs open to the end."""
    return {ref.last for ref in refs if ref.last is not None}, bool(refs) and refs[-1].last is None


def _pick(base: bool, ours: bool, theirs: bool) -> bool:
    """A three-way merge of one yes/no: the side that changed it wins."""
    return theirs if ours == base else ours


def _from_cuts(cuts: list[str], is_open: bool) -> list[tuple[str | None, str | None]]:
    ranges: list[tuple[str | None, str | None]] = []
    after: str | None = None
    for cut in cuts:
        ranges.append((after, cut))
        after = cut
    if is_open or not cuts:
        ranges.append((after, None))
    return ranges


def _whole(ours: bytes, theirs: bytes, reason: str) -> MergeResult:
    """A conflict over the lines where the two files differ, between git's markers."""
    a, b = ours.splitlines(keepends=True), theirs.splitlines(keepends=True)
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    middle_a, middle_b = a[head:len(a) - tail], b[head:len(b) - tail]
    data = b"".join([*a[:head], START, *_ended(middle_a), MIDDLE, *_ended(middle_b), END,
                     *a[len(a) - tail:]])
    return MergeResult(data, mf.conflicted_paths(data), reason)


def _ended(lines: list[bytes]) -> list[bytes]:
    """Lines as they go between markers: the last one ended by a newline."""
    if lines and not lines[-1].endswith(b"\n"):
        return [*lines[:-1], lines[-1] + b"\n"]
    return lines


def run_driver(base_path: str, ours_path: str, theirs_path: str, path: str) -> int:
    """What git's merge driver does (``folio merge-driver %O %A %B %P``): merge the three
    temporary files git names, write the result over ``ours_path``, and exit 0 when clean,
    1 with conflicts (git then reports the file as conflicted)."""
    base, ours, theirs = (Path(p).read_bytes() for p in (base_path, ours_path, theirs_path))
    result = merge(base or None, ours, theirs, path)
    _replace(Path(ours_path), result.data)
    if result.clean:
        return 0
    if result.conflicts:
        shown = ", ".join(result.conflicts[:5]) + (", ..." if len(result.conflicts) > 5 else "")
        n = len(result.conflicts)
        what = f"{n} path{'' if n == 1 else 's'} changed differently on both branches: {shown}"
    else:
        what = result.reason or "conflict"
    sys.stderr.write(f"folio: {path}: merge conflict: {what}\n".encode(
        "ascii", "backslashreplace").decode("ascii"))
    return 1


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` by rename, so a killed driver leaves the old file."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-merge-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
