"""Manifest format 2 for sharded targets (docs/format.md 4.7): what changes on an edit, what a
crash or a lock-free reader can see, and the format 1 layout of folio 0.1, still read.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.shards import small_shards

from folio import manifest as mf
from folio.errors import FormatVersionError, ManifestError, ShardMissingError
from folio.manifest import Entry, Manifest, ShardedManifest, ShardRef

TARGET = "data/big"
MAIN = mf.manifest_relpath(TARGET)
SHA = "ab" * 32


def numbered(n: int) -> dict[str, Entry]:
    return {p: Entry(p, i, SHA) for i, p in enumerate(f"d{i // 10:02d}/f{i:03d}.bin"
                                                       for i in range(n))}


def v1_files(manifest: Manifest) -> dict[str, bytes]:
    """The format 1 layout folio 0.1 wrote: content-named shards, counts in the index."""
    out: dict[str, bytes] = {}
    index = []
    for chunk, _ in mf._chunks(manifest.sorted_entries()):
        body = b"".join(map(mf.entry_line, chunk))
        name = mf.shard_name(body)
        out[mf.shard_relpath(manifest.target, name)] = mf._line(
            {"folio": 1, "shard": name, "target": manifest.target}) + body
        index.append(mf._index_line(ShardRef(name, chunk[0].path, len(chunk),
                                             sum(e.size for e in chunk))))
    out[mf.manifest_relpath(manifest.target)] = mf._line(
        {"folio": 1, "kind": "dir", "target": manifest.target, "sharded": True}) + \
        b"".join(index)
    return out


def written(files: dict[str, bytes], out: dict[str, bytes]) -> dict[str, bytes]:
    """What a writer leaves: the new files, the old shards the new main names, no others."""
    view = ShardedManifest.read(out[MAIN], MAIN, None, TARGET)
    named = set(view.shard_relpaths()) if view is not None else set()
    return {**{k: v for k, v in files.items() if k in named}, **out}


def applied(entries: dict[str, Entry], changes: dict[str, Entry | None]) -> dict[str, Entry]:
    out = dict(entries)
    for path, entry in changes.items():
        if entry is None:
            out.pop(path, None)
        else:
            out[path] = entry
    return out


# -- the layout ----------------------------------------------------------------------------------
def test_main_lines_name_ranges_and_shard_headers_carry_the_counts() -> None:
    with small_shards():
        entries = numbered(40)
        files = mf.dump(Manifest(TARGET, "dir", entries))
        lines = [json.loads(line) for line in files[MAIN].splitlines()]
        assert lines[0] == {"folio": 2, "kind": "dir", "target": TARGET, "sharded": True}
        after = None
        total = 0
        for ref in lines[1:]:
            assert set(ref) <= {"shard", "last"}
            assert ref["shard"] == mf.range_name(after, ref.get("last"))
            data = files[mf.shard_relpath(TARGET, ref["shard"])]
            header = json.loads(data.split(b"\n", 1)[0])
            assert list(header) == ["folio", "shard", "target", *(["after"] if after else []),
                                    *(["last"] if "last" in ref else []), "files", "bytes"]
            assert header["files"] == data.count(b"\n") - 1
            total += header["bytes"]
            after = ref.get("last")
        assert total == sum(e.size for e in entries.values())


def test_an_edit_inside_a_shard_keeps_every_name_and_the_main_file() -> None:
    with small_shards():
        entries = numbered(60)
        before = mf.dump(Manifest(TARGET, "dir", entries))
        for path in ["d02/f025.bin", "d05/f055.bin"]:
            after = mf.dump(Manifest(TARGET, "dir", {**entries, path: Entry(path, 999, SHA)}))
            assert after.keys() == before.keys() and after[MAIN] == before[MAIN]
            assert sum(after[k] != before[k] for k in after) == 1


def test_unsharded_manifests_stay_format_1_and_format_2_there_is_refused() -> None:
    small = mf.dump(Manifest("d", "dir", {"a": Entry("a", 1, SHA)}))["d.folio"]
    assert small.startswith(b'{"folio":1,')
    with pytest.raises(FormatVersionError, match="not supported for an unsharded manifest"):
        mf.parse(small.replace(b'"folio":1', b'"folio":2'), "d.folio")
    with pytest.raises(FormatVersionError, match="reads versions 1 and 2"):
        mf.parse(small.replace(b'"folio":1', b'"folio":3'), "d.folio")


def test_a_format_1_shard_under_a_format_2_main_is_refused() -> None:
    with small_shards():
        files = mf.dump(Manifest(TARGET, "dir", numbered(40)))
        rel = next(k for k in files if k != MAIN)
        files[rel] = files[rel].replace(b'{"folio":2,', b'{"folio":1,', 1)
        with pytest.raises(ManifestError, match="does not match its index line"):
            mf.parse(files[MAIN], MAIN, files.__getitem__, TARGET)


# -- format 1, read ---------------------------------------------------------------------------
def test_format_1_is_read_by_parse_partial_reads_and_totals() -> None:
    with small_shards():
        entries = numbered(60)
        files = v1_files(Manifest(TARGET, "dir", entries))
        assert mf.parse(files[MAIN], MAIN, files.__getitem__, TARGET).entries == entries
        assert mf.totals(files[MAIN], MAIN, TARGET) == (60, sum(range(60)))  # the index alone
        view = ShardedManifest.read(files[MAIN], MAIN, files.__getitem__, TARGET)
        assert view is not None and view.version == 1
        assert view.entries_under(["d03/"]) == {p: e for p, e in entries.items()
                                               if p.startswith("d03/")}


def test_the_first_change_to_a_format_1_target_rewrites_it_whole_in_format_2() -> None:
    with small_shards():
        entries = numbered(60)
        files = v1_files(Manifest(TARGET, "dir", entries))
        view = ShardedManifest.read(files[MAIN], MAIN, files.__getitem__, TARGET)
        assert view is not None
        changes: dict[str, Entry | None] = {"d01/f011.bin": Entry("d01/f011.bin", 7, SHA)}
        out = view.updated(changes)
        result = written(files, out)
        assert result == mf.dump(Manifest(TARGET, "dir", applied(entries, changes)))
        assert not result.keys() & (files.keys() - {MAIN})  # every format 1 shard is stale


# -- crashes and lock-free readers -----------------------------------------------------------------
paths = st.builds(lambda d, n: f"{d}/{n}.bin", st.sampled_from(["a", "b", "c", "d"]),
                  st.text("0123456789", min_size=1, max_size=3))


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Entry], dict[str, Entry | None]]:
    names = sorted(draw(st.lists(paths, min_size=20, max_size=80, unique=True)))
    entries = {p: Entry(p, draw(st.integers(0, 9)), SHA) for p in names}
    touched = draw(st.lists(st.sampled_from(names) | paths, min_size=1, max_size=8, unique=True))
    changes: dict[str, Entry | None] = {
        p: (None if p in entries and draw(st.booleans()) else Entry(p, 10 + draw(
            st.integers(0, 9)), SHA)) for p in touched}
    return entries, changes


@settings(max_examples=150, deadline=None)
@given(cases(), st.data())
def test_a_crash_between_shard_writes_leaves_a_readable_mix(
        case: tuple[dict[str, Entry], dict[str, Entry | None]], data: st.DataObject) -> None:
    """Killed after writing some shards (not the main file): the old main file still reads,
    every entry wholly old or wholly new (4.7, "Why that is atomic enough")."""
    with small_shards():
        entries, changes = case
        files = mf.dump(Manifest(TARGET, "dir", entries))
        view = ShardedManifest.read(files[MAIN], MAIN, files.__getitem__, TARGET)
        assert view is not None
        order = list(view.updated_files(changes))
        assert order[-1][0] == MAIN  # the main file last
        k = data.draw(st.integers(0, len(order) - 1))
        disk = {**files, **dict(order[:k])}
        seen = mf.parse(disk[MAIN], MAIN, disk.__getitem__, TARGET).entries
        new = applied(entries, changes)
        assert all(seen[p] in (entries.get(p), new.get(p)) for p in seen)
        assert all(p in seen for p in entries.keys() & new.keys())  # nothing kept vanished
        # and the writer's end state is the new manifest
        done = written(files, dict(order))
        assert mf.parse(done[MAIN], MAIN, done.__getitem__, TARGET).entries == new


@settings(max_examples=100, deadline=None)
@given(cases())
def test_a_reader_holding_the_old_main_file_retries_to_the_new_manifest(
        case: tuple[dict[str, Entry], dict[str, Entry | None]]) -> None:
    with small_shards():
        entries, changes = case
        files = mf.dump(Manifest(TARGET, "dir", entries))
        view = ShardedManifest.read(files[MAIN], MAIN, files.__getitem__, TARGET)
        assert view is not None
        out = view.updated(changes)
        disk = written(files, out)  # stale shards deleted
        mains = iter([files[MAIN], disk[MAIN]])

        def use(main: bytes) -> dict[str, Entry]:
            return mf.parse(main, MAIN, disk.__getitem__, TARGET).entries

        got = mf.read_lockfree(lambda: next(mains, disk[MAIN]), use)
        new = applied(entries, changes)
        if any(rel not in disk for rel in files):  # a shard the old main names is gone
            assert got == new, "the retry must reach the new main file"
        elif sum(files[rel] != disk[rel] for rel in files) <= 1:
            # Nothing deleted and at most one file rewritten: the old main file still
            # names a whole state, old or new. (An update of more files goes through the
            # manifest journal, whose reader check tests/test_manifest_journal.py tests.)
            assert got in (entries, new)


def test_a_shard_really_gone_is_still_one_error() -> None:
    with small_shards():
        files = mf.dump(Manifest(TARGET, "dir", numbered(40)))
        rel = next(k for k in files if k != MAIN)
        del files[rel]
        with pytest.raises(ShardMissingError, match="is missing"):
            mf.read_lockfree(lambda: files[MAIN],
                             lambda main: mf.parse(main, MAIN, files.__getitem__, TARGET))


def test_totals_read_only_each_shards_first_line() -> None:
    """A caller may hand totals() just the start of each shard file (its header line)."""
    with small_shards():
        entries = numbered(60)
        files = mf.dump(Manifest(TARGET, "dir", entries))

        def first_line(rel: str) -> bytes:
            return files[rel][: files[rel].index(b"\n") + 1]

        assert mf.totals(files[MAIN], MAIN, TARGET, first_line) == \
            (60, sum(e.size for e in entries.values()))
