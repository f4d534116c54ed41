"""Local parts live below the git dir (.git/folio), where no commit can reach them.

git treats ignored files in the work tree as expendable: a pulled commit that puts a file or
a link where a clone keeps an ignored directory makes git delete that directory without a
word. With the store in .folio/objects, one hostile commit wiped a clone's whole store on a
plain `git pull`. These tests prove the store and the recovery log now survive that, that a
repository made by an older folio is moved over once without losing a byte, and that
linked worktrees share one store while each keeps its own stat cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from tests.conftest import git, run_folio, write

from folio.repo import Repo


def _committed_repo(root: Path) -> Repo:
    repo = Repo.init(root)
    write(root / "data/a.csv", "a,b\n1,2\n")
    write(root / "data/b.bin", os.urandom(4096))
    repo.add(["data"], cwd=root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "data")
    return repo


def _objects(store_root: Path) -> dict[str, bytes]:
    return {p.relative_to(store_root).as_posix(): p.read_bytes()
            for p in store_root.glob("*/*") if p.is_file()}


def test_the_store_and_the_log_are_below_the_git_dir(git_repo: Path) -> None:
    repo = _committed_repo(git_repo)
    assert repo.store.root == git_repo / ".git/folio/objects"
    assert len(_objects(repo.store.root)) == 2
    assert not (git_repo / ".folio/objects").exists()
    write(git_repo / "data/a.csv", "an unsaved edit\n")
    assert run_folio(git_repo, "checkout", "--force").returncode == 0
    assert (git_repo / ".git/folio/logs/recovery.jsonl").is_file()
    # .folio/ holds only what is committed: git sees no untracked or ignored file in it
    listed = git(git_repo, "status", "--porcelain", "--ignored", "--", ".folio").stdout
    assert listed == "", listed


def test_a_pulled_commit_cannot_make_git_delete_the_store(tmp_path: Path) -> None:
    """The attack: commit a link (or a file) at .folio/objects and .folio/logs. git pull
    replaces ignored directories there; nothing folio keeps is there any more."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    victim = tmp_path / "victim"
    victim.mkdir()
    git(victim, "init", "-q", "-b", "main")
    repo = _committed_repo(victim)
    git(victim, "remote", "add", "origin", str(origin))
    git(victim, "push", "-q", "origin", "main")
    write(victim / "data/a.csv", "the victim's unsaved edit\n")
    assert run_folio(victim, "checkout", "--force").returncode == 0  # logged, then restored
    store_before = _objects(repo.store.root)
    log_before = (victim / ".git/folio/logs/recovery.jsonl").read_bytes()
    # the same clone with an old-style store, to show what git does to ignored directories
    (victim / ".folio/objects").mkdir()
    write(victim / ".folio/objects/ab/cdef", "an ignored file git may delete")

    attacker = tmp_path / "attacker"
    git(tmp_path, "clone", "-q", str(origin), str(attacker))
    (attacker / ".folio/objects").symlink_to("/tmp")
    write(attacker / ".folio/logs", "a file where a directory was\n")
    git(attacker, "add", "-f", ".folio/objects", ".folio/logs")
    git(attacker, "commit", "-qm", "tidy up")
    git(attacker, "push", "-q", "origin", "main")

    assert git(victim, "pull", "-q", "origin", "main").returncode == 0
    assert (victim / ".folio/objects").is_symlink(), "git replaced the ignored directory"
    assert _objects(repo.store.root) == store_before, "the store lost objects"
    assert (victim / ".git/folio/logs/recovery.jsonl").read_bytes() == log_before
    # folio refuses the planted names by name, and touches nothing behind them
    proc = run_folio(victim, "status")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert ".folio/" in proc.stderr and "link" in proc.stderr
    git(victim, "rm", "-q", "--cached", ".folio/objects", ".folio/logs")
    (victim / ".folio/objects").unlink()
    (victim / ".folio/logs").unlink()
    assert run_folio(victim, "verify").returncode == 0
    assert run_folio(victim, "recover", "--json").stdout.count("data/a.csv") == 1


def test_an_old_layout_is_moved_once_without_losing_a_byte(git_repo: Path) -> None:
    repo = _committed_repo(git_repo)
    write(git_repo / "data/a.csv", "edit\n")
    assert run_folio(git_repo, "checkout", "--force").returncode == 0
    local = git_repo / ".git/folio"
    objects, log = _objects(local / "objects"), (local / "logs/recovery.jsonl").read_bytes()
    # lay it out as folio 0.1 did: everything local in .folio/
    legacy = git_repo / ".folio"
    shutil.move(local / "objects", legacy / "objects")
    shutil.move(local / "logs", legacy / "logs")
    write(legacy / "index", "an old stat cache: dropped, rebuilt on demand")
    (legacy / "tmp").mkdir(exist_ok=True)
    write(legacy / "tmp/.tmp-debris", "left by a killed writer")
    shutil.rmtree(local)

    proc = run_folio(git_repo, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    notice = proc.stderr.strip().splitlines()
    assert len(notice) == 1 and ".folio/objects" in notice[0] and ".git/folio" in notice[0]
    assert json.loads(proc.stdout)["targets"][0]["modified"] == []
    assert _objects(local / "objects") == objects
    assert (local / "logs/recovery.jsonl").read_bytes() == log
    for name in ("objects", "logs", "index", "tmp"):
        assert not (legacy / name).exists(), name
    again = run_folio(git_repo, "verify")
    assert again.returncode == 0 and again.stderr == "", again.stderr  # said once
    assert repo.root == git_repo


def test_an_old_store_is_merged_into_a_new_one_object_by_object(git_repo: Path) -> None:
    repo = _committed_repo(git_repo)
    extra = b"only in the old store"
    oid = hashlib.sha256(extra).hexdigest()
    write(git_repo / f".folio/objects/{oid[:2]}/{oid[2:]}", extra)
    before = _objects(repo.store.root)
    assert run_folio(git_repo, "status").returncode == 0
    after = _objects(repo.store.root)
    assert after == {**before, f"{oid[:2]}/{oid[2:]}": extra}
    assert not (git_repo / ".folio/objects").exists()


def test_linked_worktrees_share_the_store_and_keep_their_own_stat_cache(git_repo: Path,
                                                                       tmp_path: Path) -> None:
    repo = _committed_repo(git_repo)
    other = tmp_path / "other"
    git(git_repo, "worktree", "add", "-q", "-b", "side", str(other))
    assert not (other / "data").exists()  # the data is not in git
    proc = run_folio(other, "checkout")
    assert proc.returncode == 0, proc.stderr  # objects come from the shared store
    assert (other / "data/a.csv").read_text() == "a,b\n1,2\n"
    side = Repo(other)
    assert side.store.root == repo.store.root == git_repo / ".git/folio/objects"
    assert side.state_dir != repo.state_dir and side.state_dir.parent.name == "other"
    write(other / "data/a.csv", "changed on the side branch\n")
    status = json.loads(run_folio(other, "status", "--json").stdout)
    assert status["targets"][0]["modified"] == ["a.csv"]
    main_status = json.loads(run_folio(git_repo, "status", "--json").stdout)
    assert main_status["targets"][0]["modified"] == []


def test_gc_in_one_worktree_keeps_what_another_names(git_repo: Path, tmp_path: Path) -> None:
    """The store is shared, so gc counts every work tree's working and staged manifests
    and HEAD: an add nobody committed yet, in a linked worktree, survives gc in the main one
    (and the reverse)."""
    _committed_repo(git_repo)
    other = tmp_path / "other"
    git(git_repo, "worktree", "add", "-q", "--detach", str(other))
    write(other / "side/new.csv", "only in the linked worktree\n")
    assert run_folio(other, "add", "side").returncode == 0
    write(other / "staged/s.csv", "staged in the linked worktree\n")
    assert run_folio(other, "add", "staged").returncode == 0
    git(other, "add", ".folio/manifests/staged.folio")
    os.unlink(other / ".folio/manifests/staged.folio")  # staged only: the index names it
    write(git_repo / "main/m.csv", "only in the main worktree\n")
    assert run_folio(git_repo, "add", "main").returncode == 0
    for here in (git_repo, other):
        gc = run_folio(here, "gc", "--grace", "0", "--json")
        assert gc.returncode == 0, gc.stderr
        assert json.loads(gc.stdout)["removed"] == [], gc.stdout
    for here in (git_repo, other):
        verify = run_folio(here, "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
    shas = {hashlib.sha256(p.read_bytes()).hexdigest() for p in
            (other / "side/new.csv", other / "staged/s.csv", git_repo / "main/m.csv")}
    assert all(Repo(git_repo).store.has(sha) for sha in shas)


def test_committed_files_at_the_old_local_names_are_refused_never_moved(git_repo: Path) -> None:
    """A commit can hold real files at .folio/objects/... and .folio/logs/...: they are
    someone else's bytes (an object under a name that is not its hash, a forged recovery
    record), never this clone's old store, so nothing moves and the refusal names them."""
    repo = _committed_repo(git_repo)
    store_before = _objects(repo.store.root)
    oid = hashlib.sha256(b"the victim's next file\n").hexdigest()
    write(git_repo / f".folio/objects/{oid[:2]}/{oid[2:]}", "attacker bytes\n")
    write(git_repo / ".folio/logs/recovery.jsonl", json.dumps(
        {"time": "2026-01-01T00:00:00+00:00", "path": "data/a.csv", "sha256": oid,
         "size": 15, "reason": "forged"}) + "\n")
    git(git_repo, "add", "-f", ".folio/objects", ".folio/logs")
    git(git_repo, "commit", "-qm", "legacy parts")
    for argv in (["status"], ["add", "data"], ["verify"], ["gc", "--grace", "0"]):
        proc = run_folio(git_repo, *argv)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert ".folio/objects" in proc.stderr and "git rm -r --cached" in proc.stderr
    assert _objects(repo.store.root) == store_before
    assert not (git_repo / ".git/folio/logs/recovery.jsonl").exists()
    assert (git_repo / ".folio/objects").is_dir()  # left for the user to remove


def test_gc_keeps_what_another_worktree_last_checked_out_by_symlink(git_repo: Path,
                                                                   tmp_path: Path) -> None:
    """A linked worktree's symlinked file *is* the store object. After git brings that
    worktree another manifest (out of date, not modified), only its synced record still
    names the object: gc run from the main worktree must keep it, or the file dangles."""
    _committed_repo(git_repo)
    other = tmp_path / "other"
    git(git_repo, "worktree", "add", "-q", "--detach", str(other))
    assert run_folio(other, "checkout").returncode == 0
    write(other / "data/a.csv", "only ever added in the linked worktree\n")
    assert run_folio(other, "add", "data").returncode == 0
    os.unlink(other / "data/a.csv")
    proc = run_folio(other, "checkout", "--link", "symlink")
    assert proc.returncode == 0, proc.stderr
    assert (other / "data/a.csv").is_symlink()
    git(other, "checkout", "--", ".folio/manifests")  # git puts the committed manifest back
    gc = run_folio(git_repo, "gc", "--grace", "0", "--json")
    assert gc.returncode == 0, gc.stderr
    assert (other / "data/a.csv").read_text() == "only ever added in the linked worktree\n"
    status = json.loads(run_folio(other, "status", "--json").stdout)
    assert status["targets"][0]["modified"] == [], status
