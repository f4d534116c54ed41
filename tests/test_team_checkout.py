"""Checkout of a revision never drops an added, uncommitted version (issue 13, item 2)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.conftest import git, run_folio, write


def _commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message)


def _log(root: Path) -> list[dict[str, object]]:
    path = root / ".git/folio/logs/recovery.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_an_added_uncommitted_version_is_refused_then_kept_in_the_recovery_log(
        git_repo: Path) -> None:
    root = git_repo
    run_folio(root, "init", check=True)
    write(root / "d/f1.csv", "old\n")
    write(root / "d/f2.csv", "same\n")
    run_folio(root, "add", "d", check=True)
    _commit(root, "d")
    run_folio(root, "snapshot", "v1", check=True)
    write(root / "d/f1.csv", "new\n")
    run_folio(root, "add", "d", check=True)

    refused = run_folio(root, "checkout", "v1")
    assert refused.returncode != 0
    assert "1 added version never committed would be replaced: d/f1.csv" in refused.stderr
    assert "commit them first, or use --force" in refused.stderr
    assert (root / "d/f1.csv").read_text() == "new\n", "nothing touched"
    assert _log(root) == []

    forced = run_folio(root, "checkout", "--force", "v1", check=True)
    assert "1 added version replaced, never committed: kept in the recovery log" \
        in forced.stderr
    assert (root / "d/f1.csv").read_text() == "old\n"
    [record] = _log(root)
    assert record["path"] == "d/f1.csv"
    assert record["sha256"] == hashlib.sha256(b"new\n").hexdigest()
    # Back to main: the working manifests now name v1's versions, which a snapshot holds.
    run_folio(root, "checkout", "main", check=True)
    assert (root / "d/f1.csv").read_text() == "old\n"
    restored = run_folio(root, "recover", "d/f1.csv", check=True)
    assert restored.returncode == 0
    assert (root / "d/f1.csv").read_text() == "new\n"


def test_a_staged_manifest_counts_as_kept(
        git_repo: Path) -> None:
    root = git_repo
    run_folio(root, "init", check=True)
    write(root / "d/f1.csv", "old\n")
    run_folio(root, "add", "d", check=True)
    _commit(root, "d")
    run_folio(root, "snapshot", "v1", check=True)
    write(root / "d/f1.csv", "staged\n")
    run_folio(root, "add", "d", check=True)
    assert "1 added version never committed" in run_folio(root, "checkout", "v1").stderr
    git(root, "add", ".folio")
    run_folio(root, "checkout", "v1", check=True)  # the index holds it: no --force
    assert (root / "d/f1.csv").read_text() == "old\n"
    assert _log(root) == []
