"""Data-aware detail for ``folio diff``: what changed inside one table, array or JSON file.

A diff shows bytes from any commit, including someone else's pull request, so nothing here
may raise on bad input: a file that is not what its name says, or too large to read, gets
a Detail of kind ``"not comparable"``; a format we do not know gets ``None``. The costs are
bounded: nothing above ``MAX_BYTES`` is parsed, and rows are compared one by one only up
to ``MAX_COMPARE_ROWS``. A Parquet file above ``MAX_BYTES`` still gets its schema and row
count from its footer alone (:func:`footer_detail`, at most ``MAX_FOOTER_BYTES`` read), and a
file whose bytes are not at hand gets what the manifest entries' summaries say
(:func:`meta_detail`). pyarrow and numpy are imported on first use, so the CLI starts fast.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from folio.errors import UntrustedDataError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["MAX_BYTES", "MAX_COMPARE_ROWS", "MAX_FOOTER_BYTES", "NOT_COMPARABLE", "Detail",
           "detail", "footer_detail", "format_of", "meta_detail"]

MAX_BYTES = 256 << 20  # callers should not even read a larger file for a diff (read at call)
MAX_FOOTER_BYTES = 64 << 20  # a Parquet footer claiming more is not read
FOOTER_FORMATS = frozenset({"parquet"})  # formats :func:`footer_detail` can read
MAX_COMPARE_ROWS = 2_000_000
MAX_NESTED_ROWS = 200_000  # list/struct columns are compared in Python: slower per row
MAX_VALUE_CHARS = 60
_ARRAY_BLOCK = 1 << 20  # elements per block: bounds the float64 copies made for comparison

_EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
               ".npy": "npy", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_MAGIC = {b"PAR1": "parquet", b"\x93NUMPY": "npy"}
_KINDS = {"parquet": "table", "csv": "table", "tsv": "table", "npy": "array",
          "json": "json", "jsonl": "jsonl"}
NOT_COMPARABLE = "not comparable"
_SOURCES = {"footer": "from the Parquet footers", "meta": "from the manifests' summaries"}


@dataclass(frozen=True)
class Detail:
    """What changed inside one file; ``info`` holds strict-JSON values only.

    JSON leaf values appear as their JSON text cut to 60 characters (``"0.91"``), so a
    huge value cannot bloat ``folio diff --json``; lists are capped at ``max_items`` with
    the number left out under ``info["omitted"]``.
    """

    path: str
    kind: str  # "table", "array", "json", "jsonl" or "not comparable"
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, **self.info}

    def render(self) -> list[str]:
        """A few human lines, the first a summary; lists are capped as in ``info``."""
        lines = _RENDER[self.kind](self.info)
        source = _SOURCES.get(self.info.get("source", ""))
        return [f"{lines[0]} ({source})", *lines[1:]] if source and lines else lines


class _NotComputed(Exception):
    """A comparison skipped on purpose (too costly); the message says why."""


def detail(path: str, old: bytes | None, new: bytes | None, *,
           max_items: int = 10) -> Detail | None:
    """Detail for one file's change, or None when its format is unknown or both are absent."""
    fmt = _format_of(path, old, new)
    if fmt is None or (old is None and new is None):
        return None
    too_big = max(len(old or b""), len(new or b""))
    if too_big > MAX_BYTES:
        return _not_comparable(path, fmt, f"too large to compare ({too_big >> 20} MiB)")
    loader, compare = _FORMATS[fmt]
    sides = []
    for label, data in (("old", old), ("new", new)):
        try:
            sides.append(None if data is None else loader(data, fmt))
        except UntrustedDataError:
            return _not_comparable(path, fmt, f"the {label} version is not read: it holds data "
                                   "that could run code or hold pointers when read")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # arbitrary bytes: any parser error (a native panic too)
            return _not_comparable(path, fmt, f"the {label} version is not readable as {fmt}")
    try:
        info = compare(sides[0], sides[1], max_items)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a diff must never crash on data; say what went wrong
        return _not_comparable(path, fmt, f"comparison failed: {type(exc).__name__}")
    return Detail(path, _KINDS[fmt], {"format": fmt, **info})


def format_of(path: str, head: bytes | None = None) -> str | None:
    """The format :func:`detail` would see in ``path`` whose content starts with ``head``.

    Lets a caller skip reading files that would get no detail (8 bytes of ``head`` suffice).
    """
    return _format_of(path, None, head)


def _format_of(path: str, old: bytes | None, new: bytes | None) -> str | None:
    fmt = _EXTENSIONS.get(PurePosixPath(path).suffix.lower())
    if fmt is not None:
        return fmt
    for data in (new, old):
        for magic, sniffed in _MAGIC.items():
            if data is not None and data.startswith(magic):
                return sniffed
    return None


def _not_comparable(path: str, fmt: str, reason: str) -> Detail:
    return Detail(path, NOT_COMPARABLE, {"format": fmt, "reason": reason})


def _cap(info: dict[str, Any], key: str, items: list[Any], max_items: int) -> None:
    """Store at most ``max_items`` of ``items``; record how many were left out."""
    info[key] = items[:max_items]
    if len(items) > max_items:
        info.setdefault("omitted", {})[key] = len(items) - max_items


# -- tables (parquet, csv, tsv) -----------------------------------------------------------

@dataclass
class _Table:
    rows: int
    schema: pa.Schema | list[_TextField]  # the latter from a manifest entry's summary
    read: Callable[[], pa.Table]  # parquet reads rows only when they are compared


def _load_table(data: bytes, fmt: str) -> _Table:
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        from folio.codecs import _parquet_trust

        _parquet_trust.check_footer(data)  # before pyarrow deserialises extension types
        pf = pq.ParquetFile(pa.BufferReader(data))
        _parquet_trust.check_schema(pf.schema_arrow)
        return _Table(pf.metadata.num_rows, pf.schema_arrow,
                      lambda: pf.read(use_threads=False))
    import pyarrow.csv as pcsv

    delimiter = "\t" if fmt == "tsv" else ","
    # One thread: arrow's thread pool can abort the process at interpreter exit
    # ("terminate called without an active exception", apache/arrow#34314).
    table = pcsv.read_csv(pa.BufferReader(data),
                          read_options=pcsv.ReadOptions(use_threads=False),
                          parse_options=pcsv.ParseOptions(delimiter=delimiter))
    return _Table(table.num_rows, table.schema, lambda: table)


def _compare_tables(old: _Table | None, new: _Table | None, max_items: int) -> dict[str, Any]:
    info: dict[str, Any] = {"rows": [_rows(old), _rows(new)],
                            "columns": [_width(old), _width(new)]}
    if old is None or new is None:
        present = old or new
        assert present is not None
        _cap(info, "schema", [[f.name, str(f.type)] for f in present.schema], max_items)
        return info
    old_types = _types(old.schema)
    new_types = _types(new.schema)
    _cap(info, "columns_added", [c for c in new_types if c not in old_types], max_items)
    _cap(info, "columns_removed", [c for c in old_types if c not in new_types], max_items)
    _cap(info, "columns_retyped",
         [{"column": c, "old": t, "new": new_types[c]}
          for c, t in old_types.items() if c in new_types and new_types[c] != t], max_items)
    kept = [c for c, t in old_types.items() if new_types.get(c) == t]
    try:
        info["changed_rows"] = _changed_rows(old, new, kept)
        info["compared_columns"] = len(kept)
    except _NotComputed as why:
        info["changed_rows"] = None
        info["changed_rows_note"] = f"not computed: {why}"
    return info


def _rows(table: _Table | None) -> int | None:
    return None if table is None else table.rows


def _width(table: _Table | None) -> int | None:
    return None if table is None else len(table.schema)


def _types(schema: pa.Schema | list[_TextField]) -> dict[str, str]:
    types: dict[str, str] = {}
    for f in schema:
        types.setdefault(f.name, str(f.type))  # a duplicated name: the first one counts
    return types


def _changed_rows(old: _Table, new: _Table, columns: list[str]) -> int:
    """Rows where any kept column differs; nulls equal nulls and NaN equals NaN."""
    if old.rows != new.rows:
        raise _NotComputed("row counts differ")
    if old.rows > MAX_COMPARE_ROWS:
        raise _NotComputed(f"more than {MAX_COMPARE_ROWS:,} rows")
    if not columns:
        raise _NotComputed("no column kept its name and type")
    import pyarrow.compute as pc

    a, b = old.read(), new.read()
    changed = None
    for name in columns:
        differs = _differs(a.column(a.schema.get_field_index(name)),
                           b.column(b.schema.get_field_index(name)))
        changed = differs if changed is None else pc.or_(changed, differs)
    return int(pc.sum(changed).as_py() or 0)


def _differs(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        equal = pc.fill_null(pc.equal(a, b), False)
    except pa.ArrowNotImplementedError:  # lists, structs: no vectorised equality
        if len(a) > MAX_NESTED_ROWS:
            raise _NotComputed(f"nested columns over {MAX_NESTED_ROWS:,} rows") from None
        return pa.chunked_array([pa.array(
            [x != y for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True)], pa.bool_())])
    same = pc.or_(equal, pc.and_(pc.is_null(a), pc.is_null(b)))
    if pa.types.is_floating(a.type):
        same = pc.or_(same, pc.fill_null(pc.and_(pc.is_nan(a), pc.is_nan(b)), False))
    return pc.invert(same)


def _render_table(info: dict[str, Any]) -> list[str]:
    fmt = info["format"]
    (rows_a, rows_b), (cols_a, cols_b) = info["rows"], info["columns"]
    if rows_a is None or rows_b is None:
        verb = "new" if rows_a is None else "deleted"
        lines = [f"{fmt}: {verb}, {rows_b if rows_a is None else rows_a:,} rows, "
                 f"{cols_b if rows_a is None else cols_a} columns"]
        cols = [f"{name} ({kind})" for name, kind in info["schema"]]
        return [*lines, _listing("columns", cols, info, "schema")]
    lines = [f"{fmt}: rows {rows_a:,} -> {rows_b:,}{_delta(rows_a, rows_b)}, "
             f"columns {cols_a} -> {cols_b}"]
    if info["columns_added"]:
        lines.append(_listing("columns added", info["columns_added"], info, "columns_added"))
    if info["columns_removed"]:
        lines.append(_listing("columns removed", info["columns_removed"], info,
                              "columns_removed"))
    if info["columns_retyped"]:
        retyped = [f"{r['column']} {r['old']} -> {r['new']}" for r in info["columns_retyped"]]
        lines.append(_listing("column types changed", retyped, info, "columns_retyped"))
    if "columns_note" in info:
        lines.append(f"columns: {info['columns_note']}")
    if info["changed_rows"] is None:
        lines.append(f"changed rows: {info['changed_rows_note']}")
    else:
        shared = "" if info["compared_columns"] == cols_a == cols_b else \
            f" (in {info['compared_columns']} shared columns)"
        lines.append(f"changed rows: {info['changed_rows']:,} of {rows_b:,}{shared}")
    return lines


# -- arrays (npy) ---------------------------------------------------------------------------

def _load_array(data: bytes, fmt: str) -> np.ndarray:
    from folio.codecs import npy

    # The codec's checked reader: never a pickle, never a body read as pointers, and a
    # header's size checked against the body before anything is allocated.
    return npy.load(data)


def _compare_arrays(old: np.ndarray | None, new: np.ndarray | None,
                    max_items: int) -> dict[str, Any]:
    info: dict[str, Any] = {"shape": [_shape(old), _shape(new)],
                            "dtype": [_dtype(old), _dtype(new)]}
    if old is not None and new is not None and old.shape == new.shape:
        counted = _count_differences(old, new)
        if counted is not None:
            info["differing"], info["max_abs_diff"] = counted
            info["elements"] = int(old.size)
    return info


def _shape(array: np.ndarray | None) -> list[int] | None:
    return None if array is None else [int(n) for n in array.shape]


def _dtype(array: np.ndarray | None) -> str | None:
    return None if array is None else str(array.dtype)


def _count_differences(a: np.ndarray, b: np.ndarray) -> tuple[int, float | str | None] | None:
    """(differing elements, max |a - b|) for numeric arrays, block by block; else None.

    Elements are compared as float64 (complex128 when either is complex), so NaN equals
    NaN and integers of different widths compare by value. Non-numeric arrays of one
    dtype get a count without a magnitude.
    """
    import numpy as np

    numeric = a.dtype.kind in "biufc" and b.dtype.kind in "biufc"
    if not numeric:
        if a.dtype != b.dtype or a.dtype.kind not in "USMm":
            return None
        return int(np.count_nonzero(a != b)), None
    wide = np.complex128 if "c" in (a.dtype.kind, b.dtype.kind) else np.float64
    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    differing, largest = 0, 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        for start in range(0, flat_a.size, _ARRAY_BLOCK):
            x = flat_a[start:start + _ARRAY_BLOCK].astype(wide)
            y = flat_b[start:start + _ARRAY_BLOCK].astype(wide)
            differs = ~((x == y) | (np.isnan(x) & np.isnan(y)))
            count = int(np.count_nonzero(differs))
            if count:
                differing += count
                gaps = np.abs(x[differs] - y[differs])
                gaps = gaps[~np.isnan(gaps)]  # NaN against a number has no magnitude
                if gaps.size:
                    largest = max(largest, float(gaps.max()))
    return differing, (largest if np.isfinite(largest) else str(largest))


def _render_array(info: dict[str, Any]) -> list[str]:
    (shape_a, shape_b), (dtype_a, dtype_b) = info["shape"], info["dtype"]
    if shape_a is None or shape_b is None:
        verb, shape, dtype = ("new", shape_b, dtype_b) if shape_a is None else \
            ("deleted", shape_a, dtype_a)
        return [f"npy: {verb}, shape {_tuple(shape)}, dtype {dtype}"]
    shape = _tuple(shape_a) if shape_a == shape_b else f"{_tuple(shape_a)} -> {_tuple(shape_b)}"
    dtype = dtype_a if dtype_a == dtype_b else f"{dtype_a} -> {dtype_b}"
    lines = [f"npy: shape {shape}, dtype {dtype}"]
    if "differing" in info:
        line = f"differing elements: {info['differing']:,} of {info['elements']:,}"
        largest = info["max_abs_diff"]
        if largest is not None:
            line += f", max abs diff {largest:.6g}" if isinstance(largest, float) else \
                f", max abs diff {largest}"
        lines.append(line)
    return lines


def _tuple(shape: list[int]) -> str:
    return str(tuple(shape))


# -- JSON and JSON Lines --------------------------------------------------------------------

def _load_json(data: bytes, fmt: str) -> Any:
    return json.loads(data.decode("utf-8"))


def _compare_json(old: Any, new: Any, max_items: int) -> dict[str, Any]:
    """Leaf values by dotted path (``metrics.accuracy``); a missing file counts as ``{}``."""
    flat_old = _flatten(old if old is not None else {})
    flat_new = _flatten(new if new is not None else {})
    info: dict[str, Any] = {}
    changed = [{"key": k, "old": _show(v), "new": _show(flat_new[k])}
               for k, v in flat_old.items()
               if k in flat_new and _canonical(v) != _canonical(flat_new[k])]
    added = [{"key": k, "value": _show(v)} for k, v in flat_new.items() if k not in flat_old]
    removed = [{"key": k, "value": _show(v)} for k, v in flat_old.items() if k not in flat_new]
    info["counts"] = {"changed": len(changed), "added": len(added), "removed": len(removed)}
    _cap(info, "changed", changed, max_items)
    _cap(info, "added", added, max_items)
    _cap(info, "removed", removed, max_items)
    return info


def _flatten(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {"(root)": value}
    out: dict[str, Any] = {}
    stack: list[tuple[str, Any]] = [(str(k), v) for k, v in reversed(value.items())]
    while stack:  # iterative: deep nesting must not hit the recursion limit
        key, item = stack.pop()
        if isinstance(item, dict) and item:
            stack.extend((f"{key}.{k}", v) for k, v in reversed(item.items()))
        else:
            out[key] = item
    return out


def _canonical(value: Any) -> str:
    # Text, not ==: in Python 1 == 1.0 == True, but in the file they are different values.
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 1] + "…"


def _render_json(info: dict[str, Any]) -> list[str]:
    counts = info["counts"]
    if not any(counts.values()):
        return ["json: no value changed"]
    lines = [f"json: {counts['changed']} changed, {counts['added']} added, "
             f"{counts['removed']} removed"]
    lines += [f"{c['key']}: {c['old']} -> {c['new']}" for c in info["changed"]]
    lines += [f"+ {a['key']}: {a['value']}" for a in info["added"]]
    lines += [f"- {r['key']}: {r['value']}" for r in info["removed"]]
    omitted = sum(info.get("omitted", {}).values())
    if omitted:
        lines.append(f"… and {omitted} more")
    return lines


def _load_jsonl(data: bytes, fmt: str) -> list[Any]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def _compare_jsonl(old: list[Any] | None, new: list[Any] | None,
                   max_items: int) -> dict[str, Any]:
    info: dict[str, Any] = {"records": [None if old is None else len(old),
                                        None if new is None else len(new)]}
    if old is None or new is None:
        return info
    old_fields, new_fields = _fields(old), _fields(new)
    _cap(info, "fields_added", [f for f in new_fields if f not in old_fields], max_items)
    _cap(info, "fields_removed", [f for f in old_fields if f not in new_fields], max_items)
    if len(old) == len(new) and len(old) <= MAX_COMPARE_ROWS:
        info["changed_records"] = sum(_canonical(a) != _canonical(b)
                                      for a, b in zip(old, new, strict=True))
    return info


def _fields(records: list[Any]) -> dict[str, None]:
    """Top-level keys over all records, in first-seen order (a dict as an ordered set)."""
    seen: dict[str, None] = {}
    for record in records:
        if isinstance(record, dict):
            seen.update(dict.fromkeys(record))
    return seen


def _render_jsonl(info: dict[str, Any]) -> list[str]:
    before, after = info["records"]
    if before is None or after is None:
        return [f"jsonl: {'new' if before is None else 'deleted'}, "
                f"{after if before is None else before:,} records"]
    lines = [f"jsonl: records {before:,} -> {after:,}{_delta(before, after)}"]
    if info["fields_added"]:
        lines.append(_listing("fields added", info["fields_added"], info, "fields_added"))
    if info["fields_removed"]:
        lines.append(_listing("fields removed", info["fields_removed"], info, "fields_removed"))
    if "changed_records" in info:
        lines.append(f"changed records: {info['changed_records']:,} of {after:,}")
    return lines


# -- large Parquet: the footer alone ----------------------------------------------------------

def footer_detail(path: str, old: str | os.PathLike[str] | None,
                  new: str | os.PathLike[str] | None, *, max_items: int = 10) -> Detail:
    """Schema and row changes of Parquet files too large to read, from their footers alone.

    ``old`` and ``new`` are the files (None: absent on that side). Memory and time are
    bounded by the footer (``MAX_FOOTER_BYTES``), whatever the file's size; rows are not
    compared (``changed_rows`` is None with a note saying why).
    """
    sides: list[_Table | None] = []
    for label, file in (("old", old), ("new", new)):
        if file is None:
            sides.append(None)
            continue
        try:
            sides.append(_footer_table(file))
        except UntrustedDataError:
            return _not_comparable(path, "parquet", f"the {label} version is not read: it "
                                   "holds data that could run code when read")
        except _NotComputed as why:
            return _not_comparable(path, "parquet", f"the {label} version's footer: {why}")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # arbitrary bytes: any parser error
            return _not_comparable(path, "parquet",
                                   f"the {label} version's footer is not readable as parquet")
    info = _compare_tables(sides[0], sides[1], max_items)
    return Detail(path, "table", {"format": "parquet", "source": "footer", **info})


def _footer_table(file: str | os.PathLike[str]) -> _Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from folio.codecs import _parquet_trust

    with open(file, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size < 12:
            raise _NotComputed("too short for parquet")
        f.seek(size - 8)
        tail = f.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or length > size - 12:
            raise _NotComputed("no parquet footer at the end of the file")
        if length > MAX_FOOTER_BYTES:
            raise _NotComputed(f"over {MAX_FOOTER_BYTES >> 20} MiB, not read")
        f.seek(size - 8 - length)
        footer = f.read(length)
    # The footer framed as a file of its own: pyarrow parses the metadata, reads no rows.
    alone = b"PAR1" + footer + tail
    _parquet_trust.check_footer(alone)  # before pyarrow deserialises extension types
    pf = pq.ParquetFile(pa.BufferReader(alone))
    _parquet_trust.check_schema(pf.schema_arrow)
    return _Table(pf.metadata.num_rows, pf.schema_arrow,
                  _unread("only the footers were read (too large to compare rows)"))


def _unread(why: str) -> Callable[[], pa.Table]:
    """A table's ``read`` for rows that are not at hand: the comparison says ``why``."""
    def read() -> pa.Table:
        raise _NotComputed(why)
    return read


# -- summaries from manifest entries (content not at hand) -----------------------------------

def meta_detail(path: str, fmt: str, old: Mapping[str, Any] | None,
                new: Mapping[str, Any] | None, *, max_items: int = 10) -> Detail | None:
    """Detail from the summaries of the manifest entries (``meta``), or None if they lack one.

    ``old``/``new`` are the entries' ``meta`` (None: absent on that side). Read: ``rows``,
    ``columns`` (a count or the names), ``schema`` (``{name: type}`` or ``[[name, type]]``)
    for tables; ``shape``, ``dtype`` for arrays; at the top level of ``meta`` or under
    ``meta["codec"]`` (a bundle item's codec metadata).
    """
    kind = _KINDS.get(fmt)
    sides = [None if m is None else _summary(m) for m in (old, new)]
    present = [s for s in sides if s is not None]
    if kind not in ("table", "array") or not present or \
            len(present) < sum(m is not None for m in (old, new)):
        return None
    try:
        if kind == "table":
            tables = [None if s is None else _meta_table(s) for s in sides]
            if any(t is None for t, m in zip(tables, (old, new), strict=True) if m is not None):
                return None
            info = _compare_tables(tables[0], tables[1], max_items)
            if not all(_listed_all(x) for x in sides):  # names past the listed ones unknown
                info["columns"] = [None if x is None or t is None else
                                   x.get("columns_total", len(t.schema))
                                   for x, t in zip(sides, tables, strict=True)]
                for key in ("columns_added", "columns_removed", "columns_retyped"):
                    info[key] = []
                info.pop("omitted", None)
                info["columns_note"] = "the summaries list only the first columns: " \
                    "names not compared"
        else:
            arrays = _meta_array(sides[0], sides[1])
            if arrays is None:
                return None
            info = arrays
    except (TypeError, ValueError, KeyError, AttributeError):  # a summary of the wrong shape
        return None
    return Detail(path, kind, {"format": fmt, "source": "meta", **info})


def _summary(meta: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for where in (meta, meta.get("codec")):
        if isinstance(where, Mapping) and any(k in where for k in _SUMMARY_KEYS):
            return where
    return None


_SUMMARY_KEYS = ("rows", "columns", "schema", "shape")


def _meta_table(summary: Mapping[str, Any]) -> _Table | None:
    """A table as a summary describes it (folio.codecs.summary, or a bundle codec's meta)."""
    rows, schema, columns = summary.get("rows"), summary.get("schema"), summary.get("columns")
    if not isinstance(rows, int) or isinstance(rows, bool):
        return None
    names = [str(c) for c in columns] if isinstance(columns, list) else None
    if isinstance(schema, Mapping):  # a bundle codec's {name: type}
        pairs = [(str(k), str(v)) for k, v in schema.items()]
    elif isinstance(schema, list):  # the summary's ["name: type", ...], in column order
        pairs = [_field_text(f, names[i] if names and i < len(names) else None)
                 for i, f in enumerate(schema)]
    elif names is not None:
        pairs = [(name, "?") for name in names]
    else:
        return None
    return _Table(rows, [_TextField(name, kind) for name, kind in pairs],
                  _unread("only the manifests' summaries were read (content not at hand)"))


def _field_text(field: Any, name: str | None) -> tuple[str, str]:
    """(name, type) of one schema item: ``"name: type"`` (the name known from ``columns``,
    which may itself hold ``": "``), ``[name, type]`` or ``{"name", "type"}``."""
    if isinstance(field, Mapping):
        return str(field["name"]), str(field["type"])
    if isinstance(field, list | tuple):
        return str(field[0]), str(field[1])
    text = str(field)
    if name is not None and text.startswith(name + ": "):
        return name, text[len(name) + 2:]
    head, _, tail = text.partition(": ")
    return head, tail


def _listed_all(summary: Mapping[str, Any] | None) -> bool:
    """False when a summary names only the first columns (``columns_total`` says how many)."""
    return summary is None or "columns_total" not in summary


@dataclass(frozen=True)
class _TextField:
    """A column as a summary names it: the type is text (``str(field.type)`` of pyarrow)."""

    name: str
    type: str


def _meta_array(old: Mapping[str, Any] | None,
                new: Mapping[str, Any] | None) -> dict[str, Any] | None:
    def shape(s: Mapping[str, Any] | None) -> list[int] | None:
        return None if s is None else [int(n) for n in s["shape"]]

    def dtype(s: Mapping[str, Any] | None) -> str | None:
        return None if s is None else str(s.get("dtype", "?"))

    if any(s is not None and "shape" not in s for s in (old, new)):
        return None
    return {"shape": [shape(old), shape(new)], "dtype": [dtype(old), dtype(new)]}


# -- shared rendering ---------------------------------------------------------------------

def _delta(before: int, after: int) -> str:
    return "" if before == after else f" ({after - before:+,})"


def _listing(label: str, items: list[str], info: dict[str, Any], key: str) -> str:
    more = info.get("omitted", {}).get(key, 0)
    return f"{label}: {', '.join(items)}" + (f" (+{more} more)" if more else "")


def _render_not_comparable(info: dict[str, Any]) -> list[str]:
    return [f"{info['format']}: not comparable ({info['reason']})"]


_Loader = Callable[[bytes, str], Any]
_Comparer = Callable[[Any, Any, int], dict[str, Any]]
_FORMATS: dict[str, tuple[_Loader, _Comparer]] = {
    "parquet": (_load_table, _compare_tables),
    "csv": (_load_table, _compare_tables),
    "tsv": (_load_table, _compare_tables),
    "npy": (_load_array, _compare_arrays),
    "json": (_load_json, _compare_json),
    "jsonl": (_load_jsonl, _compare_jsonl),
}
_RENDER: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "table": _render_table,
    "array": _render_array,
    "json": _render_json,
    "jsonl": _render_jsonl,
    NOT_COMPARABLE: _render_not_comparable,
}
