"""numpy arrays as .npy files (numpy's own format), never with pickle inside.

Writing: the header comes from numpy's format module, then a contiguous array's memory goes
to the sink as is (no copy, cheaper than ``numpy.save`` into a non-file, which copies in
chunks); other layouts are left to numpy's writer. Reading wraps the owned bytearray with no
copy at all: the array returned is a writable view of it. An .npy from elsewhere whose dtype
holds Python objects is not wrapped: see :func:`load`.
"""

from __future__ import annotations

import ast
import io
import math
import struct
import sys
from typing import Any, BinaryIO

from folio.codecs._detect import require, type_is
from folio.codecs._io import BufferReader, SinkWriter
from folio.codecs.base import TRUST_HINT
from folio.errors import CodecError, UntrustedDataError

MAGIC = b"\x93NUMPY"
MAX_HEADER = 1 << 20  # bounds literal_eval on hostile input; real headers are far smaller
MAX_DIMS = 64  # numpy's own limit (NPY_MAXDIMS)
PLAIN_KINDS = frozenset("biufcmMSUV")  # bool, ints, floats, complex, times, bytes, text, void


class NumpyCodec:
    """numpy.ndarray of any non-object dtype (structured included), any shape and order."""

    name = "numpy"
    extension = ".npy"
    priority = 100
    needs_trust = False
    checks_trust = True  # object dtypes: see load()

    def can_encode(self, obj: object) -> bool:
        return type_is(obj, "numpy", "ndarray")

    def encode(self, obj: object, sink: BinaryIO) -> dict[str, Any]:
        np = require("numpy", self.name)
        if not isinstance(obj, np.ndarray):
            raise CodecError(f"numpy items must be numpy arrays, not {type(obj).__name__}")
        if obj.dtype.hasobject:
            raise CodecError(
                f"a numpy array of dtype {obj.dtype} holds Python objects, which .npy can only "
                "store with pickle; convert it (e.g. .astype(str)) or store it with pickle()"
            )
        _write(np, obj, sink)
        order = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
        return {"shape": list(obj.shape), "dtype": str(obj.dtype), "order": order,
                "nbytes": int(obj.nbytes)}

    def decode(self, data: bytearray, meta: dict[str, Any], *, trusted: bool = False) -> object:
        return load(data, trusted=trusted)


def load(data: bytes | bytearray, *, trusted: bool = False) -> Any:
    """The array an .npy file holds, as a view of ``data`` (read-only when ``data`` is bytes).

    Everything is checked before a byte is wrapped: the header, a size that matches the
    body, and a dtype made of plain values only (numbers, dates, bytes, text, raw void, at
    any depth of a structured dtype). A dtype that holds Python objects (object, a field or
    subarray of objects, StringDType) would make numpy read the body's bytes as pointers:
    such a file is read, when trusted, by numpy's own reader (its body is then a pickle),
    and refused otherwise, as a pickle would be.
    """
    np = require("numpy", "numpy")
    offset, header = _read_header(data)
    dtype, shape, fortran = _layout(np, header)
    if not _plain(dtype):
        if not trusted:
            raise UntrustedDataError(
                f"this .npy has the dtype {_shown(dtype)}, which holds Python objects (a "
                f"pickle as numpy writes them, pointers if read as raw memory); {TRUST_HINT}"
            )
        return np.lib.format.read_array(BufferReader(data), allow_pickle=True)
    count = math.prod(shape)
    if count > sys.maxsize:
        raise CodecError(f"stored .npy header claims {count} elements: corrupt")
    expected = offset + count * dtype.itemsize
    if len(data) != expected:
        raise CodecError(f"stored .npy data has {len(data)} bytes, its header says "
                         f"{expected}: truncated or corrupt")
    return np.ndarray(shape, dtype=dtype, buffer=data, offset=offset,
                      order="F" if fortran else "C")


def _layout(np: Any, header: dict[str, Any]) -> tuple[Any, tuple[int, ...], bool]:
    """(dtype, shape, fortran order) from a parsed header, each checked for its type."""
    try:
        shape, fortran = header["shape"], header["fortran_order"]
        if not isinstance(shape, tuple) or len(shape) > MAX_DIMS or not all(
                type(n) is int and n >= 0 for n in shape):
            raise ValueError(f"shape {ascii(shape)[:60]} is not a tuple of sizes")
        if not isinstance(fortran, bool):
            raise ValueError("fortran_order is not a bool")
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except Exception as exc:  # descr_to_dtype raises what numpy finds: any type
        raise CodecError(f"stored .npy header is invalid: {_reason(exc)}") from exc
    return dtype, shape, fortran


def _plain(dtype: Any) -> bool:
    """True when every value of ``dtype`` is plain bytes in the buffer, at every depth."""
    if dtype.fields is not None:
        return all(_plain(field[0]) for field in dtype.fields.values())
    if dtype.subdtype is not None:
        return _plain(dtype.subdtype[0])
    return dtype.kind in PLAIN_KINDS and not dtype.hasobject


def _shown(dtype: Any) -> str:
    text = ascii(str(dtype))[1:-1]
    return text if len(text) <= 60 else text[:57] + "..."


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _write(np: Any, array: Any, sink: BinaryIO) -> None:
    """Header from numpy, then the array's own memory when it is contiguous."""
    fmt = np.lib.format
    contiguous = array.flags.c_contiguous or array.flags.f_contiguous
    header = io.BytesIO()
    try:
        fmt.write_array_header_1_0(header, fmt.header_data_from_array_1_0(array))
    except UnicodeEncodeError:  # non-latin-1 field names need version 3.0: numpy writes it
        contiguous = False
    except ValueError:  # header longer than 64 KiB: version 2.0 has a 4-byte length
        header = io.BytesIO()
        fmt.write_array_header_2_0(header, fmt.header_data_from_array_1_0(array))
    if not contiguous:
        fmt.write_array(SinkWriter(sink), array, allow_pickle=False)
        return
    sink.write(header.getvalue())
    if array.size and array.dtype.itemsize:
        memory = array.T if array.flags.f_contiguous and not array.flags.c_contiguous else array
        sink.write(memory.reshape(-1).view(np.uint8))


def read_header(data: bytes | bytearray) -> dict[str, Any]:
    """The header dict of the .npy at the front of ``data`` (manifest summaries read it)."""
    return _read_header(data)[1]


def _read_header(data: bytes | bytearray) -> tuple[int, dict[str, Any]]:
    """Parse the .npy header (any version) from the front of ``data``; return data offset."""
    if data[:6] != MAGIC or len(data) < 10:
        raise CodecError("stored data is not a .npy file (bad magic)")
    major = data[6]
    if major in (2, 3) and len(data) < 12:
        raise CodecError("stored .npy header is truncated")
    if major == 1:
        (length,), start = struct.unpack_from("<H", data, 8), 10
    elif major in (2, 3):
        (length,), start = struct.unpack_from("<I", data, 8), 12
    else:
        raise CodecError(f"unsupported .npy format version {major}.{data[7]}")
    if length > MAX_HEADER or start + length > len(data):
        raise CodecError("stored .npy header is truncated or too large")
    encoding = "utf-8" if major == 3 else "latin-1"
    try:
        header = ast.literal_eval(bytes(data[start : start + length]).decode(encoding))
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError,
            UnicodeDecodeError) as exc:
        raise CodecError(f"stored .npy header is unreadable: {_reason(exc)}") from exc
    if not isinstance(header, dict):
        raise CodecError("stored .npy header is not a dict")
    return start + length, header
