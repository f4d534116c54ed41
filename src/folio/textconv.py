"""Readable rendering of a manifest file, for git's diff driver (``folio textconv``).

git hands us one file (maybe a temporary copy), so this works line by line and never
fails: a line it cannot read is shown as it is. What it reads is bounded: only a regular
file (a FIFO would block, ``/dev/zero`` never ends), of at most ``MAX_BYTES``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, TypeGuard

from folio.bounded import read_at_most
from folio.errors import FolioError, OversizeError
from folio.units import human_bytes

# Far above any manifest file (a shard holds a few thousand lines); git hands us one file.
MAX_BYTES = 256 << 20


def _span(obj: dict[str, object]) -> str:
    """A format 2 shard's range of paths, as the index line or the header gives it."""
    after, last = obj.get("after"), obj.get("last")
    if last is None:
        return f"after {after} to the end" if after else "to the end"
    return f"after {after} up to {last}" if after else f"up to {last}"


def render_line(obj: object) -> str:
    if not isinstance(obj, dict):
        return json.dumps(obj)
    if "folio" in obj:
        if "shard" in obj:
            head = f"# shard {obj['shard']} of {obj.get('target')}"
            if "files" in obj:  # format 2: the shard's own counts and range
                head += (f": {obj.get('files')} files, {human_bytes(int(obj.get('bytes', 0)))}"
                         f", {_span(obj)}")
            return head
        return f"# folio {obj.get('kind', '?')} target {obj.get('target')}"
    if "shard" in obj:
        if "files" not in obj:  # format 2 index line: the counts are in the shard
            return f"shard {obj['shard']}: {_span(obj)}"
        return (f"shard {obj['shard']}: {obj.get('files')} files, "
                f"{human_bytes(int(obj.get('bytes', 0)))}, from {obj.get('first')}")
    path = obj.get("path", "?")
    if "link" in obj:
        return f"{path} -> {obj['link']}"
    parts = [f"{path}", human_bytes(int(obj.get("size", 0))), str(obj.get("sha256", ""))[:12]]
    if obj.get("type"):
        parts.append(f"[{obj['type']}]")
    if obj.get("stored") is False:
        parts.append("(hash only)")
    if obj.get("uri"):
        parts.append(f"<{obj['uri']}>")
    meta = obj.get("meta")
    below: list[str] = []
    if isinstance(meta, dict) and meta:
        below = summary_lines(meta)
        if below:  # the summary goes below, one fact a line: git diff shows just what moved
            meta = {k: v for k, v in meta.items() if k not in SUMMARY_KEYS}
        if meta:
            parts.append(json.dumps(meta, sort_keys=True, ensure_ascii=False))
    return "\n".join(["  ".join(parts), *(INDENT + line for line in below)])


def summary_lines(meta: dict[str, Any]) -> list[str]:
    """The summary in an entry's ``meta`` (docs/format.md 4.3), one fact a line: the rows,
    each column (with its type when the schema is known), the shape and dtype, the JSON
    type and keys. Empty when ``meta`` holds no well-formed summary."""
    out: list[str] = []
    rows, length = meta.get("rows"), meta.get("length")
    if _count(rows):
        out.append(_plural(rows, "row"))
    columns = _names(meta.get("schema")) or _names(meta.get("columns"))
    out += [f"column {_one_line(c)}" for c in columns]
    out += _more(meta.get("columns_total"), len(columns), "columns")
    shape, dtype = meta.get("shape"), meta.get("dtype")
    if isinstance(shape, list) and all(_count(n) for n in shape):
        dims = ", ".join(f"{n:,}" for n in shape) + ("," if len(shape) == 1 else "")
        out.append(f"shape ({dims})" + (f" {_one_line(dtype)}" if isinstance(dtype, str) else ""))
    kind = meta.get("json")
    if isinstance(kind, str):
        noun = {"object": "key", "array": "item"}.get(kind)
        out.append(_one_line(kind) + (f", {_plural(length, noun)}" if noun and _count(length)
                                      else ""))
        keys = _names(meta.get("keys"))
        out += [f"key {_one_line(k)}" for k in keys]
        out += _more(meta.get("keys_total"), len(keys), "keys")
    return out


SUMMARY_KEYS = frozenset({"rows", "columns", "columns_total", "schema", "shape", "dtype",
                          "json", "keys", "keys_total", "length"})
INDENT = "    "
MAX_SHOWN = 1000  # listed names per entry: a hostile manifest line cannot make a huge page


def _count(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _names(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return []
    return value[:MAX_SHOWN]


def _more(total: object, shown: int, noun: str) -> list[str]:
    if type(total) is int and total > shown:
        return [f"... {total - shown:,} more {noun} ({total:,} in all)"]
    return []


def _one_line(text: str) -> str:
    """``text`` without its line breaks (the CLI escapes any other control character)."""
    return text.replace("\n", "\\n").replace("\r", "\\r")


def render(path: Path) -> str:
    data = read_manifest_file(path)
    out = []
    for raw in data.splitlines():
        try:
            out.append(render_line(json.loads(raw)))
        except (ValueError, TypeError, OverflowError, RecursionError):  # not folio's: show it
            out.append(raw.decode("utf-8", "replace"))
    return "".join(line + "\n" for line in out)


def read_manifest_file(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most MAX_BYTES, else one error."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # before open: a FIFO's open blocks
            raise FolioError("not a regular file; textconv renders a manifest file", path=path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise FolioError(f"cannot read: {exc.strerror}", path=path) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped after the stat
            raise FolioError("not a regular file; textconv renders a manifest file", path=path)
        try:
            return read_at_most(f, MAX_BYTES, "the file")
        except OversizeError:
            raise FolioError(f"larger than {MAX_BYTES >> 20} MiB: not a manifest file",
                             path=path) from None
        except OSError as exc:
            raise FolioError(f"cannot read: {exc.strerror}", path=path) from None
