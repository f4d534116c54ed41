"""diffdetail: tables, arrays and JSON compared as data, and never a crash on bad bytes."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from folio.diffdetail import MAX_BYTES, MAX_COMPARE_ROWS, Detail, detail


def parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def arrow_parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def jbytes(value: object) -> bytes:
    return json.dumps(value).encode()


def serialisable(d: Detail) -> dict[str, object]:
    """The dict must survive strict JSON (no NaN/Infinity), as `folio diff --json` emits it."""
    out = d.to_dict()
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    return out


def must(d: Detail | None) -> Detail:
    assert d is not None
    return d


OLD = pd.DataFrame({"id": [1, 2, 3, 4], "score": [0.5, float("nan"), 2.0, 3.0],
                    "name": ["a", "b", None, "d"], "dropped": [1, 1, 1, 1]})


# -- tables ---------------------------------------------------------------------------------

def test_parquet_schema_changes_and_changed_rows() -> None:
    new = pd.DataFrame({"id": [1.0, 2.0, 3.0, 4.0],           # int64 -> double
                        "score": [0.5, float("nan"), 2.5, 3.0],  # row 2 changed; NaN kept
                        "name": ["a", "B", None, "d"],           # row 1 changed; null kept
                        "added": [7, 8, 9, 10]})
    d = must(detail("data/t.parquet", parquet(OLD), parquet(new)))
    out = serialisable(d)
    assert out["kind"] == "table" and out["format"] == "parquet"
    assert out["rows"] == [4, 4]
    assert out["columns_added"] == ["added"]
    assert out["columns_removed"] == ["dropped"]
    assert out["columns_retyped"] == [{"column": "id", "old": "int64", "new": "double"}]
    assert out["changed_rows"] == 2
    assert out["compared_columns"] == 2
    lines = d.render()
    assert "columns added: added" in lines
    assert "columns removed: dropped" in lines
    assert "column types changed: id int64 -> double" in lines
    assert "changed rows: 2 of 4 (in 2 shared columns)" in lines


def test_parquet_nan_and_null_are_not_changes() -> None:
    d = must(detail("t.parquet", parquet(OLD), parquet(OLD.copy())))
    assert d.info["changed_rows"] == 0
    assert d.info["columns_added"] == d.info["columns_removed"] == []
    assert d.render()[-1] == "changed rows: 0 of 4"


def test_parquet_row_count_change_is_not_compared_row_by_row() -> None:
    new = pd.concat([OLD, OLD.head(2)], ignore_index=True)
    d = must(detail("t.parquet", parquet(OLD), parquet(new)))
    assert d.info["rows"] == [4, 6]
    assert d.info["changed_rows"] is None
    assert d.info["changed_rows_note"] == "not computed: row counts differ"
    assert d.render()[0] == "parquet: rows 4 -> 6 (+2), columns 4 -> 4"


def test_parquet_nested_columns_are_compared() -> None:
    old = pa.table({"tags": [[1, 2], [3], None], "meta": [{"k": 1}, {"k": 2}, {"k": 3}]})
    new = pa.table({"tags": [[1, 2], [4], None], "meta": [{"k": 1}, {"k": 2}, {"k": 9}]})
    d = must(detail("n.parquet", arrow_parquet(old), arrow_parquet(new)))
    assert d.info["changed_rows"] == 2


def test_parquet_over_the_row_bound_is_not_compared() -> None:
    rows = MAX_COMPARE_ROWS + 1
    old = arrow_parquet(pa.table({"x": np.zeros(rows, np.int8)}))
    new = arrow_parquet(pa.table({"x": np.ones(rows, np.int8)}))
    d = must(detail("big.parquet", old, new))
    assert d.info["rows"] == [rows, rows]
    assert d.info["changed_rows"] is None
    assert "more than 2,000,000 rows" in d.info["changed_rows_note"]


def test_parquet_is_recognised_by_its_magic() -> None:
    d = must(detail("export/table.bin", None, parquet(OLD)))
    assert d.kind == "table" and d.info["format"] == "parquet"


def test_added_and_deleted_tables_describe_the_present_side() -> None:
    added = must(detail("t.pq", None, parquet(OLD)))
    out = serialisable(added)
    assert out["rows"] == [None, 4]
    assert out["schema"][:2] == [["id", "int64"], ["score", "double"]]
    assert added.render()[0] == "parquet: new, 4 rows, 4 columns"
    deleted = must(detail("t.pq", parquet(OLD), None))
    assert deleted.render()[0] == "parquet: deleted, 4 rows, 4 columns"


def test_long_column_lists_are_capped() -> None:
    wide = pd.DataFrame({f"c{i}": [i] for i in range(15)})
    d = must(detail("w.parquet", parquet(pd.DataFrame({"c0": [0]})), parquet(wide),
                    max_items=3))
    assert d.info["columns_added"] == ["c1", "c2", "c3"]
    assert d.info["omitted"] == {"columns_added": 11}
    assert "columns added: c1, c2, c3 (+11 more)" in d.render()


@pytest.mark.parametrize("garbage", [
    b"PAR1 this is not a parquet file PAR1",
    b"id,value\n1,2\n",
    b"",
])
def test_corrupt_parquet_is_not_comparable(garbage: bytes) -> None:
    d = must(detail("t.parquet", garbage, parquet(OLD)))
    assert d.kind == "not comparable"
    assert d.info["reason"] == "the old version is not readable as parquet"
    assert d.render() == ["parquet: not comparable (the old version is not readable as parquet)"]
    serialisable(d)


def test_truncated_parquet_is_not_comparable() -> None:
    data = parquet(OLD)
    d = must(detail("t.parquet", parquet(OLD), data[: len(data) // 2]))
    assert d.kind == "not comparable"
    assert "new version" in d.info["reason"]


def test_csv_summary() -> None:
    old = OLD.to_csv(index=False).encode()
    new_frame = OLD.drop(columns=["dropped"]).assign(score=[0.5, float("nan"), 2.0, 9.0])
    d = must(detail("t.csv", old, new_frame.to_csv(index=False).encode()))
    assert d.info["format"] == "csv"
    assert d.info["columns_removed"] == ["dropped"]
    assert d.info["changed_rows"] == 1
    assert d.info["compared_columns"] == 3


def test_tsv_reads_tabs_and_sees_retyping() -> None:
    old = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_csv(sep="\t", index=False).encode()
    new = pd.DataFrame({"a": [1.5, 2], "b": ["x", "y"]}).to_csv(sep="\t", index=False).encode()
    d = must(detail("t.tsv", old, new))
    assert d.info["columns"] == [2, 2]
    assert d.info["columns_retyped"] == [{"column": "a", "old": "int64", "new": "double"}]
    assert d.info["changed_rows"] == 0  # only column b is comparable, and it did not change


# -- arrays ---------------------------------------------------------------------------------

def test_array_values_changed() -> None:
    old = np.arange(12, dtype=np.float64).reshape(3, 4)
    new = old.copy()
    new[0, 1] += 0.25
    new[2, 3] -= 1.5
    d = must(detail("a.npy", npy(old), npy(new)))
    out = serialisable(d)
    assert out["shape"] == [[3, 4], [3, 4]]
    assert out["dtype"] == ["float64", "float64"]
    assert out["differing"] == 2
    assert out["max_abs_diff"] == 1.5
    assert d.render() == ["npy: shape (3, 4), dtype float64",
                          "differing elements: 2 of 12, max abs diff 1.5"]


def test_array_shape_and_dtype_change() -> None:
    d = must(detail("a.npy", npy(np.zeros((3, 4))), npy(np.zeros((3, 5), np.float32))))
    assert d.info["shape"] == [[3, 4], [3, 5]]
    assert "differing" not in d.info
    assert d.render() == ["npy: shape (3, 4) -> (3, 5), dtype float64 -> float32"]


def test_small_integers_do_not_wrap_around() -> None:
    d = must(detail("a.npy", npy(np.zeros(3, np.uint8)), npy(np.full(3, 255, np.uint8))))
    assert d.info["max_abs_diff"] == 255.0
    assert d.info["differing"] == 3


def test_nan_equals_nan_and_nan_against_a_number_counts() -> None:
    old = np.array([np.nan, 1.0, 2.0, np.inf])
    new = np.array([np.nan, np.nan, 2.5, np.inf])
    d = must(detail("a.npy", npy(old), npy(new)))
    assert d.info["differing"] == 2
    assert d.info["max_abs_diff"] == 0.5


def test_infinite_difference_stays_strict_json() -> None:
    d = must(detail("a.npy", npy(np.array([1.0])), npy(np.array([np.inf]))))
    assert serialisable(d)["max_abs_diff"] == "inf"


def test_string_arrays_count_differences() -> None:
    d = must(detail("a.npy", npy(np.array(["a", "b", "c"])), npy(np.array(["a", "x", "c"]))))
    assert d.info["differing"] == 1
    assert d.info["max_abs_diff"] is None


def test_pickled_array_is_not_loaded() -> None:
    evil = npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)
    d = must(detail("a.npy", evil, npy(np.zeros(1))))
    assert d.kind == "not comparable"


def test_npz_named_npy_is_not_comparable() -> None:
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros(2))
    d = must(detail("a.npy", buf.getvalue(), npy(np.zeros(2))))
    assert d.kind == "not comparable"


def test_new_array_file() -> None:
    d = must(detail("a.npy", None, npy(np.zeros((2, 2), np.int32))))
    assert d.render() == ["npy: new, shape (2, 2), dtype int32"]


# -- JSON -----------------------------------------------------------------------------------

def test_nested_json_changes_by_dotted_path() -> None:
    old = {"metrics": {"accuracy": 0.91, "loss": 0.3, "per_class": {"cat": 0.8}},
           "model": "resnet", "epochs": 10}
    new = {"metrics": {"accuracy": 0.93, "f1": 0.88, "per_class": {"cat": 0.85}},
           "model": "resnet", "epochs": 10}
    d = must(detail("metrics.json", jbytes(old), jbytes(new)))
    out = serialisable(d)
    assert out["counts"] == {"changed": 2, "added": 1, "removed": 1}
    assert out["changed"] == [
        {"key": "metrics.accuracy", "old": "0.91", "new": "0.93"},
        {"key": "metrics.per_class.cat", "old": "0.8", "new": "0.85"},
    ]
    assert out["added"] == [{"key": "metrics.f1", "value": "0.88"}]
    assert out["removed"] == [{"key": "metrics.loss", "value": "0.3"}]
    assert d.render() == ["json: 2 changed, 1 added, 1 removed",
                          "metrics.accuracy: 0.91 -> 0.93",
                          "metrics.per_class.cat: 0.8 -> 0.85",
                          "+ metrics.f1: 0.88",
                          "- metrics.loss: 0.3"]


def test_json_values_are_truncated() -> None:
    d = must(detail("c.json", jbytes({"note": "a" * 500}), jbytes({"note": "b" * 500})))
    change = d.info["changed"][0]
    assert len(change["old"]) == 60 and change["old"].endswith("…")
    assert change["new"].startswith('"bbb')


def test_json_types_matter_even_where_python_equates_them() -> None:
    d = must(detail("c.json", jbytes({"a": 1, "b": 1, "c": 2}),
                    jbytes({"a": 1.0, "b": True, "c": 2})))
    assert [c["key"] for c in d.info["changed"]] == ["a", "b"]


def test_reformatted_json_has_no_changes() -> None:
    value = {"b": [1, 2], "a": {"x": None}}
    d = must(detail("c.json", json.dumps(value).encode(),
                    json.dumps(value, indent=4, sort_keys=True).encode()))
    assert d.info["counts"] == {"changed": 0, "added": 0, "removed": 0}
    assert d.render() == ["json: no value changed"]


def test_json_lists_are_values_and_root_scalars_compare() -> None:
    d = must(detail("c.json", jbytes({"ids": [1, 2]}), jbytes({"ids": [1, 3]})))
    assert d.info["changed"] == [{"key": "ids", "old": "[1, 2]", "new": "[1, 3]"}]
    root = must(detail("c.json", jbytes([1, 2]), jbytes([1, 2, 3])))
    assert root.info["changed"][0]["key"] == "(root)"


def test_many_json_changes_are_capped() -> None:
    d = must(detail("c.json", jbytes({f"k{i}": i for i in range(30)}),
                    jbytes({f"k{i}": i + 1 for i in range(30)}), max_items=5))
    assert d.info["counts"]["changed"] == 30
    assert len(d.info["changed"]) == 5
    assert d.render()[-1] == "… and 25 more"


def test_new_json_file_lists_its_keys_as_added() -> None:
    d = must(detail("c.json", None, jbytes({"a": {"b": 1}})))
    assert d.info["added"] == [{"key": "a.b", "value": "1"}]


def test_invalid_json_is_not_comparable() -> None:
    d = must(detail("c.json", b'{"a": 1', jbytes({"a": 1})))
    assert d.kind == "not comparable"
    assert d.render() == ["json: not comparable (the old version is not readable as json)"]


def test_deeply_nested_json_does_not_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    d = must(detail("c.json", deep.encode(), b"{}"))
    assert d.kind in ("json", "not comparable")


def test_jsonl_records_and_fields() -> None:
    old = b'{"id": 1, "y": 0}\n{"id": 2, "y": 1}\n'
    new = b'{"id": 1, "y": 0, "w": 1}\n{"id": 2, "y": 5}\n{"id": 3, "y": 0}\n'
    d = must(detail("runs.jsonl", old, new))
    assert d.info["records"] == [2, 3]
    assert d.info["fields_added"] == ["w"]
    assert "changed_records" not in d.info
    assert d.render() == ["jsonl: records 2 -> 3 (+1)", "fields added: w"]
    same_count = must(detail("runs.jsonl", old, b'{"id": 1, "y": 0}\n{"id": 2, "y": 7}\n'))
    assert same_count.info["changed_records"] == 1


def test_bad_jsonl_line_is_not_comparable() -> None:
    d = must(detail("runs.jsonl", b'{"id": 1}\nnot json\n', b'{"id": 1}\n'))
    assert d.kind == "not comparable"


# -- everything else ------------------------------------------------------------------------

def test_unknown_formats_and_absent_files_give_none() -> None:
    assert detail("model.bin", b"\x00\x01", b"\x00\x02") is None
    assert detail("t.parquet", None, None) is None


def test_too_large_is_not_read() -> None:
    huge = bytes(MAX_BYTES + 1)  # zero-filled: cheap to allocate
    d = must(detail("big.json", huge, b"{}"))
    assert d.kind == "not comparable"
    assert d.info["reason"].startswith("too large to compare")


@settings(max_examples=40, deadline=None)
@given(ext=st.sampled_from([".parquet", ".csv", ".tsv", ".npy", ".json", ".jsonl", ".bin"]),
       old=st.one_of(st.none(), st.binary(max_size=200)),
       new=st.one_of(st.none(), st.binary(max_size=200)))
def test_arbitrary_bytes_never_raise(ext: str, old: bytes | None, new: bytes | None) -> None:
    d = detail("f" + ext, old, new)
    if d is not None:
        serialisable(d)
        assert all(isinstance(line, str) for line in d.render())


@settings(max_examples=30, deadline=None)
@given(prefix=st.sampled_from([b"PAR1", b"\x93NUMPY", b"\x93NUMPY\x01\x00"]),
       tail=st.binary(max_size=200))
def test_bytes_with_a_real_magic_never_raise(prefix: bytes, tail: bytes) -> None:
    d = must(detail("f", prefix + tail, None))
    assert d.kind == "not comparable"


def test_table_detail_starts_no_native_threads(tmp_path) -> None:
    """arrow's CPU thread pool aborted `folio diff` at interpreter exit about once in 200
    runs (apache/arrow#34314); detail reads tables single-threaded, so the pool never starts
    (0 aborts in 1,000 runs since)."""
    import subprocess
    import sys

    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2]}), buf)
    (tmp_path / "t.parquet").write_bytes(buf.getvalue())
    script = """
import os, sys
import numpy, pyarrow, pyarrow.csv, pyarrow.parquet  # their own start-up threads come first
from folio.diffdetail import detail
def threads(): return len(os.listdir('/proc/self/task'))
parquet = open(sys.argv[1], 'rb').read()
before = threads()
detail('t.csv', b'x\\n1\\n', b'x\\n1\\n2\\n')
detail('t.parquet', parquet, parquet[:-1] + parquet[-1:])
print(before, threads())
"""
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "t.parquet")],
                         capture_output=True, text=True, check=True).stdout.split()
    # arrow's CPU pool (one thread per core) never starts; the CSV reader's one I/O
    # thread may, as it does whatever the options say
    assert int(out[1]) - int(out[0]) <= 1


# -- footers of Parquet too large to read; summaries from manifest entries ------------------

def test_footer_detail_reads_schema_and_rows_only(tmp_path, monkeypatch) -> None:
    from folio import diffdetail

    old = tmp_path / "old.parquet"
    new = tmp_path / "new.parquet"
    old.write_bytes(arrow_parquet(pa.table({"id": list(range(500)), "x": [1.0] * 500})))
    new.write_bytes(arrow_parquet(pa.table({"id": [str(i) for i in range(700)]})))
    got = diffdetail.footer_detail("t.parquet", old, new)
    assert got.kind == "table" and got.info["source"] == "footer"
    assert got.info["rows"] == [500, 700] and got.info["columns_removed"] == ["x"]
    assert got.info["columns_retyped"] == [{"column": "id", "old": "int64", "new": "string"}]
    assert got.render()[0].endswith("(from the Parquet footers)")
    added = diffdetail.footer_detail("t.parquet", None, new)
    assert added.info["rows"] == [None, 700] and added.info["schema"] == [["id", "string"]]
    monkeypatch.setattr(diffdetail, "MAX_FOOTER_BYTES", 16)  # a footer claiming more
    capped = diffdetail.footer_detail("t.parquet", old, new)
    assert capped.kind == "not comparable" and "MiB, not read" in capped.info["reason"]


@pytest.mark.parametrize("body", [b"", b"PAR1", b"PAR1" + b"\0" * 20 + b"PAR1",
                                  b"not parquet at all, long enough"])
def test_footer_detail_of_bad_files_is_not_comparable(tmp_path, body: bytes) -> None:
    from folio import diffdetail

    bad = tmp_path / "bad.parquet"
    bad.write_bytes(body)
    got = diffdetail.footer_detail("bad.parquet", bad, None)
    assert got.kind == "not comparable" and got.info["reason"].startswith("the old version")


def test_meta_detail_reads_add_summaries_and_bundle_codec_meta() -> None:
    from folio.diffdetail import meta_detail

    old = {"rows": 5000, "columns": ["id", "a: b"], "schema": ["id: int64", "a: b: string"]}
    new = {"rows": 5012, "columns": ["id", "a: b", "churned"],
           "schema": ["id: int64", "a: b: large_string", "churned: bool"]}
    got = meta_detail("t.parquet", "parquet", old, new)
    assert got is not None and got.info["source"] == "meta"
    assert got.info["columns_added"] == ["churned"]
    assert got.info["columns_retyped"] == [{"column": "a: b", "old": "string",
                                            "new": "large_string"}]
    assert got.render()[:2] == ["parquet: rows 5,000 -> 5,012 (+12), columns 2 -> 3 "
                                "(from the manifests' summaries)", "columns added: churned"]
    bundle = meta_detail("t.parquet", "parquet",
                         {"codec": {"rows": 3, "columns": 2, "schema": {"a": "int64", "b": "x"}}},
                         {"codec": {"rows": 3, "columns": 2, "schema": {"a": "double", "b": "x"}}})
    assert bundle is not None and bundle.info["columns_retyped"][0]["new"] == "double"
    assert "only the manifests' summaries" in bundle.info["changed_rows_note"]
    assert meta_detail("a.npy", "npy", None, {"shape": [2], "dtype": "int8"}).info == {
        "format": "npy", "source": "meta", "shape": [None, [2]], "dtype": [None, "int8"]}
    # a side without a summary, a summary of the wrong shape, a format without one: nothing
    assert meta_detail("t.csv", "csv", {"rows": 1, "columns": ["a"]}, {}) is None
    assert meta_detail("t.csv", "csv", {"rows": "1", "columns": 3}, None) is None
    assert meta_detail("a.npy", "npy", {"shape": "x"}, {"shape": [1]}) is None
    assert meta_detail("m.json", "json", {"json": "object"}, {"json": "array"}) is None


def test_meta_detail_does_not_compare_names_it_was_not_given() -> None:
    from folio.diffdetail import meta_detail

    old = {"rows": 1, "columns": [f"c{i}" for i in range(50)], "columns_total": 80}
    new = {"rows": 1, "columns": [f"c{i}" for i in range(1, 51)], "columns_total": 80}
    got = meta_detail("t.csv", "csv", old, new)
    assert got is not None and got.info["columns"] == [80, 80]
    assert got.info["columns_added"] == got.info["columns_removed"] == []
    assert "columns: the summaries list only the first columns" in "\n".join(got.render())
