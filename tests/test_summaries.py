"""Table and array summaries in manifest entries (docs/format.md 4.3, "Summaries"): what a
plain ``git diff`` of a pull request shows a reviewer without folio (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import git, run_folio, write

np = pytest.importorskip("numpy")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

MANIFEST = ".folio/manifests/data.folio"


def _table(path: Path, rows: int, **extra: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": list(range(rows)), "score": [0.5] * rows, **extra}), path)


def _csv(path: Path, rows: int) -> None:
    write(path, "id,city\n" + "".join(f'{i},"Oslo, N"\n' for i in range(rows)))


def _meta(root: Path, rel: str, manifest: str = MANIFEST) -> dict[str, Any] | None:
    for line in (root / manifest).read_text().splitlines()[1:]:
        entry = json.loads(line)
        if entry["path"] == rel:
            return entry.get("meta")
    raise AssertionError(f"no entry {rel} in {manifest}")


def _add(root: Path, *args: str) -> None:
    proc = run_folio(root, "add", *args)
    assert proc.returncode == 0, proc.stderr


def _commit(root: Path) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", "data")


def test_plain_git_diff_shows_the_rows_and_the_added_column(repo: Any) -> None:
    root = repo.root
    _table(root / "data/customers.parquet", 5000)
    _csv(root / "data/cities.csv", 300)
    _add(root, "data")
    _commit(root)
    _table(root / "data/customers.parquet", 5012, churned=[False] * 5012)
    _csv(root / "data/cities.csv", 301)
    _add(root, "data")
    diff = git(root, "diff", "--no-textconv", "--", MANIFEST).stdout
    removed = [line for line in diff.splitlines() if line.startswith("-{")]
    added = [line for line in diff.splitlines() if line.startswith("+{")]
    assert any('"rows":5000' in line and "churned" not in line for line in removed), diff
    assert any('"rows":5012' in line and '"churned"' in line and '"churned: bool"' in line
               for line in added), diff
    assert any('"rows":300' in line for line in removed)
    assert any('"columns":["id","city"],"rows":301' in line for line in added), diff


def test_each_kind_records_its_summary(repo: Any) -> None:
    root = repo.root
    _table(root / "data/t.parquet", 3, when=pa.array([1, 2, 3], pa.timestamp("us")))
    write(root / "data/t.tsv", "a\tb\n1\t2\n3\t4")  # no newline after the last record
    write(root / "data/quoted.csv", 'id,note\n1,"two\nlines"\n2,x\n')
    np.save(root / "data/m.npy", np.zeros((4, 3), dtype=">i2"))
    np.save(root / "data/s.npy", np.zeros(2, dtype=[("x", "<f4"), ("y", "<i8")]))
    write(root / "data/params.json", '{"lr": 0.1, "epochs": 3, "layers": [1, 2]}')
    write(root / "data/list.json", "[1, 2, 3]")
    write(root / "data/notes.txt", "id,city\n1,Oslo\n")
    _add(root, "data")
    assert _meta(root, "t.parquet") == {
        "rows": 3, "columns": ["id", "score", "when"],
        "schema": ["id: int64", "score: double", "when: timestamp[us]"]}
    assert _meta(root, "t.tsv") == {"columns": ["a", "b"], "rows": 2}
    assert _meta(root, "quoted.csv") == {"columns": ["id", "note"], "rows": 2}
    assert _meta(root, "m.npy") == {"shape": [4, 3], "dtype": "int16"}
    assert _meta(root, "s.npy") == {"shape": [2], "dtype": "{x: float32, y: int64}"}
    assert _meta(root, "params.json") == {"json": "object", "length": 3,
                                          "keys": ["epochs", "layers", "lr"]}
    assert _meta(root, "list.json") == {"json": "array", "length": 3}
    assert _meta(root, "notes.txt") is None  # only the four kinds are read


def test_git_diff_through_folio_reads_the_summary_line_by_line(repo: Any) -> None:
    root = repo.root
    _table(root / "data/customers.parquet", 5000)
    np.save(root / "data/m.npy", np.zeros((10, 3)))
    _add(root, "data")
    _commit(root)
    _table(root / "data/customers.parquet", 5012, churned=[False] * 5012)
    np.save(root / "data/m.npy", np.zeros((12, 3), dtype=np.float32))
    _add(root, "data")
    diff = git(root, "diff", "--", MANIFEST).stdout  # folio init set folio's textconv up
    lines = diff.splitlines()
    assert "-    5,000 rows" in lines and "+    5,012 rows" in lines, diff
    assert "+    column churned: bool" in lines and "     column id: int64" in lines
    assert "-    shape (10, 3) float64" in lines and "+    shape (12, 3) float32" in lines
    assert '"rows"' not in diff  # rendered, not dumped as JSON


def test_a_wide_table_gets_a_bounded_summary(repo: Any) -> None:
    root = repo.root
    (root / "data").mkdir()
    pq.write_table(pa.table({f"feature_{i:04}": [1.0] for i in range(5000)}),
                   root / "data/wide.parquet")
    write(root / "data/wide.csv", ",".join(f"c{i}" for i in range(5000)) + "\n1\n")
    write(root / "data/wide.json", json.dumps({f"key_{i}" * 40: i for i in range(3000)}))
    _add(root, "data")
    lines = (root / MANIFEST).read_text().splitlines()
    assert max(len(line.encode()) for line in lines) < 5000
    wide = _meta(root, "wide.parquet")
    assert wide is not None and wide["rows"] == 1 and wide["columns_total"] == 5000
    assert wide["columns"][:2] == ["feature_0000", "feature_0001"]
    assert len(wide["schema"]) == len(wide["columns"]) <= 50
    csv_meta = _meta(root, "wide.csv")
    assert csv_meta is not None and csv_meta["columns_total"] == 5000
    keys = _meta(root, "wide.json")
    assert keys is not None and keys["length"] == 3000 and keys["keys_total"] == 3000
    assert all(len(k) <= 80 for k in keys["keys"])


def test_a_csv_over_the_counting_limit_keeps_its_columns_only(repo: Any) -> None:
    from folio.codecs.summary import CSV_COUNT_MAX

    root = repo.root
    big = write(root / "data/big.csv", "id,value\n")
    with open(big, "r+b") as f:  # sparse: the test writes no 64 MiB
        f.truncate(CSV_COUNT_MAX + 1)
    _add(root, "--no-copy", "data")
    assert _meta(root, "big.csv") == {"columns": ["id", "value"]}


def test_a_corrupt_file_gets_no_summary_and_the_add_succeeds(repo: Any) -> None:
    root = repo.root
    write(root / "data/broken.parquet", b"PAR1" + b"\x00" * 100 + b"\x10\x00\x00\x00PAR1")
    write(root / "data/cut.parquet", b"PAR1 not a parquet file at all")
    write(root / "data/bad.npy", b"\x93NUMPY\x01\x00\x05\x00{'x'")
    write(root / "data/bad.json", '{"a": 1,')
    write(root / "data/binary.csv", b"\x00\x01\x02\xff")
    _table(root / "data/good.parquet", 2)
    proc = run_folio(root, "add", "data")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for rel in ("broken.parquet", "cut.parquet", "bad.npy", "bad.json", "binary.csv"):
        assert _meta(root, rel) is None, rel
    assert _meta(root, "good.parquet") == {"rows": 2, "columns": ["id", "score"],
                                           "schema": ["id: int64", "score: double"]}
    assert run_folio(root, "status").returncode == 0


def test_an_unchanged_file_keeps_its_meta_without_a_reread(repo: Any) -> None:
    root = repo.root
    _table(root / "data/t.parquet", 5000)
    _csv(root / "data/c.csv", 10)
    _add(root, "data")
    manifest = root / MANIFEST
    # Say something the file does not: a re-read would put 5000 back.
    manifest.write_text(manifest.read_text().replace('"rows":5000', '"rows":1234'))
    _add(root, "data")  # the manifest moved: the full comparison, with the stat cache
    assert _meta(root, "t.parquet")["rows"] == 1234  # type: ignore[index]
    _csv(root / "data/c.csv", 11)
    _add(root, "data")  # under the clean mark: only the edited file is read
    assert _meta(root, "t.parquet")["rows"] == 1234  # type: ignore[index]
    assert _meta(root, "c.csv") == {"columns": ["id", "city"], "rows": 11}


def test_content_that_changed_back_gets_its_summary_again(repo: Any) -> None:
    root = repo.root
    (root / "data").mkdir()
    np.save(root / "data/m.npy", np.zeros(3))
    _add(root, "data")
    np.save(root / "data/m.npy", np.zeros(5))
    _add(root, "data")
    assert _meta(root, "m.npy") == {"shape": [5], "dtype": "float64"}
    np.save(root / "data/m.npy", np.zeros(3))
    _add(root, "data")
    assert _meta(root, "m.npy") == {"shape": [3], "dtype": "float64"}


def test_snapshot_and_a_file_target_record_summaries(repo: Any) -> None:
    root = repo.root
    write(root / "params.json", '{"lr": 0.1}')
    _add(root, "params.json")
    assert _meta(root, "params.json", ".folio/manifests/params.json.folio") == {
        "json": "object", "length": 1, "keys": ["lr"]}
    write(root / "params.json", '{"lr": 0.2, "seed": 7}')
    proc = run_folio(root, "snapshot", "v1", "-m", "tuned")
    assert proc.returncode == 0, proc.stderr
    assert _meta(root, "params.json", ".folio/manifests/params.json.folio") == {
        "json": "object", "length": 2, "keys": ["lr", "seed"]}


def test_bundle_meta_is_kept_beside_the_summary(repo: Any) -> None:
    pd = pytest.importorskip("pandas")
    root = repo.root
    f = repo.folio("exp")
    f.add_json("params", {"lr": 0.1}, description="the knobs")
    f.add_table("scores", pd.DataFrame({"id": [1, 2, 3]}), description="per id",
                inputs=["params"])
    before = (root / ".folio/manifests/exp.folio").read_bytes()
    scores = _meta(root, "scores.parquet", ".folio/manifests/exp.folio")
    assert scores is not None and scores["description"] == "per id"
    assert scores["inputs"] == ["params"] and "codec" in scores and "created" in scores
    assert scores["rows"] == 3 and scores["columns"][0] == "id"
    _add(root, "exp")  # nothing changed: not a byte of the bundle's meta moves
    assert (root / ".folio/manifests/exp.folio").read_bytes() == before
    f.add_table("scores", pd.DataFrame({"id": [1, 2, 3]}), description="per id",
                inputs=["params"], overwrite=True)  # the same again: no new date either
    assert (root / ".folio/manifests/exp.folio").read_bytes() == before
    assert f.get_data("scores")["id"].tolist() == [1, 2, 3]
    assert f.get_inputs("scores") == ["params"]


def test_a_bundle_file_edited_in_place_gets_the_new_summary(repo: Any) -> None:
    root = repo.root
    f = repo.folio("exp")
    f.add_json("params", {"lr": 0.1}, description="the knobs")
    write(root / "exp/params.json", '{"lr": 0.2, "seed": 1}')
    f.track(["params"])
    meta = _meta(root, "params.json", ".folio/manifests/exp.folio")
    assert meta is not None and meta["description"] == "the knobs"
    assert meta["keys"] == ["lr", "seed"] and meta["length"] == 2


def test_summaries_off_in_the_config(repo: Any) -> None:
    root = repo.root
    config = root / ".folio/config.toml"
    config.write_text(config.read_text() + "\n[add]\nsummaries = false\n")
    _table(root / "data/t.parquet", 5)
    write(root / "data/c.csv", "a\n1\n")
    _add(root, "data")
    assert _meta(root, "t.parquet") is None and _meta(root, "c.csv") is None


def test_a_summaries_setting_that_is_not_a_boolean_is_one_line_exit_1(repo: Any) -> None:
    root = repo.root
    config = root / ".folio/config.toml"
    config.write_text(config.read_text() + '\n[add]\nsummaries = "no"\n')
    write(root / "data/c.csv", "a\n1\n")
    proc = run_folio(root, "add", "data")
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "add.summaries" in proc.stderr


def test_textconv_renders_a_hostile_or_malformed_summary_safely() -> None:
    from folio.textconv import render_line

    shown = render_line({"path": "t.parquet", "size": 1, "sha256": "a" * 64, "meta": {
        "rows": 1, "columns": ["a\nb"], "columns_total": 3, "description": "kept"}})
    assert shown.splitlines() == ['t.parquet  1 B  aaaaaaaaaaaa  {"description": "kept"}',
                                  "    1 row", "    column a\\nb",
                                  "    ... 2 more columns (3 in all)"]
    odd = {"rows": "many", "shape": ["x"], "json": 3}  # not a summary folio writes: as JSON
    assert render_line({"path": "x", "size": 1, "sha256": "b" * 64, "meta": odd}) == \
        'x  1 B  bbbbbbbbbbbb  {"json": 3, "rows": "many", "shape": ["x"]}'


def test_the_scan_prefilter_names_exactly_the_summarized_suffixes() -> None:
    from folio.codecs.summary import SUFFIXES
    from folio.worktree.scan import SUMMARIZED

    assert set(SUMMARIZED) == set(SUFFIXES)
