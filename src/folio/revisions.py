"""Resolve what a user names (a snapshot tag, ``run:<id>``, a git revision) to manifests.

Resolution order, shared by checkout and diff (docs/snapshots.md, "Naming a version"):
``run:<id>`` is the run ref ``refs/folio/runs/<id>``; otherwise a snapshot tag
``refs/folio/snapshots/<name>``; otherwise a git revision, whose manifests are the
``.folio/manifests`` subtree of that commit (or the whole tree, when the commit is itself a
folio snapshot or run commit, named by sha or full ref). A manifest set that would make
checkout write outside the data (a target inside ``.folio``, overlapping targets) is refused.

A revision's manifests are parsed whole, unless resolved ``lazy``: then they are a
:class:`ManifestTree`, which knows the targets from the git tree's file names alone and
parses a target only when asked; :meth:`ManifestTree.locate` finds one path reading only
the manifest files that can hold it (the target it lies in; of a sharded one, the shard
whose range covers it), so ``folio cat v1:PATH`` costs one shard, not the whole version.

Ranges (``folio diff``): ``A..B`` is A and B; ``A...B`` is the merge base of A and B, and B.
An empty side is ``HEAD``, as in git. A snapshot or run stands in history for its code commit
(``Folio-Code-Commit``), so ``v1...v2`` is what the code line of v2 changed since it forked
from that of v1 (docs/snapshots.md, "Ranges").
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from folio import manifest as mf
from folio.errors import ManifestError, UnknownRevisionError
from folio.git.names import is_valid_ref_component
from folio.git.repo import (
    MANIFESTS_PREFIX,
    RUNS_PREFIX,
    SNAPSHOTS_PREFIX,
    TRAILER_CODE_COMMIT,
    TRAILER_KIND,
)
from folio.manifest import Entry, Manifest
from folio.paths import RESERVED, is_within

if TYPE_CHECKING:
    from folio.git.repo import GitRepo

RUN_PREFIX = "run:"


@dataclass
class Side:
    """One side of a diff or the source of a checkout: a named set of manifests."""

    kind: str  # "snapshot", "run", "commit", "merge-base", "manifests" (working), "worktree"
    name: str | None  # the tag, run id or revision as typed; None for working sides
    commit: str | None = None
    manifests: Mapping[str, Manifest] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.kind == "snapshot":
            return f"snapshot {self.name}"
        if self.kind == "run":
            return f"run {self.name}"
        if self.kind == "commit":
            short = self.commit[:7] if self.commit else "none"
            return self.name if self.name and self.name.startswith(short) else \
                f"{self.name} ({short})"
        if self.kind == "merge-base":
            a, _, b = (self.name or "").partition("...")
            return f"the merge base of {a} and {b} ({(self.commit or '')[:7]})"
        if self.kind == "manifests":
            return "the working manifests"
        return "the working tree"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "commit": self.commit}


def resolve(git: GitRepo, spec: str, *, lazy: bool = False) -> Side:
    """The manifests that ``spec`` names (see the module docstring for the order); with
    ``lazy`` a :class:`ManifestTree` (only the tree's names checked), else every one parsed."""
    if spec.startswith(RUN_PREFIX):
        run_id = spec[len(RUN_PREFIX):]
        sha = git.ref_target(RUNS_PREFIX + run_id) if is_valid_ref_component(run_id) else None
        if sha is None:
            raise UnknownRevisionError(f"no run {run_id!r} (no ref {RUNS_PREFIX}{run_id})")
        return _folio_commit(git, "run", run_id, sha, lazy)
    if is_valid_ref_component(spec):
        sha = git.ref_target(SNAPSHOTS_PREFIX + spec)
        if sha is not None:
            return _folio_commit(git, "snapshot", spec, sha, lazy)
    try:
        sha = git.resolve_commit(spec)
    except UnknownRevisionError:
        hint = "; to name paths, put them after --" if os.path.lexists(spec) else ""
        raise UnknownRevisionError(
            f"unknown revision {spec!r}: not a snapshot tag, a run or a git revision"
            f"{hint}") from None
    if TRAILER_KIND in git.read_commit(sha).trailers:  # a snapshot or run commit by sha
        return _folio_commit(git, "commit", spec, sha, lazy)
    return Side("commit", spec, sha, _manifests(git, sha, MANIFESTS_PREFIX,
                                                f"{spec}:{MANIFESTS_PREFIX}/", lazy))


@dataclass(frozen=True)
class Range:
    """``A..B`` (``merge_base`` False) or ``A...B``; empty sides already read as ``HEAD``."""

    a: str
    b: str
    merge_base: bool


def parse_range(spec: str) -> Range | None:
    """The range ``spec`` writes, or None when it is a single revision.

    No tag, run id or git ref name may contain ``..`` (git's ref name rules), so the dots
    are always the range's.
    """
    for dots in ("...", ".."):
        a, found, b = spec.partition(dots)
        if not found:
            continue
        if not a and not b:
            raise UnknownRevisionError(f"empty range {spec!r}: name A, B or both (A..B, A...B)")
        if ".." in a or ".." in b:
            raise UnknownRevisionError(f"invalid range {spec!r}: one '..' or '...' only")
        return Range(a or "HEAD", b or "HEAD", dots == "...")
    return None


def resolve_range(git: GitRepo, rng: Range) -> tuple[Side, Side]:
    """The two sides of a range: A (or the merge base of A and B) and B."""
    side_a, side_b = resolve(git, rng.a), resolve(git, rng.b)
    if not rng.merge_base:
        return side_a, side_b
    base = git.merge_base(code_commit(git, side_a), code_commit(git, side_b))
    if base is None:
        raise UnknownRevisionError(f"no merge base between {rng.a!r} and {rng.b!r}: "
                                   "their histories share no commit")
    files = git.read_tree_files(base, MANIFESTS_PREFIX)
    name = f"{rng.a}...{rng.b}"
    return Side("merge-base", name, base,
                parse_tree(files, f"{base[:7]}:{MANIFESTS_PREFIX}/")), side_b


def code_commit(git: GitRepo, side: Side) -> str:
    """The git commit ``side`` stands for in history: a snapshot's or run's code commit."""
    if side.commit is None:
        raise UnknownRevisionError(f"{side.label} is no commit: it has no merge base")
    trailers = git.read_commit(side.commit).trailers
    if TRAILER_KIND not in trailers:
        return side.commit
    code = trailers.get(TRAILER_CODE_COMMIT)
    if code is None:
        raise UnknownRevisionError(f"{side.label} records no code commit (it was taken on "
                                   "an unborn branch), so it has no merge base")
    return code


def _folio_commit(git: GitRepo, kind: str, name: str, sha: str, lazy: bool) -> Side:
    """A snapshot or run commit: its whole tree is the manifests tree."""
    return Side(kind, name, sha, _manifests(git, sha, "", f"{name}:", lazy))


def _manifests(git: GitRepo, sha: str, prefix: str, source: str, lazy: bool
               ) -> Mapping[str, Manifest]:
    """The manifests below ``prefix`` in commit ``sha``: lazily, or every one parsed."""
    if lazy:
        return ManifestTree(git.tree_files(sha, prefix), source)
    return parse_tree(git.read_tree_files(sha, prefix), source)


def parse_tree(files: Mapping[str, bytes], source: str) -> dict[str, Manifest]:
    """Every manifest in a tree of files keyed by path relative to the manifests root.

    ``source`` prefixes the paths in error messages (``baseline:data/raw.folio:3: ...``).
    Files that are neither main manifests nor shards (a README, say) are ignored.
    """
    return dict(ManifestTree(files, source).items())


class ManifestTree(Mapping[str, Manifest]):
    """The manifests of a tree of files (as :func:`parse_tree` reads them), each parsed
    only when asked for and then kept.

    The targets come from the file names, checked at once as :func:`parse_tree` checks
    them (none inside ``.folio`` or ``.git``, no two overlapping), so a refused tree is
    refused whatever is read from it. ``files`` may be lazy (:meth:`GitRepo.tree_files`):
    only the files a lookup needs are read.
    """

    def __init__(self, files: Mapping[str, bytes], source: str) -> None:
        self._files = files
        self._source = source
        self._mains: dict[str, str] = {}  # target -> its main file's path, sorted by target
        for rel in sorted(files):
            target = mf.target_of(rel)
            if target is None:
                continue
            if target.split("/", 1)[0].lower() in RESERVED:
                raise ManifestError(f"target {target!r} lies inside a folio or git directory",
                                    path=source + rel)
            self._mains[target] = rel
        check_no_overlap(self._mains, source)
        self._parsed: dict[str, Manifest] = {}

    def __getitem__(self, target: str) -> Manifest:
        found = self._main(target)
        if isinstance(found, Manifest):
            return found
        manifest = self._parsed[target] = found.manifest()
        return manifest

    def __iter__(self) -> Iterator[str]:
        return iter(self._mains)

    def __len__(self) -> int:
        return len(self._mains)

    def __contains__(self, target: object) -> bool:
        return target in self._mains

    def locate(self, path: str) -> Entry | bool:
        """The entry whose location is repo-relative ``path``; else True when entries lie
        below ``path`` (a directory), False when nothing is there. Reads the target that
        can hold ``path`` (of a sharded one, the shard whose range covers it), or, above
        the targets, those below ``path`` until one has an entry."""
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            target = "/".join(parts[:i])
            if target in self._mains:  # no other target can hold anything at ``path``
                return self._locate_in(target, path)
        below = [t for t in self._mains if t.startswith(path + "/")]
        return any(not self._empty(t) for t in below)

    def under(self, paths: Iterable[str]) -> dict[str, Manifest]:
        """The targets with entries at or below repo-relative ``paths``, each holding only
        those entries (a target a path covers comes whole), reading of a sharded target
        that a path lies inside only the shards whose range can hold them."""
        out: dict[str, Manifest] = {}
        for path in paths:
            for target in self._mains:
                if is_within(target, path):
                    out[target] = self[target]
                elif is_within(path, target):
                    part = self._entries_at_or_below(target, path[len(target) + 1:])
                    if part:
                        kept = out.setdefault(target, Manifest(target, "dir"))
                        kept.entries.update(part)
        return dict(sorted(out.items()))

    def _entries_at_or_below(self, target: str, rel: str) -> dict[str, Entry]:
        """The entries of directory target ``target`` at or below its relative ``rel``."""
        found = self._main(target)
        if isinstance(found, mf.ShardedManifest):
            entry = found.entry(rel)
            below = found.entries_under([rel + "/"])
            return {rel: entry, **below} if entry is not None else below
        if found.kind == "file":
            return {}
        return {p: e for p, e in found.entries.items() if is_within(p, rel)}

    def _locate_in(self, target: str, path: str) -> Entry | bool:
        """:meth:`locate` inside the one target at or above ``path``."""
        found = self._main(target)
        if isinstance(found, Manifest):
            if found.kind == "file":
                return next(iter(found.entries.values())) if path == target else False
            if path == target:
                return bool(found.entries)
            rel = path[len(target) + 1:]
            entry = found.entries.get(rel)
            if entry is not None:
                return entry
            return any(p.startswith(rel + "/") for p in found.entries)
        if path == target:
            return not found.is_empty()
        rel = path[len(target) + 1:]
        entry = found.entry(rel)
        return entry if entry is not None else bool(found.entries_under([rel + "/"]))

    def _empty(self, target: str) -> bool:
        """Whether ``target`` has no entry, reading as little of it as that takes."""
        found = self._main(target)
        return not found.entries if isinstance(found, Manifest) else found.is_empty()

    def _main(self, target: str) -> Manifest | mf.ShardedManifest:
        """A target's manifest as far as its main file gives it: whole (and kept) when it
        is unsharded or already parsed, else a sharded one's index (no shard read yet)."""
        manifest = self._parsed.get(target)
        if manifest is not None:
            return manifest
        rel = self._mains[target]
        try:
            data = self._files[rel]
        except KeyError:  # named by the tree, absent from git's objects (a broken clone)
            raise ManifestError("cannot be read: its blob is missing from git's objects",
                                path=self._source + rel) from None
        found = mf.parse_main(data, self._source + rel, self._files.__getitem__, target)
        if isinstance(found, Manifest):
            self._parsed[target] = found
        return found


def locate(manifests: Mapping[str, Manifest], path: str) -> Entry | bool:
    """The entry whose location is repo-relative ``path``; else True when entries lie
    below ``path`` (a directory), False when nothing is there. A :class:`ManifestTree`
    reads only the manifest files that can hold ``path``."""
    if isinstance(manifests, ManifestTree):
        return manifests.locate(path)
    entry = find_entry(manifests, path)
    if entry is not None:
        return entry
    return any(is_within(m.location(p), path) for m in manifests.values() for p in m.entries)


def find_entry(manifests: Mapping[str, Manifest], path: str) -> Entry | None:
    """The entry whose location is ``path``, looked up in the one target that can hold it."""
    if isinstance(manifests, ManifestTree):
        found = manifests.locate(path)
        return None if isinstance(found, bool) else found
    for target, manifest in manifests.items():
        if manifest.kind == "file":
            if target == path:
                return next(iter(manifest.entries.values()), None)
        elif path.startswith(target + "/"):
            return manifest.entries.get(path[len(target) + 1:])
    return None


def check_no_overlap(manifests: Iterable[str], source: str) -> None:
    """Refuse a set of targets (or of manifests by target) in which one lies inside
    another."""
    targets = set(manifests)
    for target in sorted(targets):
        parts = target.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in targets:
                raise ManifestError(f"targets {'/'.join(parts[:i])!r} and {target!r} overlap",
                                    path=source)
