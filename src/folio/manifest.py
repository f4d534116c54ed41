"""Manifest formats 1 and 2: parse, dump, shard (spec: docs/format.md).

A manifest is UTF-8 JSON Lines: a header line, then one entry per file, sorted by path, in
exactly one canonical encoding (fixed key order, no spaces, no timestamps). Large targets are
split into shards at content-defined boundaries (a hash of the path), so adding or changing
one file rewrites one shard of about a thousand lines, whatever the target's size. Shards
(format 2) are named by the range of paths they hold, not their content, so an edit changes
one shard file in place and git can merge it (folio.mergeman); format 1 shards, named by
their content, are still read.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from folio.errors import FormatVersionError, ManifestError, PathError, ShardMissingError
from folio.objects.store import OID_PATTERN, is_oid
from folio.paths import MAX_LINK_TARGET, SUSPECT_PATH, check_target, validate_relpath

FORMAT_VERSION = 1  # unsharded manifests, and the sharded layout of folio 0.1 (still read)
SHARDED_VERSION = 2  # sharded main files and their shards, named by range (4.7)
VERSIONS = (FORMAT_VERSION, SHARDED_VERSION)
SUFFIX = ".folio"
SHARD_DIR_SUFFIX = ".folio.d"
SHARD_THRESHOLD = 2048  # targets with more entries than this are sharded
SHARD_MASK = 1023  # a boundary after a path whose crc32 & mask == 0: ~1024 entries per shard
SHARD_MAX = 4096  # hard cap so a pathological name set cannot make one giant shard
MAX_LINE = 1 << 20  # longer lines are refused: a hostile manifest must not exhaust memory
KINDS = ("file", "dir")
READ_ATTEMPTS = 10  # lock-free reads of a manifest replaced this often in a row fail
T = TypeVar("T")
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


def all_stored(entries: Iterable[Entry]) -> bool:
    """True when every entry's content is in the store: no hash-only (``stored: false``)
    entry; links hold no content."""
    return all(e.stored or e.is_link for e in entries)


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


def entry_line(entry: Entry) -> bytes:
    """An entry's canonical line (4.3), newline included: what a merge compares and writes."""
    return _entry_line(entry)


def _header_line(kind: str, target: str, *, sharded: bool = False) -> bytes:
    """A main file's first line (4.2): a sharded one is format 2, any other format 1."""
    version = SHARDED_VERSION if sharded else FORMAT_VERSION
    header: dict[str, Any] = {"folio": version, "kind": kind, "target": target}
    if sharded:
        header["sharded"] = True
    return _line(header)


class _Chunker:
    """Content-defined chunking (4.7), fed entries in order, possibly in several runs.

    ``open`` is the chunk being filled: empty exactly when the entries fed so far end on a
    cut, which is how a partial update knows it has realigned with the old chunking.
    """

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open: list[Entry] = []

    def feed(self, entries: Iterable[Entry]) -> list[list[Entry]]:
        """Add entries; returns the chunks they closed (each ends on a cut)."""
        closed = []
        chunk, mask, cap, crc32 = self.open, SHARD_MASK, SHARD_MAX, zlib.crc32
        for entry in entries:
            chunk.append(entry)
            # a boundary path (its crc32 & SHARD_MASK is 0) or a full chunk closes the chunk
            if crc32(entry.path.encode("utf-8")) & mask == 0 or len(chunk) >= cap:
                closed.append(chunk)
                chunk = []
        self.open = chunk
        return closed

    def close(self) -> list[list[Entry]]:
        """The final chunk, if any (at the end of all entries; it ends on no cut)."""
        chunk, self.open = self.open, []
        return [chunk] if chunk else []


def _chunks(entries: Iterable[Entry]) -> Iterator[tuple[list[Entry], bool]]:
    """Every chunk of sorted entries, with whether it ends on a cut (False: the open end)."""
    chunker = _Chunker()
    for chunk in chunker.feed(entries):
        yield chunk, True
    for chunk in chunker.close():
        yield chunk, False


def is_chunk(entries: Sequence[Entry], cut: bool) -> bool:
    """Whether sorted ``entries`` are exactly one chunk as the chunking cuts them: closed by
    a cut at their last entry (``cut``) or running to the end with no cut at all. A merge
    of two sides' edits to one shard is canonical only if it still is."""
    if not entries:
        return False
    chunker = _Chunker()
    closed = chunker.feed(entries)
    if cut:
        return len(closed) == 1 and not chunker.open
    return not closed


def shard_name(body: bytes) -> str:
    """A format 1 shard's file name: a hash of its entry lines (read, no longer written)."""
    return hashlib.sha256(body).hexdigest()[:16]


def range_name(after: str | None, last: str | None) -> str:
    """A format 2 shard's file name: a hash of the range of paths it holds, ``(after,
    last]`` (None: unbounded), so an edit inside the range keeps the file and only a change
    of the cuts (which changes the main file too) names a new one (4.7)."""
    key = (after or "").encode("utf-8") + b"\x00" + (last or "").encode("utf-8")
    return hashlib.sha256(key).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ShardRef:
    """One index line of a sharded main file (4.7).

    Format 1 lines carry ``first``, ``files`` and ``bytes``; format 2 lines carry ``last``
    (None on the final shard when no cut ends it) and the counts are in the shard's header,
    so a ref read from a format 2 main file has ``files`` and ``bytes`` None.
    """

    name: str  # 16 hex: the content hash (format 1) or range hash (format 2) of the shard
    first: str | None = None  # format 1: path of its first entry
    files: int | None = None
    bytes: int | None = None
    last: str | None = None  # format 2: path of its last entry, when a cut ends it


@dataclass(frozen=True, slots=True)
class ShardHeader:
    """A format 2 shard file's first line: where it belongs and what it holds (4.7)."""

    name: str
    target: str
    after: str | None  # the previous shard's last path: every entry here is above it
    last: str | None  # this shard's last path, when a cut ends it
    files: int
    size: int  # "bytes" in the file: the sum of the entries' sizes

    def line(self) -> bytes:
        header: dict[str, Any] = {"folio": SHARDED_VERSION, "shard": self.name,
                                  "target": self.target}
        if self.after is not None:
            header["after"] = self.after
        if self.last is not None:
            header["last"] = self.last
        header["files"] = self.files
        header["bytes"] = self.size
        return _line(header)


def shard_relpath(target: str, name: str) -> str:
    """Where a shard of a target lives, relative to ``.folio/manifests``."""
    return f"{target}{SHARD_DIR_SUFFIX}/{name}{SUFFIX}"


def encode_shard(target: str, chunk: Sequence[Entry], after: str | None, cut: bool
                 ) -> tuple[ShardRef, bytes]:
    """A chunk's format 2 shard file (header line + entry lines) and its index entry;
    ``after`` is the previous chunk's last path, ``cut`` whether a cut ends this one."""
    last = chunk[-1].path if cut else None
    name = range_name(after, last)
    files, size = len(chunk), sum(e.size for e in chunk)
    header = ShardHeader(name, target, after, last, files, size)
    data = header.line() + b"".join(map(_entry_line, chunk))
    return ShardRef(name, chunk[0].path, files, size, last), data


def _index_line(ref: ShardRef) -> bytes:
    """A format 1 index line; built directly (same bytes as _line)."""
    return (f'{{"shard":"{ref.name}","first":{_encode_str(ref.first)},"files":{ref.files},'
            f'"bytes":{ref.bytes}}}\n').encode()


def _range_line(ref: ShardRef) -> bytes:
    """A format 2 index line: the shard's name and, when a cut ends it, its last path."""
    if ref.last is None:
        return f'{{"shard":"{ref.name}"}}\n'.encode()
    return f'{{"shard":"{ref.name}","last":{_encode_str(ref.last)}}}\n'.encode()


def encode_sharded_main(target: str, refs: Iterable[ShardRef]) -> bytes:
    """The main file of a sharded directory target: its header, then one line per shard."""
    return _header_line("dir", target, sharded=True) + b"".join(map(_range_line, refs))


def dump(manifest: Manifest) -> dict[str, bytes]:
    """Encode a manifest as files relative to ``.folio/manifests``: the main file and shards."""
    return dict(dump_files(manifest))


def dump_files(manifest: Manifest) -> Iterator[tuple[str, bytes]]:
    """:func:`dump` one file at a time, shards first and the main file last, the order they
    are written in: a million entries need not be held encoded all at once."""
    entries = manifest.sorted_entries()
    main = manifest_relpath(manifest.target)
    if len(entries) <= SHARD_THRESHOLD or manifest.kind == "file":
        yield main, encode_plain(manifest.kind, manifest.target, entries)
        return
    refs: list[ShardRef] = []
    for chunk, cut in _chunks(entries):
        ref, data = encode_shard(manifest.target, chunk, refs[-1].last if refs else None, cut)
        refs.append(ref)
        yield shard_relpath(manifest.target, ref.name), data
    yield main, encode_sharded_main(manifest.target, refs)


def encode_plain(kind: str, target: str, entries: Iterable[Entry]) -> bytes:
    """An unsharded main file of sorted ``entries``, whatever their number (a merge may
    leave more than SHARD_THRESHOLD in one file: still read, re-sharded by the next write)."""
    return _header_line(kind, target) + b"".join(map(_entry_line, entries))


# -- decoding -------------------------------------------------------------------------------

def _lines(data: bytes, source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    if not data:
        raise ManifestError("empty manifest (truncated?)", path=source, line=1)
    if not data.endswith(b"\n"):
        _refuse_conflicted(data, source)
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
    _refuse_conflicted(data, source)
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


# git's conflict markers (7 characters; "|||||||" opens the base part of the diff3 style)
_CONFLICT = re.compile(rb"^(?:<{7}|>{7})(?: |$)", re.MULTILINE)
CONFLICT_HINT = ("pick a side with `git checkout --ours/--theirs <file>` or edit it, "
                 "then `folio checkout`")


def _refuse_conflicted(data: bytes, source: str) -> None:
    """Say so when a manifest holds unresolved merge conflicts (from git's own text merge or
    from folio's merge driver), naming the paths in them, rather than "not a JSON line"."""
    found = _CONFLICT.search(data)
    if found is None:
        return
    paths = conflicted_paths(data)
    shown = ", ".join(_shown(p) for p in paths[:5]) + (", ..." if len(paths) > 5 else "")
    what = f" ({len(paths)} path{'' if len(paths) == 1 else 's'}: {shown})" if paths else ""
    raise ManifestError(f"has unresolved merge conflicts{what}; {CONFLICT_HINT}",
                        path=source, line=data.count(b"\n", 0, found.start()) + 1)


def _shown(path: str) -> str:
    """A path as an error message shows it: as is when printable, else escaped (it comes
    from an unchecked line), and never longer than 200 characters."""
    text = path if path.isprintable() else ascii(path)[1:-1]
    return text if len(text) <= 200 else text[:197] + "..."


def conflicted_paths(data: bytes) -> list[str]:
    """The entry paths whose lines differ between the two sides of the conflict blocks in
    ``data`` (git's ``<<<<<<<`` / ``|||||||`` / ``=======`` / ``>>>>>>>``), in order."""
    paths: dict[str, None] = {}
    side: str | None = None
    ours: list[bytes] = []
    theirs: list[bytes] = []
    for raw in data.split(b"\n"):
        marker = raw[:7] if raw[7:8] in (b"", b" ") else b""
        if marker == b"<" * 7:
            side, ours, theirs = "ours", [], []
        elif side is not None and marker == b"|" * 7:
            side = "base"
        elif side is not None and raw == b"=" * 7:
            side = "theirs"
        elif side is not None and marker == b">" * 7:
            differ = set(ours) ^ set(theirs)
            for line in (x for x in ours + theirs if x in differ):
                path = _path_of(line)
                if path is not None:
                    paths[path] = None
            side = None
        elif side == "ours":
            ours.append(raw)
        elif side == "theirs":
            theirs.append(raw)
    return list(paths)


def _path_of(line: bytes) -> str | None:
    """The ``path`` of an entry line, or None for anything else."""
    if len(line) > MAX_LINE:
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    path = obj.get("path") if isinstance(obj, dict) else None
    return path if isinstance(path, str) else None


def _check_header(obj: dict[str, Any], source: str) -> int:
    """A first line's format version, which must be one this folio reads."""
    version = obj.get("folio")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ManifestError("missing header: the first line must be {\"folio\": 1, ...}",
                            path=source, line=1)
    if version not in VERSIONS:
        raise FormatVersionError(
            f"manifest format version {version} is not supported (this folio reads "
            f"versions {FORMAT_VERSION} and {SHARDED_VERSION}); upgrade folio",
            path=source, line=1)
    return version


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

    try:
        path = validate_relpath(obj.get("path"), what="entry path")
    except PathError as exc:
        raise bad(exc.message) from None
    link = obj.get("link")
    size = obj.get("size", 0)
    sha = obj.get("sha256")
    if link is not None:
        if not _sane_link(link):
            raise bad(f"entry {path!r}: invalid link target (empty, NUL, not UTF-8 or "
                      f"longer than {MAX_LINK_TARGET} bytes)")
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


def _sane_link(link: object) -> bool:
    """A link target the kernel would store: a non-empty string, no NUL, at most
    :data:`MAX_LINK_TARGET` bytes of UTF-8."""
    if not isinstance(link, str) or not link or "\x00" in link:
        return False
    try:
        return len(link.encode("utf-8")) <= MAX_LINK_TARGET
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        return False


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


def _main_header(data: bytes, source: str, expected_target: str | None
                 ) -> tuple[Iterator[tuple[int, dict[str, Any]]], str, str, bool, int]:
    """Check a main file's header line: (the following lines, kind, target, sharded,
    format version)."""
    lines = _lines(data, source)
    _, header = next(lines, (1, {}))  # blank lines only: no header
    version = _check_header(header, source)
    kind, target = header.get("kind"), header.get("target")
    if kind not in KINDS:
        raise ManifestError(f"unknown target kind {kind!r}", path=source, line=1)
    if not isinstance(target, str):
        raise ManifestError("the header names no target", path=source, line=1)
    try:
        check_target(target)
    except PathError as exc:
        raise ManifestError(exc.message, path=source, line=1) from None
    if expected_target is not None and target != expected_target:
        raise ManifestError(f"header names target {target!r} but the file is for "
                            f"{expected_target!r}", path=source, line=1)
    sharded = bool(header.get("sharded"))
    if kind == "file" and sharded:
        raise ManifestError("a file target cannot be sharded", path=source, line=1)
    if version == SHARDED_VERSION and not sharded:
        raise FormatVersionError(
            f"manifest format version {version} is not supported for an unsharded manifest "
            f"(this folio writes those as version {FORMAT_VERSION}); upgrade folio",
            path=source, line=1)
    return lines, kind, target, sharded, version


def _index_ref(obj: dict[str, Any], source: str, line: int) -> tuple[str, int]:
    """A format 1 index line's shard name and entry count, as every reader checks them."""
    name, count = obj.get("shard"), obj.get("files")
    if not isinstance(name, str) or not _SHARD_NAME.match(name) or not isinstance(count, int):
        raise ManifestError("invalid shard reference", path=source, line=line)
    return name, count


def _v1_refs(lines: Iterable[tuple[int, dict[str, Any]]], source: str) -> list[ShardRef]:
    """Format 1 index lines: name, first path (increasing), files and bytes."""
    refs: list[ShardRef] = []
    for number, obj in lines:
        name, count = _index_ref(obj, source, number)
        first, size = obj.get("first"), obj.get("bytes")
        if (type(first) is not str or type(count) is not int or count < 0
                or type(size) is not int or size < 0):
            raise ManifestError("invalid shard reference", path=source, line=number)
        if refs and first <= (refs[-1].first or ""):
            what = "duplicate path" if first == refs[-1].first else "entries out of order at"
            raise ManifestError(f"{what} {first!r}", path=source, line=number)
        refs.append(ShardRef(name, first, count, size))
    return refs


def _v2_refs(lines: Iterable[tuple[int, dict[str, Any]]], source: str) -> list[ShardRef]:
    """Format 2 index lines: a name and a last path (increasing; absent on the final line
    alone), each name the hash of its range, so a same-named file always holds that range."""
    refs: list[ShardRef] = []
    for number, obj in lines:
        name, last = obj.get("shard"), obj.get("last")
        if (not isinstance(name, str) or not _SHARD_NAME.match(name)
                or (last is not None and type(last) is not str)
                or (refs and refs[-1].last is None)):
            raise ManifestError("invalid shard reference", path=source, line=number)
        after = refs[-1].last if refs else None
        if last is not None and after is not None and last <= after:
            what = "duplicate path" if last == after else "entries out of order at"
            raise ManifestError(f"{what} {last!r}", path=source, line=number)
        if name != range_name(after, last):
            raise ManifestError(f"shard {name} is not named after its range (the name of "
                                f"its range is {range_name(after, last)})",
                                path=source, line=number)
        refs.append(ShardRef(name, last=last))
    return refs


def _refs(lines: Iterable[tuple[int, dict[str, Any]]], source: str, version: int
          ) -> list[ShardRef]:
    """A sharded main file's index lines, as its format version writes them."""
    return _v1_refs(lines, source) if version == FORMAT_VERSION else _v2_refs(lines, source)


def _shard_source(source: str, target: str, shard_path: str) -> str:
    """How errors name a shard: its path beside the main file ``source`` names."""
    main_rel = manifest_relpath(target)
    base = source[: -len(main_rel)] if source.endswith(main_rel) else ""
    return base + shard_path


def _shard_header(obj: dict[str, Any], source: str) -> ShardHeader:
    """A format 2 shard header's fields, type-checked."""
    name, target, after, last = obj.get("shard"), obj.get("target"), obj.get("after"), \
        obj.get("last")
    files, size = obj.get("files"), obj.get("bytes")
    if (not isinstance(name, str) or not _SHARD_NAME.match(name) or type(target) is not str
            or not (after is None or type(after) is str)
            or not (last is None or type(last) is str)
            or type(files) is not int or files < 0 or type(size) is not int or size < 0):
        raise ManifestError("invalid shard header", path=source, line=1)
    return ShardHeader(name, target, after, last, files, size)


def _check_shard(header: ShardHeader, entries: dict[str, Entry], source: str) -> None:
    """A format 2 shard's entries against its header: counts, and the range they lie in."""
    if len(entries) != header.files:
        raise ManifestError(f"shard holds {len(entries)} entries, its header says "
                            f"{header.files} (truncated?)", path=source)
    size = sum(e.size for e in entries.values())
    if size != header.size:
        raise ManifestError(f"shard holds {size} bytes, its header says {header.size}",
                            path=source)
    if not entries:
        raise ManifestError("empty shard", path=source, line=1)
    first, last = next(iter(entries)), next(reversed(entries))
    if header.after is not None and first <= header.after:
        raise ManifestError(f"entry {first!r} is not after the previous shard's last "
                            f"{header.after!r}", path=source, line=2)
    if header.last is not None and last != header.last:
        raise ManifestError(f"last entry {last!r} but the header says {header.last!r}",
                            path=source, line=len(entries) + 1)


def read_shard_file(data: bytes, source: str) -> tuple[ShardHeader, dict[str, Entry]]:
    """A format 2 shard file on its own (the merge driver's view): its header and entries,
    checked in themselves (counts, range, name)."""
    lines = _lines(data, source)
    _, obj = next(lines, (1, {}))
    if _check_header(obj, source) != SHARDED_VERSION or "shard" not in obj:
        raise ManifestError("not a format 2 shard file", path=source, line=1)
    header = _shard_header(obj, source)
    if header.name != range_name(header.after, header.last):
        raise ManifestError(f"shard {header.name} is not named after its range",
                            path=source, line=1)
    entries: dict[str, Entry] = {}
    _entries(lines, source, entries, None)
    _check_shard(header, entries, source)
    return header, entries


def parse(data: bytes, source: str, read_shard: Callable[[str], bytes] | None = None,
          expected_target: str | None = None) -> Manifest:
    """Decode a main manifest file (and its shards, through ``read_shard(relpath)``).

    Every error names ``source`` (or the shard) and the line.
    """
    found = parse_main(data, source, read_shard, expected_target)
    if isinstance(found, Manifest):
        return found
    if read_shard is None:
        raise ManifestError("sharded manifest but no shards available", path=source)
    return found.manifest()


def parse_main(data: bytes, source: str, read_shard: Callable[[str], bytes] | None = None,
               expected_target: str | None = None) -> Manifest | ShardedManifest:
    """:func:`parse`, except that a sharded manifest comes as its lazy view (its index
    checked, no shard read yet): one pass over the main file either way."""
    lines, kind, target, sharded, version = _main_header(data, source, expected_target)
    if sharded:
        return ShardedManifest(target, _refs(lines, source, version), source, read_shard,
                               version)
    manifest = Manifest(target=target, kind=kind)
    _entries(lines, source, manifest.entries, None)
    if kind == "file":
        name = target.rsplit("/", 1)[-1]
        if list(manifest.entries) != [name]:
            raise ManifestError(f"a file target must have exactly one entry, named {name!r}",
                                path=source, line=2)
    return manifest


def read_lockfree(read_main: Callable[[], bytes], use: Callable[[bytes], T],
                  attempts: int = READ_ATTEMPTS) -> T:
    """``use(main)`` on a manifest read without the lock: the one reader retry (4.7).

    ``read_main`` reads the main file; ``use`` reads the shards it names. A writer writes
    the shards, then the main file, then deletes the shards it no longer names, so a shard
    missing under a main file read a moment ago means a newer main file is in place: read
    it and start again. (A shard rewritten in place keeps its range, which its name is the
    hash of, so it always fits the main file that names it.) An unchanged main file is
    given one more try (a writer may have gone back to it, recreating its shards); missing
    twice under the same bytes, the shard is gone.
    """
    main = read_main()
    unchanged = False
    for attempt in range(1, attempts + 1):
        try:
            return use(main)
        except ShardMissingError:
            again = read_main()
            if attempt == attempts or (again == main and unchanged):
                raise
            unchanged = again == main
            main = again
    raise AssertionError("unreachable")  # pragma: no cover


# -- partial reads and updates of sharded manifests -------------------------------------------

def _prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: no bound)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            return prefix[:-1] + chr(last + 1)
        prefix = prefix[:-1]
    return None


class ShardedManifest:
    """A sharded directory manifest read lazily: the index at once, shards on demand.

    Format 2: shard ``i`` holds the paths in ``(refs[i - 1].last, refs[i].last]`` (the first
    unbounded below, the last above), so a path's shard is found in the index alone.
    Format 1: shard ``i`` holds ``[refs[i].first, refs[i + 1].first)``. Every shard read is
    checked as ``parse`` checks it, and also against that range, since the partial readers
    rely on the index for the shards they skip.
    """

    __slots__ = ("_bounds", "_cache", "_counts", "_read", "_source", "refs", "target",
                 "version")

    def __init__(self, target: str, refs: list[ShardRef], source: str,
                 read_shard: Callable[[str], bytes] | None,
                 version: int = FORMAT_VERSION) -> None:
        self.target = target
        self.refs = refs
        self.version = version
        self._source = source
        self._read = read_shard
        # the paths that separate shards: format 1 firsts, format 2 lasts (but the final's)
        self._bounds: list[str] = ([ref.first or "" for ref in refs] if version == FORMAT_VERSION
                                   else [ref.last or "" for ref in refs[:-1]])
        self._counts: dict[int, tuple[int, int]] = {
            i: (ref.files, ref.bytes) for i, ref in enumerate(refs)
            if ref.files is not None and ref.bytes is not None}
        self._cache: dict[int, bytes] | None = None  # shard files read once, while updating

    @classmethod
    def read(cls, data: bytes, source: str, read_shard: Callable[[str], bytes] | None,
             expected_target: str | None = None) -> ShardedManifest | None:
        """Check a main file's header and index lines (format 1 lines must carry a string
        ``first`` in increasing order and integer ``files`` and ``bytes``; format 2 lines a
        ``last`` in increasing order and the name of their range). None when the manifest
        is not sharded: use ``parse`` then. Reads no shard."""
        lines, kind, target, sharded, version = _main_header(data, source, expected_target)
        if kind != "dir" or not sharded:
            return None
        return cls(target, _refs(lines, source, version), source, read_shard, version)

    @property
    def total_files(self) -> int:
        """Entries in all shards (format 2: from every shard's header line)."""
        return sum(self._count(i)[0] for i in range(len(self.refs)))

    @property
    def total_bytes(self) -> int:
        return sum(self._count(i)[1] for i in range(len(self.refs)))

    def shard_relpaths(self) -> list[str]:
        """The shard files the main file names, relative to ``.folio/manifests``."""
        return [shard_relpath(self.target, ref.name) for ref in self.refs]

    def _count(self, i: int) -> tuple[int, int]:
        """Shard ``i``'s files and bytes (format 2: its header, checked, is read for them)."""
        if i not in self._counts:
            data = self._data(i)
            end = data.find(b"\n") + 1
            source = self._shard_src(i)
            _, obj = next(_lines(data[:end] if end else data, source), (1, {}))
            header = self._header(i, obj, source)
            self._counts[i] = header.files, header.size
        return self._counts[i]

    def _shard_src(self, i: int) -> str:
        return _shard_source(self._source, self.target,
                             shard_relpath(self.target, self.refs[i].name))

    def _data(self, i: int) -> bytes:
        """Shard ``i``'s file (from the cache while updating: read once)."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        if self._read is None:  # read for its index alone (shard names)
            raise ManifestError("sharded manifest but no shards available", path=self._source)
        name = self.refs[i].name
        try:
            data = self._read(shard_relpath(self.target, name))
        except (FileNotFoundError, KeyError):
            raise ShardMissingError(f"shard {name} is missing", path=self._source,
                                    line=i + 2) from None
        if self._cache is not None:
            self._cache[i] = data
        return data

    def _header(self, i: int, obj: dict[str, Any], source: str) -> ShardHeader:
        """Shard ``i``'s format 2 header line, which must match its index line."""
        ref = self.refs[i]
        after = self.refs[i - 1].last if i else None
        version = _check_header(obj, source)
        if (version != self.version or obj.get("shard") != ref.name
                or obj.get("target") != self.target or obj.get("after") != after
                or obj.get("last") != ref.last):
            raise ManifestError(f"shard header does not match its index line ({ref.name})",
                                path=source, line=1)
        return _shard_header(obj, source)

    def _load(self, i: int) -> tuple[dict[str, Entry], bytes]:
        """The entries of shard ``i``, in order, checked, and its file's bytes."""
        data = self._data(i)
        source = self._shard_src(i)
        lines = _lines(data, source)
        _, obj = next(lines, (1, {}))
        entries: dict[str, Entry] = {}
        if self.version == FORMAT_VERSION:
            self._check_v1(i, obj, lines, entries, source)
            return entries, data
        header = self._header(i, obj, source)
        _entries(lines, source, entries, None)
        _check_shard(header, entries, source)
        self._counts[i] = header.files, header.size
        return entries, data

    def _check_v1(self, i: int, header: dict[str, Any],
                  lines: Iterator[tuple[int, dict[str, Any]]], entries: dict[str, Entry],
                  source: str) -> None:
        """Read a format 1 shard's entries into ``entries``, checked against its index line
        and the index's range."""
        ref = self.refs[i]
        version = _check_header(header, source)
        if (version != FORMAT_VERSION or header.get("shard") != ref.name
                or header.get("target") != self.target):
            raise ManifestError(f"shard header does not match its index line ({ref.name})",
                                path=source, line=1)
        _entries(lines, source, entries, None)
        if len(entries) != ref.files:
            raise ManifestError(f"shard holds {len(entries)} entries, the "
                                f"index says {ref.files} (truncated?)", path=source)
        if entries:
            first = next(iter(entries))
            if first != ref.first:
                raise ManifestError(f"first entry {first!r} but the index says {ref.first!r}",
                                    path=source, line=2)
            last = next(reversed(entries))
            if i + 1 < len(self.refs) and last >= self._bounds[i + 1]:
                raise ManifestError(f"entry {last!r} is not before the next shard's first "
                                    f"{self._bounds[i + 1]!r}", path=source,
                                    line=len(entries) + 1)

    def _shard(self, i: int) -> dict[str, Entry]:
        """The entries of shard ``i``, in order, checked."""
        return self._load(i)[0]

    def _shard_of(self, path: str) -> int:
        """The shard whose range holds ``path`` (format 1: the first one for paths before
        them all)."""
        if self.version == FORMAT_VERSION:
            return max(bisect_right(self._bounds, path) - 1, 0)
        return bisect_left(self._bounds, path)

    def manifest(self) -> Manifest:
        """Every entry (reads every shard): what ``parse`` returns."""
        manifest = Manifest(self.target, "dir")
        previous: str | None = None
        for i in range(len(self.refs)):
            entries = self._shard(i)
            if entries and previous is not None and next(iter(entries)) <= previous:
                first = next(iter(entries))  # format 1 checks only against the index
                what = "duplicate path" if first == previous else "entries out of order at"
                raise ManifestError(f"{what} {first!r}", path=self._shard_src(i), line=2)
            if entries:
                previous = next(reversed(entries))
            manifest.entries.update(entries)
        return manifest

    def entry(self, path: str) -> Entry | None:
        """The entry at ``path``, reading only the one shard whose range holds it."""
        return self._shard(self._shard_of(path)).get(path) if self.refs else None

    def is_empty(self) -> bool:
        """Whether no shard holds an entry, reading shard headers only until one does
        (format 1: the index's counts)."""
        return not any(self._count(i)[0] for i in range(len(self.refs)))

    def entries_under(self, prefixes: Sequence[str]) -> dict[str, Entry]:
        """Every entry whose path starts with one of ``prefixes`` (directory prefixes end
        with "/"), in order, reading only the shards whose range can hold such paths."""
        if isinstance(prefixes, str):
            raise TypeError("prefixes must be a sequence of strings, not a string")
        wanted: set[int] = set()
        for prefix in prefixes:
            end = _prefix_end(prefix)
            if end is None:
                stop = len(self.refs)
            elif self.version == FORMAT_VERSION:
                stop = bisect_left(self._bounds, end)
            else:  # the shards whose range starts below `end`
                stop = min(bisect_left(self._bounds, end) + 1, len(self.refs))
            wanted.update(range(self._shard_of(prefix), stop))
        starts = tuple(prefixes)
        found: dict[str, Entry] = {}
        for i in sorted(wanted):
            for path, entry in self._shard(i).items():
                if path.startswith(starts):
                    found[path] = entry
        return found

    def updated(self, changes: Mapping[str, Entry | None]) -> dict[str, bytes]:
        """The manifest's files after ``changes`` (path -> new entry, or None to remove it;
        removing an absent path does nothing), relative to ``.folio/manifests``: the main
        file, and every shard file whose bytes change (new ones, and ones rewritten in
        place); a writer then deletes the shards the new main file does not name.

        The new main file, these shards and the existing shards the new main file names are
        exactly ``dump()`` of the updated manifest. Only the shards holding changed paths
        are read and re-chunked, plus the following ones until a new cut falls on an old
        one: chunking is local, so everything after that is unchanged. (When the result may
        have SHARD_THRESHOLD entries or fewer, shard headers are read until the count
        settles it; if it does, it is unsharded. A format 1 manifest is re-encoded whole.)
        """
        return dict(self.updated_files(changes))

    def updated_files(self, changes: Mapping[str, Entry | None]
                      ) -> Iterator[tuple[str, bytes]]:
        """:meth:`updated` one file at a time, shards first and the main file last.

        Shards are read, changed and re-encoded one after another, so a change touching
        every shard of a million entries never holds them all.
        """
        for path, entry in changes.items():
            if entry is not None and entry.path != path:
                raise ValueError(f"change for {path!r} holds an entry for {entry.path!r}")
        if not self.refs or self.version == FORMAT_VERSION:
            yield from self._updated_in_full(changes, {}).items()
            return
        self._cache = {}
        try:
            yield from self._updated_partly(changes)
        finally:
            self._cache = None

    def _updated_partly(self, changes: Mapping[str, Entry | None]
                        ) -> Iterator[tuple[str, bytes]]:
        by_shard: dict[int, list[str]] = {}
        for path in changes:
            by_shard.setdefault(self._shard_of(path), []).append(path)
        removals = sum(1 for entry in changes.values() if entry is None)
        changed: dict[int, tuple[list[Entry], bytes]] = {}  # shards already read and changed
        if removals and not self._more_than(SHARD_THRESHOLD + removals, sorted(by_shard)):
            # the result may be small enough to be unsharded: count it exactly
            changed = {i: self._changed_shard(i, paths, changes) for i, paths in by_shard.items()}
            count = sum(len(changed[i][0]) if i in changed else self._count(i)[0]
                        for i in range(len(self.refs)))
            if count <= SHARD_THRESHOLD:
                yield from self._updated_in_full(changes, changed).items()
                return
        refs: list[ShardRef] = []
        i, n = 0, len(self.refs)
        while i < n:
            if i not in by_shard:  # the chunking is aligned here: this shard stays
                refs.append(self.refs[i])
                if self._cache is not None:
                    self._cache.pop(i, None)
                i += 1
                continue
            chunker = _Chunker()
            while True:  # re-chunk from this shard until a cut falls on an old one
                if i not in by_shard:
                    entries, raw = self._load(i)
                    closed = chunker.feed(entries.values())
                else:
                    fed, raw = changed.pop(i) if i in changed else \
                        self._changed_shard(i, by_shard[i], changes)
                    closed = chunker.feed(fed)
                old = {self.refs[i].name: raw}
                if self._cache is not None:
                    self._cache.pop(i, None)
                i += 1
                chunks = [(chunk, True) for chunk in closed]
                if i == n:
                    chunks += [(chunk, False) for chunk in chunker.close()]
                for chunk, cut in chunks:
                    ref, data = encode_shard(self.target, chunk, refs[-1].last if refs else None,
                                             cut)
                    refs.append(ref)
                    if old.get(ref.name) != data:
                        yield shard_relpath(self.target, ref.name), data
                ends = refs[-1].last if refs else None
                if i == n or (not chunker.open and ends == self.refs[i - 1].last):
                    break
        yield manifest_relpath(self.target), encode_sharded_main(self.target, refs)

    def _more_than(self, limit: int, first: list[int]) -> bool:
        """Whether the shards hold more than ``limit`` entries, reading as few headers as it
        takes (every shard holds at least one entry): the shards in ``first`` (read anyway),
        then the ones after them, then the rest."""
        n = len(self.refs)
        top = max(first, default=-1)
        order = first + list(range(top + 1, n)) + [i for i in range(top) if i not in first]
        bound = sum(self._counts[i][0] for i in self._counts) + n - len(self._counts)
        for i in order:
            if bound > limit:
                return True
            if i not in self._counts:
                bound += self._count(i)[0] - 1
        return bound > limit

    def _changed_shard(self, i: int, paths: list[str],
                       changes: Mapping[str, Entry | None]) -> tuple[list[Entry], bytes]:
        """Shard ``i``'s entries, in order, after the changes to ``paths``; and its bytes."""
        entries, raw = self._load(i)
        for path in paths:
            entry = changes[path]
            if entry is None:
                entries.pop(path, None)
            else:
                entries[path] = entry
        return [entries[p] for p in sorted(entries)], raw

    def _updated_in_full(self, changes: Mapping[str, Entry | None],
                         changed: dict[int, tuple[list[Entry], bytes]]) -> dict[str, bytes]:
        manifest = Manifest(self.target, "dir")
        old: dict[str, bytes] = {}
        for i in range(len(self.refs)):
            if i in changed:
                entries, raw = changed[i]
                manifest.entries.update((e.path, e) for e in entries)
            else:
                loaded, raw = self._load(i)
                manifest.entries.update(loaded)
            if self.version != FORMAT_VERSION:
                old[shard_relpath(self.target, self.refs[i].name)] = raw
        if not changed:
            for path, entry in changes.items():
                if entry is None:
                    manifest.entries.pop(path, None)
                else:
                    manifest.entries[path] = entry
        return {rel: data for rel, data in dump(manifest).items() if old.get(rel) != data}


def totals(data: bytes, source: str, target: str,
           read_shard: Callable[[str], bytes] | None = None) -> tuple[int, int]:
    """Files and bytes of a manifest from its main file, and for a format 2 sharded one the
    header line of each shard, read through ``read_shard`` (format 1 keeps the counts in its
    index: no shard is read). Only each shard's first line is parsed, so ``read_shard`` may
    return just the start of the file, as long as it holds that whole line (a header is at
    most a few times the longest path). Without ``read_shard`` a format 2 sharded manifest
    is refused (``sharded manifest but no shards available``)."""
    view = ShardedManifest.read(data, source, read_shard, target)
    if view is not None:
        return view.total_files, view.total_bytes
    manifest = parse(data, source, None, target)
    return len(manifest.entries), manifest.total_bytes
