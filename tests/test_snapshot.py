"""Snapshots against real git: the commit, its trailers, immutability, tags / log / show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio.errors import FolioError, InvalidNameError, TagExistsError, UnknownRevisionError
from folio.git import SNAPSHOTS_PREFIX
from folio.ops.snapshots import read_manifest_files
from folio.repo import Repo


def _commit_all(root: Path, message: str = "v1") -> None:
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", message)


def _tracked(repo: Repo) -> None:
    write(repo.root / "data/a.csv", "x,y\n1,2\n")
    write(repo.root / "data/sub/b.json", '{"k": 1}')
    write(repo.root / "model.bin", b"\x00\x01" * 100)
    repo.add(["data", "model.bin"])


def test_snapshot_is_a_commit_of_the_manifests_with_trailers(repo: Repo) -> None:
    _tracked(repo)
    _commit_all(repo.root)
    head = git(repo.root, "rev-parse", "HEAD").stdout.strip()
    info = repo.snapshot("v1", "first data")
    ref = SNAPSHOTS_PREFIX + "v1"
    assert git(repo.root, "rev-parse", ref).stdout.strip() == info.commit
    listed = git(repo.root, "ls-tree", "-r", "--name-only", ref).stdout.split()
    assert sorted(listed) == sorted(read_manifest_files(repo)) == ["data.folio", "model.bin.folio"]
    body = git(repo.root, "log", "-1", "--format=%B", ref).stdout
    assert body.startswith("first data\n\n")
    trailers = dict(line.split(": ", 1) for line in body.strip().splitlines()[2:])
    assert trailers == {"Folio-Kind": "snapshot", "Folio-Name": "v1", "Folio-Code-Commit": head,
                        "Folio-Code-Dirty": "false", "Folio-Files": "3",
                        "Folio-Bytes": str(8 + 8 + 200)}
    assert (info.code_commit, info.code_dirty, info.files, info.parent) == (head, False, 3, None)
    # the second snapshot's parent is the first
    assert repo.snapshot("v2").parent == info.commit


def test_snapshot_leaves_index_head_branches_and_git_status_alone(repo: Repo) -> None:
    _tracked(repo)
    _commit_all(repo.root)
    index = (repo.root / ".git/index").read_bytes()
    refs = git(repo.root, "for-each-ref", "refs/heads", "refs/tags").stdout
    head = (repo.root / ".git/HEAD").read_text()
    repo.snapshot("clean")
    assert git(repo.root, "status", "--porcelain", "--untracked-files=all").stdout == ""
    assert (repo.root / ".git/index").read_bytes() == index
    assert (repo.root / ".git/HEAD").read_text() == head
    assert git(repo.root, "for-each-ref", "refs/heads", "refs/tags").stdout == refs


def test_snapshot_captures_edits_nobody_added(repo: Repo) -> None:
    _tracked(repo)
    _commit_all(repo.root)
    write(repo.root / "data/a.csv", "x,y\n1,3\n")
    write(repo.root / "data/new.txt", "n")
    info = repo.snapshot("edited")
    assert info.files == 4
    [captured] = [r for r in info.captured if r.changed]
    assert (captured.target, captured.added, captured.modified) == ("data", ["new.txt"],
                                                                    ["a.csv"])
    # the working manifest now says so, and git shows exactly that file as modified
    assert git(repo.root, "status", "--porcelain").stdout == " M .folio/manifests/data.folio\n"
    side = repo.resolve("edited")
    assert side.manifests["data"].entries == repo.read_manifest("data").entries


def test_dirty_code_and_unborn_head_are_recorded(repo: Repo) -> None:
    _tracked(repo)
    info = repo.snapshot("unborn")
    assert info.code_commit is None and info.code_label == "-"
    write(repo.root / "train.py", "print(1)\n")
    _commit_all(repo.root)
    write(repo.root / "train.py", "print(2)\n")
    dirty = repo.snapshot("dirty")
    assert dirty.code_dirty and dirty.code_label.endswith("-dirty")


def test_hash_only_target_stays_hash_only(repo: Repo) -> None:
    write(repo.root / "big/f.bin", "payload")
    repo.add(["big"], store_copy=False)
    write(repo.root / "big/g.bin", "second")
    repo.snapshot("h")
    manifest = repo.resolve("h").manifests["big"]
    assert [e.stored for e in manifest.sorted_entries()] == [False, False]
    assert not any(repo.store.has(e.sha256) for e in manifest.entries.values())


def test_existing_tag_is_refused_before_any_work(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a", "1")
    run_folio(git_repo, "add", "data", check=True)
    run_folio(git_repo, "snapshot", "v1", check=True)
    manifest = (git_repo / ".folio/manifests/data.folio").read_bytes()
    write(git_repo / "data/a", "2")
    proc = run_folio(git_repo, "snapshot", "v1")
    assert proc.returncode == 1
    assert proc.stderr == ("folio: error: tag 'v1' already exists; tags are immutable "
                           "(delete it first with `folio tags --delete v1`)\n")
    assert (git_repo / ".folio/manifests/data.folio").read_bytes() == manifest


BAD_NAMES = [
    ("a..b", "contains '..'"), ("has space", "contains a space"), ("x.lock", "ends with '.lock'"),
    ("-x", "may not start with '-'"), ("a~1", "contains '~'"), ("a:b", "contains ':'"),
    (".hidden", "starts with '.'"), ("a/", "may not start or end with '/'"),
]


def test_bad_tag_names_exit_1_with_one_line(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a", "1")
    run_folio(git_repo, "add", "data", check=True)
    for name, reason in BAD_NAMES:
        proc = run_folio(git_repo, "snapshot", "--", name)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith(f"folio: error: invalid tag name {name!r}: ")
        assert reason in proc.stderr and proc.stderr.count("\n") == 1
    assert git(git_repo, "for-each-ref", "refs/folio").stdout == ""


def test_bad_names_and_empty_repos_refused_through_the_api(repo: Repo) -> None:
    with pytest.raises(FolioError, match="nothing to snapshot"):
        repo.snapshot("empty")
    write(repo.root / "d/a", "1")
    repo.add(["d"])
    with pytest.raises(InvalidNameError):
        repo.snapshot("bad name")
    repo.snapshot("ok/nested-name_1.0")
    with pytest.raises(TagExistsError):
        repo.snapshot("ok/nested-name_1.0")
    assert [t.tag for t in repo.tags()] == ["ok/nested-name_1.0"]


def test_tags_log_show_and_delete(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a.csv", "1")
    write(git_repo / "models/m.bin", "m")
    run_folio(git_repo, "add", "data", "models", check=True)
    for tag in ("zeta", "alpha", "mid"):  # made within one second: order by parent chain
        write(git_repo / "data/a.csv", tag)
        run_folio(git_repo, "snapshot", tag, "-m", f"{tag} message\n\nbody line", check=True)
    tags = json.loads(run_folio(git_repo, "tags", "--json", check=True).stdout)
    assert [t["tag"] for t in tags] == ["alpha", "mid", "zeta"]
    assert set(tags[0]) == {"tag", "commit", "date", "time", "code_commit", "code_dirty",
                            "files", "bytes", "message", "author", "parent"}
    log = json.loads(run_folio(git_repo, "log", "--json", check=True).stdout)
    assert [t["tag"] for t in log] == ["mid", "alpha", "zeta"]
    assert log[0]["parent"] == log[1]["commit"] and log[0]["message"] == "mid message\n\nbody line"
    text = run_folio(git_repo, "tags", check=True).stdout.splitlines()
    assert text[0].split() == ["TAG", "DATE", "CODE", "FILES", "SIZE", "MESSAGE"]
    assert text[1].startswith("alpha ") and text[1].endswith("alpha message")
    assert run_folio(git_repo, "log", "-n", "1", check=True).stdout.startswith("snapshot mid")
    shown = json.loads(run_folio(git_repo, "show", "alpha", "--json", check=True).stdout)
    assert shown["targets"] == [
        {"target": "data", "kind": "dir", "files": 1, "bytes": 5, "hash_only": 0},
        {"target": "models", "kind": "dir", "files": 1, "bytes": 1, "hash_only": 0}]
    assert "models  dir" in run_folio(git_repo, "show", "alpha", check=True).stdout
    proc = run_folio(git_repo, "tags", "--delete", "alpha")
    assert proc.returncode == 0 and proc.stdout.startswith("Deleted tag alpha (was ")
    assert [t["tag"] for t in json.loads(run_folio(git_repo, "tags", "--json").stdout)] == \
        ["mid", "zeta"]
    run_folio(git_repo, "snapshot", "alpha", check=True)  # the name is free again
    missing = run_folio(git_repo, "tags", "--delete", "nope")
    assert missing.returncode == 1 and "no snapshot tag 'nope'" in missing.stderr
    assert "no snapshot tag" in run_folio(git_repo, "show", "nope").stderr


def test_log_and_show_count_files_in_words(git_repo: Path) -> None:
    # The data line once printed the bare count ("Data:    2, 2 B"), not docs/cli.md's words.
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a.csv", "1")
    write(git_repo / "data/b.csv", "2")
    run_folio(git_repo, "add", "data", check=True)
    made = run_folio(git_repo, "snapshot", "v1", check=True).stdout
    assert "Snapshot v1: 2 files, 2 B, code " in made
    for command in ("log", "show"):
        lines = run_folio(git_repo, command, *(["v1"] if command == "show" else []),
                          check=True).stdout.splitlines()
        assert "Data:    2 files, 2 B" in lines, command
    write(git_repo / "data/b.csv", "")
    (git_repo / "data/a.csv").unlink()
    run_folio(git_repo, "snapshot", "v2", check=True)
    assert "Data:    1 file, 0 B" in run_folio(git_repo, "show", "v2", check=True).stdout


def test_show_of_unknown_tag_raises(repo: Repo) -> None:
    with pytest.raises(UnknownRevisionError, match="no snapshot tag 'x'"):
        repo.show("x")
    assert repo.tags() == [] and repo.log() == []
