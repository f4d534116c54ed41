"""materialize: every link mode, atomic replacement, corruption and symlink safety."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from folio.errors import CorruptObjectError, FolioError, MissingObjectError, PathError
from folio.objects.store import ObjectStore
from folio.worktree.materialize import (
    LinkMode,
    detect_reflink,
    materialize,
    materialize_symlink,
)

DATA = b"id,value\n1,0.5\n2,0.75\n" * 1000


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "objects", tmp_path / "staging")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def corrupt_object(store: ObjectStore, claimed: bytes, actual: bytes) -> str:
    """Write ``actual`` under the name of ``claimed``: what a flipped bit on disk looks like."""
    oid = hashlib.sha256(claimed).hexdigest()
    path = store.path(oid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(actual)
    path.chmod(0o444)
    return oid


WORKING_MODES = [LinkMode.AUTO, LinkMode.COPY, LinkMode.HARDLINK, LinkMode.SYMLINK,
                 LinkMode.REFLINK]


@pytest.mark.parametrize("mode", WORKING_MODES)
def test_every_mode_gives_the_object_bytes(store: ObjectStore, work: Path, mode: LinkMode) -> None:
    if mode is LinkMode.REFLINK and not detect_reflink(work):
        pytest.skip("this filesystem cannot reflink")
    oid = store.put_bytes(DATA)
    dest = work / "deep" / "er" / "table.csv"
    materialize(store, oid, dest, mode)
    assert dest.read_bytes() == DATA
    assert os.listdir(dest.parent) == ["table.csv"]


def test_mode_accepts_its_string_value(store: ObjectStore, work: Path) -> None:
    oid = store.put_bytes(DATA)
    materialize(store, oid, work / "a.csv", "copy")  # type: ignore[arg-type]
    assert (work / "a.csv").read_bytes() == DATA


@pytest.mark.parametrize("mode", [LinkMode.COPY, LinkMode.AUTO])
def test_copies_are_writable_and_carry_the_execute_bit(
        store: ObjectStore, work: Path, mode: LinkMode) -> None:
    oid = store.put_bytes(DATA)
    materialize(store, oid, work / "plain", mode)
    materialize(store, oid, work / "script", mode, executable=True)
    assert stat.S_IMODE(os.stat(work / "plain").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(work / "script").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(store.path(oid)).st_mode) == 0o444  # the object is untouched
    with open(work / "plain", "ab") as f:  # editable in place without touching the store
        f.write(b"more")
    assert store.verify(oid)


def test_copy_is_a_new_inode(store: ObjectStore, work: Path) -> None:
    oid = store.put_bytes(DATA)
    materialize(store, oid, work / "a", LinkMode.COPY)
    assert os.stat(work / "a").st_ino != os.stat(store.path(oid)).st_ino


def test_hardlink_shares_the_object_inode_and_stays_read_only(
        store: ObjectStore, work: Path) -> None:
    oid = store.put_bytes(DATA)
    dest = work / "a.csv"
    materialize(store, oid, dest, LinkMode.HARDLINK)
    assert os.stat(dest).st_ino == os.stat(store.path(oid)).st_ino
    assert os.stat(store.path(oid)).st_nlink == 2
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o444


@pytest.mark.parametrize("mode", [LinkMode.HARDLINK, LinkMode.SYMLINK])
def test_executable_entries_are_copied_in_link_modes(
        store: ObjectStore, work: Path, mode: LinkMode) -> None:
    oid = store.put_bytes(DATA)
    dest = work / "run.sh"
    materialize(store, oid, dest, mode, executable=True)
    assert not dest.is_symlink()
    assert os.stat(dest).st_ino != os.stat(store.path(oid)).st_ino
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(store.path(oid)).st_mode) == 0o444


def test_symlink_points_at_the_absolute_object_path(tmp_path: Path, work: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative_store = ObjectStore(Path("objects"), Path("staging"))
    oid = relative_store.put_bytes(DATA)
    dest = work / "a.csv"
    materialize(relative_store, oid, dest, LinkMode.SYMLINK)
    target = os.readlink(dest)
    assert os.path.isabs(target)
    assert Path(target) == (tmp_path / relative_store.path(oid)).resolve()
    assert dest.read_bytes() == DATA


@pytest.mark.parametrize("mode", [LinkMode.COPY, LinkMode.AUTO, LinkMode.HARDLINK,
                                  LinkMode.SYMLINK])
def test_replacement_is_a_rename(store: ObjectStore, work: Path, mode: LinkMode) -> None:
    dest = work / "a.csv"
    dest.write_bytes(b"old content")
    old_inode = os.stat(dest).st_ino
    oid = store.put_bytes(DATA)
    with open(dest, "rb") as reader:
        materialize(store, oid, dest, mode)
        # A reader that opened the old file still sees all of it: the inode was not rewritten.
        assert reader.read() == b"old content"
    assert os.lstat(dest).st_ino != old_inode
    assert dest.read_bytes() == DATA
    assert os.listdir(work) == ["a.csv"]


@pytest.mark.parametrize("mode", [LinkMode.COPY, LinkMode.AUTO, LinkMode.HARDLINK,
                                  LinkMode.SYMLINK])
def test_corrupt_object_never_reaches_the_work_tree(
        store: ObjectStore, work: Path, mode: LinkMode) -> None:
    oid = corrupt_object(store, b"the real bytes\n" * 100, b"the rotten bytes\n" * 100)
    dest = work / "a.csv"
    dest.write_bytes(b"old content")
    with pytest.raises(CorruptObjectError) as info:
        materialize(store, oid, dest, mode)
    assert str(dest) in str(info.value)
    assert info.value.expected == oid
    assert dest.read_bytes() == b"old content"
    assert not dest.is_symlink()
    assert os.listdir(work) == ["a.csv"]


def test_corrupt_object_with_no_previous_file_leaves_nothing(
        store: ObjectStore, work: Path) -> None:
    oid = corrupt_object(store, b"real", b"rotten")
    with pytest.raises(CorruptObjectError):
        materialize(store, oid, work / "new.csv", LinkMode.COPY)
    assert os.listdir(work) == []


def test_link_modes_can_skip_verification(store: ObjectStore, work: Path) -> None:
    oid = corrupt_object(store, b"real", b"rotten")
    materialize(store, oid, work / "a", LinkMode.HARDLINK, verify=False)
    assert os.stat(work / "a").st_ino == os.stat(store.path(oid)).st_ino
    with pytest.raises(CorruptObjectError):  # copying reads the bytes, so it always checks
        materialize(store, oid, work / "b", LinkMode.COPY, verify=False)


def test_missing_object_is_a_clear_error(store: ObjectStore, work: Path) -> None:
    dest = work / "a.csv"
    dest.write_bytes(b"old")
    oid = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(MissingObjectError) as info:
        materialize(store, oid, dest, LinkMode.COPY)
    assert info.value.oids == [oid]
    assert "folio pull" in str(info.value)
    assert dest.read_bytes() == b"old"


@pytest.mark.parametrize("mode", [LinkMode.COPY, LinkMode.HARDLINK, LinkMode.SYMLINK])
def test_symlink_at_dest_is_replaced_not_followed(
        store: ObjectStore, tmp_path: Path, work: Path, mode: LinkMode) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    dest = work / "a.csv"
    dest.symlink_to(outside)
    oid = store.put_bytes(DATA)
    materialize(store, oid, dest, mode)
    assert outside.read_bytes() == b"precious"
    assert dest.read_bytes() == DATA
    if mode is LinkMode.SYMLINK:
        assert os.readlink(dest) == os.path.abspath(store.path(oid))
    else:
        assert not dest.is_symlink()


def test_symlink_to_a_directory_at_dest_is_replaced(
        store: ObjectStore, tmp_path: Path, work: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"keep")
    dest = work / "a.csv"
    dest.symlink_to(outside, target_is_directory=True)
    materialize(store, store.put_bytes(DATA), dest, LinkMode.COPY)
    assert not dest.is_symlink()
    assert dest.read_bytes() == DATA
    assert os.listdir(outside) == ["keep"]


def test_empty_directory_tree_at_dest_is_replaced(store: ObjectStore, work: Path) -> None:
    dest = work / "a.csv"
    (dest / "x" / "y").mkdir(parents=True)
    materialize(store, store.put_bytes(DATA), dest, LinkMode.COPY)
    assert dest.read_bytes() == DATA


def test_non_empty_directory_at_dest_is_refused(store: ObjectStore, work: Path) -> None:
    dest = work / "a.csv"
    (dest / "sub").mkdir(parents=True)
    (dest / "sub" / "notes.txt").write_bytes(b"unsaved")
    with pytest.raises(PathError, match="non-empty directory"):
        materialize(store, store.put_bytes(DATA), dest, LinkMode.COPY)
    assert (dest / "sub" / "notes.txt").read_bytes() == b"unsaved"
    assert os.listdir(work) == ["a.csv"]


def test_directory_holding_a_symlink_is_refused(
        store: ObjectStore, tmp_path: Path, work: Path) -> None:
    dest = work / "a.csv"
    dest.mkdir()
    (dest / "link").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(PathError):
        materialize(store, store.put_bytes(DATA), dest, LinkMode.COPY)
    assert (dest / "link").is_symlink()


def test_file_in_the_way_of_a_parent_is_a_path_error(store: ObjectStore, work: Path) -> None:
    (work / "data").write_bytes(b"a file, not a directory")
    with pytest.raises(PathError, match="in the way"):
        materialize(store, store.put_bytes(DATA), work / "data" / "a.csv", LinkMode.COPY)
    assert (work / "data").read_bytes() == b"a file, not a directory"


def test_reflink_where_unsupported_fails_clearly_and_auto_copies(
        store: ObjectStore, work: Path) -> None:
    if detect_reflink(work):
        pytest.skip("this filesystem can reflink")
    oid = store.put_bytes(DATA)
    dest = work / "a.csv"
    dest.write_bytes(b"old")
    with pytest.raises(FolioError,
                       match=r"reflink is not supported on this filesystem \(\w+\); "
                             r"use --link copy") as info:
        materialize(store, oid, dest, LinkMode.REFLINK)
    assert info.value.path == str(dest)
    assert dest.read_bytes() == b"old"
    assert os.listdir(work) == ["a.csv"]
    materialize(store, oid, dest, LinkMode.AUTO)
    assert dest.read_bytes() == DATA
    assert os.stat(dest).st_ino != os.stat(store.path(oid)).st_ino


def test_detect_reflink_leaves_no_probe_files(work: Path) -> None:
    result = detect_reflink(work)
    assert isinstance(result, bool)
    assert detect_reflink(work / "some-file-in-it") is result
    assert os.listdir(work) == []


def _other_filesystem() -> Path | None:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return None


def test_hardlink_across_filesystems_fails_clearly(tmp_path: Path, work: Path) -> None:
    other = _other_filesystem()
    if other is None or os.stat(other).st_dev == os.stat(work).st_dev:
        pytest.skip("needs a second filesystem")
    root = other / f"folio-test-{os.getpid()}-{tmp_path.name}"
    try:
        store = ObjectStore(root / "objects", root / "staging")
        oid = store.put_bytes(DATA)
        with pytest.raises(FolioError, match="one filesystem; use --link copy"):
            materialize(store, oid, work / "a.csv", LinkMode.HARDLINK)
        assert os.listdir(work) == []
        materialize(store, oid, work / "a.csv", LinkMode.AUTO)  # cross-device: AUTO copies
        assert (work / "a.csv").read_bytes() == DATA
    finally:
        for fan in (root / "objects").glob("*/*"):
            fan.unlink()
        for directory in sorted(root.rglob("*"), reverse=True):
            directory.rmdir()
        root.rmdir()


def test_materialize_symlink_records_the_target(work: Path) -> None:
    dest = work / "links" / "latest"
    materialize_symlink(dest, "../data/v2.csv")
    assert os.readlink(dest) == "../data/v2.csv"
    materialize_symlink(dest, "../data/v3.csv")
    assert os.readlink(dest) == "../data/v3.csv"
    assert os.listdir(dest.parent) == ["latest"]


def test_materialize_symlink_replaces_a_file_atomically(work: Path) -> None:
    dest = work / "latest"
    dest.write_bytes(b"old")
    with open(dest, "rb") as reader:
        materialize_symlink(dest, "target")
        assert reader.read() == b"old"
    assert dest.is_symlink()
    assert os.listdir(work) == ["latest"]


def test_materialize_symlink_does_not_follow_an_existing_link(
        tmp_path: Path, work: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    dest = work / "latest"
    dest.symlink_to(outside)
    materialize_symlink(dest, "elsewhere")
    assert os.readlink(dest) == "elsewhere"
    assert outside.read_bytes() == b"precious"


@pytest.mark.parametrize("target", ["", "a\0b"])
def test_materialize_symlink_rejects_bad_targets(work: Path, target: str) -> None:
    with pytest.raises(PathError):
        materialize_symlink(work / "x", target)
    assert os.listdir(work) == []
