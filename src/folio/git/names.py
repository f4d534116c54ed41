"""Tag and run names, checked by git's ref-name rules without importing pygit2.

A name becomes the tail of a ref such as ``refs/folio/snapshots/<name>``, so it must obey
``git check-ref-format``; checking here, in pure Python, lets the CLI refuse a bad name
with a precise reason before any git work starts (libgit2 would only say "not valid").
"""

from __future__ import annotations

from folio.errors import InvalidNameError

# Loose refs are files, one directory level per component; most filesystems cap a file
# name at 255 bytes and git appends ".lock" while writing.
MAX_COMPONENT_BYTES = 250

_FORBIDDEN_CHARS = {
    " ": "a space",
    "~": "'~'",
    "^": "'^'",
    ":": "':'",
    "?": "'?'",
    "*": "'*'",
    "[": "'['",
    "\\": "a backslash",
}


def validate_ref_component(name: str, kind: str = "tag") -> str:
    """Return ``name`` unchanged if git accepts it as a ref tail, else raise InvalidNameError.

    '/' is allowed inside the name for hierarchical tags such as ``exp/run1``; every
    '/'-separated component is checked on its own as git does.
    """
    problem = _first_problem(name)
    if problem is not None:
        raise InvalidNameError(f"invalid {kind} name {name!r}: {problem}")
    return name


def is_valid_ref_component(name: str) -> bool:
    """True if :func:`validate_ref_component` would accept ``name``."""
    return _first_problem(name) is None


def _first_problem(name: str) -> str | None:
    """The first git rule that ``name`` breaks, phrased for a user, or None."""
    if not isinstance(name, str):
        return "not a string"
    if name == "":
        return "it is empty"
    if name == "@":
        return "it may not be the single character '@'"
    if name.startswith("-"):
        return "it may not start with '-'"
    for char in name:
        if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:  # C0, DEL and C1: they drive terminals
            return f"it contains the control character {char!r}"
        if 0xD800 <= ord(char) <= 0xDFFF:  # a byte that was not UTF-8, from the command line
            return "it is not valid UTF-8"
        if char in _FORBIDDEN_CHARS:
            return f"it contains {_FORBIDDEN_CHARS[char]}"
    if ".." in name:
        return "it contains '..'"
    if "@{" in name:
        return "it contains '@{'"
    if name.startswith("/") or name.endswith("/"):
        return "it may not start or end with '/'"
    if "//" in name:
        return "it contains an empty component ('//')"
    if name.endswith("."):
        return "it may not end with '.'"
    return _component_problem(name.split("/"))


def _component_problem(components: list[str]) -> str | None:
    """Rules that git applies to each '/'-separated component."""
    for component in components:
        if component.startswith("."):
            return f"component {component!r} starts with '.'"
        if component.endswith(".lock"):
            return f"component {component!r} ends with '.lock'"
        if len(component.encode("utf-8")) > MAX_COMPONENT_BYTES:
            return f"component is longer than {MAX_COMPONENT_BYTES} bytes"
    return None
