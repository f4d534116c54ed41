"""Runs as experiments (issue 15): honest outputs, the dirty flag, deleting runs, params and
metrics, picking the best run and reading its outputs back.

Every run is a real `folio run` subprocess running a real job in a real git repository.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio.git.repo import GitRepo
from folio.ops.runs import Condition, list_runs, sort_runs
from folio.repo import Repo

# Writes results/ unless told to fail first; exit code from argv[1].
JOB = textwrap.dedent("""\
    import pathlib, sys
    code = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    tag = sys.argv[2] if len(sys.argv) > 2 else "a"
    if code == 0:
        out = pathlib.Path("results")
        out.mkdir(exist_ok=True)
        (out / "metrics.json").write_text('{"acc": 0.9, "tag": "%s"}' % tag)
        (out / "table.csv").write_text("a,b\\n1,2\\n" + tag + "\\n")
    sys.exit(code)
    """)

# A small scikit-learn training: params from FOLIO_PARAMS, metrics written as JSON.
TRAIN = textwrap.dedent("""\
    import json, os, pathlib
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    params = json.loads(os.environ["FOLIO_PARAMS"])
    X, y = make_classification(n_samples=300, n_features=8, n_informative=3,
                               flip_y=0.1, random_state=0)
    Xa, Xb, ya, yb = train_test_split(X, y, random_state=0)
    model = LogisticRegression(C=params["C"], max_iter=200).fit(Xa, ya)
    auc = roc_auc_score(yb, model.predict_proba(Xb)[:, 1])
    out = pathlib.Path("results")
    out.mkdir(exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"auc": auc, "train": {"n": len(ya)}}))
    (out / "model.txt").write_text(repr(model.coef_.tolist()))
    """)


@pytest.fixture
def work(git_repo: Path) -> Path:
    run_folio(git_repo, "init", check=True)
    write(git_repo / "job.py", JOB)
    write(git_repo / "train.py", TRAIN)
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "code")
    return git_repo


def _runs(root: Path, *args: str) -> list[dict]:
    """`folio runs --json` through the CLI."""
    return json.loads(run_folio(root, "runs", "--json", *args, check=True).stdout)


def _records(root: Path) -> list[dict]:
    """The same records read in-process (cheaper than a CLI call on a busy machine)."""
    return [r.to_json() for r in list_runs(GitRepo(root))]


def _run(root: Path, *args: str, code: int = 0) -> dict:
    before = {r["id"] for r in _records(root)}
    proc = run_folio(root, "run", *args)
    assert proc.returncode == code, proc.stderr
    [new] = [r for r in _records(root) if r["id"] not in before]
    return new


# -- 1. honest outputs ----------------------------------------------------------------------

def test_a_failed_run_after_a_good_one_does_not_claim_its_results(work: Path) -> None:
    good = _run(work, "--put", "results/", "--", sys.executable, "job.py", "0")
    assert good["outputs"] == ["results"] and good["stale"] == []
    assert good["output_files"] == 2 and good["output_bytes"] > 0
    proc = run_folio(work, "run", "--put", "results/", "--", sys.executable, "job.py", "3")
    assert proc.returncode == 3
    assert "results: not written by this run (older than its start); not captured" \
        in proc.stderr
    bad = _runs(work)[-1]
    assert bad["status"] == "failed" and bad["exit_code"] == 3
    assert bad["outputs"] == [] and bad["stale"] == ["results"]
    assert bad["output_files"] == 0 and bad["output_bytes"] == 0
    # The record and the diff agree: the failed run changed no data.
    diff = run_folio(work, "diff", "--json", f"run:{good['id']}", f"run:{bad['id']}",
                     check=True)
    assert json.loads(diff.stdout)["changed"] is False
    listing = run_folio(work, "runs", check=True).stdout.splitlines()
    assert listing[0].split()[:7] == ["RUN", "STATUS", "EXIT", "STARTED", "DURATION",
                                      "OUTPUTS", "BYTES"]
    row = next(line for line in listing if line.startswith(bad["id"]))
    assert " failed " in row and "0 (1 stale)" in row
    # A later good run that writes new results owns them again, and the diff shows it.
    again = _run(work, "--put", "results/", "--", sys.executable, "job.py", "0", "b")
    assert again["outputs"] == ["results"] and again["stale"] == []
    diff = run_folio(work, "diff", "--json", f"run:{bad['id']}", f"run:{again['id']}",
                     check=True)
    [target] = json.loads(diff.stdout)["targets"]
    assert target["target"] == "results" and target["modified"] == 2


def test_a_typo_command_is_a_failed_run_with_no_outputs_and_can_be_deleted(work: Path) -> None:
    _run(work, "--put", "results/", "--", sys.executable, "job.py", "0")
    typo = _run(work, "--put", "results/", "--", "pyhton", "job.py", code=127)
    assert typo["status"] == "failed" and typo["outputs"] == [] and typo["stale"] == ["results"]
    done = run_folio(work, "runs", "--delete", typo["id"], check=True)
    assert done.stdout.startswith(f"Deleted run {typo['id']} (was ")
    assert typo["id"] not in {r["id"] for r in _runs(work)}
    assert git(work, "for-each-ref", "refs/folio/runs/").stdout.count("\n") == 1


def test_an_interrupted_run_owns_only_what_it_wrote(work: Path) -> None:
    _run(work, "--put", "results/", "--put", "partial", "--", sys.executable, "job.py", "0")
    started = work / "partial"
    job = (f"import pathlib, time; pathlib.Path({str(started)!r}).write_text('x'); "
           "time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-m", "folio.cli", "run", "--put", "results/",
                             "--put", "partial", "--", sys.executable, "-c", job], cwd=work,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    run = _records(work)[-1]
    assert run["status"] == "failed" and run["exit_code"] == 130
    assert run["outputs"] == ["partial"] and run["stale"] == ["results"]


def test_outputs_written_in_a_capture_block_are_produced_older_ones_stale(work: Path) -> None:
    write(work / "old.csv", "before")
    # File times come from the kernel's coarse clock (a tick of a few ms): a file written in
    # the same tick as the start is counted as the run's, the side that loses no output.
    time.sleep(0.05)
    repo = Repo(work)
    with repo.capture(["old.csv", "new.csv"], name="nb") as run:
        write(work / "new.csv", "made here")
    assert run.outputs == ["new.csv"] and run.stale == ["old.csv"]
    assert run.output_files == 1 and run.output_bytes == len("made here")


# -- 2. the dirty flag -----------------------------------------------------------------------

def test_runs_are_not_dirty_because_of_folio_but_are_after_a_code_edit(work: Path) -> None:
    first = _run(work, "--put", "results/", "--", sys.executable, "job.py", "0")
    assert first["dirty"] is False
    git(work, "add", ".gitignore")
    git(work, "commit", "-q", "-m", "ignore the outputs")
    second = _run(work, "--put", "results/", "--put", "more", "--", sys.executable, "-c",
                  "open('more', 'w').write('1')")
    assert second["dirty"] is False
    assert "/more" in (work / ".gitignore").read_text()  # folio's own edit, uncommitted
    assert git(work, "status", "--porcelain", "-uno").stdout.strip() == "M .gitignore"
    third = _run(work, "--put", "results/", "--", sys.executable, "job.py")
    assert third["dirty"] is False  # .gitignore lists a target HEAD lacks: folio's line
    with (work / ".gitignore").open("a") as f:
        f.write("*.tmp\n")  # the user's own line: a real change
    assert _run(work, "--", sys.executable, "job.py")["dirty"] is True
    git(work, "add", ".gitignore")
    git(work, "commit", "-q", "-m", "ignore tmp")
    assert _run(work, "--", sys.executable, "job.py")["dirty"] is False
    write(work / "job.py", JOB + "# tweaked\n")
    assert _run(work, "--", sys.executable, "job.py")["dirty"] is True


# -- 6. where run commits sit in the history ------------------------------------------------

def test_runs_are_side_branches_of_the_code_commit_they_ran_on(work: Path) -> None:
    code = git(work, "rev-parse", "HEAD").stdout.strip()
    one = _run(work, "--put", "results/", "--", sys.executable, "job.py", "0", "a")
    git(work, "commit", "-q", "--allow-empty", "-m", "more code")
    two = _run(work, "--put", "results/", "--", sys.executable, "job.py", "0", "b")
    assert git(work, "rev-list", "--max-parents=0", "--all").stdout.split() == [code]
    assert git(work, "rev-parse", f"{one['commit']}^").stdout.strip() == code
    assert git(work, "rev-parse", f"{two['commit']}^").stdout.strip() == \
        git(work, "rev-parse", "HEAD").stdout.strip()
    # Their trees are still only manifests: diff, show and gc read them as before.
    tree = git(work, "ls-tree", "-r", "--name-only", two["commit"]).stdout.split()
    assert tree == ["results.folio"]
    diff = json.loads(run_folio(work, "diff", "--json", f"run:{one['id']}", f"run:{two['id']}",
                                check=True).stdout)
    assert [t["target"] for t in diff["targets"]] == ["results"]
    # gc reads a run's parent as the code commit it is: its manifests, not its code files.
    paths = {path for path, _ in GitRepo(work).reachable_manifest_blobs()}
    assert "results.folio" in paths and not paths & {"job.py", "train.py"}
    run_folio(work, "gc", "--grace", "0s", check=True)
    assert Repo(work).read_bytes("results/table.csv", rev=f"run:{one['id']}").endswith(b"a\n")


# -- 3. deleting runs ------------------------------------------------------------------------

def test_deleted_runs_objects_go_at_gc_and_their_refs_from_the_git_remote(
        work: Path, tmp_path: Path) -> None:
    write(work / "once.py", "import pathlib, sys; print('writing', sys.argv[1]); "
                            "pathlib.Path('out.bin').write_text(sys.argv[1])")
    one = _run(work, "--put", "out.bin", "--", sys.executable, "once.py", "first-content")
    two = _run(work, "--put", "out.bin", "--", sys.executable, "once.py", "second-content")
    repo = Repo(work)
    objects = {one["log"], two["log"]}
    oid_one = repo.query().to_pylist()
    first_oid = next(r["sha256"] for r in oid_one if r["id"] == one["id"])
    assert all(repo.store.has(o) for o in objects | {first_oid})
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "refs/folio/*:refs/folio/*")
    assert f"refs/folio/runs/{one['id']}" in git(work, "ls-remote", "origin").stdout

    proc = run_folio(work, "runs", "--delete", one["id"], "--push", "--json", check=True)
    assert json.loads(proc.stdout) == [{"deleted": one["id"], "commit": one["commit"],
                                        "git_remote": "origin"}]
    refs = git(work, "ls-remote", "origin").stdout
    assert one["id"] not in refs and two["id"] in refs
    assert [r["id"] for r in _runs(work)] == [two["id"]]
    run_folio(work, "gc", "--grace", "0s", check=True)
    assert not repo.store.has(first_oid) and not repo.store.has(one["log"])
    assert repo.store.has(two["log"])
    assert Repo(work).read_bytes("out.bin", rev=f"run:{two['id']}") == b"second-content"


def test_deleting_runs_refuses_bad_input(work: Path) -> None:
    run = _run(work, "--", sys.executable, "job.py")
    proc = run_folio(work, "runs", "--delete", run["id"], "20990101-000000-nope-0000")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "folio: error: no run '20990101-000000-nope-0000'; `folio runs` lists them"]
    assert [r["id"] for r in _runs(work)] == [run["id"]]  # nothing deleted: checked first
    for args in (["--push"], ["--delete"], [run["id"], run["id"]]):
        proc = run_folio(work, "runs", *args)
        assert proc.returncode == 2 and "Error:" in proc.stderr


# -- 4/5. params, metrics, the best run ------------------------------------------------------

def test_three_training_runs_the_best_found_and_checked_out(work: Path) -> None:
    ids = {}
    for c in ("0.001", "0.1", "10"):
        run = _run(work, "--put", "results/", "--param", f"C={c}", "--param", "model=logreg",
                   "--metrics", "results/metrics.json", "--", sys.executable, "train.py")
        assert run["params"] == {"C": float(c), "model": "logreg"}
        assert set(run["metrics"]) == {"auc", "train.n"} and run["metrics"]["train.n"] == 225
        ids[c] = run["id"]
    ranked = _runs(work, "--sort", "-auc")
    aucs = [r["metrics"]["auc"] for r in ranked]
    assert aucs == sorted(aucs, reverse=True) and len(set(aucs)) == 3
    best = ranked[0]
    assert [r["id"] for r in _runs(work, "--where", "C<1", "--where", "model==logreg")] == [
        ids["0.001"], ids["0.1"]]
    assert [r["id"] for r in _runs(work, "--sort", "C")] == [ids["0.001"], ids["0.1"], ids["10"]]
    assert run_folio(work, "runs", "--where", "C>100", check=True).stdout == \
        "No runs match (folio runs without filters lists them all).\n"

    listing = run_folio(work, "runs", check=True).stdout.splitlines()
    head = listing[0].split()
    assert head[-5:] == ["C", "model", "auc", "train.n", "COMMAND"]
    assert f"{best['metrics']['auc']:.4g}" in next(x for x in listing if x.startswith(best["id"]))

    compare = run_folio(work, "runs", "--compare", ids["0.001"], ids["10"], check=True).stdout
    assert "param.C" in compare and "metric.auc" in compare and "model" not in compare
    assert "output results" in compare and "content differs" in compare
    data = json.loads(run_folio(work, "runs", "--compare", ids["0.001"], ids["10"], "--json",
                                check=True).stdout)
    assert data["params"] == {"C": [0.001, 10]} and data["same_params"] == 1
    assert data["outputs"] == {"results": "produced / produced; content differs"}

    # The best run's results back into the work tree, through the CLI...
    last = (work / "results/metrics.json").read_bytes()
    run_folio(work, "checkout", f"run:{best['id']}", "--", "results", check=True)
    assert json.loads((work / "results/metrics.json").read_text())["auc"] == \
        best["metrics"]["auc"]
    assert (work / "results/metrics.json").read_bytes() != last or best["id"] == ids["10"]
    # ...and through the API, sorted by the typed metric column.
    repo = Repo(work)
    table = repo.runs(sort="-metric.auc")
    assert str(table.schema.field("param.C").type) == "double"
    assert str(table.schema.field("metric.auc").type) == "double"
    assert str(table.schema.field("metric.train.n").type) == "int64"
    assert str(table.schema.field("param.model").type) == "string"
    top = table.column("run_id")[0].as_py()
    assert top == best["id"]
    got = json.loads(repo.read_bytes("results/metrics.json", rev=f"run:{top}"))
    assert got["auc"] == table.column("metric.auc")[0].as_py()


def test_params_file_from_the_config_and_metrics_in_yaml(work: Path) -> None:
    config = work / ".folio/config.toml"
    config.write_text(config.read_text() + '\n[run]\nparams = "params.json"\n')
    write(work / "params.json", json.dumps({"lr": 0.5, "opt": {"name": "sgd"}}))
    write(work / "m.py", "open('m.yaml', 'w').write('loss: 0.25\\nok: true\\n')")
    run = _run(work, "--param", "lr=0.01", "--metrics", "m.yaml", "--", sys.executable, "m.py")
    assert run["params"] == {"lr": 0.01, "opt.name": "sgd"}  # --param wins over the file
    assert run["metrics"] == {"loss": 0.25, "ok": True}
    # A metrics file the run did not write is not read (it would be the last run's).
    proc = run_folio(work, "run", "--metrics", "m.yaml", "--", sys.executable, "-c", "pass")
    assert proc.returncode == 0 and "metrics m.yaml: not written by this run; not read" \
        in proc.stderr
    assert _records(work)[-1]["metrics"] == {}


def test_bad_params_conditions_and_files_give_one_line_errors(work: Path) -> None:
    for args in (["run", "--param", "lr", "--", "true"],
                 ["run", "--param", "=3", "--", "true"],
                 ["runs", "--where", "lr<"], ["runs", "--where", "__import__('os')"],
                 ["runs", "--sort", "-a b"]):
        proc = run_folio(work, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Error:" in proc.stderr and "Traceback" not in proc.stderr
    assert _records(work) == []  # a bad --param is refused before anything runs
    config = work / ".folio/config.toml"
    config.write_text(config.read_text() + '\n[run]\nparams = "params.json"\n')
    write(work / "params.json", "{not json")
    proc = run_folio(work, "run", "--", "true")
    assert proc.returncode == 1
    assert proc.stderr.startswith("folio: error: params file ") and "not valid json" in \
        proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    (work / "params.json").unlink()
    write(work / "w.py", "open('bad.json', 'w').write('[1, 2')")
    proc = run_folio(work, "run", "--metrics", "bad.json", "--", sys.executable, "w.py")
    assert proc.returncode == 1 and "params file" in proc.stderr  # the file is missing
    config.write_text(config.read_text().replace('params = "params.json"', ""))
    proc = run_folio(work, "run", "--metrics", "bad.json", "--", sys.executable, "w.py")
    assert proc.returncode == 0 and "metrics bad.json: not valid json" in proc.stderr
    assert _records(work)[-1]["metrics"] == {}


def test_conditions_are_parsed_never_evaluated() -> None:
    from folio.ops.runs import BadQuery, Run

    run = Run(id="r", name="r", command=[], started=__import__("datetime").datetime.now(),
              params={"lr": 0.05, "model": "rf"}, metrics={"auc": 0.8})
    assert Condition.parse("lr<0.1").holds(run) and not Condition.parse("lr>=0.1").holds(run)
    assert Condition.parse("model=='rf'").holds(run) and Condition.parse("model!=xgb").holds(run)
    assert not Condition.parse("model<1").holds(run)  # a string against a number
    assert not Condition.parse("missing>0").holds(run)
    assert Condition.parse("param.lr == 0.05").holds(run)
    for bad in ("lr", "lr<", "1<lr", "lr<0.1 or 1", "a.__class__()"):
        with pytest.raises(BadQuery):
            Condition.parse(bad).holds(run)
    other = Run(id="s", name="s", command=[], started=run.started, metrics={"auc": 0.9})
    none = Run(id="t", name="t", command=[], started=run.started)
    assert [r.id for r in sort_runs([run, none, other], "-auc")] == ["s", "r", "t"]
    assert [r.id for r in sort_runs([other, none, run], "auc")] == ["r", "s", "t"]


# -- 7. patterns from the API, whatever the current directory --------------------------------

def test_capture_patterns_are_relative_to_the_repository_root(
        work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    repo = Repo(work)
    with repo.capture(["results/*.json"], name="nb", metrics=["results/m.json"]) as run:
        write(work / "results/m.json", '{"auc": 0.7}')
        run.metrics["note"] = "set in the block"
    assert run.outputs == ["results/m.json"] and run.status == "ok"
    assert run.metrics == {"auc": 0.7, "note": "set in the block"}
    assert not (elsewhere / "results").exists()
