"""Chunk list format 2, white-box: the top list names segments (store objects), two versions
share every segment away from the edit, verify names a damaged segment, gc keeps the
segments of kept lists, a push of an edit sends only new blocks, new segments and the top
list, and a format 1 list is still read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import run_folio, write
from tests.test_chunk_remote import chunking_repo, make_store, noise, push_two_versions, put, sha

from folio.objects.chunklist import ChunkList, TopList, parse
from folio.objects.store import ObjectStore
from folio.remote import open_backend, pull, push, remote_has
from folio.remote.base import Backend
from folio.remote.chunked import list_key
from folio.repo import Repo

pytest_plugins = ["s3server"]

MiB = 1 << 20


def versions(size: int = 96 * MiB) -> tuple[bytes, bytes]:
    """A file of about 1,200 chunks (several segments) and the same with 1 MiB overwritten
    in the middle."""
    v1 = noise(size, 1)
    v2 = bytearray(v1)
    v2[size // 2:size // 2 + MiB] = noise(MiB, 2)
    return v1, bytes(v2)


def top(store: ObjectStore, oid: str) -> TopList:
    path = store.chunks.list_path(oid)
    found = parse(path.read_bytes(), oid, str(path))
    assert isinstance(found, TopList)
    return found


def flip(path: Path, at: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 1
    os.chmod(path, 0o644)
    path.write_bytes(bytes(raw))
    os.chmod(path, 0o444)


def test_two_versions_share_every_segment_but_those_around_the_edit(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    v1, v2 = versions()
    o1, o2 = put(store, tmp_path, v1), put(store, tmp_path, v2)
    s1, s2 = top(store, o1).segments, top(store, o2).segments
    assert len(s2) >= 3, s2  # the test means something only with several segments
    new = [s for s in s2 if s not in set(s1)]
    assert 1 <= len(new) <= 2, (s1, s2)
    for sid in s2:  # ordinary objects, id = sha256 of their bytes
        assert sha(store.path(sid).read_bytes()) == sid
    assert store.read_bytes(o2) == v2 and store.verify(o1) and store.verify(o2)
    # the top list is a few bytes a segment, not 44 bytes a chunk
    assert store.chunks.list_path(o2).stat().st_size == 54 + 32 * len(s2) + 32


def test_a_format_1_list_is_still_read(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    v1, _ = versions(8 * MiB)
    oid = put(store, tmp_path, v1)
    whole = store.chunks.load(oid)
    path = store.chunks.list_path(oid)
    os.chmod(path, 0o644)
    path.write_bytes(whole.encode())  # as a folio of format 1 wrote it
    assert store.chunks.load(oid).chunks == whole.chunks
    assert ChunkList.decode(path.read_bytes(), oid, str(path)).segments == ()
    assert store.read_bytes(oid) == v1 and store.verify(oid)
    assert store.size(oid) == len(v1)


def test_a_damaged_segment_is_reported_by_verify_in_one_line(repo: Repo) -> None:
    data = noise(3 * MiB, 5) * 3  # repeats: blocks apart from the file's own id
    write(repo.root / "big.bin", data)
    repo.add(["big.bin"])
    segment = top(repo.store, sha(data)).segments[0]
    flip(repo.store.path(segment), 20)
    proc = run_folio(repo.root, "verify")
    assert proc.returncode == 1
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("corrupt:")]
    assert any(segment[:12] in ln for ln in lines), proc.stdout
    assert any(sha(data)[:12] in ln for ln in lines), proc.stdout
    assert not [ln for ln in proc.stdout.splitlines() if ln.startswith("missing:")]
    assert sha(data) in repo.verify().corrupt
    # writing the list again (a re-add, a pull) replaces the damaged segment
    _, _, again = repo.store.chunks.put(os.open(repo.root / "big.bin", os.O_RDONLY),
                                        close=True)
    repo.store.chunks.write_list(again)
    assert repo.verify().ok and repo.store.read_bytes(sha(data)) == data


def test_gc_keeps_the_segments_of_kept_lists(repo: Repo) -> None:
    v1 = noise(3 * MiB, 6) * 4
    v2 = bytearray(v1)
    v2[5 * MiB:6 * MiB] = noise(MiB, 7)
    path = write(repo.root / "big.bin", v1)
    repo.add(["big.bin"])
    repo.snapshot("v1")
    write(path, bytes(v2))
    repo.add(["big.bin"])
    store = repo.store
    s1, s2 = set(top(store, sha(v1)).segments), set(top(store, sha(bytes(v2))).segments)
    repo.delete_tag("v1")
    removed = {oid for oid, _ in repo.gc(grace=0).removed}
    assert sha(v1) in removed
    assert not (s2 & removed) and all(store.has_loose(s) for s in s2)
    assert (s1 - s2) <= removed
    assert store.read_bytes(sha(bytes(v2))) == bytes(v2)
    assert repo.verify().ok


def keys(backend: Backend) -> dict[str, int]:
    return dict(backend.list())


def test_push_of_an_edit_sends_only_new_blocks_new_segments_and_the_top_list(
        s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path / "a")
    v1, v2 = versions()
    o1 = put(store, tmp_path, v1)
    backend = open_backend(s3.url(), s3.options)
    push(store, backend, [o1], cache_dir=tmp_path / "c")
    before = keys(backend)
    o2 = put(store, tmp_path, v2)
    l1, l2 = store.chunks.load(o1), store.chunks.load(o2)
    new_blocks = [b for b in l2.blocks if b not in set(l1.blocks)]
    new_segments = [s for s in l2.segments if s not in set(l1.segments)]
    assert new_blocks and new_segments
    push(store, backend, [o1, o2], cache_dir=tmp_path / "c")
    new = {k: s for k, s in keys(backend).items() if k not in before}  # sizes at the server
    top_size = store.chunks.list_path(o2).stat().st_size
    payload = (sum(store.path(o).stat().st_size for o in new_blocks + new_segments)
               + top_size)
    assert new[list_key(o2)] == top_size < 4096
    # what else is new: those objects (loose or in a pack) and small bookkeeping only
    assert payload <= sum(new.values()) <= payload + 16 * 1024, (new, payload)
    assert payload < 1.5 * MiB


def test_remote_gc_keeps_the_segments_of_kept_lists(git_repo: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    repo, remote_dir = chunking_repo(git_repo, tmp_path, monkeypatch)
    v1, v2 = noise(3 * MiB, 8) * 3, noise(3 * MiB, 9) * 3
    push_two_versions(repo, v1, v2)
    s1, s2 = set(top(repo.store, sha(v1)).segments), set(top(repo.store, sha(v2)).segments)
    repo.delete_tag("v1")
    # lists and segments read from the remote: as from a checkout that holds none of them
    for oid in (sha(v1), sha(v2)):
        repo.store.chunks.delete(oid)
    for sid in s1 | s2:
        os.unlink(repo.store.path(sid))
    result = repo.gc_remote("origin", grace=0)
    assert [k for k, _ in result.lists] == [list_key(sha(v1))]
    backend = open_backend(f"file://{remote_dir}")
    assert remote_has(backend, sorted(s2)) == s2
    fresh = make_store(tmp_path / "fresh")
    pull(fresh, backend, [sha(v2)], cache_dir=tmp_path / "c3")
    assert fresh.read_bytes(sha(v2)) == v2


def test_verify_repair_fetches_a_damaged_or_lost_segment(repo: Repo, tmp_path: Path) -> None:
    data = noise(3 * MiB, 10) * 3
    write(repo.root / "big.bin", data)
    repo.add(["big.bin"])
    repo.add_remote("origin", f"file://{tmp_path / 'remote'}")
    repo.push()
    segment = repo.store.path(top(repo.store, sha(data)).segments[0])
    flip(segment, 30)
    assert run_folio(repo.root, "verify", "--repair").returncode == 0
    assert repo.verify().ok
    os.unlink(segment)
    assert run_folio(repo.root, "verify").returncode == 1
    assert run_folio(repo.root, "verify", "--repair").returncode == 0
    assert repo.verify().ok and repo.store.read_bytes(sha(data)) == data
