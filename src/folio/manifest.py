"""Manifest format v1: parse, dump, shard (spec: docs/format.md).

A manifest is UTF-8 JSON Lines: a header line, then one entry per file, sorted by path, in
exactly one canonical encoding (fixed key order, no spaces, no timestamps). Large targets are
split into shards at content-defined boundaries (a hash of the path), so adding or changing
one file rewrites one shard of about a thousand lines, whatever the target's size.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from folio.errors import FormatVersionError, ManifestError, PathError
from folio.objects.store import OID_PATTERN, is_oid
from folio.paths import SUSPECT_PATH, check_target, validate_relpath

FORMAT_VERSION = 1
SUFFIX = ".folio"
SHARD_DIR_SUFFIX = ".folio.d"
SHARD_THRESHOLD = 2048  # targets with more entries than this are sharded
SHARD_MASK = 1023  # a boundary after a path whose crc32 & mask == 0: ~1024 entries per shard
SHARD_MAX = 4096  # hard cap so a pathological name set cannot make one giant shard
MAX_LINE = 1 << 20  # longer lines are refused: a hostile manifest must not exhaust memory
KINDS = ("file", "dir")
_SHARD_NAME = re.compile(r"[0-9a-f]{16}\Z")
_LONG_LINE = re.compile(rb"[^\n]{%d}" % (MAX_LINE + 1))


@dataclass(slots=True)
class Entry:
    """One tracked file (or symlink) of a target, relative to the target's directory."""

    path: str
    size: int = 0
    sha256: str | None = None
    type: str | None = None
    stored: bool = True
    link: str | None = None
    uri: str | None = None
    meta: dict[str, Any] | None = None
    executable: bool = False

    @property
    def is_link(self) -> bool:
        return self.link is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.link is not None:
            out["link"] = self.link
        else:
            out["size"] = self.size
            out["sha256"] = self.sha256
        if self.type is not None:
            out["type"] = self.type
        if not self.stored:
            out["stored"] = False
        if self.executable:
            out["exec"] = True
        if self.uri is not None:
            out["uri"] = self.uri
        if self.meta:
            out["meta"] = _canonical(self.meta)
        return out


def _canonical(value: Any) -> Any:
    """Nested dicts with sorted keys, so ``meta`` has one encoding whoever wrote it."""
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


@dataclass
class Manifest:
    """All entries of one target: a file (one entry) or a directory (any number)."""

    target: str
    kind: str = "dir"
    entries: dict[str, Entry] = field(default_factory=dict)

    @property
    def root(self) -> str:
        """Repo-relative directory the entry paths are relative to."""
        if self.kind == "dir":
            return self.target
        return self.target.rsplit("/", 1)[0] if "/" in self.target else ""

    def location(self, entry_path: str) -> str:
        """Repo-relative path of an entry's file."""
        return f"{self.root}/{entry_path}" if self.root else entry_path

    def sorted_entries(self) -> list[Entry]:
        return [self.entries[p] for p in sorted(self.entries)]

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries.values())

    def oids(self, *, stored_only: bool = True) -> set[str]:
        return {e.sha256 for e in self.entries.values()
                if e.sha256 and (e.stored or not stored_only)}


def manifest_relpath(target: str) -> str:
    """Where a target's manifest lives, relative to ``.folio/manifests``."""
    return target + SUFFIX


def target_of(manifest_relpath: str) -> str | None:
    """The target named by a main manifest file path, or None for shards and others."""
    if not manifest_relpath.endswith(SUFFIX) or SHARD_DIR_SUFFIX + "/" in manifest_relpath:
        return None
    return manifest_relpath[: -len(SUFFIX)]


# -- encoding -------------------------------------------------------------------------------

def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8") + b"\n"


_encode_str = json.JSONEncoder(ensure_ascii=False).encode


def _entry_line(entry: Entry) -> bytes:
    """One entry's line; the plain file case skips building a dict (same bytes as _line)."""
    if (entry.link is None and entry.type is None and entry.stored and not entry.executable
            and entry.uri is None and not entry.meta):
        return (f'{{"path":{_encode_str(entry.path)},"size":{entry.size},'
                f'"sha256":"{entry.sha256}"}}\n').encode()
    return _line(entry.to_json())


def _header(manifest: Manifest, **extra: Any) -> dict[str, Any]:
    return {"folio": FORMAT_VERSION, "kind": manifest.kind, "target": manifest.target, **extra}


def _is_boundary(path: str) -> bool:
    return zlib.crc32(path.encode("utf-8")) & SHARD_MASK == 0


def _chunk(entries: list[Entry]) -> Iterator[list[Entry]]:
    chunk: list[Entry] = []
    for entry in entries:
        chunk.append(entry)
        if _is_boundary(entry.path) or len(chunk) >= SHARD_MAX:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def shard_name(body: bytes) -> str:
    """A shard's file name: a hash of its entries, so a changed shard gets a new file.

    New shards are written before the main file names them and old ones are deleted
    after, so a reader (or a crash) at any moment sees a complete, consistent manifest.
    """
    return hashlib.sha256(body).hexdigest()[:16]


def dump(manifest: Manifest) -> dict[str, bytes]:
    """Encode a manifest as files relative to ``.folio/manifests``: the main file and shards."""
    entries = manifest.sorted_entries()
    main = manifest_relpath(manifest.target)
    if len(entries) <= SHARD_THRESHOLD or manifest.kind == "file":
        body = b"".join(map(_entry_line, entries))
        return {main: _line(_header(manifest)) + body}
    files = {}
    index = [_line(_header(manifest, sharded=True))]
    shard_dir = manifest.target + SHARD_DIR_SUFFIX
    for chunk in _chunk(entries):
        body = b"".join(map(_entry_line, chunk))
        name = shard_name(body)
        header = {"folio": FORMAT_VERSION, "shard": name, "target": manifest.target}
        files[f"{shard_dir}/{name}{SUFFIX}"] = _line(header) + body
        index.append(_line({"shard": name, "first": chunk[0].path, "files": len(chunk),
                            "bytes": sum(e.size for e in chunk)}))
    files[main] = b"".join(index)
    return files


# -- decoding -------------------------------------------------------------------------------

def _lines(data: bytes, source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    if not data:
        raise ManifestError("empty manifest (truncated?)", path=source, line=1)
    if not data.endswith(b"\n"):
        last = data.count(b"\n") + 1
        raise ManifestError("truncated: the last line has no newline", path=source, line=last)
    # Fast path: one C-level parse of the whole file (raw newlines only separate lines,
    # since JSON escapes them inside strings); on any problem, go line by line to say where.
    if len(data) <= MAX_LINE or not _LONG_LINE.search(data):
        try:
            objs = json.loads(b"[" + data[:-1].replace(b"\n", b",") + b"]",
                              parse_constant=_no_constants)
        except (ValueError, RecursionError):  # RecursionError: arrays nested too deeply
            objs = None
        if objs is not None and all(type(o) is dict for o in objs):
            yield from enumerate(objs, start=1)
            return
    for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
        if len(raw) > MAX_LINE:
            raise ManifestError(f"line longer than {MAX_LINE} bytes", path=source, line=number)
        try:
            obj = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            reason = str(exc).split(":")[0] if not isinstance(exc, RecursionError) else \
                "nested too deeply"
            raise ManifestError(f"not a JSON line ({reason})", path=source, line=number) from None
        if not isinstance(obj, dict):
            raise ManifestError("a line must be a JSON object", path=source, line=number)
        yield number, obj


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _check_header(obj: dict[str, Any], source: str) -> None:
    version = obj.get("folio")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ManifestError("missing header: the first line must be {\"folio\": 1, ...}",
                            path=source, line=1)
    if version != FORMAT_VERSION:
        raise FormatVersionError(
            f"manifest format version {version} is not supported (this folio reads "
            f"version {FORMAT_VERSION}); upgrade folio", path=source, line=1)


def _entry(obj: dict[str, Any], source: str, line: int) -> Entry:
    if len(obj) == 3:  # the common {"path","size","sha256"} line, checked in a few operations
        path, size, sha = obj.get("path"), obj.get("size"), obj.get("sha256")
        if (type(path) is str and path.isascii() and not SUSPECT_PATH.search(path)
                and type(size) is int and size >= 0 and type(sha) is str
                and OID_PATTERN.match(sha)):
            return Entry(path, size, sha)
    return _entry_slow(obj, source, line)


def _entry_slow(obj: dict[str, Any], source: str, line: int) -> Entry:
    def bad(reason: str) -> ManifestError:
        return ManifestError(reason, path=source, line=line)

    path = obj.get("path")
    try:
        validate_relpath(path, what="entry path")  # type: ignore[arg-type]
    except PathError as exc:
        raise bad(exc.message) from None
    link = obj.get("link")
    size = obj.get("size", 0)
    sha = obj.get("sha256")
    if link is not None:
        if not isinstance(link, str) or not link or "\x00" in link:
            raise bad(f"entry {path!r}: invalid link target")
    else:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad(f"entry {path!r}: size must be a non-negative integer")
        if not is_oid(sha):
            raise bad(f"entry {path!r}: sha256 must be 64 lowercase hex digits")
    stored = obj.get("stored", True)
    executable = obj.get("exec", False)
    if not isinstance(executable, bool):
        raise bad(f"entry {path!r}: 'exec' must be true or false")
    kind = obj.get("type")
    uri = obj.get("uri")
    meta = obj.get("meta")
    if not isinstance(stored, bool) or (kind is not None and not isinstance(kind, str)):
        raise bad(f"entry {path!r}: invalid 'stored' or 'type'")
    if (uri is not None and not isinstance(uri, str)) or (
            meta is not None and not isinstance(meta, dict)):
        raise bad(f"entry {path!r}: invalid 'uri' or 'meta'")
    return Entry(path=path, size=size if link is None else 0, sha256=sha if link is None else None,
                 type=kind, stored=stored, link=link, uri=uri, meta=meta or None,
                 executable=executable and link is None)


def _entries(lines: Iterable[tuple[int, dict[str, Any]]], source: str,
             into: dict[str, Entry], previous: str | None) -> str | None:
    for number, obj in lines:
        entry = _entry(obj, source, number)
        if previous is not None and entry.path <= previous:
            what = "duplicate path" if entry.path == previous else "entries out of order at"
            raise ManifestError(f"{what} {entry.path!r}", path=source, line=number)
        previous = entry.path
        into[entry.path] = entry
    return previous


def parse(data: bytes, source: str, read_shard: Callable[[str], bytes] | None = None,
          expected_target: str | None = None) -> Manifest:
    """Decode a main manifest file (and its shards, through ``read_shard(relpath)``).

    Every error names ``source`` (or the shard) and the line.
    """
    lines = _lines(data, source)
    _, header = next(lines, (1, {}))  # blank lines only: no header
    _check_header(header, source)
    kind, target = header.get("kind"), header.get("target")
    if kind not in KINDS:
        raise ManifestError(f"unknown target kind {kind!r}", path=source, line=1)
    if not isinstance(target, str):
        raise ManifestError("the header names no target", path=source, line=1)
    try:
        check_target(target)  # type: ignore[arg-type]
    except PathError as exc:
        raise ManifestError(exc.message, path=source, line=1) from None
    if expected_target is not None and target != expected_target:
        raise ManifestError(f"header names target {target!r} but the file is for "
                            f"{expected_target!r}", path=source, line=1)
    manifest = Manifest(target=target, kind=kind)  # type: ignore[arg-type]
    if kind == "file":
        if header.get("sharded"):
            raise ManifestError("a file target cannot be sharded", path=source, line=1)
        _entries(lines, source, manifest.entries, None)
        name = target.rsplit("/", 1)[-1]
        if list(manifest.entries) != [name]:
            raise ManifestError(f"a file target must have exactly one entry, named {name!r}",
                                path=source, line=2)
        return manifest
    if not header.get("sharded"):
        _entries(lines, source, manifest.entries, None)
        return manifest
    if read_shard is None:
        raise ManifestError("sharded manifest but no shards available", path=source)
    previous: str | None = None
    shard_dir = target + SHARD_DIR_SUFFIX
    main_rel = manifest_relpath(target)
    base = source[: -len(main_rel)] if source.endswith(main_rel) else ""
    for number, ref in lines:
        name, count = ref.get("shard"), ref.get("files")
        if not isinstance(name, str) or not _SHARD_NAME.match(name) or not isinstance(count, int):
            raise ManifestError("invalid shard reference", path=source, line=number)
        shard_path = f"{shard_dir}/{name}{SUFFIX}"
        try:
            shard_data = read_shard(shard_path)
        except (FileNotFoundError, KeyError):
            raise ManifestError(f"shard {name} is missing", path=source, line=number) from None
        shard_source = base + shard_path
        shard_lines = _lines(shard_data, shard_source)
        _, shard_header = next(shard_lines, (1, {}))
        _check_header(shard_header, shard_source)
        if shard_header.get("shard") != name or shard_header.get("target") != target:
            raise ManifestError(f"shard header does not match its index line ({name})",
                                path=shard_source, line=1)
        before = len(manifest.entries)
        previous = _entries(shard_lines, shard_source, manifest.entries, previous)
        if len(manifest.entries) - before != count:
            raise ManifestError(f"shard holds {len(manifest.entries) - before} entries, the "
                                f"index says {count} (truncated?)", path=shard_source)
    return manifest
