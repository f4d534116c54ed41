"""CLI commands for runs, output capture and hooks: run, runs, capture, check, install-hooks.

Registered on the main group by :func:`register` (one line in cli/app.py), which imports
this module, never the reverse.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from folio.cli.common import emit_json, human_bytes, open_repo, progress
from folio.errors import FolioError


def _say(line: str) -> None:
    click.echo(line, err=True)


def _started(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


@click.command("run", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.option("--put", "patterns", multiple=True, metavar="PATTERN",
              help="Capture outputs matching PATTERN after the command: a file, a directory "
                   "or a glob (`*`, `**`); repeatable.")
@click.option("--no-copy", is_flag=True,
              help="Record size and sha256 of the outputs only; do not copy them into the store.")
@click.option("--name", help="A name for the run (default: from the command).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(patterns: tuple[str, ...], no_copy: bool, name: str | None,
                command: tuple[str, ...]) -> None:
    """Run COMMAND, keep its output as a log, capture its outputs as a run.

    \b
        folio run --put results/ --put 'plots/*.png' -- python train.py --lr 0.1

    The run is recorded (ok or failed) as refs/folio/runs/<id>; folio exits with the
    command's exit code. Outputs become tracked targets, as with `folio add`.
    """
    from folio.ops.outputs import run_job

    repo = open_repo()
    run, result = run_job(repo, list(command), list(patterns), store_copy=not no_copy,
                          name=name, progress=progress())
    for line in result.warnings():
        _say(f"folio: {line}")
    captured = ", ".join(result.targets) or "no outputs"
    _say(f"folio: run {run.id} {run.status} (exit {run.exit_code}); captured {captured}")
    stage = [r.manifest for r in result.changed]
    if stage:
        _say(f"folio: to record the outputs in git: git add .gitignore {' '.join(stage)}")
    sys.exit(run.exit_code or 0)


@click.command("runs")
@click.argument("run_id", required=False)
@click.option("--status", type=click.Choice(["ok", "failed"]), help="Only runs with this status.")
@click.option("--name", help="Only runs with this name (a glob; also matches the run id).")
@click.option("--log", "show_log", is_flag=True, help="With RUN_ID: print the run's log.")
@click.option("--json", "as_json", is_flag=True,
              help="Print machine-readable JSON instead of text.")
def runs_command(run_id: str | None, status: str | None, name: str | None, show_log: bool,
                 as_json: bool) -> None:
    """List recorded runs, newest last; with RUN_ID, show one run (or its --log)."""
    from folio.git.repo import GitRepo
    from folio.ops.runs import get_run, list_runs

    repo = open_repo()
    git = GitRepo(repo.root)
    if run_id is not None:
        run = get_run(git, run_id)
        if show_log:
            if run.log is None:
                from folio.errors import FolioError

                raise FolioError(f"run {run.id} has no log")
            data = repo.store.read_bytes(run.log, label=f"log of run {run.id}")
            if sys.stdout.isatty():  # a log may come from someone else's run: escaped
                click.echo(data.decode("utf-8", "surrogateescape"), nl=False)
            else:  # piped: the bytes the job wrote, for tools
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
        elif as_json:
            emit_json(run.to_json())
        else:
            for key, value in run.to_json().items():
                if key == "command":
                    value = run.command_line  # quoted as a shell would need it
                elif isinstance(value, list):
                    value = ", ".join(value)
                elif isinstance(value, bool):
                    value = "true" if value else "false"
                click.echo(f"{key + ':':<13}{'' if value is None else value}")
        return
    if show_log:
        raise click.UsageError("--log needs a RUN_ID")
    runs = list_runs(git, status=status, name=name)
    if as_json:
        emit_json([r.to_json() for r in runs])
        return
    if not runs:
        from folio.git.repo import RUNS_PREFIX
        from folio.ops.transfer import remote_listing_hint

        hint = None if status or name else remote_listing_hint(repo, RUNS_PREFIX, "runs")
        click.echo(hint or "No runs yet; record one with `folio run --put OUTPUT -- COMMAND`.")
        return
    width = max(len(r.id) for r in runs)
    click.echo(f"{'RUN':<{width}}  STATUS  EXIT  STARTED              DURATION  FILES  "
               f"     BYTES  COMMAND")
    for r in runs:
        started = _started(r.started)
        duration = f"{r.duration_s:.1f}s" if r.duration_s is not None else "-"
        code = "-" if r.exit_code is None else str(r.exit_code)
        click.echo(f"{r.id:<{width}}  {r.status:<6}  {code:>4}  {started}  {duration:>8}  "
                   f"{r.files:>5}  {human_bytes(r.bytes):>10}  {r.command_line}")


@click.command("capture")
def capture_command() -> None:
    """Capture the outputs named in .folio/config.toml ([capture] outputs).

    Exits 1 when that changed any manifest, so a pre-commit hook stops the commit until
    the new manifests are staged; 0 when nothing changed.
    """
    from folio.ops.outputs import capture_configured

    repo = open_repo()
    result = capture_configured(repo, progress=progress())
    for line in result.warnings():
        _say(f"folio: capture: {line}")
    message = result.stage_message()
    if message:
        _say(message)
        sys.exit(1)


@click.command("check")
@click.argument("files", nargs=-1)
def check_command(files: tuple[str, ...]) -> None:
    """Check that manifests parse and that every object they name is in the store.

    FILES are manifest files (as pre-commit passes them); without FILES, every working
    manifest. One line per failing manifest; exit 1 if any.
    """
    from folio.ops.check import check_manifests
    from folio.ops.hooks import default_remote_has

    repo = open_repo()
    problems = check_manifests(repo, list(files) if files else None,
                               remote_has=default_remote_has(repo))
    for problem in problems:
        _say(f"folio: {problem}")
    if problems:
        sys.exit(1)


@click.command("install-hooks")
@click.argument("hooks", nargs=-1)
@click.option("--uninstall", is_flag=True,
              help="Remove the hooks folio installed and restore the ones it moved aside.")
def install_hooks_command(hooks: tuple[str, ...], uninstall: bool) -> None:
    """Install folio's git hooks: post-checkout, post-merge, pre-commit, pre-push.

    HOOKS limits the set. A hook already there is kept as HOOK.local and runs first.
    core.hooksPath is respected.
    """
    from folio.git.discover import find_worktree
    from folio.ops.hooks import install
    from folio.ops.hooks import uninstall as remove

    root = find_worktree(Path.cwd())
    changes = remove(root, list(hooks)) if uninstall else install(root, list(hooks))
    if not uninstall and (root / ".folio" / "config.toml").is_file():
        from folio.git.drivers import ensure

        ensure(root)  # the diff and merge drivers too (docs/format.md 2.4)
    for change in changes:
        click.echo(str(change))


@click.command("install")
@click.option("--global", "global_", is_flag=True,
              help="Write the drivers into your global git config (once per user).")
def install_command(global_: bool) -> None:
    """Set up folio's git diff and merge drivers for manifests.

    With --global, every clone on this machine gets them, before any folio command runs
    there (as `git lfs install`); without, only this repository.
    """
    from folio.git import drivers

    try:
        if global_:
            written = drivers.install_global()
            where = "your global git config"
        else:
            from folio.git.discover import find_worktree

            written = drivers.install(find_worktree(Path.cwd()))
            where = "this repository's git config"
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FolioError(f"could not write the git config: {exc}") from None
    for key in written:
        click.echo(f"{key}: set")
    click.echo(f"folio's diff and merge drivers are in {where}.")


@click.command("hook", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook_command(name: str, args: tuple[str, ...]) -> None:
    """Run the logic of git hook NAME (called by the scripts `install-hooks` writes)."""
    from folio.ops.hooks import run_hook

    stdin: Any = sys.stdin if name == "pre-push" else ()
    sys.exit(run_hook(name, list(args), stdin))


COMMANDS: tuple[click.Command, ...] = (run_command, runs_command, capture_command,
                                       check_command, install_hooks_command, install_command,
                                       hook_command)


def register(group: click.Group) -> None:
    """Add these commands to ``group`` (the ``folio`` command)."""
    for command in COMMANDS:
        group.add_command(command)
