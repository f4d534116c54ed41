"""A repository cannot make the installed hooks run its own ``folio`` package.

git runs hooks at the top of the work tree, and ``python -m folio.cli`` puts the current
directory first on ``sys.path``: a committed ``folio/cli/__main__.py`` would run instead of
folio on every checkout. The hooks run the interpreter with ``-P`` (``-I`` before 3.11).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import git, run_folio, write


def test_a_committed_folio_package_never_runs_from_a_hook(git_repo: Path, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a.csv", "a\n")
    run_folio(git_repo, "add", "data", check=True)
    for rel in ("folio/__init__.py", "folio/cli/__init__.py"):
        write(git_repo / rel, "")
    write(git_repo / "folio/cli/__main__.py", f"open({str(canary)!r}, 'w').write('ran')\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "a package named folio")
    # (not run_folio: `python -m` from this directory would import the package itself)
    subprocess.run([sys.executable, "-P", "-m", "folio.cli", "install-hooks"], cwd=git_repo,
                   check=True, capture_output=True)
    git(git_repo, "checkout", "-q", "-b", "other")
    git(git_repo, "checkout", "-q", "main")
    assert not canary.exists(), "the hook imported the repository's own folio package"
    assert (git_repo / "data/a.csv").read_text() == "a\n"
