"""Reading one path of a version parses only the manifest files that can hold it.

`revisions.ManifestTree.locate` against the full parse (`parse_tree`, then the lookup the
working manifests use) on hypothesis-generated trees sharded small: the same entry, the
same "is a directory" / "no manifest names this path", the same refusals; and, by counting
the files it reads and by deleting an unrelated shard's blob from a real git repository,
that it reads only the target (and shard) that can hold the path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import git, write
from tests.shards import small_shards
from tests.test_shard_format import v1_files

from folio import manifest as mf
from folio import revisions
from folio.errors import FolioError, ManifestError, PathError, ShardMissingError
from folio.manifest import Entry, Manifest
from folio.paths import is_within
from folio.repo import Repo
from folio.revisions import ManifestTree, parse_tree

SHA = "ab" * 32
# segments that sort around "/" (0x2f): "a-b" < "a.b" < "a/..." < "a0" < "a_b" < "ab"
SEGMENTS = st.sampled_from(["a", "b", "a-b", "a.b", "a0", "a_b", "ab", "z"])
REL_PATHS = st.lists(SEGMENTS, min_size=1, max_size=3).map("/".join)


class Counting(Mapping[str, bytes]):
    """A tree of files that records which ones are read."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = files
        self.read: list[str] = []

    def __getitem__(self, key: str) -> bytes:
        self.read.append(key)
        return self.files[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def encode(manifests: list[Manifest], legacy: bool = False) -> dict[str, bytes]:
    """The manifests' files; ``legacy``: directory targets in format 1's sharded layout."""
    files: dict[str, bytes] = {}
    for m in manifests:
        files.update(v1_files(m) if legacy and m.kind == "dir" else mf.dump(m))
    return files


def dir_manifest(target: str, paths: list[str]) -> Manifest:
    return Manifest(target, "dir", {p: Entry(p, len(p), SHA) for p in paths})


@st.composite
def trees(draw: st.DrawFn) -> list[Manifest]:
    """Targets beside and below one another (never overlapping): `t`, `u/v` (directories,
    often sharded), `u/w.csv` (a file target beside `u/v`), `u/v.d` (a directory whose
    name sorts just after `u/v`'s), some possibly empty."""
    out = []
    for target, most in (("t", 40), ("u/v", 40), ("u/v.d", 12)):
        paths = draw(st.lists(REL_PATHS, max_size=most, unique=True))
        if paths or draw(st.booleans()):
            out.append(dir_manifest(target, paths))
    if draw(st.booleans()):
        out.append(Manifest("u/w.csv", "file", {"w.csv": Entry("w.csv", 3, SHA)}))
    return out


def queries(manifests: list[Manifest], files: Mapping[str, bytes], extra: list[str]
            ) -> set[str]:
    """Every location, every directory above one, each target, each shard's bounds (the
    paths at shard boundaries), their neighbours, and paths that are nowhere."""
    out = set(extra) | {"t", "u", "u/v", "u/v.d", "u/w.csv", "nope", "u/w.csv/x", "t/zz"}
    for m in manifests:
        for p in m.entries:
            loc = m.location(p)
            out.update({loc, loc + "x", loc + "/x", loc[:-1] or "t"})
            parts = loc.split("/")
            out.update("/".join(parts[:i]) for i in range(1, len(parts)))
        view = mf.ShardedManifest.read(files[mf.manifest_relpath(m.target)], "", None)
        for ref in view.refs if view is not None else ():
            for bound in (ref.last, ref.first):  # format 2 cuts after a path, 1 before one
                if bound is not None:
                    out.update({f"{m.target}/{bound}", f"{m.target}/{bound}0",
                                f"{m.target}/{bound}/a"})
    return {q for q in out if q and not q.endswith("/")}


def own_files(files: Mapping[str, bytes], target: str) -> set[str]:
    """A target's main file and its shards."""
    return {rel for rel in files
            if rel == mf.manifest_relpath(target)
            or rel.startswith(target + mf.SHARD_DIR_SUFFIX + "/")}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(), st.lists(REL_PATHS.map(lambda p: "t/" + p), max_size=5), st.booleans())
def test_locate_answers_as_the_full_parse_reading_only_what_can_hold_the_path(
        manifests: list[Manifest], extra: list[str], legacy: bool) -> None:
    with small_shards():
        files = encode(manifests, legacy)
    full = parse_tree(files, "v1:")
    for path in sorted(queries(manifests, files, extra)):
        counted = Counting(files)
        tree = ManifestTree(counted, "v1:")
        got = tree.locate(path)
        assert got == revisions.locate(full, path), path
        assert revisions.find_entry(ManifestTree(files, "v1:"), path) == \
            revisions.find_entry(full, path)
        holders = [t for t in full if path == t or path.startswith(t + "/")]
        below = [t for t in full if t.startswith(path + "/")]
        allowed = set().union(*(own_files(files, t) for t in holders + below))
        assert set(counted.read) <= allowed, (path, counted.read)
        if isinstance(got, Entry):  # found: its target's main file and one shard at most
            assert len(counted.read) <= 2, (path, counted.read)
            assert len(set(counted.read)) == len(counted.read)
        # `folio ls REV PATH`: the entries at or below it, from the same files
        counted = Counting(files)
        listed = ManifestTree(counted, "v1:").under([path])
        assert sorted((t, p) for t, m in listed.items() for p in m.entries) == sorted(
            (t, p) for t, m in full.items() for p in m.entries
            if is_within(m.location(p), path)), path
        assert set(counted.read) <= allowed, (path, counted.read)


def test_a_mapping_of_every_target_is_the_full_parse() -> None:
    """Iterated whole, a ManifestTree is what parse_tree returns (diff, ls, fsspec's table)."""
    with small_shards():
        files = encode([dir_manifest("t", [f"f{i:02}" for i in range(30)]),
                        Manifest("x.csv", "file", {"x.csv": Entry("x.csv", 1, SHA)})])
    tree = ManifestTree(files, "v1:")
    assert list(tree) == ["t", "x.csv"] and len(tree) == 2 and "t" in tree
    assert dict(tree.items()) == parse_tree(files, "v1:")
    assert len(tree["t"].entries) == 30


def test_refusals_are_those_of_the_full_parse_whatever_is_read() -> None:
    overlap = encode([dir_manifest("a", ["x"]), dir_manifest("a/b", ["y"]),
                      dir_manifest("c", ["z"])])
    with pytest.raises(ManifestError, match="targets 'a' and 'a/b' overlap") as full:
        parse_tree(overlap, "v1:")
    with pytest.raises(ManifestError) as lazy:
        ManifestTree(Counting(overlap), "v1:").locate("c/z")
    assert str(lazy.value) == str(full.value)
    reserved = encode([dir_manifest(".git/hooks", ["x"]), dir_manifest("c", ["z"])])
    with pytest.raises(ManifestError, match="lies inside a folio or git directory") as full:
        parse_tree(reserved, "v1:")
    with pytest.raises(ManifestError) as lazy:
        ManifestTree(reserved, "v1:").locate("c/z")
    assert str(lazy.value) == str(full.value)
    # the target read is checked as the full parse checks it: a wrong header names its file
    bad = {"c.folio": b'{"folio":1,"kind":"dir","target":"d"}\n'}
    with pytest.raises(ManifestError, match=re.escape("v1:c.folio:1: header names target 'd'")):
        ManifestTree(bad, "v1:").locate("c/z")


def sharded_snapshot(repo: Repo, files: dict[str, str], targets: list[str]) -> None:
    """Write ``files``, add ``targets`` and take snapshot v1, all sharded small."""
    for rel, text in files.items():
        write(repo.root / rel, text)
    with small_shards():
        repo.add(targets)
        repo.snapshot("v1")


def loose_object(root: Path, oid: str) -> Path:
    return root / ".git" / "objects" / oid[:2] / oid[2:]


def test_a_missing_unrelated_shard_blob_does_not_stop_reading_one_file(repo: Repo) -> None:
    """Delete one shard's blob from git's object database: the full parse of the snapshot
    fails on it, while `Repo.open`, `folio cat` and folio:// of a file elsewhere still read
    (their lookup never asks git for that blob); a file in that very shard says so."""
    root = repo.root
    sharded_snapshot(repo, {**{f"data/big/f{i:02}.txt": f"file {i}\n" for i in range(40)},
                            "data/small.txt": "small\n"}, ["data/big", "data/small.txt"])
    main = mf.ShardedManifest.read(
        (root / ".folio/manifests/data/big.folio").read_bytes(), "big", None)
    assert main is not None and len(main.refs) >= 3
    victim = mf.shard_relpath("data/big", main.refs[1].name)
    blob = git(root, "rev-parse", f"refs/folio/snapshots/v1:{victim}")
    oid = blob.stdout.strip()
    os.chmod(loose_object(root, oid), 0o644)
    loose_object(root, oid).unlink()

    with pytest.raises(ShardMissingError, match=f"v1:data/big.folio:3: shard {main.refs[1].name}"):
        parse_tree(repo.git.tree_files(repo.git.resolve_commit("refs/folio/snapshots/v1"), ""),
                   "v1:")  # the full parse
    names = sorted(f"f{i:02}.txt" for i in range(40))
    first = names[names.index(str(main.refs[1].last)) + 1]  # in shard 2, after the missing one
    assert repo.read_bytes(f"data/big/{first}", "v1") == \
        (root / f"data/big/{first}").read_bytes()
    assert repo.read_bytes("data/small.txt", "v1") == b"small\n"
    proc = subprocess.run([sys.executable, "-m", "folio.cli", "cat", f"v1:data/big/{first}"],
                          cwd=root, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (root / f"data/big/{first}").read_bytes()

    import fsspec

    fs = fsspec.filesystem("folio", repo=str(root))
    assert fs.info(f"v1/data/big/{first}")["size"] == len(proc.stdout)
    assert fs.cat_file(f"v1/data/big/{first}") == proc.stdout
    rows = repo.ls([str(root / f"data/big/{first}"), str(root / "data/small.txt")], rev="v1")
    assert [m.location(e.path) for m, e in rows] == [f"data/big/{first}", "data/small.txt"]
    inside = main.refs[1].last
    with pytest.raises(ShardMissingError, match=f"shard {main.refs[1].name} is missing"):
        repo.read_bytes(f"data/big/{inside}", "v1")  # the one shard that holds it
    with pytest.raises(PathError, match="is a directory in snapshot v1"):
        repo.read_bytes("data", "v1")
    with pytest.raises(PathError, match="no manifest of snapshot v1 names this path"):
        repo.read_bytes("data/nowhere.txt", "v1")
    small = git(root, "rev-parse", "refs/folio/snapshots/v1:data/small.txt.folio")
    loose_object(root, small.stdout.strip()).unlink()  # a main file's blob gone too
    with pytest.raises(ManifestError, match=re.escape(
            "v1:data/small.txt.folio: cannot be read: its blob is missing from git's objects")):
        repo.read_bytes("data/small.txt", "v1")


def test_only_the_needed_blobs_are_read_from_git(repo: Repo, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    """Through the real git tree of a snapshot: the target's main file and one shard."""
    from folio.git.repo import TreeFiles

    root = repo.root
    sharded_snapshot(repo, {**{f"data/big/f{i:02}.txt": f"{i}\n" for i in range(60)},
                            "data/other/x.txt": "x\n"}, ["data/big", "data/other"])
    read: list[str] = []
    original = TreeFiles.__getitem__

    def counting(self: TreeFiles, path: str) -> bytes:
        read.append(path)
        return original(self, path)

    monkeypatch.setattr(TreeFiles, "__getitem__", counting)
    assert repo.read_bytes("data/big/f17.txt", "v1") == b"17\n"
    assert read[0] == "data/big.folio" and len(read) == 2
    assert read[1].startswith("data/big.folio.d/")
    read.clear()
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "data")
    assert repo.read_bytes("data/other/x.txt", "HEAD") == b"x\n"
    assert read == ["data/other.folio"]
    read.clear()

    import fsspec

    fs = fsspec.filesystem("folio", repo=str(root), skip_instance_cache=True)
    assert fs.find("v1/data/other") == ["v1/data/other/x.txt"]  # a listing below a path
    assert read == ["data/other.folio"]
    read.clear()
    assert fs.info("v1/data/big/f17.txt")["size"] == 3
    assert len(read) == 2 and read[0] == "data/big.folio"
    read.clear()
    assert fs.isdir("v1/data/big") and not fs.exists("v1/data/big/f17.txt/x")
    shards = [r for r in read if r.startswith("data/big.folio.d/")]
    assert set(read) - set(shards) == {"data/big.folio"} and len(shards) <= 3
    listed = fs.ls("v1/data/big", detail=False)
    assert listed == [f"v1/data/big/f{i:02}.txt" for i in range(60)]
    assert fs.find("v1") == [*listed, "v1/data/other/x.txt"]


def test_cli_messages_of_a_sharded_snapshot_are_unchanged(repo: Repo) -> None:
    """`folio cat` of a directory, of a path inside a file's name, of a missing file: the
    one-line errors the full parse gave."""
    root = repo.root
    sharded_snapshot(repo, {f"data/big/d{i % 3}/f{i:02}.txt": f"{i}\n" for i in range(40)},
                     ["data/big"])
    cases = {
        "v1:data/big": "v1:data/big: is a directory in snapshot v1; `folio ls` lists it",
        "v1:data/big/d1": "v1:data/big/d1: is a directory in snapshot v1; `folio ls` lists it",
        "v1:data": "v1:data: is a directory in snapshot v1; `folio ls` lists it",
        "v1:data/big/d1/nope.txt": "v1:data/big/d1/nope.txt: no manifest of snapshot v1 "
                                   "names this path",
        "v1:data/big/d1/f01.txt/x": "v1:data/big/d1/f01.txt/x: no manifest of snapshot v1 "
                                    "names this path",
        "v1:other": "v1:other: no manifest of snapshot v1 names this path",
    }
    for spec, message in cases.items():
        proc = subprocess.run([sys.executable, "-m", "folio.cli", "cat", spec], cwd=root,
                              capture_output=True, text=True)
        assert proc.returncode == 1 and proc.stderr == f"folio: error: {message}\n", \
            (spec, proc.stderr)


@settings(max_examples=100, deadline=None)
@given(st.lists(REL_PATHS, min_size=1, max_size=30, unique=True), st.data())
def test_a_damaged_manifest_file_gives_the_answer_or_a_one_line_error(
        paths: list[str], data: st.DataObject) -> None:
    """One file of the tree truncated or with a byte changed: a lookup gives what the full
    parse gives when that still parses, and otherwise an answer or a FolioError of one line
    (never another exception): it checks what it reads as the full parse does."""
    with small_shards():
        files = encode([dir_manifest("t", paths)])
    victim = data.draw(st.sampled_from(sorted(files)))
    body = files[victim]
    cut = data.draw(st.integers(0, len(body) - 1))
    files[victim] = body[:cut] if data.draw(st.booleans()) else \
        body[:cut] + bytes([body[cut] ^ data.draw(st.integers(1, 255))]) + body[cut + 1:]
    try:
        full: dict[str, Manifest] | None = parse_tree(files, "v1:")
    except FolioError:
        full = None
    for path in ["t", "nope", *(f"t/{p}" for p in paths), *(f"t/{p}/x" for p in paths)]:
        try:
            got = ManifestTree(files, "v1:").locate(path)
        except FolioError as exc:
            assert full is None and "\n" not in str(exc), (path, str(exc))
            continue
        if full is not None:
            assert got == revisions.locate(full, path), path
