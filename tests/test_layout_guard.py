"""No links under .folio/ (docs/format.md): a symlink anywhere folio keeps its own files is
refused with one line naming it, exit 1, and nothing behind it is read, written or deleted.

Each case plants a link to a canary tree outside the repository, runs the real CLI verbs,
and compares a checksum of every canary file before and after. Malformed caches (index,
marks, pack-index cache, lock.info, recovery log) never produce a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
from tests.conftest import git, run_folio, write
from tests.reliability.harness import replace_with_link

from folio.errors import UnsafeLinkError
from folio.ops import recovery
from folio.remote.local import DirectoryBackend
from folio.repo import Repo

TWO_DAYS = 2 * 86400
VERBS = [("add", "data"), ("status",), ("checkout",), ("snapshot", "t1"), ("pull",),
         ("gc", "--grace", "0"), ("verify",), ("untrack", "data")]


@dataclass
class Scene:
    root: Path
    outside: Path  # the canary tree: no command may change a byte of it
    nas: Path  # a directory remote holding every object

    def link(self, rel: str, to_file: bool = False) -> Path:
        """Replace ``rel`` (below the repo root) with a link into the canary tree."""
        return replace_with_link(self.root / rel,
                                 self.outside / "victim.txt" if to_file else self.outside)


def checksums(top: Path) -> dict[str, str]:
    """Every entry below ``top`` (links not followed): its kind, bytes and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            body = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            out[path.relative_to(top).as_posix()] = \
                f"{st.st_mode:o} {st.st_mtime_ns} {hashlib.sha256(body).hexdigest()}"
    return out


def canary(top: Path) -> None:
    """Files that look like folio debris (old staging files, stale shards) and are not."""
    for rel, data in (("victim.txt", b"precious\n"), ("sub/deep.bin", os.urandom(300)),
                      (".tmp-old", b"looks like staging debris"),
                      ("t0/.tmp-1-1", b"looks like an object being staged"),
                      ("0123.folio", b'{"folio": 1}\n'), ("recovery.jsonl", b"")):
        write(top / rel, data)
    old = time.time() - TWO_DAYS
    for path in top.rglob("*"):
        os.utime(path, (old, old))


@pytest.fixture
def scene(git_repo: Path, tmp_path: Path) -> Scene:
    repo = Repo.init(git_repo)
    write(git_repo / "data/a.csv", "a,b\n1,2\n")
    write(git_repo / "data/sub/b.csv", "c\n3\n")
    repo.add(["data"], cwd=git_repo)
    repo.add_remote("nas", str(tmp_path / "nas"))
    repo.push()
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "data")
    outside = tmp_path / "outside"
    canary(outside)
    return Scene(git_repo, outside, tmp_path / "nas")


def assert_refused(proc: subprocess.CompletedProcess[str], name: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("folio: error:"), proc.stderr
    assert name in lines[0], lines[0]


# -- a link at each fixed place, every verb --------------------------------------------------
LINKS = [
    (".folio/manifests/data.folio.d", False),
    (".folio/tmp", False),
    (".folio/lock.info", True),
    (".folio/lock", True),
    (".folio/logs", False),
    (".folio/logs/recovery.jsonl", True),
    (".folio/cache", False),
    (".folio/objects", False),
    (".folio/manifests", False),
    (".folio/index", True),
    (".folio", False),
    # below the git dir, where the local parts live: no commit writes there, same rule
    (".git/folio/objects", False),
    (".git/folio/tmp", False),
    (".git/folio/logs", False),
    (".git/folio/lock.info", True),
    (".git/folio/index", True),
]


@pytest.mark.parametrize(("rel", "to_file"), LINKS, ids=[r for r, _ in LINKS])
def test_a_link_under_folio_is_refused_by_every_verb(scene: Scene, rel: str,
                                                     to_file: bool) -> None:
    if rel == ".folio":  # keep the real one aside: the link replaces all of it
        shutil.move(scene.root / ".folio", scene.root.parent / "folio-aside")
    scene.link(rel, to_file)
    before = checksums(scene.outside)
    for verb in VERBS:
        assert_refused(run_folio(scene.root, *verb), rel)
    assert (scene.root / rel).is_symlink(), "the link itself was replaced"
    assert checksums(scene.outside) == before


def test_a_link_inside_the_manifests_tree_is_refused(scene: Scene) -> None:
    """Anywhere below .folio/manifests, not only at a fixed name."""
    (scene.root / ".folio/manifests/deep").mkdir()
    scene.link(".folio/manifests/deep/other.folio", to_file=True)
    before = checksums(scene.outside)
    assert_refused(run_folio(scene.root, "status"), ".folio/manifests/deep/other.folio")
    assert_refused(run_folio(scene.root, "add", "data"), ".folio/manifests/deep/other.folio")
    assert checksums(scene.outside) == before


@pytest.mark.parametrize("rel", [".folio/tmp", ".folio/index", ".folio/logs/recovery.jsonl",
                                 ".git/folio/tmp", ".git/folio/index"])
def test_an_entry_of_the_wrong_kind_is_refused(scene: Scene, rel: str) -> None:
    """A file where a directory belongs, a directory (or a FIFO that would hang a reader)
    where a file belongs: one line naming it."""
    path = scene.root / rel
    if path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if rel.endswith("tmp"):
        path.write_bytes(b"not a directory")
    elif rel.endswith("index"):
        path.unlink(missing_ok=True)
        os.mkfifo(path)
    else:
        path.mkdir()
    for verb in (("status",), ("add", "data"), ("gc", "--grace", "0")):
        assert_refused(run_folio(scene.root, *verb), rel)


def test_a_store_fan_out_directory_that_is_a_link_is_refused(scene: Scene) -> None:
    objects = scene.root / ".git/folio/objects"
    fan = sorted(p.name for p in objects.iterdir())[0]
    shutil.rmtree(objects / fan)
    (objects / fan).symlink_to(scene.outside)
    before = checksums(scene.outside)
    for verb in VERBS:
        assert_refused(run_folio(scene.root, *verb), f".git/folio/objects/{fan}")
    assert checksums(scene.outside) == before


def test_an_object_that_is_a_link_is_never_linked_into_the_work_tree(scene: Scene) -> None:
    """An attacker who knows an outside file's bytes plants ``objects/ab/cd…`` pointing at
    it: a hardlink checkout must not link that file into the work tree."""
    victim = scene.outside / "victim.txt"
    oid = hashlib.sha256(victim.read_bytes()).hexdigest()
    obj = scene.root / ".git/folio/objects" / oid[:2] / oid[2:]
    obj.parent.mkdir(exist_ok=True)
    obj.symlink_to(victim)
    manifest = scene.root / ".folio/manifests/data.folio"
    manifest.write_text(manifest.read_text() + json.dumps(
        {"path": "z.txt", "sha256": oid, "size": victim.stat().st_size}) + "\n")
    before = checksums(scene.outside)
    proc = run_folio(scene.root, "checkout", "--link", "hardlink")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert not (scene.root / "data/z.txt").exists()
    verify = run_folio(scene.root, "verify")
    assert verify.returncode == 1 and oid[:12] in verify.stdout + verify.stderr
    assert checksums(scene.outside) == before


# -- a link made after the open-time check: the writes themselves refuse --------------------
def test_links_made_after_the_repo_was_opened_are_not_followed(scene: Scene) -> None:
    repo = Repo(scene.root)
    before = checksums(scene.outside)
    write(scene.root / "data/new.csv", "x\n9\n")

    scene.link(".folio/manifests/data.folio.d")
    with pytest.raises(UnsafeLinkError, match=r"data\.folio\.d"):
        repo.add(["data"], cwd=scene.root)
    (scene.root / ".folio/manifests/data.folio.d").unlink()

    scene.link(".git/folio/tmp")
    with pytest.raises(UnsafeLinkError, match=r"\.git/folio/tmp"):
        repo.store.put_bytes(b"new content")
    (scene.root / ".git/folio/tmp").unlink()

    scene.link(".git/folio/logs")
    with pytest.raises(UnsafeLinkError, match=r"\.git/folio/logs"):
        recovery.append(repo.local_dir, [recovery.RecoveryRecord(
            recovery.now(), "data/a.csv", "0" * 64, 1, "test")])
    assert recovery.read(scene.outside) == []
    (scene.root / ".git/folio/logs").unlink()

    scene.link(".git/folio/lock.info", to_file=True)
    with repo.lock.hold():  # replaced by a file of its own, not written through
        pass
    assert not (scene.root / ".git/folio/lock.info").is_symlink()

    scene.link(".git/folio/tmp")  # where lock.info is staged
    with pytest.raises(UnsafeLinkError, match=r"\.git/folio/tmp"), repo.lock.hold():
        pass
    (scene.root / ".git/folio/tmp").unlink()
    with Repo(scene.root).lock.hold():  # the refused hold let go of the lock
        pass
    assert checksums(scene.outside) == before


# -- directory remotes ------------------------------------------------------------------------
def test_a_directory_remote_never_follows_a_link_in_its_tree(scene: Scene) -> None:
    write(scene.root / "data/c.bin", os.urandom(5 << 20))  # big: travels as a loose object
    Repo(scene.root).add(["data"], cwd=scene.root)
    oid = hashlib.sha256((scene.root / "data/c.bin").read_bytes()).hexdigest()
    fan = scene.nas / oid[:2]
    shutil.rmtree(fan, ignore_errors=True)
    fan.symlink_to(scene.outside)
    before = checksums(scene.outside)
    assert_refused(run_folio(scene.root, "push"), str(fan))
    backend = DirectoryBackend(scene.nas)
    with pytest.raises(UnsafeLinkError):
        backend.put_bytes(f"{oid[:2]}/{oid[2:]}", b"bytes")
    with pytest.raises(UnsafeLinkError):
        list(backend.list())
    with pytest.raises(UnsafeLinkError):
        backend.delete(f"{oid[:2]}/{oid[2:]}")
    assert checksums(scene.outside) == before


# -- malformed caches: treated as absent, never a traceback ----------------------------------
INDEX_GARBAGE = {
    "empty": b"",
    "noise": os.urandom(200),
    "truncated": msgpack.packb({"v": 3, "paths": ["data/a.csv"], "rows": b"x" * 64})[:-9],
    "unhashable-path": msgpack.packb({"v": 3, "paths": [[1]], "rows": b"x" * 32}),
    "wrong-shape": msgpack.packb([1, 2, 3]),
}


@pytest.mark.parametrize("garbage", INDEX_GARBAGE.values(), ids=INDEX_GARBAGE.keys())
def test_a_malformed_stat_cache_is_no_cache(scene: Scene, garbage: bytes) -> None:
    (scene.root / ".git/folio/index").write_bytes(garbage)
    (scene.root / ".git/folio/cache/marks").unlink(missing_ok=True)
    write(scene.root / "data/a.csv", "a,b\n1,2\n3,4\n")
    status = run_folio(scene.root, "status", "--json")
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    assert json.loads(status.stdout)["targets"][0]["modified"] == ["a.csv"]
    add = run_folio(scene.root, "add", "data")
    assert add.returncode == 0 and "Traceback" not in add.stderr, add.stderr


MARKS_GARBAGE = {
    "noise": b"\xc1garbage",
    "row-too-short": msgpack.packb({"v": 2, "targets": {"data": [1, 2, 3]}}),
    "targets-a-list": msgpack.packb({"v": 2, "targets": [1]}),
    "dirs-not-bytes": msgpack.packb(
        {"v": 2, "targets": {"data": [b"fp", {"": 1}, 2, [], True]}}, use_bin_type=True),
    "deep": b"\x91" * 100_000,
}


@pytest.mark.parametrize("garbage", MARKS_GARBAGE.values(), ids=MARKS_GARBAGE.keys())
def test_malformed_clean_marks_are_no_marks(scene: Scene, garbage: bytes) -> None:
    (scene.root / ".git/folio/cache/marks").write_bytes(garbage)
    os.unlink(scene.root / "data/sub/b.csv")
    status = run_folio(scene.root, "status", "--json")
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    # the deletion is seen: no garbage mark vouched for the target
    assert json.loads(status.stdout)["targets"][0]["deleted"] == ["sub/b.csv"]
    add = run_folio(scene.root, "add", "data")
    assert add.returncode == 0 and "Traceback" not in add.stderr, add.stderr


def test_a_malformed_pack_index_cache_is_fetched_again(scene: Scene) -> None:
    cached = sorted((scene.root / ".git/folio/cache/packs").glob("*.idx"))
    assert cached, "the push should have cached the index of the pack it wrote"
    for path in cached:
        path.write_bytes(os.urandom(100))
    shutil.rmtree(scene.root / ".git/folio/objects")
    pull = run_folio(scene.root, "pull")
    assert pull.returncode == 0 and "Traceback" not in pull.stderr, pull.stderr
    assert (scene.root / "data/a.csv").read_text() == "a,b\n1,2\n"
    push = run_folio(scene.root, "push")
    assert push.returncode == 0 and "Traceback" not in push.stderr, push.stderr


@pytest.mark.parametrize("garbage", [b"\xff\x00 not json", b"[1, 2]", b"{\"since\": \"x\"}",
                                     b"[" * 100_000],
                         ids=["bytes", "a-list", "bad-since", "deep"])
def test_a_garbage_lock_info_names_an_unknown_holder(scene: Scene, garbage: bytes) -> None:
    Repo(scene.root).config.update(["core"], {"lock_timeout": 0.2})
    holder = subprocess.Popen(
        [sys.executable, "-c", "import filelock, sys, time; "
         "l = filelock.FileLock(sys.argv[1]); l.acquire(); print('held', flush=True); "
         "time.sleep(60)", str(scene.root / ".git/folio/lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        (scene.root / ".git/folio/lock.info").write_bytes(garbage)
        proc = run_folio(scene.root, "add", "data")
    finally:
        holder.kill()
        holder.wait()
    assert_refused(proc, ".git/folio/lock")
    assert "unknown" in proc.stderr


def test_garbage_lines_in_the_recovery_log_are_skipped(scene: Scene) -> None:
    repo = Repo(scene.root)
    oid = repo.store.put_bytes(b"saved by a forced checkout")
    good = json.dumps({"time": "2026-01-01T00:00:00+00:00", "path": "data/a.csv",
                       "sha256": oid, "size": 26, "reason": "test"}).encode()
    log = scene.root / ".git/folio/logs/recovery.jsonl"
    write(log, b"\xff\xfe garbage\n[1,2]\n{\"sha256\": 5}\n" + good + b"\n" + b"[" * 100_000)
    listing = run_folio(scene.root, "recover", "--json")
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    assert [r["sha256"] for r in json.loads(listing.stdout)] == [oid]
    old = time.time() - TWO_DAYS
    os.utime(repo.store.path(oid), (old, old))
    gc = run_folio(scene.root, "gc", "--grace", "0")
    assert gc.returncode == 0 and "Traceback" not in gc.stderr, gc.stderr
    assert repo.store.has(oid), "the good line still makes its object a gc root"
