"""The chunk store, white-box: chunked add, reads, dedup, gc, verify, kills, old stores."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import run_folio, write
from tests.reliability import harness as h

from folio.config import Config
from folio.errors import ConfigError, CorruptObjectError
from folio.objects.chunklist import ChunkList
from folio.objects.chunks import MAX_CHUNK, READ_AHEAD, WINDOW, WINDOWS_HELD, new_chunker
from folio.repo import Repo

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def noise(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def repeating(n: int, seed: int) -> bytes:
    """Half of it twice: a file whose chunks repeat, so its one block is smaller than it
    and the file is stored as a chunk list (an all-new file of up to 64 MiB is one block
    whose id is the file's own, i.e. an ordinary loose object)."""
    half = noise(n // 2, seed)
    return half + half


def store_bytes(repo: Repo) -> int:
    out = subprocess.run(["du", "-sb", str(repo.store.root)], capture_output=True, text=True,
                         check=True).stdout
    return int(out.split()[0])


def set_threshold(repo: Repo, value: object) -> None:
    repo.config.update(["core"], {"chunk_threshold": value})
    repo.reload_config()


@pytest.mark.parametrize(("value", "expected"), [
    ("4MiB", 4 * MiB), ("64KiB", 64 << 10), (5 * MiB, 5 * MiB), (0, 0), ("off", 0),
    ("1g", 1 << 30), ("8 MB", 8_000_000)])
def test_threshold_values(tmp_path: Path, value: object, expected: int) -> None:
    assert Config(tmp_path / "c.toml", tmp_path / "l.toml",
                  shared={"core": {"chunk_threshold": value}}).chunk_threshold == expected


@pytest.mark.parametrize("value", ["1KiB", 100, "lots", -1, True])
def test_threshold_refused_in_one_line(tmp_path: Path, value: object) -> None:
    config = Config(tmp_path / "c.toml", tmp_path / "l.toml",
                    shared={"core": {"chunk_threshold": value}})
    with pytest.raises(ConfigError, match="chunk_threshold") as info:
        _ = config.chunk_threshold
    assert "\n" not in str(info.value)


def test_default_is_on_at_4mib(repo: Repo) -> None:
    assert repo.config.chunk_threshold == 4 * MiB
    data = repeating(6 * MiB, 1)
    write(repo.root / "big.bin", data)
    repo.add(["big.bin"])
    assert repo.store.is_chunked(sha(data))
    small = repeating(3 * MiB, 2)
    write(repo.root / "small.bin", small)
    repo.add(["small.bin"])
    assert repo.store.has_loose(sha(small)) and not repo.store.chunks.has(sha(small))


def test_round_trip_reads_and_checkouts(repo: Repo) -> None:
    data = repeating(6 * MiB, 3) + noise(12345, 4)
    oid = sha(data)
    path = write(repo.root / "data" / "big.bin", data)
    repo.add(["data/big.bin"])
    store = repo.store
    assert store.is_chunked(oid) and store.has(oid) and store.size(oid) == len(data)
    assert oid in set(store.iter_oids())
    assert store.read_bytes(oid) == data and store.verify(oid)
    with repo.open("data/big.bin") as f:  # seekable, positional reads across chunks
        f.seek(3 * MiB - 10)
        assert f.read(MAX_CHUNK * 2) == data[3 * MiB - 10:3 * MiB - 10 + MAX_CHUNK * 2]
        f.seek(0)
        assert f.read() == data
    catted = subprocess.run([sys.executable, "-m", "folio.cli", "cat", "data/big.bin"],
                            cwd=repo.root, capture_output=True, check=True).stdout
    assert catted == data
    for mode in ("copy", "auto"):
        path.unlink()
        repo.checkout(force=True, link=mode)
        assert path.read_bytes() == data
        assert store.is_chunked(oid)  # copied from the blocks, nothing expanded
    path.unlink()
    repo.checkout(force=True, link="hardlink")  # needs one file: expanded first
    assert path.read_bytes() == data
    assert store.has_loose(oid) and os.stat(path).st_ino == os.stat(store.path(oid)).st_ino
    assert repo.verify().ok


def test_small_edit_stores_about_the_edit(repo: Repo) -> None:
    data = bytearray(noise(32 * MiB, 5))
    path = write(repo.root / "big.bin", bytes(data))
    repo.add(["big.bin"])
    before = store_bytes(repo)
    data[16 * MiB:17 * MiB] = noise(MiB, 6)
    write(path, bytes(data))
    repo.add(["big.bin"])
    oid = sha(bytes(data))
    assert repo.store.is_chunked(oid)
    list_size = os.path.getsize(repo.store.chunks.list_path(oid))
    growth = store_bytes(repo) - before
    # the new MiB, the two chunks it cuts into, the list and index rows; not 32 MiB
    assert growth <= MiB + 4 * MAX_CHUNK + list_size + 256 * 1024, growth
    assert repo.store.read_bytes(oid) == bytes(data)


def test_unchanged_chunks_are_shared(repo: Repo) -> None:
    base = repeating(12 * MiB, 7)
    shifted = noise(100_000, 8) + base  # an insert at the front
    write(repo.root / "a.bin", base)
    repo.add(["a.bin"])
    write(repo.root / "b.bin", shifted)
    repo.add(["b.bin"])
    chunks = repo.store.chunks
    a, b = chunks.load(sha(base)), chunks.load(sha(shifted))
    assert len({c.digest for c in a.chunks} - {c.digest for c in b.chunks}) <= 2
    new_blocks = set(b.blocks) - set(a.blocks)
    assert sum(repo.store.size(blk) for blk in new_blocks) <= 100_000 + 2 * MAX_CHUNK


def test_gc_drops_unreachable_lists_and_only_their_blocks(repo: Repo) -> None:
    v1 = bytearray(repeating(8 * MiB, 9))
    path = write(repo.root / "big.bin", bytes(v1))
    repo.add(["big.bin"])
    repo.snapshot("v1")
    v2 = bytearray(v1)
    v2[MiB:2 * MiB] = noise(MiB, 10)  # v2 shares most chunks with v1
    write(path, bytes(v2))
    repo.add(["big.bin"])
    store = repo.store
    l1, l2 = store.chunks.load(sha(bytes(v1))), store.chunks.load(sha(bytes(v2)))
    only_v1 = set(l1.blocks) - set(l2.blocks)
    assert store.chunks.has(sha(bytes(v1)))
    assert repo.gc(grace=0).removed == []  # the snapshot keeps v1
    repo.delete_tag("v1")
    result = repo.gc(grace=0)
    removed = {oid for oid, _ in result.removed}
    assert sha(bytes(v1)) in removed and not store.has(sha(bytes(v1)))
    assert only_v1 <= removed and not (set(l2.blocks) & removed)
    assert store.read_bytes(sha(bytes(v2))) == bytes(v2)
    assert repo.verify().ok
    # the index forgot the deleted blocks: a re-add of v1 stores its unique chunks again
    write(path, bytes(v1))
    repo.add(["big.bin"])
    assert store.read_bytes(sha(bytes(v1))) == bytes(v1)


def test_gc_grace_keeps_a_young_list_and_its_blocks(repo: Repo) -> None:
    v1 = repeating(6 * MiB, 11)
    path = write(repo.root / "big.bin", v1)
    repo.add(["big.bin"])
    write(path, repeating(6 * MiB, 12))
    repo.add(["big.bin"])
    result = repo.gc()  # a day's grace: nothing this young goes
    assert result.removed == []
    assert repo.store.read_bytes(sha(v1)) == v1


def test_verify_names_a_flipped_byte_in_a_block(repo: Repo) -> None:
    data = repeating(6 * MiB, 13)
    write(repo.root / "big.bin", data)
    repo.add(["big.bin"])
    store = repo.store
    block = store.chunks.load(sha(data)).blocks[0]
    target = store.path(block)
    raw = bytearray(target.read_bytes())
    raw[12345] ^= 1
    os.chmod(target, 0o644)
    target.write_bytes(bytes(raw))
    os.chmod(target, 0o444)
    result = repo.verify()
    assert set(result.corrupt) == {block, sha(data)}
    proc = run_folio(repo.root, "verify")
    assert proc.returncode == 1
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("corrupt:")]
    assert len(lines) == 2 and any("chunked, list" in ln for ln in lines)
    with pytest.raises(CorruptObjectError):
        store.read_bytes(sha(data))


def test_a_corrupt_list_is_reported(repo: Repo) -> None:
    data = repeating(6 * MiB, 14)
    write(repo.root / "big.bin", data)
    repo.add(["big.bin"])
    listed = repo.store.chunks.list_path(sha(data))
    raw = bytearray(listed.read_bytes())
    raw[100] ^= 1
    os.chmod(listed, 0o644)
    listed.write_bytes(bytes(raw))
    assert repo.verify().corrupt == [sha(data)]
    with pytest.raises(CorruptObjectError, match="chunk list"):
        ChunkList.decode(bytes(raw), sha(data), str(listed))


def test_lost_index_is_rebuilt_from_the_lists(repo: Repo) -> None:
    v1 = bytearray(repeating(8 * MiB, 15))
    path = write(repo.root / "big.bin", bytes(v1))
    repo.add(["big.bin"])
    index = repo.store.chunks.index.path
    repo.store.chunks.index.close()
    index.unlink()
    write(index, b"not a database at all" * 100)  # unreadable: dropped and rebuilt
    os.utime(path, ns=(0, 0))
    v1[0:100] = b"x" * 100
    write(path, bytes(v1))
    repo2 = Repo(repo.root)
    before = store_bytes(repo2)
    repo2.add(["big.bin"])
    assert store_bytes(repo2) - before < 2 * MiB  # dedup worked against the rebuilt index
    assert repo2.store.read_bytes(sha(bytes(v1))) == bytes(v1)


def test_threshold_off_and_old_stores_keep_working(repo: Repo) -> None:
    set_threshold(repo, "off")
    old = repeating(6 * MiB, 16)
    path = write(repo.root / "big.bin", old)
    repo.add(["big.bin"])
    assert repo.store.has_loose(sha(old)) and not (repo.store.root / "chunks").exists()
    set_threshold(repo, "64KiB")
    new = repeating(6 * MiB, 17)
    write(path, new)
    repo.add(["big.bin"])
    assert repo.store.is_chunked(sha(new))
    assert repo.store.read_bytes(sha(old)) == old  # the loose object reads as before
    assert repo.verify().ok


def test_bad_threshold_fails_the_add_in_one_line(repo: Repo) -> None:
    set_threshold(repo, "1KiB")
    write(repo.root / "a.txt", "x")
    proc = run_folio(repo.root, "add", "a.txt")
    assert proc.returncode == 1
    assert "chunk_threshold" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_kill_during_chunked_add_leaves_a_whole_store(tmp_path: Path) -> None:
    template = tmp_path / "template"
    repo = h.init_repo(template)
    set_threshold(repo, "64KiB")
    write(template / "big.bin", noise(96 * MiB, 18) + noise(8 * MiB, 18))
    started = time.monotonic()
    run_folio(template, "status", check=True)
    startup = time.monotonic() - started
    timing = h.clone_dir(template, tmp_path / "timing")  # how long a whole add takes here
    started = time.monotonic()
    run_folio(timing, "add", "big.bin", check=True)
    work = max(time.monotonic() - started - startup, 0.2)
    landed = trial = 0
    shares = (0.1, 0.35, 0.6, 0.85)
    while trial < 4 or (landed < 2 and trial < 12):  # at least four kills, two landing
        delay = startup + shares[trial % len(shares)] * work
        root = h.clone_dir(template, tmp_path / f"t{trial}")
        killed = h.kill_after(root, [*h.FOLIO, "add", "big.bin"], delay)
        landed += not killed.finished
        if killed.finished:  # it ran faster than the timing add (load varies): aim earlier
            work *= 0.6
        trial += 1
        clone = Repo(root)
        h.check_store(clone)
        assert run_folio(root, "verify").returncode == 0
        run_folio(root, "add", "big.bin", check=True)  # and the add then completes
        oid = sha((root / "big.bin").read_bytes())
        assert clone.store.read_bytes(oid) == (root / "big.bin").read_bytes()
    assert landed >= 2, "the kills should land while the add runs"


def test_a_list_whose_block_is_gone_is_not_stored_and_a_re_add_mends_it(repo: Repo) -> None:
    data = repeating(6 * MiB, 19)
    path = write(repo.root / "big.bin", data)
    repo.add(["big.bin"])
    store = repo.store
    block = store.chunks.load(sha(data)).blocks[0]
    os.unlink(store.path(block))  # as if a gc took it under a lock-free writer
    assert not store.has(sha(data)) and store.is_chunked(sha(data))
    result = repo.verify()
    assert sha(data) in result.corrupt or sha(data) in result.missing
    store.chunks.index.forget_blocks([block])
    os.utime(path, ns=(0, 0))
    write(path, data)
    repo.add(["big.bin"])
    assert store.has(sha(data)) and store.read_bytes(sha(data)) == data


@pytest.mark.parametrize("size", [2 * WINDOW, 2 * WINDOW + 1, WINDOW - 1 + 3 * MiB,
                                  (WINDOWS_HELD + READ_AHEAD + 4) * WINDOW + 5])
def test_windowed_cuts_equal_one_cut_of_the_whole_file(repo: Repo, size: int) -> None:
    """Cut points do not depend on where the read windows fall (nor on a file ending at
    one): the add's chunks are exactly FastCDC's over the whole bytes. The biggest size
    reuses window buffers: a buffer refilled while its bytes were still being written or
    hashed would show as other bytes or another id."""
    half = noise(size // 2, 20)
    data = half + half + noise(size - 2 * (size // 2), 21)
    write(repo.root / "big.bin", data)
    repo.add(["big.bin"])
    listed = repo.store.chunks.load(sha(data))
    assert [c.length for c in listed.chunks] == [c.length for c in new_chunker().cut_buf(data)]
    assert repo.store.read_bytes(sha(data)) == data


def test_a_big_bundle_item_is_stored_chunked(repo: Repo) -> None:
    bundle = repo.folio("exp")
    first = repeating(6 * MiB, 22)
    bundle.add_data("blob", first)  # bytes: written through the bundle's own staging
    entry_oid = sha(first)
    assert repo.store.is_chunked(entry_oid)
    assert bundle.get_data("blob") == first
    second = bytearray(first)
    second[MiB:MiB + 1000] = noise(1000, 23)
    before = store_bytes(repo)
    bundle.add_data("blob", bytes(second), overwrite=True)
    assert store_bytes(repo) - before < MiB  # a small edit of a big item stores little
    assert bundle.get_data("blob") == bytes(second)
    assert repo.verify().ok
