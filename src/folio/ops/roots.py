"""Which objects a repository names: what push sends, pull fetches, verify expects, gc keeps.

Two readers, for two jobs:

- :func:`named_objects` parses manifests strictly (a bad one is an error) and says where
  each object is named; push, pull, fetch, verify and export use it.
- :func:`gc_roots` must never miss a root and never fail on old history, so it scans every
  blob any root reaches for ``sha256`` values, leniently: a line that is not valid JSON
  contributes every 64-hex string in it. Keeping too much is safe; deleting too much is not.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from folio import layout
from folio import manifest as mf
from folio.git.repo import FOLIO_REFS, RUNS_PREFIX, SNAPSHOTS_PREFIX
from folio.manifest import Manifest
from folio.objects.store import is_oid
from folio.worktree.synced import SyncedState

if TYPE_CHECKING:
    from folio.git.repo import GitRepo
    from folio.workspace import Workspace

_HEX64 = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


# -- strict: what a version needs ---------------------------------------------------------------
def manifest_oids(manifests: Iterable[Manifest], label: str = "",
                  out: dict[str, str] | None = None) -> dict[str, str]:
    """``oid -> where`` for the stored entries of ``manifests`` (first place named wins)."""
    out = {} if out is None else out
    for manifest in manifests:
        for entry in manifest.sorted_entries():
            if entry.sha256 and entry.stored and entry.sha256 not in out:
                out[entry.sha256] = label + manifest.location(entry.path)
    return out


def ref_label(ref: str) -> str:
    """How a user names a folio ref: ``v1`` for a snapshot, ``run:ID`` for a run."""
    if ref.startswith(SNAPSHOTS_PREFIX):
        return ref[len(SNAPSHOTS_PREFIX):]
    if ref.startswith(RUNS_PREFIX):
        return "run:" + ref[len(RUNS_PREFIX):]
    return ref


def tree_manifests(files: Mapping[str, bytes], source: str,
                   cache: dict[bytes, list[Manifest]] | None = None) -> list[Manifest]:
    """Parse the manifests of a snapshot-shaped tree; unchanged manifests are parsed once.

    ``cache`` is keyed by a hash of each manifest's files (main plus shards), so a hundred
    snapshots sharing most targets cost little more than one.
    """
    out = []
    for path in sorted(files):
        target = mf.target_of(path)
        if target is None:
            continue
        shard_dir = target + mf.SHARD_DIR_SUFFIX + "/"
        shards = sorted(p for p in files if p.startswith(shard_dir))
        digest = hashlib.sha256(path.encode() + b"\0" + files[path])
        for shard in shards:
            digest.update(files[shard])
        key = digest.digest()
        if cache is None or key not in cache:
            parsed = [mf.parse(files[path], source + path, files.__getitem__, target)]
            if cache is None:
                out += parsed
                continue
            cache[key] = parsed
        out += cache[key]
    return out


def folio_ref_objects(git: GitRepo, out: dict[str, str] | None = None,
                      prefix: str = FOLIO_REFS) -> dict[str, str]:
    """Objects named by every snapshot and run (refs under ``prefix``) and by run logs."""
    from folio.ops.runs import TRAILER_LOG

    out = {} if out is None else out
    cache: dict[bytes, list[Manifest]] = {}
    for name, sha in git.list_refs(prefix):
        label = ref_label(prefix + name)
        manifest_oids(tree_manifests(git.read_tree_files(sha, ""), f"{label}:", cache),
                      f"{label}:", out)
        if (prefix + name).startswith(RUNS_PREFIX):
            log = git.read_commit(sha).trailers.get(TRAILER_LOG)
            if is_oid(log) and log not in out:
                out[log] = f"{label}: log"
    return out


def named_objects(ws: Workspace, *, working: bool = True, refs: bool = True) -> dict[str, str]:
    """Stored objects named by the working manifests and by every ``refs/folio/*``."""
    out: dict[str, str] = {}
    if working:
        manifest_oids(ws.manifests().values(), "", out)
    if refs:
        folio_ref_objects(ws.git, out)
    return out


def history_objects(ws: Workspace) -> dict[str, str]:
    """Everything reachable: working manifests, ``refs/folio/*`` and every commit's manifests.

    Old commits are read leniently (see the module docstring), as gc reads them, but only
    stored entries count: a hash-only entry has nothing to send or fetch.
    """
    out = named_objects(ws)
    for path, data in ws.git.reachable_manifest_blobs():
        for oid in blob_oids(data, stored_only=True):
            out.setdefault(oid, f"history:{path}")
    return out


# -- lenient: what must not be deleted ----------------------------------------------------------
def blob_oids(data: bytes, *, stored_only: bool = False) -> Iterator[str]:
    """Every ``sha256`` in a manifest-like blob. Unparseable lines give every 64-hex run
    in them (unless ``stored_only``, which wants only well-formed stored entries)."""
    objs: list[Any] | None = None
    if data.endswith(b"\n") or not data:
        try:
            objs = json.loads(b"[" + data[:-1].replace(b"\n", b",") + b"]")
        except (ValueError, RecursionError):
            objs = None
    if objs is not None:
        yield from _entry_oids(objs, stored_only)
        return
    for line in data.split(b"\n"):
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            if not stored_only:
                yield from (m.decode() for m in _HEX64.findall(line))
            continue
        yield from _entry_oids([obj], stored_only)


def _entry_oids(objs: list[Any], stored_only: bool) -> Iterator[str]:
    for obj in objs:
        if not isinstance(obj, dict):
            continue
        sha = obj.get("sha256")
        if is_oid(sha) and (not stored_only or obj.get("stored", True) is not False):
            yield sha


def gc_roots(ws: Workspace) -> set[str]:
    """Every object a root reaches: ``refs/folio/*``, manifests of every commit reachable
    from any git ref, staged manifests, working manifests, run logs, the recovery log; the
    HEAD, index and working manifests of every work tree (linked ones share the store), and
    the data every work tree's synced manifests name (folio.worktree.synced)."""
    from folio.ops import recovery
    from folio.ops.runs import log_oids

    roots: set[str] = set()
    for _, data in ws.git.reachable_manifest_blobs():
        roots.update(blob_oids(data))
    tops = [ws.manifests_dir, *(Path(wt) / ".folio/manifests"
                                  for wt in ws.git.other_worktrees())]
    for path in (p for top in tops for p in _files_below(top)):
        try:
            with open(path, "rb") as f:
                roots.update(blob_oids(f.read()))
        except FileNotFoundError:
            continue
    roots.update(log_oids(ws.git))
    roots.update(recovery.oids(ws.local_dir))
    for synced in (ws.synced(), *(SyncedState.of(layout.state_dir(wt))
                                  for wt in ws.git.other_worktrees())):
        roots.update(_synced_oids(synced))
    return roots


def _synced_oids(synced: SyncedState) -> Iterator[str]:
    """The data a work tree's synced manifests name: its files as folio last left them
    (a symlinked or hard-linked file there *is* the object, in whichever work tree)."""
    for record in synced.records():
        for digest in record.files.values():
            try:
                yield from blob_oids(synced.blob(record.target, digest))
            except OSError:
                continue


def _files_below(top: os.PathLike[str] | str) -> Iterator[str]:
    for dirpath, _, names in os.walk(top):
        for name in names:
            yield os.path.join(dirpath, name)
