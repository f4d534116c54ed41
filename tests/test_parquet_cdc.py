"""Bundle Parquet has content-defined pages, so a small edit leaves most bytes as they were.

The store cuts large files with FastCDC (format.md 3.3); what it can share between two versions
of a table depends on the Parquet writer keeping unchanged pages byte-identical after an insert.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from folio.codecs import _parquet

pyfastcdc = pytest.importorskip("pyfastcdc")
pytestmark = pytest.mark.skipif(not _parquet.cdc_options(), reason="pyarrow < 21 has no CDC writer")

ROWS = 300_000


def _table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    cities = np.array([f"city-{i}" for i in range(300)])
    return pa.table({
        "user": rng.integers(0, 10**9, rows),
        "ts": pa.array(np.sort(rng.integers(int(1.6e18), int(1.7e18), rows))
                       .astype("datetime64[ns]")),
        "amount": rng.normal(100, 30, rows).round(2),
        "city": cities[rng.integers(0, 300, rows)],
        "score": rng.random(rows).astype("float32"),
    })


def _new_share(old: bytes, new: bytes) -> float:
    """The share of ``new`` in FastCDC chunks (the store's sizes) that ``old`` lacks."""
    def cut(data: bytes) -> dict[str, int]:
        chunker = pyfastcdc.FastCDC(avg_size=64 * 1024, min_size=16 * 1024, max_size=256 * 1024)
        return {hashlib.sha256(bytes(c.data)).hexdigest(): c.length for c in chunker.cut_buf(data)}
    have = cut(old)
    return sum(n for h, n in cut(new).items() if h not in have) / len(new)


def _written(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    _parquet.write(table, sink)
    return sink.getvalue()


def test_one_percent_insert_leaves_most_of_the_file_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    table = _table(ROWS, 1)
    edited = pa.concat_tables([table.slice(0, ROWS // 2), _table(ROWS // 100, 2),
                               table.slice(ROWS // 2)]).combine_chunks()
    with_cdc = _new_share(_written(table), _written(edited))
    monkeypatch.setattr(_parquet, "cdc_options", lambda: {})
    without = _new_share(_written(table), _written(edited))
    # 300,000 rows: each column's changed pages weigh more than at 1 M rows (4-8 % there,
    # benchmarks/bench_parquet_cdc.py); measured here 21 % with CDC against 60 % without.
    assert with_cdc <= 0.35, with_cdc
    assert without >= 1.6 * with_cdc, (without, with_cdc)


def test_an_insert_does_not_renumber_a_dictionary() -> None:
    # 40,000 distinct amounts: a dictionary page would number them by first appearance, and
    # values first seen in the inserted rows would shift the numbers of the later pages.
    # One column of 1 M rows (8 MB): at 300,000 the share swings 7-39 % with where FastCDC cuts
    rows = 1_000_000
    rng = np.random.default_rng(4)
    table = pa.table({"amount": rng.gamma(2.0, 30.0, rows).round(2)})
    extra = pa.table({"amount": rng.gamma(2.0, 30.0, rows // 100).round(2)})
    edited = pa.concat_tables([table.slice(0, rows // 2), extra, table.slice(rows // 2)])
    folio = _new_share(_written(table), _written(edited))

    def with_dictionary(t: pa.Table) -> bytes:
        sink = io.BytesIO()
        pq.write_table(t, sink, **(_parquet.write_options(t) | {"use_dictionary": True}))
        return sink.getvalue()

    dictionary = _new_share(with_dictionary(table), with_dictionary(edited))
    # measured 8 % against 57 %
    assert folio <= 0.2, folio
    assert dictionary >= 2 * folio, (dictionary, folio)


def test_only_arrow_dictionary_columns_get_dictionary_pages() -> None:
    # a categorical's unused categories live only in its dictionary page
    table = pa.table({"n": [1, 2], "cat": pa.array(["a", "b"]).dictionary_encode(),
                      "s": ["x", "y"]})
    assert _parquet.write_options(table)["use_dictionary"] == ["cat"]
    words = pa.list_(pa.dictionary(pa.int8(), pa.string()))
    nested = pa.table({"l": pa.array([["a"], ["b", "a"]]).cast(words)})
    assert _parquet.write_options(nested)["use_dictionary"] is True
    assert _parquet.read(_written(nested), trusted=True).equals(nested)


def test_content_defined_pages_read_back_exactly() -> None:
    table = _table(10_000, 3)
    back = _parquet.read(_written(table), trusted=True)
    assert back.equals(table)


def test_every_leaf_column_is_compressed_floats_with_snappy() -> None:
    # pyarrow leaves a column that a per-column compression map does not name uncompressed
    table = pa.table({"i": [1, 2], "f": [0.5, 1.5], "s": [{"x": 1.5, "y": "a"}] * 2,
                      "l": [[1.0], [2.0, 3.0]]})
    metadata = pq.ParquetFile(pa.BufferReader(_written(table))).metadata.row_group(0)
    codecs = {metadata.column(i).path_in_schema: metadata.column(i).compression
              for i in range(metadata.num_columns)}
    assert codecs == {"i": "ZSTD", "f": "SNAPPY", "s.x": "SNAPPY", "s.y": "ZSTD",
                      "l.list.element": "SNAPPY"}
