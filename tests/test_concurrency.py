"""Concurrency: eight processes on one repository, and locks left by killed processes.

Eight worker processes mix ``add``, ``add_data``, ``status``, ``snapshot``, ``gc`` and reads
of bundle items on one repository. Each logs what it wrote; afterwards nothing it wrote may
be missing (no lost write), no worker may hang (every wait has a timeout: no deadlock), and
every read a worker made mid-storm must have returned exactly what was written or raised
nothing (no torn read: readers verify hashes, so a torn read would be an error).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import run_folio, write
from tests.reliability import harness as h

from folio.ops.maintenance import verify
from folio.repo import Repo

WORKERS = 8
OPS = 24

WORKER = r"""
import hashlib, json, os, random, sys
import numpy as np
from folio.repo import Repo

root, wid, ops, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(wid)
repo = Repo(root)
bundle = repo.folio("exp")
log = {"files": {}, "items": {}, "tags": [], "done": []}

def value(wid, k):
    return np.arange(wid * 1000 + k, dtype=np.int64) * (k + 1)

for k in range(ops):
    op = ["add", "add_data", "status", "snapshot", "gc", "read"][(wid + k) % 6]
    if op == "add":
        name = f"w{wid}-{k}.txt"
        data = (f"{wid} {k} {rng.random()}\n" * rng.randint(1, 4000)).encode()
        tmp = os.path.join(root, "staging", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(root, "shared", name))
        repo.add(["shared"], cwd=root)
        entry = Repo(root).read_manifest("shared").entries[name]  # read back at once
        assert entry.sha256 == hashlib.sha256(data).hexdigest(), name
        log["files"][name] = entry.sha256
    elif op == "add_data":
        bundle.add_data(f"w{wid}/i{k}", value(wid, k), description=f"worker {wid}")
        log["items"][f"w{wid}/i{k}"] = [wid, k]
    elif op == "status":
        for status in repo.status():
            assert not [p for p in status.modified if p.startswith("w")], status.modified
    elif op == "snapshot":
        tag = f"w{wid}-{k}"
        repo.snapshot(tag, f"worker {wid}")
        log["tags"].append(tag)
    elif op == "gc":
        repo.gc(grace="1h")
    else:  # every item of the bundle reads whole; ours read back exactly
        for name in bundle.keys():
            got = bundle.get_data(name)
            if name in log["items"]:
                assert np.array_equal(got, value(*log["items"][name])), name
    log["done"].append(op)
with open(out, "w") as f:
    json.dump(log, f)
"""


def _garbage(repo: Repo, n: int) -> list[str]:
    """Unreachable objects older than any grace period: gc's to delete."""
    oids = []
    for i in range(n):
        oid = repo.store.put_bytes(f"garbage {i}\n".encode())
        path = repo.store.path(oid)
        os.utime(path, (time.time() - 86400 * 30,) * 2)
        oids.append(oid)
    return oids


def test_eight_writers_lose_nothing_and_never_hang(repo: Repo, tmp_path: Path) -> None:
    storm(repo, tmp_path, OPS)


@pytest.mark.slow
def test_eight_writers_long_storm(repo: Repo, tmp_path: Path) -> None:
    storm(repo, tmp_path, 150)


def storm(repo: Repo, tmp_path: Path, ops: int) -> None:
    root = repo.root
    write(root / "shared/seed.txt", "seed\n")
    (root / "staging").mkdir()
    repo.add(["shared"])
    repo.folio("exp").add_data("seed", {"seed": True})
    garbage = _garbage(repo, 20)
    procs = []
    for wid in range(WORKERS):
        out = tmp_path / f"w{wid}.json"
        procs.append((out, subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), str(wid), str(ops), str(out)],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    deadline = time.monotonic() + 60 + ops * 10
    logs = []
    for out, proc in procs:
        try:
            _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for _, p in procs:
                p.kill()
            pytest.fail("a worker did not finish in time (deadlock?)")
        assert proc.returncode == 0, err
        logs.append(json.loads(out.read_text()))
    assert sum(len(log["done"]) for log in logs) == WORKERS * ops

    repo = Repo(root)
    shared = repo.read_manifest("shared")
    for log in logs:  # no lost write
        for name, sha in log["files"].items():
            assert shared.entries[name].sha256 == sha, f"lost write: shared/{name}"
    bundle = repo.folio("exp")
    for log in logs:
        for name, (wid, k) in log["items"].items():
            want = np.arange(wid * 1000 + k, dtype=np.int64) * (k + 1)
            assert np.array_equal(bundle.get_data(name), want), f"lost item {name}"
    tags = {t.tag for t in repo.tags()}
    for log in logs:
        for tag in log["tags"]:
            assert tag in tags
            repo.resolve(tag)  # its manifests parse
    result = verify(repo)
    assert result.ok and not result.corrupt and not result.missing
    if any("gc" in log["done"] for log in logs):
        assert not any(repo.store.has(o) for o in garbage), "gc ran but kept garbage"
    assert all(s.clean for s in repo.status()), "the data and its manifests disagree"
    h.check_refs_parse(repo)


HOLDER = """
import sys, time
from folio.lock import RepoLock
from pathlib import Path
with RepoLock(Path(sys.argv[1]), timeout=5).hold("folio snapshot nightly (held by test)"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_lock_timeout_names_its_holder_on_one_line(repo: Repo) -> None:
    write(repo.root / "data/a.csv", "a\n")
    repo.config.update(["core"], {"lock_timeout": 0.5}, local=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(repo.local_dir)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        proc = run_folio(repo.root, "add", "data")
        assert time.monotonic() - start < 10
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert f"pid {holder.pid}" in proc.stderr
        assert "folio snapshot nightly (held by test)" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        holder.kill()
        holder.wait()
    assert not (repo.folio_dir / "manifests/data.folio").exists()  # nothing half-done
    run_folio(repo.root, "add", "data", check=True)  # and the lock is free again


def test_a_lock_left_by_a_killed_writer_is_recovered(repo: Repo) -> None:
    """SIGKILL a real `folio add` while it holds the lock: the next writer goes ahead."""
    for i in range(400):
        write(repo.root / f"data/f{i:03d}.bin", os.urandom(64 << 10))
    info = repo.local_dir / "lock.info"
    proc = subprocess.Popen([*h.FOLIO, "add", "data"], cwd=repo.root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:  # wait until it holds it
        try:
            if json.loads(info.read_text()).get("pid") == proc.pid:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    held = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert held, "folio add finished before it could be killed holding the lock"
    write(repo.root / "other/x.txt", "x\n")
    start = time.monotonic()
    run_folio(repo.root, "add", "other", check=True)
    assert time.monotonic() - start < 10  # no waiting out a stale lock
    run_folio(repo.root, "add", "data", check=True)  # the killed command, again
    repo = Repo(repo.root)
    assert all(s.clean for s in repo.status())
    h.check_store(repo)
