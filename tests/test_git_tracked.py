"""A file git already tracks is not added to folio behind git's back (DVC refuses too)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git, run_folio, write


def test_adding_what_git_tracks_is_refused_with_the_way_to_hand_it_over(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a.csv", "a\n")
    git(git_repo, "add", "data/a.csv")
    proc = run_folio(git_repo, "add", "data")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "data: is tracked by git" in proc.stderr
    assert "git rm -r --cached data" in proc.stderr
    assert not (git_repo / ".folio/manifests/data.folio").exists()
    git(git_repo, "rm", "-r", "-q", "--cached", "data")  # as the message says
    run_folio(git_repo, "add", "data", check=True)
    assert (git_repo / "data/a.csv").read_text() == "a\n"
    assert "data/a.csv" not in git(git_repo, "status", "--porcelain").stdout


def test_a_name_that_looks_like_a_pattern_is_taken_literally(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "x/a.csv", "tracked by git\n")
    git(git_repo, "add", "x")
    write(git_repo / "x*", "mine\n")  # `git ls-files x*` would match x/a.csv
    run_folio(git_repo, "add", "x*", check=True)
