"""Tracking: ``add``, ``untrack``, ``status`` and ``ls``, and the one pipeline behind them.

Every write of working data into manifests (``add``, ``snapshot``, ``capture``, a bundle's
commit) goes through :func:`record`, and every comparison of working data with manifests
(``status``, a bundle's ``status``) through :func:`status`. Each tries, target by target,
the directory-by-directory shortcut of :mod:`folio.ops.marked` under the target's clean mark
and falls back to a full scan with the stat cache; the two share the file loop
(:func:`folio.worktree.scan.put_files`) and the rules, so they give the same manifests, the
same marks and the same stat-cache rows (docs/concepts.md, "Status and the stat cache").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from folio import manifest as mf
from folio.errors import ManifestError, PathError, summarize_paths
from folio.manifest import Entry, Manifest
from folio.ops import marked
from folio.paths import is_within, repo_relative
from folio.progress import NULL, Progress
from folio.worktree import marks
from folio.worktree.index import StatCache
from folio.worktree.marks import CleanMarks
from folio.worktree.scan import (
    FileState,
    TargetStatus,
    compare,
    compare_entries,
    current_hashes,
    entry_for,
    put_files,
    rehash,
    same_content,
    scan_target,
    wants_summary,
    with_summaries,
)

if TYPE_CHECKING:
    from folio.workspace import Workspace


@dataclass
class AddResult:
    """What ``add`` did to one target."""

    target: str
    files: int
    bytes: int
    hashed: int
    changed: bool
    manifest: str
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # Entries git changed under data that stayed (or whose data never arrived here): kept
    # as the manifest has them, never recorded back; ``folio checkout`` brings their data.
    out_of_date: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"target": self.target, "files": self.files, "bytes": self.bytes,
                "hashed": self.hashed, "changed": self.changed, "manifest": self.manifest,
                "added": len(self.added), "modified": len(self.modified),
                "deleted": len(self.deleted), "out_of_date": self.out_of_date}


# -- the verbs ----------------------------------------------------------------------------------
def add(ws: Workspace, paths: Sequence[str | os.PathLike[str]], *, store_copy: bool = True,
        progress: Progress = NULL, jobs: int | None = None,
        cwd: Path | None = None) -> list[AddResult]:
    """Track files or directories: store their content and write their manifests."""
    targets = ws.resolve_paths(paths, cwd)
    _refuse_git_tracked(ws, targets)
    with ws.lock.hold():
        ws.check_overlaps(targets, ws.targets())
        results = record(ws, targets, store_copy, progress, jobs)
        ws.ignore_in_git(targets)
    return results


def _refuse_git_tracked(ws: Workspace, targets: list[str]) -> None:
    """Data git already tracks would be in git and in folio at once, and the .gitignore
    line folio adds would not stop git from committing it again: say how to hand it over
    (as DVC does)."""
    from folio.git.plumbing import tracked_below

    in_git = tracked_below(ws.root, targets, head=False)
    if in_git:
        first = in_git[0]
        raise PathError(f"is tracked by git; hand it over to folio with `git rm -r --cached "
                        f"{first}` then `folio add {first}` (the files stay)", path=first)


def refuse_unmerged(ws: Workspace) -> None:
    """A merge git left unresolved in the manifests (a file changed on one side and deleted
    on the other, a conflict not staged yet) may still parse, as either side: refuse to
    read or record data against it until it is resolved."""
    from folio.git.plumbing import unmerged_below

    left = unmerged_below(ws.root, ws.display(ws.manifests_dir))
    if left:
        raise ManifestError(f"has unresolved merge conflicts in git ({summarize_paths(left)}); "
                            "resolve them (`git status` lists them), `git add` the result, "
                            "then run folio again", path=ws.display(ws.manifests_dir))


def untrack(ws: Workspace, paths: Sequence[str | os.PathLike[str]],
            cwd: Path | None = None) -> list[str]:
    """Stop tracking targets: remove their manifests and .gitignore lines, keep the data.

    Resumable: each target's main manifest file goes first (untracked from then on),
    then its shards, then the .gitignore lines; naming again a target an untrack killed
    half-way (shards or its line left) finishes it.
    """
    with ws.lock.hold():
        tracked = set(ws.targets())
        chosen = _untrack_targets(ws, paths, cwd, tracked)
        for target in chosen:
            if target in tracked:
                ws.remove_manifest(target)
            else:
                ws.remove_shards(target)
                ws.synced().drop(target)
        ws.unignore_in_git(chosen)
    return chosen


def ls(ws: Workspace, paths: Sequence[str | os.PathLike[str]] | None = None,
       cwd: Path | None = None) -> list[tuple[Manifest, Entry]]:
    """Entries recorded in the working manifests, at or below the given paths."""
    wanted = ws.resolve_paths(paths, cwd) if paths else None
    out = []
    for target in ws.select_targets(paths, cwd):
        manifest = ws.read_manifest(target)
        for entry in manifest.sorted_entries():
            loc = manifest.location(entry.path)
            if wanted is None or any(is_within(loc, w) for w in wanted):
                out.append((manifest, entry))
    return out


def status(ws: Workspace, targets: Sequence[str | os.PathLike[str]] | None = None,
           jobs: int | None = None, cwd: Path | None = None) -> list[TargetStatus]:
    """Added / modified / deleted per target; rehashes only what the cache can't vouch for."""
    chosen = ws.select_targets(targets, cwd)
    refuse_unmerged(ws)
    ws.store.root  # noqa: B018  a core.store not accepted here is refused even when no file is read
    clean_marks = ws.clean_marks()
    cache = marked.LazyCache(ws)
    results = []
    for target in chosen:
        seen = marked.look(ws, target, clean_marks.get(target))
        done = marked.status(ws, seen, cache, jobs) if seen is not None else None
        if done is None:
            result, clean, mark = _status_full(ws, target, cache.get(), jobs)
            results.append(result)
            if clean:  # a mark only for files just proven to match an unmoved manifest
                clean_marks.set(target, mark)
            continue
        results.append(done[0])
        clean_marks.set(target, done[1])
    if (cache.loaded is not None and cache.loaded.dirty) or clean_marks.dirty:
        ws.save_if_free(cache.loaded, clean_marks)
    return results


# -- the pipeline -------------------------------------------------------------------------------
def record(ws: Workspace, targets: list[str], store_copy: bool | None, progress: Progress,
           jobs: int | None) -> list[AddResult]:
    """Scan, hash, store and write manifests for ``targets`` (lock held).

    A target whose clean mark still holds is brought up to date directory by directory
    (:mod:`folio.ops.marked`); the others are compared in full, with the stat cache.
    ``store_copy`` None keeps each target as it is: hash-only if any entry is.
    """
    refuse_unmerged(ws)
    existing = set(ws.targets())
    clean_marks = ws.clean_marks()
    cache = marked.LazyCache(ws)
    results: dict[str, AddResult] = {}
    rest = []
    for target in targets:
        mark = clean_marks.get(target) if target in existing else None
        copy = store_copy if store_copy is not None or mark is None else mark.stored
        seen = marked.look(ws, target, mark) if copy is not None else None
        done = None if seen is None or copy is None else \
            marked.record(ws, seen, copy, cache, progress, jobs)
        if done is None:
            rest.append(target)
        else:
            got, status = done[0], done[0].status
            results[target] = AddResult(target, got.files, got.bytes, got.hashed, got.changed,
                                        got.manifest, status.added, status.modified,
                                        status.deleted)
            clean_marks.set(target, done[1])
    if rest:
        old = {t: ws.read_manifest(t) if t in existing else None for t in rest}
        groups: dict[bool, list[str]] = {}
        for target in rest:
            previous = old[target]
            copy = store_copy if store_copy is not None else (
                previous is None or mf.all_stored(previous.entries.values()))
            groups.setdefault(copy, []).append(target)
        for copy, group in groups.items():
            for result in _record_full(ws, group, old, cache.get(), copy, progress, jobs,
                                       clean_marks):
                results[result.target] = result
    if cache.loaded is not None:
        cache.loaded.save()
    clean_marks.save(ws.targets())
    return [results[t] for t in targets]


def _record_full(ws: Workspace, targets: list[str], old: dict[str, Manifest | None],
                 cache: StatCache, store_copy: bool, progress: Progress,
                 jobs: int | None, clean_marks: CleanMarks) -> list[AddResult]:
    """Scan, hash, store and write manifests for ``targets`` in full."""
    scans: dict[str, tuple[Manifest, dict[str, FileState]]] = {}
    work: dict[str, list[str]] = {}  # target -> the files of it to read
    trusted_before = marks.trust_limit()
    for target in targets:
        absolute = ws.root / target
        kind = "dir" if absolute.is_dir() and not absolute.is_symlink() else "file"
        shell = Manifest(target, kind)
        files = scan_target(ws.root, shell, ws.store.root)
        if kind == "file" and not files:
            raise PathError("does not exist", path=target)
        scans[target] = (shell, files)
        previous = old.get(target)
        prefix = shell.root + "/" if shell.root else ""
        todo = work[target] = []
        for rel, state in files.items():
            if state.link is not None or state.oid is not None:
                continue  # a link, or a symlink into the store: nothing to read
            sha = cache.lookup(prefix + rel, state.st)
            if sha is not None and previous is not None and (
                    not store_copy or ws.store.has(sha)):
                continue
            todo.append(rel)
    hashed = _put_all(ws, work, cache, scans, store_copy, progress, jobs)
    work.clear()
    ws.store.sync()  # durable before any manifest names the objects
    results = []
    for target in targets:
        shell, files = scans.pop(target)
        result, mark = _write_target(ws, target, shell, files, old.get(target),
                                     hashed.pop(target, {}), cache, store_copy, trusted_before,
                                     jobs)
        results.append(result)
        clean_marks.set(target, mark)
    return results


def _put_all(ws: Workspace, work: dict[str, list[str]], cache: StatCache,
             scans: dict[str, tuple[Manifest, dict[str, FileState]]], store_copy: bool,
             progress: Progress, jobs: int | None) -> dict[str, dict[str, str]]:
    """Read every file of ``work`` in one parallel pass, across targets."""
    flat = [(target, rel) for target, rels in work.items() for rel in rels]
    located = [scans[t][0].location(rel) for t, rel in flat]
    out: dict[str, dict[str, str]] = {t: {} for t in work}
    for (target, rel), (loc, (oid, _, st)) in zip(
            flat, put_files(ws.store, ws.root, located, store_copy=store_copy,
                            progress=progress, jobs=jobs), strict=True):
        out[target][rel] = oid
        cache.record(loc, st, oid)
        scans[target][1][rel] = FileState.of(rel, st)
    return out


def _write_target(ws: Workspace, target: str, shell: Manifest, files: dict[str, FileState],
                  previous: Manifest | None, fresh: dict[str, str], cache: StatCache,
                  store_copy: bool, trusted_before: int, jobs: int | None = None
                  ) -> tuple[AddResult, marks.Mark | None]:
    """Write a target's manifest from its scan; returns the result and the clean mark
    (the files now match the manifest just written).

    Entries that are out of date (:func:`_keep_out_of_date`) keep what the manifest says;
    the synced manifest then records what the data is, and the target gets no mark.
    """
    found = marks.digests_of(files, trusted_before)
    count, n_fresh = len(files), len(fresh)
    new = Manifest(target, shell.kind)
    before = previous.entries if previous is not None else {}
    summaries = ws.config.summaries
    summarize: list[tuple[FileState, Entry]] = []  # new content of the summarized kinds
    while files:  # each scanned file gives way to its entry: a million of both weigh a GB
        rel, state = files.popitem()
        sha = None if state.link is not None else (
            fresh.pop(rel, None) or state.oid
            or cache.lookup(shell.location(rel), state.st))
        entry = new.entries[rel] = entry_for(state, sha, before.get(rel), store_copy)
        if summaries and wants_summary(entry, before.get(rel)):
            summarize.append((state, entry))
    stale, base = _keep_out_of_date(ws, previous, new) if previous is not None else ([], None)
    for entry in with_summaries(ws.root / shell.root if shell.root else ws.root,
                                [(s, e) for s, e in summarize if new.entries.get(e.path) is e],
                                jobs):
        new.entries[entry.path] = entry
    for rel in before.keys() - new.entries.keys():  # a deleted file's row goes with its entry
        cache.forget(shell.location(rel))
    status = compare_entries(previous or Manifest(target, shell.kind), new.entries)
    changed = ws.write_manifest(new, synced=not stale)
    mark = None
    if stale:
        ws.synced().put_manifest(_as_synced(new, stale, base))
    else:
        mark = marks.build(ws.manifest_fingerprint(target), found, count,
                           mf.all_stored(new.entries.values()), size=new.total_bytes)
    return AddResult(target, len(new.entries), new.total_bytes, n_fresh, changed,
                     ws.display(ws.manifest_path(target)), status.added,
                     status.modified, status.deleted, stale), mark


def _keep_out_of_date(ws: Workspace, previous: Manifest, new: Manifest
                      ) -> tuple[list[str], Manifest | None]:
    """Put back, in ``new`` (the entries of the files as they are), what the working
    manifest ``previous`` says of out-of-date paths; returns them and the synced manifest.

    A path is out of date when its file is as the synced manifest has it while git
    changed the manifest (the file is the teammate's previous version, not an edit), when
    the manifest names it and the synced manifest does not (added by git, not here yet),
    or, with no synced manifest known, when its file is missing and its object was never
    in this clone's store.
    """
    known, base = ws.synced_base(previous.target)
    if known and base is None:
        return [], None  # the data was last made to match this very manifest
    stale: list[str] = []
    old = previous.entries
    if base is not None:
        for rel, entry in list(new.entries.items()):
            synced = base.entries.get(rel)
            now = old.get(rel)
            if synced is not None and same_content(entry, synced) and (
                    now is None or not same_content(now, synced)):
                stale.append(rel)
                if now is None:
                    del new.entries[rel]  # git deleted it: not added back
                else:
                    new.entries[rel] = now
    for rel, entry in old.items():
        if rel in new.entries:
            continue
        if (rel not in base.entries) if base is not None else _never_here(ws, entry):
            stale.append(rel)
            new.entries[rel] = entry
    return sorted(stale), base


def _never_here(ws: Workspace, entry: Entry) -> bool:
    """A stored entry whose object this clone's store never had: its file was never here."""
    return entry.link is None and entry.stored and entry.sha256 is not None \
        and not ws.store.has(entry.sha256)


def _as_synced(new: Manifest, stale: list[str], base: Manifest | None) -> Manifest:
    """``new`` as the data has it: out-of-date paths as the synced manifest says."""
    entries = dict(new.entries)
    for rel in stale:
        synced = base.entries.get(rel) if base is not None else None
        if synced is None:
            entries.pop(rel, None)
        else:
            entries[rel] = synced
    return Manifest(new.target, new.kind, entries)


def _split_out_of_date(ws: Workspace, manifest: Manifest, files: dict[str, FileState],
                       result: TargetStatus, cache: StatCache, jobs: int | None
                       ) -> TargetStatus:
    """Move out of ``result``'s added, modified and deleted the paths that are out of date
    (the rule of :func:`_keep_out_of_date`)."""
    if result.clean:
        return result
    known, base = ws.synced_base(manifest.target)
    if known and base is None:
        return result
    stale: set[str] = set()
    if base is not None:
        candidates = {rel: files[rel] for rel in result.modified + result.added
                      if rel in base.entries}
        stale.update(_matching(ws, base, candidates, cache, jobs))
        stale.update(rel for rel in result.deleted if rel not in base.entries)
    else:
        stale.update(rel for rel in result.deleted if _never_here(ws, manifest.entries[rel]))
    if not stale:
        return result
    return TargetStatus(result.target, [r for r in result.added if r not in stale],
                        [r for r in result.modified if r not in stale],
                        [r for r in result.deleted if r not in stale], sorted(stale))


def _matching(ws: Workspace, base: Manifest, files: dict[str, FileState], cache: StatCache,
              jobs: int | None) -> list[str]:
    """The paths of ``files`` whose file is exactly as ``base`` has it."""
    sub = Manifest(base.target, base.kind, {rel: base.entries[rel] for rel in files})

    def rehash_rels(rels: list[str]) -> dict[str, str]:
        got = rehash(ws.store, ws.root, [sub.location(r) for r in rels], cache, jobs=jobs)
        return {rel: got[sub.location(rel)][0] for rel in rels}

    hashes = current_hashes(ws.root, sub, files, cache.lookup, rehash_rels)
    differ = compare(sub, files, hashes)
    bad = set(differ.modified) | set(differ.added)
    return [rel for rel in files if rel not in bad]


def _status_full(ws: Workspace, target: str, cache: StatCache, jobs: int | None
                 ) -> tuple[TargetStatus, bool, marks.Mark | None]:
    """One target's status from a full scan with the stat cache; whether the files match a
    manifest that did not move meanwhile, and then the mark they earn."""
    fingerprint = ws.manifest_fingerprint(target)
    trusted_before = marks.trust_limit()
    manifest = ws.read_manifest(target)
    files = scan_target(ws.root, manifest, ws.store.root)

    def rehash_rels(rels: list[str]) -> dict[str, str]:
        got = rehash(ws.store, ws.root, [manifest.location(r) for r in rels], cache,
                     jobs=jobs)
        return {rel: got[manifest.location(rel)][0] for rel in rels}

    hashes = current_hashes(ws.root, manifest, files, cache.lookup, rehash_rels)
    result = _split_out_of_date(ws, manifest, files, compare(manifest, files, hashes), cache,
                                jobs)
    if not result.clean or fingerprint != ws.manifest_fingerprint(target):
        return result, False, None
    ws.refresh_synced(manifest)  # a mark is only ever given where the synced manifest holds
    found = marks.digests_of(files, trusted_before)
    return result, True, marks.build(fingerprint, found, len(files),
                                     mf.all_stored(manifest.entries.values()),
                                     size=manifest.total_bytes)


# -- untrack ------------------------------------------------------------------------------------
def _untrack_targets(ws: Workspace, paths: Sequence[str | os.PathLike[str]],
                     cwd: Path | None, tracked: set[str]) -> list[str]:
    """The targets ``paths`` name: tracked ones, or ones an interrupted untrack left."""
    chosen: list[str] = []
    for raw in paths:
        try:
            found = ws.resolve_paths([raw], cwd)
        except PathError:  # gone from disk and from the manifests: left half-untracked?
            found = [repo_relative(ws.root, os.fspath(raw), cwd or Path.cwd())]
            if not _untrack_unfinished(ws, found[0]):
                raise
        for target in found:
            if target not in tracked and not _untrack_unfinished(ws, target):
                raise PathError("is not a tracked target", path=target)
        chosen += found
    return sorted(set(chosen))


def _untrack_unfinished(ws: Workspace, target: str) -> bool:
    """An untracked target whose shards or folio .gitignore line remain."""
    return os.path.lexists(ws.shard_dir(target)) or ws.ignored_by_folio(target)
