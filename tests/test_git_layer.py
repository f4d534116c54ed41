"""The git layer against real git: names, snapshots as commits, CAS refs, reachability, push.

Every repository here is made by the `git` binary in a temporary directory, and what folio
writes is checked back with the `git` binary too, so both sides of the contract are real.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygit2.enums import ConfigLevel

from folio.errors import (
    InvalidNameError,
    NotARepositoryError,
    PathError,
    RefConflictError,
    RefError,
    RemoteError,
    TagExistsError,
    UnknownRevisionError,
)
from folio.git import (
    RUNS_PREFIX,
    SNAPSHOTS_PREFIX,
    GitRepo,
    format_message,
    parse_trailers,
    validate_ref_component,
)

SNAP = SNAPSHOTS_PREFIX


# -- fixtures: isolated git on real temporary repositories --------------------------------


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                 ) -> Iterator[None]:
    """Hide the machine's global git config from both git and libgit2 (identity tests)."""
    home = tmp_path_factory.mktemp("home")
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    levels = (ConfigLevel.GLOBAL, ConfigLevel.XDG, ConfigLevel.SYSTEM)
    saved = {level: pygit2.settings.search_path[level] for level in levels}
    for level in levels:
        pygit2.settings.search_path[level] = str(home)
    yield
    for level, value in saved.items():
        pygit2.settings.search_path[level] = value


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    """Run the real git binary and return its stdout."""
    done = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=True)
    return done.stdout.decode()


def git_bytes(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True).stdout


def write(root: Path, rel: str, data: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def new_repo(path: Path, *, identity: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    if identity:
        git(path, "config", "user.name", "Ada Lovelace")
        git(path, "config", "user.email", "ada@example.org")
    return path


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A repo with two code commits that change the working manifests."""
    root = new_repo(tmp_path / "work")
    write(root, "README.md", "hello\n")
    write(root, ".folio/manifests/data/raw.folio", '{"folio": 1}\n{"path": "a"}\n')
    commit_all(root, "first")
    write(root, ".folio/manifests/data/raw.folio", '{"folio": 1}\n{"path": "b"}\n')
    write(root, ".folio/manifests/data/raw.folio.d/s1.folio", "shard\n")
    commit_all(root, "second")
    return root


FILES = {
    "data/raw.folio": b'{"folio": 1, "target": "data/raw"}\n',
    "data/raw.folio.d/00.folio": b"\x00binary\xff\n",
    "model.folio": b"",
}


# -- names --------------------------------------------------------------------------------

GOOD_NAMES = ["v1", "v1.0", "exp/run1", "a/b/c", "données", "実験-1", "x@y", "a.lock.b",
              "_x", "A_B-c", "a" * 250]
BAD_NAMES = {
    "": "empty", "..": "'..'", "a..b": "'..'", "-x": "'-'", "x.lock": ".lock",
    "a/b.lock/c": ".lock", "a b": "space", "a//b": "'//'", "@": "'@'", "x/": "'/'",
    "/x": "'/'", "x.": "end with '.'", ".x": "starts with '.'", "a/.b": "starts with '.'",
    "a\x00b": "control", "a\x1fb": "control", "a\x7fb": "control", "a\tb": "control",
    "a~b": "'~'", "a^b": "'^'", "a:b": "':'", "a?b": "'?'", "a*b": "'*'", "a[b": "'['",
    "a\\b": "backslash", "a@{1}": "'@{'", "a" * 251: "longer",
}


def git_accepts(name: str) -> bool:
    """What `git check-ref-format` says of refs/folio/snapshots/<name>."""
    done = subprocess.run(["git", "check-ref-format", f"{SNAP}{name}"], capture_output=True)
    return done.returncode == 0


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_valid_names_pass_and_git_agrees(name: str) -> None:
    assert validate_ref_component(name, "tag") == name
    assert git_accepts(name)


@pytest.mark.parametrize(("name", "rule"), list(BAD_NAMES.items()))
def test_invalid_names_are_refused_naming_name_and_rule(name: str, rule: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_ref_component(name, "run")
    message = str(info.value)
    assert message.startswith(f"invalid run name {name!r}")
    assert rule in message
    assert "\n" not in message
    # git agrees, except where we are stricter: a leading '-' and a bare '@' (git refuses
    # them only as a branch or a whole ref name; to folio they read as options and HEAD),
    # and the filesystem's file-name limit. NUL cannot travel in argv at all.
    stricter = name.startswith("-") or name == "@" or len(name) > 250
    if name and not stricter and "\x00" not in name:
        assert not git_accepts(name)


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12))
def test_names_we_accept_are_names_git_accepts(name: str) -> None:
    try:
        validate_ref_component(name)
    except InvalidNameError:
        return
    assert git_accepts(name), name


# -- trailers -----------------------------------------------------------------------------


def test_trailers_round_trip_and_git_reads_them() -> None:
    text = format_message("Title\n\nBody: not a trailer\nmore", {"Folio-Kind": "snapshot",
                                                               "Folio-Files": "3"})
    assert parse_trailers(text) == ("Title\n\nBody: not a trailer\nmore",
                                    {"Folio-Kind": "snapshot", "Folio-Files": "3"})
    parsed = subprocess.run(["git", "interpret-trailers", "--parse"], input=text.encode(),
                            capture_output=True, check=True).stdout.decode()
    assert parsed == "Folio-Kind: snapshot\nFolio-Files: 3\n"


def test_a_title_alone_or_prose_is_not_a_trailer_block() -> None:
    assert parse_trailers("Key: value\n") == ("Key: value", {})
    assert parse_trailers("Title\n\nsome prose\n") == ("Title\n\nsome prose", {})
    assert parse_trailers(format_message("", {"K": "v"})) == ("", {"K": "v"})


@pytest.mark.parametrize("trailers", [{"bad key": "v"}, {"K": "two\nlines"}, {"": "v"}])
def test_malformed_trailers_are_refused(trailers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        format_message("m", trailers)


# -- opening, config, HEAD ----------------------------------------------------------------


def test_outside_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotARepositoryError, match="not inside a git repository"):
        GitRepo(tmp_path)


def test_opens_from_a_subdirectory(work: Path) -> None:
    (work / "deep" / "er").mkdir(parents=True)
    assert GitRepo(work / "deep" / "er").workdir == work


def test_config_is_written_to_the_repository_only(work: Path) -> None:
    repo = GitRepo(work)
    assert repo.get_config("diff.folio.textconv") is None
    repo.set_config("diff.folio.textconv", "folio textconv")
    assert git(work, "config", "--local", "--get", "diff.folio.textconv") == "folio textconv\n"
    assert repo.get_config("diff.folio.textconv") == "folio textconv"
    assert not (Path(os.environ["HOME"]) / ".gitconfig").exists()


def test_head_commit_none_on_unborn_branch_then_the_sha(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "r")
    assert GitRepo(root).head_commit() is None
    assert GitRepo(root).is_dirty() is False
    write(root, "a", "1")
    sha = commit_all(root, "one")
    assert GitRepo(root).head_commit() == sha


def test_dirty_means_tracked_code_differs_from_head(work: Path) -> None:
    repo = GitRepo(work)
    assert not repo.is_dirty()
    write(work, "untracked.txt", "x")
    assert not repo.is_dirty(), "untracked files are not dirt"
    write(work, ".folio/manifests/data/raw.folio", "changed\n")
    assert not repo.is_dirty(), "manifests are ignored by default"
    assert repo.is_dirty(ignore_prefixes=())
    git(work, "checkout", "--", ".folio")
    write(work, "README.md", "edited\n")
    assert repo.is_dirty()
    git(work, "checkout", "--", "README.md")
    assert not repo.is_dirty()
    write(work, "staged.py", "x = 1\n")
    git(work, "add", "staged.py")
    assert repo.is_dirty(), "a staged new file is dirt"


# -- revisions and reading trees ----------------------------------------------------------


def test_resolve_commit_accepts_any_git_revision(work: Path) -> None:
    repo = GitRepo(work)
    head = git(work, "rev-parse", "HEAD").strip()
    first = git(work, "rev-parse", "HEAD~1").strip()
    git(work, "tag", "-a", "-m", "annotated", "v1", first)
    git(work, "branch", "old", first)
    assert repo.resolve_commit("HEAD") == head
    assert repo.resolve_commit("main") == head
    assert repo.resolve_commit("HEAD~1") == first
    assert repo.resolve_commit("v1") == first  # annotated tag peeled to its commit
    assert repo.resolve_commit("old") == first
    assert repo.resolve_commit(first[:10]) == first


@pytest.mark.parametrize("rev", ["nope", "HEAD~10", "", "-x", "HEAD:README.md", "HEAD^{tree}"])
def test_resolve_commit_refuses_what_names_no_commit(work: Path, rev: str) -> None:
    with pytest.raises(UnknownRevisionError) as info:
        GitRepo(work).resolve_commit(rev)
    assert repr(rev) in str(info.value)


def test_read_tree_files_at_an_older_commit(work: Path) -> None:
    repo = GitRepo(work)
    old = repo.read_tree_files("HEAD~1")
    assert old == {"data/raw.folio": b'{"folio": 1}\n{"path": "a"}\n'}
    new = repo.read_tree_files(git(work, "rev-parse", "HEAD").strip())
    assert new == {"data/raw.folio": b'{"folio": 1}\n{"path": "b"}\n',
                   "data/raw.folio.d/s1.folio": b"shard\n"}
    assert repo.read_tree_files("HEAD", "no/such/dir") == {}
    assert repo.read_tree_files("HEAD", "README.md") == {}, "a file is not a directory"
    whole = repo.read_tree_files("HEAD", "")
    assert whole["README.md"] == b"hello\n"
    assert whole[".folio/manifests/data/raw.folio.d/s1.folio"] == b"shard\n"


# -- writing snapshots --------------------------------------------------------------------


def test_snapshot_commit_holds_exactly_the_files(work: Path) -> None:
    repo = GitRepo(work)
    head = repo.head_commit()
    trailers = {"Folio-Kind": "snapshot", "Folio-Code-Commit": str(head)}
    sha = repo.write_snapshot(FILES, ref=f"{SNAP}v1", message="first cut", trailers=trailers)
    assert git(work, "rev-parse", f"{SNAP}v1").strip() == sha
    listed = git(work, "ls-tree", "-r", "--name-only", sha).split("\n")[:-1]
    assert listed == sorted(FILES)
    for path, data in FILES.items():
        assert git_bytes(work, "cat-file", "blob", f"{sha}:{path}") == data
    assert git(work, "log", "-1", "--format=%B", sha) == (
        f"first cut\n\nFolio-Kind: snapshot\nFolio-Code-Commit: {head}\n\n")
    assert git(work, "log", "-1", "--format=%(trailers:key=Folio-Code-Commit,valueonly)",
               sha).strip() == head
    assert git(work, "log", "-1", "--format=%an <%ae>|%cn|%P", sha) == (
        "Ada Lovelace <ada@example.org>|Ada Lovelace|\n")
    git(work, "fsck", "--strict", "--no-dangling")


def test_read_commit_splits_message_and_trailers(work: Path) -> None:
    repo = GitRepo(work)
    first = repo.write_snapshot(FILES, ref=f"{SNAP}a", message="m1", trailers={"K": "1"})
    before = int(time.time())
    second = repo.write_snapshot({"x": b"y"}, ref=f"{SNAP}b", message="Title\n\nbody\n",
                                 trailers={"Folio-Kind": "snapshot", "Folio-Name": "b"},
                                 parent=first)
    info = repo.read_commit(f"{SNAP}b")
    assert info.sha == second
    assert info.message == "Title\n\nbody"
    assert info.trailers == {"Folio-Kind": "snapshot", "Folio-Name": "b"}
    assert info.parents == (first,)
    assert info.tree == git(work, "rev-parse", f"{second}^{{tree}}").strip()
    assert info.author == "Ada Lovelace <ada@example.org>"
    assert before - 2 <= info.time <= time.time() + 2
    assert info.offset == time.localtime(info.time).tm_gmtoff // 60
    assert git(work, "rev-parse", f"{second}^").strip() == first


def test_identity_falls_back_to_folio_when_git_has_none(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "anon", identity=False)
    sha = GitRepo(root).write_snapshot({"a": b"1"}, ref=f"{SNAP}t", message="m", trailers={})
    assert git(root, "log", "-1", "--format=%an <%ae>", sha).strip() == "folio <folio@localhost>"


def test_snapshot_never_touches_index_head_branches_or_work_tree(work: Path) -> None:
    write(work, "README.md", "edited, unstaged\n")
    write(work, "new.py", "staged\n")
    git(work, "add", "new.py")
    write(work, "untracked.bin", b"\x01")

    def state() -> tuple[object, ...]:
        index = work / ".git" / "index"
        files = sorted((str(p.relative_to(work)), p.read_bytes()) for p in work.rglob("*")
                       if p.is_file() and ".git" not in p.relative_to(work).parts)
        return (git(work, "--no-optional-locks", "status", "--porcelain", "-uall"),
                git(work, "symbolic-ref", "HEAD"), git(work, "rev-parse", "HEAD"),
                git(work, "for-each-ref", "refs/heads", "refs/tags"),
                index.read_bytes(), index.stat().st_mtime_ns, files)

    before = state()
    repo = GitRepo(work)
    one = repo.write_snapshot(FILES, ref=f"{SNAP}v1", message="m", trailers={})
    two = repo.write_snapshot({"a": b"b"}, ref=f"{RUNS_PREFIX}r1", message="m", trailers={})
    repo.update_ref(f"{RUNS_PREFIX}r1", one, expected_old=two)
    repo.delete_ref(f"{RUNS_PREFIX}r1", expected_old=one)
    assert state() == before


def test_existing_tag_is_refused_and_kept(work: Path) -> None:
    repo = GitRepo(work)
    sha = repo.write_snapshot(FILES, ref=f"{SNAP}v1", message="m", trailers={})
    with pytest.raises(TagExistsError, match="tag 'v1' already exists"):
        repo.write_snapshot({"other": b"x"}, ref=f"{SNAP}v1", message="m", trailers={})
    assert repo.ref_target(f"{SNAP}v1") == sha


def test_updates_are_compare_and_swap(work: Path) -> None:
    repo = GitRepo(work)
    ref = f"{RUNS_PREFIX}r1"
    one = repo.write_snapshot({"a": b"1"}, ref=ref, message="m", trailers={})
    stale = "0" * 40
    with pytest.raises(RefConflictError, match="expected 000000000000"):
        repo.write_snapshot({"a": b"2"}, ref=ref, message="m", trailers={}, parent=one,
                            expected_old=stale)
    assert repo.ref_target(ref) == one
    two = repo.write_snapshot({"a": b"2"}, ref=ref, message="m", trailers={}, parent=one,
                              expected_old=one)
    assert git(work, "rev-parse", ref).strip() == two
    with pytest.raises(RefConflictError):
        repo.update_ref(ref, one, expected_old=one)
    with pytest.raises(RefConflictError, match="run 'r1' already exists"):
        repo.update_ref(ref, one, expected_old=None)  # None means "must not exist"
    repo.update_ref(ref, one, expected_old=two)
    assert git(work, "rev-parse", ref).strip() == one
    with pytest.raises(RefConflictError):
        repo.delete_ref(ref, expected_old=two)
    repo.delete_ref(ref, expected_old=one)
    assert repo.ref_target(ref) is None
    with pytest.raises(RefConflictError, match="does not exist"):
        repo.delete_ref(ref, expected_old=one)


def test_a_ref_moved_by_git_between_check_and_write_is_a_conflict(work: Path) -> None:
    """The lost-race path: libgit2 re-checks the old value under the lock (private hook)."""
    repo = GitRepo(work)
    ref = f"{RUNS_PREFIX}race"
    one = repo.write_snapshot({"a": b"1"}, ref=ref, message="m", trailers={})
    head = git(work, "rev-parse", "HEAD").strip()
    checked = repo._locked_at(ref, one)
    git(work, "update-ref", ref, head)  # another writer wins meanwhile
    with pytest.raises(pygit2.GitError, match="old reference value does not match"):
        checked.set_target(one)
    assert git(work, "rev-parse", ref).strip() == head


def test_hierarchical_tag_conflicts_name_the_blocking_ref(work: Path) -> None:
    repo = GitRepo(work)
    repo.write_snapshot({"a": b"1"}, ref=f"{SNAP}exp", message="m", trailers={})
    with pytest.raises(RefError, match=f"the ref {SNAP}exp exists"):
        repo.write_snapshot({"a": b"1"}, ref=f"{SNAP}exp/run1", message="m", trailers={})
    repo.write_snapshot({"a": b"1"}, ref=f"{SNAP}deep/run1", message="m", trailers={})
    with pytest.raises(RefError, match=f"the ref {SNAP}deep/run1 exists"):
        repo.write_snapshot({"a": b"1"}, ref=f"{SNAP}deep", message="m", trailers={})


@pytest.mark.parametrize("files", [{"../x": b""}, {"/abs": b""}, {"a//b": b""}, {"": b""},
                                   {".git/config": b""}, {"a/.GIT/x": b""}, {"a\\b": b""},
                                   {"a/./b": b""}, {"a": b"", "a/b": b""}, {"a/b": b"", "a": b""}])
def test_paths_git_cannot_store_are_refused_before_any_ref(work: Path, files: dict) -> None:
    repo = GitRepo(work)
    with pytest.raises(PathError):
        repo.write_snapshot(files, ref=f"{SNAP}bad", message="m", trailers={})
    assert repo.ref_target(f"{SNAP}bad") is None


@pytest.mark.parametrize("ref", ["refs/folio/snapshots/a..b", "heads/x", "refs/folio/x y"])
def test_invalid_ref_names_are_refused(work: Path, ref: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid ref name"):
        GitRepo(work).write_snapshot({"a": b""}, ref=ref, message="m", trailers={})


def test_empty_snapshot_is_an_empty_tree(work: Path) -> None:
    sha = GitRepo(work).write_snapshot({}, ref=f"{SNAP}empty", message="m", trailers={})
    assert git(work, "ls-tree", "-r", sha) == ""


def test_list_refs_and_ref_target(work: Path) -> None:
    repo = GitRepo(work)
    a = repo.write_snapshot({"a": b"1"}, ref=f"{SNAP}v1", message="m", trailers={})
    b = repo.write_snapshot({"a": b"2"}, ref=f"{SNAP}exp/run1", message="m", trailers={})
    r = repo.write_snapshot({"a": b"3"}, ref=f"{RUNS_PREFIX}20240101-x", message="m",
                            trailers={})
    assert repo.list_refs(SNAP) == [("exp/run1", b), ("v1", a)]
    assert repo.list_refs(RUNS_PREFIX) == [("20240101-x", r)]
    git(work, "pack-refs", "--all")  # packed refs read the same
    assert repo.list_refs(SNAP) == [("exp/run1", b), ("v1", a)]
    assert repo.ref_target(f"{SNAP}v1") == a
    assert repo.ref_target(f"{SNAP}nope") is None


# -- reachability for gc ------------------------------------------------------------------


def test_reachable_manifests_cover_history_branches_snapshots_and_index(work: Path) -> None:
    manifests = ".folio/manifests/data/raw.folio"
    git(work, "checkout", "-q", "-b", "side", "HEAD~1")
    write(work, manifests, "side branch\n")
    write(work, "code.py", "not a manifest\n")
    commit_all(work, "side")
    git(work, "checkout", "-q", "main")
    git(work, "tag", "-a", "-m", "t", "rel", "HEAD")
    repo = GitRepo(work)
    snap = repo.write_snapshot({"x.folio": b"snap one\n", "dup.folio": b"shard\n"},
                               ref=f"{SNAP}s1", message="m", trailers={})
    repo.write_snapshot({"x.folio": b"snap two\n"}, ref=f"{SNAP}s2", message="m",
                        trailers={}, parent=snap)
    git(work, "update-ref", "-d", f"{SNAP}s1")  # s1 is still reachable as s2's parent
    write(work, ".folio/manifests/staged.folio", "staged only\n")
    git(work, "add", ".folio/manifests/staged.folio")

    found = list(repo.reachable_manifest_blobs())
    contents = [data for _, data in found]
    assert sorted(contents) == sorted([
        b'{"folio": 1}\n{"path": "a"}\n', b'{"folio": 1}\n{"path": "b"}\n', b"shard\n",
        b"side branch\n", b"snap one\n", b"snap two\n", b"staged only\n"])
    assert (".folio/manifests/staged.folio" not in dict(found)
            and "staged.folio" in dict(found)), "paths are relative to the manifests root"
    without_index = [data for _, data in repo.reachable_manifest_blobs(include_index=False)]
    assert b"staged only\n" not in without_index

    expected = set(git(work, "rev-list", "--all").split())
    commits = list(repo.all_ref_commits())
    assert len(commits) == len(set(commits))
    assert set(commits) == expected


def test_reachability_on_a_repo_without_commits(tmp_path: Path) -> None:
    repo = GitRepo(new_repo(tmp_path / "empty"))
    assert list(repo.all_ref_commits()) == []
    assert list(repo.reachable_manifest_blobs()) == []


# -- push and fetch through the git binary ------------------------------------------------


def test_push_then_fetch_snapshot_into_a_clone(work: Path, tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    repo = GitRepo(work)
    sha = repo.write_snapshot(FILES, ref=f"{SNAP}v1", message="shared",
                              trailers={"Folio-Kind": "snapshot"})
    repo.push_refs("origin")
    assert git(bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/folio") == (
        f"{SNAP}v1 {sha}\n")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    theirs = GitRepo(clone)
    assert theirs.ref_target(f"{SNAP}v1") is None, "a plain clone leaves refs/folio behind"
    theirs.fetch_refs("origin")
    assert theirs.ref_target(f"{SNAP}v1") == sha
    assert theirs.read_tree_files(f"{SNAP}v1", "") == FILES
    assert theirs.read_commit(f"{SNAP}v1").trailers == {"Folio-Kind": "snapshot"}


def test_fetch_refuses_to_clobber_a_local_tag(work: Path, tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(work, "remote", "add", "origin", str(bare))
    repo = GitRepo(work)
    repo.write_snapshot({"a": b"mine"}, ref=f"{SNAP}v1", message="m", trailers={})
    repo.push_refs("origin")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    theirs = GitRepo(clone)
    local = theirs.write_snapshot({"a": b"theirs"}, ref=f"{SNAP}v1", message="m", trailers={})
    with pytest.raises(RemoteError, match="git fetch failed"):
        theirs.fetch_refs("origin")
    assert theirs.ref_target(f"{SNAP}v1") == local


def test_push_errors_are_one_line_remote_errors(work: Path) -> None:
    with pytest.raises(RemoteError, match="git push failed") as info:
        GitRepo(work).push_refs("nowhere")
    assert "\n" not in str(info.value)
    with pytest.raises(RemoteError, match="invalid git remote"):
        GitRepo(work).push_refs("--upload-pack=touch /tmp/x")


# -- property: what goes in comes out -----------------------------------------------------

_component = st.text(st.characters(codec="utf-8", exclude_characters="/\\\x00"),
                     min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..") and s.lower() != ".git")
_paths = st.lists(_component, min_size=1, max_size=3).map("/".join)


def _no_file_dir_clash(files: dict[str, bytes]) -> bool:
    return not any(other.startswith(path + "/") for path in files for other in files)


_counter = itertools.count()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.dictionaries(_paths, st.binary(max_size=64), max_size=8).filter(
    _no_file_dir_clash))
def test_any_files_round_trip_through_a_snapshot(work: Path, files: dict[str, bytes]) -> None:
    repo = GitRepo(work)
    digest = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()[:8]
    ref = f"{SNAP}prop-{next(_counter)}-{digest}"
    sha = repo.write_snapshot(files, ref=ref, message="p", trailers={"N": digest})
    assert repo.read_tree_files(sha, "") == files
    assert repo.read_commit(ref).trailers == {"N": digest}
