"""Git hooks and pre-commit hooks, triggered the way users trigger them: real `git checkout`,
`git merge`, `git commit` and `git push` (to a bare repository), and the real pre-commit
framework installing this repository's `.pre-commit-hooks.yaml`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio.ops.hooks import HOOKS, MARKER, pre_push, render
from folio.repo import Repo

PROJECT = Path(__file__).resolve().parent.parent
USER_HOOK = '#!/bin/sh\necho "user $(basename "$0") $*" >> "$(git rev-parse --git-dir)/user.log"\n'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _user_hook(directory: Path, name: str, body: str = USER_HOOK) -> Path:
    path = directory / name
    write(path, body)
    path.chmod(0o755)
    return path


def _commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message)


@pytest.fixture
def data_repo(git_repo: Path) -> Path:
    """main has data/x.csv = v1; branch exp has v2 (both committed as manifests)."""
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/x.csv", "v1\n")
    run_folio(git_repo, "add", "data", check=True)
    _commit(git_repo, "v1")
    git(git_repo, "checkout", "-q", "-b", "exp")
    write(git_repo / "data/x.csv", "v2 longer\n")
    run_folio(git_repo, "add", "data", check=True)
    _commit(git_repo, "v2")
    git(git_repo, "checkout", "-q", "main")  # no hooks yet: data stays v2 on disk
    run_folio(git_repo, "checkout", check=True)
    assert (git_repo / "data/x.csv").read_text() == "v1\n"
    return git_repo


def test_plain_hooks_in_the_repository_are_what_install_writes() -> None:
    for name in HOOKS:
        path = PROJECT / "hooks" / name
        assert path.read_text() == render(name), f"hooks/{name} is out of date"
        assert os.access(path, os.X_OK)
        assert subprocess.run(["sh", "-n", str(path)]).returncode == 0
    yaml = pytest.importorskip("yaml")
    hooks = {h["id"]: h for h in yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"folio-capture", "folio-check", "folio-post-checkout",
                          "folio-post-merge"}
    assert hooks["folio-capture"]["entry"] == "folio capture"
    assert hooks["folio-capture"]["pass_filenames"] is False
    assert hooks["folio-check"]["entry"] == "folio check"
    assert all(h["language"] == "python" and h["require_serial"] for h in hooks.values())


def test_install_chains_checkout_follows_and_uninstall_restores(data_repo: Path) -> None:
    hooks_dir = data_repo / ".git/hooks"
    original = _user_hook(hooks_dir, "post-checkout").read_bytes()
    before = sorted(p.name for p in hooks_dir.iterdir())
    proc = run_folio(data_repo, "install-hooks", check=True)
    assert "post-checkout: installed; your hook now runs first from post-checkout.local" \
        in proc.stdout
    assert (hooks_dir / "post-checkout.local").read_bytes() == original
    assert (hooks_dir / "post-checkout").read_text().startswith("#!/bin/sh\n" + MARKER)

    switched = git(data_repo, "checkout", "exp")
    assert (data_repo / "data/x.csv").read_text() == "v2 longer\n"
    assert "folio: post-checkout: data checked out (1 written, 0 deleted)" in switched.stderr
    log = (data_repo / ".git/user.log").read_text().splitlines()
    assert log[-1].startswith("user post-checkout.local ") and log[-1].endswith(" 1")
    git(data_repo, "checkout", "main")
    assert (data_repo / "data/x.csv").read_text() == "v1\n"

    again = run_folio(data_repo, "install-hooks", check=True).stdout
    assert "post-checkout: updated" in again and (hooks_dir / "post-checkout.local").exists()

    gone = run_folio(data_repo, "install-hooks", "--uninstall", check=True).stdout
    assert "post-checkout: removed; your hook is back in place" in gone
    assert sorted(p.name for p in hooks_dir.iterdir()) == before
    assert (hooks_dir / "post-checkout").read_bytes() == original
    git(data_repo, "checkout", "exp")
    assert (data_repo / "data/x.csv").read_text() == "v1\n", "no folio hook any more"
    assert (data_repo / ".git/user.log").read_text().splitlines()[-1].startswith(
        "user post-checkout ")
    assert "not installed" in run_folio(data_repo, "install-hooks", "--uninstall").stdout


def test_git_checkout_away_from_a_target_removes_its_data(data_repo: Path) -> None:
    """A target that only the old commit tracks leaves no files behind (they are stored)."""
    run_folio(data_repo, "install-hooks", check=True)
    git(data_repo, "checkout", "-q", "exp")
    write(data_repo / "models/m.bin", "weights")
    run_folio(data_repo, "add", "models", check=True)
    _commit(data_repo, "add models")
    switched = git(data_repo, "checkout", "main")
    assert not (data_repo / "models/m.bin").exists()
    assert "1 deleted" in switched.stderr
    assert git(data_repo, "status", "--porcelain").stdout == ""
    git(data_repo, "checkout", "-q", "exp")  # and back: restored from the store
    assert (data_repo / "models/m.bin").read_text() == "weights"
    write(data_repo / "models/m.bin", "edited, never stored")
    git(data_repo, "checkout", "-q", "-f", "main")  # git lets go; folio keeps the edit
    assert (data_repo / "models/m.bin").read_text() == "edited, never stored"


def test_install_refuses_when_it_cannot_chain(data_repo: Path) -> None:
    hooks_dir = data_repo / ".git/hooks"
    _user_hook(hooks_dir, "pre-push")
    _user_hook(hooks_dir, "pre-push.local")
    proc = run_folio(data_repo, "install-hooks")
    assert proc.returncode == 1 and "pre-push.local exists too" in proc.stderr
    assert not (hooks_dir / "post-checkout").exists(), "nothing installed on refusal"
    assert run_folio(data_repo, "install-hooks", "nope").returncode == 1


def test_checkout_problems_are_a_warning_never_a_failed_git_operation(data_repo: Path) -> None:
    run_folio(data_repo, "install-hooks", "post-checkout", check=True)
    write(data_repo / "data/x.csv", "unsaved edit\n")
    switched = git(data_repo, "checkout", "exp")
    assert switched.returncode == 0
    assert "folio: warning: post-checkout: 1 file with local changes kept" in switched.stderr
    assert (data_repo / "data/x.csv").read_text() == "unsaved edit\n", "nothing lost"
    # A file checkout (flag 0) does not touch data.
    write(data_repo / "notes.txt", "n")
    _commit(data_repo, "notes")
    write(data_repo / "notes.txt", "changed")
    assert "folio" not in git(data_repo, "checkout", "--", "notes.txt").stderr


def test_hooks_are_quiet_where_folio_is_not_initialised(git_repo: Path) -> None:
    run_folio(git_repo, "install-hooks", check=True)
    write(git_repo / "a.txt", "a")
    git(git_repo, "add", "a.txt")
    committed = git(git_repo, "commit", "-q", "-m", "a")
    switched = git(git_repo, "checkout", "-b", "other")
    assert committed.returncode == 0 and switched.returncode == 0
    assert "folio" not in committed.stderr + switched.stderr


def test_core_hooks_path_is_respected(data_repo: Path) -> None:
    git(data_repo, "config", "core.hooksPath", "githooks")
    proc = run_folio(data_repo, "install-hooks", "post-checkout", check=True)
    assert str(data_repo / "githooks/post-checkout") in proc.stdout
    assert not (data_repo / ".git/hooks/post-checkout").exists()
    git(data_repo, "checkout", "exp")
    assert (data_repo / "data/x.csv").read_text() == "v2 longer\n"


def test_post_merge_brings_the_merged_data(data_repo: Path) -> None:
    run_folio(data_repo, "install-hooks", "post-merge", check=True)
    merged = git(data_repo, "merge", "--ff-only", "exp")
    assert merged.returncode == 0
    assert (data_repo / "data/x.csv").read_text() == "v2 longer\n"


def _configure_capture(root: Path, outputs: list[str]) -> None:
    config = root / ".folio/config.toml"
    config.write_text(config.read_text().replace("outputs = []",
                                                 f"outputs = {json.dumps(outputs)}"))


def test_pre_commit_hook_captures_then_checks(data_repo: Path) -> None:
    _configure_capture(data_repo, ["results/"])
    _commit(data_repo, "capture config")
    hooks_dir = data_repo / ".git/hooks"
    _user_hook(hooks_dir, "pre-commit", '#!/bin/sh\n[ ! -e BLOCK ] || { echo blocked >&2; '
                                        'exit 3; }\n')
    run_folio(data_repo, "install-hooks", check=True)
    write(data_repo / "results/metrics.json", '{"acc": 1}')
    write(data_repo / "train.py", "print(1)\n")
    git(data_repo, "add", "train.py")
    refused = git(data_repo, "commit", "-m", "train", check=False)
    assert refused.returncode == 1
    assert ("folio captured 1 changed output; stage .gitignore .folio/manifests/results.folio "
            "and commit again") in refused.stderr
    git(data_repo, "add", ".gitignore", ".folio/manifests")
    assert git(data_repo, "commit", "-q", "-m", "train").returncode == 0

    # A staged manifest that names data no store holds is refused, naming it.
    write(data_repo / "data/y.csv", "y")
    run_folio(data_repo, "add", "data", check=True)
    Repo(data_repo).store.delete(_sha(b"y"))
    git(data_repo, "add", ".folio/manifests")
    refused = git(data_repo, "commit", "-m", "y", check=False)
    assert refused.returncode == 1
    assert ("folio: .folio/manifests/data.folio: 1 of 2 objects are not in the local store"
            in refused.stderr)
    write(data_repo / "data/y.csv", "y")  # the data again
    run_folio(data_repo, "add", "data", check=True)
    write(data_repo / "BLOCK", "")
    blocked = git(data_repo, "commit", "-m", "y", check=False)
    assert blocked.returncode == 1 and blocked.stderr == "blocked\n", "the user's hook gates"
    (data_repo / "BLOCK").unlink()
    assert git(data_repo, "commit", "-q", "-m", "y").returncode == 0


def test_pre_push_checks_the_objects_of_pushed_commits(data_repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(data_repo, "remote", "add", "origin", str(bare))
    _user_hook(data_repo / ".git/hooks", "pre-push",
               '#!/bin/sh\ncat >> "$(git rev-parse --git-dir)/pushed.log"\n')
    run_folio(data_repo, "install-hooks", "pre-push", check=True)
    assert git(data_repo, "push", "-q", "origin", "main").returncode == 0
    assert "refs/heads/main" in (data_repo / ".git/pushed.log").read_text(), "stdin chained"

    # exp's commit names v2; without v2 in any store, pushing it is refused.
    Repo(data_repo).store.delete(_sha(b"v2 longer\n"))
    refused = git(data_repo, "push", "origin", "exp", check=False)
    assert refused.returncode == 1
    assert "folio: pre-push: 1 object(s) named by the pushed manifests are not in the " \
           "local store" in refused.stderr
    assert git(bare, "for-each-ref", "refs/heads/exp").stdout == ""
    assert git(data_repo, "push", "-q", "--no-verify", "origin", "exp").returncode == 0

    # Run refs are checked too: their tree is the manifests tree.
    proc = run_folio(data_repo, "run", "--put", "out.txt", "--", "sh", "-c", "echo o > out.txt")
    assert proc.returncode == 0, proc.stderr
    assert git(data_repo, "push", "-q", "origin", "refs/folio/*").returncode == 0
    assert git(bare, "for-each-ref", "refs/folio/runs").stdout.strip()


def test_pre_push_sends_the_pushed_commits_objects_to_the_default_remote(
        data_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(data_repo)
    repo = Repo(data_repo)
    repo.add_remote("store", str(tmp_path / "remote"))
    wanted = {_sha(b"v1\n"), _sha(b"v2 longer\n")}
    assert repo.remote_has(wanted) == set()
    head = git(data_repo, "rev-parse", "exp").stdout.strip()
    line = f"refs/heads/exp {head} refs/heads/exp {'0' * 40}\n"
    assert pre_push("/nowhere", [line]) == 0
    assert Repo(data_repo).remote_has(wanted) == wanted


@pytest.mark.precommit
@pytest.mark.skipif(shutil.which("pre-commit") is None, reason="pre-commit is not installed")
def test_pre_commit_framework_runs_both_hooks_from_this_repository(tmp_path: Path) -> None:
    """`pre-commit try-repo` pip-installs folio into its own environment (about 25 s), once:
    both hooks run in that one invocation."""
    source = tmp_path / "folio-src"  # what is on disk now, committed or not
    source.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    git(source, "init", "-q", "-b", "main")
    _commit(source, "folio as it is")

    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    run_folio(work, "init", check=True)
    _configure_capture(work, ["results/"])
    write(work / "data/a.csv", "a")
    write(work / "data/b.csv", "b")
    run_folio(work, "add", "data", check=True)
    Repo(work).store.delete(_sha(b"b"))
    write(work / "results/metrics.json", "{}")
    git(work, "add", ".gitignore", ".folio")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    proc = subprocess.run(["pre-commit", "try-repo", str(source)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    lines = out.splitlines()
    assert any(ln.startswith("folio capture") and ln.endswith("Failed") for ln in lines), out
    assert any(ln.startswith("folio check") and ln.endswith("Failed") for ln in lines), out
    assert ("folio captured 1 changed output; stage .gitignore .folio/manifests/results.folio"
            " and commit again") in out
    assert "folio: .folio/manifests/data.folio: 1 of 2 objects are not in the local store" in out
