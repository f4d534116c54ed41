"""Hooks in a team: branch switches keep local edits as git does (issue 13, item 6), and
checkout and pull fetch the data they need (item 7), also through the pre-commit framework."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

PROJECT = Path(__file__).resolve().parent.parent


def _commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message)


@pytest.fixture
def branches(git_repo: Path) -> Path:
    """main: d/same, d/diff=main, d/other=main; exp: d/diff=exp, d/other=exp; hooks on."""
    root = git_repo
    run_folio(root, "init", check=True)
    for name, data in (("same", "same\n"), ("diff", "main\n"), ("other", "main other\n")):
        write(root / "d" / name, data)
    run_folio(root, "add", "d", check=True)
    _commit(root, "main data")
    git(root, "checkout", "-q", "-b", "exp")
    write(root / "d/diff", "exp\n")
    write(root / "d/other", "exp other\n")
    run_folio(root, "add", "d", check=True)
    _commit(root, "exp data")
    git(root, "checkout", "-q", "main")
    run_folio(root, "checkout", check=True)
    run_folio(root, "install-hooks", check=True)
    return root


def test_an_edit_to_a_file_the_switch_leaves_is_kept_and_the_rest_switches(
        branches: Path) -> None:
    write(branches / "d/same", "my local edit\n")
    switched = git(branches, "checkout", "exp")
    assert "warning" not in switched.stderr, switched.stderr
    assert (branches / "d/same").read_text() == "my local edit\n"
    assert (branches / "d/diff").read_text() == "exp\n"
    assert (branches / "d/other").read_text() == "exp other\n"


def test_an_edit_to_a_file_the_switch_changes_is_kept_with_one_warning(branches: Path) -> None:
    write(branches / "d/diff", "my edit, never added\n")
    switched = git(branches, "checkout", "exp")
    assert switched.returncode == 0
    warnings = [ln for ln in switched.stderr.splitlines() if "warning" in ln]
    assert warnings == ["folio: warning: post-checkout: 1 file with local changes kept, not "
                        "switched: d/diff; `folio checkout --force -- PATH` takes the "
                        "branch's version (yours goes to the recovery log)"], switched.stderr
    assert (branches / "d/diff").read_text() == "my edit, never added\n"
    assert (branches / "d/other").read_text() == "exp other\n"
    run_folio(branches, "checkout", "--force", "--", "d/diff", check=True)
    assert (branches / "d/diff").read_text() == "exp\n"


def _team(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A bare repo, a directory remote, and two clones of both (folio init in each)."""
    bare, store = tmp_path / "origin.git", tmp_path / "store"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    store.mkdir()
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(bare), str(alice))
    run_folio(alice, "init", check=True)
    run_folio(alice, "remote", "add", "store", str(store), check=True)
    write(alice / "d/a.csv", "a1\n")
    run_folio(alice, "add", "d", check=True)
    _commit(alice, "data v1")
    run_folio(alice, "push", check=True)
    git(alice, "push", "-q", "origin", "main")
    git(tmp_path, "clone", "-q", str(bare), str(bob))
    run_folio(bob, "init", check=True)
    run_folio(bob, "accept", check=True)
    run_folio(bob, "pull", check=True)
    assert (bob / "d/a.csv").read_text() == "a1\n"
    return alice, bob, store


def _teammate_pushes_new_data(alice: Path) -> None:
    write(alice / "d/a.csv", "a2, from alice\n")
    write(alice / "d/b.csv", "new file\n")
    run_folio(alice, "add", "d", check=True)
    _commit(alice, "data v2")
    run_folio(alice, "push", check=True)
    git(alice, "push", "-q", "origin", "main")


def test_git_pull_with_hooks_fetches_the_new_data_and_checks_it_out(tmp_path: Path) -> None:
    alice, bob, _ = _team(tmp_path)
    run_folio(bob, "install-hooks", check=True)
    _teammate_pushes_new_data(alice)
    pulled = git(bob, "pull", "origin", "main")
    assert "warning" not in pulled.stderr, pulled.stderr
    assert (bob / "d/a.csv").read_text() == "a2, from alice\n"
    assert (bob / "d/b.csv").read_text() == "new file\n"
    status = run_folio(bob, "status", "--json", check=True).stdout
    assert "modified" not in status or '"modified": []' in status


def test_a_failed_fetch_is_one_warning_and_the_rest_is_checked_out(tmp_path: Path) -> None:
    alice, bob, store = _team(tmp_path)
    run_folio(bob, "install-hooks", check=True)
    _teammate_pushes_new_data(alice)
    shutil.rmtree(store)
    store.mkdir()  # the remote lost the objects
    pulled = git(bob, "pull", "origin", "main")
    assert pulled.returncode == 0
    assert any("data not fetched from store" in ln for ln in pulled.stderr.splitlines())
    assert (bob / "d/a.csv").read_text() == "a1\n", "left as it was"


def test_hook_fetching_can_be_turned_off_in_this_clone(tmp_path: Path) -> None:
    alice, bob, _ = _team(tmp_path)
    run_folio(bob, "install-hooks", check=True)
    local = bob / ".git/folio/config.toml"
    local.write_text(local.read_text() + "\n[hooks]\nfetch = false\n")
    _teammate_pushes_new_data(alice)
    pulled = git(bob, "pull", "origin", "main")
    assert pulled.returncode == 0 and "fetched" not in pulled.stderr, pulled.stderr
    assert (bob / "d/a.csv").read_text() == "a1\n", "nothing was fetched, so nothing changed"
    [status] = json.loads(run_folio(bob, "status", "--json", check=True).stdout)["targets"]
    assert status["out_of_date"] == ["a.csv", "b.csv"] and status["modified"] == []


@pytest.mark.precommit
@pytest.mark.skipif(shutil.which("pre-commit") is None, reason="pre-commit is not installed")
def test_pre_commit_framework_post_checkout_and_post_merge_stages(tmp_path: Path) -> None:
    """The framework installs folio from this checkout (about 25 s) and runs its stages."""
    source = tmp_path / "folio-src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    git(source, "init", "-q", "-b", "main")
    _commit(source, "folio as it is")
    rev = git(source, "rev-parse", "HEAD").stdout.strip()

    alice, bob, _ = _team(tmp_path)
    config = (f"repos:\n- repo: {source}\n  rev: {rev}\n  hooks:\n"
              "  - id: folio-post-checkout\n  - id: folio-post-merge\n")
    write(bob / ".pre-commit-config.yaml", config)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    subprocess.run(["pre-commit", "install", "-t", "post-checkout", "-t", "post-merge"],
                   cwd=bob, env=env, check=True, capture_output=True)
    _teammate_pushes_new_data(alice)
    pulled = subprocess.run(["git", "pull", "origin", "main"], cwd=bob, env=env,
                            capture_output=True, text=True, timeout=600)
    assert pulled.returncode == 0, pulled.stderr
    assert (bob / "d/a.csv").read_text() == "a2, from alice\n", pulled.stdout + pulled.stderr
    assert (bob / "d/b.csv").read_text() == "new file\n"
    git(bob, "checkout", "-q", "-b", "old", "HEAD~1")
    env_switch = subprocess.run(["git", "checkout", "main"], cwd=bob, env=env,
                                capture_output=True, text=True, timeout=600)
    assert env_switch.returncode == 0
    git(bob, "checkout", "old", check=True)
    switched = subprocess.run(["git", "checkout", "old"], cwd=bob, env=env, text=True,
                              capture_output=True)
    assert switched.returncode == 0
    assert (bob / "d/a.csv").read_text() == "a1\n", switched.stdout + switched.stderr
    assert not (bob / "d/b.csv").exists()
