"""How much of a rewritten Parquet file a chunk store finds new after a 1 % edit (issue 17).

Usage: python benchmarks/bench_parquet_cdc.py [--rows 1000000] [--grid | --chosen]
       [--tables events,wide,strings,pandas] [--edits insert,append,update] [--repeat 1]
       [--extra "GRID ROW NAME,..."]

Standalone (pyarrow, pyfastcdc, numpy, pandas; no folio store). Each table is built, edited
(1 % new rows inserted in the middle, 1 % appended, or the float columns of 1 % of the rows,
a block in the middle, given new values in place), both versions are written with the given
Parquet options and both files cut with FastCDC at the given sizes. Printed per row: the share
of the new file's bytes in chunks the old file lacks (what the store must add), the new file's
size, its growth against pyarrow's plain defaults for the same table, and the seconds to
write and to read the new version (fastest of `--repeat`, default 1: noisy on a shared
machine; `--chosen --repeat 7 --extra "main: cdc 16/64 n1"` compares speed with the former
options).

`--grid` (default) samples writer options and store chunk sizes on the events table's insert
(what benchmarks/bench_chunks.py measures through a bundle) and then runs the most promising
rows on every table and edit; `--chosen` runs only what src/folio/codecs/_parquet.py writes.
Target (issue 17): <= 10 % new, with file growth <= 3 %.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyfastcdc import FastCDC

KiB = 1024
TARGET = 0.10


def events(n: int, seed: int) -> pa.Table:
    """bench_chunks.py's table: ids, sorted times, amounts, 400 shops, scores."""
    rng = np.random.default_rng(seed)
    shops = np.array([f"shop-{i:03d}" for i in range(400)])
    times = np.sort(rng.integers(1_700_000_000_000, 1_710_000_000_000, n))
    return pa.table({"customer": rng.integers(0, 2_000_000, n),
                     "at": pa.array(times.astype("datetime64[ms]")),
                     "amount": rng.gamma(2.0, 30.0, n).round(2),
                     "shop": shops[rng.integers(0, len(shops), n)],
                     "score": rng.random(n).astype(np.float32)})


def wide(n: int, seed: int) -> pa.Table:
    """Twelve numeric columns: measurements, counters, flags."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {f"x{i}": rng.normal(0, 1, n) for i in range(6)}
    columns |= {f"n{i}": rng.integers(0, 10 ** (i + 2), n) for i in range(4)}
    columns |= {"ratio": rng.random(n).astype(np.float32), "flag": rng.random(n) < 0.1}
    return pa.table(columns)


def strings(n: int, seed: int) -> pa.Table:
    """Free-ish text, a categorical (dictionary) column and a low-cardinality string column."""
    rng = np.random.default_rng(seed)
    words = np.array([f"word{i}" for i in range(5000)])
    countries = np.array([f"country-{i:02d}" for i in range(60)])
    text = [" ".join(words[rng.integers(0, len(words), 3)]) for _ in range(n)]
    status = pa.array(np.array(["new", "paid", "shipped", "returned"])[rng.integers(0, 4, n)])
    return pa.table({"email": [f"user{u}@example.com" for u in rng.integers(0, 500_000, n)],
                     "text": text,
                     "country": pa.DictionaryArray.from_arrays(  # one category set, as pandas has
                         pa.array(rng.integers(0, 60, n).astype(np.int32)), pa.array(countries)),
                     "status": status,
                     "value": rng.gamma(2.0, 10.0, n).round(1)})


def pandas_frame(n: int, seed: int) -> pa.Table:
    """A pandas frame with a DatetimeIndex and a categorical, as the pandas codec converts it."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    index = pd.DatetimeIndex(np.sort(rng.integers(1_700_000_000, 1_710_000_000, n))
                             .astype("datetime64[s]").astype("datetime64[ns]"), name="when")
    frame = pd.DataFrame({"sensor": pd.Categorical.from_codes(rng.integers(0, 50, n),
                                                              [f"s{i}" for i in range(50)]),
                          "temp": rng.normal(20, 5, n).round(3),
                          "count": rng.integers(0, 1000, n)}, index=index)
    return pa.Table.from_pandas(frame)  # what folio.codecs.pandas_frame writes


TABLES: dict[str, Callable[[int, int], pa.Table]] = {
    "events": events, "wide": wide, "strings": strings, "pandas": pandas_frame}


def edited(table: pa.Table, make: Callable[[int, int], pa.Table], how: str) -> pa.Table:
    """``table`` after a 1 % edit: rows inserted in the middle, appended, or updated in place."""
    rows = table.num_rows
    fresh = make(rows // 100, 2).cast(table.schema)
    mid = rows // 2
    if how == "insert":
        return pa.concat_tables([table.slice(0, mid), fresh, table.slice(mid)])
    if how == "append":
        return pa.concat_tables([table, fresh])
    if how == "update":  # the float columns of a block of 1 % of the rows get new values
        for index, column in enumerate(table.schema):
            if pa.types.is_floating(column.type):
                block = pa.chunked_array([table.column(index).slice(0, mid),
                                          fresh.column(index),
                                          table.column(index).slice(mid + fresh.num_rows)])
                table = table.set_column(index, column, block)
        return table
    raise ValueError(f"unknown edit {how!r}")


@dataclass(frozen=True)
class Setting:
    """Parquet writer keywords plus the store's FastCDC average (min = avg/4, max = avg*4)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    store_avg: int = 64 * KiB
    per_table: Callable[[pa.Table], dict[str, Any]] | None = None  # folio's, by schema

    def for_table(self, table: pa.Table) -> dict[str, Any]:
        return self.per_table(table) if self.per_table else self.options


def cdc(lo: int, hi: int, norm: int = 1) -> dict[str, Any]:
    return {"use_content_defined_chunking": {"min_chunk_size": lo * KiB, "max_chunk_size": hi * KiB,
                                             "norm_level": norm}}


def written(table: pa.Table, options: dict[str, Any]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def chunk_set(data: bytes, avg: int) -> dict[bytes, int]:
    """The store's view of ``data``: FastCDC chunks by content hash."""
    chunker = FastCDC(avg, min_size=avg // 4, max_size=avg * 4)
    return {hashlib.sha256(bytes(c.data)).digest(): c.length for c in chunker.cut_buf(data)}


def new_share(old: bytes, new: bytes, avg: int) -> float:
    have = chunk_set(old, avg)
    return sum(n for h, n in chunk_set(new, avg).items() if h not in have) / len(new)


class Bench:
    """Builds each table once and each (table, edit) pair once; memoises plain sizes."""

    def __init__(self, rows: int, repeat: int = 1) -> None:
        self.rows, self.repeat = rows, repeat
        self.tables: dict[str, pa.Table] = {}
        self.edits: dict[tuple[str, str], pa.Table] = {}
        self.plain: dict[tuple[str, str], int] = {}

    def pair(self, name: str, how: str) -> tuple[pa.Table, pa.Table]:
        if name not in self.tables:
            self.tables[name] = TABLES[name](self.rows, 1)
        if (name, how) not in self.edits:
            self.edits[name, how] = edited(self.tables[name], TABLES[name], how)
        return self.tables[name], self.edits[name, how]

    def row(self, setting: Setting, name: str, how: str) -> str:
        old_table, new_table = self.pair(name, how)
        old = written(old_table, setting.for_table(old_table))
        new, seconds, read = b"", float("inf"), float("inf")
        for _ in range(self.repeat):  # fastest of --repeat: the least disturbed by other load
            start = time.perf_counter()
            new = written(new_table, setting.for_table(new_table))
            seconds = min(seconds, time.perf_counter() - start)
            start = time.perf_counter()
            pq.read_table(pa.BufferReader(new))
            read = min(read, time.perf_counter() - start)
        if (name, how) not in self.plain:
            self.plain[name, how] = len(written(new_table, {}))
        share = new_share(old, new, setting.store_avg)
        growth = len(new) / self.plain[name, how] - 1
        mark = "ok" if share <= TARGET else "  "
        size = len(new) / 2**20
        return (f"| {setting.name:<34} | {setting.store_avg // KiB:>3} | {name:<7} | {how:<6} "
                f"| {share:6.1%} {mark} | {size:7.2f} | {growth:+6.1%} | {seconds:5.2f} "
                f"| {read:5.2f} |")


HEADER = ("| Parquet options                    | avg | table   | edit   | new part  "
          "| MiB     | vs plain | write s | read s |\n|---|---:|---|---|---:|---:|---:|---:|---:|")

MAIN = Setting("main: cdc 16/64 n1", cdc(16, 64))
GRID = [
    Setting("plain pyarrow defaults"),
    Setting("cdc pyarrow default 256/1024 n0", {"use_content_defined_chunking": True}),
    Setting("cdc 8/32 n1", cdc(8, 32)),
    MAIN,
    Setting("cdc 32/128 n1", cdc(32, 128)),
    Setting("cdc 16/64 n0", cdc(16, 64, 0)),
    Setting("cdc 16/64 n2", cdc(16, 64, 2)),
    Setting("cdc 8/32 n2", cdc(8, 32, 2)),
    Setting("cdc 16/64 n1 zstd", cdc(16, 64) | {"compression": "zstd"}),
    Setting("cdc 16/64 n1 none", cdc(16, 64) | {"compression": "none"}),
    Setting("cdc 16/64 n1 data_page 64K", cdc(16, 64) | {"data_page_size": 64 * KiB}),
    Setting("cdc 16/64 n1 no dictionary", cdc(16, 64) | {"use_dictionary": False}),
    Setting("cdc 16/64 n1 dict page 64K", cdc(16, 64) | {"dictionary_pagesize_limit": 64 * KiB}),
    Setting("cdc 16/64 n1 dict page 256K", cdc(16, 64) | {"dictionary_pagesize_limit": 256 * KiB}),
    Setting("cdc 8/32 n1 dict page 64K", cdc(8, 32) | {"dictionary_pagesize_limit": 64 * KiB}),
    Setting("cdc 16/64 n1 dict page 16K", cdc(16, 64) | {"dictionary_pagesize_limit": 16 * KiB}),
    Setting("cdc 16/64 n1 zstd dict page 64K",
            cdc(16, 64) | {"compression": "zstd", "dictionary_pagesize_limit": 64 * KiB}),
    Setting("cdc 16/64 n0 zstd dict page 64K",
            cdc(16, 64, 0) | {"compression": "zstd", "dictionary_pagesize_limit": 64 * KiB}),
    Setting("cdc 16/64 n1 zstd no dictionary",
            cdc(16, 64) | {"compression": "zstd", "use_dictionary": False}),
    Setting("cdc 16/64 n0 zstd no dictionary",
            cdc(16, 64, 0) | {"compression": "zstd", "use_dictionary": False}),
    Setting("cdc 16/64 n0 dict page 64K", cdc(16, 64, 0) | {"dictionary_pagesize_limit": 64 * KiB}),
    Setting("cdc 32/128 n1 dict page 64K", cdc(32, 128) | {"dictionary_pagesize_limit": 64 * KiB}),
    Setting("cdc 16/64 n1 row groups 256K", cdc(16, 64) | {"row_group_size": 256 * KiB}),
    Setting("main: cdc 16/64 n1", cdc(16, 64), store_avg=32 * KiB),
    Setting("cdc 8/32 n1", cdc(8, 32), store_avg=32 * KiB),
]


def chosen() -> Setting:
    """What folio writes now (src/folio/codecs/_parquet.py), read from the source tree."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from folio.codecs import _parquet

    options = _parquet.write_options(pa.table({"x": [1]}))
    cut = options.get("use_content_defined_chunking", {})
    name = "folio: cdc " + "/".join(str(cut.get(k, 0) // KiB) for k in ("min_chunk_size",
                                                                        "max_chunk_size"))
    name += f" n{cut.get('norm_level', 0)} zstd, floats snappy"
    return Setting(name, options, per_table=_parquet.write_options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chosen", action="store_true", help="only folio's current options")
    parser.add_argument("--grid", action="store_true", help="the sampled grid (the default)")
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--edits", default="insert,append,update")
    parser.add_argument("--repeat", type=int, default=1, help="timed writes and reads per row")
    parser.add_argument("--extra", default="", help="grid rows by name to run on every table")
    args = parser.parse_args()
    bench = Bench(args.rows, args.repeat)
    tables, edits = args.tables.split(","), args.edits.split(",")
    print(f"pyarrow {pa.__version__}, {args.rows:,} rows, store FastCDC min/avg/max = "
          "avg/4, avg, avg*4\n")
    print(HEADER)
    if not args.chosen:
        for setting in GRID:  # the sampled grid, on the case bench_chunks.py measures
            print(bench.row(setting, "events", "insert"), flush=True)
    finalists = [chosen()] + [s for s in GRID if s.name in args.extra.split(",")]
    for setting in finalists:
        for name in tables:
            for how in edits:
                print(bench.row(setting, name, how), flush=True)


if __name__ == "__main__":
    main()
