"""Remotes at scale (issue 19): push, no-op push and remote gc, requests counted at the server.

Usage: python benchmarks/bench_remote_scale.py [--files 20000] [--workdir DIR]

moto's S3 server runs in this process (ThreadedMotoServer on 127.0.0.1), so every request
it answers is counted from its access log; folio runs as real subprocesses. Steps:
- push: FILES small files (20-500 B) to an empty prefix;
- no-op push: the same again (one LIST of the set's record prefix);
- push gen 2: every file rewritten, pushed (the remote now holds 2 x FILES objects, half of
  them unreachable);
- gc --remote --grace 0 (dry run, then for real), then `verify --remote`.
DVC is not compared here (benchmarks/bench_remote.py does that for push and pull).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from s3server import RequestLog  # the tests' request counter

BUCKET = "bench-scale"


def folio(cwd: Path, *args: str) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run([sys.executable, "-m", "folio.cli", *args, "--json"], cwd=cwd,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"folio {' '.join(args)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def write_files(root: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(count):
        path = root / "data" / f"d{i % 100:02d}" / f"f{i:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(20, 500)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=None)
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
    rows: list[tuple[str, float, Counter[str], str]] = []
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket=BUCKET)
        work = opts.workdir or Path(tempfile.mkdtemp(prefix="folio-bench-scale-"))
        root = work / "repo"
        root.mkdir(parents=True)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        subprocess.run([sys.executable, "-m", "folio.cli", "init"], cwd=root, check=True,
                       capture_output=True)
        write_files(root, opts.files, seed=1)
        folio(root, "add", "data")
        subprocess.run([sys.executable, "-m", "folio.cli", "remote", "add", "s3",
                        f"s3://{BUCKET}/scale", "--endpoint", endpoint, "--allow-http"],
                       cwd=root, check=True, capture_output=True)

        def step(label: str, *args: str, note: str = "") -> dict:  # type: ignore[type-arg]
            mark = requests.mark()
            start = time.perf_counter()
            out = folio(root, *args)
            seconds = time.perf_counter() - start
            methods = Counter(method for method, _ in requests.since(mark))
            rows.append((label, seconds, methods, note(out) if callable(note) else note))
            print(f"{label}: {seconds:.2f} s, {sum(rows[-1][2].values())} requests",
                  file=sys.stderr, flush=True)
            return out

        step("push", "push",
             note=lambda o: f"{o['moved']} objects in {o['packs']} packs")  # type: ignore[arg-type]
        step("no-op push", "push",
             note=lambda o: f"{o['moved']} moved, {o['skipped']} skipped")  # type: ignore[arg-type]
        write_files(root, opts.files, seed=2)
        folio(root, "add", "data")
        step("push gen 2 (all files changed)", "push",
             note=lambda o: f"{o['moved']} objects in {o['packs']} packs")  # type: ignore[arg-type]
        step("gc --remote --dry-run --grace 0", "gc", "--remote", "s3", "--dry-run",
             "--grace", "0",
             note=lambda o: f"would remove {len(o['packs'])} packs")  # type: ignore[arg-type]
        step("gc --remote --grace 0", "gc", "--remote", "s3", "--grace", "0",
             note=lambda o: (f"{len(o['packs'])} dead packs, {len(o['records'])} records, "  # type: ignore[arg-type]
                             f"{o['freed_bytes']} B freed; kept {o['kept']} objects"))
        step("verify --remote", "verify", "--remote", "s3",
             note=lambda o: f"{len(o['not_on_remote'])} not on remote")  # type: ignore[arg-type]
    finally:
        server.stop()
    print(f"\n{opts.files:,} small files, moto S3 in-process on 127.0.0.1\n")
    print("| step | seconds | requests | by method | result |")
    print("|---|---:|---:|---|---|")
    for label, seconds, counts, note in rows:
        methods = ", ".join(f"{m} {n}" for m, n in sorted(counts.items()))
        print(f"| {label} | {seconds:.2f} | {sum(counts.values())} | {methods} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
