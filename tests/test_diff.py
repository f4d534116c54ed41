"""folio diff: added / removed / modified / renamed between tags, git revisions and the
working tree, with data-aware detail, --stat, --json and --exit-code."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tests.conftest import git, run_folio, write

from folio.repo import Repo


def parquet(table: dict[str, list[object]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(table), sink)
    return sink.getvalue()


def npy(array: np.ndarray) -> bytes:
    sink = io.BytesIO()
    np.save(sink, array)
    return sink.getvalue()


def test_added_removed_modified_renamed(repo: Repo) -> None:
    root = repo.root
    for name, text in {"a.txt": "a", "b.txt": "same bytes", "c.txt": "c", "sub/k": "k"}.items():
        write(root / "data" / name, text)
    write(root / "other/x", "x")
    repo.add(["data", "other"])
    repo.snapshot("v1")
    write(root / "data/a.txt", "a changed")
    (root / "data/moved").mkdir()
    os.rename(root / "data/b.txt", root / "data/moved/b.txt")
    (root / "data/c.txt").unlink()
    write(root / "data/d.txt", "new")
    repo.snapshot("v2")
    result = repo.diff("v1", "v2")
    [t] = result.targets
    got = [(c.status, c.path, c.old_path) for c in t.changes]
    assert got == [("modified", "data/a.txt", None), ("removed", "data/c.txt", None),
                   ("added", "data/d.txt", None),
                   ("renamed", "data/moved/b.txt", "data/b.txt")]
    assert t.counts() == {"added": 1, "removed": 1, "modified": 1, "renamed": 1}
    assert (t.old_bytes, t.new_bytes) == (1 + 10 + 1 + 1, 9 + 10 + 3 + 1)
    modified = t.changes[0]
    assert (modified.old.size, modified.new.size) == (1, 9)
    back = repo.diff("v2", "v1").targets[0]
    assert [(c.status, c.path) for c in back.changes] == [
        ("modified", "data/a.txt"), ("renamed", "data/b.txt"), ("added", "data/c.txt"),
        ("removed", "data/d.txt")]
    assert repo.diff("v1", "v1").targets == [] and repo.diff("v2").targets == []
    assert [c.path for c in repo.diff("v1", "v2", ["data/moved"], cwd=root).changes()] == \
        ["data/moved/b.txt"]


def test_data_aware_detail_for_parquet_npy_and_json(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/t.parquet", parquet({"id": [1, 2, 3], "v": [0.1, 0.2, 0.3]}))
    write(git_repo / "data/a.npy", npy(np.zeros((2, 3))))
    write(git_repo / "data/m.json", json.dumps({"metrics": {"acc": 0.9, "loss": 0.3}}))
    run_folio(git_repo, "add", "data", check=True)
    run_folio(git_repo, "snapshot", "v1", check=True)
    write(git_repo / "data/t.parquet",
          parquet({"id": [1, 2, 3], "v": [0.1, 0.5, 0.3], "w": ["a", "b", "c"]}))
    write(git_repo / "data/a.npy", npy(np.array([[0, 0, 0], [0, 2.5, 0]])))
    write(git_repo / "data/m.json", json.dumps({"metrics": {"acc": 0.95, "loss": 0.3}}))
    write(git_repo / "data/new.parquet", parquet({"z": [1]}))
    text = run_folio(git_repo, "diff", "v1", check=True).stdout
    assert "parquet: rows 3 -> 3, columns 2 -> 3" in text
    assert "columns added: w" in text and "changed rows: 1 of 3 (in 2 shared columns)" in text
    assert "npy: shape (2, 3), dtype float64" in text
    assert "differing elements: 1 of 6, max abs diff 2.5" in text
    assert "json: 1 changed, 0 added, 0 removed" in text and "metrics.acc: 0.9 -> 0.95" in text
    assert "parquet: new, 1 rows, 1 columns" in text
    data = json.loads(run_folio(git_repo, "diff", "v1", "--json", check=True).stdout)
    by_path = {c["path"]: c for c in data["targets"][0]["changes"]}
    assert by_path["data/a.npy"]["detail"]["max_abs_diff"] == 2.5
    assert by_path["data/m.json"]["detail"]["changed"] == [
        {"key": "metrics.acc", "old": "0.9", "new": "0.95"}]
    no_detail = run_folio(git_repo, "diff", "v1", "--no-detail", check=True).stdout
    assert "parquet:" not in no_detail and "modified  data/t.parquet" in no_detail


def test_default_is_head_against_the_working_tree_data(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a.csv", "x\n1\n")
    write(git_repo / "data/b.csv", "x\n2\n")
    run_folio(git_repo, "add", "data", check=True)
    unborn = json.loads(run_folio(git_repo, "diff", "--json", check=True).stdout)
    assert unborn["targets"][0]["added"] == 2  # no commit yet: everything is new
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "v1")
    clean = run_folio(git_repo, "diff", "--exit-code")
    assert clean.returncode == 0
    assert clean.stdout == "No data differences between HEAD (%s) and the working tree.\n" % \
        git(git_repo, "rev-parse", "--short=7", "HEAD").stdout.strip()
    write(git_repo / "data/a.csv", "x\n1\n3\n")  # edited, not added: diff still sees it
    proc = run_folio(git_repo, "diff", "--exit-code")
    assert proc.returncode == 1
    assert "modified  data/a.csv" in proc.stdout and "csv: rows 1 -> 2 (+1)" in proc.stdout
    assert proc.stdout.rstrip().endswith("1 file changed in 1 target (1 modified)")
    run_folio(git_repo, "add", "data", check=True)
    git(git_repo, "commit", "-q", "-am", "v2")
    between = json.loads(run_folio(git_repo, "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert between["a"]["kind"] == between["b"]["kind"] == "commit"
    assert [c["path"] for c in between["targets"][0]["changes"]] == ["data/a.csv"]


def test_stat_json_and_paths(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a", "aaaa")
    write(git_repo / "data/sub/b", "bb")
    write(git_repo / "models/m", "m")
    run_folio(git_repo, "add", "data", "models", check=True)
    run_folio(git_repo, "snapshot", "v1", check=True)
    write(git_repo / "data/a", "a")
    write(git_repo / "data/sub/c", "cc")
    (git_repo / "models/m").unlink()
    stat = run_folio(git_repo, "diff", "v1", "--stat", check=True).stdout.splitlines()
    assert stat == [" data    +1 -0 ~1 >0  6 B -> 5 B",
                    " models  +0 -1 ~0 >0  1 B -> 0 B",
                    "3 files changed in 2 targets (1 added, 1 removed, 1 modified)"]
    data = json.loads(run_folio(git_repo, "diff", "v1", "--stat", "--json", check=True).stdout)
    assert set(data) == {"a", "b", "changed", "targets", "detail_omitted"}
    assert data["a"] == {"kind": "snapshot", "name": "v1",
                         "commit": git(git_repo, "rev-parse", "refs/folio/snapshots/v1"
                                       ).stdout.strip()}
    assert data["b"] == {"kind": "worktree", "name": None, "commit": None}
    assert data["targets"][1] == {"target": "models", "added": 0, "removed": 1, "modified": 0,
                                  "renamed": 0, "old_bytes": 1, "new_bytes": 0}
    full = json.loads(run_folio(git_repo, "diff", "v1", "--json", "--", "data/sub").stdout)
    [change] = full["targets"][0]["changes"]
    assert set(change) == {"status", "path", "old_path", "old", "new", "detail"}
    assert change["status"] == "added" and change["path"] == "data/sub/c"
    assert change["new"]["size"] == 2 and len(change["new"]["sha256"]) == 64
    assert run_folio(git_repo, "diff", "a", "b", "c").returncode == 2
    bad = run_folio(git_repo, "diff", "nope")
    assert bad.returncode == 1 and "unknown revision 'nope'" in bad.stderr


def test_two_versions_and_paths(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a", "a")
    write(git_repo / "data/sub/b", "b")
    run_folio(git_repo, "add", "data", check=True)
    run_folio(git_repo, "snapshot", "v1", check=True)
    write(git_repo / "data/a", "aa")
    write(git_repo / "data/sub/b", "bb")
    run_folio(git_repo, "snapshot", "v2", check=True)
    scoped = json.loads(run_folio(git_repo, "diff", "v1", "v2", "--json", "--", "data/sub",
                                  check=True).stdout)
    assert (scoped["a"]["name"], scoped["b"]["name"]) == ("v1", "v2")
    assert [c["path"] for c in scoped["targets"][0]["changes"]] == ["data/sub/b"]


def test_detail_says_when_content_is_not_local(repo: Repo) -> None:
    write(repo.root / "data/m.json", '{"a": 1}')
    repo.add(["data"])
    repo.snapshot("v1")
    old = repo.read_manifest("data").entries["m.json"].sha256
    write(repo.root / "data/m.json", '{"a": 2}')
    os.unlink(repo.store.path(old))
    [change] = repo.diff("v1").changes()
    assert change.detail is not None and change.detail.kind == "not comparable"
    assert "not in the local store (`folio fetch v1`)" in change.detail.info["reason"]
