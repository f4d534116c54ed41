"""Claims of docs/format.md and docs/concepts.md that once drifted from the code, pinned.

The files folio writes are quoted "exactly" in format.md: the quote must be the bytes. The
behaviour claims (what status accepts, what removes a .gitignore line, the ctime check) are
checked against a real repository.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import age, write
from folio.errors import PathError
from folio.ops.setup import GITATTRIBUTES, LOCAL_GITIGNORE
from folio.repo import Repo
from folio.workspace import GITIGNORE_HEADER

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _section(text: str, title: str) -> str:
    start = text.index(f"### {title}")
    return text[start:text.index("\n### ", start + 1)]


def test_local_gitignore_is_quoted_exactly(repo: Repo) -> None:
    section = _section((DOCS / "format.md").read_text(), "2.3 `.folio/.gitignore`")
    quoted = re.search(r"^```\n(.*?)^```", section, re.S | re.M)
    assert quoted is not None
    assert quoted.group(1) == LOCAL_GITIGNORE
    assert (repo.root / ".folio/.gitignore").read_text() == LOCAL_GITIGNORE


def test_gitattributes_and_header_are_quoted_exactly(repo: Repo) -> None:
    format_md = (DOCS / "format.md").read_text()
    assert f"exactly `{GITATTRIBUTES.rstrip()}` plus a newline" in format_md
    assert f"`{GITIGNORE_HEADER}`" in _section(format_md, "2.5 The top-level `.gitignore`")
    assert (repo.root / ".folio/.gitattributes").read_text() == GITATTRIBUTES


def test_status_names_a_deleted_path_inside_a_target(repo: Repo) -> None:
    write(repo.root / "data/a.csv", "a")
    write(repo.root / "data/b.csv", "b")
    repo.add(["data"])
    (repo.root / "data/a.csv").unlink()
    [status] = repo.status(["data/a.csv"])
    assert status.deleted == ["a.csv"]
    assert [e.path for _, e in repo.ls(["data/a.csv"])] == ["a.csv"]
    with pytest.raises(PathError, match="does not exist"):
        repo.status(["nope"])
    write(repo.root / "other", "x")
    with pytest.raises(PathError, match="is not tracked by folio"):
        repo.status(["other"])


def test_only_untrack_removes_gitignore_lines(repo: Repo) -> None:
    write(repo.root / "data/a", "a")
    repo.add(["data"])
    repo.snapshot("v1")
    write(repo.root / "keep/b", "b")
    repo.add(["keep"])
    repo.snapshot("v2")  # held: checkout may replace this version
    gitignore = repo.root / ".gitignore"
    assert gitignore.read_text().splitlines() == [GITIGNORE_HEADER, "/data", "/keep"]
    repo.checkout("v1")  # removes the target keep, not its line
    assert repo.targets() == ["data"]
    assert not (repo.root / "keep").exists()
    assert gitignore.read_text().splitlines() == [GITIGNORE_HEADER, "/data", "/keep"]
    gitignore.write_text(gitignore.read_text() + "*.tmp\n/data\n")
    repo.untrack(["data"])  # every line that is exactly /data, the header stays
    assert gitignore.read_text().splitlines() == [GITIGNORE_HEADER, "/keep", "*.tmp"]


def test_stat_cache_compares_ctime(repo: Repo) -> None:
    path = write(repo.root / "data/a", "aaaa")
    age(path)
    repo.add(["data"])
    before = os.stat(path)
    path.write_bytes(b"bbbb")  # same size, same inode
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the old mtime put back
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns
    assert repo.status()[0].modified == ["a"]
