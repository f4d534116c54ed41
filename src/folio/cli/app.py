"""The ``folio`` command: a thin click shell over :class:`folio.Repo`.

Exit codes: 0 success, 1 failure (one line on stderr, no traceback), 2 usage error.
Heavy modules are imported inside commands so that quick commands start quickly.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from folio.cli.common import (
    PathsAfterDashDash,
    echo_checkout,
    emit_json,
    escape,
    escaped_output,
    human_bytes,
    json_option,
    open_repo,
    plural,
    progress,
)
from folio.cli.common import paths_after_dash_dash as _paths_after_dash_dash
from folio.cli.read import snapshot_lines
from folio.errors import summarize_paths

F = TypeVar("F", bound=Callable[..., Any])


class FolioGroup(click.Group):
    """Turns FolioError into one line and exit 1 (and broken pipes into silence).

    So does an OSError, which is the machine speaking (a full disk, a read-only or vanished
    file system, a permission): one line naming the file where the system names one.
    Everything printed while a command runs, usage errors included, has its control
    characters escaped (cli.common.escaped_output; docs/cli.md, "Output").
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        with escaped_output():
            return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        from folio.errors import FolioError

        try:
            return super().invoke(ctx)
        except FolioError as exc:
            _error_line(str(exc))
            ctx.exit(1)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(1)
        except KeyboardInterrupt as exc:
            from folio.cli.common import exit_interrupted

            exit_interrupted(exc)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            _error_line(f"{where}{exc.strerror or exc}")
            ctx.exit(1)


def _error_line(message: str) -> None:
    """The one line of a failure: a newline in a name cannot start a second one."""
    click.echo(f"folio: error: {escape(message, keep_layout=False)}", err=True)


@click.group(cls=FolioGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="folio", prog_name="folio")
def main() -> None:
    """folio: version your data beside your code, in git.

    Content lives in a hash-addressed store in .git/folio/objects; small text manifests
    in .folio/manifests are committed to git; snapshots are immutable git refs.
    """


@main.command()
def init() -> None:
    """Set up folio in the current git work tree (safe to run again)."""
    from folio.repo import Repo

    repo = Repo.init(".")
    click.echo(f"Initialised folio in {repo.folio_dir}")
    click.echo("Commit .folio/config.toml, .folio/.gitignore and .folio/.gitattributes "
               "to share it.")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--no-copy", is_flag=True,
              help="Record size and sha256 only; do not copy the content into the store.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
              help="Parallel workers for hashing (default: one per core, at least 2).")
@json_option
def add(paths: tuple[str, ...], no_copy: bool, jobs: int | None, as_json: bool) -> None:
    """Track files, directories or globs: store their content, write their manifests."""
    repo = open_repo()
    results = repo.add(list(paths), store_copy=not no_copy, progress=progress(), jobs=jobs)
    if as_json:
        emit_json([r.to_json() for r in results])
        return
    for r in results:
        counts = f"+{len(r.added)} ~{len(r.modified)} -{len(r.deleted)}"
        what = "unchanged" if not r.changed else (
            counts if counts != "+0 ~0 -0" else "storage updated")
        click.echo(f"{r.target}: {plural(r.files, 'file')}, {human_bytes(r.bytes)} ({what})")
        if r.out_of_date:
            click.echo(f"folio: {r.target}: {plural(len(r.out_of_date), 'entry', 'entries')} "
                       f"kept as the manifest has them, the data here is out of date "
                       f"({summarize_paths(r.out_of_date)}); `folio checkout` brings it",
                       err=True)
    if any(r.changed for r in results):
        click.echo("To record this in git: git add .gitignore .folio/manifests")


@main.command()
@click.argument("targets", nargs=-1, required=True)
def untrack(targets: tuple[str, ...]) -> None:
    """Stop tracking targets (their data and stored objects stay where they are)."""
    repo = open_repo()
    for target in repo.untrack(list(targets)):
        click.echo(f"Untracked {target}")
    click.echo("To record this in git: git add .gitignore .folio/manifests")


@main.command()
@click.argument("targets", nargs=-1)
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything changed (like git diff).")
@json_option
def status(targets: tuple[str, ...], exit_code: bool, as_json: bool) -> None:
    """Show files added, modified or deleted since the manifests were written."""
    repo = open_repo()
    results = repo.status(list(targets) or None)
    clean = all(s.clean for s in results)
    if as_json:
        emit_json({"clean": clean, "targets": [s.to_json() for s in results]})
    else:
        for s in results:
            if s.clean:
                continue
            click.echo(f"{s.target}:")
            for label, paths in (("modified", s.modified), ("added", s.added),
                                 ("deleted", s.deleted)):
                for p in paths:
                    click.echo(f"  {label + ':':<10}{p}")
            for p in s.out_of_date:
                click.echo(f"  out of date: {p}")
        if not results:
            click.echo("No tracked data yet; track some with `folio add PATH`.")
        elif clean:
            click.echo(f"Data matches the manifests ({plural(len(results), 'target')}).")
        stale = sum(len(s.out_of_date) for s in results)
        if stale:
            click.echo(f"{plural(stale, 'file is', 'files are')} out of date: git changed "
                       "their manifest entries and the data here is not that version yet; "
                       "`folio checkout` brings it (`folio pull` if it is not fetched)")
    if exit_code and not clean:
        sys.exit(1)


@main.command()
@click.argument("file")  # not click.Path: a directory or FIFO gets folio's one-line refusal
def textconv(file: str) -> None:
    """Render a manifest file readably (git's diff driver for *.folio files)."""
    from folio.textconv import render

    click.echo(render(Path(file)), nl=False)


@main.command("merge-driver", hidden=True)
@click.argument("base")
@click.argument("ours")
@click.argument("theirs")
@click.argument("path")
def merge_driver(base: str, ours: str, theirs: str, path: str) -> None:
    """Merge manifest file PATH entry by entry (git's merge driver for *.folio).

    BASE, OURS and THEIRS are the files git names; the result replaces OURS.
    """
    from folio.mergeman import run_driver

    try:
        code = run_driver(base, ours, theirs, path)
    except Exception as exc:
        # run_driver replaces OURS by rename: a failure leaves it as git wrote it
        _error_line(f"{path}: merge driver failed: {_reason(exc)}")
        sys.exit(2)
    sys.exit(code)


def _reason(exc: Exception) -> str:
    """One line for an unexpected error: the system's words for an OSError."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


@main.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def demo(directory: str | None) -> None:
    """Run folio end to end in a new temporary git repository (or DIRECTORY)."""
    from folio.cli.demo import run_demo

    run_demo(Path(directory) if directory else None, echo=click.echo)


from folio.cli.runs import register as _register_runs  # noqa: E402

_register_runs(main)

# -- snapshots, checkout, diff, recovery (docs/snapshots.md) ------------------------------------

LINK_CHOICES = ("auto", "reflink", "copy", "hardlink", "symlink")  # folio.config.LINK_MODES


def _short_date(iso: str) -> str:
    return iso[:16].replace("T", " ")


@main.command()
@click.argument("tag")
@click.option("-m", "--message", help="Describe the snapshot (default: 'folio snapshot TAG').")
@json_option
def snapshot(tag: str, message: str | None, as_json: bool) -> None:
    """Capture every tracked target as it is now and name it TAG (immutable)."""
    repo = open_repo()
    info = repo.snapshot(tag, message, progress=progress())
    if as_json:
        emit_json(info.to_json())
        return
    changed = [r for r in info.captured if r.changed]
    for r in changed:
        click.echo(f"captured {r.target}: +{len(r.added)} ~{len(r.modified)} -{len(r.deleted)}")
    click.echo(f"Snapshot {tag}: {plural(info.files or 0, 'file')}, "
               f"{human_bytes(info.bytes or 0)}, "
               f"code {info.code_label} (commit {info.commit[:7]})")
    if changed:
        click.echo("Manifests updated; to record this in git: "
                   f"git add {' '.join(r.manifest for r in changed)}")


@main.command()
@click.option("--delete", "delete", metavar="TAG",
              help="Delete snapshot TAG (the only way to reuse a tag name).")
@click.option("--push", "push", is_flag=True,
              help="With --delete: delete it on the git remote too (else it comes back on "
                   "the next fetch).")
@click.option("--git-remote", metavar="NAME", default=None,
              help="With --push: which git remote (default: origin).")
@click.option("--rename", nargs=2, metavar="OLD NEW", default=None,
              help="Name snapshot OLD NEW instead (same data; resolves a clash with origin).")
@json_option
def tags(delete: str | None, push: bool, git_remote: str | None,
         rename: tuple[str, str] | None, as_json: bool) -> None:
    """List snapshots by tag: date, code commit, files, size, message."""
    if (push or git_remote) and delete is None:
        raise click.UsageError("--push and --git-remote go with --delete TAG")
    if delete is not None and rename:
        raise click.UsageError("give --delete or --rename, not both")
    repo = open_repo()
    if rename:
        sha = repo.rename_tag(*rename)
        if as_json:
            emit_json({"renamed": rename[0], "to": rename[1], "commit": sha})
        else:
            click.echo(f"Renamed tag {rename[0]} to {rename[1]} ({sha[:7]})")
        return
    if delete is not None:
        where = (git_remote or "origin") if push else None
        sha = repo.delete_tag(delete, push=where)
        if as_json:
            emit_json({"deleted": delete, "commit": sha or None, "git_remote": where})
        else:
            there = f" here and on git remote {where}" if where else ""
            was = f" (was {sha[:7]})" if sha else " (it was not here)"
            click.echo(f"Deleted tag {delete}{there}{was}")
        return
    infos = repo.tags()
    if as_json:
        emit_json([i.to_json() for i in infos])
        return
    if not infos:
        from folio.git.repo import SNAPSHOTS_PREFIX
        from folio.ops.transfer import remote_listing_hint

        click.echo(remote_listing_hint(repo, SNAPSHOTS_PREFIX, "snapshots")
                   or "No snapshots yet; make one with `folio snapshot TAG`.")
        return
    rows = [("TAG", "DATE", "CODE", "FILES", "SIZE", "MESSAGE")]
    for i in infos:
        rows.append((i.tag, _short_date(i.date), i.code_label,
                     "?" if i.files is None else str(i.files),
                     "?" if i.bytes is None else human_bytes(i.bytes),
                     (i.message.splitlines() or [""])[0]))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    for r in rows:
        cells = [r[c].rjust(widths[c]) if c in (3, 4) else r[c].ljust(widths[c])
                 for c in range(5)]
        click.echo("  ".join([*cells, r[5]]).rstrip())


@main.command()
@click.option("-n", "--max-count", type=click.IntRange(1), default=None,
              help="Show at most this many snapshots.")
@json_option
def log(max_count: int | None, as_json: bool) -> None:
    """Show snapshots newest first, with their full messages."""
    infos = open_repo().log()[:max_count]
    if as_json:
        emit_json([i.to_json() for i in infos])
        return
    if not infos:
        click.echo("No snapshots yet; make one with `folio snapshot TAG`.")
    for n, info in enumerate(infos):
        if n:
            click.echo("")
        click.echo("\n".join(snapshot_lines(info)))


@main.command(cls=PathsAfterDashDash)
@click.argument("rev", required=False)
@click.option("-f", "--force", is_flag=True,
              help="Overwrite unsaved changes, saving them first to the recovery log.")
@click.option("--link", type=click.Choice(LINK_CHOICES), default=None,
              help="How files are put in place (default: core.link in config, else auto).")
@json_option
def checkout(rev: str | None, force: bool, link: str | None, as_json: bool) -> None:
    """Make the data match REV: a snapshot tag, run:ID or a git revision.

    Without REV, restore the data to match the working manifests (.folio/manifests).
    Only files that differ are touched. Content that is in no object of the store is
    never overwritten without --force, and --force saves it first (`folio recover`).
    """
    repo = open_repo()
    result = repo.checkout(rev, _paths_after_dash_dash(), force=force, link=link,
                           progress=progress())
    if as_json:
        for warning in result.warnings:
            click.echo(f"folio: warning: {warning}", err=True)
        emit_json(result.to_json())
        return
    echo_checkout(result)


@main.command(cls=PathsAfterDashDash)
@click.argument("revs", nargs=-1, metavar="[A [B] | A..B | A...B]")
@click.option("--stat", is_flag=True, help="Only per-target counts and sizes.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything differs (like git diff).")
@click.option("--no-detail", is_flag=True, help="Skip data-aware detail (tables, arrays, JSON).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]),
              default=None, help="Output: text (default), markdown (a PR comment) or json.")
@json_option
def diff(revs: tuple[str, ...], stat: bool, exit_code: bool, no_detail: bool,
         fmt: str | None, as_json: bool) -> None:
    """Show data added, removed, modified or renamed between two versions.

    A and B are snapshot tags, run:ID or git revisions. No A: HEAD's manifests against
    the working tree's data; only A: A against the working tree. A..B is A B; A...B
    compares the merge base of A and B with B (what B changed since it forked from A).
    An empty side of a range is HEAD.
    """
    if len(revs) > 2:
        raise click.UsageError("give at most two versions (A [B]); put paths after --")
    if len(revs) == 2 and any(".." in r for r in revs):
        raise click.UsageError("a range (A..B, A...B) is the only version to give")
    if as_json and fmt not in (None, "json"):
        raise click.UsageError(f"--json and --format {fmt} do not go together")
    from folio.ops.diff import render, render_markdown, render_stat

    fmt = "json" if as_json else fmt or "text"
    a = revs[0] if revs else None
    b = revs[1] if len(revs) == 2 else None
    repo = open_repo()
    result = repo.diff(a, b, paths=_paths_after_dash_dash(), detail=not (stat or no_detail),
                       progress=progress())
    if fmt == "json":
        emit_json(result.to_json(stat=stat))
    else:
        lines = render_markdown(result, stat) if fmt == "markdown" else \
            render_stat(result) if stat else render(result)
        for line in lines:
            click.echo(line)
    if exit_code and result.changed:
        sys.exit(1)


@main.command()
@click.argument("path", required=False)
@click.option("--to", "dest", type=click.Path(), help="Restore to DEST instead of PATH.")
@click.option("--sha", metavar="PREFIX", help="Which saved version of PATH (default: newest).")
@json_option
def recover(path: str | None, dest: str | None, sha: str | None, as_json: bool) -> None:
    """List content saved by `checkout --force`, or restore PATH's saved content."""
    repo = open_repo()
    if path is None:
        if dest or sha:
            raise click.UsageError("--to and --sha need a PATH")
        records = repo.recovery_log()
        if as_json:
            emit_json([r.to_json() for r in records])
            return
        if not records:
            click.echo("The recovery log is empty: no forced checkout overwrote anything.")
        for r in records:
            click.echo(f"{r.time}  {human_bytes(r.size):>10}  {r.sha256[:12]}  {r.path}"
                       f"  ({r.reason})")
        return
    restored = repo.recover(path, to=dest, sha=sha)
    try:  # repo-relative like every other path folio prints, when it is inside the repo
        shown = Path(restored.dest).resolve().relative_to(repo.root.resolve()).as_posix()
    except ValueError:
        shown = str(restored.dest)
    if as_json:
        emit_json({**restored.record.to_json(), "dest": shown,
                   "unchanged": restored.unchanged})
        return
    verb = "already holds" if restored.unchanged else "restored"
    click.echo(f"{shown}: {verb} {restored.record.sha256[:12]} "
               f"({human_bytes(restored.record.size)}, saved {restored.record.time})")

from folio.cli.read import register as _register_read  # noqa: E402

_register_read(main)

from folio.cli.remote import register as _register_remote  # noqa: E402

_register_remote(main)

from folio.cli.bundle import register as _register_bundle  # noqa: E402

_register_bundle(main)
