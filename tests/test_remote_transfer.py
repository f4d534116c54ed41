"""push / pull against a real S3 endpoint (moto server mode over HTTP) and a directory."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from folio.errors import CorruptObjectError, MissingObjectError, RemoteError
from folio.objects.store import ObjectStore
from folio.remote import fetch_object, open_backend, pull, push, remote_has
from folio.remote.base import Backend, idx_key, loose_key, pack_key
from folio.remote.catalog import Slot, load_catalog
from folio.remote.packfile import PackEntry, PackIndex, decode_index, encode_index
from folio.remote.plan import pack_groups, read_spans

pytest_plugins = ["s3server"]

MIB = 1 << 20
SRC = Path(__file__).resolve().parents[1] / "src"


def make_store(root: Path) -> ObjectStore:
    return ObjectStore(root / "objects", root / "tmp")


def fill(store: ObjectStore, count: int, seed: int, sizes: tuple[int, int] = (1000, 20_000),
         large: tuple[int, ...] = ()) -> list[str]:
    rng = random.Random(seed)
    blobs = [rng.randbytes(rng.randint(*sizes)) for _ in range(count)]
    blobs += [rng.randbytes(n) for n in large]
    return [store.put_bytes(b) for b in blobs]


def corrupt_local(store: ObjectStore, oid: str) -> None:
    path = store.path(oid)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))


def assert_same_objects(a: ObjectStore, b: ObjectStore, oids: list[str]) -> None:
    assert sorted(b.iter_oids()) == sorted(set(oids))
    for oid in oids:
        data = b.path(oid).read_bytes()
        assert data == a.path(oid).read_bytes()
        assert hashlib.sha256(data).hexdigest() == oid


def flip_remote_byte(s3, backend: Backend, key: str, offset: int) -> None:  # type: ignore[no-untyped-def]
    full_key = f"{backend.describe().split('/', 3)[3]}/{key}"
    client = s3.client()
    data = bytearray(client.get_object(Bucket=s3.bucket, Key=full_key)["Body"].read())
    data[offset] ^= 0x01
    client.put_object(Bucket=s3.bucket, Key=full_key, Body=bytes(data))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[ObjectStore, list[str]]:
    """2,000 objects of 1-20 KB plus three of 1.5, 3 and 9 MiB (the last goes multipart)."""
    store = make_store(tmp_path_factory.mktemp("corpus"))
    oids = fill(store, 2000, seed=1, large=(3 * MIB // 2, 3 * MIB, 9 * MIB))
    return store, oids


# -- round trips ----------------------------------------------------------------------------
def test_push_pull_round_trip_over_s3(s3, corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, oids = corpus
    backend = open_backend(s3.url(), s3.options)
    mark = s3.requests.mark()
    stats = push(store, backend, oids, cache_dir=tmp_path / "cache")
    sent = s3.requests.since(mark)
    assert (stats.moved, stats.skipped) == (len(oids), 0)
    assert stats.moved_bytes == sum(store.size(o) for o in oids)
    uploads = [r for r in sent if r[0] in ("PUT", "POST")]
    assert len(uploads) < 50  # 2,003 objects; one PUT each would be 2,003 requests
    assert stats.packs >= 8  # enough packs to keep 8 upload threads busy
    put_paths = [path for method, path in sent if method == "PUT"]
    for path in put_paths:
        if path.endswith(".idx"):  # each index is uploaded only after its pack data
            assert put_paths.index(path[:-4] + ".pack") < put_paths.index(path)
    assert sum(p.endswith(".idx") for p in put_paths) == stats.packs

    fresh = make_store(tmp_path / "clone")
    mark = s3.requests.mark()
    pulled = pull(fresh, backend, oids, cache_dir=tmp_path / "clone-cache")
    assert (pulled.moved, pulled.skipped) == (len(oids), 0)
    assert len(s3.requests.since(mark)) < 60
    assert_same_objects(store, fresh, oids)


def test_second_push_and_pull_move_nothing(s3, corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, oids = corpus
    backend = open_backend(s3.url(), s3.options)
    push(store, backend, oids, cache_dir=tmp_path / "cache")
    listing = dict(backend.list())

    mark = s3.requests.mark()
    again = push(store, backend, oids, cache_dir=tmp_path / "cache")
    requests = s3.requests.since(mark)
    assert (again.moved, again.skipped, again.requests) == (0, len(oids), 0)
    assert [m for m, _ in requests] == ["GET"] and "list-type=2" in requests[0][1]
    assert dict(backend.list()) == listing

    mark = s3.requests.mark()
    assert pull(store, backend, oids, cache_dir=tmp_path / "cache").skipped == len(oids)
    assert s3.requests.since(mark) == []  # everything local: not even a listing

    mark = s3.requests.mark()
    other_clone = push(store, backend, oids[:10], cache_dir=tmp_path / "empty-cache")
    assert other_clone.moved == 0
    assert not [m for m, _ in s3.requests.since(mark) if m in ("PUT", "POST")]


def test_round_trip_through_a_directory_remote(tmp_path: Path) -> None:
    store = make_store(tmp_path / "a")
    oids = fill(store, 300, seed=2, large=(2 * MIB, 0 + 9 * MIB))
    oids.append(store.put_bytes(b""))
    backend = open_backend(f"file://{tmp_path}/remote")
    assert push(store, backend, oids, cache_dir=tmp_path / "c").moved == len(oids)
    assert (tmp_path / "remote" / loose_key(oids[300])).stat().st_size == 2 * MIB
    assert push(store, backend, oids, cache_dir=tmp_path / "c").moved == 0
    fresh = make_store(tmp_path / "b")
    assert pull(fresh, backend, oids, cache_dir=tmp_path / "c2").moved == len(oids)
    assert_same_objects(store, fresh, oids)


# -- corruption and absence ----------------------------------------------------------------
def test_corrupt_pack_is_caught_and_nothing_wrong_is_stored(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path / "a")
    oids = fill(store, 200, seed=3)
    backend = open_backend(s3.url(), s3.options)
    push(store, backend, oids, cache_dir=tmp_path / "c", jobs=2)
    pack_id = next(k for k, _ in backend.list("packs") if k.endswith(".pack"))[6:-5]
    index = decode_index(bytes(backend.get_range(idx_key(pack_id), 0, 10**9)), pack_id, "t")
    victim = index.entries[len(index.entries) // 2]
    flip_remote_byte(s3, backend, pack_key(pack_id), victim.offset + victim.length // 2)

    fresh = make_store(tmp_path / "b")
    with pytest.raises(CorruptObjectError) as err:
        pull(fresh, backend, oids, cache_dir=tmp_path / "c2", jobs=2)
    assert victim.oid in str(err.value)
    assert backend.describe() in str(err.value)
    assert not fresh.has(victim.oid)
    assert all(fresh.verify(o) for o in fresh.iter_oids())


def test_corrupt_loose_object_is_caught(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path / "a")
    big, = fill(store, 0, seed=4, large=(3 * MIB,))
    backend = open_backend(s3.url(), s3.options)
    push(store, backend, [big], cache_dir=tmp_path / "c")
    flip_remote_byte(s3, backend, loose_key(big), 12345)
    fresh = make_store(tmp_path / "b")
    with pytest.raises(CorruptObjectError, match=big):
        pull(fresh, backend, [big], cache_dir=tmp_path / "c")
    assert list(fresh.iter_oids()) == []
    assert not [p for p in (tmp_path / "b" / "tmp").rglob("*") if p.is_file()]  # removed


def test_corrupt_index_is_reported_on_pull_and_healed_by_push(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path / "a")
    oids = fill(store, 20, seed=5)
    backend = open_backend(s3.url(), s3.options)
    push(store, backend, oids, cache_dir=tmp_path / "c", jobs=1)
    pack_id = next(k for k, _ in backend.list("packs") if k.endswith(".idx"))[6:-4]
    flip_remote_byte(s3, backend, idx_key(pack_id), 70)
    with pytest.raises(CorruptObjectError, match="pack index checksum"):
        pull(make_store(tmp_path / "b"), backend, oids, cache_dir=tmp_path / "fresh-cache")
    healed = push(store, backend, oids, cache_dir=tmp_path / "other-cache", jobs=1)
    assert healed.moved == len(oids)  # the objects are re-sent in a new, sound pack


def test_missing_objects_are_listed_after_fetching_the_rest(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path / "a")
    oids = fill(store, 30, seed=6)
    backend = open_backend(s3.url(), s3.options)
    push(store, backend, oids, cache_dir=tmp_path / "c")
    ghosts = [hashlib.sha256(f"ghost{i}".encode()).hexdigest() for i in range(5)]
    fresh = make_store(tmp_path / "b")
    with pytest.raises(MissingObjectError) as err:
        pull(fresh, backend, oids + ghosts, cache_dir=tmp_path / "c")
    assert err.value.oids == ghosts
    assert f"5 object(s) are not on the remote ({ghosts[0][:12]}" in str(err.value)
    assert "and 2 more" in str(err.value)
    assert sorted(fresh.iter_oids()) == sorted(oids)


def test_push_never_sends_a_corrupt_local_object(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path / "a")
    small = fill(store, 5, seed=7)
    big, = fill(store, 0, seed=8, large=(9 * MIB,))  # streamed multipart upload
    corrupt_local(store, small[2])
    corrupt_local(store, big)
    backend = open_backend(s3.url(), s3.options)
    with pytest.raises(CorruptObjectError, match=small[2][:12]):
        push(store, backend, small, cache_dir=tmp_path / "c")
    with pytest.raises(CorruptObjectError, match=big[:12]):
        push(store, backend, [big], cache_dir=tmp_path / "c")
    assert remote_has(backend, [*small, big]) == set()
    assert dict(backend.list()) == {}


def test_push_refuses_objects_missing_locally(tmp_path: Path) -> None:
    store = make_store(tmp_path / "a")
    ghost = hashlib.sha256(b"never stored").hexdigest()
    backend = open_backend(str(tmp_path / "remote"))
    with pytest.raises(MissingObjectError, match=ghost[:12]):
        push(store, backend, [ghost], cache_dir=tmp_path / "c")
    with pytest.raises(Exception, match="not object ids"):
        push(store, backend, ["../../etc/passwd"], cache_dir=tmp_path / "c")


def test_fetch_object_repairs_a_corrupt_local_copy(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path / "a")
    oids = fill(store, 10, seed=9, large=(2 * MIB,))
    backend = open_backend(s3.url(), s3.options)
    push(store, backend, oids, cache_dir=tmp_path / "c")
    for oid in (oids[3], oids[10]):  # one packed, one loose
        corrupt_local(store, oid)
        assert fetch_object(backend, oid, store, cache_dir=tmp_path / "c") is True
        assert store.verify(oid)
    assert fetch_object(backend, oids[3], store) is False
    with pytest.raises(MissingObjectError):
        fetch_object(backend, hashlib.sha256(b"nope").hexdigest(), store)


def test_pack_without_index_is_invisible(tmp_path: Path) -> None:
    store = make_store(tmp_path / "a")
    oids = fill(store, 3, seed=10)
    backend = open_backend(str(tmp_path / "remote"))
    blob = b"".join(store.read_bytes(o) for o in oids)
    backend.put_bytes(pack_key(hashlib.sha256(blob).hexdigest()), blob)  # data, no index yet
    assert remote_has(backend, oids) == set()
    assert push(store, backend, oids, cache_dir=tmp_path / "c").moved == 3
    assert remote_has(backend, oids) == set(oids)


def test_truncated_pack_is_treated_as_absent_and_resent(tmp_path: Path) -> None:
    store = make_store(tmp_path / "a")
    oids = fill(store, 4, seed=12)
    backend = open_backend(str(tmp_path / "remote"))
    push(store, backend, oids, cache_dir=tmp_path / "c")
    key = next(k for k, _ in backend.list("packs") if k.endswith(".pack"))
    backend.put_bytes(key, bytes(backend.get_range(key, 0, 100)))  # e.g. a botched copy
    assert remote_has(backend, oids, cache_dir=tmp_path / "c") == set()
    assert push(store, backend, oids, cache_dir=tmp_path / "c").moved == 4
    fresh = make_store(tmp_path / "b")
    pull(fresh, backend, oids, cache_dir=tmp_path / "c")
    assert_same_objects(store, fresh, oids)


# -- interruption ------------------------------------------------------------------------------
KILLED_PUSH = textwrap.dedent("""
    import sys
    from pathlib import Path
    from folio.objects.store import ObjectStore
    from folio.remote import open_backend, push

    class Tell:
        def start(self, label, total=None, unit="files"): pass
        def advance(self, n=1): print(n, flush=True)
        def finish(self): pass

    root, url, endpoint, cache = sys.argv[1:5]
    store = ObjectStore(Path(root) / "objects", Path(root) / "tmp")
    backend = open_backend(url, {"endpoint": endpoint, "allow_http": True})
    push(store, backend, sorted(store.iter_oids()), jobs=2, pack_max=32 * 1024,
         cache_dir=Path(cache), progress=Tell())
    print("finished", flush=True)
""")


def test_killed_push_resumes_and_pulls_identical_bytes(s3, corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, _ = corpus
    oids = sorted(store.iter_oids())
    # Progress is in bytes: the large objects go first (a multipart one is counted as it
    # streams), then packs, each counted once published; past this, >= 300 small are up.
    sizes = [store.size(o) for o in oids]
    enough = sum(s for s in sizes if s >= MIB) + 300 * max(s for s in sizes if s < MIB)
    url = s3.url()
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_PUSH, str(store.root.parent), url, s3.endpoint,
         str(tmp_path / "cache")], stdout=subprocess.PIPE, text=True, env=env)
    sent = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        assert line.strip() != "finished", "push ended before it could be killed"
        sent += int(line)
        if sent >= enough:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    backend = open_backend(url, s3.options)
    catalog = load_catalog(backend, None)
    survived = catalog.present(oids)
    assert 300 <= len(survived) < len(oids)  # visible: only whole packs, with their index
    listed = dict(backend.list())
    for pack_id in catalog.pack_sizes:
        assert listed[pack_key(pack_id)] == catalog.pack_sizes[pack_id]

    rerun = push(store, backend, oids, cache_dir=tmp_path / "cache")
    assert (rerun.skipped, rerun.moved) == (len(survived), len(oids) - len(survived))
    fresh = make_store(tmp_path / "clone")
    pull(fresh, backend, oids, cache_dir=tmp_path / "clone-cache")
    assert_same_objects(store, fresh, oids)


# -- formats and planning ---------------------------------------------------------------------
def test_index_round_trips_and_rejects_damage() -> None:
    oids = [hashlib.sha256(bytes([i])).hexdigest() for i in range(3)]
    index = PackIndex("ab" * 32, 30, [PackEntry(oids[0], 0, 10), PackEntry(oids[1], 10, 0),
                                      PackEntry(oids[2], 10, 20)])
    data = encode_index(index)
    assert len(data) == 56 + 3 * 48 + 32
    assert decode_index(data, "ab" * 32, "t") == index
    with pytest.raises(CorruptObjectError, match="checksum"):
        decode_index(data[:60] + bytes([data[60] ^ 1]) + data[61:], "ab" * 32, "t")
    with pytest.raises(CorruptObjectError, match="does not match its name"):
        decode_index(data, "cd" * 32, "t")
    future = data[:8] + (2).to_bytes(4, "big") + data[12:]
    with pytest.raises(RemoteError, match="pack index format 2"):
        decode_index(future, "ab" * 32, "t")
    with pytest.raises(CorruptObjectError, match="not a folio pack index"):
        decode_index(b"PK\x03\x04" + data[4:], "ab" * 32, "t")


def test_pack_groups_keep_order_and_spread_over_jobs() -> None:
    small = [(f"{i:064x}", 10_000) for i in range(1000)]  # 10 MB
    groups = pack_groups(small, jobs=8)
    assert [o for g in groups for o in g] == [o for o, _ in small]
    assert 8 <= len(groups) <= 9
    assert len(pack_groups(small[:5], jobs=8)) == 1  # tiny pushes: one pack
    assert len(pack_groups(small, jobs=1, pack_max=100_000)) == 100


def test_read_spans_coalesce_neighbours_and_split_far_ones() -> None:
    def slot(offset: int, length: int, pack: str = "p") -> tuple[str, Slot]:
        return f"{offset:064x}", Slot(pack, offset, length)

    spans = read_spans([slot(100, 50), slot(0, 100), slot(150, 10), slot(5_000_000, 10),
                        slot(0, 7, pack="q")], gap=1 << 20)
    assert [(s.pack_id, s.start, s.end, len(s.members)) for s in spans] == [
        ("p", 0, 160, 3), ("p", 5_000_000, 5_000_010, 1), ("q", 0, 7, 1)]
    whole = read_spans([slot(i * 1000, 1000) for i in range(100)], span_max=30_000)
    assert [(s.start, s.end) for s in whole][:2] == [(0, 30_000), (30_000, 60_000)]
    assert len(whole) == 4


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 5000)), max_size=40),
       st.integers(0, 3000), st.integers(1, 20_000))
def test_read_spans_cover_each_wanted_slot_once(lengths: list[tuple[int, int]], gap: int,
                                                span_max: int) -> None:
    offsets = {0: 0, 1: 0, 2: 0}
    wanted = []
    for i, (pack, length) in enumerate(lengths):
        wanted.append((f"{i:064x}", Slot(f"p{pack}", offsets[pack], length)))
        offsets[pack] += length
    spans = read_spans(wanted, gap=gap, span_max=span_max)
    members = [m for s in spans for m in s.members]
    assert sorted(members) == sorted(wanted)
    for span in spans:
        for _, slot in span.members:
            assert slot.pack_id == span.pack_id
            assert span.start <= slot.offset and slot.offset + slot.length <= span.end
        assert span.end - span.start <= span_max or len(span.members) == 1


# -- measurement (pytest -m slow -s) -----------------------------------------------------------
@pytest.mark.slow
def test_measure_20000_small_objects(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path / "a")
    oids = fill(store, 20_000, seed=11, sizes=(1024, 20 * 1024))
    backend = open_backend(s3.url(), s3.options)
    mark = s3.requests.mark()
    started = time.perf_counter()
    pushed = push(store, backend, oids, cache_dir=tmp_path / "c")
    push_s = time.perf_counter() - started
    push_requests = len(s3.requests.since(mark))
    fresh = make_store(tmp_path / "b")
    mark = s3.requests.mark()
    started = time.perf_counter()
    pull(fresh, backend, oids, cache_dir=tmp_path / "c2")
    pull_s = time.perf_counter() - started
    pull_requests = len(s3.requests.since(mark))
    started = time.perf_counter()
    push(store, backend, oids, cache_dir=tmp_path / "c")
    noop_s = time.perf_counter() - started
    # The dvc way, for comparison: one PUT per object, 8 threads, on a 1,000-object sample.
    loose = open_backend(s3.url(), s3.options)
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda o: loose.put_bytes(loose_key(o), store.read_bytes(o)), oids[:1000]))
    per_object_s = (time.perf_counter() - started) * len(oids) / 1000
    mb = pushed.moved_bytes / MIB
    print(f"\n20,000 objects, {mb:.0f} MiB: push {push_s:.1f} s ({push_requests} HTTP requests, "
          f"{pushed.packs} packs), pull {pull_s:.1f} s ({pull_requests} HTTP requests), "
          f"no-op push {noop_s:.2f} s; one PUT per object would take {per_object_s:.1f} s; "
          "dvc at 150/s: 133 s")
    assert_same_objects(store, fresh, oids)
    assert push_s * 3 < len(oids) / 150
