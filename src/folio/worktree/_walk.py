"""The stat walk behind clean marks, standard library only.

It also runs as a script (``python -I -S _walk.py``) in helper processes: at a million
files the walk is mostly ``lstat`` calls, which threads cannot overlap under the GIL but
processes can. The script reads ``marshal((base, dirs, known))`` on stdin and writes
``marshal(digests or None)`` on stdout.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from typing import Any

DIGEST_SIZE = 16
_FMT = 0o170000
_REG = 0o100000


def digest(listing: list[tuple[str, Any]]) -> bytes:
    """One directory's files (sorted by name) as a digest of name, size, times, inode, mode."""
    flat: list[object] = []
    for name, st in listing:
        flat += (name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)
    # marshal version 2: version 3 writes back-references to objects that occur twice,
    # so its bytes would depend on which equal ints happen to be one object.
    return hashlib.blake2b(marshal.dumps(flat, 2), digest_size=DIGEST_SIZE).digest()


def _name(pair: tuple[str, Any]) -> str:
    return pair[0]


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def digest_dirs(base: str, dirs: list[str], known: frozenset[str] | set[str]) -> \
        dict[str, bytes] | None:
    """Digests of the files directly in each of ``dirs`` (relative to ``base``; "" is base).

    A subdirectory that is not in ``known`` is walked here, whole; known ones are left to
    whoever was given them. Only directories holding files get a digest. None at anything
    a digest cannot vouch for: a symlink, a special file, a ``.tmp-`` name, a name that is
    not UTF-8, a listed directory that is gone.
    """
    out: dict[str, bytes] = {}
    todo = list(dirs)
    while todo:
        rel = todo.pop()
        listing = []
        try:
            it = os.scandir(os.path.join(base, rel) if rel else base)
        except OSError:
            return None
        with it:
            for entry in it:
                name = entry.name
                if name.lower() == ".git":
                    continue  # never data (see scan.scan_target)
                if entry.is_dir(follow_symlinks=False):
                    sub = f"{rel}/{name}" if rel else name
                    if sub not in known:
                        todo.append(sub)
                    continue
                if name.startswith(".tmp-") or (not name.isascii() and not _utf8(name)):
                    return None
                st = entry.stat(follow_symlinks=False)
                if st.st_mode & _FMT != _REG:
                    return None
                listing.append((name, st))
        if listing:
            if not rel.isascii() and not _utf8(rel):
                return None
            listing.sort(key=_name)
            out[rel] = digest(listing)
    return out


if __name__ == "__main__":
    base, dirs, known = marshal.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(marshal.dumps(digest_dirs(base, dirs, known)))
