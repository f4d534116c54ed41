"""Chunked objects on remotes (layout 2), white-box: push sends only new blocks and the list
after them; pull reuses local chunks and reads only the rest by ranges, verified; old
remotes still work; remote gc keeps what kept objects' lists name."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from tests.conftest import git, write

from folio.errors import CorruptObjectError
from folio.objects.chunks import MAX_CHUNK
from folio.objects.store import ObjectStore
from folio.remote import open_backend, pull, push, remote_has
from folio.remote.base import Backend, loose_key
from folio.remote.chunked import LISTS_DIR, list_key
from folio.repo import Repo

pytest_plugins = ["s3server"]

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def noise(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def make_store(root: Path, threshold: int = 64 << 10) -> ObjectStore:
    store = ObjectStore(root / "objects", root / "tmp")
    store.chunk_threshold = threshold
    return store


def put(store: ObjectStore, tmp: Path, data: bytes) -> str:
    path = write(tmp / f"f-{sha(data)[:8]}", data)
    oid, _ = store.put_file(path)
    store.sync()
    return oid


def versions() -> tuple[bytes, bytes]:
    """A 40 MiB file (two blocks) and the same with 1 MiB overwritten in the middle."""
    v1 = noise(40 * MiB, 1)
    v2 = bytearray(v1)
    v2[20 * MiB:21 * MiB] = noise(MiB, 2)
    return v1, bytes(v2)


class Counting:
    """A backend that counts the bytes it hands back (downloads) and takes (uploads)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.down = 0
        self.up = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def get_range(self, key: str, start: int, end: int) -> bytes | memoryview:
        data = self.inner.get_range(key, start, end)
        self.down += len(data)
        return data

    def open(self, key: str) -> object:
        reader = self.inner.open(key)
        outer = self

        class Reader:
            def readinto(self, buffer: bytearray | memoryview) -> int | None:
                n = reader.readinto(buffer)
                outer.down += n or 0
                return n

            def read(self, size: int = -1) -> bytes:
                data = reader.read(size)  # type: ignore[attr-defined]
                outer.down += len(data)
                return data  # type: ignore[no-any-return]

            def close(self) -> None:
                reader.close()

        return Reader()

    def put_bytes(self, key: str, data: bytes | memoryview) -> None:
        self.up += len(data)
        self.inner.put_bytes(key, data)

    def put_file(self, key: str, path: Path) -> None:
        self.up += path.stat().st_size
        self.inner.put_file(key, path)

    def put_stream(self, key: str, chunks: object) -> None:
        def counted():  # type: ignore[no-untyped-def]
            for c in chunks:  # type: ignore[attr-defined]
                self.up += len(c)
                yield c
        self.inner.put_stream(key, counted())


def remote_keys(backend: Backend) -> dict[str, int]:
    return dict(backend.list())


def test_push_sends_only_new_blocks_and_the_list_after_them(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path / "a")
    v1, v2 = versions()
    o1 = put(store, tmp_path, v1)
    assert store.is_chunked(o1) or store.has_loose(o1)
    backend = open_backend(s3.url(), s3.options)
    push(store, backend, [o1], cache_dir=tmp_path / "c")
    before = remote_keys(backend)
    o2 = put(store, tmp_path, v2)
    assert store.is_chunked(o2)
    mark = s3.requests.mark()
    stats = push(store, backend, [o1, o2], cache_dir=tmp_path / "c")
    sent = [path for method, path in s3.requests.since(mark) if method in ("PUT", "POST")]
    after = remote_keys(backend)
    new = {k: s for k, s in after.items() if k not in before}
    list_size = store.chunks.list_path(o2).stat().st_size
    assert list_key(o2) in new and new[list_key(o2)] == list_size
    # server side: the new bytes are the overwritten MiB, the chunks it cut, and the list
    assert sum(new.values()) <= MiB + 4 * MAX_CHUNK + list_size, new
    assert sent[-1].split("?")[0].endswith(list_key(o2).split("/", 1)[1])  # the list last
    assert stats.skipped == 1  # v1 was there already
    assert remote_has(backend, [o1, o2]) == {o1, o2}


def test_pull_reuses_local_chunks_and_ranges_the_rest(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = make_store(tmp_path / "a")
    v1, v2 = versions()
    o1, o2 = put(src, tmp_path, v1), put(src, tmp_path, v2)
    inner = open_backend(s3.url(), s3.options)
    push(src, inner, [o1, o2], cache_dir=tmp_path / "c")
    clone = make_store(tmp_path / "b")
    pull(clone, inner, [o1], cache_dir=tmp_path / "c2")
    assert clone.read_bytes(o1) == v1
    counting = Counting(inner)
    mark = s3.requests.mark()
    stats = pull(clone, counting, [o2], cache_dir=tmp_path / "c2")  # type: ignore[arg-type]
    gets = [p for m, p in s3.requests.since(mark) if m == "GET"]
    list_size = src.chunks.list_path(o2).stat().st_size
    assert counting.down <= MiB + 4 * MAX_CHUNK + list_size, counting.down
    assert stats.moved == 1 and len(gets) <= 8, gets  # listings, the list, a few ranges
    assert clone.is_chunked(o2) and clone.read_bytes(o2) == v2
    assert clone.verify(o2)


def test_pull_into_an_empty_store_and_through_a_directory(tmp_path: Path) -> None:
    src = make_store(tmp_path / "a")
    data = noise(3 * MiB, 3) * 3  # repeats: one block smaller than the file
    oid = put(src, tmp_path, data)
    assert src.is_chunked(oid)
    backend = open_backend(f"file://{tmp_path}/remote")
    push(src, backend, [oid], cache_dir=tmp_path / "c")
    assert (tmp_path / "remote" / LISTS_DIR).is_dir()
    fresh = make_store(tmp_path / "b", threshold=0)  # chunking off here: still pulls chunked
    assert pull(fresh, backend, [oid], cache_dir=tmp_path / "c2").moved == 1
    assert fresh.read_bytes(oid) == data
    assert pull(fresh, backend, [oid], cache_dir=tmp_path / "c2").skipped == 1


def test_a_corrupt_remote_block_is_caught_and_nothing_is_stored(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = make_store(tmp_path / "a")
    data = noise(3 * MiB, 4) * 3
    oid = put(src, tmp_path, data)
    backend = open_backend(s3.url(), s3.options)
    push(src, backend, [oid], cache_dir=tmp_path / "c")
    block = src.chunks.load(oid).blocks[0]
    client = s3.client()
    full = f"{backend.describe().split('/', 3)[3]}/{loose_key(block)}"
    raw = bytearray(client.get_object(Bucket=s3.bucket, Key=full)["Body"].read())
    raw[5000] ^= 1
    client.put_object(Bucket=s3.bucket, Key=full, Body=bytes(raw))
    fresh = make_store(tmp_path / "b")
    with pytest.raises(CorruptObjectError, match="corrupt"):
        pull(fresh, backend, [oid], cache_dir=tmp_path / "c2")
    assert not fresh.has(oid)


def test_old_layout_remote_objects_still_pull(tmp_path: Path) -> None:
    old = make_store(tmp_path / "a", threshold=0)  # an older folio: whole objects only
    data = noise(6 * MiB, 5)
    oid = put(old, tmp_path, data)
    backend = open_backend(f"file://{tmp_path}/remote")
    push(old, backend, [oid], cache_dir=tmp_path / "c")
    assert not (tmp_path / "remote" / LISTS_DIR).exists()
    fresh = make_store(tmp_path / "b")
    assert pull(fresh, backend, [oid], cache_dir=tmp_path / "c2").moved == 1
    assert fresh.has_loose(oid) and fresh.read_bytes(oid) == data


def chunking_repo(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> tuple[Repo, Path]:
    """A repository that chunks files from 64 KiB, with a directory remote "origin"."""
    monkeypatch.chdir(git_repo)
    repo = Repo.init(git_repo)
    repo.config.update(["core"], {"chunk_threshold": "64KiB"})
    repo.reload_config()
    remote_dir = tmp_path / "remote"
    repo.add_remote("origin", f"file://{remote_dir}")
    return repo, remote_dir


def push_two_versions(repo: Repo, v1: bytes, v2: bytes) -> None:
    """v1 kept by snapshot "v1" only, v2 by a git commit; both pushed to origin."""
    path = write(repo.root / "big.bin", v1)
    repo.add(["big.bin"])
    repo.snapshot("v1")
    write(path, v2)
    repo.add(["big.bin"])
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "v2")
    repo.push()


def test_remote_gc_keeps_kept_lists_and_drops_dead_ones(git_repo: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    repo, remote_dir = chunking_repo(git_repo, tmp_path, monkeypatch)
    v1 = noise(3 * MiB, 6) * 3
    v2 = noise(3 * MiB, 7) * 3
    push_two_versions(repo, v1, v2)
    l1, l2 = repo.store.chunks.load(sha(v1)), repo.store.chunks.load(sha(v2))
    assert (remote_dir / list_key(sha(v1))).exists() and (remote_dir / list_key(sha(v2))).exists()
    result = repo.gc_remote("origin", grace=0)
    assert result.lists == [] and (remote_dir / list_key(sha(v1))).exists()
    assert result.false_records == []  # the push record names chunked files: not false
    for block in (*l1.blocks, *l2.blocks):
        assert (remote_dir / loose_key(block)).exists() or remote_has(
            open_backend(f"file://{remote_dir}"), [block])
    repo.delete_tag("v1")
    result = repo.gc_remote("origin", grace=0)
    assert [k for k, _ in result.lists] == [list_key(sha(v1))]
    assert not (remote_dir / list_key(sha(v1))).exists()
    assert (remote_dir / list_key(sha(v2))).exists()
    fresh = make_store(tmp_path / "fresh")
    pull(fresh, open_backend(f"file://{remote_dir}"), [sha(v2)], cache_dir=tmp_path / "c3")
    assert fresh.read_bytes(sha(v2)) == v2


def test_pull_fetches_chunks_whose_local_copy_is_damaged(tmp_path: Path) -> None:
    src = make_store(tmp_path / "a")
    v1, v2 = versions()
    o1, o2 = put(src, tmp_path, v1), put(src, tmp_path, v2)
    backend = open_backend(f"file://{tmp_path}/remote")
    push(src, backend, [o1, o2], cache_dir=tmp_path / "c")
    clone = make_store(tmp_path / "b")
    pull(clone, backend, [o1], cache_dir=tmp_path / "c2")
    for block in clone.chunks.load(o1).blocks:  # every local chunk of v1 goes bad
        target = clone.path(block)
        raw = bytearray(target.read_bytes())
        for at in range(0, len(raw), 50_000):
            raw[at] ^= 1
        target.chmod(0o644)
        target.write_bytes(bytes(raw))
    pull(clone, backend, [o2], cache_dir=tmp_path / "c2")
    assert clone.read_bytes(o2) == v2
