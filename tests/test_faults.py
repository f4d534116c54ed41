"""Faults from the machine: a full disk, a read-only store, a vanished or corrupt object, a
file that changes while folio reads it, file names that are not UTF-8.

Each ends the same way: one line that says what and where, exit code 1, no traceback; a
store that verify finds whole; nothing lost (the data and manifests as before, or, for a
checkout, each file wholly old or wholly new); and once the fault is gone, the same command
succeeds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write
from tests.reliability import harness as h

from folio.errors import CorruptObjectError, FolioError, MissingObjectError
from folio.repo import Repo

MIB = 1 << 20


def one_line_failure(proc: subprocess.CompletedProcess[str], *where: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.startswith("folio: error:") and proc.stderr.count("\n") == 1, proc.stderr
    for part in where:
        assert part in proc.stderr, proc.stderr


def _mount(target: Path, *options: str) -> bool:
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", *options, str(target)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs (root only; skipped elsewhere: the RLIMIT_FSIZE tests still run)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _mount(disk, "-t", "tmpfs", "-o", "size=32m", "tmpfs"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _repo_on(disk: Path) -> Repo:
    root = disk / "repo"
    root.mkdir()
    git(root, "init", "-q")
    return Repo.init(root)


def _fill(disk: Path, leave: int) -> None:
    """Leave only ``leave`` bytes free on ``disk``."""
    st = os.statvfs(disk)
    with open(disk / "filler", "wb") as f:
        f.truncate(0)
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))


def _grow(disk: Path) -> None:
    (disk / "filler").unlink()


def test_disk_full_during_add(small_disk: Path) -> None:
    repo = _repo_on(small_disk)
    write(repo.root / "data/small.txt", "small\n")
    repo.add(["data"], cwd=repo.root)
    before = h.capture(repo.root)
    for i in range(3):  # 9 MiB of data, whose copies do not fit beside it
        write(repo.root / f"data/big{i}.bin", os.urandom(3 * MIB))
    _fill(small_disk, 4 * MIB)
    proc = run_folio(repo.root, "add", "data")
    one_line_failure(proc, "No space left on device")
    assert h.capture(repo.root).manifests == before.manifests  # nothing recorded
    h.check_store(Repo(repo.root))  # no partial object under a name
    staging = repo.store.staging
    assert not [p for p in staging.rglob("*") if p.is_file()], "staging files were left"
    _grow(small_disk)
    run_folio(repo.root, "add", "data", check=True)
    assert all(s.clean for s in Repo(repo.root).status())
    h.check_store(Repo(repo.root))


def test_disk_full_during_checkout(small_disk: Path) -> None:
    repo = _repo_on(small_disk)
    old = {f"data/f{i}.bin": os.urandom(MIB) for i in range(4)}
    for rel, data in old.items():
        write(repo.root / rel, data)
    repo.add(["data"], cwd=repo.root)
    repo.snapshot("v1")
    new = {rel: os.urandom(MIB) for rel in old}
    for rel, data in new.items():
        write(repo.root / rel, data)
    repo.add(["data"], cwd=repo.root)
    repo.snapshot("v2")  # held: checkout may replace these versions
    _fill(small_disk, MIB // 2)  # no version of a file fits beside the old one
    proc = run_folio(repo.root, "checkout", "v1")
    one_line_failure(proc, "No space left on device")
    for rel in old:
        now = (repo.root / rel).read_bytes()
        assert now in (old[rel], new[rel]), f"{rel} is neither old nor new"
    assert not [p for p in (repo.root / "data").iterdir() if p.name.startswith(".tmp-")]
    h.check_store(Repo(repo.root))
    _grow(small_disk)
    run_folio(repo.root, "checkout", "v1", check=True)
    assert {rel: (repo.root / rel).read_bytes() for rel in old} == old
    assert all(s.clean for s in Repo(repo.root).status())


def _limited(limit: int) -> None:
    """preexec_fn: files may not grow past ``limit`` bytes (EFBIG, as a full quota would)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _run_limited(root: Path, limit: int, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*h.FOLIO, *argv], cwd=root, capture_output=True, text=True,
                          preexec_fn=lambda: _limited(limit))


def test_file_size_limit_during_add_and_checkout(repo: Repo) -> None:
    """RLIMIT_FSIZE: the same failure anywhere, without root."""
    write(repo.root / "data/a.bin", os.urandom(MIB))
    repo.add(["data"])
    repo.snapshot("v1")
    before = h.capture(repo.root)
    write(repo.root / "data/b.bin", os.urandom(3 * MIB))
    one_line_failure(_run_limited(repo.root, 2 * MIB, "add", "data"), "File too large")
    assert h.capture(repo.root).manifests == before.manifests
    h.check_store(Repo(repo.root))
    run_folio(repo.root, "add", "data", check=True)
    run_folio(repo.root, "snapshot", "v2", check=True)  # held: checkout may replace it
    os.unlink(repo.root / "data/a.bin")
    (repo.root / "data/b.bin").unlink()
    one_line_failure(_run_limited(repo.root, MIB // 2, "checkout", "v1"), "File too large")
    assert not (repo.root / "data/a.bin").exists()  # not there, or whole: never partial
    assert not [p for p in (repo.root / "data").iterdir() if p.name.startswith(".tmp-")]
    run_folio(repo.root, "checkout", "v1", check=True)
    assert all(s.clean for s in Repo(repo.root).status())


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only: a read-only bind mount as root (who ignores modes), else chmod."""
    if os.geteuid() == 0:
        assert _mount(path, "--bind", str(path))
        try:
            assert _mount(path, "-o", "remount,ro,bind")
            yield
        finally:
            subprocess.run(["umount", str(path)], check=True)
        return
    modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")] if p.is_dir()}
    for p in modes:
        p.chmod(0o555)
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def test_read_only_store(repo: Repo) -> None:
    write(repo.root / "data/a.csv", "a\n1\n")
    repo.add(["data"])
    repo.snapshot("v1")
    before = h.capture(repo.root)
    write(repo.root / "data/b.csv", "b\n2\n")
    with read_only(repo.store.root):
        proc = run_folio(repo.root, "add", "data")
        one_line_failure(proc)
        assert "Read-only file system" in proc.stderr or "Permission denied" in proc.stderr
        assert h.capture(repo.root).manifests == before.manifests
        # readers need no write access
        run_folio(repo.root, "status", check=True)
        run_folio(repo.root, "verify", check=True)
        (repo.root / "data/a.csv").unlink()
        run_folio(repo.root, "checkout", "--", "data/a.csv", check=True)
        assert (repo.root / "data/a.csv").read_text() == "a\n1\n"
    run_folio(repo.root, "add", "data", check=True)
    h.check_store(Repo(repo.root))


def test_a_vanished_or_corrupt_object(repo: Repo) -> None:
    write(repo.root / "data/a.csv", "a\n1\n")
    write(repo.root / "data/b.csv", "b\n2\n")
    repo.add(["data"])
    bundle = repo.folio("exp")
    bundle.add_data("table", {"rows": [1, 2, 3]})
    bundle.add_data("other", [1, 2])
    a = repo.read_manifest("data").entries["a.csv"].sha256
    b = repo.read_manifest("data").entries["b.csv"].sha256
    item = repo.read_manifest("exp").entries["table.json"].sha256
    repo.store.delete(a)
    path = repo.store.path(b)
    os.chmod(path, 0o644)
    path.write_bytes(b"b\n3\n")  # same size, one byte flipped
    os.chmod(path, 0o444)
    repo.store.delete(item)
    (repo.root / "exp/table.json").unlink()  # else the verified working file would do
    for rel in ("data/a.csv", "data/b.csv"):
        (repo.root / rel).unlink()
    before = h.work_files(repo.root)
    one_line_failure(run_folio(repo.root, "checkout", "--", "data/a.csv"), a[:12], "folio pull")
    one_line_failure(run_folio(repo.root, "checkout", "--", "data/b.csv"), "data/b.csv",
                     "corrupt")
    assert h.work_files(repo.root) == before  # nothing half-written, nothing wrong written
    verify = run_folio(repo.root, "verify")
    assert verify.returncode == 1 and a[:12] in verify.stdout + verify.stderr
    assert b[:12] in verify.stdout + verify.stderr
    fresh = Repo(repo.root).folio("exp")
    with pytest.raises(MissingObjectError) as missing:
        fresh.get_data("table")
    assert "table" in str(missing.value) and "\n" not in str(missing.value)
    assert fresh.get_data("other") == [1, 2]
    with pytest.raises(CorruptObjectError) as corrupt:
        Repo(repo.root).store.read_bytes(b, "data/b.csv")
    assert "data/b.csv" in str(corrupt.value)


# -- a file that changes while it is read -------------------------------------------------------
@pytest.mark.parametrize("how", ["rename", "append"])
def test_a_file_changing_while_it_is_hashed(repo: Repo, how: str) -> None:
    """What is recorded was the file's content at one moment, or add fails with one line.

    ``rename``: a writer swaps two versions in (each moment is A or B); ``append``: a writer
    grows a log chunk by chunk in place (each moment is a whole number of chunks).
    """
    path = repo.root / "data/live.bin"
    a, b = os.urandom(6 * MIB), os.urandom(6 * MIB)
    chunk = os.urandom(4096)
    write(path, a if how == "rename" else b"")
    stop = threading.Event()

    def writer() -> None:
        i = 0
        with open(path, "ab", buffering=0) as log:
            while not stop.is_set() and i < 2048:  # at most 8 MiB
                if how == "rename":
                    tmp = path.with_name("live.tmp")
                    tmp.write_bytes(b if i % 2 else a)
                    os.replace(tmp, path)
                else:
                    log.write(chunk)
                    stop.wait(0.0005)
                i += 1

    def moment(sha: str, size: int) -> bool:
        if how == "rename":
            return sha in {hashlib.sha256(a).hexdigest(), hashlib.sha256(b).hexdigest()}
        return size % len(chunk) == 0 and sha == hashlib.sha256(
            chunk * (size // len(chunk))).hexdigest()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(8):
            try:
                repo.add(["data/live.bin"], cwd=repo.root)
            except FolioError as exc:
                assert "keeps changing" in str(exc) and "\n" not in str(exc)
                continue
            entry = Repo(repo.root).read_manifest("data/live.bin").entries["live.bin"]
            assert moment(entry.sha256, entry.size), "recorded bytes the file never held"
    finally:
        stop.set()
        thread.join()
    h.check_store(Repo(repo.root))
    repo.add(["data/live.bin"], cwd=repo.root)  # quiet again: recorded as it is
    assert all(s.clean for s in Repo(repo.root).status())


def test_in_place_rewrites_never_store_bytes_under_a_wrong_name(repo: Repo) -> None:
    """Same-size rewrites in place: a reader may catch a moment in the middle of someone's
    write (any reader would); the store still names every object by its own bytes."""
    path = repo.root / "data/live.bin"
    a, b = os.urandom(5 * MIB), os.urandom(5 * MIB)
    write(path, a)
    stop = threading.Event()

    def writer() -> None:
        fd = os.open(path, os.O_WRONLY)
        i = 0
        while not stop.is_set():
            os.pwrite(fd, b if i % 2 else a, 0)
            i += 1
        os.close(fd)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(6):
            with contextlib.suppress(FolioError):
                repo.add(["data"], cwd=repo.root)
    finally:
        stop.set()
        thread.join()
    h.check_store(Repo(repo.root))


# -- names that are not UTF-8 -----------------------------------------------------------------
def test_non_utf8_file_names(repo: Repo) -> None:
    write(repo.root / "data/ok.csv", "ok\n")
    repo.add(["data"])
    before = h.capture(repo.root)
    bad = os.path.join(os.fsencode(repo.root / "data"), b"caf\xe9.csv")
    with open(bad, "wb") as f:
        f.write(b"latin-1 name\n")
    for argv in (["add", "data"], ["status"], ["snapshot", "v1"]):
        one_line_failure(run_folio(repo.root, *argv), "not valid UTF-8", "data/caf")
    assert h.capture(repo.root).manifests == before.manifests
    assert not Repo(repo.root).tags()
    proc = subprocess.run([*h.FOLIO, "add", os.fsencode(repo.root / "data") + b"/caf\xe9.csv"],
                          cwd=repo.root, capture_output=True, text=True)
    one_line_failure(proc)
    os.unlink(bad)
    run_folio(repo.root, "add", "data", check=True)
    h.check_store(Repo(repo.root))
    assert sys.getfilesystemencoding() == "utf-8"
