"""Path rules: what folio will track, and what a manifest or item name may say.

Every path that reaches the disk passes through here, so a hostile manifest or a careless
argument cannot make folio read or write outside the repo, nor inside ``.git`` or ``.folio``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Container, Mapping
from pathlib import Path

from folio.errors import ItemNameError, PathError

RESERVED = (".git", ".folio")
# Anything that could be unsafe; a path without any of these is accepted at once.
SUSPECT_PATH = re.compile(r"(?:^|/)(?:\.\.?|\.git)(?:/|$)|//|^/|/$|[\x00-\x1f\x7f]|^$",
                          re.IGNORECASE)
# C0, DEL and C1: a name holding one could rewrite a terminal or a .gitignore line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def validate_relpath(path: object, *, what: str = "path", strict: bool = False,
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


def repo_relative(root: Path, user_path: str | os.PathLike[str],
                  cwd: Path | None = None) -> str:
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


# The kernel's bound on symlinks followed in one path lookup (Linux MAXSYMLINKS): a chain
# longer than this fails with ELOOP, so it resolves nowhere and is refused as a loop.
MAX_LINKS = 40
# Longest symlink target the kernel stores (PATH_MAX less its NUL); manifests may not say more.
MAX_LINK_TARGET = 4095
# What a lookup of one component found, when not a link's target: not there; there and no
# link; planned as a file or a removal (so nothing is below it).
_MISSING, _PLAIN, _OPAQUE = 0, 1, 2


def link_problem(root: Path, rel: str, planned: Mapping[str, str | None] | None = None
                 ) -> str | None:
    """Why the repo path ``rel`` must not be trusted as a link, or None when it may.

    ``rel`` is resolved as the kernel would (:func:`resolve_in_repo`) over the links a
    caller is about to create (``planned``) and the disk; it must end inside the repo,
    with no ``.git`` component (any case) and not in ``.folio/``. The answer is a phrase
    for an error message ("leads outside the repository").
    """
    parts = resolve_in_repo(root, rel, planned)
    if parts is None:
        return f"leads into a loop (more than {MAX_LINKS} links to follow)"
    if parts and parts[0] == "..":
        return "leads outside the repository"
    if any(part.lower() == ".git" for part in parts):
        return "leads into .git/"
    if parts and parts[0].lower() == ".folio":
        return "leads into .folio/"
    return None


def resolve_in_repo(root: Path, rel: str, planned: Mapping[str, str | None] | None = None
                    ) -> list[str] | None:
    """Where the repo path ``rel`` leads: components relative to the repo's real root
    (``[".."]`` for anywhere outside it), or None for a loop.

    Component by component, as the kernel does (and ``os.path.realpath``): a prefix that
    is a link is replaced by its target before the next component, so the ``..`` after it
    climbs from where the link leads, not from where it stands; an absolute target starts
    again at ``/``; more than :data:`MAX_LINKS` links is a loop. ``planned`` maps repo
    paths to what they are about to be: a link target, or None for a file or nothing
    (below which nothing exists); it is looked up before the disk (``lstat``/``readlink``).
    A component that does not exist is taken as a plain directory (the disk has nothing
    below it, though ``planned`` may): that is where the path leads once someone creates
    it as one, as checkout does for the parents of what it writes.
    """
    top = _split(os.path.realpath(root))
    cur = list(top)
    todo = _split(rel)[::-1]  # a stack: the next component last
    diskless_from: int | None = None  # past this depth the disk has nothing: planned only
    followed = 0
    while todo:
        name = todo.pop()
        if name == "..":
            if cur:
                cur.pop()
            if diskless_from is not None and len(cur) <= diskless_from:
                diskless_from = None
            continue
        cur.append(name)
        on_disk = diskless_from is None
        found = _lookup(cur, top, planned or {}, on_disk)
        if isinstance(found, str):
            followed += 1
            if followed > MAX_LINKS:
                return None
            cur.pop()
            if found.startswith("/"):
                cur, diskless_from = [], None
            todo.extend(_split(found)[::-1])
        elif on_disk and found == _MISSING:
            diskless_from = len(cur) - 1
        elif on_disk and found == _OPAQUE:
            diskless_from = len(cur)
    if cur[:len(top)] != top:
        return [".."]
    return cur[len(top):]


def _split(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _lookup(parts: list[str], top: list[str], planned: Mapping[str, str | None],
            on_disk: bool) -> str | int:
    """What the absolute path ``parts`` is: a link's target, or :data:`_PLAIN`,
    :data:`_MISSING` or :data:`_OPAQUE`; ``planned`` first, inside the repo, then (when
    ``on_disk``) the disk."""
    if len(parts) > len(top) and parts[:len(top)] == top:
        rel = "/".join(parts[len(top):])
        if rel in planned:
            target = planned[rel]
            return _OPAQUE if target is None else target
    if not on_disk:
        return _MISSING
    path = "/" + "/".join(parts)
    try:
        st = os.lstat(path)
        if not stat.S_ISLNK(st.st_mode):
            return _PLAIN
        return os.readlink(path)
    except OSError:  # gone, not a directory, unreadable, too long: the kernel stops here
        return _MISSING


def check_link_targets(root: Path, links: Mapping[str, str],
                       planned: Mapping[str, str | None] | None = None) -> None:
    """Refuse the first of ``links`` (repo path -> target) that :func:`link_problem` finds
    leads somewhere folio must not reach."""
    for loc in sorted(links):
        problem = link_problem(root, loc, planned)
        if problem is not None:
            raise PathError(f"symlink target {links[loc]!r} {problem}", path=loc)


def link_stays_inside(root: Path, link: Path) -> bool:
    """True when ``link`` (a path below ``root``, through links or a link itself) resolves
    inside the repo, and not into .git or .folio."""
    try:
        rel = link.relative_to(root).as_posix()
    except ValueError:
        return False
    return link_problem(root, "" if rel == "." else rel) is None


def is_within(path: str, ancestor: str) -> bool:
    """Repo-relative POSIX containment: ``a/b`` is within ``a``, and ``a`` within ``a``."""
    return path == ancestor or path.startswith(ancestor + "/")


def check_no_symlinked_parent(root: Path, rel: str, safe: set[str] | None = None,
                              gone: Container[str] = ()) -> None:
    """Refuse to write ``rel`` if a directory above it (inside ``root``) is a symlink.

    A symlinked directory could lead anywhere, so checkout and recover never write through
    one. Directories that do not exist yet are fine (they will be created as real ones), and
    so are the paths in ``gone``, which the caller removes before it writes (a link checkout
    deletes). ``safe`` caches directories already checked, for callers writing many files.
    """
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        directory = "/".join(parts[:i])
        if safe is not None and directory in safe:
            continue
        if directory in gone:
            return
        try:
            st = os.lstat(root / directory)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise PathError("is a symlink to a directory; folio will not write through it",
                            path=directory)
        if safe is not None:
            safe.add(directory)
