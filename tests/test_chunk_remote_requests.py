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
