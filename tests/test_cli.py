from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import git, run_folio, write

from folio.repo import Repo


def test_init_outside_git_is_one_line_exit_1(tmp_path: Path) -> None:
    proc = run_folio(tmp_path, "init")
    assert proc.returncode == 1
    assert proc.stderr.startswith("folio: error: ")
    assert "not inside a git work tree" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_usage_error_exits_2(git_repo: Path) -> None:
    assert run_folio(git_repo, "add").returncode == 2
    assert run_folio(git_repo, "no-such-command").returncode == 2


def test_commands_before_init_say_so(git_repo: Path) -> None:
    proc = run_folio(git_repo, "status")
    assert proc.returncode == 1 and "run `folio init`" in proc.stderr


def test_add_status_ls_end_to_end_with_json(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/x.csv", "a,b\n1,2\n")
    write(git_repo / "data/sub/y.json", '{"k": 1}')
    out = json.loads(run_folio(git_repo, "add", "data", "--json", check=True).stdout)
    assert out[0]["files"] == 2 and out[0]["changed"]
    status = json.loads(run_folio(git_repo, "status", "--json", check=True).stdout)
    assert status == {"clean": True, "targets": [
        {"target": "data", "added": [], "modified": [], "deleted": [], "out_of_date": []}]}
    write(git_repo / "data/x.csv", "changed")
    proc = run_folio(git_repo, "status", "--exit-code")
    assert proc.returncode == 1 and "modified: x.csv" in proc.stdout
    assert run_folio(git_repo, "status").returncode == 0
    listing = json.loads(run_folio(git_repo, "ls", "--json", "data/sub").stdout)
    assert [e["location"] for e in listing] == ["data/sub/y.json"]
    assert listing[0]["sha256"] == Repo(git_repo).read_manifest("data").entries["sub/y.json"].sha256


def test_refusal_is_one_line_with_the_path(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    proc = run_folio(git_repo, "add", "../elsewhere")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "folio: error: ../elsewhere: is outside the repository"


def test_git_diff_of_a_manifest_reads_as_file_changes(git_repo: Path) -> None:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "data/a.csv", "1")
    write(git_repo / "data/b.csv", "2")
    run_folio(git_repo, "add", "data", check=True)
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "v1")
    write(git_repo / "data/b.csv", "22")
    run_folio(git_repo, "add", "data", check=True)
    env_path = str(Path(__import__("sys").executable).parent)
    diff = git(git_repo, "-c", f"diff.folio.textconv={env_path}/python -m folio.cli textconv",
               "diff").stdout
    assert "-b.csv  1 B" in diff and "+b.csv  2 B" in diff
    assert "-a.csv" not in diff and "+a.csv" not in diff


def test_demo_runs_in_a_new_directory(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    proc = run_folio(tmp_path, "demo", str(target))
    assert proc.returncode == 0, proc.stderr
    assert "modified: day1/part2.csv" in proc.stdout
    assert (target / ".folio/manifests/data/raw.folio").is_file()
    assert list(tmp_path.iterdir()) == [target]
