"""Runs and output capture against real subprocesses and real git.

`folio run` is driven as a user drives it (a real CLI process running a real job); the
recorded commit is checked with the `git` binary, the captured bytes through the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tests.conftest import age, git, run_folio, write

from folio.errors import PathError
from folio.ops.check import check_manifests
from folio.ops.outputs import check_patterns
from folio.ops.runs import default_name, get_run, slug
from folio.repo import Repo

JOB = textwrap.dedent("""\
    import os, pathlib, sys
    root = pathlib.Path(".")
    sys.stdout.write("job says hello " + os.environ["FOLIO_RUN_ID"] + "\\n")
    sys.stdout.flush()
    sys.stderr.write("job warns\\n")
    sys.stderr.flush()
    (root / "model.bin").write_bytes(b"weights" * 100)
    (root / "results/deep").mkdir(parents=True, exist_ok=True)
    (root / "results/metrics.json").write_text('{"acc": 0.9}')
    (root / "results/deep/table.csv").write_text("a,b\\n1,2\\n")
    (root / "plots/sub").mkdir(parents=True, exist_ok=True)
    (root / "plots/a.png").write_bytes(b"png-a")
    (root / "plots/sub/b.png").write_bytes(b"png-b")
    (root / "plots/notes.txt").write_text("not a png")
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    """)


@pytest.fixture
def work(git_repo: Path) -> Path:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "job.py", JOB)
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "code")
    return git_repo


def _runs(root: Path, *args: str) -> list[dict]:
    return json.loads(run_folio(root, "runs", "--json", *args, check=True).stdout)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_run_captures_by_name_directory_and_glob(work: Path) -> None:
    proc = run_folio(work, "run", "--put", "model.bin", "--put", "results",
                     "--put", "plots/**/*.png", "--", sys.executable, "job.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("job says hello 2")  # streamed through, untouched
    assert "job warns" in proc.stderr
    [run] = _runs(work)
    assert re.fullmatch(r"\d{8}-\d{6}-job-[0-9a-f]{4}", run["id"])
    assert run["status"] == "ok" and run["exit_code"] == 0 and run["name"] == "job"
    assert run["outputs"] == ["model.bin", "plots/a.png", "plots/sub/b.png", "results"]
    assert run["code_commit"] == git(work, "rev-parse", "HEAD").stdout.strip()
    assert run["dirty"] is False and run["files"] == 5
    repo = Repo(work)
    assert repo.read_manifest("results").entries["deep/table.csv"].sha256 == _sha(b"a,b\n1,2\n")
    assert repo.store.read_bytes(_sha(b"weights" * 100)) == b"weights" * 100
    assert "plots/notes.txt" not in repo.targets(), "the glob chose only the .png files"
    # The log holds both streams, and the job saw its own run id.
    log = run_folio(work, "runs", run["id"], "--log", check=True).stdout
    assert f"job says hello {run['id']}" in log and "job warns" in log
    # The run commit is a real git commit whose tree is the working manifests.
    ref = f"refs/folio/runs/{run['id']}"
    tree = git(work, "ls-tree", "-r", "--name-only", ref).stdout.split()
    assert tree == ["model.bin.folio", "plots/a.png.folio", "plots/sub/b.png.folio",
                    "results.folio"]
    body = git(work, "log", "-1", "--format=%B", ref).stdout
    assert "Folio-Kind: run" in body and f"Folio-Log: {run['log']}" in body
    assert run["log"] == _sha(log.encode())
    # git sees manifests to commit, never the data itself.
    untracked = git(work, "status", "--porcelain", "-uall").stdout.splitlines()
    assert "?? .folio/manifests/model.bin.folio" in untracked
    assert "?? model.bin" not in untracked and "?? plots/a.png" not in untracked


def test_checkout_of_a_run_restores_its_whole_data_state(work: Path) -> None:
    run_folio(work, "run", "--put", "results", "--", sys.executable, "job.py", check=True)
    [run] = _runs(work)
    write(work / "results/metrics.json", '{"acc": 0.1}')
    write(work / "results/extra.csv", "x")
    Repo(work).add([work / "results"])
    # those added versions are in no commit: checkout refuses without --force (issue 13),
    # and with it keeps them in the recovery log
    Repo(work).checkout(f"run:{run['id']}", force=True)
    assert (work / "results/metrics.json").read_text() == '{"acc": 0.9}'
    assert not (work / "results/extra.csv").exists()
    assert {"results/extra.csv", "results/metrics.json"} <= {
        r.path for r in Repo(work).recovery_log()}


def test_a_pattern_matching_nothing_is_reported_not_fatal(work: Path) -> None:
    proc = run_folio(work, "run", "--put", "nothing/*.csv", "--put", "model.bin", "--",
                     sys.executable, "job.py")
    assert proc.returncode == 0
    assert "folio: nothing/*.csv: matches nothing" in proc.stderr
    [run] = _runs(work)
    assert run["outputs"] == ["model.bin"] and run["unmatched"] == ["nothing/*.csv"]


def test_no_copy_records_the_hash_and_status_checks_it_later(work: Path) -> None:
    proc = run_folio(work, "run", "--no-copy", "--put", "model.bin", "--",
                     sys.executable, "job.py")
    assert proc.returncode == 0, proc.stderr
    repo = Repo(work)
    entry = repo.read_manifest("model.bin").entries["model.bin"]
    assert not entry.stored and entry.sha256 == _sha(b"weights" * 100)
    assert not repo.store.has(entry.sha256), "hash only: the content stays out of the store"
    assert _runs(work)[0]["files"] == 1
    age(work / "model.bin")
    assert all(s.clean for s in repo.status())
    (work / "model.bin").write_bytes(b"weights" * 99 + b"WEIGHTS")  # same size, other bytes
    [status] = repo.status()
    assert status.modified == ["model.bin"], "the recorded hash catches the change"


def test_a_failed_command_is_recorded_and_its_exit_code_passed_through(work: Path) -> None:
    proc = run_folio(work, "run", "--name", "bad try", "--put", "results", "--",
                     sys.executable, "job.py", "3")
    assert proc.returncode == 3
    assert "failed (exit 3)" in proc.stderr
    [run] = _runs(work, "--status", "failed")
    assert run["status"] == "failed" and run["exit_code"] == 3 and run["name"] == "bad try"
    assert "-bad-try-" in run["id"] and run["outputs"] == ["results"]
    assert _runs(work, "--status", "ok") == []


def test_a_command_that_cannot_start_is_recorded_as_127(work: Path) -> None:
    proc = run_folio(work, "run", "--", "no-such-program-folio-test")
    assert proc.returncode == 127
    assert "cannot run 'no-such-program-folio-test': command not found" in proc.stderr
    [run] = _runs(work)
    assert run["status"] == "failed" and run["exit_code"] == 127


def test_ctrl_c_is_recorded_as_a_failed_run(work: Path) -> None:
    started = work / "started"
    job = f"import pathlib, time; pathlib.Path({str(started)!r}).write_text('x'); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-m", "folio.cli", "run", "--put", "started", "--",
                             sys.executable, "-c", job], cwd=work, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    [run] = _runs(work)
    assert run["status"] == "failed" and run["exit_code"] == 130
    assert run["outputs"] == ["started"] and run["duration_s"] < 20


@pytest.mark.parametrize("pattern", ["../outside", "/etc/*", ".folio/objects", ".git/config",
                                     "escape/*.csv", "."])
def test_an_escaping_pattern_is_refused_before_the_command_runs(work: Path,
                                                                pattern: str) -> None:
    (work / "escape").symlink_to(work.parent)
    marker = work / "ran.marker"
    proc = run_folio(work, "run", "--put", pattern, "--", sys.executable, "-c",
                     f"open({str(marker)!r}, 'w').write('ran')")
    assert proc.returncode == 1
    assert proc.stderr.startswith("folio: error: ") and proc.stderr.count("\n") == 1
    assert not marker.exists(), "the command must not have run"
    assert git(work, "for-each-ref", "refs/folio").stdout == ""


def test_run_needs_a_command_and_folio(git_repo: Path) -> None:
    assert run_folio(git_repo, "run").returncode == 2
    proc = run_folio(git_repo, "run", "--", "true")
    assert proc.returncode == 1 and "folio init" in proc.stderr


def test_names_and_ids(work: Path) -> None:
    assert default_name(["python", "-u", "train.py", "--lr", "1"]) == "train"
    assert default_name(["python3", "-m", "pkg.evaluate"]) == "evaluate"
    assert default_name(["/usr/bin/make", "all"]) == "make"
    assert slug("my exp/1: é") == "my-exp-1" and slug("..") == "run"
    assert slug("x.lock") == "x"


# -- the context manager ----------------------------------------------------------------------

def test_capture_context_manager_records_a_run_on_success(repo: Repo) -> None:
    with repo.capture(["df.csv", "plots/*.png"], name="notebook") as run:
        assert run.id.endswith(run.id[-4:]) and "-notebook-" in run.id
        write(repo.root / "df.csv", "a\n1\n")
        write(repo.root / "plots/x.png", b"png")
        write(repo.root / "plots/y.txt", "skip")
    assert run.status == "ok" and run.exit_code == 0 and run.commit is not None
    assert run.outputs == ["df.csv", "plots/x.png"]
    assert run.log is None, "nothing to log when the body succeeds"
    assert get_run(repo.git, run.id).to_json() == run.to_json()
    assert repo.read_manifest("df.csv").entries["df.csv"].sha256 == _sha(b"a\n1\n")


def test_capture_context_manager_records_failure_and_reraises(repo: Repo) -> None:
    with pytest.raises(ValueError, match="diverged"), \
            repo.capture(["out"], store_copy=False) as run:
        write(repo.root / "out/partial.csv", "1")
        raise ValueError("loss diverged")
    assert run.status == "failed" and run.exit_code == 1 and run.outputs == ["out"]
    assert not repo.read_manifest("out").entries["partial.csv"].stored
    log = repo.store.read_bytes(run.log).decode()
    assert "ValueError: loss diverged" in log and "Traceback" in log
    table = repo.runs(status="failed")
    assert table.column("run_id").to_pylist() == [run.id]


def test_capture_refuses_escaping_patterns_before_the_body(repo: Repo) -> None:
    ran = []
    with pytest.raises(PathError, match="outside the repository"), repo.capture(["../x"]):
        ran.append(1)
    assert ran == []
    with pytest.raises(PathError, match="never tracks"):
        check_patterns(repo.root, [".folio/config.toml"])


# -- tables -----------------------------------------------------------------------------------

def test_runs_and_query_tables(repo: Repo) -> None:
    write(repo.root / "data/in.csv", "x\n1\n")
    repo.add(["data"])
    repo.snapshot("base", "inputs only")
    with repo.capture(["out.csv"], name="first") as one:
        write(repo.root / "out.csv", "1")
    with pytest.raises(RuntimeError), repo.capture(["out.csv"], name="second") as two:
        write(repo.root / "out.csv", "22")
        raise RuntimeError("boom")
    runs = repo.runs()
    assert runs.column_names == ["run_id", "name", "command", "status", "exit_code", "started",
                                 "duration_s", "code_commit", "dirty", "host", "files", "bytes",
                                 "log", "outputs", "stale", "output_files", "output_bytes"]
    rows = runs.to_pylist()
    assert [r["run_id"] for r in rows] == [one.id, two.id]
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert [r["exit_code"] for r in rows] == [0, 1]
    assert rows[0]["files"] == 2 and rows[0]["bytes"] == 4 + 1
    assert rows[1]["bytes"] == 4 + 2 and rows[1]["outputs"] == ["out.csv"]
    assert str(runs.schema.field("started").type) == "timestamp[us, tz=UTC]"
    assert repo.runs(name="sec*").num_rows == 1 and repo.runs(status="ok").num_rows == 1

    items = repo.query().to_pylist()
    assert {(i["source"], i["id"], i["path"], i["size"]) for i in items} == {
        ("snapshot", "base", "data/in.csv", 4),
        ("run", one.id, "data/in.csv", 4), ("run", one.id, "out.csv", 1),
        ("run", two.id, "data/in.csv", 4), ("run", two.id, "out.csv", 2)}
    out = [i for i in items if i["path"] == "out.csv"]
    assert [i["sha256"] for i in out] == [_sha(b"1"), _sha(b"22")]
    assert all(i["stored"] and i["target"] in ("data", "out.csv") for i in items)


def test_runs_cli_listing_filters_and_json(work: Path) -> None:
    assert "No runs yet" in run_folio(work, "runs", check=True).stdout
    run_folio(work, "run", "--name", "alpha", "--", sys.executable, "job.py", check=True)
    run_folio(work, "run", "--name", "beta", "--", sys.executable, "job.py", "2")
    listing = run_folio(work, "runs", check=True).stdout.splitlines()
    assert listing[0].split()[:3] == ["RUN", "STATUS", "EXIT"]
    assert [line.split()[1:3] for line in listing[1:]] == [["ok", "0"], ["failed", "2"]]
    assert [r["name"] for r in _runs(work, "--name", "b*")] == ["beta"]
    [beta] = _runs(work, "--status", "failed")
    shown = json.loads(run_folio(work, "runs", beta["id"], "--json", check=True).stdout)
    assert shown == beta
    assert set(beta) >= {"id", "name", "command", "status", "exit_code", "started",
                         "duration_s", "code_commit", "dirty", "host", "files", "bytes", "log"}
    text = run_folio(work, "runs", beta["id"], check=True).stdout
    assert "dirty:" in text and "True" not in text and "False" not in text
    command = next(line for line in text.splitlines() if line.startswith("command:"))
    assert command.split(":", 1)[1].strip() == shlex.join(beta["command"])
    missing = run_folio(work, "runs", "nope")
    assert missing.returncode == 1 and "no run 'nope'" in missing.stderr


# -- folio capture and folio check ------------------------------------------------------------

def _configure(root: Path, outputs: list[str]) -> None:
    config = root / ".folio/config.toml"
    config.write_text(config.read_text().replace("outputs = []",
                                                 f"outputs = {json.dumps(outputs)}"))


def test_capture_from_config_exits_1_when_manifests_change(work: Path) -> None:
    _configure(work, ["results/", "plots/*.png", "later.csv"])
    run_folio(work, "run", "--", sys.executable, "job.py", check=True)  # makes the files
    proc = run_folio(work, "capture")
    assert proc.returncode == 1
    assert "folio: capture: later.csv: matches nothing" in proc.stderr
    assert ("folio captured 2 changed outputs; stage .gitignore .folio/manifests/plots/a.png"
            ".folio .folio/manifests/results.folio and commit again") in proc.stderr
    again = run_folio(work, "capture")
    assert again.returncode == 0, again.stderr
    write(work / "results/metrics.json", '{"acc": 1.0}')
    proc = run_folio(work, "capture")
    assert proc.returncode == 1
    assert "captured 1 changed output; stage .folio/manifests/results.folio" in proc.stderr


def test_capture_without_configured_outputs_does_nothing(work: Path) -> None:
    proc = run_folio(work, "capture")
    assert proc.returncode == 0 and proc.stderr == ""


def test_check_names_the_manifest_and_the_count_of_missing_objects(work: Path) -> None:
    write(work / "data/a.csv", "a")
    write(work / "data/b.csv", "b")
    run_folio(work, "add", "data", check=True)
    assert run_folio(work, "check").returncode == 0
    repo = Repo(work)
    repo.store.delete(_sha(b"b"))
    proc = run_folio(work, "check", ".folio/manifests/data.folio")
    assert proc.returncode == 1
    assert proc.stderr == ("folio: .folio/manifests/data.folio: 1 of 2 objects are not in the "
                           "local store (b.csv); run `folio pull`, or `folio add` the data "
                           "again\n")
    # The remote seam: objects the default remote holds count as available.
    assert check_manifests(repo, remote_has=lambda oids: oids) == []
    [problem] = check_manifests(repo, remote_has=lambda oids: [])
    assert problem.missing == [_sha(b"b")] and "nor on the remote" in problem.message
    (work / ".folio/manifests/data.folio").write_text('{"folio": 1, "kind": "dir"\n')
    proc = run_folio(work, "check")
    assert proc.returncode == 1 and ".folio/manifests/data.folio: line 1:" in proc.stderr
