"""pyarrow.Table as Parquet: schema, schema metadata and values read back ``.equals``."""

from __future__ import annotations

import warnings
from typing import Any, BinaryIO

from folio.codecs import _parquet, _parquet_trust
from folio.codecs._detect import require, type_is
from folio.codecs._pandas_restore import check_dtypes
from folio.codecs.base import CodecWarning
from folio.errors import CodecError, UntrustedDataError


def table_meta(table: Any) -> dict[str, Any]:
    """rows, columns and schema (column -> Arrow type) for describe() and diffs."""
    return {
        "rows": table.num_rows,
        "columns": table.num_columns,
        "schema": {field.name: str(field.type) for field in table.schema},
    }


def warn_changes(table: Any, what: str) -> None:
    """Warn, naming each column, when a Parquet round trip would change a type."""
    changes = _parquet.schema_changes(table)
    if changes:
        warnings.warn(f"{what} stored as Parquet will read back differently: "
                      + "; ".join(changes), CodecWarning, stacklevel=4)


def warn_needs_trust(table: Any, what: str, *, pandas: bool = False) -> None:
    """Warn when the table will read back only where trusted (an extension type, or with
    ``pandas`` a foreign dtype, that folio refuses from untrusted files): said now, to the
    writer, rather than later to whoever reads it."""
    try:
        _parquet_trust.check_schema(table.schema)
        if pandas:
            check_dtypes(table.schema.pandas_metadata or {})
    except UntrustedDataError as exc:
        warnings.warn(f"{what} will read back only where it is trusted: {exc.message}",
                      CodecWarning, stacklevel=4)


class ArrowCodec:
    """pyarrow.Table (not RecordBatch or arrays)."""

    name = "arrow"
    extension = ".parquet"
    extensions = (".pq",)
    priority = 100
    needs_trust = False
    checks_trust = True  # extension types: see _parquet_trust

    def can_encode(self, obj: object) -> bool:
        return type_is(obj, "pyarrow", "Table")

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        pa = require("pyarrow", self.name)
        if not isinstance(obj, pa.Table):
            raise CodecError(f"arrow items must be pyarrow Tables, not {type(obj).__name__}")
        warn_changes(obj, "this pyarrow Table")
        warn_needs_trust(obj, "this pyarrow Table")
        _parquet.write(obj, sink)
        return table_meta(obj)

    def decode(self, data: bytearray, meta: dict[str, Any], *, trusted: bool = False) -> object:
        return _parquet.read(data, trusted=trusted)
