"""Table and array summaries for a manifest entry's ``meta``: what a plain ``git diff``
of a manifest shows a reviewer who has no folio (docs/format.md 4.3.1).

Four kinds, known by the file name's suffix: Parquet (``rows``, ``columns``, ``schema``,
from the footer alone), CSV/TSV (``columns`` from the header line, ``rows`` counted up to
:data:`CSV_COUNT_MAX` bytes), ``.npy`` (``shape``, ``dtype`` from the header) and JSON
(``json``: the top-level type, ``keys`` and ``length``). Every summary is bounded
(:data:`MAX_LISTED` names, :data:`MAX_NAME` characters each, :data:`MAX_META_BYTES` in
all), and a file that is not what its name says gets none: :func:`summarize` never raises
for bad content. npy and CSV are read in plain Python; pyarrow loads only for a Parquet.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat as statmod
from collections.abc import Callable
from typing import Any, BinaryIO

__all__ = ["CSV_COUNT_MAX", "KEYS", "MAX_LISTED", "MAX_META_BYTES", "SUFFIXES", "kind_of",
           "summarize", "summarize_file"]

SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
            ".npy": "npy", ".json": "json"}
# Every key a summary may write (a user's or a bundle's own key of the same name wins).
KEYS = ("rows", "columns", "columns_total", "schema", "shape", "dtype", "json", "keys",
        "keys_total", "length")
MAX_LISTED = 50  # column names, schema fields or JSON keys listed; the rest only counted
MAX_NAME = 80  # characters of one listed name or type
MAX_META_BYTES = 4096  # the summary's JSON, whatever the file: lists shrink until it fits
CSV_COUNT_MAX = 64 << 20  # CSV rows are counted up to this size; above, only the header
CSV_HEADER_MAX = 1 << 20  # a header line longer than this gives no columns
JSON_PARSE_MAX = 8 << 20  # JSON keys and length up to this size; above, the type alone
PARQUET_FOOTER_MAX = 16 << 20  # a footer larger than this (a very wide file) is not read
_CHUNK = 1 << 20
_NPY_NAMES = {"b": "bool", "i": "int", "u": "uint", "f": "float", "c": "complex"}
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}


def kind_of(path: str) -> str | None:
    """``parquet``, ``csv``, ``tsv``, ``npy`` or ``json`` by ``path``'s suffix; else None."""
    dot = path.rfind(".")
    return SUFFIXES.get(path[dot:].lower()) if dot > path.rfind("/") else None


def summarize(path: str, f: BinaryIO, size: int) -> dict[str, Any] | None:
    """The summary of the file open as ``f`` (``size`` bytes, named ``path``), or None
    when it has none: another kind, or not readable as its name says."""
    kind = kind_of(path)
    if kind is None or size == 0:
        return None
    try:
        found = _SUMMARIZERS[kind](f, size, kind)
    except Exception:  # a summary is a courtesy: a file it cannot read has none
        return None
    return _bounded(found) if found else None


def summarize_file(path: str | os.PathLike[str], name: str,
                   check: Callable[[os.stat_result], bool] | None = None
                   ) -> dict[str, Any] | None:
    """:func:`summarize` of the regular file at ``path`` (known as ``name``), opened
    without blocking; None also when it is gone or ``check`` refuses its stat (not the
    bytes that were hashed)."""
    if kind_of(name) is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not statmod.S_ISREG(st.st_mode) or (check is not None and not check(st)):
            return None
        return summarize(name, f, st.st_size)


# -- Parquet --------------------------------------------------------------------------------
def _parquet(f: BinaryIO, size: int, kind: str) -> dict[str, Any] | None:
    """Rows and schema from the footer alone: the data pages are never read, and pyarrow
    parses only a copy of the footer, checked first as folio checks any Parquet it opens."""
    if size < 12:
        return None
    f.seek(size - 8)
    tail = f.read(8)
    if tail[4:] != b"PAR1":
        return None
    length = int.from_bytes(tail[:4], "little")
    if length > min(size - 12, PARQUET_FOOTER_MAX):
        return None
    f.seek(size - 8 - length)
    footer = f.read(length)
    alone = b"PAR1" + footer + tail

    import pyarrow as pa
    import pyarrow.parquet as pq

    from folio.codecs import _parquet_trust

    _parquet_trust.check_footer(alone)  # before pyarrow deserialises extension types
    metadata = pq.read_metadata(pa.BufferReader(alone))
    schema = metadata.schema.to_arrow_schema()
    _parquet_trust.check_schema(schema)
    names = [field.name for field in schema]
    out: dict[str, Any] = {"rows": int(metadata.num_rows)}
    _listed(out, "columns", names)
    out["schema"] = [f"{_cut(field.name)}: {_cut(str(field.type))}"
                     for field in list(schema)[:len(out["columns"])]]
    return out


# -- CSV and TSV ----------------------------------------------------------------------------
def _csv(f: BinaryIO, size: int, kind: str) -> dict[str, Any] | None:
    """Columns from the header line; rows (records after it, a quoted newline not ending
    one) counted for files up to CSV_COUNT_MAX."""
    head = f.read(min(size, CSV_HEADER_MAX))
    end = head.find(b"\n")
    if end < 0 and len(head) < size:
        return None  # no header line within the bound
    line = (head if end < 0 else head[:end]).rstrip(b"\r").decode("utf-8-sig", "replace")
    if "\0" in line:
        return None  # not text
    names = next(csv.reader(io.StringIO(line), delimiter="\t" if kind == "tsv" else ","), [])
    if not names:
        return None
    out: dict[str, Any] = {}
    if size <= CSV_COUNT_MAX:
        f.seek(0)
        out["rows"] = max(0, _records(f) - 1)
    _listed(out, "columns", names)
    return out


def _records(f: BinaryIO) -> int:
    """Lines outside double quotes, the last one counted without its newline."""
    count, quoted, last = 0, False, b"\n"
    while chunk := f.read(_CHUNK):
        last = chunk[-1:]
        if b'"' not in chunk:
            if not quoted:
                count += chunk.count(b"\n")
            continue
        parts = chunk.split(b'"')
        count += sum(part.count(b"\n") for part in parts[1 if quoted else 0::2])
        if len(parts) % 2 == 0:  # an odd number of quotes: the state carries over
            quoted = not quoted
    return count + (last != b"\n")


# -- npy ------------------------------------------------------------------------------------
def _npy(f: BinaryIO, size: int, kind: str) -> dict[str, Any] | None:
    """Shape and dtype from the header (any version), parsed without numpy."""
    from folio.codecs.npy import MAX_HEADER, read_header

    header = read_header(f.read(min(size, 12 + MAX_HEADER)))
    shape, descr = header.get("shape"), header.get("descr")
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        return None
    dtype = _dtype_name(descr)
    return None if dtype is None else {"shape": list(shape), "dtype": dtype}


def _dtype_name(descr: object) -> str | None:
    """numpy's name of a simple ``descr`` (``<f8`` -> ``float64``); other text as written;
    a structured dtype as its fields."""
    if isinstance(descr, list):
        fields = [f"{_cut(str(part[0]))}: {_dtype_name(part[1])}" for part in descr
                  if isinstance(part, tuple) and len(part) >= 2][:MAX_LISTED]
        return _cut("{" + ", ".join(fields) + "}", 4 * MAX_NAME)
    if not isinstance(descr, str) or not descr:
        return None
    code = descr.lstrip("<>|=")
    name = _NPY_NAMES.get(code[:1])
    if name is not None and code[1:].isdigit():
        bits = int(code[1:]) * 8
        return "bool" if name == "bool" else f"{name}{bits}"
    return _cut(descr)


# -- JSON -----------------------------------------------------------------------------------
def _json(f: BinaryIO, size: int, kind: str) -> dict[str, Any] | None:
    """The top-level type, and for an object or array its length and (object) sorted keys;
    above JSON_PARSE_MAX the type alone, from the first character."""
    if size > JSON_PARSE_MAX:
        start = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        found = {b"{": "object", b"[": "array"}.get(start)
        return {"json": found} if found else None
    value = json.loads(f.read(size).decode("utf-8-sig"))
    out: dict[str, Any] = {"json": _JSON_TYPES[type(value)]}
    if isinstance(value, dict | list):
        out["length"] = len(value)
    if isinstance(value, dict):
        _listed(out, "keys", sorted(value))
    return out


_SUMMARIZERS = {"parquet": _parquet, "csv": _csv, "tsv": _csv, "npy": _npy, "json": _json}


# -- bounds ---------------------------------------------------------------------------------
def _cut(text: str, limit: int = MAX_NAME) -> str:
    """``text`` at most ``limit`` characters, and encodable as UTF-8 (no lone surrogate)."""
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return text.encode("utf-8", "replace").decode("utf-8")


def _listed(out: dict[str, Any], key: str, names: list[str]) -> None:
    """The first MAX_LISTED names under ``key``; ``<key>_total`` when some were left out."""
    out[key] = [_cut(str(name)) for name in names[:MAX_LISTED]]
    if len(names) > MAX_LISTED:
        out[f"{key}_total"] = len(names)


def _bounded(out: dict[str, Any]) -> dict[str, Any]:
    """``out`` with its lists halved until its JSON fits MAX_META_BYTES: the names listed
    shrink, their ``<key>_total`` keeps the count."""
    while len(json.dumps(out, ensure_ascii=False).encode()) > MAX_META_BYTES:
        key = "keys" if "keys" in out else "columns"
        names = out.get(key)
        if not names:
            return {k: v for k, v in out.items() if not isinstance(v, list)}
        out.setdefault(f"{key}_total", len(names))
        out[key] = names[:len(names) // 2]
        if "schema" in out:
            out["schema"] = out["schema"][:len(out[key])]
    return out
