"""folio:// as an fsspec filesystem (issue 18): pandas, polars, pyarrow and DuckDB read any
version, from the local store and from S3 only, by byte ranges for a big object."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow.fs import FSSpecHandler, PyFileSystem

from conftest import git, run_folio
from folio.errors import CorruptObjectError, MissingObjectError
from folio.fsspec import FolioFileSystem
from folio.repo import Repo

duckdb = pytest.importorskip("duckdb", reason="duckdb's wheel does not install here")

pytest_plugins = ["s3server"]

JOB = ("import pandas as pd; "
       "pd.DataFrame({'id': [7, 8, 9], 'v': [0.5, 1.5, 2.5]}).to_parquet('out/result.parquet')")


def table(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "v": [i / 2 for i in ids]})


def big_table(seed: int) -> pd.DataFrame:
    """Ten float columns, about 1.6 MB: over RANGED_MIN, so a remote read goes by ranges."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"c{i}": rng.random(20_000) for i in range(10)})


@pytest.fixture
def tables(repo: Repo) -> tuple[Repo, str]:
    """v1 and v2 of data/ (sales, a big table, a two-file dataset) and a run's output."""
    root = repo.root
    (root / "data/events").mkdir(parents=True)
    for version, ids in ((1, [1, 2, 3]), (2, [4, 5])):
        table(ids).to_parquet(root / "data/sales.parquet")
        big_table(version).to_parquet(root / "data/big.parquet")
        for part in range(2):
            table([version * 10 + part]).to_parquet(root / f"data/events/part-{part}.parquet")
        repo.add(["data"])
        repo.snapshot(f"v{version}", f"version {version}")
    (root / "out").mkdir()
    run_folio(root, "run", "--put", "out/result.parquet", "--", sys.executable, "-c", JOB,
              check=True)
    run_id = json.loads(run_folio(root, "runs", "--json", check=True).stdout)[0]["id"]
    return repo, run_id


def ids_by_every_reader(fs: FolioFileSystem, url: str) -> dict[str, list[int]]:
    """The ``id`` column of ``url`` as pandas, polars, pyarrow and DuckDB read it (the
    code docs/fsspec.md shows)."""
    path = fs._strip_protocol(url)
    out = {"pandas": pd.read_parquet(url, storage_options={"repo": fs.repo},
                                     columns=["id"])["id"].tolist()}
    with fs.open(path) as f:
        out["polars"] = pl.read_parquet(f, columns=["id"])["id"].to_list()
    out["pyarrow"] = pq.read_table(path, filesystem=fs, columns=["id"])["id"].to_pylist()
    con = duckdb.connect()
    con.register_filesystem(fs)
    out["duckdb"] = [r[0] for r in con.sql(f"SELECT id FROM read_parquet('{url}')").fetchall()]
    return out


def assert_all(fs: FolioFileSystem, url: str, ids: list[int]) -> None:
    got = ids_by_every_reader(fs, url)
    assert got == dict.fromkeys(got, ids), got


def dataset_ids(fs: FolioFileSystem, path: str) -> list[int]:
    dataset = ds.dataset(path, filesystem=PyFileSystem(FSSpecHandler(fs)), format="parquet")
    return sorted(dataset.to_table(columns=["id"])["id"].to_pylist())


# -- local store --------------------------------------------------------------------------
def test_every_reader_reads_two_versions_and_a_run_from_the_local_store(
        tables: tuple[Repo, str]) -> None:
    repo, run_id = tables
    fs = FolioFileSystem(repo=repo.root)
    assert_all(fs, "folio://v1/data/sales.parquet", [1, 2, 3])
    assert_all(fs, "folio://v2/data/sales.parquet", [4, 5])
    assert_all(fs, f"folio://run:{run_id}/out/result.parquet", [7, 8, 9])
    assert dataset_ids(fs, "v1/data/events") == [10, 11]
    assert dataset_ids(fs, "v2/data/events") == [20, 21]
    con = duckdb.connect()
    con.register_filesystem(fs)
    rows = con.sql("SELECT sum(id) FROM read_parquet('folio://v1/data/events/*.parquet')")
    assert rows.fetchall() == [(21,)]
    big = pq.read_table("v1/data/big.parquet", filesystem=fs, columns=["c3"])
    assert big["c3"].to_pylist() == big_table(1)["c3"].tolist()
    # the entry point: a bare URL finds the class, the repository is the current directory's
    assert fsspec.get_filesystem_class("folio") is FolioFileSystem
    assert pd.read_parquet("folio://v2/data/sales.parquet")["id"].tolist() == [4, 5]


def test_ls_info_glob_find_cat_ranges_and_open(tables: tuple[Repo, str]) -> None:
    repo, _ = tables
    fs = FolioFileSystem(repo=repo.root)
    sales = (repo.root / "data/sales.parquet").read_bytes()  # v2's, checked out
    [(_, entry)] = repo.ls(["data/sales.parquet"], rev="v2")
    assert fs.ls("v2", detail=False) == ["v2/data"]
    listing = fs.ls("folio://v2/data", detail=True)
    assert [(r["name"], r["type"]) for r in listing] == [
        ("v2/data/big.parquet", "file"), ("v2/data/events", "directory"),
        ("v2/data/sales.parquet", "file")]
    info = fs.info("v2/data/sales.parquet")
    assert (info["size"], info["sha256"], info["type"]) == (len(sales), entry.sha256, "file")
    assert fs.info("v2/data/events")["type"] == "directory"
    assert fs.glob("v1/data/events/*.parquet") == ["v1/data/events/part-0.parquet",
                                                   "v1/data/events/part-1.parquet"]
    assert fs.find("v1", withdirs=True) == [
        "v1", "v1/data", "v1/data/big.parquet", "v1/data/events",
        "v1/data/events/part-0.parquet", "v1/data/events/part-1.parquet",
        "v1/data/sales.parquet"]
    assert fs.find("v1/data", maxdepth=1) == ["v1/data/big.parquet", "v1/data/sales.parquet"]
    assert fs.cat_file("v2/data/sales.parquet") == sales
    assert fs.cat_file("v2/data/sales.parquet", start=4, end=20) == sales[4:20]
    assert fs.cat_ranges(["v2/data/sales.parquet"] * 2, [0, -8], [4, None]) == [
        sales[:4], sales[-8:]]
    with fs.open("v2/data/sales.parquet") as f:
        assert f.seekable() and f.seek(-4, 2) == len(sales) - 4 and f.read() == b"PAR1"
        f.seek(0)
        assert f.read() == sales and f.verified
    with pytest.raises(PermissionError, match="read-only"):
        fs.open("v2/data/new.csv", "wb")
    with pytest.raises(IsADirectoryError, match="is a directory in snapshot v2"):
        fs.open("v2/data/events")


def test_the_working_manifests_and_a_branch_with_a_slash(tables: tuple[Repo, str]) -> None:
    repo, _ = tables
    root = repo.root
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "data v2")
    git(root, "branch", "feature/x")
    table([99]).to_parquet(root / "data/sales.parquet")
    repo.add(["data"])  # in the working manifests only: no snapshot, no commit
    fs = FolioFileSystem(repo=root)
    assert_all(fs, "folio://:/data/sales.parquet", [99])
    assert fs.ls(":/data/events", detail=False) == [":/data/events/part-0.parquet",
                                                    ":/data/events/part-1.parquet"]
    assert_all(fs, "folio://feature%2Fx/data/sales.parquet", [4, 5])
    assert fs.info("feature%2Fx/data/sales.parquet")["name"] == "feature%2Fx/data/sales.parquet"
    assert_all(fs, "folio://HEAD/data/sales.parquet", [4, 5])


def test_unknown_version_or_path_is_file_not_found(tables: tuple[Repo, str]) -> None:
    repo, _ = tables
    fs = FolioFileSystem(repo=repo.root)
    with pytest.raises(FileNotFoundError, match=r"folio://v9: unknown revision 'v9'"):
        fs.open("folio://v9/data/sales.parquet")
    with pytest.raises(FileNotFoundError, match=r"folio://run:nope: .*no run 'nope'"):
        fs.info("run:nope/out/result.parquet")
    with pytest.raises(FileNotFoundError,
                       match=r"folio://v1/data/nope.csv: no manifest of snapshot v1 names"):
        fs.open("v1/data/nope.csv")
    with pytest.raises(FileNotFoundError, match="at or below this path"):
        fs.ls("v1/nowhere")
    with pytest.raises(FileNotFoundError, match="name a version first"):
        fs.info("folio://")
    with pytest.raises(FileNotFoundError):
        pd.read_parquet("folio://v9/data/sales.parquet", storage_options={"repo": repo.root})
    assert not fs.exists("v1/data/nope.csv") and fs.exists("v1/data/sales.parquet")


def test_a_corrupt_local_object_is_a_clear_error(tables: tuple[Repo, str]) -> None:
    repo, _ = tables
    [(_, entry)] = repo.ls(["data/sales.parquet"], rev="v1")
    assert entry.sha256 is not None
    obj = repo.store.path(entry.sha256)
    obj.chmod(0o644)
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    obj.write_bytes(bytes(data))
    fs = FolioFileSystem(repo=repo.root)
    message = rf"v1:data/sales\.parquet: object {entry.sha256[:12]} is corrupt"
    with pytest.raises(CorruptObjectError, match=message):
        fs.cat_file("v1/data/sales.parquet")  # a whole read is verified
    with fs.open("v1/data/sales.parquet") as f, pytest.raises(CorruptObjectError,
                                                               match=message):
        f.verify()  # a ranged read is not, until asked
    obj.write_bytes(bytes(data[:50]))  # truncated: refused at open, by its size
    with pytest.raises(CorruptObjectError, match="it holds 50 bytes"):
        pd.read_parquet("folio://v1/data/sales.parquet", storage_options={"repo": repo.root})


def test_a_missing_object_with_no_remote_names_it(tables: tuple[Repo, str]) -> None:
    repo, _ = tables
    fs = FolioFileSystem(repo=repo.root)
    oid = fs.info("v1/data/big.parquet")["sha256"]
    obj = repo.store.path(oid)
    obj.chmod(0o644)
    obj.unlink()
    with pytest.raises(MissingObjectError, match=rf"v1:data/big\.parquet: object {oid[:12]} "
                       "is not in the local store and there is no remote"):
        pq.read_table("v1/data/big.parquet", filesystem=fs)


# -- remote only --------------------------------------------------------------------------
def test_every_reader_reads_from_s3_only_in_a_fresh_clone(
        s3: Any, tables: tuple[Repo, str], tmp_path: Path) -> None:
    repo, run_id = tables
    root = repo.root
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    url = s3.url()
    run_folio(root, "remote", "add", "s3", url, "--endpoint", s3.endpoint,
              "--allow-http", check=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "data and remote")
    git(root, "push", "-q", "origin", "main")
    run_folio(root, "push", check=True)
    run_folio(root, "push", "--git", check=True)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    run_folio(clone, "accept", check=True)
    assert not (clone / ".git/folio/objects").exists()

    fs = FolioFileSystem(repo=clone)
    assert_all(fs, "folio://v1/data/sales.parquet", [1, 2, 3])
    assert_all(fs, "folio://v2/data/sales.parquet", [4, 5])
    assert_all(fs, f"folio://run:{run_id}/out/result.parquet", [7, 8, 9])
    assert dataset_ids(fs, "v2/data/events") == [20, 21]

    # a small file is one ranged GET of its pack, verified, then kept in the store
    mark = s3.requests.mark()
    part = pq.read_table(fs.open("v1/data/events/part-1.parquet"))
    assert part["id"].to_pylist() == [11]
    assert [m for m, _ in s3.requests.since(mark)] == ["GET"]
    assert fs.info("v1/data/events/part-1.parquet")["sha256"][2:] in {
        p.name for p in (clone / ".git/folio/objects").rglob("*")}

    # one column of the big table: ranges of the loose object, nothing kept in the store
    source = fs.source(fs.workspace())
    before = source.fetched_bytes
    size = fs.info("v2/data/big.parquet")["size"]
    column = pq.read_table("v2/data/big.parquet", filesystem=fs, columns=["c3"])
    assert column["c3"].to_pylist() == big_table(2)["c3"].tolist()
    fetched = source.fetched_bytes - before
    assert 0 < fetched < size / 4, (fetched, size)
    stored = {p.name for p in (clone / ".git/folio/objects").rglob("*") if p.is_file()}
    assert fs.info("v2/data/big.parquet")["sha256"][2:] not in stored
    # a whole read of it is verified against its sha256, range by range
    with fs.open("v2/data/big.parquet") as f:
        assert f.read() == (root / "data/big.parquet").read_bytes() and f.verified
    duck = duckdb.connect()
    duck.register_filesystem(fs)
    total = duck.sql("SELECT count(c0) FROM read_parquet('folio://v1/data/big.parquet')")
    assert total.fetchall() == [(20_000,)]

    # a big object corrupted on the remote: a whole read says so; a range cannot know
    oid = fs.info("v1/data/big.parquet")["sha256"]
    key = f"{url.split('/', 3)[3]}/{oid[:2]}/{oid[2:]}"
    body = bytearray(s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read())
    body[1000] ^= 0xFF
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=bytes(body))
    with pytest.raises(CorruptObjectError, match=rf"v1:data/big\.parquet: object {oid[:12]} "
                       "is corrupt"):
        fs.cat_file("v1/data/big.parquet")
