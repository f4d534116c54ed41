"""Remotes at scale (issue 19): folio against DVC on moto's S3, requests counted at the server.

Usage: python benchmarks/bench_remote_scale.py [--objects 20000] [--workdir DIR]
       [--dvc-timeout SECONDS] [--skip-dvc]

moto's S3 server runs in this process (ThreadedMotoServer on 127.0.0.1), so every request
it answers is counted from its access log; folio and DVC run as real subprocesses. For each
tool, in its own prefix of one bucket, with OBJECTS small files (20-500 B):
- push: everything, as snapshot v1, to an empty prefix;
- no-op push: the same again;
- push, 1 % changed: a new snapshot (v2) with 1 % of the files rewritten;
- pull into a fresh clone: a new git repo with the tool's committed files and no data;
- remote gc, half unreachable: every file rewritten and pushed, the old versions (v1, v2)
  dropped, so about half the remote is unreachable; then the remote gc (folio:
  `gc --remote --grace 0`; DVC: `dvc gc --workspace --cloud --force`);
- verify (folio: `verify --remote`).
Untimed setup (writing files, `add`, commits) is reported separately. A DVC step that
passes ``--dvc-timeout`` is killed and reported as capped (the later DVC steps are skipped).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
from s3server import RequestLog  # the tests' request counter  # noqa: E402

BUCKET = "bench-scale"
FOLIO = [sys.executable, "-m", "folio.cli"]


class Row:
    """One timed step of one tool: seconds, requests by method, and what it did."""

    def __init__(self, tool: str, label: str, seconds: float | None, methods: Counter[str],
                 note: str) -> None:
        self.tool, self.label, self.seconds, self.methods, self.note = (
            tool, label, seconds, methods, note)


class Bench:
    def __init__(self, requests: RequestLog, endpoint: str, work: Path,
                 env: dict[str, str]) -> None:
        self.requests = requests
        self.endpoint = endpoint
        self.work = work
        self.env = env
        self.rows: list[Row] = []
        self.setup: list[tuple[str, str, float]] = []

    def untimed(self, tool: str, label: str, fn: Callable[[], object]) -> None:
        start = time.perf_counter()
        fn()
        self.setup.append((tool, label, time.perf_counter() - start))
        say(f"{tool}: {label} (setup) {self.setup[-1][2]:.1f} s")

    def step(self, tool: str, label: str, cmd: list[str], cwd: Path,
             note: Callable[[str], str] = lambda out: "", timeout: float | None = None) -> bool:
        """Run ``cmd`` and record it; False when it passed ``timeout`` (then killed)."""
        mark = self.requests.mark()
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=self.env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            methods = Counter(m for m, _ in self.requests.since(mark))
            self.rows.append(Row(tool, label, None, methods,
                                 f"capped: killed after {timeout:.0f} s "
                                 f"({sum(methods.values())} requests by then)"))
            say(f"{tool}: {label}: killed after {timeout:.0f} s")
            return False
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{tool} {label} failed ({proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        methods = Counter(m for m, _ in self.requests.since(mark))
        self.rows.append(Row(tool, label, seconds, methods, note(proc.stdout)))
        say(f"{tool}: {label}: {seconds:.2f} s, {sum(methods.values())} requests")
        return True


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def write_files(root: Path, count: int, seed: int, every: int = 1) -> None:
    """Files ``data/dNNN/fNNNNNNN.bin`` of 20-500 random bytes; ``every``: only each n-th."""
    rng = random.Random(seed)
    dirs = max(100, count // 1000)
    for i in range(0, count, every):
        path = root / "data" / f"d{i % dirs:03d}" / f"f{i:07d}.bin"
        if i < dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(20, 500)))


def fresh_clone(source: Path, dst: Path, committed: list[str], env: dict[str, str]) -> None:
    """What `git clone` gives a colleague: the tool's committed files, no data."""
    dst.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], dst, env)
    for rel in committed:
        src = source / rel
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst / rel)
        elif src.exists():
            shutil.copy2(src, dst / rel)


def parse(out: str) -> dict[str, Any]:
    return json.loads(out)  # type: ignore[no-any-return]


def bench_folio(b: Bench, n: int) -> None:
    env = b.env
    root = b.work / "folio"
    root.mkdir()
    run(["git", "init", "-q", "-b", "main"], root, env)
    run([*FOLIO, "init"], root, env)
    b.untimed("folio", f"write {n:,} files", lambda: write_files(root, n, seed=1))
    b.untimed("folio", "add + snapshot v1", lambda: (
        run([*FOLIO, "add", "data"], root, env), run([*FOLIO, "snapshot", "v1"], root, env)))
    run([*FOLIO, "remote", "add", "s3", f"s3://{BUCKET}/folio", "--endpoint", b.endpoint,
         "--allow-http"], root, env)
    moved = lambda o: (f"{parse(o)['moved']} sent in {parse(o)['packs']} packs, "  # noqa: E731
                       f"{parse(o)['skipped']} skipped")
    b.step("folio", "push", [*FOLIO, "push", "--json"], root, moved)
    b.step("folio", "no-op push", [*FOLIO, "push", "--json"], root, moved)
    b.untimed("folio", "rewrite 1 % + add + snapshot v2", lambda: (
        write_files(root, n, seed=2, every=100), run([*FOLIO, "add", "data"], root, env),
        run([*FOLIO, "snapshot", "v2"], root, env)))
    b.step("folio", "push, 1 % changed (new snapshot)", [*FOLIO, "push", "--json"], root, moved)
    clone = b.work / "folio-clone"
    fresh_clone(root, clone, [".folio"], env)
    run([*FOLIO, "accept", "remotes.s3"], clone, env)  # a committed remote is trusted by hand
    b.step("folio", "pull into a fresh clone", [*FOLIO, "pull", "--json"], clone,
           lambda o: f"{parse(o)['moved']} objects")
    shutil.rmtree(clone)
    b.untimed("folio", "rewrite all + add + push, drop v1 and v2", lambda: (
        write_files(root, n, seed=3), run([*FOLIO, "add", "data"], root, env),
        run(["git", "update-ref", "-d", "refs/folio/snapshots/v1"], root, env),
        run(["git", "update-ref", "-d", "refs/folio/snapshots/v2"], root, env),
        run([*FOLIO, "push"], root, env)))
    b.step("folio", "remote gc, half unreachable",
           [*FOLIO, "gc", "--remote", "s3", "--grace", "0", "--json"], root,
           lambda o: (f"{len(parse(o)['packs'])} dead packs, {len(parse(o)['repacked'])} "
                      f"repacked, {parse(o)['freed_bytes']:,} B freed, "
                      f"kept {parse(o)['kept']:,}"))
    b.step("folio", "verify --remote", [*FOLIO, "verify", "--remote", "s3", "--json"], root,
           lambda o: f"{len(parse(o)['not_on_remote'])} not on remote")


def bench_dvc(b: Bench, n: int, timeout: float) -> None:
    import peers

    dvc_path, note = peers.ensure_dvc(say, b.work / "pip-install.log")
    if dvc_path is None:
        b.rows.append(Row("dvc", "all steps", None, Counter(), f"not run: {note}"))
        return
    dvc = str(dvc_path)
    env = dict(b.env, DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(b.work / "dvc-site"))
    b.env, saved = env, b.env
    try:
        root = b.work / "dvc"
        root.mkdir()
        run(["git", "init", "-q", "-b", "main"], root, env)
        for cmd in (["init", "-q"], ["config", "core.analytics", "false"],
                    ["config", "core.check_update", "false"],
                    ["remote", "add", "-d", "bench", f"s3://{BUCKET}/dvc"],
                    ["remote", "modify", "bench", "endpointurl", b.endpoint]):
            run([dvc, *cmd], root, env)
        commit = ["git", "add", "-A"], ["git", "commit", "-q", "-m", "data"]
        b.untimed("dvc", f"write {n:,} files", lambda: write_files(root, n, seed=1))
        b.untimed("dvc", "dvc add + commit v1", lambda: (
            run([dvc, "add", "-q", "data"], root, env), *(run(c, root, env) for c in commit)))
        steps: list[tuple[str, list[str], Callable[[], object] | None, Path]] = [
            ("push", [dvc, "push"], None, root),
            ("no-op push", [dvc, "push"], None, root),
            ("push, 1 % changed (new snapshot)", [dvc, "push"], lambda: (
                write_files(root, n, seed=2, every=100), run([dvc, "add", "-q", "data"], root, env),
                *(run(c, root, env) for c in commit)), root),
        ]
        for label, cmd, before, cwd in steps:
            if before is not None:
                b.untimed("dvc", "rewrite 1 % + dvc add + commit", before)
            if not b.step("dvc", label, cmd, cwd, timeout=timeout):
                return
        clone = b.work / "dvc-clone"
        fresh_clone(root, clone, [".dvc/config", ".dvc/.gitignore", ".dvcignore", "data.dvc",
                                  ".gitignore"], env)
        if not b.step("dvc", "pull into a fresh clone", [dvc, "pull"], clone, timeout=timeout):
            return
        shutil.rmtree(clone)
        b.untimed("dvc", "rewrite all + dvc add + commit + push", lambda: (
            write_files(root, n, seed=3), run([dvc, "add", "-q", "data"], root, env),
            *(run(c, root, env) for c in commit), run([dvc, "push"], root, env)))
        b.step("dvc", "remote gc, half unreachable",
               [dvc, "gc", "--workspace", "--cloud", "--force"], root, timeout=timeout)
    finally:
        b.env = saved


def by_method(methods: Counter[str]) -> str:
    return ", ".join(f"{m} {c}" for m, c in sorted(methods.items()))


def table(b: Bench, n: int) -> str:
    labels = list(dict.fromkeys(r.label for r in b.rows))
    by = {(r.tool, r.label): r for r in b.rows}
    lines = [f"{n:,} small files (20-500 B), moto S3 in-process on 127.0.0.1, "
             "requests counted at the server", "",
             "| step | folio s | folio requests | folio result | dvc s | dvc requests | "
             "dvc / folio |", "|---|---:|---|---|---:|---:|---:|"]
    for label in labels:
        f, d = by.get(("folio", label)), by.get(("dvc", label))
        fs = f"{f.seconds:.2f}" if f and f.seconds is not None else "-"
        fr = f"{sum(f.methods.values())} ({by_method(f.methods)})" if f else "-"
        ds = (f"{d.seconds:.2f}" if d.seconds is not None else d.note) if d else "-"
        dr = str(sum(d.methods.values())) if d else "-"
        ratio = (f"{d.seconds / f.seconds:.1f}x" if f and d and f.seconds and d.seconds
                 else "-")
        lines.append(f"| {label} | {fs} | {fr} | {f.note if f else '-'} | {ds} | {dr} | {ratio} |")
    lines += ["", "Setup (untimed): " + "; ".join(f"{t} {label} {s:.1f} s"
                                                 for t, label, s in b.setup)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--dvc-timeout", type=float, default=1800.0,
                        help="seconds a DVC step may take before it is killed (a cap)")
    parser.add_argument("--skip-dvc", action="store_true")
    opts = parser.parse_args(argv)
    env = {"AWS_ACCESS_KEY_ID": "bench-key", "AWS_SECRET_ACCESS_KEY": "bench-secret",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": "/nonexistent/bench/config",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/bench/credentials"}
    os.environ.update(env)
    from moto.server import ThreadedMotoServer

    requests = RequestLog()
    log = logging.getLogger("werkzeug")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.handlers = [requests]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="folio-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket=BUCKET)
        bench = Bench(requests, endpoint, work, dict(os.environ))
        try:
            bench_folio(bench, opts.objects)
            shutil.rmtree(work / "folio", ignore_errors=True)
            if opts.skip_dvc:
                bench.rows.append(Row("dvc", "push", None, Counter(), "not run: --skip-dvc"))
            else:
                bench_dvc(bench, opts.objects, opts.dvc_timeout)
        finally:
            print(table(bench, opts.objects), flush=True)
    finally:
        server.stop()
        if opts.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
