"""Push and pull of the 20,000-file workload to an S3 server: folio against `dvc push`/`dvc pull`.

Usage: python benchmarks/bench_remote.py [--files 20000] [--repeat 3] [--skip-dvc]
       [--workdir DIR] [--out results.md] [--timeout 1800]

The server is moto's S3 (`python -m moto.server`) on 127.0.0.1, in its own process, shared
by both tools in the same run; it answers about 150 PUTs/s, roughly what per-request
latency and rate limits make of real S3 for one client. Every step is a real subprocess
timed by benchmarks/measure.py, as in run.py (median of --repeat when under 10 s).

Steps, for each tool, on the same data (benchmarks/workloads.py `small`):
- push: the tracked data, to an empty prefix (`folio push` | `dvc push`).
- push again: nothing to send (what every later push of unchanged data costs).
- pull: in a fresh clone (committed files only, no store, no data), objects then checkout
  (`folio pull` | `dvc pull`); the data is then compared byte for byte with the workload.
Target (issue 6): folio at least 3x faster than DVC on push and on pull.

To hook it into run.py: a suite in suites.py can call :func:`run_remote` with the
Context's workdir, env, repeat, timeout and log, and record the returned Measurements.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
import workloads  # noqa: E402
from measure import (  # noqa: E402
    OK,
    Measurement,
    free_port,
    measure,
    not_run,
    run_checked,
    start_http_server,
    stop_server,
)

BUCKET = "bench"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench-key",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/bench/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/bench/credentials",
}
STEPS = (("push", "push"), ("push again", "push, nothing to send"),
         ("pull", "pull in a fresh clone (objects + checkout)"))
TARGET = 3.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class MotoServer:
    """moto's S3 server in its own process on a free 127.0.0.1 port."""

    def __init__(self, logfile: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = start_http_server(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            self.endpoint, logfile, BUCKET, "moto server")

    def stop(self) -> None:
        stop_server(self.proc)

    def empty(self, prefix: str) -> None:
        """Delete every key under ``prefix`` (so a repeated push starts from nothing)."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                    Prefix=prefix + "/"):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            for i in range(0, len(keys), 1000):
                client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys[i:i + 1000]})


def base_env(workdir: Path) -> dict[str, str]:
    gitconfig = workdir / "gitconfig-remote"
    gitconfig.write_text("[user]\n\tname = folio bench\n\temail = bench@example.invalid\n"
                         "[init]\n\tdefaultBranch = main\n")
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and not k.startswith("AWS_")}
    env.update(GIT_CONFIG_GLOBAL=str(gitconfig), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C.UTF-8",
               **AWS_ENV)
    return env


def fresh_repo(workdir: Path, name: str, env: dict[str, str], data: Path) -> Path:
    repo = workdir / "runs" / name
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    run_checked(["git", "init", "-q", "-b", "main"], repo, env)
    run_checked(["cp", "-r", str(data), str(repo / "data")], repo, env)
    return repo


def make_clone(workdir: Path, name: str, env: dict[str, str], source: Path,
               committed: list[str]) -> Path:
    """What `git clone` gives a colleague: a new work tree with the tool's committed files
    and no data. A new path each time: recreating a directory where 20,000 files were just
    deleted is several times slower on ext4 here, for any tool."""
    clone = workdir / "runs" / name
    shutil.rmtree(clone, ignore_errors=True)
    clone.mkdir(parents=True)
    run_checked(["git", "init", "-q", "-b", "main"], clone, env)
    for rel in committed:
        src, dst = source / rel, clone / rel
        if src.is_dir():
            shutil.copytree(src, dst)
        elif src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return clone


def in_clone(workdir: Path, name: str, rep: int, cmd: list[str]) -> list[str]:
    """``cmd`` run inside clone ``rep`` (coreutils' env -C: no shell in the timing)."""
    return ["env", "-C", str(workdir / "runs" / f"{name}-clone{rep}"), *cmd]


def cleanup(workdir: Path, name: str) -> None:
    for path in (workdir / "runs").glob(f"{name}*"):
        shutil.rmtree(path, ignore_errors=True)


def same_tree(a: Path, b: Path) -> bool:
    """Byte-for-byte comparison of two directory trees (untimed)."""
    cmp = filecmp.dircmp(a, b)
    stack = [cmp]
    while stack:
        c = stack.pop()
        if c.left_only or c.right_only or c.funny_files:
            return False
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        if mismatch or errors:
            return False
        stack.extend(c.subdirs.values())
    return True


def run_remote(workdir: Path, files: int, env: dict[str, str], repeat: int, timeout: float,
               say: Callable[[str], None], skip_dvc: bool = False,
               folio_cmd: str | None = None) -> tuple[workloads.Workload, list[Measurement]]:
    """Measure every step for folio and DVC against one moto server; return the results."""
    workload = workloads.small(workdir, files)
    say(f"workload: {workload.describe()}")
    server = MotoServer(workdir / "moto-server.log")
    say(f"moto server at {server.endpoint}")
    results: list[Measurement] = []
    try:
        results += _folio(workdir, env, workload, server, repeat, timeout, say, folio_cmd)
        if skip_dvc:
            results += [not_run(s, "dvc", "skipped", "--skip-dvc") for s, _ in STEPS]
        else:
            results += _dvc(workdir, env, workload, server, repeat, timeout, say)
    finally:
        server.stop()
    return workload, results


def _record(results: list[Measurement], m: Measurement, say: Callable[[str], None]) -> None:
    results.append(m)
    what = (f"{m.seconds:.2f} s" + (f" (median of {len(m.times)})" if len(m.times) > 1 else "")
            if m.status == OK else f"{m.status}: {' '.join(m.detail.split())[:300]}")
    say(f"  {m.step:<12} {m.contestant:<6} {what}")


def _folio(workdir: Path, env: dict[str, str], workload: workloads.Workload, server: MotoServer,
           repeat: int, timeout: float, say: Callable[[str], None],
           folio_cmd: str | None) -> list[Measurement]:
    tool = peers.Folio(env, folio_cmd)
    if tool.unavailable:
        return [not_run(s, "folio", "error", tool.unavailable) for s, _ in STEPS]
    fenv = tool.env
    repo = fresh_repo(workdir, "remote-folio", fenv, workload.data)
    prefix = f"folio-{os.getpid()}"
    say("folio: init, add (untimed)")
    run_checked(tool.cmd("init"), repo, fenv)
    run_checked(tool.cmd("add", "data"), repo, fenv)
    run_checked(tool.cmd("remote", "add", "bench", f"s3://{BUCKET}/{prefix}", "--endpoint",
                         server.endpoint, "--allow-http"), repo, fenv)
    results: list[Measurement] = []

    def empty_remote(_: int) -> None:
        server.empty(prefix)
        shutil.rmtree(repo / ".folio/cache", ignore_errors=True)

    def clone(rep: int) -> None:
        make_clone(workdir, f"remote-folio-clone{rep}", fenv, repo,
                   [".folio/config.toml", ".folio/.gitignore", ".folio/manifests", ".gitignore"])

    _record(results, measure("push", "folio", tool.cmd("push"), repo, fenv, setup=empty_remote,
                             repeat=repeat, timeout=timeout), say)
    _record(results, measure("push again", "folio", tool.cmd("push"), repo, fenv,
                             repeat=repeat, timeout=timeout), say)
    _record(results, measure("pull", "folio", lambda rep: in_clone(workdir, "remote-folio", rep,
                                                                  tool.cmd("pull")),
                             workdir, fenv, setup=clone, repeat=repeat, timeout=timeout), say)
    _check(results[-1], workdir / "runs/remote-folio-clone0/data", workload.data)
    server.empty(prefix)
    cleanup(workdir, "remote-folio")
    return results


def _dvc(workdir: Path, env: dict[str, str], workload: workloads.Workload, server: MotoServer,
         repeat: int, timeout: float, say: Callable[[str], None]) -> list[Measurement]:
    dvc, note = peers.ensure_dvc(say, workdir / "pip-install.log")
    if dvc is None:
        return [not_run(s, "dvc", "skipped", note) for s, _ in STEPS]
    tool = peers.Dvc({**env, "DVC_SITE_CACHE_DIR": str(workdir / "dvc-site-cache-remote")},
                     dvc, note)
    denv = tool.env
    repo = fresh_repo(workdir, "remote-dvc", denv, workload.data)
    prefix = f"dvc-{os.getpid()}"
    say("dvc: init, add (untimed)")
    shutil.rmtree(repo / "data")
    tool.init(repo)
    run_checked(["cp", "-r", str(workload.data), str(repo / "data")], repo, denv)
    run_checked([str(dvc), "add", "-q", "data"], repo, denv)
    run_checked([str(dvc), "remote", "add", "-d", "bench", f"s3://{BUCKET}/{prefix}"], repo, denv)
    run_checked([str(dvc), "remote", "modify", "bench", "endpointurl", server.endpoint], repo,
                denv)
    results: list[Measurement] = []

    def empty_remote(_: int) -> None:
        server.empty(prefix)

    def clone(rep: int) -> None:
        make_clone(workdir, f"remote-dvc-clone{rep}", denv, repo,
                   [".dvc/config", ".dvc/.gitignore", ".dvcignore", "data.dvc", ".gitignore"])

    _record(results, measure("push", "dvc", [str(dvc), "push"], repo, denv, setup=empty_remote,
                             repeat=repeat, timeout=timeout), say)
    _record(results, measure("push again", "dvc", [str(dvc), "push"], repo, denv,
                             repeat=repeat, timeout=timeout), say)
    _record(results, measure("pull", "dvc", lambda rep: in_clone(workdir, "remote-dvc", rep,
                                                                [str(dvc), "pull"]),
                             workdir, denv, setup=clone, repeat=repeat, timeout=timeout), say)
    _check(results[-1], workdir / "runs/remote-dvc-clone0/data", workload.data)
    server.empty(prefix)
    cleanup(workdir, "remote-dvc")
    return results


def _check(m: Measurement, got: Path, want: Path) -> None:
    """A pull that does not give back every byte is an error, however fast it was."""
    if m.status == OK and not same_tree(got, want):
        m.status, m.detail = "error", "pulled data differs from the workload"


def render(workload: workloads.Workload, results: list[Measurement]) -> str:
    """A markdown table: seconds per tool and step, DVC / folio, and the 3x target."""
    by = {(m.step, m.contestant): m for m in results}
    lines = [f"Push / pull to moto S3 on 127.0.0.1: {workload.describe()}", "",
             "| step | folio | dvc | dvc / folio | target |", "|---|---:|---:|---:|---|"]
    for step, label in STEPS:
        f, d = by.get((step, "folio")), by.get((step, "dvc"))
        cells = [_cell(f), _cell(d)]
        ratio = verdict = "n/a"
        if f and d and f.seconds and d.seconds:
            ratio = f"{d.seconds / f.seconds:.1f}x"
            passed = d.seconds / f.seconds >= TARGET
            verdict = "-" if step == "push again" else \
                f"{'PASS' if passed else 'FAIL'} (>= {TARGET:g}x)"
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio} | {verdict} |")
    notes = [m for m in results if m.status != OK]
    if notes:
        lines.append("")
        lines += [f"- {m.contestant} {m.step}: {m.status}: {' '.join(m.detail.split())[:300]}"
                  for m in notes]
    return "\n".join(lines) + "\n"


def _cell(m: Measurement | None) -> str:
    if m is None:
        return "n/a"
    if m.seconds is None:
        return m.status
    peak = f", {m.peak_mib:.0f} MiB" if m.peak_mib else ""
    return f"{m.seconds:.2f} s{peak}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per quick step (median)")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--workdir", type=Path, default=HERE / ".work")
    ap.add_argument("--skip-dvc", action="store_true")
    ap.add_argument("--folio", help="command that runs folio (default: PATH, else -m folio.cli)")
    ap.add_argument("--out", type=Path, help="also write the table here")
    args = ap.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    env = base_env(workdir)
    workload, results = run_remote(workdir, args.files, env, args.repeat, args.timeout, log,
                                   args.skip_dvc, args.folio)
    text = render(workload, results)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
