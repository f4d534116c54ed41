"""Reading one file of a snapshot: `folio cat v1:PATH`, `Repo.open` and folio:// (fsspec).

Usage: python benchmarks/bench_read_one.py [--files 50000] [--repeat 7] [--before REV]
                                           [--workdir DIR]

A repository holds one directory target of --files small files (sharded as folio shards
it: about 1,000 entries a shard), taken as snapshot v1. Timed, each the median of
--repeat runs:
- `folio cat v1:PATH` (the real CLI in a subprocess: wall time, interpreter start included),
- `Repo.open(PATH, rev="v1").read()` in a warm process,
- `fsspec.filesystem("folio").cat_file("v1/PATH")` on a new filesystem each time (so no
  cached manifests), in a warm process.
Each figure is wall time and, in brackets, CPU time (user + system: of the child
process for `folio cat`), since on a shared machine wall time also counts waiting for a
core. PATH is a file in the middle of the target. With --before REV (say the commit this branch
started from), the same three are timed with REV's `src/` (exported by `git archive` into
the workdir), on the same repository, and both columns are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}

# run in a child with PYTHONPATH set to the folio under test: prints the warm timings
CHILD = r"""
import json, statistics, sys, time
import fsspec
from folio.repo import Repo
root, path, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
def median(fn):
    wall, cpu = [], []
    for _ in range(repeat):
        start, used = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - used)
    return statistics.median(wall), statistics.median(cpu)
repo = Repo(root)
def open_read():
    with Repo(root).open(path, rev="v1") as f:
        f.read()
def fs_cat():
    fs = fsspec.filesystem("folio", repo=root, skip_instance_cache=True)
    fs.cat_file("v1/" + path)
open_read()  # imports and the page cache warm
print(json.dumps({"open": median(open_read), "fsspec": median(fs_cat)}))
"""


def run(cwd: Path, *args: str, src: Path = SRC) -> str:
    env = {**os.environ, **ENV, "PYTHONPATH": str(src)}
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def make_repo(root: Path, files: int) -> str:
    """The repository with snapshot v1; returns the path read."""
    root.mkdir(parents=True)
    run(root, "git", "init", "-q")
    data = root / "data" / "big"
    for i in range(files):
        part = data / f"d{i % 100:02}"
        if i < 100:
            part.mkdir(parents=True)
        (part / f"f{i:06}.txt").write_text(f"file {i}\n")
    run(root, sys.executable, "-m", "folio.cli", "init")
    run(root, sys.executable, "-m", "folio.cli", "add", "data/big")
    run(root, sys.executable, "-m", "folio.cli", "snapshot", "v1", "-m", "bench")
    shards = list((root / ".folio/manifests/data/big.folio.d").iterdir())
    print(f"{files} files in one target, {len(shards)} shards", file=sys.stderr)
    middle = files // 2
    return f"data/big/d{middle % 100:02}/f{middle:06}.txt"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(root: Path, path: str, repeat: int, src: Path) -> dict[str, tuple[float, float]]:
    """(wall, cpu) seconds, medians, of each way of reading ``path``."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, used = time.perf_counter(), children_cpu()
        out = run(root, sys.executable, "-m", "folio.cli", "cat", f"v1:{path}", src=src)
        wall.append(time.perf_counter() - start)
        cpu.append(children_cpu() - used)
        assert out.startswith("file "), out
    warm = json.loads(run(root, sys.executable, "-c", CHILD, str(root), path, str(repeat),
                          src=src))
    return {"cat": (statistics.median(wall), statistics.median(cpu)),
            **{k: (v[0], v[1]) for k, v in warm.items()}}


def export_src(rev: str, into: Path) -> Path:
    """``rev``'s src/ in ``into`` (git archive of this repository)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev, "src"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--before", metavar="REV", help="also time REV's src/ (git archive)")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-read-one-", dir=args.workdir))
    root = work / "repo"
    path = make_repo(root, args.files)
    columns = {"this tree": measure(root, path, args.repeat, SRC)}
    if args.before:
        columns[f"before ({args.before})"] = measure(
            root, path, args.repeat, export_src(args.before, work / "before"))
    names = list(columns)
    print(f"| read of `{path}` in v1 ({args.files} files) | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key, label in (("cat", "`folio cat v1:PATH` (new process)"),
                       ("open", "`Repo.open(PATH, rev=\"v1\").read()`"),
                       ("fsspec", "`fs.cat_file(\"v1/PATH\")`, new filesystem")):
        print(f"| {label} | " + " | ".join(
            f"{columns[n][key][0] * 1000:.1f} ms ({columns[n][key][1] * 1000:.1f} ms CPU)"
            for n in names) + " |")


if __name__ == "__main__":
    main()
