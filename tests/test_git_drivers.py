"""folio's git drivers in real clones: the manifest merge driver and the diff driver work in
a fresh clone after any folio command (no `folio init`), from a shell without folio on PATH,
and fall back readably when the interpreter they name is gone (folio issue 13, items 3 and 5).

A team is a bare repository and clones of it; every command is the real git or the real
folio CLI in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio import manifest as mf
from folio.git import drivers
from folio.ops.setup import GITATTRIBUTES, upgraded_gitattributes

MAIN = ".folio/manifests/d.folio"
BARE_PATH = "/usr/bin:/bin"  # no venv, no folio: an IDE's or a GUI's environment


def bare_env() -> dict[str, str]:
    return {**os.environ, "PATH": BARE_PATH}


def git_bare(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git run where neither folio nor the venv is on PATH."""
    return subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True,
                          env=bare_env(), check=False)


def folio(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_folio(cwd, *args, check=True)


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repository that a first clone set folio up in: target d with f1..f4.csv."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    first = tmp_path / "first"
    git(tmp_path, "clone", "-q", str(bare), str(first))
    folio(first, "init")
    for i in range(1, 5):
        write(first / "d" / f"f{i}.csv", f"a,b\n{i},{i}\n")
    folio(first, "add", "d")
    commit(first, "data")
    git(first, "push", "-q", "origin", "HEAD:main")
    return bare


def clone(origin: Path, name: str) -> Path:
    """A plain `git clone`."""
    root = origin.parent / name
    git(origin.parent, "clone", "-q", str(origin), str(root))
    return root


def fresh_clone(origin: Path, name: str = "second") -> Path:
    """`git clone` then one folio command (status), never `folio init`."""
    root = origin.parent / name
    git(origin.parent, "clone", "-q", str(origin), str(root))
    run_folio(root, "textconv", MAIN)  # needs no repository, so it sets nothing either
    # a clone where folio has not run keeps plain git
    assert git(root, "config", "--get-regexp", "folio", check=False).stdout == ""
    run_folio(root, "status")  # out of date or missing data: any exit, the drivers are set
    return root


def edit(root: Path, branch: str, **files: str) -> None:
    """On a new branch from main, write files of d and record them."""
    git(root, "checkout", "-q", "-b", branch, "main")
    for name, text in files.items():
        write(root / "d" / f"{name}.csv", text)
    folio(root, "add", "d")
    commit(root, branch)


def two_branches(root: Path, ours: dict[str, str], theirs: dict[str, str]) -> None:
    """Branch `theirs` with one set of edits, `ours` (checked out) with the other."""
    edit(root, "theirs", **theirs)
    git(root, "checkout", "-q", "main")
    folio(root, "checkout")
    edit(root, "ours", **ours)


def merge(root: Path) -> subprocess.CompletedProcess[str]:
    return git_bare(root, "merge", "--no-edit", "theirs")


def data_of(root: Path, origin: Path, cwd: str = ".") -> None:
    """Put the first clone's data into ``root`` (the objects copied, then checked out)."""
    src = origin.parent / "first" / ".git" / "folio" / "objects"
    dst = root / ".git" / "folio" / "objects"
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-R", str(src), str(dst)], check=True)
    folio(root / cwd, "checkout")


# -- a fresh clone gets the drivers from its first folio command ------------------------------

def test_a_fresh_clone_merges_edits_to_adjacent_entries_without_folio_init(
        origin: Path) -> None:
    root = fresh_clone(origin)
    data_of(root, origin)
    two_branches(root, ours={"f3": "a,b\n3,33\n"}, theirs={"f2": "a,b\n2,22\n"})
    done = merge(root)
    assert done.returncode == 0, done.stdout + done.stderr
    listing = folio(root, "ls", "--json").stdout
    assert '"f2.csv"' in listing and '"f3.csv"' in listing
    # the merge brought theirs' manifest entry; the data here is still ours: out of date
    status = run_folio(root, "status")
    assert "d:\n  out of date: f2.csv\n" in status.stdout, status.stdout
    assert "modified" not in status.stdout
    folio(root, "checkout")
    assert (root / "d" / "f2.csv").read_text() == "a,b\n2,22\n"
    assert (root / "d" / "f3.csv").read_text() == "a,b\n3,33\n"
    assert "Data matches the manifests" in folio(root, "status").stdout


def test_a_path_changed_on_both_sides_is_one_readable_conflict(origin: Path) -> None:
    root = fresh_clone(origin)
    data_of(root, origin)
    two_branches(root, ours={"f2": "a,b\n2,20\n", "f3": "a,b\n3,33\n"},
                 theirs={"f2": "a,b\n2,22\n"})
    done = merge(root)
    assert done.returncode != 0
    assert f"CONFLICT (content): Merge conflict in {MAIN}" in done.stdout
    assert f"folio: {MAIN}: merge conflict: 1 path changed differently on both branches: " \
           "f2.csv" in done.stderr
    # only the path both changed is in conflict (git's text merge would take f3.csv in too)
    assert mf.conflicted_paths((root / MAIN).read_bytes()) == ["f2.csv"]
    status = run_folio(root, "status")
    assert status.returncode == 1
    assert f"has unresolved merge conflicts in git ({MAIN})" in status.stderr, status.stderr
    assert "not a JSON line" not in status.stderr


def test_git_diff_renders_manifests_in_a_fresh_clone_without_folio_on_path(
        origin: Path) -> None:
    root = fresh_clone(origin)
    data_of(root, origin)
    write(root / "d" / "f1.csv", "a,b\n1,100\n")
    folio(root, "add", "d")
    diff = git_bare(root, "diff", "--", MAIN)
    assert diff.returncode == 0, diff.stderr
    assert "+f1.csv  " in diff.stdout and '"sha256"' not in diff.stdout
    commit(root, "edit f1")
    log = git_bare(root, "log", "-p", "-1")
    assert log.returncode == 0 and "+f1.csv  " in log.stdout


# -- where the configured interpreter is gone ---------------------------------------------------

def point_drivers_at(root: Path, python: str) -> None:
    """The config an interpreter now deleted (a removed venv) would have written."""
    for key, value in drivers.wanted(python).items():
        git(root, "config", key, value)


def test_diff_and_log_fall_back_to_raw_lines_when_the_python_is_gone(origin: Path) -> None:
    root = clone(origin, "second")
    folio(root, "init")
    assert git(root, "config", drivers.TEXTCONV_KEY).stdout.strip() == \
        drivers.textconv_command()
    point_drivers_at(root, str(origin.parent / "removed venv" / "bin" / "python"))
    data_of(root, origin)
    write(root / "d" / "f1.csv", "a,b\n1,100\n")
    folio(root, "add", "d")
    point_drivers_at(root, str(origin.parent / "removed venv" / "bin" / "python"))
    diff = git_bare(root, "diff", "--", MAIN)
    assert diff.returncode == 0, diff.stderr
    assert '+{"path":"f1.csv"' in diff.stdout.replace(" ", ""), diff.stdout
    assert diff.stderr == ""
    commit(root, "edit f1")
    log = git_bare(root, "log", "-p")
    assert log.returncode == 0, log.stderr
    assert '"path":"f4.csv"' in log.stdout.replace(" ", "")


def test_the_old_bare_textconv_is_replaced_and_diffs_work_without_folio_on_path(
        origin: Path) -> None:
    root = clone(origin, "second")
    git(root, "config", drivers.TEXTCONV_KEY, "folio textconv")  # what an older folio set
    data_of(root, origin)  # opens the repository: the drivers are rewritten
    assert git(root, "config", drivers.TEXTCONV_KEY).stdout.strip() != "folio textconv"
    write(root / "d" / "f1.csv", "a,b\n1,100\n")
    folio(root, "add", "d")
    diff = git_bare(root, "diff", "--", MAIN)
    assert diff.returncode == 0, diff.stderr
    assert "+f1.csv  " in diff.stdout


def test_without_the_interpreter_a_merge_is_git_text_merge_and_a_conflict(
        origin: Path) -> None:
    root = fresh_clone(origin)
    data_of(root, origin)
    two_branches(root, ours={"f2": "a,b\n2,20\n"}, theirs={"f2": "a,b\n2,22\n"})
    point_drivers_at(root, str(origin.parent / "gone" / "python"))
    done = merge(root)
    assert done.returncode != 0
    assert "the folio merge driver is unavailable" in done.stderr
    assert MAIN in git(root, "diff", "--name-only", "--diff-filter=U").stdout
    text = (root / MAIN).read_text()
    assert "<<<<<<< ours" in text and ">>>>>>> theirs" in text
    assert mf.conflicted_paths(text.encode()) == ["f2.csv"]
    assert "unresolved merge conflicts" in run_folio(root, "status").stderr


# -- the driver command itself ------------------------------------------------------------------

def test_merge_driver_command_fails_in_one_line_and_leaves_ours(tmp_path: Path) -> None:
    ours = write(tmp_path / "ours", b'{"folio":1,"kind":"dir","target":"d"}\n')
    theirs = write(tmp_path / "theirs", b'{"folio":1,"kind":"dir","target":"d"}\n')
    done = run_folio(tmp_path, "merge-driver", str(tmp_path / "no-base"), str(ours),
                     str(theirs), MAIN)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "merge driver failed" in done.stderr
    assert "no-base" in done.stderr and "Traceback" not in done.stderr
    assert ours.read_bytes() == b'{"folio":1,"kind":"dir","target":"d"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours", "theirs"]


def test_the_commands_never_import_a_folio_package_a_commit_carries(origin: Path) -> None:
    """git runs drivers in the work tree: a committed folio/ must not be on sys.path."""
    first = origin.parent / "first"
    marker = origin.parent / "pwned"
    payload = f"open({str(marker)!r}, 'w').write('ran')\n"
    for rel in ("folio/__init__.py", "folio/cli/__init__.py", "folio/cli/__main__.py",
                "folio/mergeman.py"):
        write(first / rel, payload)
    commit(first, "a hostile package")
    git(first, "push", "-q", "origin", "HEAD:main")
    root = clone(origin, "second")
    (root / "d").mkdir()
    run_folio(root / "d", "status")  # from d/: this test's own `python -m` stays off it too
    data_of(root, origin, cwd="d")
    assert not marker.exists()
    write(root / "d" / "f1.csv", "a,b\n1,100\n")
    folio(root / "d", "add", ".")
    diff = git_bare(root, "diff", "--", MAIN)
    assert "+f1.csv  " in diff.stdout
    commit(root, "f1")
    git(root, "checkout", "-q", "-b", "theirs", "HEAD~1")
    write(root / "d" / "f2.csv", "a,b\n2,22\n")
    folio(root / "d", "add", ".")
    commit(root, "theirs")
    git(root, "checkout", "-q", "main")
    assert merge(root).returncode == 0
    assert not marker.exists()


# -- folio init and .folio/.gitattributes ---------------------------------------------------------

def test_init_upgrades_the_gitattributes_of_an_older_folio(git_repo: Path) -> None:
    write(git_repo / ".folio" / ".gitattributes", "*.folio diff=folio\n")
    folio(git_repo, "init")
    assert (git_repo / ".folio" / ".gitattributes").read_text() == GITATTRIBUTES
    assert GITATTRIBUTES == "*.folio diff=folio merge=folio\n"
    for key in (drivers.TEXTCONV_KEY, drivers.MERGE_NAME_KEY, drivers.MERGE_DRIVER_KEY):
        assert git(git_repo, "config", "--get", key).stdout.strip()
    assert "%O %A %B %P" in git(git_repo, "config", drivers.MERGE_DRIVER_KEY).stdout
    attrs = git(git_repo, "check-attr", "diff", "merge", "--", MAIN).stdout
    assert f"{MAIN}: diff: folio" in attrs and f"{MAIN}: merge: folio" in attrs


def test_init_keeps_what_a_user_wrote_and_adds_the_merge_line_only_if_missing(
        git_repo: Path) -> None:
    mine = "# ours\n*.folio diff=folio\n*.csv text"
    write(git_repo / ".folio" / ".gitattributes", mine)
    folio(git_repo, "init")
    assert (git_repo / ".folio" / ".gitattributes").read_text() == \
        mine + "\n*.folio merge=folio\n"
    chosen = "*.folio diff=folio -merge\n"
    assert upgraded_gitattributes(chosen) == chosen
    assert upgraded_gitattributes("*.folio merge=union\n") == "*.folio merge=union\n"
    assert upgraded_gitattributes(None) == GITATTRIBUTES


# -- the check that keeps them is cheap --------------------------------------------------------

def test_what_git_wrote_reads_back_so_no_command_rewrites_it(git_repo: Path) -> None:
    folio(git_repo, "init")
    assert drivers.missing(git_repo) == {}
    config = git_repo / ".git" / "config"
    before = config.stat().st_mtime_ns, config.read_bytes()
    folio(git_repo, "status")
    assert (config.stat().st_mtime_ns, config.read_bytes()) == before
    git(git_repo, "config", drivers.MERGE_NAME_KEY, "something else")
    assert set(drivers.missing(git_repo)) == {drivers.MERGE_NAME_KEY}


def test_install_global_gives_a_never_opened_clone_readable_diffs(tmp_path: Path) -> None:
    """`folio install --global` (as `git lfs install`): a clone no folio command has run in
    renders manifest diffs through folio's driver, from the user's git config."""
    import os
    import subprocess
    import sys

    from folio.git import drivers

    origin = tmp_path / "origin"
    git(tmp_path, "init", "-q", "-b", "main", str(origin))
    run_folio(origin, "init", check=True)
    write(origin / "data/a.csv", "1\n")
    run_folio(origin, "add", "data", check=True)
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "one")
    write(origin / "data/a.csv", "2\n")
    run_folio(origin, "add", "data", check=True)
    git(origin, "commit", "-qam", "two")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    plain = git(clone, "log", "-p", "-1", "--", ".folio/manifests").stdout
    assert "# folio dir target data" not in plain  # no driver in this clone yet
    done = subprocess.run([sys.executable, "-P", "-m", "folio.cli", "install", "--global"],
                          cwd=tmp_path, capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0 and "merge.folio.driver: set" in done.stdout, done.stderr
    assert git(tmp_path, "config", "--global", "merge.folio.driver").stdout.strip() == \
        drivers.merge_command()
    assert "diff.folio" not in (clone / ".git/config").read_text()  # nothing per clone
    rendered = git(clone, "log", "-p", "-1", "--", ".folio/manifests").stdout
    assert "# folio dir target data" in rendered, rendered
