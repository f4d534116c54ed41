"""docs/cli.md cannot drift from the CLI.

The reference shows each command's ``--help`` (its synopsis and options) in a code block
starting ``Usage: folio ...``. Checked against the real click command tree: every command
(hidden ones and subcommands included) has such a block and a row in the command table;
every documented command and option exists and every real option is documented; and each
block is exactly what ``folio <command> --help`` prints in an 80-column terminal (a line
``  ...`` stands for the rest of a long listing).
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from folio.cli import main

CLI_MD = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
ELIDED = "  ..."
WIDTH = 78  # click wraps help to the terminal width less 2: an 80-column terminal


def _commands(command: click.Command, path: tuple[str, ...] = ()
              ) -> dict[tuple[str, ...], click.Command]:
    found = {path: command}
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found.update(_commands(sub, (*path, name)))
    return found


COMMANDS = _commands(main)


def _help_blocks() -> dict[tuple[str, ...], str]:
    """Documented help pages by command path (code blocks of usage errors are examples)."""
    blocks: dict[tuple[str, ...], str] = {}
    fenced = r"^```\n(?:\$ folio[^\n]*--help\n)?(Usage: folio.*?)^```"
    for block in re.findall(fenced, CLI_MD.read_text(), re.S | re.M):
        if not re.search(r"^(Options|Commands):$", block, re.M):
            continue
        words = block.split("\n", 1)[0].split()[2:]
        path = tuple(words[:next((i for i, w in enumerate(words) if not re.fullmatch(
            r"[a-z][a-z-]*", w)), len(words))])
        assert path not in blocks, f"two help blocks for {' '.join(('folio', *path))}"
        blocks[path] = block
    return blocks


BLOCKS = _help_blocks()


def _name(path: tuple[str, ...]) -> str:
    return " ".join(("folio", *path))


def _documented_options(block: str) -> set[str]:
    """The flags in a block's Options section (``-j, --jobs INTEGER``, ``--x / --no-x``)."""
    section = re.search(r"^Options:\n(.*?)(?:\n\S|\Z)", block, re.S | re.M)
    if section is None:
        return set()
    flags: set[str] = set()
    for line in section.group(1).splitlines():
        if re.match(r"  -", line):
            synopsis = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            flags.update(re.findall(r"(?<![\w-])--?[A-Za-z0-9][\w-]*", synopsis))
    return flags


def _real_options(path: tuple[str, ...]) -> set[str]:
    context = main.make_context("folio", [], resilient_parsing=True)
    for depth, name in enumerate(path, 1):
        context = COMMANDS[path[:depth]].make_context(name, [], parent=context,
                                                      resilient_parsing=True)
    command = context.command
    flags: set[str] = set()
    for param in command.get_params(context):
        if isinstance(param, click.Option) and not param.hidden:
            flags.update(param.opts)
            flags.update(param.secondary_opts)
    return flags


def test_every_command_is_documented() -> None:
    assert sorted(map(_name, set(COMMANDS) - set(BLOCKS))) == []


def test_every_documented_command_exists() -> None:
    assert sorted(map(_name, set(BLOCKS) - set(COMMANDS))) == []


def test_every_command_is_in_the_table() -> None:
    table = CLI_MD.read_text().split("## Conventions", 1)[0]
    missing = [name for name in main.commands if f"[`{name}" not in table]
    assert missing == []


@pytest.mark.parametrize("path", sorted(set(BLOCKS) & set(COMMANDS)), ids=_name)
def test_options_match(path: tuple[str, ...]) -> None:
    documented, real = _documented_options(BLOCKS[path]), _real_options(path)
    assert sorted(documented - real) == [], "documented, but not an option"
    assert sorted(real - documented) == [], "an option, but not documented"


@pytest.mark.parametrize("path", sorted(set(BLOCKS) & set(COMMANDS)), ids=_name)
def test_help_is_verbatim(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="folio",
                                terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    real = result.output.rstrip("\n").split("\n")
    documented = BLOCKS[path].rstrip("\n").split("\n")
    if ELIDED in documented:
        cut = documented.index(ELIDED)
        assert len(real) > cut
        documented, real = documented[:cut], real[:cut]
    assert documented == real


def test_the_json_list_is_complete() -> None:
    sentence = re.search(r"`--json` prints JSON.*? It\s+exists on (.*?)\.", CLI_MD.read_text(),
                         re.S)
    assert sentence is not None
    documented = set(re.findall(r"`([a-z -]+)`", sentence.group(1)))
    real = {" ".join(path) for path, command in COMMANDS.items()
            if any("--json" in getattr(param, "opts", ()) for param in command.params)}
    assert sorted(documented ^ real) == []
