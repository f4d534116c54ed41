"""Races between real processes (issue 11, item 6): each test starts real subprocesses that
collide on one repository, for a bounded number of rounds, and asserts that nothing is lost.

- a lock-free ``status`` racing ``add`` on a sharded target never fails on a shard the
  writer replaced (readers retry, docs/format.md 4.7), and gives up on one really gone;
- ``gc --grace 0`` beside bundle writers never deletes an object a new manifest names;
- an edit saved while ``checkout`` runs is never overwritten unsaved (``--force`` logs it);
- an ``untrack`` killed at any point is finished by running it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import run_folio, write
from tests.reliability import harness as h

from folio import manifest as mf
from folio.ops import recovery
from folio.ops.maintenance import verify
from folio.repo import Repo

DIRS = 24
PER_DIR = 100  # 2,400 files: more than SHARD_THRESHOLD, so the target is sharded


def _spawn(script: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- status racing add on a sharded target ------------------------------------------------------
ADDER = r"""
import os, sys
from folio.repo import Repo

root, rounds, dirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
repo = Repo(root)
for k in range(rounds):
    for d in (k % dirs, (k * 7 + 3) % dirs):  # two directories: two shards replaced
        path = os.path.join(root, "big", f"d{d:02d}", f"f{k % 50:03d}.txt")
        with open(path, "w") as f:
            f.write(f"round {k} dir {d}\n" * (1 + k % 5))
    repo.add(["big"], cwd=root)
print("done")
"""

STATUS = r"""
import json, os, sys
from folio.errors import FolioError
from folio.repo import Repo

root, stop = sys.argv[1], sys.argv[2]
calls, failures = 0, []
while not os.path.exists(stop) or calls < 20:
    try:
        Repo(root).status()
    except FolioError as exc:
        failures.append(str(exc))
    calls += 1
    if calls >= 400:
        break
print(json.dumps({"calls": calls, "failures": failures}))
"""


def _sharded_tree(root: Path) -> None:
    for d in range(DIRS):
        for i in range(PER_DIR):
            write(root / "big" / f"d{d:02d}" / f"f{i:03d}.txt", f"{d} {i}\n")


def test_status_racing_add_on_a_sharded_target_never_misses_a_shard(repo: Repo) -> None:
    root = repo.root
    _sharded_tree(root)
    repo.add(["big"])
    assert (repo.manifests_dir / ("big" + mf.SHARD_DIR_SUFFIX)).is_dir()
    stop = root.parent / "adder-done"
    readers = [_spawn(STATUS, str(root), str(stop), cwd=root) for _ in range(2)]
    adder = _spawn(ADDER, str(root), "40", str(DIRS), cwd=root)
    _finish(adder, timeout=120)
    stop.write_text("")
    reports = [json.loads(_finish(r, timeout=120)) for r in readers]
    failures = [f for r in reports for f in r["failures"]]
    assert sum(r["calls"] for r in reports) >= 40
    assert failures == [], f"{len(failures)} status calls failed: {failures[:3]}"
    assert all(s.clean for s in Repo(root).status())


# -- gc --grace 0 beside bundle writers ---------------------------------------------------------
BUNDLE_WRITER = r"""
import sys
import numpy as np
from folio.repo import Repo

root, wid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bundle = Repo(root).folio("exp")
for k in range(n):
    bundle.add_data(f"w{wid}/i{k}", np.full(2000 + k, wid * 1000 + k, dtype=np.int64))
print("done")
"""

GC_LOOP = r"""
import os, sys
from folio.repo import Repo

root, stop = sys.argv[1], sys.argv[2]
runs = 0
while not os.path.exists(stop) and runs < 500:
    Repo(root).gc(grace=0)
    runs += 1
print(runs)
"""


def test_gc_grace_0_beside_bundle_writers_deletes_nothing_a_manifest_names(repo: Repo) -> None:
    root = repo.root
    repo.folio("exp")
    stop = root.parent / "writers-done"
    gc = _spawn(GC_LOOP, str(root), str(stop), cwd=root)
    writers = [_spawn(BUNDLE_WRITER, str(root), str(w), "40", cwd=root) for w in range(2)]
    for proc in writers:
        _finish(proc, timeout=120)
    stop.write_text("")
    assert int(_finish(gc, timeout=120)) > 0
    result = verify(Repo(root))
    assert not result.missing, f"gc deleted {len(result.missing)} named objects"
    bundle = Repo(root).folio("exp")
    for w in range(2):
        for k in range(40):
            got = bundle.get_data(f"w{w}/i{k}")
            assert got.shape == (2000 + k,) and int(got[0]) == w * 1000 + k


# -- an interrupted untrack, finished by running it again ----------------------------------------
UNTRACKED = 300


def _untrack_template(root: Path) -> list[str]:
    h.init_repo(root)
    repo = Repo(root)
    _sharded_tree(root)
    names = [f"t/{i:03d}.txt" for i in range(UNTRACKED)]
    for name in names:
        write(root / name, name + "\n")
    repo.add(["big", *names], cwd=root)
    return ["big", *names]


def _leftovers(root: Path, targets: list[str]) -> list[str]:
    """Shard directories and .gitignore lines of untracked targets."""
    ignored = set((root / ".gitignore").read_text().splitlines())
    shards = root / ".folio/manifests" / ("big" + mf.SHARD_DIR_SUFFIX)
    return [t for t in targets if "/" + t in ignored] + ([str(shards)] if shards.exists() else [])


def _untracked_fully(root: Path, targets: list[str], full: bool) -> None:
    assert Repo(root).targets() == []
    assert _leftovers(root, targets) == []
    assert (root / "t/299.txt").read_text() == "t/299.txt\n", "untrack must keep the data"
    assert len(list((root / "big").rglob("*.txt"))) == DIRS * PER_DIR
    if full:  # rehashes every object: not after every trial
        assert run_folio(root, "verify").returncode == 0


def test_an_untrack_killed_at_any_point_is_finished_by_running_it_again(
        tmp_path: Path) -> None:
    template = tmp_path / "template"
    targets = _untrack_template(template / "repo")
    argv = [*h.FOLIO, "untrack", *targets]
    measured = h.clone_dir(template, tmp_path / "measured") / "repo"
    duration = h.timed_run(measured, argv)
    low, high = h.startup_time(measured), duration
    rng = random.Random(11)
    partial = 0  # kills that left some targets untracked and others not
    for trial in range(10):
        root = h.clone_dir(template, tmp_path / f"t{trial}") / "repo"
        delay = low + (high - low) * rng.uniform(0.25, 0.75)  # bisects towards the work
        h.kill_after(root, argv, delay)
        left = len(Repo(root).targets())
        done = left == 0 and not _leftovers(root, targets)
        partial += 0 < left < len(targets) or (left == 0 and not done)
        if done:  # aim the next kills inside the command's work (the machine may be busy)
            high = max(low, delay)
        elif left == len(targets):
            low = min(delay, high)
        rerun = run_folio(root, "untrack", *targets)
        what = f"trial {trial} (kill at {delay:.3f}s)"
        if done:  # killed after the last step: nothing to finish, an untracked name
            assert rerun.stderr == "folio: error: big: is not a tracked target\n", what
        else:
            assert rerun.returncode == 0, f"{what}: {rerun.stderr}"
        _untracked_fully(root, targets, full=trial % 4 == 0)
    assert partial >= 2, "the kills must land inside the command, half-way"


# -- an edit saved while a non-forced checkout runs -----------------------------------------------
FILES = 400
EDITOR = r"""
import os, sys, time
root, first = sys.argv[1], int(sys.argv[2])
main = os.path.join(root, ".folio", "manifests", "data.folio")
with open(main, "rb") as f:
    before = f.read()
deadline = time.monotonic() + 30
while time.monotonic() < deadline:  # checkout writes its manifests before any file
    with open(main, "rb") as f:
        if f.read() != before:
            break
else:
    sys.exit("checkout never wrote its manifest")
for i in range(first, first + 40):
    path = os.path.join(root, "data", f"f{i:03d}.bin")
    data = f"edit of f{i:03d} saved during checkout\n".encode() * 50
    if i % 2:  # in place, as a program appending to its output does
        with open(path, "wb") as f:
            f.write(data)
    else:  # save-as-temporary then rename, as editors do
        with open(path + ".swp", "wb") as f:
            f.write(data)
        os.replace(path + ".swp", path)
print("edited")
"""


def _edit(i: int) -> bytes:
    return f"edit of f{i:03d} saved during checkout\n".encode() * 50


@pytest.mark.parametrize("force", [False, True], ids=["checkout", "checkout-force"])
def test_an_edit_saved_during_a_checkout_is_never_overwritten_unsaved(repo: Repo,
                                                                      force: bool) -> None:
    root = repo.root
    for i in range(FILES):
        write(root / f"data/f{i:03d}.bin", os.urandom(16 << 10))
    repo.add(["data"])
    repo.snapshot("a")
    for i in range(FILES):
        write(root / f"data/f{i:03d}.bin", os.urandom(16 << 10))
    repo.add(["data"])  # version B is stored: checking out "a" overwrites nothing unsaved
    repo.snapshot("b")  # and held: not an added version checkout refuses
    editor = _spawn(EDITOR, str(root), str(FILES - 40), cwd=root)
    time.sleep(0.3)  # the editor has read the manifest
    checkout = run_folio(root, "checkout", "a", "--link", "copy", *(["--force"] * force))
    _finish(editor)
    saved = {r.sha256 for r in recovery.read(repo.local_dir)}
    lost = []
    for i in range(FILES - 40, FILES):
        edit = _edit(i)
        now = (root / f"data/f{i:03d}.bin").read_bytes()
        if now != edit and not (_sha(edit) in saved and Repo(root).store.has(_sha(edit))):
            lost.append(i)
    assert lost == [], f"{len(lost)} edits overwritten unsaved; checkout: {checkout.stderr}"
    if force:  # each edit overwritten is in the recovery log
        assert checkout.returncode == 0, checkout.stderr
    elif checkout.returncode:  # the edits it left in place are named, on one line
        assert checkout.stderr.count("\n") == 1 and "changed while" in checkout.stderr
    assert Repo(root).verify().ok


def test_a_shard_that_is_really_gone_is_one_error_line_not_an_endless_retry(repo: Repo) -> None:
    root = repo.root
    _sharded_tree(root)
    repo.add(["big"])
    shard = sorted((repo.manifests_dir / ("big" + mf.SHARD_DIR_SUFFIX)).iterdir())[0]
    shard.unlink()
    done = run_folio(root, "status")
    assert done.returncode == 1
    assert done.stderr.startswith("folio: error: .folio/manifests/big.folio:")
    assert done.stderr.endswith(f"shard {shard.stem} is missing\n")
    assert done.stderr.count("\n") == 1


def test_checkout_replaces_hardlinked_copies_of_one_object_without_a_false_alarm(
        repo: Repo) -> None:
    """Replacing one name of a hardlinked object changes the inode's ctime for the others:
    that is not an edit."""
    root = repo.root
    for name in ("a", "b", "c"):
        write(root / "d" / name, "same\n")
    repo.add(["d"])
    repo.snapshot("v1")
    for name in ("a", "b", "c"):
        write(root / "d" / name, f"new {name}\n")
    repo.add(["d"])
    repo.snapshot("v2")
    run_folio(root, "checkout", "v1", "--link", "hardlink", check=True)
    assert (root / "d/a").stat().st_nlink > 2
    done = run_folio(root, "checkout", "v2")
    assert done.returncode == 0, done.stderr
    assert [(root / "d" / n).read_text() for n in "abc"] == ["new a\n", "new b\n", "new c\n"]
