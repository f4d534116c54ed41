"""Issue 16, half A: bundle snapshots, typed plain values, read-only bundles, errors a
DataFolio or AutoStore user's code already catches, and three bugs (docs/api.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
import warnings
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import git, run_folio

import folio
from folio import codecs
from folio.errors import (
    ArgumentError,
    CodecError,
    FolioError,
    InvalidNameError,
    ItemNameError,
    ItemNotFoundError,
    ReadOnlyError,
    TagExistsError,
    UnknownRevisionError,
    UnsavedChangesError,
    UnsupportedTypeError,
)
from folio.repo import Repo


@pytest.fixture
def f(repo: Repo) -> folio.Folio:
    return repo.folio("experiments/exp1")


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(4, dtype="int32"), "b": list("wxyz")},
                        index=pd.Index([10, 20, 30, 40], name="id"))


def _python(root: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Another process on the same bundle: the real interpreter, the real package."""
    return subprocess.run([sys.executable, "-c", code], cwd=root, text=True,
                          capture_output=True, timeout=120)


# -- bundle snapshots -----------------------------------------------------------------------

def test_snapshots_keep_each_version_exactly_and_list_compare_delete(f: folio.Folio) -> None:
    df = _frame()
    arr = np.arange(12, dtype="float32").reshape(3, 4)
    f.add_table("df", df)
    f.add_numpy("arr", arr)
    f.add_table("pl", pl.DataFrame({"x": [1, 2, 3]}))
    f["gone"] = {"k": 1}
    first = f.create_snapshot("v1", description="baseline")
    assert first["tag"] == "experiments/exp1@v1" and first["items"] == 4
    f.add_table("df", pd.concat([df, df.iloc[:1]]))
    f.add_numpy("arr", arr.astype("float64"))
    del f["gone"]
    f["new"] = [1, 2]
    f.create_snapshot("v2")

    rows = f.list_snapshots()
    assert [r["name"] for r in rows] == ["v1", "v2"]
    assert rows[0]["description"] == "baseline" and rows[1]["items"] == 4

    back = f.get_data("df", snapshot="v1")
    pd.testing.assert_frame_equal(back, df)
    assert back.index.name == "id" and back["a"].dtype == np.dtype("int32")
    old = f.get_data("arr", snapshot="v1")
    assert old.dtype == np.float32 and old.shape == (3, 4)
    np.testing.assert_array_equal(old, arr)
    assert isinstance(f.get_data("pl", snapshot="v1"), pl.DataFrame)
    assert f.get_data("arr").dtype == np.float64  # the bundle itself moved on

    diff = f.compare_snapshots("v1", "v2")
    assert diff["added"] == ["new"] and diff["removed"] == ["gone"] and diff["unchanged"] == 1
    changed = {c["name"]: c for c in diff["changed"]}
    assert set(changed) == {"arr", "df"}
    assert changed["df"]["detail"]["kind"] == "table"
    assert changed["df"]["detail"]["rows"] == [4, 5]
    assert changed["arr"]["detail"]["dtype"] == ["float32", "float64"]
    assert f.compare_snapshots("v2")["changed"] == []  # v2 against now: nothing changed

    f.delete_snapshot("v1")
    assert [r["name"] for r in f.list_snapshots()] == ["v2"]
    with pytest.raises(UnknownRevisionError, match="has no snapshot 'v1'"):
        f.get_data("df", snapshot="v1")


def test_snapshot_names_are_per_bundle_and_folio_tags_reads_them(repo: Repo) -> None:
    a, b = repo.folio("exp/a"), repo.folio("exp/b")
    a["x"] = 1
    b["x"] = 2
    a.create_snapshot("v1")
    b.create_snapshot("v1")
    assert a.get_data("x", snapshot="v1") == 1 and b.get_data("x", snapshot="v1") == 2
    assert [r["tag"] for r in a.list_snapshots()] == ["exp/a@v1"]
    repo.snapshot("v1")  # a repository-wide v1 too: no clash
    tags = json.loads(run_folio(repo.root, "tags", "--json", check=True).stdout)
    assert sorted(t["tag"] for t in tags) == ["exp/a@v1", "exp/b@v1", "v1"]
    with pytest.raises(TagExistsError):
        a.create_snapshot("v1")
    with pytest.raises(ValueError, match="invalid snapshot name"):  # an InvalidNameError
        a.create_snapshot("bad name")
    with pytest.raises(UnknownRevisionError, match="bundle exp/b has no snapshot 'v2'"):
        b.at("v2")
    # the plain CLI reads a bundle snapshot like any tag
    out = run_folio(repo.root, "cat", "exp/a@v1:exp/a/x.json", check=True).stdout
    assert json.loads(out) == 1


def test_a_snapshot_view_reads_and_refuses_every_write(f: folio.Folio) -> None:
    f.add_table("df", _frame(), description="the frame")
    f.metadata["owner"] = "ana"
    f.create_snapshot("v1")
    f["df"] = _frame().iloc[:2]
    view = f.at("v1")
    pd.testing.assert_frame_equal(view["df"], _frame())
    assert view.keys() == ["df"] and view.data.df.description == "the frame"
    assert view.metadata["owner"] == "ana" and "df" in view.describe(return_string=True)
    for write in (lambda: view.add_data("y", 1), lambda: view.__setitem__("y", 1),
                  lambda: view.delete("df"), lambda: view.metadata.update(a=1),
                  lambda: view.copy("df", "df2"),
                  lambda: view.update_item("df", description="x"),
                  lambda: view.create_snapshot("v9"),
                  lambda: view.path_of("n.txt").write_text("t")):
        with pytest.raises(ReadOnlyError, match="read-only view of snapshot experiments/exp1@v1"):
            write()
    loaded = folio.Folio.load_snapshot(f.path, "v1")
    assert len(loaded["df"]) == 4 and len(f["df"]) == 2  # the view never followed the bundle


def test_a_snapshot_of_a_bundle_no_longer_tracked_still_opens(f: folio.Folio,
                                                                repo: Repo) -> None:
    arr = np.arange(6, dtype="uint16").reshape(2, 3)
    f["arr"] = arr
    f.create_snapshot("final")
    repo.untrack(["experiments/exp1"])
    with pytest.raises(FolioError, match="is not a bundle"):
        folio.Folio("experiments/exp1", read_only=True)
    view = folio.Folio.load_snapshot("experiments/exp1", "final")
    back = view["arr"]
    assert back.dtype == np.uint16 and back.shape == (2, 3) and (back == arr).all()
    assert folio.Folio("experiments/exp1", snapshot="final").keys() == ["arr"]
    with pytest.raises(ReadOnlyError):
        view["arr"] = arr


def test_another_process_loads_a_snapshot(f: folio.Folio, repo: Repo) -> None:
    f["when"] = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=ZoneInfo("America/New_York"))
    f.create_snapshot("v1")
    f["when"] = datetime(2027, 1, 1)
    proc = _python(repo.root, "import folio\n"
                   "v = folio.Folio.load_snapshot('experiments/exp1', 'v1')\n"
                   "w = v['when']\nprint(repr(w), w.tzinfo.key)")
    assert proc.returncode == 0, proc.stderr
    assert "datetime.datetime(2026, 1, 2, 3, 4, 5, 6" in proc.stdout
    assert proc.stdout.split()[-1] == "America/New_York"


def test_restore_touches_only_this_bundle_and_keeps_what_it_replaces(repo: Repo) -> None:
    f, other = repo.folio("exp/a"), repo.folio("exp/b")
    f["x"] = {"v": 1}
    other["y"] = {"v": 1}
    f.create_snapshot("v1")
    git(repo.root, "add", ".")
    git(repo.root, "commit", "-qm", "data")
    f["x"] = {"v": 2}  # added since, never committed: replaced, but kept for recovery
    f["extra"] = [1]
    other["y"] = {"v": 2}
    with pytest.warns(folio.BundleWarning, match=r"restore_snapshot\('v1'\): 2 added versions "
                      r"replaced, never committed: kept in the recovery log .*: "
                      r"exp/a/extra\.json, exp/a/x\.json"):
        f.restore_snapshot("v1")
    assert f["x"] == {"v": 1} and "extra" not in f
    assert other["y"] == {"v": 2}  # the other bundle is untouched
    saved = json.loads(run_folio(repo.root, "recover", "--json", check=True).stdout)
    assert any(r["path"] == "exp/a/x.json" for r in saved)  # the replaced version is kept
    (f.path / "x.json").write_text('{"edited": "by hand"}\n')  # content the store lacks
    with pytest.raises(UnsavedChangesError,
                       match=r"restore_snapshot\('v1'\): 1 file has unsaved changes: "
                             r"exp/a/x\.json; pass force=True"):
        f.restore_snapshot("v1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f.restore_snapshot("v1", force=True)
    assert (f.path / "x.json").read_text() != '{"edited": "by hand"}\n'
    proc = run_folio(repo.root, "recover", "exp/a/x.json", "--to", "kept.json")
    assert proc.returncode == 0, proc.stderr
    assert (repo.root / "kept.json").read_text() == '{"edited": "by hand"}\n'
    assert run_folio(repo.root, "status", "--json", check=True).returncode == 0


# -- typed plain values ---------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")
PLAIN = {
    "naive": datetime(2026, 5, 1, 12, 30, 15, 123456),
    "utc": datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc),
    "offset": datetime(2026, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    "zone": datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS),  # the second 02:30
    "skipped": datetime(2026, 3, 29, 2, 30, tzinfo=PARIS),  # a wall time Paris skips
    "date": date(1999, 12, 31),
    "time": time(23, 59, 59, 999, tzinfo=timezone.utc),
    "delta": timedelta(days=-1, seconds=5, microseconds=7),
    "decimal": Decimal("1.100"),
    "tuple": (1, (2.5, "x"), []),
    "set": {1, 2, 3},
    "frozenset": frozenset({"a", (1, 2)}),
    "bytes": [b"\x00\xffraw", bytearray(b"buf")],
    "keys": {1: "a", 2.5: "b", False: "c", None: "d", (1, "t"): "e", frozenset({1}): "f"},
    "dollar": {"$type": "not a tag", "v": 1},
    "complex": 1 + 2j,
    "uuid": uuid.UUID(int=7),
}


def same(a: Any, b: Any) -> bool:
    """Equal, and of exactly the same types all the way down (time zones included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(k, j) for k, j in zip(a, b, strict=True)) \
            and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, set | frozenset):
        return sorted(map(repr, a)) == sorted(map(repr, b))
    if isinstance(a, datetime | time):
        return repr(a) == repr(b) and a.fold == b.fold
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


def test_plain_values_read_back_exactly_and_are_no_pickle(f: folio.Folio, repo: Repo) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is lost, so nothing is warned about
        for name, value in PLAIN.items():
            f[name] = value
    for name, value in PLAIN.items():
        back = f[name]
        assert same(back, value), (name, back, value)
        assert f.info(name).type == "typed-json", name
    assert f["zone"].tzinfo is PARIS and f["zone"].fold == 1
    text = (f.path / "keys.json").read_text()
    assert json.loads(text)["$type"] == "dict"  # plain JSON, tagged: readable anywhere
    f["t"] = datetime.now(timezone.utc)
    f["x"] = {1: "a"}  # the two examples: no pickle, no trust needed
    proc = _python(repo.root, "import folio\nf = folio.Folio('experiments/exp1')\n"
                   "print(repr(f['x']), f['t'].tzinfo, type(f['tuple']).__name__)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["{1:", "'a'}", "UTC", "tuple"]
    assert f.get_json("keys") == PLAIN["keys"]  # a JSON item for the typed getter too


def test_plain_json_stays_plain_and_subclasses_are_not_plain(f: folio.Folio) -> None:
    f["cfg"] = {"a": [1, 2], "b": None}
    assert f.info("cfg").type == "json"
    f["ts"] = pd.Timestamp("2026-01-01")  # a datetime subclass: not a plain value
    assert f.info("ts").type == "pickle"
    pair = (1, 2)
    f["shared"] = [pair, pair, (), ()]  # one tuple twice is two tuples, as in JSON
    assert f.info("shared").type == "typed-json" and f["shared"] == [(1, 2), (1, 2), (), ()]
    loop: list[Any] = [(1,)]
    loop.append(loop)
    assert codecs.codec_for_object(loop).name == "pickle"  # contains itself: pickle keeps it
    with pytest.raises(CodecError, match=r"not a plain value|no plain value"):
        f.add_data("bad", {1: object()}, codec="typed-json")


def test_malformed_typed_json_is_one_clear_error() -> None:
    for raw, why in ((b'{"$type": "rocket", "v": 1}', "unknown or malformed"),
                     (b'{"$type": "date", "v": "13/13"}', "malformed date"),
                     (b'{"$type": "dict", "v": [[[1], 2]]}', "unhashable"),
                     (b'{"$type": "datetime", "v": "2026-01-01", "tz": "No/Where"}',
                      "malformed datetime")):
        with pytest.raises(CodecError, match=why) as info:
            codecs.decode("typed-json", bytearray(raw), {}, allow_pickle=False, item="x")
        assert "\n" not in str(info.value)


_keys = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                  st.tuples(st.integers(), st.text(max_size=3)), st.dates())
_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
    st.datetimes(), st.datetimes(timezones=st.timezones()), st.dates(), st.times(),
    st.timedeltas(), st.decimals(allow_nan=False), st.binary(max_size=8), st.uuids(),
    st.frozensets(st.integers(), max_size=3), st.sets(st.text(max_size=3), max_size=3))
_values = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=5), inner, max_size=4),
    st.dictionaries(_keys, inner, max_size=4)), max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_values)
def test_hypothesis_nested_plain_values_round_trip(value: Any) -> None:
    codec = codecs.codec_by_name("typed-json")
    sink = _Sink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meta = codec.encode(value, sink)  # type: ignore[arg-type]
    json.dumps(meta, allow_nan=False)  # metadata lands in the manifest
    back = codecs.decode("typed-json", bytearray(sink.data), meta, allow_pickle=False)
    assert same(back, value)
    chosen = codecs.codec_for_object(value).name
    assert chosen != "pickle"  # never a silent pickle for a plain value


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> int:
        self.data += b
        return len(b)

    def tell(self) -> int:
        return len(self.data)


def test_timestamps(f: folio.Folio) -> None:
    before = datetime.now(timezone.utc)
    f.add_timestamp("started")
    f.add_timestamp("local", datetime(2026, 2, 3, 4, 5), description="wall clock")
    got = f.get_timestamp("started")
    assert got.tzinfo == timezone.utc and before <= got <= datetime.now(timezone.utc)
    assert f.get_timestamp("local") == datetime(2026, 2, 3, 4, 5)
    assert f.data.local.description == "wall clock"
    with pytest.raises(TypeError, match=r"takes a datetime\.datetime, not date"):
        f.add_timestamp("bad", date(2026, 1, 1))  # type: ignore[arg-type]
    f["n"] = 3
    with pytest.raises(CodecError, match="holds a int, not a datetime"):
        f.get_timestamp("n")


# -- read-only, times ------------------------------------------------------------------------

def test_read_only_refuses_every_write_and_creates_nothing(f: folio.Folio, repo: Repo) -> None:
    f["a"] = [1]
    ro = folio.Folio(f.path, read_only=True)
    assert ro["a"] == [1] and "read_only=True" in repr(ro)
    before = sorted(p.name for p in f.path.iterdir())
    for write in (lambda: ro.add_data("b", 1), lambda: ro.__setitem__("b", 1),
                  lambda: ro.delete("a"), lambda: ro.__delitem__("a"),
                  lambda: ro.move("a", "c"), lambda: ro.metadata.__setitem__("k", 1),
                  lambda: ro.add_timestamp("t"), lambda: ro.reference("r", "s3://b/k"),
                  lambda: ro.create_snapshot("v1"), lambda: ro.track()):
        with pytest.raises(ReadOnlyError, match=r"experiments/exp1: was opened read-only"):
            write()
    assert sorted(p.name for p in f.path.iterdir()) == before and f.keys() == ["a"]
    with pytest.raises(FolioError, match="is not a bundle"):
        folio.Folio(repo.root / "experiments/none", read_only=True)
    assert not (repo.root / "experiments/none").exists()
    f["b"] = 2  # another process (here: the writable handle) writes; the reader sees it
    assert ro["b"] == 2


def test_a_read_only_process_sees_what_a_writer_process_adds(repo: Repo) -> None:
    with pytest.raises(FolioError, match="is not a bundle"):  # read-only creates nothing
        repo.folio("shared/b", read_only=True)
    repo.folio("shared/b")["first"] = 1
    ro = repo.folio("shared/b", read_only=True)
    proc = _python(repo.root, "import folio\nfrom datetime import date\n"
                   "folio.Folio('shared/b')['second'] = {date(2026, 1, 1): (1, 2)}")
    assert proc.returncode == 0, proc.stderr
    assert ro.keys() == ["first", "second"] and ro["second"] == {date(2026, 1, 1): (1, 2)}
    with pytest.raises(ReadOnlyError):
        ro["third"] = 3


def test_created_at_and_updated_at(f: folio.Folio) -> None:
    assert f.created_at is None and f.metadata.get("updated_at") is None
    f["a"] = 1
    first = f.info("a").created
    f.update_item("a", description="x")
    assert f.created_at == first and f.metadata["created_at"] == first
    f.metadata["created_at"] = "2020-01-01T00:00:00Z"  # a stored value wins
    assert f.created_at == "2020-01-01T00:00:00Z" and f.updated_at == first
    assert "updated_at" not in list(f.metadata)  # derived, never stored


# -- errors and bugs --------------------------------------------------------------------------

def test_errors_are_also_the_builtin_exceptions_peer_code_catches(f: folio.Folio) -> None:
    with pytest.raises(KeyError, match="not found"):
        f["missing"]
    with pytest.raises(KeyError, match="not found"):
        f.get_data("missing")
    with pytest.raises(KeyError, match="not found"):
        f.data["missing"]
    with pytest.raises(AttributeError, match="not found"):
        _ = f.data.missing
    with pytest.raises(KeyError, match="not found"):
        f.delete(["missing"])
    with pytest.raises(ValueError, match="invalid item name"):
        f["../up"] = 1
    f["a"] = 1
    with pytest.raises(ValueError, match="already exists; pass overwrite=True"):
        f.add_data("a", 2, overwrite=False)
    with pytest.raises(ValueError, match="cannot be its own input"):
        f.add_data("a", 2, inputs=["a"])
    with pytest.raises(TypeError, match="description must be a str"):
        f.add_data("b", 2, description=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no codec can store"):
        f.add_data("gen", (i for i in range(3)))
    assert issubclass(ItemNameError, FolioError) and issubclass(UnsupportedTypeError, TypeError)
    assert issubclass(InvalidNameError, ValueError)
    assert issubclass(ArgumentError, ValueError) and issubclass(ItemNotFoundError, FolioError)


def test_a_url_is_refused_and_creates_no_directory(repo: Repo) -> None:
    for url in ("s3://bucket/data", "gs://b/x"):
        with pytest.raises(ValueError, match=r"is a URL; .*folio remote add") as info:
            folio.Folio(url)
        assert isinstance(info.value, FolioError) and "\n" not in str(info.value)
    assert not (repo.root / "s3:").exists() and not (repo.root / "gs:").exists()
    proc = run_folio(repo.root, "describe", "s3://bucket/data")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "is a URL" in proc.stderr


def test_delete_warning_grammar_and_empty_repr(f: folio.Folio) -> None:
    assert repr(f.data) == "<no items in bundle experiments/exp1>"
    f["raw"] = [1]
    f.add_data("clean", [2], inputs=["raw"])
    assert repr(f.data) == "<2 items in bundle experiments/exp1: clean, raw>"
    with pytest.warns(folio.BundleWarning, match="'raw', which 'clean' lists as input"):
        f.delete("raw")


def test_the_tagged_examples_of_format_md_are_what_folio_writes() -> None:
    from folio.codecs.json_value import dumps
    from folio.codecs.typed_json import encode_value

    text = (Path(__file__).resolve().parents[1] / "docs/format.md").read_text()
    section = text[text.index("#### 4.3.2"):text.index("### 4.4 Order")]
    quoted = section.split("```json\n", 1)[1].split("```", 1)[0].splitlines()
    written = [{1: "a", (1, 2): {3, 4}},
               {"started": datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS)}]
    assert quoted == [dumps(encode_value(v)).decode() for v in written]
