"""Deterministic, cached benchmark data sets and the edits applied to them between steps.

Bytes come from numpy's PCG64 raw stream (about 1.4 GB/s here, several times os.urandom's
rate) so a seed fully determines every file. A data set is built once per parameter set
under `<workdir>/workloads/<key>/` and reused; `meta.json` is written last and marks it
complete, so an interrupted build is simply redone.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MiB = 1 << 20
GiB = 1 << 30
_CHUNK = 64 * MiB


@dataclass(frozen=True)
class Workload:
    """A generated tree: `root/data/...`, with its files (relative to root) and sizes."""

    name: str
    root: Path
    files: tuple[tuple[str, int], ...]

    @property
    def data(self) -> Path:
        """The directory every contestant tracks (copied into each test repo as `data`)."""
        return self.root / "data"

    @property
    def total_bytes(self) -> int:
        """Sum of file sizes."""
        return sum(size for _, size in self.files)

    def describe(self) -> str:
        """One line for the report: count, total size, directory count."""
        dirs = len({path.rsplit("/", 1)[0] for path, _ in self.files})
        return (
            f"{self.name}: {len(self.files):,} files in {dirs:,} "
            f"director{'y' if dirs == 1 else 'ies'}, "
            f"{self.total_bytes / MiB:,.1f} MiB"
        )


def _stream(seed: int, nbytes: int) -> Iterator[bytes]:
    """Deterministic random bytes in chunks of at most 64 MiB."""
    gen = np.random.PCG64(seed)
    left = nbytes
    while left > 0:
        n = min(left, _CHUNK)
        words = (n + 7) // 8
        yield gen.random_raw(words).tobytes()[:n]
        left -= n


def _write(path: Path, payload: bytes | memoryview) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, payload)
    finally:
        os.close(fd)


def _cached(
    workdir: Path, key: str, build: Callable[[Path], tuple[str, list[tuple[str, int]]]]
) -> Workload:
    root = workdir / "workloads" / key
    meta = root / "meta.json"
    if meta.exists():
        info = json.loads(meta.read_text())
        return Workload(info["name"], root, tuple((p, s) for p, s in info["files"]))
    if root.exists():
        shutil.rmtree(root)
    (root / "data").mkdir(parents=True)
    name, files = build(root)
    tmp = root / "meta.json.tmp"
    tmp.write_text(json.dumps({"name": name, "files": files}))
    tmp.replace(meta)
    return Workload(name, root, tuple((p, s) for p, s in files))


def many_files(
    workdir: Path, n_files: int, n_dirs: int, min_size: int, max_size: int, seed: int, name: str
) -> Workload:
    """`n_files` random files with sizes uniform in [min_size, max_size] over `n_dirs` dirs."""
    key = f"{name}-n{n_files}-d{n_dirs}-s{min_size}-{max_size}-seed{seed}"

    def build(root: Path) -> tuple[str, list[tuple[str, int]]]:
        rng = np.random.default_rng(seed)
        sizes = rng.integers(min_size, max_size + 1, size=n_files).tolist()
        files: list[tuple[str, int]] = []
        for d in range(n_dirs):
            (root / "data" / f"d{d:04d}").mkdir()
        offsets = np.cumsum([0, *sizes]).tolist()
        total = offsets[-1]
        # One buffer for a whole batch of files keeps the RNG call count small.
        batch_start = 0
        while batch_start < n_files:
            batch_end = batch_start
            while batch_end < n_files and offsets[batch_end] - offsets[batch_start] < _CHUNK:
                batch_end += 1
            nbytes = offsets[batch_end] - offsets[batch_start]
            buf = memoryview(b"".join(_stream(seed * 1_000_003 + batch_start + 1, nbytes)))
            for i in range(batch_start, batch_end):
                rel = f"data/d{i % n_dirs:04d}/f{i:07d}.bin"
                lo = offsets[i] - offsets[batch_start]
                _write(root / rel, buf[lo : lo + sizes[i]])
                files.append((rel, sizes[i]))
            batch_start = batch_end
        assert sum(s for _, s in files) == total
        files.sort()
        return name, files

    return _cached(workdir, key, build)


def big_files(workdir: Path, count: int, size: int, seed: int, name: str) -> Workload:
    """`count` files of `size` random bytes each, streamed in 64 MiB chunks."""
    key = f"{name}-c{count}-b{size}-seed{seed}"

    def build(root: Path) -> tuple[str, list[tuple[str, int]]]:
        files = []
        for i in range(count):
            rel = f"data/big{i:02d}.bin"
            with (root / rel).open("wb") as fh:
                for chunk in _stream(seed * 1_000_003 + i + 1, size):
                    fh.write(chunk)
            files.append((rel, size))
        return name, files

    return _cached(workdir, key, build)


def small(workdir: Path, n_files: int = 20_000) -> Workload:
    """Issue 2's small-file set: 1-20 KB files, about 100 per directory."""
    return many_files(workdir, n_files, max(1, n_files // 100), 1024, 20 * 1024, 2, "small")


def large(workdir: Path) -> Workload:
    """Issue 2's large-file set: 4 files of 256 MiB."""
    return big_files(workdir, 4, 256 * MiB, 3, "large")


def huge_many(workdir: Path) -> Workload:
    """--huge: 1,000,000 files of about 100 bytes in 1,000 directories."""
    return many_files(workdir, 1_000_000, 1000, 50, 150, 4, "huge-many")


def huge_file(workdir: Path) -> Workload:
    """--huge: one 10 GiB file."""
    return big_files(workdir, 1, 10 * GiB, 5, "huge-file")


def pick(workload: Workload, fraction: float, salt: str = "") -> list[tuple[str, int]]:
    """A fixed, seeded selection of `fraction` of the files (at least one).

    Repeats of a step rewrite the same selection with fresh bytes, so every repeat changes
    exactly the same number of files and versions differ from the base in exactly this set.
    """
    count = max(1, round(len(workload.files) * fraction))
    rng = random.Random(f"pick-{workload.name}-{fraction}-{salt}")
    return sorted(rng.sample(list(workload.files), count))


def rewrite(repo: Path, chosen: list[tuple[str, int]], seed: int) -> int:
    """Give each chosen file new random bytes of the same size and a fresh mtime.

    Written beside the file and renamed over it: a new inode, so a store that hardlinked the
    old file is never damaged. Returns the number of bytes written.
    """
    total = sum(size for _, size in chosen)
    buf = memoryview(b"".join(_stream(seed + 7_777_777, total)))
    now = time.time_ns()
    pos = 0
    for rel, size in chosen:
        target = repo / rel
        tmp = target.with_name(target.name + ".bench-tmp")
        _write(tmp, buf[pos : pos + size])
        os.utime(tmp, ns=(now, now))
        os.replace(tmp, target)
        pos += size
    return total
