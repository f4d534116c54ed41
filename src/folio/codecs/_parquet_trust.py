"""What a Parquet file would make its reader build, checked before pyarrow or polars open it.

Opening a Parquet file, pyarrow turns the Arrow schema kept in its footer (key
``ARROW:schema``) into types, and an extension type registered from Python runs its
``__arrow_ext_deserialize__`` on bytes from the file right then (a pickle, for the old
``arrow.py_extension_type``; whatever an installed library chose, for the others). So the
footer is looked at first, by pyarrow's own parser but with the ``ARROW:schema`` keys
renamed: same length, so the Thrift encoding stays valid and pyarrow reads it as plain
key-value metadata. The schema found there is parsed with its extension keys renamed in the
same way, which shows the extension names as plain field metadata: no extension code runs
while folio looks. Only the extension types in :data:`SAFE_EXTENSIONS` pass untrusted.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from folio.codecs.base import TRUST_HINT
from folio.errors import CodecError, UntrustedDataError

# Extension types whose deserialiser only parses JSON or a few numbers: Arrow's canonical
# types (implemented in C++) and the two pandas registers for Period and Interval columns.
SAFE_EXTENSIONS = frozenset({
    "arrow.bool8", "arrow.fixed_shape_tensor", "arrow.json", "arrow.opaque", "arrow.uuid",
    "arrow.variable_shape_tensor", "pandas.interval", "pandas.period",
})

_SCHEMA_KEY = b"ARROW:schema"
_EXTENSION_KEY = b"ARROW:extension:name"
_RENAMED_EXTENSION_KEY = b"FOLIO:extension:name"
_MAX_SCHEMAS = 100  # renamed FOLIO:sche00 .. FOLIO:sche99, keeping each key's length


def check_footer(data: bytes | bytearray | memoryview) -> None:
    """Refuse a Parquet file whose stored Arrow schema names an extension type not known safe.

    Raises CodecError when the footer cannot be read at all (truncated, not Parquet).
    """
    for schema in _stored_schemas(_footer(memoryview(data).cast("B"))):
        check_extensions(_extension_names(schema))


def check_schema(schema: Any) -> None:
    """Refuse a schema, as read, that holds an extension type not known safe (at any depth)."""
    check_extensions(name for field in schema for name in _field_extensions(field))


def check_extensions(names: Any) -> None:
    unsafe = sorted({name for name in names if name not in SAFE_EXTENSIONS})
    if unsafe:
        shown = ", ".join(ascii(name)[:80] for name in unsafe[:3])
        raise UntrustedDataError(
            f"this Parquet file has columns of the extension type {shown}, whose reader can "
            f"run code or build objects from the file's bytes; {TRUST_HINT}"
        )


def _footer(view: memoryview) -> bytes:
    """The Thrift-encoded footer (FileMetaData) at the end of a Parquet file."""
    size = len(view)
    if size >= 4 and bytes(view[-4:]) == b"PARE":
        raise UntrustedDataError("this Parquet file has an encrypted footer, which folio cannot "
                                 f"check before reading; {TRUST_HINT}")
    if size < 12 or bytes(view[:4]) != b"PAR1" or bytes(view[-4:]) != b"PAR1":
        raise CodecError("stored data is not a Parquet file (bad magic): truncated or corrupt")
    length = int.from_bytes(view[-8:-4], "little")
    if length > size - 12:
        raise CodecError(f"stored Parquet footer claims {length} bytes in a file of {size}: "
                         "truncated or corrupt")
    return bytes(view[size - 8 - length : size - 8])


def _stored_schemas(footer: bytes) -> list[bytes]:
    """Every ``ARROW:schema`` value in the footer (a crafted file may hold several), decoded."""
    count = footer.count(_SCHEMA_KEY)
    if not count:
        return []
    if count > _MAX_SCHEMAS or b"FOLIO:sche" in footer:  # a decoy would hide the real one
        raise UntrustedDataError("this Parquet footer's Arrow schema keys cannot be told "
                                 f"apart; {TRUST_HINT}")
    renamed = footer
    for number in range(count):
        renamed = renamed.replace(_SCHEMA_KEY, b"FOLIO:sche%02d" % number, 1)
    metadata = _key_values(renamed)
    values = [metadata[key] for key in sorted(metadata) if key.startswith(b"FOLIO:sche")]
    try:
        return [base64.b64decode(value, validate=True) for value in values]
    except (binascii.Error, ValueError) as exc:  # pyarrow refuses such a file as well
        raise CodecError(f"stored Parquet has an unreadable Arrow schema: {exc}") from exc


def _key_values(footer: bytes) -> dict[bytes, bytes]:
    """The footer's key-value metadata, parsed by pyarrow from a file of the footer alone.

    ``read_metadata`` also maps the Parquet schema to Arrow, which fails for types pyarrow
    lacks (polars' 128-bit integers) after the Thrift parse succeeded; the footer is then
    parsed again by the function pyarrow unpickles FileMetaData with, which only parses.
    (Called on a footer that does not parse, that one aborts the process: never first.)
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    alone = b"PAR1" + footer + len(footer).to_bytes(4, "little") + b"PAR1"
    try:
        return dict(pq.read_metadata(pa.BufferReader(alone)).metadata or {})
    except NotImplementedError:
        pass
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise CodecError(f"stored Parquet footer is unreadable: {_one_line(exc)}") from exc
    from pyarrow import _parquet

    parse = getattr(_parquet, "_reconstruct_filemetadata", None)
    if parse is None:
        raise UntrustedDataError("this Parquet file has types pyarrow cannot read, and its "
                                 f"footer cannot be checked with this pyarrow; {TRUST_HINT}")
    return dict(parse(pa.py_buffer(footer)).metadata or {})


def _extension_names(schema: bytes) -> list[str]:
    """The extension names in a serialized Arrow schema, found without deserialising them."""
    count = schema.count(_EXTENSION_KEY)
    if not count:
        return []
    if _RENAMED_EXTENSION_KEY in schema:  # a decoy would be counted as a real one
        raise UntrustedDataError("this Parquet file's Arrow schema names extension types "
                                 f"folio cannot account for; {TRUST_HINT}")
    import pyarrow as pa

    try:
        parsed = pa.ipc.read_schema(pa.py_buffer(schema.replace(_EXTENSION_KEY,
                                                                _RENAMED_EXTENSION_KEY)))
    except (pa.ArrowException, ValueError) as exc:
        raise UntrustedDataError(f"this Parquet file's Arrow schema names extension types but "
                                 f"cannot be checked ({_one_line(exc)}); {TRUST_HINT}") from exc
    names = [name for field in parsed for name in _renamed_extensions(field)]
    if len(names) != count:  # the key sits somewhere a field's metadata does not explain
        raise UntrustedDataError("this Parquet file's Arrow schema names extension types "
                                 f"folio cannot account for; {TRUST_HINT}")
    return names


def _renamed_extensions(field: Any) -> list[str]:
    metadata = field.metadata or {}
    own = metadata.get(_RENAMED_EXTENSION_KEY)
    found = [] if own is None else [own.decode("utf-8", "replace")]
    return found + [name for child in _children(field.type) for name in
                    _renamed_extensions(child)]


def _field_extensions(field: Any) -> list[str]:
    import pyarrow as pa

    kind = field.type
    found = [kind.extension_name] if isinstance(kind, pa.BaseExtensionType) else []
    storage = kind.storage_type if isinstance(kind, pa.BaseExtensionType) else kind
    return found + [name for child in _children(storage) for name in _field_extensions(child)]


def _children(kind: Any) -> list[Any]:
    """The child fields of a nested type (struct, list, map, union), none for the others."""
    import pyarrow as pa

    if isinstance(kind, pa.BaseExtensionType):
        kind = kind.storage_type
    if isinstance(kind, pa.DictionaryType):
        return [pa.field("values", kind.value_type)]
    return [kind.field(index) for index in range(kind.num_fields)]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
