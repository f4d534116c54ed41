"""Reading any version without touching the working file (issue 14): `folio cat`, `folio ls
REV`, `folio show REV`, `Repo.open` and `Repo.read_bytes`. Real git, the real CLI in
subprocesses, a directory remote and moto's S3 for objects that are not local."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import git, run_folio, write

from folio.errors import CorruptObjectError, FolioError, MissingObjectError, PathError
from folio.repo import Repo

pytest_plugins = ["s3server"]

BINARY = bytes(range(256)) * 40 + b"\r\n\x00tail"  # every byte value, NUL and CR included


def cat(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`folio cat` with stdout as bytes (run_folio decodes text)."""
    return subprocess.run([sys.executable, "-m", "folio.cli", "cat", *args], cwd=cwd,
                          capture_output=True)


def one_line_error(proc: subprocess.CompletedProcess[bytes] | subprocess.CompletedProcess[str]
                   ) -> str:
    err = proc.stderr.decode() if isinstance(proc.stderr, bytes) else proc.stderr
    assert proc.returncode == 1, (proc.returncode, err)
    assert err.count("\n") == 1 and err.startswith("folio: error: "), err
    return err


@pytest.fixture
def versions(repo: Repo) -> Repo:
    """data/bin.dat and data/sub/a.csv in snapshot v1 and commit c1; then changed, re-added
    and committed as c2 (HEAD); the working file then edited without `folio add`."""
    root = repo.root
    write(root / "data/bin.dat", BINARY)
    write(root / "data/sub/a.csv", "a,b\n1,2\n")
    repo.add(["data"])
    repo.snapshot("v1", "first")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "c1")
    write(root / "data/bin.dat", b"second version")
    write(root / "data/sub/a.csv", "a,b\n3,4\n")
    repo.add(["data"])
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "c2")
    write(root / "data/bin.dat", b"edited, not added")
    return repo


def test_cat_writes_any_version_and_leaves_the_working_file(versions: Repo,
                                                           tmp_path: Path) -> None:
    root = versions.root
    before = (root / "data/bin.dat").stat()
    c1 = git(root, "rev-parse", "HEAD~1").stdout.strip()
    for spec in ("v1:data/bin.dat", "HEAD~1:data/bin.dat", f"{c1}:data/bin.dat",
                 f"{c1[:10]}:data/bin.dat", "main~1:data/bin.dat"):
        proc = cat(root, spec)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == BINARY, spec
    assert cat(root, "HEAD:data/bin.dat").stdout == b"second version"
    # no REV: the working manifests' version, not the edited file
    assert cat(root, "data/bin.dat").stdout == b"second version"
    assert cat(root, ":data/bin.dat").stdout == b"second version"
    after = (root / "data/bin.dat").stat()
    assert (root / "data/bin.dat").read_bytes() == b"edited, not added"
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    status = json.loads(run_folio(root, "status", "--json", check=True).stdout)
    assert status["targets"][0]["modified"] == ["bin.dat"]  # still the user's edit

    # -o FILE: the same bytes, nothing on stdout
    out = tmp_path / "out.dat"
    proc = cat(root, "v1:data/bin.dat", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == b"" and out.read_bytes() == BINARY

    # after the colon: repo-relative, or from the cwd with ./ ; without a colon: from the cwd
    sub = root / "data/sub"
    assert cat(sub, "v1:data/sub/a.csv").stdout == b"a,b\n1,2\n"
    assert cat(sub, "v1:./a.csv").stdout == b"a,b\n1,2\n"
    assert cat(sub, "v1:../bin.dat").stdout == BINARY
    assert cat(sub, "a.csv").stdout == b"a,b\n3,4\n"
    assert "no manifest of snapshot v1 names this path" in one_line_error(cat(sub, "v1:a.csv"))


def test_cat_of_a_run_and_of_an_empty_file(repo: Repo) -> None:
    root = repo.root
    write(root / "empty.txt", b"")
    repo.add(["empty.txt"])
    job = "open('out.txt', 'w').write('made by the job')"
    run_folio(root, "run", "--put", "out.txt", "--", sys.executable, "-c", job, check=True)
    run_id = json.loads(run_folio(root, "runs", "--json", check=True).stdout)[0]["id"]
    (root / "out.txt").unlink()
    assert cat(root, f"run:{run_id}:out.txt").stdout == b"made by the job"
    proc = cat(root, "empty.txt")
    assert proc.returncode == 0 and proc.stdout == b""
    unknown = one_line_error(cat(root, "run:nope:out.txt"))
    assert "no run 'nope'" in unknown


def test_cat_refuses_a_corrupt_object_and_leaves_no_partial_file(versions: Repo,
                                                                tmp_path: Path) -> None:
    root = versions.root
    [(_, entry)] = versions.ls(["data/bin.dat"], rev="v1")
    assert entry.sha256 is not None
    obj = versions.store.path(entry.sha256)
    obj.chmod(0o644)
    data = bytearray(obj.read_bytes())
    data[100] ^= 0xFF  # same size, one flipped byte
    obj.write_bytes(bytes(data))

    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "kept.dat"
    out.write_bytes(b"what was here before")
    proc = cat(root, "v1:data/bin.dat", "-o", str(out))
    err = one_line_error(proc)
    assert f"v1:data/bin.dat: object {entry.sha256[:12]} is corrupt" in err
    assert out.read_bytes() == b"what was here before"
    assert [p.name for p in outdir.iterdir()] == ["kept.dat"]  # no temp file left
    fresh = outdir / "new.dat"
    one_line_error(cat(root, "v1:data/bin.dat", "-o", str(fresh)))
    assert not fresh.exists()
    proc = cat(root, "v1:data/bin.dat")  # a small file is checked before its first byte
    one_line_error(proc)
    assert proc.stdout == b""

    obj.write_bytes(bytes(data[:50]))  # truncated: refused at open, by its size
    err = one_line_error(cat(root, "v1:data/bin.dat"))
    assert "is corrupt (it holds 50 bytes, the manifest says" in err
    with pytest.raises(CorruptObjectError, match=r"v1:data/bin\.dat"):
        versions.read_bytes("data/bin.dat", "v1")


def test_cat_says_one_line_for_what_it_cannot_read(repo: Repo) -> None:
    root = repo.root
    write(root / "models/big.bin", b"weights" * 100)
    run_folio(root, "add", "--no-copy", "models", check=True)
    write(root / "data/x.csv", "x\n")
    os.symlink("x.csv", root / "data/latest.csv")
    repo.add(["data"])
    repo.folio("exp").reference("raw", "s3://bucket/raw.parquet")
    repo.snapshot("v1")
    (root / "models/big.bin").unlink()  # its content lives nowhere now

    hash_only = one_line_error(cat(root, "v1:models/big.bin"))
    assert "v1:models/big.bin: was recorded by hash only" in hash_only
    link = one_line_error(cat(root, "v1:data/latest.csv"))
    assert "v1:data/latest.csv: is a symlink to 'x.csv'" in link
    missing = one_line_error(cat(root, "v1:data/nope.csv"))
    assert "v1:data/nope.csv: no manifest of snapshot v1 names this path" in missing
    directory = one_line_error(cat(root, "v1:data"))
    assert "v1:data: is a directory in snapshot v1" in directory
    assert "unknown revision 'nope'" in one_line_error(cat(root, "nope:data/x.csv"))
    assert "name a path after the colon" in one_line_error(cat(root, "v1:"))
    assert "outside the repository" in one_line_error(cat(root, "v1:../../etc/passwd"))
    assert "invalid path" in one_line_error(cat(root, "v1:data/../x"))
    usage = cat(root)
    assert usage.returncode == 2

    [ref] = [e for _, e in repo.ls(["exp"]) if e.uri is not None]
    proc = cat(root, f"v1:exp/{ref.path}")
    assert proc.returncode == 0
    assert b"s3://bucket/raw.parquet" in proc.stdout  # the reference file's own bytes
    note = proc.stderr.decode()
    assert note.count("\n") == 1 and "is a reference to s3://bucket/raw.parquet" in note


def test_ls_of_a_version(versions: Repo) -> None:
    root = versions.root
    listed = json.loads(run_folio(root, "ls", "v1", "--json", check=True).stdout)
    assert [(e["location"], e["size"]) for e in listed] == [("data/bin.dat", len(BINARY)),
                                                            ("data/sub/a.csv", 8)]
    assert listed[0]["target"] == "data" and listed[0]["path"] == "bin.dat"
    text = run_folio(root, "ls", "v1", "--", "data/sub", check=True).stdout.splitlines()
    assert len(text) == 1 and text[0].endswith("  data/sub/a.csv")
    assert run_folio(root, "ls", "v1", "data/sub", check=True).stdout.splitlines() == text
    head = json.loads(run_folio(root, "ls", "HEAD", "--json", check=True).stdout)
    assert head[0]["size"] == len(b"second version")
    # a path keeps today's meaning: the working manifests
    working = json.loads(run_folio(root, "ls", "data/bin.dat", "--json", check=True).stdout)
    assert [e["size"] for e in working] == [len(b"second version")]
    assert run_folio(root, "ls", "--", "data/sub", check=True).stdout.endswith(
        "data/sub/a.csv\n")
    # a path only the version has, after --
    (root / "data/sub/a.csv").unlink()
    versions.add(["data"])
    gone = run_folio(root, "ls", "v1", "--", "data/sub/a.csv", check=True).stdout
    assert gone.endswith("  data/sub/a.csv\n")
    assert [r[1].path for r in versions.ls(["data/sub"], rev="HEAD~1")] == ["sub/a.csv"]

    # a directory named like a tag is the path; `ls v1 --` is the version
    write(root / "v1/notes.txt", "not data")
    assert "is not tracked by folio" in one_line_error(run_folio(root, "ls", "v1"))
    assert json.loads(run_folio(root, "ls", "--json", "v1", "--", check=True).stdout) == listed

    err = one_line_error(run_folio(root, "ls", "v1", "--", "data/none"))
    assert "data/none: no entry of snapshot v1 is at or below this path" in err
    err = one_line_error(run_folio(root, "ls", "nope"))
    assert "unknown revision 'nope'" in err
    assert run_folio(root, "ls", "v1", "HEAD", "--", "data").returncode == 2


def test_show_takes_every_revision_form(versions: Repo) -> None:
    root = versions.root
    snap = json.loads(run_folio(root, "show", "v1", "--json", check=True).stdout)
    assert snap["kind"] == "snapshot" and snap["tag"] == "v1" and snap["files"] == 2
    assert snap["targets"] == [{"target": "data", "kind": "dir", "files": 2,
                                "bytes": len(BINARY) + 8, "hash_only": 0}]
    c2 = git(root, "rev-parse", "HEAD").stdout.strip()
    for rev in ("HEAD", c2, c2[:9]):
        shown = json.loads(run_folio(root, "show", rev, "--json", check=True).stdout)
        assert (shown["kind"], shown["commit"], shown["message"]) == ("commit", c2, "c2")
        assert shown["code_commit"] == c2
        assert shown["bytes"] == len(b"second version") + 8
    text = run_folio(root, "show", "HEAD~1", check=True).stdout
    assert text.startswith("commit ") and "(HEAD~1)" in text and "    c1" in text
    assert "  data  dir         2 files    10.0 KiB" in text
    working = json.loads(run_folio(root, "show", "--json", check=True).stdout)
    assert working["kind"] == "manifests" and working["commit"] is None
    assert run_folio(root, "show", check=True).stdout.startswith("the working manifests\n")

    job = "open('out.txt', 'w').write('x')"
    run_folio(root, "run", "--put", "out.txt", "--", sys.executable, "-c", job, check=True)
    run_id = json.loads(run_folio(root, "runs", "--json", check=True).stdout)[0]["id"]
    run = json.loads(run_folio(root, "show", f"run:{run_id}", "--json", check=True).stdout)
    assert run["kind"] == "run" and run["run"]["status"] == "ok"
    assert "out.txt" in [t["target"] for t in run["targets"]]
    text = run_folio(root, "show", f"run:{run_id}", check=True).stdout
    assert text.startswith(f"run {run_id}  (commit ") and "Status:  ok (exit 0)" in text

    assert "no snapshot tag 'nope'" in one_line_error(run_folio(root, "show", "nope"))
    snap_sha = snap["commit"]  # a snapshot commit named by its sha: its trailers still count
    by_sha = json.loads(run_folio(root, "show", snap_sha, "--json", check=True).stdout)
    assert (by_sha["kind"], by_sha["commit"], by_sha["files"]) == ("commit", snap_sha, 2)
    assert by_sha["code_commit"] == snap["code_commit"] != snap_sha
    assert versions.show("v1").snapshot is not None
    assert versions.show("HEAD").code_commit == c2


def test_open_is_seekable_and_verifies_what_it_reads(versions: Repo) -> None:
    repo = versions
    assert repo.read_bytes("data/bin.dat", "v1") == BINARY
    assert repo.read_bytes("data/bin.dat") == b"second version"
    assert repo.read_bytes(repo.root / "data/sub/a.csv", rev="HEAD~1") == b"a,b\n1,2\n"
    big = os.urandom(3 << 20)  # larger than the reader's buffer
    write(repo.root / "data/big.bin", big)
    repo.add(["data"])
    with repo.open("data/big.bin") as f:
        assert f.readable() and f.seekable() and not f.writable() and f.mode == "rb"
        assert f.read(10) == big[:10]
        f.seek(-4, os.SEEK_END)
        assert f.read() == big[-4:] and not f.verified  # skipped the middle: not checked
        f.seek(0)
        assert f.read() == big and f.verified  # everything read from 0: checked
    with repo.open("data/bin.dat", "v1") as f:
        f.seek(5000)
        assert f.read(3) == BINARY[5000:5003]
        f.verify()  # hashes the rest without moving
        assert f.verified and f.tell() == 5003

    [(_, entry)] = repo.ls(["data/bin.dat"], rev="v1")
    assert entry.sha256 is not None
    obj = repo.store.path(entry.sha256)
    obj.chmod(0o644)
    obj.write_bytes(b"X" + BINARY[1:])
    with repo.open("data/bin.dat", "v1") as f:
        f.seek(100)
        assert f.read(10) == BINARY[100:110]  # a partial read cannot know
        with pytest.raises(CorruptObjectError, match=r"v1:data/bin\.dat: object"):
            f.verify()
        with pytest.raises(CorruptObjectError):  # and every read after says so too
            f.read(1)
    with repo.open("data/bin.dat", "v1") as f, pytest.raises(CorruptObjectError):
        f.read()
    with pytest.raises(PathError, match="no manifest of snapshot v1 names this path"):
        repo.open("data/none", "v1")
    with pytest.raises(PathError, match="invalid path"):
        repo.open("../x", "v1")


def test_open_fetches_one_missing_object_from_the_directory_remote(versions: Repo,
                                                                 tmp_path: Path) -> None:
    repo = versions
    root = repo.root
    [(_, entry)] = repo.ls(["data/bin.dat"], rev="v1")
    assert entry.sha256 is not None
    repo.store.delete(entry.sha256)
    assert "nas" in one_line_error(cat(root, "--remote", "nas", "v1:data/bin.dat"))
    with pytest.raises(MissingObjectError, match="no remote to fetch it from"):
        repo.read_bytes("data/bin.dat", "v1")
    repo.store.put_bytes(BINARY)
    run_folio(root, "remote", "add", "nas", str(tmp_path / "nas"), check=True)
    run_folio(root, "push", "--all", check=True)
    for oid in list(repo.store.iter_oids()):
        repo.store.delete(oid)
    assert repo.read_bytes("data/bin.dat", "v1") == BINARY
    assert list(repo.store.iter_oids()) == [entry.sha256]  # that one object, no more
    assert cat(root, "v1:data/sub/a.csv").stdout == b"a,b\n1,2\n"
    assert len(list(repo.store.iter_oids())) == 2
    assert (root / "data/bin.dat").read_bytes() == b"edited, not added"

    shutil.rmtree(tmp_path / "nas")  # small objects travel packed: the remote is emptied
    (tmp_path / "nas").mkdir()
    repo.store.delete(entry.sha256)
    err = one_line_error(cat(root, "v1:data/bin.dat"))
    assert f"object {entry.sha256[:12]} is neither in the local store nor on remote nas" in err
    with pytest.raises(FolioError, match="'other'"):
        repo.open("data/bin.dat", "v1", remote="other")


def test_cat_in_a_fresh_clone_fetches_from_s3(s3, versions: Repo,  # type: ignore[no-untyped-def]
                                              tmp_path: Path) -> None:
    root = versions.root
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    run_folio(root, "remote", "add", "s3", s3.url(), "--endpoint", s3.endpoint,
              "--allow-http", check=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "remote")
    git(root, "push", "-q", "origin", "main")
    run_folio(root, "push", "--git", check=True)

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    run_folio(clone, "accept", check=True)
    assert "refs/folio/snapshots/v1" not in git(clone, "for-each-ref").stdout
    # v1 is not known here: its ref comes from origin first, as `folio pull v1` does
    mark = s3.requests.mark()
    proc = cat(clone, "v1:data/bin.dat")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == BINARY
    gets = [p for m, p in s3.requests.since(mark) if m == "GET"]
    assert gets  # it did go to S3 ...
    objects = list((clone / ".git/folio/objects").rglob("*"))
    assert len([p for p in objects if p.is_file()]) == 1  # ... for that one object
    assert not (clone / "data/bin.dat").exists()  # and checked nothing out
    clone_repo = Repo(clone)
    assert clone_repo.read_bytes("data/sub/a.csv", rev="HEAD") == b"a,b\n3,4\n"
