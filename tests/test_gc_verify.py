"""gc keeps every root and only old garbage goes; verify finds flipped bytes and gaps."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio.errors import FolioError
from folio.ops.maintenance import parse_duration
from folio.repo import Repo

DAY = 86400


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_old(path: Path, seconds: float = 2 * DAY) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def age_store(repo: Repo, seconds: float = 2 * DAY) -> None:
    for oid in repo.store.iter_oids():
        make_old(repo.store.path(oid), seconds)


def flip_byte(path: Path, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)


@pytest.fixture
def rooted(repo: Repo) -> dict[str, bytes]:
    """Objects reachable in every way gc knows, each only in that way; returns them by root."""
    root = repo.root
    write(root / "data/a.txt", b"A1: only in an older git commit")
    repo.add(["data"])
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    write(root / "data/a.txt", b"A2: in the working manifests and HEAD")
    repo.add(["data"])
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "two")
    write(root / "snap.txt", b"S1: only in snapshot s1")
    repo.add(["snap.txt"])
    repo.snapshot("s1")
    write(root / "snap.txt", b"S2: working")
    repo.add(["snap.txt"])
    write(root / "staged.txt", b"X1: only in the git index")
    repo.add(["staged.txt"])
    git(root, "add", ".folio/manifests")
    write(root / "staged.txt", b"X2: working")
    repo.add(["staged.txt"])
    unsaved = b"U: unsaved, then overwritten by a forced checkout"
    write(root / "snap.txt", unsaved)
    repo.checkout(force=True)  # U goes to the recovery log
    assert repo.recovery_log()[-1].sha256 == sha(unsaved)
    run_folio(root, "run", "--name", "hello", "--", "echo", "a run log", check=True)
    [run] = repo.runs().to_pylist()
    return {"old-commit": b"A1: only in an older git commit",
            "snapshot": b"S1: only in snapshot s1", "index": b"X1: only in the git index",
            "recovery": b"U: unsaved, then overwritten by a forced checkout",
            "working": b"S2: working", "run-log": repo.store.read_bytes(run["log"])}


# -- gc -------------------------------------------------------------------------------------
def test_gc_keeps_every_root_and_removes_only_old_garbage(repo: Repo,
                                                          rooted: dict[str, bytes]) -> None:
    old = repo.store.put_bytes(b"garbage nobody names, two days old")
    age_store(repo)
    young = repo.store.put_bytes(b"garbage nobody names, written just now")
    before = set(repo.store.iter_oids())

    dry = repo.gc(dry_run=True)
    assert [o for o, _ in dry.removed] == [old] and dry.young == 1
    assert set(repo.store.iter_oids()) == before  # --dry-run deletes nothing

    result = repo.gc()
    assert [o for o, _ in result.removed] == [old]
    assert result.young == 1 and result.kept == len(before) - 2
    assert set(repo.store.iter_oids()) == before - {old}
    for what, data in rooted.items():
        assert repo.store.has(sha(data)), what
    assert repo.store.has(young)
    assert repo.verify().ok

    # the young one goes once it is older than the grace period
    assert [o for o, _ in repo.gc(grace="0").removed] == [young]
    # and the commit-only content can still be checked out
    first = git(repo.root, "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    repo.checkout(first, ["data"])
    assert (repo.root / "data/a.txt").read_bytes() == rooted["old-commit"]


def test_gc_cli_dry_run_json_and_stale_temp_files(repo: Repo) -> None:
    write(repo.root / "keep.txt", "kept")
    repo.add(["keep.txt"])
    old = repo.store.put_bytes(b"old garbage")
    age_store(repo)
    stale = write(repo.store.staging / ".tmp-0123456789abcdef", b"left by a killed writer")
    make_old(stale)
    fresh = write(repo.store.staging / ".tmp-fedcba9876543210", b"a writer at work")

    dry = json.loads(run_folio(repo.root, "gc", "--dry-run", "--json", check=True).stdout)
    assert dry["dry_run"] and [r["oid"] for r in dry["removed"]] == [old]
    assert [t["path"] for t in dry["temp_files"]] == [".git/folio/tmp/.tmp-0123456789abcdef"]
    assert repo.store.has(old) and stale.exists()
    text = run_folio(repo.root, "gc", "--dry-run", check=True).stdout
    assert f"would remove {old}" in text and "Would remove 1 unreachable object and" in text

    out = run_folio(repo.root, "gc", check=True).stdout
    assert "Removed 1 unreachable object and 1 stale temporary files" in out
    assert not repo.store.has(old) and not stale.exists() and fresh.exists()
    assert repo.store.has(sha(b"kept"))

    bad = run_folio(repo.root, "gc", "--grace", "1 fortnight")
    assert bad.returncode == 2 and "invalid duration" in bad.stderr


def test_gc_refuses_a_shared_store_unless_allowed(repo: Repo, tmp_path: Path) -> None:
    repo.config.update(["core"], {"store": str(tmp_path / "shared")}, local=True)
    shared = Repo(repo.root)  # (a machine's store path is set in the local config)
    orphan = shared.store.put_bytes(b"another clone's data, perhaps")
    age_store(shared)
    proc = run_folio(repo.root, "gc")
    assert proc.returncode == 1 and "--allow-shared" in proc.stderr
    assert proc.stderr.count("\n") == 1
    with pytest.raises(FolioError, match="shared"):
        shared.gc()
    assert shared.store.has(orphan)
    assert [o for o, _ in shared.gc(allow_shared=True).removed] == [orphan]


def test_parse_duration() -> None:
    assert parse_duration("1d") == DAY
    assert parse_duration("12h") == 12 * 3600
    assert parse_duration("30m") == 1800
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2w") == 14 * DAY
    assert parse_duration("0") == parse_duration(0) == 0
    for bad in ("", "1", "d", "1y", "-1d", "1d x"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# -- verify ---------------------------------------------------------------------------------
@pytest.fixture
def pushed(repo: Repo, tmp_path: Path) -> Repo:
    for i in range(30):
        write(repo.root / f"data/f{i:02d}.bin", os.urandom(100 + i * 300))
    repo.add(["data"])
    repo.snapshot("v1")
    repo.add_remote("nas", str(tmp_path / "nas"))
    repo.push()
    return repo


def test_verify_catches_a_byte_flip_and_repair_fixes_it(pushed: Repo) -> None:
    root = pushed.root
    assert run_folio(root, "verify", check=True).stdout.endswith(
        "Every object is sound and the working data is complete.\n")
    entry = pushed.read_manifest("data").entries["f07.bin"]
    oid = entry.sha256
    assert oid is not None
    flip_byte(pushed.store.path(oid), 50)

    proc = run_folio(root, "verify")
    assert proc.returncode == 1
    assert f"corrupt: {oid}" in proc.stdout
    assert proc.stderr == ("folio: error: verify found 1 corrupt object(s); "
                           "`folio verify --repair` fetches them again from the remote\n")
    report = json.loads(run_folio(root, "verify", "--json").stdout)
    assert report["ok"] is False and report["corrupt"] == [oid]

    fixed = run_folio(root, "verify", "--repair")
    assert fixed.returncode == 0, fixed.stderr
    assert f"repaired: {oid} (from nas)" in fixed.stdout
    assert pushed.store.verify(oid)
    assert run_folio(root, "verify", check=True).returncode == 0


def test_verify_reports_missing_objects_and_what_names_them(pushed: Repo) -> None:
    oid = pushed.read_manifest("data").entries["f03.bin"].sha256
    assert oid is not None
    pushed.store.delete(oid)
    result = pushed.verify()
    assert not result.ok and result.missing == {oid: "data/f03.bin"}
    proc = run_folio(pushed.root, "verify")
    assert proc.returncode == 1 and f"missing: {oid} (named by data/f03.bin)" in proc.stdout

    repaired = pushed.verify(repair=True)
    assert repaired.ok and repaired.repaired == [oid] and pushed.store.verify(oid)


def test_verify_against_a_remote_lists_what_it_lacks(pushed: Repo) -> None:
    write(pushed.root / "data/late.bin", b"added after the push")
    pushed.add(["data"])
    result = pushed.verify(remote="nas")
    assert not result.ok and list(result.not_on_remote) == [sha(b"added after the push")]
    pushed.push()
    assert pushed.verify(remote="nas").ok


def test_repair_without_the_object_on_the_remote_says_so(pushed: Repo) -> None:
    write(pushed.root / "data/late.bin", b"never pushed")
    pushed.add(["data"])
    oid = sha(b"never pushed")
    flip_byte(pushed.store.path(oid))
    result = pushed.verify(repair=True)
    assert not result.ok and "not on remote nas" in result.unrepaired[oid]
    assert pushed.store.has(oid)  # the damaged copy is all there is: it is kept


def test_verify_counts_history_objects_not_fetched_here_without_failing(pushed: Repo) -> None:
    """A bare pull fetches the working data only; objects only a snapshot names are noted."""
    write(pushed.root / "data/old.bin", b"only in a snapshot")
    pushed.add(["data"])
    pushed.snapshot("with-old")
    oid = pushed.read_manifest("data").entries["old.bin"].sha256
    (pushed.root / "data/old.bin").unlink()
    pushed.add(["data"])
    pushed.store.delete(oid)
    result = pushed.verify()
    assert result.ok and oid in result.not_local and oid not in result.missing
