"""CLI for remotes, accept, push / pull / fetch, gc, verify, export and import (docs/remotes.md).

Thin: each command calls one ``Repo`` method and prints its result; progress on a terminal
(stderr), nothing extra when piped; failures are one line and exit 1 (FolioGroup).
Registered by one line in cli/app.py, which imports this module, never the reverse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from folio.cli.common import (
    PathsAfterDashDash,
    echo_checkout,
    emit_json,
    human_bytes,
    json_option,
    open_repo,
    paths_after_dash_dash,
    plural,
    progress,
)
from folio.errors import FolioError, summarize_paths

if TYPE_CHECKING:
    from folio.ops.transfer import TransferResult

JOBS = click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
                    help="Parallel transfers (default: 8).")
REMOTE = click.option("-r", "--remote", metavar="NAME",
                      help="Which remote (default: core.remote, or the only one).")
GIT_REMOTE = click.option("--git-remote", metavar="NAME", default=None,
                          help="git remote for refs/folio/* (default: origin).")
NO_REFS = click.option("--no-refs", is_flag=True,
                       help="Do not fetch refs/folio/* (snapshots, runs) from the git remote.")


class Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        from folio.ops.maintenance import parse_duration

        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


# -- remote add / list / remove -------------------------------------------------------------------
@click.group("remote")
def remote() -> None:
    """Manage remotes: where `folio push` sends objects (S3, GCS, Azure, a directory)
    and `folio pull` fetches them (those, or an http(s) server)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--default", "make_default", is_flag=True, help="Make it the default remote.")
@click.option("--endpoint", help="Endpoint URL: an S3-compatible server (MinIO, Ceph, R2...), "
                                "a GCS or Azure emulator.")
@click.option("--region", help="S3 bucket region.")
@click.option("--profile", help="AWS profile for credentials (needs boto3).")
@click.option("--account", help="Azure storage account (when the URL does not name it).")
@click.option("--emulator", is_flag=True,
              help="Azure: talk to Azurite with its published development account.")
@click.option("--allow-http", is_flag=True, help="Allow a plain http:// endpoint or URL.")
@click.option("--local", is_flag=True,
              help="Write to .git/folio/config.toml (this clone only) instead of the "
                   "committed .folio/config.toml.")
def remote_add(name: str, url: str, make_default: bool, endpoint: str | None,
               region: str | None, profile: str | None, account: str | None, emulator: bool,
               allow_http: bool, local: bool) -> None:
    """Add remote NAME at URL: s3://bucket/prefix, gs://bucket/prefix,
    az://container/prefix, https://host/path (read-only), file:///path or a directory path.

    Credentials are never stored: they come from each provider's own chain (AWS_*
    variables, --profile or an instance role; GOOGLE_APPLICATION_CREDENTIALS, gcloud or
    the metadata server; AZURE_STORAGE_* variables, the az CLI or managed identity).
    Adding it here accepts it in this clone; other clones accept it once with `folio accept`.
    """
    repo = open_repo()
    spec = repo.add_remote(name, url, default=make_default, endpoint=endpoint, region=region,
                           profile=profile, account=account, emulator=emulator,
                           allow_http=allow_http, local=local)
    where = ".folio/config.toml"
    if local:  # .git/folio/config.toml, or where a linked worktree's common git dir is
        path = repo.config.local_path
        where = (path.relative_to(repo.root).as_posix() if path.is_relative_to(repo.root)
                 else str(path))
    click.echo(f"Added remote {spec.name} -> {spec.url} in {where}"
               + (" (default)" if spec.default else ""))


@remote.command("list")
@json_option
def remote_list(as_json: bool) -> None:
    """List remotes; the default is marked with *."""
    specs = open_repo().remotes()
    if as_json:
        emit_json([s.to_json() for s in specs])
        return
    if not specs:
        click.echo("No remotes; add one with `folio remote add NAME URL`.")
    for s in specs:
        options = " ".join(f"{k}={v}" for k, v in sorted(s.options.items()))
        extra = f"  ({options})" if options else ""
        local = "  [local]" if s.local else ""
        pending = "" if s.accepted else f"  [not accepted: `folio accept remotes.{s.name}`]"
        click.echo(f"{'*' if s.default else ' '} {s.name}  {s.url}{extra}{local}{pending}")


# -- accept -------------------------------------------------------------------------------------
@click.command("accept")
@click.argument("keys", nargs=-1, metavar="[KEY]...")
@click.option("-n", "--dry-run", is_flag=True, help="Only list what is pending; accept nothing.")
@json_option
def accept(keys: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Accept what the committed config asks for: a store path, a hardlink or symlink
    link mode, remotes (their URL and options).

    Until accepted in this clone, a committed core.store is refused, core.link falls back
    to auto, and a remote is refused for push, pull and fetch: a commit (a pull request, a
    `git pull`) must not decide where your data goes. KEY is core.store, core.link or
    remotes.NAME; without KEY, everything pending.
    """
    from folio.config import select_pending

    repo = open_repo()
    chosen = list(keys) or None
    pending = (select_pending(repo.pending_settings(), chosen) if dry_run
               else repo.accept(chosen))
    if as_json:
        emit_json({"dry_run": dry_run, "settings": [p.to_json() for p in pending]})
        return
    if not pending:
        click.echo("Nothing to accept: this clone uses every setting the committed config "
                   "asks for.")
        return
    click.echo("Pending (the committed config asks for it; not accepted in this clone):"
               if dry_run else "Accepted in this clone:")
    for p in pending:
        before = f"  (accepted before: {p.previous()})" if p.accepted is not None else ""
        click.echo(f"  {p.describe()}{before}")
    if dry_run:
        click.echo("`folio accept` accepts them all; `folio accept KEY` one of them.")


@remote.command("remove")
@click.argument("name")
def remote_remove(name: str) -> None:
    """Forget remote NAME (its data stays where it is)."""
    spec = open_repo().remove_remote(name)
    click.echo(f"Removed remote {spec.name} ({spec.url})")


# -- push / pull / fetch --------------------------------------------------------------------------
def _echo_fetched(result: TransferResult, as_json: bool) -> bool:
    """Print what a pull or fetch brought; False when it went out as JSON (nothing more).

    Ref clashes and a failed ref fetch are warnings on stderr, JSON or not: the transfer
    went on without them.
    """
    sync = result.refs
    for warning in sync.warnings() if sync else []:
        click.echo(f"folio: warning: {warning}", err=True)
    if as_json:
        emit_json(result.to_json())
        return False
    if sync is not None and sync.created:
        click.echo(f"Fetched refs/folio/* from git remote {sync.remote}: "
                   f"{len(sync.created)} new ({summarize_paths(sync.created)}).")
    elif result.fetched_refs and sync is None:
        click.echo(f"Fetched refs/folio/* from git remote {result.fetched_refs}.")
    click.echo(_summary(result))
    return True


def _summary(result: TransferResult) -> str:
    s = result.stats
    where = f"{result.remote} ({result.url})"
    if result.action == "push":
        if not s.moved:
            return f"Nothing to push: all {result.wanted} objects are already on {where}."
        packs = f", {s.packs} pack{'s' if s.packs != 1 else ''}" if s.packs else ""
        return (f"Pushed {plural(s.moved, 'object')} ({human_bytes(s.moved_bytes)}{packs}) "
                f"to {where}; "
                f"{s.skipped} already there.")
    if not s.moved:
        return f"Nothing to fetch: all {result.wanted} objects are already here."
    return (f"Fetched {plural(s.moved, 'object')} ({human_bytes(s.moved_bytes)}) from {where}; "
            f"{s.skipped} already here.")


@click.command("push")
@click.argument("revs", nargs=-1, metavar="[TAG|REV]...")
@click.option("--all", "all_versions", is_flag=True,
              help="Also the objects of every commit's manifests in the git history.")
@REMOTE
@JOBS
@click.option("--git", "push_git", is_flag=True,
              help="Then push refs/folio/* (snapshots, runs) to the git remote.")
@GIT_REMOTE
@json_option
def push(revs: tuple[str, ...], all_versions: bool, remote: str | None, jobs: int | None,
         push_git: bool, git_remote: str | None, as_json: bool) -> None:
    """Send objects the remote lacks.

    Without TAG|REV: the objects of the working manifests and of every snapshot and run.
    """
    from folio.ops.transfer import DEFAULT_GIT_REMOTE, has_folio_refs

    if revs and all_versions:
        raise click.UsageError("give versions or --all, not both")
    repo = open_repo()
    git_name = (git_remote or DEFAULT_GIT_REMOTE) if push_git else None
    result = repo.push(list(revs), all=all_versions, remote=remote, jobs=jobs,
                       git_remote=git_name, progress=progress())
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(_summary(result))
    name = git_remote or DEFAULT_GIT_REMOTE
    if result.git_remote:
        click.echo(f"Pushed refs/folio/* to git remote {result.git_remote} "
                   f"(as `git push {result.git_remote} 'refs/folio/*'` does).")
    elif has_folio_refs(repo):
        click.echo(f"Snapshots and runs travel through git: `git push {name} 'refs/folio/*'` "
                   "(or `folio push --git`).")


@click.command("pull", cls=PathsAfterDashDash)
@click.argument("rev", required=False, metavar="[TAG|REV]")
@REMOTE
@JOBS
@click.option("-f", "--force", is_flag=True,
              help="Overwrite unsaved changes (saved first to the recovery log).")
@click.option("--link", type=click.Choice(("auto", "reflink", "copy", "hardlink", "symlink")),
              default=None, help="How files are put in place (default: core.link).")
@GIT_REMOTE
@NO_REFS
@json_option
def pull(rev: str | None, remote: str | None, jobs: int | None, force: bool, link: str | None,
         git_remote: str | None, no_refs: bool, as_json: bool) -> None:
    """Fetch the objects of TAG|REV (default: the working manifests), then check it out.

    First brings refs/folio/* (snapshots, runs) from the git remote, unless --no-refs.
    With -- PATH...: only the objects of those paths move, and only they are checked out.
    """
    repo = open_repo()
    result = repo.pull(rev, remote=remote, jobs=jobs, force=force, link=link,
                       git_remote=git_remote, paths=paths_after_dash_dash(),
                       refs=not no_refs, progress=progress())
    if _echo_fetched(result, as_json) and result.checkout is not None:
        echo_checkout(result.checkout)  # always set by a pull (only push and fetch lack one)


@click.command("fetch", cls=PathsAfterDashDash)
@click.argument("revs", nargs=-1, metavar="[TAG|REV]...")
@click.option("--all", "all_versions", is_flag=True,
              help="The objects of every snapshot, run and commit in the history.")
@REMOTE
@JOBS
@GIT_REMOTE
@NO_REFS
@json_option
def fetch(revs: tuple[str, ...], all_versions: bool, remote: str | None, jobs: int | None,
          git_remote: str | None, no_refs: bool, as_json: bool) -> None:
    """Fetch objects into the local store only (no checkout).

    First brings refs/folio/* (snapshots, runs) from the git remote, unless --no-refs.
    With -- PATH...: only the objects of those paths.
    """
    paths = paths_after_dash_dash()
    if revs and all_versions:
        raise click.UsageError("give versions or --all, not both")
    if paths and all_versions:
        raise click.UsageError("--all fetches whole versions; give versions with -- PATH")
    repo = open_repo()
    result = repo.fetch(list(revs), all=all_versions, remote=remote, jobs=jobs,
                        git_remote=git_remote, paths=paths, refs=not no_refs,
                        progress=progress())
    _echo_fetched(result, as_json)


# -- gc / verify ----------------------------------------------------------------------------------
@click.command("gc")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option("--grace", type=Duration(), default=None,
              help="Spare unreachable objects younger than this (1d, 12h, 30m, 0; default "
                   "1d, with --remote 7d).")
@click.option("--allow-shared", is_flag=True,
              help="Sweep a shared store (core.store) using only this clone's roots.")
@click.option("-r", "--remote", metavar="NAME",
              help="Sweep this remote instead of the local store.")
@click.option("--repack-below", metavar="PCT", type=click.FloatRange(0, 100), default=None,
              help="With --remote: rewrite packs with less than PCT % of their objects "
                   "live (default 50; 0 never).")
@click.option("-v", "--verbose", is_flag=True, help="List every object removed.")
@json_option
def gc(dry_run: bool, grace: float | None, allow_shared: bool, remote: str | None,
       repack_below: float | None, verbose: bool, as_json: bool) -> None:
    """Delete objects that no snapshot, run, commit or manifest names.

    Only objects older than --grace go, so a concurrent writer is never robbed. With
    --remote: the remote's objects and packs that no ref (after fetching the git remote's
    refs/folio/*) and no push younger than --grace reaches.
    """
    if remote is not None:
        _gc_remote(remote, dry_run, grace, 50.0 if repack_below is None else repack_below,
                   verbose, as_json)
        return
    if repack_below is not None:
        raise click.UsageError("--repack-below applies to a remote: give --remote NAME")
    result = open_repo().gc(dry_run=dry_run, grace="1d" if grace is None else grace,
                            allow_shared=allow_shared)
    if as_json:
        emit_json(result.to_json())
        return
    verb = "Would remove" if dry_run else "Removed"
    if dry_run or verbose:
        for oid, size in result.removed:
            click.echo(f"{verb.lower()} {oid}  {human_bytes(size)}")
        for path, size in result.temp_files:
            click.echo(f"{verb.lower()} {path}  {human_bytes(size)}")
    temp = (f" and {len(result.temp_files)} stale temporary files"
            if result.temp_files else "")
    click.echo(f"{verb} {plural(len(result.removed), 'unreachable object')}{temp}: "
               f"{human_bytes(result.freed_bytes)} {'to free' if dry_run else 'freed'}. "
               f"Kept {result.kept} reachable objects ({human_bytes(result.kept_bytes)}).")
    if result.young:
        click.echo(f"Spared {plural(result.young, 'unreachable object')} "
                   f"({human_bytes(result.young_bytes)}) younger than the grace period.")


def _gc_remote(remote: str, dry_run: bool, grace: float | None, repack_below: float,
               verbose: bool, as_json: bool) -> None:
    result = open_repo().gc_remote(remote, dry_run=dry_run,
                                   grace="7d" if grace is None else grace,
                                   repack_below=repack_below)
    if as_json:
        emit_json(result.to_json())
        return
    verb = "would remove" if dry_run else "removed"
    if dry_run or verbose:
        for key in result.records + result.false_records:
            click.echo(f"{verb} {key}")
        for pack, size in result.packs:
            click.echo(f"{verb} pack {pack}  {human_bytes(size)}")
        for oid, size in result.loose:
            click.echo(f"{verb} {oid}  {human_bytes(size)}")
        for key, size in result.debris:
            click.echo(f"{verb} {key}  {human_bytes(size)}")
        for pack, live, total, size in result.repacked:
            click.echo(f"{'would repack' if dry_run else 'repacked'} pack {pack}: {live} of "
                       f"{total} objects live  {human_bytes(size)}")
    if result.repacked:
        live = sum(lv for _, lv, _, _ in result.repacked)
        into = "" if dry_run else f" into {plural(len(result.new_packs), 'new pack')}"
        click.echo(f"{'Would repack' if dry_run else 'Repacked'} "
                   f"{plural(len(result.repacked), 'pack')} less than "
                   f"{result.repack_below:g} % live: {plural(live, 'live object')} copied{into}.")
    click.echo(f"{verb.capitalize()} on {result.remote}: {plural(len(result.packs), 'dead pack')}"
               f", {plural(len(result.loose), 'unreachable object')}, "
               f"{plural(len(result.records), 'old push record')}"
               f"{f', {len(result.debris)} leftover pack parts' if result.debris else ''}: "
               f"{human_bytes(result.freed_bytes)} {'to free' if dry_run else 'freed'}. "
               f"Kept {result.kept} reachable objects.")
    if result.young:
        click.echo(f"Spared {plural(result.young, 'unreachable key')} "
                   f"({human_bytes(result.young_bytes)}) younger than the grace period.")
    if result.false_records:
        click.echo(f"{verb.capitalize()} {plural(len(result.false_records), 'push record')} "
                   "naming objects the remote lacks: the next push sends them again.")
    for pack, live, total, size in result.partial:
        click.echo(f"Pack {pack[:12]} kept: {live} of {total} objects live "
                   f"({human_bytes(size)}), not under --repack-below "
                   f"{result.repack_below:g} % or younger than the grace period.")


@click.command("verify")
@REMOTE
@click.option("--repair", is_flag=True,
              help="Fetch corrupt and missing objects again from the remote.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
              help="Hashing threads (default: one per core).")
@json_option
def verify(remote: str | None, repair: bool, jobs: int | None, as_json: bool) -> None:
    """Rehash every object; report corrupt ones and missing ones (exit 1 if any).

    Missing: named by the working manifests but absent. Objects that only snapshots or
    runs name and that were never fetched here are counted, not failed (`folio fetch --all`
    gets them). With --remote and no --repair: also report objects that remote lacks.
    """
    repo = open_repo()
    result = repo.verify(remote=remote, repair=repair, jobs=jobs, progress=progress())
    if as_json:
        emit_json(result.to_json())
    else:
        for oid in result.corrupt:
            click.echo(f"corrupt: {oid} ({repo.store.describe(oid)})")
        for oid, where in result.missing.items():
            click.echo(f"missing: {oid} (named by {where})")
        for oid, where in result.not_on_remote.items():
            click.echo(f"not on remote {result.remote}: {oid} (named by {where})")
        for oid in result.repaired:
            click.echo(f"repaired: {oid} (from {result.remote})")
        for oid, why in result.unrepaired.items():
            click.echo(f"not repaired: {oid}: {why}")
        click.echo(f"Verified {result.objects} objects ({human_bytes(result.bytes)}).")
        if result.not_local:
            click.echo(f"{len(result.not_local)} object(s) named only by snapshots or runs are "
                       "not in this store (`folio fetch --all` gets them).")
    if not result.ok:
        counts = [f"{len(v)} {k}" for k, v in (("corrupt", result.corrupt),
                                               ("missing", result.missing),
                                               ("not on the remote", result.not_on_remote))
                  if v]
        hint = ("; not all could be repaired" if repair else
                "; `folio verify --repair` fetches them again from the remote")
        raise FolioError(f"verify found {', '.join(counts)} object(s){hint}")
    if not as_json and not (result.corrupt or result.missing):
        click.echo("Every object is sound and the working data is complete.")


# -- export / import ------------------------------------------------------------------------------
@click.command("export")
@click.argument("tag")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def export(tag: str, file: str, as_json: bool) -> None:
    """Write snapshot TAG with all its data to FILE (.tar, .tar.gz, .tgz or .zip)."""
    result = open_repo().export(tag, file)
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(f"Exported snapshot {tag} to {result.path}: {plural(result.files, 'file')}, "
               f"{result.objects} objects ({human_bytes(result.bytes)}).")


@click.command("import")
@click.argument("file")  # not click.Path: a directory or FIFO gets folio's one-line refusal
@click.option("--tag", help="Create this tag instead of the archived one.")
@json_option
def import_command(file: str, tag: str | None, as_json: bool) -> None:
    """Create a snapshot from a file made by `folio export` (every path and hash checked)."""
    result = open_repo().import_archive(file, tag)
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(f"Imported snapshot {result.tag} from {file}: {plural(result.files, 'file')}, "
               f"{result.objects} objects ({human_bytes(result.bytes)}); "
               f"`folio checkout {result.tag}` puts the data in place.")


COMMANDS = (remote, accept, push, pull, fetch, gc, verify, export, import_command)


def register(group: click.Group) -> None:
    """Add these commands to ``group`` (the ``folio`` command)."""
    for command in COMMANDS:
        group.add_command(command)
