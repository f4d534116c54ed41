"""The ``folio`` command: a thin click shell over :class:`folio.Repo`.

Exit codes: 0 success, 1 failure (one line on stderr, no traceback), 2 usage error.
Heavy modules are imported inside commands so that quick commands start quickly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from folio.repo import Repo

F = TypeVar("F", bound=Callable[..., Any])


class FolioGroup(click.Group):
    """Turns FolioError into one line and exit 1 (and broken pipes into silence)."""

    def invoke(self, ctx: click.Context) -> Any:
        from folio.errors import FolioError

        try:
            return super().invoke(ctx)
        except FolioError as exc:
            click.echo(f"folio: error: {exc}", err=True)
            ctx.exit(1)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("folio: interrupted", err=True)
            ctx.exit(130)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print machine-readable JSON instead of text.")(fn)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def open_repo() -> Repo:
    from folio.repo import Repo

    return Repo(".")


def progress() -> Any:
    from folio.progress import for_stream

    return for_stream(sys.stderr)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


@click.group(cls=FolioGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="folio", prog_name="folio")
def main() -> None:
    """folio: version your data beside your code, in git.

    Content lives in a hash-addressed store in .folio/objects; small text manifests in
    .folio/manifests are committed to git; snapshots are immutable git refs.
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
              help="Parallel workers for hashing (default: one per core).")
@json_option
def add(paths: tuple[str, ...], no_copy: bool, jobs: int | None, as_json: bool) -> None:
    """Track files, directories or globs: store their content, write their manifests."""
    repo = open_repo()
    results = repo.add(list(paths), store_copy=not no_copy, progress=progress(), jobs=jobs)
    if as_json:
        emit_json([r.to_json() for r in results])
        return
    for r in results:
        what = (f"+{len(r.added)} ~{len(r.modified)} -{len(r.deleted)}" if r.changed
                else "unchanged")
        click.echo(f"{r.target}: {r.files} files, {human_bytes(r.bytes)} ({what})")
    manifests = [r.manifest for r in results if r.changed]
    if manifests:
        click.echo(f"To record this in git: git add .gitignore {' '.join(manifests)}")


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
        if not results:
            click.echo("No tracked data yet; track some with `folio add PATH`.")
        elif clean:
            click.echo(f"Data matches the manifests ({len(results)} targets).")
    if exit_code and not clean:
        sys.exit(1)


@main.command("ls")
@click.argument("targets", nargs=-1)
@json_option
def ls_command(targets: tuple[str, ...], as_json: bool) -> None:
    """List the entries of tracked targets (from the working manifests)."""
    repo = open_repo()
    rows = repo.ls(list(targets) or None)
    if as_json:
        out = []
        for manifest, entry in rows:
            item = {"target": manifest.target, "location": manifest.location(entry.path)}
            item.update(entry.to_json())
            out.append(item)
        emit_json(out)
        return
    for manifest, entry in rows:
        loc = manifest.location(entry.path)
        if entry.is_link:
            click.echo(f"{'link':>10}  {'':12}  {loc} -> {entry.link}")
        else:
            flag = "" if entry.stored else "  (hash only)"
            click.echo(f"{human_bytes(entry.size):>10}  {entry.sha256[:12]}  {loc}{flag}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
def textconv(file: str) -> None:
    """Render a manifest file readably (git's diff driver for *.folio files)."""
    from folio.textconv import render

    click.echo(render(Path(file)), nl=False)


@main.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def demo(directory: str | None) -> None:
    """Run folio end to end in a new temporary git repository (or DIRECTORY)."""
    from folio.demo import run_demo

    run_demo(Path(directory) if directory else None, echo=click.echo)


if __name__ == "__main__":  # pragma: no cover
    main()
