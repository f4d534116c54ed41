"""Bundles that can replace DataFolio and AutoStore, half B (issue 16): files and artifacts,
views by kind, models (custom, PyTorch), referenced tables (local and S3), external lineage,
and AutoStore's dict surface. Real pandas / polars / numpy / scikit-learn objects, moto's
S3 server, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from tests.conftest import run_folio, write

import folio
from folio.bundle import BundleWarning, Folio
from folio.errors import FolioError, ItemNameError, ItemNotFoundError, PickleNotAllowedError
from folio.repo import Repo

pytest_plugins = ["s3server"]

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


class Scorer:
    """A model of no library: what add_model(custom=True) is for."""

    def __init__(self, weights: list[float]) -> None:
        self.weights = weights

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scorer) and other.weights == self.weights


@pytest.fixture
def f(repo: Repo) -> Folio:
    return repo.folio("experiments/exp1")


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, 2.5]},
                        index=pd.Index([10, 20, 30], name="id"))


# -- files and artifacts ----------------------------------------------------------------------

def test_add_file_copies_the_file_in_and_get_file_gives_its_verified_path(
        f: Folio, repo: Repo, tmp_path: Path) -> None:
    src = write(tmp_path / "plots/loss.png", PNG)
    f.add_file(src, description="training loss", category="plots")
    f.add_file("figures/acc.png", src=src)
    f.add_file(src, name="same.png")
    assert set(f.keys()) == {"loss.png", "figures/acc.png", "same.png"}
    path = f.get_file("loss.png")
    assert path == f.path / "loss.png" and path.read_bytes() == PNG
    assert f.get_file("figures/acc.png").read_bytes() == PNG
    info = f.info("loss.png")
    assert (info.type, info.family, info.description) == (None, "file", "training loss")
    assert info.user == {"category": "plots"} and info.size == len(PNG)
    assert f.get_data("same.png") == PNG  # a plain file read by its extension: bytes
    assert [s for s in repo.status() if s.target == f.target and
            (s.added or s.modified or s.deleted)] == []  # recorded, nothing left unsaved
    src.write_bytes(b"changed later")  # a copy was taken: the item does not follow
    assert f.get_file("loss.png").read_bytes() == PNG


def test_get_file_restores_a_missing_file_and_refuses_an_edited_one(f: Folio,
                                                                    tmp_path: Path) -> None:
    f.add_file(write(tmp_path / "notes.md", "# v1\n"))
    path = f.path / "notes.md"
    path.unlink()
    assert f.get_file("notes.md").read_text() == "# v1\n"  # restored from the store
    os.chmod(path, 0o644)
    path.write_text("# edited, not recorded\n")
    with pytest.raises(FolioError, match="changed since it was recorded") as err:
        f.get_file("notes.md")
    assert "\n" not in str(err.value) and "experiments/exp1/notes.md" in str(err.value)


def test_add_artifact_uses_datafolio_1s_signature_and_lists_under_artifacts(
        f: Folio, tmp_path: Path) -> None:
    plot = write(tmp_path / "training_loss.png", PNG)
    f.add_artifact("loss_curve.png", plot, category="plots")
    f.add_artifact(str(plot))  # named by the file; category "artifact"
    assert f.get_artifact_path("loss_curve.png").read_bytes() == PNG
    assert f.info("training_loss.png").user == {"category": "artifact"}
    assert f.info("loss_curve.png").user == {"category": "plots"}
    assert f.artifacts == ["loss_curve.png", "training_loss.png"]
    assert f.list_contents()["artifacts"] == ["loss_curve.png", "training_loss.png"]
    assert "loss_curve" in f  # the name without its extension finds it too


def test_add_file_refusals_are_one_line_and_record_nothing(f: Folio, tmp_path: Path) -> None:
    before = f.keys()
    with pytest.raises(FolioError, match=r"cannot copy 'nope\.csv' into the bundle") as err:
        f.add_file(tmp_path / "nope.csv")
    assert "\n" not in str(err.value) and str(tmp_path / "nope.csv") in str(err.value)
    (tmp_path / "adir").mkdir()
    with pytest.raises(FolioError, match=r"cannot copy 'adir\.bin'.*not a regular file"):
        f.add_file(tmp_path / "adir", name="adir.bin")
    with pytest.raises(ItemNameError):
        f.add_file("../escape.png", src=write(tmp_path / "x.png", PNG))
    with pytest.raises(ValueError, match="give the item's name once"):
        f.add_file("a.png", src=tmp_path / "x.png", name="b.png")
    with pytest.raises(ValueError, match="category"):
        f.add_file(tmp_path / "x.png", category="")
    assert f.keys() == before


def test_get_file_of_a_reference_or_missing_item_is_a_clear_error(f: Folio) -> None:
    f.reference("upstream", "s3://bucket/raw.parquet")
    with pytest.raises(FolioError, match=r"is a reference to s3://bucket/raw\.parquet"):
        f.get_file("upstream")
    with pytest.raises(ItemNotFoundError, match="not found") as err:
        f.get_file("missing")
    assert isinstance(err.value, KeyError)


# -- views by kind ----------------------------------------------------------------------------

def test_list_contents_and_the_views_name_every_item_by_kind(f: Folio, tmp_path: Path) -> None:
    pq = tmp_path / "ext.parquet"
    _frame().to_parquet(pq)
    f.add_table("pandas_t", _frame())
    f.add_table("polars_t", pl.DataFrame({"x": [1, 2]}))
    f.add_numpy("emb", np.arange(6.0).reshape(2, 3))
    f.add_json("params", {"alpha": 0.1})
    f.add_model("clf", LogisticRegression(C=2.0))
    f.add_model("scorer", Scorer([1.0]), custom=True)
    f.reference_table("raw", str(pq))
    f.reference("docs", "https://example.com/readme")
    f.add_file(write(tmp_path / "p.png", PNG))
    f.text("notes", "hello\n")
    f.pickle("state", {1, 2})
    f.add_timestamp("trained_at", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    contents = f.list_contents()
    assert list(contents)[:8] == ["referenced_tables", "included_tables", "numpy_arrays",
                                  "json_data", "timestamps", "models", "pytorch_models",
                                  "artifacts"]
    assert contents["included_tables"] == ["pandas_t", "polars_t"]
    assert contents["referenced_tables"] == ["raw"] and contents["references"] == ["docs"]
    assert contents["numpy_arrays"] == ["emb"] and contents["json_data"] == ["params"]
    assert contents["models"] == ["clf", "scorer"] and contents["pytorch_models"] == []
    assert contents["artifacts"] == ["p.png"] and contents["text"] == ["notes"]
    assert contents["objects"] == ["state"] and contents["timestamps"] == ["trained_at"]
    assert sum(len(v) for v in contents.values()) == len(f)  # every item, once
    assert f.tables == ["pandas_t", "polars_t", "raw"] and f.arrays == ["emb"]
    assert f.models == ["clf", "scorer"] and f.references == ["docs", "raw"]
    assert f.artifacts == ["p.png"] and f.pytorch_models == []


# -- models -----------------------------------------------------------------------------------

def test_custom_models_go_through_joblib_behind_the_pickle_rule(f: Folio) -> None:
    f.add_model("scorer", Scorer([0.25, 0.75]), custom=True,
                hyperparameters={"lr": 0.01, "layers": [4, 2]}, description="hand-made")
    entry = f.info("scorer")
    assert (entry.type, entry.file, entry.family) == ("custom-model", "scorer.joblib", "model")
    assert entry.codec["serializer"] == "joblib"
    assert entry.codec["class"].endswith("Scorer")
    assert entry.user == {"hyperparameters": {"lr": 0.01, "layers": [4, 2]}}
    with pytest.raises(PickleNotAllowedError, match="allow_pickle=True"):
        f.get_model("scorer")
    with pytest.raises(PickleNotAllowedError):
        f["scorer"]
    assert f.get_model("scorer", allow_pickle=True) == Scorer([0.25, 0.75])
    assert f.get_data("scorer", allow_pickle=True) == Scorer([0.25, 0.75])


def test_a_custom_sklearn_model_predicts_the_same_after_the_round_trip(f: Folio) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    f.add_model("clf", model, custom=True, hyperparameters={"C": 1.0}, inputs=["train"])
    back = f.get_model("clf", allow_pickle=True)
    assert type(back) is LogisticRegression
    np.testing.assert_array_equal(back.coef_, model.coef_)
    np.testing.assert_array_equal(back.predict_proba(x), model.predict_proba(x))
    f.add_model("plain", model, hyperparameters={"C": 1.0})  # the sklearn codec
    assert f.info("plain").type == "sklearn"
    assert f.info("plain").user["hyperparameters"] == {"C": 1.0}


def test_model_refusals(f: Folio) -> None:
    with pytest.raises(FolioError, match="init_args is for PyTorch"):
        f.add_model("m", Scorer([1.0]), custom=True, init_args={"a": 1})
    with pytest.raises(TypeError, match="hyperparameters must be a dict"):
        f.add_model("m", Scorer([1.0]), custom=True, hyperparameters=[1, 2])
    with pytest.raises(TypeError, match=r"add_pytorch takes a torch\.nn\.Module, not Scorer"):
        f.add_pytorch("m", Scorer([1.0]))
    f.add_json("cfg", {"a": 1})
    with pytest.raises(FolioError, match="'cfg' is not a PyTorch model"):
        f.get_pytorch("cfg")
    assert "m" not in f


def test_pytorch_models_round_trip_through_their_state_dict(f: Folio) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed here")
    from torch import nn

    model = nn.Sequential(nn.Linear(3, 2))
    f.add_pytorch("net", model, init_args={}, hyperparameters={"lr": 0.1}, save_class=True)
    info = f.info("net")
    assert info.type == "torch-state-dict" and info.user["hyperparameters"] == {"lr": 0.1}
    weights = f.get_pytorch("net", reconstruct=False)  # the state dict: no trust needed
    assert set(weights) == set(model.state_dict())
    with pytest.raises(FolioError, match="pass model_class="):
        f.get_pytorch("net")  # importing the recorded class needs trust
    rebuilt = f.get_pytorch("net", model_class=lambda: nn.Sequential(nn.Linear(3, 2)))
    for key, value in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value)
    assert f.pytorch_models == ["net"] and f.models == ["net"]


# -- referenced tables ------------------------------------------------------------------------

def test_reference_table_reads_local_parquet_and_csv_exactly(f: Folio, tmp_path: Path) -> None:
    frame = _frame()
    frame.to_parquet(tmp_path / "raw.parquet")
    (tmp_path / "raw.csv").write_text("a,b,c\n1,x,0.5\n2,y,1.5\n3,z,2.5\n")
    f.reference_table("raw", reference=str(tmp_path / "raw.parquet"), description="upstream")
    f.reference_table("raw_csv", path=tmp_path / "raw.csv", num_rows=3)
    pd.testing.assert_frame_equal(f.get_table("raw"), frame)
    pd.testing.assert_frame_equal(f.get_data("raw"), frame)
    expected = frame.reset_index(drop=True)
    got = f.get_table("raw_csv")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert [str(t) for t in got.dtypes] == ["int64", "str", "float64"] or \
        list(got["a"]) == [1, 2, 3]
    meta = f.get_metadata("raw_csv")
    assert meta["uri"] == str(tmp_path / "raw.csv") and meta["table_format"] == "csv"
    assert meta["num_rows"] == 3
    assert f.data.raw.path == str(tmp_path / "raw.parquet")  # the URI is the path


def test_reference_table_refusals_are_one_line(f: Folio, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="table_format must be one of parquet, csv"):
        f.reference_table("t", "data/x.parquet", table_format="delta")
    with pytest.raises(FolioError, match="give the table's URI once"):
        f.reference_table("t")
    f.reference_table("gone", str(tmp_path / "gone.parquet"))
    with pytest.raises(FolioError, match="cannot read the referenced file") as err:
        f.get_table("gone")
    assert "\n" not in str(err.value)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    f.reference_table("bad", str(tmp_path / "bad.parquet"))
    with pytest.raises(FolioError, match="not a Parquet file") as err:
        f.get_table("bad")
    assert "experiments/exp1/bad.ref.json" in str(err.value)
    f.reference_table("web", "https://example.com/t.parquet")
    with pytest.raises(FolioError, match="other than local files and s3:// tables"):
        f.get_table("web")
    assert "t" not in f


def test_reference_table_reads_s3_through_folios_s3_backend(
        f: Folio, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint)  # moto, as for MinIO
    frame = _frame()
    frame.to_parquet(tmp_path / "t.parquet")
    prefix = s3.url().removeprefix(f"s3://{s3.bucket}/")
    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key=f"{prefix}/raw/t.parquet",
                      Body=(tmp_path / "t.parquet").read_bytes())
    client.put_object(Bucket=s3.bucket, Key=f"{prefix}/raw/t.csv", Body=b"a,b\n1,x\n2,y\n")
    base = f"s3://{s3.bucket}/{prefix}/raw"
    f.reference_table("remote", f"{base}/t.parquet")
    f.reference_table("remote_csv", f"{base}/t.csv")
    pd.testing.assert_frame_equal(f.get_table("remote"), frame)
    pd.testing.assert_frame_equal(f.get_data("remote_csv"),
                                  pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
                                  check_dtype=False)
    assert f.info("remote").uri == f"{base}/t.parquet"
    f.reference_table("absent", f"{base}/absent.parquet")
    with pytest.raises(FolioError, match="'absent': cannot read the referenced table") as err:
        f.get_table("absent")
    assert "\n" not in str(err.value) and "absent.parquet" in str(err.value)
    f.reference_table("hive", f"{base}/year=2024/t.parquet")
    with pytest.raises(FolioError, match="reads keys made of letters"):
        f.get_table("hive")
    f.reference_table("bucket_only", f"s3://{s3.bucket}/")
    with pytest.raises(FolioError, match="names no object"):
        f.get_table("bucket_only")


# -- lineage outside the bundle ---------------------------------------------------------------

def test_inputs_may_name_external_sources_and_describe_says_so(f: Folio, repo: Repo) -> None:
    f.add_data("raw", _frame())
    f.add_data("clean", _frame(), inputs=["raw", "raw_data", "s3://bucket/x.parquet"])
    assert f.get_inputs("clean") == ["raw", "raw_data", "s3://bucket/x.parquet"]
    assert f.info("clean").external_inputs == ["raw_data", "s3://bucket/x.parquet"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BundleWarning)
        f.delete("raw")
    text = f.describe(return_string=True)
    assert text is not None
    assert "inputs: raw (deleted), raw_data (external), s3://bucket/x.parquet (external)" \
        in text
    f.update_item("clean", inputs=["warehouse.events"])
    assert f.info("clean").external_inputs == ["warehouse.events"]
    shown = run_folio(repo.root, "describe", "experiments/exp1")
    assert shown.returncode == 0 and "warehouse.events (external)" in shown.stdout
    listed = json.loads(run_folio(repo.root, "describe", "experiments/exp1", "--json").stdout)
    [clean] = [i for i in listed[0]["items"] if i["name"] == "clean"]
    assert clean["external_inputs"] == ["warehouse.events"]
    assert f.info("clean").metadata["external_inputs"] == ["warehouse.events"]
    with pytest.raises(ItemNameError, match="neither an item nor an external name"):
        f.add_data("x", 1, inputs=["two\nlines"])
    with pytest.raises(FolioError, match="its own input"):
        f.add_data("clean", 1, inputs=["clean"])


# -- AutoStore's dict surface -----------------------------------------------------------------

def test_a_key_reads_with_or_without_its_extension(f: Folio) -> None:
    f["config.json"] = {"lr": 0.1}
    assert f["config"] == {"lr": 0.1} and f["config.json"] == {"lr": 0.1}
    assert "config" in f and f.get_data("config") == {"lr": 0.1}
    f["df"] = _frame()
    pd.testing.assert_frame_equal(f["df.parquet"], _frame())
    assert f.keys() == ["config.json", "df"]
    assert f.keys(extensions=False) == ["config", "df"]
    f["config"] = {"lr": 0.2}  # the same item, under the shorter name
    assert f["config.json"] == {"lr": 0.2} and len(f) == 2
    del f["config"]
    assert "config.json" not in f and f.keys() == ["df"]


def test_an_ambiguous_short_name_finds_nothing_and_keys_keep_extensions(f: Folio) -> None:
    f["x.json"] = [1, 2]
    f["x.npy"] = np.arange(3)
    assert "x" not in f
    with pytest.raises(KeyError, match="not found"):
        f["x"]
    assert f.keys(extensions=False) == ["x.json", "x.npy"]
    np.testing.assert_array_equal(f["x.npy"], np.arange(3))


def test_sub_bundles_copy_move_and_get_metadata(f: Folio) -> None:
    sub = f / "runs"
    sub["a"] = _frame()
    (sub / "deep")["b.json"] = {"k": 1}
    pd.testing.assert_frame_equal(f["runs/a"], _frame())
    assert sub.keys() == ["a", "deep/b.json"] and len(sub) == 2 and "a" in sub
    assert (f / "runs" / "deep")["b"] == {"k": 1}
    assert sub.path == f.path / "runs"
    sub.copy("a", "a_copy")
    sub.move("deep/b", "c.json")
    assert set(f.keys()) == {"runs/a", "runs/a_copy", "runs/c.json"}
    del sub["a_copy"]
    meta = f.get_metadata("runs/c")
    assert meta["size"] == (f.path / "runs/c.json").stat().st_size
    assert meta["type"] == "json" and meta["format"] == "json" and meta["kind"] == "json"
    assert meta["created_at"].endswith("Z") and meta["modified_at"].endswith("Z")
    assert sub.get_metadata("a")["format"] == "parquet"
    with pytest.raises(ItemNameError):
        f / "../out"
    with pytest.raises(ItemNotFoundError):
        f.get_metadata("nothing")


def test_a_bundle_is_a_context_manager_and_another_instance_sees_its_writes(repo: Repo) -> None:
    with folio.Folio("experiments/cm") as f:
        f["metrics"] = {"auc": 0.9}
        f.add_numpy("w", np.ones((2, 2), dtype=np.float32))
    other = folio.Folio("experiments/cm")
    assert other["metrics"] == {"auc": 0.9}
    w = other.get_numpy("w")
    assert w.dtype == np.float32 and w.shape == (2, 2)


def test_two_processes_add_files_to_one_bundle(repo: Repo, tmp_path: Path) -> None:
    src = write(tmp_path / "p.png", PNG)
    script = ("import sys, folio\nf = folio.Folio('experiments/shared')\n"
              "for i in range(5):\n    f.add_file(f'{sys.argv[1]}/{i}.png', src=sys.argv[2])\n")
    folio.Folio("experiments/shared")
    procs = [subprocess.Popen([sys.executable, "-c", script, who, str(src)], cwd=repo.root)
             for who in ("p1", "p2")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    f = folio.Folio("experiments/shared")
    assert len(f.artifacts) == 10
    assert all(f.get_file(n).read_bytes() == PNG for n in f.artifacts)


def test_a_read_only_bundle_reads_files_and_views_but_copies_nothing_in(
        repo: Repo, tmp_path: Path) -> None:
    from folio.errors import ReadOnlyError

    folio.Folio("experiments/ro").add_file(write(tmp_path / "a.png", PNG))
    ro = folio.Folio("experiments/ro", read_only=True)
    assert ro.get_file("a.png").read_bytes() == PNG and ro.artifacts == ["a.png"]
    assert ro.get_metadata("a")["size"] == len(PNG)
    for write_one in (lambda: ro.add_file(tmp_path / "a.png", name="b.png"),
                      lambda: ro.reference_table("t", "x.parquet"),
                      lambda: ro.add_model("m", Scorer([1.0]), custom=True)):
        with pytest.raises(ReadOnlyError, match="read-only"):
            write_one()
    assert folio.Folio("experiments/ro").keys() == ["a.png"]
