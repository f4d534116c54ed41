"""Partial transfers (issue 14): `folio pull/fetch [REV] -- PATH...` move only those paths'
objects and check out only them; the rest stays as it was. And the hints for missing
objects name the command that fetches them for that version.

Real git (a bare origin and `git clone`), a directory remote and moto's S3 server.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio.repo import Repo

pytest_plugins = ["s3server"]


def folio_json(cwd: Path, *args: str) -> dict:  # type: ignore[type-arg]
    cut = args.index("--") if "--" in args else len(args)  # options before the paths
    proc = run_folio(cwd, *args[:cut], "--json", *args[cut:])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def stored(root: Path) -> set[str]:
    """The object ids in a clone's local store."""
    base = root / ".git/folio/objects"
    return {p.parent.name + p.name for p in base.glob("*/*")} if base.exists() else set()


def sha(repo_root: Path, target: str, path: str) -> str:
    return Repo(repo_root).read_manifest(target).entries[path].sha256  # type: ignore[return-value]


@pytest.fixture
def origin(repo: Repo, tmp_path: Path) -> Path:
    """Big files in data/big, a small table, a model; v1 then a changed working version,
    committed and pushed (objects to ../nas, refs to a bare origin)."""
    root = repo.root
    rng = random.Random(7)
    for i in range(4):
        write(root / f"data/big/part{i}.bin", rng.randbytes(200_000 + i))
    write(root / "data/small/table.csv", "id,v\n1,a\n2,b\n")
    write(root / "data/small/notes.txt", "v1 notes")
    write(root / "model.json", '{"v": 1}')
    run_folio(root, "add", "data", "model.json", check=True)
    run_folio(root, "remote", "add", "nas", "../nas", check=True)
    run_folio(root, "snapshot", "v1", check=True)
    write(root / "data/small/table.csv", "id,v\n1,a\n2,b\n3,c\n")
    write(root / "data/small/notes.txt", "v2 notes")
    write(root / "model.json", '{"v": 2}')
    run_folio(root, "add", "data", "model.json", check=True)
    bare = publish(root, tmp_path / "origin.git")
    run_folio(root, "push", "--git", check=True)
    return bare


def publish(root: Path, bare: Path) -> Path:
    """Commit everything in ``root`` and push it to a new bare origin ``bare``."""
    git(bare.parent, "init", "-q", "--bare", "-b", "main", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "data")
    git(root, "push", "-q", "origin", "main")
    return bare


def clone_of(bare: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "-q", str(bare), str(dest))
    run_folio(dest, "accept", check=True)  # the committed data remote, once per clone
    return dest


@pytest.fixture
def clone(origin: Path, tmp_path: Path) -> Path:
    return clone_of(origin, tmp_path / "clone")


def test_pull_of_one_file_moves_only_its_object_and_writes_only_it(clone: Path,
                                                                    repo: Repo) -> None:
    result = folio_json(clone, "pull", "--", "data/small/table.csv")
    table = sha(repo.root, "data", "small/table.csv")
    assert result["moved"] == 1 and result["objects"] == 1
    assert result["moved_bytes"] == len("id,v\n1,a\n2,b\n3,c\n")
    assert stored(clone) == {table}
    assert result["checkout"]["written"] == ["data/small/table.csv"]
    assert (clone / "data/small/table.csv").read_text() == "id,v\n1,a\n2,b\n3,c\n"
    assert not (clone / "data/big").exists() and not (clone / "model.json").exists()
    # the rest is untouched and still fetchable whole afterwards
    full = folio_json(clone, "pull")
    assert full["moved"] == full["objects"] - 1 and full["skipped"] == 1
    assert (clone / "data/big/part3.bin").stat().st_size == 200_003


def test_pull_rev_of_a_directory_inside_a_target_leaves_the_rest_as_it_was(
        clone: Path, repo: Repo) -> None:
    run_folio(clone, "pull", "--", "data/small", "model.json", check=True)
    assert not (clone / "data/big").exists()
    write(clone / "model.json", '{"mine": true}')  # an edit outside the paths: kept
    result = folio_json(clone, "pull", "v1", "--", "data/small")
    assert result["moved"] == 2  # v1's table and notes: new objects; nothing else
    assert sorted(result["checkout"]["written"]) == ["data/small/notes.txt",
                                                     "data/small/table.csv"]
    assert (clone / "data/small/notes.txt").read_text() == "v1 notes"
    assert (clone / "data/small/table.csv").read_text() == "id,v\n1,a\n2,b\n"
    assert (clone / "model.json").read_text() == '{"mine": true}'
    assert not (clone / "data/big").exists()
    manifest = Repo(clone).read_manifest("data")  # v1's entries under data/small only
    assert manifest.entries["small/notes.txt"].size == len("v1 notes")
    assert manifest.entries["big/part0.bin"].size == 200_000  # the working entry, kept


def test_fetch_rev_of_paths_relative_to_the_cwd_fetches_without_checkout(
        clone: Path, repo: Repo) -> None:
    sub = clone / "data"
    sub.mkdir(exist_ok=True)
    result = folio_json(sub, "fetch", "v1", "--", "small/notes.txt", "../model.json")
    assert result["moved"] == 2 and result["checkout"] is None
    assert not (clone / "model.json").exists()
    assert len(stored(clone)) == 2
    # a whole target by name, and the version's paths are those the version names
    big = folio_json(clone, "fetch", "v1", "--", "data/big")
    assert big["moved"] == 4 and big["moved_bytes"] == sum(200_000 + i for i in range(4))


def test_a_path_no_manifest_of_the_version_names_is_one_line_exit_1(clone: Path) -> None:
    for args in (("pull", "--", "data/nothing.csv"), ("fetch", "v1", "--", "data/small/x"),
                 ("pull", "v1", "--", "other")):
        proc = run_folio(clone, *args)
        assert proc.returncode == 1, args
        assert proc.stderr.count("\n") == 1 and "is named by no manifest of" in proc.stderr
    assert stored(clone) == set()
    usage = run_folio(clone, "fetch", "--all", "--", "data/small")
    assert usage.returncode == 2


def test_partial_pull_over_s3_moves_fewer_bytes_and_requests(s3, repo: Repo,  # type: ignore[no-untyped-def]
                                                              tmp_path: Path) -> None:
    root = repo.root
    rng = random.Random(3)
    for i in range(3):
        write(root / f"big/p{i}.bin", rng.randbytes(1 << 20))
    write(root / "small.csv", "a,b\n" * 1000)
    run_folio(root, "add", "big", "small.csv", check=True)
    run_folio(root, "remote", "add", "s3", s3.url(), "--endpoint", s3.endpoint,
              "--allow-http", check=True)
    run_folio(root, "push", check=True)
    bare = publish(root, tmp_path / "o.git")
    one, two = clone_of(bare, tmp_path / "one"), clone_of(bare, tmp_path / "two")
    part = folio_json(one, "pull", "--", "small.csv")
    full = folio_json(two, "pull")
    assert part["moved_bytes"] == 4000 and full["moved_bytes"] == 3 * (1 << 20) + 4000
    assert part["requests"] < full["requests"]
    assert (one / "small.csv").read_text() == (two / "small.csv").read_text()
    assert not (one / "big").exists()


def test_missing_objects_name_the_pull_that_brings_them(origin: Path, clone: Path) -> None:
    run_folio(clone, "fetch", "--", "model.json", check=True)  # refs and one object
    refused = run_folio(clone, "checkout", "v1", "--", "data/small")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "run `folio pull v1 -- data/small` to fetch them" in refused.stderr
    hinted = run_folio(clone, "pull", "v1", "--", "data/small")  # exactly what it said
    assert hinted.returncode == 0, hinted.stderr
    assert (clone / "data/small/notes.txt").read_text() == "v1 notes"
    whole = run_folio(clone, "checkout", "HEAD")
    assert whole.returncode == 1 and "run `folio pull HEAD` to fetch them" in whole.stderr
    assert run_folio(clone, "pull", "HEAD").returncode == 0
