"""Benchmark suites: each is a function of a Context, registered by name with @suite.

A suite prepares untimed state (fresh git repo, copied data, edits), then measures each
contestant's command with `Context.measure`. It also declares the table rows it filled, each
with the physical floor it is compared with. New suites (snapshot, push/pull against a moto
server, ...) are new decorated functions; run.py picks them up from SUITES.
"""

from __future__ import annotations

import ctypes
import filecmp
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import workloads
from measure import (
    ERROR,
    OK,
    SKIPPED,
    Measurement,
    measure,
    not_run,
    run_checked,
    time_in_process,
)
from peers import Contestant
from workloads import Workload

FLOOR = "floor"


@dataclass
class Row:
    """One line of the results table: a step, its label and the floor it is held against."""

    section: str
    step: str
    label: str
    floor: str | None = None


@dataclass
class Context:
    """Everything a suite needs: options, contestants, and where results accumulate."""

    workdir: Path
    files: int
    huge: bool
    repeat: int
    timeout: float
    env: dict[str, str]
    contestants: list[Contestant]
    log: Callable[[str], None]
    results: dict[tuple[str, str], Measurement] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    workload_notes: list[str] = field(default_factory=list)

    def record(self, m: Measurement) -> Measurement:
        """Keep a measurement and print one progress line."""
        self.results[(m.step, m.contestant)] = m
        if m.status == OK:
            runs = len(m.times)
            what = f"{m.seconds:.3f} s (median of {runs})" if runs > 1 else f"{m.seconds:.3f} s"
            if m.peak_mib:
                what += f", peak {m.peak_mib:.0f} MiB"
        else:
            what = f"{m.status}: {' '.join(m.detail.split())[:200]}"
        self.log(f"  {m.step:<28} {m.contestant:<8} {what}")
        return m

    def measure(
        self,
        step: str,
        contestant: str,
        cmd: Sequence[str] | Callable[[int], Sequence[str]],
        cwd: Path,
        env: dict[str, str] | None = None,
        setup: Callable[[int], None] | None = None,
    ) -> Measurement:
        """Measure one step with the run's repeat count and timeout, and record it."""
        return self.record(
            measure(
                step,
                contestant,
                cmd,
                cwd,
                env if env is not None else self.env,
                setup=setup,
                repeat=self.repeat,
                timeout=self.timeout,
            )
        )

    def row(self, section: str, step: str, label: str, floor: str | None = None) -> None:
        """Declare a table row (once per step)."""
        self.rows.append(Row(section, step, label, floor))

    def scratch(self, name: str) -> Path:
        """An empty directory under <workdir>/runs, removed first if left from a past run."""
        path = self.workdir / "runs" / name
        rmtree(path)
        path.mkdir(parents=True)
        return path

    def new_repo(self, name: str, tool: Contestant) -> Path:
        """A fresh git repository with user config, initialised for `tool` (untimed)."""
        repo = self.scratch(name)
        run_checked(["git", "init", "-q", "-b", "main"], repo, self.env)
        run_checked(["git", "config", "user.name", "folio bench"], repo, self.env)
        run_checked(["git", "config", "user.email", "bench@example.invalid"], repo, self.env)
        tool.init(repo)
        return repo

    def workload(self, w: Workload) -> Workload:
        """Note a workload's shape for the report, once."""
        line = w.describe()
        if line not in self.workload_notes:
            self.workload_notes.append(line)
        return w


SUITES: dict[str, Callable[[Context], None]] = {}


def suite(name: str) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Register a suite under `name` (also run, in registration order, by `--suite all`)."""

    def register(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        SUITES[name] = fn
        return fn

    return register


# ---------------------------------------------------------------- file-system helpers

_libc = ctypes.CDLL(None, use_errno=True)


def syncfs(path: Path) -> None:
    """Flush the file system holding `path`, so dirty pages from untimed setup are not
    written back during (and billed to) the next timed step."""
    fd = os.open(path, os.O_RDONLY)
    try:
        _libc.syncfs(fd)
    finally:
        os.close(fd)


def rmtree(path: Path) -> None:
    """Remove a tree even where stores made files and directories read-only."""

    def retry(func: Callable[[str], object], p: str, _exc: object) -> None:
        os.chmod(os.path.dirname(p), stat.S_IRWXU)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, stat.S_IRWXU)
        func(p)

    if path.exists() or path.is_symlink():
        shutil.rmtree(path, onerror=retry)


def copy_in(w: Workload, repo: Path) -> None:
    """Copy the workload's `data` into `repo/data` (cp -r, untimed) and sync it."""
    target = repo / "data"
    rmtree(target)
    subprocess.run(["cp", "-r", str(w.data), str(target)], check=True)
    syncfs(repo)


def warm(w: Workload) -> None:
    """Read every byte once so that floors, like contestants, start on a warm page cache."""
    subprocess.run(
        ["bash", "-c", "find data -type f -print0 | xargs -0 cat > /dev/null"],
        cwd=w.root,
        check=True,
    )


# ---------------------------------------------------------------- floor programs

WALK_PY = """
import os, sys
def walk(top):
    n, stack = 0, [top]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    e.stat(follow_symlinks=False)
                    n += 1
    return n
walk(sys.argv[1])
"""

HASH_PY = """
import hashlib, os, sys
from concurrent.futures import ThreadPoolExecutor
paths = [os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs]
def digest(p):
    with open(p, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
with ThreadPoolExecutor(2) as pool:
    for _ in pool.map(digest, paths):
        pass
"""

# A plain content-addressed add, for reference: read each file once, hash it while writing
# the copy, rename the copy to its hash (no fsync, no index, no manifest), on 2 threads.
PYADD_PY = """
import hashlib, os, sys, threading
from concurrent.futures import ThreadPoolExecutor
src, dst = sys.argv[1], sys.argv[2]
for i in range(256):
    os.makedirs(os.path.join(dst, f"{i:02x}"), exist_ok=True)
paths = [os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs]
def add(p):
    h = hashlib.sha256()
    tmp = os.path.join(dst, f"tmp-{threading.get_ident()}")
    with open(p, "rb") as fh, open(tmp, "wb") as out:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
    d = h.hexdigest()
    os.replace(tmp, os.path.join(dst, d[:2], d[2:]))
with ThreadPoolExecutor(2) as pool:
    for _ in pool.map(add, paths):
        pass
"""

SHA256SUM = "find data -type f -print0 | xargs -0 sha256sum > /dev/null"


def _walk(top: str) -> int:
    namespace: dict[str, object] = {}
    exec(WALK_PY.replace("walk(sys.argv[1])", ""), namespace)
    return namespace["walk"](top)  # type: ignore[operator, no-any-return]


def floor_steps(ctx: Context, w: Workload, p: str, walk: bool) -> None:
    """Physical floors for workload `w`: cp, sha256sum, both, hashlib on 2 cores, a walk."""
    ctx.log(f"[{p}] floors")
    warm(w)
    out = ctx.scratch(f"{p}-floor")
    copy = out / "copy"

    def fresh(_: int) -> None:
        rmtree(copy)
        syncfs(out)

    # cp then sync is what a store pays to make its copies durable (folio syncs once).
    for step, script, setup in [
        ("cp", f"cp -r data {copy}", fresh),
        ("cp_syncfs", f"cp -r data {copy} && sync -f {copy}", fresh),
        ("sha256sum", SHA256SUM, None),
        ("cp_sha256", f"cp -r data {copy} && {SHA256SUM}", fresh),
    ]:
        ctx.measure(f"{p}.floor.{step}", FLOOR, ["bash", "-c", script], w.root, setup=setup)
    ctx.measure(f"{p}.floor.hashlib2", FLOOR, [sys.executable, "-c", HASH_PY, "data"], w.root)
    pyadd = [sys.executable, "-c", PYADD_PY, "data", str(copy)]
    ctx.measure(f"{p}.floor.pyadd2", FLOOR, pyadd, w.root, setup=fresh)
    if walk:
        ctx.measure(f"{p}.floor.walk", FLOOR, [sys.executable, "-c", WALK_PY, "data"], w.root)
        inproc = Measurement(f"{p}.floor.walk_inproc", FLOOR)
        inproc.times = time_in_process(lambda: _walk(str(w.data)), ctx.repeat)
        ctx.record(inproc)
    rmtree(out)


def _blocked(ctx: Context, tool: Contestant, op: str, steps: Sequence[str]) -> bool:
    """Record every step as not measurable when `op` is missing; True if so."""
    why = tool.missing(op)
    if why is None:
        return False
    for step in steps:
        ctx.record(not_run(step, tool.name, *why))
    return True


# ---------------------------------------------------------------- suite: foundation


def many_files_steps(ctx: Context, w: Workload, p: str) -> None:
    """add, no-op status, re-add after 1% changed and snapshot after one file changed, for
    each contestant, plus floors."""
    changed = workloads.pick(w, 0.01)
    ctx.row(p, f"{p}.add", f"add ({len(w.files):,} files)", f"{p}.floor.cp_sha256")
    ctx.row(p, f"{p}.status", "no-op status", f"{p}.floor.walk")
    ctx.row(p, f"{p}.readd", f"re-add after 1% changed ({len(changed)} files)", f"{p}.floor.walk")
    ctx.row(p, f"{p}.snapone", "snapshot after 1 file changed", f"{p}.floor.walk")
    floor_steps(ctx, w, p, walk=True)
    for tool in ctx.contestants:
        ctx.log(f"[{p}] {tool.name}")
        _many_files_tool(ctx, tool, w, p, changed)


def _fresh_repo(ctx: Context, tool: Contestant, w: Workload, repo: Path) -> Callable[[int], None]:
    """A setup that gives every repeat a new repository holding a new copy of the data."""

    def fresh(_: int) -> None:
        ctx.new_repo(repo.name, tool)
        copy_in(w, repo)

    return fresh


def _many_files_tool(
    ctx: Context, tool: Contestant, w: Workload, p: str, changed: list[tuple[str, int]]
) -> None:
    steps = [f"{p}.add", f"{p}.status", f"{p}.readd"]
    if _blocked(ctx, tool, "add", steps):
        return
    repo = ctx.workdir / "runs" / f"{p}-{tool.name}"
    fresh = _fresh_repo(ctx, tool, w, repo)
    added = ctx.measure(f"{p}.add", tool.name, tool.add_cmd(), repo, tool.env, fresh)
    if added.status != OK:
        for step in steps[1:]:
            ctx.record(not_run(step, tool.name, SKIPPED, "add failed"))
        rmtree(repo)
        return
    # The last repeat's repository stays: status is then a true no-op.
    if not _blocked(ctx, tool, "status", [f"{p}.status"]):
        ctx.measure(f"{p}.status", tool.name, tool.status_cmd(), repo, tool.env)

    def edit(rep: int) -> None:
        workloads.rewrite(repo, changed, seed=1000 + rep)
        syncfs(repo)

    ctx.measure(f"{p}.readd", tool.name, tool.add_cmd(), repo, tool.env, edit)
    if not _blocked(ctx, tool, "snapshot", [f"{p}.snapone"]):
        one = workloads.pick(w, 0, salt="one")

        def edit_one(rep: int) -> None:
            workloads.rewrite(repo, one, seed=3000 + rep)
            syncfs(repo)

        ctx.measure(f"{p}.snapone", tool.name, lambda rep: tool.snapshot_cmd(_tag("one", rep)),
                    repo, tool.env, edit_one)
    rmtree(repo)


def big_files_steps(ctx: Context, w: Workload, p: str) -> None:
    """add of a few big files for each contestant, against cp and sha256 floors."""
    count, size = len(w.files), w.files[0][1]
    ctx.row(p, f"{p}.add", f"add ({count} x {size / workloads.MiB:,.0f} MiB)", f"{p}.floor.cp")
    floor_steps(ctx, w, p, walk=False)
    for tool in ctx.contestants:
        ctx.log(f"[{p}] {tool.name}")
        if _blocked(ctx, tool, "add", [f"{p}.add"]):
            continue
        repo = ctx.workdir / "runs" / f"{p}-{tool.name}"
        fresh = _fresh_repo(ctx, tool, w, repo)
        ctx.measure(f"{p}.add", tool.name, tool.add_cmd(), repo, tool.env, fresh)
        rmtree(repo)


@suite("foundation")
def foundation(ctx: Context) -> None:
    """Issue 2: add, status and re-add on many small files; add of big files."""
    many_files_steps(ctx, ctx.workload(workloads.small(ctx.workdir, ctx.files)), "small")
    big_files_steps(ctx, ctx.workload(workloads.large(ctx.workdir)), "large")
    if ctx.huge:
        many_files_steps(ctx, ctx.workload(workloads.huge_many(ctx.workdir)), "huge-many")
        big_files_steps(ctx, ctx.workload(workloads.huge_file(ctx.workdir)), "huge-file")


# ---------------------------------------------------------------- suite: checkout


def _changed_floors(ctx: Context, w: Workload, p: str, pct: int) -> None:
    """Floors for one change size: copy the changed files; copy and hash them."""
    chosen = workloads.pick(w, pct / 100)
    out = ctx.scratch(f"{p}-floor-{pct}")
    listing = out / "list"
    listing.write_bytes(b"".join(rel.encode() + b"\0" for rel, _ in chosen))
    dest = out / "dest"

    def fresh(_: int) -> None:
        rmtree(dest)
        dest.mkdir()
        syncfs(out)

    copy = f"xargs -0 -a {listing} cp --parents -t {dest}"
    hash_ = f"xargs -0 -a {listing} sha256sum > /dev/null"
    for step, script in [("copy", copy), ("copy_sha256", f"{copy} && {hash_}")]:
        cmd = ["bash", "-c", script]
        ctx.measure(f"{p}.floor.{step}_{pct}pct", FLOOR, cmd, w.root, None, fresh)
    rmtree(out)


@suite("checkout")
def checkout(ctx: Context) -> None:
    """Issue 3: record versions and switch between them at 1% and 10% changed files."""
    w = ctx.workload(workloads.small(ctx.workdir, ctx.files))
    p = "ckpt"
    sets = {pct: workloads.pick(w, pct / 100) for pct in (1, 10)}
    ctx.row(p, f"{p}.snapshot_base", "snapshot v1 (just added)")
    for pct, chosen in sets.items():
        mib = sum(s for _, s in chosen) / workloads.MiB
        what = f"{pct}% changed ({len(chosen)} files, {mib:.1f} MiB)"
        snap_floor = f"{p}.floor.copy_sha256_{pct}pct"
        ctx.row(p, f"{p}.snapshot_{pct}pct", f"snapshot after {what}", snap_floor)
        ctx.row(p, f"{p}.checkout_{pct}pct", f"checkout v1 from {what}", f"{p}.floor.copy_{pct}pct")
    warm(w)
    for pct in sets:
        _changed_floors(ctx, w, p, pct)
    for tool in ctx.contestants:
        ctx.log(f"[{p}] {tool.name}")
        _checkout_tool(ctx, tool, w, p, sets)


def _tag(name: str, rep: int) -> str:
    """Tags are immutable, so each repeat of a snapshot gets its own name."""
    return name if rep == 0 else f"{name}-r{rep + 1}"


def _checkout_tool(
    ctx: Context, tool: Contestant, w: Workload, p: str, sets: dict[int, list[tuple[str, int]]]
) -> None:
    """v1; then per change size: edit, snapshot, and time `checkout v1` from the new version.

    Each repeat rewrites the same files with new bytes, so the newest version always differs
    from v1 in exactly that set; before each timed checkout the newest version is checked out
    again (untimed).
    """
    snaps = [f"{p}.snapshot_base"] + [f"{p}.snapshot_{pct}pct" for pct in sets]
    checkouts = [f"{p}.checkout_{pct}pct" for pct in sets]
    if _blocked(ctx, tool, "snapshot", snaps + checkouts):
        return
    no_checkout = _blocked(ctx, tool, "checkout", checkouts)
    try:
        repo = ctx.new_repo(f"{p}-{tool.name}", tool)
        copy_in(w, repo)
        tool.run(tool.add_cmd(), repo)
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        for step in snaps + ([] if no_checkout else checkouts):
            ctx.record(not_run(step, tool.name, ERROR, f"setup: {exc}"))
        return
    base = ctx.measure(
        snaps[0], tool.name, lambda rep: tool.snapshot_cmd(_tag("v1", rep)), repo, tool.env
    )
    for pct, chosen in sets.items():
        made: list[str] = []

        def edit(rep: int, chosen: list[tuple[str, int]] = chosen, pct: int = pct) -> None:
            workloads.rewrite(repo, chosen, seed=2000 + 10 * pct + rep)
            syncfs(repo)

        def snap(rep: int, pct: int = pct, made: list[str] = made) -> list[str]:
            made.append(_tag(f"v1-{pct}pct", rep))
            return tool.snapshot_cmd(made[-1])

        snapped = ctx.measure(f"{p}.snapshot_{pct}pct", tool.name, snap, repo, tool.env, edit)
        if no_checkout:
            continue
        step = f"{p}.checkout_{pct}pct"
        if base.status != OK or snapped.status != OK:
            ctx.record(not_run(step, tool.name, SKIPPED, "a snapshot failed"))
            continue

        def away(_: int, made: list[str] = made) -> None:
            tool.run(tool.checkout_cmd(made[-1]), repo)
            syncfs(repo)

        done = ctx.measure(step, tool.name, tool.checkout_cmd("v1"), repo, tool.env, away)
        _verify_v1(ctx, done, w, repo, [f for chosen in sets.values() for f in chosen])
    rmtree(repo)


def _verify_v1(
    ctx: Context, m: Measurement, w: Workload, repo: Path, files: list[tuple[str, int]]
) -> None:
    """A checkout that exits 0 but leaves the old bytes would look fast; demote it to error."""
    if m.status != OK:
        return
    wrong = [rel for rel, _ in files if not filecmp.cmp(w.root / rel, repo / rel, shallow=False)]
    if wrong:
        m.status, m.times = ERROR, []
        m.detail = f"exit 0 but {len(wrong)} files differ from v1, e.g. {wrong[0]}"
        ctx.record(m)
