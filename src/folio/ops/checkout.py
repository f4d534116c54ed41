"""``folio checkout``: make the working data match a set of manifests, touching only what differs.

Order (docs/snapshots.md, "Checkout"): plan everything and refuse (unknown paths, missing
objects, unsaved changes, a link mode that cannot work) before touching anything; then log
the content of overwritten unsaved files in the recovery log and put it into the store
(``--force``), one syncfs; then write the manifests; then delete, then write files (each
replaced atomically by materialize), then one syncfs of the work tree and the stat cache.
A checkout killed half-way leaves every file old or new and the manifests already naming the goal (a
removed target's manifest goes only after its files), so running ``folio checkout`` again
finishes it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat as statmod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio import manifest as mf
from folio._fs import syncfs
from folio.errors import (
    FolioError,
    ManifestError,
    PathError,
    UnsavedChangesError,
    summarize_paths,
)
from folio.hashing import parallel_map
from folio.manifest import Entry, Manifest
from folio.ops import recovery
from folio.ops.recheck import Recheck, checked_of
from folio.ops.recovery import RecoveryRecord
from folio.paths import check_link_targets, check_no_symlinked_parent, is_within
from folio.progress import NULL, Progress
from folio.revisions import Side, check_no_overlap
from folio.worktree.index import StatCache
from folio.worktree.materialize import (
    Checked,
    LinkMode,
    check_mode,
    materialize,
    materialize_symlink,
)
from folio.worktree.scan import FileState, is_executable, rehash, scan_target

if TYPE_CHECKING:
    from folio.workspace import Workspace


@dataclass
class CheckoutResult:
    """What a checkout did; paths are repo-relative."""

    source: str
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    saved: list[RecoveryRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # hash-only content not in the store
    replaced_added: list[RecoveryRecord] = field(default_factory=list)  # --force: logged
    kept: list[str] = field(default_factory=list)  # git switch: local edits it would replace
    not_fetched: list[str] = field(default_factory=list)  # git switch: objects not here
    manifests_changed: list[str] = field(default_factory=list)
    manifests_removed: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.skipped:
            out.append(f"{_files(self.skipped, 'hash-only file')} not restored (content "
                       "never stored, recorded by `folio add --no-copy`): "
                       f"{summarize_paths(self.skipped)}")
        if self.replaced_added:
            paths = [r.path for r in self.replaced_added]
            out.append(f"{_files(paths, 'added version')} replaced, never committed: kept in "
                       f"the recovery log (`folio recover` lists them): {summarize_paths(paths)}")
        if self.kept:
            out.append(f"{_files(self.kept)} with local changes kept, not switched: "
                       f"{summarize_paths(self.kept)}; `folio checkout --force -- PATH` takes "
                       "the branch's version (yours goes to the recovery log)")
        if self.not_fetched:
            out.append(f"{_files(self.not_fetched)} not switched, objects not in the local "
                       f"store: {summarize_paths(self.not_fetched)}; `folio pull` fetches "
                       "and checks them out")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "written": self.written, "deleted": self.deleted,
                "unchanged": self.unchanged, "saved": [r.to_json() for r in self.saved],
                "skipped": self.skipped,
                "replaced_added": [r.to_json() for r in self.replaced_added],
                "kept": self.kept, "not_fetched": self.not_fetched,
                "manifests_changed": self.manifests_changed,
                "manifests_removed": self.manifests_removed, "warnings": self.warnings}


@dataclass
class _Plan:
    writes: list[tuple[str, Entry]] = field(default_factory=list)
    chmods: list[tuple[str, Entry]] = field(default_factory=list)  # content right, x-bit not
    deletes: list[str] = field(default_factory=list)
    unsaved: list[str] = field(default_factory=list)
    unsaved_as: dict[str, tuple[str, int]] = field(default_factory=dict)  # sha256, size
    kept: list[str] = field(default_factory=list)  # git switch: unsaved edits left alone
    absent: list[str] = field(default_factory=list)  # git switch: objects not local, left
    checked: dict[str, Checked] = field(default_factory=dict)  # what each write/delete found
    missing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unchanged: int = 0
    # deleted location -> the directory above which nothing is pruned (None: prune nothing)
    prune_stop: dict[str, str | None] = field(default_factory=dict)
    want: dict[str, Entry] = field(default_factory=dict)  # every in-scope entry of the goal


def checkout(ws: Workspace, rev: str | None = None,
             paths: Sequence[str | os.PathLike[str]] | None = None, *, force: bool = False,
             link: str | None = None, progress: Progress = NULL, jobs: int | None = None,
             cwd: Path | None = None, previous: str | None = None) -> CheckoutResult:
    """Make the working data (at or below ``paths``) match ``rev``, or the working manifests.

    ``previous`` (a git revision) names the commit whose manifests a git checkout just
    replaced: data of targets it had and the new manifests lack is removed too.
    """
    side = Side("manifests", None) if rev is None else ws.resolve(rev)
    before = ws.resolve(previous).manifests if previous else None
    return checkout_side(ws, side, ws.scope(paths, cwd), force=force, link=link,
                         progress=progress, jobs=jobs, previous=before)


def checkout_side(ws: Workspace, side: Side, paths: Sequence[str] | None, *, force: bool,
                  link: str | None, progress: Progress = NULL, jobs: int | None = None,
                  previous: Mapping[str, Manifest] | None = None) -> CheckoutResult:
    """Make the data (at or below ``paths``, repo-relative) match ``side``'s manifests.

    ``previous``: the manifests git replaced (a git checkout or merge already moved
    ``.folio/manifests``): their targets that no working manifest names any more have their
    data removed, under the same unsaved-changes rule as any other removal.
    """
    mode = LinkMode(link or ws.config.link_mode)
    with ws.lock.hold():
        working = ws.manifests()
        current = dict(working)
        for target, manifest in (previous or {}).items():
            if not any(is_within(target, t) or is_within(t, target) for t in working):
                current[target] = manifest  # dropped by git: its files are still here
        wanted = working if side.kind == "manifests" else side.manifests
        if not wanted and side.kind != "manifests":
            raise FolioError(f"{side.label} has no folio manifests: nothing to check out")
        new = plan_manifests(current, wanted, paths, side.label)
        final = {t: m for t, m in current.items() if t not in new}
        final.update({t: m for t, m in new.items() if m is not None})
        check_no_overlap(final, side.label)
        cache = ws.stat_cache()
        was = _locations(previous.values()) if previous is not None else None
        plan = _plan_files(ws, current, new, paths, cache, progress, jobs, was, force)
        _check_planned_links(ws.root, plan, final, paths)
        if plan.missing:
            raise ws.store.missing(sorted(set(plan.missing)), side.label,
                                   pull_command(side, paths))
        if plan.unsaved and not force:
            n = len(plan.unsaved)
            raise UnsavedChangesError(
                f"{n} file{'s have' if n > 1 else ' has'} unsaved changes: "
                f"{summarize_paths(plan.unsaved)}; use --force", paths=plan.unsaved)
        added = [] if side.kind == "manifests" else _added_versions(ws, current, new, plan, paths)
        if added and not force:
            raise UnsavedChangesError(
                f"{_files([loc for loc, _ in added], 'added version')} never committed "
                f"would be replaced: {summarize_paths([loc for loc, _ in added])}; commit "
                "them first, or use --force: the added versions go to the recovery log",
                paths=[loc for loc, _ in added])
        if any(not e.is_link for _, e in plan.writes):
            check_mode(ws.store, ws.root, mode)
        result = CheckoutResult(side.label, unchanged=plan.unchanged, skipped=plan.skipped,
                                kept=plan.kept, not_fetched=plan.absent)
        result.replaced_added = _log_added(ws, added, side.label)  # logged before replacing
        result.saved = _save(ws, plan, side.label, jobs)  # logged and durable
        synced_before = _synced_before(ws, current, final, paths)
        removed = _write_manifests(ws, new, current, result)
        recheck = Recheck(ws, plan.checked, force=force, label=side.label)
        _delete(ws, plan, cache, recheck)
        for target in removed:
            _remove_manifest(ws, target)
            result.manifests_removed.append(target)
        _write(ws, plan.writes, mode, cache, progress, jobs, recheck)
        for loc, entry in plan.chmods:
            _set_executable(ws.root / loc, entry.executable)
        left = set(recheck.changed)
        result.written = [loc for loc, _ in plan.writes + plan.chmods if loc not in left]
        result.deleted = [loc for loc in plan.deletes if loc not in left]
        result.saved += recheck.saved
        if plan.writes or plan.deletes or plan.chmods:
            syncfs(ws.root)
        _record_synced(ws, _as_left(final, plan.absent, was), paths, synced_before)
        cache.save()
        recheck.raise_if_changed()
    return result


def pull_command(side: Side, paths: Sequence[str] | None = None) -> str:
    """The ``folio pull`` that brings ``side``'s objects (a bare one fetches only the
    working manifests'), with the paths when only those are wanted."""
    rev = "" if side.kind in ("manifests", "worktree") else f" {side.name}"
    if side.kind == "run":
        rev = f" run:{side.name}"
    where = f" -- {' '.join(shlex.quote(p) for p in paths)}" if paths else ""
    return f"folio pull{rev}{where}"


def _files(paths: Sequence[str], noun: str = "file") -> str:
    return f"{len(paths)} {noun}{'s' if len(paths) != 1 else ''}"


def _locations(manifests: Iterable[Manifest]) -> dict[str, Entry]:
    """Every entry of ``manifests`` by its repo-relative location."""
    return {m.location(e.path): e for m in manifests for e in m.entries.values()}


def _as_left(final: dict[str, Manifest], absent: Sequence[str],
             was: Mapping[str, Entry] | None) -> dict[str, Manifest]:
    """``final``, but what the data of ``absent`` locations still matches (the entry git
    replaced): status then calls them out of date, and add never records them back."""
    if not absent or was is None:
        return final
    out = dict(final)
    for loc in absent:
        for target, m in out.items():
            if not is_within(loc, target):
                continue
            rel = loc[len(m.root) + 1:] if m.root else loc
            entries = dict(m.entries)
            old = was.get(loc)
            if old is None:
                entries.pop(rel, None)
            else:
                entries[rel] = old
            out[target] = Manifest(m.target, m.kind, entries)
    return out


def _in_scope(target: str, paths: Sequence[str] | None) -> bool:
    return paths is None or any(is_within(target, p) or is_within(p, target) for p in paths)


def _synced_before(ws: Workspace, current: dict[str, Manifest], final: dict[str, Manifest],
                   paths: Sequence[str] | None) -> dict[str, Manifest | None]:
    """For each target this checkout covers only in part, what its data outside ``paths``
    matches (the synced manifest, or the working one; None: unknown), read before the
    new manifests are written."""
    out: dict[str, Manifest | None] = {}
    for target in final:
        if paths is None or not _in_scope(target, paths) or any(
                is_within(target, p) for p in paths):
            continue
        known, base = ws.synced_base(target)
        out[target] = base if base is not None else (current.get(target) if known else None)
    return out


def _record_synced(ws: Workspace, final: dict[str, Manifest], paths: Sequence[str] | None,
                   before: dict[str, Manifest | None]) -> None:
    """The data of every target in scope now matches its manifest (within ``paths``):
    that is the synced manifest status and add compare with (folio.worktree.synced)."""
    for target, manifest in final.items():
        if not _in_scope(target, paths):
            continue
        if target in before:
            ws.set_synced(manifest, paths, before[target])
        else:
            ws.set_synced(manifest)


# -- which manifests --------------------------------------------------------------------------

def plan_manifests(current: Mapping[str, Manifest], wanted: Mapping[str, Manifest],
                   paths: Sequence[str] | None, label: str) -> dict[str, Manifest | None]:
    """The manifests to write (None: remove the target), for every target checkout touches.

    Without paths that is every target of ``wanted``, and removal of the others. With paths,
    a target a path covers whole is taken from ``wanted``; one a path lies inside is the
    working manifest with the entries under that path taken from ``wanted``.
    """
    if paths is None:
        out: dict[str, Manifest | None] = dict(wanted)
        out.update({t: None for t in current if t not in wanted})
        return out
    _check_paths_match(current, wanted, paths, label)
    out = {}
    for target in sorted(set(current) | set(wanted)):
        if any(is_within(target, p) for p in paths):
            out[target] = wanted.get(target)
            continue
        inside = [p for p in paths if is_within(p, target)]
        if not inside:
            continue
        base, source = current.get(target), wanted.get(target)
        shell = base or source
        assert shell is not None
        merged = Manifest(target, shell.kind)
        for m, keep_inside in ((base, False), (source, True)):
            if m is None:
                continue
            for entry in m.entries.values():
                under = any(is_within(m.location(entry.path), p) for p in inside)
                if under == keep_inside:
                    merged.entries[entry.path] = entry
        out[target] = merged
    return out


def _check_paths_match(current: Mapping[str, Manifest], wanted: Mapping[str, Manifest],
                       paths: Sequence[str], label: str) -> None:
    for path in paths:
        if any(is_within(t, path) for t in (*current, *wanted)):
            continue
        for m in (*current.values(), *wanted.values()):
            if is_within(path, m.target) and any(
                    is_within(m.location(e), path) for e in m.entries):
                break
        else:
            raise PathError(f"matches no tracked file in {label} or the working manifests",
                            path=path)


# -- which files ------------------------------------------------------------------------------

def _plan_files(ws: Workspace, current: dict[str, Manifest], new: dict[str, Manifest | None],
                paths: Sequence[str] | None, cache: StatCache, progress: Progress,
                jobs: int | None, was: Mapping[str, Entry] | None = None,
                force: bool = False) -> _Plan:
    """What to write, delete and save. ``was`` (a git switch: the entries of the commit git
    moved away from) makes it git's: a file whose entry the switch leaves as it was is left
    alone, and without ``force`` a file it changes that holds unsaved edits is kept, as is
    one whose object is not here; the rest is checked out."""
    def in_scope(loc: str) -> bool:
        return paths is None or any(is_within(loc, p) for p in paths)

    want: dict[str, Entry] = {}
    for m in new.values():
        if m is not None:
            for wanted in m.entries.values():
                loc = m.location(wanted.path)
                if in_scope(loc):
                    want[loc] = wanted
    _check_wanted(want)
    have: dict[str, FileState] = {}
    plan = _Plan(want=want)
    scanned: set[tuple[str, str]] = set()
    for target, target_new in new.items():
        for m in (current.get(target), target_new):
            if m is None or (m.kind, m.target) in scanned:
                continue
            scanned.add((m.kind, m.target))
            # Prune emptied directories below a directory target (its root too if it goes).
            stop = None if m.kind == "file" else (
                os.path.dirname(m.target) if target_new is None else m.target)
            debris: list[str] = []
            for rel, found in scan_target(ws.root, m, ws.store.root, debris).items():
                loc = m.location(rel)
                if in_scope(loc):
                    have[loc] = found
                    plan.prune_stop[loc] = stop
            for rel in debris:  # staging files of a killed checkout: never content
                loc = m.location(rel)
                if in_scope(loc) and loc not in plan.prune_stop:
                    plan.deletes.append(loc)
                    plan.prune_stop[loc] = stop
    hashes = _current_hashes(ws, have, cache, progress, jobs)
    store = ws.store
    for loc in sorted(want.keys() | have.keys()):
        entry, state = want.get(loc), have.get(loc)
        if was is not None and _same_version(was.get(loc), entry):
            if state is not None and entry is not None and _same(entry, state, hashes.get(loc)):
                plan.unchanged += 1
            continue  # the switch does not touch it: local edits (or their absence) stay
        sha = hashes.get(loc)
        unsaved = state is not None and state.link is None and (sha is None or
                                                                 not store.has(sha))
        if was is not None and unsaved and not force and not (
                entry is not None and state is not None and _same(entry, state, sha)):
            plan.kept.append(loc)
            continue
        if entry is not None:
            if state is not None and _same(entry, state, hashes.get(loc)):
                if entry.is_link or entry.executable == is_executable(state.st):
                    plan.unchanged += 1
                    continue
                if state.oid is None and state.st.st_nlink == 1:
                    plan.chmods.append((loc, entry))  # same bytes: fix the mode in place
                    continue
                # otherwise the file is the store's own inode: copy it (below), never chmod
            if not entry.is_link and not store.has(entry.sha256):  # type: ignore[arg-type]
                if entry.stored and was is not None:
                    plan.absent.append(loc)  # a git switch checks out what it can
                elif entry.stored:
                    plan.missing.append(entry.sha256)  # type: ignore[arg-type]
                else:
                    plan.skipped.append(loc)  # cannot restore: leave the working file alone
                continue
            plan.writes.append((loc, entry))
        else:
            plan.deletes.append(loc)
        plan.checked[loc] = checked_of(state)
        if unsaved and state is not None:
            plan.unsaved.append(loc)
            if sha is not None:
                plan.unsaved_as[loc] = (sha, state.st.st_size)
    return plan


def _same_version(a: Entry | None, b: Entry | None) -> bool:
    """The same file in two manifests: content, link and mode (size and meta follow)."""
    if a is None or b is None:
        return a is b
    return (a.sha256, a.link, a.executable, a.stored) == (b.sha256, b.link, b.executable,
                                                           b.stored)


def _current_hashes(ws: Workspace, have: dict[str, FileState], cache: StatCache,
                    progress: Progress, jobs: int | None) -> dict[str, str]:
    """sha256 of every regular working file: the stat cache, else one parallel rehash."""
    known: dict[str, str] = {}
    todo: list[str] = []
    for loc, state in have.items():
        if state.oid is not None:
            known[loc] = state.oid
        elif state.link is None:
            sha = cache.lookup(loc, state.st)
            if sha is None:
                todo.append(loc)
            else:
                known[loc] = sha

    got = rehash(ws.store, ws.root, todo, cache, progress, jobs, "Hashing changed files")
    known.update((loc, result[0]) for loc, result in got.items())
    return known


def _same(entry: Entry, state: FileState, sha: str | None) -> bool:
    if entry.is_link:
        return state.link == entry.link
    return state.link is None and sha == entry.sha256


def _check_wanted(want: Mapping[str, Entry]) -> None:
    """Refuse a file listed below another entry: under a link of the same manifest
    (``d -> .`` and ``d/pwned``), it would be written wherever the link leads."""
    for loc in want:
        parts = loc.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in want:
                raise ManifestError(f"{'/'.join(parts[:i])!r} is listed both as a file and "
                                    "as a directory", path=loc)


def _check_planned_links(root: Path, plan: _Plan, final: Mapping[str, Manifest],
                         paths: Sequence[str] | None) -> None:
    """Refuse the checkout if a link would resolve outside the repo or into .git/.folio.

    Resolved over the tree as it will be (docs/linking.md): the goal's links and files,
    the paths the plan deletes gone, the disk for the rest. With paths, the links of
    every tracked target out of scope are checked too: a new link can change where an
    old one leads (``d -> .`` under ``e -> d/../..``). Nor may a file be written below
    a symlinked directory that stays.
    """
    planned: dict[str, str | None] = {loc: e.link for loc, e in plan.want.items()}
    for loc in plan.skipped:
        del planned[loc]  # not restored: the working file stays as it is
    planned.update(dict.fromkeys(plan.deletes))
    links = {loc: link for loc, link in planned.items() if link is not None}
    if paths is not None:
        links.update(_links_out_of_scope(root, final, plan.want))
    check_link_targets(root, links, planned)
    safe: set[str] = set()
    gone = set(plan.deletes)
    for loc, _ in plan.writes:  # refused now, not half-way through writing (checked again then)
        check_no_symlinked_parent(root, loc, safe, gone)


def _links_out_of_scope(root: Path, final: Mapping[str, Manifest],
                        want: Mapping[str, Entry]) -> dict[str, str]:
    """Tracked links checkout leaves alone that are links on disk now."""
    out = {}
    for m in final.values():
        for entry in m.entries.values():
            if entry.link is None:
                continue
            loc = m.location(entry.path)
            if loc not in want and os.path.islink(root / loc):
                out[loc] = os.readlink(root / loc)
    return out


def check_manifest_links(root: Path, manifests: Iterable[Manifest]) -> None:
    """Refuse manifests whose links would resolve outside the repo or into .git/.folio
    once checked out here (import checks a snapshot with this before writing it)."""
    want = {m.location(e.path): e for m in manifests for e in m.entries.values()}
    _check_wanted(want)
    planned = {loc: e.link for loc, e in want.items()}
    check_link_targets(root, {loc: e.link for loc, e in want.items() if e.link is not None},
                       planned)


# -- added versions: content that only the working manifests name ---------------------------

def _added_versions(ws: Workspace, current: Mapping[str, Manifest],
                    new: Mapping[str, Manifest | None], plan: _Plan,
                    paths: Sequence[str] | None) -> list[tuple[str, Entry]]:
    """The working entries this checkout replaces whose content no commit (HEAD's for that
    path, any reachable one), staged manifest, snapshot, run or recovery line holds: added
    with ``folio add``, never committed. Replaced, only gc would see them, and delete them."""
    replaced = []
    for target in new:
        m = current.get(target)
        for entry in (m.entries.values() if m is not None else ()):
            loc = m.location(entry.path)  # type: ignore[union-attr]
            goal = plan.want.get(loc)
            if entry.sha256 is None or not entry.stored or not _in_scope(loc, paths) or (
                    goal is not None and goal.sha256 == entry.sha256):
                continue
            if ws.store.has(entry.sha256):  # else there is nothing here to lose
                replaced.append((loc, entry))
    if not replaced:
        return []
    head = _head_locations(ws)
    replaced = [(loc, e) for loc, e in replaced if head.get(loc) != e.sha256]
    if not replaced:
        return []
    held = _held_oids(ws)
    return [(loc, e) for loc, e in replaced if e.sha256 not in held]


def _head_locations(ws: Workspace) -> dict[str, str | None]:
    """sha256 of every entry of HEAD's manifests by location ({} unborn or unreadable)."""
    from folio.git.repo import MANIFESTS_PREFIX
    from folio.revisions import parse_tree

    head = ws.git.head_commit()
    if head is None:
        return {}
    try:
        files = ws.git.read_tree_files(head, MANIFESTS_PREFIX)
        manifests = parse_tree(files, f"HEAD:{MANIFESTS_PREFIX}/")
    except FolioError:
        return {}  # the wider scan below still counts what HEAD names
    return {loc: e.sha256 for loc, e in _locations(manifests.values()).items()}


def _held_oids(ws: Workspace) -> set[str]:
    """Every sha256 a commit reachable from any ref, the index, a snapshot, a run or the
    recovery log names (read leniently, as gc reads them)."""
    from folio.ops.roots import blob_oids

    held: set[str] = set()
    for _, data in ws.git.reachable_manifest_blobs():
        held.update(blob_oids(data))
    held.update(recovery.oids(ws.local_dir))
    return held


def _log_added(ws: Workspace, added: Sequence[tuple[str, Entry]],
               label: str) -> list[RecoveryRecord]:
    """``--force``: name the replaced added versions in the recovery log (gc roots) before
    the manifests that held them are rewritten; their content is in the store already."""
    when = recovery.now()
    records = [RecoveryRecord(when, loc, e.sha256, e.size,  # type: ignore[arg-type]
                              f"checkout {label}: added version replaced")
               for loc, e in added]
    recovery.append(ws.local_dir, records)
    return records


# -- doing it -----------------------------------------------------------------------------------

def _save(ws: Workspace, plan: _Plan, label: str, jobs: int | None) -> list[RecoveryRecord]:
    """Store and log the content checkout is about to overwrite or delete that the store lacks.

    The log lines go first, naming the hashes found while planning: a checkout killed
    after storing the content but before logging it would leave the only copy of the
    user's edit named by nothing, and gc would delete it (a rerun sees the content stored,
    so not unsaved, and overwrites it without a line). Killed after logging but before
    storing, the line names missing content, but no file has been touched yet.
    """
    if not plan.unsaved:
        return []
    writes = {loc for loc, _ in plan.writes}
    when = recovery.now()

    def record(loc: str, sha: str, size: int) -> RecoveryRecord:
        verb = "overwritten" if loc in writes else "deleted"
        return RecoveryRecord(when, loc, sha, size, f"checkout {label}: {verb}")

    intended = [record(loc, *plan.unsaved_as[loc]) for loc in plan.unsaved
                if loc in plan.unsaved_as]
    recovery.append(ws.local_dir, intended)

    def put(loc: str) -> tuple[str, int, os.stat_result] | None:
        try:
            return ws.store.put_file_stat(ws.root / loc, store_copy=True)
        except FileNotFoundError:
            return None  # removed meanwhile: nothing left to save

    records = []
    for loc, saved in zip(plan.unsaved, parallel_map(put, plan.unsaved, jobs), strict=True):
        if saved is not None:
            records.append(record(loc, saved[0], saved[1]))
    ws.store.sync()  # the saved content is durable before anything is overwritten
    # Content that changed since planning was stored under another hash: log that one too.
    recovery.append(ws.local_dir, [r for r in records if r not in intended])
    return records


def _write_manifests(ws: Workspace, new: dict[str, Manifest | None],
                     current: dict[str, Manifest], result: CheckoutResult) -> list[str]:
    """Write the new manifests; return the targets whose manifests go once their files have.

    A target's manifest is what lets a rerun find its files: removed before them, a killed
    checkout would leave them untracked, never deleted. One that overlaps a new target goes
    first instead, since two overlapping manifests on disk make the repository unreadable.
    """
    written = [t for t, m in new.items() if m is not None]
    later = []
    for target in sorted(t for t, m in new.items() if m is None):
        if any(is_within(t, target) or is_within(target, t) for t in written):
            _remove_manifest(ws, target)
            result.manifests_removed.append(target)
        else:
            later.append(target)
    for target in sorted(written):
        if ws.write_manifest(new[target]):  # type: ignore[arg-type]
            result.manifests_changed.append(target)
    added = [t for t, m in new.items() if m is not None and t not in current]
    if added:
        ws.ignore_in_git(sorted(added))
    return later


def _remove_manifest(ws: Workspace, target: str) -> None:
    main = ws.manifest_path(target)
    main.unlink(missing_ok=True)
    shards = ws.manifests_dir / (target + mf.SHARD_DIR_SUFFIX)
    if shards.is_dir():
        shutil.rmtree(shards)
    _prune(main.parent, ws.manifests_dir)


def _prune(directory: Path, stop: Path) -> None:
    """Remove ``directory`` and its parents while empty, never ``stop`` or above it."""
    while directory != stop and is_within(directory.as_posix(), stop.as_posix()):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def _delete(ws: Workspace, plan: _Plan, cache: StatCache, recheck: Recheck) -> None:
    dirs: set[tuple[str, str]] = set()
    for loc in plan.deletes:
        if not recheck.delete(loc):
            continue
        cache.forget_under(loc)
        stop = plan.prune_stop.get(loc)
        if stop is not None:
            dirs.add((os.path.dirname(loc), stop))
    for directory, stop in sorted(dirs, key=lambda d: -d[0].count("/")):
        _prune(ws.root / directory, ws.root / stop)


def _write(ws: Workspace, writes: list[tuple[str, Entry]], mode: LinkMode, cache: StatCache,
           progress: Progress, jobs: int | None, recheck: Recheck) -> None:
    safe: set[str] = set()
    for loc, _ in writes:
        check_no_symlinked_parent(ws.root, loc, safe)
    files = [(loc, e) for loc, e in writes if not e.is_link]
    progress.start("Checking out", len(writes))
    try:
        def put(item: tuple[str, Entry]) -> None:
            loc, entry = item
            recheck.touch(loc, lambda checked: materialize(
                ws.store, entry.sha256, ws.root / loc, mode,  # type: ignore[arg-type]
                executable=entry.executable, checked=checked))
            progress.advance()

        def put_link(loc: str, target: str) -> None:
            recheck.touch(loc, lambda checked: materialize_symlink(ws.root / loc, target,
                                                                   checked=checked))
            progress.advance()

        list(parallel_map(put, files, jobs))
        for loc, entry in writes:
            if entry.is_link:
                put_link(loc, entry.link)  # type: ignore[arg-type]
    finally:
        progress.finish()
    left = set(recheck.changed)
    for loc, entry in files:
        if loc in left:
            continue
        try:
            st = os.stat(ws.root / loc)
        except OSError:
            continue
        cache.record(loc, st, entry.sha256)  # type: ignore[arg-type]


def _set_executable(path: Path, executable: bool) -> None:
    """chmod u+x (and g/o+x where readable), or remove every x bit, as git does."""
    st = os.stat(path)
    mode = statmod.S_IMODE(st.st_mode)
    if executable:
        mode |= (mode & 0o444) >> 2
    else:
        mode &= ~0o111
    os.chmod(path, mode)
