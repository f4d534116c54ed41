"""An update of several manifest files is one change: a process killed in the middle, or a
reader racing the writer, sees the target wholly old or wholly new (docs/format.md 4.7.2).

Real processes: the writer is killed by ``os._exit`` at the chosen step (as abrupt as
``kill -9``: no cleanup, no finally), and a reader process races a writer process.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from folio import manifest as mf
from folio.manifest import Entry, Manifest
from folio.workspace import Workspace

N = 3000  # past SHARD_THRESHOLD (2048): about three shards
FIRST, LAST = "f00000.bin", f"f{N - 1:05d}.bin"


def _sha(version: int) -> str:
    return hashlib.sha256(str(version).encode()).hexdigest()


def _manifest(version: int) -> Manifest:
    """Every entry at ``version`` (so the first and last shard both change between two)."""
    entries = {f"f{i:05d}.bin": Entry(f"f{i:05d}.bin", 1, _sha(version)) for i in range(N)}
    return Manifest("big", "dir", entries)


WRITER = textwrap.dedent("""
    import hashlib, os, sys
    from folio import _fs
    from folio.manifest import Entry, Manifest
    from folio.workspace import Workspace
    from folio.worktree import journal

    root, version, die_at = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sha = hashlib.sha256(str(version).encode()).hexdigest()
    entries = {f"f{i:05d}.bin": Entry(f"f{i:05d}.bin", 1, sha) for i in range({n})}
    if die_at == "after-first-rename":
        real = _fs.rename_beneath
        def rename_then_die(*args, **kwargs):
            real(*args, **kwargs)
            os._exit(9)
        journal.rename_beneath = rename_then_die
    elif die_at == "before-plan":
        real_write = journal.write_beneath
        def die_on_plan(base, path, *args, **kwargs):
            if path.name == journal.PLAN:
                os._exit(9)
            return real_write(base, path, *args, **kwargs)
        journal.write_beneath = die_on_plan
    ws = Workspace(root)
    with ws.lock.hold():
        ws.write_manifest(Manifest("big", "dir", entries))
""").replace("{n}", str(N))


def _write_in_process(root: Path, version: int, die_at: str = "never") -> int:
    done = subprocess.run([sys.executable, "-c", WRITER, str(root), str(version), die_at],
                          capture_output=True, text=True, timeout=120)
    return done.returncode


@pytest.fixture
def ws(repo: object) -> Workspace:
    workspace = Workspace(repo.root)  # type: ignore[attr-defined]
    with workspace.lock.hold():
        workspace.write_manifest(_manifest(1))
    shards = list(workspace.shard_dir("big").iterdir())
    assert len(shards) >= 2, "the fixture must span several shards"
    return workspace


def _versions(ws: Workspace) -> set[str]:
    """The distinct sha256 values in the target: one when it is wholly one version."""
    manifest = Workspace(ws.root).read_manifest("big")
    assert len(manifest.entries) == N
    return {e.sha256 or "" for e in manifest.entries.values()}


def test_a_write_killed_after_its_first_rename_is_finished_by_the_next_reader(
        ws: Workspace) -> None:
    assert _write_in_process(ws.root, 2, "after-first-rename") == 9
    assert ws.journal.pending(), "the plan stays behind a killed writer"
    shards = [p.read_bytes() for p in ws.shard_dir("big").iterdir()
              if not p.name.startswith(".tmp-")]
    assert any(_sha(2).encode() in s for s in shards), "one shard was renamed before the kill"
    assert any(_sha(1).encode() in s for s in shards), "and the others were not: half applied"
    assert _versions(ws) == {_sha(2)}, "rolled forward: wholly the new version"
    assert not ws.journal.pending()
    leftovers = [p.name for p in ws.shard_dir("big").iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_a_write_killed_before_its_plan_leaves_the_old_version_and_debris_goes_later(
        ws: Workspace) -> None:
    assert _write_in_process(ws.root, 2, "before-plan") == 9
    assert not ws.journal.pending()
    staged = [p for p in ws.shard_dir("big").iterdir() if p.name.startswith(".tmp-")]
    assert staged, "the staged shards of the killed write are there"
    assert _versions(ws) == {_sha(1)}, "never half applied: wholly the old version"
    with ws.lock.hold():
        ws.write_manifest(_manifest(3))
    assert _versions(ws) == {_sha(3)}
    assert not [p for p in ws.shard_dir("big").iterdir() if p.name.startswith(".tmp-")]


def test_the_next_writer_rolls_a_killed_plan_forward_before_it_writes(ws: Workspace) -> None:
    assert _write_in_process(ws.root, 2, "after-first-rename") == 9
    other = Workspace(ws.root)
    with other.lock.hold():  # taking the lock finishes the plan
        assert not other.journal.pending()
        on_disk = mf.parse(other.manifest_path("big").read_bytes(), "big",
                           other.read_manifest_file, "big")
    assert {e.sha256 for e in on_disk.entries.values()} == {_sha(2)}


def test_a_single_file_change_needs_no_plan(ws: Workspace) -> None:
    manifest = _manifest(1)
    manifest.entries[LAST] = Entry(LAST, 2, _sha(9))
    before = ws.journal.token()
    with ws.lock.hold():
        ws.write_manifest(manifest)
    assert ws.journal.token() == before, "one atomic rename: no journal round"
    assert Workspace(ws.root).read_manifest("big").entries[LAST].sha256 == _sha(9)


READER = textwrap.dedent("""
    import sys, time
    from folio.workspace import Workspace
    root, seconds = sys.argv[1], float(sys.argv[2])
    ws = Workspace(root)
    reads = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        m = ws.read_manifest("big")
        versions = {e.sha256 for e in m.entries.values()}
        if len(versions) != 1:
            print(f"mixed read after {reads} reads: {len(versions)} versions")
            sys.exit(1)
        reads += 1
    print(reads)
""")

LOOP_WRITER = textwrap.dedent("""
    import hashlib, sys, time
    from folio.manifest import Entry, Manifest
    from folio.workspace import Workspace
    root, seconds = sys.argv[1], float(sys.argv[2])
    ws = Workspace(root)
    version, end = 10, time.monotonic() + seconds
    while time.monotonic() < end:
        sha = hashlib.sha256(str(version).encode()).hexdigest()
        entries = {f"f{i:05d}.bin": Entry(f"f{i:05d}.bin", 1, sha) for i in range({n})}
        with ws.lock.hold():
            ws.write_manifest(Manifest("big", "dir", entries))
        version += 1
        time.sleep(0.005)  # let a reader that falls back on the lock have it
    print(version - 10)
""").replace("{n}", str(N))


def test_a_lock_free_reader_never_sees_two_states_of_one_update(ws: Workspace) -> None:
    seconds = "4"
    writer = subprocess.Popen([sys.executable, "-c", LOOP_WRITER, str(ws.root), seconds],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    reader = subprocess.run([sys.executable, "-c", READER, str(ws.root), seconds],
                            capture_output=True, text=True, timeout=120)
    written, _ = writer.communicate(timeout=120)
    assert writer.returncode == 0
    assert reader.returncode == 0, reader.stdout + reader.stderr
    assert int(written) > 3 and int(reader.stdout) > 3, (written, reader.stdout)
