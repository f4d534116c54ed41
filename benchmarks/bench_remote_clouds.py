"""Push, no-op push and pull of many small files to Azure (Azurite), and pull over HTTP.

Usage: python benchmarks/bench_remote_clouds.py [--files 2000] [--workdir DIR]

Servers, each its own process on 127.0.0.1, started the way the tests start them:
Azurite's blob service (npm ``azurite``: ``.ci-node/`` or ``FOLIO_AZURITE``), and wsgidav
on cheroot serving a directory remote read-only over WebDAV (tests/webdav.py). Requests are
counted at the servers (Azurite's debug log, the WebDAV server's request log). Every step
is the real CLI in a subprocess, timed once (wall clock); the pulled data is compared byte
for byte with what was pushed.

Steps: push (empty prefix), push again (nothing to send), pull into an emptied store and
work tree; then over HTTP: pull the same data from a directory remote published by the
WebDAV server (``folio push -r nas`` first, not timed).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.webdav as webdav  # noqa: E402
from tests.azurite import CONTAINER, Azurite, azurite_binary, start_azurite  # noqa: E402
from tests.webdav import start_server, stop_server  # noqa: E402

ENV = {**os.environ, "AZURE_USE_AZURE_CLI": "false", "GIT_AUTHOR_NAME": "bench",
       "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "bench",
       "GIT_COMMITTER_EMAIL": "bench@example.com"}


def folio(cwd: Path, *args: str) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "folio.cli", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"folio {' '.join(args)} failed: {proc.stderr.strip()}")
    return elapsed


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_repo(work: Path, files: int) -> Path:
    repo = work / "repo"
    (repo / "data").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    rng = random.Random(19)
    for i in range(files):
        path = repo / "data" / f"d{i % 20:02d}" / f"f{i:05d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(512, 8192)))
    folio(repo, "init")
    folio(repo, "add", "data")
    return repo


def wipe(repo: Path) -> None:
    shutil.rmtree(repo / ".git/folio/objects", ignore_errors=True)
    shutil.rmtree(repo / "data")


def counts(requests: list[tuple[str, str]]) -> str:
    by = collections.Counter(method for method, _ in requests)
    return ", ".join(f"{m} {n}" for m, n in sorted(by.items())) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if azurite_binary() is None:
        raise SystemExit("Azurite not found: npm install --prefix .ci-node azurite")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="folio-bench-clouds-"))
    work.mkdir(parents=True, exist_ok=True)
    for name in ("AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_TOKEN"):
        ENV.pop(name, None)
    repo = make_repo(work, args.files)
    expected = tree(repo / "data")
    rows: list[tuple[str, float, str]] = []

    (work / "azurite").mkdir()
    proc, endpoint = start_azurite(work / "azurite")
    served = work / "served"
    served.mkdir()
    dav, port = start_server([sys.executable, webdav.__file__, str(served), str(work / "dav.log")],
                       served)
    try:
        azurite = Azurite(endpoint, work / "azurite" / "debug.log")
        azurite.create_container(CONTAINER)
        folio(repo, "remote", "add", "az", azurite.url("bench"), "--emulator",
              "--endpoint", endpoint, "--default")
        for step, action in (("push", "push"), ("push again (no-op)", "push")):
            mark = len(azurite.requests())
            seconds = folio(repo, action)
            rows.append((f"Azurite: {step}", seconds, counts(azurite.requests()[mark:])))
        wipe(repo)
        mark = len(azurite.requests())
        seconds = folio(repo, "pull")
        rows.append(("Azurite: pull (empty store and work tree)", seconds,
                     counts(azurite.requests()[mark:])))
        assert tree(repo / "data") == expected, "Azure pull differs from what was pushed"

        folio(repo, "remote", "add", "nas", str(served / "nas"))
        folio(repo, "push", "-r", "nas")
        folio(repo, "remote", "add", "web", f"http://127.0.0.1:{port}/nas", "--allow-http")
        wipe(repo)
        log = work / "dav.log"
        mark = len(log.read_text().splitlines())
        seconds = folio(repo, "pull", "-r", "web")
        lines = [tuple(line.split(" ", 1)) for line in log.read_text().splitlines()[mark:]]
        rows.append(("WebDAV (http): pull (empty store and work tree)", seconds,
                     counts(lines)))  # type: ignore[arg-type]
        assert tree(repo / "data") == expected, "HTTP pull differs from what was pushed"
    finally:
        proc.terminate()
        stop_server(dav)

    size = sum(len(b) for b in expected.values())
    print(f"{args.files} files, {size / 1e6:.1f} MB; 2 shared cores; servers on 127.0.0.1\n")
    print("| step | seconds | requests at the server |")
    print("|---|---|---|")
    for step, seconds, requests in rows:
        print(f"| {step} | {seconds:.2f} | {requests} |")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
