"""folio export / import: a snapshot in one file, and an import that trusts nothing in it."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from tests.conftest import run_folio, write

from folio.errors import MissingObjectError, TagExistsError
from folio.ops.archive import ArchiveError
from folio.repo import Repo

MIB = 1 << 20


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def source(repo: Repo) -> Repo:
    for i in range(25):
        write(repo.root / f"data/d{i % 3}/f{i}.bin", os.urandom(10 + 997 * i))
    write(repo.root / "data/big.bin", os.urandom(MIB + 3))
    write(repo.root / "data/empty.txt", b"")
    write(repo.root / "notes.md", "# notes\n")
    repo.add(["data", "notes.md"])
    repo.snapshot("v1", "the first data\n\nwith a body")
    write(repo.root / "data/d0/f0.bin", b"after the snapshot")
    repo.add(["data"])
    return repo


def v1_data(source: Repo) -> dict[str, bytes]:
    source.checkout("v1", force=True)  # the added f0.bin is not the point here
    out = tree(source.root / "data")
    out["../notes.md"] = (source.root / "notes.md").read_bytes()
    return out


@pytest.mark.parametrize("name", ["v1.tar", "v1.tar.gz", "v1.zip"])
def test_export_import_round_trip_gives_identical_data(source: Repo, fresh: Repo,
                                                        tmp_path: Path, name: str) -> None:
    dest = tmp_path / name
    out = run_folio(source.root, "export", "v1", str(dest), check=True).stdout
    assert "Exported snapshot v1" in out and "28 files" in out
    expected = v1_data(source)
    if name.endswith(".zip"):
        names = zipfile.ZipFile(dest).namelist()
    else:
        with tarfile.open(dest) as tf:
            names = tf.getnames()
    assert names[:3] == ["folio-archive.json", "snapshot.json", "manifests/data.folio"]
    assert sum(n.startswith("objects/") for n in names) == 28
    assert source.export("v1", tmp_path / ("again-" + name)).commit == source.show("v1").commit

    result = run_folio(fresh.root, "import", str(dest), check=True)
    assert "Imported snapshot v1" in result.stdout
    [info] = fresh.tags()
    assert info.message == "the first data\n\nwith a body" and info.files == 28
    original = source.show("v1")
    assert (info.code_commit, info.bytes) == (original.code_commit, original.bytes)
    fresh.checkout("v1")
    got = tree(fresh.root / "data")
    got["../notes.md"] = (fresh.root / "notes.md").read_bytes()
    assert got == expected
    assert fresh.verify().ok

    again = run_folio(fresh.root, "import", str(dest))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert again.stderr.count("\n") == 1
    assert fresh.import_archive(dest, tag="v1-copy").tag == "v1-copy"
    with pytest.raises(TagExistsError):
        fresh.import_archive(dest)


def test_export_needs_every_object_and_a_known_archive_type(source: Repo, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=r"\.tar, \.tar\.gz, \.tgz or \.zip"):
        source.export("v1", tmp_path / "v1.rar")
    oid = source.read_manifest("notes.md").entries["notes.md"].sha256
    source.store.delete(oid)  # type: ignore[arg-type]
    with pytest.raises(MissingObjectError, match="folio fetch v1"):
        source.export("v1", tmp_path / "v1.tar")
    assert not (tmp_path / "v1.tar").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


# -- hostile archives -----------------------------------------------------------------------
def _tar(path: Path, build) -> Path:  # type: ignore[no-untyped-def]
    with tarfile.open(path, "w") as tf:
        build(tf)
    return path


def _add(tf: tarfile.TarFile, name: str, data: bytes = b"x", **fields: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tf.addfile(info, io.BytesIO(data) if info.isreg() else None)


def _valid_start(tf: tarfile.TarFile) -> None:
    _add(tf, "folio-archive.json", json.dumps({"format": "folio-archive", "version": 1}).encode())
    _add(tf, "snapshot.json", json.dumps({"tag": "evil", "message": "", "trailers": {}}).encode())


HOSTILE = {
    "dotdot": (lambda tf: _add(tf, "../escaped.txt"), "escapes the archive"),
    "nested-dotdot": (lambda tf: _add(tf, "objects/../../escaped.txt"), "escapes the archive"),
    "absolute": (lambda tf: _add(tf, "/tmp/escaped.txt"), "absolute path"),
    "symlink": (lambda tf: _add(tf, "objects/ab", b"", type=tarfile.SYMTYPE, linkname="/etc"),
                "symbolic link"),
    "hardlink": (lambda tf: _add(tf, "manifests/x.folio", b"", type=tarfile.LNKTYPE,
                                 linkname="/etc/passwd"), "hard link"),
    "device": (lambda tf: _add(tf, "objects/dev", b"", type=tarfile.CHRTYPE), "device file"),
    "fifo": (lambda tf: _add(tf, "objects/fifo", b"", type=tarfile.FIFOTYPE),
             "not a regular file"),
    "stray": (lambda tf: _add(tf, "README"), "not part of a folio archive"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_import_refuses_entries_that_escape_or_are_not_plain_files(fresh: Repo, tmp_path: Path,
                                                                   case: str) -> None:
    build, message = HOSTILE[case]
    path = _tar(tmp_path / f"{case}.tar", lambda tf: (_valid_start(tf), build(tf)))
    proc = run_folio(fresh.root, "import", str(path))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "nothing was imported" in proc.stderr
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()
    assert fresh.tags() == [] and list(fresh.store.iter_oids()) == []


def test_import_refuses_a_zip_symlink_and_a_zip_escape(fresh: Repo, tmp_path: Path) -> None:
    for name, attr, message in (("objects/ab/link", 0o120777 << 16, "symbolic link"),
                                ("../../escaped.txt", 0o100644 << 16, "escapes the archive")):
        path = tmp_path / "evil.zip"
        with zipfile.ZipFile(path, "w") as zf:
            info = zipfile.ZipInfo(name)
            info.external_attr = attr
            zf.writestr(info, "/etc/passwd")
        with pytest.raises(ArchiveError, match=message):
            fresh.import_archive(path)
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_import_checks_every_hash_and_creates_no_tag_on_failure(source: Repo, fresh: Repo,
                                                                 tmp_path: Path) -> None:
    good = tmp_path / "v1.tar"
    source.export("v1", good)
    bad = tmp_path / "bad.tar"
    victim = None
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if victim is None and member.name.startswith("objects/") and member.size:
                data = bytes([data[0] ^ 1]) + data[1:]
                victim = member.name
            dst.addfile(member, io.BytesIO(data))
    proc = run_folio(fresh.root, "import", str(bad))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert victim is not None and victim in proc.stderr and "hash" in proc.stderr
    assert fresh.tags() == []
    assert fresh.verify().ok  # whatever was stored before the bad one is sound

    # an object the manifests do not name is refused as well
    extra = tmp_path / "extra.tar"
    with tarfile.open(good) as src, tarfile.open(extra, "w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member))
        _add(dst, "objects/" + "ab" + "/" + "c" * 62, b"unrelated")
    with pytest.raises(ArchiveError, match="no manifest of the snapshot names it"):
        fresh.import_archive(extra)


def test_import_refuses_what_is_not_a_folio_archive(fresh: Repo, tmp_path: Path) -> None:
    plain = _tar(tmp_path / "plain.tar", lambda tf: _add(tf, "manifests/x.folio", b"{}\n"))
    with pytest.raises(ArchiveError, match=r"folio-archive\.json is missing"):
        fresh.import_archive(plain)
    newer = _tar(tmp_path / "newer.tar", lambda tf: (
        _add(tf, "folio-archive.json", b'{"format": "folio-archive", "version": 9}'),
        _add(tf, "snapshot.json", b'{"tag": "t"}')))
    with pytest.raises(ArchiveError, match=r"version 9 .* upgrade folio"):
        fresh.import_archive(newer)
    garbage = write(tmp_path / "garbage.tar.gz", b"not an archive at all")
    with pytest.raises(ArchiveError, match="not a readable tar or zip"):
        fresh.import_archive(garbage)
