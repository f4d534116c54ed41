"""Capture outputs into tracked targets: by exact name, directory or glob (``*``, ``**``).

Patterns are checked before any job runs (a pattern that leaves the repo or enters ``.git`` /
``.folio`` is refused then, so nothing has happened yet); they are expanded after it, when the
outputs exist. Each match becomes a tracked target exactly as ``folio add`` would make it; a
match inside an existing target captures that whole target. A pattern that matches nothing
is reported, never fatal: a job that failed half-way still gets its record.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from folio.errors import FolioError, PathError
from folio.manifest import Manifest
from folio.ops import track
from folio.paths import is_within, repo_relative
from folio.progress import NULL, Progress
from folio.worktree.scan import scan_target

if TYPE_CHECKING:
    from folio.git.repo import GitRepo
    from folio.ops.runs import Run
    from folio.ops.track import AddResult
    from folio.workspace import Workspace


@dataclass
class CaptureResult:
    """What one capture did: the targets it wrote, and what it could not find or refused."""

    patterns: list[str]
    targets: list[str] = field(default_factory=list)
    results: list[AddResult] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line each, for stderr
    gitignore_changed: bool = False
    stale: list[str] = field(default_factory=list)  # matched, but not written since the start

    @property
    def changed(self) -> list[AddResult]:
        return [r for r in self.results if r.changed]

    def paths_to_stage(self) -> list[str]:
        """Files a user must ``git add`` to record this capture."""
        paths = [r.manifest for r in self.changed]
        return ([".gitignore"] if self.gitignore_changed else []) + paths

    def stage_message(self) -> str | None:
        """The pre-commit convention's one line when files changed, else None."""
        if not self.changed and not self.gitignore_changed:
            return None
        n = len(self.changed)
        return (f"folio captured {n} changed output{'' if n == 1 else 's'}; stage "
                f"{' '.join(self.paths_to_stage())} and commit again")

    def warnings(self) -> list[str]:
        """One line per pattern that matched nothing and per match that was refused."""
        return [f"{p}: matches nothing" for p in self.unmatched] + list(self.notes)


def check_patterns(root: Path, patterns: Sequence[str], cwd: Path | None = None) -> list[str]:
    """Repo-relative forms of ``patterns``, or PathError for the first one that escapes.

    Checked lexically (outputs may not exist yet) with every existing directory above
    resolved, so ``../x``, ``/elsewhere/*``, ``.folio/*`` and a symlink leading out are
    refused before the job starts.
    """
    out = []
    for pattern in patterns:
        text = os.fspath(pattern)
        if not text.strip():
            raise PathError("an output pattern is empty")
        out.append(repo_relative(root, text, cwd))
    return out


def resolve_outputs(ws: Workspace, patterns: Sequence[str]) -> tuple[list[str], list[str],
                                                                  list[str]]:
    """(repo-relative paths found, patterns that matched nothing, notes on refused matches)."""
    found: list[str] = []
    unmatched: list[str] = []
    notes: list[str] = []
    root = ws.root
    for pattern in patterns:
        absolute = os.path.join(root, pattern)
        if glob.has_magic(pattern) and not os.path.lexists(absolute):
            matches = sorted(glob.glob(absolute, recursive=True))
        else:
            matches = [absolute] if os.path.lexists(absolute) else []
        hits = 0
        for match in matches:
            if os.path.normpath(match) == os.path.normpath(root):
                continue  # `**` also matches the top itself
            try:
                rel = repo_relative(root, match, root)
            except PathError as exc:
                notes.append(f"{pattern}: {exc}")
                continue
            hits += 1
            found.append(rel)
        if not hits and not matches:
            unmatched.append(pattern)
    return _outermost(found), unmatched, notes


def _outermost(paths: list[str]) -> list[str]:
    """Drop paths inside another path of the list (``results`` covers ``results/a.csv``)."""
    out: list[str] = []
    for path in sorted(set(paths)):
        if not out or not is_within(path, out[-1]):
            out.append(path)
    return out


def to_targets(paths: Sequence[str], existing: Sequence[str]) -> tuple[list[str], list[str]]:
    """Targets that capture ``paths``: the tracked target holding one, or the path itself."""
    targets: set[str] = set()
    notes: list[str] = []
    for path in paths:
        owner = next((t for t in existing if is_within(path, t)), None)
        if owner is not None:
            targets.add(owner)
            continue
        inner = [t for t in existing if is_within(t, path)]
        if inner:
            targets.update(inner)
            notes.append(f"{path}: holds the tracked target(s) {', '.join(inner[:3])}; "
                         "captured those only (track the rest separately)")
            continue
        targets.add(path)
    return sorted(targets), notes


def capture_outputs(ws: Workspace, patterns: Sequence[str], *, store_copy: bool = True,
                    progress: Progress = NULL, jobs: int | None = None,
                    since_ns: int | None = None) -> CaptureResult:
    """Expand repo-relative ``patterns`` and capture what they match (takes the lock).

    With ``since_ns`` (a run's start on the file system's clock) a target nothing in which
    was written, created or deleted since then is not the run's: it is left as it was and
    listed in ``stale`` instead of captured.
    """
    result = CaptureResult(list(patterns))
    with ws.lock.hold("folio capture"):
        paths, result.unmatched, result.notes = resolve_outputs(ws, patterns)
        existing = ws.targets()
        targets, notes = to_targets(paths, existing)
        result.notes.extend(notes)
        targets = [t for t in targets if _scannable(ws, t, existing, result.notes)]
        if since_ns is not None:
            result.stale = [t for t in targets if not written_since(ws.root / t, since_ns)]
            targets = [t for t in targets if t not in result.stale]
            result.notes.extend(f"{t}: not written by this run (older than its start); "
                                "not captured" for t in result.stale)
        if not targets:
            return result
        result.results = track.record(ws, targets, store_copy, progress, jobs)
        result.targets = targets
        gitignore = ws.root / ".gitignore"
        before = _read(gitignore)
        ws.ignore_in_git(targets)
        result.gitignore_changed = _read(gitignore) != before
    return result


def written_since(path: Path, since_ns: int) -> bool:
    """Whether ``path``, or anything below it, changed at or after ``since_ns`` (mtime or
    ctime, not following links: a directory's own times move when an entry is added or
    removed, so a deleted output counts too)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if max(st.st_mtime_ns, st.st_ctime_ns) >= since_ns:
        return True
    if not path.is_dir() or path.is_symlink():
        return False
    for top, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            try:
                st = os.lstat(os.path.join(top, name))
            except FileNotFoundError:
                continue
            if max(st.st_mtime_ns, st.st_ctime_ns) >= since_ns:
                return True
    return False


def _scannable(ws: Workspace, target: str, existing: Sequence[str], notes: list[str]) -> bool:
    """Refuse, with a note, a target that `add` would refuse (escaping links, fifos...)."""
    absolute = ws.root / target
    if target in existing:
        kind = ws.read_manifest(target).kind
    else:
        kind = "dir" if absolute.is_dir() and not absolute.is_symlink() else "file"
    try:
        scan_target(ws.root, Manifest(target, kind), ws.store.root)
    except FolioError as exc:
        notes.append(str(exc))
        return False
    return True


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def capture_configured(ws: Workspace, *, progress: Progress = NULL) -> CaptureResult:
    """Capture the outputs named in ``.folio/config.toml`` ``[capture] outputs``."""
    patterns = check_patterns(ws.root, ws.config.capture_outputs, ws.root)
    if not patterns:
        return CaptureResult([])
    return capture_outputs(ws, patterns, progress=progress)


class Capture:
    """``with repo.capture(["df.csv", "plots/*.png"]) as run:`` — capture on exit, as a run.

    The patterns (relative to the repository root) are checked on construction, before
    the body runs. ``run.id`` is known inside the block (handy for naming outputs), and
    metrics set in ``run.metrics`` there are kept (over those read from ``metrics``
    files); the rest of the :class:`~folio.ops.runs.Run`
    (status, outputs, commit...) is filled in on exit. If the body raises, the run is
    recorded as failed with whatever outputs exist, its traceback is kept as the log, and
    the exception propagates unchanged.
    """

    def __init__(self, ws: Workspace, patterns: Sequence[str | os.PathLike[str]], *,
                 store_copy: bool = True, name: str | None = None,
                 command: Sequence[str] | None = None, cwd: Path | None = None,
                 params: Mapping[str, Any] | None = None,
                 metrics: Sequence[str | os.PathLike[str]] = ()) -> None:
        self.repo = ws
        self.patterns = check_patterns(ws.root, [os.fspath(p) for p in patterns],
                                       cwd if cwd is not None else ws.root)
        self.store_copy = store_copy
        self.name = name
        self.params = dict(params or {})
        self.metrics = [check_patterns(ws.root, [os.fspath(m)], ws.root)[0]
                        for m in metrics]
        self.command = list(command) if command is not None else list(sys.argv)
        self.result: CaptureResult | None = None
        self._run: Run | None = None
        self._clock = 0.0

    @property
    def run(self) -> Run | None:
        return self._run

    def __enter__(self) -> Run:
        import time

        from folio.git.repo import GitRepo
        from folio.ops.runs import start_run

        self._git = GitRepo(self.repo.root)
        from folio.ops.runs import bounded

        self._run = start_run(self._git, self.command, self.name, self.patterns,
                              self.store_copy, ws=self.repo)
        self._run.params, _ = bounded(self.params, "params")
        self._run.metrics_paths = self.metrics
        self._clock = time.monotonic()
        return self._run

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # None: the body's exception propagates
        import time

        assert self._run is not None, "Capture used without `with`"
        run = self._run
        run.duration_s = round(time.monotonic() - self._clock, 3)
        run.exit_code = 0 if exc is None else _exit_code(exc)
        run.status = "ok" if run.exit_code == 0 else "failed"  # sys.exit(0) is success
        log = None
        if run.exit_code != 0:
            log = "".join(traceback.format_exception(exc_type, exc, tb)).encode()
        try:
            self.result = finish_run(self.repo, self._git, run, log)
        except Exception as error:
            if run.exit_code == 0:
                raise
            # The body's exception matters more; say why the record is missing, keep going.
            print(f"folio: warning: run {run.id} not recorded: {error}", file=sys.stderr)


def finish_run(ws: Workspace, git: GitRepo, run: Run, log: bytes | None,
               log_path: Path | None = None, progress: Progress = NULL) -> CaptureResult:
    """Store the log, capture the outputs, write the run commit: one locked step."""
    from folio.ops.runs import bounded, read_metrics, record

    with ws.lock.hold(f"folio run {run.id}"):
        if log_path is not None:
            run.log, _ = ws.store.put_file(log_path)
        elif log is not None:
            run.log = ws.store.put_bytes(log)
        result = capture_outputs(ws, run.patterns, store_copy=run.store_copy,
                                 progress=progress, since_ns=run.fs_start_ns or None)
        ws.store.sync()  # the log too is durable before the run commit names it
        run.outputs = result.targets
        run.unmatched = result.unmatched
        run.stale = result.stale
        manifests = [ws.read_manifest(t) for t in result.targets]
        run.output_files = sum(len(m.entries) for m in manifests)
        run.output_bytes = sum(m.total_bytes for m in manifests)
        if run.metrics_paths or run.metrics:
            found, notes = read_metrics(ws.root, run.metrics_paths, run.fs_start_ns)
            run.metrics, cut = bounded({**found, **run.metrics}, "metrics")
            result.notes.extend(notes + cut)
        record(ws, git, run)
    return result


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 1


def run_job(ws: Workspace, command: Sequence[str], patterns: Sequence[str], *,
            store_copy: bool = True, name: str | None = None, cwd: Path | None = None,
            progress: Progress = NULL, echo: bool = True, params: Sequence[str] = (),
            metrics: Sequence[str] = ()) -> tuple[Run, CaptureResult]:
    """``folio run``: check the patterns, run ``command``, keep its log, capture, record.

    The job sees ``FOLIO_RUN_ID`` in its environment. Its exit code is in ``run.exit_code``;
    a failed job is recorded (as failed) like a successful one. ``params`` are
    ``NAME=VALUE`` (over the config's ``[run] params`` file); ``metrics`` name files the
    job writes, read after it.
    """
    import time

    from folio._fs import remove_readonly, temp_name
    from folio.git.repo import GitRepo
    from folio.ops.runs import run_params, start_run
    from folio.runner import execute

    if not command:
        raise FolioError("no command to run; put it after `--`")
    checked = check_patterns(ws.root, patterns, cwd)  # before the job can do anything
    metric_paths = check_patterns(ws.root, metrics, cwd)
    values, notes = run_params(ws, params)
    git = GitRepo(ws.root)
    run = start_run(git, command, name, checked, store_copy, ws=ws)
    run.params, run.metrics_paths = values, metric_paths
    ws.store.staging.mkdir(parents=True, exist_ok=True)
    log_path = temp_name(ws.store.staging, f"run-{run.id}.log.")
    clock = time.monotonic()
    env = {**os.environ, "FOLIO_RUN_ID": run.id}
    if values:
        env["FOLIO_PARAMS"] = json.dumps(values)
    try:
        code = execute(command, log_path, env=env, cwd=cwd, echo=echo)
        run.duration_s = round(time.monotonic() - clock, 3)
        run.exit_code = code
        run.status = "ok" if code == 0 else "failed"
        result = finish_run(ws, git, run, None, log_path, progress)
    finally:
        remove_readonly(log_path)
    result.notes[:0] = notes
    return run, result
