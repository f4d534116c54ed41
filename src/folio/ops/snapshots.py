"""Snapshots: immutable, named manifest trees stored as git commits under refs/folio/snapshots.

A snapshot commit's tree is exactly the files of ``.folio/manifests``; its message is the
user's, followed by trailers (kind, name, code commit, code dirty, files, bytes) so that
listing tags reads one commit per tag and parses no manifest. Its parent is the newest
snapshot that existed when it was made, so ``git log refs/folio/snapshots/<tag>`` walks the
data's history. Nothing here touches the user's index, HEAD, branches or work tree.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from folio.errors import FolioError, RefError, RemoteError, TagExistsError, UnknownRevisionError
from folio.git.names import validate_ref_component
from folio.git.repo import (
    MIRROR_PREFIX,
    SNAPSHOTS_PREFIX,
    TRAILER_BYTES,
    TRAILER_CODE_COMMIT,
    TRAILER_CODE_DIRTY,
    TRAILER_FILES,
    TRAILER_KIND,
    TRAILER_NAME,
    CommitInfo,
)
from folio.manifest import target_of, totals
from folio.ops import track
from folio.progress import NULL, Progress
from folio.revisions import parse_tree

if TYPE_CHECKING:
    from folio.git.repo import GitRepo
    from folio.manifest import Manifest
    from folio.ops.track import AddResult
    from folio.workspace import Workspace

KIND = "snapshot"


@dataclass
class SnapshotInfo:
    """One snapshot as ``folio tags`` / ``folio log`` show it (read from its commit)."""

    tag: str
    commit: str
    time: int  # epoch seconds
    offset: int  # minutes east of UTC
    code_commit: str | None
    code_dirty: bool
    files: int | None  # None when the trailer is absent (a commit folio did not write)
    bytes: int | None
    message: str
    author: str
    parent: str | None
    captured: list[AddResult] = field(default_factory=list)  # filled by ``create`` only
    targets: list[TargetSummary] | None = None  # filled by ``show`` only

    @property
    def date(self) -> str:
        zone = timezone(timedelta(minutes=self.offset))
        return datetime.fromtimestamp(self.time, zone).isoformat()

    @property
    def code_label(self) -> str:
        """Short code commit, ``-dirty`` appended as ``git describe --dirty`` does."""
        if self.code_commit is None:
            return "-"
        return self.code_commit[:7] + ("-dirty" if self.code_dirty else "")

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "commit": self.commit, "date": self.date, "time": self.time,
                "code_commit": self.code_commit, "code_dirty": self.code_dirty,
                "files": self.files, "bytes": self.bytes, "message": self.message,
                "author": self.author, "parent": self.parent,
                **({"targets": [t.to_json() for t in self.targets]}
                   if self.targets is not None else {})}


@dataclass
class TargetSummary:
    """Per-target numbers for ``folio show``."""

    target: str
    kind: str
    files: int
    bytes: int
    hash_only: int

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "kind": self.kind, "files": self.files,
                "bytes": self.bytes, "hash_only": self.hash_only}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def info_from_commit(tag: str, commit: CommitInfo) -> SnapshotInfo:
    t = commit.trailers
    return SnapshotInfo(
        tag=tag, commit=commit.sha, time=commit.time, offset=commit.offset,
        code_commit=t.get(TRAILER_CODE_COMMIT) or None,
        code_dirty=t.get(TRAILER_CODE_DIRTY) == "true",
        files=_int(t.get(TRAILER_FILES)), bytes=_int(t.get(TRAILER_BYTES)),
        message=commit.message, author=commit.author,
        parent=commit.parents[0] if commit.parents else None)


def by_tag(git: GitRepo) -> list[SnapshotInfo]:
    """Every snapshot, sorted by tag name."""
    return sorted(list_snapshots(git), key=lambda i: i.tag)


def list_snapshots(git: GitRepo) -> list[SnapshotInfo]:
    """Every snapshot, newest first (commit time, then position in the parent chain)."""
    infos = [info_from_commit(tag, git.read_commit(sha))
             for tag, sha in git.list_refs(SNAPSHOTS_PREFIX)]
    depth = _depths(git, infos)
    return sorted(infos, key=lambda i: (-i.time, -depth[i.commit], i.tag))


def _depths(git: GitRepo, infos: list[SnapshotInfo]) -> dict[str, int]:
    """Length of each snapshot's parent chain: orders snapshots made within one second."""
    parent = {i.commit: i.parent for i in infos}
    depth: dict[str, int] = {}
    for info in infos:
        chain: list[str] = []
        sha: str | None = info.commit
        while sha is not None and sha not in depth and len(chain) < 100_000:
            chain.append(sha)
            if sha not in parent:  # a deleted tag's commit, still in the chain
                try:
                    parents = git.read_commit(sha).parents
                except UnknownRevisionError:
                    parents = ()
                parent[sha] = parents[0] if parents else None
            sha = parent[sha]
        base = depth.get(sha, 0) if sha is not None else 0
        for n, item in enumerate(reversed(chain), start=1):
            depth[item] = base + n
    return depth


def create(ws: Workspace, tag: str, message: str | None, progress: Progress = NULL,
           jobs: int | None = None, *, capture: bool = True,
           extra_trailers: Mapping[str, str] | None = None) -> SnapshotInfo:
    """Capture every tracked target as ``add`` would, then commit the manifests as ``tag``.

    ``capture=False`` commits the working manifests as they are (a bundle snapshot: the
    bundle's manifest is its truth); ``extra_trailers`` mark the commit (Folio-Bundle).
    """
    validate_ref_component(tag, "tag")
    ref = SNAPSHOTS_PREFIX + tag
    git = ws.git
    if git.ref_target(ref) is not None:  # refuse before any work: tags are immutable
        raise TagExistsError(f"tag {tag!r} already exists; tags are immutable "
                             f"(delete it first with `folio tags --delete {tag}`)")
    with ws.lock.hold():
        targets = ws.targets()
        if not targets:
            raise FolioError("nothing to snapshot: no tracked data yet; "
                             "track some with `folio add PATH`")
        captured = _capture_all(ws, targets, progress, jobs) if capture else []
        files = read_manifest_files(ws)
        n_files, n_bytes = _totals(files)
        head = git.head_commit()
        trailers = {TRAILER_KIND: KIND, TRAILER_NAME: tag}
        if head is not None:
            trailers[TRAILER_CODE_COMMIT] = head
            trailers[TRAILER_CODE_DIRTY] = "true" if git.is_dirty() else "false"
        trailers[TRAILER_FILES] = str(n_files)
        trailers[TRAILER_BYTES] = str(n_bytes)
        trailers.update(extra_trailers or {})
        existing = list_snapshots(git)
        parent = existing[0].commit if existing else None
        text = message if message and message.strip() else f"folio snapshot {tag}"
        sha = git.write_snapshot(files, ref=ref, message=text, trailers=trailers,
                                 parent=parent, expected_old=None)
    info = info_from_commit(tag, git.read_commit(sha))
    info.captured = captured
    return info


def _capture_all(ws: Workspace, targets: list[str], progress: Progress,
                 jobs: int | None) -> list[AddResult]:
    """Re-add every target; a hash-only target (any ``stored: false`` entry) stays hash-only."""
    return sorted(track.record(ws, targets, None, progress, jobs), key=lambda r: r.target)


def _totals(files: dict[str, bytes]) -> tuple[int, int]:
    """Files and bytes over every manifest (a sharded one's from its index alone)."""
    n_files = n_bytes = 0
    for rel, data in files.items():
        target = target_of(rel)
        if target is not None:
            count, size = totals(data, rel, target, files.__getitem__)
            n_files += count
            n_bytes += size
    return n_files, n_bytes


def read_manifest_files(ws: Workspace) -> dict[str, bytes]:
    """Every file under ``.folio/manifests`` (staging leftovers excepted), by relative path."""
    out: dict[str, bytes] = {}
    base = ws.manifests_dir
    cut = len(str(base)) + 1
    for dirpath, _, names in os.walk(base):
        for name in names:
            if name.startswith(".tmp-"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[path[cut:]] = f.read()
    return out


def get(git: GitRepo, tag: str) -> SnapshotInfo:
    """The snapshot named ``tag``, or UnknownRevisionError."""
    validate_ref_component(tag, "tag")
    sha = git.ref_target(SNAPSHOTS_PREFIX + tag)
    if sha is None:
        raise UnknownRevisionError(f"no snapshot tag {tag!r} (`folio tags` lists them)")
    return info_from_commit(tag, git.read_commit(sha))


def show(git: GitRepo, tag: str) -> SnapshotInfo:
    """The snapshot ``tag`` with per-target file counts (its manifests are parsed)."""
    info = get(git, tag)
    info.targets = summarize(parse_tree(git.read_tree_files(info.commit, ""), f"{info.tag}:"))
    return info


def summarize(manifests: Mapping[str, Manifest]) -> list[TargetSummary]:
    """Per-target file counts and bytes, sorted by target (``folio show`` of any version)."""
    return [TargetSummary(t, m.kind, len(m.entries), m.total_bytes,
                          sum(1 for e in m.entries.values() if not e.stored))
            for t, m in sorted(manifests.items())]


def delete(ws: Workspace, tag: str, push_to: str | None = None) -> str:
    """Delete the ref of snapshot ``tag``; return the commit it named.

    ``push_to`` (a git remote) deletes it there first, only if it names the same commit
    there (``--force-with-lease``): someone else's tag of that name is never deleted, and a
    tag deleted only here comes back on the next fetch while the remote has it. The commit
    stays in git's object database (a later snapshot may have it as parent).
    """
    validate_ref_component(tag, "tag")
    ref = SNAPSHOTS_PREFIX + tag
    git = ws.git
    if push_to is not None:
        _delete_there(git, tag, push_to, git.ref_target(ref))
    with ws.lock.hold():
        here = git.ref_target(ref)
        if here is None:
            if push_to is None:
                get(git, tag)  # raises: no such tag
            return ""
        git.delete_ref(ref, here)
    return here


def _delete_there(git: GitRepo, tag: str, remote: str, here: str | None) -> None:
    """``git push REMOTE :refs/folio/snapshots/TAG`` if it names ``here`` there (or, when
    this clone has no such tag, whatever the last fetch saw there)."""
    ref = SNAPSHOTS_PREFIX + tag
    mirror = f"{MIRROR_PREFIX}{remote}/{ref[len('refs/folio/'):]}"
    seen = git.ref_target(mirror)
    expected = here or seen
    if expected is None:
        found = dict(git.remote_refs(remote, ref) or [])
        if ref not in found:
            raise UnknownRevisionError(f"no snapshot tag {tag!r} here nor on git remote {remote}")
        expected = found[ref]
    try:
        git.push_delete(remote, ref, expected)
    except RemoteError as exc:
        why = (f"it names another commit there than {expected[:12]}: someone else's tag "
               "(`folio fetch` reports the clash)" if "stale info" in exc.message
               else exc.message)
        raise RemoteError(f"tag {tag} not deleted, here nor on git remote {remote}: "
                          f"{why}") from None
    if seen is not None:
        with contextlib.suppress(RefError):  # the mirror follows the remote: it is gone there
            git.delete_ref(mirror, seen)


def rename(ws: Workspace, old: str, new: str) -> str:
    """Give snapshot ``old`` the name ``new`` (same commit, same data); return the commit.

    What resolves a name clash with a git remote: yours becomes ``new`` and the next
    fetch brings the remote's ``old``.
    """
    validate_ref_component(new, "tag")
    git = ws.git
    with ws.lock.hold():
        info = get(git, old)
        if git.ref_target(SNAPSHOTS_PREFIX + new) is not None:
            raise TagExistsError(f"tag {new!r} already exists; tags are immutable")
        git.update_ref(SNAPSHOTS_PREFIX + new, info.commit, None)
        git.delete_ref(SNAPSHOTS_PREFIX + old, info.commit)
    return info.commit
