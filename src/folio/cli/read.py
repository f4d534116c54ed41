"""CLI for reading any version without touching the working files: cat, ls, show.

Thin: each command calls ``Repo.open`` / ``Repo.ls`` / ``Repo.show`` and prints the result
(docs/cli.md). Registered by one line in cli/app.py, which imports this module, never the
reverse.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from folio.cli.common import emit_json, human_bytes, json_option, open_repo, plural, progress

if TYPE_CHECKING:
    from folio.ops.read import VersionInfo
    from folio.ops.snapshots import SnapshotInfo

SMALL = 8 << 20  # cat to stdout verifies a file this small before writing its first byte


class RevThenPaths(click.Command):
    """``[ARG...] [-- PATH...]``: remembers whether ``--`` was given, and what followed it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["folio_dashdash"] = "--" in args
        if "--" in args:
            cut = args.index("--")
            ctx.meta["folio_after"] = args[cut + 1:]
            args = args[:cut]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "[-- PATH...]"]


@click.command("cat")
@click.argument("spec", metavar="[REV:]PATH")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write to FILE (replaced atomically, only once verified) instead of stdout.")
@click.option("-r", "--remote", metavar="NAME",
              help="Fetch from this remote when the object is not local (default: "
                   "core.remote, or the only one).")
def cat_command(spec: str, output: str | None, remote: str | None) -> None:
    """Print the bytes of PATH in REV: a tag, run:ID, git revision or sha.

    Without REV: the version the working manifests record. After the colon PATH is
    from the top of the work tree (as in `git show REV:PATH`), unless it starts with
    ./ or ../. The working file is never read or touched.
    """
    from folio._fs import atomic_write
    from folio.ops.read import chunks, split_spec

    repo = open_repo()
    rev, path = split_spec(repo, spec)
    with repo.open(path, rev, remote=remote, progress=progress()) as reader:
        if reader.entry.uri is not None:
            click.echo(f"folio: note: {spec} is a reference to {reader.entry.uri}; these are "
                       "the bytes of its reference file (folio does not fetch external data)",
                       err=True)
        if output is not None:
            atomic_write(Path(output), chunks(reader))
            return
        sys.stdout.flush()
        out = sys.stdout.buffer
        head: list[bytes] = []
        held = 0
        for piece in chunks(reader):  # a small file is checked whole before any byte is out
            if held <= SMALL:
                head.append(piece)
                held += len(piece)
                continue
            for early in head:
                out.write(early)
            head = []
            out.write(piece)
        for piece in head:
            out.write(piece)
        out.flush()


@click.command("ls", cls=RevThenPaths)
@click.argument("args", nargs=-1, metavar="[REV] [PATH]...")
@json_option
def ls_command(args: tuple[str, ...], as_json: bool) -> None:
    """List the entries of tracked targets: of the working manifests, or of REV.

    REV is a snapshot tag, run:ID, git revision or sha. Arguments that are all paths
    here (existing, or inside a tracked target) are paths, as before; otherwise the
    first is REV. After --, only paths.
    """
    from folio.ops.read import rev_and_paths

    repo = open_repo()
    meta = click.get_current_context().meta
    if meta["folio_dashdash"]:
        if len(args) > 1:
            raise click.UsageError("give at most one REV before --; put paths after it")
        rev, paths = (args[0] if args else None), list(meta["folio_after"])
    else:
        rev, paths = rev_and_paths(repo, args)
    rows = repo.ls(paths or None, rev=rev)
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
            sha = entry.sha256 or ""  # never None for a file: the manifest parser checks it
            click.echo(f"{human_bytes(entry.size):>10}  {sha[:12]}  {loc}{flag}")


def snapshot_lines(info: SnapshotInfo) -> list[str]:
    """A snapshot as `folio log` and `folio show` print it."""
    files = "?" if info.files is None else plural(info.files, "file")
    size = "?" if info.bytes is None else human_bytes(info.bytes)
    lines = [f"snapshot {info.tag}  (commit {info.commit[:7]})",
             f"Date:    {info.date.replace('T', ' ')}",
             f"Code:    {info.code_label}",
             f"Data:    {files}, {size}",
             f"Author:  {info.author}", ""]
    lines += [f"    {line}" for line in info.message.splitlines() or [""]]
    return lines


def version_lines(info: VersionInfo) -> list[str]:
    """The head of `folio show` for a run, a git commit or the working manifests."""
    data = f"Data:    {plural(info.files, 'file')}, {human_bytes(info.bytes)}"
    if info.info is None:
        return [info.label, data]
    commit = info.commit or ""
    head = f"run {info.name}" if info.kind == "run" else f"commit {commit[:7]}"
    if info.kind != "run" and info.name and not commit.startswith(info.name):
        head += f"  ({info.name})"
    elif info.kind == "run":
        head += f"  (commit {commit[:7]})"
    lines = [head, f"Date:    {(info.date or '').replace('T', ' ')}"]
    if info.run is not None:
        code = "-" if info.run.exit_code is None else str(info.run.exit_code)
        lines += [f"Status:  {info.run.status} (exit {code})",
                  f"Command: {info.run.command_line}"]
    lines += [f"Code:    {info.code_label}", data, f"Author:  {info.author}", ""]
    lines += [f"    {line}" for line in (info.message or "").splitlines() or [""]]
    return lines


@click.command("show")
@click.argument("rev", required=False)
@json_option
def show_command(rev: str | None, as_json: bool) -> None:
    """Show one version and the file count and size of each of its targets.

    REV is a snapshot tag, run:ID, git revision or sha; without it, the working
    manifests.
    """
    info = open_repo().show(rev)
    if as_json:
        emit_json(info.to_json())
        return
    lines = snapshot_lines(info.snapshot) if info.snapshot is not None else \
        version_lines(info)
    click.echo("\n".join(lines))
    click.echo("")
    width = max((len(t.target) for t in info.targets), default=0)
    for t in info.targets:
        extra = f"  ({t.hash_only} hash only)" if t.hash_only else ""
        click.echo(f"  {t.target:<{width}}  {t.kind:<4}  {t.files:>7} files  "
                   f"{human_bytes(t.bytes):>10}{extra}")
    if not info.targets:
        click.echo("  (no tracked targets)")


COMMANDS: tuple[click.Command, ...] = (cat_command, ls_command, show_command)


def register(group: click.Group) -> None:
    """Add these commands to ``group`` (the ``folio`` command)."""
    for command in COMMANDS:
        group.add_command(command)
