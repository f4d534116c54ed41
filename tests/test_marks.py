"""Clean marks: status proves a target unchanged by stat alone, and never hides a change.

Files normally count as settled one second after their last change (the racy-clean rule);
these tests set that margin to zero and give every write its own mtime instead, so each
step is distinguishable without sleeping.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from folio.ops import marked as quick
from folio.repo import Repo
from folio.worktree import _walk, marks

_clock = itertools.count(1_000_000_000)  # distinct mtimes, seconds since the epoch


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    second = next(_clock)
    os.utime(path, (second, second))


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(marks, "RACY_NS", 0)


@pytest.fixture(params=["serial", "parallel"])
def walk_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every case runs with the in-process walk and with helper processes."""
    if request.param == "parallel":
        monkeypatch.setattr(marks, "PARALLEL_FILES", 1)
    return str(request.param)


def proven_clean(repo: Repo, target: str) -> bool:
    """The mark alone shows the target unchanged: nothing left to compare in full."""
    seen = quick.look(repo, target, repo.clean_marks().get(target))
    return seen is not None and not seen.pending


def full_status(repo: Repo) -> list[tuple[str, list[str], list[str], list[str]]]:
    """Status without any mark: the reference a marked status must agree with."""
    (repo.state_dir / "cache" / "marks").unlink(missing_ok=True)
    return [(s.target, s.added, s.modified, s.deleted) for s in repo.status()]


def status(repo: Repo) -> list[tuple[str, list[str], list[str], list[str]]]:
    return [(s.target, s.added, s.modified, s.deleted) for s in repo.status()]


def make_tree(repo: Repo) -> None:
    for i in range(6):
        write(repo.root / f"data/d{i % 3}/sub/f{i}.bin", b"x" * (i + 1))
    write(repo.root / "data/top.txt", b"top")
    write(repo.root / "model.bin", b"model")
    repo.add(["data", "model.bin"])


def test_add_marks_targets_and_status_trusts_them(repo: Repo, settled: None,
                                                  walk_mode: str) -> None:
    make_tree(repo)
    clean_marks = repo.clean_marks()
    assert set(clean_marks.marks) == {"data", "model.bin"}
    assert set(clean_marks.get("data").dirs) == {"", "d0/sub", "d1/sub", "d2/sub"}
    assert proven_clean(repo, "data")
    # the proof needs neither the stat cache nor a readable manifest body: break both
    (repo.state_dir / "index").write_bytes(b"garbage")
    assert all(s.clean for s in repo.status())


@pytest.mark.parametrize("change, expected", [
    ("same_size_edit", ("data", [], ["d0/sub/f0.bin"], [])),
    ("chmod", ("data", [], ["d0/sub/f0.bin"], [])),
    ("new_file_new_dir", ("data", ["new/deep/n.bin"], [], [])),
    ("delete", ("data", [], [], ["d0/sub/f0.bin"])),
    ("swap_names", ("data", [], ["d0/sub/f0.bin", "d0/sub/f3.bin"], [])),
    ("symlink", ("data", [], ["d0/sub/f0.bin"], [])),
    ("move_dir", ("data", ["moved/sub/f0.bin", "moved/sub/f3.bin"], [],
                  ["d0/sub/f0.bin", "d0/sub/f3.bin"])),
])
def test_a_mark_never_hides_a_change(repo: Repo, settled: None, walk_mode: str, change: str,
                                     expected: tuple[str, list[str], list[str], list[str]]
                                     ) -> None:
    make_tree(repo)
    f0 = repo.root / "data/d0/sub/f0.bin"
    if change == "same_size_edit":  # same size, and the old mtime put back
        before = f0.stat()
        f0.write_bytes(b"y")
        os.utime(f0, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif change == "chmod":
        f0.chmod(0o755)
    elif change == "new_file_new_dir":
        write(repo.root / "data/new/deep/n.bin", b"n")
    elif change == "delete":
        f0.unlink()
    elif change == "swap_names":  # both the same size: only names and inodes tell
        f3 = repo.root / "data/d0/sub/f3.bin"
        write(f3, b"z")
        repo.add(["data"])
        tmp = f0.with_name("tmp")
        f0.rename(tmp)
        f3.rename(f0)
        tmp.rename(f3)
    elif change == "symlink":
        f0.unlink()
        f0.symlink_to("f3.bin")
    elif change == "move_dir":
        (repo.root / "data/d0").rename(repo.root / "data/moved")
    got = status(repo)
    assert ("data", *expected[1:]) in got
    assert got == full_status(repo)


def test_empty_directories_keep_the_mark(repo: Repo, settled: None, walk_mode: str) -> None:
    make_tree(repo)
    (repo.root / "data/empty/deeper").mkdir(parents=True)
    assert proven_clean(repo, "data")


def test_a_changed_manifest_invalidates_the_mark(repo: Repo, settled: None) -> None:
    """`git checkout` of other manifests (no hook) with the files untouched is a change."""
    make_tree(repo)
    path = repo.manifest_path("model.bin")
    text = path.read_text().replace('"size":5', '"size":6')
    assert text != path.read_text()
    path.write_text(text)
    # the file is as folio left it, the manifest is not: out of date (issue 13), not clean
    assert status(repo) == [("data", [], [], []), ("model.bin", [], [], [])]
    assert [s.out_of_date for s in repo.status()] == [[], ["model.bin"]]


def test_young_files_are_unsettled_and_always_compared(repo: Repo) -> None:
    """Under the real one-second rule, files written just now cannot be vouched for by
    their stat: their directory is marked unsettled and compared in full every time."""
    (repo.root / "data/sub").mkdir(parents=True)
    (repo.root / "data/a").write_bytes(b"a")
    (repo.root / "data/sub/b").write_bytes(b"b")
    repo.add(["data"])
    mark = repo.clean_marks().get("data")
    assert mark is not None and mark.unsettled == {"", "sub"}
    seen = quick.look(repo, "data", mark)
    assert seen is not None and seen.pending == {"", "sub"}
    before = (repo.root / "data/a").stat()
    (repo.root / "data/a").write_bytes(b"z")  # same size, old mtime put back
    os.utime(repo.root / "data/a", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert status(repo) == [("data", [], ["a"], [])]


def test_debris_and_odd_files_fall_back_to_the_full_comparison(repo: Repo, settled: None
                                                               ) -> None:
    make_tree(repo)
    debris = repo.root / "data/d0/.tmp-f0.bin.0123456789abcdef"
    debris.write_bytes(b"half")
    assert not proven_clean(repo, "data")
    assert status(repo) == full_status(repo) == [("data", [], [], []),
                                                 ("model.bin", [], [], [])]


def test_a_garbled_marks_file_is_ignored(repo: Repo, settled: None) -> None:
    make_tree(repo)
    (repo.state_dir / "cache" / "marks").write_bytes(b"\xc1 not msgpack")
    assert repo.clean_marks().marks == {}
    assert all(s.clean for s in repo.status())
    assert set(repo.clean_marks().marks) == {"data", "model.bin"}  # rebuilt by status


_OPS = st.lists(st.tuples(st.sampled_from(["write", "resize", "delete", "chmod", "mkdir",
                                           "rename", "status", "add"]),
                          st.integers(0, 7)), max_size=12)


def change(data: Path, op: str, n: int) -> None:
    """One random edit of the tree (``status`` and ``add`` are the tests' own steps)."""
    path = data / f"d{n % 3}/f{n}"
    if op == "write":
        write(path, b"%d" % (n + 1) if not path.exists() else b"%d" % (n + 2))
    elif op == "resize":
        write(path, b"long" * (n + 1))
    elif op == "delete":
        path.unlink(missing_ok=True)
    elif op == "chmod" and path.exists():
        path.chmod(path.stat().st_mode ^ 0o100)
    elif op == "mkdir":  # n == 0: an empty directory
        (data / f"new{n}").mkdir(exist_ok=True)
        for i in range(n):
            write(data / f"new{n}/g{i}", b"g%d" % i)
    elif op == "rename" and path.exists():
        (data / f"d{(n + 1) % 3}").mkdir(exist_ok=True)
        path.rename(data / f"d{(n + 1) % 3}/r{n}")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_marked_status_always_equals_the_full_comparison(repo: Repo, settled: None,
                                                        ops: list[tuple[str, int]]) -> None:
    data = repo.root / "data"
    shutil.rmtree(data, ignore_errors=True)
    for i in range(4):
        write(data / f"d{i % 2}/f{i}", b"%d" % i)
    repo.add(["data"])
    for op, n in ops:
        if op == "add":
            repo.add(["data"])
        else:
            change(data, op, n)
        got = status(repo)
        assert got == full_status(repo)


@pytest.fixture
def tiny_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shards of a few entries, so a small tree has many and updates cross them."""
    from folio import manifest as mf

    monkeypatch.setattr(mf, "SHARD_THRESHOLD", 8)
    monkeypatch.setattr(mf, "SHARD_MASK", 3)
    monkeypatch.setattr(mf, "SHARD_MAX", 6)


def expected_entries(data: Path) -> dict[str, tuple[int, str, bool]]:
    import hashlib

    out = {}
    for path in data.rglob("*"):
        if path.is_file():
            st = path.stat()
            out[path.relative_to(data).as_posix()] = (
                st.st_size, hashlib.sha256(path.read_bytes()).hexdigest(),
                bool(st.st_mode & 0o100))
    return out


def recorded_entries(repo: Repo) -> dict[str, tuple[int, str, bool]]:
    from folio import manifest as mf

    manifest = repo.read_manifest("data")
    files = {p.relative_to(repo.manifests_dir).as_posix(): p.read_bytes()
             for p in repo.manifests_dir.rglob("*") if p.is_file()}
    assert files == mf.dump(manifest)  # the one canonical encoding, no stale shard left
    return {p: (e.size, e.sha256, e.executable) for p, e in manifest.entries.items()}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_add_by_directory_records_exactly_the_tree(repo: Repo, settled: None,
                                                   tiny_shards: None,
                                                   ops: list[tuple[str, int]]) -> None:
    """add under a mark rewrites only some shards; the manifest must still be the tree."""
    data = repo.root / "data"
    shutil.rmtree(data, ignore_errors=True)
    for i in range(40):
        write(data / f"d{i % 5}/f{i}", b"%d" % i)
    repo.add(["data"])
    for op, n in ops:
        change(data, op, n)
        seen = quick.look(repo, "data", repo.clean_marks().get("data"))
        assert seen is not None  # every step goes by directory, none in full
        [result] = repo.add(["data"])
        assert recorded_entries(repo) == expected_entries(data)
        assert result.files == len(expected_entries(data))
        assert proven_clean(repo, "data")


def test_snapshot_by_directory_reads_few_shards(repo: Repo, settled: None, tiny_shards: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = repo.root / "data"
    for i in range(300):
        write(data / f"d{i % 30:02d}/f{i:03d}", b"%d" % i)
    repo.add(["data"])
    write(data / "d07/f007", b"changed")
    read: list[str] = []
    original = Path.read_bytes

    def counting(self: Path) -> bytes:
        if self.name.endswith(".folio") and ".folio.d" in str(self):
            read.append(self.name)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    info = repo.snapshot("v1")
    assert [r.modified for r in info.captured] == [["d07/f007"]]
    shards = len(list((repo.manifests_dir / "data.folio.d").iterdir()))
    # the few shards that can hold d07/ (read to compare, then to rewrite), and realignment
    assert shards > 60 and len(read) <= 8
    assert info.files == 300
    monkeypatch.setattr(Path, "read_bytes", original)
    assert recorded_entries(repo) == expected_entries(data)


def test_a_change_spread_over_every_directory_reads_only_the_changed_files(
        repo: Repo, settled: None, walk_mode: str) -> None:
    """Every directory pending: the stat cache vouches for the unchanged files in them."""
    data = repo.root / "data"
    for i in range(100):
        write(data / f"d{i % 10}/f{i:02d}", b"%02d" % i)
    repo.add(["data"])
    for d in range(10):
        write(data / f"d{d}/f{d:02d}", b"new %d" % d)
    seen = quick.look(repo, "data", repo.clean_marks().get("data"))
    assert seen is not None and len(seen.pending) == 10
    [result] = repo.add(["data"])
    assert result.hashed == 10 and len(result.modified) == 10
    assert recorded_entries(repo) == expected_entries(data)
    assert proven_clean(repo, "data")  # the new mark covers the files the cache vouched for

    for d in range(10):  # again, with a file gone and one new: status sees the same
        write(data / f"d{d}/f{d + 10:02d}", b"again %d" % d)
    (data / "d3/f93").unlink()
    write(data / "d4/new", b"new")
    marked = status(repo)
    assert marked == [("data", ["d4/new"], sorted(f"d{d}/f{d + 10:02d}" for d in range(10)),
                       ["d3/f93"])]
    assert marked == full_status(repo)


def test_a_digest_depends_on_values_not_on_which_ints_are_one_object() -> None:
    """Scans share equal ints (a file's mtime and ctime, every file's mode) to save memory;
    the walk's fresh `lstat` does not. The digests must still agree."""
    big = 1_700_000_000_123_456_789
    shared = SimpleNamespace(st_size=5, st_mtime_ns=big, st_ctime_ns=big, st_ino=7,
                             st_mode=0o100644)
    apart = SimpleNamespace(st_size=5, st_mtime_ns=big, st_ctime_ns=int(str(big)), st_ino=7,
                            st_mode=0o100644)
    assert shared.st_ctime_ns is shared.st_mtime_ns
    assert apart.st_ctime_ns is not apart.st_mtime_ns
    assert _walk.digest([("f", shared), ("g", shared)]) == \
        _walk.digest([("f", apart), ("g", apart)])
