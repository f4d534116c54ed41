"""Undo what ``Table.to_pandas`` changes on its own, using the metadata written with the table.

pandas 3 reads every Arrow string column as the ``str`` dtype, even where the frame held an
``object`` column (or index, or column labels) of strings; list values come back as numpy
arrays; an index's ``freq`` is not stored at all. pyarrow's "pandas" metadata records the
original numpy types, and :mod:`folio.codecs._pandas_hints` recorded the rest, so the frame
read back is the frame written.
"""

from __future__ import annotations

from typing import Any

from folio.codecs._pandas_hints import read_hints
from folio.codecs.base import TRUST_HINT
from folio.errors import CodecError, UntrustedDataError


def to_pandas(table: Any, *, trusted: bool = False) -> Any:
    """``table.to_pandas()``, then the original object dtypes, lists, NaNs and index freq.

    Untrusted, the "pandas" metadata may name only dtypes pandas itself defines (see
    :func:`check_dtypes`): the file chooses which dtype builds the column.
    """
    if not trusted:
        check_dtypes(table.schema.pandas_metadata or {})
    frame = table.to_pandas()
    info = table.schema.pandas_metadata or {}
    hints = read_hints(table)
    by_field = {_field_name(meta): meta for meta in info.get("columns", [])}
    index_fields = [name for name in info.get("index_columns", []) if isinstance(name, str)]
    data_fields = [name for name in table.schema.names if name not in index_fields]
    lists, nans = set(hints.get("list_columns", [])), set(hints.get("nan_columns", []))
    for position, field in enumerate(data_fields):
        column = table.column(field)
        if field in lists:
            values = column.to_pylist()
        elif _wants_object(by_field.get(field), frame.dtypes.iloc[position]):
            values = _python_values(column, frame.iloc[:, position])
        elif field in nans:
            values = frame.iloc[:, position].to_numpy(dtype=object)
        else:
            continue
        frame.isetitem(position, _object_column(values, column, field in nans, frame.index))
    if index_fields:
        frame.index = _object_levels(frame.index, [by_field.get(f) for f in index_fields])
    frame.columns = _object_levels(frame.columns, info.get("column_indexes", []))
    freq = hints.get("freq")
    if freq is not None:
        frame.index = type(frame.index)(frame.index, freq=freq)
    return frame


def check_dtypes(info: dict[str, Any]) -> None:
    """Refuse "pandas" metadata naming an extension dtype that pandas does not define.

    pyarrow gives each column the dtype its ``numpy_type`` names and lets that dtype's
    ``__from_arrow__`` build the column from the file's bytes. pandas' own dtypes (nullable
    ints, strings, categoricals, periods, intervals, ``[pyarrow]``) only convert values; a
    dtype some other installed library registered runs that library's code on them, which
    is what trusting an item is for. Object columns of strings and the like stay plain.
    """
    import pandas as pd

    if not isinstance(info, dict):
        raise CodecError("stored Parquet has malformed pandas metadata")
    metas = [*info.get("columns", []), *info.get("column_indexes", [])]
    for meta in metas:
        name = meta.get("numpy_type") if isinstance(meta, dict) else None
        if not isinstance(name, str):
            raise CodecError("stored Parquet has malformed pandas metadata (a numpy_type that "
                             "is not a string)")
        try:
            dtype = pd.api.types.pandas_dtype(name)
        except (TypeError, ValueError):
            continue  # pyarrow fails on it too: a plain error, not a foreign dtype
        origin = type(dtype).__module__
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and not (
                origin == "pandas" or origin.startswith("pandas.")):
            raise UntrustedDataError(
                f"this table's pandas metadata asks for the dtype {ascii(name)[:60]} "
                f"(from {origin}), which builds columns with that library's code; {TRUST_HINT}"
            )


def _field_name(meta: dict[str, Any]) -> Any:
    return meta.get("field_name", meta.get("name"))


def _wants_object(meta: dict[str, Any] | None, dtype: Any) -> bool:
    return meta is not None and meta.get("numpy_type") == "object" and str(dtype) != "object"


def _python_values(column: Any, converted: Any) -> Any:
    """The Python objects an object column held: str, int, float, bool, Timestamp, None.

    ``to_pandas`` made a typed column of them (ints with None become floats); strings are
    fastest through numpy, timestamps keep pandas' Timestamp, the rest go through Python.
    """
    import pyarrow as pa

    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(
            kind):
        return column.to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
        return converted.astype(object).to_numpy()
    return column.to_pylist()


def _object_column(values: Any, column: Any, nan_missing: bool, index: Any) -> Any:
    """An object Series of ``values``; missing ones are NaN or None, as they were written."""
    import numpy as np
    import pandas as pd

    array = np.empty(len(values), dtype=object)
    if isinstance(values, np.ndarray):
        array[:] = values
    else:  # one by one: equal-length lists would otherwise broadcast into a 2-D shape
        for position, value in enumerate(values):
            array[position] = value
    if column.null_count:
        array[column.is_null().to_numpy(zero_copy_only=False)] = np.nan if nan_missing else None
    return pd.Series(array, index=index, dtype=object, copy=False)


def _object_levels(index: Any, metas: list[Any]) -> Any:
    """Give back ``object`` dtype to the index levels that had it when written."""
    import pandas as pd

    if isinstance(index, pd.MultiIndex):
        for level, meta in enumerate(metas):
            if isinstance(meta, dict) and _wants_object(meta, index.levels[level].dtype):
                index = index.set_levels(index.levels[level].astype(object), level=level)
        return index
    if metas and isinstance(metas[0], dict) and _wants_object(metas[0], index.dtype):
        return index.astype(object)
    return index
