from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from folio.errors import CorruptObjectError, FolioError, MissingObjectError
from folio.hashing import parallel_map
from folio.objects import ObjectStore, is_oid
from folio.objects.store import SMALL_FILE


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "objects", tmp_path / "tmp")


def test_put_names_object_by_sha256_and_makes_it_read_only(store: ObjectStore,
                                                            tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"hello world")
    oid, size = store.put_file(src)
    assert oid == hashlib.sha256(b"hello world").hexdigest() and size == 11
    path = store.path(oid)
    assert path == tmp_path / "objects" / oid[:2] / oid[2:]
    assert path.read_bytes() == b"hello world"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert not [p for p in (tmp_path / "tmp").rglob("*") if p.is_file()]  # staging left clean


def test_large_file_streams_to_the_same_name(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(SMALL_FILE + 12345)
    src = tmp_path / "big"
    src.write_bytes(data)
    oid, size = store.put_file(src)
    assert oid == hashlib.sha256(data).hexdigest() and size == len(data)
    assert store.read_bytes(oid) == data


def test_existing_object_is_never_rewritten_but_its_mtime_is_refreshed(
        store: ObjectStore) -> None:
    oid = store.put_bytes(b"same")
    path = store.path(oid)
    os.utime(path, (1_000_000, 1_000_000))
    inode = path.stat().st_ino
    assert store.put_bytes(b"same") == oid
    assert path.stat().st_ino == inode
    assert path.stat().st_mtime > time.time() - 60


def test_no_copy_hashes_without_storing(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x" * (SMALL_FILE + 1))
    oid, _ = store.put_file(src, store_copy=False)
    assert oid == hashlib.sha256(src.read_bytes()).hexdigest()
    assert not store.has(oid)


def test_flipped_byte_is_an_error_naming_the_item(store: ObjectStore) -> None:
    oid = store.put_bytes(b"precious data")
    path = store.path(oid)
    os.chmod(path, 0o644)
    path.write_bytes(b"precious dat4")
    with pytest.raises(CorruptObjectError) as err:
        store.read_bytes(oid, label="data/x.csv")
    assert "data/x.csv" in str(err.value) and err.value.expected == oid
    assert not store.verify(oid)


def test_missing_object_says_to_pull(store: ObjectStore) -> None:
    with pytest.raises(MissingObjectError, match="folio pull"):
        store.read_bytes("0" * 64)


def test_put_stream_refuses_bytes_that_do_not_match(store: ObjectStore) -> None:
    import io

    with pytest.raises(CorruptObjectError):
        store.put_stream(io.BytesIO(b"evil"), hashlib.sha256(b"good").hexdigest())
    assert list(store.iter_oids()) == []


def test_file_changing_while_read_is_not_stored_under_a_wrong_hash(
        store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "busy"
    src.write_bytes(os.urandom(64 << 20))
    stop = threading.Event()

    def scribble() -> None:
        n = 0
        while not stop.is_set():
            with open(src, "r+b") as f:
                f.write(n.to_bytes(8, "little"))
            n += 1

    t = threading.Thread(target=scribble)
    t.start()
    try:
        try:
            oid, _ = store.put_file(src)
        except FolioError as exc:
            assert "keeps changing" in str(exc)
        else:
            assert store.verify(oid)
    finally:
        stop.set()
        t.join()
    for oid in store.iter_oids():
        assert store.verify(oid)


def test_is_oid() -> None:
    assert is_oid("a" * 64)
    assert not is_oid("A" * 64) and not is_oid("a" * 63) and not is_oid("../" + "a" * 61)


def test_parallel_map_keeps_order_and_only_a_few_batches_ahead() -> None:
    """Results wait in memory until taken: a million files must not all be done first."""
    calls = []
    items = list(range(10_000))
    results = parallel_map(lambda x: calls.append(x) or x * 2, items, jobs=2)
    first = next(results)
    time.sleep(0.2)  # give the pool every chance to run ahead
    ahead = len(calls)
    assert first == 0
    assert ahead <= 2 * 4 * 256 + 256  # jobs x 4 batches in flight, one being taken
    assert [first, *results] == [x * 2 for x in items]
    assert len(calls) == len(items)


def test_parallel_map_stops_early_without_running_the_rest() -> None:
    calls = []
    results = parallel_map(lambda x: calls.append(x) or x, list(range(10_000)), jobs=2)
    assert next(results) == 0
    results.close()  # the caller gave up (an error, say)
    assert len(calls) < 10_000
