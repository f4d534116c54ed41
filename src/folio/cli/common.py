"""Pieces every CLI module shares: JSON output, opening the repo, progress, checkout summary,
and the escaping of everything printed.

A module of its own so that the command modules (``remote``, ``runs``, ``bundle``), which
``app`` registers, import what they share from below rather than from ``app``.

Escaping (docs/cli.md, "Output"): a path, description or message can come from someone
else's commit, so no control character folio prints reaches the terminal raw. It is done
once, here: :func:`escaped_output` puts an :class:`EscapingStream` in front of stdout and
stderr for the whole command, so every ``click.echo`` and ``print`` passes through
:func:`escape`. Bytes written to a stream's ``buffer`` bypass it: that is how ``folio run``
passes its job's own output through untouched.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

import click

from folio.units import human_bytes, plural

if TYPE_CHECKING:
    from folio.ops.checkout import CheckoutResult
    from folio.progress import Progress
    from folio.repo import Repo

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["PathsAfterDashDash", "echo_checkout", "emit_json", "escape", "escaped_output",
           "human_bytes", "json_option", "open_repo", "paths_after_dash_dash", "plural",
           "progress"]

# C0 but tab and newline (folio's own layout), DEL, C1, and lone surrogates (bytes of a name
# that was not UTF-8, which would also make the write fail).
_CONTROL_BUT_LAYOUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# What json.dumps(ensure_ascii=False) leaves raw: escaped the JSON way, so it stays valid.
_JSON_RAW = re.compile("[\x7f-\x9f\ud800-\udfff]")


def escape(text: str, *, keep_layout: bool = True) -> str:
    """``text`` with control characters shown as ``\\xNN`` (``\\x1b`` for ESC).

    ``keep_layout`` keeps newline and tab; without it (one-line errors) they are escaped too.
    A surrogate standing for an undecodable byte is shown as that byte.
    """
    pattern = _CONTROL_BUT_LAYOUT if keep_layout else _CONTROL
    return pattern.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


class EscapingStream(io.TextIOBase):
    """A text stream that escapes what it is given, then writes it to ``stream``.

    It looks like a text stream to click (a ``write`` of bytes fails, ``encoding`` and
    ``errors`` are set), so click writes to it rather than around it.
    """

    def __init__(self, stream: TextIO) -> None:
        self.unescaped = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        clean = escape(text)
        try:
            self.unescaped.write(clean)
        except UnicodeEncodeError:  # a terminal that cannot show a character: name it
            encoding = getattr(self.unescaped, "encoding", None) or "ascii"
            self.unescaped.write(clean.encode(encoding, "backslashreplace").decode(encoding))
        return len(text)

    def flush(self) -> None:
        self.unescaped.flush()

    def isatty(self) -> bool:
        return self.unescaped.isatty()

    def fileno(self) -> int:
        return self.unescaped.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        encoding = getattr(self.unescaped, "encoding", None) or "utf-8"
        # click re-wraps the raw buffer of a stream it thinks is ASCII, which would bypass
        # the escaping; writes that ASCII cannot hold are backslash-escaped above instead.
        return "utf-8" if encoding.lower() in ("ascii", "us-ascii", "ansi_x3.4-1968") \
            else encoding

    @property
    def errors(self) -> str:  # type: ignore[override]
        return getattr(self.unescaped, "errors", None) or "strict"

    @property
    def buffer(self) -> Any:
        """The raw byte stream, unescaped: a job's own output goes through it as it is."""
        return self.unescaped.buffer


@contextlib.contextmanager
def escaped_output() -> Iterator[None]:
    """Escape everything written to stdout and stderr while the block runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (stream if stream is None or isinstance(stream, EscapingStream)
                              else EscapingStream(stream) for stream in saved)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # type: ignore[union-attr]
        sys.stdout, sys.stderr = saved


def unescaped(stream: TextIO) -> TextIO:
    """The stream beneath an EscapingStream: for folio's own control sequences (progress)."""
    return stream.unescaped if isinstance(stream, EscapingStream) else stream


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print machine-readable JSON instead of text.")(fn)


def emit_json(data: Any) -> None:
    """JSON on stdout: json escapes C0 itself; DEL, C1 and lone surrogates as ``\\u00XX``."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    click.echo(_JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def open_repo() -> Repo:
    from folio.repo import Repo

    return Repo(".")


def progress() -> Progress:
    """A progress line on a terminal; nothing when stderr is piped."""
    from folio.progress import for_stream

    return for_stream(unescaped(sys.stderr))  # its labels are fixed words, its \\r ours


def exit_interrupted(exc: KeyboardInterrupt) -> NoReturn:
    """Ctrl-C: one line (a transfer's says what it got done), exit 130, at once.

    A cancelled transfer may leave a worker thread inside a request for a while (a
    multipart part in flight); what it would leave is invisible (docs/remotes.md,
    "Interrupting"), so the process does not wait for it: every ``finally`` has run by
    now, and the lock is released by the kernel with the process.
    """
    click.echo(f"folio: interrupted{f'; {exc}' if str(exc) else ''}", err=True)
    if threading.active_count() > 1:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(130)
    raise click.exceptions.Exit(130)


def echo_checkout(result: CheckoutResult) -> None:
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


class PathsAfterDashDash(click.Command):
    """A command taking ``-- PATH...``: everything after ``--`` is a path, never a revision.

    Here, not in app, because checkout and diff (app) and pull and fetch (remote) share it.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta["folio_paths"] = args[cut + 1:]
            args = args[:cut]
        else:
            ctx.meta["folio_paths"] = []
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "[-- PATH...]"]


def paths_after_dash_dash() -> list[str] | None:
    """The paths given after ``--`` to a :class:`PathsAfterDashDash` command, or None."""
    return click.get_current_context().meta.get("folio_paths") or None
