"""The chunk store's own figures (issue 17): add of a big file chunked against whole-file,
store growth after a 1 MiB overwrite, checkout of a chunked file against ``cp``.

    python benchmarks/bench_chunk_store.py [--size-mib 1024] [--workdir DIR] [--repeat 2]

Each step is a real ``folio`` subprocess in a fresh git repository; the page cache is warm
(the file was just written), as it is for a user who adds what a job just wrote. Peak
memory is the child's maximum RSS (getrusage). Prints one markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FOLIO = [sys.executable, "-m", "folio.cli"]
MiB = 1 << 20


def run(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """Seconds and peak RSS (MiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) // 1024


def fresh_repo(root: Path, threshold: int | str) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*FOLIO, "init"], cwd=root, check=True, stdout=subprocess.DEVNULL)
    import tomli_w
    import tomllib

    config = root / ".folio" / "config.toml"
    data = tomllib.loads(config.read_text())
    data.setdefault("core", {})["chunk_threshold"] = threshold
    config.write_text(tomli_w.dumps(data))
    return root


def write_random(path: Path, size: int, seed: int) -> None:
    import random

    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 * MiB)
            f.write(rng.randbytes(n))
            left -= n


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])


class Remote:
    """A directory remote and a second store (another clone's), through the Python API."""

    def __init__(self, work: Path, repo: Path, first: str) -> None:
        from folio.objects.store import ObjectStore
        from folio.remote import open_backend, pull, push
        from folio.repo import Repo

        self.dir = work / "remote"
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(work / "clone", ignore_errors=True)
        self.work = work
        self.repo = Repo(repo)
        self.backend = open_backend(f"file://{self.dir}")
        self.clone = ObjectStore(work / "clone" / "objects", work / "clone" / "tmp")
        self.push, self.pull = push, pull
        self.push(self.repo.store, self.backend, [first], cache_dir=work / "cache-a")
        self.pull(self.clone, self.backend, [first], cache_dir=work / "cache-b")

    def second_version(self, oid: str) -> list[tuple[str, str]]:
        before = du(self.dir)
        start = time.perf_counter()
        pushed = self.push(self.repo.store, self.backend, [oid], cache_dir=self.work / "cache-a")
        push_s = time.perf_counter() - start
        grown = du(self.dir) - before
        clone_before = du(self.clone.root)
        start = time.perf_counter()
        pulled = self.pull(self.clone, self.backend, [oid], cache_dir=self.work / "cache-b")
        pull_s = time.perf_counter() - start
        assert self.clone.verify(oid)
        return [
            ("push of the new version: remote growth", f"{grown / MiB:.2f} MiB "
             f"({pushed.moved_bytes / MiB:.2f} MiB sent, {pushed.requests} uploads, "
             f"{push_s:.2f} s)"),
            ("pull of it into a store holding the old one", f"{pulled.moved_bytes / MiB:.2f} MiB "
             f"fetched in {pulled.requests} requests, store +"
             f"{(du(self.clone.root) - clone_before) / MiB:.2f} MiB ({pull_s:.2f} s)")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="folio-chunks-"))
    work.mkdir(parents=True, exist_ok=True)
    size = args.size_mib * MiB
    data = work / "big.bin"
    if not data.exists() or data.stat().st_size != size:
        write_random(data, size, 17)
    rows: list[tuple[str, str]] = []
    best: dict[int | str, float] = {}
    checkouts: dict[int | str, list[float]] = {}
    for label, threshold in (("whole-file (chunk_threshold = 0)", 0),
                             ('chunked (chunk_threshold = "4MiB")', "4MiB")):
        times, peaks = [], []
        for _ in range(args.repeat):
            repo = fresh_repo(work / "repo", threshold)
            os.link(data, repo / "big.bin")
            elapsed, peak = run([*FOLIO, "add", "big.bin"], repo)
            times.append(elapsed)
            peaks.append(peak)
            os.unlink(repo / "big.bin")
            checkouts.setdefault(threshold, []).append(
                run([*FOLIO, "checkout", "--link", "copy"], repo)[0])
        best[threshold] = min(times)
        rows.append((f"add {args.size_mib} MiB, {label}",
                     f"{min(times):.2f} s (peak RSS {max(peaks)} MiB)"))
        rows.append((f"checkout --link copy of it (verified), {label}",
                     f"{min(checkouts[threshold]):.2f} s"))
    ratio = best["4MiB"] / best[0]
    rows.append(("chunked / whole-file add", f"{ratio:.2f}x"))
    # the repo now holds the chunked version: push it to a directory remote, pull it into
    # a second store, then overwrite 1 MiB in the middle, add, push and pull again
    repo = work / "repo"
    remote = Remote(work, repo, hashlib.sha256(data.read_bytes()).hexdigest())
    target = repo / "big.bin"
    os.unlink(target)
    shutil.copyfile(data, target)
    with open(target, "r+b") as f:
        f.seek(size // 2)
        f.write(os.urandom(MiB))
    store = repo / ".git" / "folio" / "objects"
    before = du(store)
    elapsed, _ = run([*FOLIO, "add", "big.bin"], repo)
    rows.append(("store growth after a 1 MiB overwrite, then add",
                 f"{(du(store) - before) / MiB:.2f} MiB ({elapsed:.2f} s)"))
    rows += remote.second_version(hashlib.sha256(target.read_bytes()).hexdigest())
    checkout_times, cp_times = [], []
    for _ in range(args.repeat):
        os.unlink(target)
        checkout_times.append(run([*FOLIO, "checkout", "--link", "copy"], repo)[0])
        copy = work / "copy.bin"
        copy.unlink(missing_ok=True)
        cp_times.append(run(["cp", str(target), str(copy)], work)[0])
    rows.append((f"checkout of the chunked {args.size_mib} MiB file (copy, verified)",
                 f"{min(checkout_times):.2f} s"))
    rows.append((f"cp of the same {args.size_mib} MiB", f"{min(cp_times):.2f} s"))
    rows.append(("checkout / cp", f"{min(checkout_times) / min(cp_times):.2f}x"))
    ratio = min(checkouts["4MiB"]) / min(checkouts[0])
    rows.append(("chunked / whole-file checkout", f"{ratio:.2f}x"))
    print("| step | result |\n|---|---|")
    for step, result in rows:
        print(f"| {step} | {result} |")


if __name__ == "__main__":
    main()
