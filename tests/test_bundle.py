"""Bundles (issue 4): typed items in a tracked directory, round trips, lineage, refusals."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tests.conftest import run_folio

import folio
from folio.bundle import BundleWarning, Folio
from folio.errors import (
    CodecError,
    CorruptObjectError,
    FolioError,
    ItemNameError,
    ItemNotFoundError,
    NotARepositoryError,
    OverlapError,
    PathError,
    PickleNotAllowedError,
    UnsupportedTypeError,
)
from folio.repo import Repo


@pytest.fixture
def f(repo: Repo) -> Folio:
    return repo.folio("experiments/exp1")


def _entries(repo: Repo, target: str = "experiments/exp1") -> dict[str, object]:
    return dict(repo.read_manifest(target).entries)


def _leftovers(repo: Repo) -> list[str]:
    """Temporary files anywhere folio stages (none may survive a failed add)."""
    found = []
    for directory in (repo.store.staging, repo.root / "experiments"):
        if directory.is_dir():
            found += [p.name for p in directory.rglob(".tmp-*")]
    return found


# -- creating and finding bundles -------------------------------------------------------------

def test_a_new_bundle_is_a_tracked_directory(repo: Repo) -> None:
    f = folio.Folio("experiments/exp1")
    assert f.target == "experiments/exp1" and f.path.is_dir()
    assert "experiments/exp1" in repo.targets()
    assert "/experiments/exp1" in (repo.root / ".gitignore").read_text().splitlines()
    assert repo.folio("experiments/exp1") == f and len(f) == 0


def test_bundles_refuse_overlaps_tracked_files_and_uninitialised_repos(
        repo: Repo, git_repo: Path, tmp_path: Path) -> None:
    repo.folio("experiments/exp1")
    with pytest.raises(OverlapError):
        repo.folio("experiments/exp1/inner")
    with pytest.raises(OverlapError):
        repo.folio("experiments")
    assert not (repo.root / "experiments/exp1/inner").exists()
    (repo.root / "data.csv").write_text("a\n")
    repo.add(["data.csv"])
    with pytest.raises(PathError, match="tracked file, not a bundle"):
        repo.folio("data.csv")
    with pytest.raises(FolioError, match="not a bundle"):
        repo.folio("elsewhere", create=False)
    with pytest.raises(PathError, match="outside the repository"):
        repo.folio("../outside")
    bare = tmp_path / "bare"
    bare.mkdir()
    os.system(f"git init -q {bare}")
    with pytest.raises(NotARepositoryError, match="folio init"):
        Folio(bare / "b")


# -- round trips, one per codec family ----------------------------------------------------------

def test_tables_round_trip_with_dtypes_index_and_names(f: Folio) -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "c": [0.5, np.nan, 2.0]},
                      index=pd.Index([10, 20, 30], name="id"))
    df["d"] = pd.Categorical(["u", "v", "u"])
    f.add_data("df", df, description="a frame")
    pd.testing.assert_frame_equal(f.get_data("df"), df)
    pd.testing.assert_frame_equal(f.get_table("df"), df)
    series = pd.Series([1.5, 2.5], name="s")
    f["series"] = series
    pd.testing.assert_series_equal(f["series"], series)
    assert sorted(p.name for p in f.path.iterdir()) == [
        "df.parquet", "series.parquet"]


def test_polars_and_arrow_tables_round_trip(f: Folio) -> None:
    pl = pytest.importorskip("polars")
    import pyarrow as pa

    frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    f.add_table("pl", frame)
    assert f.get_table("pl").equals(frame)
    table = pa.table({"t": pa.array([1, 2], pa.timestamp("s"))})
    f.add_table("arrow", table)
    assert f.get_table("arrow").equals(table)
    assert f.info("arrow").type == "arrow" and f.info("pl").type == "polars"


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.int16).reshape(3, 4),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.array([1 + 2j, -0.0], dtype=np.complex64),
    np.array(["ab", "c"]),
    np.zeros((0, 3)),
    np.array(3.5),
    np.array([(1, 2.0)], dtype=[("x", "i4"), ("y", "f8")]),
])
def test_arrays_round_trip_with_dtype_shape_and_order(f: Folio, array: np.ndarray) -> None:
    f.add_numpy("a", array)
    back = f.get_numpy("a")
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.flags.f_contiguous == array.flags.f_contiguous
    np.testing.assert_array_equal(back, array)
    assert (f.path / "a.npy").is_file()


def test_json_text_bytes_jsonl_and_pickle_round_trip(f: Folio) -> None:
    value = {"lr": 0.1, "nan": float("nan"), "nested": [1, None, {"b": True}], "big": 2**70}
    f.add_json("config", value)
    back = f.get_json("config")
    assert back["nested"] == value["nested"] and back["big"] == 2**70
    assert np.isnan(back["nan"])
    f["events.jsonl"] = [{"e": 1}, {"e": 2}]
    assert f["events.jsonl"] == [{"e": 1}, {"e": 2}]
    assert f.info("events.jsonl").type == "jsonl"
    f.text("notes", "line one\r\nline two")
    assert f["notes"] == "line one\r\nline two"
    f.bytes("blob", b"\x00\x01")
    f["mutable"] = bytearray(b"xyz")
    assert f["blob"] == b"\x00\x01" and f["mutable"] == bytearray(b"xyz")
    assert type(f["mutable"]) is bytearray
    f.pickle("obj", {1: {2, 3}})
    with pytest.raises(PickleNotAllowedError, match="allow_pickle=True"):
        f["obj"]
    assert f.get_data("obj", allow_pickle=True) == {1: {2, 3}}
    assert sorted(p.name for p in f.path.iterdir()) == [
        "blob.bin", "config.json", "events.jsonl", "mutable.bin", "notes.txt", "obj.pkl"]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text()
                    | st.floats(allow_nan=False),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12))
def test_json_values_round_trip_through_a_bundle(f: Folio, value: object) -> None:
    f["value.json"] = value
    assert f["value.json"] == value


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)),
       st.text(), st.binary())
def test_arrays_text_and_bytes_round_trip_through_a_bundle(f: Folio, array: np.ndarray,
                                                           text: str, blob: bytes) -> None:
    f["array"] = array
    back = f["array"]
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()  # every bit, NaN payloads included
    f.text("text", text)
    assert f["text"] == text
    f["blob"] = blob
    assert f["blob"] == blob


def test_models_round_trip(f: Folio, repo: Repo) -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    torch = pytest.importorskip("torch")
    model = sklearn.LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
    f.add_model("reg", model, inputs=None)
    with pytest.raises(PickleNotAllowedError):
        f.get_model("reg")
    assert f.get_model("reg", allow_pickle=True).coef_[0] == pytest.approx(2.0)
    net = torch.nn.Linear(3, 2)
    f.add_model("net", net, init_args={"in_features": 3, "out_features": 2})
    assert f.info("net").type == "torch-state-dict"
    back = f.get_model("net", model_class=torch.nn.Linear)
    assert torch.equal(back.weight, net.weight)
    with pytest.raises(FolioError, match="pass model_class="):
        f.get_model("net")
    assert torch.equal(f.get_model("net", allow_pickle=True).bias, net.bias)
    state = f.get_data("net")  # the weights themselves need no trust
    assert torch.equal(state["weight"], net.weight)
    f.add_model("whole", net, weights_only=False)
    assert f.info("whole").type == "torch-model"
    with pytest.raises(PickleNotAllowedError):
        f.get_model("whole")
    # a repo that trusts its pickles needs no flag (only the local config can say so)
    repo.config.update(["core"], {"trust_pickles": True}, local=True)
    assert f.get_model("reg").coef_[0] == pytest.approx(2.0)


def test_a_registered_codec_round_trips(f: Folio) -> None:
    import fractions

    class FractionCodec:
        name = "fraction"
        extension = ".frac"
        priority = 100
        needs_trust = False

        def can_encode(self, obj: object) -> bool:
            return type(obj) is fractions.Fraction

        def encode(self, obj: object, sink: object) -> dict[str, str]:
            sink.write(str(obj).encode())  # type: ignore[attr-defined]
            return {"value": str(obj)}

        def decode(self, data: bytearray, meta: dict[str, str]) -> object:
            return fractions.Fraction(data.decode())

    folio.register_codec(FractionCodec())
    try:
        f["third"] = fractions.Fraction(1, 3)
        assert f["third"] == fractions.Fraction(1, 3)
        assert (f.path / "third.frac").read_text() == "1/3"
        assert f.info("third").codec == {"value": "1/3"}
    finally:
        folio.codecs.unregister_codec("fraction")


# -- names and files --------------------------------------------------------------------------

def test_item_files_get_the_codec_extension_unless_the_name_has_one(f: Folio) -> None:
    df = pd.DataFrame({"a": [1]})
    f["df"] = df
    f["artifacts/x.json"] = {"k": 1}
    f["config.json"] = df  # .json is not a table extension: the codec's is added
    assert sorted(str(p.relative_to(f.path)) for p in f.path.rglob("*") if p.is_file()) == [
        "artifacts/x.json", "config.json.parquet", "df.parquet"]
    assert f.keys() == ["artifacts/x.json", "config.json", "df"]
    pd.testing.assert_frame_equal(f["df.parquet"], df)  # the file name finds the item too
    assert "df.parquet" in f and "df" in f and "nope" not in f
    entries = _entries(f.repo)
    assert entries["df.parquet"].meta["item"] == "df"
    assert "item" not in entries["artifacts/x.json"].meta


def test_replacing_an_item_with_another_type_moves_its_file(f: Folio) -> None:
    f["thing"] = np.arange(3)
    f["thing"] = {"now": "json"}
    assert sorted(p.name for p in f.path.iterdir()) == ["thing.json"]
    assert f["thing"] == {"now": "json"} and f.keys() == ["thing"]


@pytest.mark.parametrize("name", ["../x", "/abs", "a//b", "", "a\x00b", "a\\b", "a/./b",
                                  ".folio-bundle.json", "x/.folio-tmp", ".git/x"])
def test_bad_item_names_are_refused(f: Folio, name: str) -> None:
    with pytest.raises(ItemNameError, match="invalid item name"):
        f.add_data(name, {"a": 1})
    assert len(f) == 0 and _leftovers(f.repo) == []


def test_names_that_clash_as_file_and_directory_are_refused(f: Folio) -> None:
    f["a.json"] = {"x": 1}
    with pytest.raises(ItemNameError, match=r"clashes with item 'a\.json'"):
        f["a.json/b"] = {"y": 2}
    assert f.keys() == ["a.json"] and _leftovers(f.repo) == []


# -- refusals that leave nothing behind -----------------------------------------------------------

def test_an_unsupported_object_leaves_nothing_behind(f: Folio, repo: Repo) -> None:
    before = set(repo.store.iter_oids())
    with pytest.raises(UnsupportedTypeError, match="no codec can store a generator"):
        f.add_data("gen", (i for i in range(3)))
    with pytest.raises(CodecError):
        f.add_json("bad", {1: "int key"})
    with pytest.raises(CodecError, match="holds Python objects"):
        f.add_numpy("objs", np.array([object()]))
    assert set(repo.store.iter_oids()) == before
    assert _leftovers(repo) == [] and len(f) == 0 and list(f.path.iterdir()) == []


def test_a_codec_warning_turned_error_stores_nothing(f: Folio, repo: Repo) -> None:
    before = set(repo.store.iter_oids())
    with warnings.catch_warnings():
        warnings.simplefilter("error", folio.CodecWarning)
        with pytest.raises(CodecError):
            f["t"] = {"a": np.float64(1.5)}  # reads back as a float: warned, so refused
    assert set(repo.store.iter_oids()) == before and _leftovers(repo) == []


def test_other_refusals(f: Folio) -> None:
    f["a"] = {"x": 1}
    with pytest.raises(FolioError, match="already exists; pass overwrite=True"):
        f.add_data("a", {"x": 2}, overwrite=False)
    with pytest.raises(ItemNameError, match="neither an item nor an external name"):
        f.add_data("b", {"x": 2}, inputs=["a", "two\nlines"])  # other names: external
    with pytest.raises(FolioError, match="its own input"):
        f.add_data("a", {"x": 3}, inputs=["a"])
    with pytest.raises(FolioError, match="reserved"):
        f.add_data("c", 1, size=3)
    with pytest.raises(CodecError, match="JSON values"):
        f.add_data("c", 1, when=object())
    with pytest.raises(FolioError, match="not a table"):
        f.get_table("a")
    with pytest.raises(ItemNotFoundError) as missing:
        f["nothing"]
    assert isinstance(missing.value, KeyError)
    assert f.get("nothing", 42) == 42
    assert f["a"] == {"x": 1} and f.keys() == ["a"]


# -- reading: verified, the manifest is the truth --------------------------------------------------

def test_a_flipped_byte_in_the_store_is_an_error_naming_the_item(f: Folio, repo: Repo) -> None:
    f["arr"] = np.arange(1000)
    oid = _entries(repo)["arr.npy"].sha256
    path = repo.store.path(oid)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[500] ^= 1
    path.write_bytes(data)
    with pytest.raises(CorruptObjectError, match="item 'arr' is corrupt") as err:
        f["arr"]
    assert "experiments/exp1/arr.npy" in str(err.value)


def test_get_data_returns_the_recorded_content_and_warns_about_edits(f: Folio) -> None:
    f["cfg"] = {"a": 1}
    (f.path / "cfg.json").write_text('{"a": 2, "edited": true}\n')
    with pytest.warns(BundleWarning, match="changed since it was recorded"):
        assert f["cfg"] == {"a": 1}
    (f.path / "cfg.json").unlink()
    with pytest.warns(BundleWarning, match="missing"):
        assert f["cfg"] == {"a": 1}


def test_overwriting_an_edited_item_keeps_the_edit_recoverable(f: Folio, repo: Repo) -> None:
    f["cfg"] = {"a": 1}
    (f.path / "cfg.json").write_text('{"a": "my unsaved edit"}\n')
    with pytest.warns(BundleWarning, match="folio recover"):
        f["cfg"] = {"a": 3}
    [record] = repo.recovery_log()
    assert record.path == "experiments/exp1/cfg.json"
    assert repo.store.read_bytes(record.sha256) == b'{"a": "my unsaved edit"}\n'


def test_re_adding_the_same_value_changes_nothing(f: Folio, repo: Repo) -> None:
    f.add_data("a", {"x": 1}, description="d")
    manifest = repo.manifest_path("experiments/exp1")
    before = manifest.read_bytes()
    f.add_data("a", {"x": 1}, description="d")
    assert manifest.read_bytes() == before  # not even the created date moves


# -- lineage, describe, proxies -----------------------------------------------------------------

def test_lineage_and_dependents(f: Folio) -> None:
    f.add_data("raw", pd.DataFrame({"v": [1, 2]}), description="as downloaded")
    f.add_data("clean", pd.DataFrame({"v": [1]}), inputs=["raw"])
    f.add_data("model", {"w": 1}, inputs=["clean", "raw.parquet"])  # file names resolve
    assert f.get_inputs("model") == ["clean", "raw"]
    assert f.get_dependents("raw") == ["clean", "model"]
    assert f.data.raw.dependents == ["clean", "model"] and f.data.model.inputs == ["clean", "raw"]
    assert f.lineage() == {"clean": ["raw"], "model": ["clean", "raw"], "raw": []}
    f.move("clean", "cleaned")
    assert f.get_inputs("model") == ["cleaned", "raw"] and (f.path / "cleaned.parquet").exists()
    with pytest.warns(BundleWarning, match="'raw', which 'cleaned', 'model' list as input"):
        f.delete("raw")
    assert f.get_inputs("model") == ["cleaned", "raw"]  # history stays
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f.delete(["cleaned", "model"], warn_dependents=True)  # deleted together: no warning
    assert len(f) == 0 and list(f.path.iterdir()) == []


def test_delete_checks_every_name_before_deleting_any(f: Folio) -> None:
    f["a"] = 1
    f["b"] = 2
    with pytest.raises(ItemNotFoundError, match=r"2 item.* not in bundle.*nothing was deleted"):
        f.delete(["a", "x", "y"])
    assert f.keys() == ["a", "b"]
    del f["a"]
    assert f.keys() == ["b"] and not (f.path / "a.json").exists()


def test_data_proxies_and_tab_completion(f: Folio) -> None:
    f.add_data("weights", np.ones(3), description="w", owner="me")
    f["artifacts/x.json"] = {"a": 1}
    proxy = f.data.weights
    np.testing.assert_array_equal(proxy.content, np.ones(3))
    assert proxy.description == "w" and proxy.type == "numpy"
    assert proxy.path == f.path / "weights.npy"
    meta = proxy.metadata
    assert meta["owner"] == "me" and meta["codec"]["shape"] == [3] and meta["size"] > 0
    assert meta["sha256"] == f.info("weights").sha256 and meta["created"].endswith("Z")
    assert dir(f.data) == ["weights"]  # names that are identifiers
    assert f.data["artifacts/x.json"].content == {"a": 1}
    with pytest.raises(AttributeError):
        f.data.nope  # noqa: B018


def test_describe_groups_items_with_lineage_and_truncated_metadata(f: Folio) -> None:
    f.metadata["project"] = "churn"
    f.add_data("raw", pd.DataFrame({"v": range(5)}), description="Raw <sales>")
    f.add_data("w", np.zeros((2, 3)), inputs=["raw"], **{f"k{i}": i for i in range(12)})
    f.reference("source", "s3://bucket/raw.parquet", description="upstream")
    text = f.describe(return_string=True, max_metadata_fields=3)
    assert text.startswith("Bundle experiments/exp1: 3 items")
    assert "Metadata: project: churn" in text
    assert "Tables (1):\n  - raw: Raw <sales>\n      pandas, 5 rows x 1 columns" in text
    assert "Arrays (1):\n  - w\n      numpy, shape (2, 3) float64" in text
    assert "inputs: raw" in text and "used by: w" in text
    assert "k0: 0, k1: 1, k2: 2 ... (+9 more)" in text
    assert "References (1):\n  - source: upstream\n      reference, s3://bucket/raw.parquet" in text
    assert "Models" not in text
    assert "Models (0):" in f.describe(return_string=True, show_empty=True)
    html = f._repr_html_()
    assert "<table>" in html and "Raw &lt;sales&gt;" in html and "<sales>" not in html
    assert f.describe() is None


def test_references_record_a_uri_without_copying(f: Folio, repo: Repo) -> None:
    f.reference("remote", "s3://bucket/key.parquet")
    assert f.data.remote.path == "s3://bucket/key.parquet"
    with pytest.raises(FolioError, match="does not fetch external data"):
        f["remote"]
    local = repo.root / "outside.json"
    local.write_text('{"x": 1}')
    f.reference("local", "outside.json", description="a file of ours")
    assert f["local"] == {"x": 1}
    assert _entries(repo)["local.ref.json"].uri == "outside.json"


# -- AutoStore: mapping, copy, move, metadata ------------------------------------------------------

def test_mapping_protocol_copy_and_move(f: Folio, repo: Repo) -> None:
    f["a"] = np.arange(3)
    f["b"] = "text"
    assert list(f) == ["a", "b"] and len(f) == 2 and dict(f.items())["b"] == "text"
    objects = set(repo.store.iter_oids())
    f.copy("a", "c")
    np.testing.assert_array_equal(f["c"], np.arange(3))
    assert set(repo.store.iter_oids()) == objects  # the same object: nothing new stored
    f.move("b", "sub/b2")
    assert f["sub/b2"] == "text" and "b" not in f
    assert sorted(str(p.relative_to(f.path)) for p in f.path.rglob("*") if p.is_file()) == [
        "a.npy", "c.npy", "sub/b2.txt"]
    info = f.info("c")
    assert (info.size, info.type) == (f.info("a").size, "numpy") and info.created


def test_item_metadata_updates_without_rewriting_content(f: Folio) -> None:
    f.add_data("a", {"x": 1}, description="old", stage=1)
    sha = f.info("a").sha256
    f.update_item("a", description="new", stage=2, extra="y")
    info = f.info("a")
    assert (info.description, info.user, info.sha256) == ("new", {"stage": 2, "extra": "y"}, sha)
    f.update_item("a", description="", extra=None)
    assert f.info("a").description is None and f.info("a").user == {"stage": 2}


def test_bundle_metadata_persists_at_once(f: Folio, repo: Repo) -> None:
    f.metadata["owner"] = "ana"
    f.metadata.update(project="x", stage=1)
    again = Folio(f.path, repo=repo)
    assert again.metadata == {"owner": "ana", "project": "x", "stage": 1}
    del again.metadata["stage"]
    assert f.metadata.to_dict() == {"owner": "ana", "project": "x"}
    f.metadata = {"fresh": True}
    assert dict(again.metadata) == {"fresh": True} and len(f) == 0  # not an item
    with pytest.raises(CodecError):
        f.metadata["bad"] = object()


def test_batch_records_many_items_with_one_manifest_write(f: Folio, repo: Repo) -> None:
    manifest = repo.manifest_path(f.target)
    with f.batch():
        f["a"] = 1
        f.add_data("b", 2, inputs=["a"])  # an input added in the same batch
        assert not manifest.exists() or "a.json" not in manifest.read_text()
        assert f["a"] == 1  # reading records the batch so far
        f["c"] = 3
    assert f.keys() == ["a", "b", "c"] and f.get_inputs("b") == ["a"]
    with pytest.raises(RuntimeError), f.batch():
        f["d"] = 4
        raise RuntimeError
    assert "d" not in f and _leftovers(repo) == []


# -- notata: text/json/pickle/bytes and path handles ---------------------------------------------

def test_path_handles_become_tracked_items(f: Folio, repo: Repo) -> None:
    handle = f["artifacts/settings/config.json"]
    assert not handle.exists() and os.fspath(handle).endswith(
        "experiments/exp1/artifacts/settings/config.json")
    handle.write_text('{"lr": 0.1}')
    assert f["artifacts/settings/config.json"].read_text() == '{"lr": 0.1}'
    assert f.get_data("artifacts/settings/config.json") == {"lr": 0.1}  # by extension
    assert f.get_json("artifacts/settings/config.json") == {"lr": 0.1}
    with f["logs/run.log"].open("w") as out:
        out.write("step 1\n")
    with f["logs/run.log"].open("a") as out:
        out.write("step 2\n")
    assert f["logs/run.log"].read_text() == "step 1\nstep 2\n"
    with f["plots/fig.png"] as p:  # a tool writes to the real path; recorded on exit
        Path(p).write_bytes(b"\x89PNG fake")
    assert f["plots/fig.png"].read_bytes() == b"\x89PNG fake"
    (f.path / "later.csv").write_text("a,b\n1,2\n")
    assert f.track() == ["later.csv"]
    assert f["later.csv"].read_text() == "a,b\n1,2\n"
    assert {e.type for e in _entries(repo).values()} == {None}
    [status] = repo.status([f.target])
    assert status.clean


# -- the CLI sees a bundle as a directory target -------------------------------------------------

def test_cli_verbs_work_on_a_bundle(f: Folio, repo: Repo) -> None:
    f.add_data("df", pd.DataFrame({"a": [1, 2]}), description="frame")
    f["cfg"] = {"x": 1}
    [status] = repo.status([f.target])
    assert status.clean
    out = run_folio(repo.root, "status", "--json", check=True)
    assert json.loads(out.stdout)
    described = run_folio(repo.root, "describe", "experiments/exp1", check=True).stdout
    assert "Tables (1):\n  - df: frame" in described
    listing = json.loads(run_folio(repo.root, "describe", "--json", check=True).stdout)
    assert [i["name"] for i in listing[0]["items"]] == ["cfg", "df"]
    (f.path / "cfg.json").unlink()
    [status] = repo.status([f.target])
    assert status.deleted == ["cfg.json"]
    shown = run_folio(repo.root, "status", "--json", check=True).stdout
    assert "cfg.json" in shown


def test_a_bundle_follows_snapshot_and_checkout(f: Folio, repo: Repo) -> None:
    f["a"] = {"v": 1}
    repo.snapshot("v1")
    f["a"] = {"v": 2}
    f["b"] = 3
    other = Folio(f.path, repo=Repo(repo.root))  # another reader, opened before checkout
    assert other["a"] == {"v": 2}
    repo.checkout("v1", force=True)
    assert f["a"] == {"v": 1} and "b" not in f and other.keys() == ["a"]


def test_pickles_from_elsewhere_need_trust(f: Folio) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    (f.path / "evil.pkl").write_bytes(pickle.dumps(Evil()))
    f.track(["evil.pkl"])
    with pytest.raises(PickleNotAllowedError):
        f.get_data("evil.pkl")


def test_large_items_take_the_pipelined_paths_intact(f: Folio, repo: Repo) -> None:
    import hashlib

    from folio.bundle import _io

    array = np.random.default_rng(1).random(3_000_000)  # 24 MB: one direct write
    frame = pd.DataFrame(np.random.default_rng(2).random((200_000, 8)))  # many small writes
    frame.columns = [f"c{i}" for i in range(8)]
    f["array"] = array
    f["frame"] = frame
    for name, file in (("array", "array.npy"), ("frame", "frame.parquet")):
        info = f.info(name)
        work = (f.path / file).read_bytes()
        assert info.size > _io.PIPELINE_MIN
        assert hashlib.sha256(work).hexdigest() == info.sha256
        assert repo.store.read_bytes(info.sha256) == work
    np.testing.assert_array_equal(f["array"], array)
    pd.testing.assert_frame_equal(f["frame"], frame)
    big = _io.allocate(_io.HUGE_MIN + 5)
    assert type(big) is bytearray and len(big) == _io.HUGE_MIN + 5


def test_a_failing_write_leaves_nothing_behind(f: Folio, repo: Repo,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from folio.bundle import _io

    def full_disk(fd: int, view: memoryview, offset: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_io, "_pwrite_all", full_disk)
    before = set(repo.store.iter_oids())
    for value in (np.zeros(3_000_000), {"small": 1}):
        with pytest.raises(FolioError, match="cannot write the item: No space left"):
            f["x"] = value
    assert set(repo.store.iter_oids()) == before and _leftovers(repo) == [] and len(f) == 0
