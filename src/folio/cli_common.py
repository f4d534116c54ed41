"""Pieces every CLI module shares: JSON output, opening the repo, progress, checkout summary.

A module of its own because ``python -m folio.cli`` runs cli.py as ``__main__``: the
command modules it registers must not import it back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from folio.units import human_bytes, plural

if TYPE_CHECKING:
    from folio.repo import Repo

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["echo_checkout", "emit_json", "human_bytes", "json_option", "open_repo", "plural",
           "progress"]


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print machine-readable JSON instead of text.")(fn)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def open_repo() -> Repo:
    from folio.repo import Repo

    return Repo(".")


def progress() -> Any:
    """A progress line on a terminal; nothing when stderr is piped."""
    from folio.progress import for_stream

    return for_stream(sys.stderr)


def echo_checkout(result: Any) -> None:
    """The summary of a checkout (also printed by pull)."""
    for warning in result.warnings:
        click.echo(f"folio: warning: {warning}", err=True)
    if result.saved:
        click.echo(f"Saved {plural(len(result.saved), 'file')} with unsaved changes to the "
                   "recovery log (`folio recover` lists them).")
    if result.written or result.deleted:
        click.echo(f"Checked out {result.source}: {plural(len(result.written), 'file')} "
                   f"written, {len(result.deleted)} removed, {result.unchanged} unchanged.")
    else:
        click.echo(f"Data already matches {result.source} "
                   f"({plural(result.unchanged, 'file')}).")
    if result.manifests_changed or result.manifests_removed:
        click.echo("Manifests updated (`git diff .folio/manifests` shows the switch).")
