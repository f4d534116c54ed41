from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import msgpack
import pytest
from tests.conftest import age, git, write

from folio.errors import NotARepositoryError, OverlapError, PathError
from folio.repo import Repo
from folio.worktree import index


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_init_is_idempotent_and_registers_the_diff_driver(git_repo: Path) -> None:
    Repo.init(git_repo)
    config = (git_repo / ".folio/config.toml").read_text()
    Repo.init(git_repo)
    assert (git_repo / ".folio/config.toml").read_text() == config
    from folio.git.drivers import textconv_command  # the absolute Python (docs/format.md 2.4)

    assert git(git_repo, "config", "diff.folio.textconv").stdout.strip() == textconv_command()
    assert "diff=folio" in (git_repo / ".folio/.gitattributes").read_text()
    assert "/objects/" in (git_repo / ".folio/.gitignore").read_text()


def test_init_outside_git_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotARepositoryError, match="not inside a git work tree"):
        Repo.init(tmp_path)


def test_add_stores_every_file_and_writes_a_sorted_manifest(repo: Repo) -> None:
    root = repo.root
    write(root / "data/b.csv", "b")
    write(root / "data/a/x.bin", os.urandom(5000))
    [result] = repo.add(["data"])
    assert result.files == 2 and result.changed
    manifest = repo.read_manifest("data")
    assert list(manifest.entries) == ["a/x.bin", "b.csv"]
    for entry in manifest.entries.values():
        assert repo.store.read_bytes(entry.sha256) == (root / "data" / entry.path).read_bytes()
    assert "/data" in (root / ".gitignore").read_text().splitlines()
    # git sees the manifest but not the data
    untracked = git(root, "status", "--porcelain", "--untracked-files=all").stdout
    assert ".folio/manifests/data.folio" in untracked and "data/b.csv" not in untracked


def test_readd_of_unchanged_data_writes_nothing(repo: Repo) -> None:
    write(repo.root / "data/a", "1")
    repo.add(["data"])
    manifest = repo.manifest_path("data")
    before = manifest.stat()
    age(repo.root / "data/a")
    [again] = repo.add(["data"])
    assert not again.changed
    after = manifest.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_status_after_modify_add_delete(repo: Repo) -> None:
    root = repo.root
    for name in ("keep", "edit", "gone"):
        write(root / "data" / name, name)
    repo.add(["data"])
    assert all(s.clean for s in repo.status())
    write(root / "data/edit", "edited")
    write(root / "data/new", "new")
    (root / "data/gone").unlink()
    [s] = repo.status()
    assert (s.modified, s.added, s.deleted) == (["edit"], ["new"], ["gone"])


def test_status_uses_the_stat_cache_and_does_not_rehash(repo: Repo) -> None:
    write(repo.root / "data/f", "content")
    age(repo.root / "data/f")
    repo.add(["data"])
    hashed = []
    original = repo.store.put_file_stat
    repo.store.put_file_stat = lambda *a, **k: hashed.append(a) or original(*a, **k)  # type: ignore
    assert repo.status()[0].clean
    assert hashed == []


def test_racy_clean_same_size_edit_is_detected(repo: Repo) -> None:
    """A same-size rewrite keeping size and mtime is caught when the mtime is not older
    than the cache (git's racy-git rule)."""
    path = write(repo.root / "data/f", "aaaa")
    repo.add(["data"])
    st = path.stat()
    path.write_text("bbbb")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime
    [s] = repo.status()
    assert s.modified == ["f"]


def test_touched_but_identical_file_is_not_modified(repo: Repo) -> None:
    path = write(repo.root / "data/f", "same")
    repo.add(["data"])
    os.utime(path, None)
    assert repo.status()[0].clean


def test_single_file_target_and_glob(repo: Repo) -> None:
    write(repo.root / "models/m1.bin", "1")
    write(repo.root / "models/m2.bin", "2")
    results = repo.add(["models/*.bin"])
    assert [r.target for r in results] == ["models/m1.bin", "models/m2.bin"]
    m = repo.read_manifest("models/m1.bin")
    assert m.kind == "file" and list(m.entries) == ["m1.bin"]
    write(repo.root / "models/m1.bin", "changed")
    statuses = {s.target: s for s in repo.status()}
    assert statuses["models/m1.bin"].modified == ["m1.bin"]
    assert statuses["models/m2.bin"].clean


def test_no_copy_records_hash_only(repo: Repo) -> None:
    write(repo.root / "big/f", "payload")
    repo.add(["big"], store_copy=False)
    entry = repo.read_manifest("big").entries["f"]
    assert not entry.stored and not repo.store.has(entry.sha256)
    assert repo.status()[0].clean


@pytest.mark.parametrize("bad, message", [
    ("../outside", "outside the repository"),
    ("/etc", "outside the repository"),
    (".git", "inside .git/"),
    (".folio/config.toml", "inside .folio/"),
    ("nope", "does not exist"),
])
def test_add_refusals(repo: Repo, bad: str, message: str) -> None:
    (repo.root.parent / "outside").mkdir(exist_ok=True)
    with pytest.raises(PathError, match=message):
        repo.add([bad])


def test_overlapping_targets_are_refused(repo: Repo) -> None:
    write(repo.root / "data/raw/a", "a")
    repo.add(["data/raw"])
    with pytest.raises(OverlapError, match="inside the tracked target data/raw"):
        repo.add(["data/raw/a"])
    with pytest.raises(OverlapError, match="contains the tracked target data/raw"):
        repo.add(["data"])


def test_symlink_out_of_the_repo_is_refused(repo: Repo, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", "secret")
    (repo.root / "data").mkdir()
    os.symlink(secret, repo.root / "data/link")
    with pytest.raises(PathError, match="symlink that leads outside"):
        repo.add(["data"])
    os.symlink(tmp_path, repo.root / "dirlink")
    with pytest.raises(PathError, match="outside the repository"):
        repo.add(["dirlink/secret.txt"])
    assert not repo.targets()


def test_symlink_inside_is_recorded_as_a_link(repo: Repo) -> None:
    write(repo.root / "data/real.txt", "x")
    os.symlink("real.txt", repo.root / "data/alias")
    repo.add(["data"])
    entry = repo.read_manifest("data").entries["alias"]
    assert entry.link == "real.txt" and entry.sha256 is None
    assert repo.status()[0].clean


def test_gitignore_escapes_special_names(repo: Repo) -> None:
    write(repo.root / "we[ir]d*#/f", "x")
    repo.add(["we[ir]d*#"])
    assert "/we\\[ir]d\\*#" in (repo.root / ".gitignore").read_text().splitlines()
    porcelain = git(repo.root, "status", "--porcelain", "--untracked-files=all").stdout
    assert "we[ir]d*#/f" not in porcelain and ".folio/manifests/we[ir]d*#.folio" in porcelain


def test_non_utf8_file_name_is_a_clear_error(repo: Repo) -> None:
    d = repo.root / "data"
    d.mkdir()
    (d / "ok").write_text("x")
    with open(os.path.join(os.fsencode(d), b"bad\xff"), "wb") as f:
        f.write(b"x")
    with pytest.raises(Exception, match="not valid UTF-8"):
        repo.add(["data"])


def test_fresh_clone_status_works_without_init(repo: Repo, tmp_path: Path) -> None:
    write(repo.root / "data/a", "a")
    repo.add(["data"])
    git(repo.root, "add", ".")
    git(repo.root, "commit", "-q", "-m", "data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo.root), str(clone))
    [s] = Repo(clone).status()
    # data not fetched yet: reported as out of date (never a deletion an add would record)
    assert s.out_of_date == ["a"] and s.deleted == []


def test_manifest_json_lines_are_committed_text(repo: Repo) -> None:
    write(repo.root / "data/a.csv", "1,2\n")
    repo.add(["data"])
    lines = repo.manifest_path("data").read_text().splitlines()
    assert json.loads(lines[0]) == {"folio": 1, "kind": "dir", "target": "data"}
    assert json.loads(lines[1])["path"] == "a.csv"


def test_git_submodule_marker_inside_a_target_is_not_data(repo: Repo) -> None:
    write(repo.root / "data/a", "a")
    write(repo.root / "data/sub/.git", "gitdir: ../../.git/modules/sub")
    write(repo.root / "data/other/.GIT/config", "x")
    repo.add(["data"])
    assert list(repo.read_manifest("data").entries) == ["a"]
    assert repo.status()[0].clean


def test_executable_bit_is_recorded_and_its_change_is_a_modification(repo: Repo) -> None:
    script = write(repo.root / "tools/run.sh", "#!/bin/sh\n")
    script.chmod(0o755)
    repo.add(["tools"])
    assert repo.read_manifest("tools").entries["run.sh"].executable
    script.chmod(0o644)
    assert repo.status()[0].modified == ["run.sh"]


def test_deleted_target_can_be_named_and_untracked(repo: Repo) -> None:
    write(repo.root / "data/a", "a")
    repo.add(["data"])
    import shutil

    shutil.rmtree(repo.root / "data")
    [s] = repo.status(["data"])
    assert s.deleted == ["a"]
    assert repo.untrack(["data"]) == ["data"]
    assert repo.targets() == []
    assert "/data" not in (repo.root / ".gitignore").read_text().splitlines()


def test_missing_object_is_restored_by_readd(repo: Repo) -> None:
    path = write(repo.root / "data/a", "precious")
    age(path)
    repo.add(["data"])
    oid = repo.read_manifest("data").entries["a"].sha256
    repo.store.delete(oid)
    repo.add(["data"])  # the clean mark vouches for unchanged files: not stored again
    assert not repo.store.has(oid)
    assert oid in repo.verify().missing  # verify finds the loss and forgets the marks,
    repo.add(["data"])  # so add compares in full and stores the content again
    assert repo.store.has(oid)


def test_target_under_a_symlinked_parent_is_refused(repo: Repo, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "secret", "s")
    os.symlink(outside, repo.root / "linked")
    with pytest.raises(PathError, match="outside the repository"):
        repo.add(["linked/secret"])


def test_folio_d_component_is_refused(repo: Repo) -> None:
    write(repo.root / "weird.folio.d/x", "x")
    with pytest.raises(PathError, match=r"folio\.d"):
        repo.add(["weird.folio.d/x"])


@pytest.mark.parametrize("n", [0, 1, 15, 16, 8191, 8192, 8193, 70_000])
def test_the_stat_cache_streams_the_bytes_one_packb_would_write(tmp_path: Path, n: int) -> None:
    """Saved in pieces (a million rows are never copied whole), read back whole."""
    rows = {f"data/é {i}/f": os.urandom(index.ROW_SIZE) for i in range(n)}
    whole = msgpack.packb({"v": index.VERSION, "paths": list(rows),
                           "rows": b"".join(rows.values())}, use_bin_type=True)
    cache = index.StatCache(tmp_path / "index")
    cache.entries, cache.dirty = rows, True
    cache.save()
    assert (tmp_path / "index").read_bytes() == whole
    assert index.StatCache(tmp_path / "index").entries == rows


def test_a_cached_hash_needs_size_mtime_inode_and_ctime_to_match(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_bytes(b"abc")
    old = time.time() - 10
    os.utime(file, (old, old))
    st = os.stat(file)
    cache = index.StatCache(tmp_path / "index")
    cache.record("f", st, "ab" * 32)
    cache.save()
    cache = index.StatCache(tmp_path / "index")
    assert cache.lookup("f", st) == "ab" * 32
    for field in ("st_size", "st_mtime_ns", "st_ino", "st_ctime_ns"):
        changed = SimpleNamespace(**{f: getattr(st, f) for f in
                                     ("st_size", "st_mtime_ns", "st_ino", "st_ctime_ns")})
        setattr(changed, field, getattr(st, field) + 1)
        assert cache.lookup("f", changed) is None, field
