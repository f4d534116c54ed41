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
    """Write ``table`` as Parquet with :func:`write_options`, straight into ``sink``.

    Where pyarrow has it (21 and later), data pages are cut by content (Arrow's
    content-defined chunking), so after a small edit most pages, and so most of the file's
    own chunks in the store (format.md 3.3), come out byte-identical and are stored once.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.write_table(table, SinkWriter(sink), **write_options(table))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CodecError(f"Parquet cannot store this table: {_first_line(exc)}") from exc


# Pages of 16-64 KiB (before compression), the size of the store's own chunks, cut without
# normalization (level 0: page sizes spread more, but cut points resynchronise sooner after
# an edit). benchmarks/bench_parquet_cdc.py, 1 M rows, 1 % insert in the middle: pyarrow's
# default 256 KiB-1 MiB CDC pages left 14.8 % of the events table new, 16-64 KiB level 1
# 11.4 %, these (with the options below) 3.7 % (docs/codecs.md).
_CDC = {"min_chunk_size": 16 * 1024, "max_chunk_size": 64 * 1024, "norm_level": 0}

# No dictionary pages: a dictionary numbers values in order of first appearance, so rows
# inserted before a value's first use renumber it and every later page that holds it changes
# (half of a 40,000-value column after a middle insert). Columns that are dictionaries in
# Arrow (pandas categoricals) keep theirs: that is how their unused categories read back.
# zstd wins back the size plain pages lose, except on float columns, whose mantissas it
# barely shrinks yet decodes three times slower than snappy (80 MB of random doubles: 67
# against 21 ms): those stay snappy. Files measured 2-23 % smaller than pyarrow's defaults,
# a pandas frame of rounded floats (whose dictionary pays off) 4.6 % larger.
_DENSE = "snappy"
_PACKED = "zstd"


def write_options(table: Any) -> dict[str, Any]:
    """Every ``write_table`` keyword folio sets for ``table``: edit-stable pages where
    pyarrow has CDC, pyarrow's defaults where it has not (plain pages gain nothing)."""
    cdc = cdc_options()
    if not cdc:
        return {}
    return {**cdc, "use_dictionary": _dictionary_columns(table.schema),
            "compression": _compression_by_column(table)}


def _dictionary_columns(schema: Any) -> list[str] | bool:
    """Top-level dictionary columns by name; any nested dictionary: all (pyarrow's default)."""
    import pyarrow as pa

    def nested_dictionary(kind: Any) -> bool:
        children = [kind.field(i).type for i in range(kind.num_fields)]
        return any(pa.types.is_dictionary(c) or nested_dictionary(c) for c in children)

    if any(nested_dictionary(field.type) for field in schema):
        return True
    return [field.name for field in schema if pa.types.is_dictionary(field.type)]


def _compression_by_column(table: Any) -> dict[str, str]:
    """A codec for every Parquet leaf column (pyarrow leaves unnamed ones uncompressed),
    by the leaf paths of a zero-row write: nested columns' paths are pyarrow's to name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    probe = io.BytesIO()
    pq.write_table(table.slice(0, 0), probe)
    schema = pq.ParquetFile(pa.BufferReader(probe.getvalue())).schema
    leaves = (schema.column(i) for i in range(len(schema)))
    return {leaf.path: _DENSE if leaf.physical_type in ("FLOAT", "DOUBLE") else _PACKED
            for leaf in leaves}


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
