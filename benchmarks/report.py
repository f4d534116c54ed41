"""Turn measurements into the markdown report: machine facts, results, floors, targets."""

from __future__ import annotations

import operator
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from measure import OK, Measurement
from peers import Contestant
from suites import FLOOR, Context

PEERS = ("dvc", "git-lfs")


@dataclass(frozen=True)
class Target:
    """A goal from the issues: ratio of two measured steps compared with a threshold.

    `faster` targets read "peer / folio >= N" (folio is N times faster); the others read
    "folio / floor <= N" (folio costs at most N times the physical floor).
    """

    label: str
    num: tuple[str, str]
    den: tuple[str, str]
    limit: float
    faster: bool


TARGETS = (
    Target(
        "folio add >= 5x faster than dvc add",
        ("small.add", "dvc"), ("small.add", "folio"), 5, True,
    ),
    Target(
        "folio add <= 1.5x of cp -r + sha256sum",
        ("small.add", "folio"), ("small.floor.cp_sha256", FLOOR), 1.5, False,
    ),
    Target(
        "no-op status >= 10x faster than dvc status",
        ("small.status", "dvc"), ("small.status", "folio"), 10, True,
    ),
    Target(
        "no-op status <= 2x of bare walk (subprocess)",
        ("small.status", "folio"), ("small.floor.walk", FLOOR), 2, False,
    ),
    Target(
        "re-add after 1% change >= 10x faster than dvc",
        ("small.readd", "dvc"), ("small.readd", "folio"), 10, True,
    ),
    Target(
        "4 x 256 MiB add <= 1.3x of cp",
        ("large.add", "folio"), ("large.floor.cp", FLOOR), 1.3, False,
    ),
    Target(
        "checkout after 1% change >= 10x faster than dvc checkout",
        ("ckpt.checkout_1pct", "dvc"), ("ckpt.checkout_1pct", "folio"), 10, True,
    ),
)  # fmt: skip


def _secs(m: Measurement | None) -> str:
    if m is None:
        return ""
    if m.status != OK or m.seconds is None:
        return m.status
    s = m.seconds
    return f"{s:.3f}" if s < 10 else f"{s:.1f}"


def _mib(m: Measurement | None) -> str:
    return f"{m.peak_mib:.0f}" if m is not None and m.peak_mib else "-"


def _faster(peer: Measurement | None, folio: Measurement | None) -> str:
    if not peer or not folio or peer.seconds is None or not folio.seconds:
        return ""
    r = peer.seconds / folio.seconds
    return f"{r:.1f}x faster" if r >= 1 else f"{1 / r:.1f}x slower"


def _of_floor(folio: Measurement | None, floor: Measurement | None) -> str:
    if not folio or not floor or folio.seconds is None or not floor.seconds:
        return ""
    return f"{folio.seconds / floor.seconds:.2f}x of floor"


def _tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if out.returncode == 0 and lines else "not found"


def machine_facts(workdir: Path, contestants: list[Contestant]) -> list[str]:
    """nproc, memory, CPU, file system of the workdir, kernel and tool versions."""
    mem = cpu = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fstype = _tool_version(["findmnt", "-n", "-o", "FSTYPE", "-T", str(workdir)])
    facts = [
        f"nproc: {os.cpu_count()} ({cpu})",
        f"memory: {mem}",
        f"workdir: {workdir} on {fstype}",
        f"kernel: {platform.release()}",
        f"python (harness, floors): {sys.version.split()[0]} at {sys.executable}",
        f"git: {_tool_version(['git', '--version'])}",
        f"coreutils: {_tool_version(['cp', '--version'])}",
    ]
    facts += [f"{c.name}: {c.version()}" for c in contestants]
    return facts


def _compare(ctx: Context, t: Target) -> tuple[str, str]:
    a = ctx.results.get(t.num)
    b = ctx.results.get(t.den)
    if a is None or b is None or a.seconds is None or not b.seconds:
        missing = [m for m in (a, b) if m is None or m.seconds is None]
        why = ", ".join(f"{m.contestant} {m.status}" for m in missing if m) or "not run"
        return "-", f"n/a ({why})"
    ratio = a.seconds / b.seconds
    ok: Callable[[float, float], bool] = operator.ge if t.faster else operator.le
    shown = f"{ratio:.1f}x faster" if t.faster else f"{ratio:.2f}x of floor"
    return shown, "PASS" if ok(ratio, t.limit) else "FAIL"


def render(ctx: Context, facts: list[str], title: str) -> str:
    """The whole report as markdown."""
    out = [f"# {title}", "", "## Machine", ""]
    out += [f"- {f}" for f in facts]
    out += ["", "## Workloads", ""]
    out += [f"- {w}" for w in ctx.workload_notes]
    out += [
        "",
        f"Every step is a real subprocess in a fresh git repository; wall time is the median of "
        f"{ctx.repeat} runs (1 run when the first takes >= 10 s); peak MiB is the largest "
        "max-RSS of the process tree (GNU time %M). Page caches cannot be dropped here, so every "
        "contestant runs warm, in the same order (floors, folio, dvc, git-lfs), after the data "
        "was copied in and synced.",
        "",
        "## Results",
        "",
    ]
    names = [c.name for c in ctx.contestants]
    peers = [n for n in PEERS if n in names]
    head = ["step", "folio s", *(f"{n} s" for n in peers), "floor s", "peak MiB " + "/".join(names)]
    head += [f"folio vs {n}" for n in peers] + ["folio vs floor"]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    section = None
    for row in ctx.rows:
        if row.section != section:
            section = row.section
            out.append(f"| **{section}** |" + " |" * (len(head) - 1))
        folio = ctx.results.get((row.step, "folio"))
        floor = ctx.results.get((row.floor, FLOOR)) if row.floor else None
        floor_cell = (
            f"{_secs(floor)} ({row.floor.rsplit('.', 1)[1]})" if row.floor and floor else ""
        )
        cells = [row.label, _secs(folio)]
        cells += [_secs(ctx.results.get((row.step, n))) for n in peers]
        cells += [floor_cell, "/".join(_mib(ctx.results.get((row.step, n))) for n in names)]
        cells += [_faster(ctx.results.get((row.step, n)), folio) for n in peers]
        cells += [_of_floor(folio, floor)]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "## Floors", "", "| floor | seconds | peak MiB | runs |", "|---|---|---|---|"]
    for (step, who), m in ctx.results.items():
        if who == FLOOR:
            out.append(f"| {step} | {_secs(m)} | {_mib(m)} | {len(m.times)} |")
    out += [
        "",
        "cp = `cp -r data copy`; cp_syncfs = cp then `sync -f` (what durable copies cost); "
        "sha256sum = `find data -type f -print0 | xargs -0 sha256sum`; cp_sha256 = both; "
        "hashlib2 = Python sha256 of every file on 2 threads; pyadd2 = a plain Python add on "
        "2 threads (read once, hash while writing a copy, rename it to its hash); "
        "walk = `os.scandir` + stat in a new Python process (start-up included); "
        "walk_inproc = the same walk inside the harness; "
        "copy_Npct / copy_sha256_Npct = copying (and hashing) just the changed files.",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    for t in TARGETS:
        shown, verdict = _compare(ctx, t)
        out.append(f"| {t.label} | {shown} | {verdict} |")
    # One line per (contestant, reason): a missing command blocks several steps at once.
    problems: dict[tuple[str, str, str], list[str]] = {}
    for m in ctx.results.values():
        if m.status != OK:
            key = (m.contestant, m.status, " ".join(m.detail.split())[:400])
            problems.setdefault(key, []).append(m.step)
    if problems:
        out += ["", "## Not measured", ""]
        for (who, status, detail), steps in problems.items():
            out.append(f"- {who}: {status} ({', '.join(steps)}): {detail}")
    return "\n".join(out) + "\n"
