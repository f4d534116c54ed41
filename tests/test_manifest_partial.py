"""Partial reads and updates of sharded manifests (manifest.ShardedManifest).

The reference is always the full codec: ``updated()`` must give exactly the bytes ``dump()``
gives for the updated manifest, ``entries_under()`` exactly what filtering ``parse()`` gives,
and a broken shard exactly the error ``parse()`` reports, while reading few shards.
Most tests shrink the sharding constants so that small manifests have many shards.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.shards import small_shards

from folio import manifest as mf
from folio.errors import FormatVersionError, ManifestError
from folio.manifest import Entry, Manifest, ShardedManifest

TARGET = "data/big"
MAIN = mf.manifest_relpath(TARGET)
SHA = "ab" * 32


class Reads:
    """``read_shard`` over a dict of files, counting what is read."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.paths: list[str] = []

    def __call__(self, relpath: str) -> bytes:
        self.paths.append(relpath)
        return self.files[relpath]


def manifest_of(entries: dict[str, Entry]) -> Manifest:
    return Manifest(TARGET, "dir", dict(entries))


def open_sharded(files: dict[str, bytes]) -> tuple[ShardedManifest, Reads]:
    reads = Reads(files)
    sm = ShardedManifest.read(files[MAIN], MAIN, reads, TARGET)
    assert sm is not None
    assert reads.paths == []  # the index alone
    return sm, reads


def apply(files: dict[str, bytes], out: dict[str, bytes]) -> dict[str, bytes]:
    """What a writer leaves on disk: old files minus stale shards, plus the new files."""
    assert MAIN in out
    new_sm = ShardedManifest.read(out[MAIN], MAIN, lambda rel: b"", TARGET)
    named = set(new_sm.shard_relpaths()) if new_sm is not None else set()
    # format 2 rewrites a shard in place (its name is its range): only changed bytes come back
    assert all(files.get(k) != v for k, v in out.items() if k != MAIN), "an unchanged shard"
    kept = {k: v for k, v in files.items() if k != MAIN and k in named}
    return {**kept, **out}


def shards_of(files: dict[str, bytes]) -> list[list[str]]:
    """The paths of each shard, in index order."""
    out = []
    for line in files[MAIN].splitlines()[1:]:
        name = json.loads(line)["shard"]
        body = files[mf.shard_relpath(TARGET, name)].splitlines()[1:]
        out.append([json.loads(b)["path"] for b in body])
    return out


# -- strategies --------------------------------------------------------------------------------
DIRS = ["a", "b", "data", "img", "raw", "x y", "é"]
dirs = st.lists(st.sampled_from(DIRS), max_size=3)
stems = st.text("abcdefgh0123456789_-", min_size=1, max_size=6)
paths = st.builds(lambda d, s, ext: "/".join([*d, s + ext]), dirs, stems,
                  st.sampled_from([".bin", ".csv", ".txt"]))
shas = st.text("0123456789abcdef", min_size=64, max_size=64)


@st.composite
def entries_for(draw: st.DrawFn, path: str) -> Entry:
    kind = draw(st.sampled_from(["plain", "plain", "plain", "link", "meta", "unstored"]))
    if kind == "link":
        return Entry(path, link="elsewhere/" + draw(stems))
    entry = Entry(path, draw(st.integers(0, 2**40)), draw(shas))
    if kind == "meta":
        entry.type, entry.meta = "json", {"rows": draw(st.integers(0, 99))}
    elif kind == "unstored":
        entry.stored = False
    return entry


@st.composite
def manifests(draw: st.DrawFn, min_size: int = 10, max_size: int = 120) -> dict[str, Entry]:
    names = draw(st.lists(paths, min_size=min_size, max_size=max_size, unique=True))
    return {p: draw(entries_for(p)) for p in sorted(names)}


@st.composite
def change_sets(draw: st.DrawFn, entries: dict[str, Entry],
                shards: list[list[str]]) -> dict[str, Entry | None]:
    existing = sorted(entries)
    changes: dict[str, Entry | None] = {}
    ops = draw(st.lists(st.sampled_from(["modify", "remove", "add", "remove-absent",
                                         "empty-shard", "grow-shard", "first", "last",
                                         "shrink"]), min_size=1, max_size=4))
    for op in ops:
        if op == "modify":
            for p in draw(st.lists(st.sampled_from(existing), max_size=3)):
                changes[p] = draw(entries_for(p))
        elif op == "remove":
            for p in draw(st.lists(st.sampled_from(existing), max_size=3)):
                changes[p] = None
        elif op == "add":
            for p in draw(st.lists(paths, max_size=4)):
                changes[p] = draw(entries_for(p))
        elif op == "remove-absent":
            changes["zz/not-there.bin"] = None
        elif op == "empty-shard":  # every entry of one shard goes
            for p in draw(st.sampled_from(shards)):
                changes[p] = None
        elif op == "grow-shard":  # many new paths inside one shard's range, beyond SHARD_MAX
            first = draw(st.sampled_from(shards))[0]
            for k in range(draw(st.integers(1, 20))):
                p = f"{first}.{k:02d}"  # sorts right after `first`, before its successor
                changes[p] = Entry(p, k, SHA)
        elif op in ("first", "last"):
            shard = shards[0] if op == "first" else shards[-1]
            p = draw(st.sampled_from(shard))
            changes[p] = draw(st.none() | entries_for(p))
            new = ("0" if op == "first" else "~") + draw(stems) + ".bin"  # before/after all
            changes[new] = Entry(new, 1, SHA)
        else:  # shrink below the threshold
            keep = draw(st.integers(0, mf.SHARD_THRESHOLD))
            for p in existing[keep:]:
                changes[p] = None
    return changes


def updated_entries(entries: dict[str, Entry],
                    changes: dict[str, Entry | None]) -> dict[str, Entry]:
    out = dict(entries)
    for p, e in changes.items():
        if e is None:
            out.pop(p, None)
        else:
            out[p] = e
    return out


# -- updated() ---------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_updated_gives_exactly_the_bytes_of_a_full_dump(data: st.DataObject) -> None:
    with small_shards():
        entries = data.draw(manifests())
        files = mf.dump(manifest_of(entries))
        shards = shards_of(files)
        assert len(shards) >= 2
        changes = data.draw(change_sets(entries, shards))
        sm, reads = open_sharded(files)

        out = sm.updated(changes)

        after = updated_entries(entries, changes)
        expected = mf.dump(manifest_of(after))
        assert apply(files, out) == expected
        result = apply(files, out)
        parsed = mf.parse(result[MAIN], MAIN, result.__getitem__, TARGET)
        assert parsed.entries == after
        assert len(reads.paths) == len(set(reads.paths))  # no shard read twice
        if len(after) > mf.SHARD_THRESHOLD:
            # partial path: every shard whose range (after the previous shard's last path, up
            # to its own) holds a changed path is read, and without removals any other shard
            # read directly follows a read one (realignment); nothing else. (A removal may
            # also read shard headers to count the result against the threshold.)
            lasts = [shard[-1] for shard in shards[:-1]]
            touched = {bisect.bisect_left(lasts, p) for p in changes}
            position = {mf.shard_relpath(TARGET, r.name): i for i, r in enumerate(sm.refs)}
            read = {position[rel] for rel in reads.paths}
            assert touched <= read
            if all(e is not None for e in changes.values()):
                assert all(i - 1 in read for i in read - touched), (sorted(touched), sorted(read))


def numbered(n: int, per_dir: int = 20) -> dict[str, Entry]:
    return {p: Entry(p, i, SHA) for i, p in
            enumerate(f"d{i // per_dir:02d}/f{i % per_dir:02d}.bin" for i in range(n))}


def test_one_entry_changes_read_few_shards_of_fifty() -> None:
    with small_shards():
        entries = numbered(260)
        files = mf.dump(manifest_of(entries))
        total = len(files) - 1
        assert total >= 50
        shards = shards_of(files)
        middle = shards[total // 2]
        cases: dict[str, dict[str, Entry | None]] = {
            "modify": {middle[0]: Entry(middle[0], 999, "cd" * 32)},
            "remove": {middle[-1]: None},
            # sorts just before the shard's last path: inside its range (format 2: ranges
            # end at a shard's last path)
            "add": {middle[-1][:-4] + ".bim": Entry(middle[-1][:-4] + ".bim", 1, SHA)},
        }
        for what, changes in cases.items():
            sm, reads = open_sharded(files)
            out = sm.updated(changes)
            assert apply(files, out) == mf.dump(manifest_of(updated_entries(entries, changes)))
            assert 1 <= len(reads.paths) <= 4, (what, reads.paths)
            assert reads.paths[0] == mf.shard_relpath(TARGET, json.loads(
                files[MAIN].splitlines()[1 + total // 2])["shard"])
            assert len(out) <= 1 + len(reads.paths) + 1, what  # main + the re-chunked shards
        # a modification keeps every cut: one shard read, one shard written
        sm, reads = open_sharded(files)
        out = sm.updated(cases["modify"])
        assert len(reads.paths) == 1 and len(out) == 2


def test_growing_one_shard_past_shard_max_splits_it_and_keeps_the_rest() -> None:
    with small_shards():
        entries = numbered(200)
        files = mf.dump(manifest_of(entries))
        shards = shards_of(files)
        first = shards[10][0]
        changes: dict[str, Entry | None] = {
            f"{first}.{k:02d}": Entry(f"{first}.{k:02d}", k, SHA) for k in range(30)}
        sm, reads = open_sharded(files)
        out = sm.updated(changes)
        result = apply(files, out)
        assert result == mf.dump(manifest_of(updated_entries(entries, changes)))
        new_shards = shards_of(result)
        assert len(new_shards) >= len(shards) + 30 // mf.SHARD_MAX - 1
        assert max(map(len, new_shards)) <= mf.SHARD_MAX
        assert len(reads.paths) < len(shards) // 4  # not a full read
        assert new_shards[:10] == shards[:10]


def test_shrinking_below_the_threshold_writes_an_unsharded_manifest() -> None:
    with small_shards():
        entries = numbered(40)
        files = mf.dump(manifest_of(entries))
        changes: dict[str, Entry | None] = {p: None for p in list(entries)[5:]}
        sm, reads = open_sharded(files)
        out = sm.updated(changes)
        assert list(out) == [MAIN]
        assert b'"sharded"' not in out[MAIN]
        assert out == mf.dump(manifest_of(updated_entries(entries, changes)))
        assert len(reads.paths) == len(files) - 1  # every shard, once


def test_real_constants_one_modification_rewrites_one_shard() -> None:
    entries = {p: Entry(p, 100, SHA) for p in
               (f"d{i // 1000:04d}/f{i % 1000:04d}.bin" for i in range(20_000))}
    files = mf.dump(manifest_of(entries))
    assert len(files) > 10
    path = "d0012/f0345.bin"
    changes: dict[str, Entry | None] = {path: Entry(path, 7, "cd" * 32)}
    sm, reads = open_sharded(files)
    assert sm.total_files == 20_000 and sm.total_bytes == 2_000_000  # from the shard headers
    sm, reads = open_sharded(files)
    out = sm.updated(changes)
    assert len(reads.paths) == 1 and len(out) == 2
    assert apply(files, out) == mf.dump(manifest_of(updated_entries(entries, changes)))


def test_a_change_whose_entry_has_another_path_is_refused() -> None:
    with small_shards():
        sm, _ = open_sharded(mf.dump(manifest_of(numbered(40))))
        with pytest.raises(ValueError, match="holds an entry for"):
            sm.updated({"d00/f01.bin": Entry("d00/f02.bin", 1, SHA)})


# -- entries_under() ---------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_entries_under_is_the_filtered_full_parse(data: st.DataObject) -> None:
    with small_shards():
        entries = data.draw(manifests())
        files = mf.dump(manifest_of(entries))
        known = sorted({p.rsplit("/", 1)[0] + "/" for p in entries if "/" in p})
        some = st.sampled_from(known) if known else st.nothing()
        prefixes = data.draw(st.lists(some | dirs.map(lambda d: "/".join(d) + "/"),
                                      min_size=1, max_size=3))
        sm, reads = open_sharded(files)

        found = sm.entries_under(prefixes)

        full = mf.parse(files[MAIN], MAIN, files.__getitem__, TARGET).entries
        expected = {p: e for p, e in full.items() if p.startswith(tuple(prefixes))}
        assert found == expected
        assert list(found) == sorted(found)
        # reads: every shard holding a match, plus at most one more per prefix (the shard
        # where the prefix's range starts), each once
        holding = {i for i, shard in enumerate(shards_of(files))
                   if any(p.startswith(tuple(prefixes)) for p in shard)}
        assert len(reads.paths) == len(set(reads.paths))
        assert len(holding) <= len(reads.paths) <= len(holding) + len(set(prefixes))


def test_a_prefix_inside_one_shard_reads_one_or_two_shards() -> None:
    with small_shards(mask=63, cap=64):
        entries = numbered(2000, per_dir=10)
        files = mf.dump(manifest_of(entries))
        total = len(files) - 1
        assert total >= 20
        shards = shards_of(files)
        inside_one = 0
        for d in sorted({p.split("/")[0] + "/" for p in entries}):
            sm, reads = open_sharded(files)
            found = sm.entries_under([d])
            assert list(found) == [p for p in sorted(entries) if p.startswith(d)]
            assert len(found) == 10
            holding = sum(any(p.startswith(d) for p in shard) for shard in shards)
            # the shards holding it, and perhaps the one before (it could hold "d57/a")
            assert holding <= len(reads.paths) <= holding + 1
            if holding == 1:
                inside_one += 1
                assert 1 <= len(reads.paths) <= 2
        assert inside_one > 100
        sm, reads = open_sharded(files)
        assert sm.entries_under(["nothing/"]) == {}
        assert len(reads.paths) <= 1
        sm, reads = open_sharded(files)
        assert len(sm.entries_under([""])) == 2000  # the empty prefix: everything
        assert len(reads.paths) == total


# -- ShardedManifest.read ----------------------------------------------------------------------
def test_read_returns_none_for_unsharded_and_file_manifests() -> None:
    small = mf.dump(manifest_of(numbered(5)))
    assert ShardedManifest.read(small[MAIN], MAIN, small.__getitem__, TARGET) is None
    file_target = Manifest("data/x.csv", "file", {"x.csv": Entry("x.csv", 1, SHA)})
    data = mf.dump(file_target)["data/x.csv.folio"]
    assert ShardedManifest.read(data, "data/x.csv.folio", lambda rel: b"") is None
    with small_shards():
        files = mf.dump(manifest_of(numbered(40)))
        sm = ShardedManifest.read(files[MAIN], MAIN, files.__getitem__, TARGET)
        assert sm is not None and sm.target == TARGET
        assert [mf.shard_relpath(TARGET, r.name) for r in sm.refs] == sm.shard_relpaths()
        assert set(sm.shard_relpaths()) == files.keys() - {MAIN}
        assert sm.total_files == 40 and sm.total_bytes == sum(range(40))
        assert sm.refs[0].last == shards_of(files)[0][-1]  # format 2: the index holds lasts
        assert sm.manifest() == mf.parse(files[MAIN], MAIN, files.__getitem__, TARGET)


def _sharded_main_lines() -> list[bytes]:
    with small_shards():
        files = mf.dump(manifest_of(numbered(40)))
    return files[MAIN].splitlines(keepends=True)


LINES = _sharded_main_lines()
BAD_MAINS = {
    "empty": b"",
    "truncated": b"".join(LINES)[:-3],
    "version": LINES[0].replace(b'"folio":2', b'"folio":3') + b"".join(LINES[1:]),
    "no header": b"[1]\n" + b"".join(LINES[1:]),
    "kind": LINES[0].replace(b'"dir"', b'"pipe"') + b"".join(LINES[1:]),
    "target": LINES[0].replace(b'"data/big"', b'"../big"') + b"".join(LINES[1:]),
    "other target": LINES[0].replace(b'"data/big"', b'"data/other"') + b"".join(LINES[1:]),
    "file sharded": LINES[0].replace(b'"dir"', b'"file"') + b"".join(LINES[1:]),
    "bad name": b"".join(LINES[:3]) + b'{"shard":"../../etc","first":"z","files":1,"bytes":1}\n',
    "no files": b"".join(LINES[:3]) + b'{"shard":"0123456789abcdef","first":"z","bytes":1}\n',
    "not json": b"".join(LINES[:3]) + b'{"shard":\n' + b"".join(LINES[3:]),
    "not object": b"".join(LINES[:3]) + b'"x"\n' + b"".join(LINES[3:]),
}


@pytest.mark.parametrize("case", sorted(BAD_MAINS))
def test_read_refuses_a_bad_main_file_as_parse_does(case: str) -> None:
    with small_shards():
        files = mf.dump(manifest_of(numbered(40)))
        data = BAD_MAINS[case]
        with pytest.raises(ManifestError) as parsed:
            mf.parse(data, MAIN, files.__getitem__, TARGET)
        with pytest.raises(ManifestError) as read:
            ShardedManifest.read(data, MAIN, files.__getitem__, TARGET)
        assert type(read.value) is type(parsed.value)
        assert str(read.value) == str(parsed.value)
        assert read.value.path == MAIN and read.value.line is not None
        if case == "version":
            assert isinstance(read.value, FormatVersionError)


def _after_last_cut(last: object) -> bytes:
    """An index line following LINES[:-1] (whose final line has a `last`), named right."""
    after = json.loads(LINES[-2])["last"]
    name = mf.range_name(after, last if isinstance(last, str) else None)
    return json.dumps({"shard": name, "last": last}, separators=(",", ":")).encode() + b"\n"


@pytest.mark.parametrize("lines, line, message", [
    (LINES, b'{"shard":"0123456789abcdef"}\n', "invalid shard reference"),  # after the open end
    (LINES[:-1], _after_last_cut(7), "invalid shard reference"),
    (LINES[:-1], _after_last_cut("a"), "out of order at 'a'"),
    (LINES[:-1], b'{"shard":"0123456789abcdef"}\n', "is not named after its range"),
    (LINES[:-1], b'{"last":"zz"}\n', "invalid shard reference"),
])
def test_read_needs_ordered_lasts_and_range_names(lines: list[bytes], line: bytes,
                                                  message: str) -> None:
    """The partial readers trust `last` for the shards they skip, and a name must be its
    range's, so that a shard rewritten in place always fits the main file naming it."""
    assert b'"last"' in LINES[-2]
    data = b"".join(lines) + line
    with pytest.raises(ManifestError, match=message) as err:
        ShardedManifest.read(data, MAIN, lambda rel: b"", TARGET)
    assert err.value.path == MAIN and err.value.line == len(lines) + 1


# -- broken shards -----------------------------------------------------------------------------
def _break(files: dict[str, bytes], rel: str, how: str) -> None:
    data = files[rel]
    if how == "truncated":
        files[rel] = data[:-5]
    elif how == "other header":
        header, rest = data.split(b"\n", 1)
        name = json.loads(header)["shard"]
        files[rel] = header.replace(name.encode(), b"0" * 16) + b"\n" + rest
    elif how == "count":
        files[rel] = b"".join(data.splitlines(keepends=True)[:-1])
    elif how == "missing":
        del files[rel]
    elif how == "below":  # a well-formed shard, but its first path is below its range
        lines = data.splitlines(keepends=True)
        after = json.loads(lines[0])["after"]
        first = json.loads(lines[1])
        first["path"] = after
        files[rel] = lines[0] + json.dumps(first, separators=(",", ":")).encode() + b"\n" + \
            b"".join(lines[2:])


WHERE = {  # how parse() locates each problem: (names the shard file?, line)
    "truncated": (True, "last"), "other header": (True, 1), "count": (True, None),
    "missing": (False, "index"),
}


@pytest.mark.parametrize("how", sorted(WHERE))
@pytest.mark.parametrize("via", ["entries_under", "updated"])
def test_a_broken_shard_is_reported_as_parse_reports_it(how: str, via: str) -> None:
    with small_shards():
        entries = numbered(100)
        files = mf.dump(manifest_of(entries))
        index = files[MAIN].splitlines()
        k = 7
        ref = json.loads(index[1 + k])
        rel = mf.shard_relpath(TARGET, ref["shard"])
        ref["first"] = json.loads(files[rel].splitlines()[1])["path"]
        lines_in_shard = files[rel].count(b"\n")
        _break(files, rel, how)
        with pytest.raises(ManifestError) as parsed:
            mf.parse(files[MAIN], MAIN, files.__getitem__, TARGET)
        sm, reads = open_sharded(files)
        with pytest.raises(ManifestError) as err:
            if via == "entries_under":
                sm.entries_under([ref["first"].split("/")[0] + "/"])
            else:
                sm.updated({ref["first"]: Entry(ref["first"], 5, "cd" * 32)})
        assert str(err.value) == str(parsed.value)
        names_shard, line = WHERE[how]
        assert err.value.path == (rel if names_shard else MAIN)
        assert ref["shard"] in str(err.value)
        expected_line = {"last": lines_in_shard, "index": 2 + k}.get(line, line)  # type: ignore
        assert err.value.line == expected_line
        assert reads.paths[-1] == rel  # it stopped at the broken shard
        assert len(reads.paths) < len(index) // 3  # having read only the few it needed


def test_a_shard_that_does_not_hold_its_index_range_is_refused() -> None:
    with small_shards():
        files = mf.dump(manifest_of(numbered(100)))
        ref = json.loads(files[MAIN].splitlines()[1 + 7])
        rel = mf.shard_relpath(TARGET, ref["shard"])
        _break(files, rel, "below")
        sm, _ = open_sharded(files)
        with pytest.raises(ManifestError, match="is not after the previous shard's last") as err:
            sm.updated({ref["last"]: None})
        assert err.value.path == rel and err.value.line == 2


def test_a_shard_ending_before_its_last_path_is_refused() -> None:
    with small_shards():
        files = mf.dump(manifest_of(numbered(100)))
        index = files[MAIN].splitlines()
        k = next(k for k in range(1, len(index) - 2)
                 if files[mf.shard_relpath(TARGET, json.loads(index[1 + k])["shard"])]
                 .count(b"\n") > 2)
        ref = json.loads(index[1 + k])
        rel = mf.shard_relpath(TARGET, ref["shard"])
        # drop its last entry (its header's `last`) and fix the counts: the rest is in range,
        # but the shard no longer ends where its range does
        lines = files[rel].splitlines(keepends=True)
        header = json.loads(lines[0])
        gone = json.loads(lines[-1])
        header["files"] -= 1
        header["bytes"] -= gone["size"]
        files[rel] = json.dumps(header, separators=(",", ":")).encode() + b"\n" + \
            b"".join(lines[1:-1])
        sm = ShardedManifest.read(files[MAIN], MAIN, files.__getitem__, TARGET)
        assert sm is not None
        with pytest.raises(ManifestError, match="but the header says") as err:
            sm.entries_under([ref["last"]])
        assert err.value.path == rel and err.value.line == len(lines) - 1


def _no_reads(rel: str) -> bytes:
    raise AssertionError(f"read {rel}")


@pytest.mark.parametrize("call", [
    lambda sm: sm.shard_relpaths(),
    lambda sm: sm.refs[-1].last,
])
def test_index_only_questions_read_no_shard(call: Callable[[ShardedManifest], object]) -> None:
    with small_shards():
        files = mf.dump(manifest_of(numbered(100)))
        sm = ShardedManifest.read(files[MAIN], MAIN, _no_reads, TARGET)
        assert sm is not None
        call(sm)


def test_a_prefix_before_every_path_reads_the_first_shard_alone() -> None:
    """Format 2 indexes hold last paths: whether shard 0 holds "a/..." takes reading it."""
    with small_shards():
        files = mf.dump(manifest_of(numbered(100)))
        sm, reads = open_sharded(files)
        assert sm.entries_under(["a/"]) == {}
        assert reads.paths == [sm.shard_relpaths()[0]]


@settings(max_examples=200, deadline=None)
@given(paths | st.text(st.characters(blacklist_categories=("Cs",)), min_size=1),
       st.integers(0, 2**62), st.integers(0, 2**62))
def test_fast_index_line_encoding_is_the_canonical_one(first: str, files: int,
                                                       size: int) -> None:
    ref = mf.ShardRef("0123456789abcdef", first, files, size)
    assert mf._index_line(ref) == mf._line(
        {"shard": ref.name, "first": first, "files": files, "bytes": size})


def test_totals_come_from_the_shard_headers_and_no_shard_is_read_without_a_reader() -> None:
    entries = {f"d{i % 7}/f{i:03d}": Entry(f"d{i % 7}/f{i:03d}", i, SHA) for i in range(60)}
    with small_shards():
        files = mf.dump(manifest_of(entries))
        reads = Reads(files)
        assert mf.totals(files[MAIN], MAIN, TARGET, reads) == (60, sum(range(60)))
        assert sorted(reads.paths) == sorted(files.keys() - {MAIN})  # each header, once
        with pytest.raises(ManifestError, match="no shards available"):
            mf.totals(files[MAIN], MAIN, TARGET)
        view = ShardedManifest.read(files[MAIN], MAIN, None, TARGET)
        assert view is not None
        with pytest.raises(ManifestError, match="no shards available"):
            view.entries_under(["d1/"])
    small = mf.dump(manifest_of(dict(list(entries.items())[:3])))
    assert mf.totals(small[MAIN], MAIN, TARGET) == (3, 0 + 1 + 2)  # unsharded: parsed
