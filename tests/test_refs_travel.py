"""Refs travel with the data (issue 14): `folio pull` / `fetch` bring refs/folio/* from the
git remote, fresh-clone listings say what origin has, tag deletion can be pushed, and a tag
name made in two clones is one warning line, never a fetch that fails forever.

Real git throughout: a bare origin made by `git init --bare`, clones made by `git clone`,
a directory data remote, the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write
from tests.test_partial_transfer import clone_of as clone

from folio.repo import Repo


def refs(root: Path, pattern: str = "refs/folio") -> dict[str, str]:
    """ref -> sha under ``pattern``, as git itself sees them."""
    out = git(root, "for-each-ref", "--format=%(refname) %(objectname)", pattern).stdout
    return dict(line.split(" ") for line in out.splitlines())


@pytest.fixture
def origin(repo: Repo, tmp_path: Path) -> Path:
    """``repo`` with data, snapshots v1 and v2 and one run, all pushed to a bare origin
    (objects to the directory remote ../nas, refs/folio/* with `folio push --git`)."""
    root = repo.root
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    write(root / "data/a.csv", "x\n1\n")
    write(root / "data/b.bin", b"\0" * 5000)
    run_folio(root, "add", "data", check=True)
    run_folio(root, "remote", "add", "nas", "../nas", check=True)
    run_folio(root, "snapshot", "v1", check=True)
    write(root / "data/a.csv", "x\n2\n")
    run_folio(root, "snapshot", "v2", check=True)
    run_folio(root, "run", "--put", "out.txt", "--", sys.executable, "-c",
              "open('out.txt', 'w').write('made')", check=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "data")
    git(root, "push", "-q", "origin", "main")
    run_folio(root, "push", "--git", check=True)
    return bare


def test_a_fresh_clone_lists_what_origin_has_and_fetch_brings_it(origin: Path,
                                                                 tmp_path: Path) -> None:
    b = clone(origin, tmp_path / "b")
    assert refs(b) == {}
    out = run_folio(b, "tags", check=True).stdout
    assert out == "No snapshots here; origin has 2: `folio fetch` brings them.\n"
    out = run_folio(b, "runs", check=True).stdout
    assert out == "No runs here; origin has 1: `folio fetch` brings it.\n"
    assert json.loads(run_folio(b, "tags", "--json", check=True).stdout) == []

    out = run_folio(b, "fetch", check=True).stdout
    run_id = next(r for r in refs(origin) if "/runs/" in r).rsplit("/", 1)[1]
    assert (f"Fetched refs/folio/* from git remote origin: 3 new (run:{run_id}, v1, v2)."
            in out)
    assert {k: v for k, v in refs(b).items()} == refs(origin, "refs/folio")
    tags = json.loads(run_folio(b, "tags", "--json", check=True).stdout)
    assert [t["tag"] for t in tags] == ["v1", "v2"]  # the mirror namespace is no listing
    runs = json.loads(run_folio(b, "runs", "--json", check=True).stdout)
    assert [r["id"] for r in runs] == [run_id]
    # the mirror of origin's refs is hidden under refs/folio-remotes/, outside refs/folio/
    assert set(refs(b, "refs/folio-remotes")) == {
        r.replace("refs/folio/", "refs/folio-remotes/origin/") for r in refs(origin)}
    # a second fetch brings nothing new and says nothing about refs
    again = run_folio(b, "fetch", check=True)
    assert "refs/folio" not in again.stdout and again.stderr == ""
    # the snapshot fetched by a bare fetch is usable at once: pull it
    run_folio(b, "pull", "v1", check=True)
    assert (b / "data/a.csv").read_text() == "x\n1\n"


def test_pull_brings_refs_and_no_refs_skips_them(origin: Path, tmp_path: Path) -> None:
    b = clone(origin, tmp_path / "b")
    out = run_folio(b, "pull", "--no-refs", check=True).stdout
    assert "refs/folio" not in out and refs(b) == {}
    assert (b / "data/a.csv").read_text() == "x\n2\n"
    run_folio(b, "fetch", "--no-refs", check=True)
    assert refs(b) == {}
    out = run_folio(b, "pull", check=True).stdout
    assert "Fetched refs/folio/* from git remote origin: 3 new" in out
    assert set(refs(b)) == set(refs(origin))
    # fetch --all now has every snapshot's objects to fetch, and they all arrive
    run_folio(b, "fetch", "--all", check=True)
    verify = json.loads(run_folio(b, "verify", "--json", check=True).stdout)
    assert verify["not_local"] == []


def test_without_a_git_remote_listings_stay_local_and_fetch_needs_no_git(
        repo: Repo, tmp_path: Path) -> None:
    root = repo.root
    start = time.monotonic()
    assert run_folio(root, "tags", check=True).stdout.startswith("No snapshots yet")
    assert run_folio(root, "runs", check=True).stdout.startswith("No runs yet")
    assert time.monotonic() - start < 10
    write(root / "f.txt", "x")
    run_folio(root, "add", "f.txt", check=True)
    proc = run_folio(root, "fetch", check=True)  # no origin: nothing asked, nothing said
    assert proc.stderr == "" and "refs/folio" not in proc.stdout
    assert refs(root, "refs/folio-remotes") == {}


def test_an_unreachable_git_remote_is_a_warning_and_the_data_still_moves(
        origin: Path, tmp_path: Path) -> None:
    b = clone(origin, tmp_path / "b")
    git(b, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    assert run_folio(b, "tags", check=True).stdout.startswith("No snapshots yet")
    proc = run_folio(b, "pull")
    assert proc.returncode == 0, proc.stderr
    warning = proc.stderr.splitlines()
    assert len(warning) == 1 and warning[0].startswith(
        "folio: warning: refs/folio/* not fetched from git remote origin: git fetch failed")
    assert (b / "data/a.csv").read_text() == "x\n2\n"
    bad = run_folio(b, "fetch", "--git-remote", "nope")
    assert bad.returncode == 0 and "from git remote nope" in bad.stderr
    unknown = run_folio(b, "pull", "v1")  # needs the refs: one line naming both problems
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "'v1'" in unknown.stderr and "git remote origin failed" in unknown.stderr


def test_a_tag_deleted_only_here_comes_back_and_delete_push_removes_it_there(
        origin: Path, tmp_path: Path) -> None:
    b = clone(origin, tmp_path / "b")
    run_folio(b, "fetch", check=True)
    assert "Deleted tag v1 (was" in run_folio(b, "tags", "--delete", "v1", check=True).stdout
    out = run_folio(b, "fetch", check=True).stdout  # origin still has it: it comes back
    assert "1 new (v1)" in out and "refs/folio/snapshots/v1" in refs(b)

    out = run_folio(b, "tags", "--delete", "v1", "--push", check=True).stdout
    assert "Deleted tag v1 here and on git remote origin (was" in out
    assert "refs/folio/snapshots/v1" not in refs(origin)
    assert "refs/folio/snapshots/v1" not in refs(b)
    assert "refs/folio-remotes/origin/snapshots/v1" not in refs(b, "refs/folio-remotes")
    run_folio(b, "fetch", check=True)
    assert "refs/folio/snapshots/v1" not in refs(b)  # stays gone
    assert "refs/folio/snapshots/v2" in refs(b)

    # deleted here first, then the deletion pushed: the mirror remembers what origin had
    run_folio(b, "tags", "--delete", "v2", check=True)
    out = run_folio(b, "tags", "--delete", "v2", "--push", check=True).stdout
    assert "on git remote origin (it was not here)" in out
    assert "refs/folio/snapshots/v2" not in refs(origin)
    gone = run_folio(b, "tags", "--delete", "v2", "--push")
    assert gone.returncode == 1 and gone.stderr == (
        "folio: error: no snapshot tag 'v2' here nor on git remote origin\n")


def test_a_tag_made_in_two_clones_is_one_line_and_the_rest_still_arrives(
        origin: Path, repo: Repo, tmp_path: Path) -> None:
    a = repo.root
    b = clone(origin, tmp_path / "b")
    run_folio(b, "pull", "--no-refs", check=True)
    write(b / "data/a.csv", "x\nfrom b\n")
    run_folio(b, "snapshot", "best", check=True)  # b's "best"
    write(a / "data/a.csv", "x\nfrom a\n")
    run_folio(a, "snapshot", "best", check=True)  # a's "best", pushed first
    run_folio(a, "push", "--git", check=True)
    mine, theirs = refs(b)["refs/folio/snapshots/best"], refs(a)["refs/folio/snapshots/best"]
    assert mine != theirs

    for _ in range(2):  # never fails, not the first time nor any later one
        proc = run_folio(b, "fetch")
        assert proc.returncode == 0, proc.stderr
        lines = proc.stderr.splitlines()
        assert lines == [
            f"folio: warning: tag best differs (here {mine[:12]}, on git remote origin "
            f"{theirs[:12]}): yours is kept, tags are immutable; `folio tags --rename best "
            "NEW` keeps yours as NEW and the next `folio fetch` brings origin's best"]
        assert refs(b)["refs/folio/snapshots/best"] == mine  # never overwritten
        assert "refs/folio/snapshots/v1" in refs(b)  # the other refs arrived
    assert "Nothing to fetch" in proc.stdout or "Fetched" in proc.stdout

    # deleting "best" on origin from b would delete a's: refused, nothing deleted
    refused = run_folio(b, "tags", "--delete", "best", "--push")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "someone else's tag" in refused.stderr
    assert refs(origin)["refs/folio/snapshots/best"] == theirs
    assert refs(b)["refs/folio/snapshots/best"] == mine

    out = run_folio(b, "tags", "--rename", "best", "best-b", check=True).stdout
    assert out == f"Renamed tag best to best-b ({mine[:7]})\n"
    proc = run_folio(b, "fetch", check=True)
    assert proc.stderr == "" and "1 new (best)" in proc.stdout
    assert refs(b)["refs/folio/snapshots/best"] == theirs
    assert refs(b)["refs/folio/snapshots/best-b"] == mine


def test_tags_options_refuse_bad_input(origin: Path, repo: Repo) -> None:
    root = repo.root
    assert run_folio(root, "tags", "--push").returncode == 2
    assert run_folio(root, "tags", "--delete", "v1", "--rename", "v1", "x").returncode == 2
    taken = run_folio(root, "tags", "--rename", "v1", "v2")
    assert taken.returncode == 1
    assert taken.stderr == "folio: error: tag 'v2' already exists; tags are immutable\n"
    bad = run_folio(root, "tags", "--rename", "v1", "a..b")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    missing = run_folio(root, "tags", "--rename", "nope", "x")
    assert missing.returncode == 1 and "'nope'" in missing.stderr
    assert set(refs(root)) == set(refs(origin))  # nothing renamed or deleted
