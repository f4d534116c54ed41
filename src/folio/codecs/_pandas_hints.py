"""What the Arrow table cannot say about a DataFrame, noted while writing it.

The hints travel inside the Parquet file (schema metadata ``folio.pandas``), so the file
stays self-describing; :mod:`folio.codecs._pandas_restore` applies them on read.
- ``list_columns``: object columns of Python lists (Arrow hands lists back as numpy arrays).
- ``nan_columns``: object columns whose missing values are all float NaN (Arrow hands every
  missing value back as None).
- ``freq``: the DatetimeIndex / TimedeltaIndex frequency, which Parquet has no place for.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

from folio.codecs.base import CodecWarning

HINTS_KEY = b"folio.pandas"


def with_hints(frame: Any, table: Any) -> Any:
    """``table`` with the hints for ``frame`` added to its schema metadata (no data copy)."""
    hints: dict[str, Any] = {"list_columns": [], "nan_columns": [], "freq": _freq(frame.index)}
    for position, field in enumerate(table.schema.names[: frame.shape[1]]):
        column = frame.iloc[:, position]
        if column.dtype != object:
            continue
        if _is_list_type(table.schema.field(position).type) and _all_lists(column):
            hints["list_columns"].append(field)
        missing = _missing_kind(column)
        if missing == "nan":
            hints["nan_columns"].append(field)
        elif missing == "mixed":
            warnings.warn(f"object column {field!r} marks missing values with something other "
                          "than None or NaN (NaT, pd.NA, a mix); they read back as None",
                          CodecWarning, stacklevel=5)
    metadata = {**(table.schema.metadata or {}), HINTS_KEY: json.dumps(hints).encode()}
    return table.replace_schema_metadata(metadata)


def read_hints(table: Any) -> dict[str, Any]:
    """The hints stored with ``table``; empty when absent or unreadable (foreign files)."""
    raw = (table.schema.metadata or {}).get(HINTS_KEY)
    try:
        hints = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return hints if isinstance(hints, dict) else {}


def _freq(index: Any) -> str | None:
    import pandas as pd

    if isinstance(index, pd.DatetimeIndex | pd.TimedeltaIndex):
        return index.freqstr
    return None


def _is_list_type(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind)
                or pa.types.is_fixed_size_list(kind))


def _all_lists(column: Any) -> bool:
    return all(type(value) is list for value in column if value is not None)


def _missing_kind(column: Any) -> str | None:
    """None (no missing values, or all None), "nan" (all float NaN) or "mixed"."""
    mask = column.isna().to_numpy()
    if not mask.any():
        return None
    markers = column.to_numpy()[mask]
    if all(marker is None for marker in markers):
        return None
    if all(isinstance(marker, float) and math.isnan(marker) for marker in markers):
        return "nan"
    return "mixed"
