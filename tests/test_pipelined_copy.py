"""The three-stage verified copy (read ahead, hash, write behind) that checkout and verify
use for big objects: byte-exact at every size around its buffer edges, a short or failing
read or a failing write surfaces instead of hanging, and a flipped byte in a big loose or
chunked object stops a checkout with a one-line error and leaves the work tree alone."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from tests.conftest import age, run_folio, write
from tests.test_chunk_remote import make_store, noise, put
from tests.test_chunk_segments import flip

from folio.errors import CorruptObjectError
from folio.hashing import PIPE_CHUNK, PIPE_MIN, hash_positional
from folio.objects.store import ObjectStore

MiB = 1 << 20


def reader_of(data: bytes):  # type: ignore[no-untyped-def]
    def read_at(view: memoryview, at: int) -> int:
        piece = data[at:at + len(view)]
        view[:len(piece)] = piece
        return len(piece)
    return read_at


@pytest.mark.parametrize("size", [0, 1, PIPE_MIN - 1, PIPE_MIN, PIPE_MIN + 1,
                                  PIPE_MIN + 3 * PIPE_CHUNK, PIPE_MIN + 5 * PIPE_CHUNK + 7])
def test_copy_gives_every_byte_and_the_sha256(tmp_path: Path, size: int) -> None:
    data = noise(size, size)
    out = tmp_path / "out"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        got, n = hash_positional(reader_of(data), size, fd)
    finally:
        os.close(fd)
    assert (got, n) == (hashlib.sha256(data).hexdigest(), size)
    assert out.read_bytes() == data


def test_hash_only_reads_everything_once(tmp_path: Path) -> None:
    data = noise(PIPE_MIN + 2 * PIPE_CHUNK + 5, 3)
    seen: list[int] = []
    inner = reader_of(data)

    def read_at(view: memoryview, at: int) -> int:
        seen.append(at)
        return inner(view, at)

    assert hash_positional(read_at, len(data)) == (hashlib.sha256(data).hexdigest(), len(data))
    assert seen == sorted(set(seen)) and len(seen) == -(-len(data) // PIPE_CHUNK)


def test_a_short_source_ends_the_copy_early(tmp_path: Path) -> None:
    data = noise(PIPE_MIN + PIPE_CHUNK, 4)
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    try:
        got, n = hash_positional(reader_of(data[:PIPE_MIN // 2]), len(data), fd)
    finally:
        os.close(fd)
    assert n == PIPE_MIN // 2 and got == hashlib.sha256(data[:n]).hexdigest()


def test_a_failing_read_or_write_raises(tmp_path: Path) -> None:
    data = noise(PIPE_MIN + 4 * PIPE_CHUNK, 5)
    inner = reader_of(data)

    def failing(view: memoryview, at: int) -> int:
        if at >= 2 * PIPE_CHUNK:
            raise CorruptObjectError("block 0123 is truncated")
        return inner(view, at)

    with pytest.raises(CorruptObjectError, match="truncated"):
        hash_positional(failing, len(data))
    (tmp_path / "ro").write_bytes(b"")
    fd = os.open(tmp_path / "ro", os.O_RDONLY)
    try:
        with pytest.raises(OSError):
            hash_positional(inner, len(data), fd)  # writes to a read-only descriptor
    finally:
        os.close(fd)


@pytest.mark.parametrize("chunked", [False, True])
def test_copy_into_refuses_a_flipped_byte(tmp_path: Path, chunked: bool) -> None:
    store = make_store(tmp_path, threshold=(64 << 10) if chunked else 0)
    shared = noise(PIPE_MIN + 3 * MiB, 6)
    put(store, tmp_path, shared)
    # shares its start with the first: its list names a block that is not itself
    data = shared[:8 * MiB] + noise(PIPE_MIN, 8)
    oid = put(store, tmp_path, data)
    assert store.is_chunked(oid) is chunked
    out = tmp_path / "good"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT)
    try:
        store.copy_into(oid, fd)
    finally:
        os.close(fd)
    assert out.read_bytes() == data and store.verify(oid)
    damaged = _first_block(store, oid) if chunked else store.path(oid)
    flip(damaged, PIPE_CHUNK + 11)
    fd = os.open(tmp_path / "bad", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(CorruptObjectError, match=f"object {oid[:12]} is corrupt"):
            store.copy_into(oid, fd, "data/big.bin")
    finally:
        os.close(fd)
    assert not store.verify(oid)


def _first_block(store: ObjectStore, oid: str) -> Path:
    return store.path(store.chunks.load(oid).blocks[0])


@pytest.mark.parametrize("threshold", ["0", "64KiB"])
def test_checkout_of_a_corrupt_big_object_leaves_the_work_tree_alone(
        git_repo: Path, threshold: str) -> None:
    from folio.repo import Repo

    repo = Repo.init(git_repo)
    repo.config.update(["core"], {"chunk_threshold": threshold}, local=True)
    shared = noise(PIPE_MIN + 2 * MiB, 7)
    age(write(git_repo / "data" / "first.bin", shared))
    assert run_folio(git_repo, "add", "data").returncode == 0
    (git_repo / "data" / "first.bin").unlink()
    data = shared[:8 * MiB] + noise(PIPE_MIN, 9)
    big = write(git_repo / "data" / "big.bin", data)
    age(big)
    assert run_folio(git_repo, "add", "data").returncode == 0
    store = repo.store
    assert store.is_chunked(hashlib.sha256(data).hexdigest()) is (threshold != "0")
    oid = hashlib.sha256(data).hexdigest()
    flip(_first_block(store, oid) if store.is_chunked(oid) else store.path(oid), 3 * MiB)
    big.unlink()
    proc = run_folio(git_repo, "checkout")
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and f"object {oid[:12]} is corrupt" in line, line
    assert "data/big.bin" in line
    assert not big.exists() and not list((git_repo / "data").iterdir())


def test_pread_into_fills_the_view_and_stops_at_the_end(tmp_path: Path) -> None:
    from folio._fs import pread_into

    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDONLY)
    try:
        buf = bytearray(16)
        assert pread_into(fd, memoryview(buf)[:4], 2) == 4 and bytes(buf[:4]) == b"2345"
        assert pread_into(fd, memoryview(buf), 4) == 6 and bytes(buf[:6]) == b"456789"
        assert pread_into(fd, memoryview(buf), 10) == 0
    finally:
        os.close(fd)
