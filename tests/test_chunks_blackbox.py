"""Chunk-level dedup seen from outside (issue 17): random edits of a 1-4 MiB file, chunked at
``core.chunk_threshold = "64KiB"``, round-trip byte for byte through every reader, and a
small edit grows the store by about the changed chunks only.

Black-box: only the public contract is used (``Repo``, the CLI, ``repo.store.root`` as the
place everything stored lives); nothing here knows how chunks or blocks are laid out.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import run_folio

from folio.repo import Repo

KiB, MiB = 1 << 10, 1 << 20
MAX_CHUNK = 256 * KiB  # FastCDC's largest chunk under the contract (16/64/256 KiB)
# A small edit may rewrite the chunks it touches and the neighbours whose cut points moved:
# a few max-size chunks, plus the chunk list and index rows (well under 64 KiB here).
SLACK = 3 * MAX_CHUNK + 64 * KiB
TARGET = "data/big.bin"
KINDS = ("insert", "delete", "overwrite", "append")


def new_repo(root: Path, threshold: str | int = "64KiB") -> Repo:
    """A git repo with folio set up and ``core.chunk_threshold`` in the local config."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    Repo.init(root).config.update(["core"], {"chunk_threshold": threshold}, local=True)
    return Repo(root)


def store_bytes(repo: Repo) -> int:
    """Bytes of every file below the store root (what ``du -sb`` counts, less directories)."""
    total = 0
    for dirpath, _, filenames in os.walk(repo.store.root):
        total += sum(os.lstat(os.path.join(dirpath, n)).st_size for n in filenames)
    return total


def run_folio_bytes(cwd: Path, *args: str) -> bytes:
    """The real CLI's stdout as bytes (``folio cat`` writes the raw content)."""
    done = subprocess.run([sys.executable, "-m", "folio.cli", *args], cwd=cwd,
                          capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def put(path: Path, data: bytes) -> None:
    """Replace the file by a rename, as editors and tools do (a new inode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".writing")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def apply(data: bytes, kind: str, where: float, size: int, seed: int) -> tuple[bytes, int]:
    """``data`` after one edit, and how many new bytes the edit wrote."""
    fresh = random.Random(seed).randbytes(size)
    at = int(where * len(data))
    if kind == "insert":
        return data[:at] + fresh + data[at:], size
    if kind == "delete":
        return data[:at] + data[at + size:], 0
    if kind == "overwrite":
        at = min(at, max(0, len(data) - size))
        return data[:at] + fresh + data[at + size:], size
    return data + fresh, size


edits = st.lists(st.tuples(st.sampled_from(KINDS), st.floats(0, 1), st.integers(1, 200 * KiB),
                           st.integers(0, 2**32)), min_size=1, max_size=3)


@settings(max_examples=10, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(size=st.integers(1 * MiB, 4 * MiB), seed=st.integers(0, 2**32), edits=edits)
def test_random_edits_round_trip_and_share_chunks(size: int, seed: int,
                                                  edits: list[tuple[str, float, int, int]]
                                                  ) -> None:
    with tempfile.TemporaryDirectory(prefix="folio-chunks-") as tmp:
        root = Path(tmp) / "repo"
        repo = new_repo(root)
        data = random.Random(seed).randbytes(size)
        versions = [data]
        put(root / TARGET, data)
        repo.add([TARGET], cwd=root)
        repo.snapshot("v0")
        for i, (kind, where, n, edit_seed) in enumerate(edits, start=1):
            before = store_bytes(repo)
            data, written = apply(data, kind, where, n, edit_seed)
            versions.append(data)
            put(root / TARGET, data)
            repo.add([TARGET], cwd=root)
            repo.snapshot(f"v{i}")
            grown = store_bytes(repo) - before
            assert grown <= written + SLACK, (
                f"v{i} ({kind} of {n:,} bytes at {where:.2f} of {len(data):,}): the store grew "
                f"by {grown:,} bytes, more than the edit plus {SLACK:,}: unchanged regions are "
                "not sharing chunks")
        for i, want in enumerate(versions):
            repo.checkout(f"v{i}", cwd=root)
            got = (root / TARGET).read_bytes()
            assert got == want, f"checkout v{i} gave other bytes ({len(got):,} of {len(want):,})"
            with repo.open(TARGET, f"v{i}") as fh:
                assert fh.read() == want, f"Repo.open(v{i}) gave other bytes"
        assert repo.read_bytes(TARGET) == versions[-1]  # the working manifests follow checkout
        result = repo.verify()
        assert not result.corrupt and not result.missing, result


def test_cli_cat_checkout_and_verify_of_chunked_versions(tmp_path: Path) -> None:
    """Through the real CLI: `folio cat` of each version, `folio checkout` of a removed file,
    `folio verify`; and the second version cost far less than the first."""
    root = tmp_path / "repo"
    repo = new_repo(root)
    first = random.Random(1).randbytes(3 * MiB + 12_345)
    second = first[:MiB] + random.Random(2).randbytes(10_000) + first[MiB:]
    put(root / TARGET, first)
    run_folio(root, "add", TARGET, check=True)
    run_folio(root, "snapshot", "one", check=True)
    one = store_bytes(repo)
    put(root / TARGET, second)
    run_folio(root, "snapshot", "two", check=True)  # captures the edit as add would
    assert store_bytes(repo) - one <= 10_000 + SLACK
    for tag, want in (("one", first), ("two", second)):
        out = tmp_path / f"{tag}.bin"
        run_folio(root, "cat", f"{tag}:{TARGET}", "-o", str(out), check=True)
        assert out.read_bytes() == want, f"folio cat {tag} gave other bytes"
        streamed = run_folio_bytes(root, "cat", f"{tag}:{TARGET}")
        assert hashlib.sha256(streamed).digest() == hashlib.sha256(want).digest(), \
            f"folio cat {tag} to stdout gave other bytes"
    (root / TARGET).unlink()
    run_folio(root, "checkout", "one", check=True)
    assert (root / TARGET).read_bytes() == first
    assert run_folio(root, "verify", check=True).returncode == 0


def test_files_below_the_threshold_and_chunking_off_round_trip(tmp_path: Path) -> None:
    """A file just below the threshold, and one far above it with chunking off, still read
    back byte for byte: the whole-file path is untouched by the chunk store."""
    for threshold, size in (("64KiB", 64 * KiB - 1), (0, 2 * MiB), ("off", MiB + 1)):
        root = tmp_path / f"repo-{threshold}-{size}"
        repo = new_repo(root, threshold)
        data = random.Random(size).randbytes(size)
        put(root / TARGET, data)
        repo.add([TARGET], cwd=root)
        repo.snapshot("v")
        (root / TARGET).unlink()
        repo.checkout("v", cwd=root)
        assert (root / TARGET).read_bytes() == data
        assert repo.read_bytes(TARGET, "v") == data


def test_a_threshold_below_64KiB_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    new_repo(root, "32KiB")
    put(root / TARGET, b"x" * 100_000)
    done = run_folio(root, "add", TARGET)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "chunk_threshold" in lines[0], done.stderr


def test_a_bundle_table_rewritten_after_a_small_insert_shares_chunks(tmp_path: Path) -> None:
    """Bundles go through the chunk store too (docs/concepts.md, "Chunking"): a 300,000-row
    table written by `add_data`, then again with 1 % new rows in its middle, adds well under
    half the file (FastCDC alone finds about 30 % of it new at this size: content-defined
    Parquet pages keep the rest byte-identical)."""
    import numpy as np
    import pyarrow as pa

    def events(n: int, seed: int) -> pa.Table:
        rng = np.random.default_rng(seed)
        return pa.table({"customer": rng.integers(0, 2_000_000, n),
                         "at": pa.array(np.sort(rng.integers(0, 10**12, n))
                                        .astype("datetime64[ms]")),
                         "amount": rng.gamma(2.0, 30.0, n).round(2),
                         "shop": np.array([f"shop-{i:03d}" for i in range(400)])[
                             rng.integers(0, 400, n)]})

    root = tmp_path / "repo"
    repo = new_repo(root)
    rows = 300_000
    table = events(rows, 1)
    bundle = repo.folio("exp")
    bundle.add_data("table", table)
    before = store_bytes(repo)
    edited = pa.concat_tables([table.slice(0, rows // 2), events(rows // 100, 2),
                               table.slice(rows // 2)])
    bundle.add_data("table", edited)
    size = max(p.stat().st_size for p in (root / "exp").rglob("*") if "table" in p.name)
    grown = store_bytes(repo) - before
    assert size > 1 << 20, size  # far above the 64 KiB threshold: stored chunked
    assert grown < 0.5 * size, f"the rewrite added {grown:,} bytes of a {size:,}-byte file"
    assert repo.folio("exp").get_data("table").equals(edited)
