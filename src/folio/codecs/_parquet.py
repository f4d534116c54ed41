"""Arrow tables <-> Parquet bytes, shared by the pandas, polars and pyarrow codecs.

Parquet has fewer types than Arrow (no timestamp[s], no date64, no time32[s]...); pyarrow
stores the exact Arrow schema in the file ("ARROW:schema") but does not re-apply all of it
on read, so :func:`read` casts back what it can. What still differs is found before writing
by :func:`schema_changes`, which round-trips a zero-row slice: cheap, and it sees exactly
what the real read will do.
"""

from __future__ import annotations

import base64
import io
from typing import Any, BinaryIO

from folio.codecs import _parquet_trust
from folio.codecs._io import SinkWriter
from folio.errors import CodecError

_ARROW_SCHEMA = b"ARROW:schema"


def write(table: Any, sink: BinaryIO) -> None:
    """Write ``table`` as Parquet with pyarrow's defaults, straight into ``sink``.

    Where pyarrow has it (21 and later), data pages are cut by content (Arrow's
    content-defined chunking), so after a small edit most pages, and so most of the file's
    own chunks in the store (format.md 3.3), come out byte-identical and are stored once.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.write_table(table, SinkWriter(sink), **cdc_options())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CodecError(f"Parquet cannot store this table: {_first_line(exc)}") from exc


# Pages of 16-64 KiB (before compression), the size of the store's own chunks: with
# pyarrow's default 256 KiB-1 MiB pages a 1 % row insert into a 1 M-row table left 14-17 %
# of the file new, with these 9-10 %, for 0.5 % more file (docs/performance.md).
_CDC = {"min_chunk_size": 16 * 1024, "max_chunk_size": 64 * 1024, "norm_level": 1}


def cdc_options() -> dict[str, Any]:
    """``write_table`` keywords for content-defined pages, or none on an older pyarrow."""
    import pyarrow as pa

    major = int(pa.__version__.split(".", 1)[0])
    return {"use_content_defined_chunking": dict(_CDC)} if major >= 21 else {}


def read(data: bytes | bytearray | memoryview, *, trusted: bool = False) -> Any:
    """Read a whole Parquet file from memory without copying it, restoring exact Arrow types.

    Untrusted, the footer is checked first (:mod:`_parquet_trust`): extension types other
    than a few known safe ones are refused before pyarrow would deserialise them.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not trusted:
        _parquet_trust.check_footer(data)
    try:
        parquet = pq.ParquetFile(pa.BufferReader(pa.py_buffer(data)))
        table = parquet.read()
    except (pa.ArrowInvalid, OSError) as exc:
        raise CodecError(f"stored Parquet is unreadable: {_first_line(exc)}") from exc
    if not trusted:
        _parquet_trust.check_schema(table.schema)
    stored = _stored_schema(parquet.metadata.metadata or {})
    return table if stored is None else _restore_types(table, stored)


def schema_changes(table: Any) -> list[str]:
    """How the schema of ``table`` would differ after a Parquet round trip, one line each."""
    buffer = io.BytesIO()
    write(table.slice(0, 0), buffer)
    back = read(buffer.getbuffer(), trusted=True)  # the bytes just made from ``table``
    if back.schema.names != table.schema.names:
        return [f"column names {table.schema.names} read back as {back.schema.names}"]
    return [
        f"column {field.name!r}: {field.type} reads back as {other.type}"
        for field, other in zip(table.schema, back.schema, strict=True)
        if not field.type.equals(other.type)
    ]


def _stored_schema(metadata: dict[bytes, bytes]) -> Any:
    import pyarrow as pa

    raw = metadata.get(_ARROW_SCHEMA)
    if raw is None:
        return None
    try:
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(raw)))
    except (ValueError, pa.ArrowException):
        return None  # a foreign or damaged hint: the table as read is still valid


def _restore_types(table: Any, stored: Any) -> Any:
    """Put back the fields as written (types, nested names, field metadata), where Arrow can."""
    import pyarrow as pa

    if stored.names != table.schema.names:
        return table
    for index, field in enumerate(stored):
        if table.schema.field(index).equals(field, check_metadata=True):
            continue
        try:
            column = table.column(index).cast(field.type)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            continue  # schema_changes() warned about this column when it was written
        table = table.set_column(index, field, column)
    return table


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
