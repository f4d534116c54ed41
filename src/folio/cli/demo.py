"""``folio demo``: the main job end to end in a fresh git repository, narrated.

Runs the real commands as subprocesses, exactly as a user would type them, so the demo
shows (and checks) the CLI itself. Never touches the current directory.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path


def _make_data(root: Path, seed: int = 7) -> None:
    rng = random.Random(seed)
    raw = root / "data" / "raw"
    for day in range(3):
        folder = raw / f"day{day}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(4):
            rows = "\n".join(f"{j},{rng.random():.6f},{rng.choice('abc')}" for j in range(200))
            (folder / f"part{i}.csv").write_text("id,value,label\n" + rows + "\n")
    (raw / "params.json").write_text('{"lr": 0.01, "epochs": 10}\n')


def run_demo(directory: Path | None, echo: Callable[[str], None] = print) -> Path:
    """Create a repo in ``directory`` (default: a new temp dir) and walk through folio."""
    where = directory or Path(tempfile.mkdtemp(prefix="folio-demo-"))
    where.mkdir(parents=True, exist_ok=True)
    if any(where.iterdir()):
        from folio.errors import FolioError

        raise FolioError("demo directory must be empty", path=where)
    env = dict(os.environ, GIT_AUTHOR_NAME="folio demo", GIT_AUTHOR_EMAIL="demo@example.com",
               GIT_COMMITTER_NAME="folio demo", GIT_COMMITTER_EMAIL="demo@example.com")
    folio = [sys.executable, "-m", "folio.cli"]

    def step(title: str, *argv: str, shown: str | None = None, ok: tuple[int, ...] = (0,)
             ) -> None:
        echo("")
        if title:
            echo(f"## {title}")
        echo(f"$ {shown or shlex.join(argv)}")
        cmd = [*folio, *argv[1:]] if argv[0] == "folio" else list(argv)
        proc = subprocess.run(cmd, cwd=where, env=env, text=True, capture_output=True)
        for line in (proc.stdout + proc.stderr).rstrip().splitlines():
            echo(f"  {line}")
        if proc.returncode not in ok:
            from folio.errors import FolioError

            raise FolioError(f"demo step failed ({proc.returncode}): {shlex.join(argv)}")

    echo(f"folio demo in {where}")
    step("A git repository", "git", "init", "-q", "-b", "main")
    step("Set up folio", "folio", "init")
    _make_data(where)
    step("Track a data folder (13 files)", "folio", "add", "data/raw")
    step("Nothing changed yet", "folio", "status")
    step("Commit the manifests with the code", "git", "add", ".")
    step("", "git", "commit", "-q", "-m", "Track raw data with folio")
    (where / "data/raw/day1/part2.csv").write_text("id,value,label\n0,1.0,z\n")
    (where / "data/raw/day3.csv").write_text("id,value,label\n1,2.0,y\n")
    (where / "data/raw/day0/part0.csv").unlink()
    step("Change the data: one file edited, one added, one deleted", "folio", "status")
    step("Record the new version", "folio", "add", "data/raw")
    step("git diff of the manifest reads as data changes", "git", "diff")
    step("", "folio", "ls", "data/raw/day1")
    step("Freeze this version as an immutable snapshot (a git ref, not a branch)",
         "folio", "snapshot", "baseline", "-m", "Raw data, three days")
    step("", "folio", "tags")
    (where / "data/raw/params.json").write_text('{"lr": 0.02, "epochs": 10}\n')
    with open(where / "data/raw/day2/part1.csv", "a") as f:
        f.write("200,0.5,c\n")
    step("Change the data again; the diff reads in the data's own terms",
         "folio", "diff", "baseline")
    step("Going back would overwrite edits that are in no snapshot: refused",
         "folio", "checkout", "baseline", ok=(1,))
    step("--force first saves them to the recovery log, then restores the snapshot",
         "folio", "checkout", "baseline", "--force")
    step("", "folio", "recover")
    step("The data matches the snapshot again", "folio", "status")
    job = ("import json, pathlib; p = pathlib.Path('results'); p.mkdir(exist_ok=True); "
           "(p / 'metrics.json').write_text(json.dumps({'rows': 800, 'score': 0.93}))")
    step("Run a job; its outputs and its log are captured as a run",
         "folio", "run", "--name", "train", "--put", "results/", "--", sys.executable, "-c", job,
         shown="folio run --name train --put results/ -- python train.py")
    step("", "folio", "runs")
    api = ("import folio, numpy as np; f = folio.Folio('experiments/exp1'); "
           "f.add_data('weights', np.arange(6.0).reshape(2, 3), description='toy weights'); "
           "print(f.get_data('weights').sum()); f.describe()")
    step("Typed items from Python: arrays, tables, JSON, models", sys.executable, "-c", api,
         shown="python -c \"import folio; f = folio.Folio('experiments/exp1'); "
               "f.add_data('weights', array) ...\"")
    remote = Path(tempfile.mkdtemp(prefix="folio-demo-remote-"))
    step("Send the data to a remote (a directory here; s3://bucket/prefix works the same)",
         "folio", "remote", "add", "backup", str(remote))
    step("", "folio", "push")
    shutil.rmtree(where / ".git" / "folio" / "objects")
    step("Lose the local store, then get it back from the remote", "folio", "pull")
    step("Every object is whole", "folio", "verify")
    step("Nothing is garbage yet", "folio", "gc", "--dry-run")
    echo("")
    echo(f"Done. Explore it: cd {where}")
    return where
