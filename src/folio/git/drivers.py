"""folio's git drivers for manifest files: the diff (textconv) and merge driver commands
written into a clone's git config, and the cheap check that keeps them there.

git runs these commands through ``sh`` from wherever it runs: a shell without the venv, an
IDE, a GUI. So they name the absolute interpreter that runs folio now (never a bare
``folio`` that PATH may lack) and fall back when it is gone: textconv to ``cat`` (the raw
JSON lines), the merge driver to git's own text merge, reported as a conflict. The
interpreter runs with ``-P`` (``-I`` before Python 3.11) so that the work tree, git's
working directory, is not on ``sys.path``: a committed ``folio/`` package is never imported.

The commands are folio's own, built here from ``sys.executable``; nothing a commit carries
chooses them (``.gitattributes`` only says which files use the driver named ``folio``).
:func:`ensure` runs whenever folio opens a repository (``Workspace``), so a fresh clone gets
them from its first folio command, without ``folio init``; a clone where folio never runs
keeps plain git behaviour. It reads ``.git/config`` as text and calls ``git config`` only
when a value differs (docs/format.md 2.4).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from folio.git.discover import git_common_dir

TEXTCONV_KEY = "diff.folio.textconv"
MERGE_NAME_KEY = "merge.folio.name"
MERGE_DRIVER_KEY = "merge.folio.driver"
MERGE_NAME = "folio: manifests merged entry by entry"
# Keeps the work tree (the cwd git runs drivers in) off sys.path: -P exists from 3.11.
SAFE_PATH_FLAG = "-P" if sys.version_info >= (3, 11) else "-I"


def _python_prefix(python: str | None) -> tuple[str, str]:
    """The shell test that the interpreter is there, and the words that start folio."""
    if not python:
        return "command -v folio >/dev/null 2>&1", "folio"
    q = shlex.quote(python)
    return f"[ -x {q} ]", f"{q} {SAFE_PATH_FLAG} -m folio.cli"


def textconv_command(python: str | None = sys.executable) -> str:
    """``diff.folio.textconv``: git appends the file (as ``"$@"``), so it ends in a call."""
    there, folio = _python_prefix(python)
    return (f'folio_textconv() {{ {there} && {folio} textconv -- "$1" 2>/dev/null'
            ' || cat -- "$1"; }; folio_textconv')


def merge_command(python: str | None = sys.executable) -> str:
    """``merge.folio.driver``: git puts the quoted file names in for ``%O %A %B %P``.

    folio's driver exits 0 (clean) or 1 (conflict); anything else (folio gone, an internal
    error, which leaves ``%A`` untouched) falls back to ``git merge-file``, git's text merge
    with its conflict markers, and exits 1 so that git reports the file as conflicted:
    nobody checked that text merge as folio would.
    """
    there, folio = _python_prefix(python)
    check = f"{there} && " + (f"{shlex.quote(python)} {SAFE_PATH_FLAG} -c 'import "
                              "folio.mergeman' 2>/dev/null" if python else "true")
    return (f"if {check}; then {folio} merge-driver -- %O %A %B %P; s=$?;"
            ' [ "$s" -le 1 ] && exit "$s"; fi;'
            " echo 'folio: the folio merge driver is unavailable; git merged' %P"
            " 'as text: check it, then git add it' >&2;"
            " git merge-file -L ours -L base -L theirs -- %A %O %B >/dev/null 2>&1; exit 1")


def wanted(python: str | None = sys.executable) -> dict[str, str]:
    """The git config values folio's drivers need, by key."""
    return {TEXTCONV_KEY: textconv_command(python), MERGE_NAME_KEY: MERGE_NAME,
            MERGE_DRIVER_KEY: merge_command(python)}


def config_path(root: Path) -> Path:
    """The repository's own config file (shared by its linked worktrees)."""
    return git_common_dir(root) / "config"


def missing(root: Path, python: str | None = sys.executable) -> dict[str, str]:
    """The driver settings this clone's config lacks or holds otherwise (its text only)."""
    try:
        text = config_path(root).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    found = read_values(text, ("diff", "merge"), "folio")
    return {key: value for key, value in wanted(python).items() if found.get(key) != value}


def install(root: Path, python: str | None = sys.executable) -> dict[str, str]:
    """Write the settings that :func:`missing` names with ``git config``; what it wrote.

    Raises OSError or ``subprocess.CalledProcessError`` when git cannot write the config.
    """
    todo = missing(root, python)
    path = config_path(root)
    for key, value in todo.items():
        subprocess.run(["git", "config", "--file", str(path), "--replace-all", key, value],
                       cwd=root, capture_output=True, check=True)
    return todo


def install_global(python: str | None = sys.executable) -> dict[str, str]:
    """The same settings in the user's global git config (``git config --global``), so that
    every clone whose ``.gitattributes`` asks for folio's drivers has them, before any folio
    command ran there (``folio install --global``, as ``git lfs install``). What it wrote.

    Raises OSError or ``subprocess.CalledProcessError`` when git cannot write the config.
    """
    done = subprocess.run(["git", "config", "--global", "--get-regexp", r"^(diff|merge)\.folio\."],
                          capture_output=True, text=True, check=False)
    found = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    todo = {key: value for key, value in wanted(python).items() if found.get(key) != value}
    for key, value in todo.items():
        subprocess.run(["git", "config", "--global", "--replace-all", key, value],
                       capture_output=True, check=True)
    return todo


def ensure(root: Path) -> None:
    """:func:`install`, quietly: opening a repository never fails because its git config
    cannot be written (read-only, locked by another git); the next command tries again."""
    try:
        if missing(root):
            install(root)
    except (OSError, subprocess.CalledProcessError):
        pass


# -- reading git config text (only as much as the check needs) ---------------------------------

def read_values(text: str, sections: tuple[str, ...], subsection: str) -> dict[str, str]:
    """``section.subsection.key`` values set in config ``text`` for the sections named (the
    last one wins, as in git). Sections and keys are case-insensitive, subsections not."""
    values: dict[str, str] = {}
    current: str | None = None
    lines = iter(text.splitlines())
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            current = _section(stripped, sections, subsection)
            continue
        if current is None or not stripped or stripped[0] in "#;":
            continue
        key, sep, raw = stripped.partition("=")
        while raw.endswith("\\") and not raw.endswith("\\\\"):
            raw = raw[:-1] + next(lines, "")
        name = key.strip().lower()
        if name.replace("-", "").isalnum():
            values[f"{current}.{name}"] = _value(raw) if sep else "true"
    return values


def _section(header: str, sections: tuple[str, ...], subsection: str) -> str | None:
    """``section.subsection`` for a ``[section "subsection"]`` header we look for."""
    name, _, rest = header[1:].partition(" ")
    want = f'"{subsection}"]'
    if name.lower() in sections and rest.strip() == want:
        return f"{name.lower()}.{subsection}"
    return None


def _value(raw: str) -> str:
    """A config value as git reads it: quotes, escapes, and comments outside quotes."""
    out: list[str] = []
    quoted = False
    chars = iter(raw.strip())
    escapes = {"n": "\n", "t": "\t", "b": "\b", "\\": "\\", '"': '"'}
    for c in chars:
        if c == "\\":
            out.append(escapes.get(next(chars, ""), ""))
        elif c == '"':
            quoted = not quoted
        elif c in "#;" and not quoted:
            break
        else:
            out.append(c)
    return "".join(out).rstrip() if not quoted else "".join(out)
