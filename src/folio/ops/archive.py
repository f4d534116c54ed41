"""``folio export TAG FILE`` and ``folio import FILE``: a snapshot as one self-contained file.

Archive format 1 (docs/remotes.md, "Export and import"); ``.tar``, ``.tar.gz``/``.tgz`` or
``.zip`` by the file name's extension, the same entries in each::

    folio-archive.json       {"format": "folio-archive", "version": 1}
    snapshot.json            tag, message, trailers, author, time of the snapshot commit
    manifests/<path>         every file of the snapshot's tree (manifests and shards)
    objects/ab/cdef…         every stored object the manifests name, raw bytes

Import trusts nothing in the file. The file itself must be a regular file (checked before
it is opened: a FIFO or ``/dev/zero`` would block or never end). Every entry is checked
before anything is written: a name that is absolute, contains ``..``, a control character
or bytes that are not UTF-8, a symlink, hard link, device or FIFO, an unexpected or
duplicate name, all refuse the whole archive. Manifests are parsed as a checkout would;
every object must be one the manifests name, its member header must give the size their
entries give, and it is read no further than that size (``BoundedReader``) while it is
hashed into the store (``put_stream``): a member that inflates past it is refused at the
first extra byte and its staging file removed, so an import never stages more than its
manifests name. Entries are never extracted to a path, so nothing can land outside the
store. The tag is created last, as ``snapshot`` would (objects durable first).
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import stat
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from folio._fs import remove_readonly, temp_name
from folio.bounded import BoundedReader, expected_sizes, read_at_most
from folio.errors import (
    CorruptObjectError,
    FolioError,
    MissingObjectError,
    OversizeError,
    TagExistsError,
    summarize_paths,
)
from folio.git.names import validate_ref_component
from folio.git.repo import (
    SNAPSHOTS_PREFIX,
    TRAILER_BYTES,
    TRAILER_FILES,
    TRAILER_KIND,
    TRAILER_NAME,
)
from folio.objects.store import is_oid

if TYPE_CHECKING:
    from folio.workspace import Workspace

FORMAT = "folio-archive"
VERSION = 1
VERSION_FILE = "folio-archive.json"
META_FILE = "snapshot.json"
MANIFESTS = "manifests/"
OBJECTS = "objects/"
_SMALL_MAX = 64 << 20  # version file, metadata, one manifest file: far below this
_COPY = 1 << 20
_TRAILER_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What a malformed archive raises from tarfile, zipfile, gzip and zlib: each becomes one line.
_UNREADABLE = (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error,
               ValueError, NotImplementedError)


class ArchiveError(FolioError):
    """An archive that import refuses, or that export cannot write."""


@dataclass
class ArchiveResult:
    tag: str
    path: str
    files: int  # manifest entries
    objects: int
    bytes: int  # object bytes
    commit: str | None = None  # the snapshot commit exported, or created by import

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "path": self.path, "files": self.files,
                "objects": self.objects, "bytes": self.bytes, "commit": self.commit}


def archive_kind(path: str | os.PathLike[str]) -> str:
    name = os.fspath(path).lower()
    for suffix, kind in ((".tar.gz", "tar.gz"), (".tgz", "tar.gz"), (".tar", "tar"),
                         (".zip", "zip")):
        if name.endswith(suffix):
            return kind
    raise ArchiveError("unknown archive type: name it .tar, .tar.gz, .tgz or .zip",
                       path=os.fspath(path))


# -- export -------------------------------------------------------------------------------------
def export(ws: Workspace, tag: str, dest: str | os.PathLike[str]) -> ArchiveResult:
    """Write snapshot ``tag`` and every object it names to ``dest`` (replaced atomically)."""
    from folio.ops import roots, snapshots

    kind = archive_kind(dest)
    info = snapshots.get(ws.git, tag)
    commit = ws.git.read_commit(info.commit)
    files = ws.git.read_tree_files(info.commit, "")
    manifests = roots.tree_manifests(files, f"{tag}:")
    oids = roots.manifest_oids(manifests)
    absent = [o for o in oids if not ws.store.has(o)]
    if absent:
        raise MissingObjectError(
            f"{len(absent)} object(s) of snapshot {tag} are not in the local store "
            f"({summarize_paths([o[:12] for o in absent])}); run `folio fetch {tag}` first",
            oids=absent)
    meta = {"tag": tag, "commit": commit.sha, "message": commit.message,
            "trailers": commit.trailers, "author": commit.author, "time": commit.time,
            "offset": commit.offset}
    final = Path(dest)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(final.parent, final.name + ".")
    total = 0
    try:
        with _Writer(kind, tmp, commit.time) as out:
            out.add_bytes(VERSION_FILE, _json({"format": FORMAT, "version": VERSION}))
            out.add_bytes(META_FILE, _json(meta))
            for rel in sorted(files):
                out.add_bytes(MANIFESTS + rel, files[rel])
            for oid in sorted(oids):
                size = ws.store.size(oid)
                with ws.store.open_verified(oid) as reader:
                    out.add_stream(f"{OBJECTS}{oid[:2]}/{oid[2:]}", size, reader)
                    reader.read(1)  # EOF: the hash check; a corrupt object aborts the export
                total += size
        os.replace(tmp, final)
    except BaseException:
        remove_readonly(tmp)
        raise
    return ArchiveResult(tag, str(final), sum(len(m.entries) for m in manifests), len(oids),
                         total, commit.sha)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"


class _Writer:
    def __init__(self, kind: str, path: Path, mtime: int) -> None:
        self.kind = kind
        self.mtime = mtime
        if kind == "zip":
            self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True,
                                       compresslevel=6)
        elif kind == "tar.gz":
            self.tar = tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT,  # noqa: SIM115
                                    compresslevel=6)
        else:
            self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        (self.zip if self.kind == "zip" else self.tar).close()

    def add_bytes(self, name: str, data: bytes) -> None:
        self.add_stream(name, len(data), io.BytesIO(data))

    def add_stream(self, name: str, size: int, reader: IO[bytes] | Any) -> None:
        if self.kind == "zip":
            zinfo = zipfile.ZipInfo(name, time.localtime(max(self.mtime, 315619200))[:6])
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            zinfo.external_attr = (stat.S_IFREG | 0o644) << 16
            with self.zip.open(zinfo, "w", force_zip64=size >= 1 << 31) as f:
                while chunk := reader.read(_COPY):
                    f.write(chunk)
            return
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, self.mtime, 0o644
        self.tar.addfile(info, reader)


# -- import -------------------------------------------------------------------------------------
@dataclass
class _Member:
    name: str  # without a trailing '/'
    is_dir: bool
    size: int
    handle: Any  # TarInfo or ZipInfo


class _Reader:
    """A tar or zip opened for reading; every entry is checked before any is read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = str(path)
        self.zip: zipfile.ZipFile | None = None
        self.tar: tarfile.TarFile | None = None
        self.file = _open_regular(path)
        try:
            try:
                kind = archive_kind(path)
            except ArchiveError:
                kind = "zip" if zipfile.is_zipfile(self.file) else "tar"
                self.file.seek(0)
            if kind == "zip":
                self.zip = zipfile.ZipFile(self.file)
            else:
                self.tar = tarfile.open(fileobj=self.file, mode="r:*")  # noqa: SIM115
            self.members = self._members()
        except _UNREADABLE as exc:
            self.close()
            raise ArchiveError(f"not a readable tar or zip archive ({_one_line(exc)})",
                               path=self.label) from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()
        if self.tar is not None:
            self.tar.close()
        self.file.close()

    def refuse(self, name: str, why: str) -> ArchiveError:
        return ArchiveError(f"refusing archive entry {name!r}: {why}; nothing was imported",
                            path=self.label)

    def _members(self) -> list[_Member]:
        out = []
        if self.zip is not None:
            for zinfo in self.zip.infolist():
                mode = zinfo.external_attr >> 16
                name = zinfo.filename
                if zinfo.flag_bits & 0x1:
                    raise self.refuse(name, "it is encrypted")
                if zinfo.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise self.refuse(name, "it is compressed with a method other than deflate")
                if stat.S_ISLNK(mode):
                    raise self.refuse(name, "it is a symbolic link")
                is_dir = zinfo.is_dir()
                if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    raise self.refuse(name, "it is not a regular file or directory")
                out.append(_Member(self._safe(name, is_dir), is_dir, zinfo.file_size, zinfo))
        else:
            assert self.tar is not None
            for tinfo in self.tar.getmembers():
                name = tinfo.name
                if tinfo.issym():
                    raise self.refuse(name, "it is a symbolic link")
                if tinfo.islnk():
                    raise self.refuse(name, "it is a hard link")
                if tinfo.ischr() or tinfo.isblk():
                    raise self.refuse(name, "it is a device file")
                if not (tinfo.isfile() or tinfo.isdir()):
                    raise self.refuse(name, "it is not a regular file or directory")
                is_dir = tinfo.isdir()
                out.append(_Member(self._safe(name, is_dir), is_dir, tinfo.size, tinfo))
        seen: set[str] = set()
        for member in out:
            if member.name in seen and not member.is_dir:
                raise self.refuse(member.name, "it appears twice")
            seen.add(member.name)
        return out

    def _safe(self, name: str, is_dir: bool) -> str:
        """The entry name, if it is a plain relative path that stays inside the archive."""
        body = name[:-1] if is_dir and name.endswith("/") else name
        parts = body.split("/")
        if name.startswith("/") or (len(body) > 1 and body[1] == ":"):
            raise self.refuse(name, "it is an absolute path")
        if ".." in parts:
            raise self.refuse(name, "it escapes the archive ('..')")
        if not body or "\\" in body or "\0" in body or any(p in ("", ".") for p in parts):
            raise self.refuse(name, "it is not a plain relative path")
        try:
            body.encode("utf-8")
        except UnicodeEncodeError:
            raise self.refuse(name, "its name is not valid UTF-8") from None
        if _CONTROL.search(body):
            raise self.refuse(name, "its name contains a control character")
        return body

    def open(self, member: _Member) -> IO[bytes] | _Inflater:
        if self.zip is not None:
            zinfo: zipfile.ZipInfo = member.handle
            if zinfo.compress_type == zipfile.ZIP_STORED:
                return self.zip.open(zinfo)  # raw bytes: no more than the archive holds
            raw = copy.copy(zinfo)  # the member's deflate stream as it is, inflated by us
            raw.compress_type, raw.CRC = zipfile.ZIP_STORED, None  # type: ignore[assignment]
            raw.file_size = zinfo.compress_size
            return _Inflater(self.zip.open(raw))
        assert self.tar is not None
        f = self.tar.extractfile(member.handle)
        assert f is not None  # regular files only, checked above
        return f

    def read_small(self, member: _Member) -> bytes:
        """A metadata or manifest entry, read no further than its header's size."""
        if member.size > _SMALL_MAX:
            raise self.refuse(member.name, f"larger than {_SMALL_MAX >> 20} MiB")
        with self.open(member) as f:
            return read_at_most(f, member.size, f"archive entry {member.name}")


class _Inflater:
    """A zip member's deflate stream, inflated here rather than by zipfile.

    zipfile stops at the size the member's header claims and so never notices a member
    that inflates further (a bomb that claims 13 bytes); here the extra bytes come out, and
    the BoundedReader around this refuses the member at the first one. The sha256 of what
    comes out is checked by the store, so zip's CRC adds nothing and is not computed.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer).cast("B")
        while not self._inflate.eof:
            data = self._inflate.unconsumed_tail or self._raw.read(_COPY)
            if not data:
                return 0  # truncated stream: the hash check names it
            out = self._inflate.decompress(data, len(view))
            if out:
                view[:len(out)] = out
                return len(out)
        return 0

    def read(self, size: int = -1) -> bytes:
        buffer = bytearray(size if size >= 0 else _COPY)
        return bytes(buffer[:self.readinto(buffer)])

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _Inflater:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_regular(path: Path) -> IO[bytes]:
    """The archive opened for reading, only if it is a regular file.

    Checked with stat before any open (opening a FIFO blocks until a writer comes, and
    ``/dev/zero`` never ends), and again on the descriptor, opened non-blocking, in case the
    name was swapped in between.
    """
    label = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ArchiveError("no such file", path=label) from None
    except OSError as exc:
        raise ArchiveError(f"cannot read: {exc.strerror or exc}", path=label) from None
    if not stat.S_ISREG(st.st_mode):
        raise ArchiveError(f"not a regular file ({_kind(st.st_mode)}); import reads an archive "
                           "file made by `folio export`", path=label)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ArchiveError(f"cannot read: {exc.strerror or exc}", path=label) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ArchiveError(f"not a regular file ({_kind(mode)})", path=label)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def import_archive(ws: Workspace, source: str | os.PathLike[str], tag: str | None = None
                   ) -> ArchiveResult:
    """Create snapshot ``tag`` (default: the archived tag) from an exported archive."""
    reader = _Reader(Path(source))
    try:
        return _import(ws, reader, tag)
    except _UNREADABLE as exc:
        raise ArchiveError(f"cannot read the archive ({_one_line(exc)}); nothing was imported",
                           path=reader.label) from None
    finally:
        reader.close()


def _import(ws: Workspace, reader: _Reader, tag: str | None) -> ArchiveResult:
    from folio.ops import roots, snapshots

    files: dict[str, _Member] = {}
    manifests: dict[str, _Member] = {}
    objects: dict[str, _Member] = {}
    for member in reader.members:
        if member.is_dir:
            if member.name not in ("manifests", "objects") and not \
                    member.name.startswith((MANIFESTS, OBJECTS)):
                raise reader.refuse(member.name, "not part of a folio archive")
            continue
        if member.name.startswith(MANIFESTS):
            manifests[member.name[len(MANIFESTS):]] = member
        elif member.name.startswith(OBJECTS):
            oid = member.name[len(OBJECTS):].replace("/", "", 1)
            if not (is_oid(oid) and member.name == f"{OBJECTS}{oid[:2]}/{oid[2:]}"):
                raise reader.refuse(member.name, "not an object name (objects/ab/<62 hex>)")
            objects[oid] = member
        elif member.name in (VERSION_FILE, META_FILE):
            files[member.name] = member
        else:
            raise reader.refuse(member.name, "not part of a folio archive")
    meta = _read_meta(reader, files)
    name = validate_ref_component(tag or meta["tag"], "tag")
    if ws.git.ref_target(SNAPSHOTS_PREFIX + name) is not None:
        raise TagExistsError(f"tag {name!r} already exists; tags are immutable (import with "
                             "--tag NEW, or delete it first with `folio tags --delete`)")
    tree = {rel: reader.read_small(m) for rel, m in manifests.items()}
    parsed = roots.tree_manifests(tree, f"{reader.label}:manifests/")
    from folio.revisions import parse_tree

    parse_tree(tree, f"{reader.label}:manifests/")  # targets inside .git/.folio, overlaps
    from folio.ops.checkout import check_manifest_links

    check_manifest_links(ws.root, parsed)  # links leading out of the repo, into .git
    needed = roots.manifest_oids(parsed)
    sizes = expected_sizes(parsed, f"{reader.label}:manifests/")
    extra = sorted(set(objects) - set(needed))
    if extra:
        raise reader.refuse(objects[extra[0]].name, "no manifest of the snapshot names it")
    for oid, member in objects.items():
        if member.size != sizes[oid]:
            raise reader.refuse(member.name, f"its header gives {member.size} bytes but the "
                                f"manifests give that object {sizes[oid]}")
    lacking = [o for o in needed if o not in objects and not ws.store.has(o)]
    if lacking:
        raise ArchiveError(f"the archive lacks {len(lacking)} object(s) its manifests name "
                           f"({summarize_paths([o[:12] for o in lacking])}); nothing was "
                           "imported", path=reader.label)
    total = 0
    for oid, member in sorted(objects.items(), key=lambda kv: _position(kv[1])):
        try:
            with reader.open(member) as f:
                bounded = BoundedReader(f, sizes[oid], f"archive entry {member.name}")
                ws.store.put_stream(bounded, oid, f"{reader.label}:{member.name}")
        except CorruptObjectError as exc:
            raise ArchiveError(f"corrupt archive entry {member.name} (its bytes hash to "
                               f"{(exc.got or '?')[:12]}); no tag was created",
                               path=reader.label) from None
        except OversizeError as exc:
            raise ArchiveError(f"{exc.message}; no tag was created", path=reader.label) from None
        total += member.size
    ws.store.sync()  # durable before the tag names them
    trailers = {k: v for k, v in meta["trailers"].items() if k not in (TRAILER_KIND, TRAILER_NAME)}
    trailers = {TRAILER_KIND: snapshots.KIND, TRAILER_NAME: name, **trailers}
    trailers[TRAILER_FILES] = str(sum(len(m.entries) for m in parsed))
    trailers[TRAILER_BYTES] = str(sum(m.total_bytes for m in parsed))
    with ws.lock.hold("folio import"):
        existing = snapshots.list_snapshots(ws.git)
        sha = ws.git.write_snapshot(tree, ref=SNAPSHOTS_PREFIX + name,
                                      message=meta["message"] or f"folio snapshot {name}",
                                      trailers=trailers,
                                      parent=existing[0].commit if existing else None)
    return ArchiveResult(name, reader.label, sum(len(m.entries) for m in parsed), len(objects),
                         total, sha)


def _position(member: _Member) -> int:
    """Read entries in archive order: seeking backwards in a .tar.gz decompresses again."""
    handle = member.handle
    return int(getattr(handle, "offset", 0) or getattr(handle, "header_offset", 0))


def _read_meta(reader: _Reader, files: dict[str, _Member]) -> dict[str, Any]:
    for required in (VERSION_FILE, META_FILE):
        if required not in files:
            raise ArchiveError(f"not a folio archive: {required} is missing", path=reader.label)
    version = _load_json(reader, files[VERSION_FILE])
    if version.get("format") != FORMAT or not isinstance(version.get("version"), int):
        raise ArchiveError(f"not a folio archive ({VERSION_FILE} does not say so)",
                           path=reader.label)
    if version["version"] != VERSION:
        raise ArchiveError(f"archive format version {version['version']} is not one this "
                           f"folio reads ({VERSION}); upgrade folio", path=reader.label)
    meta = _load_json(reader, files[META_FILE])
    trailers = meta.get("trailers", {})
    ok = (isinstance(meta.get("tag"), str) and isinstance(meta.get("message", ""), str)
          and isinstance(trailers, dict)
          and all(isinstance(k, str) and _TRAILER_KEY.fullmatch(k) and isinstance(v, str)
                  and "\n" not in v and "\r" not in v for k, v in trailers.items()))
    if not ok:
        raise ArchiveError(f"{META_FILE} is malformed (tag, message and one-line trailers "
                           "must be strings)", path=reader.label)
    meta.setdefault("message", "")
    meta["trailers"] = trailers
    return meta


def _load_json(reader: _Reader, member: _Member) -> dict[str, Any]:
    try:
        value = json.loads(reader.read_small(member))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ArchiveError(f"{member.name} is not valid JSON", path=reader.label) from None
    if not isinstance(value, dict):
        raise ArchiveError(f"{member.name} must hold a JSON object", path=reader.label)
    return value
