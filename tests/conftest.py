"""Shared fixtures: real git repositories in temporary directories, and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def set_git_identity(env: pytest.MonkeyPatch, home: Path) -> None:
    """A private HOME and a fixed git identity, no system config: what every test runs
    under (module-scoped fixtures call it in their own MonkeyPatch context)."""
    env.setenv("HOME", str(home))
    for key, value in GIT_ENV.items():
        env.setenv(key, value)


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                  ) -> None:
    set_git_identity(monkeypatch, tmp_path_factory.mktemp("home"))
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    monkeypatch.delenv("GIT_DIR", raising=False)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True, check=check)


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """An initialised folio repo; the process cwd is its root."""
    from folio.repo import Repo

    monkeypatch.chdir(git_repo)
    yield Repo.init(git_repo)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[object]:
    """A second initialised folio repo (another machine's clone, say), beside ``repo``."""
    from folio.repo import Repo

    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    yield Repo.init(root)


def run_folio(cwd: Path, *args: str, check: bool = False,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a real subprocess."""
    proc = subprocess.run([sys.executable, "-m", "folio.cli", *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"folio {' '.join(args)} failed: {proc.stderr}")
    return proc


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def age(path: Path, seconds: float = 5.0) -> None:
    """Make a file look older, so the stat cache may trust it (racy-clean rule)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))
