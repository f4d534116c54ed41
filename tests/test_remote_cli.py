"""folio remote / push / pull / fetch end to end: real CLI, real git, moto's S3 over HTTP."""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio.errors import MissingObjectError, RemoteError
from folio.repo import Repo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytest_plugins = ["s3server"]

MIB = 1 << 20


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by relative path (the data a user sees)."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_data(root: Path, seed: int, count: int = 40) -> None:
    rng = random.Random(seed)
    for i in range(count):
        write(root / f"data/d{i % 4}/f{i:03d}.bin", rng.randbytes(rng.randint(1, 30_000)))
    write(root / "data/big.bin", rng.randbytes(2 * MIB + 7))  # travels loose, not packed
    write(root / "model.json", json.dumps({"seed": seed}))


def folio_json(cwd: Path, *args: str) -> dict:  # type: ignore[type-arg]
    proc = run_folio(cwd, *args, "--json", check=True)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def data_repo(repo: Repo) -> Repo:
    """Tracked data with snapshot v1, then changed and re-added (working != v1)."""
    make_data(repo.root, seed=1)
    repo.add(["data", "model.json"])
    repo.snapshot("v1", "first data")
    write(repo.root / "data/d0/f000.bin", b"changed after v1")
    write(repo.root / "data/new.csv", "a,b\n1,2\n")
    repo.add(["data"])
    return repo


def add_s3_remote(root: Path, s3, name: str = "s3", *extra: str) -> str:  # type: ignore[no-untyped-def]
    url = s3.url()
    run_folio(root, "remote", "add", name, url, "--endpoint", s3.endpoint, "--allow-http",
              *extra, check=True)
    return url


# -- remote add / list / remove -------------------------------------------------------------
def test_remote_add_list_remove_and_the_default(repo: Repo, tmp_path: Path) -> None:
    root = repo.root
    out = run_folio(root, "remote", "add", "nas", str(tmp_path / "nas"), check=True).stdout
    assert "Added remote nas" in out and "(default)" in out  # the only one is the default
    run_folio(root, "remote", "add", "cloud", "s3://my-bucket/proj", "--region", "eu-west-1",
              "--profile", "team", check=True)
    listed = folio_json(root, "remote", "list")
    assert [(r["name"], r["default"]) for r in listed] == [("cloud", False), ("nas", False)]
    assert listed[0]["options"] == {"region": "eu-west-1", "profile": "team"}
    text = (root / ".folio/config.toml").read_text()
    assert '[remotes.cloud]\nurl = "s3://my-bucket/proj"' in text and "secret" not in text

    nodefault = run_folio(root, "push")
    assert nodefault.returncode == 1
    assert nodefault.stderr.count("\n") == 1 and "no default" in nodefault.stderr

    run_folio(root, "remote", "remove", "nas", check=True)
    run_folio(root, "remote", "add", "nas", str(tmp_path / "nas"), "--default", "--local",
              check=True)
    assert "[remotes.nas]" in (root / ".git/folio/config.toml").read_text()  # the local config
    assert "nas" not in (root / ".folio/config.toml").read_text()
    assert Repo(root).default_remote() == "nas"
    assert run_folio(root, "remote", "list", check=True).stdout.splitlines()[1].startswith(
        "* nas")
    run_folio(root, "remote", "remove", "nas", check=True)
    assert Repo(root).default_remote() == "cloud"  # the only one left
    local = tomllib.loads((root / ".git/folio/config.toml").read_text())
    assert "remotes" not in local and "remote" not in local.get("core", {})
    assert local["accepted"]["remotes"] == {"cloud": listed[0]["options"] | {  # added here
        "url": "s3://my-bucket/proj"}}


@pytest.mark.parametrize(("args", "message"), [
    (("bad name", "/tmp/x"), "invalid remote name"),
    (("x", "s3://bkt/p", "--endpoint", "http://127.0.0.1:9"), "allow_http"),
    (("x", "s3://user:hunter2@bucket/p"), "never stores credentials"),
    (("x", "ftp://host/p"), "unsupported remote URL scheme"),
    (("x", "/tmp/x", "--region", "eu-west-1"), "directory remote takes no options"),
])
def test_remote_add_refuses_bad_input_in_one_line(repo: Repo, args: tuple[str, ...],
                                                  message: str) -> None:
    proc = run_folio(repo.root, "remote", "add", *args)
    assert proc.returncode == 1, proc.stdout
    assert message in proc.stderr and proc.stderr.count("\n") == 1
    assert "hunter2" not in proc.stderr
    assert "remotes" not in (repo.root / ".folio/config.toml").read_text()


def test_push_without_a_remote_says_how_to_add_one(repo: Repo) -> None:
    proc = run_folio(repo.root, "push")
    assert proc.returncode == 1 and "folio remote add NAME URL" in proc.stderr


# -- S3: push, wipe, pull -------------------------------------------------------------------
def test_push_wipe_pull_gives_identical_bytes_over_s3(s3, data_repo: Repo,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    root = data_repo.root
    add_s3_remote(root, s3)
    working = tree(root / "data")
    make_data(tmp_path / "expected", seed=1)
    v1 = tree(tmp_path / "expected/data")

    pushed = folio_json(root, "push")
    assert pushed["objects"] == 44  # 43 working entries + the 1 file v1 had before it changed
    assert pushed["moved"] == 44 and pushed["skipped"] == 0
    assert pushed["packs"] >= 1 and pushed["requests"] < 10  # packs, not a PUT per object
    mark = s3.requests.mark()
    again = folio_json(root, "push")
    assert (again["moved"], again["skipped"]) == (0, 44)
    assert not [m for m, _ in s3.requests.since(mark) if m in ("PUT", "POST")]
    assert "Nothing to push" in run_folio(root, "push", check=True).stdout

    shutil.rmtree(root / ".git/folio/objects")
    shutil.rmtree(root / "data")
    out = run_folio(root, "pull", check=True).stdout
    assert "Fetched 43 objects" in out and "Checked out the working manifests" in out
    assert tree(root / "data") == working

    shutil.rmtree(root / ".git/folio/objects")
    refused = run_folio(root, "pull", "v1")  # the working files are in no object any more
    assert refused.returncode == 1 and "unsaved changes" in refused.stderr
    out = run_folio(root, "pull", "v1", "--force", check=True).stdout
    assert "Checked out snapshot v1" in out
    assert tree(root / "data") == v1
    assert json.loads((root / "model.json").read_text()) == {"seed": 1}

    shutil.rmtree(root / ".git/folio/objects")
    run_folio(root, "fetch", "v1", check=True)  # objects only: the data stays as it is
    assert data_repo.verify().ok
    fetched = folio_json(root, "fetch", "v1")
    assert (fetched["moved"], fetched["skipped"]) == (0, 42)


def test_pull_catches_an_object_corrupted_on_the_remote(s3, data_repo: Repo) -> None:  # type: ignore[no-untyped-def]
    root = data_repo.root
    url = add_s3_remote(root, s3)
    run_folio(root, "push", check=True)
    prefix = url.split("/", 3)[3]
    client = s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3.bucket, Prefix=prefix)["Contents"]]
    [big] = [k for k in keys if "/packs/" not in k and "/sets/" not in k]  # data/big.bin
    body = bytearray(client.get_object(Bucket=s3.bucket, Key=big)["Body"].read())
    body[1000] ^= 0x01
    client.put_object(Bucket=s3.bucket, Key=big, Body=bytes(body))
    oid = big[len(prefix) + 1:].replace("/", "")

    shutil.rmtree(root / ".git/folio/objects")
    shutil.rmtree(root / "data")
    proc = run_folio(root, "pull")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and oid in proc.stderr and "corrupt" in proc.stderr
    assert not data_repo.store.has(oid)  # the bad bytes never entered the store
    assert not (root / "data/big.bin").exists()  # and nothing was checked out


def test_push_of_one_version_and_objects_only_on_the_remote(s3, data_repo: Repo,
                                                             tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = data_repo.root
    add_s3_remote(root, s3)
    v1 = folio_json(root, "push", "v1")
    assert v1["moved"] == v1["objects"] == 42  # 40 + big.bin + model.json
    everything = folio_json(root, "push")
    assert everything["moved"] == 2  # f000 changed and new.csv

    # An object only the remote has is fine; one nobody has is named, and no ref moves.
    oid = data_repo.read_manifest("data").entries["new.csv"].sha256
    assert oid is not None
    data_repo.store.delete(oid)
    assert data_repo.push().stats.moved == 0
    write(root / "lost.txt", "never pushed")
    data_repo.add(["lost.txt"])
    lost = data_repo.read_manifest("lost.txt").entries["lost.txt"].sha256
    data_repo.store.delete(lost)  # type: ignore[arg-type]
    with pytest.raises(MissingObjectError, match="neither in the local store nor on remote"):
        data_repo.push()
    # the pre-push hook's entry point: exactly these objects, to the default remote
    assert data_repo.push(oids=[oid]).stats.skipped == 1


# -- git: push refs/folio/*, clone, pull TAG ------------------------------------------------
def test_clone_then_pull_tag_gives_the_same_data(s3, data_repo: Repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = data_repo.root
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    add_s3_remote(root, s3)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "data v2")
    git(root, "push", "-q", "origin", "main")
    working = tree(root / "data")

    out = run_folio(root, "push", "--git", check=True).stdout
    assert "Pushed refs/folio/* to git remote origin" in out
    assert "git push origin 'refs/folio/*'" in out
    assert "refs/folio/snapshots/v1" in git(bare, "for-each-ref").stdout
    data_repo.checkout("v1")
    v1 = tree(root / "data")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    assert not (clone / ".git/folio/objects").exists()
    assert "refs/folio" not in git(clone, "for-each-ref").stdout  # clone leaves them behind
    refused = run_folio(clone, "pull")  # the committed remote: accepted once per clone
    assert refused.returncode == 1 and "folio accept remotes.s3" in refused.stderr
    assert "Accepted in this clone" in run_folio(clone, "accept", check=True).stdout
    # the refused pull already brought refs/folio/* from origin (issue 14: refs travel)
    assert "refs/folio/snapshots/v1" in git(clone, "for-each-ref").stdout
    run_folio(clone, "pull", "v1", check=True)  # no `folio init`
    assert tree(clone / "data") == v1
    assert run_folio(clone, "pull", "HEAD", check=True).returncode == 0
    assert tree(clone / "data") == working

    unknown = run_folio(clone, "pull", "nope")
    assert unknown.returncode == 1 and "nope" in unknown.stderr
    assert unknown.stderr.count("\n") == 1


# -- directory remotes, through the API -----------------------------------------------------
def test_directory_remote_round_trip_and_relative_urls(data_repo: Repo, tmp_path: Path) -> None:
    data_repo.add_remote("nas", "../nas")  # relative to the repository root
    result = data_repo.push()
    assert result.url == str(tmp_path / "nas") and result.stats.moved == result.wanted
    oids = {e.sha256 for e in data_repo.read_manifest("data").entries.values()}
    assert data_repo.remote_has(oids) == oids  # type: ignore[arg-type]
    before = tree(data_repo.root / "data")
    shutil.rmtree(data_repo.root / ".git/folio/objects")
    (data_repo.root / "data/new.csv").unlink()
    pulled = Repo(data_repo.root).pull()  # a new Repo: the old one remembers the fan-out dirs
    assert pulled.checkout is not None and pulled.checkout.written == ["data/new.csv"]
    assert tree(data_repo.root / "data") == before
    with pytest.raises(RemoteError, match="no remote named 'other'"):
        data_repo.push(remote="other")


def test_pull_of_data_already_here_needs_no_remote(data_repo: Repo) -> None:
    (data_repo.root / "data/new.csv").unlink()
    out = run_folio(data_repo.root, "pull", check=True).stdout
    assert "Nothing to fetch: all 43 objects are already here." in out
    assert (data_repo.root / "data/new.csv").read_text() == "a,b\n1,2\n"
    data_repo.store.delete(data_repo.read_manifest("data").entries["new.csv"].sha256)  # type: ignore[arg-type]
    proc = run_folio(data_repo.root, "pull")
    assert proc.returncode == 1 and "no remote configured" in proc.stderr
