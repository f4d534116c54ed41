"""The three-way merge of manifest files (folio.mergeman) and git merges that use it.

Unit tests build manifests with folio's own encoder and merge their bytes; property tests
check the merge laws and, for sharded targets, that a file-by-file merge (what git does with
the driver) that comes out clean is exactly the encoding of both sides' changes; the git
tests merge real branches of a temporary repository with the driver installed by hand (and
without it), and read the result back with folio's parser.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tests.conftest import git, write
from tests.shards import small_shards

from folio import manifest as mf
from folio.errors import ManifestError
from folio.manifest import Entry, Manifest
from folio.mergeman import MergeResult, merge, run_driver

TARGET = "data"
MAIN = mf.manifest_relpath(TARGET)


def sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def entry(path: str, n: int = 1) -> Entry:
    return Entry(path, n, sha(n))


def dir_manifest(entries: dict[str, Entry], target: str = TARGET) -> Manifest:
    return Manifest(target, "dir", dict(entries))


def plain(entries: dict[str, Entry]) -> bytes:
    files = mf.dump(dir_manifest(entries))
    assert list(files) == [MAIN]
    return files[MAIN]


def parsed(data: bytes) -> dict[str, Entry]:
    return mf.parse(data, MAIN, None, TARGET).entries


def canonical(result: MergeResult) -> None:
    """A clean merge is the canonical encoding: parse then dump gives the same bytes."""
    assert result.clean, (result.conflicts, result.reason)
    assert mf.dump(mf.parse(result.data, MAIN, None, TARGET))[MAIN] == result.data


BASE = {p: entry(p, i) for i, p in enumerate(["a.csv", "b.csv", "c.csv", "d.csv"])}


def changed(entries: dict[str, Entry], **edits: int | None) -> dict[str, Entry]:
    """``entries`` with ``name=n`` (``a_csv=5``: a.csv now holds 5) or ``name=None``."""
    out = dict(entries)
    for key, n in edits.items():
        path = key.replace("_", ".")
        if n is None:
            out.pop(path, None)
        else:
            out[path] = entry(path, n)
    return dict(sorted(out.items()))


# -- plain manifests -----------------------------------------------------------------------------
def test_adjacent_changes_on_both_sides_merge_entry_by_entry() -> None:
    ours, theirs = changed(BASE, b_csv=10), changed(BASE, c_csv=20)
    result = merge(plain(BASE), plain(ours), plain(theirs), MAIN)
    canonical(result)
    assert parsed(result.data) == changed(BASE, b_csv=10, c_csv=20)


def test_a_change_on_one_side_takes_that_side() -> None:
    ours = changed(BASE, b_csv=10)
    assert merge(plain(BASE), plain(ours), plain(BASE), MAIN).data == plain(ours)
    assert merge(plain(BASE), plain(BASE), plain(ours), MAIN).data == plain(ours)


def test_the_same_change_on_both_sides_is_taken_once() -> None:
    ours = changed(BASE, b_csv=10, e_csv=3)
    theirs = changed(BASE, b_csv=10, d_csv=7, e_csv=3)
    result = merge(plain(BASE), plain(ours), plain(theirs), MAIN)
    canonical(result)
    assert parsed(result.data) == changed(BASE, b_csv=10, d_csv=7, e_csv=3)


def test_adds_and_deletes_on_either_side_merge() -> None:
    ours = changed(BASE, a_csv=None, aa_csv=1)
    theirs = changed(BASE, d_csv=None, e_csv=2)
    result = merge(plain(BASE), plain(ours), plain(theirs), MAIN)
    canonical(result)
    assert list(parsed(result.data)) == ["aa.csv", "b.csv", "c.csv", "e.csv"]


def test_different_changes_to_one_path_conflict_readably() -> None:
    ours, theirs = changed(BASE, b_csv=10, d_csv=4), changed(BASE, b_csv=11, a_csv=9)
    result = merge(plain(BASE), plain(ours), plain(theirs), MAIN)
    assert not result.clean and result.conflicts == ["b.csv"]
    text = result.data.decode()
    assert text.count("<<<<<<< ours\n") == 1 and text.count(">>>>>>> theirs\n") == 1
    # the other paths are merged around the conflict: a.csv from theirs, d.csv from ours
    assert mf.entry_line(entry("a.csv", 9)).decode() in text
    assert mf.entry_line(entry("d.csv", 4)).decode() in text
    with pytest.raises(ManifestError) as err:
        parsed(result.data)
    assert str(err.value).startswith(f"{MAIN}:")
    assert "has unresolved merge conflicts (1 path: b.csv)" in str(err.value)
    assert "git checkout --ours/--theirs" in str(err.value)


@pytest.mark.parametrize("ours, theirs", [
    (changed(BASE, b_csv=None), changed(BASE, b_csv=11)),  # deleted here, changed there
    (changed(BASE, e_csv=1), changed(BASE, e_csv=2)),  # added differently on both
])
def test_delete_against_change_and_different_adds_conflict(ours: dict[str, Entry],
                                                           theirs: dict[str, Entry]) -> None:
    result = merge(plain(BASE), plain(ours), plain(theirs), MAIN)
    assert len(result.conflicts) == 1
    with pytest.raises(ManifestError, match=r"unresolved merge conflicts \(1 path: "):
        parsed(result.data)


def test_added_on_both_sides_with_no_base_merges_the_union() -> None:
    ours, theirs = {"a": entry("a", 1), "b": entry("b", 2)}, {"a": entry("a", 1), "c": entry("c")}
    for base in (None, b""):  # git hands an empty file as the base of an add/add
        result = merge(base, plain(ours), plain(theirs), MAIN)
        canonical(result)
        assert list(parsed(result.data)) == ["a", "b", "c"]


def test_file_targets_merge_and_conflict_like_one_entry() -> None:
    def file_target(n: int) -> bytes:
        return mf.dump(Manifest("m.bin", "file", {"m.bin": entry("m.bin", n)}))["m.bin.folio"]

    assert merge(file_target(1), file_target(2), file_target(2), "m.bin.folio").data == \
        file_target(2)
    result = merge(file_target(1), file_target(2), file_target(3), "m.bin.folio")
    assert result.conflicts == ["m.bin"]
    with pytest.raises(ManifestError, match=r"\(1 path: m.bin\)") as err:
        mf.parse(result.data, "m.bin.folio", None, "m.bin")
    assert err.value.path == "m.bin.folio"


def test_a_file_that_is_not_a_manifest_is_a_whole_file_conflict() -> None:
    result = merge(plain(BASE), b"not json\n", plain(changed(BASE, a_csv=3)), MAIN)
    assert result.reason is not None and "not a manifest" in result.reason
    assert b"<<<<<<< ours\nnot json\n=======\n" in result.data


def test_git_own_conflict_markers_give_the_readable_error() -> None:
    """What git writes with no driver: a text conflict over adjacent lines."""
    lines = plain(BASE).splitlines(keepends=True)
    ours_b = mf.entry_line(entry("b.csv", 10))
    theirs_c = mf.entry_line(entry("c.csv", 20))
    text = b"".join([lines[0], lines[1], b"<<<<<<< HEAD\n", ours_b, lines[3], b"=======\n",
                     lines[2], theirs_c, b">>>>>>> other\n", lines[4]])
    with pytest.raises(ManifestError) as err:
        parsed(text)
    assert "has unresolved merge conflicts (2 paths: b.csv, c.csv)" in str(err.value)
    assert err.value.line == 3
    diff3 = text.replace(b"=======\n", b"||||||| base\n" + lines[2] + lines[3] + b"=======\n")
    with pytest.raises(ManifestError, match=r"\(2 paths: b.csv, c.csv\)"):
        parsed(diff3)


def test_run_driver_writes_over_ours_and_returns_the_status(tmp_path: Path) -> None:
    base, ours, theirs = (write(tmp_path / name, data) for name, data in [
        ("O", plain(BASE)), ("A", plain(changed(BASE, a_csv=5))),
        ("B", plain(changed(BASE, b_csv=6)))])
    assert run_driver(str(base), str(ours), str(theirs), MAIN) == 0
    assert ours.read_bytes() == plain(changed(BASE, a_csv=5, b_csv=6))
    write(theirs, plain(changed(BASE, a_csv=7)))
    assert run_driver(str(base), str(ours), str(theirs), MAIN) == 1
    assert b"<<<<<<< ours" in ours.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A", "B", "O"]  # no temp left


# -- sharded targets (small shards) ------------------------------------------------------------
def numbered(n: int) -> dict[str, Entry]:
    return {p: entry(p, i) for i, p in enumerate(f"f{i:03d}.bin" for i in range(n))}


def merge_files(base: dict[str, bytes], ours: dict[str, bytes], theirs: dict[str, bytes]
                ) -> dict[str, bytes] | None:
    """What git does file by file with the driver (no rename detection): None on a
    conflict (a driver conflict, or a file changed on one side and deleted on the other)."""
    out: dict[str, bytes] = {}
    for rel in sorted(base.keys() | ours.keys() | theirs.keys()):
        b, o, t = base.get(rel), ours.get(rel), theirs.get(rel)
        if o == t or t == b:
            res = o
        elif o == b:
            res = t
        elif o is None or t is None:
            return None
        else:
            merged = merge(b, o, t, rel)
            if not merged.clean:
                return None
            res = merged.data
        if res is not None:
            out[rel] = res
    return out


def shard_of(files: dict[str, bytes], path: str) -> str:
    """The shard file holding ``path``."""
    return next(rel for rel, data in files.items()
                if rel != MAIN and f'"path":"{path}"'.encode() in data)


def test_two_edits_in_one_shard_merge_and_the_main_file_is_untouched() -> None:
    with small_shards():
        base = numbered(60)
        files = mf.dump(dir_manifest(base))
        rel = next(rel for rel, data in files.items() if rel != MAIN and data.count(b"\n") >= 4)
        paths = [mf.parse(files[MAIN], MAIN, files.__getitem__).entries[p].path
                 for p in base if shard_of(files, p) == rel]
        ours = {**base, paths[0]: entry(paths[0], 100)}
        theirs = {**base, paths[1]: entry(paths[1], 200)}
        ours_files, theirs_files = mf.dump(dir_manifest(ours)), mf.dump(dir_manifest(theirs))
        assert ours_files[MAIN] == theirs_files[MAIN] == files[MAIN]
        assert [k for k in ours_files if ours_files[k] != files[k]] == [rel]
        result = merge(files[rel], ours_files[rel], theirs_files[rel], rel)
        assert result.clean
        assert result.data == mf.dump(dir_manifest({**ours, paths[1]: theirs[paths[1]]}))[rel]


def test_a_shard_merge_that_outgrows_its_chunk_conflicts() -> None:
    with small_shards(mask=1 << 20):  # no boundaries: every chunk is cut at the cap of 6
        base = numbered(20)
        del base["f004.bin"], base["f003.bin"]  # the first chunk now runs f000..f007
        files = mf.dump(dir_manifest(base))
        rel = shard_of(files, "f000.bin")
        ours_files = mf.dump(dir_manifest({**base, "f003.bin": entry("f003.bin")}))
        assert rel not in ours_files  # a cap cut moved: a sharded side renames the shard
        # so git hands the driver two edits of that one file only through rename detection
        result = merge(files[rel], _reheader(files[rel], "f003.bin"),
                       _reheader(files[rel], "f004.bin"), rel)
        assert not result.clean and result.reason is not None
        assert "re-sharded" in result.reason


def _reheader(shard: bytes, extra: str) -> bytes:
    """A shard file with one more entry and its header's counts fixed (same range)."""
    header, entries = mf.read_shard_file(shard, "x")
    entries = {**entries, extra: entry(extra)}
    body = [entries[p] for p in sorted(entries)]
    fixed = mf.ShardHeader(header.name, header.target, header.after, header.last, len(body),
                           sum(e.size for e in body))
    return fixed.line() + b"".join(map(mf.entry_line, body))


def _cut_after(entries: dict[str, Entry], near: str) -> str:
    """A new path that sorts right after ``near`` and is a boundary (a cut)."""
    for k in range(10_000):
        path = f"{near}.{k}"
        if mf.zlib.crc32(path.encode()) & mf.SHARD_MASK == 0 and path not in entries:
            return path
    raise AssertionError("no boundary path found")


def test_sharded_main_files_merge_their_cut_lists_when_far_apart() -> None:
    with small_shards():
        base = numbered(80)
        early, late = _cut_after(base, "f010.bin"), _cut_after(base, "f070.bin")
        ours, theirs = {**base, early: entry(early)}, {**base, late: entry(late)}
        files = [mf.dump(dir_manifest(m)) for m in (base, ours, theirs)]
        assert len({f[MAIN] for f in files}) == 3  # both sides changed the shard list
        result = merge(files[0][MAIN], files[1][MAIN], files[2][MAIN], MAIN)
        expected = mf.dump(dir_manifest({**ours, late: theirs[late]}))
        assert result.clean and result.data == expected[MAIN]
        assert merge_files(*files) == expected


def test_sharded_main_files_that_cut_one_shard_differently_conflict() -> None:
    with small_shards(mask=7, cap=40):
        base = numbered(80)
        files = mf.dump(dir_manifest(base))
        rel = max((r for r in files if r != MAIN), key=lambda r: files[r].count(b"\n"))
        inside = [json_path(line) for line in files[rel].splitlines()[1:]]
        one, two = _cut_after(base, inside[0]), _cut_after(base, inside[-3])
        ours_files = mf.dump(dir_manifest({**base, one: entry(one)}))
        theirs_files = mf.dump(dir_manifest({**base, two: entry(two)}))
        result = merge(files[MAIN], ours_files[MAIN], theirs_files[MAIN], MAIN)
        assert not result.clean and result.conflicts == []
        assert result.reason is not None and "both branches changed where its shards split" \
            in result.reason
        with pytest.raises(ManifestError, match="has unresolved merge conflicts; pick a side"):
            mf.parse(result.data, MAIN, ours_files.__getitem__, TARGET)


def json_path(line: bytes) -> str:
    return str(json.loads(line)["path"])


# -- properties ----------------------------------------------------------------------------------
names = st.text("abcdef0123", min_size=1, max_size=4).map(lambda s: s + ".bin")
contents = st.integers(0, 50)


@st.composite
def edits(draw: st.DrawFn, base: dict[str, Entry], paths: list[str]) -> dict[str, Entry | None]:
    """Changes to ``paths`` (of ``base`` or new): modify, delete or add."""
    out: dict[str, Entry | None] = {}
    for path in paths:
        if path in base and draw(st.booleans()):
            out[path] = None
        else:
            out[path] = entry(path, draw(contents))
    return out


def applied(base: dict[str, Entry], changes: dict[str, Entry | None]) -> dict[str, Entry]:
    out = dict(base)
    for path, new in changes.items():
        if new is None:
            out.pop(path, None)
        else:
            out[path] = new
    return dict(sorted(out.items()))


@st.composite
def two_sides(draw: st.DrawFn, min_size: int, max_size: int
              ) -> tuple[dict[str, Entry], dict[str, Entry | None], dict[str, Entry | None]]:
    """A base and two edits of disjoint paths."""
    base_names = draw(st.lists(names, min_size=min_size, max_size=max_size, unique=True))
    base = {p: entry(p, draw(contents)) for p in sorted(base_names)}
    pick = (st.sampled_from(base_names) | names) if base_names else names
    touched = draw(st.lists(pick, max_size=12, unique=True))
    split = draw(st.integers(0, len(touched)))
    return (base, draw(edits(base, touched[:split])), draw(edits(base, touched[split:])))


@settings(max_examples=200, deadline=None)
@given(two_sides(0, 30))
def test_merge_laws_on_plain_manifests(case: tuple[dict[str, Entry], dict[str, Entry | None],
                                                   dict[str, Entry | None]]) -> None:
    base, mine, other = case
    ours, theirs = applied(base, mine), applied(base, other)
    b, x, y = plain(base), plain(ours), plain(theirs)
    assert merge(b, x, b, MAIN).data == x and merge(b, b, x, MAIN).data == x
    assert merge(b, x, x, MAIN).data == x
    result = merge(b, x, y, MAIN)
    canonical(result)  # disjoint edits never conflict
    assert parsed(result.data) == applied(base, {**mine, **other})
    assert merge(b, y, x, MAIN).data == result.data  # a clean merge does not depend on sides


@settings(max_examples=200, deadline=None)
@given(two_sides(10, 60))
def test_a_clean_file_by_file_merge_of_a_sharded_target_is_both_sides_encoded(
        case: tuple[dict[str, Entry], dict[str, Entry | None], dict[str, Entry | None]]) -> None:
    """Merging each changed file as git does (no rename detection): when it is clean, the
    result is byte for byte the encoding of base + both sides' changes."""
    with small_shards():
        base, mine, other = case
        ours, theirs = applied(base, mine), applied(base, other)
        expected = applied(base, {**mine, **other})
        # all sharded: a merge that crosses the threshold is readable but not canonical
        assume(min(len(base), len(ours), len(theirs), len(expected)) > mf.SHARD_THRESHOLD)
        files = [mf.dump(dir_manifest(m)) for m in (base, ours, theirs)]
        for side in files[1:]:
            assert merge(files[0][MAIN], side[MAIN], files[0][MAIN], MAIN).data == side[MAIN]
        out = merge_files(*files)
        if out is not None:
            assert out == mf.dump(dir_manifest(expected))
            assert mf.parse(out[MAIN], MAIN, out.__getitem__, TARGET).entries == expected


# -- real git merges ---------------------------------------------------------------------------
DRIVER = (f"{shlex.quote(sys.executable)} -c 'import sys; from folio.mergeman import run_driver; "
          "sys.exit(run_driver(*sys.argv[1:5]))' %O %A %B %P")


def setup_repo(root: Path, driver: bool) -> None:
    git(root, "config", "commit.gpgsign", "false")
    if driver:
        git(root, "config", "merge.folio.name", "folio")
        git(root, "config", "merge.folio.driver", DRIVER)
        write(root / ".gitattributes", "*.folio merge=folio\n")


def record(root: Path, manifest: Manifest) -> None:
    """Write a target's manifest files into the work tree as folio does (stale shards go)."""
    base = root / ".folio" / "manifests"
    files = mf.dump(manifest)
    shard_dir = base / (manifest.target + mf.SHARD_DIR_SUFFIX)
    if shard_dir.is_dir():
        for old in shard_dir.iterdir():
            if f"{manifest.target}{mf.SHARD_DIR_SUFFIX}/{old.name}" not in files:
                old.unlink()
    for rel, data in files.items():
        write(base / rel, data)


def load(root: Path, target: str = TARGET) -> Manifest:
    base = root / ".folio" / "manifests"
    main = base / mf.manifest_relpath(target)
    return mf.parse(main.read_bytes(), str(main), lambda rel: (base / rel).read_bytes(), target)


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def branches(root: Path, base: Manifest, ours: Manifest, theirs: Manifest) -> None:
    """main: base then ours; other (from base): theirs; main checked out."""
    record(root, base)
    commit(root, "base")
    git(root, "checkout", "-q", "-b", "other")
    record(root, theirs)
    commit(root, "theirs")
    git(root, "checkout", "-q", "main")
    record(root, ours)
    commit(root, "ours")


def test_git_merges_adjacent_lines_of_a_plain_manifest(git_repo: Path) -> None:
    setup_repo(git_repo, driver=True)
    ours, theirs = changed(BASE, b_csv=10), changed(BASE, c_csv=20)
    branches(git_repo, dir_manifest(BASE), dir_manifest(ours), dir_manifest(theirs))
    done = git(git_repo, "merge", "-q", "--no-edit", "other", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert load(git_repo).entries == changed(BASE, b_csv=10, c_csv=20)
    assert (git_repo / ".folio/manifests" / MAIN).read_bytes() == plain(load(git_repo).entries)


def test_without_the_driver_git_conflicts_and_folio_says_so_readably(git_repo: Path) -> None:
    setup_repo(git_repo, driver=False)
    ours, theirs = changed(BASE, b_csv=10), changed(BASE, c_csv=20)
    branches(git_repo, dir_manifest(BASE), dir_manifest(ours), dir_manifest(theirs))
    done = git(git_repo, "merge", "-q", "--no-edit", "other", check=False)
    assert done.returncode != 0 and "CONFLICT" in done.stdout
    with pytest.raises(ManifestError) as err:
        load(git_repo)
    message = str(err.value)
    assert message.startswith(str(git_repo / ".folio/manifests" / MAIN) + ":")
    assert "has unresolved merge conflicts (2 paths: b.csv, c.csv)" in message
    assert "not a JSON line" not in message


def test_git_reports_a_path_changed_differently_and_folio_names_it(git_repo: Path) -> None:
    setup_repo(git_repo, driver=True)
    ours, theirs = changed(BASE, b_csv=10, a_csv=3), changed(BASE, b_csv=11, d_csv=9)
    branches(git_repo, dir_manifest(BASE), dir_manifest(ours), dir_manifest(theirs))
    done = git(git_repo, "merge", "-q", "--no-edit", "other", check=False)
    assert done.returncode != 0
    assert f"CONFLICT (content): Merge conflict in .folio/manifests/{MAIN}" in done.stdout
    assert "1 path changed differently on both branches: b.csv" in done.stderr
    unmerged = git(git_repo, "ls-files", "-u").stdout
    assert f".folio/manifests/{MAIN}" in unmerged
    with pytest.raises(ManifestError, match=r"has unresolved merge conflicts \(1 path: b.csv\)"):
        load(git_repo)
    # picking a side is a manifest folio reads again
    git(git_repo, "checkout", "--theirs", f".folio/manifests/{MAIN}")
    assert load(git_repo).entries == changed(BASE, b_csv=11, d_csv=9)


def big(n: int = 3000) -> dict[str, Entry]:
    return {p: entry(p, i) for i, p in enumerate(f"d{i // 100:02d}/f{i:05d}.csv"
                                                   for i in range(n))}


def test_git_merges_two_edits_in_one_shard_of_a_sharded_target(git_repo: Path) -> None:
    setup_repo(git_repo, driver=True)
    base = big()
    files = mf.dump(dir_manifest(base))
    assert len(files) >= 3  # sharded, with real constants
    rel = next(r for r in files if r != MAIN)
    in_shard = [p for p in base if f'"path":"{p}"'.encode() in files[rel]]
    one, two = in_shard[5], in_shard[6]  # adjacent lines of one shard
    ours, theirs = {**base, one: entry(one, 10**6)}, {**base, two: entry(two, 10**7)}
    branches(git_repo, dir_manifest(base), dir_manifest(ours), dir_manifest(theirs))
    done = git(git_repo, "merge", "--no-edit", "other", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rename" not in (done.stdout + done.stderr).lower()
    merged = load(git_repo)
    assert merged.entries[one] == ours[one] and merged.entries[two] == theirs[two]
    assert merged.entries == {**ours, two: theirs[two]}
    # and the files are the canonical encoding: a later add rewrites nothing
    on_disk = {str(p.relative_to(git_repo / ".folio/manifests")): p.read_bytes()
               for p in (git_repo / ".folio/manifests").rglob("*.folio")}
    assert on_disk == mf.dump(merged)


def test_git_merges_a_resharding_branch_with_an_edit_elsewhere(git_repo: Path) -> None:
    setup_repo(git_repo, driver=True)
    base = big()
    with_cut = _cut_after(base, "d05/f00510.csv")
    ours = {**base, with_cut: entry(with_cut)}  # a new boundary path: ours splits a shard
    theirs = {**base, "d25/f02550.csv": entry("d25/f02550.csv", 5)}
    assert mf.dump(dir_manifest(ours))[MAIN] != mf.dump(dir_manifest(base))[MAIN]
    branches(git_repo, dir_manifest(base), dir_manifest(ours), dir_manifest(theirs))
    done = git(git_repo, "merge", "--no-edit", "other", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert load(git_repo).entries == {**ours, "d25/f02550.csv": theirs["d25/f02550.csv"]}


def test_without_the_driver_two_edits_in_one_shard_conflict_readably(git_repo: Path) -> None:
    setup_repo(git_repo, driver=False)
    base = big()
    files = mf.dump(dir_manifest(base))
    rel = next(r for r in files if r != MAIN)
    in_shard = [p for p in base if f'"path":"{p}"'.encode() in files[rel]]
    one, two = in_shard[5], in_shard[40]  # far apart: only the header's counts collide
    ours, theirs = {**base, one: entry(one, 10**6)}, {**base, two: entry(two, 10**7)}
    branches(git_repo, dir_manifest(base), dir_manifest(ours), dir_manifest(theirs))
    done = git(git_repo, "merge", "--no-edit", "other", check=False)
    assert done.returncode != 0 and "CONFLICT (content)" in done.stdout
    with pytest.raises(ManifestError, match="has unresolved merge conflicts; pick a side"):
        load(git_repo)


def test_git_reports_two_branches_cutting_one_shard_differently(git_repo: Path) -> None:
    setup_repo(git_repo, driver=True)
    base = big()
    one, two = _cut_after(base, "d05/f00510.csv"), _cut_after(base, "d05/f00530.csv")
    ours, theirs = {**base, one: entry(one)}, {**base, two: entry(two)}
    files = [mf.dump(dir_manifest(m)) for m in (base, ours, theirs)]
    assert len({f[MAIN] for f in files}) == 3
    branches(git_repo, dir_manifest(base), dir_manifest(ours), dir_manifest(theirs))
    done = git(git_repo, "merge", "--no-edit", "other", check=False)
    assert done.returncode != 0
    assert "both branches changed where its shards split" in done.stderr
    with pytest.raises(ManifestError, match="has unresolved merge conflicts; pick a side"):
        load(git_repo)
