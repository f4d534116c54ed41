from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from folio import manifest as mf
from folio.errors import FormatVersionError, ManifestError
from folio.manifest import Entry, Manifest

SHA = "a" * 64
name_chars = st.characters(blacklist_categories=("Cs", "Cc"),  # Cc: refused in names
                           blacklist_characters="/\x00")
component = st.text(name_chars, min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..") and s.lower() != ".git")
rel_paths = st.lists(component, min_size=1, max_size=4).map("/".join)
targets = rel_paths.filter(lambda t: t.split("/")[0] != ".folio"
                           and not any(p.endswith(".folio.d") for p in t.split("/")))
entries = st.builds(
    lambda size, sha, kind, stored, meta: (size, sha, kind, stored, meta),
    st.integers(0, 2**50), st.text("0123456789abcdef", min_size=64, max_size=64),
    st.none() | st.sampled_from(["pandas", "numpy", "json"]), st.booleans(),
    st.none() | st.dictionaries(st.text(string.ascii_letters, min_size=1), st.integers(),
                                max_size=3),
)


def _roundtrip(manifest: Manifest) -> Manifest:
    files = mf.dump(manifest)
    main = mf.manifest_relpath(manifest.target)
    return mf.parse(files[main], main, files.__getitem__, manifest.target)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(rel_paths, entries, max_size=40), targets)
def test_dump_then_parse_is_identity(tree: dict, target: str) -> None:
    m = Manifest(target, "dir")
    for path, (size, sha, kind, stored, meta) in tree.items():
        m.entries[path] = Entry(path, size, sha, kind, stored, meta=meta or None)
    back = _roundtrip(m)
    assert back == m
    # and the encoding is canonical: dumping the parsed manifest gives the same bytes
    assert mf.dump(back) == mf.dump(m)


def test_names_with_spaces_quotes_and_unicode_round_trip() -> None:
    m = Manifest("data", "dir")
    for p in ["a b/c d.csv", "ünï/cødé.bin", '"quoted"']:
        m.entries[p] = Entry(p, 1, SHA)
    data = mf.dump(m)["data.folio"]
    assert data.count(b"\n") == 4  # header + 3 entries
    assert _roundtrip(m) == m


@pytest.mark.parametrize("name", ["line\nbreak.txt", "tab\there", "esc\x1b[31m", "c1\x9b"])
def test_names_with_control_characters_are_refused_with_file_and_line(name: str) -> None:
    m = Manifest("data", "dir")
    m.entries[name] = Entry(name, 1, SHA)
    with pytest.raises(ManifestError, match="control character") as info:
        _roundtrip(m)
    assert str(info.value).startswith("data.folio:2: ")


def test_large_target_is_sharded_and_one_change_rewrites_one_shard() -> None:
    m = Manifest("big", "dir")
    for i in range(20_000):
        p = f"d{i // 100:03}/f{i:05}.bin"
        m.entries[p] = Entry(p, i, SHA)
    before = mf.dump(m)
    assert len(before) > 10  # main index + shards
    assert all(v.count(b"\n") <= mf.SHARD_MAX + 1 for v in before.values())
    m.entries["d100/f10000.bin"] = Entry("d100/f10000.bin", 7, "b" * 64)
    after = mf.dump(m)
    changed = {k for k in after if before.get(k) != after[k]}
    # format 2: the one shard is rewritten in place (same name); the main file stays
    assert len(changed) == 1 and changed <= before.keys() and "big.folio" not in changed
    assert _roundtrip(m) == m


def test_symlink_and_hash_only_entries() -> None:
    m = Manifest("d", "dir", {"l": Entry("l", link="x/y"), "n": Entry("n", 3, SHA, stored=False)})
    text = mf.dump(m)["d.folio"].decode()
    assert '{"path":"l","link":"x/y"}' in text
    assert '"stored":false' in text
    assert _roundtrip(m) == m


def _parse(text: str | bytes) -> Manifest:
    data = text.encode() if isinstance(text, str) else text
    return mf.parse(data, ".folio/manifests/d.folio")


HEADER = '{"folio":1,"kind":"dir","target":"d"}\n'


@pytest.mark.parametrize("body, message, line", [
    ('{"path":"../x","size":1,"sha256":"%s"}\n' % SHA, "'..' components", 2),
    ('{"path":"/etc/passwd","size":1,"sha256":"%s"}\n' % SHA, "absolute", 2),
    ('{"path":".git/hooks/pre-commit","size":1,"sha256":"%s"}\n' % SHA, "'.git'", 2),
    ('{"path":"a//b","size":1,"sha256":"%s"}\n' % SHA, "empty", 2),
    ('{"path":"a","size":1,"sha256":"xyz"}\n', "64 lowercase hex", 2),
    ('{"path":"a","size":-1,"sha256":"%s"}\n' % SHA, "non-negative", 2),
    ('{"path":"b","size":1,"sha256":"%s"}\n{"path":"a","size":1,"sha256":"%s"}\n' % (SHA, SHA),
     "out of order", 3),
    ('{"path":"a","size":1,"sha256":"%s"}\n{"path":"a","size":1,"sha256":"%s"}\n' % (SHA, SHA),
     "duplicate path", 3),
    ('{"path":"a","size":1,"sha256"\n', "not a JSON line", 2),
    ('[1,2]\n', "must be a JSON object", 2),
])
def test_hostile_or_broken_entries_name_file_and_line(body: str, message: str, line: int) -> None:
    with pytest.raises(ManifestError) as err:
        _parse(HEADER + body)
    assert message in str(err.value)
    assert str(err.value).startswith(f".folio/manifests/d.folio:{line}: ")
    assert "\n" not in str(err.value)


def test_truncated_manifest_is_refused() -> None:
    full = HEADER + '{"path":"a","size":1,"sha256":"%s"}\n' % SHA
    with pytest.raises(ManifestError, match="truncated"):
        _parse(full[:-5])
    with pytest.raises(ManifestError, match="empty"):
        _parse("")


def test_unknown_major_version_is_refused_clearly() -> None:
    with pytest.raises(FormatVersionError, match="version 2 is not supported"):
        _parse('{"folio":2,"kind":"dir","target":"d"}\n')


def test_oversized_line_is_refused_with_its_line_number() -> None:
    huge = json.dumps({"path": "a", "size": 1, "sha256": SHA, "meta": {"x": "y" * (mf.MAX_LINE)}})
    with pytest.raises(ManifestError, match="longer than") as err:
        _parse(HEADER + huge + "\n")
    assert err.value.line == 2


def test_truncated_shard_is_detected_by_the_index_count() -> None:
    m = Manifest("big", "dir")
    for i in range(5000):
        m.entries[f"f{i:05}"] = Entry(f"f{i:05}", 1, SHA)
    files = mf.dump(m)
    shard = next(k for k in files if k != "big.folio")
    lines = files[shard].splitlines(keepends=True)
    files[shard] = b"".join(lines[:-3])  # cut at a line boundary
    with pytest.raises(ManifestError, match="header says"):
        mf.parse(files["big.folio"], "big.folio", files.__getitem__)


@pytest.mark.parametrize("text, message", [
    ('{"folio":1,"kind":"file","target":"d"}\n{"path":"other","size":1,"sha256":"%s"}\n' % SHA,
     r"exactly one entry, named 'd'"),
    ('{"folio":1,"kind":"file","target":"d","sharded":true}\n', "cannot be sharded"),
    ('{"folio":1,"kind":"dir","target":".folio/objects"}\n', "inside .folio/"),
    (HEADER + '{"path":"a","size":1,"sha256":"%s","meta":{"x":NaN}}\n' % SHA, "NaN"),
    (HEADER + '{"path":"a","size":1,"sha256":"%s","exec":"yes"}\n' % SHA, "'exec'"),
    ('{"folio":1,"kind":"dir","target":"d","sharded":true}\n'
     '{"shard":"../../../../etc/x","first":"a","files":1,"bytes":1}\n', "invalid shard reference"),
])
def test_more_hostile_manifests(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        mf.parse(text.encode(), "d.folio", lambda rel: b"", None)


def test_shard_header_must_match_its_index_line() -> None:
    m = Manifest("big", "dir")
    for i in range(5000):
        m.entries[f"f{i:05}"] = Entry(f"f{i:05}", 1, SHA)
    files = mf.dump(m)
    a, b = [k for k in files if k != "big.folio"][:2]
    files[a], files[b] = files[b], files[a]  # swap two shards' contents
    with pytest.raises(ManifestError, match=r"does not match|out of order|index says"):
        mf.parse(files["big.folio"], "big.folio", files.__getitem__)


def test_meta_keys_are_canonical_whatever_the_insertion_order() -> None:
    one = Manifest("d", "dir", {"a": Entry("a", 1, SHA, meta={"b": 1, "a": {"z": 1, "y": 2}})})
    two = Manifest("d", "dir", {"a": Entry("a", 1, SHA, meta={"a": {"y": 2, "z": 1}, "b": 1})})
    assert mf.dump(one) == mf.dump(two)


def test_changed_shard_keeps_its_name_so_git_merges_it_in_place() -> None:
    m = Manifest("big", "dir")
    for i in range(20_000):
        m.entries[f"f{i:05}"] = Entry(f"f{i:05}", 1, SHA)
    before = mf.dump(m)
    m.entries["f10000"] = Entry("f10000", 2, SHA)
    after = mf.dump(m)
    assert after.keys() == before.keys()  # format 2: shards are named by range, not content
    assert len([k for k in after if after[k] != before[k]]) == 1
    assert after["big.folio"] == before["big.folio"]


@settings(max_examples=200, deadline=None)
@given(rel_paths, st.integers(0, 2**60), st.text("0123456789abcdef", min_size=64, max_size=64))
def test_fast_entry_encoding_is_the_canonical_one(path: str, size: int, sha: str) -> None:
    entry = Entry(path, size, sha)
    assert mf._entry_line(entry) == mf._line(entry.to_json())
