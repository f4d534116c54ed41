"""Two branches edit disjoint random sets of files; git merges them with folio's driver.

For plain and sharded targets: the merge is clean, the merged manifest holds exactly the
union of both sides' changes, and a checkout after the merge gives back every byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import git

from folio.repo import Repo

Edits = dict[int, str | None]  # file index -> new content, None: delete


def _edits(n: int) -> st.SearchStrategy[tuple[Edits, Edits]]:
    """Two disjoint edit sets over files 0..n+4 (indices >= n are new files)."""
    one = st.dictionaries(st.integers(0, n + 4), st.one_of(st.none(), st.text("abc", max_size=5)),
                          max_size=6)
    return st.tuples(one, one).map(lambda ab: (ab[0], {k: v for k, v in ab[1].items()
                                                       if k not in ab[0]}))


def _apply(root: Path, edits: Edits) -> None:
    for i, text in edits.items():
        path = root / "data" / f"f{i:05}.txt"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(f"{i}:{text}\n")


def _tree(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "data").iterdir())}


def _scenario(tmp: Path, n: int, a: Edits, b: Edits) -> None:
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    git(tmp, "init", "-q", "-b", "main")
    repo = Repo.init(tmp)
    (tmp / "data").mkdir()
    for i in range(n):
        (tmp / "data" / f"f{i:05}.txt").write_text(f"{i}\n")
    repo.add(["data"], cwd=tmp)
    git(tmp, "add", "-A")
    git(tmp, "commit", "-qm", "base")
    expected = _tree(tmp)
    for branch, edits in (("a", a), ("b", b)):
        git(tmp, "checkout", "-q", "-b", branch, "main")
        repo.checkout(cwd=tmp)
        _apply(tmp, edits)
        repo.add(["data"], cwd=tmp)
        git(tmp, "commit", "-qam", branch, "--allow-empty")
    for edits in (a, b):
        for i, text in edits.items():
            name = f"f{i:05}.txt"
            if text is None:
                expected.pop(name, None)
            else:
                expected[name] = f"{i}:{text}\n".encode()
    git(tmp, "checkout", "-q", "a")
    repo.checkout(cwd=tmp)
    merged = git(tmp, "merge", "-q", "--no-edit", "b", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr  # disjoint: never a conflict
    entries = repo.read_manifest("data").entries
    assert sorted(entries) == sorted(expected)
    result = repo.checkout(cwd=tmp)
    assert _tree(tmp) == expected, result
    assert all(s.clean for s in repo.status(cwd=tmp))


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(_edits(12))
def test_disjoint_edits_merge_to_their_union_in_a_plain_target(
        tmp_path_factory: object, ab: tuple[Edits, Edits]) -> None:
    _scenario(Path(str(tmp_path_factory.mktemp("plain"))), 12, *ab)  # type: ignore[attr-defined]


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(_edits(2100))
def test_disjoint_edits_merge_to_their_union_in_a_sharded_target(
        tmp_path_factory: object, ab: tuple[Edits, Edits]) -> None:
    _scenario(Path(str(tmp_path_factory.mktemp("sharded"))), 2100, *ab)  # type: ignore[attr-defined]
