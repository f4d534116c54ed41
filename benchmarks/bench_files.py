"""Benchmark files copied into a bundle (issue 16): add_file / get_file against a plain copy.

Usage: python benchmarks/bench_files.py [--mb 100] [--repeat 5] [--workdir DIR]

``add_file`` of an ``--mb`` MiB file of random bytes (a new name each time) against
``shutil.copyfile`` plus one sha256 pass over the copy (what a careful copy costs); then
``get_file`` (which hashes the working file once to check it holds the recorded bytes)
against reading the same file into memory and hashing it. Fastest and median of
``--repeat`` runs, interleaved.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="folio-bench-files-", dir=args.workdir))
    repo = work / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    os.chdir(repo)
    import folio

    folio.Repo.init(repo)
    bundle = folio.Folio("files")
    src = work / "src.bin"
    src.write_bytes(os.urandom(args.mb << 20))
    times: dict[str, list[float]] = {k: [] for k in ("add_file", "copy+sha256", "get_file",
                                                     "read+sha256")}
    def copy_and_hash(dest: Path) -> None:
        shutil.copyfile(src, dest)
        hashlib.sha256(dest.read_bytes()).hexdigest()

    def read_and_hash(path: Path) -> None:
        hashlib.sha256(path.read_bytes()).hexdigest()

    for i in range(args.repeat):
        name = f"x{i}.bin"
        times["add_file"].append(_timed(partial(bundle.add_file, src, name=name)))
        copy = work / f"copy{i}.bin"
        times["copy+sha256"].append(_timed(partial(copy_and_hash, copy)))
        copy.unlink()
        path = bundle.get_file(name)  # warm: the checked file is the one just written
        times["get_file"].append(_timed(partial(bundle.get_file, name)))
        times["read+sha256"].append(_timed(partial(read_and_hash, path)))
    print(f"{args.mb} MiB file, {args.repeat} runs: fastest / median")
    for name, values in times.items():
        fastest, median = min(values) * 1000, statistics.median(values) * 1000
        print(f"  {name:12} {fastest:7.0f} ms {median:7.0f} ms")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
