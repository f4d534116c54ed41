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
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Record a parameter of the run (over [run] params in the config); "
                   "repeatable. The job sees them as JSON in FOLIO_PARAMS.")
@click.option("--metrics", "metrics", multiple=True, metavar="FILE",
              help="Read metrics from FILE (JSON, TOML, or YAML with PyYAML) after the "
                   "command, if it wrote it; repeatable.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(patterns: tuple[str, ...], no_copy: bool, name: str | None,
                params: tuple[str, ...], metrics: tuple[str, ...],
                command: tuple[str, ...]) -> None:
    """Run COMMAND, keep its output as a log, capture its outputs as a run.

    \b
        folio run --put results/ --param lr=0.1 --metrics results/metrics.json \\
            -- python train.py --lr 0.1

    The run is recorded (ok or failed) as refs/folio/runs/<id>; folio exits with the
    command's exit code. Outputs it wrote become tracked targets, as with `folio add`;
    matches older than the run are reported as stale and not captured.
    """
    from folio.ops.outputs import run_job
    from folio.ops.runs import BadQuery

    repo = open_repo()
    try:
        run, result = run_job(repo, list(command), list(patterns), store_copy=not no_copy,
                              name=name, progress=progress(), params=list(params),
                              metrics=list(metrics))
    except BadQuery as exc:
        raise click.UsageError(exc.message) from None
    for line in result.warnings():
        _say(f"folio: {line}")
    captured = ", ".join(result.targets) or "no outputs"
    _say(f"folio: run {run.id} {run.status} (exit {run.exit_code}); captured {captured}")
    stage = [r.manifest for r in result.changed]
    if stage:
        _say(f"folio: to record the outputs in git: git add .gitignore {' '.join(stage)}")
    sys.exit(run.exit_code or 0)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 16 else text[:15] + "…"


def _show_run(repo: Any, run: Any, show_log: bool, as_json: bool) -> None:
    if show_log:
        if run.log is None:
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
            elif isinstance(value, dict):
                value = ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
            elif isinstance(value, bool):
                value = "true" if value else "false"
            click.echo(f"{key + ':':<13}{'' if value is None else value}")


def _compare(repo: Any, a: str, b: str, as_json: bool) -> None:
    result = repo.compare_runs(a, b)
    if as_json:
        emit_json(result)
        return
    rows = [("", result["a"], result["b"])]
    for what in ("params", "metrics"):
        for key, (va, vb) in result[what].items():
            rows.append((f"{what[:-1]}.{key}", _cell(va), _cell(vb)))
    for target, state in result["outputs"].items():
        produced, _, content = state.partition("; ")
        pa, _, pb = produced.partition(" / ")
        rows.append((f"output {target}", pa, f"{pb} ({content})"))
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    for row in rows:
        click.echo(f"{row[0]:<{width[0]}}  {row[1]:<{width[1]}}  {row[2]}".rstrip())
    click.echo(f"({result['same_params']} params and {result['same_metrics']} metrics "
               "the same)")


@click.command("runs")
@click.argument("run_ids", nargs=-1, metavar="[RUN_ID]...")
@click.option("--status", type=click.Choice(["ok", "failed"]), help="Only runs with this status.")
@click.option("--name", help="Only runs with this name (a glob; also matches the run id).")
@click.option("--where", "where", multiple=True, metavar="COND",
              help="Only runs where COND holds: NAME OP VALUE, OP one of < <= > >= == != "
                   "(e.g. 'lr<0.1'); repeatable, ANDed.")
@click.option("--sort", "sort", metavar="KEY",
              help="Order by a metric, param or field (e.g. -auc: descending).")
@click.option("--compare", "compare", nargs=2, metavar="A B", default=None,
              help="Show params, metrics and outputs that differ between runs A and B.")
@click.option("--delete", "delete", is_flag=True,
              help="Delete the runs RUN_ID... (folio gc then frees what only they held).")
@click.option("--push", "push", is_flag=True,
              help="With --delete: delete them on the git remote too (else they come back "
                   "on the next fetch).")
@click.option("--git-remote", metavar="NAME", default=None,
              help="With --push: which git remote (default: origin).")
@click.option("--log", "show_log", is_flag=True, help="With RUN_ID: print the run's log.")
@click.option("--json", "as_json", is_flag=True,
              help="Print machine-readable JSON instead of text.")
def runs_command(run_ids: tuple[str, ...], status: str | None, name: str | None,
                 where: tuple[str, ...], sort: str | None, compare: tuple[str, str] | None,
                 delete: bool, push: bool, git_remote: str | None, show_log: bool,
                 as_json: bool) -> None:
    """List recorded runs, oldest first; with RUN_ID, show one run (or its --log).

    \b
        folio runs --where 'lr<0.1' --sort -auc
        folio runs --compare RUN_A RUN_B
        folio runs --delete RUN_ID... [--push]
    """
    from folio.git.repo import GitRepo
    from folio.ops.runs import BadQuery, filter_runs, get_run, list_runs, sort_runs

    if (push or git_remote) and not delete:
        raise click.UsageError("--push and --git-remote go with --delete RUN_ID...")
    if delete and not run_ids:
        raise click.UsageError("--delete needs the RUN_IDs to delete")
    if len(run_ids) > 1 and not delete:
        raise click.UsageError("give one RUN_ID (or --delete RUN_ID...)")
    if compare and (run_ids or delete):
        raise click.UsageError("--compare A B takes no other RUN_ID")
    repo = open_repo()
    if delete:
        where_to = (git_remote or "origin") if push else None
        done = repo.delete_runs(list(run_ids), push=where_to)
        if as_json:
            emit_json([{"deleted": i, "commit": sha, "git_remote": where_to}
                       for i, sha in done])
        else:
            there = f" here and on git remote {where_to}" if where_to else ""
            for run_id, sha in done:
                was = f" (was {sha[:7]})" if sha else " (it was not here)"
                click.echo(f"Deleted run {run_id}{there}{was}")
        return
    if compare:
        _compare(repo, compare[0], compare[1], as_json)
        return
    git = GitRepo(repo.root)
    if run_ids:
        _show_run(repo, get_run(git, run_ids[0]), show_log, as_json)
        return
    if show_log:
        raise click.UsageError("--log needs a RUN_ID")
    try:
        runs = filter_runs(list_runs(git, status=status, name=name), where)
        if sort:
            runs = sort_runs(runs, sort)
    except BadQuery as exc:
        raise click.UsageError(exc.message) from None
    if as_json:
        emit_json([r.to_json() for r in runs])
        return
    if not runs:
        from folio.git.repo import RUNS_PREFIX
        from folio.ops.transfer import remote_listing_hint

        if status or name or where:
            click.echo("No runs match (folio runs without filters lists them all).")
            return
        hint = remote_listing_hint(repo, RUNS_PREFIX, "runs")
        click.echo(hint or "No runs yet; record one with `folio run --put OUTPUT -- COMMAND`.")
        return
    _table(runs)


def _table(runs: list[Any]) -> None:
    """The listing: outputs are what each run produced (stale ones counted apart), then a
    column per param and metric."""
    from folio.ops.runs import value_columns

    columns = value_columns(runs)
    names = [k for _, k in columns]
    heads = [k if names.count(k) == 1 else f"{kind}.{k}" for kind, k in columns]
    rows = [["RUN", "STATUS", "EXIT", "STARTED", "DURATION", "OUTPUTS", "BYTES", *heads,
             "COMMAND"]]
    for r in runs:
        outputs = str(r.output_files) + (f" ({len(r.stale)} stale)" if r.stale else "")
        values = [_cell((r.params if kind == "param" else r.metrics).get(k))
                  for kind, k in columns]
        rows.append([r.id, r.status, "-" if r.exit_code is None else str(r.exit_code),
                     _started(r.started),
                     f"{r.duration_s:.1f}s" if r.duration_s is not None else "-",
                     outputs, human_bytes(r.output_bytes), *values, r.command_line])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    right = {2, 4, 5, 6, *range(7, 7 + len(columns))}  # numbers and values: right-aligned
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=False))]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


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
