"""Path rules: what folio will track, and what a manifest or item name may say.

Every path that reaches the disk passes through here, so a hostile manifest or a careless
argument cannot make folio read or write outside the repo, nor inside ``.git`` or ``.folio``.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from folio.errors import ItemNameError, PathError

RESERVED = (".git", ".folio")
# Anything that could be unsafe; a path without any of these is accepted at once.
SUSPECT_PATH = re.compile(r"(?:^|/)(?:\.\.?|\.git)(?:/|$)|//|^/|/$|[\x00-\x1f\x7f]|^$",
                          re.IGNORECASE)
# C0, DEL and C1: a name holding one could rewrite a terminal or a .gitignore line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def validate_relpath(path: str, *, what: str = "path", strict: bool = False,
                     error: type[Exception] = PathError) -> str:
    """Check that ``path`` is a clean relative POSIX path and return it.

    Refused: empty, absolute, ``.``/``..`` or empty components, NUL and every other control
    character (C0, DEL, C1: a name is printed and written into .gitignore lines), any
    ``.git`` component (as git itself refuses), and with ``strict`` (bundle item names)
    backslashes. Names that are not valid UTF-8 are refused too: manifests are UTF-8 text.
    """
    if isinstance(path, str) and path.isascii() and not strict and not SUSPECT_PATH.search(path):
        return path  # the common case, decided by one regex

    def fail(reason: str) -> Exception:
        return error(f"invalid {what} {path!r}: {reason}")

    if not isinstance(path, str) or not path:
        raise fail("empty")
    if "\x00" in path:
        raise fail("contains NUL")
    control = _CONTROL.search(path)
    if control:
        raise fail(f"contains the control character {control.group()!r}")
    if path.startswith("/"):
        raise fail("absolute paths are not allowed")
    if strict and "\\" in path:
        raise fail("backslashes are not allowed")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise fail("not valid UTF-8") from None
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise fail("empty, '.' or '..' components are not allowed")
        if part.lower() == ".git":
            raise fail("'.git' components are not allowed")
    return path


def validate_item_name(name: str) -> str:
    """A bundle item name: a strict relative path inside the bundle."""
    return validate_relpath(name, what="item name", strict=True, error=ItemNameError)


def repo_relative(root: Path, user_path: str | Path, cwd: Path | None = None) -> str:
    """Map a user's path (relative to ``cwd``) to a repo-relative POSIX path, or refuse.

    The path itself is taken lexically (a tracked symlink is a link, not its target), but
    every directory above it is resolved, so ``link-to-elsewhere/file`` is refused.
    """
    cwd = cwd or Path.cwd()
    raw = os.fspath(user_path)
    absolute = Path(os.path.normpath(os.path.join(cwd, raw)))
    parent = absolute.parent.resolve()
    real = parent / absolute.name if absolute.name else parent
    root_real = root.resolve()
    try:
        rel = real.relative_to(root_real)
    except ValueError:
        raise PathError("is outside the repository", path=raw) from None
    if rel == Path("."):
        raise PathError("is the repository root; track a data directory inside it", path=raw)
    posix = rel.as_posix()
    check_target(posix, raw)
    return posix


def check_target(posix: str, shown: str | None = None) -> str:
    """A target must not live in .git/.folio nor clash with the manifest layout."""
    top = posix.split("/", 1)[0]
    if top in RESERVED:
        raise PathError(f"is inside {top}/, which folio never tracks", path=shown or posix)
    if any(part.endswith(".folio.d") for part in posix.split("/")):
        raise PathError("a path component ending in '.folio.d' clashes with folio's "
                        "manifest layout", path=shown or posix)
    validate_relpath(posix, what="path")
    return posix


def link_stays_inside(root: Path, link: Path) -> bool:
    """True when the symlink ``link`` resolves to a place inside the repo (and not .git)."""
    try:
        target = link.resolve()
        rel = target.relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return rel.parts[:1] != (".git",)


def is_within(path: str, ancestor: str) -> bool:
    """Repo-relative POSIX containment: ``a/b`` is within ``a``, and ``a`` within ``a``."""
    return path == ancestor or path.startswith(ancestor + "/")


def check_no_symlinked_parent(root: Path, rel: str, safe: set[str] | None = None) -> None:
    """Refuse to write ``rel`` if a directory above it (inside ``root``) is a symlink.

    A symlinked directory could lead anywhere, so checkout and recover never write through
    one. Directories that do not exist yet are fine (they will be created as real ones).
    ``safe`` caches directories already checked, for callers writing many files.
    """
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        directory = "/".join(parts[:i])
        if safe is not None and directory in safe:
            continue
        try:
            st = os.lstat(root / directory)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise PathError("is a symlink to a directory; folio will not write through it",
                            path=directory)
        if safe is not None:
            safe.add(directory)
