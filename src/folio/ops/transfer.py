"""``folio push``, ``pull`` and ``fetch``: choose the objects, move them, then check out.

What moves (docs/remotes.md, "Commands"):
- push, bare: the objects of the working manifests, of every snapshot and run
  (``refs/folio/*``) and the run logs; ``push REV...``: those of each version named;
  ``--all``: also those of every commit's manifests in the git history.
- pull / fetch, bare: the working manifests' objects; ``REV``: that version's.
Only stored entries travel (a ``--no-copy`` entry has no content to send).

Order: objects first, then (``push --git``) the refs that name them, so a ref on the git
remote never names an object the data remote lacks. A version unknown here is looked for
in the git remote's ``refs/folio/*`` before giving up, so ``git clone`` then
``folio pull TAG`` works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from folio.bounded import expected_sizes
from folio.errors import (
    FolioError,
    MissingObjectError,
    RemoteError,
    UnknownRevisionError,
    summarize_paths,
)
from folio.git.repo import FOLIO_REFS, FOLIO_REFSPEC
from folio.ops import checkout, roots
from folio.ops.remotes import DEFAULT_JOBS, cache_dir, open_remote
from folio.progress import NULL, Progress
from folio.remote import TransferStats, remote_has
from folio.remote import pull as pull_objects
from folio.remote import push as push_objects

if TYPE_CHECKING:
    from folio.ops.checkout import CheckoutResult
    from folio.revisions import Side
    from folio.workspace import Workspace

DEFAULT_GIT_REMOTE = "origin"


@dataclass
class TransferResult:
    """What a push, pull or fetch did."""

    action: str  # "push", "pull" or "fetch"
    remote: str
    url: str
    wanted: int
    stats: TransferStats
    git_remote: str | None = None  # push --git: where refs/folio/* went
    fetched_refs: str | None = None  # pull/fetch: git remote the version was fetched from
    checkout: CheckoutResult | None = None

    def to_json(self) -> dict[str, Any]:
        s = self.stats
        return {"action": self.action, "remote": self.remote, "url": self.url,
                "objects": self.wanted, "moved": s.moved, "moved_bytes": s.moved_bytes,
                "skipped": s.skipped, "skipped_bytes": s.skipped_bytes, "packs": s.packs,
                "requests": s.requests, "git_remote": self.git_remote,
                "fetched_refs": self.fetched_refs,
                "checkout": self.checkout.to_json() if self.checkout else None}


def push(ws: Workspace, revs: Sequence[str] = (), *, all_versions: bool = False,
         remote: str | None = None, jobs: int | None = None, progress: Progress = NULL,
         git_remote: str | None = None, oids: Sequence[str] | None = None) -> TransferResult:
    """Send what the remote lacks; ``git_remote`` also pushes ``refs/folio/*`` there after.

    ``oids`` (the pre-push hook's list) replaces the choice by versions. Objects the local
    store lacks are fine if the remote has them; those neither side has are pushed around,
    then reported (MissingObjectError), and no ref is pushed.
    """
    spec, backend = open_remote(ws, remote)
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
    store = ws.store
    local: list[str] = []
    absent: list[str] = []
    for oid in wanted:
        (local if store.has(oid) else absent).append(oid)
    cache = cache_dir(ws)
    jobs = jobs or DEFAULT_JOBS
    on_remote = remote_has(backend, absent, cache_dir=cache, jobs=jobs) if absent else set()
    stats = push_objects(store, backend, local, jobs=jobs, progress=progress, cache_dir=cache)
    stats.skipped += len(on_remote)
    lost = [o for o in absent if o not in on_remote]
    if lost:
        raise MissingObjectError(
            f"{len(lost)} object(s) are neither in the local store nor on remote {spec.name} "
            f"({summarize_paths([o[:12] for o in lost])}); the others were pushed",
            path=backend.describe(), oids=lost)
    result = TransferResult("push", spec.name, backend.describe(), len(wanted), stats)
    if git_remote is not None:
        # The objects are on the remote now; the hook would only push them again.
        ws.git.push_refs(git_remote, FOLIO_REFSPEC, no_verify=True)
        result.git_remote = git_remote
    return result


def has_folio_refs(ws: Workspace) -> bool:
    return bool(ws.git.list_refs(FOLIO_REFS))


def resolve_version(ws: Workspace, rev: str,
                    git_remote: str | None = None) -> tuple[Side, str | None]:
    """``repo.resolve(rev)``; if unknown, fetch ``refs/folio/*`` from the git remote and retry.

    Returns the side and the git remote fetched from (None if nothing was fetched).
    """
    try:
        return ws.resolve(rev), None
    except UnknownRevisionError:
        name = git_remote or DEFAULT_GIT_REMOTE
        if git_remote is None and ws.git.get_config(f"remote.{name}.url") is None:
            raise
    failure: FolioError | None = None
    try:
        ws.git.fetch_refs(name, FOLIO_REFSPEC)
    except FolioError as exc:  # report it with the real problem: the unknown name
        failure = exc
    try:
        return ws.resolve(rev), name
    except UnknownRevisionError as exc:
        why = (f"; fetching refs/folio/* from git remote {name} failed: {failure}" if failure
               else f"; git remote {name} has no such snapshot either")
        raise UnknownRevisionError(exc.message + why) from None


def fetch(ws: Workspace, revs: Sequence[str] = (), *, all_versions: bool = False,
          remote: str | None = None, jobs: int | None = None, progress: Progress = NULL,
          git_remote: str | None = None, action: str = "fetch") -> TransferResult:
    """Bring the objects of ``revs`` (default: the working manifests) into the local store.

    With nothing missing and no ``remote`` named, no remote is needed (an offline pull of
    data that is all here just checks it out).
    """
    fetched_refs = None
    sizes: dict[str, int] = {}  # what each entry says: no download may exceed it
    if all_versions:
        wanted = list(roots.history_objects(ws))
    elif revs:
        for rev in revs:
            side, fetched = resolve_version(ws, rev, git_remote)
            fetched_refs = fetched_refs or fetched
            expected_sizes(side.manifests.values(), f"{rev}:", sizes)
        wanted = list(sizes)
    else:
        wanted = list(expected_sizes(ws.manifests().values(), "", sizes))
    if remote is None and all(ws.store.has(o) for o in wanted):
        try:
            spec, backend = open_remote(ws)
        except RemoteError:  # none configured, or no default: none is needed
            return TransferResult(action, "-", "-", len(wanted),
                                  TransferStats(skipped=len(wanted)), fetched_refs=fetched_refs)
    else:
        spec, backend = open_remote(ws, remote)
    stats = pull_objects(ws.store, backend, wanted, jobs=jobs or DEFAULT_JOBS,
                         progress=progress, cache_dir=cache_dir(ws), sizes=sizes)
    return TransferResult(action, spec.name, backend.describe(), len(wanted), stats,
                          fetched_refs=fetched_refs)


def pull(ws: Workspace, rev: str | None = None, *, remote: str | None = None,
         jobs: int | None = None, progress: Progress = NULL, git_remote: str | None = None,
         force: bool = False, link: str | None = None) -> TransferResult:
    """Fetch the objects of ``rev`` (default: the working manifests), then check it out."""
    result = fetch(ws, [rev] if rev else [], remote=remote, jobs=jobs, progress=progress,
                   git_remote=git_remote, action="pull")
    result.checkout = checkout.checkout(ws, rev, force=force, link=link, progress=progress)
    return result
