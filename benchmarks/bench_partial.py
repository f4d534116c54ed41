"""A partial pull against a full one: what a clone moves to use one small table (issue 14).

Usage: python benchmarks/bench_partial.py [--mb 64] [--table-kb 100] [--workdir DIR]

A repository holds a big dataset (``data/big``, --mb MiB in 4 MiB files) and a small table
(``data/small_table.csv``, --table-kb KiB), pushed to moto's S3 server (ThreadedMotoServer
on 127.0.0.1, in this process, as tests/s3server.py starts it) and to a bare git origin.
Two fresh `git clone`s then pull: one `folio pull -- data/small_table.csv`, the other a
full `folio pull`. Printed: bytes moved and requests (TransferStats, from `--json`), wall
time, and the ratios. Every step is the real CLI in a subprocess. The issue's case is
`--mb 300`; the default is smaller so that it runs in about a minute.
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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_remote import AWS_ENV  # noqa: E402  (dummy credentials, never a real account)

BUCKET = "bench-partial"
ENV = {
    **AWS_ENV,
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
}
TABLE = "data/small_table.csv"
PART = 4 << 20


class Requests(logging.Handler):
    """Counts the HTTP requests moto's server answers (werkzeug logs one line each)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def sh(cwd: Path, *args: str) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **ENV}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout


def folio(cwd: Path, *args: str) -> str:
    return sh(cwd, sys.executable, "-m", "folio.cli", *args)


def timed_pull(cwd: Path, seen: Requests, *paths: str) -> tuple[dict[str, Any], float, int]:
    """The pull's --json result, its wall time, and the HTTP requests the server saw."""
    before = seen.count
    start = time.perf_counter()
    out = folio(cwd, "pull", "--json", *(("--", *paths) if paths else ()))
    return json.loads(out), time.perf_counter() - start, seen.count - before


def make_repo(root: Path, mb: int, table_kb: int, endpoint: str) -> Path:
    """The repository, committed and pushed; returns the bare origin."""
    rng = random.Random(14)
    left = mb << 20
    n = 0
    while left > 0:
        size = min(PART, left)
        path = root / f"data/big/part{n:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        left -= size
        n += 1
    rows = ["id,city,value"]
    while sum(len(r) + 1 for r in rows) < table_kb << 10:
        rows.append(f"{len(rows)},{rng.choice(['Lima', 'Kyiv', 'Oslo'])},{rng.random():.6f}")
    (root / TABLE).write_text("\n".join(rows) + "\n")
    sh(root, "git", "init", "-q", "-b", "main")
    folio(root, "init")
    folio(root, "add", "data/big", TABLE)
    folio(root, "remote", "add", "s3", f"s3://{BUCKET}/partial", "--endpoint", endpoint,
          "--allow-http")
    folio(root, "push")
    bare = root.parent / "origin.git"
    sh(root.parent, "git", "init", "-q", "--bare", "-b", "main", str(bare))
    sh(root, "git", "remote", "add", "origin", str(bare))
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "data")
    sh(root, "git", "push", "-q", "origin", "main")
    return bare


def clone(bare: Path, dest: Path) -> Path:
    sh(dest.parent, "git", "clone", "-q", str(bare), str(dest))
    folio(dest, "accept")
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=64, help="size of the big dataset, MiB")
    parser.add_argument("--table-kb", type=int, default=100, help="size of the table, KiB")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to build (default: a new temporary directory, removed)")
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    os.environ.update({k: v for k, v in ENV.items() if k.startswith("AWS_")})
    seen = Requests()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False  # count the requests, do not print them
    werkzeug.handlers = [seen]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-partial-"))
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket=BUCKET)
        work.mkdir(parents=True, exist_ok=True)
        root = work / "repo"
        root.mkdir()
        print(f"building: {args.mb} MiB in data/big, {args.table_kb} KiB in {TABLE} ...",
              file=sys.stderr, flush=True)
        bare = make_repo(root, args.mb, args.table_kb, endpoint)
        part, t_part, http_part = timed_pull(clone(bare, work / "partial"), seen, TABLE)
        full, t_full, http_full = timed_pull(clone(bare, work / "full"), seen)
        same = (work / "partial" / TABLE).read_bytes() == (work / "full" / TABLE).read_bytes()
        rows = [("folio pull -- " + TABLE, part, t_part, http_part),
                ("folio pull", full, t_full, http_full)]
        print(f"\nPartial against full pull, moto S3 on 127.0.0.1 ({args.mb} MiB dataset, "
              f"{args.table_kb} KiB table)\n")
        print(f"| {'command':<40} | {'objects':>7} | {'bytes moved':>13} | {'requests':>8} | "
              f"{'HTTP':>4} | {'time':>7} |")
        print(f"|{'-' * 42}|{'-' * 9}|{'-' * 15}|{'-' * 10}|{'-' * 6}|{'-' * 9}|")
        for name, res, secs, http in rows:
            print(f"| {name:<40} | {res['moved']:>7} | {res['moved_bytes']:>13,} | "
                  f"{res['requests']:>8} | {http:>4} | {secs:>6.2f}s |")
        print("\nrequests: TransferStats.requests (object and pack reads); HTTP: every request "
              "the server answered during the pull (listing and pack indexes included)")
        ratio_b = full["moved_bytes"] / max(part["moved_bytes"], 1)
        ratio_r = http_full / max(http_part, 1)
        print(f"\nfull / partial: {ratio_b:,.0f}x the bytes, {ratio_r:.1f}x the HTTP requests, "
              f"{t_full / t_part:.1f}x the time; the table is byte-identical: {same}")
    finally:
        server.stop()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
