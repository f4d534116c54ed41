"""Crash trials for chunked objects (issue 17): SIGKILL a real `folio add` of a chunked file
and a real `folio push` of one to moto's S3 at random moments, then check, through the CLI,
that nothing a user relies on broke.

After a killed add: `folio verify` passes, the add run again succeeds, `folio verify` still
passes, checkout of the new version and `folio cat` of the old one give every byte. After a
killed push: the push run again succeeds, `folio verify --remote` finds the remote complete,
and a fresh clone pulls every byte of both versions from it.

A few kills run by default (CI time); ``pytest -m slow tests/test_chunks_crash.py`` runs more.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import run_folio, set_git_identity
from tests.reliability import harness as h

from folio.repo import Repo

pytest_plugins = ["s3server"]

MiB = 1 << 20
TARGET = "data/big.bin"
ADD_TRIALS, PUSH_TRIALS, SLOW_TRIALS = 3, 2, 25


def versions() -> tuple[bytes, bytes]:
    """v1: 12 MiB; v2: 1 MiB of it overwritten, and 16 MiB of new bytes appended (a chunked
    add that both reuses chunks and writes several blocks' worth of new ones)."""
    rng = random.Random("chunks-crash")
    v1 = rng.randbytes(12 * MiB)
    v2 = v1[:5 * MiB] + rng.randbytes(MiB) + v1[6 * MiB:] + rng.randbytes(16 * MiB)
    return v1, v2


V1, V2 = versions()


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``added``: v1 added and snapshotted as "a", v2 in the work tree, not added yet;
    ``both``: v2 added and snapshotted as "b" too."""
    with pytest.MonkeyPatch.context() as env:
        set_git_identity(env, tmp_path_factory.mktemp("home"))
        base = tmp_path_factory.mktemp("chunk-templates")
        root = base / "added" / "repo"
        repo = h.init_repo(root)
        h.write_file(root / TARGET, V1)
        repo.add([TARGET], cwd=root)
        repo.snapshot("a")
        h.write_file(root / TARGET, V2)
        h.age_tree(root)
        both = h.clone_dir(base / "added", base / "both") / "repo"
        repo = Repo(both)
        repo.add([TARGET], cwd=both)
        repo.snapshot("b")
        yield base


def folio_ok(cwd: Path, *args: str) -> str:
    done = run_folio(cwd, *args)
    assert done.returncode == 0, f"folio {' '.join(args)} exited {done.returncode}: " \
        f"{done.stderr.strip()[-800:]}"
    return done.stdout


def delays(name: str, cwd: Path, argv: list[str], trials: int) -> list[float]:
    """Kill moments between interpreter start-up and the end of one uninterrupted run."""
    startup = h.startup_time(cwd)
    duration = h.timed_run(cwd, argv)
    startup = min(startup, 0.8 * duration)
    rng = random.Random(f"chunks-{name}")
    return [rng.uniform(0.8 * startup, duration) for _ in range(trials)]


def add_trials(templates: Path, work: Path, trials: int) -> None:
    argv = [*h.FOLIO, "add", TARGET]
    measured = h.clone_dir(templates / "added", work / "measured") / "repo"
    finished = 0
    for trial, delay in enumerate(delays("add", measured, argv, trials)):
        root = h.clone_dir(templates / "added", work / f"t{trial}") / "repo"
        what = f"add trial {trial} (killed after {delay:.2f}s)"
        killed = h.kill_after(root, argv, delay)
        finished += killed.finished
        assert not killed.finished or killed.returncode == 0, f"{what}: {killed.stderr}"
        done = run_folio(root, "verify")
        assert done.returncode == 0, f"{what}: verify after the kill: {done.stdout}{done.stderr}"
        folio_ok(root, "add", TARGET)
        folio_ok(root, "verify")
        (root / TARGET).unlink()
        folio_ok(root, "checkout")
        assert (root / TARGET).read_bytes() == V2, f"{what}: checkout of the re-added file"
        folio_ok(root, "cat", "-o", "old.bin", f"a:{TARGET}")  # v2 is added, not committed:
        assert (root / "old.bin").read_bytes() == V1, f"{what}: snapshot a"  # checkout refuses
        h.remove_tree(root.parent)
    assert finished < max(2, trials), f"{finished}/{trials} adds ended before the kill"


def push_trials(templates: Path, work: Path, s3: object, trials: int) -> None:
    argv = [*h.FOLIO, "push", "--remote", "s3"]

    def copy(name: str) -> Path:
        root = h.clone_dir(templates / "both", work / name) / "repo"
        Repo(root).add_remote("s3", s3.url(), **s3.options)  # type: ignore[attr-defined]
        return root

    finished = 0
    for trial, delay in enumerate(delays("push", copy("measured"), argv, trials)):
        root = copy(f"t{trial}")
        what = f"push trial {trial} (killed after {delay:.2f}s)"
        killed = h.kill_after(root, argv, delay)
        finished += killed.finished
        assert not killed.finished or killed.returncode == 0, f"{what}: {killed.stderr}"
        folio_ok(root, "push", "--remote", "s3")
        done = run_folio(root, "verify", "--remote", "s3")
        assert done.returncode == 0, f"{what}: verify --remote: {done.stdout}{done.stderr}"
        clone = fresh_clone(root, work / f"clone{trial}")
        folio_ok(clone, "pull", "--remote", "s3", "--no-refs")
        assert (clone / TARGET).read_bytes() == V2, f"{what}: pulled bytes of the working file"
        folio_ok(clone, "cat", "--remote", "s3", "-o", "old.bin", f"a:{TARGET}")
        assert (clone / "old.bin").read_bytes() == V1, f"{what}: bytes of snapshot a"
        folio_ok(clone, "verify")
        h.remove_tree(root.parent)
        h.remove_tree(clone)
    assert finished < max(2, trials), f"{finished}/{trials} pushes ended before the kill"


def fresh_clone(src: Path, dst: Path) -> Path:
    """What `git clone` gives a colleague: the committed folio files and the snapshot refs,
    no store and no data; the committed remote accepted in this clone."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(dst)], check=True)
    for rel in (".folio", ".gitignore"):
        if (src / rel).is_dir():
            shutil.copytree(src / rel, dst / rel)
        elif (src / rel).exists():
            shutil.copy2(src / rel, dst / rel)
    subprocess.run(["git", "fetch", "-q", str(src), "refs/folio/*:refs/folio/*"], cwd=dst,
                   check=True)
    folio_ok(dst, "accept")
    return dst


def test_kill_chunked_add(templates: Path, tmp_path: Path) -> None:
    add_trials(templates, tmp_path, ADD_TRIALS)


def test_kill_chunked_push_to_s3(templates: Path, tmp_path: Path, s3: object) -> None:
    push_trials(templates, tmp_path, s3, PUSH_TRIALS)


@pytest.mark.slow
def test_kill_chunked_add_many(templates: Path, tmp_path: Path) -> None:
    add_trials(templates, tmp_path, SLOW_TRIALS)


@pytest.mark.slow
def test_kill_chunked_push_to_s3_many(templates: Path, tmp_path: Path, s3: object) -> None:
    push_trials(templates, tmp_path, s3, SLOW_TRIALS)


def test_the_trials_add_a_chunked_file(templates: Path) -> None:
    """The trials mean something only if v2 was stored chunked: recording it after v1 grew the
    store by about its new bytes (17 MiB), not by the whole 28 MiB file."""
    def size(name: str) -> int:
        store = Repo(templates / name / "repo").store.root
        return sum(os.lstat(os.path.join(d, f)).st_size
                   for d, _, files in os.walk(store) for f in files)

    assert size("both") - size("added") < 17 * MiB + 4 * (256 << 10) + (256 << 10)
