"""Runs: a job's outputs and metadata, recorded as a git commit under ``refs/folio/runs/<id>``.

A run commit is shaped exactly like a snapshot commit: its tree is the manifests tree (every
working manifest at the end of the run, so ``folio checkout run:<id>`` restores the whole data
state the job saw and made), and everything else is in trailers of its message (docs/runs.md):
no extra blob in the tree, so checkout, diff and gc treat runs and snapshots alike. Its parent
is the code commit it ran on (HEAD at the start), so history views show runs as side
branches of the code instead of root commits. The execution log is an object in the
store, named by the ``Folio-Log`` trailer.

Write order: outputs and log into the store, one sync, manifests, then the commit and its ref
(created by compare-and-swap, so a run id is never reused).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import operator
import os
import re
import secrets
import shlex
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
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

class BadQuery(FolioError):
    """A malformed ``--param``, ``--where`` or ``--sort``: the CLI makes it a usage error."""


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
TRAILER_STALE = "Folio-Stale"
TRAILER_OUTPUT_FILES = "Folio-Output-Files"
TRAILER_OUTPUT_BYTES = "Folio-Output-Bytes"
TRAILER_PARAMS = "Folio-Params"
TRAILER_METRICS = "Folio-Metrics"

# Bounds that keep a run record small (it is one commit message, read by every listing).
MAX_VALUES = 100  # params, and metrics, per run
MAX_KEY = 100  # characters of a param or metric name
MAX_TEXT = 200  # characters of a string value

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
    stale: list[str] = field(default_factory=list)  # matched, but not written by the run
    output_files: int = 0  # files and bytes of the outputs the run produced
    output_bytes: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    metrics_paths: list[str] = field(default_factory=list)  # where to read metrics from
    fs_start_ns: int = 0  # the file system's clock at the start (not recorded)

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
                "store_copy": self.store_copy, "commit": self.commit,
                "stale": self.stale, "output_files": self.output_files,
                "output_bytes": self.output_bytes, "params": self.params,
                "metrics": self.metrics}

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
        if self.stale:
            out[TRAILER_STALE] = _dumps(self.stale)
        out[TRAILER_OUTPUT_FILES] = str(self.output_files)
        out[TRAILER_OUTPUT_BYTES] = str(self.output_bytes)
        if self.params:
            out[TRAILER_PARAMS] = _dumps(self.params)
        if self.metrics:
            out[TRAILER_METRICS] = _dumps(self.metrics)
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
            store_copy=_bool(t.get(TRAILER_STORE_COPY)) is not False, commit=info.sha,
            stale=_strings(t.get(TRAILER_STALE)),
            output_files=_int(t.get(TRAILER_OUTPUT_FILES)) or 0,
            output_bytes=_int(t.get(TRAILER_OUTPUT_BYTES)) or 0,
            params=_values(t.get(TRAILER_PARAMS)), metrics=_values(t.get(TRAILER_METRICS)))


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
              patterns: Sequence[str], store_copy: bool, *,
              ws: Workspace | None = None) -> Run:
    """A Run with a fresh id and the code state (HEAD, dirty) as the job starts.

    With ``ws``, the start is also taken on the file system's clock (what tells outputs
    the run wrote from older ones) and folio's own .gitignore lines do not make it dirty.
    """
    label = slug(name) if name else slug(default_name(command))
    started = datetime.now(timezone.utc).astimezone()
    run_id = new_run_id(label, started)
    for _ in range(_ID_ATTEMPTS):
        if git.ref_target(RUNS_PREFIX + run_id) is None:
            break
        run_id = new_run_id(label, started)
    shown = " ".join(name.split()) if name else label  # one line: it goes into a trailer
    run = Run(id=run_id, name=shown or label, command=list(command), started=started,
              code_commit=git.head_commit(), host=socket.gethostname(),
              patterns=list(patterns), store_copy=store_copy)
    run.dirty = _dirty(git, run.code_commit, ws)
    if ws is not None:
        run.fs_start_ns = fs_now_ns(ws)
    return run


def fs_now_ns(ws: Workspace) -> int:
    """Now on the clock the file system stamps files with (coarser than time.time_ns()
    on Linux, so a file written just after the start never looks older than it)."""
    import time

    from folio._fs import temp_name

    tmp = ws.local_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    marker = temp_name(tmp, "run-start.")
    try:
        with open(marker, "xb"):
            pass
        return min(os.lstat(marker).st_mtime_ns, time.time_ns())
    except OSError:
        return time.time_ns() - 20_000_000  # no marker: allow for a coarse clock
    finally:
        with contextlib.suppress(OSError):
            os.unlink(marker)


def _dirty(git: GitRepo, head: str | None, ws: Workspace | None) -> bool | None:
    """Tracked files differ from HEAD, not counting ``.folio/`` and the lines folio keeps
    in the top-level .gitignore (the targets' lines and its header)."""
    try:
        if git.is_dirty((".folio/", ".gitignore")):
            return True
        if not git.is_dirty((".folio/",)):
            return False
    except FolioError:
        return None
    if ws is None or head is None:
        return True
    from folio.workspace import GITIGNORE_HEADER, gitignore_line

    ours = {GITIGNORE_HEADER, *(gitignore_line(t) for t in ws.targets())}
    try:
        now = ws.gitignore_path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        now = []
    except (OSError, UnicodeDecodeError):
        return True
    then = (git.read_file(head, ".gitignore") or b"").decode("utf-8", "replace").splitlines()
    return [x for x in now if x not in ours] != [x for x in then if x not in ours]


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
    # Parented on the code commit it ran on (as DVC's experiments are): `git log --graph`
    # shows each run as a side branch of that commit instead of one more root commit.
    parent = run.code_commit if run.code_commit and _is_commit(git, run.code_commit) else None
    for _ in range(_ID_ATTEMPTS):
        try:
            run.commit = git.write_snapshot(files, ref=run.ref, message=subject,
                                            trailers=run.trailers(), parent=parent)
            return run
        except TagExistsError:  # another process took the id between start and now
            run.id = new_run_id(slug(run.name), run.started)
    raise FolioError(f"could not find a free run id for {run.name!r}")


def _is_commit(git: GitRepo, sha: str) -> bool:
    try:
        git.resolve_commit(sha)
    except FolioError:
        return False
    return True


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


# -- deleting ---------------------------------------------------------------------------------

def delete_runs(ws: Workspace, run_ids: Sequence[str],
                push_to: str | None = None) -> list[tuple[str, str | None]]:
    """Delete the refs of runs ``run_ids``; return (id, commit it named here or None).

    Every id is checked before any is deleted. ``push_to`` (a git remote) deletes each
    there first, only if it names the same commit there (``--force-with-lease``), so
    someone else's run is never removed; deleted only here, a run comes back on the next
    fetch while the remote has it. The objects only the run named (its log, outputs no
    other version holds) go at the next ``folio gc``.
    """
    from folio.errors import UnknownRevisionError
    from folio.git.repo import MIRROR_PREFIX

    git = ws.git
    plan: list[tuple[str, str | None, str | None]] = []  # id, here, there
    for raw in dict.fromkeys(r.removeprefix("run:") for r in run_ids):
        validate_ref_component(raw, "run")
        here = git.ref_target(RUNS_PREFIX + raw)
        there = None
        if push_to is not None:
            there = git.ref_target(f"{MIRROR_PREFIX}{push_to}/runs/{raw}") or here
            if there is None:
                found = dict(git.remote_refs(push_to, RUNS_PREFIX + raw) or [])
                there = found.get(RUNS_PREFIX + raw)
        if here is None and there is None:
            where = f" here nor on git remote {push_to}" if push_to else ""
            raise UnknownRevisionError(f"no run {raw!r}{where}; `folio runs` lists them")
        plan.append((raw, here, there))
    if push_to is not None:
        for run_id, _, there in plan:
            _delete_remote_run(git, push_to, run_id, there)
    with ws.lock.hold("folio runs --delete"):
        for run_id, here, _ in plan:
            if here is not None:
                git.delete_ref(RUNS_PREFIX + run_id, here)
    return [(run_id, here) for run_id, here, _ in plan]


def _delete_remote_run(git: GitRepo, remote: str, run_id: str, expected: str | None) -> None:
    from folio.errors import RefError, RemoteError
    from folio.git.repo import MIRROR_PREFIX

    ref = RUNS_PREFIX + run_id
    try:
        git.push_delete(remote, ref, expected)
    except RemoteError as exc:
        why = ("it names another commit there: someone else's run" if "stale info"
               in exc.message else exc.message)
        raise RemoteError(f"run {run_id} not deleted on git remote {remote}: {why}") from None
    mirror = f"{MIRROR_PREFIX}{remote}/runs/{run_id}"
    seen = git.ref_target(mirror)
    if seen is not None:
        with contextlib.suppress(RefError):  # the mirror follows the remote at the next fetch
            git.delete_ref(mirror, seen)


# -- tables -----------------------------------------------------------------------------------

def runs_table(runs: Iterable[Run]) -> pa.Table:
    """One row per run; each param and metric a typed column (``param.lr``, ``metric.auc``):
    int64 or float64 when every value given is a number, bool when all are, else string."""
    import pyarrow as pa

    runs = list(runs)
    ts = pa.timestamp("us", tz="UTC")
    columns = {
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
        "stale": pa.array([r.stale for r in runs], pa.list_(pa.string())),
        "output_files": pa.array([r.output_files for r in runs], pa.int64()),
        "output_bytes": pa.array([r.output_bytes for r in runs], pa.int64()),
    }
    for kind, key in value_columns(runs):
        values = [(r.params if kind == "param" else r.metrics).get(key) for r in runs]
        columns[f"{kind}.{key}"] = _typed(values)
    return pa.table(columns)


def _typed(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    given = [v for v in values if v is not None]
    if given and all(isinstance(v, bool) for v in given):
        return pa.array(values, pa.bool_())
    if all(_is_number(v) for v in given):
        if all(isinstance(v, int) for v in given):
            return pa.array(values, pa.int64())
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array([None if v is None else v if isinstance(v, str) else _dumps(v)
                     for v in values], pa.string())


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


# -- params and metrics -----------------------------------------------------------------------

def parse_value(text: str) -> Any:
    """``0.1`` -> 0.1, ``3`` -> 3, ``true`` -> True, anything else stays a string."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if kind is int or math.isfinite(value):
            return value
    return text


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``["lr=0.1", "model=rf"]`` -> ``{"lr": 0.1, "model": "rf"}`` (UsageError if no ``=``)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not _NAME.fullmatch(key):
            raise BadQuery(f"--param {pair!r}: give NAME=VALUE (NAME of letters, digits, "
                             "_ . -)")
        out[key] = parse_value(value)
    return out


def load_values(path: Path, what: str, shown: str | None = None) -> dict[str, Any]:
    """The scalars of a JSON, TOML or (when PyYAML is installed) YAML file, nested keys
    joined with ``.``; FolioError naming the file (as ``shown``) when it cannot be read."""
    shown = shown or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FolioError(f"{what} {shown}: cannot read it ({exc.strerror})") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(raw.decode("utf-8"))
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise FolioError(f"{what} {shown}: YAML needs PyYAML (pip install pyyaml); "
                                 "or use JSON or TOML") from None
            data = yaml.safe_load(raw)
        else:
            data = json.loads(raw)
    except FolioError:
        raise
    except Exception as exc:  # each parser has its own error type
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FolioError(f"{what} {shown}: not valid {suffix.lstrip('.') or 'json'}: "
                         f"{reason}") from None
    if not isinstance(data, dict):
        raise FolioError(f"{what} {shown}: must hold a mapping of names to values")
    return _flatten(data)


def _flatten(data: dict[Any, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, bool | int | str) or (isinstance(value, float)
                                                     and math.isfinite(value)):
            out[name] = value
    return out


def bounded(values: dict[str, Any], what: str) -> tuple[dict[str, Any], list[str]]:
    """At most MAX_VALUES entries, names and strings cut to size; notes on what was cut."""
    out: dict[str, Any] = {}
    notes = []
    for key, value in values.items():
        if len(out) == MAX_VALUES:
            notes.append(f"{what}: only the first {MAX_VALUES} kept")
            break
        if len(key) > MAX_KEY or not key.isprintable():
            notes.append(f"{what}: {key[:40]!r}: name too long or not printable; dropped")
            continue
        if isinstance(value, str) and len(value) > MAX_TEXT:
            value = value[:MAX_TEXT]
            notes.append(f"{what}: {key}: value cut to {MAX_TEXT} characters")
        out[key] = value
    return out, notes


def run_params(ws: Workspace, pairs: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Params of a new run: the config's ``[run] params`` file, then ``--param`` on top."""
    values: dict[str, Any] = {}
    name = ws.config.get("run", "params")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise FolioError("run.params in .folio/config.toml must be a file name")
        values.update(load_values(ws.root / name, "params file", name))
    values.update(parse_params(pairs))
    return bounded(values, "params")


def read_metrics(root: Path, paths: Sequence[str],
                 since_ns: int) -> tuple[dict[str, Any], list[str]]:
    """Metrics from the files the run wrote (later files win); a file missing, older than
    the run or unreadable gives a note, never an error: the run is recorded anyway."""
    values: dict[str, Any] = {}
    notes = []
    for rel in paths:
        path = root / rel
        try:
            st = path.stat()
        except OSError:
            notes.append(f"metrics {rel}: not there; no metrics read from it")
            continue
        if since_ns and max(st.st_mtime_ns, st.st_ctime_ns) < since_ns:
            notes.append(f"metrics {rel}: not written by this run; not read")
            continue
        try:
            values.update(load_values(path, "metrics", rel))
        except FolioError as exc:
            notes.append(str(exc))
    out, cut = bounded(values, "metrics")
    return out, notes + cut


# -- sorting, filtering, comparing -------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_WHERE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(<=|>=|==|!=|<|>|=)\s*"
                    r"('[^']*'|\"[^\"]*\"|[A-Za-z0-9_.+\-:]+)\s*")
_FIELDS = ("id", "name", "status", "exit_code", "started", "duration_s", "host", "dirty",
           "output_files", "output_bytes", "code_commit")


def field_value(run: Run, name: str) -> Any:
    """What ``name`` means for a run: ``param.X``, ``metric.X``, a bare metric or param
    name (metrics first), or a recorded field (``duration_s``, ``status``...)."""
    if name.startswith("param."):
        return run.params.get(name[6:])
    if name.startswith("metric."):
        return run.metrics.get(name[7:])
    if name in run.metrics:
        return run.metrics[name]
    if name in run.params:
        return run.params[name]
    if name in _FIELDS:
        value = getattr(run, name)
        return value.timestamp() if isinstance(value, datetime) else value
    return None


@dataclass(frozen=True)
class Condition:
    """``lr<0.1``: a name, a comparison, a number or string. Parsed, never evaluated."""

    name: str
    op: str
    value: Any

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _WHERE.fullmatch(text)
        if not match or not match.group(3):
            raise BadQuery(f"--where {text!r}: write NAME OP VALUE, OP one of "
                             "< <= > >= == !=  (e.g. 'lr<0.1', 'model==rf')")
        name, op, raw = match.groups()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            value: Any = raw[1:-1]
        else:
            value = parse_value(raw)
        return cls(name, "==" if op == "=" else op, value)

    def holds(self, run: Run) -> bool:
        """False when the run lacks the value or it cannot be compared (a string with a
        number): filters keep only runs they can say something about."""
        have = field_value(run, self.name)
        if have is None:
            return False
        a: Any
        b: Any
        if _is_number(have) and _is_number(self.value):
            a, b = float(have), float(self.value)
        elif isinstance(have, bool) or isinstance(self.value, bool):
            a, b = str(have).lower(), str(self.value).lower()
        elif isinstance(have, str) and isinstance(self.value, str):
            a, b = have, self.value
        else:
            return self.op == "!="  # a number against a string: only unequal
        return bool(_OPS[self.op](a, b))


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "==": operator.eq, "!=": operator.ne}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def filter_runs(runs: Iterable[Run], where: Sequence[str]) -> list[Run]:
    """Runs for which every condition holds (several are ANDed)."""
    conditions = [Condition.parse(w) for w in where]
    return [r for r in runs if all(c.holds(r) for c in conditions)]


def sort_runs(runs: Iterable[Run], key: str) -> list[Run]:
    """Sorted by ``key`` (``-key``: descending); runs without it go last either way."""
    descending = key.startswith("-")
    name = key.lstrip("-+")
    if not _NAME.fullmatch(name):
        raise BadQuery(f"--sort {key!r}: give a param, metric or field name, '-' first "
                         "for descending")
    runs = list(runs)
    have = [r for r in runs if field_value(r, name) is not None]
    missing = [r for r in runs if field_value(r, name) is None]

    def order(run: Run) -> tuple[int, Any]:
        value = field_value(run, name)
        return (0, float(value)) if _is_number(value) else (1, str(value))

    return sorted(have, key=order, reverse=descending) + missing


def value_columns(runs: Sequence[Run]) -> list[tuple[str, str]]:
    """(kind, name) of every param and metric some run has: params first, by name."""
    params = sorted({k for r in runs for k in r.params})
    metrics = sorted({k for r in runs for k in r.metrics})
    return [("param", k) for k in params] + [("metric", k) for k in metrics]


def compare(ws: Workspace, git: GitRepo, a: str, b: str) -> dict[str, Any]:
    """Params, metrics and outputs of runs ``a`` and ``b`` side by side: differences only,
    plus how many were the same."""
    run_a, run_b = get_run(git, a), get_run(git, b)
    out: dict[str, Any] = {"a": run_a.id, "b": run_b.id}
    for what in ("params", "metrics"):
        va, vb = getattr(run_a, what), getattr(run_b, what)
        keys = sorted(set(va) | set(vb))
        out[what] = {k: [va.get(k), vb.get(k)] for k in keys if va.get(k) != vb.get(k)
                     or type(va.get(k)) is not type(vb.get(k))}
        out[f"same_{what}"] = len(keys) - len(out[what])
    ma = {m.target: m for m in tree_manifests(git, run_a.commit or "", f"run:{run_a.id}")}
    mb = {m.target: m for m in tree_manifests(git, run_b.commit or "", f"run:{run_b.id}")}
    outputs: dict[str, str] = {}
    for target in sorted(set(run_a.outputs) | set(run_b.outputs) | set(run_a.stale)
                         | set(run_b.stale)):
        state_a = _output_state(run_a, target)
        state_b = _output_state(run_b, target)
        if target in ma and target in mb and _same(ma[target], mb[target]):
            content = "same content"
        elif target in ma and target in mb:
            content = "content differs"
        else:
            content = "only in " + ("a" if target in ma else "b")
        outputs[target] = f"{state_a} / {state_b}; {content}"
    out["outputs"] = outputs
    return out


def _output_state(run: Run, target: str) -> str:
    if target in run.outputs:
        return "produced"
    return "stale" if target in run.stale else "-"


def _same(a: mf.Manifest, b: mf.Manifest) -> bool:
    def key(m: mf.Manifest) -> list[tuple[str, str | None]]:
        return [(e.path, e.sha256) for e in m.sorted_entries()]

    return key(a) == key(b)


# -- trailer values ---------------------------------------------------------------------------

def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _strings(raw: str | None) -> list[str]:
    try:
        value = json.loads(raw) if raw else []
    except (ValueError, RecursionError):
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _values(raw: str | None) -> dict[str, Any]:
    """A params or metrics trailer: a JSON object of scalars (anything else is dropped)."""
    try:
        value = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items()
            if isinstance(v, (int, float, str, bool)) and not isinstance(v, dict)}


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
