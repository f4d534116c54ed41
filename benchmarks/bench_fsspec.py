"""Figures for folio:// (issue 18, docs/fsspec.md "Cost"): one column of a Parquet held only
on S3, and a local read through folio:// against reading the checked-out file.

    python benchmarks/bench_fsspec.py            # a ~50 MB table (runs in seconds)
    python benchmarks/bench_fsspec.py --mb 200   # the issue's 200 MB

S3 is moto's ThreadedMotoServer on 127.0.0.1 (as tests/s3server.py). Requests are counted
at the server (its access log) and bytes in the S3 backend (every ranged GET and streamed
read), so both include listing the remote and reading the pack indexes.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = 10
ROW_GROUPS = 4


class Requests(logging.Handler):
    """moto's access log: one line per HTTP request the server answered."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = str(record.args[0]) if record.args else record.getMessage()
        if re.search(r"(GET|PUT|POST|DELETE|HEAD) ", line):
            with self._guard:
                self.seen.append(line)


def count_bytes(ranges: list[tuple[int, int]]) -> list[int]:
    """Wrap the S3 backend's reads so every byte it receives is counted (and each ranged
    GET's ``(start, end)`` is kept in ``ranges``)."""
    from folio.remote.s3 import S3Backend

    total = [0]
    get_range, open_ = S3Backend.get_range, S3Backend.open

    def counted_range(self: Any, key: str, start: int, end: int) -> memoryview:
        data = get_range(self, key, start, end)
        total[0] += len(data)
        ranges.append((start, end))
        return data

    def counted_open(self: Any, key: str) -> Any:
        reader = open_(self, key)
        inner = reader.readinto

        def readinto(buffer: Any) -> int:
            n = inner(buffer)
            total[0] += n or 0
            return n

        reader.readinto = readinto  # type: ignore[method-assign]
        return reader

    S3Backend.get_range = counted_range  # type: ignore[method-assign]
    S3Backend.open = counted_open  # type: ignore[method-assign]
    return total


def folio(root: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "folio.cli", *args], cwd=root, check=True,
                   capture_output=True)


def timed(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """The best time of each function, run in turns (so drift hits all alike; the best
    is the one least disturbed by other work on a shared machine)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, seen in zip(fns, times, strict=True):
            t = time.perf_counter()
            fn()
            seen.append(time.perf_counter() - t)
    return [min(seen) for seen in times]


def read_python_file(path: Path, columns: list[str] | None) -> pa.Table:
    """The checked-out file through a Python file object: the route pyarrow takes for any
    fsspec filesystem it has no native twin for, folio:// included."""
    with open(path, "rb") as f:
        return pq.read_table(f, columns=columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50, help="table size in MB (default 50)")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs (best)")
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    os.environ.update(env)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    log = logging.getLogger("werkzeug")
    requests = Requests()
    log.setLevel(logging.INFO)
    log.propagate = False
    log.handlers = [requests]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), endpoint, args.mb, args.repeat, requests)
    finally:
        server.stop()


def run(tmp: Path, endpoint: str, mb: int, repeat: int, requests: Requests) -> None:
    from folio.fsspec import FolioFileSystem

    root = tmp / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    folio(root, "init")
    rows = mb * 1_000_000 // (8 * COLUMNS)
    rng = np.random.default_rng(0)
    data = pa.table({f"c{i}": rng.random(rows) for i in range(COLUMNS)})
    (root / "data").mkdir()
    path = root / "data/big.parquet"
    pq.write_table(data, path, row_group_size=-(-rows // ROW_GROUPS), compression="none")
    size = path.stat().st_size
    folio(root, "add", "data")
    folio(root, "snapshot", "v1", "-m", "bench")
    print(f"table: {rows:,} rows x {COLUMNS} float64 columns, {ROW_GROUPS} row groups, "
          f"{size:,} B")

    # -- local: folio:// against the checked-out file ---------------------------------------
    fs = FolioFileSystem(repo=root)
    for label, columns in (("all columns", None), ("1 column", ["c3"])):
        plain, pyfile, through = timed([
            lambda c=columns: pq.read_table(path, columns=c),
            lambda c=columns: read_python_file(path, c),
            lambda c=columns: pq.read_table("v1/data/big.parquet", filesystem=fs, columns=c),
        ], repeat)
        print(f"local, {label}: checked-out file {plain * 1000:.1f} ms (as a Python file "
              f"{pyfile * 1000:.1f} ms), folio://v1 {through * 1000:.1f} ms "
              f"({through / plain:.2f}x the file, {through / pyfile:.2f}x the Python file)")

    # -- remote only: the object is on S3, not in the local store ---------------------------
    subprocess.run([sys.executable, "-m", "folio.cli", "remote", "add", "s3",
                    "s3://bench/repo", "--endpoint", endpoint, "--allow-http"], cwd=root,
                   check=True, capture_output=True)
    folio(root, "push")
    oid = fs.info("v1/data/big.parquet")["sha256"]
    obj = root / ".git/folio/objects" / oid[:2] / oid[2:]
    obj.chmod(0o644)
    obj.unlink()
    meta = pq.ParquetFile(path).metadata
    j = meta.schema.names.index("c3")
    column_bytes = sum(meta.row_group(i).column(j).total_compressed_size
                       for i in range(meta.num_row_groups))
    ranges: list[tuple[int, int]] = []
    fetched = count_bytes(ranges)
    fs = FolioFileSystem(repo=root, skip_instance_cache=True)
    mark = len(requests.seen)
    t = time.perf_counter()
    got = pq.read_table("v1/data/big.parquet", filesystem=fs, columns=["c3"])
    elapsed = time.perf_counter() - t
    assert got["c3"].equals(data["c3"]), "the column read from S3 differs"
    sent = requests.seen[mark:]
    print(f"S3 only, 1 of {COLUMNS} columns: fetched {fetched[0]:,} B for a column of "
          f"{column_bytes:,} B ({fetched[0] / column_bytes:.2f}x; target <= 1.2x), "
          f"{len(sent)} requests (target <= 20), {elapsed * 1000:.0f} ms")
    for line in sent:
        method, key = re.findall(r"(GET|PUT|POST|DELETE|HEAD) (\S+)", line)[0]
        print(f"    {method} {key[:60]}")
    print("    ranges: " + ", ".join(f"[{a:,}, {b:,})" for a, b in ranges))
    assert not obj.exists(), "a ranged read must not store the object"


if __name__ == "__main__":
    main()
