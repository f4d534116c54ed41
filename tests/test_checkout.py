"""Checkout against real git and real files: exactness, minimal touching, refusals, recovery."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import age, git, run_folio, write

from folio.errors import (
    ManifestError,
    MissingObjectError,
    PathError,
    UnknownRevisionError,
    UnsavedChangesError,
)
from folio.git import RUNS_PREFIX, SNAPSHOTS_PREFIX
from folio.ops.recovery import oids as recovery_oids
from folio.ops.snapshots import read_manifest_files
from folio.repo import Repo
from folio.worktree.materialize import detect_reflink


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (symlinks followed for content), by relative path."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def dirs(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}


def make(root: Path, files: dict[str, bytes | str]) -> None:
    for rel, data in files.items():
        write(root / rel, data)


def _commit(root: Path, message: str) -> None:
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", message)


# -- the property: checkout restores every byte and every path --------------------------------

NAME = st.text(alphabet=st.sampled_from(list("abcXYZ019 -_.#[]%'é€")), min_size=1,
               max_size=8).filter(lambda n: n not in (".", "..") and not n.startswith(".tmp-")
                                  and n.lower() != ".git")
PATHS = st.lists(st.lists(NAME, min_size=1, max_size=3).map("/".join), min_size=1, max_size=8)
CONTENT = st.binary(max_size=48)


def _consistent(paths: list[str]) -> list[str]:
    """Drop paths that would need a file and a directory of the same name."""
    kept: list[str] = []
    for p in paths:
        prefixes = {"/".join(p.split("/")[:i]) for i in range(1, p.count("/") + 1)}
        if any(k == p or k in prefixes or k.startswith(p + "/") for k in kept):
            continue
        kept.append(p)
    return kept


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(paths=PATHS, contents=st.lists(CONTENT, min_size=8, max_size=8),
       ops=st.lists(st.tuples(st.sampled_from(["edit", "delete", "add", "nest"]),
                              st.integers(0, 7), CONTENT, NAME), max_size=6))
def test_checkout_restores_every_byte_and_path(paths: list[str], contents: list[bytes],
                                               ops: list[tuple[str, int, bytes, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        git(root, "init", "-q", "-b", "main")
        repo = Repo.init(root)
        data = root / "data"
        original = {p: contents[i % 8] for i, p in enumerate(_consistent(paths))}
        make(data, original)
        repo.add([data], cwd=root)
        repo.snapshot("v1")
        original_dirs = dirs(data)
        assert repo.diff("v1", "v1").targets == []
        for op, index, blob, name in ops:  # mutate: edit, delete, add, add in a new subdir
            present = sorted(tree(data))
            if op in ("edit", "delete") and present:
                victim = data / present[index % len(present)]
                victim.unlink() if op == "delete" else victim.write_bytes(blob + b"!")
            elif op in ("add", "nest") and not (data / name).exists():
                write(data / name / "f" if op == "nest" else data / name, blob)
        mutated = tree(data)
        stored = {repo.store.has(hashlib.sha256(b).hexdigest()) for b in mutated.values()}
        try:
            repo.checkout("v1")
        except UnsavedChangesError:
            assert False in stored
            assert tree(data) == mutated  # refused: nothing touched
            repo.checkout("v1", force=True)
        assert tree(data) == original
        # directories checkout emptied are gone; only ones the user left empty remain (as git)
        for extra in dirs(data) - original_dirs:
            assert not any(p.startswith(extra + "/") for p in mutated), extra
        assert all(s.clean for s in repo.status())
        assert repo.diff("v1").targets == []
        saved = set(recovery_oids(repo.local_dir))
        for blob in mutated.values():  # everything overwritten is still in the store
            assert repo.store.has(hashlib.sha256(blob).hexdigest())
        assert all(repo.store.has(o) for o in saved)


# -- touching only what differs ---------------------------------------------------------------

def test_unchanged_files_keep_inode_and_mtime(repo: Repo) -> None:
    files = {f"data/f{i}.csv": f"row {i}\n" for i in range(6)}
    make(repo.root, files)
    for rel in files:
        age(repo.root / rel)
    repo.add(["data"])
    repo.snapshot("v1")
    write(repo.root / "data/f2.csv", "changed\n")
    repo.add(["data"])  # stored: no --force needed
    repo.snapshot("v2")  # and held by a snapshot: not an added version checkout refuses
    before = {rel: os.stat(repo.root / rel) for rel in files}
    result = repo.checkout("v1")
    assert result.written == ["data/f2.csv"] and result.deleted == [] and result.unchanged == 5
    for rel in files:
        after = os.stat(repo.root / rel)
        same = (after.st_ino, after.st_mtime_ns) == (before[rel].st_ino, before[rel].st_mtime_ns)
        assert same == (rel != "data/f2.csv"), rel
    assert (repo.root / "data/f2.csv").read_text() == "row 2\n"
    again = repo.checkout("v1")
    assert (again.written, again.deleted) == ([], [])


def test_the_executable_bit_is_restored_in_place(repo: Repo) -> None:
    script = write(repo.root / "tools/run.sh", "#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    write(repo.root / "tools/plain.txt", "plain")
    repo.add(["tools"])
    assert repo.read_manifest("tools").entries["run.sh"].executable
    repo.snapshot("v1")
    script.chmod(0o644)
    inode = script.stat().st_ino
    assert [c.path for c in repo.diff("v1").changes()] == ["tools/run.sh"]
    result = repo.checkout("v1")
    assert result.written == ["tools/run.sh"] and result.saved == []
    assert script.stat().st_mode & 0o777 == 0o755 and script.stat().st_ino == inode
    shutil.rmtree(repo.root / "tools")
    repo.checkout("v1", link="hardlink")  # an executable is copied, never the store's inode
    assert script.stat().st_mode & 0o111 and script.stat().st_nlink == 1
    assert (repo.root / "tools/plain.txt").stat().st_nlink == 2
    assert all(s.clean for s in repo.status())


def test_restoring_missing_or_stored_content_needs_no_force(repo: Repo) -> None:
    make(repo.root, {"data/a": "A", "data/b": "B", "data/c": "C"})
    repo.add(["data"])
    repo.snapshot("v1")
    (repo.root / "data/a").unlink()
    write(repo.root / "data/b", "C")  # content already in the store
    write(repo.root / "data/extra", "A")  # ditto: deleting it loses nothing
    result = repo.checkout("v1")
    assert result.saved == [] and result.deleted == ["data/extra"]
    assert tree(repo.root / "data") == {"a": b"A", "b": b"B", "c": b"C"}


def test_checkout_paths_touch_only_those_paths(repo: Repo) -> None:
    make(repo.root, {"data/a": "a1", "data/b": "b1", "other/c": "c1"})
    repo.add(["data", "other"])
    repo.snapshot("v1")
    make(repo.root, {"data/a": "a2", "data/b": "b2", "other/c": "c2"})
    repo.add(["data", "other"])
    repo.snapshot("v2")  # held: checkout may replace these versions
    result = repo.checkout("v1", ["data/a"], cwd=repo.root)
    assert result.written == ["data/a"]
    assert (repo.root / "data/a").read_text() == "a1"
    assert (repo.root / "data/b").read_text() == "b2"
    assert (repo.root / "other/c").read_text() == "c2"
    manifest = repo.read_manifest("data")
    v1 = repo.resolve("v1").manifests["data"]
    assert manifest.entries["a"] == v1.entries["a"] and manifest.entries["b"] != v1.entries["b"]
    assert all(s.clean for s in repo.status())
    repo.checkout("v1", ["other"], cwd=repo.root)
    assert (repo.root / "other/c").read_text() == "c1"
    with pytest.raises(PathError, match="matches no tracked file in snapshot v1"):
        repo.checkout("v1", ["data/zzz"], cwd=repo.root)
    repo.checkout("v1", ["."], cwd=repo.root)  # the root means everything
    assert (repo.root / "data/b").read_text() == "b1"


def test_targets_come_and_go_with_the_checkout(repo: Repo) -> None:
    make(repo.root, {"data/a": "a", "old/x": "x"})
    repo.add(["data", "old"])
    repo.snapshot("v1")
    make(repo.root, {"extra/deep/y": "y"})
    repo.add(["extra"])
    repo.snapshot("v2")  # held: checkout may replace these versions
    shutil.rmtree(repo.root / "old")
    (repo.root / ".folio/manifests/old.folio").unlink()
    (repo.root / ".gitignore").write_text("")
    result = repo.checkout("v1")
    assert result.manifests_removed == ["extra"] and "old" in result.manifests_changed
    assert not (repo.root / "extra").exists()
    assert not (repo.root / ".folio/manifests/extra.folio").exists()
    assert (repo.root / "old/x").read_text() == "x"
    assert "/old" in (repo.root / ".gitignore").read_text().splitlines()
    assert repo.targets() == ["data", "old"]


# -- real git interplay -----------------------------------------------------------------------

def test_git_checkout_then_folio_checkout_restores_that_commit(repo: Repo) -> None:
    root = repo.root
    make(root, {"data/a.csv": "v1 a", "data/b.csv": "v1 b"})
    repo.add(["data"])
    _commit(root, "data v1")
    make(root, {"data/a.csv": "v2 a", "data/c.csv": "v2 c"})
    (root / "data/b.csv").unlink()
    repo.add(["data"])
    _commit(root, "data v2")
    git(root, "checkout", "-q", "HEAD~1")
    assert git(root, "status", "--porcelain").stdout == ""
    [status] = repo.status()  # git moved the manifests, the data stayed: out of date
    assert status.out_of_date == ["a.csv", "b.csv", "c.csv"] and status.modified == []
    result = repo.checkout()  # the working manifests, which git just switched
    assert tree(root / "data") == {"a.csv": b"v1 a", "b.csv": b"v1 b"}
    assert result.source == "the working manifests" and result.manifests_changed == []
    repo.checkout("main")  # a git revision: its manifests are written back too
    assert tree(root / "data") == {"a.csv": b"v2 a", "c.csv": b"v2 c"}
    assert git(root, "status", "--porcelain").stdout == " M .folio/manifests/data.folio\n"
    git(root, "checkout", "-q", "-f", "main")  # the manifests already match main's
    assert git(root, "status", "--porcelain").stdout == ""
    assert all(s.clean for s in repo.status())


def test_push_refs_to_a_bare_repo_and_checkout_in_a_clone(git_repo: Path, tmp_path: Path) -> None:
    run_folio(git_repo, "init", check=True)
    make(git_repo, {"data/t.csv": "a,b\n1,2\n", "data/sub/x.bin": b"\x00" * 100})
    run_folio(git_repo, "add", "data", check=True)
    _commit(git_repo, "track data")
    run_folio(git_repo, "snapshot", "baseline", check=True)
    write(git_repo / "data/t.csv", "a,b\n9,9\n")
    run_folio(git_repo, "snapshot", "later", check=True)
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(git_repo, "remote", "add", "origin", str(bare))
    git(git_repo, "push", "-q", "origin", "main", "refs/folio/*:refs/folio/*")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    git(clone, "fetch", "-q", "origin", "refs/folio/*:refs/folio/*")
    proc = run_folio(clone, "checkout", "baseline")  # no objects yet: say pull, touch nothing
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "not in the local store" in proc.stderr and "run `folio pull baseline`" in proc.stderr
    assert not (clone / "data").exists()
    shutil.copytree(git_repo / ".git/folio/objects", clone / ".git/folio/objects")
    run_folio(clone, "checkout", "baseline", check=True)
    assert tree(clone / "data") == {"t.csv": b"a,b\n1,2\n", "sub/x.bin": b"\x00" * 100}
    assert "Data matches" in run_folio(clone, "status", check=True).stdout
    run_folio(clone, "checkout", "later", check=True)
    assert (clone / "data/t.csv").read_text() == "a,b\n9,9\n"
    assert git(clone, "status", "--porcelain").stdout == " M .folio/manifests/data.folio\n"


def test_run_refs_and_snapshot_shas_resolve(repo: Repo) -> None:
    make(repo.root, {"data/a": "run output"})
    repo.add(["data"])
    sha = repo.git.write_snapshot(read_manifest_files(repo), ref=RUNS_PREFIX + "r1",
                                  message="run", trailers={"Folio-Kind": "run"})
    write(repo.root / "data/a", "later")
    repo.add(["data"])
    repo.snapshot("later")  # held: checkout may replace this version
    repo.checkout("run:r1")
    assert (repo.root / "data/a").read_text() == "run output"
    write(repo.root / "data/a", "later")
    repo.add(["data"])
    repo.checkout(sha)  # a snapshot/run commit by sha: its whole tree is the manifests
    assert (repo.root / "data/a").read_text() == "run output"
    with pytest.raises(UnknownRevisionError, match="no run 'nope'"):
        repo.checkout("run:nope")


# -- refusals, each with its message -----------------------------------------------------------

def _five_unsaved(root: Path) -> None:
    run_folio(root, "init", check=True)
    make(root, {f"data/{c}.csv": f"{c} v1" for c in "abcde"})
    run_folio(root, "add", "data", check=True)
    run_folio(root, "snapshot", "v1", check=True)
    make(root, {f"data/{c}.csv": f"{c} unsaved" for c in "abcd"})
    write(root / "data/new.csv", "brand new")


def test_unsaved_changes_refused_on_one_line_nothing_touched(git_repo: Path) -> None:
    _five_unsaved(git_repo)
    before = tree(git_repo / "data"), tree(git_repo / ".folio/manifests")
    proc = run_folio(git_repo, "checkout", "v1")
    assert proc.returncode == 1
    assert proc.stderr == ("folio: error: 5 files have unsaved changes: data/a.csv, "
                           "data/b.csv, data/c.csv and 2 more; use --force\n")
    assert (tree(git_repo / "data"), tree(git_repo / ".folio/manifests")) == before
    assert not (git_repo / ".git/folio/logs/recovery.jsonl").exists()


def test_force_saves_and_recover_restores_the_exact_bytes(git_repo: Path) -> None:
    _five_unsaved(git_repo)
    proc = run_folio(git_repo, "checkout", "v1", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "Saved 5 files with unsaved changes" in proc.stdout
    assert tree(git_repo / "data") == {f"{c}.csv": f"{c} v1".encode() for c in "abcde"}
    records = json.loads(run_folio(git_repo, "recover", "--json", check=True).stdout)
    assert {r["path"]: r["reason"] for r in records} == {
        **{f"data/{c}.csv": "checkout snapshot v1: overwritten" for c in "abcd"},
        "data/new.csv": "checkout snapshot v1: deleted"}
    assert set(records[0]) == {"time", "path", "sha256", "size", "reason"}
    listing = run_folio(git_repo, "recover", check=True).stdout
    assert "data/new.csv" in listing and "deleted" in listing
    restored = run_folio(git_repo, "recover", "data/a.csv", check=True)  # replaces stored content
    assert restored.stdout.startswith("data/a.csv: restored ")  # repo-relative, as elsewhere
    assert (git_repo / "data/a.csv").read_bytes() == b"a unsaved"
    run_folio(git_repo, "recover", "data/new.csv", "--to", "elsewhere.csv", check=True)
    assert (git_repo / "elsewhere.csv").read_bytes() == b"brand new"
    write(git_repo / "data/b.csv", "edited again, never stored")
    refused = run_folio(git_repo, "recover", "data/b.csv")
    assert refused.returncode == 1 and "has unsaved changes" in refused.stderr
    assert (git_repo / "data/b.csv").read_bytes() == b"edited again, never stored"
    nothing = run_folio(git_repo, "recover", "data/zzz.csv")
    assert nothing.returncode == 1 and "no saved content" in nothing.stderr
    # no REV: the working manifests; `--` separates the paths; --force saves the edit again
    run_folio(git_repo, "checkout", "--force", "--", "data/b.csv", check=True)
    assert (git_repo / "data/b.csv").read_bytes() == b"b v1"
    assert (git_repo / "data/a.csv").read_bytes() == b"a unsaved"  # outside the path
    assert len(json.loads(run_folio(git_repo, "recover", "--json").stdout)) == 6
    repo = Repo(git_repo)
    assert {r.sha256 for r in repo.recovery_log()} <= set(repo.store.iter_oids())


def test_missing_objects_say_pull_and_touch_nothing(repo: Repo) -> None:
    make(repo.root, {"data/a": "a1", "data/b": "b1"})
    repo.add(["data"])
    repo.snapshot("v1")
    make(repo.root, {"data/a": "a2", "data/b": "b2"})
    repo.add(["data"])
    manifest = repo.manifest_path("data").read_bytes()
    oid = repo.resolve("v1").manifests["data"].entries["b"].sha256
    os.unlink(repo.store.path(oid))
    with pytest.raises(MissingObjectError, match=r"snapshot v1: 1 object\(s\) not in the local "
                                                 r"store \(\w{12}\); run `folio pull v1` to fetch"):
        repo.checkout("v1")
    assert tree(repo.root / "data") == {"a": b"a2", "b": b"b2"}
    assert repo.manifest_path("data").read_bytes() == manifest


def test_unknown_revisions_and_revisions_without_manifests(git_repo: Path) -> None:
    write(git_repo / "README", "code only")
    _commit(git_repo, "before folio")
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a", "1")
    run_folio(git_repo, "add", "data", check=True)
    proc = run_folio(git_repo, "checkout", "nope")
    assert proc.returncode == 1 and proc.stderr == (
        "folio: error: unknown revision 'nope': not a snapshot tag, a run or a git revision\n")
    hint = run_folio(git_repo, "checkout", "data")
    assert hint.returncode == 1 and "to name paths, put them after --" in hint.stderr
    empty = run_folio(git_repo, "checkout", "HEAD")
    assert empty.returncode == 1 and "has no folio manifests" in empty.stderr
    assert (git_repo / "data/a").read_text() == "1"


def test_reflink_on_a_filesystem_without_it_fails_clearly(git_repo: Path) -> None:
    if detect_reflink(git_repo):
        pytest.skip("this filesystem can reflink")
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a", "1")
    run_folio(git_repo, "add", "data", check=True)
    run_folio(git_repo, "snapshot", "v1", check=True)
    (git_repo / "data/a").unlink()
    proc = run_folio(git_repo, "checkout", "v1", "--link", "reflink")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "reflink is not supported on this filesystem (" in proc.stderr
    assert proc.stderr.rstrip().endswith("; use --link copy")
    assert not (git_repo / "data/a").exists()
    assert run_folio(git_repo, "checkout", "v1", "--link", "copy").returncode == 0


@pytest.mark.parametrize("mode", ["hardlink", "symlink"])
def test_sharing_link_modes_leave_status_clean(repo: Repo, mode: str) -> None:
    make(repo.root, {"data/a": "a1", "data/sub/b": "b1"})
    repo.add(["data"])
    repo.snapshot("v1")
    shutil.rmtree(repo.root / "data")
    repo.checkout("v1", link=mode)
    assert tree(repo.root / "data") == {"a": b"a1", "sub/b": b"b1"}
    assert (repo.root / "data/a").is_symlink() == (mode == "symlink")
    assert all(s.clean for s in repo.status())
    [again] = repo.add(["data"])
    assert not again.changed  # a link into the store is recorded as the content it names
    assert repo.diff("v1").targets == []
    (repo.root / "data/a").unlink()  # the user replaces the file (writing into it would
    write(repo.root / "data/a", "a2")  # write into the object: docs/linking.md, risks)
    assert repo.status()[0].modified == ["a"]
    with pytest.raises(UnsavedChangesError):
        repo.checkout("v1")
    repo.checkout("v1", link="copy", force=True)
    assert not (repo.root / "data/a").is_symlink() and tree(repo.root / "data")["a"] == b"a1"


def test_hash_only_entries_are_skipped_with_a_warning(repo: Repo) -> None:
    make(repo.root, {"big/f.bin": "payload", "big/g.bin": "other"})
    repo.add(["big"], store_copy=False)
    repo.snapshot("v1")
    write(repo.root / "big/f.bin", "edited")
    (repo.root / "big/g.bin").unlink()
    result = repo.checkout("v1")
    assert result.skipped == ["big/f.bin", "big/g.bin"]
    assert result.warnings == ["2 hash-only files not restored (content never stored, recorded "
                               "by `folio add --no-copy`): big/f.bin, big/g.bin"]
    assert (repo.root / "big/f.bin").read_text() == "edited"  # left alone, not lost


def test_hostile_manifests_are_refused_before_anything_is_touched(repo: Repo) -> None:
    make(repo.root, {"data/a": "a"})
    repo.add(["data"])
    header = b'{"folio":1,"kind":"dir","target":"data"}\n'
    escape = header + b'{"path":"evil","link":"../../outside"}\n'
    repo.git.write_snapshot({"data.folio": escape}, ref=SNAPSHOTS_PREFIX + "evil",
                            message="x", trailers={"Folio-Kind": "snapshot"})
    with pytest.raises(PathError, match="leads outside the repository"):
        repo.checkout("evil")
    sha = "0" * 64
    store = b'{"folio":1,"kind":"dir","target":".folio/objects"}\n' + \
        b'{"path":"x","size":1,"sha256":"%s"}\n' % sha.encode()
    repo.git.write_snapshot({".folio/objects.folio": store}, ref=SNAPSHOTS_PREFIX + "evil2",
                            message="x", trailers={"Folio-Kind": "snapshot"})
    with pytest.raises(ManifestError, match=r"\.folio"):
        repo.checkout("evil2")
    both = header + b'{"path":"x","size":1,"sha256":"%s"}\n{"path":"x/y","size":1,' \
        b'"sha256":"%s"}\n' % (sha.encode(), sha.encode())
    repo.git.write_snapshot({"data.folio": both}, ref=SNAPSHOTS_PREFIX + "evil3",
                            message="x", trailers={"Folio-Kind": "snapshot"})
    with pytest.raises(ManifestError, match="both as a file and as a directory"):
        repo.checkout("evil3")
    assert tree(repo.root / "data") == {"a": b"a"}


# -- a killed checkout -------------------------------------------------------------------------

KILLER = """
import os, signal, sys
import folio.worktree.materialize as m
original, calls = m._copy_verified, [0]
def copy_then_die(store, oid, tmp, perm, dest):
    calls[0] += 1
    if calls[0] == 4:  # die half-way through writing the fourth file
        with open(tmp, "wb") as f:
            f.write(b"half")
        os.kill(os.getpid(), signal.SIGKILL)
    return original(store, oid, tmp, perm, dest)
m._copy_verified = copy_then_die
from folio.repo import Repo
Repo(sys.argv[1]).checkout("v1", link="copy", jobs=1)
"""


def test_a_killed_checkout_leaves_each_file_old_or_new_and_can_be_finished(repo: Repo) -> None:
    old = {f"data/f{i}": f"old {i}" for i in range(8)}
    new = {f"data/f{i}": f"new {i}" for i in range(8)}
    make(repo.root, old)
    repo.add(["data"])
    repo.snapshot("v1")
    make(repo.root, new)
    repo.add(["data"])
    repo.snapshot("v2")  # held: checkout may replace these versions
    proc = subprocess.run([sys.executable, "-c", KILLER, str(repo.root)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    now = tree(repo.root / "data")
    tracked = {k: v for k, v in now.items() if not k.split("/")[-1].startswith(".tmp-")}
    assert sorted(tracked) == [f"f{i}" for i in range(8)]
    for rel, data in tracked.items():
        assert data in (old[f"data/{rel}"].encode(), new[f"data/{rel}"].encode()), rel
    assert sum(d.startswith(b"old") for d in tracked.values()) == 3
    assert len(now) == 9  # the half-written staging file is there, under a temp name
    result = repo.checkout()  # the manifests already name v1: finishing needs no argument
    assert tree(repo.root / "data") == {k[5:]: v.encode() for k, v in old.items()}
    assert result.saved == [] and len(result.deleted) == 1


def test_staging_debris_beside_a_single_file_target_is_removed(repo: Repo) -> None:
    make(repo.root, {"extra.csv": "a,b\n1,2\n"})
    repo.add(["extra.csv"])
    debris = repo.root / ".tmp-extra.csv.0bf1380a6b6536cd"  # what a killed write leaves
    debris.write_bytes(b"a,b\n")
    bystander = repo.root / ".tmp-other.csv.0bf1380a6b6536cd"  # another file's: not ours
    bystander.write_bytes(b"x")
    assert all(t.clean for t in repo.status())
    result = repo.checkout()
    assert not debris.exists() and bystander.exists()
    assert result.deleted == [".tmp-extra.csv.0bf1380a6b6536cd"]
    assert (repo.root / "extra.csv").read_bytes() == b"a,b\n1,2\n"
