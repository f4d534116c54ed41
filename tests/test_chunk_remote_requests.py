"""What a pull of chunked objects asks the remote: with every size known (the manifests give
them) each chunk list is read by its key and ``lists/`` is never listed, as the no-listing
pull promises (docs/remotes.md "Chunked objects"); only an unknown size lists it."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from tests.conftest import write

from folio.objects.store import ObjectStore
from folio.remote import open_backend, pull, push
from folio.remote.chunked import LISTS_DIR

pytest_plugins = ["s3server"]


def _store(root: Path) -> ObjectStore:
    store = ObjectStore(root / "objects", root / "tmp")
    store.chunk_threshold = 64 << 10
    return store


def _pushed(s3, tmp_path: Path) -> tuple[object, dict[str, int]]:  # type: ignore[no-untyped-def]
    store = _store(tmp_path / "a")
    sizes = {}
    for seed, size in ((1, 3 << 20), (2, 300)):  # one chunked file, one small one
        data = random.Random(seed).randbytes(size)
        oid, _ = store.put_file(write(tmp_path / f"f{seed}", data))
        assert oid == hashlib.sha256(data).hexdigest()
        sizes[oid] = size
    store.sync()
    backend = open_backend(s3.url(), s3.options)
    push(store, backend, list(sizes), cache_dir=tmp_path / "ca")
    return backend, sizes


def _lists_listed(requests: list[tuple[str, str]]) -> bool:
    return any(method == "GET" and "list-type=2" in path and f"{LISTS_DIR}/" in path
               for method, path in requests)


def test_a_pull_with_known_sizes_reads_lists_by_key_and_never_lists_them(
        s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    backend, sizes = _pushed(s3, tmp_path)
    big = max(sizes, key=sizes.__getitem__)
    fresh = _store(tmp_path / "b")
    mark = s3.requests.mark()
    pull(fresh, backend, list(sizes), cache_dir=tmp_path / "cb", sizes=sizes)
    sent = s3.requests.since(mark)
    assert not _lists_listed(sent), sent
    assert any(method == "GET" and path.endswith(f"{LISTS_DIR}/{big[:2]}/{big[2:]}")
               for method, path in sent), sent
    assert fresh.chunks.has(big)  # its list came too: later versions share its chunks
    for oid in sizes:
        assert hashlib.sha256(fresh.read_bytes(oid)).hexdigest() == oid


def test_a_pull_without_sizes_lists_the_lists_once(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    backend, sizes = _pushed(s3, tmp_path)
    fresh = _store(tmp_path / "b")
    mark = s3.requests.mark()
    pull(fresh, backend, list(sizes), cache_dir=tmp_path / "cb")
    sent = s3.requests.since(mark)
    assert _lists_listed(sent), sent
    for oid in sizes:
        assert hashlib.sha256(fresh.read_bytes(oid)).hexdigest() == oid


def test_a_push_of_a_few_chunked_files_asks_for_their_lists_by_key(
        s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A push names each chunked file's list with a HEAD while they are fewer than a LIST
    page costs; the remote's ``lists/`` (every chunked file ever pushed) is not read."""
    backend, sizes = _pushed(s3, tmp_path)
    store = _store(tmp_path / "a")
    data = random.Random(3).randbytes(3 << 20)
    new = store.put_file(write(tmp_path / "f3", data))[0]
    store.sync()
    mark = s3.requests.mark()
    push(store, backend, [*sizes, new], cache_dir=tmp_path / "ca")
    sent = s3.requests.since(mark)
    assert not _lists_listed(sent), sent
    heads = [path for method, path in sent if method == "HEAD" and f"/{LISTS_DIR}/" in path]
    assert len(heads) == 2, sent  # the old big file's list (there) and the new one's (absent)
    fresh = _store(tmp_path / "b")
    pull(fresh, backend, [new], cache_dir=tmp_path / "cb", sizes={new: len(data)})
    assert fresh.read_bytes(new) == data and fresh.chunks.has(new)


def test_a_push_of_many_chunked_files_lists_the_lists_once(
        s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from folio.remote.base import LIST_PAGE_COST

    backend, sizes = _pushed(s3, tmp_path)
    store = _store(tmp_path / "a")
    many = []
    for seed in range(10, 11 + LIST_PAGE_COST):
        many.append(store.put_file(write(tmp_path / f"g{seed}", random.Random(seed).randbytes(
            200 << 10)))[0])
    store.sync()
    assert all(store.chunks.has(o) for o in many)
    mark = s3.requests.mark()
    push(store, backend, [*sizes, *many], cache_dir=tmp_path / "ca")
    sent = s3.requests.since(mark)
    assert sum(_lists_listed([r]) for r in sent) == 1, sent
    assert not [path for method, path in sent if method == "HEAD" and f"/{LISTS_DIR}/" in path]
