"""Crash trials for remotes (issue 19): SIGKILL ``folio push`` and ``folio gc --remote`` (with
repack) at random moments, then check what a kill may never leave.

After every kill: every object a push record names and every object the pushed versions
named before is on the remote (``folio verify --remote`` on the older version); after a
killed gc, nothing a ref names is missing at all. Then the command is run again: it must
complete, and ``folio verify --remote`` find nothing missing. Directory remotes: a trial is
a hard-linked copy of a template (tests/reliability/harness.py), milliseconds each.

A few trials per command run in CI; ``pytest -m slow tests/test_remote_crash.py`` runs
:data:`SLOW_TRIALS`.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import run_folio, set_git_identity, write
from tests.reliability import harness as h

from folio.remote import DirectoryBackend, records
from folio.remote.catalog import load_catalog
from folio.repo import Repo

TRIALS = 2
SLOW_TRIALS = 40


def _files(root: Path, count: int, seed: int, size: int = 4000) -> None:
    rng = random.Random(seed)
    for i in range(count):
        write(root / "data" / f"d{i % 10}" / f"f{i:04d}.bin", rng.randbytes(rng.randint(10, size)))


def _json(root: Path, *args: str) -> dict:  # type: ignore[type-arg]
    proc = run_folio(root, *args, "--json")
    assert proc.returncode == 0, f"folio {' '.join(args)}: {proc.stderr}"
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _not_on_remote(root: Path) -> dict[str, str]:
    """What ``folio verify --remote nas`` says is missing there (in-process: a trial's
    checks should not cost an interpreter start each)."""
    return Repo(root).verify(remote="nas").not_on_remote


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """push/: v1 (300 small files, two large) pushed, then 1 % changed, two files added and
    snapshot v2 taken, not pushed. gc/: 800 files pushed, then 3/4 of them rewritten and
    pushed, so the first packs are about a quarter live (repacked under 50 %)."""
    with pytest.MonkeyPatch.context() as env:
        set_git_identity(env, tmp_path_factory.mktemp("home"))
        base = tmp_path_factory.mktemp("remote-templates")
        push = base / "push" / "repo"
        h.init_repo(push)
        _files(push, 300, seed=1)
        write(push / "big/one.bin", os.urandom((1 << 20) + 1))
        write(push / "big/two.bin", os.urandom((1 << 20) + 2))
        run_folio(push, "add", "data", "big", check=True)
        run_folio(push, "snapshot", "v1", check=True)
        run_folio(push, "remote", "add", "nas", str(base / "push" / "nas"), check=True)
        run_folio(push, "push", check=True)
        _files(push, 6, seed=2)
        write(push / "big/three.bin", os.urandom((1 << 20) + 3))
        run_folio(push, "add", "data", "big", check=True)
        run_folio(push, "snapshot", "v2", check=True)

        gc = base / "gc" / "repo"
        h.init_repo(gc)
        _files(gc, 800, seed=3)
        run_folio(gc, "add", "data", check=True)
        run_folio(gc, "remote", "add", "nas", str(base / "gc" / "nas"), check=True)
        run_folio(gc, "push", check=True)
        rng = random.Random(4)
        for i in range(800):
            if i % 4:
                write(gc / "data" / f"d{i % 10}" / f"f{i:04d}.bin", rng.randbytes(2000))
        run_folio(gc, "add", "data", check=True)
        run_folio(gc, "push", check=True)
        yield base


def _trial(templates: Path, name: str, dst: Path) -> Path:
    """A copy of template ``name`` whose remote is the copy's own."""
    h.clone_dir(templates / name, dst)
    root = dst / "repo"
    for config in (root / ".folio" / "config.toml", root / ".git" / "folio" / "config.toml"):
        if config.exists():
            text = config.read_text()
            config.write_text(text.replace(str(templates / name / "nas"), str(dst / "nas")))
    return root


def _run_trials(templates: Path, tmp_path: Path, name: str, argv: list[str], trials: int,
                after_kill, after_rerun, after_clean=None) -> None:  # type: ignore[no-untyped-def]
    start = h.startup_time(tmp_path)
    clean = _trial(templates, name, tmp_path / "clean")
    full = h.timed_run(clean, [*h.FOLIO, *argv])
    (after_clean or after_rerun)(clean)
    rng = random.Random(os.environ.get("FOLIO_CRASH_SEED", "19"))
    killed = 0
    for i in range(trials * 3):  # until ``trials`` kills landed while the command ran
        if killed == trials:
            break
        root = _trial(templates, name, tmp_path / f"t{i}")
        # Past start-up (killing sooner tests nothing), before the uninterrupted run's end.
        delay = start + rng.random() * max(full - start, 0.05) * 0.95
        outcome = h.kill_after(root, [*h.FOLIO, *argv], delay)
        if outcome.finished:  # a faster run than the first: aim earlier next time
            full = max(start, outcome.elapsed * 0.9)
        killed += not outcome.finished
        after_kill(root)
        h.timed_run(root, [*h.FOLIO, *argv])  # the rerun completes
        after_rerun(root)
        h.remove_tree(tmp_path / f"t{i}")
    assert killed, "every trial finished before its kill: nothing was tested"


def _push_after_kill(root: Path) -> None:
    """v1 stays whole, and every record names only objects that are there."""
    nas = DirectoryBackend(root.parent / "nas")
    catalog = load_catalog(nas, None)
    for key, _ in nas.list("sets"):
        ids = records.decode((root.parent / "nas" / key).read_bytes(), key)
        assert all(o in catalog for o in ids), f"record {key} names a missing object"
    repo = Repo(root)
    v1 = {e.sha256 for m in repo.resolve("v1").manifests.values() for e in m.entries.values()}
    assert v1 <= set(catalog.present(v1)), "a killed push lost what an earlier push sent"


def _whole(root: Path) -> None:
    assert _not_on_remote(root) == {}, "the remote misses objects a ref names"


def test_sigkill_during_push_of_a_new_snapshot(templates: Path, tmp_path: Path) -> None:
    _run_trials(templates, tmp_path, "push", ["push"], TRIALS, _push_after_kill, _whole)


def test_sigkill_during_remote_gc_with_repack(templates: Path, tmp_path: Path) -> None:
    argv = ["gc", "--remote", "nas", "--grace", "0"]

    def after_rerun(root: Path) -> None:
        _whole(root)
        again = Repo(root).gc_remote("nas", grace=0)
        assert again.repacked == [] and again.packs == [], again

    def after_clean(root: Path) -> None:
        after_rerun(root)
        h.remove_tree(root / ".git" / "folio" / "objects")  # every live object comes back
        assert _json(root, "pull")["moved"] == 800

    _run_trials(templates, tmp_path, "gc", argv, TRIALS, _whole, after_rerun, after_clean)


@pytest.mark.slow
def test_sigkill_during_push_many_trials(templates: Path, tmp_path: Path) -> None:
    _run_trials(templates, tmp_path, "push", ["push"], SLOW_TRIALS, _push_after_kill, _whole)


@pytest.mark.slow
def test_sigkill_during_remote_gc_many_trials(templates: Path, tmp_path: Path) -> None:
    argv = ["gc", "--remote", "nas", "--grace", "0"]
    _run_trials(templates, tmp_path, "gc", argv, SLOW_TRIALS, _whole, _whole)
