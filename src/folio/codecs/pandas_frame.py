"""pandas.DataFrame as Parquet via pyarrow, read back ``assert_frame_equal`` to the original.

Before writing, the frame's first row takes a real round trip: column labels that would
change (mixed types, None) refuse the frame, and any dtype or value that would change is
warned about, naming the column. Index (named, RangeIndex, MultiIndex), column labels,
dtypes, ``attrs`` and an index's ``freq`` are kept. A Series travels as a one-column frame.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from typing import Any, BinaryIO

from folio.codecs import _parquet
from folio.codecs._detect import require, type_is
from folio.codecs._pandas_hints import with_hints
from folio.codecs._pandas_restore import to_pandas
from folio.codecs.arrow_table import warn_needs_trust
from folio.codecs.base import CodecWarning
from folio.errors import CodecError


class PandasCodec:
    """pandas.DataFrame or Series (exact types: subclasses go to pickle, which keeps them).

    A Series is stored as a one-column frame; the metadata says so and keeps its name.
    """

    name = "pandas"
    extension = ".parquet"
    extensions = (".pq",)
    priority = 100
    needs_trust = False
    checks_trust = True  # extension types and dtypes: see _parquet_trust, _pandas_restore

    def can_encode(self, obj: object) -> bool:
        return type_is(obj, "pandas", "DataFrame") or type_is(obj, "pandas", "Series")

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        pd = require("pandas", self.name)
        if isinstance(obj, pd.Series):
            return self._encode_series(pd, obj, sink)
        if not isinstance(obj, pd.DataFrame):
            raise CodecError(f"pandas items must be DataFrames or Series, not "
                             f"{type(obj).__name__}")
        _check_labels(pd, obj.columns)
        table = _to_arrow(obj)
        _check_round_trip(pd, obj, table)
        warn_needs_trust(table, "this DataFrame", pandas=True)
        _parquet.write(table, sink)
        return _describe(pd, obj)

    def decode(self, data: bytearray, meta: dict[str, Any], *, trusted: bool = False) -> object:
        require("pandas", self.name)
        frame = to_pandas(_parquet.read(data, trusted=trusted), trusted=trusted)
        if not meta.get("series"):
            return frame
        series = frame.iloc[:, 0]
        series.name = meta.get("name")
        return series

    def _encode_series(self, pd: Any, series: Any, sink: BinaryIO) -> dict[str, Any]:
        name = series.name
        if (name is not None and type(name) not in (str, int, float, bool)) or (
                isinstance(name, float) and not math.isfinite(name)):
            raise CodecError(f"a Series named {name!r} ({type(name).__name__}) cannot keep its "
                             "name; name it with a str or int")
        label = name if isinstance(name, str) else "values"
        meta = self.encode(series.to_frame(name=label), sink)
        return {**meta, "series": True, "name": name}


def _check_labels(pd: Any, columns: Any) -> None:
    """Refuse labels Parquet would rename (it stores names as strings)."""
    if isinstance(columns, pd.MultiIndex):
        return
    kinds = {type(label) for label in columns}
    if len(kinds) > 1 or type(None) in kinds:
        shown = ", ".join(repr(label) for label in list(columns)[:5])
        raise CodecError(
            f"column labels [{shown}] mix types or include None; Parquet would turn them "
            "into strings: rename them (e.g. df.columns = df.columns.map(str))"
        )


def _to_arrow(frame: Any) -> Any:
    """The Arrow table, with the hints :mod:`_pandas_restore` needs to undo pandas' changes."""
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(frame)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise CodecError(
            f"this DataFrame cannot be stored as Parquet: {' '.join(str(exc).split())}; "
            "convert the column (e.g. .astype(str)) or store the frame with pickle()"
        ) from exc
    return with_hints(frame, table)


def _check_round_trip(pd: Any, frame: Any, table: Any) -> None:
    """Round-trip the first row; refuse changed labels, warn about anything else changed.

    One row, not zero: Parquet drops the categories of an empty dictionary column, so a
    zero-row probe would warn about categoricals that a real round trip keeps.
    """
    rows = min(1, len(frame))
    buffer = io.BytesIO()
    _parquet.write(_head(table, rows), buffer)
    back = to_pandas(_parquet.read(buffer.getbuffer(), trusted=True), trusted=True)  # own bytes
    head = frame.iloc[:rows]
    if not (back.columns.equals(head.columns) and back.columns.dtype == head.columns.dtype):
        raise CodecError(f"column labels {list(head.columns)[:5]} would read back as "
                         f"{list(back.columns)[:5]}; rename them to strings")
    try:
        pd.testing.assert_frame_equal(head, back, check_freq=False)
    except AssertionError as exc:
        detail = " ".join(str(exc).split())
        warnings.warn(f"this DataFrame will read back differently from Parquet ([left] as "
                      f"written, [right] as read back): {detail}", CodecWarning, stacklevel=4)


def _head(table: Any, rows: int) -> Any:
    """The first ``rows`` rows, with a RangeIndex description that matches their number."""
    head = table.slice(0, rows)
    info = head.schema.pandas_metadata
    if not info:
        return head
    for index in info.get("index_columns", []):
        if isinstance(index, dict) and index.get("kind") == "range":
            index["stop"] = index["start"] + index["step"] * rows
    return head.replace_schema_metadata({**head.schema.metadata,
                                         b"pandas": json.dumps(info).encode()})


def _describe(pd: Any, frame: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "rows": len(frame),
        "columns": frame.shape[1],
        "schema": {str(label): str(dtype) for label, dtype in frame.dtypes.items()},
    }
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        meta["index"] = [str(name) if name is not None else None for name in frame.index.names]
    return meta
