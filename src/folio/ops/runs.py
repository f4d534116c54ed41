"""Runs: a job's outputs and metadata, recorded as a git commit under ``refs/folio/runs/<id>``.

A run commit is shaped exactly like a snapshot commit: its tree is the manifests tree (every
working manifest at the end of the run, so ``folio checkout run:<id>`` restores the whole data
state the job saw and made), and everything else is in trailers of its message (docs/runs.md):
no extra blob in the tree, so checkout, diff and gc treat runs and snapshots alike. The
execution log is an object in the store, named by the ``Folio-Log`` trailer.

Write order: outputs and log into the store, one sync, manifests, then the commit and its ref
(created by compare-and-swap, so a run id is never reused).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
import shlex
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from folio import manifest as mf
from folio.errors import FolioError, TagExistsError
from folio.git.names import validate_ref_component
from folio.git.repo import (
    RUNS_PREFIX,
    SNAPSHOTS_PREFIX,
    TRAILER_BYTES,
    TRAILER_CODE_COMMIT,
    TRAILER_CODE_DIRTY,
    TRAILER_FILES,
    TRAILER_KIND,
    TRAILER_NAME,
    CommitInfo,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from folio.git.repo import GitRepo
    from folio.workspace import Workspace

KIND_RUN = "run"
STATUSES = ("ok", "failed")

# Run-specific trailers (the shared ones live in folio.git.repo). Values are one line each;
# lists are JSON, so any command line or path survives the round trip.
TRAILER_RUN_NAME = "Folio-Run-Name"
TRAILER_COMMAND = "Folio-Command"
TRAILER_STATUS = "Folio-Status"
TRAILER_EXIT_CODE = "Folio-Exit-Code"
TRAILER_STARTED = "Folio-Started"
TRAILER_DURATION = "Folio-Duration"
TRAILER_HOST = "Folio-Host"
TRAILER_LOG = "Folio-Log"
TRAILER_OUTPUTS = "Folio-Outputs"
TRAILER_PATTERNS = "Folio-Patterns"
TRAILER_UNMATCHED = "Folio-Unmatched"
TRAILER_STORE_COPY = "Folio-Store-Copy"

_SLUG_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_ID_ATTEMPTS = 8


@dataclass
class Run:
    """One recorded run. ``id`` is known from the start; the rest is filled in at the end."""

    id: str
    name: str
    command: list[str]
    started: datetime
    status: str = "running"
    exit_code: int | None = None
    duration_s: float | None = None
    code_commit: str | None = None
    dirty: bool | None = None
    host: str = ""
    files: int = 0
    bytes: int = 0
    log: str | None = None  # object id of the execution log
    outputs: list[str] = field(default_factory=list)  # targets captured
    patterns: list[str] = field(default_factory=list)  # as given, repo-relative
    unmatched: list[str] = field(default_factory=list)  # patterns that matched nothing
    store_copy: bool = True
    commit: str | None = None  # the run commit, once recorded

    @property
    def ref(self) -> str:
        return RUNS_PREFIX + self.id

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def command_line(self) -> str:
        return shlex.join(self.command)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "command": self.command,
                "status": self.status, "exit_code": self.exit_code,
                "started": self.started.isoformat(timespec="milliseconds"),
                "duration_s": self.duration_s, "code_commit": self.code_commit,
                "dirty": self.dirty, "host": self.host, "files": self.files,
                "bytes": self.bytes, "log": self.log, "outputs": self.outputs,
                "patterns": self.patterns, "unmatched": self.unmatched,
                "store_copy": self.store_copy, "commit": self.commit}

    # -- trailers -------------------------------------------------------------------------
    def trailers(self) -> dict[str, str]:
        out = {TRAILER_KIND: KIND_RUN, TRAILER_NAME: self.id, TRAILER_RUN_NAME: self.name,
               TRAILER_COMMAND: _dumps(self.command), TRAILER_STATUS: self.status,
               TRAILER_EXIT_CODE: str(self.exit_code),
               TRAILER_STARTED: self.started.isoformat(timespec="milliseconds"),
               TRAILER_DURATION: f"{self.duration_s or 0.0:.3f}",
               TRAILER_HOST: self.host or "unknown"}
        if self.code_commit:
            out[TRAILER_CODE_COMMIT] = self.code_commit
        if self.dirty is not None:
            out[TRAILER_CODE_DIRTY] = "true" if self.dirty else "false"
        out[TRAILER_FILES] = str(self.files)
        out[TRAILER_BYTES] = str(self.bytes)
        if self.log:
            out[TRAILER_LOG] = self.log
        out[TRAILER_OUTPUTS] = _dumps(self.outputs)
        out[TRAILER_PATTERNS] = _dumps(self.patterns)
        if self.unmatched:
            out[TRAILER_UNMATCHED] = _dumps(self.unmatched)
        out[TRAILER_STORE_COPY] = "true" if self.store_copy else "false"
        return out

    @classmethod
    def from_commit(cls, run_id: str, info: CommitInfo) -> Run:
        """Read a run back; missing or malformed trailers give empty values, never errors."""
        t = info.trailers
        started = _parse_time(t.get(TRAILER_STARTED)) or datetime.fromtimestamp(
            info.time, timezone.utc)
        return cls(
            id=run_id, name=t.get(TRAILER_RUN_NAME, ""),
            command=_strings(t.get(TRAILER_COMMAND)), started=started,
            status=t.get(TRAILER_STATUS, "unknown"), exit_code=_int(t.get(TRAILER_EXIT_CODE)),
            duration_s=_float(t.get(TRAILER_DURATION)),
            code_commit=t.get(TRAILER_CODE_COMMIT) or None,
            dirty=_bool(t.get(TRAILER_CODE_DIRTY)), host=t.get(TRAILER_HOST, ""),
            files=_int(t.get(TRAILER_FILES)) or 0, bytes=_int(t.get(TRAILER_BYTES)) or 0,
            log=t.get(TRAILER_LOG) or None, outputs=_strings(t.get(TRAILER_OUTPUTS)),
            patterns=_strings(t.get(TRAILER_PATTERNS)),
            unmatched=_strings(t.get(TRAILER_UNMATCHED)),
            store_copy=_bool(t.get(TRAILER_STORE_COPY)) is not False, commit=info.sha)


# -- starting a run ---------------------------------------------------------------------------

def slug(text: str) -> str:
    """A run name reduced to characters that are safe in a ref and readable in a listing."""
    cleaned = _SLUG_BAD.sub("-", text).strip("-.")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:40].rstrip("-.")
    if cleaned.endswith(".lock"):
        cleaned = cleaned[: -len(".lock")]
    return cleaned or "run"


def default_name(command: Sequence[str]) -> str:
    """``train`` for ``python train.py --lr 1``, ``make`` for ``make all``."""
    if not command:
        return "run"
    first = os.path.basename(command[0])
    if re.fullmatch(r"python[0-9.]*|Rscript|bash|sh|zsh|node|julia", first):
        rest = list(command[1:])
        if rest[:1] == ["-m"] and len(rest) > 1:
            return rest[1].rsplit(".", 1)[-1]
        if rest[:1] != ["-c"]:  # `sh -c 'a; b'` is named after the shell, not the script
            for word in rest:
                if not word.startswith("-"):
                    return os.path.splitext(os.path.basename(word))[0]
    return os.path.splitext(first)[0]


def new_run_id(name: str, when: datetime | None = None) -> str:
    """``20261122-153012-train-3fa2``: UTC start time, the name, four random hex digits."""
    when = when or datetime.now(timezone.utc)
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return validate_ref_component(f"{stamp}-{slug(name)}-{secrets.token_hex(2)}", "run")


def start_run(git: GitRepo, command: Sequence[str], name: str | None,
              patterns: Sequence[str], store_copy: bool) -> Run:
    """A Run with a fresh id and the code state (HEAD, dirty) as the job starts."""
    label = slug(name) if name else slug(default_name(command))
    started = datetime.now(timezone.utc).astimezone()
    run_id = new_run_id(label, started)
    for _ in range(_ID_ATTEMPTS):
        if git.ref_target(RUNS_PREFIX + run_id) is None:
            break
        run_id = new_run_id(label, started)
    shown = " ".join(name.split()) if name else label  # one line: it goes into a trailer
    return Run(id=run_id, name=shown or label, command=list(command), started=started,
               code_commit=git.head_commit(), dirty=_dirty(git), host=socket.gethostname(),
               patterns=list(patterns), store_copy=store_copy)


def _dirty(git: GitRepo) -> bool | None:
    try:
        return git.is_dirty()
    except FolioError:
        return None


# -- recording --------------------------------------------------------------------------------

def record(ws: Workspace, git: GitRepo, run: Run) -> Run:
    """Write the run commit from the working manifests and create its ref (lock held).

    Objects must already be durable (``store.sync()``), as for a snapshot.
    """
    from folio.ops.snapshots import read_manifest_files

    files = read_manifest_files(ws)  # the same tree a snapshot would have
    manifests = ws.manifests()
    run.files = sum(len(m.entries) for m in manifests.values())
    run.bytes = sum(m.total_bytes for m in manifests.values())
    subject = f"run {run.name}: {run.command_line}".replace("\n", " ").replace("\r", " ")
    if len(subject) > 200:
        subject = subject[:197] + "..."
    for _ in range(_ID_ATTEMPTS):
        try:
            run.commit = git.write_snapshot(files, ref=run.ref, message=subject,
                                            trailers=run.trailers())
            return run
        except TagExistsError:  # another process took the id between start and now
            run.id = new_run_id(slug(run.name), run.started)
    raise FolioError(f"could not find a free run id for {run.name!r}")


# -- reading ----------------------------------------------------------------------------------

def list_runs(git: GitRepo, *, status: str | None = None, name: str | None = None) -> list[Run]:
    """Every recorded run, oldest first; ``name`` may be a glob (matched on name or id)."""
    runs = []
    for run_id, sha in git.list_refs(RUNS_PREFIX):
        try:
            run = Run.from_commit(run_id, git.read_commit(sha))
        except FolioError:
            continue  # a ref that does not name a commit is not a run
        if status is not None and run.status != status:
            continue
        if name is not None and not (fnmatch.fnmatchcase(run.name, name)
                                     or fnmatch.fnmatchcase(run.id, name)):
            continue
        runs.append(run)
    return sorted(runs, key=lambda r: (r.started, r.id))


def get_run(git: GitRepo, run_id: str) -> Run:
    """One run by id (``run:`` prefix allowed)."""
    from folio.errors import UnknownRevisionError

    run_id = run_id.removeprefix("run:")
    validate_ref_component(run_id, "run")
    sha = git.ref_target(RUNS_PREFIX + run_id)
    if sha is None:
        raise UnknownRevisionError(f"no run {run_id!r}; `folio runs` lists them")
    return Run.from_commit(run_id, git.read_commit(sha))


def log_oids(git: GitRepo) -> set[str]:
    """Objects that run logs name: roots for garbage collection beside the manifests."""
    out = set()
    for _, sha in git.list_refs(RUNS_PREFIX):
        try:
            oid = git.read_commit(sha).trailers.get(TRAILER_LOG)
        except FolioError:
            continue
        if oid:
            out.add(oid)
    return out


def tree_manifests(git: GitRepo, commit: str, label: str) -> list[mf.Manifest]:
    """The manifests of a snapshot or run commit (its tree is the manifests tree)."""
    from folio.revisions import parse_tree

    files = git.read_tree_files(commit, "")
    return [m for _, m in sorted(parse_tree(files, f"{label}:").items())]


# -- tables -----------------------------------------------------------------------------------

def runs_table(runs: Iterable[Run]) -> pa.Table:
    import pyarrow as pa

    runs = list(runs)
    ts = pa.timestamp("us", tz="UTC")
    return pa.table({
        "run_id": pa.array([r.id for r in runs], pa.string()),
        "name": pa.array([r.name for r in runs], pa.string()),
        "command": pa.array([r.command_line for r in runs], pa.string()),
        "status": pa.array([r.status for r in runs], pa.string()),
        "exit_code": pa.array([r.exit_code for r in runs], pa.int64()),
        "started": pa.array([r.started for r in runs], ts),
        "duration_s": pa.array([r.duration_s for r in runs], pa.float64()),
        "code_commit": pa.array([r.code_commit for r in runs], pa.string()),
        "dirty": pa.array([r.dirty for r in runs], pa.bool_()),
        "host": pa.array([r.host for r in runs], pa.string()),
        "files": pa.array([r.files for r in runs], pa.int64()),
        "bytes": pa.array([r.bytes for r in runs], pa.int64()),
        "log": pa.array([r.log for r in runs], pa.string()),
        "outputs": pa.array([r.outputs for r in runs], pa.list_(pa.string())),
    })


QUERY_COLUMNS = ("source", "id", "target", "path", "type", "size", "sha256", "stored",
                 "created")


def query_table(git: GitRepo, sources: Sequence[str] = ("snapshot", "run")) -> pa.Table:
    """One row per file of every snapshot and run: where it was, what it held, when."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = {c: [] for c in QUERY_COLUMNS}
    prefixes = {"snapshot": SNAPSHOTS_PREFIX, "run": RUNS_PREFIX}
    for source in sources:
        for name, sha in git.list_refs(prefixes[source]):
            try:
                info = git.read_commit(sha)
            except FolioError:
                continue  # a ref that names no commit holds no items
            label = f"run:{name}" if source == "run" else name
            manifests = tree_manifests(git, sha, label)  # a broken one is an error, not a gap
            created = datetime.fromtimestamp(info.time, timezone.utc)
            for manifest in manifests:
                for entry in manifest.sorted_entries():
                    cols["source"].append(source)
                    cols["id"].append(name)
                    cols["target"].append(manifest.target)
                    cols["path"].append(manifest.location(entry.path))
                    cols["type"].append("link" if entry.is_link else entry.type)
                    cols["size"].append(entry.size)
                    cols["sha256"].append(entry.sha256)
                    cols["stored"].append(entry.stored)
                    cols["created"].append(created)
    types = {"size": pa.int64(), "stored": pa.bool_(), "created": pa.timestamp("us", tz="UTC")}
    return pa.table({c: pa.array(v, types.get(c, pa.string())) for c, v in cols.items()})


# -- trailer values ---------------------------------------------------------------------------

def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _strings(raw: str | None) -> list[str]:
    try:
        value = json.loads(raw) if raw else []
    except (ValueError, RecursionError):
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _bool(raw: str | None) -> bool | None:
    return {"true": True, "false": False}.get(raw or "")


def _parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
