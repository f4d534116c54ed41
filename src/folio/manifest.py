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
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from folio.errors import FormatVersionError, ManifestError, PathError, ShardMissingError
from folio.objects.store import OID_PATTERN, is_oid
from folio.paths import MAX_LINK_TARGET, SUSPECT_PATH, check_target, validate_relpath

FORMAT_VERSION = 1
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


def _header_line(kind: str, target: str, *, sharded: bool = False) -> bytes:
    """A main file's first line (4.2)."""
    header: dict[str, Any] = {"folio": FORMAT_VERSION, "kind": kind, "target": target}
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
        """Add entries; returns the chunks they closed."""
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
        """The final chunk, if any (at the end of all entries)."""
        chunk, self.open = self.open, []
        return [chunk] if chunk else []


def _chunk(entries: Iterable[Entry]) -> list[list[Entry]]:
    chunker = _Chunker()
    return chunker.feed(entries) + chunker.close()


def shard_name(body: bytes) -> str:
    """A shard's file name: a hash of its entries, so a changed shard gets a new file.

    New shards are written before the main file names them and old ones are deleted
    after, so a reader (or a crash) at any moment sees a complete, consistent manifest.
    """
    return hashlib.sha256(body).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ShardRef:
    """One index line of a sharded main file (4.7)."""

    name: str  # 16 hex, the shard's content-hash name
    first: str  # path of its first entry
    files: int
    bytes: int


def shard_relpath(target: str, name: str) -> str:
    """Where a shard of a target lives, relative to ``.folio/manifests``."""
    return f"{target}{SHARD_DIR_SUFFIX}/{name}{SUFFIX}"


def _encode_shard(target: str, chunk: list[Entry]) -> tuple[ShardRef, bytes]:
    """A chunk's shard file (header line + entry lines) and its index entry."""
    body = b"".join(map(_entry_line, chunk))
    name = shard_name(body)
    header = _line({"folio": FORMAT_VERSION, "shard": name, "target": target})
    return ShardRef(name, chunk[0].path, len(chunk), sum(e.size for e in chunk)), header + body


def _index_line(ref: ShardRef) -> bytes:
    """One index line; built directly (same bytes as _line: the name is hex, counts are int)."""
    return (f'{{"shard":"{ref.name}","first":{_encode_str(ref.first)},"files":{ref.files},'
            f'"bytes":{ref.bytes}}}\n').encode()


def _sharded_main(target: str, refs: Iterable[ShardRef]) -> bytes:
    """The main file of a sharded directory target: its header, then one line per shard."""
    return _header_line("dir", target, sharded=True) + b"".join(map(_index_line, refs))


def dump(manifest: Manifest) -> dict[str, bytes]:
    """Encode a manifest as files relative to ``.folio/manifests``: the main file and shards."""
    return dict(dump_files(manifest))


def dump_files(manifest: Manifest) -> Iterator[tuple[str, bytes]]:
    """:func:`dump` one file at a time, shards first and the main file last, the order they
    are written in: a million entries need not be held encoded all at once."""
    entries = manifest.sorted_entries()
    main = manifest_relpath(manifest.target)
    if len(entries) <= SHARD_THRESHOLD or manifest.kind == "file":
        body = b"".join(map(_entry_line, entries))
        yield main, _header_line(manifest.kind, manifest.target) + body
        return
    refs = []
    for chunk in _chunk(entries):
        ref, data = _encode_shard(manifest.target, chunk)
        refs.append(ref)
        yield shard_relpath(manifest.target, ref.name), data
    yield main, _sharded_main(manifest.target, refs)


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
                 ) -> tuple[Iterator[tuple[int, dict[str, Any]]], str, str, bool]:
    """Check a main file's header line: (the following lines, kind, target, sharded)."""
    lines = _lines(data, source)
    _, header = next(lines, (1, {}))  # blank lines only: no header
    _check_header(header, source)
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
    return lines, kind, target, sharded


def _index_ref(obj: dict[str, Any], source: str, line: int) -> tuple[str, int]:
    """An index line's shard name and entry count, as every reader checks them."""
    name, count = obj.get("shard"), obj.get("files")
    if not isinstance(name, str) or not _SHARD_NAME.match(name) or not isinstance(count, int):
        raise ManifestError("invalid shard reference", path=source, line=line)
    return name, count


def _shard_source(source: str, target: str, shard_path: str) -> str:
    """How errors name a shard: its path beside the main file ``source`` names."""
    main_rel = manifest_relpath(target)
    base = source[: -len(main_rel)] if source.endswith(main_rel) else ""
    return base + shard_path


def _read_shard(read_shard: Callable[[str], bytes], source: str, target: str, name: str,
                count: int, line: int, into: dict[str, Entry], previous: str | None
                ) -> str | None:
    """Read, check and add to ``into`` the entries of the shard that index line ``line`` of
    ``source`` names; ``previous`` is the path before them (returns the last one)."""
    shard_path = shard_relpath(target, name)
    try:
        shard_data = read_shard(shard_path)
    except (FileNotFoundError, KeyError):
        raise ShardMissingError(f"shard {name} is missing", path=source, line=line) from None
    shard_source = _shard_source(source, target, shard_path)
    shard_lines = _lines(shard_data, shard_source)
    _, shard_header = next(shard_lines, (1, {}))
    _check_header(shard_header, shard_source)
    if shard_header.get("shard") != name or shard_header.get("target") != target:
        raise ManifestError(f"shard header does not match its index line ({name})",
                            path=shard_source, line=1)
    before = len(into)
    previous = _entries(shard_lines, shard_source, into, previous)
    if len(into) - before != count:
        raise ManifestError(f"shard holds {len(into) - before} entries, the "
                            f"index says {count} (truncated?)", path=shard_source)
    return previous


def parse(data: bytes, source: str, read_shard: Callable[[str], bytes] | None = None,
          expected_target: str | None = None) -> Manifest:
    """Decode a main manifest file (and its shards, through ``read_shard(relpath)``).

    Every error names ``source`` (or the shard) and the line.
    """
    lines, kind, target, sharded = _main_header(data, source, expected_target)
    manifest = Manifest(target=target, kind=kind)
    if kind == "file":
        _entries(lines, source, manifest.entries, None)
        name = target.rsplit("/", 1)[-1]
        if list(manifest.entries) != [name]:
            raise ManifestError(f"a file target must have exactly one entry, named {name!r}",
                                path=source, line=2)
        return manifest
    if not sharded:
        _entries(lines, source, manifest.entries, None)
        return manifest
    if read_shard is None:
        raise ManifestError("sharded manifest but no shards available", path=source)
    previous: str | None = None
    for number, obj in lines:
        name, count = _index_ref(obj, source, number)
        previous = _read_shard(read_shard, source, target, name, count, number,
                               manifest.entries, previous)
    return manifest


def read_lockfree(read_main: Callable[[], bytes], use: Callable[[bytes], T],
                  attempts: int = READ_ATTEMPTS) -> T:
    """``use(main)`` on a manifest read without the lock: the one reader retry (4.7).

    ``read_main`` reads the main file; ``use`` reads the shards it names. A writer writes
    new shards, then the main file, then deletes the old shards, so a shard missing under
    a main file read a moment ago means a newer main file is in place: read it and start
    again. An unchanged main file is given one more try (a writer may have gone back to
    it, recreating its shards); missing twice under the same bytes, the shard is gone.
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

    Shard ``i`` holds the paths in ``[refs[i].first, refs[i + 1].first)``, so a path's shard
    is found in the index alone. Every shard read is checked as ``parse`` checks it, and
    also against that range (its first entry is the index's ``first``, its last is below the
    next shard's), since the partial readers rely on the index for the shards they skip.
    """

    __slots__ = ("_firsts", "_read", "_source", "refs", "target")

    def __init__(self, target: str, refs: list[ShardRef], source: str,
                 read_shard: Callable[[str], bytes] | None) -> None:
        self.target = target
        self.refs = refs
        self._source = source
        self._read = read_shard
        self._firsts = [ref.first for ref in refs]

    @classmethod
    def read(cls, data: bytes, source: str, read_shard: Callable[[str], bytes] | None,
             expected_target: str | None = None) -> ShardedManifest | None:
        """Check a main file's header and index lines (as ``parse`` does; index lines must
        also carry a string ``first`` in increasing order and integer ``files`` and
        ``bytes``). None when the manifest is not sharded: use ``parse`` then. Reads no
        shard."""
        lines, kind, target, sharded = _main_header(data, source, expected_target)
        if kind != "dir" or not sharded:
            return None
        refs: list[ShardRef] = []
        for number, obj in lines:
            name, count = _index_ref(obj, source, number)
            first, size = obj.get("first"), obj.get("bytes")
            if (type(first) is not str or type(count) is not int or count < 0
                    or type(size) is not int or size < 0):
                raise ManifestError("invalid shard reference", path=source, line=number)
            if refs and first <= refs[-1].first:
                what = "duplicate path" if first == refs[-1].first else "entries out of order at"
                raise ManifestError(f"{what} {first!r}", path=source, line=number)
            refs.append(ShardRef(name, first, count, size))
        return cls(target, refs, source, read_shard)

    @property
    def total_files(self) -> int:
        return sum(ref.files for ref in self.refs)

    @property
    def total_bytes(self) -> int:
        return sum(ref.bytes for ref in self.refs)

    def shard_relpaths(self) -> list[str]:
        """The shard files the main file names, relative to ``.folio/manifests``."""
        return [shard_relpath(self.target, ref.name) for ref in self.refs]

    def _shard(self, i: int) -> dict[str, Entry]:
        """The entries of shard ``i``, in order, checked."""
        ref = self.refs[i]
        entries: dict[str, Entry] = {}
        if self._read is None:  # read for its index alone (totals, shard names)
            raise ManifestError("sharded manifest but no shards available", path=self._source)
        _read_shard(self._read, self._source, self.target, ref.name, ref.files, i + 2,
                    entries, None)
        if entries:
            source = _shard_source(self._source, self.target, shard_relpath(self.target,
                                                                            ref.name))
            first = next(iter(entries))
            if first != ref.first:
                raise ManifestError(f"first entry {first!r} but the index says {ref.first!r}",
                                    path=source, line=2)
            last = next(reversed(entries))
            if i + 1 < len(self.refs) and last >= self._firsts[i + 1]:
                raise ManifestError(f"entry {last!r} is not before the next shard's first "
                                    f"{self._firsts[i + 1]!r}", path=source, line=len(entries) + 1)
        return entries

    def _shard_of(self, path: str) -> int:
        """The shard whose range holds ``path`` (the first one for paths before them all)."""
        return max(bisect_right(self._firsts, path) - 1, 0)

    def manifest(self) -> Manifest:
        """Every entry (reads every shard): what ``parse`` returns."""
        manifest = Manifest(self.target, "dir")
        for i in range(len(self.refs)):
            manifest.entries.update(self._shard(i))
        return manifest

    def entries_under(self, prefixes: Sequence[str]) -> dict[str, Entry]:
        """Every entry whose path starts with one of ``prefixes`` (directory prefixes end
        with "/"), in order, reading only the shards whose range can hold such paths."""
        if isinstance(prefixes, str):
            raise TypeError("prefixes must be a sequence of strings, not a string")
        wanted: set[int] = set()
        for prefix in prefixes:
            end = _prefix_end(prefix)
            stop = len(self.refs) if end is None else bisect_left(self._firsts, end)
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
        file, and every shard file that is not already one the current index names.

        The new main file, these shards and the existing shards the new main file names are
        exactly ``dump()`` of the updated manifest. Only the shards holding changed paths
        are read and re-chunked, plus the following ones until a new cut falls on an old
        shard boundary: chunking is local, so everything after that is unchanged. (A result
        of SHARD_THRESHOLD entries or fewer is unsharded: then every shard is read.)
        """
        return dict(self.updated_files(changes))

    def updated_files(self, changes: Mapping[str, Entry | None]
                      ) -> Iterator[tuple[str, bytes]]:
        """:meth:`updated` one file at a time, new shards first and the main file last.

        Shards are read, changed and re-encoded one after another, so a change touching
        every shard of a million entries never holds them all.
        """
        for path, entry in changes.items():
            if entry is not None and entry.path != path:
                raise ValueError(f"change for {path!r} holds an entry for {entry.path!r}")
        by_shard: dict[int, list[str]] = {}
        for path in changes if self.refs else ():
            by_shard.setdefault(self._shard_of(path), []).append(path)
        removals = sum(1 for entry in changes.values() if entry is None)
        changed: dict[int, list[Entry]] = {}  # shards already read and changed
        if not self.refs or self.total_files - removals <= SHARD_THRESHOLD:
            # the result may be small enough to be unsharded: count it exactly
            changed = {i: self._changed_shard(i, paths, changes) for i, paths in by_shard.items()}
            count = self.total_files + sum(len(entries) - self.refs[i].files
                                           for i, entries in changed.items())
            if count <= SHARD_THRESHOLD or not self.refs:
                yield from self._updated_in_full(changes, changed).items()
                return
        old = {ref.name for ref in self.refs}
        refs: list[ShardRef] = []
        i, n = 0, len(self.refs)
        while i < n:
            if i not in by_shard:  # the chunking is aligned here: this shard stays
                refs.append(self.refs[i])
                i += 1
                continue
            chunker = _Chunker()
            while True:  # re-chunk from this shard until a cut falls on an old boundary
                if i not in by_shard:
                    closed = chunker.feed(self._shard(i).values())
                elif i in changed:  # read already, to count
                    closed = chunker.feed(changed.pop(i))
                else:
                    closed = chunker.feed(self._changed_shard(i, by_shard[i], changes))
                i += 1
                last = not chunker.open or i == n
                for chunk in closed + (chunker.close() if last else []):
                    ref, data = _encode_shard(self.target, chunk)
                    refs.append(ref)
                    if ref.name not in old:
                        yield shard_relpath(self.target, ref.name), data
                if last:
                    break
        yield manifest_relpath(self.target), _sharded_main(self.target, refs)

    def _changed_shard(self, i: int, paths: list[str],
                       changes: Mapping[str, Entry | None]) -> list[Entry]:
        """Shard ``i``'s entries, in order, after the changes to ``paths``."""
        entries = self._shard(i)
        for path in paths:
            entry = changes[path]
            if entry is None:
                entries.pop(path, None)
            else:
                entries[path] = entry
        return [entries[p] for p in sorted(entries)]

    def _updated_in_full(self, changes: Mapping[str, Entry | None],
                         changed: dict[int, list[Entry]]) -> dict[str, bytes]:
        manifest = Manifest(self.target, "dir")
        for i in range(len(self.refs)):
            if i in changed:
                manifest.entries.update((e.path, e) for e in changed[i])
            else:
                manifest.entries.update(self._shard(i))
        if not self.refs:
            for path, entry in changes.items():
                if entry is None:
                    manifest.entries.pop(path, None)
                else:
                    manifest.entries[path] = entry
        old = set(self.shard_relpaths())
        return {rel: data for rel, data in dump(manifest).items() if rel not in old}


def totals(data: bytes, source: str, target: str) -> tuple[int, int]:
    """Files and bytes of a manifest from its main file; a sharded one's come from its
    index alone, so no shard is read."""
    view = ShardedManifest.read(data, source, None, target)
    if view is not None:
        return view.total_files, view.total_bytes
    manifest = parse(data, source, None, target)
    return len(manifest.entries), manifest.total_bytes
