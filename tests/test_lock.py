from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import run_folio, write

from folio.errors import LockTimeoutError
from folio.lock import RepoLock
from folio.repo import Repo

HOLDER = """
import sys, time
from folio.lock import RepoLock
from pathlib import Path
lock = RepoLock(Path(sys.argv[1]), timeout=5)
with lock.hold("folio add data (test holder)"):
    print("held", flush=True)
    time.sleep(60)
"""


def _start_holder(folio_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folio_dir)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_timeout_names_the_holder(repo: Repo) -> None:
    holder = _start_holder(repo.local_dir)
    try:
        with pytest.raises(LockTimeoutError) as err, RepoLock(repo.local_dir, timeout=0.2).hold():
            pass
        message = str(err.value)
        assert f"pid {holder.pid}" in message and "folio add data (test holder)" in message
        assert "\n" not in message
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_process_is_recovered(repo: Repo) -> None:
    holder = _start_holder(repo.local_dir)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    start = time.monotonic()
    with RepoLock(repo.local_dir, timeout=5).hold():
        pass
    assert time.monotonic() - start < 2


def test_lock_is_reentrant_within_a_process(repo: Repo) -> None:
    lock = RepoLock(repo.local_dir, timeout=0.5)
    with lock.hold(), lock.hold():
        pass


def test_two_concurrent_adds_both_succeed(repo: Repo) -> None:
    for name in ("a", "b"):
        for i in range(300):
            write(repo.root / name / f"f{i}", f"{name}{i}" * 100)
    procs = [subprocess.Popen([sys.executable, "-m", "folio.cli", "add", name], cwd=repo.root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert Repo(repo.root).targets() == ["a", "b"]
    for s in Repo(repo.root).status():
        assert s.clean
    assert run_folio(repo.root, "status", "--exit-code").returncode == 0
