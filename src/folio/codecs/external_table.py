"""Tables folio does not own (``reference_table``): Parquet or CSV bytes -> a table.

A referenced table was written by someone else's tool, so there is no codec metadata to
restore from: Parquet comes back as pandas when pandas is installed (pyarrow otherwise),
read with the pandas codec's own trust rule (extension types need trust); CSV is parsed by
pyarrow's reader, which infers column types, then turned into pandas the same way.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from folio.codecs.arrow_table import ArrowCodec
from folio.codecs.pandas_frame import PandasCodec
from folio.codecs.registry import read_guarded
from folio.errors import CodecError

FORMATS = ("parquet", "csv")
_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def format_of(uri: str) -> str | None:
    """The table format a URI's extension names, or None."""
    lowered = uri.lower().rsplit("/", 1)[-1]
    for suffix, name in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return name
    return None


def read_table(data: bytearray, table_format: str, *, trusted: bool, item: str) -> Any:
    """Decode a whole referenced table; pandas if installed, else a pyarrow Table.

    Whatever the reader raises on bytes that are not such a table leaves as one
    CodecError naming ``item`` (as registry.decode does for folio's own items).
    """
    return read_guarded(lambda: _read(data, table_format, trusted),
                        f"the referenced {table_format} table", item)


def _read(data: bytearray, table_format: str, trusted: bool) -> Any:
    pandas = importlib.util.find_spec("pandas") is not None
    if table_format == "parquet":
        codec = PandasCodec() if pandas else ArrowCodec()
        return codec.decode(data, {}, trusted=trusted)
    if table_format == "csv":
        import pyarrow as pa
        from pyarrow import csv

        table = csv.read_csv(pa.BufferReader(data))
        return table.to_pandas() if pandas else table
    raise CodecError(f"unknown table format {table_format!r} (known: {', '.join(FORMATS)})")
