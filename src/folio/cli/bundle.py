"""``folio describe [BUNDLE]``: a bundle's items, grouped by kind, with lineage.

Registered on the main group by :func:`register` (one line in cli/app.py), which keeps the
imports one way: app imports this module, never the reverse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from folio.bundle import Folio
    from folio.repo import Repo


def _bundles(repo: Repo, bundle: str | None) -> list[Folio]:
    from folio.bundle import Folio
    from folio.bundle._names import is_reserved
    from folio.paths import is_within, repo_relative

    if bundle is not None:
        return [Folio(bundle, repo=None, create=False)]
    here = repo_relative(repo.root, Path.cwd()) if Path.cwd() != repo.root else None
    dirs = [t for t in repo.targets() if repo.read_manifest(t).kind == "dir"]
    if here is not None:
        inside = [t for t in dirs if is_within(here, t)]
        if inside:
            return [repo.folio(inside[0], create=False)]
    chosen = []
    for target in dirs:  # bundles: directories with at least one typed item
        manifest = repo.read_manifest(target)
        if any(e.type is not None for p, e in manifest.entries.items() if not is_reserved(p)):
            chosen.append(repo.folio(target, create=False))
    return chosen


@click.command()
@click.argument("bundle", required=False, type=click.Path())
@click.option("--show-empty", is_flag=True, help="List every kind of item, even with none.")
@click.option("--max-metadata-fields", default=10, show_default=True, type=click.IntRange(0),
              help="Metadata keys shown per item.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead.")
def describe(bundle: str | None, show_empty: bool, max_metadata_fields: int,
             as_json: bool) -> None:
    """Describe BUNDLE (default: the bundle around the current directory, else all)."""
    from folio.repo import Repo

    repo = Repo(".")
    folios = _bundles(repo, bundle)
    if as_json:
        out = [{"bundle": f.target, "metadata": f.metadata.to_dict(),
                "items": [info.metadata for info in f.items_info()]} for f in folios]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if not folios:
        click.echo("No bundles here (a bundle is a tracked directory with typed items).")
        return
    texts = [f.describe(return_string=True, show_empty=show_empty,
                        max_metadata_fields=max_metadata_fields) for f in folios]
    click.echo("\n\n".join(t for t in texts if t))


COMMANDS = [describe]


def register(group: click.Group) -> None:
    """Add these commands to ``group`` (the ``folio`` command)."""
    for command in COMMANDS:
        group.add_command(command)
