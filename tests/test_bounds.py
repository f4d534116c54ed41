"""Every input has a bound, and every name folio prints is escaped (issue 11, item 5).

Each test runs the real CLI on real files: archive bombs whose members inflate far past the
object their manifest names, endless inputs (a FIFO, /dev/zero), a remote object larger
than its entry, names and metadata carrying terminal escapes, .gitignore special characters.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio.remote.base import loose_key
from folio.remote.local import DirectoryBackend
from folio.repo import Repo

ESC = "\x1b"
HOSTILE_TEXT = f"evil{ESC}]0;pwned\x07{ESC}[2J\x9b31m"
TIMEOUT = 60


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("folio: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and ESC not in proc.stderr
    return proc.stderr


def files_below(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def folio_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "folio.cli", *args]


# -- archives -----------------------------------------------------------------------------------
@pytest.fixture
def exported(repo: Repo, tmp_path: Path) -> tuple[Repo, dict[str, bytes], str]:
    """A snapshot of one 13-byte file, exported; its members and the object's member name."""
    write(repo.root / "small.txt", b"thirteen byte")
    repo.add(["small.txt"])
    repo.snapshot("v1")
    dest = tmp_path / "v1.tar"
    repo.export("v1", dest)
    with tarfile.open(dest) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf.getmembers()  # type: ignore[union-attr]
                   if m.isfile()}
    [obj] = [n for n in members if n.startswith("objects/")]
    assert len(members[obj]) == 13
    return repo, members, obj


def import_watching_staging(repo: Repo, archive: Path) -> tuple[subprocess.CompletedProcess[str],
                                                                int]:
    """Run `folio import`; sample how many bytes it holds in staging and in the store."""
    peak = 0
    proc = subprocess.Popen(folio_cmd("import", str(archive)), cwd=repo.root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = threading.Event()
    out: list[str] = []

    def drain() -> None:
        out.extend(proc.communicate(timeout=TIMEOUT))
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    while not done.wait(0.002):
        staged = 0
        for place in (repo.store.staging, repo.store.root):
            for p in files_below(place):
                with contextlib.suppress(FileNotFoundError):
                    staged += p.stat().st_size
        peak = max(peak, staged)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out[0], out[1]), peak


def assert_nothing_kept(repo: Repo) -> None:
    assert files_below(repo.store.staging) == []
    assert files_below(repo.store.root) == []
    assert repo.tags() == []


class Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        memoryview(buffer)[:n] = bytes(n)
        self.left -= n
        return n


def test_tar_gz_bomb_is_refused_before_anything_is_staged(exported, fresh: Repo,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:
    _, members, obj = exported
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz", compresslevel=1) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = 256 << 20 if name == obj else len(data)
            tf.addfile(info, Zeros(info.size) if name == obj else io.BytesIO(data))
    assert bomb.stat().st_size < 2 << 20  # a small archive that inflates to 256 MiB
    proc, peak = import_watching_staging(fresh, bomb)
    err = one_line_error(proc)
    assert "header gives 268435456 bytes but the manifests give that object 13" in err
    assert peak <= 1 << 20
    assert_nothing_kept(fresh)


def _deflate_bomb(size_mib: int) -> bytes:
    """A raw deflate stream of ``size_mib`` MiB of zeros, about a thousandth of that long."""
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = z.compress(bytes(1 << 20)) + z.flush(zlib.Z_FULL_FLUSH)
    return block * size_mib + z.flush()


def _forge_zip(members: dict[str, bytes], obj: str, deflated: bytes, claimed: int) -> bytes:
    """A zip whose member ``obj`` holds ``deflated`` but whose headers claim ``claimed`` bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), deflated if name == obj else data)  # stored
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo(obj)
    local = info.header_offset
    assert data[local:local + 4] == b"PK\x03\x04"
    struct.pack_into("<H", data, local + 8, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", data, local + 22, claimed)
    central = data.index(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(obj)] != obj.encode():
        central = data.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<H", data, central + 10, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", data, central + 24, claimed)
    return bytes(data)


def test_zip_bomb_claiming_13_bytes_is_cut_off_at_the_14th(exported, fresh: Repo,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    _, members, obj = exported
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(_forge_zip(members, obj, _deflate_bomb(1024), claimed=13))
    assert bomb.stat().st_size < 2 << 20  # 1 MiB that inflates to 1 GiB
    with zipfile.ZipFile(bomb) as zf:
        assert zf.getinfo(obj).file_size == 13  # the member claims the object's size
    proc, peak = import_watching_staging(fresh, bomb)
    err = one_line_error(proc)
    assert f"archive entry {obj} is larger than the 13 bytes expected of it" in err
    assert peak <= 1 << 20
    assert_nothing_kept(fresh)


def test_zip_whose_header_admits_the_bomb_is_refused_unread(exported, fresh: Repo,  # type: ignore[no-untyped-def]
                                                            tmp_path: Path) -> None:
    _, members, obj = exported
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(_forge_zip(members, obj, _deflate_bomb(64), claimed=64 << 20))
    proc, peak = import_watching_staging(fresh, bomb)
    assert "header gives 67108864 bytes but the manifests give that object 13" in \
        one_line_error(proc)
    assert peak == 0
    assert_nothing_kept(fresh)


def test_the_honest_archive_still_imports(exported, fresh: Repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, members, _ = exported
    for name in ("v1.zip", "v1.tar.gz"):
        path = tmp_path / name
        if name.endswith(".zip"):
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for member, data in members.items():
                    zf.writestr(member, data)
        else:
            with tarfile.open(path, "w:gz") as tf:
                for member, data in members.items():
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
        run_folio(fresh.root, "import", "--tag", name.replace(".", "-"), str(path), check=True)
    assert fresh.verify().ok and len(fresh.tags()) == 2


def test_non_utf8_member_names_and_broken_archives_are_one_line(exported, fresh: Repo,  # type: ignore[no-untyped-def]
                                                                tmp_path: Path) -> None:
    _, members, _ = exported
    bad_tar = tmp_path / "bad.tar"
    with tarfile.open(bad_tar, "w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tf:
        for name, data in {**members, "manifests/\udcff\udcfe.folio": b"x"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    assert b"\xff\xfe.folio" in bad_tar.read_bytes()
    err = one_line_error(run_folio(fresh.root, "import", str(bad_tar)))
    assert "not valid UTF-8" in err and "\\udcff" in err

    bad_zip = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad_zip, "w") as zf:
        zf.writestr("manifests/AAAA.folio", b"x")
    raw = bad_zip.read_bytes().replace(b"AAAA", b"\xff\xfe\xfd\xfc")
    bad_zip.write_bytes(raw.replace(b"PK\x01\x02\x14\x00\x00\x00", b"PK\x01\x02\x14\x00\x00\x08"))
    one_line_error(run_folio(fresh.root, "import", str(bad_zip)))

    truncated = tmp_path / "cut.tar.gz"
    with tarfile.open(truncated, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    truncated.write_bytes(truncated.read_bytes()[:60])
    garbage = write(tmp_path / "garbage.zip", os.urandom(4096))
    escape_name = write(tmp_path / f"x{ESC}[31m.tar", b"not a tar")
    for path in (truncated, garbage, escape_name):
        one_line_error(run_folio(fresh.root, "import", str(path)))
    assert_nothing_kept(fresh)


def _fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return fifo


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory"])
def test_import_and_textconv_refuse_what_is_not_a_regular_file(fresh: Repo, tmp_path: Path,
                                                               kind: str) -> None:
    path = {"dev-zero": lambda: Path("/dev/zero"), "fifo": lambda: _fifo(tmp_path),
            "directory": lambda: tmp_path}[kind]()
    for command in ("import", "textconv"):
        start = time.monotonic()
        proc = subprocess.run(folio_cmd(command, str(path)), cwd=fresh.root, text=True,
                              capture_output=True, timeout=TIMEOUT)  # a hang fails here
        assert "not a regular file" in one_line_error(proc)
        assert time.monotonic() - start < TIMEOUT


def test_textconv_still_renders_a_manifest(exported) -> None:  # type: ignore[no-untyped-def]
    repo, _, _ = exported
    out = run_folio(repo.root, "textconv", ".folio/manifests/small.txt.folio", check=True).stdout
    assert out.startswith("# folio file target small.txt\nsmall.txt  13 B  ")


# -- remote objects -----------------------------------------------------------------------------
@pytest.fixture
def pushed(repo: Repo, tmp_path: Path) -> tuple[Repo, Path, str]:
    """A 2 MiB file pushed loose to a directory remote; the local copy of its object gone."""
    write(repo.root / "big.bin", os.urandom(2 << 20))
    repo.add(["big.bin"])
    repo.add_remote("nas", str(tmp_path / "nas"))
    run_folio(repo.root, "push", check=True)
    oid = repo.read_manifest("big.bin").entries["big.bin"].sha256
    assert oid is not None
    repo.store.delete(oid)
    (repo.root / "big.bin").unlink()
    return repo, tmp_path / "nas", oid


def _grow(path: Path, extra: int) -> None:
    os.chmod(path, 0o644)
    with open(path, "ab") as f:
        f.write(os.urandom(extra))


def test_pull_refuses_a_loose_object_larger_than_its_entry(pushed) -> None:  # type: ignore[no-untyped-def]
    repo, nas, oid = pushed
    _grow(nas / loose_key(oid), 8 << 20)
    err = one_line_error(run_folio(repo.root, "pull"))
    assert f"object {oid} on remote" in err
    assert f"is {10 << 20} bytes but its manifest entry says {2 << 20}" in err
    assert not repo.store.has(oid) and files_below(repo.store.staging) == []
    assert not (repo.root / "big.bin").exists()


class StaleListing(DirectoryBackend):
    """A directory remote whose listing is older than its files (as an eventually
    consistent store's can be): sizes are reported as they were at ``sizes``, and a
    read announces no size."""

    def __init__(self, root: Path, sizes: dict[str, int]) -> None:
        super().__init__(root)
        self.sizes = sizes

    def list(self, prefix: str = ""):  # type: ignore[no-untyped-def]
        for key, size in super().list(prefix):
            yield key, self.sizes.get(key, size)

    def open(self, key: str):  # type: ignore[no-untyped-def, override]
        """The body without its size (a response that announces none), so only the
        bounded read can notice that it runs long."""
        from folio.remote.base import ChunkReader

        f = super().open(key)
        return ChunkReader(iter(lambda: f.read(1 << 20), b""))


def test_a_longer_stream_than_expected_is_cut_off_and_not_kept(pushed) -> None:  # type: ignore[no-untyped-def]
    from folio.errors import OversizeError
    from folio.remote import pull

    repo, nas, oid = pushed
    key = loose_key(oid)
    backend = StaleListing(nas, {key: 2 << 20})
    _grow(nas / key, 64 << 20)
    with pytest.raises(OversizeError, match="larger than the 2097152 bytes expected"):
        pull(repo.store, backend, [oid], cache_dir=repo.local_dir / "cache",
             sizes={oid: 2 << 20})
    assert not repo.store.has(oid)
    assert files_below(repo.store.staging) == []


def test_a_remote_fifo_does_not_hang_a_pull(pushed) -> None:  # type: ignore[no-untyped-def]
    repo, nas, oid = pushed
    path = nas / loose_key(oid)
    os.chmod(path, 0o644)
    path.unlink()
    os.mkfifo(path)
    proc = subprocess.run(folio_cmd("pull"), cwd=repo.root, text=True, capture_output=True,
                          timeout=TIMEOUT)
    one_line_error(proc)
    assert not repo.store.has(oid)


# -- names with control characters --------------------------------------------------------------
@pytest.mark.parametrize("char", ["\n", ESC, "\x7f"])
def test_add_refuses_a_target_with_a_control_character(repo: Repo, char: str) -> None:
    name = f"bad{char}[31mname.txt"
    write(repo.root / name, b"x")
    err = one_line_error(run_folio(repo.root, "add", name))
    assert "control character" in err and repr(char).strip("'") in err
    assert not list((repo.root / ".folio/manifests").glob("bad*"))


@pytest.mark.parametrize("char", ["\n", ESC, "\x9b"])
def test_add_of_a_directory_fails_naming_the_file_with_a_control_character(repo: Repo,
                                                                           char: str) -> None:
    write(repo.root / "data/ok.csv", b"a\n")
    write(repo.root / f"data/sub/bad{char}name.csv", b"b\n")
    err = one_line_error(run_folio(repo.root, "add", "data"))
    assert "data: invalid file name 'sub/bad" in err and "rename it to track it" in err
    assert not (repo.root / ".folio/manifests/data.folio").exists()


def test_a_tag_with_a_c1_control_character_is_refused(repo: Repo) -> None:
    write(repo.root / "a.txt", b"a")
    repo.add(["a.txt"])
    assert "control character" in one_line_error(run_folio(repo.root, "snapshot", "v\x9b1"))


def test_a_committed_manifest_naming_a_control_character_is_refused_with_file_and_line(
        repo: Repo) -> None:
    write(repo.root / "d/a.txt", b"a")
    repo.add(["d"])
    manifest = repo.root / ".folio/manifests/d.folio"
    lines = manifest.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["path"] = f"x{ESC}[2J\n!.env"
    manifest.write_text("\n".join([lines[0], json.dumps(entry)]) + "\n")
    for args in (("status",), ("checkout",), ("ls",)):
        err = one_line_error(run_folio(repo.root, *args))
        assert ".folio/manifests/d.folio:2: invalid entry path" in err, args
    assert "!.env" not in (repo.root / ".gitignore").read_text()


# -- output escaping ----------------------------------------------------------------------------
@pytest.fixture
def hostile_metadata(repo: Repo) -> Repo:
    """A bundle and a snapshot whose descriptions, values and message carry terminal escapes,
    committed, then its JSON item changed: what someone else's commit could bring."""
    f = repo.folio("exp")
    f.add_json("params", {"lr": HOSTILE_TEXT}, description=HOSTILE_TEXT)
    f.metadata["note"] = HOSTILE_TEXT
    run_folio(repo.root, "snapshot", "v1", "-m", HOSTILE_TEXT, check=True)
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "data")
    f.add_json("params", {"lr": HOSTILE_TEXT + "2"}, description=HOSTILE_TEXT, overwrite=True)
    return repo


@pytest.mark.parametrize("args", [("ls",), ("describe", "exp"), ("diff",), ("diff", "v1"),
                                  ("log",), ("tags",), ("show", "v1"), ("status",)])
def test_text_output_carries_no_raw_control_character(hostile_metadata: Repo,
                                                      args: tuple[str, ...]) -> None:
    proc = run_folio(hostile_metadata.root, *args)
    assert proc.returncode == 0, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert not any((c < " " and c not in "\n\t") or "\x7f" <= c <= "\x9f" for c in stream), \
            (args, stream)
    if args[0] in ("describe", "log", "show"):  # (click drops CSI sequences on a pipe)
        assert "evil\\x1b]0;pwned\\x07" in proc.stdout and "\\x9b31m" in proc.stdout


@pytest.mark.parametrize("args", [("ls", "--json"), ("log", "--json"), ("diff", "--json")])
def test_json_output_stays_valid_and_exact(hostile_metadata: Repo, args: tuple[str, ...]) -> None:
    proc = run_folio(hostile_metadata.root, *args)
    assert proc.returncode == 0, proc.stderr
    assert not any((c < " " and c not in "\n") or "\x7f" <= c <= "\x9f" for c in proc.stdout)
    data = json.loads(proc.stdout)
    if args[0] != "diff":  # (diff shows changed JSON values as JSON text)
        assert HOSTILE_TEXT in _strings(data), "the exact value survives"


def _strings(obj: object) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else []
    return [s for v in values for s in _strings(v)]


def test_textconv_of_a_hostile_manifest_is_escaped(hostile_metadata: Repo) -> None:
    manifest = hostile_metadata.root / ".folio/manifests/exp.folio"
    out = run_folio(hostile_metadata.root, "textconv", str(manifest), check=True).stdout
    assert ESC not in out and "\\u001b]0;pwned" in out and "\\x9b31m" in out


def test_folio_run_passes_its_jobs_own_output_through_untouched(repo: Repo) -> None:
    job = f"import sys; sys.stdout.write('colour {ESC}[31mred{ESC}[0m\\n')"
    proc = run_folio(repo.root, "run", "--", sys.executable, "-c", job)
    assert proc.returncode == 0, proc.stderr
    assert f"colour {ESC}[31mred{ESC}[0m\n" in proc.stdout


# -- .gitignore ---------------------------------------------------------------------------------
def test_gitignore_lines_match_exactly_the_tracked_names(repo: Repo) -> None:
    names = ["!important.txt", "#hash.txt", "star*.txt", "q?.txt", "[ab].txt", "trail ",
             "back\\slash.txt", "mid!dle#.txt"]
    decoys = ["important.txt", "hash.txt", "starX.txt", "qX.txt", "a.txt", "trail",
              "backslash.txt", "middle.txt"]
    for name in names + decoys:
        write(repo.root / name, b"x")
    for name in names:
        run_folio(repo.root, "add", name, check=True)
    for name in names + decoys:
        ignored = git(repo.root, "check-ignore", "-q", "--no-index", name, check=False)
        assert (ignored.returncode == 0) == (name in names), name
    run_folio(repo.root, "untrack", *names, check=True)
    assert git(repo.root, "check-ignore", "--no-index", *names, check=False).stdout == ""


def test_gitignore_escape_is_total() -> None:
    from folio.workspace import _gitignore_escape

    for name in ["x\n!.env", "cr\r", "nul\x00", "esc\x1b", "c1\x85"]:
        line = _gitignore_escape(name)
        assert "\n" not in line and "\r" not in line and "\x00" not in line
        assert line.count("?") == 1


def test_pull_refuses_a_pack_slot_longer_than_the_entry_before_fetching_it(
        repo: Repo, tmp_path: Path) -> None:
    import hashlib

    from folio.remote.base import idx_key, pack_key
    from folio.remote.packfile import PackEntry, PackIndex, encode_index

    write(repo.root / "small.txt", b"thirteen byte")
    repo.add(["small.txt"])
    repo.add_remote("nas", str(tmp_path / "nas"))
    run_folio(repo.root, "push", check=True)
    oid = repo.read_manifest("small.txt").entries["small.txt"].sha256
    assert oid is not None
    backend = DirectoryBackend(tmp_path / "nas")
    for key, _ in list(backend.list("packs")):
        backend.delete(key)
    pack = b"thirteen byte" + os.urandom(4 << 20)  # the index claims all of it for the object
    pack_id = hashlib.sha256(pack).hexdigest()
    index = PackIndex(pack_id, len(pack), [PackEntry(oid, 0, len(pack))])
    backend.put_bytes(pack_key(pack_id), pack)
    backend.put_bytes(idx_key(pack_id), encode_index(index))
    repo.store.delete(oid)
    err = one_line_error(run_folio(repo.root, "pull"))
    assert f"object {oid} on remote" in err and f"is {len(pack)} bytes" in err
    assert "manifest entry says 13" in err
    assert not repo.store.has(oid)


@pytest.mark.parametrize("name", ["a\nb", f"x{ESC}[2J", "c1\x9b", "del\x7f"])
def test_item_names_with_control_characters_are_refused(repo: Repo, name: str) -> None:
    from folio.errors import ItemNameError

    f = repo.folio("exp")
    with pytest.raises(ItemNameError, match="control character"):
        f.add_json(name, {"a": 1})
    assert name not in f


def test_usage_errors_are_escaped_too(repo: Repo) -> None:
    proc = run_folio(repo.root, "add", f"--x{ESC}]0;pwned\x07")
    assert proc.returncode == 2 and ESC not in proc.stderr and "\x07" not in proc.stderr
    assert "--x\\x1b]0;pwned\\x07" in proc.stderr
