"""polars.DataFrame as Parquet: polars writes it, pyarrow reads it back without a copy.

polars' own writer keeps every polars type (Enum, Categorical, Int128, Array, Decimal...);
reading through pyarrow wraps the owned bytes instead of copying them, and ``from_arrow``
is zero-copy for most types. Only files pyarrow cannot read (128-bit integers) fall back to
polars' reader. The Object dtype (arbitrary Python values) is refused.
"""

from __future__ import annotations

import io
import warnings
from typing import Any, BinaryIO

from folio.codecs import _parquet
from folio.codecs._detect import require, type_is
from folio.codecs._io import BufferReader, SinkWriter
from folio.codecs.base import CodecWarning
from folio.errors import CodecError


class PolarsCodec:
    """polars.DataFrame or Series (not LazyFrame: collect it first)."""

    name = "polars"
    extension = ".parquet"
    extensions = (".pq",)
    priority = 100
    needs_trust = False
    checks_trust = True  # extension types: see _parquet_trust

    def can_encode(self, obj: object) -> bool:
        return type_is(obj, "polars", "DataFrame") or type_is(obj, "polars", "Series")

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        pl = require("polars", self.name)
        if isinstance(obj, pl.Series):
            return {**self.encode(obj.to_frame(), sink), "series": True}
        if not isinstance(obj, pl.DataFrame):
            raise CodecError(f"polars items must be DataFrames or Series, not "
                             f"{type(obj).__name__}")
        objects = [name for name, dtype in obj.schema.items() if dtype == pl.Object]
        if objects:
            raise CodecError(f"polars columns {objects[:5]} have the Object dtype (Python "
                             "values), which Parquet cannot store; convert or use pickle()")
        _warn_changes(pl, obj)
        obj.write_parquet(SinkWriter(sink))
        return {"rows": obj.height, "columns": obj.width,
                "schema": {name: str(dtype) for name, dtype in obj.schema.items()}}

    def decode(self, data: bytearray, meta: dict[str, Any], *, trusted: bool = False) -> object:
        frame = _read(require("polars", self.name), data, trusted=trusted)
        return frame.to_series() if meta.get("series") else frame


def _read(pl: Any, data: bytearray | memoryview, *, trusted: bool) -> Any:
    """pyarrow's read (footer checked unless trusted), else polars' own reader.

    A panic inside polars is a BaseException; the codec registry makes it a CodecError.
    """
    try:
        table = _parquet.read(data, trusted=trusted)
    except NotImplementedError:  # pyarrow has no 128-bit integers: polars reads its own
        return pl.read_parquet(BufferReader(data))
    return pl.from_arrow(table)


def _warn_changes(pl: Any, frame: Any) -> None:
    """Round-trip zero rows and name every column whose dtype would change."""
    buffer = io.BytesIO()
    frame.head(0).write_parquet(buffer)
    back = _read(pl, buffer.getbuffer(), trusted=True)  # the bytes just made from ``frame``
    changes = [f"column {name!r}: {dtype} reads back as {back.schema.get(name)}"
               for name, dtype in frame.schema.items() if back.schema.get(name) != dtype]
    if changes:
        warnings.warn("this polars DataFrame will read back differently from Parquet: "
                      + "; ".join(changes), CodecWarning, stacklevel=4)
