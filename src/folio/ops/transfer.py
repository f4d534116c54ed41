"""``folio push``, ``pull`` and ``fetch``: choose the objects, move them, then check out.

What moves (docs/remotes.md, "Commands"):
- push, bare: the objects of the working manifests, of every snapshot and run
  (``refs/folio/*``) and the run logs; ``push REV...``: those of each version named;
  ``--all``: also those of every commit's manifests in the git history.
- pull / fetch, bare: the working manifests' objects; ``REV``: that version's; ``-- PATH...``:
  only the entries at or below those paths.
Only stored entries travel (a ``--no-copy`` entry has no content to send).

Order: objects first, then (``push --git``) the refs that name them, so a ref on the git
remote never names an object the data remote lacks. Pull and fetch first bring the git
remote's ``refs/folio/*`` (:func:`sync_refs`): into a mirror namespace, then every ref this
clone lacks is created; one it has with another commit is kept and reported (tags are
immutable), never overwritten, so a name clash never stops the transfer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio.bounded import expected_sizes
from folio.errors import (
    FolioError,
    MissingObjectError,
    PathError,
    RefError,
    RemoteError,
    UnknownRevisionError,
    summarize_paths,
)
from folio.git.repo import FOLIO_REFS, FOLIO_REFSPEC, RUNS_PREFIX, SNAPSHOTS_PREFIX
from folio.manifest import Manifest
from folio.ops import checkout, roots
from folio.ops.remotes import DEFAULT_JOBS, cache_dir, open_remote, remote_cache
from folio.paths import is_within
from folio.progress import NULL, Progress
from folio.remote import TransferStats, records, remote_has
from folio.remote import pull as pull_objects
from folio.remote import push as push_objects

if TYPE_CHECKING:
    from folio.ops.checkout import CheckoutResult
    from folio.revisions import Side
    from folio.workspace import Workspace

DEFAULT_GIT_REMOTE = "origin"
LS_REMOTE_TIMEOUT = 10.0  # seconds a listing waits for the git remote before saying nothing


@dataclass
class RefSync:
    """What bringing ``refs/folio/*`` from a git remote did (:func:`sync_refs`)."""

    remote: str
    created: list[str] = field(default_factory=list)  # labels as users name them: v1, run:ID
    clashes: list[tuple[str, str, str]] = field(default_factory=list)  # ref, here, there
    refused: list[str] = field(default_factory=list)  # refs git would not create, and why
    error: str | None = None  # the fetch itself failed (offline, no such remote...)

    def warnings(self) -> list[str]:
        """One line per clash or failure, each saying what to do."""
        out = [clash_message(ref, here, there, self.remote)
               for ref, here, there in self.clashes]
        out += self.refused
        if self.error:
            out.append(f"refs/folio/* not fetched from git remote {self.remote}: {self.error} "
                       "(`--no-refs` skips this)")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"remote": self.remote, "created": self.created,
                "clashes": [{"ref": r, "here": h, "there": t} for r, h, t in self.clashes],
                "refused": self.refused, "error": self.error}


def clash_message(ref: str, here: str, there: str, remote: str) -> str:
    """The one line for a ref this clone and ``remote`` both have, at different commits."""
    label = roots.ref_label(ref)
    both = f"here {here[:12]}, on git remote {remote} {there[:12]}"
    if ref.startswith(SNAPSHOTS_PREFIX):
        return (f"tag {label} differs ({both}): yours is kept, tags are immutable; "
                f"`folio tags --rename {label} NEW` keeps yours as NEW and the next "
                f"`folio fetch` brings {remote}'s {label}")
    kind = "run" if ref.startswith(RUNS_PREFIX) else "ref"
    return f"{kind} {label} differs ({both}): yours is kept"


def git_remote_name(ws: Workspace, git_remote: str | None) -> str | None:
    """``git_remote``, else ``origin`` if this clone has one, else None (nothing to ask)."""
    if git_remote is not None:
        return git_remote
    if ws.git.get_config(f"remote.{DEFAULT_GIT_REMOTE}.url") is None:
        return None
    return DEFAULT_GIT_REMOTE


def sync_refs(ws: Workspace, git_remote: str | None = None) -> RefSync | None:
    """Bring the git remote's ``refs/folio/*``: create those this clone lacks, report clashes.

    The remote's refs land first in ``refs/folio-remotes/<remote>/`` (forced and pruned: a
    mirror of what it has now); then each one absent here is created by compare-and-swap.
    A ref here at another commit stays (tags are immutable) and is reported; a ref deleted
    here comes back while the remote has it, as a git tag does (``folio tags --delete TAG
    --push`` deletes it there too). None when there is no git remote to ask; a failed
    fetch is returned in ``.error``, never raised: the data transfer goes on.
    """
    name = git_remote_name(ws, git_remote)
    if name is None:
        return None
    sync = RefSync(name)
    git = ws.git
    try:
        mirror = git.mirror_refs(name)
    except FolioError as exc:
        sync.error = exc.message
        return sync
    for rel, there in git.list_refs(mirror):
        ref = FOLIO_REFS + rel
        try:
            here = git.ref_target(ref)
            if here is None:
                git.update_ref(ref, there, None)
                sync.created.append(roots.ref_label(ref))
            elif here != there:
                sync.clashes.append((ref, here, there))
        except RefError as exc:  # e.g. a ref here blocks it ('a' blocks 'a/b')
            sync.refused.append(f"{roots.ref_label(ref)} from git remote {name} not created: "
                                f"{exc.message}")
    return sync


def remote_listing_hint(ws: Workspace, prefix: str, noun: str) -> str | None:
    """For an empty listing: what the git remote has under ``prefix``, or None.

    Asked (``git ls-remote``, at most LS_REMOTE_TIMEOUT s, never prompting) only when
    there is a git remote; offline or without one the listing stays instant and says
    nothing more.
    """
    name = git_remote_name(ws, None)
    if name is None:
        return None
    found = ws.git.remote_refs(name, prefix + "*", timeout=LS_REMOTE_TIMEOUT)
    if not found:
        return None
    them = "them" if len(found) > 1 else "it"
    return f"No {noun} here; {name} has {len(found)}: `folio fetch` brings {them}."


@dataclass
class TransferResult:
    """What a push, pull or fetch did."""

    action: str  # "push", "pull" or "fetch"
    remote: str
    url: str
    wanted: int
    stats: TransferStats
    git_remote: str | None = None  # push --git: where refs/folio/* went
    fetched_refs: str | None = None  # pull/fetch: git remote refs/folio/* came from
    checkout: CheckoutResult | None = None
    refs: RefSync | None = None  # pull/fetch: what bringing refs/folio/* did

    def to_json(self) -> dict[str, Any]:
        s = self.stats
        return {"action": self.action, "remote": self.remote, "url": self.url,
                "objects": self.wanted, "moved": s.moved, "moved_bytes": s.moved_bytes,
                "skipped": s.skipped, "skipped_bytes": s.skipped_bytes, "packs": s.packs,
                "requests": s.requests, "git_remote": self.git_remote,
                "fetched_refs": self.fetched_refs,
                "refs": self.refs.to_json() if self.refs else None,
                "checkout": self.checkout.to_json() if self.checkout else None}


def push(ws: Workspace, revs: Sequence[str] = (), *, all_versions: bool = False,
         remote: str | None = None, jobs: int | None = None, progress: Progress = NULL,
         git_remote: str | None = None, oids: Sequence[str] | None = None) -> TransferResult:
    """Send what the remote lacks; ``git_remote`` also pushes ``refs/folio/*`` there after.

    ``oids`` (the pre-push hook's list) replaces the choice by versions. Objects the local
    store lacks are fine if the remote has them; those neither side has are pushed around,
    then reported (MissingObjectError), and no ref is pushed.
    """
    spec, backend = open_remote(ws, remote, writing="push")
    if oids is not None:
        wanted = list(dict.fromkeys(oids))
    elif all_versions:
        wanted = list(roots.history_objects(ws))
    elif revs:
        named: dict[str, str] = {}
        for rev in revs:
            side = ws.resolve(rev)
            roots.manifest_oids(side.manifests.values(), f"{rev}:", named)
        wanted = list(named)
    else:
        wanted = list(roots.named_objects(ws))
    result = TransferResult("push", spec.name, backend.describe(), len(wanted),
                            TransferStats(skipped=len(wanted)))
    sid = records.set_id(wanted)
    if wanted and records.has_fresh(backend, sid):
        # A record says this very set is whole there: one LIST, whatever the remote's size.
        return _push_refs(ws, result, git_remote)
    store = ws.store
    cache = cache_dir(ws)
    jobs = jobs or DEFAULT_JOBS
    # What every other fresh record vouches for: one LIST of sets/ and the bodies this
    # clone has not read yet (docs/remotes.md, "Transfer engine: push"). Those objects are
    # not even looked at here (a million stat calls cost more than the whole transfer).
    record_cache = records.RecordCache(ws.local_dir, remote_cache(ws, spec.name) / "records")
    known = records.survey(backend, record_cache, jobs=jobs)
    vouched = sum(1 for oid in wanted if oid in known.fresh)
    local: list[str] = []
    absent: list[str] = []
    for oid in wanted:
        if oid not in known.fresh:
            (local if store.has(oid) else absent).append(oid)
    on_remote = (remote_has(backend, absent, cache_dir=cache, jobs=jobs, known=known)
                 if absent else set())
    stats = push_objects(store, backend, local, jobs=jobs, progress=progress, cache_dir=cache,
                         known=known)
    stats.skipped += len(on_remote) + vouched
    lost = [o for o in absent if o not in on_remote]
    if lost:
        raise MissingObjectError(
            f"{len(lost)} object(s) are neither in the local store nor on remote {spec.name} "
            f"({summarize_paths([o[:12] for o in lost])}); the others were pushed",
            path=backend.describe(), oids=lost)
    if wanted:
        records.write(backend, wanted, cache=record_cache)  # last: every object is there now
    result.stats = stats
    return _push_refs(ws, result, git_remote)


def _push_refs(ws: Workspace, result: TransferResult, git_remote: str | None) -> TransferResult:
    if git_remote is not None:
        # The objects are on the remote now; the hook would only push them again.
        ws.git.push_refs(git_remote, FOLIO_REFSPEC, no_verify=True)
        result.git_remote = git_remote
    return result


def has_folio_refs(ws: Workspace) -> bool:
    return bool(ws.git.list_refs(FOLIO_REFS))


def resolve_version(ws: Workspace, rev: str, git_remote: str | None = None,
                    sync: RefSync | None = None,
                    may_fetch: bool = True, lazy: bool = False
                    ) -> tuple[Side, RefSync | None]:
    """``ws.resolve(rev, lazy=lazy)``; if unknown, bring the git remote's ``refs/folio/*``
    and retry.

    ``sync``: refs already brought (not asked again). Returns the side and the sync that
    happened, if any.
    """
    try:
        return ws.resolve(rev, lazy=lazy), sync
    except UnknownRevisionError as exc:
        if sync is None and may_fetch:
            sync = sync_refs(ws, git_remote)
        if sync is None:
            raise
        if sync.error is None:
            try:
                return ws.resolve(rev, lazy=lazy), sync
            except UnknownRevisionError:
                pass
        why = (f"; fetching refs/folio/* from git remote {sync.remote} failed: {sync.error}"
               if sync.error else f"; git remote {sync.remote} has no such snapshot either")
        raise UnknownRevisionError(exc.message + why) from None


def only_paths(manifests: Iterable[Manifest], scope: Sequence[str],
               matched: set[str]) -> list[Manifest]:
    """The parts of ``manifests`` at or below the repo-relative ``scope`` paths.

    A target a path covers comes whole; one a path lies inside, with only the entries
    under it. Every path that names something is added to ``matched``.
    """
    out = []
    for m in manifests:
        whole = [p for p in scope if is_within(m.target, p)]
        if whole:
            matched.update(whole)
            out.append(m)
            continue
        inside = [p for p in scope if is_within(p, m.target)]
        if not inside:
            continue
        part = Manifest(m.target, m.kind)
        for path, entry in m.entries.items():
            hits = [p for p in inside if is_within(m.location(path), p)]
            if hits:
                matched.update(hits)
                part.entries[path] = entry
        if part.entries:
            out.append(part)
    return out


def fetch(ws: Workspace, revs: Sequence[str] = (), *, all_versions: bool = False,
          remote: str | None = None, jobs: int | None = None, progress: Progress = NULL,
          git_remote: str | None = None, action: str = "fetch",
          paths: Sequence[str | os.PathLike[str]] | None = None, cwd: Path | None = None,
          refs: bool | None = None) -> TransferResult:
    """Bring the objects of ``revs`` (default: the working manifests) into the local store.

    ``paths``: only the entries at or below them (each must be named by a manifest of one
    of the versions). ``refs``: True brings the git remote's ``refs/folio/*`` first
    (:func:`sync_refs`), False never, None only when a version is unknown here (what the
    git hooks use: no network for refs on every checkout). With nothing missing and no
    ``remote`` named, no remote is needed (an offline pull of data that is all here just
    checks it out).
    """
    sync = sync_refs(ws, git_remote) if refs else None
    scope = ws.scope(paths, cwd) if paths else None
    if scope is not None and all_versions:
        raise PathError("--all fetches every version whole; give versions with the paths",
                        path=scope[0])
    sizes: dict[str, int] = {}  # what each entry says: no download may exceed it
    matched: set[str] = set()
    labels: list[str] = []
    if all_versions:
        wanted = list(roots.history_objects(ws))
    else:
        sides: list[tuple[str, list[Manifest]]] = []
        if revs:
            for rev in revs:
                side, sync = resolve_version(ws, rev, git_remote, sync, refs is not False)
                sides.append((f"{rev}:", list(side.manifests.values())))
                labels.append(side.label)
        else:
            sides.append(("", list(ws.manifests().values())))
            labels.append("the working manifests")
        for prefix, manifests in sides:
            chosen = manifests if scope is None else only_paths(manifests, scope, matched)
            expected_sizes(chosen, prefix, sizes)
        wanted = list(sizes)
    if scope is not None:
        for path in scope:
            if path not in matched:
                raise PathError(f"is named by no manifest of {' or '.join(labels)}", path=path)
    fetched_refs = sync.remote if sync is not None and sync.error is None else None
    if remote is None and all(ws.store.has(o) for o in wanted):
        try:
            spec, backend = open_remote(ws)
        except RemoteError:  # none configured, or no default: none is needed
            return TransferResult(action, "-", "-", len(wanted),
                                  TransferStats(skipped=len(wanted)), fetched_refs=fetched_refs,
                                  refs=sync)
    else:
        spec, backend = open_remote(ws, remote)
    stats = pull_objects(ws.store, backend, wanted, jobs=jobs or DEFAULT_JOBS,
                         progress=progress, cache_dir=cache_dir(ws), sizes=sizes)
    return TransferResult(action, spec.name, backend.describe(), len(wanted), stats,
                          fetched_refs=fetched_refs, refs=sync)


def pull(ws: Workspace, rev: str | None = None, *, remote: str | None = None,
         jobs: int | None = None, progress: Progress = NULL, git_remote: str | None = None,
         force: bool = False, link: str | None = None,
         paths: Sequence[str | os.PathLike[str]] | None = None, cwd: Path | None = None,
         refs: bool | None = None) -> TransferResult:
    """Fetch the objects of ``rev`` (default: the working manifests), then check it out
    (at or below ``paths`` only, when given: the rest stays as it is)."""
    result = fetch(ws, [rev] if rev else [], remote=remote, jobs=jobs, progress=progress,
                   git_remote=git_remote, action="pull", paths=paths, cwd=cwd, refs=refs)
    result.checkout = checkout.checkout(ws, rev, paths, force=force, link=link,
                                        progress=progress, cwd=cwd)
    return result
